"""uring_rs.aio: the loop-bound ring, files, sockets, cancellation, loop shutdown."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import gc
import io
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uring_rs
from _support import aio_run
from uring_rs import aio

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _on_each_loop(aio_loop: str) -> str:
    """Every test here runs on asyncio's loop and on uring_rs.Loop (see _support)."""
    return aio_loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    result: T = aio_run(coro)
    return result


def open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    s.setblocking(False)
    yield s
    s.close()


async def connected_pair(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.socket()
    client.setblocking(False)
    accepting = asyncio.ensure_future(aio.sock_accept(listener))
    await aio.sock_connect(client, listener.getsockname())
    server, _ = await accepting
    return client, server


async def settle(ring: aio.AioRing, timeout: float = 2.0) -> None:
    """Waits until the ring has delivered every completion it owes."""
    deadline = time.monotonic() + timeout
    while (ring.pending or ring.ring.in_flight) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls ring counters, no event to wait on
        await asyncio.sleep(0.002)


# ---- the ring ---------------------------------------------------------------------------


def test_nop_and_sleep_round_trip() -> None:
    async def main() -> float:
        ring = aio.get_ring()
        await ring.nop()
        t = time.monotonic()
        await ring.sleep(0.03)
        return time.monotonic() - t

    assert 0.025 <= run(main()) < 1.0


def test_get_ring_is_one_ring_per_loop_closed_with_the_loop() -> None:
    async def main() -> aio.AioRing:
        ring = aio.get_ring()
        assert aio.get_ring() is ring
        await ring.nop()
        return ring

    first = run(main())
    second = run(main())
    assert first is not second
    assert first.closed and second.closed
    assert first.ring.closed


def test_loop_close_hook_is_removed_after_it_runs() -> None:
    loop = asyncio.new_event_loop()
    ring = loop.run_until_complete(_bind_default())
    assert "close" in vars(loop)  # the hook
    loop.close()
    assert "close" not in vars(loop)
    assert ring.closed and loop.is_closed()
    loop.close()  # idempotent, as a loop's close is


async def _bind_default() -> aio.AioRing:
    ring = aio.get_ring()
    await ring.nop()
    return ring


def test_many_ops_in_one_iteration_share_one_enter() -> None:
    async def main() -> int:
        ring = aio.get_ring()
        await ring.nop()
        before = ring.ring.enter_calls
        await asyncio.gather(*(ring.nop() for _ in range(100)))
        return ring.ring.enter_calls - before

    assert run(main()) <= 2


def test_thousand_concurrent_tasks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 16
    path = tmp_path / "f"
    path.write_bytes(data)

    async def one(ring: aio.AioRing, fd: int, i: int) -> bytes:
        await ring.sleep(0.001 * (i % 5))
        buf = bytearray(16)
        n = await ring.read(fd, buf, i % 4000)
        await ring.nop()
        return bytes(buf[:n])

    async def main() -> None:
        ring = aio.get_ring()
        fd = os.open(path, os.O_RDONLY)
        try:
            got = await asyncio.gather(*(one(ring, fd, i) for i in range(1000)))
        finally:
            os.close(fd)
        assert got == [data[i % 4000 : i % 4000 + 16] for i in range(1000)]
        assert ring.pending == 0

    run(main())


def test_sq_full_and_cq_overflow_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)

    async def main() -> None:
        async with aio.AioRing(entries=4, cq_entries=8) as ring:
            fd = os.open(path, os.O_RDONLY)
            try:
                results = await asyncio.gather(
                    *(ring.read(fd, bytearray(10), i) for i in range(300)),
                    *(ring.nop() for _ in range(300)),
                )
            finally:
                os.close(fd)
            assert results[:300] == [10] * 91 + [100 - i for i in range(91, 100)] + [0] * 200
            assert ring.pending == 0
            # 200 timers expiring together post 200 completions into an 8-entry CQ: the
            # kernel keeps the overflow in its backlog until the reaper flushes it.
            await asyncio.wait_for(asyncio.gather(*(ring.sleep(0.02) for _ in range(200))), 5)
            assert ring.pending == 0 and ring.ring.in_flight == 0

    run(main())


