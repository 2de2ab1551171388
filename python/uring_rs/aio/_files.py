"""Files on io_uring, shaped like aiofiles': ``open``, the file objects and the shortcuts.

Owns: ``AsyncBinaryFile`` (Python-side offset, read-ahead and write-behind buffers),
``AsyncTextFile`` (``io.TextIOWrapper`` semantics over it), ``open()`` with the built-in
``open``'s argument checks and errors, and ``read_bytes``/``write_bytes``/``read_text``/
``write_text``.
May not touch: the ring's internals beyond ``AioRing``'s op methods and its ``_op``
fast path; imports only ``uring_rs.aio._bridge`` from this package.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import locale
import os
import re
import select
import stat
import sys
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Generator, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, AnyStr, Generic, Literal, TypeVar, Union, overload

from uring_rs._native import AT_FDCWD, _FreshBytes, _fstat_brief
from uring_rs.aio._bridge import (
    AioRing,
    _check_open_path,
    _close_quietly,
    _raise_for,
    get_ring,
    ops,
)

if TYPE_CHECKING:
    from typing_extensions import Buffer, Self

    from uring_rs.aio._bridge import _FileDescriptorOrPath, _StrOrBytesPath

    # typing-only (private, so stubtest does not look for them at runtime)
    _OpenTextMode = Literal[
        "r", "w", "a", "x", "r+", "+r", "w+", "+w", "a+", "+a", "x+", "+x",
        "rt", "tr", "wt", "tw", "at", "ta", "xt", "tx",
        "+at", "+rt", "+ta", "+tr", "+tw", "+tx", "+wt", "+xt",
        "a+t", "at+", "r+t", "rt+", "t+a", "t+r", "t+w", "t+x",
        "ta+", "tr+", "tw+", "tx+", "w+t", "wt+", "x+t", "xt+",
    ]  # fmt: skip
    _OpenBinaryMode = Literal[
        "rb", "br", "wb", "bw", "ab", "ba", "xb", "bx",
        "+ab", "+ba", "+br", "+bw", "+bx", "+rb", "+wb", "+xb",
        "a+b", "ab+", "b+a", "b+r", "b+w", "b+x", "ba+", "br+",
        "bw+", "bx+", "r+b", "rb+", "w+b", "wb+", "x+b", "xb+",
    ]  # fmt: skip

__all__ = [
    "AsyncBinaryFile",
    "AsyncTextFile",
    "open",
    "read_bytes",
    "read_text",
    "write_bytes",
    "write_text",
]

#: Default size of a file's read-ahead / write-behind buffer. Larger than ``io``'s 8 KiB:
#: one io_uring round trip costs a loop iteration, so fewer, larger ops win.
DEFAULT_BUFFER_SIZE = 64 * 1024
#: Reads go straight into the ``bytes`` they return: a new, uninitialised one the core
#: allocates (``_FreshBytes``), shrunk in place to what was read (no zero-fill, no copy).
#: The read that confirms the end of a file read whole (it may find more: then read on)
#: is ``_SPARE`` bytes for a file of at least ``_FRESH_MIN``, else ``_SPARE_SMALL``.
_FRESH_MIN = 16 * 1024
_SPARE = 16 * 1024
_SPARE_SMALL = 512


def _split_after(data: AnyStr, sep: AnyStr) -> list[AnyStr]:
    """``data`` (which ends with ``sep``) cut just after each ``sep``."""
    parts = data.split(sep)
    parts.pop()
    return [p + sep for p in parts]


_UNIVERSAL_NL = re.compile(r"\r\n|\r|\n")


class _Mode:
    __slots__ = ("appending", "binary", "flags", "raw_mode", "reading", "writing")

    def __init__(
        self, mode: str, encoding: str | None, errors: str | None, newline: str | None
    ) -> None:
        if not isinstance(mode, str):
            raise TypeError(f"open() argument 'mode' must be str, not {type(mode).__name__}")
        seen: set[str] = set()
        for c in mode:
            if c not in "xrwa+tb" or c in seen:
                raise ValueError(f"invalid mode: '{mode}'")
            seen.add(c)
        creating, reading, writing, appending = ("x" in seen, "r" in seen, "w" in seen, "a" in seen)
        updating, text, binary = "+" in seen, "t" in seen, "b" in seen
        if text and binary:
            raise ValueError("can't have text and binary mode at once")
        kinds = creating + reading + writing + appending
        if kinds > 1:
            raise ValueError("must have exactly one of create/read/write/append mode")
        if binary and encoding is not None:
            raise ValueError("binary mode doesn't take an encoding argument")
        if binary and errors is not None:
            raise ValueError("binary mode doesn't take an errors argument")
        if binary and newline is not None:
            raise ValueError("binary mode doesn't take a newline argument")
        if kinds == 0:
            raise ValueError(
                "Must have exactly one of create/read/write/append mode and at most one plus"
            )
        if newline is not None and newline not in ("", "\n", "\r", "\r\n"):
            raise ValueError(f"illegal newline value: {newline}")
        if creating:
            flags, raw = os.O_WRONLY | os.O_CREAT | os.O_EXCL, "xb"
        elif reading:
            flags, raw = os.O_RDONLY, "rb"
        elif writing:
            flags, raw = os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "wb"
        else:
            flags, raw = os.O_WRONLY | os.O_CREAT | os.O_APPEND, "ab"
        if updating:
            flags = (flags & ~os.O_WRONLY) | os.O_RDWR
            raw += "+"
        self.flags = flags
        self.reading = reading or updating
        self.writing = not reading or updating
        self.appending = appending
        self.binary = binary
        self.raw_mode = raw


class AsyncBinaryFile:
    """A binary file on io_uring, shaped like aiofiles' (``await f.read()``, ...).

    The file offset lives in Python: reads and writes are positional (pread/pwrite
    style) except in append mode, where writes go to the end. Reads are buffered
    (read-ahead of ``buffer_size`` bytes), writes too unless ``buffering=0``. A file
    object is for one task at a time. ``readable()``, ``writable()``, ``seekable()``,
    ``isatty()`` and ``fileno()`` are plain methods (aiofiles makes some coroutines).
    """

    def __init__(
        self,
        ring: AioRing,
        fd: int,
        name: Any,
        mode: str,
        *,
        readable: bool,
        writable: bool,
        appending: bool,
        buffer_size: int,
        closefd: bool = True,
        st: tuple[int, int] | None = None,
        at_start: bool = False,
    ) -> None:
        self._ring = ring
        self._fd = fd
        self.name: Any = name
        self.mode = mode
        self._readable = readable
        self._writable = writable
        self._appending = appending
        self._closefd = closefd
        self._closed = False
        self._buffer_size = buffer_size
        if st is None:
            st_mode, st_size, _ = _fstat_brief(fd)
        else:
            st_mode, st_size = st  # (st_mode, st_size), from the caller's fstat
        self._regular = stat.S_ISREG(st_mode)
        # A hint, for sizing reads to the end: a stale one costs a read, never data.
        self._size_hint = st_size
        if self._regular and (at_start or appending):
            # just opened by path: offset 0 (append: the end, as FileIO seeks there)
            start, self._seekable = (st_size if appending else 0), True
        else:
            try:
                start = os.lseek(fd, 0, os.SEEK_END if appending else os.SEEK_CUR)
                self._seekable = True
            except OSError:
                start, self._seekable = 0, False
        self._pos = start  # the logical position the caller sees
        self._rbuf = b""  # read-ahead; _rbuf[_rpos] is the byte at _pos
        self._rpos = 0
        self._wbuf = bytearray()  # write-behind, to go at offset _wstart
        self._wstart = 0
        # `async for`: the complete lines of _rbuf[_rpos:_batch_end], served one by one
        # from _line_it without touching _rpos/_pos; _settle() accounts for them.
        self._line_it: Iterator[bytes] | None = None
        self._batch_end = 0
        # Paths to unlink (aio.tempfile.NamedTemporaryFile, delete=True): once closed,
        # or (delete_on_close=False) at the end of its `async with`, else when collected.
        self._unlink_path: Any = None
        self._unlink_later: Any = None

    # ---- plain methods ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the file is closed."""
        return self._closed

    def fileno(self) -> int:
        """The file descriptor."""
        self._check_open()
        return self._fd

    def readable(self) -> bool:
        """Whether the file was opened for reading."""
        self._check_open()
        return self._readable

    def writable(self) -> bool:
        """Whether the file was opened for writing."""
        self._check_open()
        return self._writable

    def seekable(self) -> bool:
        """Whether the file supports ``seek`` (not a pipe, socket or terminal)."""
        self._check_open()
        return self._seekable

    def isatty(self) -> bool:
        """Whether the file is a terminal."""
        self._check_open()
        return os.isatty(self._fd)

    def __repr__(self) -> str:
        return f"<uring_rs.aio.{type(self).__name__} name={self.name!r} mode={self.mode!r}>"

    def _check_open(self) -> None:
        if self._line_it is not None:
            self._settle()
        if self._closed:
            raise ValueError("I/O operation on closed file.")

    def _check_readable(self) -> None:
        self._check_open()
        if not self._readable:
            raise io.UnsupportedOperation("read")

    def _check_writable(self) -> None:
        self._check_open()
        if not self._writable:
            raise io.UnsupportedOperation("write")

    def _offset(self, pos: int) -> int:
        return pos if self._seekable else -1

    # ---- raw I/O ---------------------------------------------------------------------

    async def _raw_read(self, n: int) -> bytes:
        """One read of up to ``n`` bytes at the end of the read-ahead buffer."""
        at = self._pos + len(self._rbuf) - self._rpos
        fresh = _FreshBytes(n)  # its own: a cancelled read may still land in it
        got = await self._ring._op(ops.read, self._fd, fresh, at if self._seekable else -1)
        if got < 0:
            _raise_for(got)
        return fresh.take(got)

    async def _write_all(self, data: bytes, offset: int) -> int:
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                at = -1 if self._appending or offset < 0 else offset + done
                n = await self._ring.write(self._fd, view[done:], at)
                if n == 0:
                    raise OSError(errno.EIO, "write returned 0")
                done += n
        finally:
            view.release()
        return done

    async def _flush_writes(self) -> None:
        if not self._wbuf:
            return
        data = bytes(self._wbuf)  # the ring pins this copy, never the growing bytearray
        start = self._wstart
        self._wbuf = bytearray()
        written = 0
        try:
            view = memoryview(data)
            while written < len(data):
                at = -1 if self._appending else self._offset(start + written)
                n = await self._ring.write(self._fd, view[written:], at)
                if n == 0:
                    raise OSError(errno.EIO, "write returned 0")
                written += n
        except BaseException:
            # Keep what was not confirmed written; a positional rewrite is idempotent.
            self._wbuf = bytearray(data[written:]) + self._wbuf
            self._wstart = start + written
            raise
        if self._appending:
            self._pos = os.lseek(self._fd, 0, os.SEEK_CUR)
        self._size_hint = max(self._size_hint, self._pos, start + written)

    def _drop_read_buffer(self) -> None:
        self._rbuf = b""
        self._rpos = 0

    # ---- reading ---------------------------------------------------------------------

    async def read(self, size: int | None = -1) -> bytes:
        """Reads up to ``size`` bytes (all of the rest when ``size`` is -1 or None)."""
        self._check_readable()
        if self._wbuf:
            await self._flush_writes()
        if size is None or size < 0:
            return await self._readall()
        avail = len(self._rbuf) - self._rpos
        if size <= avail:
            return self._take(size)
        parts = [self._take(avail)]
        need = size - avail
        while need > 0:
            chunk = await self._raw_read(
                max(need, self._buffer_size) if self._buffer_size else need
            )
            if not chunk:
                break
            if len(chunk) > need:
                self._rbuf, self._rpos = chunk, 0
                parts.append(self._take(need))
                break
            parts.append(chunk)
            self._pos += len(chunk)
            need -= len(chunk)
        return b"".join(parts)

    def _take(self, n: int) -> bytes:
        start = self._rpos
        out = self._rbuf[start : start + n]
        self._rpos += len(out)
        self._pos += len(out)
        if self._rpos >= len(self._rbuf):
            self._drop_read_buffer()
        return out

    async def read1(self, size: int = -1) -> bytes:
        """At most one read op: the buffered bytes, or one read of up to ``size``."""
        self._check_readable()
        if self._wbuf:
            await self._flush_writes()
        if size == 0:
            return b""
        avail = len(self._rbuf) - self._rpos
        if avail:
            return self._take(avail if size < 0 else min(size, avail))
        want = self._buffer_size or DEFAULT_BUFFER_SIZE
        chunk = await self._raw_read(want if size < 0 else max(size, want))
        if size < 0 or len(chunk) <= size:
            self._pos += len(chunk)
            return chunk
        self._rbuf, self._rpos = chunk, 0
        return self._take(size)

    async def readall(self) -> bytes:
        """Reads to end of file: until a read returns 0 bytes, as the built-in ``read()``
        does, whatever size the file reports (procfs and sysfs files, FIFOs, devices,
        files that grow or shrink meanwhile)."""
        self._check_readable()
        if self._wbuf:
            await self._flush_writes()
        return await self._readall()

    async def _readall(self) -> bytes:
        """``readall()`` after its checks and flush."""
        parts = []
        if self._rpos < len(self._rbuf):
            parts.append(self._take(len(self._rbuf) - self._rpos))
        left = max(self._size_hint - self._pos, 0) if self._regular else 0
        if left:
            # One read of what the size says is left (large ones straight into the bytes
            # object returned), and hard-linked to it one more read just past it that
            # confirms the end.
            fresh = _FreshBytes(left)
            spare = _FreshBytes(_SPARE if left >= _FRESH_MIN else _SPARE_SMALL)
            at = self._offset(self._pos)
            got, more = await self._ring._op_pair(
                ops.read,
                (self._fd, fresh, at),
                ops.read,
                (self._fd, spare, at + left if at >= 0 else -1),
            )
            _raise_for(got)
            parts.append(fresh.take(got))
            self._pos += got
            if got == left or at < 0:  # the spare read follows what the first one read
                if _raise_for(more) == 0:
                    self._size_hint = self._pos
                    return parts[0] if len(parts) == 1 else b"".join(parts)
                parts.append(spare.take(more))
                self._pos += more
        # The size was wrong, or is unknown: read on until a read returns nothing, in
        # reads that grow with what was read so far.
        done = sum(len(p) for p in parts)
        while True:
            chunk = await self._raw_read(max(self._buffer_size or DEFAULT_BUFFER_SIZE, done))
            if not chunk:
                break
            parts.append(chunk)
            self._pos += len(chunk)
            done += len(chunk)
        if self._regular:
            self._size_hint = self._pos
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def readinto(self, b: Buffer) -> int:
        """Reads into ``b`` until it is full or the file ends; returns the count.

        Large reads go straight into ``b`` through the ring: if the task is cancelled,
        such a read may still complete into ``b`` afterwards (the ring keeps ``b``
        alive and pinned until then).
        """
        self._check_readable()
        if self._wbuf:
            await self._flush_writes()
        with memoryview(b) as mv0:
            mv = mv0.cast("B")
            total = len(mv)
            avail = len(self._rbuf) - self._rpos
            n = min(avail, total)
            mv[:n] = self._rbuf[self._rpos : self._rpos + n]
            self._rpos += n
            self._pos += n
            if self._rpos >= len(self._rbuf):
                self._drop_read_buffer()
            while n < total:
                left = total - n
                if left >= self._buffer_size:
                    got = _raise_for(
                        await self._ring.read(self._fd, mv[n:], self._offset(self._pos))
                    )
                    self._pos += got
                else:
                    chunk = await self._raw_read(self._buffer_size)
                    got = min(len(chunk), left)
                    mv[n : n + got] = chunk[:got]
                    self._pos += got
                    if len(chunk) > got:
                        self._rbuf, self._rpos = chunk, got
                if got == 0:
                    break
                n += got
            mv.release()
        return n

    async def readline(self, size: int | None = -1) -> bytes:
        """Reads one line (up to and including ``b"\\n"``), at most ``size`` bytes."""
        self._check_readable()
        if self._wbuf:
            await self._flush_writes()
        limit = -1 if size is None else size
        scanned = self._rpos
        while True:
            end = len(self._rbuf)
            if limit >= 0:
                end = min(end, self._rpos + limit)
            i = self._rbuf.find(b"\n", scanned, end)
            if i >= 0:
                return self._take(i + 1 - self._rpos)
            if limit >= 0 and end - self._rpos >= limit:
                return self._take(limit)
            scanned = end
            chunk = await self._raw_read(self._buffer_size or DEFAULT_BUFFER_SIZE)
            if not chunk:
                return self._take(len(self._rbuf) - self._rpos)
            scanned -= self._rpos
            self._rbuf = self._rbuf[self._rpos :] + chunk
            self._rpos = 0

    async def readlines(self, hint: int = -1) -> list[bytes]:
        """Reads lines until the end of file, or until they total ``hint`` bytes."""
        lines: list[bytes] = []
        total = 0
        while True:
            line = await self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Iterates over lines (``async for line in f``): the complete lines already in
        the read-ahead buffer are served without a round trip through the loop; only a
        refill awaits a read."""
        self._check_readable()
        return self._iter_lines()

    async def __anext__(self) -> bytes:
        """The next line, or ``StopAsyncIteration`` at end of file."""
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    async def _iter_lines(self) -> AsyncGenerator[bytes, None]:
        while True:
            it = self._line_batch()
            if it is None:
                line = await self.readline()  # refills the buffer
                if not line:
                    return
                yield line
            else:
                for line in it:
                    yield line

    def _line_batch(self) -> Iterator[bytes] | None:
        """Splits the buffered complete lines for ``async for``, or None if there are none
        (or writes are pending: ``readline`` flushes them)."""
        self._check_readable()
        if self._wbuf:
            return None
        buf, start = self._rbuf, self._rpos
        end = buf.rfind(b"\n", start) + 1
        if end <= start:
            return None
        chunk = buf[start:end] if start or end < len(buf) else buf
        # bytes.splitlines also splits at "\r": only when there is none is it exact.
        lines = chunk.splitlines(True) if b"\r" not in chunk else _split_after(chunk, b"\n")
        it = iter(lines)
        self._line_it, self._batch_end = it, end
        return it

    def _settle(self) -> None:
        """Accounts for the lines ``async for`` took from the current batch, and ends it
        (exhausting its iterator: a generator still holding it gets nothing more)."""
        it, self._line_it = self._line_it, None
        assert it is not None
        rest = list(it)
        taken = self._batch_end - self._rpos - sum(map(len, rest))
        self._rpos += taken
        self._pos += taken
        if self._rpos >= len(self._rbuf):
            self._drop_read_buffer()

    # ---- writing ---------------------------------------------------------------------

    async def write(self, b: Buffer) -> int:
        """Writes all of ``b`` (buffered unless ``buffering=0``); returns ``len(b)``."""
        self._check_writable()
        data = bytes(b)
        if self._rbuf:
            self._drop_read_buffer()  # the position stays where the caller is
        if not self._buffer_size:
            n = await self._write_all(data, self._offset(self._pos))
            if self._appending:
                self._pos = os.lseek(self._fd, 0, os.SEEK_CUR)
            else:
                self._pos += n
            self._size_hint = max(self._size_hint, self._pos)
            return n
        if not self._wbuf:
            self._wstart = self._pos
        self._wbuf += data
        self._pos += len(data)
        if len(self._wbuf) >= self._buffer_size:
            await self._flush_writes()
        return len(data)

    async def writelines(self, lines: Iterable[Buffer]) -> None:
        """Writes each of ``lines`` (no line separators are added)."""
        for line in lines:
            await self.write(line)

    async def flush(self) -> None:
        """Writes the write-behind buffer to the file (not to disk: see ``fsync``)."""
        self._check_open()
        await self._flush_writes()

    async def fsync(self, *, datasync: bool = False) -> None:
        """Flushes, then ``fsync`` (``fdatasync`` with ``datasync=True``) on the ring."""
        await self.flush()
        await self._ring.fsync(self._fd, datasync=datasync)

    # ---- position --------------------------------------------------------------------

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Moves the position (``os.SEEK_SET``, ``SEEK_CUR``, ``SEEK_END``); returns it."""
        self._check_open()
        await self._flush_writes()
        if not self._seekable:
            raise OSError(errno.ESPIPE, os.strerror(errno.ESPIPE))
        if whence == os.SEEK_SET:
            if offset < 0:
                raise ValueError(f"negative seek value {offset}")
            new = offset
        elif whence == os.SEEK_CUR:
            new = self._pos + offset
        elif whence == os.SEEK_END:
            self._size_hint = os.fstat(self._fd).st_size
            new = self._size_hint + offset
        else:
            raise ValueError(f"whence value {whence} unsupported")
        if new < 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        moved = self._rpos + (new - self._pos)
        if self._rbuf and 0 <= moved <= len(self._rbuf):
            self._rpos = moved
        else:
            self._drop_read_buffer()
        self._pos = new
        return new

    async def tell(self) -> int:
        """The position."""
        self._check_open()
        return self._pos

    async def truncate(self, size: int | None = None) -> int:
        """Truncates to ``size`` (default: the position); the position is unchanged."""
        self._check_writable()
        await self._flush_writes()
        if size is None:
            size = self._pos
        self._drop_read_buffer()
        self._size_hint = size
        _raise_for(await self._ring._op(ops.ftruncate, self._fd, size))
        return size

    # ---- closing ---------------------------------------------------------------------

    async def close(self) -> None:
        """Flushes and closes. The descriptor is closed even if the flush fails or the
        task is cancelled meanwhile."""
        if self._line_it is not None:
            self._settle()
        if self._closed:
            return
        try:
            if self._wbuf:
                await self._flush_writes()
        finally:
            self._closed = True
            try:
                if self._closefd:
                    if self._writable:
                        await self._ring.close_fd(self._fd)  # its error is the caller's
                    else:
                        # A read-only file: every op on it has completed (a cancelled one
                        # was submitted at once, so the kernel holds its own reference),
                        # and its close cannot lose data. A plain close costs less than a
                        # ring round trip and leaves the descriptor closed on return.
                        os.close(self._fd)
            finally:
                path, self._unlink_path = self._unlink_path, None
                if path is not None:
                    res = await self._ring._op(ops.unlinkat, AT_FDCWD, path, 0)
                    if res < 0 and res != -errno.ENOENT:
                        _raise_for(res, path)

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

    def __del__(self) -> None:
        later = getattr(self, "_unlink_later", None)
        if later is not None:
            with contextlib.suppress(OSError):
                os.unlink(later)
        if getattr(self, "_closed", True) or not self._closefd:
            return
        self._closed = True
        warnings.warn(f"unclosed file {self!r}", ResourceWarning, stacklevel=2)
        try:
            if self._wbuf:  # as the built-in files do, flush on finalization
                if self._appending or not self._seekable:
                    os.write(self._fd, self._wbuf)
                else:
                    os.pwrite(self._fd, self._wbuf, self._wstart)
        except OSError:
            pass
        finally:
            _close_quietly(self._fd)
            if self._unlink_path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self._unlink_path)


