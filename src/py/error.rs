//! Errors: errno -> `IoUringError` kind -> Python exception, in one table.
//!
//! The exception classes (`UringError`, `UringValueError`, the
//! `IoUringError` enum) are plain Python in `uring_rs/_errors.py`; this file
//! decides the kind and message and asks that module to build the exception.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

/// The 19 error kinds of `IoUringError` (no error is `Ok` here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    EntriesZero,
    EntriesNotPowerOfTwo,
    EntriesTooLarge,
    ParamsOutsideAccessibleAddressSpace,
    ArgumentsInvalid,
    ProcessFdQuotaExceeded,
    SystemFdQuotaExceeded,
    SystemResources,
    PermissionDenied,
    SystemOutdated,
    SubmissionQueueFull,
    FileDescriptorInvalid,
    CompletionQueueOvercommitted,
    SubmissionQueueEntryInvalid,
    BufferInvalid,
    RingShuttingDown,
    OpcodeNotSupported,
    SignalInterrupt,
    Unexpected,
}

impl Kind {
    pub fn name(self) -> &'static str {
        use Kind::*;
        match self {
            EntriesZero => "ENTRIES_ZERO",
            EntriesNotPowerOfTwo => "ENTRIES_NOT_POWER_OF_TWO",
            EntriesTooLarge => "ENTRIES_TOO_LARGE",
            ParamsOutsideAccessibleAddressSpace => "PARAMS_OUTSIDE_ACCESSIBLE_ADDRESS_SPACE",
            ArgumentsInvalid => "ARGUMENTS_INVALID",
            ProcessFdQuotaExceeded => "PROCESS_FD_QUOTA_EXCEEDED",
            SystemFdQuotaExceeded => "SYSTEM_FD_QUOTA_EXCEEDED",
            SystemResources => "SYSTEM_RESOURCES",
            PermissionDenied => "PERMISSION_DENIED",
            SystemOutdated => "SYSTEM_OUTDATED",
            SubmissionQueueFull => "SUBMISSION_QUEUE_FULL",
            FileDescriptorInvalid => "FILE_DESCRIPTOR_INVALID",
            CompletionQueueOvercommitted => "COMPLETION_QUEUE_OVERCOMMITTED",
            SubmissionQueueEntryInvalid => "SUBMISSION_QUEUE_ENTRY_INVALID",
            BufferInvalid => "BUFFER_INVALID",
            RingShuttingDown => "RING_SHUTTING_DOWN",
            OpcodeNotSupported => "OPCODE_NOT_SUPPORTED",
            SignalInterrupt => "SIGNAL_INTERRUPT",
            Unexpected => "UNEXPECTED",
        }
    }

    /// The kind for an `io_uring_setup(2)` errno.
    pub fn from_setup_errno(errno: i32) -> Kind {
        match errno {
            libc::EFAULT => Kind::ParamsOutsideAccessibleAddressSpace,
            libc::EINVAL => Kind::ArgumentsInvalid,
            libc::EMFILE => Kind::ProcessFdQuotaExceeded,
            libc::ENFILE => Kind::SystemFdQuotaExceeded,
            libc::ENOMEM => Kind::SystemResources,
            libc::EPERM => Kind::PermissionDenied,
            libc::ENOSYS => Kind::SystemOutdated,
            _ => Kind::Unexpected,
        }
    }

    /// The kind for an `io_uring_enter(2)` errno (EBUSY included).
    pub fn from_enter_errno(errno: i32) -> Kind {
        match errno {
            libc::EAGAIN => Kind::SystemResources,
            libc::EBADF => Kind::FileDescriptorInvalid,
            libc::EBUSY => Kind::CompletionQueueOvercommitted,
            libc::EINVAL => Kind::SubmissionQueueEntryInvalid,
            libc::EFAULT => Kind::BufferInvalid,
            libc::ENXIO => Kind::RingShuttingDown,
            libc::EOPNOTSUPP => Kind::OpcodeNotSupported,
            libc::EINTR => Kind::SignalInterrupt,
            _ => Kind::Unexpected,
        }
    }
}

/// An error headed for Python as a `UringError`.
#[derive(Debug)]
pub struct UringErr {
    pub kind: Kind,
    pub errno: Option<i32>,
    pub msg: String,
}

impl UringErr {
    pub fn new(kind: Kind, msg: impl Into<String>) -> Self {
        UringErr {
            kind,
            errno: None,
            msg: msg.into(),
        }
    }

    pub fn errno(kind: Kind, errno: i32, msg: impl Into<String>) -> Self {
        UringErr {
            kind,
            errno: Some(errno),
            msg: msg.into(),
        }
    }

