//! Converting Python arguments into what the kernel takes, with the error
//! types and messages API.md promises. Nothing here touches a ring.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyInt, PyString, PyTuple};

use crate::engine::sys::KernelTimespec;

/// An fd argument: an int, or any object with `fileno()`.
pub fn fd(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<i32> {
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i32>()
            .map_err(|_| PyValueError::new_err(format!("{name} must fit in a C int, got {obj}")));
    }
    match obj.getattr("fileno") {
        Ok(fileno) => {
            let v = fileno.call0()?;
            v.extract::<i32>().map_err(|_| {
                PyTypeError::new_err(format!("{name}.fileno() must return an int, got {v}"))
            })
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "{name} must be an int or an object with fileno(), got {}",
            obj.get_type().name()?
        ))),
    }
}

/// An integer argument in `lo..=hi`, with errors that name the argument
/// (PyO3's own conversion errors do not): TypeError for a non-int,
/// ValueError out of range.
pub fn int_named(
    obj: &Bound<'_, PyAny>,
    name: &str,
    lo: i128,
    hi: i128,
    range: &str,
) -> PyResult<i128> {
    if !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, got {}",
            obj.get_type().name()?
        )));
    }
    // i64 first: the common case, and much cheaper than the 128-bit path.
    let v = match obj.extract::<i64>() {
        Ok(v) => Ok(v as i128),
        Err(_) => obj.extract::<i128>(),
    };
    match v {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be in {range}, got {obj}"
        ))),
    }
}

/// `user_data`: an int in 0..2**64-1.
pub fn user_data(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    int_named(obj, "user_data", 0, u64::MAX as i128, "0..2**64-1").map(|v| v as u64)
}

/// A buffer index (registered buffer) in 0..65535.
pub fn buf_index(obj: &Bound<'_, PyAny>) -> PyResult<u16> {
    int_named(obj, "buf_index", 0, u16::MAX as i128, "0..65535").map(|v| v as u16)
}

/// A provided-buffer group id in 0..65535.
pub fn group_id(obj: &Bound<'_, PyAny>) -> PyResult<u16> {
    int_named(obj, "group_id", 0, u16::MAX as i128, "0..65535").map(|v| v as u16)
}

/// A count of ops in 0..2**32-1.
pub fn count(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    int_named(obj, "count", 0, u32::MAX as i128, "0..2**32-1").map(|v| v as u32)
}

/// A CQE result in the i32 range.
pub fn res(obj: &Bound<'_, PyAny>) -> PyResult<i32> {
    int_named(
        obj,
        "res",
        i32::MIN as i128,
        i32::MAX as i128,
        "-2**31..2**31-1",
    )
    .map(|v| v as i32)
}

/// `max` of the reaping calls: an int >= 0 (None means no limit).
pub fn max(obj: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if obj.is_none() {
        return Ok(None);
    }
    int_named(obj, "max", 0, i64::MAX as i128, "0..2**63-1").map(|v| Some(v as i64))
}

/// A file offset argument: an int >= 0, or -1 for the current position.
pub fn offset_arg(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    int_named(
        obj,
        "offset",
        -1,
        i64::MAX as i128,
        "0..2**63-1 (or -1 for the current position)",
    )
    .map(|v| v as i64)
}

/// A file offset: an int >= 0, or -1 for the file's current position.
pub fn offset(value: i64) -> PyResult<u64> {
    match value {
        -1 => Ok(u64::MAX),
        v if v >= 0 => Ok(v as u64),
        v => Err(PyValueError::new_err(format!(
            "offset must be >= 0, or -1 for the current file position; got {v}"
        ))),
    }
}