def test_explicit_ring_is_bound_to_its_loop() -> None:
    ring = aio.AioRing(entries=8)

    async def use() -> None:
        await ring.nop()

    run(use())
    assert ring.closed  # closed with the loop it was bound to
    with pytest.raises(RuntimeError, match="closed"):
        run(use())

    other = aio.AioRing(entries=8)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(other.nop())
        with pytest.raises(RuntimeError, match="another event loop"):
            run(other.nop())
    finally:
        loop.close()
    assert other.closed


def test_setups_that_never_signal_the_eventfd_are_refused() -> None:
    for flag in (
        uring_rs.IORING_SETUP_DEFER_TASKRUN | uring_rs.IORING_SETUP_SINGLE_ISSUER,
        uring_rs.IORING_SETUP_IOPOLL,
    ):
        with pytest.raises(ValueError, match="eventfd"):
            aio.AioRing(entries=8, flags=flag)


def test_an_sqpoll_ring_works(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"sqpoll")

    async def main() -> None:
        try:
            ring = aio.AioRing(entries=8, flags=uring_rs.IORING_SETUP_SQPOLL)
        except PermissionError:
            pytest.skip("SQPOLL not permitted here")
        async with ring:
            await ring.nop()
            assert await aio.read_bytes(path, ring=ring) == b"sqpoll"
            await ring.sleep(0.01)

    run(main())


def test_async_with_closes_and_cancels_what_is_in_flight() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        a.setblocking(False)
        async with aio.AioRing(entries=8) as ring:
            task = asyncio.ensure_future(ring.recv(a, 10))
            await asyncio.sleep(0.01)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ring.closed and ring.ring.closed
        a.close()
        b.close()

    run(main())


