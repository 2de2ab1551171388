//! The ops beyond ops.rs's core set (files, network, processes, futexes),
//! in the same shape as ops.rs and with liburing's names:
//!
//! 1. convert and check the arguments (nothing is queued if that fails);
//! 2. pin what the kernel will touch into a [`Keep`] (buffers, and the
//!    out-parameter objects of `out`) or lay it out in the slot's scratch
//!    memory (paths, iovecs, msghdrs, addresses, `open_how`, fd arrays);
//! 3. `queue` with a closure that calls the op's SQE builder in
//!    [`prep`].
//!
//! Minimum kernels are in README.md ("Supported ops"); an op the kernel
//! lacks completes with -EINVAL (probe with `ring.probe()`).
//!
//! Owns: these ops' Python signatures and argument checks, and (in `out`)
//! the objects the kernel writes results into. May not touch: SQE fields
//! (the builders fill them) or the ring's state beyond queueing.

mod out;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString, PyTuple};

use crate::engine::prep;
use crate::engine::sys;
use crate::py::addr;
use crate::py::args;
use crate::py::keep::{Keep, PinnedBuf};
use crate::py::ops::{queue_buf, stash, stash_slice, Block, Layout};
use crate::py::ring::Ring;
use crate::py::sqe::{queue, Sqe};

pub use out::{MsgHdr, Siginfo, Statx};

type R = PyResult<Py<Sqe>>;

/// `UIO_MAXIOV`: the kernel refuses longer iovec arrays.
const UIO_MAXIOV: usize = 1024;

/// An int >= 0 (a file offset or length that has no "current position").
fn nonneg(value: i64, name: &str) -> PyResult<u64> {
    u64::try_from(value)
        .map_err(|_| PyValueError::new_err(format!("{name} must be >= 0, got {value}")))
}

fn int32(value: i64, name: &str) -> PyResult<i32> {
    i32::try_from(value)
        .map_err(|_| PyValueError::new_err(format!("{name} must fit in a C int, got {value}")))
}

/// A sequence of buffers, each pinned; with the iovec array that names them.
fn buffers_arg(
    buffers: &Bound<'_, PyAny>,
    writable: bool,
) -> PyResult<(Vec<PinnedBuf>, Vec<libc::iovec>)> {
    if buffers.is_instance_of::<PyBytes>()
        || buffers.is_instance_of::<PyByteArray>()
        || buffers.is_instance_of::<PyMemoryView>()
        || buffers.is_instance_of::<PyString>()
    {
        return Err(PyTypeError::new_err(
            "buffers must be a sequence of buffers (e.g. [buf]), not a single buffer",
        ));
    }
    let iter = buffers.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "buffers must be a sequence of buffers, got {}",
            buffers.get_type()
        ))
    })?;
    let mut pins = Vec::new();
    for item in iter {
        pins.push(PinnedBuf::get(&item?, writable, "buffers")?);
        if pins.len() > UIO_MAXIOV {
            return Err(PyValueError::new_err(format!(
                "at most {UIO_MAXIOV} buffers (UIO_MAXIOV)"
            )));
        }
    }
    let iov = pins
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.ptr().cast(),
            iov_len: p.len(),
        })
        .collect();
    Ok((pins, iov))
}

/// The offset args: -1 means "none" (the current position; for a pipe, the
/// only choice).
fn opt_offset(value: i64, name: &str) -> PyResult<u64> {
    match value {
        -1 => Ok(u64::MAX),
        v if v >= 0 => Ok(v as u64),
        v => Err(PyValueError::new_err(format!(
            "{name} must be >= 0, or -1 for none; got {v}"
        ))),
    }
}

// ------------------------------------------------------------------ files

/// Queues `preadv2(2)` into a sequence of writable buffers (at most 1024,
/// each pinned) at `offset` (-1: the file position); `flags` are `os.RWF_*`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, buffers, offset, flags = 0))]
pub fn readv(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    buffers: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    rw_vectored(
        ring,
        user_data,
        sys::IORING_OP_READV,
        prep::readv,
        fd,
        buffers,
        offset,
        flags,
    )
}

/// Queues `pwritev2(2)` from a sequence of buffers (at most 1024, each
/// pinned) at `offset` (-1: the file position); `flags` are `os.RWF_*`
/// (`RWF_APPEND`, `RWF_DSYNC`, ...).
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, buffers, offset, flags = 0))]
pub fn writev(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    buffers: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    rw_vectored(
        ring,
        user_data,
        sys::IORING_OP_WRITEV,
        prep::writev,
        fd,
        buffers,
        offset,
        flags,
    )
}

/// readv and writev: `build` is the builder for `opcode`.
#[allow(clippy::too_many_arguments)]
fn rw_vectored(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    build: fn(&mut sys::Sqe, i32, u64, u32, u64, u32),
    fd: &Bound<'_, PyAny>,
    buffers: &Bound<'_, PyAny>,
    offset: i64,
    flags: i64,
) -> R {
    let fd = args::fd(fd, "fd")?;
    let off = args::offset(offset)?;
    let flags = args::flags32(flags, "flags")?;
    let (pins, iov) = buffers_arg(buffers, opcode == sys::IORING_OP_READV)?;
    let keep = Keep {
        bufs: Some(Box::new(pins)),
        ..Default::default()
    };
    queue(ring, user_data, opcode, keep, |sqe, slot| {
        build(
            sqe,
            fd,
            stash_slice(slot, &iov),
            iov.len() as u32,
            off,
            flags,
        )
    })
}

