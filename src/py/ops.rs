//! Op preparation: one short function per op, all of one shape:
//!
//! 1. convert and check the arguments (nothing is queued if that fails);
//! 2. pin what the kernel will touch into a [`Keep`] (buffers) or the slot's
//!    scratch memory (timespecs, paths, addresses);
//! 3. `queue` with a closure that calls the op's SQE builder in
//!    [`prep`], liburing's `io_uring_prep_*`.
//!
//! Each returns the `Sqe` handle, so flags can be set before submitting.
//!
//! Owns: the Python signatures of the core ops and the scratch layout
//! helpers ops_ext shares. May not touch: SQE fields (the builders fill
//! them) or the ring's state beyond queueing.

use pyo3::prelude::*;

use crate::engine::prep;
use crate::engine::slots::Slot;
use crate::engine::sys::{self, KernelTimespec};
use crate::py::addr;
use crate::py::args;
use crate::py::keep::{Keep, MessageLink, OnDone, PinnedBuf};
use crate::py::ring::Ring;
use crate::py::sqe::{queue, Sqe};

type R = PyResult<Py<Sqe>>;

/// The kernel takes u32 lengths; a longer buffer is capped (the kernel caps
/// a single read or write at 2 GiB anyway).
pub(crate) fn len32(len: usize) -> u32 {
    len.min(u32::MAX as usize) as u32
}

/// Where each object an op needs goes in its one block of slot scratch
/// memory (`Slot::scratch` hands out a fresh block on every call, so an op
/// asks once, for everything).
#[derive(Default)]
pub(crate) struct Layout {
    size: usize,
}

impl Layout {
    /// Room for `n` values of `T`, 8-aligned; returns their offset.
    pub(crate) fn reserve<T>(&mut self, n: usize) -> usize {
        const { assert!(std::mem::align_of::<T>() <= 8) };
        let at = self.size.next_multiple_of(8);
        self.size = at + n * std::mem::size_of::<T>();
        at
    }
}

/// A slot's scratch block, allocated for a [`Layout`].
pub(crate) struct Block {
    base: *mut u8,
    len: usize,
}

impl Block {
    pub(crate) fn new(slot: &mut Slot<Keep>, layout: &Layout) -> Block {
        Block {
            base: slot.scratch(layout.size),
            len: layout.size,
        }
    }

    /// Copies `values` to offset `at`; returns their address for the kernel.
    pub(crate) fn put_slice<T: Copy>(&self, at: usize, values: &[T]) -> u64 {
        let n = std::mem::size_of_val(values);
        assert!(
            at % std::mem::align_of::<T>() == 0 && at + n <= self.len,
            "scratch layout"
        );
        // SAFETY: in bounds and aligned (checked above; the block is
        // 8-aligned), fresh memory the slot owns until its final completion;
        // the source is a separate Rust value, so no overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(values.as_ptr().cast::<u8>(), self.base.add(at), n)
        };
        self.base as u64 + at as u64
    }

    pub(crate) fn put<T: Copy>(&self, at: usize, value: T) -> u64 {
        self.put_slice(at, std::slice::from_ref(&value))
    }
}

/// Copies `values` into the slot's scratch memory, the op's only scratch
/// object; returns their address.
pub(crate) fn stash_slice<T: Copy>(slot: &mut Slot<Keep>, values: &[T]) -> u64 {
    let mut layout = Layout::default();
    let at = layout.reserve::<T>(values.len());
    Block::new(slot, &layout).put_slice(at, values)
}