def test_closing_the_loop_with_ops_in_flight(listener: socket.socket, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    before = open_fds()
    a, b = socket.socketpair()
    a.setblocking(False)
    loop = asyncio.new_event_loop()

    async def start() -> aio.AioRing:
        ring = aio.get_ring()
        started: list[asyncio.Future[Any]] = []  # in flight when the loop closes
        for coro in (
            ring.recv(a, 100),
            ring.sock_accept(listener),
            ring.sleep(60),
            aio.read_bytes(path),
        ):
            started.append(asyncio.ensure_future(coro))
        await asyncio.sleep(0.02)
        return ring

    ring = loop.run_until_complete(start())
    assert ring.pending >= 3
    t = time.monotonic()
    loop.close()
    assert time.monotonic() - t < 2.0
    assert ring.closed and ring.ring.closed
    a.close()
    b.close()
    assert open_fds() <= before  # ring fd, eventfd, opened and accepted fds: all closed


# ---- cancellation -------------------------------------------------------------------------


def test_cancel_mid_recv_keeps_the_data_for_the_next_recv() -> None:
    async def main() -> None:
        ring = aio.get_ring()
        a, b = socket.socketpair()
        a.setblocking(False)
        buf = bytearray(64)
        task = asyncio.ensure_future(ring.recv_into(a, buf))
        await asyncio.sleep(0.01)
        assert ring.pending == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle(ring)
        assert ring.pending == 0 and ring.ring.in_flight == 0
        b.send(b"after")
        assert await aio.sock_recv(a, 64, timeout=2) == b"after"
        a.close()
        b.close()

    run(main())


def test_cancel_mid_accept(listener: socket.socket) -> None:
    async def main() -> None:
        ring = aio.get_ring()
        before = open_fds()
        task = asyncio.ensure_future(aio.sock_accept(listener))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle(ring)
        assert open_fds() == before
        # The listener still works and the cancelled accept took nothing from it.
        client, server = await connected_pair(listener)
        await aio.sock_sendall(client, b"hi")
        assert await aio.sock_recv(server, 2) == b"hi"
        client.close()
        server.close()

    run(main())


def test_cancelled_accept_that_completed_closes_its_fd(listener: socket.socket) -> None:
    async def main() -> None:
        ring = aio.get_ring()
        before = open_fds()
        task = asyncio.ensure_future(aio.sock_accept(listener))
        await asyncio.sleep(0.01)
        client = socket.create_connection(listener.getsockname())
        # The accept may complete before the cancellation lands: either way no fd leaks
        # and the connection is either closed by us (EOF) or still in the backlog.
        task.cancel()
        try:
            conn, _ = await task
            conn.close()
        except asyncio.CancelledError:
            pass
        await settle(ring)
        client.settimeout(0.2)
        try:
            eof = client.recv(1) == b""
        except socket.timeout:
            eof = False
        if not eof:
            conn, _ = await aio.sock_accept(listener, timeout=2)
            conn.close()
        client.close()
        assert open_fds() <= before

    run(main())


def test_cancelled_open_closes_the_fd(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")

    async def main() -> None:
        ring = aio.get_ring()
        await ring.nop()
        before = open_fds()
        for delay in (0, 0, 0.0005, 0.001):
            task = asyncio.ensure_future(ring.openat(path))
            if delay:
                await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                os.close(await task)
        await settle(ring)
        assert open_fds() == before

    run(main())


def test_cancelled_sleep() -> None:
    async def main() -> None:
        ring = aio.get_ring()
        task = asyncio.ensure_future(ring.sleep(30))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle(ring)
        assert ring.ring.in_flight == 0

    run(main())


def test_wait_for_timeout_cancels_the_op() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        a.setblocking(False)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(aio.sock_recv(a, 10), 0.02)
        await settle(aio.get_ring())
        assert aio.get_ring().ring.in_flight == 0
        a.close()
        b.close()

    run(main())


# ---- sockets --------------------------------------------------------------------------------


def test_echo_over_loopback(listener: socket.socket) -> None:
    async def main() -> None:
        client, server = await connected_pair(listener)
        payload = os.urandom(1 << 20)

        async def echo() -> None:
            buf = bytearray(65536)
            while True:
                n = await aio.sock_recv_into(server, buf)
                if not n:
                    break
                await aio.sock_sendall(server, memoryview(buf)[:n])
            server.close()

        echoing = asyncio.ensure_future(echo())
        sending = asyncio.ensure_future(aio.sock_sendall(client, payload))
        got = bytearray()
        while len(got) < len(payload):
            got += await aio.sock_recv(client, 65536)
        await sending
        client.shutdown(socket.SHUT_WR)
        await echoing
        assert await aio.sock_recv(client, 10) == b""
        assert got == payload
        client.close()

    run(main())


def test_sock_accept_returns_a_nonblocking_socket_and_its_address(listener: socket.socket) -> None:
    async def main() -> None:
        client, server = await connected_pair(listener)
        assert server.getblocking() is False
        assert server.family == socket.AF_INET
        assert server.getpeername() == client.getsockname()
        client.close()
        server.close()

    run(main())


def test_recv_timeout_raises_timeout_error_and_the_socket_still_works() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        a.setblocking(False)
        t = time.monotonic()
        with pytest.raises(TimeoutError):
            await aio.sock_recv(a, 10, timeout=0.05)
        assert 0.04 <= time.monotonic() - t < 1.0
        b.send(b"late")
        assert await aio.sock_recv(a, 10, timeout=1) == b"late"
        assert aio.get_ring().pending == 0
        a.close()
        b.close()

    run(main())


def test_timeout_values(listener: socket.socket) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        a.setblocking(False)
        with pytest.raises(ValueError, match="NaN"):
            await aio.sock_recv(a, 1, timeout=float("nan"))
        with pytest.raises(TimeoutError):
            await aio.sock_recv(a, 1, timeout=-1)  # already expired, as asyncio.wait_for
        b.send(b"!")
        assert await aio.sock_recv(a, 1, timeout=float("inf")) == b"!"
        await settle(aio.get_ring())
        assert aio.get_ring().ring.in_flight == 0
        a.close()
        b.close()

    run(main())


def test_accept_timeout(listener: socket.socket) -> None:
    async def main() -> None:
        with pytest.raises(TimeoutError):
            await aio.sock_accept(listener, timeout=0.02)

    run(main())


def test_sendall_timeout_when_the_peer_does_not_read() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        a.setblocking(False)
        with pytest.raises(TimeoutError):
            await aio.sock_sendall(a, b"x" * (64 << 20), timeout=0.05)
        a.close()
        b.close()

    run(main())


def test_connect_errors_and_host_names(listener: socket.socket) -> None:
    async def main() -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nobody listens on `port`
        c = socket.socket()
        c.setblocking(False)
        with pytest.raises(ConnectionRefusedError):
            await aio.sock_connect(c, ("127.0.0.1", port))
        c.close()
        c = socket.socket()
        c.setblocking(False)
        await aio.sock_connect(c, ("localhost", listener.getsockname()[1]), timeout=5)
        conn, _ = await aio.sock_accept(listener)
        conn.close()
        c.close()

    run(main())


def test_unix_socket_connect_and_accept(tmp_path: Path) -> None:
    async def main() -> None:
        path = str(tmp_path / "sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen()
        srv.setblocking(False)
        c = socket.socket(socket.AF_UNIX)
        c.setblocking(False)
        accepting = asyncio.ensure_future(aio.sock_accept(srv))
        await aio.sock_connect(c, path)
        conn, _ = await accepting
        await aio.sock_sendall(c, b"unix")
        assert await aio.sock_recv(conn, 4) == b"unix"
        for s in (c, conn, srv):
            s.close()

    run(main())


# ---- low-level file ops ---------------------------------------------------------------------


def test_read_write_fsync_at_offsets(tmp_path: Path) -> None:
    async def main() -> None:
        ring = aio.get_ring()
        path = tmp_path / "f"
        fd = await ring.openat(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            assert await ring.write(fd, b"hello world", 0) == 11
            assert await ring.write(fd, b"W", 6) == 1
            await ring.fsync(fd)
            await ring.fsync(fd, datasync=True)
            buf = bytearray(5)
            assert await ring.read(fd, buf, 6) == 5
            assert buf == b"World"
            a, b = bytearray(3), bytearray(20)
            assert await ring.readv(fd, [a, b], 0) == 11
            assert (bytes(a), bytes(b[:8])) == (b"hel", b"lo World")
            assert await ring.writev(fd, [b"ab", b"cd"], 20) == 4
        finally:
            await ring.close_fd(fd)
        assert path.read_bytes() == b"hello World" + b"\0" * 9 + b"abcd"

    run(main())


def test_stat_is_os_stat_on_the_ring(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 1234)
    link = tmp_path / "link"
    link.symlink_to(f)

    async def main() -> None:
        ring = aio.get_ring()
        assert await ring.stat(f) == os.stat(f)
        assert await ring.stat(os.fsencode(tmp_path)) == os.stat(tmp_path)
        assert await ring.stat("/dev/null") == os.stat("/dev/null")
        assert await ring.stat(link) == os.stat(link)
        assert await ring.stat(link, follow_symlinks=False) == os.lstat(link)
        fd = os.open(f, os.O_RDONLY)
        try:
            assert await ring.stat(fd) == os.stat(fd)
        finally:
            os.close(fd)
        dfd = os.open(tmp_path, os.O_RDONLY)
        try:
            assert await ring.stat("f", dir_fd=dfd) == os.stat("f", dir_fd=dfd)
        finally:
            os.close(dfd)
        for bad in (tmp_path / "missing", f / "child"):
            try:
                os.stat(bad)
            except OSError as e:
                expected = e
            with pytest.raises(OSError) as ei:
                await ring.stat(bad)
            assert type(ei.value) is type(expected)
            assert str(ei.value) == str(expected)
        with pytest.raises(OSError) as ei:
            await ring.stat(999999)
        assert ei.value.errno == errno.EBADF and ei.value.filename is None

    run(main())


def test_openat_errors_carry_the_filename(tmp_path: Path) -> None:
    async def main() -> None:
        missing = tmp_path / "missing"
        with pytest.raises(FileNotFoundError) as ei:
            await aio.get_ring().openat(missing)
        assert ei.value.filename == str(missing)

    run(main())


# ---- files: behaviour of the built-in open ---------------------------------------------------


def _builtin_error(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - compared, not handled
        return e
    raise AssertionError("the built-in open did not raise")


def _aio_error(fn: Callable[[], Awaitable[object]]) -> BaseException:
    async def main() -> BaseException:
        try:
            await fn()
        except BaseException as e:  # noqa: BLE001
            return e
        raise AssertionError("aio.open did not raise")

    return run(main())


def _same_error(expected: BaseException, got: BaseException) -> None:
    assert type(got) is type(expected)
    assert str(got) == str(expected)
    if isinstance(expected, OSError):
        assert isinstance(got, OSError)
        assert (got.errno, got.filename) == (expected.errno, expected.filename)


def _permission_denied_path(tmp_path: Path) -> str:
    if os.geteuid() != 0:
        p = tmp_path / "private"
        p.write_bytes(b"")
        p.chmod(0)
        return str(p)
    # root reads any mode-0 file; fall back on a file the kernel refuses root.
    for candidate in ("/proc/1/mem", "/proc/self/mem"):
        try:
            builtins.open(candidate).close()
        except PermissionError:
            return candidate
        except OSError:
            continue
    pytest.skip("no path here raises PermissionError for this user")


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "missing_bytes",
        "missing_pathlike",
        "dir_read",
        "dir_write",
        "not_a_dir",
        "exists_x",
        "permission",
        "bad_mode",
        "dup_mode",
        "no_mode",
        "text_and_binary",
        "binary_encoding",
        "binary_newline",
        "bad_newline",
        "unbuffered_text",
        "bad_path_type",
        "null_byte",
        "unknown_encoding",
    ],
)
def test_open_raises_what_the_builtin_open_raises(case: str, tmp_path: Path) -> None:
    existing = tmp_path / "exists"
    existing.write_bytes(b"x")
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = {}
    if case == "missing":
        args = (str(tmp_path / "nope"),)
    elif case == "missing_bytes":
        args = (os.fsencode(tmp_path / "nope"),)
    elif case == "missing_pathlike":
        args = (tmp_path / "nope", "rb")
    elif case == "dir_read":
        args = (str(tmp_path),)
    elif case == "dir_write":
        args = (str(tmp_path), "w")
    elif case == "not_a_dir":
        args = (str(existing / "x"),)
    elif case == "exists_x":
        args = (str(existing), "x")
    elif case == "permission":
        args = (_permission_denied_path(tmp_path), "rb")
    elif case == "bad_mode":
        args = (str(existing), "q")
    elif case == "dup_mode":
        args = (str(existing), "rr")
    elif case == "no_mode":
        args = (str(existing), "b")
    elif case == "text_and_binary":
        args = (str(existing), "rbt")
    elif case == "binary_encoding":
        args, kwargs = (str(existing), "rb"), {"encoding": "utf-8"}
    elif case == "binary_newline":
        args, kwargs = (str(existing), "rb"), {"newline": "\n"}
    elif case == "bad_newline":
        args, kwargs = (str(existing), "r"), {"newline": "x"}
    elif case == "unbuffered_text":
        args, kwargs = (str(existing), "r"), {"buffering": 0}
    elif case == "bad_path_type":
        args = (3.5,)
    elif case == "null_byte":
        args = ("a\0b",)
    else:
        args, kwargs = (str(existing), "r"), {"encoding": "no-such-codec"}

    expected = _builtin_error(lambda: builtins.open(*args, **kwargs).close())

    async def aio_open() -> None:
        f = await aio.open(*args, **kwargs)
        await f.close()

    _same_error(expected, _aio_error(aio_open))


def test_shortcuts_raise_like_pathlib(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    _same_error(_builtin_error(missing.read_bytes), _aio_error(lambda: aio.read_bytes(missing)))
    _same_error(_builtin_error(missing.read_text), _aio_error(lambda: aio.read_text(missing)))
    _same_error(
        _builtin_error(lambda: tmp_path.write_bytes(b"")),
        _aio_error(lambda: aio.write_bytes(tmp_path, b"")),
    )


def test_read_and_write_shortcuts(tmp_path: Path) -> None:
    async def main() -> None:
        p = tmp_path / "f"
        assert await aio.write_bytes(p, b"\x00\x01" * 50000) == 100000
        assert await aio.read_bytes(p) == b"\x00\x01" * 50000
        assert await aio.write_text(p, "h\u00e9llo\nw\u00f6rld\n", encoding="utf-8") == 12
        assert p.read_bytes() == "h\u00e9llo\nw\u00f6rld\n".encode()
        assert await aio.read_text(p, encoding="utf-8") == "h\u00e9llo\nw\u00f6rld\n"
        assert await aio.read_bytes(tmp_path / "f") == p.read_bytes()

    run(main())


def test_binary_file_reads_like_the_builtin(tmp_path: Path) -> None:
    data = b"".join(b"line %d %s\n" % (i, b"x" * (i % 97)) for i in range(3000)) + b"tail"
    p = tmp_path / "f"
    p.write_bytes(data)

    async def main() -> None:
        for buffering in (-1, 0, 7, 4096):
            with builtins.open(p, "rb") as ref:  # noqa: ASYNC230 - the built-in is the reference
                async with aio.open(p, "rb", buffering=buffering) as f:
                    assert f.mode == "rb" and f.name == str(p)
                    assert f.readable() and not f.writable() and f.seekable()
                    assert await f.read(10) == ref.read(10)
                    assert await f.readline() == ref.readline()
                    assert await f.readline(5) == ref.readline(5)
                    assert await f.read(100000) == ref.read(100000)
                    b1, b2 = bytearray(3333), bytearray(3333)
                    assert await f.readinto(b1) == ref.readinto(b2)
                    assert b1 == b2
                    assert await f.tell() == ref.tell()
                    assert await f.seek(-50, os.SEEK_CUR) == ref.seek(-50, os.SEEK_CUR)
                    assert await f.read1(20) == ref.read1(20)
                    assert await f.seek(5) == ref.seek(5)
                    assert await f.readlines(200) == ref.readlines(200)
                    lines = [line async for line in f]
                    assert lines == ref.readlines()
                    assert await f.read() == b""
                    assert await f.seek(-3, os.SEEK_END) == ref.seek(-3, os.SEEK_END)
                    assert await f.read() == ref.read()
                    with pytest.raises(ValueError, match="negative seek value"):
                        await f.seek(-1)
                    with pytest.raises(io.UnsupportedOperation):
                        await f.write(b"x")
                assert f.closed
                with pytest.raises(ValueError, match="closed file"):
                    await f.read()
            async with aio.open(p, "rb", buffering=buffering) as f:
                assert await f.read() == data

    run(main())


def test_binary_write_modes(tmp_path: Path) -> None:
    async def main() -> None:
        p = tmp_path / "f"
        async with aio.open(p, "wb") as f:
            assert await f.write(b"hello ") == 6
            await f.writelines([b"wor", bytearray(b"ld")])
            assert await f.tell() == 11
            await f.seek(0)
            await f.write(b"J")
            await f.fsync()
        assert p.read_bytes() == b"Jello world"
        async with aio.open(p, "ab") as f:
            assert await f.tell() == 11
            await f.write(b"!")
            await f.flush()
            assert await f.tell() == 12
            await f.seek(0)
            await f.write(b"?")  # append mode: to the end, whatever the position
        assert p.read_bytes() == b"Jello world!?"
        async with aio.open(p, "r+b") as f:
            assert await f.read(5) == b"Jello"
            await f.write(b",")
            assert await f.read(3) == b"wor"
            assert await f.truncate() == 9
            assert await f.tell() == 9
        assert p.read_bytes() == b"Jello,wor"
        with pytest.raises(FileExistsError):
            await aio.open(p, "xb")
        async with aio.open(tmp_path / "new", "xb", buffering=0) as f:
            await f.write(b"unbuffered")
            assert (tmp_path / "new").read_bytes() == b"unbuffered"
        async with aio.open(p, "w+b") as f:
            await f.write(b"abc" * 50000)
            await f.seek(0)
            assert await f.read() == b"abc" * 50000

    run(main())


def test_unflushed_file_is_flushed_and_closed_when_collected(tmp_path: Path) -> None:
    p = tmp_path / "f"

    async def main() -> None:
        f = await aio.open(p, "wb")
        await f.write(b"pending")
        with pytest.warns(ResourceWarning):  # noqa: PT031 - the del warns; collect() for other GCs
            del f
            gc.collect()

    run(main())
    assert p.read_bytes() == b"pending"


TEXT = "first line\nsecond \u00e9\u00e8 line\r\nthird\rfourth \u2603 snow\n\nlast without newline"


@pytest.mark.parametrize("newline", [None, "", "\n", "\r", "\r\n"])
@pytest.mark.parametrize("buffering", [-1, 2, 17])
def test_text_reading_matches_the_builtin(
    tmp_path: Path, newline: str | None, buffering: int
) -> None:
    p = tmp_path / "t"
    p.write_bytes(TEXT.encode("utf-8") * 20)

    async def main() -> None:
        kw: dict[str, Any] = {"encoding": "utf-8", "newline": newline}
        with builtins.open(p, **kw) as ref:  # noqa: ASYNC230 - the built-in is the reference
            expected = ref.readlines()
        async with aio.open(p, "r", buffering=buffering, **kw) as f:
            assert [line async for line in f] == expected
        async with aio.open(p, "r", buffering=buffering, **kw) as f:
            assert await f.read() == "".join(expected)
        with builtins.open(p, **kw) as ref:  # noqa: ASYNC230 - the built-in is the reference
            async with aio.open(p, "r", buffering=buffering, **kw) as f:
                for size in (1, 5, 100, 3):
                    assert await f.read(size) == ref.read(size)
                    assert await f.readline() == ref.readline()
                    assert await f.readline(4) == ref.readline(4)

    run(main())


@pytest.mark.parametrize("newline", [None, ""])
def test_text_tell_and_seek_round_trip(tmp_path: Path, newline: str | None) -> None:
    p = tmp_path / "t"
    p.write_bytes(TEXT.encode("utf-8") * 3)

    async def main() -> None:
        async with aio.open(p, encoding="utf-8", newline=newline, buffering=16) as f:
            marks: list[tuple[int, str]] = []
            while True:
                pos = await f.tell()
                if not await f.read(3):
                    break
                mid = await f.tell()
                rest = await f.readline()
                marks.append((mid, rest))
                await f.seek(pos)
                marks.append((pos, await f.readline()))
            assert len(marks) > 20
            for pos, line in reversed(marks):
                await f.seek(pos)
                assert await f.readline() == line
            assert await f.seek(0, os.SEEK_END) == len(TEXT.encode()) * 3
            with pytest.raises(io.UnsupportedOperation):
                await f.seek(1, os.SEEK_CUR)

    run(main())


def test_text_tell_is_a_byte_offset_the_builtin_reads_from(tmp_path: Path) -> None:
    p = tmp_path / "t"
    p.write_bytes(TEXT.encode("utf-8"))

    async def main() -> None:
        async with aio.open(p, encoding="utf-8", buffering=8) as f:
            for _ in range(4):
                await f.read(7)
                cookie = await f.tell()
                rest = await f.read()
                with builtins.open(p, encoding="utf-8") as ref:  # noqa: ASYNC230 - the built-in is the reference
                    ref.seek(cookie)
                    assert ref.read() == rest
                await f.seek(cookie)

    run(main())


def test_text_writing_translates_newlines_and_encodes(tmp_path: Path) -> None:
    async def main() -> None:
        cases: list[tuple[str | None, bytes]] = [
            (None, b"a\nb\r\n"),
            ("", b"a\nb\r\n"),
            ("\n", b"a\nb\r\n"),
            ("\r", b"a\rb\r\r"),
            ("\r\n", b"a\r\nb\r\r\n"),
        ]
        for newline, expected in cases:
            p = tmp_path / "w"
            async with aio.open(p, "w", encoding="latin-1", newline=newline) as f:
                assert await f.write("a\nb\r\n") == 5
            with builtins.open(p, "w", encoding="latin-1", newline=newline) as ref_f:  # noqa: ASYNC230 - the built-in is the reference
                ref_f.write("a\nb\r\n")
            assert p.read_bytes() == expected
        p = tmp_path / "u16"
        async with aio.open(p, "w", encoding="utf-16") as f:
            await f.write("\u00e9t\u00e9")
        assert p.read_text(encoding="utf-16") == "\u00e9t\u00e9"
        async with aio.open(p, "a", encoding="utf-16") as f:
            await f.write("!")  # no second BOM
        assert p.read_text(encoding="utf-16") == "\u00e9t\u00e9!"

    run(main())


def test_text_read_then_write_goes_where_the_reader_is(tmp_path: Path) -> None:
    p = tmp_path / "rw"
    p.write_text("0123456789\nabcdef\n", encoding="ascii")

    async def main() -> None:
        async with aio.open(p, "r+", encoding="ascii") as f:
            assert await f.read(3) == "012"
            await f.write("XY")
            assert await f.readline() == "56789\n"
            await f.seek(0)
            assert await f.read() == "012XY56789\nabcdef\n"

    run(main())


def test_line_buffered_text_flushes_on_newline(tmp_path: Path) -> None:
    p = tmp_path / "lb"

    async def main() -> None:
        async with aio.open(p, "w", buffering=1, encoding="ascii") as f:
            await f.write("partial")
            assert p.read_bytes() == b""
            await f.write(" line\n")
            assert p.read_bytes() == b"partial line\n"

    run(main())


def test_open_an_existing_fd_and_a_pipe() -> None:
    async def main() -> None:
        r, w = os.pipe()
        async with aio.open(w, "wb", closefd=True) as fw:
            assert not fw.seekable()
            await fw.write(b"through a pipe\nsecond\n")
        async with aio.open(r, "r", encoding="ascii") as fr:
            assert [line async for line in fr] == ["through a pipe\n", "second\n"]
        with pytest.raises(OSError):
            os.fstat(r)  # closed with the file

    run(main())


def test_open_is_awaitable_and_an_async_context_manager(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc")

    async def main() -> None:
        f = await aio.open(p, "rb")
        assert await f.read() == b"abc"
        await f.close()
        await f.close()
        async with aio.open(p, "rb") as g:
            assert isinstance(g, aio.AsyncBinaryFile)
        assert g.closed

    run(main())


def test_concurrent_file_reads_with_an_explicit_ring(tmp_path: Path) -> None:
    paths = []
    for i in range(200):
        p = tmp_path / f"f{i}"
        p.write_bytes(os.urandom(i * 50))
        paths.append(p)

    async def main() -> None:
        async with aio.AioRing(entries=32) as ring:
            got = await asyncio.gather(*(aio.read_bytes(p, ring=ring) for p in paths))
        assert got == [p.read_bytes() for p in paths]

    run(main())


@pytest.mark.skipif(sys.version_info < (3, 10), reason="os.eventfd fallback path")
def test_eventfd_is_nonblocking_and_cloexec() -> None:
    fd = aio._new_eventfd()
    try:
        assert os.get_blocking(fd) is False
        assert os.get_inheritable(fd) is False
        with pytest.raises(BlockingIOError):
            os.read(fd, 8)
    finally:
        os.close(fd)


def test_errno_constants_match_the_kernel() -> None:
    # The ring relies on these for link-timeout results.
    assert errno.ETIME == 62 and errno.ECANCELED == 125


@pytest.mark.parametrize(
    "call",
    [
        lambda: aio.sock_recv(b"x", 10),  # type: ignore[arg-type]
        lambda: aio.sock_recv_into(None, bytearray(1)),  # type: ignore[arg-type]
        lambda: aio.sock_sendall(1.5, b"x"),  # type: ignore[arg-type]
        lambda: aio.sock_accept("s"),  # type: ignore[arg-type]
    ],
    ids=["recv", "recv_into", "sendall", "accept"],
)
def test_sock_calls_name_sock_when_it_is_not_a_socket(
    call: Callable[[], Coroutine[Any, Any, object]],
) -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match=r"^sock must be a socket, an int or an object with"):
            await call()
        with pytest.raises(TypeError, match=r"^sock must be a socket.socket \(sock_connect"):
            await aio.sock_connect(object(), ("127.0.0.1", 1))  # type: ignore[arg-type]

    asyncio.run(main())