/// Queues `statx(2)` of `path` relative to `dirfd` into `statxbuf`, a
/// `uring_rs.Statx` (required: the kernel needs somewhere to write). Read its
/// fields once the completion has been consumed. `flags`: `AT_*`
/// (`AT_EMPTY_PATH` with `path=""` stats `dirfd` itself); `mask`: `STATX_*`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, dirfd, path, flags = 0, mask = 0x7ff, statxbuf = None))]
#[allow(clippy::too_many_arguments)]
pub fn statx(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    dirfd: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
    #[pyo3(from_py_with = crate::py::named::mask_i64)] mask: i64,
    statxbuf: Option<&Bound<'_, Statx>>,
) -> R {
    let ring = &ring;
    let dirfd = args::fd(dirfd, "dirfd")?;
    let path = args::path(path, "path")?;
    let flags = args::flags32(flags, "flags")?;
    let mask = args::flags32(mask, "mask")?;
    let statxbuf = statxbuf.ok_or_else(|| {
        PyTypeError::new_err("statx needs statxbuf: pass a uring_rs.Statx() to receive the result")
    })?;
    let (claim, buf) = Statx::claim(statxbuf)?;
    let keep = Keep {
        obj: Some(claim),
        ..Default::default()
    };
    queue(ring, user_data, sys::IORING_OP_STATX, keep, |sqe, slot| {
        statxbuf.get().reset();
        let path = stash_slice(slot, path.as_bytes_with_nul());
        prep::statx(sqe, dirfd, path, flags, mask, buf)
    })
}

/// Queues `fallocate(2)`: `mode` is 0 or `FALLOC_FL_*`.
#[pyfunction]
pub fn fallocate(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::mode_i64)] mode: i64,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::length_i64)] length: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(fd, "fd")?;
    let mode = args::flags32(mode, "mode")?;
    let offset = nonneg(offset, "offset")?;
    let length = nonneg(length, "length")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_FALLOCATE,
        Keep::default(),
        |sqe, _| prep::fallocate(sqe, fd, mode, offset, length),
    )
}

/// posix_fadvise(2): `advice` is `os.POSIX_FADV_*`; `length` 0 means to
/// the end of the file. Lengths of 4 GiB and more use the 64-bit field
/// Linux 6.11 reads (older kernels refuse them with -EINVAL).
#[pyfunction]
pub fn fadvise(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::length_i64)] length: i64,
    #[pyo3(from_py_with = crate::py::named::advice_i64)] advice: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(fd, "fd")?;
    let offset = nonneg(offset, "offset")?;
    let length = nonneg(length, "length")?;
    let advice = args::flags32(advice, "advice")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_FADVISE,
        Keep::default(),
        |sqe, _| match u32::try_from(length) {
            Ok(len) => prep::fadvise(sqe, fd, offset, len, advice),
            Err(_) => prep::fadvise64(sqe, fd, offset, length, advice),
        },
    )
}

/// madvise(2) advice that can change a page's contents (or a child's view
/// of it): only for writable buffers that own whole pages.
const MADV_DESTRUCTIVE: &[i32] = &[
    libc::MADV_DONTNEED,
    libc::MADV_FREE,
    libc::MADV_REMOVE,
    libc::MADV_WIPEONFORK,
    libc::MADV_POPULATE_WRITE,
];

/// madvise(2) advice that only hints.
const MADV_HINTS: &[i32] = &[
    libc::MADV_NORMAL,
    libc::MADV_RANDOM,
    libc::MADV_SEQUENTIAL,
    libc::MADV_WILLNEED,
    libc::MADV_MERGEABLE,
    libc::MADV_UNMERGEABLE,
    libc::MADV_HUGEPAGE,
    libc::MADV_NOHUGEPAGE,
    libc::MADV_DONTDUMP,
    libc::MADV_DODUMP,
    libc::MADV_KEEPONFORK,
    libc::MADV_COLD,
    libc::MADV_PAGEOUT,
    libc::MADV_POPULATE_READ,
    25, // MADV_COLLAPSE (Linux 6.1)
];

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096)
}

/// Queues `madvise(2)` on `buf`'s memory (`mmap.MADV_*`); `buf` stays pinned
/// until the completion. Advice that can crash the process or change memory
/// the buffer does not own is refused: `MADV_DONTFORK` (the child would
/// fault), `MADV_HWPOISON`, guard pages and the like raise ValueError;
/// `DONTNEED`, `FREE`, `REMOVE`, `WIPEONFORK` and `POPULATE_WRITE` need a
/// writable buffer that starts and ends on page boundaries (an `mmap.mmap`).
/// Lengths of 4 GiB and more need Linux 6.11.
#[pyfunction]
pub fn madvise(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::advice_i64)] advice: i64,
) -> R {
    let ring = &ring;
    let advice = int32(advice, "advice")?;
    let destructive = MADV_DESTRUCTIVE.contains(&advice);
    if !destructive && !MADV_HINTS.contains(&advice) {
        return Err(PyValueError::new_err(format!(
            "madvise advice {advice} is not supported: it could crash the process or touch memory \
             the buffer does not own"
        )));
    }
    let pin = PinnedBuf::get(buf, destructive, "buf")?;
    let (addr, len) = (pin.ptr() as u64, pin.len());
    let page = page_size() as u64;
    if destructive && (addr % page != 0 || len as u64 % page != 0) {
        return Err(PyValueError::new_err(format!(
            "madvise advice {advice} changes whole pages: buf must start and end on a page \
             boundary ({page} bytes), as an mmap.mmap does"
        )));
    }
    queue(
        ring,
        user_data,
        sys::IORING_OP_MADVISE,
        Keep::buf(pin),
        |sqe, _| match u32::try_from(len) {
            Ok(short) => prep::madvise(sqe, addr, short, advice as u32),
            Err(_) => prep::madvise64(sqe, addr, len as u64, advice as u32),
        },
    )
}

