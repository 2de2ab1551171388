//! Op preparation: one short function per op, all of one shape, as
//! liburing's `io_uring_prep_*`:
//!
//! 1. convert and check the arguments (nothing is queued if that fails);
//! 2. pin what the kernel will touch into a [`Keep`] (buffers) or the slot's
//!    scratch memory (timespecs, paths, addresses);
//! 3. `Ring::queue` with a closure that fills the SQE.
//!
//! Each returns the `Sqe` handle, so flags can be set before submitting.

use pyo3::prelude::*;

use crate::engine::slots::Slot;
use crate::engine::sys::{self, KernelTimespec};
use crate::py::addr;
use crate::py::args;
use crate::py::keep::{Keep, MessageLink, OnDone, PinnedBuf};
use crate::py::ring::Ring;
use crate::py::sqe::{queue, Sqe};

type R = PyResult<Py<Sqe>>;

/// liburing's `io_uring_prep_rw`: the fields most ops share.
pub(crate) fn prep_rw(sqe: &mut sys::Sqe, fd: i32, addr: u64, len: u32, off: u64) {
    sqe.fd = fd;
    sqe.addr = addr;
    sqe.len = len;
    sqe.off = off;
}

/// The kernel takes u32 lengths; a longer buffer is capped (the kernel caps
/// a single read or write at 2 GiB anyway).
pub(crate) fn len32(len: usize) -> u32 {
    len.min(u32::MAX as usize) as u32
}

/// Copies `value` into the slot's scratch memory; returns its address.
fn stash<T: Copy>(slot: &mut Slot<Keep>, value: T) -> u64 {
    let p = slot.scratch(std::mem::size_of::<T>()).cast::<T>();
    // SAFETY: scratch returned at least size_of::<T>() bytes, 8-aligned
    // (enough for every T stashed here), owned by the slot until its final
    // completion is consumed.
    unsafe { p.write(value) };
    p as u64
}

/// Copies bytes into the slot's scratch memory; returns their address.
fn stash_bytes(slot: &mut Slot<Keep>, bytes: &[u8]) -> u64 {
    let p = slot.scratch(bytes.len());
    // SAFETY: scratch returned bytes.len() writable bytes; the regions
    // cannot overlap (one is ours, fresh).
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
    p as u64
}

/// The single in-flight target of a cancel-like op, by the caller's
/// user_data (a token naming no op if none, so the kernel answers -ENOENT),
/// and whether one was found.
fn target(ring: &Bound<'_, Ring>, user_data: u64, opcodes: &[u8]) -> PyResult<(u64, bool)> {
    match ring.get().find_targets(user_data, opcodes)?.first() {
        Some(&t) => Ok((t, true)),
        None => Ok((ring.get().no_target()?, false)),
    }
}

/// The ops on one caller buffer (read, write, recv, send): pin `buf`
/// (`writable` when the kernel writes into it) for the op's lifetime.
#[allow(clippy::too_many_arguments)]
fn prep_buf(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    fd: i32,
    buf: &Bound<'_, PyAny>,
    writable: bool,
    off: u64,
    op_flags: u32,
) -> R {
    let b = PinnedBuf::get(buf, writable, "buf")?;
    let (addr, len) = (b.ptr() as u64, len32(b.len()));
    queue(ring, user_data, opcode, Keep::buf(b), |sqe, _| {
        prep_rw(sqe, fd, addr, len, off);
        sqe.op_flags = op_flags;
    })
}

#[pyfunction]
pub fn nop(ring: &Bound<'_, Ring>, #[pyo3(from_py_with = args::user_data)] user_data: u64) -> R {
    queue(
        ring,
        user_data,
        sys::IORING_OP_NOP,
        Keep::default(),
        |sqe, _| {
            sqe.fd = -1;
        },
    )
}

#[pyfunction]
pub fn read(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = args::offset_arg)] offset: i64,
) -> R {
    let fd = args::fd(fd, "fd")?;
    let off = args::offset(offset)?;
    prep_buf(ring, user_data, sys::IORING_OP_READ, fd, buf, true, off, 0)
}

#[pyfunction]
pub fn write(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = args::offset_arg)] offset: i64,
) -> R {
    let fd = args::fd(fd, "fd")?;
    let off = args::offset(offset)?;
    prep_buf(
        ring,
        user_data,
        sys::IORING_OP_WRITE,
        fd,
        buf,
        false,
        off,
        0,
    )
}

