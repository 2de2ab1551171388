//! The Python-facing `Ring`, `Sqe`, `Cqe` and `Probe`.
//!
//! Locking discipline: all mutable state sits behind one `Mutex`, taken only
//! while attached to the interpreter and only around pure Rust work: no
//! Python object is created, released or called while it is held, and it is
//! never held across a `detach` (a blocking `io_uring_enter`). Under the GIL
//! the lock therefore never blocks, so sharing a ring between threads is
//! safe and costs one uncontended lock per call. Blocking waits run on an
//! `Arc<RawRing>` clone, which keeps the mappings and fd alive even if
//! another thread closes the ring meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::args;
use crate::error::{closed_ring, os_error, Kind, UringErr};
use crate::keep::{Keep, Origin, PinnedBuf, Slot, Slots, INTERNAL_CANCEL};
use crate::ring::{RawRing, SetupError, SqState};
use crate::sys::{self, KernelTimespec, Params};

/// Bumped in the child after every `fork()` (see lib.rs), so a ring can tell
/// it is being used from a process that does not own it.
pub static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Longest single sleep in the kernel: waits are cut into slices of this so
/// a ring closed by another thread is noticed promptly.
const WAIT_SLICE: Duration = Duration::from_millis(250);
/// How long `close()` waits for cancelled ops to finish before it gives up
/// and keeps (leaks) their memory rather than free what the kernel may use.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Source of `Ring.id`: every ring of the process gets its own.
static NEXT_RING_ID: AtomicU64 = AtomicU64::new(1);

/// The opcode recorded for slots that stand for messages from other rings
/// (msg_ring): no kernel op of ours uses memory for them.
pub const MESSAGE_SLOT: u8 = 0xff;

struct State {
    raw: Option<Arc<RawRing>>,
    sq: SqState,
    slots: Slots,
    held: Held,
    /// With IORING_SETUP_SINGLE_ISSUER: the one thread the kernel takes
    /// submissions (and, with DEFER_TASKRUN, waits) from.
    issuer: Option<Issuer>,
}

/// The submitter thread of a SINGLE_ISSUER ring.
#[derive(Clone)]
struct Issuer {
    thread: u64,
    alive: Arc<AtomicBool>,
}

impl Issuer {
    fn current() -> Issuer {
        Issuer {
            thread: crate::ring::thread_id(),
            alive: crate::ring::thread_alive_flag(),
        }
    }

    fn is_current(&self) -> bool {
        self.thread == crate::ring::thread_id()
    }
}

/// A SINGLE_ISSUER ring dropped by the garbage collector on a thread the
/// kernel refuses, with ops in flight: its memory waits here until its
/// issuer thread touches uring_rs again (and tears it down) or exits (the
/// kernel then cancels its ops, and anyone can reap them).
struct Orphan {
    raw: Arc<RawRing>,
    sq: SqState,
    slots: Slots,
    held: Held,
    issuer: Issuer,
}

static ORPHANS: Mutex<Vec<Orphan>> = Mutex::new(Vec::new());
static ORPHAN_COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Finishes the orphans that can be finished from this thread: those whose
/// issuer is this thread (cancel and drain) or has exited (reap what the
/// kernel completed at its exit). Cheap when there are none.
fn sweep_orphans(py: Python<'_>) {
    if ORPHAN_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mine: Vec<Orphan> = {
        let mut all = ORPHANS.lock().unwrap_or_else(|p| p.into_inner());
        let (take, keep): (Vec<Orphan>, Vec<Orphan>) = all
            .drain(..)
            .partition(|o| o.issuer.is_current() || !o.issuer.alive.load(Ordering::Acquire));
        *all = keep;
        ORPHAN_COUNT.store(all.len(), Ordering::Relaxed);
        take
    };
    for o in mine {
        let Orphan {
            raw,
            sq,
            slots,
            held,
            issuer,
        } = o;
        let state = Mutex::new(State {
            raw: Some(raw.clone()),
            sq,
            slots,
            held,
            issuer: Some(issuer),
        });
        drain_and_close(py, &state, raw, raw_flags_has_ext_arg(&state));
    }
}

fn raw_flags_has_ext_arg(state: &Mutex<State>) -> bool {
    let g = state.lock().unwrap_or_else(|p| p.into_inner());
    g.raw
        .as_ref()
        .is_some_and(|r| r.features & sys::IORING_FEAT_EXT_ARG != 0)
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
    pub buf_rings: Vec<Py<crate::pbuf::BufferRing>>,
}

pub struct RegBuf {
    pub obj: Py<PyAny>,
    pub pin: PinnedBuf,
}

#[pyclass(frozen, module = "uring_rs", name = "Ring", weakref)]
pub struct Ring {
    state: Mutex<State>,
    fd: i32,
    flags: u32,
    features: u32,
    sq_entries: u32,
    cq_entries: u32,
    fork_generation: u64,
    pid: u32,
    /// Unique per ring in this process: a `Cqe` remembers which ring it came
    /// from, so a provided buffer is only claimed from its own ring.
    id: u64,
    /// Set up with IORING_SETUP_R_DISABLED and not yet `enable()`d: the
    /// kernel consumes no SQE, so nothing queued is in flight.
    disabled: AtomicBool,
}

/// A CQE as reaped: translated to the caller's user_data, with what this
/// ring knows of the op that produced it.
#[derive(Clone, Copy)]
pub struct RawCqe {
    pub user_data: u64,
    pub res: i32,
    pub flags: u32,
    /// The provided-buffer group of the op, when it selected one and the
    /// completion is the op's own (never for a foreign completion).
    pub buf_group: Option<u16>,
    /// The op's successful completions are new fds (see `Slot::makes_fd`).
    pub makes_fd: bool,
}

