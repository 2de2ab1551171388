"""uring_rs.Loop under faults and load, on real sockets; asyncio's own loop as the control.

Every test runs on both loops (``kind``), with the same assertions: what asyncio's loop
does is the contract. Each test is bounded in time (``run_on``'s deadline) and in count.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import resource
import socket
import sys
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from _loops import FACTORIES, LOOPS, fd_targets, loop_kinds, open_fds, rss_kib, run_on

MiB = 1 << 20
KiB = 1 << 10


def record_loop_errors() -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    return errors


class Echo(asyncio.Protocol):
    """Writes back what it receives; counts the connections it has open."""

    live = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        Echo.live += 1

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        Echo.live -= 1


async def echo_round_trip(port: int, payload: bytes = b"still serving") -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    assert await asyncio.wait_for(reader.readexactly(len(payload)), 5) == payload
    writer.close()
    await writer.wait_closed()


def port_of(server: asyncio.AbstractServer) -> int:
    assert isinstance(server, asyncio.Server)
    return int(server.sockets[0].getsockname()[1])


@contextlib.contextmanager
def no_fd_leak() -> Iterator[None]:
    """The fds open after the block are the fds open before it."""
    gc.collect()
    before = open_fds()
    yield
    gc.collect()
    after = open_fds()
    assert after - before == set(), f"leaked: {fd_targets(after - before)}"


# ----------------------------------------------------------- a raising protocol callback

RAISING_IN = {
    "data_received": "Fatal error: protocol.data_received() call failed.",
    "eof_received": "Fatal error: protocol.eof_received() call failed.",
    "get_buffer": "Fatal error: protocol.get_buffer() call failed.",
    "buffer_updated": "Fatal error: protocol.buffer_updated() call failed.",
}


class Boom(Exception):
    pass


def fragile_protocol(where: str) -> type[asyncio.BaseProtocol]:
    """A server protocol that echoes, but raises Boom in ``where`` when it sees b"boom"."""

    class Fragile(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.seen = b""

        def data_received(self, data: bytes) -> None:
            if where == "data_received" and b"boom" in data:
                raise Boom(where)
            self.seen += data
            self.transport.write(data)

        def eof_received(self) -> bool:
            if b"boom" in self.seen:
                raise Boom(where)
            return False

    class FragileBuffered(asyncio.BufferedProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.buf = bytearray(64 * KiB)
            self.boom_next = False

        def get_buffer(self, sizehint: int) -> bytearray:
            if where == "get_buffer" and self.boom_next:
                raise Boom(where)
            return self.buf

        def buffer_updated(self, nbytes: int) -> None:
            data = bytes(self.buf[:nbytes])
            if b"boom" in data:
                if where == "buffer_updated":
                    raise Boom(where)
                self.boom_next = True  # get_buffer raises on the next read
            self.transport.write(data)

    return FragileBuffered if where in ("get_buffer", "buffer_updated") else Fragile


@loop_kinds
@pytest.mark.parametrize("where", list(RAISING_IN))
def test_a_raising_protocol_callback_goes_to_the_exception_handler_and_the_loop_keeps_serving(
    kind: str, where: str
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        server = await loop.create_server(fragile_protocol(where), "127.0.0.1", 0)
        port = port_of(server)
        # A connection made before the failures, used again after them.
        r0, w0 = await asyncio.open_connection("127.0.0.1", port)
        for round_ in range(5):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"boom")
            if where == "get_buffer":
                # Echoed once; the next read's get_buffer raises.
                assert await asyncio.wait_for(r.readexactly(4), 5) == b"boom"
                w.write(b"more")
            elif where == "eof_received":
                assert await asyncio.wait_for(r.readexactly(4), 5) == b"boom"
                w.write_eof()
            # The failing transport is closed: its peer sees EOF (or a reset).
            with contextlib.suppress(ConnectionResetError):
                assert await asyncio.wait_for(r.read(), 5) == b""
            w.close()
            for _ in range(50):
                if len(errors) > round_:
                    break
                await asyncio.sleep(0.01)
            assert len(errors) == round_ + 1, errors
            await echo_round_trip(port, b"served %d" % round_)
        for ctx in errors:
            assert ctx["message"] == RAISING_IN[where]
            assert isinstance(ctx["exception"], Boom) and str(ctx["exception"]) == where
            assert isinstance(ctx["transport"], asyncio.Transport)
            assert ctx["transport"].is_closing()
            assert isinstance(ctx["protocol"], asyncio.BaseProtocol)
        w0.write(b"old connection")
        assert await asyncio.wait_for(r0.readexactly(14), 5) == b"old connection"
        w0.close()
        await w0.wait_closed()
        server.close()
        await server.wait_closed()

    with no_fd_leak():
        run_on(kind, main())


@loop_kinds
def test_raising_connection_made_and_connection_lost_go_to_the_handler_and_close_the_fd(
    kind: str,
) -> None:
    class Bad(asyncio.Protocol):
        made = lost = 0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            Bad.made += 1
            raise Boom("made")

        def data_received(self, data: bytes) -> None:
            assert isinstance(self.transport, asyncio.Transport)
            self.transport.write(data)

        def connection_lost(self, exc: Exception | None) -> None:
            Bad.lost += 1
            raise Boom("lost")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        server = await loop.create_server(Bad, "127.0.0.1", 0)
        port = port_of(server)
        for i in range(5):
            # asyncio leaves the transport open after connection_made raised: it serves.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
            writer.close()
            await writer.wait_closed()
            for _ in range(100):
                if Bad.lost > i and len(errors) >= 2 * (i + 1):
                    break
                await asyncio.sleep(0.01)
        assert Bad.made == Bad.lost == 5
        got = sorted(str(ctx["exception"]) for ctx in errors)
        assert got == ["lost"] * 5 + ["made"] * 5, errors
        assert all(ctx["message"].startswith("Exception in callback ") for ctx in errors)
        server.close()
        await server.wait_closed()

    with no_fd_leak():  # connection_lost raising does not keep the socket open
        run_on(kind, main())


@loop_kinds
def test_a_raising_callback_goes_to_the_handler_and_the_next_ones_run(kind: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        seen: list[int] = []

        def bad(i: int) -> None:
            raise Boom(i)

        for i in range(100):
            loop.call_soon(bad, i)
            loop.call_soon(seen.append, i)
            loop.call_later(0.001, bad, i)
        await asyncio.sleep(0.05)
        assert seen == list(range(100))
        assert len(errors) == 200
        assert all(ctx["message"].startswith("Exception in callback ") for ctx in errors)
        assert sorted(int(str(ctx["exception"])) for ctx in errors) == sorted(2 * list(range(100)))

    run_on(kind, main())


# -------------------------------------------------------- closing the loop with work open


def close_with_everything_open(kind: str, tmp: Path) -> tuple[set[int], set[int]]:
    """Opens servers, connections (one with a full write buffer), a UDP endpoint, a Unix
    server, a read pipe, a reader and a task blocked in sock_recv; then closes the loop
    without closing any of them. Returns the fds added while the objects are still alive,
    and the fds still added once they are gone."""
    gc.collect()
    before = open_fds()
    loop = FACTORIES[kind]()
    state: dict[str, Any] = {}

    async def setup() -> None:
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(Echo, "127.0.0.1", 0)
        state["server"] = srv
        state["conns"] = [
            await asyncio.open_connection("127.0.0.1", port_of(srv)) for _ in range(5)
        ]
        for _, w in state["conns"]:
            w.write(b"hello")
        # A connection whose peer never reads: data stays queued in the transport.
        quiet = state["quiet"] = socket.socket()
        quiet.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        quiet.bind(("127.0.0.1", 0))
        quiet.listen(1)
        state["stuck"] = await asyncio.open_connection(*quiet.getsockname())
        state["stuck"][1].write(b"x" * (8 * MiB))
        state["udp"] = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        state["unix"] = await loop.create_unix_server(Echo, str(tmp / f"{kind}.sock"))
        rfd, state["wfd"] = os.pipe()
        state["pipe"] = await loop.connect_read_pipe(asyncio.Protocol, os.fdopen(rfd, "rb", 0))
        a, state["b"] = socket.socketpair()
        a.setblocking(False)
        state["recv_task"] = loop.create_task(loop.sock_recv(a, 100))
        c, state["d"] = socket.socketpair()
        c.setblocking(False)
        loop.add_reader(c, lambda: None)
        state["watched"] = c
        await asyncio.sleep(0.05)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        loop.run_until_complete(setup())
        # Only the loop is closed; our own sockets go, the loop's transports stay.
        loop.close()
        for key in ("quiet", "b", "d"):
            state[key].close()
        os.close(state["wfd"])
        gc.collect()
        alive = open_fds() - before
        logging.disable(logging.ERROR)  # "Task was destroyed but it is pending!"
        try:
            state.clear()
            del loop
            gc.collect()
        finally:
            logging.disable(logging.NOTSET)
        gone = open_fds() - before
    return alive, gone


def test_closing_the_loop_with_everything_open_leaks_no_fd_beyond_asyncio(tmp_path: Path) -> None:
    asyncio_alive, asyncio_gone = close_with_everything_open("asyncio", tmp_path)
    ours_alive, ours_gone = close_with_everything_open("uring_rs", tmp_path)
    # While the transports live their sockets are theirs (asyncio's close() leaves them
    # open): the same number of fds as asyncio, nothing of the loop's own (ring, eventfd,
    # self-pipe, pidfds) beyond what asyncio keeps.
    assert len(ours_alive) <= len(asyncio_alive), (
        f"uring_rs keeps {fd_targets(ours_alive)}, asyncio {fd_targets(asyncio_alive)}"
    )
    # Once the objects are gone, every fd is closed on both.
    assert asyncio_gone == set(), fd_targets(asyncio_gone)
    assert ours_gone == set(), fd_targets(ours_gone)


# ---------------------------------------------------------------------- fd and RSS flat


@loop_kinds
def test_10000_connections_opened_and_closed_keep_the_fd_count_flat(kind: str) -> None:
    total, at_once = 10_000, 100

    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        Echo.live = 0
        server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=1024)
        port = port_of(server)
        baseline = open_fds()

        async def one(i: int) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            msg = b"%d" % i
            writer.write(msg)
            assert await reader.readexactly(len(msg)) == msg
            writer.close()
            await writer.wait_closed()

        async def settle() -> set[int]:
            for _ in range(500):
                if Echo.live == 0:
                    break
                await asyncio.sleep(0.01)
            assert Echo.live == 0
            return open_fds()

        counts = []
        for start in range(0, total, at_once):
            await asyncio.gather(*(one(i) for i in range(start, start + at_once)))
            if start % 2000 == 0:
                counts.append(len(await settle()))
        final = await settle()
        assert final == baseline, fd_targets(final ^ baseline)
        assert counts == [len(baseline)] * len(counts)
        server.close()
        await server.wait_closed()
        assert errors == []

    with no_fd_leak():
        run_on(kind, main(), timeout=60)


class Pinger(asyncio.Protocol):
    """Sends ``window`` small messages (one write each), waits for all of them to come
    back, and again, until ``total`` messages have been echoed."""

    def __init__(self, total: int, window: int, msg: bytes, done: asyncio.Future[None]) -> None:
        self.total, self.window, self.msg, self.done = total, window, msg, done
        self.sent = self.echoed_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.burst()

    def burst(self) -> None:
        for _ in range(min(self.window, self.total - self.sent)):
            self.transport.write(self.msg)
            self.sent += 1

    def data_received(self, data: bytes) -> None:
        self.echoed_bytes += len(data)
        if self.echoed_bytes == self.sent * len(self.msg):
            if self.sent == self.total:
                if not self.done.done():
                    self.done.set_result(None)
            else:
                self.burst()


async def echo_messages(port: int, conns: int, per_conn: int) -> None:
    loop = asyncio.get_running_loop()
    done = [loop.create_future() for _ in range(conns)]
    pingers = [
        await loop.create_connection(
            lambda f=f: Pinger(per_conn, 64, b"m" * 32, f),  # type: ignore[misc]
            "127.0.0.1",
            port,
        )
        for f in done
    ]
    await asyncio.gather(*done)
    for transport, _ in pingers:
        transport.close()


@loop_kinds
def test_rss_stays_flat_over_a_million_echoed_small_messages(kind: str) -> None:
    conns = 10

    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        port = port_of(server)
        await echo_messages(port, conns, 20_000)  # warm-up: 200 k messages
        gc.collect()
        warm = rss_kib()
        await echo_messages(port, conns, 100_000)  # 1 M messages of 32 bytes
        gc.collect()
        after = rss_kib()
        server.close()
        await server.wait_closed()
        assert errors == []
        return warm, after

    t0 = time.monotonic()
    warm, after = run_on(kind, main(), timeout=60)
    elapsed = time.monotonic() - t0
    # 1 M messages: a leak of even one small object per message is tens of MiB.
    assert after - warm < 1024, f"RSS grew {after - warm} KiB over 1 M messages ({kind})"
    assert elapsed < 30, f"{elapsed:.1f} s"


# ------------------------------------------------------------------ resets and half-close


@loop_kinds
def test_peer_reset_mid_write_ends_the_transport_with_connection_lost_only(kind: str) -> None:
    class BigWriter(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
            self.paused = False
            transport.write(b"z" * (16 * MiB))
            self.buffered_at_start = transport.get_write_buffer_size()

        def pause_writing(self) -> None:
            self.paused = True

        def connection_lost(self, exc: Exception | None) -> None:
            assert not self.lost.done(), "connection_lost called twice"
            self.lost.set_result(exc)

    writers: list[BigWriter] = []

    def factory() -> BigWriter:
        writers.append(BigWriter())
        return writers[-1]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = port_of(server)
        for _ in range(3):
            client = socket.socket()
            client.setblocking(False)
            await loop.sock_connect(client, ("127.0.0.1", port))
            got = 0
            while got < 256 * KiB:
                got += len(await loop.sock_recv(client, 64 * KiB))
            w = writers[-1]
            assert w.paused and w.transport.get_write_buffer_size() > 0
            # RST, not FIN: linger on, timeout 0.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            client.close()
            exc = await asyncio.wait_for(w.lost, 5)
            assert isinstance(exc, (ConnectionResetError, BrokenPipeError)), exc
            assert w.transport.is_closing()
            assert w.transport.get_write_buffer_size() == 0
            w.transport.write(b"after the reset")  # ignored, as asyncio does
        # An OSError of the peer's making is not an error of the program.
        assert errors == []
        server.close()
        await server.wait_closed()

    with no_fd_leak():
        run_on(kind, main())


@loop_kinds
def test_peer_reset_while_reading_gives_connection_lost_with_the_error(kind: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        lost: asyncio.Future[Exception | None] = loop.create_future()
        received = bytearray()

        class Reader(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                received.extend(data)

            def connection_lost(self, exc: Exception | None) -> None:
                lost.set_result(exc)

        server_sock = socket.socket()
        server_sock.bind(("127.0.0.1", 0))
        server_sock.listen(1)
        transport, _ = await loop.create_connection(Reader, *server_sock.getsockname())
        peer, _ = server_sock.accept()
        peer.sendall(b"before the reset")
        for _ in range(100):
            if len(received) == 16:
                break
            await asyncio.sleep(0.01)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        peer.close()
        server_sock.close()
        exc = await asyncio.wait_for(lost, 5)
        assert bytes(received) == b"before the reset"
        assert isinstance(exc, ConnectionResetError), exc
        assert transport.is_closing()
        assert errors == []

    with no_fd_leak():
        run_on(kind, main())


@loop_kinds
def test_half_close_eof_received_true_keeps_the_write_side(kind: str) -> None:
    reply = random.Random(3).randbytes(3 * MiB)

    class Uploader(asyncio.Protocol):
        """Reads the whole upload; on EOF (eof_received -> True) writes the reply and
        closes."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.got = bytearray()

        def data_received(self, data: bytes) -> None:
            self.got += data

        def eof_received(self) -> bool:
            assert not self.transport.is_closing()
            self.transport.write(b"%d:" % len(self.got))
            self.transport.write(reply)
            self.transport.close()
            return True

    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        server = await loop.create_server(Uploader, "127.0.0.1", 0)
        port = port_of(server)
        for size in (0, 1, 100_000, 2 * MiB):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert writer.can_write_eof()
            writer.write(b"u" * size)
            writer.write_eof()
            with pytest.raises(RuntimeError):
                writer.write(b"after write_eof")
            answer = await asyncio.wait_for(reader.read(), 10)
            head, _, body = answer.partition(b":")
            assert int(head) == size
            assert len(body) == len(reply) and body == reply
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()
        assert errors == []

    with no_fd_leak():
        run_on(kind, main())


