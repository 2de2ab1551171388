//! Provided-buffer rings (`IORING_REGISTER_PBUF_RING`): the kernel picks a
//! buffer from a group when data arrives (recv with `IOSQE_BUFFER_SELECT`,
//! multishot recv) and names it in the CQE.
//!
//! Ownership: the buffer memory and the ring of buffer descriptors are
//! anonymous mappings owned by the `BufferRing`. The `Ring` holds the
//! `BufferRing` until it is unregistered with nothing in flight, or until
//! the ring is closed and drained; a `ProvidedBuffer` handed to Python holds
//! it too, so the memory outlives every view of it. A buffer is given back
//! to the kernel only when its `ProvidedBuffer` is released (explicitly, by
//! `with`, or when collected) and no memoryview of it is open.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyWeakrefReference};

use crate::engine::bufring::BufRingMem;
use crate::engine::sys;
use crate::py::cqe::Cqe;
use crate::py::error::register_error;
use crate::py::error::strerror;
use crate::py::keep::Keep;
use crate::py::ring::Ring;

struct PbufState {
    /// Our free-running tail (the kernel's copy is in descriptor 0).
    tail: u16,
    /// Buffers handed to Python and not yet given back.
    out: Vec<bool>,
}

/// A ring of provided buffers (`IORING_REGISTER_PBUF_RING`, Linux 5.19): the
/// kernel picks a buffer from group `group_id` when an op with
/// `IOSQE_BUFFER_SELECT` and `Sqe.buf_group` (or `ops.recv_multishot`) has
/// data, instead of the caller naming one.
///
/// `BufferRing(ring, group_id, count, size)`: `count` buffers (a power of
/// two up to 32768) of `size` bytes each, in memory the ring owns. A
/// completion with `IORING_CQE_F_BUFFER` names the buffer it filled
/// (`Cqe.buffer_id`); `get(cqe)` returns it as a `ProvidedBuffer`, which
/// goes back to the kernel when released. The memory stays with the ring
/// until nothing in flight can use it. Raises `UringError` when the kernel
/// refuses the registration, and `ValueError` for a bad `count` or `size`,
/// or a closed ring.
#[pyclass(frozen, module = "uring_rs", name = "BufferRing")]
pub struct BufferRing {
    /// The buffer group id ops name in `Sqe.buf_group`.
    #[pyo3(get)]
    group_id: u16,
    /// How many buffers the ring holds.
    #[pyo3(get)]
    count: u32,
    /// The size of each buffer, in bytes.
    #[pyo3(get)]
    size: u32,
    ring: Py<PyWeakrefReference>,
    registered: AtomicBool,
    state: Mutex<PbufState>,
    mem: BufRingMem,
}

impl BufferRing {
    fn lock(&self) -> std::sync::MutexGuard<'_, PbufState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn buf_addr(&self, bid: u16) -> *mut u8 {
        self.mem.buf_addr(bid)
    }

    /// Gives buffer `bid` back to the kernel.
    fn recycle(&self, bid: u16) {
        let mut st = self.lock();
        if !std::mem::take(&mut st.out[bid as usize]) {
            return;
        }
        self.mem.push(&mut st.tail, bid);
        self.mem.publish(st.tail);
    }

    fn owner<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Ring>> {
        let ring = self.ring.bind(py).upgrade();
        match ring {
            Some(r) => Ok(r.cast_into::<Ring>()?),
            None => Err(crate::py::error::closed_ring()),
        }
    }
}