impl Ring {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while locked is caught by PyO3 and becomes an exception;
        // the state it left is still index-consistent, so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forked(&self) -> bool {
        FORK_GENERATION.load(Ordering::Relaxed) != self.fork_generation
    }

    fn check_process(&self) -> PyResult<()> {
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
        f: impl FnOnce(&RawRing, &mut SqState, &mut Slots) -> R,
    ) -> PyResult<R> {
        self.check_process()?;
        let mut g = self.lock();
        let State { raw, sq, slots, .. } = &mut *g;
        let raw = raw.as_deref().ok_or_else(closed_ring)?;
        Ok(f(raw, sq, slots))
    }

    /// Changes the caller's user_data a live op's token stands for.
    pub fn set_user_data(&self, token: u64, user_data: u64) -> PyResult<()> {
        self.with_open(|_, _, slots| {
            if let Some(slot) = slots.get_mut(token) {
                slot.user_data = user_data;
            }
        })
    }

    /// The ring fd, or ValueError if closed.
    pub fn fd_checked(&self) -> PyResult<i32> {
        self.raw().map(|r| r.fd)
    }

    /// A token that names no op, for targets that are not found.
    pub fn no_target(&self) -> PyResult<u64> {
        self.with_open(|_, _, slots| slots.internal(crate::keep::NO_TARGET))
    }

    /// Makes room for one SQE: when the SQ is full, submits what is queued
    /// (as `submit()` does) until an entry is free.
    pub fn make_room(&self, py: Python<'_>) -> PyResult<()> {
        for attempt in 0..10_000 {
            if self.space_left()? > 0 {
                return Ok(());
            }
            if attempt == 0 || self.flags & sys::IORING_SETUP_SQPOLL == 0 {
                self.submit(py, 0)?;
            } else {
                // The SQPOLL thread consumes entries on its own.
                py.detach(|| std::thread::sleep(Duration::from_micros(100)));
            }
        }
        Err(UringErr::new(
            Kind::SubmissionQueueFull,
            "the submission queue stays full: the kernel is not consuming entries",
        )
        .into())
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
            match g.slots.get(token) {
                Some(s) if s.opcode == MESSAGE_SLOT => g.slots.release(token),
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
        f: impl FnOnce(&RawRing, &mut Slots, &mut Held) -> R,
    ) -> PyResult<R> {
        self.check_process()?;
        let mut g = self.lock();
        let State {
            raw, slots, held, ..
        } = &mut *g;
        let raw = raw.as_deref().ok_or_else(closed_ring)?;
        Ok(f(raw, slots, held))
    }

    pub fn raw(&self) -> PyResult<Arc<RawRing>> {
        self.check_process()?;
        self.lock().raw.clone().ok_or_else(closed_ring)
    }

    /// Queues one SQE: takes an SQ entry and a slot, lets `prep` fill the
    /// SQE (and the slot's scratch memory), and returns the `Sqe` handle.
    /// When the SQ is full nothing is queued and `keep` is released.
    pub fn queue(
        slf: &Bound<'_, Ring>,
        user_data: u64,
        opcode: u8,
        keep: Keep,
        prep: impl FnOnce(&mut sys::Sqe, &mut Slot),
    ) -> PyResult<Py<Sqe>> {
        let ring = slf.get();
        let queued = ring.with_open(|raw, sq, slots| match raw.get_sqe(sq) {
            None => Err(Box::new(keep)),
            Some((pos, sqe)) => {
                let token = slots.alloc(user_data, opcode, keep);
                let slot = slots.get_mut(token).expect("slot just allocated");
                sqe.opcode = opcode;
                sqe.user_data = token;
                prep(sqe, slot);
                slot.note_sqe(sqe);
                Ok((pos, token))
            }
        })?;
        match queued {
            Ok((pos, token)) => Py::new(
                slf.py(),
                Sqe {
                    ring: slf.clone().unbind(),
                    pos,
                    token,
                    user_data: AtomicU64::new(user_data),
                    opcode,
                },
            ),
            Err(keep) => {
                drop(keep);
                Err(UringErr::new(
                    Kind::SubmissionQueueFull,
                    format!(
                        "the submission queue is full ({} entries): submit() before queueing more",
                        ring.sq_entries
                    ),
                )
                .into())
            }
        }
    }

    /// Queues `n` SQEs of `opcode` in one lock: op `i` gets user_data
    /// `user_data + i`, a reference to `holder` (the batch's pinned memory)
    /// and `prep(i, sqe)`. All or nothing: SUBMISSION_QUEUE_FULL when the SQ
    /// has fewer than `n` free entries.
    pub fn queue_many(
        slf: &Bound<'_, Ring>,
        user_data: u64,
        n: u32,
        opcode: u8,
        holder: Option<Py<PyAny>>,
        mut prep: impl FnMut(u32, &mut sys::Sqe),
    ) -> PyResult<u32> {
        let ring = slf.get();
        let py = slf.py();
        if n > 0 && user_data.checked_add(n as u64 - 1).is_none() {
            return Err(PyValueError::new_err(format!(
                "user_data + count - 1 must stay within 2**64-1: user_data={user_data} with \
                 {n} ops would wrap around"
            )));
        }
        let ok = ring.with_open(|raw, sq, slots| {
            if raw.sq_space_left(sq) < n {
                return false;
            }
            for i in 0..n {
                let (_, sqe) = raw.get_sqe(sq).expect("space checked above");
                let token = slots.alloc(
                    user_data + i as u64,
                    opcode,
                    crate::batch::keep_for(py, &holder),
                );
                sqe.opcode = opcode;
                sqe.user_data = token;
                prep(i, sqe);
                if let Some(slot) = slots.get_mut(token) {
                    slot.note_sqe(sqe);
                }
            }
            true
        })?;
        drop(holder);
        if ok {
            Ok(n)
        } else {
            Err(UringErr::new(
                Kind::SubmissionQueueFull,
                format!(
                    "the submission queue has fewer than {n} free entries (of {}): submit() first, \
                     or queue smaller batches",
                    ring.sq_entries
                ),
            )
            .into())
        }
    }

    /// The tokens of in-flight ops with `user_data` and one of `opcodes`
    /// (any opcode when empty); used by ops that name a target.
    ///
    /// Ops whose final completion is already in the CQ (finished, not yet
    /// consumed) are not targets: a cancel aimed at them could only fail,
    /// while another in-flight op with the same user_data may be meant.
    pub fn find_targets(&self, user_data: u64, opcodes: &[u8]) -> PyResult<Vec<u64>> {
        self.with_open(|raw, _, slots| {
            let mut found = slots.find(user_data, opcodes);
            if !found.is_empty() {
                let done: Vec<u64> = (0..raw.cq_ready())
                    .map(|i| raw.cqe(i))
                    .filter(|c| c.flags & sys::IORING_CQE_F_MORE == 0)
                    .map(|c| c.user_data)
                    .collect();
                found.retain(|t| !done.contains(t));
            }
            found
        })
    }

    /// Copies up to `max` ready CQEs, translated; when `consume`, advances
    /// the CQ and releases finished slots into `dead`.
    fn reap(
        raw: &RawRing,
        slots: &mut Slots,
        max: usize,
        consume: bool,
        out: &mut Vec<RawCqe>,
        dead: &mut Vec<Keep>,
    ) {
        let n = (raw.cq_ready() as usize).min(max) as u32;
        for i in 0..n {
            let c = raw.cqe(i);
            if let Some(r) = Self::translate(slots, &c, consume, dead) {
                out.push(r);
            }
        }
        if consume {
            raw.cq_advance(n);
        }
    }

    /// One CQE as the caller sees it (None for the ring's internal ops);
    /// when `consume`, a final completion releases its op's slot into
    /// `dead`. Only a completion the token proves to be a live op's own
    /// releases anything.
    pub fn translate(
        slots: &mut Slots,
        c: &sys::Cqe,
        consume: bool,
        dead: &mut Vec<Keep>,
    ) -> Option<RawCqe> {
        match slots.origin(c) {
            Origin::Internal => None,
            Origin::Foreign => Some(RawCqe {
                user_data: c.user_data,
                res: c.res,
                flags: c.flags,
                buf_group: None,
                makes_fd: false,
            }),
            Origin::Op { user_data, .. } => {
                let (buf_group, makes_fd) = slots
                    .get(c.user_data)
                    .map_or((None, false), |s| (s.buf_group, s.makes_fd));
                if consume {
                    if let Some(k) = slots.finish(c) {
                        if !k.is_empty() {
                            dead.push(k);
                        }
                    }
                }
                Some(RawCqe {
                    user_data,
                    res: c.res,
                    flags: c.flags,
                    buf_group,
                    makes_fd,
                })
            }
        }
    }

    /// Python `Cqe`s for reaped entries. `consumed` marks those carrying a
    /// provided buffer as claimable once by `BufferRing.get`.
    fn cqe_list<'py>(
        &self,
        py: Python<'py>,
        cqes: Vec<RawCqe>,
        consumed: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let objs = cqes
            .into_iter()
            .map(|c| Bound::new(py, Cqe::reaped(c, consumed.then_some(self.id))))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, objs)
    }

    /// The reaping loop shared by `copy_cqes` and `copy_cqes_into`: under the
    /// lock, `take(raw, slots, max, dead)` consumes up to `max` CQEs and
    /// returns how many it took; when it took none and `wait_nr > 0`, waits
    /// (GIL released, PEP 475, at most `timeout` seconds) and tries again.
    pub fn reap_loop(
        &self,
        py: Python<'_>,
        wait_nr: i64,
        max: Option<i64>,
        timeout: Option<f64>,
        mut take: impl FnMut(&RawRing, &mut Slots, usize, &mut Vec<Keep>) -> usize,
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
            let n = self.with_open(|raw, _, slots| -> Result<usize, UringErr> {
                if raw.cq_ready() == 0 && (iopoll || raw.cq_ring_needs_flush()) {
                    Self::flush_completions(raw)?;
                }
                Ok(take(raw, slots, max, &mut dead))
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
    fn flush_completions(raw: &RawRing) -> Result<(), UringErr> {
        match raw.enter(0, 0, sys::IORING_ENTER_GETEVENTS, None) {
            Ok(_) | Err(libc::EINTR) | Err(libc::EAGAIN) | Err(libc::EBUSY) => Ok(()),
            Err(e) => Err(UringErr::enter(e)),
        }
    }

    fn has_ext_arg(&self) -> bool {
        self.features & sys::IORING_FEAT_EXT_ARG != 0
    }

    /// One blocking wait for `min_complete` CQEs, at most one slice or until
    /// `deadline`, GIL released; Python signal handlers run afterwards (PEP
    /// 475: one that raises ends the wait). Returns whether the kernel ended
    /// the wait itself (enough CQEs, or a TIMEOUT op fired, which by the
    /// kernel's rule wakes waiters whatever `min_complete` is) rather than
    /// the slice running out or a signal: callers stop waiting then.
    fn wait_once(
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

    /// Cancels and drains everything in flight, then unmaps and closes.
    /// Memory the kernel may still use is never freed: if the ops cannot be
    /// confirmed finished within `CLOSE_GRACE`, their slots are leaked.
    ///
    /// `explicit` is a call to `close()` (which may raise) rather than
    /// garbage collection: a SINGLE_ISSUER ring with ops in flight closed
    /// from a thread the kernel refuses raises then; collected there, it is
    /// handed to its issuer thread (see [`Orphan`]).
    fn shutdown(&self, py: Python<'_>, explicit: bool) -> PyResult<()> {
        sweep_orphans(py);
        let raw = {
            let mut g = self.lock();
            if let Some(issuer) = g.issuer.clone() {
                if !issuer.is_current() && g.raw.is_some() && !self.forked() {
                    // Whatever the kernel already completed can be reaped
                    // from any thread; only the rest needs the issuer.
                    let State { raw, slots, .. } = &mut *g;
                    let mut dead = Vec::new();
                    let r = raw.clone().expect("checked above");
                    let mut out = Vec::new();
                    Self::reap(&r, slots, usize::MAX, true, &mut out, &mut dead);
                    let fds = fd_results(&out);
                    let live = slots.live();
                    if live > 0 && issuer.alive.load(Ordering::Acquire) {
                        if explicit {
                            drop(g);
                            close_fds(&fds);
                            drop(dead);
                            return Err(PyRuntimeError::new_err(format!(
                                "this Ring was set up with IORING_SETUP_SINGLE_ISSUER and has \
                                 {live} ops in flight: the kernel only lets the thread that \
                                 submits to it cancel them, so close it from that thread"
                            )));
                        }
                        let State {
                            raw,
                            sq,
                            slots,
                            held,
                            ..
                        } = &mut *g;
                        let orphan = Orphan {
                            raw: raw.take().expect("checked above"),
                            sq: std::mem::take(sq),
                            slots: slots.take_all(),
                            held: std::mem::take(held),
                            issuer,
                        };
                        drop(g);
                        let mut all = ORPHANS.lock().unwrap_or_else(|p| p.into_inner());
                        all.push(orphan);
                        ORPHAN_COUNT.store(all.len(), Ordering::Relaxed);
                        drop(all);
                        close_fds(&fds);
                        drop(dead);
                        return Ok(());
                    }
                    drop(g);
                    close_fds(&fds);
                    drop(dead);
                    g = self.lock();
                }
            }
            match g.raw.take() {
                None => return Ok(()),
                Some(raw) => raw,
            }
        };
        if self.forked() {
            // The child has no ring memory (MADV_DONTFORK) and its buffers
            // are private copies the kernel never writes: drop our references
            // and close the child's copy of the fd.
            let mut g = self.lock();
            let slots = std::mem::take(&mut g.slots);
            let held = std::mem::take(&mut g.held);
            drop(g);
            drop((slots, held, raw));
            return Ok(());
        }
        if self.disabled.load(Ordering::Acquire) {
            // A ring never enabled has consumed no SQE: nothing queued ever
            // reached the kernel.
            let mut g = self.lock();
            let dead = g.slots.release_all();
            let held = std::mem::take(&mut g.held);
            drop(g);
            drop(dead);
            drop(raw);
            drop(held);
            return Ok(());
        }
        drain_and_close(py, &self.state, raw, self.has_ext_arg());
        Ok(())
    }
}

/// The fds carried by successful completions of fd-making ops.
fn fd_results(cqes: &[RawCqe]) -> Vec<i32> {
    cqes.iter()
        .filter(|c| c.makes_fd && c.res >= 0)
        .map(|c| c.res)
        .collect()
}

/// Closes fds nobody will ever see (completions discarded by a close).
fn close_fds(fds: &[i32]) {
    for &fd in fds {
        // SAFETY: each fd came from a completion of an op that creates an
        // fd, which nobody consumed: this process owns it and nothing else
        // knows it.
        unsafe { libc::close(fd) };
    }
}

/// The common teardown: releases what never reached the kernel, cancels the
/// rest and reaps until nothing is in flight or `CLOSE_GRACE` runs out
/// (then leaks what is left, never freeing memory the kernel may write),
/// closing fds that discarded completions carried; then unmaps and closes.
fn drain_and_close(py: Python<'_>, state: &Mutex<State>, raw: Arc<RawRing>, ext_arg: bool) {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let mut dead: Vec<Keep> = Vec::new();
    {
        // Ops queued but never published: the kernel never saw them.
        let mut g = lock();
        let State { sq, slots, .. } = &mut *g;
        let mut pos = sq.sqe_head;
        while let Some(sqe) = raw.sqe_at(sq, pos) {
            dead.extend(slots.release(sqe.user_data));
            pos = pos.wrapping_add(1);
        }
        sq.sqe_tail = sq.sqe_head;
        // Messages other rings may still post here hold no memory.
        dead.extend(slots.release_opcode(MESSAGE_SLOT));
    }
    drop(dead);
    let deadline = Instant::now() + CLOSE_GRACE;
    let mut cancel_sent_at: Option<Instant> = None;
    loop {
        let mut dead: Vec<Keep> = Vec::new();
        let mut out = Vec::new();
        let (live, pending) = {
            let mut g = lock();
            let State { sq, slots, .. } = &mut *g;
            Ring::reap(&raw, slots, usize::MAX, true, &mut out, &mut dead);
            let live = slots.live();
            let resend = cancel_sent_at.is_none_or(|t| t.elapsed() > Duration::from_millis(100));
            if live > 0 && resend {
                let token = slots.internal(INTERNAL_CANCEL);
                if let Some((_, sqe)) = raw.get_sqe(sq) {
                    *sqe = sys::Sqe::default();
                    sqe.opcode = sys::IORING_OP_ASYNC_CANCEL;
                    sqe.fd = -1;
                    sqe.op_flags = sys::IORING_ASYNC_CANCEL_ALL | sys::IORING_ASYNC_CANCEL_ANY;
                    sqe.user_data = token;
                    cancel_sent_at = Some(Instant::now());
                }
            }
            (live, raw.flush_sq(sq))
        };
        close_fds(&fd_results(&out));
        drop(dead);
        if live == 0 || Instant::now() >= deadline {
            break;
        }
        let mut flags = sys::IORING_ENTER_GETEVENTS;
        raw.sq_ring_needs_enter(&mut flags);
        let ts = ext_arg.then_some(KernelTimespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        });
        // Signals are not acted on here: a half-closed ring would be
        // worse than a close that finishes within its grace period.
        let r = py.detach(|| raw.enter(pending, 1, flags, ts));
        if r == Err(libc::EEXIST) {
            // A SINGLE_ISSUER ring whose issuer thread has exited: the kernel
            // refuses every other thread's cancels for good (and does not
            // cancel the ops itself), so nothing can confirm them finished.
            break;
        }
    }
    let mut g = lock();
    let held = std::mem::take(&mut g.held);
    if g.slots.live() > 0 {
        // Could not confirm the kernel is done with these: keep their
        // buffers, scratch memory and every registered buffer forever
        // rather than free memory the kernel may still write.
        std::mem::forget(g.slots.take_all());
        std::mem::forget(held);
        drop(g);
        drop(raw);
        return;
    }
    drop(g);
    drop(raw);
    drop(held);
}

/// One `io_uring_enter` that waits at most `slice` (when given), and
/// whether it returned success before the slice ran out: the kernel woke us
/// (enough CQEs, a fired TIMEOUT op) rather than our timer. Run detached.
fn wait_slice(
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

fn entries_arg(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
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

fn setup_error(errno: i32, flags: u32) -> UringErr {
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

#[pymethods]
impl Ring {
    #[new]
    #[pyo3(
        signature = (entries = 32, flags = 0, *, sq_thread_idle = 1000, sq_thread_cpu = None, cq_entries = None)
    )]
    fn new(
        #[pyo3(from_py_with = entries_arg)] entries: u32,
        #[pyo3(from_py_with = crate::named::flags_i64)] flags: i64,
        #[pyo3(from_py_with = crate::named::sq_thread_idle_i64)] sq_thread_idle: i64,
        #[pyo3(from_py_with = crate::named::sq_thread_cpu_opt_i64)] sq_thread_cpu: Option<i64>,
        #[pyo3(from_py_with = crate::named::cq_entries_opt_i64)] cq_entries: Option<i64>,
    ) -> PyResult<Self> {
        let mut flags = args::flags32(flags, "flags")?;
        let unsupported = sys::IORING_SETUP_SQE128
            | sys::IORING_SETUP_CQE32
            | sys::IORING_SETUP_NO_MMAP
            | sys::IORING_SETUP_REGISTERED_FD_ONLY
            | sys::IORING_SETUP_ATTACH_WQ;
        if flags & unsupported != 0 {
            return Err(PyValueError::new_err(
                "IORING_SETUP_SQE128, CQE32, NO_MMAP, REGISTERED_FD_ONLY and ATTACH_WQ are not \
                 supported by uring_rs: leave them out of flags",
            ));
        }
        let mut params = Params {
            sq_thread_idle: args::flags32(sq_thread_idle, "sq_thread_idle")?,
            ..Default::default()
        };
        if let Some(cpu) = sq_thread_cpu {
            flags |= sys::IORING_SETUP_SQ_AFF;
            params.sq_thread_cpu = args::flags32(cpu, "sq_thread_cpu")?;
        }
        if let Some(cq) = cq_entries {
            flags |= sys::IORING_SETUP_CQSIZE;
            params.cq_entries = args::flags32(cq, "cq_entries")?;
        }
        params.flags = flags;
        let raw = RawRing::setup(entries, &mut params).map_err(|e| match e {
            SetupError::Setup(errno) => setup_error(errno, flags),
            SetupError::Mmap(errno) => UringErr::errno(
                Kind::SystemResources,
                errno,
                format!("mmap of the ring failed: {}", crate::error::strerror(errno)),
            ),
        })?;
        Ok(Ring {
            fd: raw.fd,
            flags: raw.flags,
            features: raw.features,
            sq_entries: raw.sq_entries,
            cq_entries: raw.cq_entries,
            fork_generation: FORK_GENERATION.load(Ordering::Relaxed),
            pid: std::process::id(),
            id: NEXT_RING_ID.fetch_add(1, Ordering::Relaxed),
            disabled: AtomicBool::new(flags & sys::IORING_SETUP_R_DISABLED != 0),
            state: Mutex::new(State {
                raw: Some(Arc::new(raw)),
                sq: SqState::default(),
                slots: Slots::default(),
                held: Held::default(),
                // The kernel makes the creating thread the issuer, or, for a
                // disabled ring, the one that enables it.
                issuer: (flags & sys::IORING_SETUP_SINGLE_ISSUER != 0
                    && flags & sys::IORING_SETUP_R_DISABLED == 0)
                    .then(Issuer::current),
            }),
        })
    }

    #[getter]
    fn fd(&self) -> i32 {
        self.fd
    }
    #[getter]
    fn flags(&self) -> u32 {
        self.flags
    }
    #[getter]
    fn features(&self) -> u32 {
        self.features
    }
    #[getter]
    fn sq_entries(&self) -> u32 {
        self.sq_entries
    }
    #[getter]
    fn cq_entries(&self) -> u32 {
        self.cq_entries
    }
    #[getter]
    fn closed(&self) -> bool {
        self.lock().raw.is_none()
    }

    /// Ops queued or in flight whose final completion has not been consumed.
    #[getter]
    fn in_flight(&self) -> PyResult<usize> {
        self.with_open(|_, _, slots| slots.live())
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.shutdown(py, true)
    }

    /// Enables a ring set up with `IORING_SETUP_R_DISABLED`
    /// (`IORING_REGISTER_ENABLE_RINGS`, Linux 5.10): until then the kernel
    /// consumes no SQE. With SINGLE_ISSUER the calling thread becomes the
    /// ring's submitter.
    fn enable(&self) -> PyResult<()> {
        let raw = self.raw()?;
        if !self.disabled.load(Ordering::Acquire) {
            return Err(PyValueError::new_err(
                "this ring is not disabled (it was not set up with IORING_SETUP_R_DISABLED, or \
                 enable() was already called)",
            ));
        }
        // SAFETY: ENABLE_RINGS takes no argument.
        unsafe { raw.register(sys::IORING_REGISTER_ENABLE_RINGS, std::ptr::null(), 0) }
            .map_err(|e| register_error("IORING_REGISTER_ENABLE_RINGS", e))?;
        self.disabled.store(false, Ordering::Release);
        if self.flags & sys::IORING_SETUP_SINGLE_ISSUER != 0 {
            self.lock().issuer = Some(Issuer::current());
        }
        Ok(())
    }

    /// Whether the ring is still disabled (`IORING_SETUP_R_DISABLED`, not
    /// yet `enable()`d).
    #[getter]
    fn disabled(&self) -> bool {
        self.disabled.load(Ordering::Acquire)
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        // Never block here: a thread holding the lock is mid-call, and
        // skipping a traversal only delays collection.
        let Ok(g) = self.state.try_lock() else {
            return Ok(());
        };
        g.slots.traverse(&visit)?;
        if g.slots.live() == 0 {
            // Nothing in flight: nothing writes into registered buffers now,
            // and clearing the ring unregisters them before they are freed.
            for r in &g.held.reg_bufs {
                visit.call(&r.obj)?;
                r.pin.traverse(&visit)?;
            }
            for k in &g.held.until_close {
                k.traverse(&visit, true)?;
            }
        }
        for b in &g.held.buf_rings {
            visit.call(b)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        // A cycle through what the ring keeps: close as garbage collection
        // would (cancel, drain, then drop the references).
        Python::attach(|py| {
            let _ = self.shutdown(py, false);
        });
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().raw()?;
        Ok(slf)
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.shutdown(py, true)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.lock().raw.is_none() {
            "closed"
        } else {
            "open"
        };
        format!(
            "<uring_rs.Ring fd={} sq_entries={} cq_entries={} flags={:#x} {state}>",
            self.fd, self.sq_entries, self.cq_entries, self.flags
        )
    }

    /// The SQ ring's flags word (`IORING_SQ_NEED_WAKEUP`, `_CQ_OVERFLOW`,
    /// `_TASKRUN`), as the kernel last wrote it.
    fn sq_flags(&self) -> PyResult<u32> {
        self.with_open(|raw, _, _| raw.sq_flags())
    }

    /// How many `io_uring_enter` calls this ring has made (diagnostics).
    #[getter]
    fn enter_calls(&self) -> PyResult<u64> {
        self.with_open(|raw, _, _| raw.enter_calls())
    }

    /// Publishes queued SQEs to the kernel's tail; returns how many it has
    /// yet to consume.
    fn flush_sq(&self) -> PyResult<u32> {
        self.with_open(|raw, sq, _| raw.flush_sq(sq))
    }

    fn sq_ready(&self) -> PyResult<u32> {
        self.with_open(|raw, sq, _| raw.sq_ready(sq))
    }

    fn sq_space_left(&self) -> PyResult<u32> {
        self.with_open(|raw, sq, _| raw.sq_space_left(sq))
    }

    fn cq_ready(&self) -> PyResult<u32> {
        self.with_open(|raw, _, _| raw.cq_ready())
    }

    fn cq_ring_needs_flush(&self) -> PyResult<bool> {
        self.with_open(|raw, _, _| raw.cq_ring_needs_flush())
    }

    /// Flushes queued SQEs and enters the kernel when needed; with
    /// `wait_nr`, waits (GIL released) until that many CQEs are ready.
    #[pyo3(signature = (wait_nr = 0))]
    fn submit(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = crate::named::wait_nr_i64)] wait_nr: i64,
    ) -> PyResult<u32> {
        let wait_nr = args::count32(wait_nr, "wait_nr")?;
        sweep_orphans(py);
        if self.disabled.load(Ordering::Acquire) {
            self.raw()?;
            return Err(UringErr::errno(
                Kind::ArgumentsInvalid,
                libc::EBADFD,
                "this ring was set up with IORING_SETUP_R_DISABLED: call enable() before submit()",
            )
            .into());
        }
        let iopoll = self.flags & sys::IORING_SETUP_IOPOLL != 0;
        let (to_submit, published, need_enter, flags) = self.with_open(|raw, sq, _| {
            let published = sq.sqe_tail.wrapping_sub(sq.sqe_head);
            let n = raw.flush_sq(sq);
            let mut flags = 0;
            let need = raw.sq_ring_needs_enter(&mut flags);
            (n, published, need, flags)
        })?;
        let sqpoll = self.flags & sys::IORING_SETUP_SQPOLL != 0;
        // With SQPOLL the kernel thread consumes SQEs on its own: report the
        // ones this call handed over.
        let mut total = if sqpoll { published } else { 0 };
        let raw = self.raw()?;
        // Hand the SQEs over without releasing the GIL: many ops (NOPs,
        // page-cached reads) complete inline, and then no wait is needed.
        // Nothing to submit and nothing to reap means no syscall at all.
        if need_enter && (sqpoll || to_submit > 0 || iopoll) {
            let flags = if iopoll {
                flags | sys::IORING_ENTER_GETEVENTS
            } else {
                flags
            };
            loop {
                match raw.enter(to_submit, 0, flags, None) {
                    Ok(n) => {
                        if !sqpoll {
                            total = n;
                        }
                        break;
                    }
                    Err(libc::EINTR) => py.check_signals()?,
                    Err(e) => return Err(UringErr::enter(e).into()),
                }
            }
        }
        // Then wait for the rest with the GIL released (PEP 475 inside).
        // A wait slice can end with fewer ready than asked: count them.
        while wait_nr > 0 && raw.cq_ready() < wait_nr {
            let ended = self.wait_once(py, &raw, wait_nr, None)?;
            self.raw()?; // closed by another thread while we waited?
            if ended {
                break;
            }
        }
        Ok(total)
    }

    /// Raw `io_uring_enter(2)`; EINTR is reported as SIGNAL_INTERRUPT.
    fn enter(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = crate::named::to_submit_i64)] to_submit: i64,
        #[pyo3(from_py_with = crate::named::min_complete_i64)] min_complete: i64,
        #[pyo3(from_py_with = crate::named::flags_i64)] flags: i64,
    ) -> PyResult<u32> {
        let to_submit = args::count32(to_submit, "to_submit")?;
        let min_complete = args::count32(min_complete, "min_complete")?;
        let flags = args::flags32(flags, "flags")?
            & !(sys::IORING_ENTER_EXT_ARG
                | sys::IORING_ENTER_REGISTERED_RING
                | sys::IORING_ENTER_EXT_ARG_REG);
        let raw = self.raw()?;
        let fail = |py: Python<'_>, e: i32| -> PyResult<u32> {
            if e == libc::EINTR {
                py.check_signals()?;
            }
            Err(UringErr::enter(e).into())
        };
        let waits = min_complete > 0 && flags & sys::IORING_ENTER_GETEVENTS != 0;
        if !waits || !self.has_ext_arg() {
            let r = if waits {
                py.detach(|| raw.enter(to_submit, min_complete, flags, None))
            } else {
                raw.enter(to_submit, min_complete, flags, None)
            };
            return r.or_else(|e| fail(py, e));
        }
        // Waiting: in slices, so a close() from another thread is noticed.
        // The first slice submits; a slice that ran out just waits again.
        let (mut ended, r) =
            py.detach(|| wait_slice(&raw, to_submit, min_complete, flags, Some(WAIT_SLICE)));
        let submitted = match r {
            Ok(n) => n,
            Err(libc::ETIME) => 0,
            Err(e) => return fail(py, e),
        };
        while !ended && raw.cq_ready() < min_complete && !raw.cq_ring_needs_flush() {
            self.raw()?; // closed by another thread while we waited?
            let (e2, r) = py.detach(|| wait_slice(&raw, 0, min_complete, flags, Some(WAIT_SLICE)));
            ended = e2;
            match r {
                Ok(_) | Err(libc::ETIME) => {}
                Err(e) => return fail(py, e),
            }
        }
        self.raw()?;
        Ok(submitted)
    }

    /// Copies (and consumes) up to `max` ready CQEs; if none is ready and
    /// `wait_nr > 0`, waits for `wait_nr`, at most `timeout` seconds.
    #[pyo3(signature = (wait_nr = 0, max = None, timeout = None))]
    fn copy_cqes<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = crate::named::wait_nr_i64)] wait_nr: i64,
        #[pyo3(from_py_with = args::max)] max: Option<i64>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut out = Vec::new();
        self.reap_loop(py, wait_nr, max, timeout, |raw, slots, max, dead| {
            Self::reap(raw, slots, max, true, &mut out, dead);
            out.len()
        })?;
        self.cqe_list(py, out, true)
    }

    /// Copies (consumes) CQEs into preallocated arrays: `user_data`
    /// (uint64), `res` (int32) and optionally `flags` (uint32); returns the
    /// count. Waits like `copy_cqes`.
    #[pyo3(signature = (user_data, res, flags = None, wait_nr = 0, timeout = None))]
    fn copy_cqes_into(
        &self,
        py: Python<'_>,
        user_data: &Bound<'_, PyAny>,
        res: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = crate::named::wait_nr_i64)] wait_nr: i64,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        crate::batch::copy_cqes_into(self, py, user_data, res, flags, wait_nr, timeout)
    }

    /// Waits for one CQE and consumes it.
    fn copy_cqe(&self, py: Python<'_>) -> PyResult<Py<Cqe>> {
        loop {
            let list = self.copy_cqes(py, 1, Some(1), None)?;
            if let Ok(item) = list.get_item(0) {
                return Ok(item.cast_into::<Cqe>()?.unbind());
            }
        }
    }

    /// The ready CQEs, not consumed (see `cq_advance`, `cqe_seen`).
    #[pyo3(signature = (max = None))]
    fn peek_cqes<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = args::max)] max: Option<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let max = match max {
            None => usize::MAX,
            Some(m) if m >= 0 => m as usize,
            Some(m) => return Err(PyValueError::new_err(format!("max must be >= 0, got {m}"))),
        };
        let mut out = Vec::new();
        self.with_open(|raw, _, slots| -> Result<(), UringErr> {
            if raw.cq_ready() == 0 && raw.cq_ring_needs_flush() {
                Self::flush_completions(raw)?;
            }
            Self::reap(raw, slots, max, false, &mut out, &mut Vec::new());
            Ok(())
        })??;
        self.cqe_list(py, out, false)
    }

    /// Consumes `count` CQEs (read with `peek_cqes`).
    fn cq_advance(
        &self,
        #[pyo3(from_py_with = crate::named::count_i64)] count: i64,
    ) -> PyResult<()> {
        let count = args::count32(count, "count")?;
        let mut dead = Vec::new();
        self.with_open(|raw, _, slots| {
            let ready = raw.cq_ready();
            if count > ready {
                return Err(PyValueError::new_err(format!(
                    "cannot advance {count} CQEs: only {ready} are ready"
                )));
            }
            Self::reap(raw, slots, count as usize, true, &mut Vec::new(), &mut dead);
            Ok(())
        })??;
        drop(dead);
        Ok(())
    }

    /// Consumes one CQE (read with `peek_cqes`).
    fn cqe_seen(&self) -> PyResult<()> {
        self.cq_advance(1)
    }

    /// Signals `fd` (an eventfd) whenever a CQE is posted.
    fn register_eventfd(&self, fd: &Bound<'_, PyAny>) -> PyResult<()> {
        self.register_eventfd_impl(fd, false)
    }

    /// Like `register_eventfd`, but only for completions that did not
    /// happen inline in `submit` (IORING_REGISTER_EVENTFD_ASYNC).
    fn register_eventfd_async(&self, fd: &Bound<'_, PyAny>) -> PyResult<()> {
        self.register_eventfd_impl(fd, true)
    }

    fn unregister_eventfd(&self) -> PyResult<()> {
        let raw = self.raw()?;
        // SAFETY: UNREGISTER_EVENTFD takes no argument.
        unsafe { raw.register(sys::IORING_UNREGISTER_EVENTFD, std::ptr::null(), 0) }
            .map(|_| ())
            .map_err(|e| register_error("IORING_UNREGISTER_EVENTFD", e).into())
    }

    /// Registers files for `IOSQE_FIXED_FILE` (ints or objects with
    /// `fileno()`; -1 leaves a slot empty).
    fn register_files(&self, fds: &Bound<'_, PyAny>) -> PyResult<()> {
        crate::register::register_files(self, fds)
    }

    /// Registers `count` empty file slots (Linux 5.19).
    fn register_files_sparse(
        &self,
        #[pyo3(from_py_with = crate::named::count_i64)] count: i64,
    ) -> PyResult<()> {
        crate::register::register_files_sparse(self, count)
    }

    /// Replaces registered files from `offset` on; returns how many changed.
    fn register_files_update(
        &self,
        #[pyo3(from_py_with = crate::named::offset_i64)] offset: i64,
        fds: &Bound<'_, PyAny>,
    ) -> PyResult<i32> {
        crate::register::register_files_update(self, offset, fds)
    }

    fn unregister_files(&self) -> PyResult<()> {
        crate::register::unregister_files(self)
    }

    /// Registers writable buffers for `read_fixed`/`write_fixed`; they stay
    /// pinned and alive until `unregister_buffers()` or close.
    fn register_buffers(&self, buffers: &Bound<'_, PyAny>) -> PyResult<()> {
        crate::register::register_buffers(self, buffers)
    }

    fn unregister_buffers(&self) -> PyResult<()> {
        crate::register::unregister_buffers(self)
    }

    /// Registers the ring fd with the calling thread: its enters skip the
    /// fd lookup. Returns the registered index.
    fn register_ring_fd(&self) -> PyResult<u32> {
        crate::register::register_ring_fd(self)
    }

    fn unregister_ring_fd(&self) -> PyResult<()> {
        crate::register::unregister_ring_fd(self)
    }

    /// The kernel's opcode support (`IORING_REGISTER_PROBE`).
    fn probe(&self) -> PyResult<Probe> {
        let raw = self.raw()?;
        let mut p = Box::<sys::Probe>::default();
        // SAFETY: p is a zeroed io_uring_probe with room for 256 ops, the
        // count we pass; the kernel writes only within it.
        let r = unsafe {
            raw.register(
                sys::IORING_REGISTER_PROBE,
                (&mut *p as *mut sys::Probe).cast(),
                256,
            )
        };
        match r {
            Ok(_) => {
                let mut supported = vec![false; 256];
                for op in p.ops.iter().take(p.ops_len as usize) {
                    if op.flags & sys::IO_URING_OP_SUPPORTED != 0 {
                        supported[op.op as usize] = true;
                    }
                }
                Ok(Probe {
                    last_op: p.last_op,
                    supported,
                })
            }
            Err(e) => Err(UringErr::errno(
                if e == libc::EINVAL {
                    Kind::SystemOutdated
                } else {
                    Kind::Unexpected
                },
                e,
                format!(
                    "IORING_REGISTER_PROBE failed (needs Linux 5.6): {}",
                    crate::error::strerror(e)
                ),
            )
            .into()),
        }
    }
}

