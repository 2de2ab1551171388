"""Synchronous batch file helpers on io_uring: ``read_files`` and ``copy_file``.

Each call uses a private ``Ring`` of its own (created and closed inside the call), so
they are safe to call from any thread, and with rings of your own in flight.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, overload

from uring_rs._errors import IoUringError, UringError
from uring_rs._native import AT_FDCWD, Ring, Sqe
from uring_rs._native import openat as ops_openat
from uring_rs._native import read as ops_read
from uring_rs._native import write as ops_write

if TYPE_CHECKING:
    _StrOrBytesPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

__all__ = ["ReadFilesError", "copy_file", "read_files"]

_P = TypeVar("_P", bound="_StrOrBytesPath")

#: Size of each slot's first read: a file that fits is read with one op, no fstat.
_FIRST_READ = 64 * 1024


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


_OPEN, _READ = 0, 1


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

    Up to ``max_in_flight`` files are open and being read at a time: each is an
    ``openat`` and one read into a 64 KiB slot buffer on one ring, submitted in batches
    (files that fill the buffer are sized with ``fstat`` and read on), then closed.
    Files larger than 64 KiB cost one extra copy of their data (read into a buffer, then
    copied into the ``bytes`` returned): for a few big files a plain loop is as fast.

    A path that cannot be read gives the ``OSError`` the built-in ``open``/``read``
    would raise (``FileNotFoundError``, ``IsADirectoryError``, ``PermissionError``...,
    with ``filename`` set). By default every path is still attempted, then
    ``ReadFilesError`` is raised listing all failures; with ``return_exceptions=True``
    the exception takes the path's place in the returned list instead.
    A path that is not ``str``/``bytes``/``os.PathLike`` raises ``TypeError`` up front.
    """
    names = [os.fspath(p) for p in paths]
    for name in names:
        if (b"\0" if isinstance(name, bytes) else "\0") in name:  # type: ignore[operator]
            raise ValueError("embedded null byte")
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
    n = len(names)
    if n == 0:
        return []
    results: list[bytes | OSError | None] = [None] * n
    slots = min(max_in_flight, n, _MAX_SLOTS)
    # Between two submits at most one SQE per slot (an open or a read) and one open per
    # slot freed: the SQ never overflows (_queue still guards against it).
    entries = min(_next_pow2(2 * slots + 2), 32768)
    bufs = [bytearray(_FIRST_READ) for _ in range(slots)]
    views = [memoryview(b) for b in bufs]
    fds = [-1] * slots
    free = list(range(slots - 1, -1, -1))
    big: dict[int, _Big] = {}  # slot -> a file larger than its first read
    next_i = active = 0
    # user_data: file index << 16 | slot << 2 | stage
    with Ring(entries, cq_entries=2 * entries) as ring:
        copy_cqes, submit = ring.copy_cqes, ring.submit

        def slow(ud: int, res: int) -> bool:
            """A failed open/read, or a read of a file larger than the slot buffer.
            Returns True when the file is finished (its slot to be closed and freed)."""
            i, s = ud >> 16, (ud >> 2) & _SLOT_MASK
            if res < 0:
                results[i] = OSError(-res, os.strerror(-res), names[i])
                big.pop(s, None)
                return True
            b = big.get(s)
            if b is None:  # the slot buffer is full: size the file, read on
                size = os.fstat(fds[s]).st_size
                b = big[s] = _Big(bytearray(max(size + 1, 2 * _FIRST_READ)))
                b.data[:res] = bufs[s]
                b.got = res
            elif res == 0 or b.got + res < len(b.data):
                # end of file (a short read of a regular file is its end)
                results[i] = memoryview(b.data)[: b.got + res].tobytes()
                del big[s]
                return True
            else:
                b.got += res
                b.data.extend(bytes(len(b.data)))  # full, and the ring let go: grow
            _queue(ring, ops_read, ud, fds[s], memoryview(b.data)[b.got :], b.got)
            return False

        while next_i < n or active:
            while free and next_i < n:
                s = free.pop()
                ud = next_i << 16 | s << 2 | _OPEN
                try:
                    ops_openat(ring, ud, AT_FDCWD, names[next_i], os.O_RDONLY, 0)
                except UringError:
                    _queue(ring, ops_openat, ud, AT_FDCWD, names[next_i], os.O_RDONLY, 0)
                next_i += 1
                active += 1
            submit(1)
            for cqe in copy_cqes():
                ud, res = cqe.user_data, cqe.res
                stage = ud & 3
                if stage == _READ:
                    s = (ud >> 2) & _SLOT_MASK
                    if 0 <= res < _FIRST_READ and s not in big:  # the whole file in one read
                        results[ud >> 16] = views[s][:res].tobytes()
                    elif not slow(ud, res):
                        continue
                    # The read is complete: nothing in flight uses the fd. A plain close
                    # costs less than a ring op and its completion.
                    os.close(fds[s])
                    free.append(s)
                    active -= 1
                elif stage == _OPEN:
                    s = (ud >> 2) & _SLOT_MASK
                    if res >= 0:
                        fds[s] = res
                        try:
                            ops_read(ring, ud | _READ, res, bufs[s], 0)
                        except UringError:
                            _queue(ring, ops_read, ud | _READ, res, bufs[s], 0)
                    else:
                        slow(ud, res)
                        free.append(s)
                        active -= 1
    if return_exceptions:
        return [r if r is not None else b"" for r in results]
    failures = [(i, e) for i, e in enumerate(results) if isinstance(e, OSError)]
    if failures:
        shown = ", ".join(f"{names[i]!r} ({type(e).__name__}: {e.strerror})" for i, e in failures[:5])
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        err = ReadFilesError(
            f"{len(failures)} of {n} files could not be read: {shown}{more}",
            [e for _, e in failures],
        )
        err.indices = tuple(i for i, _ in failures)
        raise err
    return [b for b in results if isinstance(b, bytes)]


