"""Synchronous file helpers: ``read_files`` (on io_uring) and ``copy_file`` (the kernel's
own copy between regular files, io_uring for the rest).

Each call that uses a ring uses a private ``Ring`` of its own (created and closed inside
the call), so they are safe to call from any thread, and with rings of your own in flight.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, overload

from uring_rs._errors import IoUringError, UringError
from uring_rs._native import (
    IOSQE_IO_LINK,
    Ring,
    Sqe,
    _Pipes,
    _preallocate,
)
from uring_rs._native import _read_files as _native_read_files
from uring_rs._native import read as ops_read
from uring_rs._native import splice as ops_splice
from uring_rs._native import write as ops_write

if TYPE_CHECKING:
    _StrOrBytesPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

__all__ = ["ReadFilesError", "copy_file", "read_files"]

_P = TypeVar("_P", bound="_StrOrBytesPath")

#: Between regular files, the kernel's own copy (copy_file_range, else sendfile) first; the
#: ring's pipelines when it cannot (and, switched off, in the tests of those pipelines).
_COPY_IN_KERNEL = True
_COPY_SPLICE = True
#: What refuses a kernel copy between two regular files, before a byte moved: no such
#: call (ENOSYS), not between these filesystems (EXDEV) or these files (EINVAL, EBADF,
#: EOPNOTSUPP, ETXTBSY, EPERM: FUSE and NFS give these). The next way is tried then.
_KERNEL_COPY_REFUSED = frozenset(
    {
        errno.ENOSYS,
        errno.EXDEV,
        errno.EINVAL,
        errno.EBADF,
        errno.EOPNOTSUPP,
        errno.ETXTBSY,
        errno.EPERM,
    }
)
#: Bytes per splice: a chunk larger than this goes through its pipe in segments. Larger
#: splices (512 KiB, 1 MiB pipes) were measured here to fall, run after run, into a mode
#: that costs twice the CPU (both splice and read/write of 1 MiB chunks); 256 KiB ones do
#: not, and keep the io-wq dispatches (one per splice) few.
_SPLICE_SEGMENT = 256 << 10


if sys.version_info >= (3, 11):
    _GroupBase = ExceptionGroup  # noqa: F821 - a builtin from 3.11
else:  # pragma: no cover - exercised on 3.9/3.10 only

    class _GroupBase(Exception):
        """What ``ExceptionGroup`` offers that ``ReadFilesError`` needs, before 3.11."""

        def __init__(self, message: str, exceptions: Sequence[OSError]) -> None:
            super().__init__(message, list(exceptions))
            self.message = message
            self.exceptions = tuple(exceptions)

        def __str__(self) -> str:
            n = len(self.exceptions)
            return f"{self.message} ({n} sub-exception{'s' if n != 1 else ''})"


class ReadFilesError(_GroupBase):
    """``read_files`` failed for some paths.

    ``exceptions`` holds one ``OSError`` per failed path, in input order, each with
    ``filename`` set (the same exception the built-in ``open``/``read`` raises);
    ``indices`` gives their positions in the input. From Python 3.11 this is an
    ``ExceptionGroup``, so ``except* FileNotFoundError`` works; before, a plain
    ``Exception`` with the same ``message`` and ``exceptions`` attributes.
    """

    indices: tuple[int, ...]

    def derive(self, excs: Sequence[OSError]) -> ReadFilesError:  # type: ignore[override]
        # except* splits keep the class; the split-off part has no index information.
        err = ReadFilesError(self.message, excs)
        err.indices = ()
        return err


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def _queue(ring: Ring, fn: object, *args: object) -> Sqe:
    """Queues an op, submitting first when the SQ is full."""
    try:
        return fn(ring, *args)  # type: ignore[operator,no-any-return]
    except UringError as e:
        if e.kind is not IoUringError.SUBMISSION_QUEUE_FULL:
            raise
        ring.submit()
        return fn(ring, *args)  # type: ignore[operator,no-any-return]


#: read_files uses direct descriptors where the kernel can open into its fixed-file table
#: and read in the same chain (IORING_FEAT_LINKED_FILE, Linux 5.18); False forces plain
#: descriptors (a switch for the tests, which run both ways).
_READ_DIRECT = True
_MAX_SLOTS = 1 << 14


@overload
def read_files(
    paths: Iterable[_StrOrBytesPath],
    *,
    max_in_flight: int = 64,
    return_exceptions: Literal[False] = False,
) -> list[bytes]: ...
@overload
def read_files(
    paths: Iterable[_StrOrBytesPath],
    *,
    max_in_flight: int = 64,
    return_exceptions: Literal[True],
) -> list[bytes | OSError]: ...
@overload
def read_files(
    paths: Iterable[_StrOrBytesPath],
    *,
    max_in_flight: int = 64,
    return_exceptions: bool,
) -> list[bytes] | list[bytes | OSError]: ...
def read_files(
    paths: Iterable[_StrOrBytesPath],
    *,
    max_in_flight: int = 64,
    return_exceptions: bool = False,
) -> list[bytes] | list[bytes | OSError]:
    """Reads many whole files at once; returns their contents in input order.

    The result for each path is what ``open(path, "rb").read()`` returns: reading goes on
    until a read returns 0 bytes, whatever the file's reported size (procfs and sysfs files,
    FIFOs, files that grow or shrink meanwhile). A FIFO is read once a writer has come, as
    the built-in ``open`` waits for one.

    Up to ``max_in_flight`` files are open and being read at a time, on a private ring,
    by a native loop. From 256 paths on (with ``max_in_flight`` >= 2 and two CPUs), the
    calling thread and one helper thread each run the loop on a ring of their own, with
    half of ``max_in_flight`` each, taking the next path from a shared counter: the kernel
    completes the opens and reads of cached files inline in the thread that submits them,
    so the work runs on two CPUs (the GIL is held only to make the ``bytes``). Each file
    is one chain, an ``openat`` into the slot's entry of a
    fixed-file table (a direct descriptor, which never enters the process's fd table and
    needs no close: the next open into the entry replaces it) linked to two reads
    (``IOSQE_IO_HARDLINK``) into the slot's two 64 KiB buffers at the file position (the
    second confirms the end of a file that fit in the first). Larger files are read on in
    pairs of reads. Kernels before 5.18 (no ``IORING_FEAT_LINKED_FILE``) get plain
    descriptors: the open, then the two reads, then a ``close``.

    A path that cannot be read gives the ``OSError`` the built-in ``open``/``read``
    would raise (``FileNotFoundError``, ``IsADirectoryError``, ``PermissionError``...,
    with ``filename`` set). By default every path is still attempted, then
    ``ReadFilesError`` is raised listing all failures; with ``return_exceptions=True``
    the exception takes the path's place in the returned list instead.
    A path that is not ``str``/``bytes``/``os.PathLike`` raises ``TypeError`` up front.
    Signal handlers run between the loop's waits; if one raises (``KeyboardInterrupt``),
    everything in flight is cancelled and waited for, and every descriptor the call opened
    is closed, before the exception propagates.
    """
    if not isinstance(max_in_flight, int) or isinstance(max_in_flight, bool):
        raise TypeError(f"max_in_flight must be an int, not {type(max_in_flight).__name__}")
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
    items = paths if type(paths) is list else list(paths)
    if not items:
        return []
    # The native loop converts the paths (TypeError, ValueError for a null byte) before
    # it opens anything, and closes or drains everything before an exception leaves it.
    results, failures = _native_read_files(
        items, min(max_in_flight, _MAX_SLOTS), direct=_READ_DIRECT
    )
    if not failures:
        return results  # type: ignore[return-value] # no None left: every path was read
    errors = [(i, OSError(e, os.strerror(e), name)) for i, e, name in failures]
    if return_exceptions:
        for i, err in errors:
            results[i] = err  # type: ignore[call-overload]
        return results  # type: ignore[return-value]
    n = len(items)
    shown = ", ".join(f"{e.filename!r} ({type(e).__name__}: {e.strerror})" for _, e in errors[:5])
    more = f" and {len(errors) - 5} more" if len(errors) > 5 else ""
    group = ReadFilesError(
        f"{len(errors)} of {n} files could not be read: {shown}{more}",
        [e for _, e in errors],
    )
    group.indices = tuple(i for i, _ in errors)
    raise group


def copy_file(
    src: _StrOrBytesPath,
    dst: _P,
    *,
    chunk_size: int = 1 << 20,
    depth: int = 4,
    follow_symlinks: bool = True,
) -> _P:
    """Copies the contents of ``src`` to ``dst``: in the kernel between regular files,
    through io_uring otherwise.

    The semantics are ``shutil.copyfile``'s: only the data is copied, not the mode,
    owner or times (a new ``dst`` gets ``0o666 & ~umask``; an existing one keeps its
    mode and is truncated); ``shutil.SameFileError`` if both name the same file,
    ``shutil.SpecialFileError`` for a named pipe, a symlink copied as a symlink with
    ``follow_symlinks=False``; ``dst`` is returned. The copy is what reading ``src`` until
    a read returns 0 bytes gives, whatever size it reports (procfs reports 0, sysfs 4096).

    Between regular files, ``dst``'s blocks are reserved first for the size ``src``
    reports (``fallocate`` with ``FALLOC_FL_KEEP_SIZE``: one extent, instead of ext4's
    block-by-block delayed allocation as writes come, which is most of a buffered
    write's cost), and the kernel copies: ``copy_file_range`` (a reflink on filesystems
    that share extents, btrfs and XFS; an in-kernel copy on others), else ``sendfile``
    (between filesystems), until it reports the end, which one more read confirms.
    io_uring has no file-to-file copy, and its splices always run on the kernel's
    workers: measured here, that pipeline was slower and less steady (BENCHMARKS.md).
    Where neither call serves, up to ``depth`` chunks of ``chunk_size`` bytes are in
    flight at increasing offsets, each moved by ``IORING_OP_SPLICE`` into a pipe of its
    own and out to the same offset of ``dst``, each write linked to its read (splices
    move at most 256 KiB, so ``chunk_size`` is capped there; without ``F_SETPIPE_SZ``,
    reads and writes through buffers). Other sources and destinations (devices, files
    reporting size 0) are read and written in turn on a ring, ``chunk_size`` at a time.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    import shutil  # for its exception types; imported here to keep `import uring_rs` light

    sys.audit("shutil.copyfile", src, dst)
    if _samefile(src, dst):
        raise shutil.SameFileError(f"{src!r} and {dst!r} are the same file")
    both: tuple[Any, Any] = (src, dst)
    for fn in both:
        try:
            st = os.stat(fn)
        except OSError:
            continue
        if stat.S_ISFIFO(st.st_mode):
            name: Any = os.fspath(fn)
            raise shutil.SpecialFileError(f"`{os.fsdecode(name)}` is a named pipe")
    if not follow_symlinks and os.path.islink(src):
        src_any: Any = src
        link: Any = os.readlink(src_any)
        os.symlink(link, dst)
        return dst
    # Unbuffered file objects own their descriptors from the moment the kernel returns
    # them (an exception from a signal handler cannot leak one), and they raise what
    # shutil.copyfile's open() calls raise (IsADirectoryError for a directory source).
    with open(src, "rb", buffering=0) as fsrc:
        try:
            fdst = open(dst, "wb", buffering=0)  # noqa: SIM115 - closed by the with below
        except IsADirectoryError as e:  # as shutil: a less confusing error (bpo-43219)
            if not os.path.exists(dst):
                raise FileNotFoundError(f"Directory does not exist: {dst!s}") from e
            raise
        with fdst:
            sfd, dfd = fsrc.fileno(), fdst.fileno()
            sst = os.fstat(sfd)
            dregular = stat.S_ISREG(os.fstat(dfd).st_mode)
            if stat.S_ISREG(sst.st_mode) and sst.st_size > 0 and dregular:
                reserved = _preallocate(dfd, sst.st_size)
                try:
                    whole = _copy_in_kernel(sfd, dfd, sst.st_size, src, dst)
                    if whole is None:
                        depth = max(1, min(depth, -(-sst.st_size // chunk_size)))
                        use_splice = _COPY_SPLICE
                        _copy_pipelined(sfd, dfd, chunk_size, depth, src, dst, use_splice)
                    elif not whole:  # a kernel copy that stopped short of the end
                        _copy_sequential(sfd, dfd, chunk_size, src, dst)
                finally:
                    if reserved:
                        end = os.fstat(dfd).st_size
                        if end < sst.st_size:
                            # Blocks reserved past the end (the source shrank, or the
                            # copy failed): truncating at the size frees them (ext4,
                            # tmpfs).
                            os.ftruncate(dfd, end)
            else:
                _copy_sequential(sfd, dfd, chunk_size, src, dst)
    return dst


def _copy_in_kernel(
    sfd: int, dfd: int, size: int, src: _StrOrBytesPath, dst: _StrOrBytesPath
) -> bool | None:
    """Copies ``sfd`` to ``dfd`` (both regular, at their file positions, 0) in the kernel.

    None if the kernel refuses both calls before a byte moved (the ring's pipeline copies
    then); True when the copy is whole: the call reported the end and a read there found
    nothing. False when it stopped with the source still having bytes there (a
    filesystem whose copy reports an end too early): the caller goes on from there by
    reads and writes, at the file positions, which the calls advanced.
    """
    if not _COPY_IN_KERNEL:
        return None
    # The calls copy at most what they are asked in one go, and return early (with what
    # they moved) for a pending signal, whose Python handler runs between two of them.
    ask = min(max(size, 8 << 20), 1 << 30)
    kernel_copy = _copy_file_range
    copied = 0
    while True:
        try:
            n = kernel_copy(sfd, dfd, ask)
        except OSError as e:
            if copied == 0 and e.errno in _KERNEL_COPY_REFUSED:
                if kernel_copy is _copy_file_range:
                    kernel_copy = _sendfile
                    continue
                return None
            raise OSError(e.errno, e.strerror, os.fspath(src), None, os.fspath(dst)) from None
        if n == 0:
            break
        copied += n
    # An end reported is an end only if a read there finds nothing.
    return not os.pread(sfd, 1, copied)


def _copy_file_range(sfd: int, dfd: int, n: int) -> int:
    return os.copy_file_range(sfd, dfd, n)


def _sendfile(sfd: int, dfd: int, n: int) -> int:
    return os.sendfile(dfd, sfd, None, n)


def _samefile(src: _StrOrBytesPath, dst: _StrOrBytesPath) -> bool:
    try:
        return os.path.samefile(src, dst)
    except OSError:
        return False


def _check(res: int, filename: _StrOrBytesPath) -> int:
    if res < 0:
        raise OSError(-res, os.strerror(-res), os.fspath(filename))
    return res


class _Chunk:
    """One of the copy's ``depth`` slots: a chunk of the source at ``off`` moving through
    a buffer (or a pipe) to the destination at the same offset."""

    __slots__ = (
        "buf",
        "cancelled",
        "done_in",
        "filled",
        "linked",
        "off",
        "pending",
        "pipe",
        "reading",
        "want",
    )

    def __init__(self, buf: bytearray | None, pipe: tuple[int, int] | None) -> None:
        self.buf = buf
        self.pipe = pipe
        self.off = 0  # the chunk's offset in both files
        self.want = 0  # its length
        self.filled = 0  # bytes of it read so far (into buf[0:] or the pipe)
        self.pending = 0  # bytes read and not yet written
        self.done_in = False  # its reads are over (full, or the end of the source)
        self.linked = False  # a write is linked to the read in flight (or its result)
        self.reading = False  # a read is in flight
        self.cancelled = False  # the linked write came back -ECANCELED before the read


def _copy_pipelined(
    sfd: int,
    dfd: int,
    chunk: int,
    depth: int,
    src: _StrOrBytesPath,
    dst: _StrOrBytesPath,
    use_splice: bool,
) -> None:
    """Copies ``sfd`` to ``dfd`` (both regular) with ``depth`` chunks in flight.

    Each chunk is read (or spliced into its pipe) at its offset, and what came is
    written (or spliced out of the pipe) at the same offset; a short read reads the rest
    of the chunk. Only a read of 0 bytes ends the source (at that chunk's offset plus
    what it had): the reported size is only where planning starts, and chunks go on past
    it until a read finds the end. Anything written past the end (the source shrank
    while chunks beyond ran) is truncated away at the end, so the copy is what a
    sequential read until EOF gives, as for ``shutil.copyfile``.
    """
    pipes: _Pipes | None = None
    eof = -1  # the source's end, once a read found it
    next_off = 0
    busy = 0
    high = 0  # the end of what was written
    try:
        # The pipes close themselves when the object goes, wherever an exception from a
        # signal handler lands (even at the start of the `finally` below, which it skips).
        pipes = _Pipes(depth, min(chunk, _SPLICE_SEGMENT)) if use_splice else None
        if pipes is not None and pipes.sized:
            # Chunks of at most a segment, at consecutive offsets: writes that land in
            # `depth` regions a megabyte apart were the slow mode too.
            chunk = min(chunk, _SPLICE_SEGMENT)
            slots = [_Chunk(None, p) for p in pipes.fds]
        else:
            slots = [_Chunk(bytearray(chunk), None) for _ in range(depth)]
        # Between two submits each chunk queues at most a read and its linked write.
        entries = _next_pow2(2 * depth + 2)
        with Ring(entries, cq_entries=2 * entries) as ring:

            def read_in(k: int) -> None:
                # The read, and linked to it (IOSQE_IO_LINK) the write of all it asked
                # for: a full read (the rule) goes on to its write with no round trip; a
                # short one fails the link, the write comes back -ECANCELED, and what
                # was read is written then.
                c = slots[k]
                at, n = c.off + c.filled, c.want - c.filled
                if ring.sq_space_left() < 2:
                    ring.submit()
                if c.pipe is not None:
                    n = min(n, _SPLICE_SEGMENT)  # the rest after this segment's write
                    ops_splice(ring, k << 1, sfd, at, c.pipe[1], -1, n).flags = IOSQE_IO_LINK
                    ops_splice(ring, k << 1 | 1, c.pipe[0], -1, dfd, at, n)
                else:
                    assert c.buf is not None
                    view = memoryview(c.buf)[c.filled : c.want]
                    ops_read(ring, k << 1, sfd, view, at).flags = IOSQE_IO_LINK
                    ops_write(ring, k << 1 | 1, dfd, view, at)
                c.linked = c.reading = True

            def write_out(k: int) -> None:
                c = slots[k]
                at = c.off + c.filled - c.pending
                if c.pipe is not None:
                    _queue(ring, ops_splice, k << 1 | 1, c.pipe[0], -1, dfd, at, c.pending)
                else:
                    assert c.buf is not None
                    view = memoryview(c.buf)[c.filled - c.pending : c.filled]
                    _queue(ring, ops_write, k << 1 | 1, dfd, view, at)

            def after_read(k: int) -> None:
                """A short read whose linked write was cancelled: write what it read."""
                nonlocal busy
                if slots[k].pending:
                    write_out(k)
                else:  # nothing: the end of the source
                    busy -= 1
                    start(k)

            def start(k: int) -> bool:
                nonlocal next_off, busy
                if eof >= 0:
                    return False
                c = slots[k]
                c.off, c.want, c.filled, c.pending, c.done_in = next_off, chunk, 0, 0, False
                next_off += chunk
                busy += 1
                read_in(k)
                return True

            for k in range(depth):
                start(k)
            while busy:
                ring.submit(wait_nr=1)
                for cqe in ring.copy_cqes():
                    k, is_write = cqe.user_data >> 1, cqe.user_data & 1
                    c = slots[k]
                    if is_write:
                        if c.linked:  # the write linked to a read
                            c.linked = False
                            if cqe.res == -errno.ECANCELED:  # the read came short
                                if c.reading:  # its completion is still to come
                                    c.cancelled = True
                                else:
                                    after_read(k)
                                continue
                        w = _check(cqe.res, dst)
                        if w == 0:
                            raise OSError(errno.EIO, "write returned 0", os.fspath(dst))
                        c.pending -= w
                        high = max(high, c.off + c.filled - c.pending)
                        if c.pending:
                            write_out(k)  # a short write: the rest
                        elif not c.done_in:
                            read_in(k)  # the rest of a chunk that was read short
                        else:
                            busy -= 1
                            start(k)
                        continue
                    c.reading = False
                    n = _check(cqe.res, src)
                    if n == 0:  # the end of the source
                        end = c.off + c.filled
                        eof = end if eof < 0 else min(eof, end)
                        c.done_in = True
                    else:
                        c.filled += n
                        c.pending += n
                        c.done_in = c.filled >= c.want
                    # The linked write runs (a full read) or comes back cancelled (a
                    # short one): either way its completion carries the chunk on.
                    if c.cancelled:
                        c.cancelled = False
                        after_read(k)
        if high > eof >= 0:
            os.ftruncate(dfd, eof)  # chunks past a source that shrank meanwhile
    finally:
        if pipes is not None:
            pipes.close()


def _copy_sequential(
    sfd: int, dfd: int, chunk: int, src: _StrOrBytesPath, dst: _StrOrBytesPath
) -> None:
    """Read, write, repeat, at the file positions, until a read returns 0: for sources
    whose size says nothing (procfs reports 0), devices, and non-regular destinations."""
    buf = bytearray(chunk)
    with Ring(4) as ring:
        while True:
            _queue(ring, ops_read, 0, sfd, buf, -1)
            ring.submit(wait_nr=1)
            (cqe,) = ring.copy_cqes(wait_nr=1)
            n = _check(cqe.res, src)
            if n == 0:
                return
            done = 0
            while done < n:
                _queue(ring, ops_write, 1, dfd, memoryview(buf)[done:n], -1)
                ring.submit(wait_nr=1)
                (cqe,) = ring.copy_cqes(wait_nr=1)
                w = _check(cqe.res, dst)
                if w == 0:
                    raise OSError(errno.EIO, "write returned 0", os.fspath(dst))
                done += w
