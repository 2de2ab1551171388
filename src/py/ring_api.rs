//! The Python-visible methods of `Ring`: construction, properties, submit
//! and the waits, reaping into `Cqe`s, registration and the probe. Each
//! converts its arguments and calls the ring core (`ring.rs`), the teardown
//! (`teardown.rs`) or registration (`register.rs`, `batch.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::engine::ring::{RawRing, SetupError};
use crate::engine::sys::{self, Params};
use crate::engine::Engine;
use crate::py::args;
use crate::py::cqe::{Cqe, Probe};
use crate::py::error::{chain_error, register_error, Kind, UringErr};
use crate::py::keep::Keep;
use crate::py::ring::{
    entries_arg, setup_error, wait_slice, Held, Issuer, Ring, State, FORK_GENERATION, NEXT_RING_ID,
    WAIT_SLICE,
};
use crate::py::teardown::sweep_orphans;

impl Ring {
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
}

impl Ring {
    /// A relay ring (see `RawRing::relay`) of `entries` SQEs for a host
    /// ring with `features` and opcode support `probe`: a `Ring` whose ops
    /// the host (`uring_rs.Loop`) submits with its own and whose
    /// completions it routes back to this ring's slots.
    pub(crate) fn relay(
        entries: u32,
        features: u32,
        probe: Option<(u8, Vec<bool>)>,
    ) -> PyResult<Ring> {
        let raw = RawRing::relay(entries, features, probe).map_err(|e| {
            let errno = match e {
                SetupError::Setup(n) | SetupError::Mmap(n) => n,
            };
            PyErr::from(UringErr::errno(
                Kind::SystemResources,
                errno,
                format!(
                    "mmap of the relay ring failed: {}",
                    crate::py::error::strerror(errno)
                ),
            ))
        })?;
        Ok(Ring::from_raw(raw, false, None))
    }

    /// The `Ring` around a set-up `raw`: `disabled` if set up with
    /// IORING_SETUP_R_DISABLED, `issuer` its SINGLE_ISSUER thread if known.
    fn from_raw(raw: RawRing, disabled: bool, issuer: Option<Issuer>) -> Ring {
        Ring {
            fd: raw.fd,
            flags: raw.flags,
            features: raw.features,
            sq_entries: raw.sq_entries,
            cq_entries: raw.cq_entries,
            fork_generation: FORK_GENERATION.load(Ordering::Relaxed),
            pid: std::process::id(),
            id: NEXT_RING_ID.fetch_add(1, Ordering::Relaxed),
            disabled: AtomicBool::new(disabled),
            state: Mutex::new(State {
                engine: Some(Engine::new(raw)),
                held: Held::default(),
                issuer,
            }),
        }
    }
}

