//! `LoopCore`: the native half of `uring_rs.Loop` (its Python half,
//! `python/uring_rs/_loop.py`, subclasses it together with
//! `asyncio.BaseEventLoop`). One ring per loop; the ready queue, the timer
//! heap, `call_soon`/`call_later`/`call_at`/`call_soon_threadsafe`, the
//! iteration (`_run_once`: submit everything queued and wait in one
//! `io_uring_enter`), and fd watchers (`add_reader`/`add_writer`).
//!
//! Owns: the iteration and the Python-visible methods (the state's layout
//! is `state.rs`). May not touch: asyncio's cold paths (connections,
//! servers, TLS: Python), the Python `Ring` API.
//!
//! Locking: the state sits behind one `Mutex`, held only around pure Rust
//! work, never while Python code runs or the GIL is released; so a callback
//! may call back into the loop, and `call_soon_threadsafe` from another
//! thread only ever waits for a few instructions.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::engine::sys::{self, KernelTimespec, Params};
use crate::engine::{prep, Engine, RawRing, Step};
use crate::event_loop::handle::{asyncio_attr, Handle, TimerHandle};
use crate::event_loop::relay::Released;
use crate::event_loop::state::{
    cancel, fileobj_to_fd, monotonic, queue_op, submit_now, LoopCore, Op, Ready, Relay, State,
    Timer, MAX_WAIT,
};
use crate::py::ring::Ring;
use pyo3::sync::PyOnceLock;