/// [`stash_slice`] of one value.
pub(crate) fn stash<T: Copy>(slot: &mut Slot<Keep>, value: T) -> u64 {
    stash_slice(slot, std::slice::from_ref(&value))
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

/// Queues an op on one caller buffer (read, write, recv, send, send_zc):
/// pins `buf` (`writable` when the kernel writes into it) for the op's
/// lifetime and hands `build` its address and (capped) length.
pub(crate) fn queue_buf(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    buf: &Bound<'_, PyAny>,
    writable: bool,
    build: impl FnOnce(&mut sys::Sqe, u64, u32),
) -> R {
    let b = PinnedBuf::get(buf, writable, "buf")?;
    let (addr, len) = (b.ptr() as u64, len32(b.len()));
    queue(ring, user_data, opcode, Keep::buf(b), |sqe, _| {
        build(sqe, addr, len)
    })
}

/// Queues a no-op (`IORING_OP_NOP`): completes with `res == 0`. Measures the
/// ring's own cost, or wakes a waiter.
#[pyfunction]
pub fn nop(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
) -> R {
    queue(
        &ring,
        user_data,
        sys::IORING_OP_NOP,
        Keep::default(),
        |sqe, _| prep::nop(sqe),
    )
}

/// Queues `read(2)`/`pread(2)`: reads up to `len(buf)` bytes of `fd` at
/// `offset` (-1: the file position) into `buf`. The result is the number of
/// bytes read.
///
/// `buf` must be writable and C-contiguous (`bytearray`, `memoryview` of one,
/// `mmap`, `array`, numpy array); the ring keeps it alive and pinned until
/// the completion is consumed. Raises `TypeError`/`BufferError` for a
/// read-only or non-contiguous `buf`, `UringError` `SUBMISSION_QUEUE_FULL`
/// when the SQ is full (nothing is queued either way).
#[pyfunction]
pub fn read(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = args::offset_arg)] offset: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(fd, "fd")?;
    let off = args::offset(offset)?;
    queue_buf(
        ring,
        user_data,
        sys::IORING_OP_READ,
        buf,
        true,
        |sqe, addr, len| prep::read(sqe, fd, addr, len, off),
    )
}

/// Queues `write(2)`/`pwrite(2)` of `buf` to `fd` at `offset` (-1: the file
/// position; a file opened with `O_APPEND` appends). The result is the number
/// of bytes written, which may be short. `buf` (any buffer) is pinned until
/// the completion.
#[pyfunction]
pub fn write(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = args::offset_arg)] offset: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(fd, "fd")?;
    let off = args::offset(offset)?;
    queue_buf(
        ring,
        user_data,
        sys::IORING_OP_WRITE,
        buf,
        false,
        |sqe, addr, len| prep::write(sqe, fd, addr, len, off),
    )
}

/// Queues `fsync(2)` of `fd`; `flags` may be `IORING_FSYNC_DATASYNC`
/// (`fdatasync`).
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, flags = 0))]
pub fn fsync(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(fd, "fd")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_FSYNC,
        Keep::default(),
        |sqe, _| prep::fsync(sqe, fd, flags),
    )
}

/// accept4(2). `SOCK_CLOEXEC` is always added: like every fd Python makes
/// (PEP 446), the new socket is not inherited by child processes.
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, flags = 0))]
pub fn accept(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    queue_accept(ring, user_data, sockfd, flags, prep::accept)
}

/// accept and accept_multishot (`build`, one of their builders): the flags
/// get `SOCK_CLOEXEC`.
fn queue_accept(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    flags: i64,
    build: fn(&mut sys::Sqe, i32, u64, u64, u32),
) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")? | libc::SOCK_CLOEXEC as u32;
    queue(
        ring,
        user_data,
        sys::IORING_OP_ACCEPT,
        Keep::default(),
        |sqe, _| build(sqe, fd, 0, 0, flags),
    )
}

/// Queues `connect(2)` of `sockfd` to `address`, written as the socket module
/// writes it for the socket's family (AF_INET `(host, port)`, AF_INET6
/// `(host, port[, flowinfo, scope_id])`, AF_UNIX a path). The result is 0.
/// The host must be a numeric address, not a name (`ValueError`): resolve it
/// first.
#[pyfunction]
pub fn connect(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    address: &Bound<'_, PyAny>,
) -> R {
    let ring = &ring;
    let fd = args::fd(sockfd, "sockfd")?;
    let sa = addr::sockaddr(fd, address)?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_CONNECT,
        Keep::default(),
        |sqe, slot| prep::connect(sqe, fd, stash(slot, sa.storage), sa.len),
    )
}

