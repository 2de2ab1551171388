"""``uring_rs.Loop``: an asyncio event loop on io_uring.

The native core (``_native.LoopCore``) owns the hot path: the ready queue, the timers,
``call_soon``/``call_later``/``call_at``/``call_soon_threadsafe``, the iteration (one
``io_uring_enter`` that submits everything queued and waits), fd watchers, transports and
socket ops. This module is the cold half: it subclasses ``asyncio.BaseEventLoop``, whose
connection set-up, servers, TLS, executors and exception handling are used unchanged, and
fills in the hooks ``BaseEventLoop`` leaves to a subclass.

Owns: the ``Loop`` class, ``new_event_loop``, ``run``, ``EventLoopPolicy``. May not
touch: the ``Ring`` API (a loop has its own ring).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import functools
import io
import os
import socket
import sys
import warnings
import weakref
from asyncio import (
    base_events,
    constants,
    exceptions,
    futures,
    selector_events,
    sslproto,
    transports,
    trsock,
    unix_events,
)
from asyncio.log import logger
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from uring_rs import _datagram
from uring_rs._native import LoopCore, StreamCore

__all__ = ["EventLoopPolicy", "Loop", "new_event_loop", "run"]

_T = TypeVar("_T")
# sendfile's pipe: as big as the kernel lets an unprivileged process make it (1 MiB by
# default), so that each splice moves that much. F_SETPIPE_SZ is in fcntl from Python 3.10.
_F_SETPIPE_SZ: int = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_SENDFILE_PIPE = 1 << 20


# asyncio's own implementations of the cold paths, borrowed (typeshed does not describe
# these private names, so they are typed as Any here).
_Selector: Any = selector_events.BaseSelectorEventLoop
_Unix: Any = unix_events._UnixSelectorEventLoop
_selector_events: Any = selector_events
_unix_events: Any = unix_events
_base_events: Any = base_events
_futures: Any = futures
_Dgram: Any = _selector_events._SelectorDatagramTransport


class _NoSelector:
    """What asyncio's selector-based transports read as ``loop._selector`` (for their repr):
    fds are watched by the ring, so no key is ever found here."""

    def get_key(self, fd: Any) -> Any:
        raise KeyError(fd)


class Loop(LoopCore, asyncio.BaseEventLoop):  # type: ignore[misc]
    """An asyncio event loop whose waits and I/O go through one io_uring ring."""

    def __init__(self) -> None:
        asyncio.BaseEventLoop.__init__(self)
        self._transports: weakref.WeakValueDictionary[int, _SocketTransport] = (
            weakref.WeakValueDictionary()
        )
        # Listening fd -> what _start_serving was given.
        self._servers: dict[int, tuple[Any, ...]] = {}
        # fd -> the socket whose cancelled sock_* calls stashed what they received.
        self._stash_owners: dict[int, weakref.ref[socket.socket]] = {}
        self._signal_handlers: dict[int, Any] = {}
        # Listening Unix sockets whose path to remove when they stop serving (3.13's
        # create_unix_server(cleanup_socket=True) records them here): socket -> st_ino.
        self._unix_server_sockets: dict[socket.socket, int] = {}
        # pid -> pidfd of children whose exit is being watched.
        self._children: dict[int, int] = {}
        self._selector = _NoSelector()
        # The socketpair signal.set_wakeup_fd writes to (asyncio's self-pipe), read by the ring.
        self._ssock: socket.socket | None = None
        self._csock: socket.socket | None = None
        self._make_self_pipe()

    def _make_self_pipe(self) -> None:
        self._ssock, self._csock = socket.socketpair()
        self._ssock.setblocking(False)
        self._csock.setblocking(False)
        self._internal_fds += 1  # type: ignore[attr-defined]
        self._add_reader(self._ssock.fileno(), self._read_from_self)

    def _close_self_pipe(self) -> None:
        if self._ssock is not None:
            self._remove_reader(self._ssock.fileno())
            self._ssock.close()
            self._ssock = None
        if self._csock is not None:
            self._csock.close()
            self._csock = None
        self._internal_fds -= 1  # type: ignore[attr-defined]

    def _read_from_self(self) -> None:
        assert self._ssock is not None
        while True:
            try:
                data = self._ssock.recv(4096)
                if not data:
                    break
                self._process_self_data(data)
            except InterruptedError:
                continue
            except BlockingIOError:
                break

    def close(self) -> None:
        """Closes the loop as asyncio's does, then cancels and drains the ring's ops."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        super().close()
        if not sys.is_finalizing():
            for sig in list(self._signal_handlers):
                self.remove_signal_handler(sig)
        elif self._signal_handlers:
            warnings.warn(
                f"Closing the loop {self!r} on interpreter shutdown stage, skipping signal "
                "handlers removal",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )
            self._signal_handlers.clear()
        self._close_self_pipe()
        self._selector = None  # type: ignore[assignment]
        for pidfd in self._children.values():
            os.close(pidfd)
        self._children.clear()
        self._servers.clear()
        self._close_core()

    def _process_events(self, event_list: Any) -> None:  # pragma: no cover - unused
        pass

    # fd watchers and socket ops: asyncio's own, over the native _add_reader & co.
    _ensure_fd_no_transport = _Selector._ensure_fd_no_transport
    add_reader = _Selector.add_reader
    remove_reader = _Selector.remove_reader
    add_writer = _Selector.add_writer
    remove_writer = _Selector.remove_writer
    _sock_read_done = _Selector._sock_read_done
    sock_sendall = _Selector.sock_sendall
    _sock_sendall = _Selector._sock_sendall
    if sys.version_info >= (3, 11):  # asyncio's UDP sock_* calls are new in 3.11
        sock_recvfrom = _Selector.sock_recvfrom
        _sock_recvfrom = _Selector._sock_recvfrom
        sock_recvfrom_into = _Selector.sock_recvfrom_into
        _sock_recvfrom_into = _Selector._sock_recvfrom_into
        sock_sendto = _Selector.sock_sendto
        _sock_sendto = _Selector._sock_sendto
    _sock_write_done = _Selector._sock_write_done
    _accept_connection2 = _Selector._accept_connection2

    # Signals (signal.set_wakeup_fd on the self-pipe), Unix sockets, pipes: asyncio's own.
    _process_self_data = _Unix._process_self_data
    add_signal_handler = _Unix.add_signal_handler
    _handle_signal = _Unix._handle_signal
    remove_signal_handler = _Unix.remove_signal_handler
    _check_signal = _Unix._check_signal
    _make_read_pipe_transport = _Unix._make_read_pipe_transport
    _make_write_pipe_transport = _Unix._make_write_pipe_transport
    create_unix_connection = _Unix.create_unix_connection
    create_unix_server = _Unix.create_unix_server

    def _make_datagram_transport(
        self,
        sock: socket.socket,
        protocol: Any,
        address: Any = None,
        waiter: Any = None,
        extra: Any = None,
    ) -> asyncio.DatagramTransport:
        # Receives and sends are ring ops (recvmsg/sendmsg); families whose addresses the
        # ring does not decode keep asyncio's transport over the loop's polls.
        cls = _datagram.DatagramTransport if _datagram.supported(sock) else _Dgram
        transport: asyncio.DatagramTransport = cls(self, sock, protocol, address, waiter, extra)
        return transport

    # Subprocesses: the child's exit is waited for by the ring (IORING_OP_WAITID, or a poll
    # on its pidfd where the kernel lacks it): no watcher thread.
    async def _make_subprocess_transport(
        self,
        protocol: Any,
        args: Any,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        extra: Any = None,
        **kwargs: Any,
    ) -> Any:
        waiter = self.create_future()
        transp = _unix_events._UnixSubprocessTransport(
            self,
            protocol,
            args,
            shell,
            stdin,
            stdout,
            stderr,
            bufsize,
            waiter=waiter,
            extra=extra,
            **kwargs,
        )
        self._watch_child(transp.get_pid(), transp)
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transp.close()
            await transp._wait()
            raise
        return transp

    def _watch_child(self, pid: int, transp: Any) -> None:
        def reaped(returncode: int | None) -> None:
            if returncode is None:
                returncode = 255
                logger.warning(
                    "child process pid %d exit status already read: will report returncode 255",
                    pid,
                )
            transp._process_exited(returncode)

        # IORING_OP_WAITID (Linux 6.7) waits and reaps on the ring; else a pidfd poll and
        # waitpid.
        if self._wait_child(pid, reaped):
            return
        pidfd = os.pidfd_open(pid)
        self._children[pid] = pidfd

        def exited() -> None:
            self._remove_reader(pidfd)
            self._children.pop(pid, None)
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                returncode = 255
                logger.warning(
                    "child process pid %d exit status already read: will report returncode 255",
                    pid,
                )
            else:
                returncode = os.waitstatus_to_exitcode(status)
            os.close(pidfd)
            transp._process_exited(returncode)

        self._add_reader(pidfd, exited)

    # sock_recv, sock_recv_into, sock_accept and sock_connect: one ring op each, resolving a
    # future; a cancelled call's op is cancelled before the CancelledError goes on, and what
    # it received anyway is kept for the next call on that socket.
    def _check_sock(self, sock: socket.socket) -> None:
        _base_events._check_ssl_socket(sock)
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    def _sock_fd(self, sock: socket.socket) -> int:
        """``sock``'s fd, after dropping what cancelled calls stashed for another socket that
        had the same fd number."""
        fd = sock.fileno()
        owner = self._stash_owners.get(fd)
        if owner is not None and owner() is not sock:
            del self._stash_owners[fd]
            self._forget_stash(fd)
        return fd

    async def _sock_op(
        self, start: Callable[[asyncio.Future[Any]], int | None], sock: socket.socket
    ) -> Any:
        """Runs one sock op: ``start(fut)`` queues it (its token, or None when it resolved
        ``fut`` at once). The future is dropped before an exception leaves, so the
        exception's traceback does not keep it (and itself) alive in a cycle."""
        fut: asyncio.Future[Any] | None = self.create_future()
        assert fut is not None
        try:
            token = start(fut)
            if token is None:
                return fut.result()
            try:
                return await fut
            except asyncio.CancelledError:
                self._cancel_op(token)
                self._stash_owners[sock.fileno()] = weakref.ref(sock)
                raise
        finally:
            fut = None

    async def sock_recv(self, sock: socket.socket, n: int) -> bytes:
        """Receives up to ``n`` bytes from ``sock`` (one recv on the ring)."""
        # _sock_op inlined: this is the hot path of a sock_* server.
        self._check_sock(sock)
        fd = self._sock_fd(sock) if self._stash_owners else sock.fileno()
        fut: asyncio.Future[Any] | None = self.create_future()
        assert fut is not None
        try:
            token = self._sock_recv_op(fut, fd, n)
            if token is None:
                data: bytes = fut.result()
                return data
            try:
                data = await fut
                return data
            except asyncio.CancelledError:
                self._cancel_op(token)
                self._stash_owners[sock.fileno()] = weakref.ref(sock)
                raise
        finally:
            fut = None

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        """Receives into ``buf`` (pinned until the recv completes); returns the byte count."""
        self._check_sock(sock)
        fd = self._sock_fd(sock)
        count: int = await self._sock_op(lambda f: self._sock_recv_into_op(f, fd, buf), sock)
        return count

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Any]:
        """Accepts a connection on listening socket ``sock``: ``(conn, address)``."""
        self._check_sock(sock)
        lfd = self._sock_fd(sock)
        fd: int = await self._sock_op(lambda f: self._sock_accept_op(f, lfd), sock)
        conn = socket.socket(sock.family, sock.type, sock.proto, fileno=fd)
        conn.setblocking(False)
        try:
            address = conn.getpeername()
        except OSError:
            address = None
        return conn, address

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        """Connects ``sock`` to ``address`` (resolved first for INET sockets)."""
        self._check_sock(sock)
        if sock.family == socket.AF_INET or (
            _base_events._HAS_IPv6 and sock.family == socket.AF_INET6
        ):
            resolved = await self._ensure_resolved(  # type: ignore[attr-defined]
                address, family=sock.family, type=sock.type, proto=sock.proto, loop=self
            )
            _, _, _, _, address = resolved[0]
        fd = self._sock_fd(sock)
        await self._sock_op(lambda f: self._sock_connect_op(f, fd, address), sock)

    # sendfile: splice(2) through the ring, file -> pipe -> socket, no copy through Python.
    async def _sock_sendfile_native(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        try:
            fileno = file.fileno()
        except (AttributeError, io.UnsupportedOperation) as err:
            raise exceptions.SendfileNotAvailableError("not a regular file") from err
        try:
            fsize = os.fstat(fileno).st_size
        except OSError as err:
            raise exceptions.SendfileNotAvailableError("not a regular file") from err
        blocksize = count if count else fsize
        if not blocksize:
            return 0  # an empty file, as asyncio's
        sock_fd = self._sock_fd(sock)
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            pipe_size = fcntl.fcntl(w, _F_SETPIPE_SZ, _SENDFILE_PIPE)
        except OSError:
            pipe_size = 64 * 1024  # the default size; a smaller pipe-max-size
        total = 0
        try:
            while not count or total < count:
                want = min(pipe_size, count - total) if count else pipe_size
                n: int = await self._sock_op(
                    functools.partial(
                        self._sock_splice_op,
                        sock=sock_fd,
                        fd_in=fileno,
                        off_in=offset + total,
                        fd_out=w,
                        len=want,
                    ),
                    sock,
                )
                if n == 0:
                    break  # end of file
                while n:
                    sent: int = await self._sock_op(
                        functools.partial(
                            self._sock_splice_op,
                            sock=sock_fd,
                            fd_in=r,
                            off_in=-1,
                            fd_out=sock_fd,
                            len=n,
                        ),
                        sock,
                    )
                    n -= sent
                    total += sent
            return total
        finally:
            os.close(r)
            os.close(w)
            if total > 0:
                file.seek(offset + total)

    async def _sendfile_native(self, transp: Any, file: Any, offset: int, count: int | None) -> int:
        if not isinstance(transp, _SocketTransport) or transp._sock is None:
            raise exceptions.SendfileNotAvailableError(f"not supported on {transp!r}")
        resume_reading = transp.is_reading()
        transp.pause_reading()
        await transp._make_empty_waiter()
        try:
            return await self.sock_sendfile(transp._sock, file, offset, count, fallback=False)
        finally:
            transp._reset_empty_waiter()
            if resume_reading:
                transp.resume_reading()

    # Transports and servers.
    def _make_socket_transport(
        self,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        *,
        extra: dict[str, Any] | None = None,
        server: Any = None,
    ) -> _SocketTransport:
        return _SocketTransport(self, sock, protocol, waiter, extra, server)

    def _make_ssl_transport(
        self,
        rawsock: socket.socket,
        protocol: asyncio.BaseProtocol,
        sslcontext: Any,
        waiter: asyncio.Future[Any] | None = None,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        extra: dict[str, Any] | None = None,
        server: Any = None,
        ssl_handshake_timeout: float | None = constants.SSL_HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout: float | None = getattr(constants, "SSL_SHUTDOWN_TIMEOUT", 30.0),
        call_connection_made: bool = True,
    ) -> asyncio.Transport:
        kwargs: dict[str, Any] = {"ssl_handshake_timeout": ssl_handshake_timeout}
        if sys.version_info >= (3, 11):
            kwargs["ssl_shutdown_timeout"] = ssl_shutdown_timeout
        ssl_protocol = sslproto.SSLProtocol(
            self,
            protocol,
            sslcontext,
            waiter,  # type: ignore[arg-type]
            server_side,
            server_hostname,
            **kwargs,
        )
        _SocketTransport(self, rawsock, ssl_protocol, extra=extra, server=server)
        return ssl_protocol._app_transport

    def _start_serving(
        self,
        protocol_factory: Any,
        sock: socket.socket,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        ssl_handshake_timeout: float | None = constants.SSL_HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout: float | None = getattr(constants, "SSL_SHUTDOWN_TIMEOUT", 30.0),
    ) -> None:
        self._servers[sock.fileno()] = (
            protocol_factory,
            sock,
            sslcontext,
            server,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )
        self._start_accept(sock.fileno())

    def _stop_serving(self, sock: socket.socket) -> None:
        path = sock.getsockname() if sock in self._unix_server_sockets else None
        fd = sock.fileno()
        if fd >= 0:
            self._stop_accept(fd)
            self._servers.pop(fd, None)
        sock.close()
        if path is not None:
            prev_ino = self._unix_server_sockets.pop(sock)
            try:
                if os.stat(path).st_ino == prev_ino:
                    os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as err:
                logger.error("Unable to clean up listening UNIX socket %r: %r", path, err)

    def _accepted(self, fd: int, res: int) -> None:
        """A connection (fd ``res``, or -errno) on listening socket ``fd``."""
        entry = self._servers.get(fd)
        if entry is None:
            if res >= 0:
                socket.socket(fileno=res).close()
            return
        protocol_factory, sock, sslcontext, server, hs_timeout, sd_timeout = entry
        if res < 0:
            err = -res
            if err in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                self.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(err, errno.errorcode.get(err, "")),
                        "socket": trsock.TransportSocket(sock),
                    }
                )
                self._stop_accept(fd)
                self.call_later(constants.ACCEPT_RETRY_DELAY, self._start_accept, fd)
            return
        conn = socket.socket(sock.family, sock.type, sock.proto, fileno=res)
        conn.setblocking(False)
        try:
            addr = conn.getpeername()
        except OSError:
            addr = None
        if self._debug:
            logger.debug("%r got a new connection from %r: %r", server, addr, conn)
        extra = {"peername": addr}
        kwargs: dict[str, Any] = {
            "sslcontext": sslcontext,
            "server": server,
            "ssl_handshake_timeout": hs_timeout,
        }
        if sys.version_info >= (3, 11):
            kwargs["ssl_shutdown_timeout"] = sd_timeout
        self.create_task(self._accept_connection2(protocol_factory, conn, extra, **kwargs))


