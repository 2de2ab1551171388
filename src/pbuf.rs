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

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyWeakrefReference};

use crate::error::strerror;
use crate::keep::Keep;
use crate::pyring::{register_error, Cqe, Ring};
use crate::sys;

/// `struct io_uring_buf`: one descriptor of the buffer ring. The ring's
/// tail lives in the `resv` field of descriptor 0.
#[repr(C)]
struct BufDesc {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// `struct io_uring_buf_reg`.
#[repr(C)]
#[derive(Default)]
struct BufReg {
    ring_addr: u64,
    ring_entries: u32,
    bgid: u16,
    flags: u16,
    resv: [u64; 3],
}

const _: () = {
    assert!(std::mem::size_of::<BufDesc>() == 16);
    assert!(std::mem::offset_of!(BufDesc, resv) == 14);
    assert!(std::mem::size_of::<BufReg>() == 40);
};

/// A private anonymous mapping (page-aligned, zeroed), unmapped on drop.
struct AnonMap {
    ptr: *mut u8,
    len: usize,
}

impl AnonMap {
    fn new(len: usize) -> PyResult<AnonMap> {
        // SAFETY: a fresh private anonymous mapping; nothing aliases it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            let e = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::ENOMEM);
            return Err(pyo3::exceptions::PyMemoryError::new_err(format!(
                "could not map {len} bytes for a buffer ring: {}",
                strerror(e)
            )));
        }
        Ok(AnonMap {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Drop for AnonMap {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`; the owner guarantees the
        // kernel no longer uses it (see the module doc).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

struct PbufState {
    /// Our free-running tail (the kernel's copy is in descriptor 0).
    tail: u16,
    /// Buffers handed to Python and not yet given back.
    out: Vec<bool>,
}

#[pyclass(frozen, module = "uring_rs", name = "BufferRing")]
pub struct BufferRing {
    #[pyo3(get)]
    group_id: u16,
    #[pyo3(get)]
    count: u32,
    #[pyo3(get)]
    size: u32,
    ring: Py<PyWeakrefReference>,
    registered: AtomicBool,
    state: Mutex<PbufState>,
    descs: AnonMap,
    bufs: AnonMap,
}

// SAFETY: the raw pointers are anonymous mappings owned by this object;
// descriptor writes happen under `state`'s lock and the tail is published
// with an atomic store; buffer bytes are only read through ProvidedBuffer
// while the kernel does not own that buffer.
unsafe impl Send for BufferRing {}
// SAFETY: as above.
unsafe impl Sync for BufferRing {}

impl BufferRing {
    fn lock(&self) -> std::sync::MutexGuard<'_, PbufState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn buf_addr(&self, bid: u16) -> *mut u8 {
        // SAFETY: bid < count, so the offset is inside `bufs`.
        unsafe { self.bufs.ptr.add(bid as usize * self.size as usize) }
    }

    /// Puts buffer `bid` at the tail (not yet published).
    fn push(&self, st: &mut PbufState, bid: u16) {
        let mask = self.count - 1;
        let idx = (st.tail as u32 & mask) as usize;
        let desc = self.descs.ptr.cast::<BufDesc>();
        // SAFETY: idx < count descriptors inside `descs`. Only the addr, len
        // and bid fields are written, never descriptor 0's `resv`, which is
        // the shared tail; the kernel reads descriptors only below the tail,
        // and this one is above it until `publish`.
        unsafe {
            let d = desc.add(idx);
            std::ptr::addr_of_mut!((*d).addr).write(self.buf_addr(bid) as u64);
            std::ptr::addr_of_mut!((*d).len).write(self.size);
            std::ptr::addr_of_mut!((*d).bid).write(bid);
        }
        st.tail = st.tail.wrapping_add(1);
    }

    /// Publishes the tail to the kernel with a Release store, so the
    /// descriptors written before it are visible first.
    fn publish(&self, st: &PbufState) {
        // SAFETY: descriptor 0's `resv` (offset 14) is the ring's tail, a
        // naturally aligned u16 the kernel reads with acquire semantics.
        let tail = unsafe { &*(self.descs.ptr.add(14) as *const AtomicU16) };
        tail.store(st.tail, Ordering::Release);
    }

    /// Gives buffer `bid` back to the kernel.
    fn recycle(&self, bid: u16) {
        let mut st = self.lock();
        if !std::mem::take(&mut st.out[bid as usize]) {
            return;
        }
        self.push(&mut st, bid);
        self.publish(&st);
    }

    fn owner<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Ring>> {
        let ring = self.ring.bind(py).upgrade();
        match ring {
            Some(r) => Ok(r.cast_into::<Ring>()?),
            None => Err(crate::error::closed_ring()),
        }
    }
}

#[pymethods]
impl BufferRing {
    /// Registers a ring of `count` buffers of `size` bytes as buffer group
    /// `group_id` of `ring` (IORING_REGISTER_PBUF_RING, Linux 5.19).
    #[new]
    fn new(
        ring: &Bound<'_, Ring>,
        #[pyo3(from_py_with = crate::named::group_id_u16)] group_id: u16,
        #[pyo3(from_py_with = crate::named::count_u32)] count: u32,
        #[pyo3(from_py_with = crate::named::size_u32)] size: u32,
    ) -> PyResult<Py<BufferRing>> {
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
        let descs = AnonMap::new(count as usize * std::mem::size_of::<BufDesc>())?;
        let bufs = AnonMap::new(total)?;
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
            descs,
            bufs,
        };
        {
            let mut st = br.lock();
            for bid in 0..count {
                br.push(&mut st, bid as u16);
            }
            br.publish(&st);
        }
        let reg = BufReg {
            ring_addr: br.descs.ptr as u64,
            ring_entries: count,
            bgid: group_id,
            ..Default::default()
        };
        let obj = Py::new(py, br)?;
        let keep = obj.clone_ref(py);
        let r = ring.get().with_held(|raw, _, held| {
            // SAFETY: reg describes `descs`, which lives as long as the
            // BufferRing; the ring holds the BufferRing (held.buf_rings)
            // until the kernel can no longer use it.
            match unsafe {
                raw.register(
                    sys::IORING_REGISTER_PBUF_RING,
                    (&reg as *const BufReg).cast(),
                    1,
                )
            } {
                Ok(_) => {
                    held.buf_rings.push(keep);
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
        let reg = BufReg {
            bgid: this.group_id,
            ..Default::default()
        };
        let me = slf.as_ptr();
        let out = ring.get().with_held(|raw, slots, held| {
            // SAFETY: one io_uring_buf_reg, read during the call.
            let r = unsafe {
                raw.register(
                    sys::IORING_UNREGISTER_PBUF_RING,
                    (&reg as *const BufReg).cast(),
                    1,
                )
            };
            if let Err(e) = r {
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