#[pymethods]
impl BufferRing {
    /// Registers a ring of `count` buffers of `size` bytes as buffer group
    /// `group_id` of `ring` (IORING_REGISTER_PBUF_RING, Linux 5.19).
    #[new]
    fn new(
        #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
        #[pyo3(from_py_with = crate::py::named::group_id_u16)] group_id: u16,
        #[pyo3(from_py_with = crate::py::named::count_u32)] count: u32,
        #[pyo3(from_py_with = crate::py::named::size_u32)] size: u32,
    ) -> PyResult<Py<BufferRing>> {
        let ring = &ring;
        let py = ring.py();
        if count == 0 || count > 32768 || !count.is_power_of_two() {
            return Err(PyValueError::new_err(format!(
                "count must be a power of two from 1 to 32768, got {count}"
            )));
        }
        if size == 0 {
            return Err(PyValueError::new_err("size must be at least 1 byte"));
        }
        let total = (count as usize)
            .checked_mul(size as usize)
            .filter(|t| *t <= 1 << 36)
            .ok_or_else(|| PyValueError::new_err("count * size is too large (at most 64 GiB)"))?;
        let _ = total;
        let mem = BufRingMem::new(count, size).map_err(|e| {
            pyo3::exceptions::PyMemoryError::new_err(format!(
                "could not map {} bytes for a buffer ring: {}",
                count as u64 * size as u64,
                strerror(e)
            ))
        })?;
        let br = BufferRing {
            group_id,
            count,
            size,
            ring: PyWeakrefReference::new(ring)?.unbind(),
            registered: AtomicBool::new(false),
            state: Mutex::new(PbufState {
                tail: 0,
                out: vec![false; count as usize],
            }),
            mem,
        };
        {
            let mut st = br.lock();
            for bid in 0..count {
                br.mem.push(&mut st.tail, bid as u16);
            }
            br.mem.publish(st.tail);
        }
        let obj = Py::new(py, br)?;
        let keep = obj.clone_ref(py);
        let r = ring.get().with_held(|raw, _, held| {
            // The ring holds the BufferRing (held.buf_rings) until the kernel
            // can no longer use its memory.
            match obj.get().mem.register(raw, group_id) {
                Ok(_) => {
                    held.buf_rings.push(keep.into_any());
                    Ok(())
                }
                Err(e) => Err((register_error("IORING_REGISTER_PBUF_RING", e), keep)),
            }
        })?;
        match r {
            Ok(()) => {
                obj.get().registered.store(true, Ordering::Relaxed);
                Ok(obj)
            }
            Err((e, keep)) => {
                drop(keep);
                Err(e.into())
            }
        }
    }

    /// The buffer a completion with `IORING_CQE_F_BUFFER` filled, holding
    /// `cqe.res` bytes. Release it (or use `with`) to give it back.
    fn get(slf: &Bound<'_, Self>, cqe: &Bound<'_, Cqe>) -> PyResult<ProvidedBuffer> {
        let this = slf.get();
        let cqe = cqe.get();
        if cqe.flags & sys::IORING_CQE_F_BUFFER == 0 {
            return Err(PyValueError::new_err(
                "this completion carries no provided buffer",
            ));
        }
        let bid = (cqe.flags >> sys::IORING_CQE_BUFFER_SHIFT) as u16;
        if bid as u32 >= this.count {
            return Err(PyValueError::new_err(format!(
                "buffer id {bid} is not in this ring (count {}): wrong group?",
                this.count
            )));
        }
        let len = if cqe.res < 0 {
            0
        } else {
            (cqe.res as usize).min(this.size as usize)
        };
        let owner = this.owner(slf.py())?;
        if let Err(why) = cqe.claim_buffer(owner.get().id(), this.group_id) {
            return Err(PyValueError::new_err(format!(
                "BufferRing(group_id={}).get: {why}; only a completion consumed by \
                 copy_cqes/copy_cqe from an op that selected this group can hand out its buffer",
                this.group_id
            )));
        }
        {
            let mut st = this.lock();
            if std::mem::replace(&mut st.out[bid as usize], true) {
                return Err(PyValueError::new_err(format!(
                    "buffer {bid} is already out of this ring and not released: is this \
                     completion from another buffer group?"
                )));
            }
        }
        Ok(ProvidedBuffer {
            ring: slf.clone().unbind(),
            bid,
            len,
            released: AtomicBool::new(false),
            exports: AtomicUsize::new(0),
        })
    }

    /// Buffers currently handed out to Python.
    #[getter]
    fn outstanding(&self) -> usize {
        self.lock().out.iter().filter(|o| **o).count()
    }

    /// Whether the group is registered with an open ring (False once
    /// unregistered, or once its ring is closed or gone).
    #[getter]
    fn registered(&self, py: Python<'_>) -> bool {
        self.registered.load(Ordering::Relaxed)
            && self.owner(py).is_ok_and(|r| r.get().raw().is_ok())
    }