/// Queues `ftruncate(2)` of `fd` to `length` bytes (Linux 6.9).
#[pyfunction]
pub fn ftruncate(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::length_i64)] length: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(fd, "fd")?;
    let length = nonneg(length, "length")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_FTRUNCATE,
        Keep::default(),
        |sqe, _| prep::ftruncate(sqe, fd, length),
    )
}

/// Queues `sync_file_range(2)`: `nbytes` 0 means to the end of the file;
/// `flags` are `SYNC_FILE_RANGE_*`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd, offset, nbytes, flags = 0))]
pub fn sync_file_range(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::nbytes_i64)] nbytes: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(fd, "fd")?;
    let offset = nonneg(offset, "offset")?;
    let nbytes = args::count32(nbytes, "nbytes")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_SYNC_FILE_RANGE,
        Keep::default(),
        |sqe, _| prep::sync_file_range(sqe, fd, nbytes, offset, flags),
    )
}

/// Queues an op whose only memory is one path (unlinkat, mkdirat):
/// `build` gets the path's address.
fn path_op(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    path: &std::ffi::CStr,
    build: impl FnOnce(&mut sys::Sqe, u64),
) -> R {
    queue(ring, user_data, opcode, Keep::default(), |sqe, slot| {
        build(sqe, stash_slice(slot, path.to_bytes_with_nul()))
    })
}

/// Queues an op that names two paths (renameat, linkat, symlinkat):
/// `build` gets their addresses.
fn two_path_op(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    first: &std::ffi::CStr,
    second: &std::ffi::CStr,
    build: impl FnOnce(&mut sys::Sqe, u64, u64),
) -> R {
    let mut layout = Layout::default();
    let first_at = layout.reserve::<u8>(first.to_bytes_with_nul().len());
    let second_at = layout.reserve::<u8>(second.to_bytes_with_nul().len());
    queue(ring, user_data, opcode, Keep::default(), |sqe, slot| {
        let block = Block::new(slot, &layout);
        let p1 = block.put_slice(first_at, first.to_bytes_with_nul());
        let p2 = block.put_slice(second_at, second.to_bytes_with_nul());
        build(sqe, p1, p2)
    })
}

/// Queues `unlinkat(2)` (Linux 5.11): `flags` 0, or `AT_REMOVEDIR` to remove
/// a directory.
#[pyfunction]
#[pyo3(signature = (ring, user_data, dirfd, path, flags = 0))]
pub fn unlinkat(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    dirfd: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let dirfd = args::fd(dirfd, "dirfd")?;
    let path = args::path(path, "path")?;
    let flags = args::flags32(flags, "flags")?;
    path_op(ring, user_data, sys::IORING_OP_UNLINKAT, &path, |sqe, p| {
        prep::unlinkat(sqe, dirfd, p, flags)
    })
}

/// renameat2(2): `flags` are `RENAME_*`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, olddirfd, oldpath, newdirfd, newpath, flags = 0))]
pub fn renameat(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    olddirfd: &Bound<'_, PyAny>,
    oldpath: &Bound<'_, PyAny>,
    newdirfd: &Bound<'_, PyAny>,
    newpath: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let olddirfd = args::fd(olddirfd, "olddirfd")?;
    let oldpath = args::path(oldpath, "oldpath")?;
    let newdirfd = args::fd(newdirfd, "newdirfd")?;
    let newpath = args::path(newpath, "newpath")?;
    let flags = args::flags32(flags, "flags")?;
    two_path_op(
        ring,
        user_data,
        sys::IORING_OP_RENAMEAT,
        &oldpath,
        &newpath,
        |sqe, old, new| prep::renameat(sqe, olddirfd, old, newdirfd, new, flags),
    )
}

/// Queues `mkdirat(2)` (Linux 5.15).
#[pyfunction]
#[pyo3(signature = (ring, user_data, dirfd, path, mode = 0o777))]
pub fn mkdirat(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    dirfd: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::mode_i64)] mode: i64,
) -> R {
    let ring = &ring;
    let dirfd = args::fd(dirfd, "dirfd")?;
    let path = args::path(path, "path")?;
    let mode = args::flags32(mode, "mode")?;
    path_op(ring, user_data, sys::IORING_OP_MKDIRAT, &path, |sqe, p| {
        prep::mkdirat(sqe, dirfd, p, mode)
    })
}

