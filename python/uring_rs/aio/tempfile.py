"""``aiofiles.tempfile`` on io_uring: temporary files and directories, same names.

Owns: ``TemporaryFile``, ``NamedTemporaryFile``, ``SpooledTemporaryFile`` (with
``AsyncSpooledTemporaryFile``) and ``TemporaryDirectory`` (with
``AsyncTemporaryDirectory``).
May not touch: the ring's internals beyond ``AioRing.openat``/``_op``; imports
``uring_rs.aio._bridge`` and ``uring_rs.aio._files`` from this package.

Each takes the arguments of its ``tempfile`` namesake and returns what is both awaitable
and an async context manager, as aiofiles' do; the files are ``uring_rs.aio`` files
(``AsyncBinaryFile`` / ``AsyncTextFile``). Files are created on the ring: an unnamed
``O_TMPFILE`` file where the file system has them (as ``tempfile.TemporaryFile``), else
``openat(O_CREAT | O_EXCL, 0o600)`` of a random name, unlinked at once for an unnamed one,
at close (or at the end of the ``async with``, ``delete_on_close=False``) for a named one
with ``delete=True``. Directories are made with ``mkdirat(0o700)``; cleaning one up
(``shutil.rmtree``) runs on the executor.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import io
import os
import random
import shutil
import sys
import tempfile as _tempfile
from collections.abc import AsyncIterator, Awaitable, Generator, Iterable
from concurrent.futures import Executor
from types import TracebackType
from typing import TYPE_CHECKING, Any, AnyStr, Union

from uring_rs._native import AT_FDCWD
from uring_rs.aio._bridge import AioRing, _close_quietly, _raise_for, get_ring, ops
from uring_rs.aio._files import AsyncBinaryFile, AsyncTextFile, _open, _OpenContext

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AsyncSpooledTemporaryFile",
    "AsyncTemporaryDirectory",
    "NamedTemporaryFile",
    "SpooledTemporaryFile",
    "TemporaryDirectory",
    "TemporaryFile",
]

_File = Union[AsyncBinaryFile, AsyncTextFile]
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_rng = random.Random()  # reseeded after fork by the random module's own hook
#: open flags of a new temporary file (tempfile's _bin_openflags; O_CLOEXEC comes from
#: the ring's openat)
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def _random_name() -> str:
    return "".join(_rng.choices(_NAME_CHARS, k=8))


async def _components(
    prefix: AnyStr | None, suffix: AnyStr | None, dir: AnyStr | os.PathLike[AnyStr] | None
) -> tuple[Any, Any, Any]:
    """``tempfile``'s defaults and its bytes/str consistency rule; ``gettempdir()`` may
    probe the file system the first time, so it runs on the executor."""
    kinds = {
        type(x) for x in (prefix, suffix, dir) if x is not None and not isinstance(x, os.PathLike)
    }
    if isinstance(dir, os.PathLike):
        kinds.add(type(os.fspath(dir)))
    if len(kinds) > 1:
        raise TypeError("Can't mix bytes and non-bytes in path components.")
    as_bytes = kinds == {bytes}
    d: Any = dir
    if d is None:
        loop = asyncio.get_running_loop()
        gettempdir: Any = _tempfile.gettempdirb if as_bytes else _tempfile.gettempdir
        d = await loop.run_in_executor(None, gettempdir)
    p: Any = prefix if prefix is not None else (b"tmp" if as_bytes else _tempfile.template)
    s: Any = suffix if suffix is not None else (b"" if as_bytes else "")
    # string work (os.getcwd for a relative dir is one cheap syscall)
    return p, s, os.path.abspath(os.fspath(d))  # noqa: ASYNC240


async def _create(r: AioRing, prefix: Any, suffix: Any, dir: Any) -> tuple[int, Any]:
    """A new file of a random name in ``dir``: ``(fd, absolute path)``."""
    for _attempt in range(_tempfile.TMP_MAX):
        name = _random_name()
        path = os.path.join(
            dir, prefix + (name.encode() if isinstance(prefix, bytes) else name) + suffix
        )
        try:
            fd = await r.openat(path, _CREATE, 0o600)
        except FileExistsError:
            continue
        return fd, path
    raise FileExistsError(errno.EEXIST, "No usable temporary file name found")


async def _unlinked(r: AioRing, prefix: Any, suffix: Any, dir: Any) -> int:
    """A new file with no name: ``O_TMPFILE`` where the file system has it."""
    tmpfile = getattr(os, "O_TMPFILE", 0)
    if tmpfile:
        try:
            return await r.openat(dir, (_CREATE | tmpfile) & ~os.O_CREAT, 0o600)
        except IsADirectoryError:
            pass  # a kernel without O_TMPFILE
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
    fd, path = await _create(r, prefix, suffix, dir)
    try:
        _raise_for(await r._op(ops.unlinkat, AT_FDCWD, path, 0), path)
    except BaseException:
        _close_quietly(fd)
        raise
    return fd


async def _wrap(
    r: AioRing,
    fd: int,
    mode: str,
    buffering: int,
    encoding: str | None,
    errors: str | None,
    newline: str | None,
    name: Any,
    unlink: Any,
) -> _File:
    try:
        f = await _open(fd, mode, buffering, encoding, errors, newline, True, r)
    except BaseException:
        _close_quietly(fd)
        if unlink is not None:
            os.unlink(unlink)
        raise
    binary = f.buffer if isinstance(f, AsyncTextFile) else f
    binary.name = name
    binary._unlink_path = unlink
    return f


def TemporaryFile(
    mode: str = "w+b",
    buffering: int = -1,
    encoding: str | None = None,
    newline: str | None = None,
    suffix: AnyStr | None = None,
    prefix: AnyStr | None = None,
    dir: AnyStr | os.PathLike[AnyStr] | None = None,
    *,
    errors: str | None = None,
    ring: AioRing | None = None,
) -> _OpenContext[Any]:
    """``tempfile.TemporaryFile``: a file with no name, gone once closed; ``name`` is its
    descriptor, as the standard one's."""

    async def make() -> _File:
        r = ring if ring is not None else get_ring()
        pre, suf, d = await _components(prefix, suffix, dir)
        fd = await _unlinked(r, pre, suf, d)
        return await _wrap(r, fd, mode, buffering, encoding, errors, newline, fd, None)

    return _OpenContext(make())