/// A duration in seconds (int or float >= 0) as a kernel timespec.
pub fn seconds(obj: &Bound<'_, PyAny>) -> PyResult<KernelTimespec> {
    if obj.is_instance_of::<PyInt>() {
        let s: i64 = obj
            .extract()
            .map_err(|_| PyOverflowError::new_err(format!("seconds is too large: {obj}")))?;
        if s < 0 {
            return Err(PyValueError::new_err(format!(
                "seconds must be >= 0, got {s}"
            )));
        }
        return Ok(KernelTimespec {
            tv_sec: s,
            tv_nsec: 0,
        });
    }
    if obj.is_instance_of::<PyFloat>() {
        let f: f64 = obj.extract()?;
        return float_seconds(f);
    }
    Err(PyTypeError::new_err(format!(
        "seconds must be an int or a float, got {}",
        obj.get_type().name()?
    )))
}

pub fn float_seconds(f: f64) -> PyResult<KernelTimespec> {
    if !f.is_finite() || f < 0.0 {
        return Err(PyValueError::new_err(format!(
            "seconds must be a finite number >= 0, got {f}"
        )));
    }
    if f >= i64::MAX as f64 {
        return Err(PyOverflowError::new_err(format!(
            "seconds is too large: {f}"
        )));
    }
    let secs = f.trunc();
    let nanos = ((f - secs) * 1e9).round().min(999_999_999.0);
    Ok(KernelTimespec {
        tv_sec: secs as i64,
        tv_nsec: nanos as i64,
    })
}

/// A path (`str`, `bytes` or `os.PathLike`) as the NUL-terminated bytes the
/// kernel takes, encoded as `os.fsencode` does.
pub fn path(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<CString> {
    let bytes: Vec<u8> = if let Ok(b) = obj.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        let p: PathBuf = obj.extract()?;
        p.as_os_str().as_bytes().to_vec()
    } else {
        return Err(PyTypeError::new_err(format!(
            "{name} must be str, bytes or os.PathLike, got {}",
            obj.get_type().name()?
        )));
    };
    CString::new(bytes)
        .map_err(|_| PyValueError::new_err(format!("{name} contains an embedded null byte")))
}

/// An unsigned flags word.
pub fn flags32(value: i64, name: &str) -> PyResult<u32> {
    u32::try_from(value)
        .map_err(|_| PyValueError::new_err(format!("{name} must be in 0..2**32-1, got {value}")))
}

/// SQE flags (`IOSQE_*`) a caller may set. `IOSQE_CQE_SKIP_SUCCESS` only
/// together with `IOSQE_IO_LINK` or `IOSQE_IO_HARDLINK`: a skipped op must
/// be linked to a later op whose completion tells the ring it is done. The
/// rest of the rule (the chain's shape) is checked when the SQEs are
/// published (`Engine::check_chains`).
pub fn sqe_flags(value: i64) -> PyResult<u8> {
    use crate::engine::sys::{IOSQE_CQE_SKIP_SUCCESS, IOSQE_IO_HARDLINK, IOSQE_IO_LINK};
    let v = u8::try_from(value).map_err(|_| {
        PyValueError::new_err(format!("flags must be IOSQE_* bits (0..255), got {value}"))
    })?;
    if v & !0x7f != 0 {
        return Err(PyValueError::new_err(format!(
            "unknown IOSQE_* bits in {v:#x}"
        )));
    }
    if v & IOSQE_CQE_SKIP_SUCCESS != 0 && v & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK) == 0 {
        return Err(PyValueError::new_err(
            "IOSQE_CQE_SKIP_SUCCESS needs IOSQE_IO_LINK: the op posts no completion when it \
             succeeds, so it must be linked to a later op without the flag, whose completion \
             tells the ring the skipped op is done and its buffers may be released (it cannot \
             be unlinked or the last op of a chain)",
        ));
    }
    Ok(v)
}

/// A positive count of completions to wait for, etc.
pub fn count32(value: i64, name: &str) -> PyResult<u32> {
    u32::try_from(value)
        .map_err(|_| PyValueError::new_err(format!("{name} must be in 0..2**32-1, got {value}")))
}

pub fn is_tuple(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyTuple>()
}