/// Queues `symlinkat(2)` (Linux 5.15): makes `linkpath` (relative to
/// `newdirfd`) point at `target`.
#[pyfunction]
pub fn symlinkat(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    target: &Bound<'_, PyAny>,
    newdirfd: &Bound<'_, PyAny>,
    linkpath: &Bound<'_, PyAny>,
) -> R {
    let ring = &ring;
    let target = args::path(target, "target")?;
    let newdirfd = args::fd(newdirfd, "newdirfd")?;
    let linkpath = args::path(linkpath, "linkpath")?;
    two_path_op(
        ring,
        user_data,
        sys::IORING_OP_SYMLINKAT,
        &target,
        &linkpath,
        |sqe, target, link| prep::symlinkat(sqe, target, newdirfd, link),
    )
}

/// Queues `linkat(2)` (Linux 5.15): `flags` 0 or `AT_SYMLINK_FOLLOW`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, olddirfd, oldpath, newdirfd, newpath, flags = 0))]
pub fn linkat(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    olddirfd: &Bound<'_, PyAny>,
    oldpath: &Bound<'_, PyAny>,
    newdirfd: &Bound<'_, PyAny>,
    newpath: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let olddirfd = args::fd(olddirfd, "olddirfd")?;
    let oldpath = args::path(oldpath, "oldpath")?;
    let newdirfd = args::fd(newdirfd, "newdirfd")?;
    let newpath = args::path(newpath, "newpath")?;
    let flags = args::flags32(flags, "flags")?;
    two_path_op(
        ring,
        user_data,
        sys::IORING_OP_LINKAT,
        &oldpath,
        &newpath,
        |sqe, old, new| prep::linkat(sqe, olddirfd, old, newdirfd, new, flags),
    )
}

/// Queues `openat2(2)`: `resolve` is `RESOLVE_*`. `O_CLOEXEC` is always
/// added, as for `openat` (PEP 446). The kernel is strict where openat is
/// lenient: a `mode` without `O_CREAT`/`O_TMPFILE`, or an unknown flag,
/// completes with -EINVAL.
#[pyfunction]
#[pyo3(signature = (ring, user_data, dirfd, path, flags = 0, mode = 0, resolve = 0))]
#[allow(clippy::too_many_arguments)]
pub fn openat2(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    dirfd: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
    #[pyo3(from_py_with = crate::py::named::mode_i64)] mode: i64,
    #[pyo3(from_py_with = crate::py::named::resolve_i64)] resolve: i64,
) -> R {
    let ring = &ring;
    let dirfd = args::fd(dirfd, "dirfd")?;
    let path = args::path(path, "path")?;
    let flags = args::flags32(flags, "flags")? | libc::O_CLOEXEC as u32;
    let how = sys::OpenHow {
        flags: flags as u64,
        mode: nonneg(mode, "mode")?,
        resolve: nonneg(resolve, "resolve")?,
    };
    let mut layout = Layout::default();
    let how_at = layout.reserve::<sys::OpenHow>(1);
    let path_at = layout.reserve::<u8>(path.as_bytes_with_nul().len());
    queue(
        ring,
        user_data,
        sys::IORING_OP_OPENAT2,
        Keep::default(),
        |sqe, slot| {
            let block = Block::new(slot, &layout);
            let how_p = block.put(how_at, how);
            let path_p = block.put_slice(path_at, path.as_bytes_with_nul());
            prep::openat2(sqe, dirfd, path_p, how_p)
        },
    )
}

/// Closes registered file `file_index` (Linux 5.15).
#[pyfunction]
pub fn close_fixed(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::file_index_i64)] file_index: i64,
) -> R {
    let ring = &ring;
    // Stored as index + 1 (the builder adds it), so u32::MAX is no index.
    let index = u32::try_from(file_index)
        .ok()
        .filter(|&i| i < u32::MAX)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "file_index must be in 0..2**32-2, got {file_index}"
            ))
        })?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_CLOSE,
        Keep::default(),
        |sqe, _| prep::close_direct(sqe, index),
    )
}

/// Replaces registered files from index `offset` on with `fds` (ints or
/// objects with `fileno()`; -1 empties a slot), as
/// `Ring.register_files_update` does but through the ring. The result is
/// the number of slots updated.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fds, offset = 0))]
pub fn files_update(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fds: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
) -> R {
    let ring = &ring;
    let fds = fds
        .try_iter()?
        .map(|item| args::fd(&item?, "fds[i]"))
        .collect::<PyResult<Vec<i32>>>()?;
    if fds.is_empty() {
        return Err(PyValueError::new_err("files_update needs at least one fd"));
    }
    let count = u32::try_from(fds.len()).map_err(|_| PyValueError::new_err("too many fds"))?;
    let offset = u32::try_from(offset).map_err(|_| {
        PyValueError::new_err(format!("offset must be in 0..2**32-1, got {offset}"))
    })?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_FILES_UPDATE,
        Keep::default(),
        |sqe, slot| prep::files_update(sqe, stash_slice(slot, &fds), count, offset),
    )
}

