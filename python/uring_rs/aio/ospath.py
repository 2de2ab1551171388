"""``aiofiles.os.path`` on io_uring: the ``os.path`` queries as coroutines, same names.

Owns: ``exists``, ``isfile``, ``isdir``, ``islink``, ``ismount``, ``getsize``,
``getatime``, ``getmtime``, ``getctime``, ``samefile``, ``sameopenfile``, ``abspath``
(also reachable as ``uring_rs.aio.os.path``).
May not touch: the ring's internals beyond ``AioRing.stat``; imports only
``uring_rs.aio._bridge`` from this package.

The stat-based ones are one ``statx`` on the ring each (``samefile`` two, in parallel),
with ``os.path``'s semantics: ``exists``/``isfile``/``isdir``/``islink`` answer False
where ``os.path`` does (any ``OSError``, a ``ValueError`` for an unencodable path or an
embedded null byte), ``getsize``/``get*time``/``samefile`` raise what it raises.
``ismount`` and ``abspath`` run ``os.path``'s own on the executor, as aiofiles does.
"""

from __future__ import annotations

import asyncio
import functools
import os
import stat as _stat
import sys
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from uring_rs.aio._bridge import AioRing, get_ring

if TYPE_CHECKING:
    from uring_rs.aio._bridge import _StrOrBytesPath

__all__ = [
    "abspath",
    "exists",
    "getatime",
    "getctime",
    "getmtime",
    "getsize",
    "isdir",
    "isfile",
    "islink",
    "ismount",
    "samefile",
    "sameopenfile",
]


async def _stat_of(path: Any, ring: AioRing | None, follow_symlinks: bool = True) -> os.stat_result:
    if not (isinstance(path, int) and not isinstance(path, bool)):
        path = os.fspath(path)  # TypeError as os.stat's for the other types
        if isinstance(path, bytes):
            if b"\0" in path:
                raise ValueError("stat: embedded null character in path")
        elif "\0" in path:
            # Python 3.13's os words a str's null as it words a bytes' one.
            if sys.version_info >= (3, 13):
                raise ValueError("stat: embedded null character in path")
            raise ValueError("embedded null byte")
    r = ring if ring is not None else get_ring()
    return await r.stat(path, follow_symlinks=follow_symlinks)


async def exists(path: _StrOrBytesPath | int, *, ring: AioRing | None = None) -> bool:
    """``os.path.exists``: whether ``path`` names an existing file (or open descriptor)."""
    try:
        await _stat_of(path, ring)
    except (OSError, ValueError):
        return False
    return True


async def isfile(path: _StrOrBytesPath | int, *, ring: AioRing | None = None) -> bool:
    """``os.path.isfile``: a regular file (symlinks followed)."""
    try:
        st = await _stat_of(path, ring)
    except (OSError, ValueError):
        return False
    return _stat.S_ISREG(st.st_mode)


async def isdir(path: _StrOrBytesPath | int, *, ring: AioRing | None = None) -> bool:
    """``os.path.isdir``: a directory (symlinks followed)."""
    try:
        st = await _stat_of(path, ring)
    except (OSError, ValueError):
        return False
    return _stat.S_ISDIR(st.st_mode)


async def islink(path: _StrOrBytesPath, *, ring: AioRing | None = None) -> bool:
    """``os.path.islink``: a symbolic link (not followed)."""
    try:
        st = await _stat_of(path, ring, follow_symlinks=False)
    except (OSError, ValueError, AttributeError):
        return False
    return _stat.S_ISLNK(st.st_mode)


async def getsize(path: _StrOrBytesPath | int, *, ring: AioRing | None = None) -> int:
    """``os.path.getsize``: ``st_size``."""
    return (await _stat_of(path, ring)).st_size


async def getatime(path: _StrOrBytesPath | int, *, ring: AioRing | None = None) -> float:
    """``os.path.getatime``: ``st_atime``."""
    return (await _stat_of(path, ring)).st_atime


async def getmtime(path: _StrOrBytesPath | int, *, ring: AioRing | None = None) -> float:
    """``os.path.getmtime``: ``st_mtime``."""
    return (await _stat_of(path, ring)).st_mtime


async def getctime(path: _StrOrBytesPath | int, *, ring: AioRing | None = None) -> float:
    """``os.path.getctime``: ``st_ctime``."""
    return (await _stat_of(path, ring)).st_ctime


async def samefile(
    f1: _StrOrBytesPath | int, f2: _StrOrBytesPath | int, *, ring: AioRing | None = None
) -> bool:
    """``os.path.samefile``: both name the same file (device and inode)."""
    s1, s2 = await asyncio.gather(_stat_of(f1, ring), _stat_of(f2, ring))
    return os.path.samestat(s1, s2)


async def sameopenfile(fp1: int, fp2: int, *, ring: AioRing | None = None) -> bool:
    """``os.path.sameopenfile``: both descriptors refer to the same file."""
    s1, s2 = await asyncio.gather(_stat_of(fp1, ring), _stat_of(fp2, ring))
    return os.path.samestat(s1, s2)


async def _run(executor: Executor | None, fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args))


async def ismount(path: _StrOrBytesPath, *, executor: Executor | None = None) -> bool:
    """``os.path.ismount`` (on the executor)."""
    result: bool = await _run(executor, os.path.ismount, path)
    return result


async def abspath(path: Any, *, executor: Executor | None = None) -> Any:
    """``os.path.abspath`` (on the executor: it may call ``os.getcwd``)."""
    return await _run(executor, os.path.abspath, path)
