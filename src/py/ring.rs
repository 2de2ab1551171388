//! The Python `Ring`'s state and its core: the one lock around the engine,
//! queueing, reaping and waiting. The Python-visible methods are in
//! `ring_api.rs`, closing in `teardown.rs`.
//!
//! Locking discipline: all mutable state sits behind one `Mutex`, taken only
//! while attached to the interpreter and only around pure Rust work: no
//! Python object is created, released or called while it is held, and it is
//! never held across a `detach` (a blocking `io_uring_enter`). Under the GIL
//! the lock therefore never blocks, so sharing a ring between threads is
//! safe and costs one uncontended lock per call. Blocking waits run on an
//! `Arc<RawRing>` clone, which keeps the mappings and fd alive even if
//! another thread closes the ring meanwhile.
//!
//! May not touch: op preparation (ops.rs, ops_ext.rs, batch.rs call in) or
//! registration (register.rs, pbuf.rs call in).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::engine::ring::{RawRing, SqState};
use crate::engine::slots::{Slot, Slots};
use crate::engine::sys::{self, KernelTimespec};
use crate::engine::{Completion, Engine};
use crate::py::args;
use crate::py::cqe::Cqe;
use crate::py::error::{closed_ring, register_error, Kind, UringErr};
use crate::py::keep::{Keep, PinnedBuf};

/// Bumped in the child after every `fork()` (see lib.rs), so a ring can tell
/// it is being used from a process that does not own it.
pub static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Longest single sleep in the kernel: waits are cut into slices of this so
/// a ring closed by another thread is noticed promptly.
pub const WAIT_SLICE: Duration = Duration::from_millis(250);

/// Source of `Ring.id`: every ring of the process gets its own.
pub(crate) static NEXT_RING_ID: AtomicU64 = AtomicU64::new(1);

/// The opcode recorded for slots that stand for messages from other rings
/// (msg_ring): no kernel op of ours uses memory for them.
pub const MESSAGE_SLOT: u8 = 0xff;

pub struct State {
    /// The ring; None once closed.
    pub engine: Option<Engine<Keep>>,
    pub held: Held,
    /// With IORING_SETUP_SINGLE_ISSUER: the one thread the kernel takes
    /// submissions (and, with DEFER_TASKRUN, waits) from.
    pub issuer: Option<Issuer>,
}

/// The submitter thread of a SINGLE_ISSUER ring.
#[derive(Clone)]
pub struct Issuer {
    thread: u64,
    alive: Arc<AtomicBool>,
}

impl Issuer {
    pub fn current() -> Issuer {
        Issuer {
            thread: crate::engine::ring::thread_id(),
            alive: crate::engine::ring::thread_alive_flag(),
        }
    }

    pub fn is_current(&self) -> bool {
        self.thread == crate::engine::ring::thread_id()
    }

    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

/// Memory the ring keeps for the kernel beyond single ops: registered
/// buffers, legacy provided buffers, buffer rings. Released only when the
/// kernel can no longer use it (unregistered with nothing in flight, or the
/// ring closed and drained).
#[derive(Default)]
pub struct Held {
    /// `register_buffers`: the exporting objects and their pins, by index.
    pub reg_bufs: Vec<RegBuf>,
    /// Kept until the ring is closed and drained.
    pub until_close: Vec<Keep>,
    /// Registered provided-buffer rings.
    pub buf_rings: Vec<Py<PyAny>>,
}

pub struct RegBuf {
    pub obj: Py<PyAny>,
    pub pin: PinnedBuf,
}

/// An io_uring instance: a submission queue (SQ) and a completion queue (CQ)
/// shared with the kernel, set up with `io_uring_setup(2)` and mapped into the
/// process.
///
/// `entries` (a power of two from 1 to 32768) sizes the SQ; the CQ gets twice
/// as many unless `cq_entries` says otherwise (`IORING_SETUP_CQSIZE`). `flags`
/// takes `IORING_SETUP_*` (`SQPOLL`, `IOPOLL`, `SINGLE_ISSUER`,
/// `DEFER_TASKRUN`, `COOP_TASKRUN`, `R_DISABLED`, ...); `sq_thread_idle`
/// (milliseconds) and `sq_thread_cpu` configure the SQPOLL thread. `SQE128`,
/// `CQE32`, `NO_MMAP`, `REGISTERED_FD_ONLY` and `ATTACH_WQ` are refused with
/// `ValueError`.
///
/// Queue ops with the functions of `uring_rs.ops`, hand them to the kernel
/// with `submit()`, and consume their completions with `copy_cqes()` (or
/// `copy_cqe()`, `copy_cqes_into()`). The ring keeps every object an op uses
/// alive until that op's final completion has been consumed. `close()` (or
/// garbage collection) cancels what is still in flight and waits for it. A
/// ring may be shared by threads; it refuses use in a child after `fork()`
/// (`RuntimeError`).
#[pyclass(frozen, module = "uring_rs", name = "Ring", weakref)]
pub struct Ring {
    pub(crate) state: Mutex<State>,
    pub(crate) fd: i32,
    pub(crate) flags: u32,
    pub(crate) features: u32,
    pub(crate) sq_entries: u32,
    pub(crate) cq_entries: u32,
    pub(crate) fork_generation: u64,
    pub(crate) pid: u32,
    /// Unique per ring in this process: a `Cqe` remembers which ring it came
    /// from, so a provided buffer is only claimed from its own ring.
    pub(crate) id: u64,
    /// Set up with IORING_SETUP_R_DISABLED and not yet `enable()`d: the
    /// kernel consumes no SQE, so nothing queued is in flight.
    pub(crate) disabled: AtomicBool,
}

impl Ring {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while locked is caught by PyO3 and becomes an exception;
        // the state it left is still index-consistent, so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn forked(&self) -> bool {
        FORK_GENERATION.load(Ordering::Relaxed) != self.fork_generation
    }