    /// Unregisters the group. Its memory stays with the ring until nothing
    /// in flight can use it.
    fn unregister(slf: &Bound<'_, Self>) -> PyResult<()> {
        let this = slf.get();
        if !this.registered.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let ring = this.owner(slf.py())?;
        let me = slf.as_ptr();
        let group = this.group_id;
        let out = ring.get().with_held(|raw, slots, held| {
            if let Err(e) = BufRingMem::unregister(raw, group) {
                return Err(register_error("IORING_UNREGISTER_PBUF_RING", e));
            }
            let pos = held.buf_rings.iter().position(|b| b.as_ptr() == me);
            let mine = pos.map(|p| held.buf_rings.swap_remove(p));
            if slots.live() > 0 {
                // An op in flight may still have picked one of our buffers.
                held.until_close.push(Keep {
                    obj: mine.map(|m| m.into_any()),
                    ..Default::default()
                });
                Ok(None)
            } else {
                Ok(mine)
            }
        })?;
        match out {
            Ok(released) => {
                drop(released);
                Ok(())
            }
            Err(e) => {
                this.registered.store(true, Ordering::Relaxed);
                Err(e.into())
            }
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<uring_rs.BufferRing group_id={} count={} size={}{}>",
            self.group_id,
            self.count,
            self.size,
            if self.registered.load(Ordering::Relaxed) {
                ""
            } else {
                " unregistered"
            }
        )
    }
}

/// A provided buffer taken from a completion: read it with `bytes()`,
/// `memoryview()` or `len()`; `release()` gives it back to the kernel.
#[pyclass(frozen, module = "uring_rs", name = "ProvidedBuffer")]
pub struct ProvidedBuffer {
    ring: Py<BufferRing>,
    bid: u16,
    len: usize,
    released: AtomicBool,
    exports: AtomicUsize,
}

impl ProvidedBuffer {
    fn check_live(&self) -> PyResult<()> {
        if self.released.load(Ordering::Relaxed) {
            return Err(PyValueError::new_err("this ProvidedBuffer was released"));
        }
        Ok(())
    }
}

#[pymethods]
impl ProvidedBuffer {
    /// The buffer's id within its group.
    #[getter]
    fn buffer_id(&self) -> u16 {
        self.bid
    }

    fn __len__(&self) -> usize {
        self.len
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.check_live()?;
        let ptr = self.ring.get().buf_addr(self.bid);
        // SAFETY: the buffer is out of the kernel's hands (taken, not
        // released) and `len` <= size bytes of it are valid.
        Ok(PyBytes::new(py, unsafe {
            std::slice::from_raw_parts(ptr, self.len)
        }))
    }

    /// Gives the buffer back to the kernel. Fails while a memoryview of it
    /// is open; a no-op if already released.
    fn release(&self) -> PyResult<()> {
        if self.exports.load(Ordering::Relaxed) > 0 {
            return Err(PyBufferError::new_err(
                "cannot release a ProvidedBuffer while a memoryview of it is open",
            ));
        }
        if !self.released.swap(true, Ordering::Relaxed) {
            self.ring.get().recycle(self.bid);
        }
        Ok(())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        _t: &Bound<'_, PyAny>,
        _v: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.release()?;
        Ok(false)
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        this.check_live()?;
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("a ProvidedBuffer is read-only"));
        }
        let ptr = this.ring.get().buf_addr(this.bid);
        // SAFETY: view is the consumer's Py_buffer; FillInfo sets it up
        // over our read-only bytes and takes a reference to `slf`, which
        // keeps the BufferRing (and so the memory) alive.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(view, slf.as_ptr(), ptr.cast(), this.len as isize, 1, flags)
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        this.exports.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.exports.fetch_sub(1, Ordering::Relaxed);
    }

    fn __repr__(&self) -> String {
        format!("<uring_rs.ProvidedBuffer id={} len={}>", self.bid, self.len)
    }
}

impl Drop for ProvidedBuffer {
    fn drop(&mut self) {
        if !self.released.swap(true, Ordering::Relaxed) {
            self.ring.get().recycle(self.bid);
        }
    }
}
