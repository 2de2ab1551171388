"""asyncio on io_uring: awaitable ops, aiofiles-shaped files and ``loop.sock_*``-shaped sockets.

The package, by concern (each module's docstring says what it owns and may not touch):

- ``_bridge``: the glue between an asyncio loop and a ring (``AioRing``, eventfd
  reaping, ``get_ring``, the loop's close hook). The bottom: it imports nothing else here.
- ``_files``: ``open``, ``AsyncBinaryFile``, ``AsyncTextFile``, ``read_bytes``... (uses
  ``_bridge``).
- ``_sockets``: ``sock_recv``, ``sock_sendall``, ``sock_accept``... (uses ``_bridge``).
- ``os`` (with ``ospath`` as ``os.path``) and ``tempfile``: aiofiles' ``aiofiles.os``,
  ``aiofiles.os.path`` and ``aiofiles.tempfile``, same names (use ``_bridge``, ``_files``).

``stat`` is ``os.stat`` (``await aio.stat(path)``: ``statx`` on the shared ring).

This module only re-exports; see ``uring_rs.aio._bridge`` for how a ring serves a loop.
"""

from __future__ import annotations

from uring_rs.aio import os as os  # aiofiles.os; not in __all__: it would shadow os
from uring_rs.aio import ospath as ospath
from uring_rs.aio import tempfile as tempfile  # aiofiles.tempfile; the same
from uring_rs.aio._bridge import AioRing, get_ring
from uring_rs.aio._bridge import _new_eventfd as _new_eventfd  # tests check its flags
from uring_rs.aio._bridge import ops as ops  # the op functions, as before the split
from uring_rs.aio._files import DEFAULT_BUFFER_SIZE as DEFAULT_BUFFER_SIZE
from uring_rs.aio._files import (
    AsyncBinaryFile,
    AsyncTextFile,
    open,
    read_bytes,
    read_text,
    write_bytes,
    write_text,
)
from uring_rs.aio._sockets import (
    sock_accept,
    sock_connect,
    sock_recv,
    sock_recv_into,
    sock_sendall,
)
from uring_rs.aio.os import stat

__all__ = [
    "AioRing",
    "AsyncBinaryFile",
    "AsyncTextFile",
    "get_ring",
    "open",
    "read_bytes",
    "read_text",
    "sock_accept",
    "sock_connect",
    "sock_recv",
    "sock_recv_into",
    "sock_sendall",
    "stat",
    "write_bytes",
    "write_text",
]

# Public names show their public module (help(), repr, tracebacks), not the private file
# that defines them.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("uring_rs.aio._"):
        _obj.__module__ = __name__
del _name, _obj