/// Queues `splice(2)`: moves up to `nbytes` from `fd_in` to `fd_out`, one of
/// which must be a pipe. An offset of -1 means none (the fd's own position; a
/// pipe's must be -1). `flags`: `SPLICE_F_*`.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd_in, off_in, fd_out, off_out, nbytes, flags = 0))]
#[allow(clippy::too_many_arguments)]
pub fn splice(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd_in: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::off_in_i64)] off_in: i64,
    fd_out: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::off_out_i64)] off_out: i64,
    #[pyo3(from_py_with = crate::py::named::nbytes_i64)] nbytes: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let fd_in = args::fd(fd_in, "fd_in")?;
    let off_in = opt_offset(off_in, "off_in")?;
    let fd_out = args::fd(fd_out, "fd_out")?;
    let off_out = opt_offset(off_out, "off_out")?;
    let nbytes = args::count32(nbytes, "nbytes")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_SPLICE,
        Keep::default(),
        |sqe, _| prep::splice(sqe, fd_in, off_in, fd_out, off_out, nbytes, flags),
    )
}

/// Queues `tee(2)`: duplicates up to `nbytes` from pipe `fd_in` to pipe
/// `fd_out` without consuming them.
#[pyfunction]
#[pyo3(signature = (ring, user_data, fd_in, fd_out, nbytes, flags = 0))]
pub fn tee(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    fd_in: &Bound<'_, PyAny>,
    fd_out: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::nbytes_i64)] nbytes: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let fd_in = args::fd(fd_in, "fd_in")?;
    let fd_out = args::fd(fd_out, "fd_out")?;
    let nbytes = args::count32(nbytes, "nbytes")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_TEE,
        Keep::default(),
        |sqe, _| prep::tee(sqe, fd_in, fd_out, nbytes, flags),
    )
}

// ---------------------------------------------------------------- network

/// Queues `socket(2)` (Linux 5.19); the new fd is the result. `SOCK_CLOEXEC`
/// is always added to `type`, as `socket.socket` does (PEP 446). `flags` is
/// reserved by the kernel and must be 0.
#[pyfunction]
#[pyo3(signature = (ring, user_data, domain, r#type, protocol = 0, flags = 0))]
pub fn socket(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::domain_i64)] domain: i64,
    #[pyo3(from_py_with = crate::py::named::type_i64)] r#type: i64,
    #[pyo3(from_py_with = crate::py::named::protocol_i64)] protocol: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    let domain = int32(domain, "domain")?;
    let kind = int32(r#type, "type")? | libc::SOCK_CLOEXEC;
    let protocol = int32(protocol, "protocol")?;
    let flags = args::flags32(flags, "flags")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_SOCKET,
        Keep::default(),
        |sqe, _| prep::socket(sqe, domain, kind, protocol, flags),
    )
}

/// Queues `shutdown(2)`: `how` is `socket.SHUT_RD`, `SHUT_WR` or
/// `SHUT_RDWR`.
#[pyfunction]
pub fn shutdown(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::how_i64)] how: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(sockfd, "sockfd")?;
    let how = int32(how, "how")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_SHUTDOWN,
        Keep::default(),
        |sqe, _| prep::shutdown(sqe, fd, how as u32),
    )
}

/// Control messages laid out as the kernel reads them (`CMSG_SPACE` each),
/// from `(level, type, data)` items as `socket.sendmsg` takes them.
fn control_arg(ancdata: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u8>> {
    let mut out = Vec::new();
    let Some(ancdata) = ancdata else {
        return Ok(out);
    };
    for item in ancdata.try_iter()? {
        let item = item?;
        let t = item.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err("ancdata items must be (level, type, data) tuples")
        })?;
        let (level, kind, data): (i32, i32, Bound<'_, PyAny>) = t.extract()?;
        let pin = PinnedBuf::get(&data, false, "ancdata")?;
        let start = out.len();
        out.resize(start + out::CMSG_HDR + out::cmsg_align(pin.len()), 0);
        if out.len() > 1 << 20 {
            return Err(PyValueError::new_err(
                "ancdata is too large (at most 1 MiB)",
            ));
        }
        // SAFETY: cmsghdr is plain data; all-zero is valid.
        let mut h: libc::cmsghdr = unsafe { std::mem::zeroed() };
        h.cmsg_len = (out::CMSG_HDR + pin.len()) as _;
        h.cmsg_level = level;
        h.cmsg_type = kind;
        // SAFETY: both copies stay inside `out` (resized above to hold the
        // header and the data) and read from a live Rust value and a pinned
        // buffer export of pin.len() bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (&h as *const libc::cmsghdr).cast::<u8>(),
                out.as_mut_ptr().add(start),
                std::mem::size_of::<libc::cmsghdr>(),
            );
            std::ptr::copy_nonoverlapping(
                pin.ptr(),
                out.as_mut_ptr().add(start + out::CMSG_HDR),
                pin.len(),
            );
        }
    }
    Ok(out)
}

/// Queues `sendmsg(2)` of a sequence of buffers (at most 1024), to `address`
/// (for an unconnected datagram socket; as the socket module writes it) and
/// with `ancdata` (`[(level, type, data)]` as for `socket.sendmsg`, e.g.
/// `SCM_RIGHTS`). Everything is copied or pinned until the completion.
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buffers, address = None, flags = 0, *, ancdata = None))]
#[allow(clippy::too_many_arguments)]
pub fn sendmsg(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    buffers: &Bound<'_, PyAny>,
    address: Option<&Bound<'_, PyAny>>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
    ancdata: Option<&Bound<'_, PyAny>>,
) -> R {
    let ring = &ring;
    sendmsg_impl(
        ring,
        user_data,
        sys::IORING_OP_SENDMSG,
        prep::sendmsg,
        sockfd,
        buffers,
        address,
        flags,
        ancdata,
    )
}