    pub(crate) fn check_process(&self) -> PyResult<()> {
        if self.forked() {
            return Err(PyRuntimeError::new_err(format!(
                "this Ring was created by process {} before fork(); a child cannot use its \
                 parent's ring: create a new Ring in the child",
                self.pid
            )));
        }
        Ok(())
    }

    /// Runs `f` on the open ring under the state lock.
    pub fn with_open<R>(
        &self,
        f: impl FnOnce(&RawRing, &mut SqState, &mut Slots<Keep>) -> R,
    ) -> PyResult<R> {
        self.check_process()?;
        let mut g = self.lock();
        let e = g.engine.as_mut().ok_or_else(closed_ring)?;
        Ok(f(&e.raw, &mut e.sq, &mut e.slots))
    }

    /// Runs `f` on the open ring's engine under the state lock.
    pub fn with_engine<R>(&self, f: impl FnOnce(&mut Engine<Keep>) -> R) -> PyResult<R> {
        self.check_process()?;
        let mut g = self.lock();
        let e = g.engine.as_mut().ok_or_else(closed_ring)?;
        Ok(f(e))
    }

    /// The ring fd, or ValueError if closed.
    pub fn fd_checked(&self) -> PyResult<i32> {
        self.raw().map(|r| r.fd)
    }

    /// A token that names no op, for targets that are not found.
    pub fn no_target(&self) -> PyResult<u64> {
        self.with_open(|_, _, slots| slots.internal(crate::py::keep::NO_TARGET))
    }

    /// A slot standing for a message another ring will post here with
    /// IORING_OP_MSG_RING; its token is what that ring must send.
    pub fn message_token(&self, user_data: u64) -> PyResult<u64> {
        self.with_open(|_, _, slots| slots.alloc(user_data, MESSAGE_SLOT, Keep::default()))
    }

    /// Gives back the slot of a message that will never be posted (the
    /// sending op failed, or was never submitted). A no-op once closed.
    pub fn release_message(&self, token: u64) {
        let kept = {
            let mut g = self.lock();
            match g.engine.as_mut() {
                Some(e) if e.slots.get(token).is_some_and(|s| s.opcode == MESSAGE_SLOT) => {
                    e.slots.release(token)
                }
                _ => None,
            }
        };
        drop(kept);
    }

    /// This ring's process-unique id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// SUBMISSION_QUEUE_FULL unless `n` SQ entries are free: for ops that
    /// must change state elsewhere (pins, target slots) before queueing.
    /// Under the GIL nothing can take the entries between this check and
    /// the queueing that follows.
    pub fn require_space(&self, n: usize, what: &str) -> PyResult<()> {
        if self.space_left()? as usize >= n {
            return Ok(());
        }
        Err(UringErr::new(
            Kind::SubmissionQueueFull,
            format!("{what} needs {n} free SQ entries: submit() first"),
        )
        .into())
    }