#[pymethods]
impl Ring {
    #[new]
    #[pyo3(
        signature = (entries = 32, flags = 0, *, sq_thread_idle = 1000, sq_thread_cpu = None, cq_entries = None)
    )]
    fn new(
        #[pyo3(from_py_with = entries_arg)] entries: u32,
        #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
        #[pyo3(from_py_with = crate::py::named::sq_thread_idle_i64)] sq_thread_idle: i64,
        #[pyo3(from_py_with = crate::py::named::sq_thread_cpu_opt_i64)] sq_thread_cpu: Option<i64>,
        #[pyo3(from_py_with = crate::py::named::cq_entries_opt_i64)] cq_entries: Option<i64>,
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
                format!(
                    "mmap of the ring failed: {}",
                    crate::py::error::strerror(errno)
                ),
            ),
        })?;
        let disabled = flags & sys::IORING_SETUP_R_DISABLED != 0;
        // The kernel makes the creating thread the issuer, or, for a disabled
        // ring, the one that enables it.
        let issuer =
            (flags & sys::IORING_SETUP_SINGLE_ISSUER != 0 && !disabled).then(Issuer::current);
        Ok(Ring::from_raw(raw, disabled, issuer))
    }

    /// The ring's file descriptor (for `ops.msg_ring` targets, `select`, ...).
    #[getter]
    fn fd(&self) -> i32 {
        self.fd
    }
    /// The `IORING_SETUP_*` flags the ring was set up with (including the
    /// `SQ_AFF` and `CQSIZE` that `sq_thread_cpu` and `cq_entries` add).
    #[getter]
    fn flags(&self) -> u32 {
        self.flags
    }
    /// The `IORING_FEAT_*` bits the kernel reported at setup.
    #[getter]
    fn features(&self) -> u32 {
        self.features
    }
    /// Size of the submission queue (`entries`, as the kernel rounded it).
    #[getter]
    fn sq_entries(&self) -> u32 {
        self.sq_entries
    }
    /// Size of the completion queue.
    #[getter]
    fn cq_entries(&self) -> u32 {
        self.cq_entries
    }
    /// Whether the ring is closed (`close()` has run).
    #[getter]
    fn closed(&self) -> bool {
        self.is_closed()
    }

    /// Ops queued or in flight whose final completion has not been consumed.
    #[getter]
    fn in_flight(&self) -> PyResult<usize> {
        self.with_open(|_, _, slots| slots.live())
    }

    /// Cancels and drains every op in flight, then unmaps and closes the ring; a
    /// no-op on a closed ring.
    ///
    /// Memory an op still uses is never freed: what cannot be confirmed finished
    /// within 5 s is kept (leaked). Fds carried by completions nobody consumed
    /// (openat, accept, socket) are closed. A SINGLE_ISSUER ring with ops in
    /// flight raises `RuntimeError` when closed from another thread than its
    /// submitter (the kernel refuses that thread's cancels).
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
        let idle = g.engine.as_ref().is_none_or(|e| e.slots.live() == 0);
        if let Some(e) = g.engine.as_ref() {
            for k in e.slots.live_keeps() {
                k.traverse(&visit, idle)?;
            }
        }
        if idle {
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
        let state = if self.is_closed() { "closed" } else { "open" };
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
    /// yet to consume. A chain with `IOSQE_CQE_SKIP_SUCCESS` that breaks
    /// the rule (see `Sqe.flags`) raises `ValueError` and publishes nothing.
    fn flush_sq(&self) -> PyResult<u32> {
        self.with_engine(|e| e.flush_checked())?
            .map_err(chain_error)
    }

    /// SQEs queued but not yet consumed by the kernel (flushed or not).
    fn sq_ready(&self) -> PyResult<u32> {
        self.with_open(|raw, sq, _| raw.sq_ready(sq))
    }

    /// Free SQ entries: how many ops can be queued before
    /// `SUBMISSION_QUEUE_FULL`.
    fn sq_space_left(&self) -> PyResult<u32> {
        self.with_open(|raw, sq, _| raw.sq_space_left(sq))
    }

    /// Completions ready to be consumed.
    fn cq_ready(&self) -> PyResult<u32> {
        self.with_open(|raw, _, _| raw.cq_ready())
    }

    /// Whether the kernel holds completions the CQ does not show yet: overflowed
    /// ones (`IORING_SQ_CQ_OVERFLOW`) or, with `DEFER_TASKRUN`/`TASKRUN_FLAG`,
    /// task work that will post them (`IORING_SQ_TASKRUN`). A `copy_cqes` that
    /// finds the CQ empty flushes them.
    fn cq_ring_needs_flush(&self) -> PyResult<bool> {
        self.with_open(|raw, _, _| raw.cq_ring_needs_flush())
    }

    /// Flushes queued SQEs and enters the kernel when needed; with
    /// `wait_nr`, waits (GIL released) until that many CQEs are ready. A
    /// chain with `IOSQE_CQE_SKIP_SUCCESS` that breaks the rule (see
    /// `Sqe.flags`) raises `ValueError` and submits nothing.
    #[pyo3(signature = (wait_nr = 0))]
    fn submit(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = crate::py::named::wait_nr_i64)] wait_nr: i64,
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
        let sqpoll = self.flags & sys::IORING_SETUP_SQPOLL != 0;
        // Publish, then hand the SQEs over without releasing the GIL: many
        // ops (NOPs, page-cached reads) complete inline, and then no wait is
        // needed. Nothing to submit and nothing to reap means no syscall at
        // all. The enter runs under the state lock (it does not wait), so the
        // kernel consumes what the engine checked, and a chain it stops
        // inside is noted before any completion of it is reaped.
        let enter = |e: &mut Engine<Keep>, n: u32, flags: u32| {
            let r = e.raw.enter(n, 0, flags, None);
            e.note_consumed();
            r
        };
        let (published, mut entered) = self
            .with_engine(|e| {
                let published = e.sq.sqe_tail.wrapping_sub(e.sq.sqe_head);
                let n = e.flush_checked()?;
                let mut flags = 0;
                let need = e.raw.sq_ring_needs_enter(&mut flags);
                if iopoll {
                    flags |= sys::IORING_ENTER_GETEVENTS;
                }
                let r = (need && (sqpoll || n > 0 || iopoll)).then(|| (enter(e, n, flags), flags));
                Ok((published, r))
            })?
            .map_err(chain_error)?;
        // With SQPOLL the kernel thread consumes SQEs on its own: report the
        // ones this call handed over.
        let mut total = if sqpoll { published } else { 0 };
        while let Some((r, flags)) = entered {
            match r {
                Ok(n) => {
                    if !sqpoll {
                        total = n;
                    }
                    entered = None;
                }
                Err(libc::EINTR) => {
                    py.check_signals()?;
                    // Again, with what is published now (a handler may have
                    // queued and flushed more).
                    entered = Some(self.with_engine(|e| {
                        let n = e.sq.sqe_head.wrapping_sub(e.raw.sq_head());
                        (enter(e, n, flags), flags)
                    })?);
                }
                Err(e) => return Err(UringErr::enter(e).into()),
            }
        }
        let raw = self.raw()?;
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

    /// Raw `io_uring_enter(2)`; EINTR is reported as SIGNAL_INTERRUPT. A
    /// `to_submit` that would end inside a published chain with
    /// `IOSQE_CQE_SKIP_SUCCESS` raises `ValueError` (nothing is submitted):
    /// the kernel must take such a chain whole.
    fn enter(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = crate::py::named::to_submit_i64)] to_submit: i64,
        #[pyo3(from_py_with = crate::py::named::min_complete_i64)] min_complete: i64,
        #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
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
        // Submitting happens under the state lock and never detached: the
        // kernel then consumes `to_submit` SQEs from where the engine sees
        // the SQ head (a chain with IOSQE_CQE_SKIP_SUCCESS must not be cut,
        // see `Engine::check_cut`), and a chain the kernel stops inside is
        // noted before anything else runs. With such a chain queued, a
        // waiting call submits first, then waits with nothing more to submit.
        let submit = |to_submit: u32, min: u32, flags: u32| -> PyResult<Result<u32, i32>> {
            self.with_engine(|e| {
                e.check_cut(to_submit)?;
                let r = e.raw.enter(to_submit, min, flags, None);
                e.note_consumed();
                Ok(r)
            })?
            .map_err(chain_error)
        };
        if !waits {
            return submit(to_submit, min_complete, flags)?.or_else(|e| fail(py, e));
        }
        // Without such chains in the SQ nothing can be cut: one syscall
        // submits and waits, as before they existed.
        let chains = self.with_engine(|e| e.slots.has_unconsumed_chains())?;
        let (submitted, first) = if to_submit > 0 && chains {
            match submit(to_submit, 0, flags & !sys::IORING_ENTER_GETEVENTS)? {
                Ok(n) => (n, 0),
                Err(e) => return fail(py, e),
            }
        } else {
            (0, to_submit)
        };
        if !self.has_ext_arg() {
            return py
                .detach(|| raw.enter(first, min_complete, flags, None))
                .map(|n| if first > 0 { n } else { submitted })
                .or_else(|e| fail(py, e));
        }
        // Waiting: in slices, so a close() from another thread is noticed.
        // The first slice submits what is left to; one that ran out just
        // waits again.
        let (mut ended, r) =
            py.detach(|| wait_slice(&raw, first, min_complete, flags, Some(WAIT_SLICE)));
        let submitted = match r {
            Ok(n) if first > 0 => n,
            Ok(_) | Err(libc::ETIME) => submitted,
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
        #[pyo3(from_py_with = crate::py::named::wait_nr_i64)] wait_nr: i64,
        #[pyo3(from_py_with = args::max)] max: Option<i64>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut out = Vec::new();
        self.reap_loop(py, wait_nr, max, timeout, |e, max, dead| {
            e.reap(max, true, &mut out, dead);
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
        #[pyo3(from_py_with = crate::py::named::wait_nr_i64)] wait_nr: i64,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        crate::py::batch::copy_cqes_into(self, py, user_data, res, flags, wait_nr, timeout)
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
        self.with_engine(|e| -> Result<(), UringErr> {
            if e.raw.cq_ready() == 0 && e.raw.cq_ring_needs_flush() {
                Self::flush_completions(&e.raw)?;
            }
            e.reap(max, false, &mut out, &mut Vec::new());
            Ok(())
        })??;
        self.cqe_list(py, out, false)
    }

    /// Consumes `count` CQEs (read with `peek_cqes`).
    fn cq_advance(
        &self,
        #[pyo3(from_py_with = crate::py::named::count_i64)] count: i64,
    ) -> PyResult<()> {
        let count = args::count32(count, "count")?;
        let mut dead = Vec::new();
        self.with_engine(|e| {
            let ready = e.raw.cq_ready();
            if count > ready {
                return Err(PyValueError::new_err(format!(
                    "cannot advance {count} CQEs: only {ready} are ready"
                )));
            }
            e.reap(count as usize, true, &mut Vec::new(), &mut dead);
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

    /// Stops signalling the registered eventfd (`IORING_UNREGISTER_EVENTFD`).
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
        crate::py::register::register_files(self, fds)
    }

    /// Registers `count` empty file slots (Linux 5.19).
    fn register_files_sparse(
        &self,
        #[pyo3(from_py_with = crate::py::named::count_i64)] count: i64,
    ) -> PyResult<()> {
        crate::py::register::register_files_sparse(self, count)
    }

    /// Replaces registered files from `offset` on; returns how many changed.
    fn register_files_update(
        &self,
        #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
        fds: &Bound<'_, PyAny>,
    ) -> PyResult<i32> {
        crate::py::register::register_files_update(self, offset, fds)
    }

    /// Unregisters the file table (`IORING_UNREGISTER_FILES`).
    fn unregister_files(&self) -> PyResult<()> {
        crate::py::register::unregister_files(self)
    }

    /// Registers writable buffers for `read_fixed`/`write_fixed`; they stay
    /// pinned and alive until `unregister_buffers()` or close.
    fn register_buffers(&self, buffers: &Bound<'_, PyAny>) -> PyResult<()> {
        crate::py::register::register_buffers(self, buffers)
    }

    /// Unregisters the buffers; fixed ops still in flight keep their own pin, so
    /// this is safe while they run.
    fn unregister_buffers(&self) -> PyResult<()> {
        crate::py::register::unregister_buffers(self)
    }

    /// Registers the ring fd with the calling thread: its enters skip the
    /// fd lookup. Returns the registered index.
    fn register_ring_fd(&self) -> PyResult<u32> {
        crate::py::register::register_ring_fd(self)
    }

    /// Undoes `register_ring_fd` for the calling thread (`ValueError` if the fd
    /// is not registered, or was registered by another thread).
    fn unregister_ring_fd(&self) -> PyResult<()> {
        crate::py::register::unregister_ring_fd(self)
    }

    /// The kernel's opcode support (`IORING_REGISTER_PROBE`).
    fn probe(&self) -> PyResult<Probe> {
        match self.raw()?.probe() {
            Ok((last_op, supported)) => Ok(Probe { last_op, supported }),
            Err(e) => Err(UringErr::errno(
                if e == libc::EINVAL {
                    Kind::SystemOutdated
                } else {
                    Kind::Unexpected
                },
                e,
                format!(
                    "IORING_REGISTER_PROBE failed (needs Linux 5.6): {}",
                    crate::py::error::strerror(e)
                ),
            )
            .into()),
        }
    }
}