@loop_kinds
def test_half_close_eof_received_false_closes_the_transport(kind: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[Exception | None] = loop.create_future()

        class P(asyncio.Protocol):
            def eof_received(self) -> bool:
                return False

            def connection_lost(self, exc: Exception | None) -> None:
                lost.set_result(exc)

        server = await loop.create_server(P, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
        writer.write_eof()
        assert await asyncio.wait_for(lost, 5) is None
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    with no_fd_leak():
        run_on(kind, main())


# ----------------------------------------------------------------- a client that never reads


@loop_kinds
def test_a_client_that_never_reads_pauses_the_server_and_memory_stays_bounded(kind: str) -> None:
    chunk = 64 * KiB
    total = 128 * MiB  # what the server would queue if it were never paused
    data = random.Random(5).randbytes(chunk)

    class Flood(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.paused = False
            self.pauses = self.resumes = self.sent = self.max_buffered = 0
            self.fill()

        def fill(self) -> None:
            # Writes while not paused: pause_writing must come from write() itself.
            while not self.paused and self.sent < total:
                self.transport.write(data)
                self.sent += chunk
                self.max_buffered = max(self.max_buffered, self.transport.get_write_buffer_size())
            if self.sent >= total and not self.transport.is_closing():
                # Not from inside resume_writing: asyncio's own transport then runs
                # connection_lost twice (its _write_ready goes on after the callback).
                asyncio.get_running_loop().call_soon(self.transport.close)

        def pause_writing(self) -> None:
            assert not self.paused
            self.paused = True
            self.pauses += 1

        def resume_writing(self) -> None:
            assert self.paused
            self.paused = False
            self.resumes += 1
            self.fill()

    floods: list[Flood] = []

    def factory() -> Flood:
        floods.append(Flood())
        return floods[-1]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        server = await loop.create_server(factory, "127.0.0.1", 0)
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
        client.setblocking(False)
        await loop.sock_connect(client, ("127.0.0.1", port_of(server)))
        gc.collect()
        rss_before = rss_kib()
        await asyncio.sleep(0.3)
        (flood,) = floods
        high = flood.transport.get_write_buffer_limits()[1]
        # Paused now, after as many pause/resume rounds as it took to fill the kernel's
        # buffers (one on asyncio, whose write() sends at once; a few on uring_rs, whose
        # sends go out with the next iteration).
        assert flood.paused and flood.pauses == flood.resumes + 1
        stuck_at = flood.sent
        assert stuck_at < 32 * MiB, "the server was not paused"
        await asyncio.sleep(0.3)
        assert flood.sent == stuck_at  # still paused: nothing more queued
        buffered = flood.transport.get_write_buffer_size()
        assert 0 < buffered <= high + chunk and flood.max_buffered <= high + chunk
        assert rss_kib() - rss_before < 16 * 1024

        # Now the client reads everything: the server resumes and sends it all, intact.
        received = 0
        view = memoryview(data)
        buf = bytearray(256 * KiB)
        while True:
            n = await loop.sock_recv_into(client, buf)
            if n == 0:
                break
            off = received % chunk
            piece = memoryview(buf)[:n]
            while piece:
                take = min(len(piece), chunk - off)
                assert piece[:take] == view[off : off + take], f"corrupt at {received}"
                piece, off, received = piece[take:], 0, received + take
        assert received == total
        assert flood.resumes >= 1 and flood.pauses == flood.resumes
        client.close()
        server.close()
        await server.wait_closed()
        assert errors == []

    with no_fd_leak():
        run_on(kind, main(), timeout=60)


@loop_kinds
def test_pause_and_resume_writing_alternate_when_a_write_races_a_pending_resume(
    kind: str,
) -> None:
    # A producer that writes from call_soon callbacks whatever the pause state (as aiohttp's
    # websocket writer can): a write that lands after the buffer drained but before the
    # protocol heard resume_writing must not make it hear pause_writing twice in a row.
    chunk = 128 * KiB
    writes = 400
    data = random.Random(9).randbytes(chunk)
    events: list[str] = []
    rng = random.Random(3)

    class Racer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.sent = 0
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * KiB)
            asyncio.get_running_loop().call_soon(self.tick)

        def tick(self) -> None:
            if self.sent == writes:
                self.transport.close()
                return
            if rng.random() < 0.05:  # seldom enough that the buffer drains in between
                self.transport.write(data)
                self.sent += 1
            asyncio.get_running_loop().call_soon(self.tick)

        def pause_writing(self) -> None:
            events.append("pause")

        def resume_writing(self) -> None:
            events.append("resume")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        server = await loop.create_server(Racer, "127.0.0.1", 0)
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * KiB)  # so writes back up
        client.setblocking(False)
        await loop.sock_connect(client, ("127.0.0.1", port_of(server)))
        received = 0
        buf = bytearray(256 * KiB)
        while n := await loop.sock_recv_into(client, buf):
            received += n
        assert received == writes * chunk
        client.close()
        server.close()
        await server.wait_closed()
        assert errors == []

    with no_fd_leak():
        run_on(kind, main(), timeout=60)
    assert events.count("pause") >= 1
    assert all(e == ("pause", "resume")[i % 2] for i, e in enumerate(events)), events


@loop_kinds
def test_eof_while_reading_is_paused_comes_after_all_the_data(kind: str) -> None:
    # A protocol that pauses reading on every chunk and resumes a little later, while the
    # peer sends 4 MiB and closes: the EOF the kernel reports while paused must wait for
    # the data that arrived with it (AnyIO's test_send_large_buffer saw an early EOF).
    total = 4 * MiB
    payload = random.Random(11).randbytes(total)
    got = bytearray()
    seen_at_eof: list[int] = []
    eof: list[asyncio.Future[None]] = []

    class Slow(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            got.extend(data)
            self.transport.pause_reading()
            asyncio.get_running_loop().call_later(0.002, self.transport.resume_reading)

        def eof_received(self) -> None:
            seen_at_eof.append(len(got))
            eof[0].set_result(None)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        eof.append(loop.create_future())
        server = await loop.create_server(Slow, "127.0.0.1", 0)
        client = socket.socket()
        client.setblocking(False)
        await loop.sock_connect(client, ("127.0.0.1", port_of(server)))
        await loop.sock_sendall(client, payload)
        client.close()
        await asyncio.wait_for(eof[0], 30)
        server.close()
        await server.wait_closed()

    with no_fd_leak():
        run_on(kind, main(), timeout=60)
    assert seen_at_eof == [total]
    assert bytes(got) == payload


@loop_kinds
def test_stream_drain_blocks_while_the_peer_does_not_read(kind: str) -> None:
    async def main() -> None:
        quiet = socket.socket()
        quiet.bind(("127.0.0.1", 0))
        quiet.listen(1)
        _, writer = await asyncio.open_connection(*quiet.getsockname())
        peer, _ = quiet.accept()
        peer.setblocking(False)
        written = 0
        while True:
            writer.write(b"d" * (256 * KiB))
            written += 256 * KiB
            try:
                await asyncio.wait_for(writer.drain(), 0.2)
            except asyncio.TimeoutError:
                break
            assert written < 256 * MiB, "drain never blocked"
        assert writer.transport.get_write_buffer_size() > 0
        drained = asyncio.ensure_future(writer.drain())
        await asyncio.sleep(0.1)
        assert not drained.done()
        loop = asyncio.get_running_loop()
        got = 0
        while got < written:
            got += len(await loop.sock_recv(peer, 1 * MiB))
        await asyncio.wait_for(drained, 5)
        assert got == written
        writer.close()
        await writer.wait_closed()
        peer.close()
        quiet.close()

    with no_fd_leak():
        run_on(kind, main())


# ---------------------------------------------------------------- 1,000 concurrent connections


@loop_kinds
def test_1000_concurrent_connections(kind: str) -> None:
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * n + 200:
        if hard < 2 * n + 200:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {2 * n + 200}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def main() -> None:
        errors = record_loop_errors()
        all_connected = asyncio.Event()
        live = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal live
            live += 1
            if live == n:
                all_connected.set()
            await all_connected.wait()  # every connection is open at once
            line = await reader.readline()
            writer.write(line.upper())
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=n)
        port = port_of(server)

        async def client(i: int) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"client %d\n" % i)
            answer = await reader.read()
            writer.close()
            await writer.wait_closed()
            return answer

        answers = await asyncio.gather(*(client(i) for i in range(n)))
        assert answers == [b"CLIENT %d\n" % i for i in range(n)]
        assert live == n
        server.close()
        await server.wait_closed()
        assert errors == []

    with no_fd_leak():
        run_on(kind, main(), timeout=60)