    /// Free SQ entries.
    pub fn space_left(&self) -> PyResult<u32> {
        self.with_open(|raw, sq, _| raw.sq_space_left(sq))
    }

    /// Runs `f` on the open ring and its held memory under the state lock.
    pub fn with_held<R>(
        &self,
        f: impl FnOnce(&RawRing, &mut Slots<Keep>, &mut Held) -> R,
    ) -> PyResult<R> {
        self.check_process()?;
        let mut g = self.lock();
        let State { engine, held, .. } = &mut *g;
        let e = engine.as_mut().ok_or_else(closed_ring)?;
        Ok(f(&e.raw, &mut e.slots, held))
    }

    pub fn raw(&self) -> PyResult<Arc<RawRing>> {
        self.check_process()?;
        self.lock()
            .engine
            .as_ref()
            .map(|e| e.raw.clone())
            .ok_or_else(closed_ring)
    }

    /// Whether the ring has been closed.
    pub fn is_closed(&self) -> bool {
        self.lock().engine.is_none()
    }

    /// Queues one SQE under the lock (see `Engine::queue`): the SQE's
    /// position and token, or SUBMISSION_QUEUE_FULL with nothing queued and
    /// `keep` released (outside the lock).
    pub fn queue_raw(
        &self,
        user_data: u64,
        opcode: u8,
        keep: Keep,
        prep: impl FnOnce(&mut sys::Sqe, &mut Slot<Keep>),
    ) -> PyResult<(u32, u64)> {
        self.check_process()?;
        let mut g = self.lock();
        let Some(engine) = g.engine.as_mut() else {
            drop(g);
            drop(keep);
            return Err(closed_ring());
        };
        match engine.queue(user_data, opcode, keep, prep) {
            Ok(q) => Ok(q),
            Err(keep) => {
                drop(g);
                drop(keep);
                Err(UringErr::new(
                    Kind::SubmissionQueueFull,
                    format!(
                        "the submission queue is full ({} entries): submit() before queueing more",
                        self.sq_entries
                    ),
                )
                .into())
            }
        }
    }

    /// The tokens of in-flight ops with `user_data` and one of `opcodes`
    /// (any opcode when empty); used by ops that name a target.
    ///
    /// Ops whose final completion is already in the CQ (finished, not yet
    /// consumed) are not targets: a cancel aimed at them could only fail,
    /// while another in-flight op with the same user_data may be meant.
    pub fn find_targets(&self, user_data: u64, opcodes: &[u8]) -> PyResult<Vec<u64>> {
        self.check_process()?;
        let g = self.lock();
        let e = g.engine.as_ref().ok_or_else(closed_ring)?;
        Ok(e.find_targets(user_data, opcodes))
    }

