"""uring_rs.Loop's datagram transport: asyncio's own (``_SelectorDatagramTransport``:
its checks, flow control, close and error handling, as each Python version has them),
with the I/O moved onto the loop's ring.

Owns: receiving (one ``IORING_OP_RECVMSG`` in flight, re-armed after each datagram; a
datagram that arrives while reading is paused is held and delivered on resume) and
sending (a ``sendto`` with nothing queued is tried at once, as asyncio does; a datagram
the OS cannot take yet goes to an ``IORING_OP_SENDMSG``, which the kernel completes once
the socket has room, one at a time so that datagrams leave in order, the rest queued
behind it; all of those count in ``get_write_buffer_size`` until the OS took them, so
flow control pauses the protocol as asyncio's would).
May not touch: the loop's core (it calls ``_dgram_recv_op``/``_dgram_send_op``/
``_cancel_op`` only), other transports.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
import sys
from asyncio import constants, selector_events, transports
from asyncio.log import logger
from typing import Any

#: What a queued datagram adds to the write buffer's size beyond its bytes (asyncio
#: counts an 8-byte header from Python 3.13 on).
_HEADER = 8 if sys.version_info >= (3, 13) else 0
#: Families whose addresses the ring's receive reports as the socket module does.
_FAMILIES = {socket.AF_INET, socket.AF_INET6, socket.AF_UNIX}


# asyncio's transport, a private name typeshed does not describe.
_Base: Any = getattr(selector_events, "_SelectorDatagramTransport")  # noqa: B009


def supported(sock: socket.socket) -> bool:
    """Whether ``sock``'s family is one the ring transport serves (others get asyncio's)."""
    return sock.family in _FAMILIES


class DatagramTransport(_Base, transports.DatagramTransport):  # type: ignore[misc]
    """A datagram transport whose reads and writes are ring ops (see the module); an
    ``asyncio.DatagramTransport`` (asyncio's own is one only from Python 3.12 on)."""

    def __init__(
        self,
        loop: Any,
        sock: socket.socket,
        protocol: Any,
        address: Any = None,
        waiter: Any = None,
        extra: Any = None,
    ) -> None:
        self._buffer_size = 0
        self._paused = False
        self._recv: tuple[asyncio.Future[Any], int | None] | None = None
        self._held: tuple[bytes, Any] | None = None
        self._sends = 0
        _Base.__init__(self, loop, sock, protocol, address, waiter, extra)

    # ---- receiving ---------------------------------------------------------------------

    # Flow control of reading, as asyncio's transports have it from Python 3.11 on (before,
    # its datagram transport inherited ReadTransport's NotImplementedError).
    def is_reading(self) -> bool:
        return not self._closing and not self._paused

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True  # a receive in flight completes into _held
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._add_reader(self._sock_fd, self._read_ready)
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def _add_reader(self, fd: int, callback: Any, *args: Any) -> None:
        # asyncio's transport calls this to start (and resume) reading.
        if not self.is_reading():
            return
        held, self._held = self._held, None
        if held is not None:  # came while paused: first, as the next read would
            self._loop.call_soon(self._deliver, held)
        self._arm()

    def _arm(self) -> None:
        if self._recv is not None or self._conn_lost or self._closing:
            return
        fut = self._loop.create_future()
        token = self._loop._dgram_recv_op(fut, self._sock_fd, self.max_size)
        self._recv = (fut, token)
        fut.add_done_callback(self._received)

    def _received(self, fut: asyncio.Future[Any]) -> None:
        self._recv = None
        if fut.cancelled():
            return
        exc = fut.exception()  # retrieved even when unused (a cancelled receive's ECANCELED)
        if self._conn_lost or self._closing:
            return
        if exc is None:
            got = fut.result()
            if self._paused:
                self._held = got
                return
            self._deliver(got)
        elif isinstance(exc, OSError):
            if exc.errno == errno.ECANCELED:
                return
            self._protocol.error_received(exc)
        else:  # pragma: no cover - the core only sets OSErrors
            self._fatal_error(exc, "Fatal read error on datagram transport")
            return
        if self.is_reading():
            self._arm()

    def _deliver(self, got: tuple[bytes, Any]) -> None:
        if not self._conn_lost:
            self._protocol.datagram_received(*got)

    def _stop_receiving(self) -> None:
        recv, self._recv = self._recv, None
        if recv is not None:
            _fut, token = recv
            if token is not None:
                self._loop._cancel_op(token)

    def close(self) -> None:
        if not self._closing:
            self._stop_receiving()
        super().close()

    def _force_close(self, exc: Any) -> None:
        self._stop_receiving()
        super()._force_close(exc)

    # ---- sending -----------------------------------------------------------------------

    def get_write_buffer_size(self) -> int:
        # What the OS has not taken yet: queued, and in ring sends (on every Python).
        return int(self._buffer_size)

    def sendto(self, data: Any, addr: Any = None) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if not data and sys.version_info < (3, 13):
            return
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost and self._address:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer and not self._sends:
            # Attempt to send it right away first, as asyncio does: one syscall, and a
            # datagram the OS took is off the buffer at once.
            sent = self._try_send(data, addr)
            if sent is not None:
                return
        # Not taken yet (in the ring op, or queued behind it): counted in the write buffer
        # until the OS accepts it. Immutable copies only.
        data = bytes(data)
        self._buffer_size += len(data) + _HEADER
        if not self._buffer and not self._sends:
            self._send(data, addr)
        else:
            self._buffer.append((data, addr))
        self._maybe_pause_protocol()

    def _try_send(self, data: Any, addr: Any) -> bool | None:
        """One non-blocking send: True if the OS took it, False if it failed (reported),
        None if the OS cannot take it now."""
        try:
            if self._extra["peername"]:
                self._sock.send(data)
            else:
                self._sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            self._protocol.error_received(exc)
            return False
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - asyncio's transport does the same
            self._fatal_error(exc, "Fatal write error on datagram transport")
            return False
        return True

    def _send(self, data: bytes, addr: Any) -> None:
        """The one send in flight on the ring (one at a time: the kernel retries blocked
        sends in no set order, and datagrams must leave in the order they were sent)."""
        fut = self._loop.create_future()
        to = None if self._extra["peername"] else addr
        self._loop._dgram_send_op(fut, self._sock_fd, data, to)
        self._sends += 1
        fut.add_done_callback(functools.partial(self._sent, len(data) + _HEADER))

    def _sent(self, size: int, fut: asyncio.Future[Any]) -> None:
        self._sends -= 1
        self._buffer_size -= size
        if not fut.cancelled():
            exc = fut.exception()
            if isinstance(exc, OSError) and exc.errno != errno.ECANCELED and not self._conn_lost:
                self._protocol.error_received(exc)
        # The socket has room again: what is queued goes straight out until it is full,
        # then the next waits in the ring.
        while self._buffer and not self._conn_lost:
            data, addr = self._buffer.popleft()
            taken = self._try_send(data, addr)
            if taken is None:
                self._send(data, addr)  # stays counted until it completes
                break
            self._buffer_size -= len(data) + _HEADER
        self._maybe_resume_protocol()  # may append to the buffer
        if not self._buffer and self._closing and not self._conn_lost and not self._sends:
            self._conn_lost += 1
            self._call_connection_lost(None)
