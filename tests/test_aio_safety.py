"""uring_rs.aio safety: linked timeouts on the smallest rings, and fork() children that
must leave the parent's loop registration alone."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import uring_rs
from _support import run_python
from uring_rs import aio

# ---- every call that takes timeout=, on the smallest rings -------------------------------

#: The AioRing methods that take ``timeout=`` (each an op with a linked timeout).
RING_CALLS = [
    "recv",
    "recv_into",
    "send",
    "sendall",
    "accept",
    "connect",
    "sock_recv",
    "sock_recv_into",
    "sock_sendall",
    "sock_accept",
    "sock_connect",
]
#: The module functions that take ``timeout=`` (on the running loop's shared ring).
MODULE_CALLS = ["sock_recv", "sock_recv_into", "sock_sendall", "sock_accept", "sock_connect"]


class Stalled:
    """Sockets on which each kind of call waits until its timeout: a peer that neither
    sends nor reads (its send buffer full), a listener nobody connects to, and a listener
    whose backlog is full (a connect to it stays pending)."""

    def __init__(self, stack: ExitStack) -> None:
        self.quiet, peer = socket.socketpair()
        self.full, self._full_peer = socket.socketpair()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.busy = socket.socket()
        self.busy.bind(("127.0.0.1", 0))
        self.busy.listen(0)  # one pending connection fills it; later SYNs are dropped
        self._first = socket.socket()
        self._first.connect(self.busy.getsockname())
        self.client = socket.socket()
        for s in (self.quiet, peer, self.full, self._full_peer, self.listener, self.busy):
            stack.callback(s.close)
        stack.callback(self._first.close)
        stack.callback(self.client.close)
        for s in (self.quiet, self.full, self.listener, self.client):
            s.setblocking(False)
        self.full.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        try:
            while True:
                self.full.send(b"x" * 65536)
        except BlockingIOError:
            pass

    def call(self, target: Any, name: str, timeout: float) -> Awaitable[object]:
        """``target.<name>(...)`` (an AioRing or the aio module) on the right socket."""
        fn: Callable[..., Awaitable[object]] = getattr(target, name)
        if name in ("recv", "sock_recv"):
            return fn(self.quiet, 10, timeout=timeout)
        if name in ("recv_into", "sock_recv_into"):
            return fn(self.quiet, bytearray(10), timeout=timeout)
        if name == "send":
            return fn(self.full, b"y" * 65536, timeout=timeout)
        if name in ("sendall", "sock_sendall"):
            return fn(self.full, b"y" * (1 << 20), timeout=timeout)
        if name in ("accept", "sock_accept"):
            return fn(self.listener, timeout=timeout)
        assert name in ("connect", "sock_connect")
        return fn(self.client, self.busy.getsockname(), timeout=timeout)


@pytest.fixture
def stalled() -> Iterator[Stalled]:
    with ExitStack() as stack:
        yield Stalled(stack)


async def times_out(call: Awaitable[object], timeout: float) -> None:
    t = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(call, 10)  # a lost linked timeout fails here, not hangs
    assert timeout * 0.8 <= time.monotonic() - t < 5.0


async def all_delivered(ring: aio.AioRing) -> None:
    """Every completion the ring owes arrives: the op's and its timeout's."""
    deadline = time.monotonic() + 5
    while (ring.pending or ring.ring.in_flight) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls ring counters, no event to wait on
        await asyncio.sleep(0.002)
    assert ring.pending == 0 and ring.ring.in_flight == 0
    await asyncio.wait_for(ring.nop(), 5)  # and it still works


def sqpoll_works() -> bool:
    try:
        uring_rs.Ring(2, uring_rs.IORING_SETUP_SQPOLL).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("name", RING_CALLS)
@pytest.mark.parametrize(
    "setup",
    [
        "entries=2",
        "entries=2, one SQE queued",
        "sqpoll entries=2",
        "sqpoll entries=2, one SQE queued",
    ],
)
def test_every_timeout_fires_on_the_smallest_ring(stalled: Stalled, name: str, setup: str) -> None:
    if setup.startswith("sqpoll") and not sqpoll_works():
        pytest.skip("IORING_SETUP_SQPOLL refused here (probed)")

    async def main() -> None:
        flags = uring_rs.IORING_SETUP_SQPOLL if setup.startswith("sqpoll") else 0
        async with aio.AioRing(entries=2, flags=flags) as ring:
            assert ring.ring.sq_entries == 2
            await ring.nop()
            if "queued" in setup:
                ring._forget(uring_rs.ops.nop)  # one SQ slot left: room is made first
                assert ring.ring.sq_space_left() == 1
            await times_out(stalled.call(ring, name, 0.05), 0.05)
            await all_delivered(ring)

    asyncio.run(main())


@pytest.mark.parametrize("name", MODULE_CALLS)
def test_every_module_timeout_fires_with_the_shared_sq_almost_full(
    stalled: Stalled, name: str
) -> None:
    async def main() -> None:
        ring = aio.get_ring()
        await ring.nop()
        while ring.ring.sq_space_left() > 1:  # the pair cannot fit without a submit
            ring._forget(uring_rs.ops.nop)
        await times_out(stalled.call(aio, name, 0.05), 0.05)
        await all_delivered(ring)

    asyncio.run(main())


def test_a_ring_too_small_for_an_op_and_its_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match=r"entries >= 2, got entries=1"):
        aio.AioRing(entries=1)


@pytest.mark.parametrize("timeout", [1e15, 1e19, 1e300, float("inf")])
def test_timeouts_past_a_timespec_mean_no_timeout_and_link_nothing(
    stalled: Stalled, timeout: float
) -> None:
    # Such a timeout cannot be queued; the op must not be left flagged IOSQE_IO_LINK
    # (the next op queued would be linked to it).
    async def main() -> None:
        async with aio.AioRing(entries=2) as ring:
            a, b = socket.socketpair()
            a.setblocking(False)
            receiving = asyncio.ensure_future(ring.recv(a, 10, timeout=timeout))
            await asyncio.sleep(0.02)
            await asyncio.wait_for(ring.nop(), 5)  # not linked to the recv
            b.send(b"data")
            assert await asyncio.wait_for(receiving, 5) == b"data"
            a.close()
            b.close()

    asyncio.run(main())


# ---- fork(): the child never touches the parent's loop registration ------------------------

FORK_SCRIPT = """
import asyncio, os, socket, sys
from uring_rs import aio