# ------------------------------------------------- cancelling a task blocked in each awaitable


Blocked = tuple[Coroutine[Any, Any, Any], Callable[[], Awaitable[None]]]


@contextlib.asynccontextmanager
async def listener(backlog: int = 16) -> AsyncIterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def pair(stack: contextlib.AsyncExitStack) -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    stack.callback(a.close)
    stack.callback(b.close)
    return a, b


def peer_sees_eof_after_close(a: socket.socket, b: socket.socket) -> None:
    """Closing ``a`` releases its file at once (no cancelled op still holds it): the peer
    ``b`` reads EOF after any bytes already sent."""
    a.close()
    b.settimeout(5)
    while b.recv(1 * MiB):
        pass


async def blocked_sleep(stack: contextlib.AsyncExitStack) -> Blocked:
    async def after() -> None:
        t0 = time.monotonic()
        await asyncio.sleep(0.01)
        assert time.monotonic() - t0 < 1

    return asyncio.sleep(3600), after


async def blocked_sock_recv(stack: contextlib.AsyncExitStack) -> Blocked:
    loop = asyncio.get_running_loop()
    a, b = pair(stack)

    async def after() -> None:
        b.send(b"after")  # not lost to the cancelled recv
        assert await asyncio.wait_for(loop.sock_recv(a, 100), 5) == b"after"
        peer_sees_eof_after_close(a, b)

    return loop.sock_recv(a, 100), after


