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

use crate::addr;
use crate::args;
use crate::keep::{Keep, PinnedBuf, Slot, NO_TARGET};
use crate::pyring::{Ring, Sqe};
use crate::sys::{self, KernelTimespec};

type R = PyResult<Py<Sqe>>;

/// liburing's `io_uring_prep_rw`: the fields most ops share.
fn prep_rw(sqe: &mut sys::Sqe, fd: i32, addr: u64, len: u32, off: u64) {
    sqe.fd = fd;
    sqe.addr = addr;
    sqe.len = len;
    sqe.off = off;
}

/// The kernel takes u32 lengths; a longer buffer is capped (the kernel caps
/// a single read or write at 2 GiB anyway).
fn len32(len: usize) -> u32 {
    len.min(u32::MAX as usize) as u32
}

/// Copies `value` into the slot's scratch memory; returns its address.
fn stash<T: Copy>(slot: &mut Slot, value: T) -> u64 {
    let p = slot.scratch(std::mem::size_of::<T>()).cast::<T>();
    // SAFETY: scratch returned at least size_of::<T>() bytes, 8-aligned
    // (enough for every T stashed here), owned by the slot until its final
    // completion is consumed.
    unsafe { p.write(value) };
    p as u64
}

/// Copies bytes into the slot's scratch memory; returns their address.
fn stash_bytes(slot: &mut Slot, bytes: &[u8]) -> u64 {
    let p = slot.scratch(bytes.len());
    // SAFETY: scratch returned bytes.len() writable bytes; the regions
    // cannot overlap (one is ours, fresh).
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
    p as u64
}

/// The single in-flight target of a cancel-like op, by the caller's
/// user_data (`NO_TARGET` if none, so the kernel answers -ENOENT).
fn target(ring: &Bound<'_, Ring>, user_data: u64, opcodes: &[u8]) -> PyResult<u64> {
    Ok(ring.get().find_targets(user_data, opcodes)?.first().copied().unwrap_or(NO_TARGET))
}

#[pyfunction]
pub fn nop(ring: &Bound<'_, Ring>, user_data: u64) -> R {
    Ring::queue(ring, user_data, sys::IORING_OP_NOP, Keep::default(), |sqe, _| {
        sqe.fd = -1;
    })
}

#[pyfunction]
pub fn read(ring: &Bound<'_, Ring>, user_data: u64, fd: &Bound<'_, PyAny>, buf: &Bound<'_, PyAny>, offset: i64) -> R {
    let fd = args::fd(fd, "fd")?;
    let off = args::offset(offset)?;
    let b = PinnedBuf::get(buf, true)?;
    let (addr, len) = (b.ptr() as u64, len32(b.len()));
    Ring::queue(ring, user_data, sys::IORING_OP_READ, Keep::buf(b), |sqe, _| {
        prep_rw(sqe, fd, addr, len, off);
    })
}

#[pyfunction]
pub fn write(ring: &Bound<'_, Ring>, user_data: u64, fd: &Bound<'_, PyAny>, buf: &Bound<'_, PyAny>, offset: i64) -> R {
    let fd = args::fd(fd, "fd")?;
    let off = args::offset(offset)?;
    let b = PinnedBuf::get(buf, false)?;
    let (addr, len) = (b.ptr() as u64, len32(b.len()));
    Ring::queue(ring, user_data, sys::IORING_OP_WRITE, Keep::buf(b), |sqe, _| {
        prep_rw(sqe, fd, addr, len, off);
    })
}

#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, flags = 0))]
pub fn fsync(ring: &Bound<'_, Ring>, user_data: u64, fd: &Bound<'_, PyAny>, flags: i64) -> R {
    let fd = args::fd(fd, "fd")?;
    let flags = args::flags32(flags, "flags")?;
    Ring::queue(ring, user_data, sys::IORING_OP_FSYNC, Keep::default(), |sqe, _| {
        prep_rw(sqe, fd, 0, 0, 0);
        sqe.op_flags = flags;
    })
}

/// accept4(2). `SOCK_CLOEXEC` is always added: like every fd Python makes
/// (PEP 446), the new socket is not inherited by child processes.
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, flags = 0))]
pub fn accept(ring: &Bound<'_, Ring>, user_data: u64, sockfd: &Bound<'_, PyAny>, flags: i64) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")? | libc::SOCK_CLOEXEC as u32;
    Ring::queue(ring, user_data, sys::IORING_OP_ACCEPT, Keep::default(), |sqe, _| {
        prep_rw(sqe, fd, 0, 0, 0);
        sqe.op_flags = flags;
    })
}