#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, flags = 0))]
pub fn fsync(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let fd = args::fd(fd, "fd")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_FSYNC,
        Keep::default(),
        |sqe, _| {
            prep_rw(sqe, fd, 0, 0, 0);
            sqe.op_flags = flags;
        },
    )
}

/// accept4(2). `SOCK_CLOEXEC` is always added: like every fd Python makes
/// (PEP 446), the new socket is not inherited by child processes.
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, flags = 0))]
pub fn accept(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    prep_accept(ring, user_data, sockfd, flags, 0)
}

/// accept and accept_multishot: `ioprio` carries the IORING_ACCEPT_* flags.
fn prep_accept(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    flags: i64,
    ioprio: u16,
) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")? | libc::SOCK_CLOEXEC as u32;
    queue(
        ring,
        user_data,
        sys::IORING_OP_ACCEPT,
        Keep::default(),
        |sqe, _| {
            prep_rw(sqe, fd, 0, 0, 0);
            sqe.op_flags = flags;
            sqe.ioprio = ioprio;
        },
    )
}

#[pyfunction]
pub fn connect(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    address: &Bound<'_, PyAny>,
) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let sa = addr::sockaddr(fd, address)?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_CONNECT,
        Keep::default(),
        |sqe, slot| {
            let p = stash(slot, sa.storage);
            prep_rw(sqe, fd, p, 0, sa.len as u64);
        },
    )
}

#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buf, flags = 0))]
pub fn recv(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")?;
    prep_buf(
        ring,
        user_data,
        sys::IORING_OP_RECV,
        fd,
        buf,
        true,
        0,
        flags,
    )
}

#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buf, flags = 0))]
pub fn send(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")?;
    prep_buf(
        ring,
        user_data,
        sys::IORING_OP_SEND,
        fd,
        buf,
        false,
        0,
        flags,
    )
}

/// openat(2), arguments in `os.open`'s order. `O_CLOEXEC` is always added,
/// as `os.open` does (PEP 446).
#[pyfunction]
#[pyo3(signature = (ring, user_data, dirfd, path, flags = 0, mode = 0o644))]
pub fn openat(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    dirfd: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
    #[pyo3(from_py_with = crate::py::named::mode_i64)] mode: i64,
) -> R {
    let dirfd = args::fd(dirfd, "dirfd")?;
    let path = args::path(path, "path")?;
    let flags = args::flags32(flags, "flags")? | libc::O_CLOEXEC as u32;
    let mode = args::flags32(mode, "mode")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_OPENAT,
        Keep::default(),
        |sqe, slot| {
            let p = stash_bytes(slot, path.as_bytes_with_nul());
            prep_rw(sqe, dirfd, p, mode, 0);
            sqe.op_flags = flags;
        },
    )
}

#[pyfunction]
pub fn close(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
) -> R {
    let fd = args::fd(fd, "fd")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_CLOSE,
        Keep::default(),
        |sqe, _| {
            prep_rw(sqe, fd, 0, 0, 0);
        },
    )
}

/// A timeout: completes with -ETIME after `seconds`, or with 0 once `count`
/// other completions have been posted (when `count > 0`).
#[pyfunction]
#[pyo3(signature = (ring, user_data, seconds, count = 0, flags = 0))]
pub fn timeout(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    seconds: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::count_i64)] count: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ts = args::seconds(seconds)?;
    let count = args::count32(count, "count")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_TIMEOUT,
        Keep::default(),
        |sqe, slot| {
            let p = stash::<KernelTimespec>(slot, ts);
            prep_rw(sqe, -1, p, 1, count as u64);
            sqe.op_flags = flags;
        },
    )
}

/// Removes the in-flight timeout queued with `timeout_user_data`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, timeout_user_data, flags = 0))]
pub fn timeout_remove(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::timeout_user_data_u64)] timeout_user_data: u64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let flags = args::flags32(flags, "flags")?;
    let (target, _) = target(ring, timeout_user_data, &[sys::IORING_OP_TIMEOUT])?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_TIMEOUT_REMOVE,
        Keep::default(),
        |sqe, _| {
            prep_rw(sqe, -1, target, 0, 0);
            sqe.op_flags = flags;
        },
    )
}