async def blocked_sock_recv_into(stack: contextlib.AsyncExitStack) -> Blocked:
    loop = asyncio.get_running_loop()
    a, b = pair(stack)
    buf = bytearray(100)

    async def after() -> None:
        b.send(b"after")
        buf2 = bytearray(100)
        assert await asyncio.wait_for(loop.sock_recv_into(a, buf2), 5) == 5
        assert buf2[:5] == b"after"
        peer_sees_eof_after_close(a, b)

    return loop.sock_recv_into(a, buf), after


async def blocked_sock_recvfrom(stack: contextlib.AsyncExitStack) -> Blocked:
    loop = asyncio.get_running_loop()
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (a, b):
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        stack.callback(s.close)

    async def after() -> None:
        b.sendto(b"after", a.getsockname())
        data, addr = await asyncio.wait_for(loop.sock_recvfrom(a, 100), 5)
        assert data == b"after" and addr == b.getsockname()

    return loop.sock_recvfrom(a, 100), after


async def blocked_sock_accept(stack: contextlib.AsyncExitStack) -> Blocked:
    loop = asyncio.get_running_loop()
    lsock = await stack.enter_async_context(listener())
    addr = lsock.getsockname()

    async def after() -> None:
        client = socket.socket()
        stack.callback(client.close)
        client.connect(addr)  # not lost to the cancelled accept
        conn, _ = await asyncio.wait_for(loop.sock_accept(lsock), 5)
        conn.close()
        lsock.close()  # and the listener is really gone: nothing holds its file
        with pytest.raises(ConnectionRefusedError), socket.socket() as probe:
            probe.connect(addr)

    return loop.sock_accept(lsock), after