/// Zero-copy `sendmsg` (Linux 6.1): completes like `send_zc`, with a
/// second, `IORING_CQE_F_NOTIF` completion once the kernel no longer reads
/// the buffers (they stay pinned until then).
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buffers, address = None, flags = 0, *, ancdata = None))]
#[allow(clippy::too_many_arguments)]
pub fn sendmsg_zc(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    buffers: &Bound<'_, PyAny>,
    address: Option<&Bound<'_, PyAny>>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
    ancdata: Option<&Bound<'_, PyAny>>,
) -> R {
    let ring = &ring;
    sendmsg_impl(
        ring,
        user_data,
        sys::IORING_OP_SENDMSG_ZC,
        prep::sendmsg_zc,
        sockfd,
        buffers,
        address,
        flags,
        ancdata,
    )
}

/// sendmsg and sendmsg_zc: `build` is the builder for `opcode`.
#[allow(clippy::too_many_arguments)]
fn sendmsg_impl(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    build: fn(&mut sys::Sqe, i32, u64, u32),
    sockfd: &Bound<'_, PyAny>,
    buffers: &Bound<'_, PyAny>,
    address: Option<&Bound<'_, PyAny>>,
    flags: i64,
    ancdata: Option<&Bound<'_, PyAny>>,
) -> R {
    let fd = args::fd(sockfd, "sockfd")?;
    let sa = address
        .filter(|a| !a.is_none())
        .map(|a| addr::sockaddr(fd, a))
        .transpose()?;
    let flags = args::flags32(flags, "flags")?;
    let control = control_arg(ancdata)?;
    let (pins, iov) = buffers_arg(buffers, false)?;
    let mut layout = Layout::default();
    let hdr_at = layout.reserve::<libc::msghdr>(1);
    let iov_at = layout.reserve::<libc::iovec>(iov.len());
    let name_at = layout.reserve::<libc::sockaddr_storage>(usize::from(sa.is_some()));
    let control_at = layout.reserve::<u8>(control.len());
    let keep = Keep {
        bufs: Some(Box::new(pins)),
        ..Default::default()
    };
    queue(ring, user_data, opcode, keep, |sqe, slot| {
        let block = Block::new(slot, &layout);
        // SAFETY: msghdr is plain data; all-zero is valid (null pointers,
        // zero lengths).
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        hdr.msg_iov = block.put_slice(iov_at, &iov) as *mut libc::iovec;
        hdr.msg_iovlen = iov.len() as _;
        if let Some(sa) = &sa {
            hdr.msg_name = block.put(name_at, sa.storage) as *mut libc::c_void;
            hdr.msg_namelen = sa.len;
        }
        if !control.is_empty() {
            hdr.msg_control = block.put_slice(control_at, &control) as *mut libc::c_void;
            hdr.msg_controllen = control.len() as _;
        }
        build(sqe, fd, block.put(hdr_at, hdr), flags)
    })
}

/// Queues `recvmsg(2)` into a sequence of writable buffers. To learn the
/// sender's address, `msg_flags` (`MSG_TRUNC`, ...) or ancillary data, pass
/// `msg`, a `uring_rs.MsgHdr(controllen)`, and read it once the completion
/// has been consumed. `MSG_CMSG_CLOEXEC` is always added, so fds received
/// with `SCM_RIGHTS` are not inherited by child processes (PEP 446).
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buffers, flags = 0, msg = None))]
pub fn recvmsg(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    buffers: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
    msg: Option<&Bound<'_, MsgHdr>>,
) -> R {
    let ring = &ring;
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")? | libc::MSG_CMSG_CLOEXEC as u32;
    let (pins, iov) = buffers_arg(buffers, true)?;
    let mut layout = Layout::default();
    let iov_at = layout.reserve::<libc::iovec>(iov.len());
    let hdr_at = layout.reserve::<libc::msghdr>(usize::from(msg.is_none()));
    let (claim, msg_hdr) = match msg {
        Some(m) => {
            let (claim, p) = MsgHdr::claim(m)?;
            (Some(claim), Some((m.get(), p)))
        }
        None => (None, None),
    };
    let keep = Keep {
        bufs: Some(Box::new(pins)),
        obj: claim,
        ..Default::default()
    };
    queue(
        ring,
        user_data,
        sys::IORING_OP_RECVMSG,
        keep,
        |sqe, slot| {
            let block = Block::new(slot, &layout);
            let iov_p = block.put_slice(iov_at, &iov);
            let p = match msg_hdr {
                Some((m, p)) => {
                    m.prepare(iov_p, iov.len());
                    p
                }
                None => {
                    // SAFETY: msghdr is plain data; all-zero is valid.
                    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
                    hdr.msg_iov = iov_p as *mut libc::iovec;
                    hdr.msg_iovlen = iov.len() as _;
                    block.put(hdr_at, hdr)
                }
            };
            prep::recvmsg(sqe, fd, p, flags)
        },
    )
}