MODE = {mode!r}

async def main() -> None:
    ring = aio.get_ring()
    await ring.nop()
    a, b = socket.socketpair()
    a.setblocking(False)
    receiving = asyncio.ensure_future(ring.recv(a, 10))  # in flight across the fork
    sleeping = asyncio.ensure_future(ring.sleep(0.3))   # completes while the child runs
    await asyncio.sleep(0.01)
    nop = asyncio.ensure_future(ring.nop())
    await asyncio.sleep(0)
    ring._submit_now()  # its completion posted, the eventfd signalled, not yet reaped
    pid = os.fork()
    if pid == 0:
        if MODE == "exit":  # SystemExit through the inherited loop's teardown, atexit
            sys.exit(0)
        if MODE == "new_loop":
            async def child() -> None:
                await aio.get_ring().nop()
                stat = await aio.read_bytes("/proc/self/stat")
                assert stat.startswith(str(os.getpid()).encode())
            asyncio.run(child())
            sys.exit(0)
        if MODE == "touch":  # the parent's ring refuses, naming fork()
            try:
                await ring.nop()
            except RuntimeError as e:
                sys.exit(0 if "fork" in str(e) else 3)
            sys.exit(4)
        if MODE == "close":  # an explicit close of the parent's ring in the child
            ring.close()
            await ring.aclose()
            sys.exit(0)
        sys.exit(5)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        await asyncio.sleep(0.01)
    print("child", os.waitstatus_to_exitcode(status), flush=True)
    await asyncio.wait_for(nop, 5)
    await asyncio.wait_for(sleeping, 5)
    for _ in range(20):
        await asyncio.wait_for(ring.sleep(0.001), 5)  # completions only the eventfd reports
    b.send(b"hello")
    assert await asyncio.wait_for(receiving, 5) == b"hello"
    b.send(b"!")
    assert await aio.sock_recv(a, 1, timeout=5) == b"!"  # the module functions too

asyncio.run(main())
print("parent ok", flush=True)
"""


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
@pytest.mark.parametrize("mode", ["exit", "new_loop", "touch", "close"])
def test_a_forked_child_exiting_leaves_the_parents_aio_working(mode: str) -> None:
    proc = run_python(FORK_SCRIPT.format(mode=mode), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["child 0", "parent ok"], proc.stdout + proc.stderr
