//! uring_rs: Linux io_uring for Python, over raw syscalls.
//!
//! Layers, each using only those before it:
//! - `engine`: the kernel ABI, the ring (setup, mappings, SQ/CQ, enter,
//!   register), SQE builders and per-op ownership, in plain Rust with no
//!   Python in it (`cargo test` covers it without an interpreter);
//! - `py`: the Python API, a thin client of the engine;
//! - `event_loop`: `uring_rs.Loop`'s native half, the engine's second client;
//! - `files`: `read_files`' native loop, the engine's third client;
//! - this file: the `_native` module that exports it.

pub mod engine;
pub mod event_loop;
pub mod files;
pub mod py;

use std::sync::atomic::Ordering;
use std::sync::Once;

use pyo3::prelude::*;

extern "C" fn after_fork_in_child() {
    py::ring::FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
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
    engine::sys::OPCODE_NAMES.to_vec()
}

#[pymodule(gil_used = true)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic counter,
        // which is async-signal-safe as the child side of fork requires.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    m.add_class::<py::ring::Ring>()?;
    m.add_class::<py::sqe::Sqe>()?;
    m.add_class::<py::cqe::Cqe>()?;
    m.add_class::<py::cqe::Probe>()?;
    m.add_class::<py::pbuf::BufferRing>()?;
    m.add_class::<py::pbuf::ProvidedBuffer>()?;
    m.add_class::<py::fresh::FreshBytes>()?;
    m.add_function(wrap_pyfunction!(kernel_release, m)?)?;
    m.add_function(wrap_pyfunction!(opcode_names, m)?)?;
    py::ops::register(m)?;
    py::ops_ext::register(m)?;
    py::batch::register(m)?;
    event_loop::register(m)?;
    files::register(m)?;
    for (name, value) in engine::sys::PUBLIC_CONSTANTS {
        m.add(*name, *value)?;
    }
    Ok(())
}