class AsyncTextFile:
    """A text file over an :class:`AsyncBinaryFile` (``buffer``), shaped like aiofiles'.

    Decoding, ``newline`` translation and ``tell()``/``seek()`` cookies follow
    ``io.TextIOWrapper``: ``tell()`` returns an opaque byte position, ``seek()`` accepts
    only such a cookie, ``seek(0, 1)`` or ``seek(0, 2)``. Stateful decoders whose state
    cannot be rebuilt at a byte offset (e.g. UTF-16 after its BOM) refuse ``tell()``.
    """

    def __init__(
        self,
        buffer: AsyncBinaryFile,
        mode: str,
        encoding: str,
        errors: str,
        newline: str | None,
        line_buffering: bool,
    ) -> None:
        self.buffer = buffer
        self.mode = mode
        self.encoding = encoding
        self.errors = errors
        self._newline = newline
        self.line_buffering = line_buffering
        self._translate_in = newline is None
        self._universal = newline is None or newline == ""
        self._writenl = os.linesep if newline is None else newline
        self._translate_out = newline not in ("", "\n") and self._writenl != "\n"
        self._decoder_factory = codecs.getincrementaldecoder(encoding)
        self._encoder = codecs.getincrementalencoder(encoding)(errors)
        self._chunk = max(buffer._buffer_size, 8192)
        # `async for` serves lines split in batches when a line ends only at "\n".
        self._fast_lines = newline is None or newline == "\n"
        self._line_it: Iterator[str] | None = None
        self._batch_end = 0
        self._reset_decoder(buffer._pos)
        if buffer._writable and buffer._pos != 0:
            self._encoder.setstate(0)  # no BOM in the middle of a file

    @property
    def name(self) -> Any:
        """The name the file was opened with (or its descriptor)."""
        return self.buffer.name

    @property
    def closed(self) -> bool:
        """Whether the file is closed."""
        return self.buffer.closed

    @property
    def newlines(self) -> str | tuple[str, ...] | None:
        """The newlines seen so far (universal newlines mode), else None."""
        dec = self._decoder
        if isinstance(dec, io.IncrementalNewlineDecoder):
            return dec.newlines
        return None

    def fileno(self) -> int:
        """The file descriptor."""
        return self.buffer.fileno()

    def readable(self) -> bool:
        """Whether the file was opened for reading."""
        return self.buffer.readable()

    def writable(self) -> bool:
        """Whether the file was opened for writing."""
        return self.buffer.writable()

    def seekable(self) -> bool:
        """Whether the file supports ``seek``."""
        return self.buffer.seekable()

    def isatty(self) -> bool:
        """Whether the file is a terminal."""
        return self.buffer.isatty()

    def __repr__(self) -> str:
        return (
            f"<uring_rs.aio.AsyncTextFile name={self.name!r} mode={self.mode!r} "
            f"encoding={self.encoding!r}>"
        )

    # ---- decoding state --------------------------------------------------------------

    def _new_decoder(self) -> codecs.IncrementalDecoder | io.IncrementalNewlineDecoder:
        dec = self._decoder_factory(self.errors)
        if self._universal:
            return io.IncrementalNewlineDecoder(dec, translate=self._translate_in)
        return dec

    def _reset_decoder(self, pos: int) -> None:
        self._decoder = self._new_decoder()
        self._dbuf = ""  # decoded, _dbuf[_dpos:] not yet returned
        self._dpos = 0
        # tell(): a fresh decoder started at _snap_pos and fed _snap_bytes has produced
        # _snap_chars characters before _dbuf.
        self._snap_pos = pos
        self._snap_bytes = bytearray()
        self._snap_chars = 0

    def _decoder_clean(self) -> bool:
        state = self._decoder.getstate()
        return state[0] == b"" and state[1] == 0

    async def _read_chunk(self) -> bool:
        """Decodes one more chunk into ``_dbuf``; False at end of file."""
        if self._dpos >= len(self._dbuf) and self._decoder_clean():
            self._reset_decoder(self.buffer._pos)  # a clean point: restart the snapshot
        data = await self.buffer.read1(self._chunk)
        text = self._decoder.decode(data, final=not data)
        self._snap_bytes += data
        if self._dpos:
            self._snap_chars += self._dpos
            self._dbuf = self._dbuf[self._dpos :]
            self._dpos = 0
        self._dbuf += text
        return bool(data)

    def _take(self, n: int) -> str:
        out = self._dbuf[self._dpos : self._dpos + n]
        self._dpos += len(out)
        return out

    def _prepare_read(self) -> None:
        if self._line_it is not None:
            self._settle()
        self.buffer._check_readable()

    async def _prepare_write(self) -> None:
        if self._line_it is not None:
            self._settle()
        self.buffer._check_writable()
        if self._dpos < len(self._dbuf) or not self._decoder_clean() or self._snap_bytes:
            # Discard read-ahead: move the binary position back to the caller's.
            pos = self._cookie()
            await self.buffer.seek(pos)
            self._reset_decoder(pos)

    # ---- reading ---------------------------------------------------------------------

    async def read(self, size: int | None = -1) -> str:
        """Reads up to ``size`` characters (all of the rest when ``size`` is -1 or None)."""
        self._prepare_read()
        await self.buffer._flush_writes()
        if size is None or size < 0:
            rest = self._dbuf[self._dpos :]
            data = await self.buffer.read()
            text = rest + self._decoder.decode(data, final=True)
            self._reset_decoder(self.buffer._pos)
            return text
        while len(self._dbuf) - self._dpos < size:
            if not await self._read_chunk():
                break
        return self._take(size)

    async def readline(self, size: int | None = -1) -> str:
        """Reads one line (newline translated as ``newline`` says), at most ``size`` characters."""
        self._prepare_read()
        await self.buffer._flush_writes()
        limit = -1 if size is None else size
        start = self._dpos
        while True:
            end = self._line_end(start)
            if end >= 0:
                if limit >= 0:
                    end = min(end, self._dpos + limit)
                return self._take(end - self._dpos)
            if limit >= 0 and len(self._dbuf) - self._dpos >= limit:
                return self._take(limit)
            searched = len(self._dbuf) - self._dpos
            more = await self._read_chunk()
            start = self._dpos + max(0, searched - 1)  # "\r\n" may straddle chunks
            if not more:
                end = self._line_end(start)
                if end < 0:
                    end = len(self._dbuf)
                if limit >= 0:
                    end = min(end, self._dpos + limit)
                return self._take(end - self._dpos)

    def _line_end(self, start: int) -> int:
        """Index just past the first line ending at or after ``start``, or -1."""
        buf = self._dbuf
        if self._translate_in:
            i = buf.find("\n", start)
            return -1 if i < 0 else i + 1
        if self._universal:
            m = _UNIVERSAL_NL.search(buf, start)
            return -1 if m is None else m.end()
        nl = self._writenl
        i = buf.find(nl, start)
        return -1 if i < 0 else i + len(nl)

    async def readlines(self, hint: int = -1) -> list[str]:
        """Reads lines until the end of file, or until they total ``hint`` characters."""
        lines: list[str] = []
        total = 0
        while True:
            line = await self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __aiter__(self) -> AsyncIterator[str]:
        """Iterates over lines (``async for line in f``): the complete lines already
        decoded are served without a round trip through the loop; only a refill awaits
        a read."""
        self._prepare_read()
        return self._iter_lines()

    async def __anext__(self) -> str:
        """The next line, or ``StopAsyncIteration`` at end of file."""
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    async def _iter_lines(self) -> AsyncGenerator[str, None]:
        while True:
            it = self._line_batch()
            if it is None:
                line = await self.readline()  # decodes one more chunk
                if not line:
                    return
                yield line
            else:
                for line in it:
                    yield line

    def _line_batch(self) -> Iterator[str] | None:
        """Splits the decoded complete lines for ``async for``, or None if there are none
        (or newline="" / "\r" / "\r\n", or writes are pending: ``readline`` handles them)."""
        self._prepare_read()
        if not self._fast_lines or self.buffer._wbuf:
            return None
        buf, start = self._dbuf, self._dpos
        end = buf.rfind("\n", start) + 1
        if end <= start:
            return None
        chunk = buf[start:end] if start or end < len(buf) else buf
        # str.splitlines also splits at "\r", "\x0b", "\x0c", "\x1c".."\x1e", "\x85",
        # "\u2028", "\u2029": it is exact only when it finds one line per "\n".
        lines = chunk.splitlines(True)
        if len(lines) != chunk.count("\n"):
            lines = _split_after(chunk, "\n")
        it = iter(lines)
        self._line_it, self._batch_end = it, end
        return it

    def _settle(self) -> None:
        """Accounts for the lines ``async for`` took from the current batch, and ends it."""
        it, self._line_it = self._line_it, None
        assert it is not None
        rest = list(it)
        self._dpos = self._batch_end - sum(map(len, rest))

    # ---- writing ---------------------------------------------------------------------

    async def write(self, s: str) -> int:
        """Writes ``s`` (encoded, ``"\\n"`` translated); returns ``len(s)``."""
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        await self._prepare_write()
        length = len(s)
        haslf = "\n" in s
        if haslf and self._translate_out:
            s = s.replace("\n", self._writenl)
        await self.buffer.write(self._encoder.encode(s))
        if self.line_buffering and (haslf or "\r" in s):
            await self.buffer.flush()
        return length

    async def writelines(self, lines: Iterable[str]) -> None:
        """Writes each of ``lines``."""
        for line in lines:
            await self.write(line)

    async def flush(self) -> None:
        """Writes buffered data to the file (not to disk: see ``fsync``)."""
        await self.buffer.flush()

    async def fsync(self, *, datasync: bool = False) -> None:
        """Flushes, then ``fsync`` (``fdatasync`` with ``datasync=True``) on the ring."""
        await self.buffer.fsync(datasync=datasync)

    async def truncate(self, size: int | None = None) -> int:
        """Truncates to ``size`` (default: the position); returns the new size."""
        await self.flush()
        if size is None:
            size = await self.tell()
        return await self.buffer.truncate(size)

    # ---- position --------------------------------------------------------------------

    def _cookie(self) -> int:
        """The byte offset where a fresh decoder resumes at the caller's position."""
        consumed = self._snap_chars + self._dpos
        if consumed == 0 and not self._snap_bytes:
            return self._snap_pos
        if self._dpos >= len(self._dbuf) and self._decoder_clean():
            return self._snap_pos + len(self._snap_bytes)
        dec = self._new_decoder()
        produced = 0
        best = self._snap_pos if consumed == 0 else -1
        data = bytes(self._snap_bytes)
        for i in range(len(data)):
            produced += len(dec.decode(data[i : i + 1]))
            buffered, flag = dec.getstate()
            pending_cr = flag & 1 if self._universal else 0
            if produced + pending_cr > consumed:
                break
            inner_flag = flag >> 1 if self._universal else flag
            if produced + pending_cr == consumed and not buffered and inner_flag == 0:
                best = self._snap_pos + i + 1
        if best < 0:
            raise OSError("can't reconstruct logical file position")
        return best

    async def tell(self) -> int:
        """An opaque cookie for the position (a byte offset ``seek`` accepts)."""
        if self._line_it is not None:
            self._settle()
        self.buffer._check_open()
        if not self.buffer._seekable:
            raise io.UnsupportedOperation("underlying stream is not seekable")
        if self.buffer._wbuf:
            await self.buffer.flush()
        return self._cookie()

    async def seek(self, cookie: int, whence: int = os.SEEK_SET) -> int:
        """Moves to a ``tell()`` cookie, or ``seek(0, 1)`` / ``seek(0, 2)``; returns it."""
        if self._line_it is not None:
            self._settle()
        self.buffer._check_open()
        if not self.buffer._seekable:
            raise io.UnsupportedOperation("underlying stream is not seekable")
        if whence == os.SEEK_CUR:
            if cookie != 0:
                raise io.UnsupportedOperation("can't do nonzero cur-relative seeks")
            return await self.tell()
        if whence == os.SEEK_END:
            if cookie != 0:
                raise io.UnsupportedOperation("can't do nonzero end-relative seeks")
            await self.flush()
            pos = await self.buffer.seek(0, os.SEEK_END)
            self._reset_decoder(pos)
            return pos
        if whence != os.SEEK_SET:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if cookie < 0:
            raise ValueError(f"negative seek position {cookie}")
        await self.flush()
        pos = await self.buffer.seek(cookie)
        self._reset_decoder(pos)
        return pos

    # ---- closing ---------------------------------------------------------------------

    async def close(self) -> None:
        """Flushes (ends the encoding) and closes; the descriptor is closed even if that
        fails."""
        if self._line_it is not None:
            self._settle()
        if self.buffer.closed:
            return
        try:
            if self.buffer._writable:
                tail = self._encoder.encode("", final=True)
                if tail:
                    await self.buffer.write(tail)
        finally:
            await self.buffer.close()

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


