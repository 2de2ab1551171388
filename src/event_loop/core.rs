//! `LoopCore`: the native half of `uring_rs.Loop` (its Python half,
//! `python/uring_rs/_loop.py`, subclasses it together with
//! `asyncio.BaseEventLoop`). One ring per loop; the ready queue, the timer
//! heap, `call_soon`/`call_later`/`call_at`/`call_soon_threadsafe`, the
//! iteration (`_run_once`: submit everything queued and wait in one
//! `io_uring_enter`), and fd watchers (`add_reader`/`add_writer`).
//!
//! Owns: the loop's state and what its ops keep (`Op`). May not touch:
//! asyncio's cold paths (connections, servers, TLS: Python), the Python
//! `Ring` API.
//!
//! Locking: the state sits behind one `Mutex`, held only around pure Rust
//! work, never while Python code runs or the GIL is released; so a callback
//! may call back into the loop, and `call_soon_threadsafe` from another
//! thread only ever waits for a few instructions.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::engine::sys::{self, KernelTimespec, Params};
use crate::engine::{prep, Engine, Hold, RawRing, Step};
use crate::event_loop::handle::{Handle, TimerHandle};

/// asyncio's `MAXIMUM_SELECT_TIMEOUT`: the longest single wait, seconds.
const MAX_WAIT: f64 = 24.0 * 3600.0;

/// What an op of the loop keeps until its final completion, and what its
/// completion means.
#[derive(Default)]
pub enum Op {
    #[default]
    None,
    /// The read on the wake-up eventfd, into its 8-byte counter.
    Wake(Box<u64>),
    /// A one-shot poll for a reader (`write == false`) or writer on `fd`,
    /// re-armed after the callback ran (level-triggered, as selectors).
    Poll { fd: i32, write: bool },
}

impl Hold for Op {
    fn is_empty(&self) -> bool {
        matches!(self, Op::None)
    }
}

/// An entry of the ready queue.
enum Ready {
    Handle(Py<Handle>),
    Timer(Py<TimerHandle>),
    /// `fd` became readable (or writable): run its current callback, then
    /// poll again if one is still registered.
    Watch {
        fd: i32,
        write: bool,
    },
}

/// A scheduled timer in the heap: earliest `when` first, FIFO among equals.
struct Timer {
    when: f64,
    seq: u64,
    handle: Py<TimerHandle>,
    cancelled: std::sync::Arc<AtomicBool>,
}

impl Timer {
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

impl PartialEq for Timer {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == CmpOrdering::Equal
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timer {
    fn cmp(&self, o: &Self) -> CmpOrdering {
        // Reversed: BinaryHeap is a max-heap.
        o.when
            .total_cmp(&self.when)
            .then_with(|| o.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct Watch {
    reader: Option<Py<Handle>>,
    writer: Option<Py<Handle>>,
    /// Tokens of the polls in flight.
    read_poll: Option<u64>,
    write_poll: Option<u64>,
}

struct State {
    engine: Option<Engine<Op>>,
    ready: VecDeque<Ready>,
    timers: BinaryHeap<Timer>,
    /// Cancelled timers still in the heap.
    timers_cancelled: usize,
    seq: u64,
    watches: HashMap<i32, Watch>,
    wake_armed: bool,
}

#[pyclass(subclass, frozen, module = "uring_rs._native", name = "LoopCore")]
pub struct LoopCore {
    st: Mutex<State>,
    /// Handles from `call_soon_threadsafe`, moved to the ready queue by the
    /// loop thread.
    inbox: Mutex<Vec<Py<Handle>>>,
    has_inbox: AtomicBool,
    /// The loop is (about to be) blocked in `io_uring_enter`: a thread that
    /// queues work must wake it.
    sleeping: AtomicBool,
    wake_fd: i32,
    stopping: AtomicBool,
    closed: AtomicBool,
    debug: AtomicBool,
    clock_resolution: f64,
    pid: u32,
}

/// CLOCK_MONOTONIC in seconds, as `time.monotonic()`.
pub fn monotonic() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// asyncio's `selectors._fileobj_to_fd`: an int or an object with
/// `fileno()`, never negative.
fn fileobj_to_fd(obj: &Bound<'_, PyAny>) -> PyResult<i32> {
    let fd: i64 = match obj.extract::<i64>() {
        Ok(v) => v,
        Err(_) => obj
            .call_method0("fileno")
            .map_err(|_| {
                PyValueError::new_err(format!(
                    "Invalid file object: {}",
                    obj.repr().map(|r| r.to_string()).unwrap_or_default()
                ))
            })?
            .extract()?,
    };
    if fd < 0 || fd > i32::MAX as i64 {
        return Err(PyValueError::new_err(format!(
            "Invalid file descriptor: {fd}"
        )));
    }
    Ok(fd as i32)
}

impl LoopCore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_closed(&self) -> PyResult<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err("Event loop is closed"));
        }
        Ok(())
    }