_MAX_SLOTS = 1 << 14
_SLOT_MASK = _MAX_SLOTS - 1


class _Big:
    """A file larger than its slot buffer, read into a growing buffer."""

    __slots__ = ("data", "got")

    def __init__(self, data: bytearray) -> None:
        self.data = data
        self.got = 0


def copy_file(
    src: _StrOrBytesPath,
    dst: _P,
    *,
    chunk_size: int = 1 << 20,
    depth: int = 4,
    follow_symlinks: bool = True,
) -> _P:
    """Copies the contents of ``src`` to ``dst`` with pipelined io_uring reads and writes.

    The semantics are ``shutil.copyfile``'s: only the data is copied, not the mode,
    owner or times (a new ``dst`` gets ``0o666 & ~umask``; an existing one keeps its
    mode and is truncated); ``shutil.SameFileError`` if both name the same file,
    ``shutil.SpecialFileError`` for a named pipe, a symlink copied as a symlink with
    ``follow_symlinks=False``; ``dst`` is returned. Up to ``depth`` chunks of
    ``chunk_size`` bytes are in flight: reads at increasing offsets, each followed by
    the write of what it read at the same offset. Sources that are not regular files
    are copied sequentially.
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
    sfd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sst = os.fstat(sfd)
        if stat.S_ISDIR(sst.st_mode):
            src_name: Any = os.fspath(src)
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), src_name)
        try:
            dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        except IsADirectoryError as e:  # as shutil: a less confusing error (bpo-43219)
            if not os.path.exists(dst):
                raise FileNotFoundError(f"Directory does not exist: {dst!s}") from e
            raise
        try:
            dregular = stat.S_ISREG(os.fstat(dfd).st_mode)
            if stat.S_ISREG(sst.st_mode) and dregular:
                _copy_pipelined(sfd, dfd, sst.st_size, chunk_size, depth, src, dst)
            else:
                _copy_sequential(sfd, dfd, chunk_size, src, dst)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)
    return dst


def _samefile(src: _StrOrBytesPath, dst: _StrOrBytesPath) -> bool:
    try:
        return os.path.samefile(src, dst)
    except OSError:
        return False


def _check(res: int, filename: _StrOrBytesPath) -> int:
    if res < 0:
        raise OSError(-res, os.strerror(-res), os.fspath(filename))
    return res


def _copy_pipelined(
    sfd: int,
    dfd: int,
    size: int,
    chunk: int,
    depth: int,
    src: _StrOrBytesPath,
    dst: _StrOrBytesPath,
) -> None:
    """Up to ``depth`` chunks in flight; buffer ``k`` cycles read -> write -> read."""
    depth = max(1, min(depth, -(-size // chunk) if size else 1))
    entries = _next_pow2(2 * depth)
    bufs = [bytearray(chunk) for _ in range(depth)]
    # per buffer: offset of its chunk, bytes read into it, bytes of it written
    off = [0] * depth
    filled = [0] * depth
    written = [0] * depth
    end = size  # read chunks below `end`; grows if the file grew meanwhile
    next_off = 0
    busy = 0
    with Ring(entries) as ring:

        def start_read(k: int) -> None:
            nonlocal next_off, busy
            off[k], filled[k], written[k] = next_off, 0, 0
            want = min(chunk, end - next_off)
            next_off += want
            busy += 1
            _queue(ring, ops_read, k << 1, sfd, memoryview(bufs[k])[:want], off[k])

        while True:
            for k in range(depth):
                if next_off < end:
                    start_read(k)
            while busy:
                ring.submit(wait_nr=1)
                for cqe in ring.copy_cqes():
                    k, is_write = cqe.user_data >> 1, cqe.user_data & 1
                    if is_write:
                        written[k] += _check(cqe.res, dst)
                        if written[k] < filled[k]:  # short write: the rest
                            view = memoryview(bufs[k])[written[k] : filled[k]]
                            _queue(ring, ops_write, k << 1 | 1, dfd, view, off[k] + written[k])
                            continue
                        busy -= 1
                        if next_off < end:
                            start_read(k)
                        continue
                    n = _check(cqe.res, src)
                    want = min(chunk, end - off[k])
                    if n == 0:  # the file shrank: its end is here
                        end = min(end, off[k] + filled[k])
                        next_off = min(next_off, end)
                        if filled[k] == 0:
                            busy -= 1
                            continue
                    else:
                        filled[k] += n
                        if filled[k] < want:  # short read: read the rest of the chunk
                            view = memoryview(bufs[k])[filled[k] : want]
                            _queue(ring, ops_read, k << 1, sfd, view, off[k] + filled[k])
                            continue
                    view = memoryview(bufs[k])[: filled[k]]
                    _queue(ring, ops_write, k << 1 | 1, dfd, view, off[k])
            grown = os.fstat(sfd).st_size
            if grown <= end:  # as shutil, which reads until a read returns nothing
                break
            end = grown


def _copy_sequential(
    sfd: int, dfd: int, chunk: int, src: _StrOrBytesPath, dst: _StrOrBytesPath
) -> None:
    """For devices and other non-regular files: read, write, repeat, at the file positions."""
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
