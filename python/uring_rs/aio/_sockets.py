"""``loop.sock_*``-shaped socket functions on the running loop's shared ring.

Owns: the module-level ``sock_recv``, ``sock_recv_into``, ``sock_sendall``,
``sock_accept`` and ``sock_connect``.
May not touch: the ring's internals (it calls ``AioRing``'s public methods on
``get_ring()``); imports only ``uring_rs.aio._bridge``.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from uring_rs.aio._bridge import get_ring

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["sock_accept", "sock_connect", "sock_recv", "sock_recv_into", "sock_sendall"]


async def sock_recv(sock: socket.socket, n: int, *, timeout: float | None = None) -> bytes:
    """``loop.sock_recv`` on io_uring; ``timeout`` raises ``TimeoutError`` (linked timeout)."""
    return await get_ring().recv(sock, n, timeout=timeout)


async def sock_recv_into(sock: socket.socket, buf: Buffer, *, timeout: float | None = None) -> int:
    """``loop.sock_recv_into`` on io_uring."""
    return await get_ring().recv_into(sock, buf, timeout=timeout)


async def sock_sendall(sock: socket.socket, data: Buffer, *, timeout: float | None = None) -> None:
    """``loop.sock_sendall`` on io_uring; ``timeout`` bounds the whole call."""
    await get_ring().sendall(sock, data, timeout=timeout)


async def sock_accept(
    sock: socket.socket, *, timeout: float | None = None
) -> tuple[socket.socket, Any]:
    """``loop.sock_accept`` on io_uring: ``(conn, address)``."""
    return await get_ring().sock_accept(sock, timeout=timeout)


async def sock_connect(sock: socket.socket, address: Any, *, timeout: float | None = None) -> None:
    """``loop.sock_connect`` on io_uring."""
    await get_ring().sock_connect(sock, address, timeout=timeout)