class _NamedContext(_OpenContext[Any]):
    """``NamedTemporaryFile``'s: with ``delete_on_close=False`` the file is removed when
    the ``async with`` ends rather than when it is closed."""

    __slots__ = ("_unlink_at_exit",)

    def __init__(self, coro: Awaitable[Any], unlink_at_exit: bool) -> None:
        super().__init__(coro)
        self._unlink_at_exit = unlink_at_exit

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        f = self._file
        await super().__aexit__(exc_type, exc, tb)
        if self._unlink_at_exit and f is not None:
            binary = f.buffer if isinstance(f, AsyncTextFile) else f
            path, binary._unlink_later = binary._unlink_later, None
            if path is not None:
                res = await get_ring()._op(ops.unlinkat, AT_FDCWD, path, 0)
                if res < 0 and res != -errno.ENOENT:
                    _raise_for(res, path)


def NamedTemporaryFile(
    mode: str = "w+b",
    buffering: int = -1,
    encoding: str | None = None,
    newline: str | None = None,
    suffix: AnyStr | None = None,
    prefix: AnyStr | None = None,
    dir: AnyStr | os.PathLike[AnyStr] | None = None,
    delete: bool = True,
    *,
    errors: str | None = None,
    delete_on_close: bool = True,
    ring: AioRing | None = None,
) -> _OpenContext[Any]:
    """``tempfile.NamedTemporaryFile``: ``name`` is its absolute path; with ``delete``
    it is removed when closed (``delete_on_close=False``: when the ``async with`` ends)."""

    async def make() -> _File:
        r = ring if ring is not None else get_ring()
        pre, suf, d = await _components(prefix, suffix, dir)
        fd, path = await _create(r, pre, suf, d)
        unlink = path if delete and delete_on_close else None
        f = await _wrap(r, fd, mode, buffering, encoding, errors, newline, path, unlink)
        if delete and not delete_on_close:
            # removed at the end of the `async with`, else when collected, as tempfile's
            binary = f.buffer if isinstance(f, AsyncTextFile) else f
            binary._unlink_later = path
        return f

    return _NamedContext(make(), delete and not delete_on_close)


# ---- SpooledTemporaryFile ---------------------------------------------------------------------