impl LoopCore {
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
        let mut counter = Box::new(0u64);
        let addr = &mut *counter as *mut u64 as u64;
        let fd = self.wake_fd;
        let queued = queue_op(st, sys::IORING_OP_READ, Op::Wake(counter), |sqe| {
            prep::read(sqe, fd, addr, 8, u64::MAX)
        });
        st.wake_armed = queued.is_some();
    }

    /// Queues a one-shot poll for `fd`'s reader or writer.
    fn arm_poll(st: &mut State, fd: i32, write: bool) {
        let events = if write { libc::POLLOUT } else { libc::POLLIN } as u32;
        let Some(token) = queue_op(st, sys::IORING_OP_POLL_ADD, Op::Poll { fd, write }, |sqe| {
            prep::poll_add(sqe, fd, events, false)
        }) else {
            return;
        };
        let w = st.watches.entry(fd).or_default();
        if write {
            w.write_poll = Some(token);
        } else {
            w.read_poll = Some(token);
        }
    }

    fn add_watch(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        write: bool,
    ) -> PyResult<Py<Handle>> {
        let core = slf.get();
        core.check_closed()?;
        let obj = fd.clone().unbind();
        let fd = fileobj_to_fd(fd)?;
        let h = Py::new(slf.py(), Self::new_handle(slf, callback, args, None)?)?;
        let ret = h.clone_ref(slf.py());
        let old = {
            let mut st = core.lock();
            let w = st.watches.entry(fd).or_default();
            let prev_obj = if write {
                w.write_obj.replace(obj)
            } else {
                w.read_obj.replace(obj)
            };
            let (slot, armed) = if write {
                (&mut w.writer, w.write_poll.is_some())
            } else {
                (&mut w.reader, w.read_poll.is_some())
            };
            let old = slot.replace(h);
            if !armed {
                Self::arm_poll(&mut st, fd, write);
            }
            (old, prev_obj)
        };
        // Dropped outside the lock: releasing them may run Python code.
        let (old, _prev_obj) = old;
        if let Some(old) = old {
            old.get().cancelled.store(true, Ordering::Relaxed);
        }
        Ok(ret)
    }

    fn remove_watch(&self, fileobj: &Bound<'_, PyAny>, write: bool) -> PyResult<bool> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let old = {
            let mut st = self.lock();
            let fd = match fileobj_to_fd(fileobj) {
                Ok(fd) => fd,
                // A file object closed since it was added: find it by identity.
                Err(e) => {
                    let found = st.watches.iter().find_map(|(fd, w)| {
                        let o = if write { &w.write_obj } else { &w.read_obj };
                        o.as_ref()
                            .is_some_and(|o| o.as_ptr() == fileobj.as_ptr())
                            .then_some(*fd)
                    });
                    match found {
                        Some(fd) => fd,
                        None => return Err(e),
                    }
                }
            };
            let Some(w) = st.watches.get_mut(&fd) else {
                return Ok(false);
            };
            let (old, poll, obj) = if write {
                (w.writer.take(), w.write_poll.take(), w.write_obj.take())
            } else {
                (w.reader.take(), w.read_poll.take(), w.read_obj.take())
            };
            if w.reader.is_none()
                && w.writer.is_none()
                && w.read_poll.is_none()
                && w.write_poll.is_none()
            {
                st.watches.remove(&fd);
            }
            if let Some(t) = poll {
                cancel(&mut st, t, false);
            }
            (old, obj)
        };
        // Dropped outside the lock: releasing the object may run Python code.
        let (old, _obj) = old;
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

    /// Takes note that other threads' handles (already in the ready queue)
    /// were seen.
    fn drain_inbox(&self, _st: &mut State) {
        self.has_inbox.store(false, Ordering::SeqCst);
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
            if st.engine.is_none() {
                return Err(PyRuntimeError::new_err("Event loop is closed"));
            }
            crate::event_loop::stream::flush_writes(&mut st);
            if !st.relays.is_empty() {
                crate::event_loop::relay::transfer(&mut st);
            }
            let e = st.engine.as_mut().expect("checked above");
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
        let ts = timeout.map(KernelTimespec::from_secs_f64);
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
    fn reap(&self, py: Python<'_>, st: &mut State, dead: &mut Vec<Op>, released: &mut Released) {
        let Some(mut e) = st.engine.take() else {
            return;
        };
        let mut foreign: Vec<sys::Cqe> = Vec::new();
        let mut rearm_wake = false;
        let mut fired: Vec<(i32, bool, u64)> = Vec::new();
        let mut recvs: Vec<(usize, u32, i32, u32, bool)> = Vec::new();
        let mut sends: Vec<(usize, u32, crate::event_loop::wbuf::Outgoing, i32)> = Vec::new();
        let mut accepts: Vec<(i32, i32, bool, u64)> = Vec::new();
        let mut socks: Vec<(Op, i32)> = Vec::new();
        e.reap_ops(usize::MAX, |c, step| match step {
            Step::Last(op) => match op {
                Op::Wake(_) => {
                    rearm_wake = true;
                    dead.push(op);
                }
                Op::Poll { fd, write } => {
                    fired.push((fd, write, c.user_data));
                }
                Op::Recv { id, gen } => recvs.push((id, gen, c.res, c.flags, false)),
                Op::Send { id, gen, data } => sends.push((id, gen, data, c.res)),
                Op::Accept { fd } => accepts.push((fd, c.res, false, c.user_data)),
                Op::Child { info, callback } => {
                    if c.res != -libc::ECANCELED {
                        let returncode = (c.res == 0).then(|| exit_code(&info));
                        st.ready.push_back(Ready::ChildExited {
                            callback,
                            returncode,
                        });
                    }
                }
                Op::None => {}
                sock => socks.push((sock, c.res)),
            },
            Step::More(op) => match op {
                Op::Recv { id, gen } => recvs.push((*id, *gen, c.res, c.flags, true)),
                Op::Accept { fd } => accepts.push((*fd, c.res, true, c.user_data)),
                _ => {}
            },
            Step::Foreign => foreign.push(*c),
        });
        st.engine = Some(e);
        if !foreign.is_empty() {
            crate::event_loop::relay::route(py, st, foreign, released);
        }
        // Sends first: a write error (a reset peer) is reported before the end
        // of stream the same reset causes on the read side.
        for (id, gen, data, res) in sends {
            crate::event_loop::stream::send_done(st, id, gen, data, res);
        }
        for (id, gen, res, flags, more) in recvs {
            crate::event_loop::stream::recv_done(st, id, gen, res, flags, more);
        }
        for (op, res) in socks {
            crate::event_loop::sock::done(st, op, res);
        }
        for (fd, res, more, token) in accepts {
            let listening = st.listeners.get(&fd).copied().flatten() == Some(token);
            if !listening {
                if res >= 0 {
                    // SAFETY: an accepted fd nobody will use: ours to close.
                    unsafe { libc::close(res) };
                }
                continue;
            }
            if !more {
                st.listeners.insert(fd, None);
            }
            if res == -libc::ECANCELED {
                continue;
            }
            st.ready.push_back(Ready::Accepted { fd, res });
            if !more && res != -libc::EBADF && res != -libc::EINVAL {
                self.arm_accept(st, fd);
            }
        }
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

    /// Queues the multishot accept of listening socket `fd`.
    fn arm_accept(&self, st: &mut State, fd: i32) {
        let flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u32;
        if let Some(t) = queue_op(st, sys::IORING_OP_ACCEPT, Op::Accept { fd }, |sqe| {
            prep::accept_multishot(sqe, fd, 0, 0, flags)
        }) {
            st.listeners.insert(fd, Some(t));
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
            Ready::Relay { deliver, done } => {
                crate::event_loop::relay::deliver(py, &deliver, &done)?;
            }
            Ready::SockDone { fut, fd, result } => {
                crate::event_loop::sock::resolve(slf, fut, fd, result)?;
            }
            Ready::ChildExited {
                callback,
                returncode,
            } => {
                callback.bind(py).call1((returncode,))?;
            }
            Ready::Foreign(h) => {
                let h = h.bind(py);
                if !h.getattr(pyo3::intern!(py, "_cancelled"))?.is_truthy()? {
                    h.call_method0(pyo3::intern!(py, "_run"))?;
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
            other => crate::event_loop::stream::run_stream(slf, other)?,
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
        let has_waitid = raw
            .probe()
            .is_ok_and(|(_, ops)| ops[sys::IORING_OP_WAITID as usize]);
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
                streams: Default::default(),
                flush: Vec::new(),
                recv_bufs: None,
                listeners: HashMap::new(),
                relays: Vec::new(),
                stash: Default::default(),
            }),

            has_inbox: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            wake_fd,
            stopping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            debug: AtomicBool::new(false),
            clock_resolution: 1e-9,
            fork_generation: crate::py::ring::FORK_GENERATION.load(Ordering::Relaxed),
            has_waitid,
        };
        {
            let mut st = core.lock();
            core.arm_wake(&mut st);
            // The provided-buffer ring stream recvs pick from (Linux 5.19).
            let raw = st.engine.as_ref().expect("just made").raw.clone();
            let bufs = crate::event_loop::recvbufs::RecvBufs::new(&raw).map_err(|(what, e)| {
                if what == "map" {
                    pyo3::exceptions::PyMemoryError::new_err(format!(
                        "could not map the loop's receive buffers: {}",
                        crate::py::error::strerror(e)
                    ))
                } else {
                    crate::py::error::UringErr::errno(
                        crate::py::error::Kind::SystemOutdated,
                        e,
                        format!(
                            "uring_rs.Loop needs provided-buffer rings \
                             (IORING_REGISTER_PBUF_RING, Linux 5.19): {}",
                            crate::py::error::strerror(e)
                        ),
                    )
                    .into()
                }
            })?;
            st.recv_bufs = Some(bufs);
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

    /// Whether debug mode is on.
    fn get_debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    /// The loop's clock: `time.monotonic()` (CLOCK_MONOTONIC, in seconds).
    fn time(&self) -> f64 {
        monotonic()
    }

    /// A new `asyncio.Future` of this loop: `BaseEventLoop.create_future` without its
    /// Python frame (aio creates one per op).
    fn create_future<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static FUTURE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = slf.py();
        let future = asyncio_attr(py, &FUTURE, "asyncio", "Future")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item(pyo3::intern!(py, "loop"), slf)?;
        future.call((), Some(&kwargs))
    }

    /// Whether `close()` was called.
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Schedules `callback(*args)` for the next iteration, in `context` (default:
    /// a copy of the current one); returns its `Handle`.
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

    /// `call_soon` from any thread: wakes the loop if it sleeps.
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
        // The same queue as call_soon: the order of calls is kept across
        // threads, as asyncio keeps it.
        core.lock()
            .ready
            .push_back(Ready::Handle(h.clone_ref(slf.py())));
        core.has_inbox.store(true, Ordering::SeqCst);
        core.wake();
        Ok(h)
    }

    /// Queues a handle made by asyncio itself (`events.Handle`); used for
    /// signals (`_add_callback_signalsafe`).
    fn _add_callback(&self, handle: Py<PyAny>) {
        self.lock().ready.push_back(Ready::Foreign(handle));
        self.has_inbox.store(true, Ordering::SeqCst);
    }

    fn _write_to_self(&self) {
        self.has_inbox.store(true, Ordering::SeqCst);
        self.sleeping.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Schedules `callback(*args)` after `delay` seconds; returns its
    /// `TimerHandle`.
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

    /// Schedules `callback(*args)` at loop time `when` (see `time()`); returns
    /// its `TimerHandle`.
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
        if core.fork_generation != crate::py::ring::FORK_GENERATION.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "this event loop was created before fork(): a child process must create its own",
            ));
        }
        // Wait until something for Python is ready: completions the loop
        // handles itself (a send, a cancel) do not end the iteration.
        let batch: Vec<Ready> = loop {
            let timeout = {
                let mut st = core.lock();
                core.drain_inbox(&mut st);
                core.wait_timeout(&mut st)
            };
            core.submit_and_wait(py, timeout)?;
            let (mut dead, mut released) = (Vec::new(), Released::new());
            let mut st = core.lock();
            core.drain_inbox(&mut st);
            let before = st.ready.len();
            core.reap(py, &mut st, &mut dead, &mut released);
            // Completions that resolve futures (sock_* calls, uring_rs.aio ops) are
            // handled now, as a selector loop's _process_events runs before it counts
            // what is ready: the callbacks they schedule (a task's wakeup) run in this
            // iteration, not one enter later.
            let mut resolve = Vec::new();
            let added: Vec<Ready> = st.ready.drain(before..).collect();
            for r in added {
                match r {
                    Ready::SockDone { .. } | Ready::Relay { .. } => resolve.push(r),
                    other => st.ready.push_back(other),
                }
            }
            if !resolve.is_empty() {
                drop(st);
                let mut it = resolve.into_iter();
                while let Some(item) = it.next() {
                    if let Err(e) = Self::run_ready(slf, item) {
                        let mut st = core.lock();
                        st.ready.extend(it);
                        return Err(e);
                    }
                }
                st = core.lock();
            }
            core.expire_timers(&mut st);
            let n = st.ready.len();
            let b: Vec<Ready> = st.ready.drain(..n).collect();
            drop(st);
            drop((dead, released));
            if !b.is_empty() || timeout.is_some() || core.stopping.load(Ordering::Relaxed) {
                break b;
            }
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

    /// Waits for child `pid`'s exit on the ring (`IORING_OP_WAITID`, which
    /// reaps it) and then runs `callback(returncode)` (None if it was
    /// reaped elsewhere). False, doing nothing, when the kernel lacks the op.
    fn _wait_child(&self, pid: i32, callback: Py<PyAny>) -> PyResult<bool> {
        self.check_closed()?;
        if !self.has_waitid {
            return Ok(false);
        }
        let info = Box::<sys::Siginfo>::default();
        let at = &*info as *const sys::Siginfo as u64;
        let mut st = self.lock();
        // The op keeps `info`, which the kernel writes, until it completes.
        let queued = queue_op(
            &mut st,
            sys::IORING_OP_WAITID,
            Op::Child { info, callback },
            |sqe| prep::waitid(sqe, libc::P_PID, pid as u32, at, libc::WEXITED as u32, 0),
        );
        Ok(queued.is_some())
    }

    #[pyo3(signature = (fd, callback, *args))]
    fn _add_reader(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<Py<Handle>> {
        Self::add_watch(slf, fd, callback, args, false)
    }

    #[pyo3(signature = (fd, callback, *args))]
    fn _add_writer(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<Py<Handle>> {
        Self::add_watch(slf, fd, callback, args, true)
    }

    fn _remove_reader(&self, fd: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.remove_watch(fd, false)
    }

    fn _remove_writer(&self, fd: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.remove_watch(fd, true)
    }

    /// Cancels every op, waits for their completions (at most 5 s; what
    /// cannot be confirmed finished is kept, never freed), drops every
    /// callback and closes the ring. Called by `Loop.close()`.
    fn _close_core(&self, py: Python<'_>) {
        let (engine, ready, timers, watches, streams, recv_bufs, relays) = {
            let mut st = self.lock();
            if !st.relays.is_empty() {
                // What relays queued goes in, so the drain's cancel finds it.
                crate::event_loop::relay::transfer(&mut st);
            }
            (
                st.engine.take(),
                std::mem::take(&mut st.ready),
                std::mem::take(&mut st.timers),
                std::mem::take(&mut st.watches),
                st.streams.drain(),
                st.recv_bufs.take(),
                std::mem::take(&mut st.relays),
            )
        };
        drop((ready, timers, watches, streams));

        if let Some(e) = engine {
            if drain(py, e, &relays) {
                drop(recv_bufs);
            } else {
                // Ops not confirmed finished may still pick a buffer.
                std::mem::forget(recv_bufs);
            }
        }
        if self.wake_fd >= 0 {
            // SAFETY: our own eventfd; the ring that read it is gone.
            unsafe { libc::close(self.wake_fd) };
        }
    }

    /// The native half of a new stream transport for connected socket
    /// `fd` (its Python half is `transport`).
    fn _new_stream(
        slf: &Bound<'_, Self>,
        fd: i32,
        protocol: &Bound<'_, PyAny>,
        transport: &Bound<'_, PyAny>,
    ) -> PyResult<crate::event_loop::stream::StreamCore> {
        LoopCore::new_stream(slf, fd, protocol, transport)
    }

    /// Starts accepting on listening socket `fd` (multishot accept); each
    /// connection calls `self._accepted(fd, conn_fd_or_minus_errno)`.
    fn _start_accept(&self, fd: i32) -> PyResult<()> {
        self.check_closed()?;
        let mut st = self.lock();
        if st.listeners.get(&fd).copied().flatten().is_none() {
            self.arm_accept(&mut st, fd);
        }
        Ok(())
    }

    /// Stops accepting on `fd`; the cancel reaches the kernel before this
    /// returns, so closing the socket then refuses new connections.
    fn _stop_accept(&self, fd: i32) -> bool {
        let mut st = self.lock();
        match st.listeners.remove(&fd) {
            Some(Some(t)) => {
                cancel(&mut st, t, true);
                true
            }
            Some(None) => true,
            None => false,
        }
    }

    // The sock_* ops (sock.rs).

    /// Queues a recv of up to `n` bytes on `fd` resolving `fut`; the op's
    /// token, or None if stashed data already resolved it.
    fn _sock_recv_op(
        &self,
        py: Python<'_>,
        fut: &Bound<'_, PyAny>,
        fd: i32,
        n: usize,
    ) -> PyResult<Option<u64>> {
        self.sock_recv_op(py, fut, fd, n)
    }

    /// Queues a recv into `buf` resolving `fut` with the byte count.
    fn _sock_recv_into_op(
        &self,
        py: Python<'_>,
        fut: &Bound<'_, PyAny>,
        fd: i32,
        buf: &Bound<'_, PyAny>,
    ) -> PyResult<Option<u64>> {
        self.sock_recv_into_op(py, fut, fd, buf)
    }

    /// Queues an accept on `fd` resolving `fut` with the new fd.
    fn _sock_accept_op(&self, fut: &Bound<'_, PyAny>, fd: i32) -> PyResult<Option<u64>> {
        self.sock_accept_op(fut, fd)
    }

    /// Queues a connect of `fd` to a resolved `address` resolving `fut`.
    fn _sock_connect_op(
        &self,
        fut: &Bound<'_, PyAny>,
        fd: i32,
        address: &Bound<'_, PyAny>,
    ) -> PyResult<Option<u64>> {
        self.sock_connect_op(fut, fd, address)
    }

    /// Queues a splice of up to `len` bytes from `fd_in` (at `off_in`; -1:
    /// its position) to `fd_out`, for a sendfile on socket `sock`; resolves
    /// `fut` with the count.
    fn _sock_splice_op(
        &self,
        fut: &Bound<'_, PyAny>,
        sock: i32,
        fd_in: i32,
        off_in: i64,
        fd_out: i32,
        len: u32,
    ) -> PyResult<Option<u64>> {
        self.sock_splice_op(fut, sock, fd_in, off_in, fd_out, len)
    }

    /// A datagram transport's receive of up to `n` bytes on `fd`
    /// (`IORING_OP_RECVMSG`); `fut` gets `(data, address)`.
    fn _dgram_recv_op(&self, fut: &Bound<'_, PyAny>, fd: i32, n: usize) -> PyResult<Option<u64>> {
        self.dgram_recv_op(fut, fd, n)
    }

    /// A datagram transport's send of `data` (pinned until done) on `fd` to
    /// `address` (None: the connected peer) (`IORING_OP_SENDMSG`); `fut`
    /// gets the byte count.
    #[pyo3(signature = (fut, fd, data, address=None))]
    fn _dgram_send_op(
        &self,
        fut: &Bound<'_, PyAny>,
        fd: i32,
        data: &Bound<'_, PyAny>,
        address: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<u64>> {
        self.dgram_send_op(fut, fd, data, address)
    }

    /// Cancels op `token` now (the kernel lets go of its file first).
    fn _cancel_op(&self, token: u64) {
        self.cancel_token_now(token)
    }

    /// Forgets what cancelled calls stashed for `fd`.
    fn _forget_stash(&self, fd: i32) {
        self.forget_stash(fd)
    }

    /// Ops in flight on the loop's ring (diagnostics and tests).
    #[getter]
    fn _ops_in_flight(&self) -> usize {
        self.lock().engine.as_ref().map_or(0, |e| e.slots.live())
    }

    /// A relay ring of `entries` SQEs (at most the loop's own) whose ops go
    /// through this loop's ring; each batch of its completions is handed to
    /// `deliver([(user_data, res, flags), ...])` from the ready queue. For
    /// `uring_rs.aio` (see relay.rs).
    fn _relay_ring(&self, py: Python<'_>, entries: u32, deliver: Py<PyAny>) -> PyResult<Py<Ring>> {
        self.check_closed()?;
        let mut st = self.lock();
        let Some(e) = st.engine.as_ref() else {
            return Err(PyRuntimeError::new_err("Event loop is closed"));
        };
        let (features, probe, cap) = (e.raw.features, e.raw.probe().ok(), e.raw.sq_entries);
        let ring = Py::new(py, Ring::relay(entries.clamp(2, cap), features, probe)?)?;
        st.relays.push(Relay {
            ring: ring.clone_ref(py),
            deliver,
            draining: None,
        });
        Ok(ring)
    }

    /// Submits what relays (and the loop) have queued now, without waiting:
    /// a cancel must reach the kernel before its caller goes on.
    fn _relay_flush(&self) -> PyResult<()> {
        self.check_closed()?;
        let mut st = self.lock();
        crate::event_loop::relay::transfer(&mut st);
        if let Some(e) = st.engine.as_mut() {
            submit_now(e);
        }
        Ok(())
    }

    /// Cancels every op of relay `ring` and waits (blocking, at most
    /// `timeout` seconds) for their completions, which are returned as
    /// `[(user_data, res, flags), ...]` instead of being delivered. The
    /// loop's own completions seen meanwhile are queued as usual.
    fn _relay_drain(
        &self,
        py: Python<'_>,
        ring: &Bound<'_, Ring>,
        timeout: f64,
    ) -> PyResult<Vec<(u64, i32, u32)>> {
        let deadline = monotonic() + timeout.max(0.0);
        let target = ring.as_ptr();
        let found = {
            let mut st = self.lock();
            match st.relays.iter_mut().find(|r| r.ring.as_ptr() == target) {
                Some(r) => {
                    r.draining = Some(Vec::new());
                    true
                }
                None => false,
            }
        };
        if !found {
            return Ok(Vec::new());
        }
        let mut live = {
            let mut st = self.lock();
            crate::event_loop::relay::cancel_all(&mut st, ring.get())
        };
        while live > 0 {
            let left = deadline - monotonic();
            if left <= 0.0 {
                break;
            }
            let raw = match self.lock().engine.as_ref() {
                Some(e) => e.raw.clone(),
                None => break,
            };
            let ts = KernelTimespec::from_secs_f64(left.min(0.05));
            let _ = py.detach(|| raw.enter(0, 1, sys::IORING_ENTER_GETEVENTS, Some(ts)));
            let (mut dead, mut released) = (Vec::new(), Released::new());
            {
                let mut st = self.lock();
                self.reap(py, &mut st, &mut dead, &mut released);
                crate::event_loop::relay::transfer(&mut st);
            }
            drop((dead, released));
            live = ring
                .get()
                .lock()
                .engine
                .as_ref()
                .map_or(0, |e| e.slots.live());
        }
        let mut st = self.lock();
        let done = st
            .relays
            .iter_mut()
            .find(|r| r.ring.as_ptr() == target)
            .and_then(|r| r.draining.take())
            .unwrap_or_default();
        Ok(done)
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
            _ => None,
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
/// The cancel reaches the relays' ops too (one kernel ring): their
/// completions are routed back to the relays' slots, and the drain waits
/// for them as well.
fn drain(py: Python<'_>, mut e: Engine<Op>, relays: &[Relay]) -> bool {
    e.drain(
        std::time::Duration::from_secs(5),
        |out, dead| {
            drop(dead);
            let mut foreign: Vec<sys::Cqe> = out
                .iter()
                .filter(|c| !c.own)
                .map(|c| sys::Cqe {
                    user_data: c.user_data,
                    res: c.res,
                    flags: c.flags,
                })
                .collect();
            // Nobody waits for these any more: only what the ops kept matters.
            let mut released = Released::new();
            for r in relays {
                crate::event_loop::relay::claim(r, &mut foreign, &mut released);
            }
            drop(released);
        },
        |raw, pending, flags, ts| py.detach(|| raw.enter(pending, 1, flags, ts)),
        || crate::event_loop::relay::live(relays),
    )
}

/// A `subprocess`-style return code from a child's `waitid` result: its
/// exit status, or minus the signal that ended it.
fn exit_code(info: &sys::Siginfo) -> i32 {
    match info.si_code {
        libc::CLD_EXITED => info.si_status,
        _ => -info.si_status,
    }
}
