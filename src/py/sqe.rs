//! `Sqe`: the handle of a queued SQE, and `queue`, how every op function
//! queues one (it returns the handle).
//!
//! May not touch: op arguments (the op functions convert them) or
//! completions.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::engine::slots::{Slot, Slots};
use crate::engine::sys;
use crate::engine::ChainError;
use crate::py::args;
use crate::py::error::chain_error;
use crate::py::keep::Keep;
use crate::py::ring::Ring;

/// Queues one SQE: takes an SQ entry and a slot, lets `prep` fill the SQE
/// (and the slot's scratch memory), and returns the `Sqe` handle. When the
/// SQ is full nothing is queued and `keep` is released.
pub fn queue(
    slf: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    keep: Keep,
    prep: impl FnOnce(&mut sys::Sqe, &mut Slot<Keep>),
) -> PyResult<Py<Sqe>> {
    let (pos, token) = slf.get().queue_raw(user_data, opcode, keep, prep)?;
    Py::new(
        slf.py(),
        Sqe {
            ring: slf.clone().unbind(),
            pos,
            token,
            user_data: AtomicU64::new(user_data),
            opcode,
        },
    )
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
        f: impl FnOnce(&mut sys::Sqe, &mut Slots<Keep>) -> R,
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
    /// The op's `IORING_OP_*` code (read-only; still readable after submit).
    #[getter]
    fn opcode(&self) -> u8 {
        self.opcode
    }

    /// The 64-bit value the op's completions carry; any int in 0..2**64-1,
    /// repeats allowed. Settable until the ring's next `submit()` or
    /// `flush_sq()`, readable after.
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

    /// `IOSQE_*` flags (`IOSQE_IO_LINK`, `IOSQE_IO_HARDLINK`, `IOSQE_IO_DRAIN`,
    /// `IOSQE_ASYNC`, `IOSQE_FIXED_FILE`, `IOSQE_BUFFER_SELECT`,
    /// `IOSQE_CQE_SKIP_SUCCESS`). Readable and settable until the ring's next
    /// `submit()` or `flush_sq()` (`ValueError` after).
    ///
    /// `IOSQE_CQE_SKIP_SUCCESS` (no completion when the op succeeds) is
    /// accepted only with `IOSQE_IO_LINK` or `IOSQE_IO_HARDLINK`, not on an
    /// `IORING_OP_LINK_TIMEOUT` or an op that makes a new fd (its number
    /// would be lost; a direct descriptor is fine), and not on an
    /// `IORING_SETUP_SQPOLL` ring;
    /// `submit()`/`flush_sq()` then check the chain: its skipped ops lead it
    /// (the first with `IOSQE_IO_LINK`), one or more ops without the flag
    /// end it, all queued before the flush, and it holds no
    /// `IORING_OP_LINK_TIMEOUT` (`ValueError`, nothing submitted,
    /// otherwise). The ring keeps a skipped op's buffers until a later op of
    /// its chain completes, or its own failure completion is consumed.
    #[getter]
    fn get_flags(&self, py: Python<'_>) -> PyResult<u8> {
        self.with_pending(py, |s, _| s.flags)
    }

    #[setter]
    fn set_flags(&self, py: Python<'_>, value: i64) -> PyResult<()> {
        let v = args::sqe_flags(value)?;
        let skip = v & sys::IOSQE_CQE_SKIP_SUCCESS != 0;
        let ring = self.ring.bind(py).get();
        let user_data = self.user_data.load(Ordering::Relaxed);
        if skip {
            if ring.flags & sys::IORING_SETUP_SQPOLL != 0 {
                return Err(chain_error(ChainError::Sqpoll { user_data }));
            }
            if self.opcode == sys::IORING_OP_LINK_TIMEOUT {
                return Err(chain_error(ChainError::LinkTimeout { user_data }));
            }
        }
        let token = self.token;
        self.with_pending(py, |s, slots| {
            if skip && slots.get(token).is_some_and(|slot| slot.makes_fd) {
                return Err(ChainError::LosesFd { user_data });
            }
            s.flags = v;
            if skip {
                slots.skip_queued = true;
            }
            if let Some(slot) = slots.get_mut(token) {
                slot.note_sqe(s);
            }
            Ok(())
        })?
        .map_err(chain_error)
    }

    /// The I/O priority (`ioprio_set(2)` encoding); some ops use it for flags.
    /// Readable and settable until the ring's next `submit()` or `flush_sq()`.
    #[getter]
    fn get_ioprio(&self, py: Python<'_>) -> PyResult<u16> {
        self.with_pending(py, |s, _| s.ioprio)
    }

    #[setter]
    fn set_ioprio(&self, py: Python<'_>, value: u16) -> PyResult<()> {
        self.with_pending(py, |s, _| s.ioprio = value)
    }

    /// The provided-buffer group an op with `IOSQE_BUFFER_SELECT` picks from.
    /// Readable and settable until the ring's next `submit()` or `flush_sq()`.
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

    /// A credentials id registered with the kernel (0: the ring's own).
    /// Readable and settable until the ring's next `submit()` or `flush_sq()`.
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