def _server_attach(server: Any, transport: Any) -> None:
    if sys.version_info >= (3, 13):
        server._attach(transport)
    else:
        server._attach()


def _server_detach(server: Any, transport: Any) -> None:
    if sys.version_info >= (3, 13):
        server._detach(transport)
    else:
        server._detach()


class _SocketTransport(transports.Transport):
    """A stream transport over a connected socket. Reads (multishot recv into the loop's
    buffer ring), writes (one send per iteration) and flow control are native
    (``StreamCore``); closing follows asyncio's ``_SelectorSocketTransport``."""

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_closing",
        "_core",
        "_empty_waiter",
        "_loop",
        "_paused",
        "_protocol",
        "_protocol_connected",
        "_server",
        "_sock",
        "_sock_fd",
        "write",
    )
    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE
    # A slot holding the native bound method StreamCore.write: a write costs no Python frame.
    write: Callable[[Any], None]  # type: ignore[assignment]

    def __init__(
        self,
        loop: Loop,
        sock: socket.socket,
        protocol: Any,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
        server: Any = None,
    ) -> None:
        super().__init__(extra)
        ext: dict[str, Any] = self._extra  # type: ignore[attr-defined]
        ext["socket"] = trsock.TransportSocket(sock)
        try:
            ext["sockname"] = sock.getsockname()
        except OSError:
            ext["sockname"] = None
        if "peername" not in ext:
            try:
                ext["peername"] = sock.getpeername()
            except OSError:
                ext["peername"] = None
        self._loop: Loop | None = loop
        self._sock: socket.socket | None = sock
        self._sock_fd = sock.fileno()
        self._protocol = protocol
        self._protocol_connected = True
        self._server = server
        self._closing = False
        self._paused = False
        self._empty_waiter: asyncio.Future[None] | None = None
        self._core: StreamCore = loop._new_stream(self._sock_fd, protocol, self)
        self.write = self._core.write
        _base_events._set_nodelay(sock)
        if server is not None:
            _server_attach(server, self)
        loop._transports[self._sock_fd] = self
        loop.call_soon(protocol.connection_made, self)
        # Only start reading once connection_made() has run.
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(_futures._set_result_unless_cancelled, waiter, None)

    def _start_reading(self) -> None:
        if not self._closing and not self._paused:
            self._core.resume_reading()

    def __repr__(self) -> str:
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"fd={self._sock_fd}")
        if self._loop is not None and not self._loop.is_closed() and self._sock is not None:
            info.append("read=polling" if self.is_reading() else "read=idle")
            size = self.get_write_buffer_size()
            info.append(f"write=<{'polling' if size else 'idle'}, bufsize={size}>")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if getattr(self, "_sock", None) is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()  # type: ignore[union-attr]

    def get_protocol(self) -> Any:
        return self._protocol

    def set_protocol(self, protocol: Any) -> None:
        self._core.set_protocol(protocol)
        self._protocol = protocol
        self._protocol_connected = True

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return not self._closing and not self._paused

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        self._core.pause_reading()
        if self._loop is not None and self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._core.resume_reading()
        if self._loop is not None and self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def get_write_buffer_size(self) -> int:
        return self._core.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._core.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._core._set_limits(high, low)

    @property
    def _protocol_paused(self) -> bool:
        return self._core._protocol_paused

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        if self._closing or self._core._eof:
            return
        self._core.write_eof()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._core._close():
            self._core._lose()
            assert self._loop is not None
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self) -> None:
        self._force_close(None)

    def _read_eof(self) -> None:
        if self._loop is not None and self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - as asyncio's transports: any error is fatal
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            self._core.pause_reading()
        else:
            self.close()

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        if isinstance(exc, OSError):
            if self._loop is not None and self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        elif self._loop is not None:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._core._conn_lost:
            return
        self._core._abort()
        self._closing = True
        self._core._lose()
        assert self._loop is not None
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            self._core._lose()
            self._core._detach()
            if self._sock is not None:
                self._sock.close()
            self._sock = None
            self._protocol = None
            self._loop = None
            server = self._server
            if server is not None:
                _server_detach(server, self)
                self._server = None
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(ConnectionError("Connection is closed by peer"))

    def _make_empty_waiter(self) -> asyncio.Future[None]:
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        assert self._loop is not None
        self._empty_waiter = self._loop.create_future()
        if self._core._notify_empty():
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _buffer_emptied(self) -> None:
        # Told by the loop once the write buffer has emptied (_notify_empty).
        if self._empty_waiter is not None and not self._empty_waiter.done():
            self._empty_waiter.set_result(None)

    def _reset_empty_waiter(self) -> None:
        self._empty_waiter = None


def new_event_loop() -> Loop:
    """A new ``uring_rs.Loop`` (raises ``UringError`` where io_uring cannot be set up)."""
    return Loop()


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None, **kwargs: Any) -> _T:
    """Runs ``main`` on a new ``Loop`` as ``asyncio.run`` does, and returns its result."""
    if sys.version_info >= (3, 12):
        return asyncio.run(main, debug=debug, loop_factory=new_event_loop, **kwargs)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
            return runner.run(main)
    # Python 3.9/3.10: asyncio.run with a policy that makes our loops.
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(EventLoopPolicy())
    try:
        return asyncio.run(main, debug=debug)
    finally:
        asyncio.set_event_loop_policy(old)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """An event loop policy whose loops are ``uring_rs.Loop`` (for code that sets policies)."""

    def new_event_loop(self) -> Loop:
        return Loop()


# Public names show the module users import them from.
for _obj in (Loop, new_event_loop, run, EventLoopPolicy):
    _obj.__module__ = "uring_rs"
del _obj
