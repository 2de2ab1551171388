"""``aiofiles.os`` on io_uring: the ``os`` file functions as coroutines, same names.

Owns: ``stat``, ``rename``, ``renames``, ``replace``, ``remove``, ``unlink``, ``mkdir``,
``makedirs``, ``rmdir``, ``removedirs``, ``link``, ``symlink``, ``readlink``,
``listdir``, ``scandir``, ``access``, ``getcwd``, ``sendfile``, ``statvfs``, and
``fsync``, ``fdatasync``, ``ftruncate``, ``posix_fallocate``; ``path`` is
``uring_rs.aio.ospath`` (``aiofiles.os.path``).
May not touch: the ring's internals beyond ``AioRing._op`` and ``AioRing._supports``;
imports ``uring_rs.aio._bridge`` (and ``ospath``) from this package.

Each function takes the arguments of its ``os`` namesake and raises what it raises (the
same ``OSError`` subclasses with ``filename``/``filename2``, ``ValueError`` for an
embedded null byte, ``TypeError`` for a wrong argument type). Where the kernel has the
op, it runs on the running loop's shared ring (``ring=`` picks another): ``statx``,
``unlinkat``, ``renameat``, ``mkdirat``, ``symlinkat``, ``linkat``, ``fsync``,
``fallocate``, ``ftruncate`` (each probed: a kernel without it falls back to the
executor). The rest (``readlink``, ``listdir``, ``scandir``, ``access``, ``getcwd``,
``sendfile``, ``statvfs``) runs the ``os`` function on the loop's default executor, or
on ``executor=``, as aiofiles does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from uring_rs import _native
from uring_rs.aio import ospath as path
from uring_rs.aio._bridge import AioRing, get_ring, ops

if TYPE_CHECKING:
    from typing_extensions import Self

    from uring_rs.aio._bridge import _Fd, _StrOrBytesPath

__all__ = [
    "access",
    "fdatasync",
    "fsync",
    "ftruncate",
    "getcwd",
    "link",
    "listdir",
    "makedirs",
    "mkdir",
    "path",
    "posix_fallocate",
    "readlink",
    "remove",
    "removedirs",
    "rename",
    "renames",
    "replace",
    "rmdir",
    "scandir",
    "sendfile",
    "stat",
    "statvfs",
    "symlink",
    "unlink",
]

_T = TypeVar("_T")
_AT_FDCWD = _native.AT_FDCWD
_AT_REMOVEDIR = _native.AT_REMOVEDIR
_AT_SYMLINK_FOLLOW = _native.AT_SYMLINK_FOLLOW


# ---- arguments and errors, as the os module words them ------------------------------------


def _fspath(func: str, arg: str, value: Any, *, fd: bool = False) -> Any:
    """``os.fspath(value)`` checked as ``os.<func>`` checks its ``arg`` argument."""
    if fd and isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        p = os.fspath(value)
    except TypeError:
        kinds = "string, bytes, os.PathLike or integer" if fd else "string, bytes or os.PathLike"
        raise TypeError(f"{func}: {arg} should be {kinds}, not {type(value).__name__}") from None
    if isinstance(p, bytes):
        if b"\0" in p:
            raise ValueError(f"{func}: embedded null character in {arg}")
    elif "\0" in p:
        # Python 3.13's os words a str's null as it words a bytes' one.
        if sys.version_info >= (3, 13):
            raise ValueError(f"{func}: embedded null character in {arg}")
        raise ValueError("embedded null byte")
    return p


def _dir_fd(value: int | None) -> int:
    return _AT_FDCWD if value is None else value


def _error(res: int, filename: Any = None, filename2: Any = None) -> OSError:
    if filename2 is not None:
        return OSError(-res, os.strerror(-res), filename, None, filename2)
    if filename is not None:
        return OSError(-res, os.strerror(-res), filename)
    return OSError(-res, os.strerror(-res))


def _ring(ring: AioRing | None) -> AioRing:
    return ring if ring is not None else get_ring()


async def _run(executor: Executor | None, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``fn(*args, **kwargs)`` on ``executor`` (the loop's default if None)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))


async def _on_ring(
    r: AioRing,
    opcode: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    fallback: Callable[[], Any],
    executor: Executor | None,
) -> int:
    """Runs ``fn`` on the ring if the kernel has ``opcode``, else ``fallback`` (the os
    function, which raises its own errors) on the executor; returns the op's result
    (negative: an errno for the caller to raise with the right filenames)."""
    if not r._supports(opcode):
        await _run(executor, fallback)
        return 0
    res: int = await r._op(fn, *args)
    return res


# ---- io_uring ops ---------------------------------------------------------------------------


async def stat(
    path: _StrOrBytesPath | int,
    *,
    dir_fd: int | None = None,
    follow_symlinks: bool = True,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> os.stat_result:
    """``os.stat`` (``statx`` on the ring): an ``os.stat_result``; ``path`` may be a
    descriptor, ``follow_symlinks=False`` is ``lstat``."""
    p = _fspath("stat", "path", path, fd=True)
    r = _ring(ring)
    if not r._supports(_native.IORING_OP_STATX):
        return await _run(executor, os.stat, p, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
    try:
        return await r.stat(p, dir_fd=_dir_fd(dir_fd), follow_symlinks=follow_symlinks)
    except OSError as e:
        if e.filename is None and isinstance(p, int):  # os.stat names a descriptor too
            raise OSError(e.errno, e.strerror, p) from None
        raise


async def remove(
    path: _StrOrBytesPath,
    *,
    dir_fd: int | None = None,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.remove`` (``unlinkat`` on the ring)."""
    p = _fspath("remove", "path", path)
    res = await _on_ring(
        _ring(ring),
        _native.IORING_OP_UNLINKAT,
        ops.unlinkat,
        (_dir_fd(dir_fd), p, 0),
        functools.partial(os.remove, p, dir_fd=dir_fd),
        executor,
    )
    if res < 0:
        raise _error(res, p)