async def blocked_sock_connect(stack: contextlib.AsyncExitStack) -> Blocked:
    loop = asyncio.get_running_loop()
    lsock = await stack.enter_async_context(listener(backlog=0))
    # Fill the accept queue (backlog 0 holds one): the next connect's SYN is dropped.
    for _ in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(lsock.getsockname())
        stack.callback(filler.close)
    await asyncio.sleep(0.05)
    sock = socket.socket()
    sock.setblocking(False)
    stack.callback(sock.close)

    async def after() -> None:
        sock.close()
        other = await stack.enter_async_context(listener())
        s2 = socket.socket()
        s2.setblocking(False)
        stack.callback(s2.close)
        await asyncio.wait_for(loop.sock_connect(s2, other.getsockname()), 5)

    return loop.sock_connect(sock, lsock.getsockname()), after


async def blocked_create_connection(stack: contextlib.AsyncExitStack) -> Blocked:
    loop = asyncio.get_running_loop()
    lsock = await stack.enter_async_context(listener(backlog=0))
    for _ in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(lsock.getsockname())
        stack.callback(filler.close)
    await asyncio.sleep(0.05)
    host, port = lsock.getsockname()

    async def after() -> None:
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        await echo_round_trip(port_of(server))
        server.close()
        await server.wait_closed()

    return loop.create_connection(asyncio.Protocol, host, port), after