    /// An `io_uring_enter` failure, with what the caller should do about it.
    pub fn enter(errno: i32) -> Self {
        if errno == crate::engine::ring::RELAY_ENTER {
            return UringErr::errno(
                Kind::Unexpected,
                errno,
                "this ring relays its ops through a uring_rs.Loop's ring (uring_rs.aio on a \
                 Loop): the loop submits them and delivers their completions on each \
                 iteration, so it is never entered directly; await the AioRing's methods instead"
                    .to_string(),
            );
        }
        let kind = Kind::from_enter_errno(errno);
        let advice = match kind {
            Kind::CompletionQueueOvercommitted => {
                "the completion queue is full: consume completions (copy_cqes) and submit again"
            }
            Kind::SystemResources => "the kernel is short of resources: retry later",
            Kind::FileDescriptorInvalid => {
                "bad ring fd, or IOSQE_FIXED_FILE used without registered files"
            }
            Kind::SubmissionQueueEntryInvalid => "an SQE or the enter arguments are invalid",
            Kind::BufferInvalid => "a buffer is outside the address space or not registered",
            Kind::RingShuttingDown => "the ring is shutting down",
            Kind::OpcodeNotSupported => "this kernel does not support an opcode or flag used",
            Kind::SignalInterrupt => "interrupted by a signal before any work was done",
            _ => "io_uring_enter failed",
        };
        UringErr::errno(
            kind,
            errno,
            format!("io_uring_enter: {advice} ({})", strerror(errno)),
        )
    }
}

pub fn strerror(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS_MODULE
        .get_or_try_init(
            py,
            || Ok(PyModule::import(py, "uring_rs._errors")?.unbind()),
        )
        .map(|m| m.bind(py))
}

impl From<UringErr> for PyErr {
    fn from(e: UringErr) -> PyErr {
        Python::attach(|py| {
            let built = errors_module(py)
                .and_then(|m| m.getattr("_make"))
                .and_then(|make| make.call1((e.kind.name(), e.errno, e.msg.as_str())));
            match built {
                Ok(exc) => PyErr::from_value(exc),
                // The Python half is missing (a broken install): still say
                // what went wrong rather than masking it.
                Err(import_err) => {
                    let err = PyOSError::new_err(format!("{}: {}", e.kind.name(), e.msg));
                    err.set_cause(py, Some(import_err));
                    err
                }
            }
        })
    }
}

/// The `ValueError` every method of a closed ring raises, as a closed file does.
/// A chain with `IOSQE_CQE_SKIP_SUCCESS` the ring cannot follow: a
/// `ValueError` saying what is wrong and what to do.
pub fn chain_error(e: crate::engine::ChainError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

pub fn closed_ring() -> PyErr {
    PyValueError::new_err("I/O operation on closed ring")
}

/// The `OSError` (its errno's subclass) for a negative CQE result.
pub fn os_error(errno: i32) -> PyErr {
    PyOSError::new_err((errno, strerror_short(errno)))
}

/// The message `os.strerror` gives, without Rust's " (os error N)" suffix.
pub fn strerror_short(errno: i32) -> String {
    // SAFETY: strerror returns a pointer to a NUL-terminated static or
    // thread-local string that we copy at once.
    let s = unsafe { std::ffi::CStr::from_ptr(libc::strerror(errno)) };
    s.to_string_lossy().into_owned()
}

/// A failed `io_uring_register`, with the errno's meaning.
pub fn register_error(what: &str, errno: i32) -> UringErr {
    let kind = match errno {
        libc::EBADF => Kind::FileDescriptorInvalid,
        libc::EINVAL => Kind::ArgumentsInvalid,
        libc::EBUSY => Kind::ArgumentsInvalid,
        libc::ENOMEM => Kind::SystemResources,
        libc::EFAULT => Kind::BufferInvalid,
        libc::EMFILE => Kind::ProcessFdQuotaExceeded,
        libc::ENFILE => Kind::SystemFdQuotaExceeded,
        libc::EPERM | libc::EACCES => Kind::PermissionDenied,
        libc::EOPNOTSUPP => Kind::OpcodeNotSupported,
        libc::EINTR => Kind::SignalInterrupt,
        _ => Kind::Unexpected,
    };
    let hint = match errno {
        libc::EBUSY => ": already registered (unregister first)",
        libc::ENXIO => ": nothing is registered",
        libc::EINVAL => ": the kernel refused the arguments (or does not know this registration)",
        _ => "",
    };
    UringErr::errno(
        kind,
        errno,
        format!("{what} failed{hint}: {}", crate::py::error::strerror(errno)),
    )
}