impl Ring {
    fn register_eventfd_impl(&self, fd: &Bound<'_, PyAny>, is_async: bool) -> PyResult<()> {
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

/// A failed `io_uring_register`, with the errno's meaning.
pub fn register_error(what: &str, errno: i32) -> UringErr {
    let kind = match errno {
        libc::EBADF => Kind::FileDescriptorInvalid,
        libc::EINVAL => Kind::ArgumentsInvalid,
        libc::EBUSY => Kind::ArgumentsInvalid,
        libc::ENOMEM => Kind::SystemResources,
        libc::EFAULT => Kind::BufferInvalid,
        libc::EMFILE => Kind::ProcessFdQuotaExceeded,
        libc::ENFILE => Kind::SystemFdQuotaExceeded,
        libc::EPERM | libc::EACCES => Kind::PermissionDenied,
        libc::EOPNOTSUPP => Kind::OpcodeNotSupported,
        libc::EINTR => Kind::SignalInterrupt,
        _ => Kind::Unexpected,
    };
    let hint = match errno {
        libc::EBUSY => ": already registered (unregister first)",
        libc::ENXIO => ": nothing is registered",
        libc::EINVAL => ": the kernel refused the arguments (or does not know this registration)",
        _ => "",
    };
    UringErr::errno(
        kind,
        errno,
        format!("{what} failed{hint}: {}", crate::error::strerror(errno)),
    )
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Garbage collection of an open ring closes it as close() does.
        Python::attach(|py| {
            let _ = self.shutdown(py, false);
        });
    }
}

/// The handle of a queued SQE. Its fields can be changed until the ring's
/// next submit (or flush_sq); `user_data` and `opcode` stay readable after.
#[pyclass(frozen, module = "uring_rs", name = "Sqe")]
pub struct Sqe {
    ring: Py<Ring>,
    pos: u32,
    token: u64,
    user_data: AtomicU64,
    opcode: u8,
}

impl Sqe {
    fn with_pending<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut sys::Sqe, &mut Slots) -> R,
    ) -> PyResult<R> {
        let ring = self.ring.bind(py).get();
        ring.with_open(|raw, sq, slots| {
            let sqe = raw
                .sqe_at(sq, self.pos)
                .filter(|s| s.user_data == self.token)?;
            Some(f(sqe, slots))
        })?
        .ok_or_else(|| {
            PyValueError::new_err(
                "this Sqe has been submitted: its fields can only be read and set before the \
                 ring's next submit() or flush_sq()",
            )
        })
    }
}