/// A timeout for the previous SQE, which must carry `IOSQE_IO_LINK`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, seconds, flags = 0))]
pub fn link_timeout(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    seconds: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ts = args::seconds(seconds)?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_LINK_TIMEOUT,
        Keep::default(),
        |sqe, slot| {
            let p = stash::<KernelTimespec>(slot, ts);
            prep_rw(sqe, -1, p, 1, 0);
            sqe.op_flags = flags;
        },
    )
}

/// Waits for `events` (`select.POLLIN`, ...) on `fd`; `flags` may hold
/// `IORING_POLL_ADD_MULTI` for a completion per readiness change.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, events, flags = 0))]
pub fn poll_add(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::events_i64)] events: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let fd = args::fd(fd, "fd")?;
    let events = args::flags32(events, "events")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_POLL_ADD,
        Keep::default(),
        |sqe, _| {
            prep_rw(sqe, fd, 0, flags, 0);
            // poll32_events is stored in the kernel's byte order: as is on
            // little-endian, half-word swapped on big-endian (liburing's
            // __swahw32).
            sqe.op_flags = if cfg!(target_endian = "big") {
                events.rotate_left(16)
            } else {
                events
            };
        },
    )
}

/// Removes the in-flight poll queued with `target_user_data` (the kernel's
/// meaning; the seed took an fd and events instead).
#[pyfunction]
pub fn poll_remove(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::target_user_data_u64)] target_user_data: u64,
) -> R {
    let (target, _) = target(ring, target_user_data, &[sys::IORING_OP_POLL_ADD])?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_POLL_REMOVE,
        Keep::default(),
        |sqe, _| {
            prep_rw(sqe, -1, target, 0, 0);
        },
    )
}

/// Cancels in-flight ops (`IORING_OP_ASYNC_CANCEL`). By default the target
/// is the op queued with `target_user_data`; `flags` takes
/// `IORING_ASYNC_CANCEL_ALL` (every op with that user_data), `_ANY` (every
/// op) or `_FD`/`_FD_FIXED` (use `cancel_fd`). The result is >= 0 when
/// found and cancelled (with ALL, the number cancelled; some ops, futex
/// waits for one, count themselves), -ENOENT or -EALREADY.
///
/// user_data may repeat: with ALL and several ops sharing
/// `target_user_data`, one cancel SQE is queued per op (all carrying
/// `user_data`), each with its own completion; the last `Sqe` is returned.
/// When they outnumber the free SQ entries, what is queued is submitted to
/// make room (the cancels then reach the kernel in several submits).
#[pyfunction]
#[pyo3(signature = (ring, user_data, target_user_data, flags = 0))]
pub fn cancel(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::target_user_data_u64)] target_user_data: u64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let flags = args::flags32(flags, "flags")?;
    if flags & (sys::IORING_ASYNC_CANCEL_FD | sys::IORING_ASYNC_CANCEL_FD_FIXED) != 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "cancel by fd is ops.cancel_fd(ring, user_data, fd, flags)",
        ));
    }
    if flags & sys::IORING_ASYNC_CANCEL_ANY != 0 {
        return queue(
            ring,
            user_data,
            sys::IORING_OP_ASYNC_CANCEL,
            Keep::default(),
            |sqe, _| {
                prep_rw(sqe, -1, 0, 0, 0);
                sqe.op_flags = flags;
            },
        );
    }
    let targets = ring.get().find_targets(target_user_data, &[])?;
    let targets = if targets.is_empty() {
        vec![ring.get().no_target()?]
    } else {
        targets
    };
    let targets = if flags & sys::IORING_ASYNC_CANCEL_ALL != 0 {
        targets
    } else {
        targets[..1].to_vec()
    };
    if targets.len() == 1 {
        ring.get().require_space(1, "cancel")?;
    }
    let mut last = None;
    for t in targets {
        // Several cancels: submit what is queued whenever the SQ is full.
        ring.get().make_room(ring.py())?;
        last = Some(queue(
            ring,
            user_data,
            sys::IORING_OP_ASYNC_CANCEL,
            Keep::default(),
            |sqe, _| {
                prep_rw(sqe, -1, t, 0, 0);
                sqe.op_flags = flags;
            },
        )?);
    }
    Ok(last.expect("at least one target"))
}

