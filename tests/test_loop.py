"""uring_rs.Loop: the scheduler, timers, wake-ups and fd watchers, on a real ring.

CPython's own conformance mixins run in tests/test_conformance.py; these cover what
they do not pin down (ordering under load, thread wake-ups, fork, close with work
pending).
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uring_rs


@pytest.fixture
def loop() -> Iterator[uring_rs.Loop]:
    lp = uring_rs.new_event_loop()
    yield lp
    lp.close()


def test_is_an_asyncio_loop(loop: uring_rs.Loop) -> None:
    assert isinstance(loop, asyncio.AbstractEventLoop)
    assert isinstance(loop, uring_rs.Loop)
    assert abs(loop.time() - time.monotonic()) < 0.1


def test_call_soon_runs_in_order_and_cancel_skips(loop: uring_rs.Loop) -> None:
    seen: list[int] = []
    handles = [loop.call_soon(seen.append, i) for i in range(1000)]
    handles[500].cancel()
    assert handles[500].cancelled()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [i for i in range(1000) if i != 500]


def test_callbacks_scheduled_while_running_wait_for_the_next_iteration(
    loop: uring_rs.Loop,
) -> None:
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        loop.call_soon(seen.append, "later")

    loop.call_soon(first)
    loop.call_soon(seen.append, "second")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["first", "second"]
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["first", "second", "later"]


def test_timers_fire_in_deadline_order(loop: uring_rs.Loop) -> None:
    seen: list[float] = []
    start = loop.time()
    delays = [0.05, 0.01, 0.03, 0.02, 0.04, 0.0, 0.01]
    for d in delays:
        loop.call_later(d, seen.append, d)
    t = loop.call_later(0.025, seen.append, -1.0)
    t.cancel()
    loop.call_later(0.07, loop.stop)
    loop.run_forever()
    assert seen == sorted(delays)
    assert loop.time() - start >= 0.07
    h = loop.call_at(loop.time() + 10, lambda: None)
    assert isinstance(h, uring_rs._native.TimerHandle)
    assert h.when() > loop.time()


def test_many_cancelled_timers_are_dropped(loop: uring_rs.Loop) -> None:
    hs = [loop.call_later(1000 + i, lambda: None) for i in range(1000)]
    for h in hs[:900]:
        h.cancel()
    # asyncio's rule: the heap is rebuilt once over half of it is cancelled.
    assert sum(not h._scheduled for h in hs[:900]) > 500
    assert all(h._scheduled for h in hs[900:])
    loop.call_soon(loop.stop)
    loop.run_forever()


def test_coroutines_sleep_and_gather(loop: uring_rs.Loop) -> None:
    async def one(i: int) -> int:
        await asyncio.sleep(0.001 * (i % 5))
        return i

    async def main() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(200)))

    assert loop.run_until_complete(main()) == list(range(200))


def test_call_soon_threadsafe_wakes_a_sleeping_loop(loop: uring_rs.Loop) -> None:
    async def main() -> float:
        fut: asyncio.Future[float] = loop.create_future()

        def other() -> None:
            time.sleep(0.05)
            loop.call_soon_threadsafe(fut.set_result, time.monotonic())

        threading.Thread(target=other).start()
        return await fut

    t: float = loop.run_until_complete(asyncio.wait_for(main(), 5))
    assert time.monotonic() - t < 0.5, "woken at once, not at a timeout"


def test_threadsafe_calls_from_many_threads_all_arrive(loop: uring_rs.Loop) -> None:
    n_threads, per = 8, 500
    got: list[int] = []

    async def main() -> None:
        done = asyncio.Event()

        def add(i: int) -> None:
            got.append(i)
            if len(got) == n_threads * per:
                done.set()

        def worker(k: int) -> None:
            for i in range(per):
                loop.call_soon_threadsafe(add, k * per + i)

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for t in ts:
            t.start()
        await asyncio.wait_for(done.wait(), 10)
        for t in ts:
            t.join()

    loop.run_until_complete(main())
    assert sorted(got) == list(range(n_threads * per))


def test_add_reader_is_level_triggered(loop: uring_rs.Loop) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    calls: list[bytes] = []

    def readable() -> None:
        # Read one byte per call: the reader must be called again while data is left.
        calls.append(a.recv(1))
        if len(calls) == 5:
            loop.remove_reader(a)
            loop.stop()

    loop.add_reader(a, readable)
    b.send(b"hello")
    loop.run_forever()
    assert b"".join(calls) == b"hello"
    assert loop.remove_reader(a) is False
    a.close()
    b.close()


def test_add_writer_and_remove(loop: uring_rs.Loop) -> None:
    a, b = socket.socketpair()
    fired: list[int] = []

    def writable() -> None:
        fired.append(1)
        assert loop.remove_writer(a.fileno()) is True
        loop.call_soon(loop.stop)

    loop.add_writer(a.fileno(), writable)
    loop.run_forever()
    assert fired == [1]
    with pytest.raises(ValueError, match="Invalid file descriptor"):
        loop.add_reader(-1, lambda: None)
    a.close()
    b.close()


def test_callback_exception_goes_to_the_handler_and_the_loop_goes_on(
    loop: uring_rs.Loop,
) -> None:
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    def boom() -> None:
        raise ZeroDivisionError("x")

    seen: list[int] = []
    loop.call_soon(boom)
    loop.call_soon(seen.append, 1)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [1]
    assert isinstance(contexts[0]["exception"], ZeroDivisionError)
    assert "Exception in callback" in str(contexts[0]["message"])


def test_keyboard_interrupt_propagates_and_keeps_the_rest(
    loop: uring_rs.Loop,
) -> None:
    seen: list[int] = []

    def interrupt() -> None:
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    loop.call_soon(seen.append, 1)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [1]


def test_context_is_entered_per_callback(loop: uring_rs.Loop) -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="none")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "inside")
    seen: list[str] = []
    loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    loop.call_soon(lambda: seen.append(var.get()))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["inside", "none"]


def test_closed_loop_refuses_and_close_is_idempotent() -> None:
    lp = uring_rs.new_event_loop()
    lp.call_later(100, lambda: None)
    lp.close()
    lp.close()
    assert lp.is_closed()
    with pytest.raises(RuntimeError, match="closed"):
        lp.call_soon(lambda: None)
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="closed"):
        lp.run_until_complete(coro)
    coro.close()


def test_many_loops_leak_no_fds() -> None:
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = fds()
    for _ in range(200):
        lp = uring_rs.new_event_loop()
        lp.run_until_complete(asyncio.sleep(0))
        lp.close()
    gc.collect()
    assert fds() == before


def test_run_and_runner() -> None:
    async def main() -> str:
        await asyncio.sleep(0)
        assert isinstance(asyncio.get_running_loop(), uring_rs.Loop)
        return "done"

    assert uring_rs.run(main()) == "done"


def test_forked_child_cannot_use_the_parents_loop_but_can_make_its_own(
    loop: uring_rs.Loop,
) -> None:
    loop.run_until_complete(asyncio.sleep(0))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            try:
                loop.run_until_complete(asyncio.sleep(0))
            except RuntimeError as e:
                if "fork" in str(e):
                    own = uring_rs.new_event_loop()
                    own.run_until_complete(asyncio.sleep(0.001))
                    own.close()
                    code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    loop.run_until_complete(asyncio.sleep(0))


def test_cancelled_sock_recv_loses_no_data_and_never_leaks_it_to_a_new_socket(
    loop: uring_rs.Loop,
) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        a.setblocking(False)
        b.send(b"first")
        # The recv is queued; cancelling it submits it and its cancel at once. It finds
        # the bytes already there, so they must come back on the next call.
        task = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        b.send(b"second")
        got = b""
        while len(got) < len(b"firstsecond"):
            got += await asyncio.wait_for(loop.sock_recv(a, 100), 5)
        assert got == b"firstsecond"
        # Stash something for `a`, close it, and reuse its fd number: nothing stashed for
        # the old socket may reach the new one.
        b.send(b"stale")
        task = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        fd = a.fileno()
        a.close()
        b.close()
        c, d = socket.socketpair()
        c.setblocking(False)
        assert fd in (c.fileno(), d.fileno())
        mine, peer = (c, d) if c.fileno() == fd else (d, c)
        mine.setblocking(False)
        peer.send(b"fresh")
        assert await asyncio.wait_for(loop.sock_recv(mine, 100), 5) == b"fresh"
        c.close()
        d.close()

    loop.run_until_complete(main())


def test_sock_ops_over_tcp(loop: uring_rs.Loop) -> None:
    async def main() -> None:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        srv.setblocking(False)
        cli = socket.socket()
        cli.setblocking(False)
        accept = asyncio.ensure_future(loop.sock_accept(srv))
        await loop.sock_connect(cli, srv.getsockname())
        conn, addr = await accept
        assert addr == cli.getsockname()
        payload = os.urandom(1 << 20)
        send = asyncio.ensure_future(loop.sock_sendall(cli, payload))
        got = bytearray()
        buf = bytearray(65536)
        while len(got) < len(payload):
            n = await loop.sock_recv_into(conn, buf)
            assert n > 0
            got += buf[:n]
        await send
        assert bytes(got) == payload
        cli.close()
        assert await loop.sock_recv(conn, 10) == b""
        conn.close()
        srv.close()

    loop.run_until_complete(asyncio.wait_for(main(), 10))


def _kernel_has_waitid() -> bool:
    with uring_rs.Ring(2) as ring:
        return ring.probe().supports(uring_rs.IORING_OP_WAITID)


@pytest.mark.skipif(not _kernel_has_waitid(), reason="the kernel lacks IORING_OP_WAITID (6.7)")
def test_children_are_waited_for_by_the_ring_with_waitid() -> None:
    async def main() -> tuple[list[int | None], int]:
        loop = asyncio.get_running_loop()
        codes: list[int | None] = []
        for script in ("exit 0", "exit 3", "kill -9 $$"):
            proc = await asyncio.create_subprocess_exec("sh", "-c", script)
            # Waited for by IORING_OP_WAITID: no pidfd (the fallback's) is kept for it.
            assert loop._children == {}  # type: ignore[attr-defined]
            codes.append(await asyncio.wait_for(proc.wait(), 10))
        return codes, proc.pid

    codes, pid = uring_rs.run(main())
    assert codes == [0, 3, -9]
    # Reaped by the ring: waitpid finds no such child.
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_loop_closed_while_a_child_runs_leaks_nothing_and_the_child_can_be_reaped() -> None:
    loop = uring_rs.new_event_loop()
    fds = set(os.listdir("/proc/self/fd"))

    async def start() -> int:
        proc = await asyncio.create_subprocess_exec("sleep", "0.2")
        return proc.pid

    pid = loop.run_until_complete(start())
    loop.close()
    assert set(os.listdir("/proc/self/fd")) <= fds
    # The ring's waitid was cancelled with the loop: the child is still ours to reap.
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("count", [None, 300_001])
def test_sendfile_over_a_transport_splices_exactly_the_range_and_moves_the_position(
    tmp_path: Any, count: int | None
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "f"
    path.write_bytes(data)

    async def main(f: Any) -> None:
        loop = asyncio.get_running_loop()
        got = bytearray()
        done: asyncio.Future[None] = loop.create_future()

        class Sink(asyncio.Protocol):
            def data_received(self, d: bytes) -> None:
                got.extend(d)

            def eof_received(self) -> None:
                done.set_result(None)

        server = await loop.create_server(Sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"head" * 10_000)  # buffered ahead: sent before the file
        # fallback=False: splice through the ring, or SendfileNotAvailableError.
        sent = await loop.sendfile(writer.transport, f, 1000, count, fallback=False)
        end = len(data) if count is None else 1000 + count
        assert sent == end - 1000
        assert f.tell() == end
        writer.write(b"tail")
        writer.write_eof()
        await asyncio.wait_for(done, 10)
        assert bytes(got) == b"head" * 10_000 + data[1000:end] + b"tail"
        writer.close()
        server.close()
        await server.wait_closed()

    with open(path, "rb") as f:
        uring_rs.run(main(f))


def test_sock_sendfile_of_what_is_not_a_regular_file_falls_back_or_says_why() -> None:
    import io

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        with pytest.raises(asyncio.SendfileNotAvailableError, match="not a regular file"):
            await loop.sock_sendfile(a, io.BytesIO(b"x" * 10), fallback=False)
        assert await loop.sock_sendfile(a, io.BytesIO(b"x" * 10)) == 10
        assert await loop.sock_recv(b, 100) == b"x" * 10
        a.close()
        b.close()

    uring_rs.run(main())