_F = TypeVar("_F", AsyncBinaryFile, AsyncTextFile, Union[AsyncBinaryFile, AsyncTextFile])


class _OpenContext(Generic[_F]):
    """What ``open()`` returns: awaitable (``f = await open(...)``) and an async context
    manager (``async with open(...) as f``), as aiofiles' ``open`` is."""

    __slots__ = ("_coro", "_file")

    def __init__(self, coro: Awaitable[_F]) -> None:
        self._coro: Awaitable[_F] = coro
        self._file: _F | None = None

    def __await__(self) -> Generator[Any, None, _F]:
        return self._coro.__await__()

    async def __aenter__(self) -> _F:
        self._file = await self._coro
        return self._file

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            await self._file.close()
            self._file = None

    def close(self) -> None:
        """Closes the pending coroutine if it was never awaited."""
        close = getattr(self._coro, "close", None)
        if close is not None:
            close()


def _text_encoding(encoding: str | None) -> str:
    if encoding is None or encoding == "locale":
        if sys.flags.utf8_mode:
            return "utf-8"
        return locale.getpreferredencoding(False)
    return encoding


_MODES: dict[tuple[str, str | None, str | None, str | None], _Mode] = {}


def _parse_mode(mode: str, encoding: str | None, errors: str | None, newline: str | None) -> _Mode:
    """``_Mode(...)``, cached: most programs open files in a handful of modes."""
    key = (mode, encoding, errors, newline)
    m = _MODES.get(key)
    if m is None:
        m = _Mode(mode, encoding, errors, newline)
        if len(_MODES) < 64:
            _MODES[key] = m
    return m


