//! uring_rs: Linux io_uring for Python, over raw syscalls.
//!
//! `sys` is the kernel ABI, `ring` the SQ/CQ machinery, `keep` the per-op
//! keep-alive table, `pyring` the Python classes, `ops` op preparation,
//! `args`/`addr` argument conversion and `error` the one errno table.

pub mod addr;
pub mod args;
pub mod batch;
pub mod error;
pub mod keep;
pub mod named;
pub mod ops;
pub mod ops_ext;
pub mod pbuf;
pub mod pyring;
pub mod register;
pub mod ring;
pub mod sys;

use std::sync::atomic::Ordering;
use std::sync::Once;

use pyo3::prelude::*;

extern "C" fn after_fork_in_child() {
    pyring::FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

static ATFORK: Once = Once::new();

/// The kernel release (`uname -r`).
#[pyfunction]
fn kernel_release() -> String {
    // SAFETY: utsname is plain data; uname fills it with NUL-terminated
    // strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

/// Kernel names of the opcodes this build knows, indexed by opcode.
#[pyfunction]
fn opcode_names() -> Vec<&'static str> {
    sys::OPCODE_NAMES.to_vec()
}

#[pymodule(gil_used = true)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic counter,
        // which is async-signal-safe as the child side of fork requires.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    m.add_class::<pyring::Ring>()?;
    m.add_class::<pyring::Sqe>()?;
    m.add_class::<pyring::Cqe>()?;
    m.add_class::<pyring::Probe>()?;
    m.add_class::<pbuf::BufferRing>()?;
    m.add_class::<pbuf::ProvidedBuffer>()?;
    m.add_function(wrap_pyfunction!(kernel_release, m)?)?;
    m.add_function(wrap_pyfunction!(opcode_names, m)?)?;
    ops::register(m)?;
    ops_ext::register(m)?;
    batch::register(m)?;
    for (name, value) in sys::PUBLIC_CONSTANTS {
        m.add(*name, *value)?;
    }
    Ok(())
}