    /// Debug-mode checks asyncio makes (by attribute lookup, as asyncio's
    /// own methods are used).
    fn debug_checks(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        method: &str,
    ) -> PyResult<()> {
        if slf.get().debug.load(Ordering::Relaxed) {
            slf.call_method0(pyo3::intern!(slf.py(), "_check_thread"))?;
            slf.call_method1(
                pyo3::intern!(slf.py(), "_check_callback"),
                (callback, method),
            )?;
        }
        Ok(())
    }

    fn new_handle(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Handle> {
        Handle::new(
            slf.py(),
            callback.clone().unbind(),
            args.clone().unbind(),
            context,
            slf.clone().into_any().unbind(),
            slf.get().debug.load(Ordering::Relaxed),
        )
    }

    /// Queues the eventfd read that wakes the loop (once).
    fn arm_wake(&self, st: &mut State) {
        if st.wake_armed {
            return;
        }
        let Some(e) = st.engine.as_mut() else { return };
        let mut counter = Box::new(0u64);
        let addr = &mut *counter as *mut u64 as u64;
        let fd = self.wake_fd;
        if e.queue(0, sys::IORING_OP_READ, Op::Wake(counter), |sqe, _| {
            prep::read(sqe, fd, addr, 8, u64::MAX)
        })
        .is_ok()
        {
            st.wake_armed = true;
        }
    }

    /// Queues a one-shot poll for `fd`'s reader or writer.
    fn arm_poll(st: &mut State, fd: i32, write: bool) {
        let Some(e) = st.engine.as_mut() else { return };
        let events = if write { libc::POLLOUT } else { libc::POLLIN } as u32;
        let op = sys::IORING_OP_POLL_ADD;
        let token = match e.queue(0, op, Op::Poll { fd, write }, |sqe, _| {
            prep::poll_add(sqe, fd, events, false)
        }) {
            Ok((_, t)) => t,
            Err(_) => {
                // SQ full: submit what is queued and retry once.
                let n = e.raw.flush_sq(&mut e.sq);
                let _ = e.raw.enter(n, 0, 0, None);
                match e.queue(0, op, Op::Poll { fd, write }, |sqe, _| {
                    prep::poll_add(sqe, fd, events, false)
                }) {
                    Ok((_, t)) => t,
                    Err(_) => return,
                }
            }
        };
        let w = st.watches.entry(fd).or_default();
        if write {
            w.write_poll = Some(token);
        } else {
            w.read_poll = Some(token);
        }
    }

    /// Cancels a poll in flight (its completion is then ignored).
    fn cancel_op(st: &mut State, token: u64) {
        if let Some(e) = st.engine.as_mut() {
            if e.space_left() == 0 {
                let n = e.raw.flush_sq(&mut e.sq);
                let _ = e.raw.enter(n, 0, 0, None);
            }
            let _ = e.queue(0, sys::IORING_OP_ASYNC_CANCEL, Op::None, |sqe, _| {
                prep::cancel(sqe, token, 0)
            });
        }
    }

    fn add_watch(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        write: bool,
    ) -> PyResult<()> {
        let core = slf.get();
        core.check_closed()?;
        let fd = fileobj_to_fd(fd)?;
        let h = Py::new(slf.py(), Self::new_handle(slf, callback, args, None)?)?;
        let old = {
            let mut st = core.lock();
            let w = st.watches.entry(fd).or_default();
            let (slot, armed) = if write {
                (&mut w.writer, w.write_poll.is_some())
            } else {
                (&mut w.reader, w.read_poll.is_some())
            };
            let old = slot.replace(h);
            if !armed {
                Self::arm_poll(&mut st, fd, write);
            }
            old
        };
        if let Some(old) = old {
            old.get().cancelled.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    fn remove_watch(&self, fd: &Bound<'_, PyAny>, write: bool) -> PyResult<bool> {
        let fd = fileobj_to_fd(fd)?;
        if self.closed.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let old = {
            let mut st = self.lock();
            let Some(w) = st.watches.get_mut(&fd) else {
                return Ok(false);
            };
            let (old, poll) = if write {
                (w.writer.take(), w.write_poll.take())
            } else {
                (w.reader.take(), w.read_poll.take())
            };
            if w.reader.is_none()
                && w.writer.is_none()
                && w.read_poll.is_none()
                && w.write_poll.is_none()
            {
                st.watches.remove(&fd);
            }
            if let Some(t) = poll {
                Self::cancel_op(&mut st, t);
            }
            old
        };
        match old {
            Some(h) => {
                h.get().cancelled.store(true, Ordering::Relaxed);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The timeout of this iteration's wait: 0 when something is ready,
    /// None for "until a completion".
    fn wait_timeout(&self, st: &mut State) -> Option<f64> {
        // Drop cancelled timers at the head.
        while let Some(t) = st.timers.peek() {
            if t.cancelled() {
                let t = st.timers.pop().expect("peeked");
                t.handle.get().scheduled.store(false, Ordering::Relaxed);
                st.timers_cancelled = st.timers_cancelled.saturating_sub(1);
            } else {
                break;
            }
        }
        if !st.ready.is_empty() || self.stopping.load(Ordering::Relaxed) {
            return Some(0.0);
        }
        st.timers
            .peek()
            .map(|t| (t.when - monotonic()).clamp(0.0, MAX_WAIT))
    }

    /// Moves handles queued from other threads into the ready queue.
    fn drain_inbox(&self, st: &mut State) {
        if self.has_inbox.swap(false, Ordering::SeqCst) {
            let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
            st.ready.extend(inbox.drain(..).map(Ready::Handle));
        }
    }

    /// Wakes the loop if it is (about to be) blocked.
    fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a local into our own eventfd.
            unsafe { libc::write(self.wake_fd, (&one as *const u64).cast(), 8) };
        }
    }

    /// Submits everything queued and waits up to `timeout` (None: until a
    /// completion) in one `io_uring_enter`; the GIL is released only when
    /// the wait may block.
    fn submit_and_wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let (raw, to_submit): (std::sync::Arc<RawRing>, u32) = {
            let mut st = self.lock();
            let Some(e) = st.engine.as_mut() else {
                return Err(PyRuntimeError::new_err("Event loop is closed"));
            };
            let n = e.raw.flush_sq(&mut e.sq);
            (e.raw.clone(), n)
        };
        let nowait = timeout == Some(0.0);
        if nowait {
            if to_submit == 0 && !raw.cq_ring_needs_flush() && raw.cq_ready() > 0 {
                return Ok(());
            }
            let flags = sys::IORING_ENTER_GETEVENTS;
            return match raw.enter(to_submit, 0, flags, None) {
                Ok(_) | Err(libc::ETIME) | Err(libc::EAGAIN) | Err(libc::EBUSY) => Ok(()),
                Err(libc::EINTR) => py.check_signals(),
                Err(e) => Err(crate::py::error::UringErr::enter(e).into()),
            };
        }
        self.sleeping.store(true, Ordering::SeqCst);
        let timeout = if self.has_inbox.load(Ordering::SeqCst) {
            Some(0.0)
        } else {
            timeout
        };
        let ts = timeout.map(|t| KernelTimespec {
            tv_sec: t as i64,
            tv_nsec: ((t - t.floor()) * 1e9) as i64,
        });
        let min = if timeout == Some(0.0) { 0 } else { 1 };
        let r = py.detach(|| raw.enter(to_submit, min, sys::IORING_ENTER_GETEVENTS, ts));
        self.sleeping.store(false, Ordering::SeqCst);
        match r {
            Ok(_) | Err(libc::ETIME) | Err(libc::EAGAIN) | Err(libc::EBUSY) => Ok(()),
            Err(libc::EINTR) => py.check_signals(),
            Err(e) => Err(crate::py::error::UringErr::enter(e).into()),
        }
    }

    /// Turns ready completions into ready-queue entries (nothing runs).
    fn reap(&self, st: &mut State, dead: &mut Vec<Op>) {
        let Some(mut e) = st.engine.take() else {
            return;
        };
        let mut rearm_wake = false;
        let mut fired: Vec<(i32, bool, u64)> = Vec::new();
        e.reap_ops(usize::MAX, |c, step| match step {
            Step::Last(op) => match op {
                Op::Wake(_) => {
                    rearm_wake = true;
                    dead.push(op);
                }
                Op::Poll { fd, write } => {
                    fired.push((fd, write, c.user_data));
                }
                Op::None => {}
            },
            Step::More(_) => {}
        });
        st.engine = Some(e);
        if rearm_wake {
            st.wake_armed = false;
            self.arm_wake(st);
        }
        for (fd, write, token) in fired {
            if let Some(w) = st.watches.get_mut(&fd) {
                let armed = if write {
                    &mut w.write_poll
                } else {
                    &mut w.read_poll
                };
                if *armed == Some(token) {
                    *armed = None;
                    st.ready.push_back(Ready::Watch { fd, write });
                }
            }
        }
    }

    /// Moves due timers to the ready queue.
    fn expire_timers(&self, st: &mut State) {
        let end = monotonic() + self.clock_resolution;
        while let Some(t) = st.timers.peek() {
            if t.when > end {
                break;
            }
            let t = st.timers.pop().expect("peeked");
            t.handle.get().scheduled.store(false, Ordering::Relaxed);
            if t.cancelled() {
                st.timers_cancelled = st.timers_cancelled.saturating_sub(1);
                continue;
            }
            st.ready.push_back(Ready::Timer(t.handle));
        }
    }

    /// Runs one ready entry.
    fn run_ready(slf: &Bound<'_, Self>, item: Ready) -> PyResult<()> {
        let py = slf.py();
        match item {
            Ready::Handle(h) => {
                if !h.get().is_cancelled() {
                    Handle::run(h.bind(py))?;
                }
            }
            Ready::Timer(t) => {
                let t = t.bind(py);
                let base = t.as_super();
                if !base.get().is_cancelled() {
                    Handle::run(base)?;
                }
            }
            Ready::Watch { fd, write } => {
                let h = {
                    let st = slf.get().lock();
                    st.watches
                        .get(&fd)
                        .and_then(|w| {
                            if write {
                                w.writer.as_ref()
                            } else {
                                w.reader.as_ref()
                            }
                        })
                        .map(|h| h.clone_ref(py))
                };
                if let Some(h) = h {
                    if !h.get().is_cancelled() {
                        Handle::run(h.bind(py))?;
                    }
                    // Level-triggered: poll again while a callback is set.
                    let mut st = slf.get().lock();
                    let again = st.watches.get(&fd).is_some_and(|w| {
                        let (cb, armed) = if write {
                            (&w.writer, w.write_poll)
                        } else {
                            (&w.reader, w.read_poll)
                        };
                        cb.is_some() && armed.is_none()
                    });
                    if again {
                        Self::arm_poll(&mut st, fd, write);
                    }
                }
            }
        }
        Ok(())
    }
}

#[pymethods]
impl LoopCore {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut params = Params::default();
        let probe = [
            sys::IORING_SETUP_SINGLE_ISSUER | sys::IORING_SETUP_DEFER_TASKRUN,
            sys::IORING_SETUP_COOP_TASKRUN,
            0,
        ];
        let mut raw = None;
        let mut last = 0;
        for flags in probe {
            params = Params {
                flags,
                ..Default::default()
            };
            match RawRing::setup(256, &mut params) {
                Ok(r) => {
                    raw = Some(r);
                    break;
                }
                Err(crate::engine::SetupError::Setup(e)) => last = e,
                Err(crate::engine::SetupError::Mmap(e)) => last = e,
            }
        }
        let Some(raw) = raw else {
            return Err(crate::py::ring::setup_error(last, 0).into());
        };
        let _ = params;
        // SAFETY: eventfd has no memory preconditions.
        let wake_fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if wake_fd < 0 {
            return Err(pyo3::exceptions::PyOSError::new_err(
                std::io::Error::last_os_error().to_string(),
            ));
        }
        let core = LoopCore {
            st: Mutex::new(State {
                engine: Some(Engine::new(raw)),
                ready: VecDeque::new(),
                timers: BinaryHeap::new(),
                timers_cancelled: 0,
                seq: 0,
                watches: HashMap::new(),
                wake_armed: false,
            }),
            inbox: Mutex::new(Vec::new()),
            has_inbox: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            wake_fd,
            stopping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            debug: AtomicBool::new(false),
            clock_resolution: 1e-9,
            pid: std::process::id(),
        };
        {
            let mut st = core.lock();
            core.arm_wake(&mut st);
        }
        Ok(core)
    }

    // asyncio's state, shared with BaseEventLoop's Python code.
    #[getter(_stopping)]
    fn stopping_get(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
    #[setter(_stopping)]
    fn stopping_set(&self, v: bool) {
        self.stopping.store(v, Ordering::Relaxed);
    }
    #[getter(_closed)]
    fn closed_get(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
    #[setter(_closed)]
    fn closed_set(&self, v: bool) {
        self.closed.store(v, Ordering::Relaxed);
    }
    #[getter(_debug)]
    fn debug_get(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }
    #[setter(_debug)]
    fn debug_set(&self, v: bool) {
        self.debug.store(v, Ordering::Relaxed);
    }

    fn get_debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    fn time(&self) -> f64 {
        monotonic()
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    #[pyo3(signature = (callback, *args, context = None))]
    fn call_soon(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<Handle>> {
        let core = slf.get();
        core.check_closed()?;
        Self::debug_checks(slf, callback, "call_soon")?;
        let h = Py::new(slf.py(), Self::new_handle(slf, callback, args, context)?)?;
        core.lock()
            .ready
            .push_back(Ready::Handle(h.clone_ref(slf.py())));
        Ok(h)
    }

    #[pyo3(signature = (callback, args, context = None))]
    fn _call_soon(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<Handle>> {
        let h = Py::new(slf.py(), Self::new_handle(slf, callback, args, context)?)?;
        slf.get()
            .lock()
            .ready
            .push_back(Ready::Handle(h.clone_ref(slf.py())));
        Ok(h)
    }

    #[pyo3(signature = (callback, *args, context = None))]
    fn call_soon_threadsafe(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<Handle>> {
        let core = slf.get();
        core.check_closed()?;
        if core.debug.load(Ordering::Relaxed) {
            slf.call_method1(
                pyo3::intern!(slf.py(), "_check_callback"),
                (callback, "call_soon_threadsafe"),
            )?;
        }
        let h = Py::new(slf.py(), Self::new_handle(slf, callback, args, context)?)?;
        {
            let mut inbox = core.inbox.lock().unwrap_or_else(|p| p.into_inner());
            inbox.push(h.clone_ref(slf.py()));
        }
        core.has_inbox.store(true, Ordering::SeqCst);
        core.wake();
        Ok(h)
    }

    fn _write_to_self(&self) {
        self.has_inbox.store(true, Ordering::SeqCst);
        self.sleeping.store(true, Ordering::SeqCst);
        self.wake();
    }

    #[pyo3(signature = (delay, callback, *args, context = None))]
    fn call_later(
        slf: &Bound<'_, Self>,
        delay: Option<f64>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<TimerHandle>> {
        let Some(delay) = delay else {
            return Err(PyTypeError::new_err("delay must not be None"));
        };
        Self::schedule(
            slf,
            monotonic() + delay,
            callback,
            args,
            context,
            "call_later",
        )
    }

    #[pyo3(signature = (when, callback, *args, context = None))]
    fn call_at(
        slf: &Bound<'_, Self>,
        when: Option<f64>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<TimerHandle>> {
        let Some(when) = when else {
            return Err(PyTypeError::new_err("when cannot be None"));
        };
        Self::schedule(slf, when, callback, args, context, "call_at")
    }

    fn _timer_handle_cancelled(&self, handle: &Bound<'_, TimerHandle>) {
        if handle.get().scheduled.load(Ordering::Relaxed) {
            let mut st = self.lock();
            st.timers_cancelled += 1;
            // asyncio's rule: rebuild when over half of more than 100
            // timers are cancelled.
            if st.timers.len() > 100 && st.timers_cancelled * 2 > st.timers.len() {
                let kept: Vec<Timer> = std::mem::take(&mut st.timers)
                    .into_vec()
                    .into_iter()
                    .filter(|t| {
                        let gone = t.cancelled();
                        if gone {
                            t.handle.get().scheduled.store(false, Ordering::Relaxed);
                        }
                        !gone
                    })
                    .collect();
                st.timers = BinaryHeap::from(kept);
                st.timers_cancelled = 0;
            }
        }
    }

    /// One iteration: submit and wait, reap, expire timers, run what was
    /// ready when it started.
    fn _run_once(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let core = slf.get();
        if core.pid != std::process::id() {
            return Err(PyRuntimeError::new_err(
                "this event loop was created before fork(): a child process must create its own",
            ));
        }
        let timeout = {
            let mut st = core.lock();
            core.drain_inbox(&mut st);
            core.wait_timeout(&mut st)
        };
        core.submit_and_wait(py, timeout)?;
        let batch: Vec<Ready> = {
            let mut dead = Vec::new();
            let mut st = core.lock();
            core.drain_inbox(&mut st);
            core.reap(&mut st, &mut dead);
            core.expire_timers(&mut st);
            let n = st.ready.len();
            let b = st.ready.drain(..n).collect();
            drop(st);
            drop(dead);
            b
        };
        let debug = core.debug.load(Ordering::Relaxed);
        let mut it = batch.into_iter();
        while let Some(item) = it.next() {
            let r = if debug {
                Self::run_timed(slf, item)
            } else {
                Self::run_ready(slf, item)
            };
            if let Err(e) = r {
                // KeyboardInterrupt / SystemExit: keep the rest for later.
                let mut st = core.lock();
                for (i, rest) in it.enumerate() {
                    st.ready.insert(i, rest);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    #[pyo3(signature = (fd, callback, *args))]
    fn add_reader(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        Self::add_watch(slf, fd, callback, args, false)
    }

    #[pyo3(signature = (fd, callback, *args))]
    fn add_writer(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        Self::add_watch(slf, fd, callback, args, true)
    }

    fn remove_reader(&self, fd: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.remove_watch(fd, false)
    }

    fn remove_writer(&self, fd: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.remove_watch(fd, true)
    }

    /// Cancels every op, waits for their completions (at most 5 s; what
    /// cannot be confirmed finished is kept, never freed), drops every
    /// callback and closes the ring. Called by `Loop.close()`.
    fn _close_core(&self, py: Python<'_>) {
        let (engine, ready, timers, watches) = {
            let mut st = self.lock();
            (
                st.engine.take(),
                std::mem::take(&mut st.ready),
                std::mem::take(&mut st.timers),
                std::mem::take(&mut st.watches),
            )
        };
        drop((ready, timers, watches));
        let inbox: Vec<Py<Handle>> =
            std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|p| p.into_inner()));
        drop(inbox);
        if let Some(e) = engine {
            drain(py, e);
        }
        if self.wake_fd >= 0 {
            // SAFETY: our own eventfd; the ring that read it is gone.
            unsafe { libc::close(self.wake_fd) };
        }
    }

    /// Ops in flight on the loop's ring (diagnostics and tests).
    #[getter]
    fn _ops_in_flight(&self) -> usize {
        self.lock().engine.as_ref().map_or(0, |e| e.slots.live())
    }
}

impl LoopCore {
    fn schedule(
        slf: &Bound<'_, Self>,
        when: f64,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
        method: &str,
    ) -> PyResult<Py<TimerHandle>> {
        let core = slf.get();
        core.check_closed()?;
        Self::debug_checks(slf, callback, method)?;
        let base = Self::new_handle(slf, callback, args, context)?;
        let cancelled = base.cancelled.clone();
        let t = TimerHandle::create(slf.py(), base, when)?;
        let mut st = core.lock();
        st.seq += 1;
        let seq = st.seq;
        st.timers.push(Timer {
            when,
            seq,
            handle: t.clone_ref(slf.py()),
            cancelled,
        });
        Ok(t)
    }

    /// `run_ready` with asyncio's debug-mode slow-callback warning.
    fn run_timed(slf: &Bound<'_, Self>, item: Ready) -> PyResult<()> {
        let py = slf.py();
        let what: Option<Py<PyAny>> = match &item {
            Ready::Handle(h) => Some(h.clone_ref(py).into_any()),
            Ready::Timer(t) => Some(t.clone_ref(py).into_any()),
            Ready::Watch { .. } => None,
        };
        let t0 = monotonic();
        Self::run_ready(slf, item)?;
        let dt = monotonic() - t0;
        let slow: f64 = slf
            .getattr(pyo3::intern!(py, "slow_callback_duration"))
            .and_then(|v| v.extract())
            .unwrap_or(0.1);
        if dt >= slow {
            if let Some(h) = what {
                let fmt = py
                    .import("asyncio.base_events")?
                    .getattr("_format_handle")?;
                let logger = py.import("asyncio.log")?.getattr("logger")?;
                logger.call_method1(
                    "warning",
                    ("Executing %s took %.3f seconds", fmt.call1((h,))?, dt),
                )?;
            }
        }
        Ok(())
    }
}

/// Close-time drain of the loop's ring: cancel everything, reap until
/// nothing is in flight or the grace runs out; then the ring goes. What
/// could not be confirmed finished is leaked, never freed.
fn drain(py: Python<'_>, mut e: Engine<Op>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut dead = Vec::new();
    e.release_unpublished(&mut dead);
    let mut sent = false;
    loop {
        e.reap_ops(usize::MAX, |_, step| {
            if let Step::Last(op) = step {
                dead.push(op);
            }
        });
        if e.slots.live() == 0 || std::time::Instant::now() >= deadline {
            break;
        }
        if !sent && e.queue_cancel_all() {
            sent = true;
        }
        let n = e.raw.flush_sq(&mut e.sq);
        let raw = e.raw.clone();
        let ts = KernelTimespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        };
        let r = py.detach(|| raw.enter(n, 1, sys::IORING_ENTER_GETEVENTS, Some(ts)));
        if r == Err(libc::EEXIST) {
            break;
        }
        sent = sent && r.is_ok();
    }
    drop(dead);
    if e.slots.live() > 0 {
        std::mem::forget(e.slots.take_all());
    }
    drop(e);
}