#[pyfunction]
pub fn connect(ring: &Bound<'_, Ring>, user_data: u64, sockfd: &Bound<'_, PyAny>, address: &Bound<'_, PyAny>) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let sa = addr::sockaddr(fd, address)?;
    Ring::queue(ring, user_data, sys::IORING_OP_CONNECT, Keep::default(), |sqe, slot| {
        let p = stash(slot, sa.storage);
        prep_rw(sqe, fd, p, 0, sa.len as u64);
    })
}

#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buf, flags = 0))]
pub fn recv(ring: &Bound<'_, Ring>, user_data: u64, sockfd: &Bound<'_, PyAny>, buf: &Bound<'_, PyAny>, flags: i64) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")?;
    let b = PinnedBuf::get(buf, true)?;
    let (addr, len) = (b.ptr() as u64, len32(b.len()));
    Ring::queue(ring, user_data, sys::IORING_OP_RECV, Keep::buf(b), |sqe, _| {
        prep_rw(sqe, fd, addr, len, 0);
        sqe.op_flags = flags;
    })
}

#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buf, flags = 0))]
pub fn send(ring: &Bound<'_, Ring>, user_data: u64, sockfd: &Bound<'_, PyAny>, buf: &Bound<'_, PyAny>, flags: i64) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")?;
    let b = PinnedBuf::get(buf, false)?;
    let (addr, len) = (b.ptr() as u64, len32(b.len()));
    Ring::queue(ring, user_data, sys::IORING_OP_SEND, Keep::buf(b), |sqe, _| {
        prep_rw(sqe, fd, addr, len, 0);
        sqe.op_flags = flags;
    })
}

/// openat(2), arguments in `os.open`'s order. `O_CLOEXEC` is always added,
/// as `os.open` does (PEP 446).
#[pyfunction]
#[pyo3(signature = (ring, user_data, dirfd, path, flags = 0, mode = 0o644))]
pub fn openat(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    dirfd: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    flags: i64,
    mode: i64,
) -> R {
    let dirfd = args::fd(dirfd, "dirfd")?;
    let path = args::path(path)?;
    let flags = args::flags32(flags, "flags")? | libc::O_CLOEXEC as u32;
    let mode = args::flags32(mode, "mode")?;
    Ring::queue(ring, user_data, sys::IORING_OP_OPENAT, Keep::default(), |sqe, slot| {
        let p = stash_bytes(slot, path.as_bytes_with_nul());
        prep_rw(sqe, dirfd, p, mode, 0);
        sqe.op_flags = flags;
    })
}

#[pyfunction]
pub fn close(ring: &Bound<'_, Ring>, user_data: u64, fd: &Bound<'_, PyAny>) -> R {
    let fd = args::fd(fd, "fd")?;
    Ring::queue(ring, user_data, sys::IORING_OP_CLOSE, Keep::default(), |sqe, _| {
        prep_rw(sqe, fd, 0, 0, 0);
    })
}

/// A timeout: completes with -ETIME after `seconds`, or with 0 once `count`
/// other completions have been posted (when `count > 0`).
#[pyfunction]
#[pyo3(signature = (ring, user_data, seconds, count = 0, flags = 0))]
pub fn timeout(ring: &Bound<'_, Ring>, user_data: u64, seconds: &Bound<'_, PyAny>, count: i64, flags: i64) -> R {
    let ts = args::seconds(seconds)?;
    let count = args::count32(count, "count")?;
    let flags = args::flags32(flags, "flags")?;
    Ring::queue(ring, user_data, sys::IORING_OP_TIMEOUT, Keep::default(), |sqe, slot| {
        let p = stash::<KernelTimespec>(slot, ts);
        prep_rw(sqe, -1, p, 1, count as u64);
        sqe.op_flags = flags;
    })
}

/// Removes the in-flight timeout queued with `timeout_user_data`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, timeout_user_data, flags = 0))]
pub fn timeout_remove(ring: &Bound<'_, Ring>, user_data: u64, timeout_user_data: u64, flags: i64) -> R {
    let flags = args::flags32(flags, "flags")?;
    let target = target(ring, timeout_user_data, &[sys::IORING_OP_TIMEOUT])?;
    Ring::queue(ring, user_data, sys::IORING_OP_TIMEOUT_REMOVE, Keep::default(), |sqe, _| {
        prep_rw(sqe, -1, target, 0, 0);
        sqe.op_flags = flags;
    })
}

/// A timeout for the previous SQE, which must carry `IOSQE_IO_LINK`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, seconds, flags = 0))]
pub fn link_timeout(ring: &Bound<'_, Ring>, user_data: u64, seconds: &Bound<'_, PyAny>, flags: i64) -> R {
    let ts = args::seconds(seconds)?;
    let flags = args::flags32(flags, "flags")?;
    Ring::queue(ring, user_data, sys::IORING_OP_LINK_TIMEOUT, Keep::default(), |sqe, slot| {
        let p = stash::<KernelTimespec>(slot, ts);
        prep_rw(sqe, -1, p, 1, 0);
        sqe.op_flags = flags;
    })
}

