"""uring_rs.Loop's datagram transport: receives are IORING_OP_RECVMSG on the loop's ring,
sends the OS cannot take at once are IORING_OP_SENDMSG; results as asyncio's own.

Each test runs on asyncio's loop too (the control), so a difference is the transport's.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import uring_rs
from _loops import FACTORIES, loop_kinds


class Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.events: list[str] = []
        self.lost = asyncio.get_running_loop().create_future()
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.append((data, addr))
        for n, f in self.waiters:
            if len(self.got) >= n and not f.done():
                f.set_result(None)

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)
        for _, f in self.waiters:
            if not f.done():
                f.set_result(None)

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)

    async def wait(self, n: int, timeout: float = 5.0) -> None:
        f = asyncio.get_running_loop().create_future()
        self.waiters.append((n, f))
        if len(self.got) >= n:
            f.set_result(None)
        await asyncio.wait_for(f, timeout)


def run(kind: str, coro: Any) -> Any:
    loop = FACTORIES[kind]()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def test_the_transport_is_the_ring_one_and_an_asyncio_datagram_transport() -> None:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        t, _ = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        try:
            return type(t)
        finally:
            t.close()

    cls = uring_rs.run(main())
    assert cls.__name__ == "DatagramTransport" and issubclass(cls, asyncio.DatagramTransport)


@loop_kinds
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_echo_with_addresses_as_the_socket_module_gives(kind: str, family: str) -> None:
    host = "127.0.0.1" if family == "ipv4" else "::1"

    async def main() -> tuple[list[Any], list[Any], Any, Any]:
        loop = asyncio.get_running_loop()
        st, sp = await loop.create_datagram_endpoint(Recorder, local_addr=(host, 0))
        fam = socket.AF_INET if family == "ipv4" else socket.AF_INET6
        ct, cp = await loop.create_datagram_endpoint(
            Recorder, remote_addr=st.get_extra_info("sockname")[:2], family=fam
        )
        for i in range(50):
            ct.sendto(b"ping %d" % i)
            await sp.wait(i + 1)
            data, addr = sp.got[-1]
            st.sendto(data.upper(), addr)
            await cp.wait(i + 1)
        here = ct.get_extra_info("sockname")
        there = st.get_extra_info("sockname")
        ct.close()
        st.close()
        await cp.lost
        await sp.lost
        return sp.got, cp.got, here, there

    server_got, client_got, client_addr, server_addr = run(kind, main())
    assert [d for d, _ in server_got] == [b"ping %d" % i for i in range(50)]
    assert [d for d, _ in client_got] == [b"PING %d" % i for i in range(50)]
    assert {a for _, a in server_got} == {client_addr}
    assert {a for _, a in client_got} == {server_addr}


@loop_kinds
def test_unix_datagrams_report_the_senders_path(kind: str, tmp_path: Path) -> None:
    srv, cli = str(tmp_path / "srv"), str(tmp_path / "cli")

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        st, sp = await loop.create_datagram_endpoint(
            Recorder, local_addr=srv, family=socket.AF_UNIX
        )
        ct, _ = await loop.create_datagram_endpoint(Recorder, local_addr=cli, family=socket.AF_UNIX)
        ct.sendto(b"hello", srv)
        await sp.wait(1)
        ct.close()
        st.close()
        return sp.got

    assert run(kind, main()) == [(b"hello", cli)]


@loop_kinds
def test_datagrams_while_paused_wait_for_resume_in_order(kind: str) -> None:
    if kind == "asyncio" and sys.version_info < (3, 11):
        pytest.skip("asyncio's datagram transport can pause reading from Python 3.11 on")

    async def main() -> tuple[int, list[bytes]]:
        loop = asyncio.get_running_loop()
        st_, sp = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        st: Any = st_  # pause_reading/resume_reading: asyncio's transports have them
        ct, _ = await loop.create_datagram_endpoint(
            Recorder, remote_addr=st.get_extra_info("sockname")
        )
        st.pause_reading()
        for i in range(5):
            ct.sendto(b"%d" % i)
        await asyncio.sleep(0.05)
        while_paused = len(sp.got)
        st.resume_reading()
        await sp.wait(5)
        ct.close()
        st.close()
        return while_paused, [d for d, _ in sp.got]

    while_paused, got = run(kind, main())
    assert while_paused == 0 and got == [b"0", b"1", b"2", b"3", b"4"]


@loop_kinds
def test_icmp_refusal_reaches_error_received_and_the_transport_goes_on(kind: str) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    dead = probe.getsockname()
    probe.close()  # nobody listens there now: the kernel answers with ECONNREFUSED

    async def main() -> tuple[list[int | None], bool]:
        loop = asyncio.get_running_loop()
        ct, cp = await loop.create_datagram_endpoint(Recorder, remote_addr=dead)
        ct.sendto(b"anyone?")
        await _until(lambda: cp.errors)
        ct.sendto(b"still?")
        await _until(lambda: len(cp.errors) >= 2)
        alive = not ct.is_closing()
        ct.close()
        return [getattr(e, "errno", None) for e in cp.errors], alive

    errs, alive = run(kind, main())
    assert errs[:2] == [errno.ECONNREFUSED, errno.ECONNREFUSED] and alive


async def _until(cond: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise TimeoutError("condition never held")
        await asyncio.sleep(0.005)


@loop_kinds
def test_a_full_socket_pauses_the_protocol_and_nothing_is_lost(kind: str, tmp_path: Path) -> None:
    # A Unix datagram pair whose reader does not read: sends fill the socket, the rest waits
    # (on uring_rs.Loop in ring sendmsg ops), pause_writing comes at the high-water mark,
    # and once the reader drains, everything arrives in order and resume_writing comes.
    a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.bind(str(tmp_path / "b"))
    a.connect(str(tmp_path / "b"))  # a socketpair's peer has no name, which asyncio needs
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    b.setblocking(False)
    n, size = 400, 512

    async def main() -> tuple[list[str], int, list[bytes]]:
        loop = asyncio.get_running_loop()
        t_, p = await loop.create_datagram_endpoint(Recorder, sock=a)
        t: Any = t_  # flow control: asyncio's datagram transports have it
        # low above 400 x 8: asyncio 3.13.0 leaves 8 bytes per queued datagram counted.
        t.set_write_buffer_limits(high=16 * size, low=8 * size)
        for i in range(n):
            t.sendto(i.to_bytes(4, "big") * (size // 4))
        peak = t.get_write_buffer_size()
        got: list[bytes] = []
        while len(got) < n:
            try:
                got.append(b.recv(65536))
            except BlockingIOError:
                await asyncio.sleep(0.001)
        await _until(lambda: "resume" in p.events)
        # asyncio 3.13.0's transport adds an 8-byte header per queued datagram and never
        # takes it off again, so only uring_rs.Loop's buffer is expected back at 0.
        if kind == "uring_rs":
            await _until(lambda: t.get_write_buffer_size() == 0)
        t.close()
        await p.lost
        return p.events, peak, got

    try:
        events, peak, got = run(kind, main())
    finally:
        b.close()
    assert peak > 0
    assert events[:2] == ["made", "pause"] and "resume" in events and events[-1] == "lost"
    assert [int.from_bytes(g[:4], "big") for g in got] == list(range(n))
    assert all(len(g) == size for g in got)


def test_closing_with_a_receive_in_flight_leaks_no_fd() -> None:
    def fds() -> set[int]:
        return {int(x) for x in os.listdir("/proc/self/fd")}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(200):
            t, p = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
            await asyncio.sleep(0)
            t.close()
            await p.lost

    before = fds()
    uring_rs.run(main())
    assert fds() == before