async def _open(
    file: _FileDescriptorOrPath,
    mode: str,
    buffering: int,
    encoding: str | None,
    errors: str | None,
    newline: str | None,
    closefd: bool,
    ring: AioRing | None,
) -> AsyncBinaryFile | AsyncTextFile:
    if isinstance(mode, str) and (
        (encoding is None and errors is None and newline is None)
        or all(v is None or isinstance(v, str) for v in (encoding, errors, newline))
    ):
        m = _parse_mode(mode, encoding, errors, newline)
    else:
        m = _Mode(mode, encoding, errors, newline)  # raises the built-in's TypeError
    if not isinstance(buffering, int):
        raise TypeError(f"'{type(buffering).__name__}' object cannot be interpreted as an integer")
    r = ring if ring is not None else get_ring()
    name: Any
    if isinstance(file, int):
        if file < 0:
            raise ValueError("negative file descriptor")
        fd, name = file, file
    else:
        as_object: object = file  # narrowed alone: no float & PathLike type for stubtest
        if sys.version_info < (3, 10) and isinstance(as_object, float):
            # The built-in open() of 3.9 tries a float as an fd first.
            raise TypeError("integer argument expected, got float")
        if not closefd:
            raise ValueError("Cannot use closefd=False with file name")
        name = os.fspath(file)
        _check_open_path(name)
        # AioRing.openat inlined (one coroutine less per open)
        fd = _raise_for(
            await r._op(ops.openat, AT_FDCWD, name, m.flags, 0o666, fd_result=True), name
        )
        closefd = True
    try:
        st_mode, st_size, st_blksize = _fstat_brief(fd)
        if stat.S_ISDIR(st_mode):
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        if (
            stat.S_ISFIFO(st_mode)
            and not isinstance(file, int)
            and m.flags & os.O_ACCMODE == os.O_RDONLY
        ):
            # The built-in open() of a FIFO for reading waits for a writer; io_uring's
            # openat does not (it tries without blocking first, which succeeds), and a
            # read would then find the end at once. Wait (cancellably) until a writer
            # has written, or has come and gone (POLLHUP: the end, as for open().read()).
            _raise_for(await r._op(ops.poll_add, fd, select.POLLIN), name)
        if buffering == 1 and m.binary:
            warnings.warn(
                "line buffering (buffering=1) isn't supported in binary mode, the default "
                "buffer size will be used",
                RuntimeWarning,
                stacklevel=3,
            )
        if buffering == 0 and not m.binary:
            raise ValueError("can't have unbuffered text I/O")
        if buffering < 0 or buffering == 1:
            size = max(DEFAULT_BUFFER_SIZE, st_blksize)
        else:
            size = buffering
        text_encoding = ""
        if not m.binary:
            text_encoding = _text_encoding(encoding)
            codecs.lookup(text_encoding)  # LookupError: unknown encoding
            if errors is None:
                errors = "strict"
        binary = AsyncBinaryFile(
            r,
            fd,
            name,
            m.raw_mode,
            readable=m.reading,
            writable=m.writing,
            appending=m.appending,
            buffer_size=size,
            closefd=closefd,
            st=(st_mode, st_size),
            at_start=not isinstance(file, int),
        )
    except BaseException:
        if closefd:
            _close_quietly(fd)
        raise
    if m.binary:
        return binary
    assert errors is not None
    return AsyncTextFile(binary, mode, text_encoding, errors, newline, buffering == 1)