class AsyncSpooledTemporaryFile:
    """``tempfile.SpooledTemporaryFile`` with coroutine methods: data stays in memory
    until it grows past ``max_size`` (or ``fileno()``/``rollover()`` is called), then moves
    to a ``TemporaryFile`` on io_uring."""

    def __init__(
        self,
        max_size: int,
        mode: str,
        buffering: int,
        encoding: str | None,
        newline: str | None,
        suffix: Any,
        prefix: Any,
        dir: Any,
        errors: str | None,
        ring: AioRing | None,
    ) -> None:
        if "b" in mode:
            self._file: Any = io.BytesIO()
        else:
            if sys.version_info >= (3, 10):
                # typeshed lists io.text_encoding from 3.11; CPython has it from 3.10.
                encoding = io.text_encoding(encoding)  # type: ignore[attr-defined,unused-ignore]
            self._file = io.TextIOWrapper(
                io.BytesIO(), encoding=encoding, errors=errors, newline=newline
            )
        self._max_size = max_size
        self._rolled = False
        self._args = (mode, buffering, encoding, newline, suffix, prefix, dir, errors, ring)

    # ---- rolling over ------------------------------------------------------------------

    async def _check(self) -> None:
        if self._rolled:
            return
        if self._max_size and self._file.tell() > self._max_size:
            await self.rollover()

    async def rollover(self) -> None:
        """Moves the data to a file on disk (``TemporaryFile``), keeping the position."""
        if self._rolled:
            return
        mode, buffering, encoding, newline, suffix, prefix, dir, errors, ring = self._args
        memory = self._file
        new: Any = await TemporaryFile(
            mode, buffering, encoding, newline, suffix, prefix, dir, errors=errors, ring=ring
        )
        try:
            pos = memory.tell()
            if isinstance(memory, io.TextIOWrapper):
                memory.flush()
                raw = memory.buffer.getvalue()
                await new.buffer.write(raw)
                await new.buffer.flush()
                await new.seek(pos)
            else:
                await new.write(memory.getvalue())
                await new.seek(pos)
        except BaseException:
            await new.close()
            raise
        self._file, self._rolled = new, True

    # ---- the file interface ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the file is closed."""
        return bool(self._file.closed)

    @property
    def mode(self) -> str:
        """The mode it was opened with (``w+b`` by default)."""
        if self._rolled:
            return str(self._file.mode)
        return self._args[0]

    @property
    def name(self) -> Any:
        """None while in memory, the file's ``name`` once rolled over."""
        return self._file.name if self._rolled else None

    @property
    def encoding(self) -> str:
        """The text encoding (text modes only)."""
        return str(self._file.encoding)

    @property
    def newlines(self) -> Any:
        """The newlines seen so far (text modes only)."""
        return self._file.newlines

    async def read(self, size: int | None = -1) -> Any:
        """Reads up to ``size`` (all of the rest by default)."""
        if self._rolled:
            return await self._file.read(size)
        return self._file.read(size)

    async def readline(self, size: int | None = -1) -> Any:
        """Reads one line."""
        if self._rolled:
            return await self._file.readline(size)
        return self._file.readline(size)

    async def readlines(self, hint: int = -1) -> list[Any]:
        """Reads the remaining lines."""
        if self._rolled:
            result: list[Any] = await self._file.readlines(hint)
            return result
        return list(self._file.readlines(hint))

    async def write(self, s: Any) -> int:
        """Writes ``s``; rolls over once the data passes ``max_size``."""
        if self._rolled:
            n: int = await self._file.write(s)
            return n
        n = self._file.write(s)
        await self._check()
        return n

    async def writelines(self, lines: Iterable[Any]) -> None:
        """Writes each of ``lines``."""
        if self._rolled:
            await self._file.writelines(lines)
            return
        self._file.writelines(lines)
        await self._check()

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Moves the position."""
        if self._rolled:
            pos: int = await self._file.seek(offset, whence)
            return pos
        return int(self._file.seek(offset, whence))

    async def tell(self) -> int:
        """The position."""
        if self._rolled:
            pos: int = await self._file.tell()
            return pos
        return int(self._file.tell())

    async def truncate(self, size: int | None = None) -> int:
        """Truncates to ``size`` (default: the position); rolls over if it grows past
        ``max_size``."""
        if self._rolled:
            n: int = await self._file.truncate(size)
            return n
        if size is None:
            return int(self._file.truncate())
        if size > self._max_size > 0:
            await self.rollover()
            return await self.truncate(size)
        return int(self._file.truncate(size))

    async def flush(self) -> None:
        """Flushes written data (to the file once rolled over)."""
        if self._rolled:
            await self._file.flush()
        else:
            self._file.flush()

    async def fileno(self) -> int:
        """The descriptor: rolls over first, as the standard one does."""
        await self.rollover()
        return int(self._file.fileno())

    def isatty(self) -> bool:
        """False (a temporary file is never a terminal)."""
        return False

    async def close(self) -> None:
        """Closes (and so removes) the file."""
        if self._rolled:
            await self._file.close()
        else:
            self._file.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        """Iterates over lines."""
        return self._lines()

    async def _lines(self) -> AsyncIterator[Any]:
        while True:
            line = await self.readline()
            if not line:
                return
            yield line

    async def __aenter__(self) -> Self:
        """Returns the file."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """``await close()``."""
        await self.close()


class _Ready(Awaitable["AsyncSpooledTemporaryFile"]):
    """``SpooledTemporaryFile()``'s result: awaitable and an async context manager."""

    def __init__(self, f: AsyncSpooledTemporaryFile) -> None:
        self._f = f

    def __await__(self) -> Generator[Any, None, AsyncSpooledTemporaryFile]:
        return self._ready().__await__()

    async def _ready(self) -> AsyncSpooledTemporaryFile:
        return self._f

    async def __aenter__(self) -> AsyncSpooledTemporaryFile:
        return self._f

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._f.close()


