//! The batch API for hot paths: many ops queued in one call, completions
//! reaped into preallocated arrays, without a Python object per op.
//!
//! The safety guarantees are the ops' own: a batch's buffer is pinned once
//! and every op of the batch holds a reference to that pin, so the memory
//! stays valid until the last of their completions is consumed.
//!
//! Owns: the batch ops' signatures and `queue_many` (many SQEs in one
//! lock), and `copy_cqes_into`. May not touch: SQE fields (the engine's
//! builders fill them).

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::engine::prep;
use crate::engine::sys;
use crate::engine::{ChainError, Engine};
use crate::py::args;
use crate::py::error::{chain_error, Kind, UringErr};
use crate::py::keep::{Keep, PinnedBuf};
use crate::py::ring::Ring;

/// A pinned buffer export shared by the ops of one batch: each op's slot
/// holds a reference to this object, and the export is released when the
/// last one lets go.
#[pyclass(frozen, module = "uring_rs._native")]
struct BatchPin {
    _pin: PinnedBuf,
}

/// The offsets argument: a buffer of int64 (array('q'), numpy int64), or
/// any iterable of ints.
fn offsets_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    if let Ok(buf) = PyBuffer::<i64>::get(obj) {
        return buf
            .to_vec(obj.py())?
            .into_iter()
            .map(args::offset)
            .collect();
    }
    obj.try_iter()
        .map_err(|_| {
            PyTypeError::new_err("offsets must be a buffer of int64 or an iterable of ints")
        })?
        .map(|o| args::offset(o?.extract::<i64>()?))
        .collect()
}

/// read_many and write_many: `build` is the builder for `opcode`.
#[allow(clippy::too_many_arguments)]
fn rw_many(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    build: fn(&mut sys::Sqe, i32, u64, u32, u64),
    fd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    offsets: &Bound<'_, PyAny>,
    size: usize,
    flags: i64,
) -> PyResult<u32> {
    let flags = args::sqe_flags(flags)?;
    let fd = args::fd(fd, "fd")?;
    let offsets = offsets_arg(offsets)?;
    let pin = PinnedBuf::get(buf, opcode == sys::IORING_OP_READ, "buf")?;
    if size == 0 || size > u32::MAX as usize {
        return Err(PyValueError::new_err(format!(
            "size must be in 1..2**32-1, got {size}"
        )));
    }
    let need = offsets.len().saturating_mul(size);
    if need > pin.len() {
        return Err(PyValueError::new_err(format!(
            "buf has {} bytes; {} ops of size {size} need {need}",
            pin.len(),
            offsets.len()
        )));
    }
    let base = pin.ptr() as u64;
    let holder: Py<PyAny> = Py::new(ring.py(), BatchPin { _pin: pin })?.into_any();
    crate::py::batch::queue_many(
        ring,
        user_data,
        offsets.len() as u32,
        opcode,
        Some(holder),
        flags & sys::IOSQE_CQE_SKIP_SUCCESS != 0,
        |i, sqe| {
            let addr = base + i as u64 * size as u64;
            build(sqe, fd, addr, size as u32, offsets[i as usize]);
            prep::set_flags(sqe, flags);
        },
    )
}

/// Queues one read per offset: read `i` fills `buf[i*size:(i+1)*size]`
/// from `offsets[i]` and completes with user_data `user_data + i`. All or
/// nothing: raises SUBMISSION_QUEUE_FULL (queueing nothing) when the SQ
/// lacks room. Returns the number queued. `flags` (`IOSQE_*`, e.g.
/// `IOSQE_FIXED_FILE` with a registered file index as `fd`) go on every SQE.
/// With `IOSQE_CQE_SKIP_SUCCESS | IOSQE_IO_LINK` the ops form (or continue)
/// the leading part of a chain: queue the op that ends it (one without
/// either flag, e.g. an fsync) before `submit()`; the SQ must have room for
/// it (`count + 1` free entries), and the ring keeps `buf` until that op
/// completes (see `Sqe.flags`).
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, buf, offsets, size, *, flags = 0))]
pub fn read_many(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    offsets: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::size_usize)] size: usize,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> PyResult<u32> {
    let ring = &ring;
    rw_many(
        ring,
        user_data,
        sys::IORING_OP_READ,
        prep::read,
        fd,
        buf,
        offsets,
        size,
        flags,
    )
}