async def blocked_sock_sendall(stack: contextlib.AsyncExitStack) -> Blocked:
    loop = asyncio.get_running_loop()
    a, b = pair(stack)

    async def after() -> None:
        a.setblocking(True)
        with contextlib.suppress(BlockingIOError):
            while b.recv(1 * MiB, socket.MSG_DONTWAIT):
                pass
        await asyncio.wait_for(loop.sock_sendall(a, b"tail"), 5)
        peer_sees_eof_after_close(a, b)

    return loop.sock_sendall(a, b"s" * (64 * MiB)), after


async def streams(
    stack: contextlib.AsyncExitStack, wait_closed: bool = True
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, socket.socket]:
    lsock = await stack.enter_async_context(listener())
    reader, writer = await asyncio.open_connection(*lsock.getsockname())
    peer, _ = lsock.accept()
    stack.callback(peer.close)

    async def close_writer() -> None:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(writer.wait_closed(), 5)

    if wait_closed:
        stack.push_async_callback(close_writer)
    return reader, writer, peer


async def blocked_stream_read(stack: contextlib.AsyncExitStack) -> Blocked:
    reader, _, peer = await streams(stack)

    async def after() -> None:
        peer.sendall(b"after")
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"after"

    return reader.read(100), after


async def fill_until_paused(writer: asyncio.StreamWriter) -> None:
    """Writes until the transport holds more than its high-water mark (the protocol is
    paused, so drain() blocks), without calling drain() itself: on 3.9 a second drain()
    while one waits is an AssertionError."""
    transport = writer.transport
    assert isinstance(transport, asyncio.WriteTransport)
    _, high = transport.get_write_buffer_limits()
    for _ in range(1000):
        writer.write(b"w" * (256 * KiB))
        await asyncio.sleep(0.01)
        if transport.get_write_buffer_size() > high:
            return
    raise AssertionError("the writer never paused")