@overload
def open(
    file: _FileDescriptorOrPath,
    mode: _OpenTextMode = "r",
    buffering: int = -1,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    closefd: bool = True,
    *,
    ring: AioRing | None = None,
) -> _OpenContext[AsyncTextFile]: ...
@overload
def open(
    file: _FileDescriptorOrPath,
    mode: _OpenBinaryMode,
    buffering: int = -1,
    encoding: None = None,
    errors: None = None,
    newline: None = None,
    closefd: bool = True,
    *,
    ring: AioRing | None = None,
) -> _OpenContext[AsyncBinaryFile]: ...
@overload
def open(
    file: _FileDescriptorOrPath,
    mode: str,
    buffering: int = -1,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    closefd: bool = True,
    *,
    ring: AioRing | None = None,
) -> _OpenContext[AsyncBinaryFile | AsyncTextFile]: ...
def open(
    file: _FileDescriptorOrPath,
    mode: str = "r",
    buffering: int = -1,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    closefd: bool = True,
    *,
    ring: AioRing | None = None,
) -> _OpenContext[Any]:
    """Opens a file on io_uring: ``async with uring_rs.aio.open(path, "rb") as f``.

    Arguments and errors are the built-in ``open``'s (the same ``OSError`` subclasses,
    with ``filename`` set). Returns an object that is both awaitable and an async context
    manager. ``ring`` defaults to the running loop's shared ring. The default buffer is
    64 KiB (or the file system's block size if larger).
    """
    return _OpenContext(_open(file, mode, buffering, encoding, errors, newline, closefd, ring))