/// Queues one write per offset, from consecutive `size`-byte slices of
/// `buf`; see `read_many`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, buf, offsets, size, *, flags = 0))]
pub fn write_many(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    offsets: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::size_usize)] size: usize,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> PyResult<u32> {
    let ring = &ring;
    rw_many(
        ring,
        user_data,
        sys::IORING_OP_WRITE,
        prep::write,
        fd,
        buf,
        offsets,
        size,
        flags,
    )
}

/// Queues `count` NOPs with user_data `user_data + i`; returns `count`.
#[pyfunction]
pub fn nop_many(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = args::count)] count: u32,
) -> PyResult<u32> {
    let ring = &ring;
    crate::py::batch::queue_many(
        ring,
        user_data,
        count,
        sys::IORING_OP_NOP,
        None,
        false,
        |_, sqe| prep::nop(sqe),
    )
}

/// A writable, C-contiguous output array: its base pointer and length in
/// elements. The export (and so the memory) lives as long as `buf`.
fn out_array<T: pyo3::buffer::Element>(buf: &PyBuffer<T>, what: &str) -> PyResult<(*mut T, usize)> {
    if buf.readonly() || !buf.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "{what} must be a writable, C-contiguous buffer"
        )));
    }
    Ok((buf.buf_ptr().cast::<T>(), buf.item_count()))
}

/// Copies (consumes) up to `len(user_data)` CQEs into preallocated arrays:
/// `user_data` of uint64 (`array('Q')`, numpy uint64), `res` of int32
/// (`array('i')`), optionally `flags` of uint32 (`array('I')`), all at least
/// as long as `user_data`. Waits like `copy_cqes`; returns how many it wrote.
pub fn copy_cqes_into(
    ring: &Ring,
    py: Python<'_>,
    user_data: &Bound<'_, PyAny>,
    res: &Bound<'_, PyAny>,
    flags: Option<&Bound<'_, PyAny>>,
    wait_nr: i64,
    timeout: Option<f64>,
) -> PyResult<usize> {
    let ud_buf = PyBuffer::<u64>::get(user_data).map_err(|e| {
        PyTypeError::new_err(format!("user_data must be a buffer of uint64 ('Q'): {e}"))
    })?;
    let res_buf = PyBuffer::<i32>::get(res)
        .map_err(|e| PyTypeError::new_err(format!("res must be a buffer of int32 ('i'): {e}")))?;
    let flags_buf = flags
        .map(|f| {
            PyBuffer::<u32>::get(f).map_err(|e| {
                PyTypeError::new_err(format!("flags must be a buffer of uint32 ('I'): {e}"))
            })
        })
        .transpose()?;
    let (uds, cap) = out_array(&ud_buf, "user_data")?;
    let (ress, res_len) = out_array(&res_buf, "res")?;
    let flgs = flags_buf
        .as_ref()
        .map(|b| out_array(b, "flags"))
        .transpose()?;
    if res_len < cap || flgs.is_some_and(|(_, n)| n < cap) {
        return Err(PyValueError::new_err(
            "res (and flags) must be at least as long as user_data",
        ));
    }
    ring.reap_loop(py, wait_nr, Some(cap as i64), timeout, |e, max, dead| {
        let n = (e.raw.cq_ready() as usize).min(max);
        let mut written = 0;
        for i in 0..n as u32 {
            let c = e.raw.cqe(i);
            let Some(c) = Engine::translate(&mut e.slots, &c, true, dead) else {
                continue;
            };
            let ud = c.user_data;
            // SAFETY: written < max <= cap, and each array holds at least cap
            // elements (checked above); the exports held by the PyBuffers
            // keep the memory valid and unmovable for this whole call.
            unsafe {
                uds.add(written).write(ud);
                ress.add(written).write(c.res);
                if let Some((f, _)) = flgs {
                    f.add(written).write(c.flags);
                }
            }
            written += 1;
        }
        e.raw.cq_advance(n as u32);
        written
    })
}