/// Queues `recv(2)` into `buf` (writable, pinned until the completion);
/// `flags` are `socket.MSG_*`. The result is the number of bytes received, 0
/// at end of stream. With `IOSQE_BUFFER_SELECT` and `Sqe.buf_group`, pass
/// `bytearray(0)`: the kernel picks a provided buffer instead.
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buf, flags = 0))]
pub fn recv(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")?;
    queue_buf(
        ring,
        user_data,
        sys::IORING_OP_RECV,
        buf,
        true,
        |sqe, addr, len| prep::recv(sqe, fd, addr, len, flags),
    )
}

/// Queues `send(2)` of `buf`; `flags` are `socket.MSG_*`. The result is the
/// number of bytes sent, which may be short on a stream socket.
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buf, flags = 0))]
pub fn send(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")?;
    queue_buf(
        ring,
        user_data,
        sys::IORING_OP_SEND,
        buf,
        false,
        |sqe, addr, len| prep::send(sqe, fd, addr, len, flags),
    )
}

/// Queues `openat(2)`, arguments in `os.open`'s order: `path` relative to
/// `dirfd` (`AT_FDCWD`: the working directory). The result is the new fd;
/// `O_CLOEXEC` is always added, as `os.open` does (PEP 446). `path` is
/// copied.
#[pyfunction]
#[pyo3(signature = (ring, user_data, dirfd, path, flags = 0, mode = 0o644))]
pub fn openat(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    dirfd: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
    #[pyo3(from_py_with = crate::py::named::mode_i64)] mode: i64,
) -> R {
    let ring = &ring;
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
            let path = stash_slice(slot, path.as_bytes_with_nul());
            prep::openat(sqe, dirfd, path, flags, mode)
        },
    )
}

/// Queues `close(2)` of `fd`.
#[pyfunction]
pub fn close(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
) -> R {
    let ring = &ring;
    let fd = args::fd(fd, "fd")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_CLOSE,
        Keep::default(),
        |sqe, _| prep::close(sqe, fd),
    )
}

/// A timeout: completes with -ETIME after `seconds`, or with 0 once `count`
/// other completions have been posted (when `count > 0`).
#[pyfunction]
#[pyo3(signature = (ring, user_data, seconds, count = 0, flags = 0))]
pub fn timeout(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    seconds: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::count_i64)] count: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let ts = args::seconds(seconds)?;
    let count = args::count32(count, "count")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_TIMEOUT,
        Keep::default(),
        |sqe, slot| prep::timeout(sqe, stash::<KernelTimespec>(slot, ts), count, flags),
    )
}

/// Removes the in-flight timeout queued with `timeout_user_data`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, timeout_user_data, flags = 0))]
pub fn timeout_remove(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::timeout_user_data_u64)] timeout_user_data: u64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let flags = args::flags32(flags, "flags")?;
    let (target, _) = target(ring, timeout_user_data, &[sys::IORING_OP_TIMEOUT])?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_TIMEOUT_REMOVE,
        Keep::default(),
        |sqe, _| prep::timeout_remove(sqe, target, flags),
    )
}

/// A timeout for the previous SQE, which must carry `IOSQE_IO_LINK`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, seconds, flags = 0))]
pub fn link_timeout(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    seconds: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let ts = args::seconds(seconds)?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_LINK_TIMEOUT,
        Keep::default(),
        |sqe, slot| prep::link_timeout(sqe, stash::<KernelTimespec>(slot, ts), flags),
    )
}