def SpooledTemporaryFile(
    max_size: int = 0,
    mode: str = "w+b",
    buffering: int = -1,
    encoding: str | None = None,
    newline: str | None = None,
    suffix: AnyStr | None = None,
    prefix: AnyStr | None = None,
    dir: AnyStr | os.PathLike[AnyStr] | None = None,
    *,
    errors: str | None = None,
    ring: AioRing | None = None,
) -> _Ready:
    """``tempfile.SpooledTemporaryFile``: in memory until ``max_size`` is exceeded."""
    return _Ready(
        AsyncSpooledTemporaryFile(
            max_size, mode, buffering, encoding, newline, suffix, prefix, dir, errors, ring
        )
    )


# ---- TemporaryDirectory ------------------------------------------------------------------------


class AsyncTemporaryDirectory:
    """A temporary directory: ``name`` is its path; ``await cleanup()`` removes it and
    everything in it (on the executor)."""

    def __init__(self, name: Any, ignore_cleanup_errors: bool, delete: bool) -> None:
        self.name = name
        self._ignore = ignore_cleanup_errors
        self._delete = delete
        self._done = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    async def cleanup(self, executor: Executor | None = None) -> None:
        """Removes the directory and its contents (once)."""
        if self._done:
            return
        self._done = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            executor, functools.partial(shutil.rmtree, self.name, ignore_errors=self._ignore)
        )


class _DirectoryContext:
    """``TemporaryDirectory()``'s result: awaitable (the directory object) and an async
    context manager whose ``as`` target is the path, as ``tempfile``'s is."""

    def __init__(self, coro: Awaitable[AsyncTemporaryDirectory]) -> None:
        self._coro = coro
        self._dir: AsyncTemporaryDirectory | None = None

    def __await__(self) -> Generator[Any, None, AsyncTemporaryDirectory]:
        return self._coro.__await__()

    async def __aenter__(self) -> Any:
        self._dir = await self._coro
        return self._dir.name

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._dir is not None and self._dir._delete:
            await self._dir.cleanup()


def TemporaryDirectory(
    suffix: AnyStr | None = None,
    prefix: AnyStr | None = None,
    dir: AnyStr | os.PathLike[AnyStr] | None = None,
    ignore_cleanup_errors: bool = False,
    *,
    delete: bool = True,
    ring: AioRing | None = None,
) -> _DirectoryContext:
    """``tempfile.TemporaryDirectory``: ``async with TemporaryDirectory() as path``."""

    async def make() -> AsyncTemporaryDirectory:
        r = ring if ring is not None else get_ring()
        pre, suf, d = await _components(prefix, suffix, dir)
        for _attempt in range(_tempfile.TMP_MAX):
            name = _random_name()
            path = os.path.join(d, pre + (name.encode() if isinstance(pre, bytes) else name) + suf)
            res = await r._op(ops.mkdirat, AT_FDCWD, path, 0o700)
            if res == -errno.EEXIST:
                continue
            _raise_for(res, path)
            return AsyncTemporaryDirectory(path, ignore_cleanup_errors, delete)
        raise FileExistsError(errno.EEXIST, "No usable temporary directory name found")

    return _DirectoryContext(make())