async def read_bytes(path: _StrOrBytesPath, *, ring: AioRing | None = None) -> bytes:
    """The file's contents, as ``pathlib.Path.read_bytes``."""
    async with open(path, "rb", ring=ring) as f:
        return await f.read()


async def write_bytes(path: _StrOrBytesPath, data: Buffer, *, ring: AioRing | None = None) -> int:
    """Writes ``data`` to the file (created or truncated), as ``pathlib.Path.write_bytes``."""
    view = memoryview(data)
    async with open(path, "wb", buffering=0, ring=ring) as f:
        return await f.write(view)


async def read_text(
    path: _StrOrBytesPath,
    encoding: str | None = None,
    errors: str | None = None,
    *,
    ring: AioRing | None = None,
) -> str:
    """The file decoded, as ``pathlib.Path.read_text``."""
    async with open(path, "r", encoding=encoding, errors=errors, ring=ring) as f:
        return await f.read()


async def write_text(
    path: _StrOrBytesPath,
    data: str,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    *,
    ring: AioRing | None = None,
) -> int:
    """Writes ``data`` encoded, as ``pathlib.Path.write_text``."""
    if not isinstance(data, str):
        raise TypeError(f"data must be str, not {type(data).__name__}")
    async with open(path, "w", encoding=encoding, errors=errors, newline=newline, ring=ring) as f:
        return await f.write(data)
