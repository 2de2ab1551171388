//! `_FreshBytes`: a new, uninitialised `bytes` object for one read to fill,
//! handed out afterwards with no copy (what the built-in `FileIO.readall`
//! does in C; pure Python can only zero-fill one first, as `io.BytesIO`).
//!
//! Owns: the `bytes` object until `take()`, and the writable buffer export
//! the read op pins. Nobody else can see the object before `take()`: it is
//! never returned or exposed while a read may write into it, so the kernel
//! writing into an immutable `bytes` is sound. `take()` refuses the object
//! while it is still exported (a read may be in flight): BufferError.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

#[cfg(not(feature = "abi3"))]
extern "C" {
    // CPython's in-place shrink of a bytes object nobody else references
    // (cpython/bytesobject.h; not in the limited API).
    fn _PyBytes_Resize(bytes: *mut *mut ffi::PyObject, newsize: ffi::Py_ssize_t) -> i32;
}

/// A new, uninitialised `bytes` object of `size` bytes for one read to fill
/// (writable through the buffer protocol), then handed out with no copy by
/// `take()`. Nobody else sees the object before `take()`.
#[pyclass(module = "uring_rs._native", name = "_FreshBytes", frozen)]
pub struct FreshBytes {
    /// The object (None once taken) and its size.
    bytes: Mutex<Option<Py<PyBytes>>>,
    size: usize,
    exports: AtomicUsize,
}

#[pymethods]
impl FreshBytes {
    #[new]
    fn new(py: Python<'_>, size: usize) -> PyResult<FreshBytes> {
        if size == 0 || size > isize::MAX as usize {
            return Err(PyValueError::new_err(format!(
                "size must be >= 1, got {size}"
            )));
        }
        // SAFETY: a NULL source asks CPython for an uninitialised object of
        // `size` bytes (and its NUL terminator); a new reference or NULL.
        let obj = unsafe { ffi::PyBytes_FromStringAndSize(std::ptr::null(), size as isize) };
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: obj is a new, owned reference to a bytes object.
        let bytes = unsafe { Bound::from_owned_ptr(py, obj) }.cast_into::<PyBytes>()?;
        Ok(FreshBytes {
            bytes: Mutex::new(Some(bytes.unbind())),
            size,
            exports: AtomicUsize::new(0),
        })
    }

    /// The first `got` bytes a completed read wrote, as that `bytes` object
    /// (shrunk in place), once; BufferError while it is still exported.
    fn take<'py>(&self, py: Python<'py>, got: usize) -> PyResult<Bound<'py, PyBytes>> {
        let got = got.min(self.size);
        let mut guard = self
            .bytes
            .lock()
            .expect("never poisoned: no panics under it");
        let Some(bytes) = guard.as_ref() else {
            return Err(PyValueError::new_err(
                "_FreshBytes.take() was already called",
            ));
        };
        let bytes = bytes.bind(py).clone();
        if self.exports.load(Ordering::Acquire) > 0 {
            // A read may still write into it (not expected once the read has
            // completed): it stays ours, alive, until the export goes.
            return Err(PyBufferError::new_err(
                "_FreshBytes is still exported (a read may still write into it)",
            ));
        }
        *guard = None;
        drop(guard);
        if got == self.size {
            return Ok(bytes);
        }
        shrink(py, bytes, got)
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        let guard = this.bytes.lock().expect("never poisoned");
        let Some(bytes) = guard.as_ref() else {
            return Err(PyBufferError::new_err("_FreshBytes was taken"));
        };
        // SAFETY: a live bytes object's data pointer (we hold a reference).
        let ptr = unsafe { ffi::PyBytes_AsString(bytes.as_ptr()) };
        // SAFETY: view is the consumer's Py_buffer; FillInfo describes our
        // `size` bytes as writable and takes a reference to `slf`, which
        // keeps the bytes object alive while exported. Writing into it is
        // sound: nobody else can see the object until take(), which refuses
        // it while exported.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(view, slf.as_ptr(), ptr.cast(), this.size as isize, 0, flags)
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        this.exports.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.exports.fetch_sub(1, Ordering::AcqRel);
    }

    fn __len__(&self) -> usize {
        self.size
    }
}

/// `bytes` cut to its first `n` bytes: in place where CPython allows it (we
/// hold the only reference), else a copy.
fn shrink<'py>(
    py: Python<'py>,
    bytes: Bound<'py, PyBytes>,
    n: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    #[cfg(not(feature = "abi3"))]
    {
        // SAFETY: refcount 1 means `bytes` is the only reference (the Mutex
        // slot was cleared), as _PyBytes_Resize requires; it replaces the
        // pointer (or frees it and sets NULL with an exception).
        unsafe {
            if ffi::Py_REFCNT(bytes.as_ptr()) == 1 {
                let mut p = bytes.into_ptr();
                if _PyBytes_Resize(&mut p, n as isize) != 0 {
                    return Err(PyErr::fetch(py));
                }
                return Ok(Bound::from_owned_ptr(py, p).cast_into_unchecked());
            }
        }
    }
    // SAFETY: the first `n` bytes are what the read wrote (n <= size), and
    // nothing writes into the object any more (no export is left).
    let head = unsafe {
        std::slice::from_raw_parts(ffi::PyBytes_AsString(bytes.as_ptr()).cast::<u8>(), n)
    };
    Ok(PyBytes::new(py, head))
}