/// Zero-copy send (Linux 6.0). Two completions: the result, with
/// `IORING_CQE_F_MORE`, then a notification with `IORING_CQE_F_NOTIF` once
/// the kernel no longer reads `buf`; `buf` stays pinned until that second
/// completion is consumed. `zc_flags`: `IORING_RECVSEND_POLL_FIRST`,
/// `IORING_SEND_ZC_REPORT_USAGE` (the notification's `res` then has
/// `IORING_NOTIF_USAGE_ZC_COPIED`, bit 31, if the data was copied after
/// all: a negative `res`, to test with `&`).
#[pyfunction]
#[pyo3(signature = (ring, user_data, sockfd, buf, flags = 0, zc_flags = 0))]
pub fn send_zc(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
    #[pyo3(from_py_with = crate::py::named::zc_flags_i64)] zc_flags: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(sockfd, "sockfd")?;
    let flags = args::flags32(flags, "flags")?;
    let zc_flags = u16::try_from(zc_flags).map_err(|_| {
        PyValueError::new_err(format!(
            "zc_flags must be IORING_RECVSEND_* bits, got {zc_flags}"
        ))
    })?;
    if zc_flags & sys::IORING_RECVSEND_FIXED_BUF != 0 {
        return Err(PyValueError::new_err(
            "IORING_RECVSEND_FIXED_BUF is not supported by send_zc: pass the buffer itself",
        ));
    }
    queue_buf(
        ring,
        user_data,
        sys::IORING_OP_SEND_ZC,
        buf,
        false,
        |sqe, addr, len| prep::send_zc(sqe, fd, addr, len, flags, zc_flags),
    )
}

/// Queues `bind(2)` (Linux 6.11); `address` as the socket module writes it.
#[pyfunction]
pub fn bind(
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
        sys::IORING_OP_BIND,
        Keep::default(),
        |sqe, slot| prep::bind(sqe, fd, stash(slot, sa.storage), sa.len),
    )
}

/// Queues `listen(2)` (Linux 6.11).
#[pyfunction]
pub fn listen(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    sockfd: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::backlog_i64)] backlog: i64,
) -> R {
    let ring = &ring;
    let fd = args::fd(sockfd, "sockfd")?;
    let backlog = int32(backlog, "backlog")?;
    queue(
        ring,
        user_data,
        sys::IORING_OP_LISTEN,
        Keep::default(),
        |sqe, _| prep::listen(sqe, fd, backlog),
    )
}

// -------------------------------------------------- processes and futexes

/// Queues `waitid(2)` (Linux 6.7): `idtype` is `os.P_PID`, `P_PIDFD`,
/// `P_PGID` or `P_ALL`; `options` `os.WEXITED`, ... The result is 0 (or
/// -ECHILD, ...); what happened lands in `infop`, a `uring_rs.Siginfo`, when
/// given.
#[pyfunction]
#[pyo3(signature = (ring, user_data, idtype, id, options, infop = None))]
pub fn waitid(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    #[pyo3(from_py_with = crate::py::named::idtype_i64)] idtype: i64,
    #[pyo3(from_py_with = crate::py::named::id_i64)] id: i64,
    #[pyo3(from_py_with = crate::py::named::options_i64)] options: i64,
    infop: Option<&Bound<'_, Siginfo>>,
) -> R {
    let ring = &ring;
    let idtype = int32(idtype, "idtype")?;
    let id = int32(id, "id")?;
    let options = int32(options, "options")?;
    let (claim, info) = match infop {
        Some(i) => {
            let (claim, p) = Siginfo::claim(i)?;
            (Some(claim), p)
        }
        None => (None, 0),
    };
    let keep = Keep {
        obj: claim,
        ..Default::default()
    };
    queue(ring, user_data, sys::IORING_OP_WAITID, keep, |sqe, _| {
        if let Some(i) = infop {
            i.get().reset();
        }
        prep::waitid(sqe, idtype as u32, id as u32, info, options as u32, 0)
    })
}

/// The futex word: `buf[offset:offset+size]`, aligned to its size (from
/// `futex_flags`' `FUTEX2_SIZE_*`); `buf` is pinned until the completion.
fn futex_word(buf: &Bound<'_, PyAny>, offset: i64, futex_flags: u32) -> PyResult<(PinnedBuf, u64)> {
    let offset = usize::try_from(offset)
        .map_err(|_| PyValueError::new_err(format!("offset must be >= 0, got {offset}")))?;
    let size = 1usize << (futex_flags & sys::FUTEX2_SIZE_U64);
    let pin = PinnedBuf::get(buf, false, "buf")?;
    if offset.checked_add(size).is_none_or(|end| end > pin.len()) {
        return Err(PyValueError::new_err(format!(
            "offset {offset} + {size} is past the end of buf ({} bytes)",
            pin.len()
        )));
    }
    let addr = pin.ptr() as u64 + offset as u64;
    if addr % size as u64 != 0 {
        return Err(PyValueError::new_err(format!(
            "the futex word must be {size}-byte aligned"
        )));
    }
    Ok((pin, addr))
}