#[pymethods]
impl Sqe {
    #[getter]
    fn opcode(&self) -> u8 {
        self.opcode
    }

    #[getter]
    fn get_user_data(&self) -> u64 {
        self.user_data.load(Ordering::Relaxed)
    }

    #[setter]
    fn set_user_data(&self, py: Python<'_>, value: u64) -> PyResult<()> {
        let token = self.token;
        self.with_pending(py, |_, slots| {
            if let Some(slot) = slots.get_mut(token) {
                slot.user_data = value;
            }
        })?;
        self.user_data.store(value, Ordering::Relaxed);
        Ok(())
    }

    #[getter]
    fn get_flags(&self, py: Python<'_>) -> PyResult<u8> {
        self.with_pending(py, |s, _| s.flags)
    }

    #[setter]
    fn set_flags(&self, py: Python<'_>, value: i64) -> PyResult<()> {
        let v = args::sqe_flags(value)?;
        let token = self.token;
        self.with_pending(py, |s, slots| {
            s.flags = v;
            if let Some(slot) = slots.get_mut(token) {
                slot.note_sqe(s);
            }
        })
    }

    #[getter]
    fn get_ioprio(&self, py: Python<'_>) -> PyResult<u16> {
        self.with_pending(py, |s, _| s.ioprio)
    }