/// Waits for `events` (`select.POLLIN`, ...) on `fd`; `flags` may hold
/// `IORING_POLL_ADD_MULTI` for a completion per readiness change.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, events, flags = 0))]
pub fn poll_add(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::events_i64)] events: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(fd, "fd")?;
    let events = args::flags32(events, "events")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_POLL_ADD,
        Keep::default(),
        |sqe, _| prep::poll_add_flags(sqe, fd, events, flags),
    )
}

/// Removes the in-flight poll queued with `target_user_data`, as the kernel's
/// IORING_OP_POLL_REMOVE does (it names the poll by user_data, not by fd).
#[pyfunction]
pub fn poll_remove(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::target_user_data_u64)] target_user_data: u64,
) -> R {
    let ring = &ring;
    let (target, _) = target(ring, target_user_data, &[sys::IORING_OP_POLL_ADD])?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_POLL_REMOVE,
        Keep::default(),
        |sqe, _| prep::poll_remove(sqe, target),
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
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::target_user_data_u64)] target_user_data: u64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
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
            |sqe, _| prep::cancel(sqe, 0, flags),
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
            |sqe, _| prep::cancel(sqe, t, flags),
        )?);
    }
    Ok(last.expect("at least one target"))
}

/// Cancels in-flight ops on `fd` (`IORING_ASYNC_CANCEL_FD`, plus any of
/// `IORING_ASYNC_CANCEL_ALL` / `_FD_FIXED` in `flags`).
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, flags = 0))]
pub fn cancel_fd(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(fd, "fd")?;
    // The builder adds IORING_ASYNC_CANCEL_FD.
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_ASYNC_CANCEL,
        Keep::default(),
        |sqe, _| prep::cancel_fd(sqe, fd, flags),
    )
}

/// A read into registered buffer `buf_index` (see `Ring.register_buffers`),
/// `nbytes` (default: the rest of the buffer) at `buf_offset` within it.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, buf_index, offset, nbytes = None, buf_offset = 0))]
pub fn read_fixed(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = args::buf_index)] buf_index: u16,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::nbytes_opt_usize)] nbytes: Option<usize>,
    #[pyo3(from_py_with = crate::py::named::buf_offset_usize)] buf_offset: usize,
) -> R {
    let ring = &ring;
    rw_fixed(
        ring,
        user_data,
        sys::IORING_OP_READ_FIXED,
        prep::read_fixed,
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
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = args::buf_index)] buf_index: u16,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::nbytes_opt_usize)] nbytes: Option<usize>,
    #[pyo3(from_py_with = crate::py::named::buf_offset_usize)] buf_offset: usize,
) -> R {
    let ring = &ring;
    rw_fixed(
        ring,
        user_data,
        sys::IORING_OP_WRITE_FIXED,
        prep::write_fixed,
        fd,
        buf_index,
        offset,
        nbytes,
        buf_offset,
    )
}

/// read_fixed and write_fixed: `build` is the builder for `opcode`.
#[allow(clippy::too_many_arguments)]
fn rw_fixed(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    build: fn(&mut sys::Sqe, i32, u64, u32, u64, u16),
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
    let (addr, len) = (base + buf_offset as u64, len32(nbytes));
    queue(ring, user_data, opcode, Keep::buf(pin), |sqe, _| {
        build(sqe, fd, addr, len, off, buf_index)
    })
}

/// Multishot accept (Linux 5.19): one completion per accepted connection
/// (its fd in `res`) while `IORING_CQE_F_MORE` is set. `SOCK_CLOEXEC` is
/// added as for `accept`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, flags = 0))]
pub fn accept_multishot(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    queue_accept(ring, user_data, sockfd, flags, prep::accept_multishot)
}

/// Multishot recv (Linux 6.0): each completion carries a buffer picked from
/// provided-buffer group `buf_group` (`Cqe.buffer_id`); ends with a
/// completion without `IORING_CQE_F_MORE` (EOF, error, or -ENOBUFS when the
/// group ran dry: release buffers and queue it again).
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buf_group, flags = 0))]
pub fn recv_multishot(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::buf_group_u16)] buf_group: u16,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_RECV,
        Keep::default(),
        |sqe, _| prep::recv_multishot(sqe, fd, buf_group, flags),
    )
}