/// Waits (Linux 6.7) until the futex word at `buf[offset]` is woken, if it
/// still holds `val` (else -EAGAIN at once). The default `futex_flags` are
/// `FUTEX2_SIZE_U32 | FUTEX2_PRIVATE` (a word in this process); use
/// `FUTEX2_SIZE_U32` alone for one in shared memory.
#[pyfunction]
#[pyo3(signature = (ring, user_data, buf, offset, val, mask = 0xffff_ffff, futex_flags = 130, flags = 0))]
#[allow(clippy::too_many_arguments)]
pub fn futex_wait(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::val_i64)] val: i64,
    #[pyo3(from_py_with = crate::py::named::mask_i64)] mask: i64,
    #[pyo3(from_py_with = crate::py::named::futex_flags_i64)] futex_flags: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    futex(
        ring,
        user_data,
        sys::IORING_OP_FUTEX_WAIT,
        prep::futex_wait,
        buf,
        offset,
        val,
        mask,
        futex_flags,
        flags,
    )
}

/// Wakes (Linux 6.7) up to `val` waiters of the futex word at `buf[offset]`;
/// the result is how many were woken.
#[pyfunction]
#[pyo3(signature = (ring, user_data, buf, offset, val, mask = 0xffff_ffff, futex_flags = 130, flags = 0))]
#[allow(clippy::too_many_arguments)]
pub fn futex_wake(
    #[pyo3(from_py_with = crate::py::ring::ring_arg)] ring: Bound<'_, Ring>,
    #[pyo3(from_py_with = args::user_data)] user_data: u64,
    buf: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::py::named::offset_i64)] offset: i64,
    #[pyo3(from_py_with = crate::py::named::val_i64)] val: i64,
    #[pyo3(from_py_with = crate::py::named::mask_i64)] mask: i64,
    #[pyo3(from_py_with = crate::py::named::futex_flags_i64)] futex_flags: i64,
    #[pyo3(from_py_with = crate::py::named::flags_i64)] flags: i64,
) -> R {
    let ring = &ring;
    futex(
        ring,
        user_data,
        sys::IORING_OP_FUTEX_WAKE,
        prep::futex_wake,
        buf,
        offset,
        val,
        mask,
        futex_flags,
        flags,
    )
}

/// futex_wait and futex_wake: `build` is the builder for `opcode`.
#[allow(clippy::too_many_arguments)]
fn futex(
    ring: &Bound<'_, Ring>,
    user_data: u64,
    opcode: u8,
    build: fn(&mut sys::Sqe, u64, u64, u64, u32, u32),
    buf: &Bound<'_, PyAny>,
    offset: i64,
    val: i64,
    mask: i64,
    futex_flags: i64,
    flags: i64,
) -> R {
    // The kernel checks that val and mask fit the futex size (32 bits).
    let val = nonneg(val, "val")?;
    let mask = nonneg(mask, "mask")?;
    let futex_flags = args::flags32(futex_flags, "futex_flags")?;
    let flags = args::flags32(flags, "flags")?;
    let (pin, addr) = futex_word(buf, offset, futex_flags)?;
    queue(ring, user_data, opcode, Keep::buf(pin), |sqe, _| {
        build(sqe, addr, val, mask, futex_flags, flags)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    out::register(m)?;
    m.add_function(wrap_pyfunction!(readv, m)?)?;
    m.add_function(wrap_pyfunction!(writev, m)?)?;
    m.add_function(wrap_pyfunction!(statx, m)?)?;
    m.add_function(wrap_pyfunction!(fallocate, m)?)?;
    m.add_function(wrap_pyfunction!(fadvise, m)?)?;
    m.add_function(wrap_pyfunction!(madvise, m)?)?;
    m.add_function(wrap_pyfunction!(ftruncate, m)?)?;
    m.add_function(wrap_pyfunction!(sync_file_range, m)?)?;
    m.add_function(wrap_pyfunction!(unlinkat, m)?)?;
    m.add_function(wrap_pyfunction!(renameat, m)?)?;
    m.add_function(wrap_pyfunction!(mkdirat, m)?)?;
    m.add_function(wrap_pyfunction!(symlinkat, m)?)?;
    m.add_function(wrap_pyfunction!(linkat, m)?)?;
    m.add_function(wrap_pyfunction!(openat2, m)?)?;
    m.add_function(wrap_pyfunction!(close_fixed, m)?)?;
    m.add_function(wrap_pyfunction!(files_update, m)?)?;
    m.add_function(wrap_pyfunction!(splice, m)?)?;
    m.add_function(wrap_pyfunction!(tee, m)?)?;
    m.add_function(wrap_pyfunction!(socket, m)?)?;
    m.add_function(wrap_pyfunction!(shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(sendmsg, m)?)?;
    m.add_function(wrap_pyfunction!(sendmsg_zc, m)?)?;
    m.add_function(wrap_pyfunction!(recvmsg, m)?)?;
    m.add_function(wrap_pyfunction!(send_zc, m)?)?;
    m.add_function(wrap_pyfunction!(bind, m)?)?;
    m.add_function(wrap_pyfunction!(listen, m)?)?;
    m.add_function(wrap_pyfunction!(waitid, m)?)?;
    m.add_function(wrap_pyfunction!(futex_wait, m)?)?;
    m.add_function(wrap_pyfunction!(futex_wake, m)?)?;
    Ok(())
}