    #[setter]
    fn set_ioprio(&self, py: Python<'_>, value: u16) -> PyResult<()> {
        self.with_pending(py, |s, _| s.ioprio = value)
    }

    #[getter]
    fn get_buf_group(&self, py: Python<'_>) -> PyResult<u16> {
        self.with_pending(py, |s, _| s.buf_index)
    }

    #[setter]
    fn set_buf_group(&self, py: Python<'_>, value: u16) -> PyResult<()> {
        let token = self.token;
        self.with_pending(py, |s, slots| {
            s.buf_index = value;
            if let Some(slot) = slots.get_mut(token) {
                slot.note_sqe(s);
            }
        })
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.ring)
    }

    #[getter]
    fn get_personality(&self, py: Python<'_>) -> PyResult<u16> {
        self.with_pending(py, |s, _| s.personality)
    }

    #[setter]
    fn set_personality(&self, py: Python<'_>, value: u16) -> PyResult<()> {
        self.with_pending(py, |s, _| s.personality = value)
    }

    fn __repr__(&self) -> String {
        let op = sys::OPCODE_NAMES
            .get(self.opcode as usize)
            .copied()
            .unwrap_or("?");
        format!(
            "<uring_rs.Sqe {op} user_data={}>",
            self.user_data.load(Ordering::Relaxed)
        )
    }
}