async def drain_peer(peer: socket.socket, until_eof: bool) -> int:
    loop = asyncio.get_running_loop()
    peer.setblocking(False)
    got = 0
    while True:
        try:
            data = await asyncio.wait_for(loop.sock_recv(peer, 1 * MiB), 0.2)
        except asyncio.TimeoutError:
            if until_eof:
                raise
            return got
        if not data:
            return got
        got += len(data)


async def blocked_drain(stack: contextlib.AsyncExitStack) -> Blocked:
    _, writer, peer = await streams(stack)
    await fill_until_paused(writer)

    async def after() -> None:
        reading = asyncio.ensure_future(drain_peer(peer, until_eof=False))
        await asyncio.wait_for(writer.drain(), 5)
        await reading

    return writer.drain(), after


async def blocked_wait_closed(stack: contextlib.AsyncExitStack) -> Blocked:
    # Cancelling wait_closed() cancels the stream's close waiter itself (asyncio's
    # StreamWriter awaits it unshielded), so later wait_closed() calls raise
    # CancelledError on either loop: the cleanup does not call it.
    _, writer, peer = await streams(stack, wait_closed=False)
    await fill_until_paused(writer)
    writer.close()

    async def after() -> None:
        # The transport still flushes everything and closes: the peer reads to EOF.
        assert await asyncio.wait_for(drain_peer(peer, until_eof=True), 10) > 0
        assert writer.transport.is_closing()

    return writer.wait_closed(), after


async def blocked_pipe_read(stack: contextlib.AsyncExitStack) -> Blocked:
    loop = asyncio.get_running_loop()
    rfd, wfd = os.pipe()
    stack.callback(os.close, wfd)
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(rfd, "rb", 0)
    )
    stack.callback(transport.close)

    async def after() -> None:
        os.write(wfd, b"after")
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"after"

    return reader.read(100), after


async def blocked_subprocess_wait(stack: contextlib.AsyncExitStack) -> Blocked:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(60)")

    async def after() -> None:
        proc.kill()
        assert await asyncio.wait_for(proc.wait(), 5) == -9

    return proc.wait(), after