/// Cancels in-flight ops on `fd` (`IORING_ASYNC_CANCEL_FD`, plus any of
/// `IORING_ASYNC_CANCEL_ALL` / `_FD_FIXED` in `flags`).
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, flags = 0))]
pub fn cancel_fd(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let fd = args::fd(fd, "fd")?;
    let flags = args::flags32(flags, "flags")? | sys::IORING_ASYNC_CANCEL_FD;
    queue(
        ring,
        user_data,
        sys::IORING_OP_ASYNC_CANCEL,
        Keep::default(),
        |sqe, _| {
            prep_rw(sqe, fd, 0, 0, 0);
            sqe.op_flags = flags;
        },
    )
}

/// A read into registered buffer `buf_index` (see `Ring.register_buffers`),
/// `nbytes` (default: the rest of the buffer) at `buf_offset` within it.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, buf_index, offset, nbytes = None, buf_offset = 0))]
pub fn read_fixed(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = args::buf_index)] buf_index: u16,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::nbytes_opt_usize)] nbytes: Option<usize>,
    #[pyo3(from_py_with = crate::py::named::buf_offset_usize)] buf_offset: usize,
) -> R {
    rw_fixed(
        ring,
        user_data,
        sys::IORING_OP_READ_FIXED,
        fd,
        buf_index,
        offset,
        nbytes,
        buf_offset,
    )
}

/// A write from registered buffer `buf_index`; see `read_fixed`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, buf_index, offset, nbytes = None, buf_offset = 0))]
pub fn write_fixed(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = args::buf_index)] buf_index: u16,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::nbytes_opt_usize)] nbytes: Option<usize>,
    #[pyo3(from_py_with = crate::py::named::buf_offset_usize)] buf_offset: usize,
) -> R {
    rw_fixed(
        ring,
        user_data,
        sys::IORING_OP_WRITE_FIXED,
        fd,
        buf_index,
        offset,
        nbytes,
        buf_offset,
    )
}

#[allow(clippy::too_many_arguments)]
fn rw_fixed(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    fd: &Bound<'_, PyAny>,
    buf_index: u16,
    offset: i64,
    nbytes: Option<usize>,
    buf_offset: usize,
) -> R {
    let fd = args::fd(fd, "fd")?;
    let off = args::offset(offset)?;
    let (obj, base, len) =
        crate::py::register::registered_buffer(ring.get(), ring.py(), buf_index)?;
    let nbytes = nbytes.unwrap_or(len.saturating_sub(buf_offset));
    if buf_offset.checked_add(nbytes).is_none_or(|end| end > len) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "buf_offset {buf_offset} + nbytes {nbytes} is past the end of registered buffer \
             {buf_index} ({len} bytes)"
        )));
    }
    // Pin the object for this op too, so unregistering the buffers while the
    // op is in flight cannot free its memory.
    let pin = PinnedBuf::get(
        obj.bind(ring.py()),
        opcode == sys::IORING_OP_READ_FIXED,
        "buf_index",
    )?;
    if pin.ptr() as u64 != base {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "registered buffer moved (it was re-registered concurrently): try again",
        ));
    }
    queue(ring, user_data, opcode, Keep::buf(pin), |sqe, _| {
        prep_rw(sqe, fd, base + buf_offset as u64, len32(nbytes), off);
        sqe.buf_index = buf_index;
    })
}

/// Multishot accept (Linux 5.19): one completion per accepted connection
/// (its fd in `res`) while `IORING_CQE_F_MORE` is set. `SOCK_CLOEXEC` is
/// added as for `accept`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, flags = 0))]
pub fn accept_multishot(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    prep_accept(ring, user_data, sockfd, flags, sys::IORING_ACCEPT_MULTISHOT)
}

/// Multishot recv (Linux 6.0): each completion carries a buffer picked from
/// provided-buffer group `buf_group` (`Cqe.buffer_id`); ends with a
/// completion without `IORING_CQE_F_MORE` (EOF, error, or -ENOBUFS when the
/// group ran dry: release buffers and queue it again).
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buf_group, flags = 0))]
pub fn recv_multishot(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::buf_group_u16)] buf_group: u16,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_RECV,
        Keep::default(),
        |sqe, _| {
            prep_rw(sqe, fd, 0, 0, 0);
            sqe.op_flags = flags;
            sqe.ioprio = sys::IORING_RECV_MULTISHOT;
            sqe.flags = sys::IOSQE_BUFFER_SELECT;
            sqe.buf_index = buf_group;
        },
    )
}