async def unlink(
    path: _StrOrBytesPath,
    *,
    dir_fd: int | None = None,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.unlink`` (``unlinkat`` on the ring)."""
    p = _fspath("unlink", "path", path)
    res = await _on_ring(
        _ring(ring),
        _native.IORING_OP_UNLINKAT,
        ops.unlinkat,
        (_dir_fd(dir_fd), p, 0),
        functools.partial(os.unlink, p, dir_fd=dir_fd),
        executor,
    )
    if res < 0:
        raise _error(res, p)


async def rmdir(
    path: _StrOrBytesPath,
    *,
    dir_fd: int | None = None,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.rmdir`` (``unlinkat`` with ``AT_REMOVEDIR`` on the ring)."""
    p = _fspath("rmdir", "path", path)
    res = await _on_ring(
        _ring(ring),
        _native.IORING_OP_UNLINKAT,
        ops.unlinkat,
        (_dir_fd(dir_fd), p, _AT_REMOVEDIR),
        functools.partial(os.rmdir, p, dir_fd=dir_fd),
        executor,
    )
    if res < 0:
        raise _error(res, p)


async def mkdir(
    path: _StrOrBytesPath,
    mode: int = 0o777,
    *,
    dir_fd: int | None = None,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.mkdir`` (``mkdirat`` on the ring; the umask applies)."""
    p = _fspath("mkdir", "path", path)
    res = await _on_ring(
        _ring(ring),
        _native.IORING_OP_MKDIRAT,
        ops.mkdirat,
        (_dir_fd(dir_fd), p, mode),
        functools.partial(os.mkdir, p, mode, dir_fd=dir_fd),
        executor,
    )
    if res < 0:
        raise _error(res, p)


async def _rename(
    func: str,
    src: _StrOrBytesPath,
    dst: _StrOrBytesPath,
    src_dir_fd: int | None,
    dst_dir_fd: int | None,
    ring: AioRing | None,
    executor: Executor | None,
) -> None:
    s, d = _fspath(func, "src", src), _fspath(func, "dst", dst)
    fallback = functools.partial(
        getattr(os, func), s, d, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd
    )
    res = await _on_ring(
        _ring(ring),
        _native.IORING_OP_RENAMEAT,
        ops.renameat,
        (_dir_fd(src_dir_fd), s, _dir_fd(dst_dir_fd), d, 0),
        fallback,
        executor,
    )
    if res < 0:
        raise _error(res, s, d)


async def rename(
    src: _StrOrBytesPath,
    dst: _StrOrBytesPath,
    *,
    src_dir_fd: int | None = None,
    dst_dir_fd: int | None = None,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.rename`` (``renameat`` on the ring)."""
    await _rename("rename", src, dst, src_dir_fd, dst_dir_fd, ring, executor)


async def replace(
    src: _StrOrBytesPath,
    dst: _StrOrBytesPath,
    *,
    src_dir_fd: int | None = None,
    dst_dir_fd: int | None = None,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.replace`` (``renameat`` on the ring)."""
    await _rename("replace", src, dst, src_dir_fd, dst_dir_fd, ring, executor)


async def link(
    src: _StrOrBytesPath,
    dst: _StrOrBytesPath,
    *,
    src_dir_fd: int | None = None,
    dst_dir_fd: int | None = None,
    follow_symlinks: bool = True,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.link`` (``linkat`` on the ring; ``follow_symlinks`` is ``AT_SYMLINK_FOLLOW``)."""
    s, d = _fspath("link", "src", src), _fspath("link", "dst", dst)
    res = await _on_ring(
        _ring(ring),
        _native.IORING_OP_LINKAT,
        ops.linkat,
        (
            _dir_fd(src_dir_fd),
            s,
            _dir_fd(dst_dir_fd),
            d,
            _AT_SYMLINK_FOLLOW if follow_symlinks else 0,
        ),
        functools.partial(
            os.link,
            s,
            d,
            src_dir_fd=src_dir_fd,
            dst_dir_fd=dst_dir_fd,
            follow_symlinks=follow_symlinks,
        ),
        executor,
    )
    if res < 0:
        raise _error(res, s, d)


async def symlink(
    src: _StrOrBytesPath,
    dst: _StrOrBytesPath,
    target_is_directory: bool = False,
    *,
    dir_fd: int | None = None,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.symlink``: ``dst`` becomes a link to ``src`` (``symlinkat`` on the ring)."""
    s, d = _fspath("symlink", "src", src), _fspath("symlink", "dst", dst)
    res = await _on_ring(
        _ring(ring),
        _native.IORING_OP_SYMLINKAT,
        ops.symlinkat,
        (s, _dir_fd(dir_fd), d),
        functools.partial(os.symlink, s, d, target_is_directory, dir_fd=dir_fd),
        executor,
    )
    if res < 0:
        raise _error(res, s, d)


async def fsync(fd: _Fd, *, ring: AioRing | None = None, executor: Executor | None = None) -> None:
    """``os.fsync`` (on the ring)."""
    await _sync(fd, 0, os.fsync, ring, executor)


async def fdatasync(
    fd: _Fd, *, ring: AioRing | None = None, executor: Executor | None = None
) -> None:
    """``os.fdatasync`` (``fsync`` with ``IORING_FSYNC_DATASYNC`` on the ring)."""
    await _sync(fd, _native.IORING_FSYNC_DATASYNC, os.fdatasync, ring, executor)


async def _sync(
    fd: _Fd,
    flags: int,
    fallback: Callable[[Any], None],
    ring: AioRing | None,
    executor: Executor | None,
) -> None:
    n = _fileno(fd)
    res = await _on_ring(
        _ring(ring),
        _native.IORING_OP_FSYNC,
        ops.fsync,
        (n, flags),
        functools.partial(fallback, n),
        executor,
    )
    if res < 0:
        raise _error(res)


async def ftruncate(
    fd: int, length: int, *, ring: AioRing | None = None, executor: Executor | None = None
) -> None:
    """``os.ftruncate`` (``IORING_OP_FTRUNCATE``, Linux 6.9, on the ring)."""
    n = _fileno(fd)
    if length < 0:
        raise OSError(22, os.strerror(22))  # EINVAL, as os.ftruncate
    res = await _on_ring(
        _ring(ring),
        _native.IORING_OP_FTRUNCATE,
        ops.ftruncate,
        (n, length),
        functools.partial(os.ftruncate, n, length),
        executor,
    )
    if res < 0:
        raise _error(res)


async def posix_fallocate(
    fd: int,
    offset: int,
    length: int,
    *,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.posix_fallocate`` (``fallocate`` with mode 0 on the ring)."""
    n = _fileno(fd)
    if offset < 0 or length <= 0:
        raise OSError(22, os.strerror(22))  # EINVAL, as posix_fallocate(3)
    res = await _on_ring(
        _ring(ring),
        _native.IORING_OP_FALLOCATE,
        ops.fallocate,
        (n, 0, offset, length),
        functools.partial(os.posix_fallocate, n, offset, length),
        executor,
    )
    if res < 0:
        raise _error(res)


def _fileno(fd: Any) -> int:
    if isinstance(fd, int) and not isinstance(fd, bool):
        return fd
    fileno = getattr(fd, "fileno", None)
    if fileno is None:
        raise TypeError(f"an integer is required (got type {type(fd).__name__})")
    n: int = fileno()
    return n


# ---- composed of the above, as the os module composes them ---------------------------------


async def makedirs(
    name: _StrOrBytesPath,
    mode: int = 0o777,
    exist_ok: bool = False,
    *,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.makedirs``: ``mkdir`` of each missing parent, then of ``name``."""
    head, tail = os.path.split(name)
    if not tail:
        head, tail = os.path.split(head)
    if head and tail and not await path.exists(head, ring=ring):
        with contextlib.suppress(FileExistsError):  # made by another task meanwhile
            await makedirs(head, exist_ok=exist_ok, ring=ring, executor=executor)
        cdir: Any = os.curdir
        if isinstance(tail, bytes):
            cdir = bytes(os.curdir, "ASCII")
        if tail == cdir:  # xxx/newdir/. exists if xxx/newdir exists
            return
    try:
        await mkdir(name, mode, ring=ring, executor=executor)
    except OSError:
        # Cannot rely on checking for EEXIST: the OS may raise something else first.
        if not exist_ok or not await path.isdir(name, ring=ring):
            raise


async def removedirs(
    name: _StrOrBytesPath, *, ring: AioRing | None = None, executor: Executor | None = None
) -> None:
    """``os.removedirs``: ``rmdir`` of ``name``, then of each parent until one fails."""
    await rmdir(name, ring=ring, executor=executor)
    head, tail = os.path.split(name)
    if not tail:
        head, tail = os.path.split(head)
    while head and tail:
        try:
            await rmdir(head, ring=ring, executor=executor)
        except OSError:
            break
        head, tail = os.path.split(head)


async def renames(
    old: _StrOrBytesPath,
    new: _StrOrBytesPath,
    *,
    ring: AioRing | None = None,
    executor: Executor | None = None,
) -> None:
    """``os.renames``: ``makedirs`` for the new parent, ``rename``, then ``removedirs``
    of the old parents that are left empty."""
    head, tail = os.path.split(new)
    if head and tail and not await path.exists(head, ring=ring):
        await makedirs(head, ring=ring, executor=executor)
    await rename(old, new, ring=ring, executor=executor)
    head, tail = os.path.split(old)
    if head and tail:
        with contextlib.suppress(OSError):
            await removedirs(head, ring=ring, executor=executor)


# ---- on the executor (no io_uring op) -------------------------------------------------------


async def readlink(
    path: _StrOrBytesPath, *, dir_fd: int | None = None, executor: Executor | None = None
) -> Any:
    """``os.readlink`` (on the executor)."""
    return await _run(executor, os.readlink, path, dir_fd=dir_fd)


async def listdir(path: Any = None, *, executor: Executor | None = None) -> list[Any]:
    """``os.listdir`` (on the executor)."""
    return await _run(executor, os.listdir, path)


class ScandirIterator:
    """What ``scandir`` returns: the directory's ``os.DirEntry`` objects, read on the
    executor, served as ``os.scandir``'s iterator serves them (``with``, ``close()``)."""

    def __init__(self, entries: list[os.DirEntry[Any]]) -> None:
        self._entries: Iterator[os.DirEntry[Any]] = iter(entries)

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> os.DirEntry[Any]:
        return next(self._entries)

    def close(self) -> None:
        """Drops the entries not yet taken."""
        self._entries = iter(())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _scandir_list(path: Any) -> list[os.DirEntry[Any]]:
    with os.scandir(path) as it:
        return list(it)


async def scandir(path: Any = None, *, executor: Executor | None = None) -> ScandirIterator:
    """``os.scandir``: the entries are read on the executor (iterating does not block)."""
    if path is None:
        path = "."
    return ScandirIterator(await _run(executor, _scandir_list, path))


async def access(
    path: _StrOrBytesPath | int,
    mode: int,
    *,
    dir_fd: int | None = None,
    effective_ids: bool = False,
    follow_symlinks: bool = True,
    executor: Executor | None = None,
) -> bool:
    """``os.access`` (on the executor)."""
    return await _run(
        executor,
        os.access,
        path,
        mode,
        dir_fd=dir_fd,
        effective_ids=effective_ids,
        follow_symlinks=follow_symlinks,
    )


async def getcwd(*, executor: Executor | None = None) -> str:
    """``os.getcwd`` (on the executor)."""
    return await _run(executor, os.getcwd)


async def sendfile(
    out_fd: int,
    in_fd: int,
    offset: int | None,
    count: int,
    *,
    executor: Executor | None = None,
) -> int:
    """``os.sendfile`` (on the executor): the number of bytes sent."""
    return await _run(executor, os.sendfile, out_fd, in_fd, offset, count)


async def statvfs(path: _StrOrBytesPath | int, *, executor: Executor | None = None) -> Any:
    """``os.statvfs`` (on the executor): an ``os.statvfs_result``."""
    return await _run(executor, os.statvfs, path)


if sys.platform != "linux":  # pragma: no cover - io_uring is Linux only
    raise ImportError("uring_rs.aio.os needs Linux")