/// A completion: `user_data`, `res`, `flags`.
#[pyclass(frozen, freelist = 1024, module = "uring_rs", name = "Cqe")]
pub struct Cqe {
    #[pyo3(get)]
    pub user_data: u64,
    #[pyo3(get)]
    pub res: i32,
    #[pyo3(get)]
    pub flags: u32,
    /// Set on a consumed completion that carries a provided buffer, until
    /// `BufferRing.get` claims it: each buffer the kernel hands out can be
    /// claimed once, and never from a Cqe made by hand or by `peek_cqes`.
    buffer_claimable: AtomicBool,
    /// The ring that consumed this completion (0: none, or made by hand).
    ring_id: u64,
    /// The provided-buffer group the completion's op selected from.
    buf_group: Option<u16>,
}

impl Cqe {
    /// A Cqe for a reaped completion; `consumed_by` is the ring that
    /// consumed it (None for `peek_cqes`, which consumes nothing).
    fn reaped(c: RawCqe, consumed_by: Option<u64>) -> Cqe {
        let claimable = consumed_by.is_some()
            && c.buf_group.is_some()
            && c.flags & sys::IORING_CQE_F_BUFFER != 0;
        Cqe {
            user_data: c.user_data,
            res: c.res,
            flags: c.flags,
            buffer_claimable: AtomicBool::new(claimable),
            ring_id: consumed_by.unwrap_or(0),
            buf_group: c.buf_group,
        }
    }

