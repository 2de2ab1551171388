//! What the Python API keeps alive for an op: pinned buffer exports
//! (`PinnedBuf`) and Python objects, in `Keep`, the Python client's `Hold`
//! for the engine's slots.
//!
//! Owns: the buffer protocol (pinning, refusing object buffers, naming the
//! argument in errors) and what the garbage collector may be shown. May not
//! touch: the ring.

use pyo3::ffi;
use pyo3::prelude::*;

use crate::engine::slots::Hold;
pub use crate::engine::slots::{MessageLink, OnDone, INTERNAL_CANCEL, NO_TARGET};

/// A buffer-protocol export held open: the exporter may not move or free
/// the memory (a bytearray cannot resize, an mmap cannot close) until it is
/// released, which [`Drop`] does.
pub struct PinnedBuf {
    view: ffi::Py_buffer,
    /// The exporting object, when the garbage collector may be shown it (see
    /// [`PinnedBuf::gc_visible`]).
    gc_owner: Option<Py<PyAny>>,
}

// SAFETY: a PinnedBuf is created and released only while attached to the
// interpreter (all Ring methods run attached, and Ring's own Drop runs from
// the Python finalizer); the pointer inside is plain memory owned by the
// exporting object, which the view keeps alive.
unsafe impl Send for PinnedBuf {}
// SAFETY: shared access only reads the view's pointer and length.
unsafe impl Sync for PinnedBuf {}

/// Whether a struct-module format string describes Python objects (`O`)
/// anywhere outside its `:field names:`.
fn format_holds_objects(format: &[u8]) -> bool {
    let mut in_name = false;
    for &c in format {
        match c {
            b':' => in_name = !in_name,
            b'O' if !in_name => return true,
            _ => {}
        }
    }
    false
}

/// The item format an exporter reports (asked for separately, with strides,
/// which every exporter accepts), or None if it reports none.
fn item_format(obj: &Bound<'_, PyAny>) -> Option<String> {
    let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::uninit();
    // SAFETY: as in PinnedBuf::get; the view is released before returning.
    let rc =
        unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_RECORDS_RO) };
    if rc != 0 {
        // The pinning export succeeded; an exporter that cannot describe
        // its items has none to hide (format NULL means bytes).
        drop(PyErr::take(obj.py()));
        return None;
    }
    // SAFETY: initialised by the successful call above.
    let mut view = unsafe { view.assume_init() };
    let f = (!view.format.is_null()).then(|| {
        // SAFETY: a non-null format is a NUL-terminated string owned by the
        // exporter, valid until the view is released below.
        unsafe { std::ffi::CStr::from_ptr(view.format) }
            .to_string_lossy()
            .into_owned()
    });
    // SAFETY: released exactly once, attached.
    unsafe { ffi::PyBuffer_Release(&mut view) };
    f
}

impl PinnedBuf {
    /// Exports `obj`'s buffer as one C-contiguous byte range. `writable`
    /// asks for write access (for ops the kernel writes into); `name` is the
    /// argument's name, for errors.
    ///
    /// Only PyBUF_SIMPLE/PyBUF_WRITABLE is requested, so
    /// the exporter leaves `shape`, `strides` and `suboffsets` null and the
    /// view is a flat range that may be moved by value (CPython itself copies
    /// Py_buffer structs). A buffer whose items are Python objects (format
    /// `O`, as numpy's `dtype=object` or ctypes' `py_object` arrays) is
    /// refused: the kernel would overwrite object pointers.
    pub fn get(obj: &Bound<'_, PyAny>, writable: bool, name: &str) -> PyResult<PinnedBuf> {
        let flags = if writable {
            ffi::PyBUF_WRITABLE
        } else {
            ffi::PyBUF_SIMPLE
        };
        let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::uninit();
        // SAFETY: obj is a live object; on success the view is initialised
        // and owns a reference to the exporter until PyBuffer_Release.
        let rc = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), flags) };
        if rc != 0 {
            return Err(buffer_error(obj, writable, name, PyErr::fetch(obj.py())));
        }
        // SAFETY: initialised by the successful call above.
        let mut pin = PinnedBuf {
            view: unsafe { view.assume_init() },
            gc_owner: None,
        };
        let bytes_like = obj.is_exact_instance_of::<pyo3::types::PyByteArray>()
            || obj.is_exact_instance_of::<pyo3::types::PyBytes>();
        if !bytes_like {
            if let Some(f) = item_format(obj) {
                if format_holds_objects(f.as_bytes()) {
                    return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                        "{name} holds Python objects (buffer format {f:?}): the kernel would \
                         overwrite object pointers; pass a buffer of plain bytes or numbers \
                         (bytearray, array, numpy array of a numeric dtype)"
                    )));
                }
            }
        }
        // bytes and bytearray (and their subclasses, whose tp_clear only
        // clears the instance dict) free their storage only on dealloc, which
        // the view's reference prevents: showing them to the garbage
        // collector can break a cycle through them, never free the memory.
        if obj.is_instance_of::<pyo3::types::PyByteArray>()
            || obj.is_instance_of::<pyo3::types::PyBytes>()
        {
            pin.gc_owner = Some(obj.clone().unbind());
        }
        Ok(pin)
    }

    pub fn ptr(&self) -> *mut u8 {
        self.view.buf.cast()
    }

    pub fn len(&self) -> usize {
        self.view.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The exporter, if the garbage collector may traverse it while the
    /// kernel uses its memory: only types whose `tp_clear` cannot free
    /// exported storage (a ctypes array's would, so it is never shown).
    pub fn gc_visible(&self) -> Option<&Py<PyAny>> {
        self.gc_owner.as_ref()
    }

    /// Visits the exporter for both references a pin holds (the view's and
    /// `gc_owner`), when it may be shown at all.
    pub fn traverse(&self, visit: &pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if let Some(o) = self.gc_owner.as_ref() {
            visit.call(o)?;
            visit.call(o)?;
        }
        Ok(())
    }
}