/// Keep for batch ops: one reference to the shared pin per op.
pub fn keep_for(py: Python<'_>, holder: &Option<Py<PyAny>>) -> Keep {
    Keep {
        obj: holder.as_ref().map(|h| h.clone_ref(py)),
        ..Default::default()
    }
}

/// Queues `n` SQEs of `opcode` in one lock: op `i` gets user_data
/// `user_data + i`, a reference to `holder` (the batch's pinned memory)
/// and `prep(i, sqe)`. All or nothing: SUBMISSION_QUEUE_FULL when the SQ
/// has fewer than `n` free entries. `skip`: the SQEs carry
/// `IOSQE_CQE_SKIP_SUCCESS`; then one more free entry is needed (for the op
/// that ends their chain: without it the SQ could fill with a chain that
/// can never be submitted), and their chain is checked as far as it goes
/// (`Engine::check_chains`): refused, they are taken back (ValueError).
#[allow(clippy::too_many_arguments)]
pub fn queue_many(
    slf: &Bound<'_, Ring>,
    user_data: u64,
    n: u32,
    opcode: u8,
    holder: Option<Py<PyAny>>,
    skip: bool,
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
    if skip && ring.flags & sys::IORING_SETUP_SQPOLL != 0 {
        return Err(chain_error(ChainError::Sqpoll { user_data }));
    }
    let need = if skip { n.saturating_add(1) } else { n };
    let mut taken_back = Vec::new();
    let outcome = ring.with_engine(|e| {
        if e.raw.sq_space_left(&e.sq) < need {
            return Ok(false);
        }
        let first = e.sq.sqe_tail;
        for i in 0..n {
            let (_, sqe) = e.raw.get_sqe(&mut e.sq).expect("space checked above");
            let (slot, token) = e.slots.alloc_slot(
                user_data + i as u64,
                opcode,
                crate::py::batch::keep_for(py, &holder),
            );
            sqe.opcode = opcode;
            sqe.user_data = token;
            prep(i, sqe);
            debug_assert_eq!(sqe.opcode, opcode, "the builder's opcode is the slot's");
            slot.note_sqe(sqe);
        }
        if skip && n > 0 {
            e.slots.skip_queued = true;
            if let Err(err) = e.check_chains(true) {
                // Take them back: they are unpublished, the kernel never saw them.
                for pos in 0..n {
                    let pos = first.wrapping_add(pos);
                    if let Some(token) = e.raw.sqe_at(&mut e.sq, pos).map(|s| s.user_data) {
                        taken_back.extend(e.slots.release(token));
                    }
                }
                e.sq.sqe_tail = first;
                return Err(err);
            }
        }
        Ok(true)
    })?;
    drop(taken_back);
    drop(holder);
    match outcome {
        Ok(true) => Ok(n),
        Ok(false) => Err(UringErr::new(
            Kind::SubmissionQueueFull,
            format!(
                "the submission queue has fewer than {need} free entries (of {}): submit() first, \
                 or queue smaller batches{}",
                ring.sq_entries,
                if skip {
                    " (IOSQE_CQE_SKIP_SUCCESS ops need one more, for the op that ends their chain)"
                } else {
                    ""
                }
            ),
        )
        .into()),
        Err(err) => Err(chain_error(err)),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_many, m)?)?;
    m.add_function(wrap_pyfunction!(write_many, m)?)?;
    m.add_function(wrap_pyfunction!(nop_many, m)?)?;
    Ok(())
}