    /// Python `Cqe`s for reaped entries. `consumed` marks those carrying a
    /// provided buffer as claimable once by `BufferRing.get`.
    pub fn cqe_list<'py>(
        &self,
        py: Python<'py>,
        cqes: Vec<Completion>,
        consumed: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let objs = cqes
            .into_iter()
            .map(|c| Bound::new(py, Cqe::reaped(c, consumed.then_some(self.id))))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, objs)
    }

    /// The reaping loop shared by `copy_cqes` and `copy_cqes_into`: under the
    /// lock, `take(engine, max, dead)` consumes up to `max` CQEs and
    /// returns how many it took; when it took none and `wait_nr > 0`, waits
    /// (GIL released, PEP 475, at most `timeout` seconds) and tries again.
    pub fn reap_loop(
        &self,
        py: Python<'_>,
        wait_nr: i64,
        max: Option<i64>,
        timeout: Option<f64>,
        mut take: impl FnMut(&mut Engine<Keep>, usize, &mut Vec<Keep>) -> usize,
    ) -> PyResult<usize> {
        let wait_nr = args::count32(wait_nr, "wait_nr")?;
        let max = match max {
            None => usize::MAX,
            Some(m) if m >= 0 => m as usize,
            Some(m) => return Err(PyValueError::new_err(format!("max must be >= 0, got {m}"))),
        };
        let deadline = match timeout {
            None => None,
            Some(t) => {
                args::float_seconds(t)?;
                Some(Instant::now() + Duration::from_secs_f64(t.min(1e9)))
            }
        };
        if deadline.is_some() && !self.has_ext_arg() && wait_nr > 0 {
            return Err(UringErr::new(
                Kind::SystemOutdated,
                "waiting with a timeout needs IORING_FEAT_EXT_ARG (Linux 5.11)",
            )
            .into());
        }
        let iopoll = self.flags & sys::IORING_SETUP_IOPOLL != 0;
        let mut dead = Vec::new();
        loop {
            let n = self.with_engine(|e| -> Result<usize, UringErr> {
                if e.raw.cq_ready() == 0 && (iopoll || e.raw.cq_ring_needs_flush()) {
                    Self::flush_completions(&e.raw)?;
                }
                Ok(take(e, max, &mut dead))
            })??;
            dead.clear(); // releases buffers outside the lock
            if n > 0 || wait_nr == 0 || max == 0 || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(n);
            }
            // Wait until `wait_nr` CQEs are ready: a slice that times out
            // with fewer ready returns success, so count them ourselves.
            let raw = self.raw()?;
            loop {
                let ended = self.wait_once(py, &raw, wait_nr, deadline)?;
                self.raw()?; // closed by another thread while we waited?
                if ended
                    || raw.cq_ready() >= wait_nr
                    || raw.cq_ring_needs_flush()
                    || deadline.is_some_and(|d| Instant::now() >= d)
                {
                    break;
                }
            }
        }
    }

    /// Without SQPOLL, a GETEVENTS enter that asks for nothing: flushes
    /// overflowed CQEs, runs deferred task work, reaps IOPOLL completions.
    pub(crate) fn flush_completions(raw: &RawRing) -> Result<(), UringErr> {
        match raw.enter(0, 0, sys::IORING_ENTER_GETEVENTS, None) {
            Ok(_) | Err(libc::EINTR) | Err(libc::EAGAIN) | Err(libc::EBUSY) => Ok(()),
            Err(e) => Err(UringErr::enter(e)),
        }
    }

    pub(crate) fn has_ext_arg(&self) -> bool {
        self.features & sys::IORING_FEAT_EXT_ARG != 0
    }

    /// One blocking wait for `min_complete` CQEs, at most one slice or until
    /// `deadline`, GIL released; Python signal handlers run afterwards (PEP
    /// 475: one that raises ends the wait). Returns whether the kernel ended
    /// the wait itself (enough CQEs, or a TIMEOUT op fired, which by the
    /// kernel's rule wakes waiters whatever `min_complete` is) rather than
    /// the slice running out or a signal: callers stop waiting then.
    pub(crate) fn wait_once(
        &self,
        py: Python<'_>,
        raw: &RawRing,
        min_complete: u32,
        deadline: Option<Instant>,
    ) -> PyResult<bool> {
        let slice = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(WAIT_SLICE),
            None => WAIT_SLICE,
        };
        let (ended, r) = py.detach(|| {
            wait_slice(
                raw,
                0,
                min_complete,
                sys::IORING_ENTER_GETEVENTS,
                self.has_ext_arg().then_some(slice),
            )
        });
        py.check_signals()?;
        match r {
            Ok(_) => Ok(ended),
            Err(libc::ETIME) | Err(libc::EINTR) => Ok(false),
            Err(e) => Err(UringErr::enter(e).into()),
        }
    }

    /// Whether the ring is set up disabled and not yet enabled.
    pub fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Acquire)
    }
}

/// One `io_uring_enter` that waits at most `slice` (when given), and
/// whether it returned success before the slice ran out: the kernel woke us
/// (enough CQEs, a fired TIMEOUT op) rather than our timer. Run detached.
pub(crate) fn wait_slice(
    raw: &RawRing,
    to_submit: u32,
    min_complete: u32,
    flags: u32,
    slice: Option<Duration>,
) -> (bool, Result<u32, i32>) {
    let start = Instant::now();
    let ts = slice.map(|s| KernelTimespec {
        tv_sec: s.as_secs() as i64,
        tv_nsec: s.subsec_nanos() as i64,
    });
    let r = raw.enter(to_submit, min_complete, flags, ts);
    // The kernel's timer fires at or after the slice; a success well before
    // it is the kernel's own wake-up.
    let early = slice.is_none_or(|s| start.elapsed() + Duration::from_millis(2) < s);
    (r.is_ok() && early, r)
}