/// Hands `count` buffers of `size` bytes, carved from `buf`, to the kernel
/// as group `group_id` with ids from `start_id` (the pre-5.19 way; prefer
/// `BufferRing`). `buf` stays pinned until the ring is closed.
#[pyfunction]
#[pyo3(signature = (ring, user_data, buf, size, count, group_id, start_id = 0))]
#[allow(clippy::too_many_arguments)]
pub fn provide_buffers(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::size_u32)] size: u32,
    #[pyo3(from_py_with = args::count)] count: u32,
    #[pyo3(from_py_with = args::group_id)] group_id: u16,
    #[pyo3(from_py_with = crate::py::named::start_id_u16)] start_id: u16,
) -> R {
    let pin = PinnedBuf::get(buf, true, "buf")?;
    if (size as usize)
        .checked_mul(count as usize)
        .is_none_or(|need| need > pin.len())
        || size == 0
        || count == 0
    {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "buf has {} bytes: not enough for count={count} buffers of size={size} (both >= 1)",
            pin.len()
        )));
    }
    let addr = pin.ptr() as u64;
    ring.get().require_space(1, "provide_buffers")?;
    // The kernel keeps these addresses until the buffers are used or removed,
    // which no single completion tells: the ring keeps the pin until close.
    ring.get()
        .with_held(|_, _, held| held.until_close.push(Keep::buf(pin)))?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_PROVIDE_BUFFERS,
        Keep::default(),
        |sqe, _| {
            prep_rw(sqe, count as i32, addr, size, start_id as u64);
            sqe.buf_index = group_id;
        },
    )
}

/// Removes up to `count` buffers of group `group_id`.
#[pyfunction]
pub fn remove_buffers(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = args::count)] count: u32,
    #[pyo3(from_py_with = args::group_id)] group_id: u16,
) -> R {
    queue(
        ring,
        user_data,
        sys::IORING_OP_REMOVE_BUFFERS,
        Keep::default(),
        |sqe, _| {
            prep_rw(sqe, count as i32, 0, 0, 0);
            sqe.buf_index = group_id;
        },
    )
}

/// Updates the in-flight poll queued with `old_user_data`: its events (with
/// `IORING_POLL_UPDATE_EVENTS`) and/or its user_data (with
/// `IORING_POLL_UPDATE_USER_DATA`; later completions carry
/// `new_user_data`). `flags` may add `IORING_POLL_ADD_MULTI`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, old_user_data, new_user_data, events, flags))]
pub fn poll_update(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::old_user_data_u64)] old_user_data: u64,
    #[pyo3(from_py_with = crate::py::named::new_user_data_u64)] new_user_data: u64,
    #[pyo3(from_py_with = crate::py::named::events_i64)] events: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let events = args::flags32(events, "events")?;
    let flags = args::flags32(flags, "flags")?;
    let (target, found) = target(ring, old_user_data, &[sys::IORING_OP_POLL_ADD])?;
    ring.get().require_space(1, "poll_update")?;
    // The kernel would swap in a raw value: hand it the same token, and
    // change the user_data the token stands for when (and only if) the
    // update's own completion reports success.
    let retarget = flags & sys::IORING_POLL_UPDATE_USER_DATA != 0 && found;
    // The kernel refuses a non-zero new user_data without UPDATE_USER_DATA.
    let new_token = if flags & sys::IORING_POLL_UPDATE_USER_DATA != 0 {
        target
    } else {
        0
    };
    queue(
        ring,
        user_data,
        sys::IORING_OP_POLL_REMOVE,
        Keep::default(),
        |sqe, slot| {
            if retarget {
                slot.on_done = OnDone::Retarget {
                    target,
                    user_data: new_user_data,
                };
            }
            prep_rw(sqe, -1, target, flags, new_token);
            // Events count only with UPDATE_EVENTS; the kernel refuses them
            // otherwise.
            if flags & sys::IORING_POLL_UPDATE_EVENTS != 0 {
                sqe.op_flags = if cfg!(target_endian = "big") {
                    events.rotate_left(16)
                } else {
                    events
                };
            }
        },
    )
}