async def blocked_run_in_executor(stack: contextlib.AsyncExitStack) -> Blocked:
    loop = asyncio.get_running_loop()

    async def after() -> None:
        assert await asyncio.wait_for(loop.run_in_executor(None, sum, [1, 2]), 5) == 3

    return asyncio.wait_for(loop.run_in_executor(None, time.sleep, 0.3), None), after


BLOCKED: dict[str, Callable[[contextlib.AsyncExitStack], Awaitable[Blocked]]] = {
    "sleep": blocked_sleep,
    "sock_recv": blocked_sock_recv,
    "sock_recv_into": blocked_sock_recv_into,
    **({"sock_recvfrom": blocked_sock_recvfrom} if sys.version_info >= (3, 11) else {}),
    "sock_accept": blocked_sock_accept,
    "sock_connect": blocked_sock_connect,
    "create_connection": blocked_create_connection,
    "sock_sendall": blocked_sock_sendall,
    "stream_read": blocked_stream_read,
    "stream_drain": blocked_drain,
    "stream_wait_closed": blocked_wait_closed,
    "pipe_read": blocked_pipe_read,
    "subprocess_wait": blocked_subprocess_wait,
    "run_in_executor": blocked_run_in_executor,
}


@loop_kinds
@pytest.mark.parametrize("awaitable", list(BLOCKED))
def test_cancelling_a_task_blocked_in_each_awaitable_leaves_the_loop_usable(
    kind: str, awaitable: str
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = record_loop_errors()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        port = port_of(server)
        gc.collect()
        fds = open_fds()
        tasks = asyncio.all_tasks()
        async with contextlib.AsyncExitStack() as stack:
            coro, after = await BLOCKED[awaitable](stack)
            task = asyncio.ensure_future(coro)
            await asyncio.sleep(0.05)
            assert not task.done(), task
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=5)
            assert task in done and task.cancelled(), task
            await echo_round_trip(port)  # the loop serves others
            await after()  # and the same kind of call works again
        await asyncio.sleep(0.01)  # transports close their fds one iteration after close()
        gc.collect()
        left = open_fds() - fds
        assert left == set(), fd_targets(left)
        assert asyncio.all_tasks() - tasks == set()
        server.close()
        await server.wait_closed()
        assert errors == []

    with no_fd_leak():
        run_on(kind, main())


# ------------------------------------- bugs found here in uring_rs.Loop, fixed since


@pytest.mark.parametrize("kind", LOOPS)
def test_remove_reader_and_writer_of_a_socket_closed_since(kind: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        fired: list[str] = []
        loop.add_reader(a, fired.append, "reader")
        loop.add_writer(b, fired.append, "writer")
        a.close()
        b.close()
        assert loop.remove_reader(a) is True
        assert loop.remove_writer(b) is True
        await asyncio.sleep(0.05)
        assert fired == []

    with no_fd_leak():
        run_on(kind, main())


@pytest.mark.parametrize(
    ("kind", "call"),
    [(kind, call) for kind in LOOPS for call in ("sock_connect", "sock_recv", "sock_sendall")],
)
def test_a_failed_sock_call_leaves_no_reference_cycle_through_its_future(
    kind: str, call: str
) -> None:
    if kind == "asyncio" and call == "sock_connect" and sys.version_info < (3, 10):
        pytest.skip("asyncio's own sock_connect keeps this cycle on 3.9 (gone in 3.10)")

    async def failing() -> OSError:
        loop = asyncio.get_running_loop()
        async with listener() as lsock:
            if call == "sock_connect":
                addr = lsock.getsockname()
                lsock.close()  # nothing listens there any more
                with socket.socket() as sock:
                    sock.setblocking(False)
                    try:
                        await loop.sock_connect(sock, addr)
                    except ConnectionRefusedError as exc:
                        return exc
                raise AssertionError("connected")
            client = socket.socket()
            client.connect(lsock.getsockname())
            conn, _ = lsock.accept()
            conn.setblocking(False)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            client.close()  # a reset
            await asyncio.sleep(0.01)
            try:
                with conn:
                    if call == "sock_recv":
                        await loop.sock_recv(conn, 100)
                    else:
                        for _ in range(1000):
                            await loop.sock_sendall(conn, b"s" * (64 * KiB))
            except ConnectionResetError as exc:
                return exc
            raise AssertionError(f"{call} did not fail")

    async def main() -> None:
        exc = await failing()
        for _ in range(3):  # let the loop drop the handle that woke us
            await asyncio.sleep(0)
        # Before 3.11 a frame refers to it too (AnyIO's no_other_refs); a future never.
        futures = [r for r in gc.get_referrers(exc) if isinstance(r, asyncio.Future)]
        assert futures == [], f"{exc!r} is still referenced by {futures}"

    run_on(kind, main())