pub(crate) fn entries_arg(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    let v: i64 = match obj.extract::<i64>() {
        Ok(v) => v,
        Err(e) => {
            // Non-integers are TypeErrors; huge ints are out of range
            // either way (the messages below show the value passed).
            if obj.is_instance_of::<pyo3::types::PyInt>() {
                if obj.gt(0)? {
                    i64::MAX
                } else {
                    i64::MIN
                }
            } else {
                return Err(e);
            }
        }
    };
    if v < 0 {
        return Err(PyValueError::new_err(format!(
            "entries must be >= 1, got {obj}"
        )));
    }
    if v == 0 {
        return Err(UringErr::new(Kind::EntriesZero, "entries must be at least 1").into());
    }
    if v > sys::IORING_MAX_ENTRIES as i64 {
        return Err(UringErr::new(
            Kind::EntriesTooLarge,
            format!(
                "entries must be at most {} (the kernel's limit), got {obj}",
                sys::IORING_MAX_ENTRIES
            ),
        )
        .into());
    }
    if v & (v - 1) != 0 {
        return Err(UringErr::new(
            Kind::EntriesNotPowerOfTwo,
            format!("entries must be a power of two, got {v}"),
        )
        .into());
    }
    Ok(v as u32)
}

pub(crate) fn setup_error(errno: i32, flags: u32) -> UringErr {
    let kind = Kind::from_setup_errno(errno);
    let why = match errno {
        libc::EPERM => {
            let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            if disabled == "2" {
                "io_uring is disabled on this system (sysctl kernel.io_uring_disabled=2)"
                    .to_string()
            } else if disabled == "1" {
                "io_uring is restricted to the io_uring_group by sysctl kernel.io_uring_disabled=1"
                    .to_string()
            } else if flags & sys::IORING_SETUP_SQPOLL != 0 {
                "SQPOLL needs more privilege here (CAP_SYS_NICE on old kernels), or a seccomp \
                 policy forbids io_uring"
                    .to_string()
            } else {
                "not permitted: a container's seccomp policy (Docker's default, for one) or the \
                 kernel.io_uring_disabled sysctl forbids io_uring"
                    .to_string()
            }
        }
        libc::ENOSYS => "this kernel has no io_uring (it needs Linux 5.1 or later, built with \
                         CONFIG_IO_URING), or a seccomp policy hides it"
            .to_string(),
        libc::EINVAL => "the kernel refused these parameters: a flag it does not know, \
                         SQ_AFF without SQPOLL, or a bad cq_entries"
            .to_string(),
        libc::EMFILE => "this process has no free file descriptor (RLIMIT_NOFILE)".to_string(),
        libc::ENFILE => "the system has no free file descriptor".to_string(),
        libc::ENOMEM => {
            "the kernel could not allocate the ring (memory or RLIMIT_MEMLOCK)".to_string()
        }
        _ => "io_uring_setup failed".to_string(),
    };
    UringErr::errno(kind, errno, format!("io_uring_setup: {why}"))
}

impl Ring {
    pub(crate) fn register_eventfd_impl(
        &self,
        fd: &Bound<'_, PyAny>,
        is_async: bool,
    ) -> PyResult<()> {
        let fd = args::fd(fd, "fd")?;
        let raw = self.raw()?;
        let op = if is_async {
            sys::IORING_REGISTER_EVENTFD_ASYNC
        } else {
            sys::IORING_REGISTER_EVENTFD
        };
        // SAFETY: the EVENTFD registrations take a pointer to one int, which
        // the kernel reads during the call only.
        unsafe { raw.register(op, (&fd as *const i32).cast(), 1) }
            .map(|_| ())
            .map_err(|e| register_error("IORING_REGISTER_EVENTFD", e).into())
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Garbage collection of an open ring closes it as close() does.
        Python::attach(|py| {
            let _ = self.shutdown(py, false);
        });
    }
}

/// The `ring` argument of an op function: a `uring_rs.Ring` (PyO3's own
/// error names neither the argument nor the module).
pub fn ring_arg<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Ring>> {
    match obj.cast::<Ring>() {
        Ok(r) => Ok(r.clone()),
        Err(_) => Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "ring must be a uring_rs.Ring, got {}",
            obj.get_type().name()?
        ))),
    }
}