/// Changes the expiry of the in-flight timeout queued with
/// `timeout_user_data` (IORING_TIMEOUT_UPDATE, Linux 5.11).
#[pyfunction]
#[pyo3(signature = (ring, user_data, timeout_user_data, seconds, flags = 0))]
pub fn timeout_update(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::timeout_user_data_u64)] timeout_user_data: u64,
    seconds: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ts = args::seconds(seconds)?;
    let flags = args::flags32(flags, "flags")? | sys::IORING_TIMEOUT_UPDATE;
    let (target, _) = target(ring, timeout_user_data, &[sys::IORING_OP_TIMEOUT])?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_TIMEOUT_REMOVE,
        Keep::default(),
        |sqe, slot| {
            let p = stash::<KernelTimespec>(slot, ts);
            prep_rw(sqe, -1, target, 0, p);
            sqe.op_flags = flags;
        },
    )
}

/// Posts a completion with `res` and `target_user_data` on another ring
/// (`target`: a `Ring`, or a ring fd), IORING_OP_MSG_RING (Linux 5.18).
#[pyfunction]
#[pyo3(signature = (ring, user_data, target, res, target_user_data, flags = 0))]
pub fn msg_ring(
    ring: &Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    target: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::res_i32)] res: i32,
    #[pyo3(from_py_with = crate::py::named::target_user_data_u64)] target_user_data: u64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let flags = args::flags32(flags, "flags")?;
    ring.get().require_space(1, "msg_ring")?;
    let (fd, posted, keep) = match target.cast::<Ring>() {
        // A uring_rs ring reads user_data as a token: give the message a
        // slot there, released when its completion is consumed there, or
        // when this op fails or is never submitted (then no post happens).
        Ok(t) => {
            let fd = t.get().fd_checked()?;
            let token = t.get().message_token(target_user_data)?;
            let target_ring = t.clone().unbind();
            let link = MessageLink {
                undelivered: Box::new(move || {
                    Python::attach(|py| target_ring.bind(py).get().release_message(token))
                }),
                delivered: false,
            };
            (
                fd,
                token,
                Keep {
                    msg: Some(link),
                    ..Default::default()
                },
            )
        }
        Err(_) => (
            args::fd(target, "target")?,
            target_user_data,
            Keep::default(),
        ),
    };
    queue(ring, user_data, sys::IORING_OP_MSG_RING, keep, |sqe, _| {
        prep_rw(sqe, fd, 0, res as u32, posted);
        sqe.op_flags = flags;
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_fixed, m)?)?;
    m.add_function(wrap_pyfunction!(write_fixed, m)?)?;
    m.add_function(wrap_pyfunction!(accept_multishot, m)?)?;
    m.add_function(wrap_pyfunction!(recv_multishot, m)?)?;
    m.add_function(wrap_pyfunction!(provide_buffers, m)?)?;
    m.add_function(wrap_pyfunction!(remove_buffers, m)?)?;
    m.add_function(wrap_pyfunction!(poll_update, m)?)?;
    m.add_function(wrap_pyfunction!(timeout_update, m)?)?;
    m.add_function(wrap_pyfunction!(msg_ring, m)?)?;
    m.add_function(wrap_pyfunction!(cancel, m)?)?;
    m.add_function(wrap_pyfunction!(cancel_fd, m)?)?;
    m.add_function(wrap_pyfunction!(nop, m)?)?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(write, m)?)?;
    m.add_function(wrap_pyfunction!(fsync, m)?)?;
    m.add_function(wrap_pyfunction!(accept, m)?)?;
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    m.add_function(wrap_pyfunction!(recv, m)?)?;
    m.add_function(wrap_pyfunction!(send, m)?)?;
    m.add_function(wrap_pyfunction!(openat, m)?)?;
    m.add_function(wrap_pyfunction!(close, m)?)?;
    m.add_function(wrap_pyfunction!(timeout, m)?)?;
    m.add_function(wrap_pyfunction!(timeout_remove, m)?)?;
    m.add_function(wrap_pyfunction!(link_timeout, m)?)?;
    m.add_function(wrap_pyfunction!(poll_add, m)?)?;
    m.add_function(wrap_pyfunction!(poll_remove, m)?)?;
    Ok(())
}