    /// Takes the right to claim this completion's provided buffer, for a
    /// buffer ring of group `group_id` on ring `ring_id`: refused (without
    /// taking it) when the completion is from another ring or group, made by
    /// hand, peeked, foreign (a msg_ring post) or already claimed.
    pub fn claim_buffer(&self, ring_id: u64, group_id: u16) -> Result<(), &'static str> {
        if self.ring_id == 0 {
            return Err(
                "this completion cannot hand out a buffer: it was built by hand, read with \
                 peek_cqes, or posted by msg_ring rather than produced by an op",
            );
        }
        if self.ring_id != ring_id {
            return Err("this completion came from another Ring");
        }
        match self.buf_group {
            None => {
                return Err(
                    "this completion's op did not select a provided buffer (or it was posted by \
                     msg_ring)",
                )
            }
            Some(g) if g != group_id => {
                return Err("this completion's buffer belongs to another buffer group")
            }
            Some(_) => {}
        }
        if self.buffer_claimable.swap(false, Ordering::Relaxed) {
            Ok(())
        } else {
            Err("this completion's buffer was already taken")
        }
    }
}

#[pymethods]
impl Cqe {
    #[new]
    fn new(
        #[pyo3(from_py_with = args::user_data)] user_data: u64,
        #[pyo3(from_py_with = args::res)] res: i32,
        #[pyo3(from_py_with = crate::named::flags_u32)] flags: u32,
    ) -> Self {
        Cqe::reaped(
            RawCqe {
                user_data,
                res,
                flags,
                buf_group: None,
                makes_fd: false,
            },
            None,
        )
    }

