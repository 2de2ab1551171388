//! `Cqe`, a completion as Python sees it, and `Probe`, the kernel's opcode
//! support. Plain values: neither holds a ring.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::engine::sys;
use crate::engine::Completion;
use crate::py::args;
use crate::py::error::os_error;

/// A completion: `user_data`, `res`, `flags`.
#[pyclass(frozen, freelist = 1024, module = "uring_rs", name = "Cqe")]
pub struct Cqe {
    /// The `user_data` of the op that posted this completion.
    #[pyo3(get)]
    pub user_data: u64,
    /// The result: what the syscall would return, or `-errno`.
    #[pyo3(get)]
    pub res: i32,
    /// `IORING_CQE_F_*` bits (`MORE`, `BUFFER` with the buffer id above
    /// `IORING_CQE_BUFFER_SHIFT`, `NOTIF`, `SOCK_NONEMPTY`).
    #[pyo3(get)]
    pub flags: u32,
    /// Set on a consumed completion that carries a provided buffer, until
    /// `BufferRing.get` claims it: each buffer the kernel hands out can be
    /// claimed once, and never from a Cqe made by hand or by `peek_cqes`.
    buffer_claimable: AtomicBool,
    /// The ring that consumed this completion (0: none, or made by hand).
    ring_id: u64,
    /// The provided-buffer group the completion's op selected from.
    buf_group: Option<u16>,
}

impl Cqe {
    /// A Cqe for a reaped completion; `consumed_by` is the ring that
    /// consumed it (None for `peek_cqes`, which consumes nothing).
    pub fn reaped(c: Completion, consumed_by: Option<u64>) -> Cqe {
        let claimable = consumed_by.is_some()
            && c.buf_group.is_some()
            && c.flags & sys::IORING_CQE_F_BUFFER != 0;
        Cqe {
            user_data: c.user_data,
            res: c.res,
            flags: c.flags,
            buffer_claimable: AtomicBool::new(claimable),
            ring_id: consumed_by.unwrap_or(0),
            buf_group: c.buf_group,
        }
    }

    /// Takes the right to claim this completion's provided buffer, for a
    /// buffer ring of group `group_id` on ring `ring_id`: refused (without
    /// taking it) when the completion is from another ring or group, made by
    /// hand, peeked, foreign (a msg_ring post) or already claimed.
    pub fn claim_buffer(&self, ring_id: u64, group_id: u16) -> Result<(), &'static str> {
        if self.ring_id == 0 {
            return Err(
                "this completion cannot hand out a buffer: it was built by hand, read with \
                 peek_cqes, or posted by msg_ring rather than produced by an op",
            );
        }
        if self.ring_id != ring_id {
            return Err("this completion came from another Ring");
        }
        match self.buf_group {
            None => {
                return Err(
                    "this completion's op did not select a provided buffer (or it was posted by \
                     msg_ring)",
                )
            }
            Some(g) if g != group_id => {
                return Err("this completion's buffer belongs to another buffer group")
            }
            Some(_) => {}
        }
        if self.buffer_claimable.swap(false, Ordering::Relaxed) {
            Ok(())
        } else {
            Err("this completion's buffer was already taken")
        }
    }
}

#[pymethods]
impl Cqe {
    #[new]
    fn new(
        #[pyo3(from_py_with = args::user_data)] user_data: u64,
        #[pyo3(from_py_with = args::res)] res: i32,
        #[pyo3(from_py_with = crate::py::named::flags_u32)] flags: u32,
    ) -> Self {
        Cqe::reaped(
            Completion {
                user_data,
                res,
                flags,
                buf_group: None,
                makes_fd: false,
                own: false,
            },
            None,
        )
    }

    /// `res` when it is >= 0 (or this is a zero-copy notification, whose
    /// `res` is a usage report); otherwise raises the `OSError` subclass for
    /// its errno, as `os` functions do.
    fn result(&self) -> PyResult<i32> {
        // A zero-copy notification's res is a report (bit 31 set for
        // IORING_NOTIF_USAGE_ZC_COPIED), not an errno.
        if self.res >= 0 || self.flags & sys::IORING_CQE_F_NOTIF != 0 {
            Ok(self.res)
        } else {
            Err(os_error(-self.res))
        }
    }

    /// `IORING_CQE_F_MORE`: more completions will follow for this op.
    #[getter]
    fn more(&self) -> bool {
        self.flags & sys::IORING_CQE_F_MORE != 0
    }

    /// The provided buffer's id, when `IORING_CQE_F_BUFFER` is set.
    #[getter]
    fn buffer_id(&self) -> Option<u16> {
        (self.flags & sys::IORING_CQE_F_BUFFER != 0)
            .then_some((self.flags >> sys::IORING_CQE_BUFFER_SHIFT) as u16)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = PyTuple::new(
            py,
            [self.user_data as i128, self.res as i128, self.flags as i128],
        )?;
        Ok(t.try_iter()?.into_any())
    }

    fn __len__(&self) -> usize {
        3
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Cqe>() {
            Ok(o) => {
                let o = o.get();
                (o.user_data, o.res, o.flags) == (self.user_data, self.res, self.flags)
            }
            Err(_) => false,
        }
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.user_data, self.res, self.flags).hash(&mut h);
        h.finish() >> 1
    }

    fn __repr__(&self) -> String {
        format!(
            "Cqe(user_data={}, res={}, flags={:#x})",
            self.user_data, self.res, self.flags
        )
    }
}

/// The kernel's answer to `IORING_REGISTER_PROBE`.
#[pyclass(frozen, module = "uring_rs", name = "Probe")]
pub struct Probe {
    /// The highest opcode the kernel knows.
    #[pyo3(get)]
    pub(crate) last_op: u8,
    pub(crate) supported: Vec<bool>,
}

#[pymethods]
impl Probe {
    /// Whether the kernel supports `opcode` (an `IORING_OP_*`); False for any
    /// int outside 0..255.
    fn supports(&self, opcode: i64) -> bool {
        usize::try_from(opcode)
            .ok()
            .and_then(|i| self.supported.get(i).copied())
            .unwrap_or(false)
    }

    fn __contains__(&self, opcode: i64) -> bool {
        self.supports(opcode)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.opcodes())?.try_iter()?.into_any())
    }

    fn __len__(&self) -> usize {
        self.opcodes().len()
    }

    /// Kernel names (without `IORING_OP_`) of the supported opcodes.
    fn names(&self) -> Vec<String> {
        self.opcodes()
            .into_iter()
            .map(|op| match sys::OPCODE_NAMES.get(op as usize) {
                Some(n) => n.to_string(),
                None => format!("OP_{op}"),
            })
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<uring_rs.Probe last_op={} supported={}>",
            self.last_op,
            self.opcodes().len()
        )
    }
}

impl Probe {
    fn opcodes(&self) -> Vec<u8> {
        (0..=255u8)
            .filter(|&i| self.supported[i as usize])
            .collect()
    }
}