/// Waits for `events` (`select.POLLIN`, ...) on `fd`; `flags` may hold
/// `IORING_POLL_ADD_MULTI` for a completion per readiness change.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, events, flags = 0))]
pub fn poll_add(ring: &Bound<'_, Ring>, user_data: u64, fd: &Bound<'_, PyAny>, events: i64, flags: i64) -> R {
    let fd = args::fd(fd, "fd")?;
    let events = args::flags32(events, "events")?;
    let flags = args::flags32(flags, "flags")?;
    Ring::queue(ring, user_data, sys::IORING_OP_POLL_ADD, Keep::default(), |sqe, _| {
        prep_rw(sqe, fd, 0, flags, 0);
        // poll32_events is stored in the kernel's byte order: as is on
        // little-endian, half-word swapped on big-endian (liburing's
        // __swahw32).
        sqe.op_flags = if cfg!(target_endian = "big") { events.rotate_left(16) } else { events };
    })
}

/// Removes the in-flight poll queued with `target_user_data` (the kernel's
/// meaning; the seed took an fd and events instead).
#[pyfunction]
pub fn poll_remove(ring: &Bound<'_, Ring>, user_data: u64, target_user_data: u64) -> R {
    let target = target(ring, target_user_data, &[sys::IORING_OP_POLL_ADD])?;
    Ring::queue(ring, user_data, sys::IORING_OP_POLL_REMOVE, Keep::default(), |sqe, _| {
        prep_rw(sqe, -1, target, 0, 0);
    })
}

/// Cancels in-flight ops (`IORING_OP_ASYNC_CANCEL`). By default the target
/// is the op queued with `target_user_data`; `flags` takes
/// `IORING_ASYNC_CANCEL_ALL` (every op with that user_data), `_ANY` (every
/// op) or `_FD`/`_FD_FIXED` (use `cancel_fd`). The result is 0 (found and
/// cancelled; with ALL, the number cancelled), -ENOENT or -EALREADY.
///
/// user_data may repeat: with ALL and several ops sharing
/// `target_user_data`, one cancel SQE is queued per op (all carrying
/// `user_data`), each with its own completion; the last `Sqe` is returned.
#[pyfunction]
#[pyo3(signature = (ring, user_data, target_user_data, flags = 0))]
pub fn cancel(ring: &Bound<'_, Ring>, user_data: u64, target_user_data: u64, flags: i64) -> R {
    let flags = args::flags32(flags, "flags")?;
    if flags & (sys::IORING_ASYNC_CANCEL_FD | sys::IORING_ASYNC_CANCEL_FD_FIXED) != 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "cancel by fd is ops.cancel_fd(ring, user_data, fd, flags)",
        ));
    }
    if flags & sys::IORING_ASYNC_CANCEL_ANY != 0 {
        return Ring::queue(ring, user_data, sys::IORING_OP_ASYNC_CANCEL, Keep::default(), |sqe, _| {
            prep_rw(sqe, -1, 0, 0, 0);
            sqe.op_flags = flags;
        });
    }
    let targets = ring.get().find_targets(target_user_data, &[])?;
    let targets = if targets.is_empty() { vec![NO_TARGET] } else { targets };
    let targets = if flags & sys::IORING_ASYNC_CANCEL_ALL != 0 { targets } else { targets[..1].to_vec() };
    if targets.len() > ring.get().space_left()? as usize {
        return Err(crate::error::UringErr::new(
            crate::error::Kind::SubmissionQueueFull,
            format!("cancel needs {} free SQ entries: submit() first", targets.len()),
        )
        .into());
    }
    let mut last = None;
    for t in targets {
        last = Some(Ring::queue(ring, user_data, sys::IORING_OP_ASYNC_CANCEL, Keep::default(), |sqe, _| {
            prep_rw(sqe, -1, t, 0, 0);
            sqe.op_flags = flags;
        })?);
    }
    Ok(last.expect("at least one target"))
}

/// Cancels in-flight ops on `fd` (`IORING_ASYNC_CANCEL_FD`, plus any of
/// `IORING_ASYNC_CANCEL_ALL` / `_FD_FIXED` in `flags`).
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, flags = 0))]
pub fn cancel_fd(ring: &Bound<'_, Ring>, user_data: u64, fd: &Bound<'_, PyAny>, flags: i64) -> R {
    let fd = args::fd(fd, "fd")?;
    let flags = args::flags32(flags, "flags")? | sys::IORING_ASYNC_CANCEL_FD;
    Ring::queue(ring, user_data, sys::IORING_OP_ASYNC_CANCEL, Keep::default(), |sqe, _| {
        prep_rw(sqe, fd, 0, 0, 0);
        sqe.op_flags = flags;
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
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