    /// `res` when it is >= 0 (or this is a zero-copy notification, whose
    /// `res` is a usage report); otherwise raises the `OSError` subclass for
    /// its errno, as `os` functions do.
    fn result(&self) -> PyResult<i32> {
        // A zero-copy notification's res is a report (bit 31 set for
        // IORING_NOTIF_USAGE_ZC_COPIED), not an errno.
        if self.res >= 0 || self.flags & sys::IORING_CQE_F_NOTIF != 0 {
            Ok(self.res)
        } else {
            Err(os_error(-self.res))
        }
    }

    /// `IORING_CQE_F_MORE`: more completions will follow for this op.
    #[getter]
    fn more(&self) -> bool {
        self.flags & sys::IORING_CQE_F_MORE != 0
    }

    /// The provided buffer's id, when `IORING_CQE_F_BUFFER` is set.
    #[getter]
    fn buffer_id(&self) -> Option<u16> {
        (self.flags & sys::IORING_CQE_F_BUFFER != 0)
            .then_some((self.flags >> sys::IORING_CQE_BUFFER_SHIFT) as u16)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = PyTuple::new(
            py,
            [self.user_data as i128, self.res as i128, self.flags as i128],
        )?;
        Ok(t.try_iter()?.into_any())
    }

    fn __len__(&self) -> usize {
        3
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Cqe>() {
            Ok(o) => {
                let o = o.get();
                (o.user_data, o.res, o.flags) == (self.user_data, self.res, self.flags)
            }
            Err(_) => false,
        }
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.user_data, self.res, self.flags).hash(&mut h);
        h.finish() >> 1
    }

    fn __repr__(&self) -> String {
        format!(
            "Cqe(user_data={}, res={}, flags={:#x})",
            self.user_data, self.res, self.flags
        )
    }
}

/// The kernel's answer to `IORING_REGISTER_PROBE`.
#[pyclass(frozen, module = "uring_rs", name = "Probe")]
pub struct Probe {
    #[pyo3(get)]
    last_op: u8,
    supported: Vec<bool>,
}

#[pymethods]
impl Probe {
    fn supports(&self, opcode: i64) -> bool {
        usize::try_from(opcode)
            .ok()
            .and_then(|i| self.supported.get(i).copied())
            .unwrap_or(false)
    }

    fn __contains__(&self, opcode: i64) -> bool {
        self.supports(opcode)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.opcodes())?.try_iter()?.into_any())
    }

    fn __len__(&self) -> usize {
        self.opcodes().len()
    }

    /// Kernel names (without `IORING_OP_`) of the supported opcodes.
    fn names(&self) -> Vec<String> {
        self.opcodes()
            .into_iter()
            .map(|op| match sys::OPCODE_NAMES.get(op as usize) {
                Some(n) => n.to_string(),
                None => format!("OP_{op}"),
            })
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<uring_rs.Probe last_op={} supported={}>",
            self.last_op,
            self.opcodes().len()
        )
    }
}

impl Probe {
    fn opcodes(&self) -> Vec<u8> {
        (0..=255u8)
            .filter(|&i| self.supported[i as usize])
            .collect()
    }
}