/// Hands `count` buffers of `size` bytes, carved from `buf`, to the kernel
/// as group `group_id` with ids from `start_id` (the pre-5.19 way; prefer
/// `BufferRing`). `buf` stays pinned until the ring is closed.
#[pyfunction]
#[pyo3(signature = (ring, user_data, buf, size, count, group_id, start_id = 0))]
#[allow(clippy::too_many_arguments)]
pub fn provide_buffers(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::size_u32)] size: u32,
    #[pyo3(from_py_with = args::count)] count: u32,
    #[pyo3(from_py_with = args::group_id)] group_id: u16,
    #[pyo3(from_py_with = crate::py::named::start_id_u16)] start_id: u16,
) -> R {
    let ring = &ring;
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
        |sqe, _| prep::provide_buffers(sqe, addr, size, count, group_id, start_id),
    )
}

/// Removes up to `count` buffers of group `group_id`.
#[pyfunction]
pub fn remove_buffers(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = args::count)] count: u32,
    #[pyo3(from_py_with = args::group_id)] group_id: u16,
) -> R {
    let ring = &ring;
    queue(
        ring,
        user_data,
        sys::IORING_OP_REMOVE_BUFFERS,
        Keep::default(),
        |sqe, _| prep::remove_buffers(sqe, count, group_id),
    )
}

/// Updates the in-flight poll queued with `old_user_data`: its events (with
/// `IORING_POLL_UPDATE_EVENTS`) and/or its user_data (with
/// `IORING_POLL_UPDATE_USER_DATA`; later completions carry
/// `new_user_data`). `flags` may add `IORING_POLL_ADD_MULTI`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, old_user_data, new_user_data, events, flags))]
pub fn poll_update(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::old_user_data_u64)] old_user_data: u64,
    #[pyo3(from_py_with = crate::py::named::new_user_data_u64)] new_user_data: u64,
    #[pyo3(from_py_with = crate::py::named::events_i64)] events: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let events = args::flags32(events, "events")?;
    let flags = args::flags32(flags, "flags")?;
    // Events count only with UPDATE_EVENTS; the kernel refuses them
    // otherwise.
    let events = if flags & sys::IORING_POLL_UPDATE_EVENTS != 0 {
        events
    } else {
        0
    };
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
            prep::poll_update(sqe, target, new_token, events, flags)
        },
    )
}

/// Changes the expiry of the in-flight timeout queued with
/// `timeout_user_data` (IORING_TIMEOUT_UPDATE, Linux 5.11).
#[pyfunction]
#[pyo3(signature = (ring, user_data, timeout_user_data, seconds, flags = 0))]
pub fn timeout_update(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::timeout_user_data_u64)] timeout_user_data: u64,
    seconds: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let ts = args::seconds(seconds)?;
    // The builder adds IORING_TIMEOUT_UPDATE.
    let flags = args::flags32(flags, "flags")?;
    let (target, _) = target(ring, timeout_user_data, &[sys::IORING_OP_TIMEOUT])?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_TIMEOUT_REMOVE,
        Keep::default(),
        |sqe, slot| prep::timeout_update(sqe, stash::<KernelTimespec>(slot, ts), target, flags),
    )
}

/// Posts a completion with `res` and `target_user_data` on another ring
/// (`target`: a `Ring`, or a ring fd), IORING_OP_MSG_RING (Linux 5.18).
#[pyfunction]
#[pyo3(signature = (ring, user_data, target, res, target_user_data, flags = 0))]
pub fn msg_ring(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    target: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::res_i32)] res: i32,
    #[pyo3(from_py_with = crate::py::named::target_user_data_u64)] target_user_data: u64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
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
                    msg: Some(Box::new(link)),
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
        prep::msg_ring(sqe, fd, res as u32, posted, flags)
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