/// The error for an object that cannot be pinned, naming the argument.
fn buffer_error(obj: &Bound<'_, PyAny>, writable: bool, name: &str, e: PyErr) -> PyErr {
    let py = obj.py();
    let tname = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    let why = e.value(py).to_string();
    if e.is_instance_of::<pyo3::exceptions::PyBufferError>(py) {
        let what = if writable {
            "a writable bytes-like object (bytearray, memoryview of one, mmap, array, numpy array)"
        } else {
            "a bytes-like object"
        };
        return pyo3::exceptions::PyBufferError::new_err(format!(
            "{name} must be {what}, got {tname}: {why}"
        ));
    }
    if e.is_instance_of::<pyo3::exceptions::PyTypeError>(py) {
        let what = if writable {
            "a writable bytes-like object (bytearray, memoryview, mmap, array, numpy array)"
        } else {
            "a bytes-like object (bytes, bytearray, memoryview, ...)"
        };
        return pyo3::exceptions::PyTypeError::new_err(format!(
            "{name} must be {what}, not {tname}"
        ));
    }
    e
}

impl Drop for PinnedBuf {
    fn drop(&mut self) {
        // SAFETY: the view came from a successful PyObject_GetBuffer and is
        // released exactly once; we are attached to the interpreter (see the
        // Send impl above).
        unsafe { ffi::PyBuffer_Release(&mut self.view) };
    }
}

/// What a slot keeps alive for the kernel. Taken out of the slot under the
/// state lock and dropped after it is released, because releasing a buffer
/// or dropping an object can run arbitrary Python code.
#[derive(Default)]
pub struct Keep {
    pub buf: Option<PinnedBuf>,
    pub obj: Option<Py<PyAny>>,
    /// Several buffers (readv, writev, sendmsg): boxed, so the common
    /// one-buffer keep stays small (it is moved in and out of a slot per op).
    pub bufs: Option<Box<Vec<PinnedBuf>>>,
    /// A message this op (an `IORING_OP_MSG_RING`) posts to another ring:
    /// if the post never happens, the target's slot for it is given back.
    pub msg: Option<Box<MessageLink>>,
}

impl Keep {
    pub fn buf(b: PinnedBuf) -> Keep {
        Keep {
            buf: Some(b),
            ..Default::default()
        }
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_none() && self.obj.is_none() && self.bufs.is_none() && self.msg.is_none()
    }

    /// Shows the garbage collector what this keeps alive, as far as that is
    /// safe while the kernel may use it (see [`PinnedBuf::gc_visible`]):
    /// `all` when no op is in flight, so nothing is being written.
    pub fn traverse(
        &self,
        visit: &pyo3::PyVisit<'_>,
        all: bool,
    ) -> Result<(), pyo3::PyTraverseError> {
        for b in self
            .buf
            .iter()
            .chain(self.bufs.iter().flat_map(|v| v.iter()))
        {
            b.traverse(visit)?;
        }
        if all {
            visit.call(&self.obj)?;
        }
        Ok(())
    }
}

impl Hold for Keep {
    fn is_empty(&self) -> bool {
        Keep::is_empty(self)
    }

    fn finished(&mut self, res: i32) {
        if let Some(m) = self.msg.as_mut() {
            m.delivered = res >= 0;
        }
    }
}

// A keep is moved into a slot and out again for every op: kept to two cache
// lines, it is copied inline rather than through memmove (measured: 13% of
// a batch of NOPs when it grew to 152 bytes).
const _: () = assert!(std::mem::size_of::<Keep>() <= 128);
