"""uring_rs.aio on a uring_rs.Loop: its ops go through the loop's own ring (a relay ring,
src/event_loop/relay.rs), with no eventfd and no ring of its own; lifetimes hold as on
any ring (a cancelled op's buffer stays pinned until the kernel is done with it)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import os
import time
from pathlib import Path
from typing import Any

import pytest
import uring_rs
from _support import aio_run
from uring_rs import UringError, _native, aio


def open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def test_get_ring_on_a_loop_relays_through_the_loop_ring(tmp_path: Path) -> None:
    p = tmp_path / "f"
    data = os.urandom(200_000)
    p.write_bytes(data)

    async def main() -> tuple[Any, ...]:
        ring = aio.get_ring()
        got = await asyncio.gather(*[aio.read_bytes(p) for _ in range(50)])
        async with aio.open(p, "rb") as f:
            whole = await f.read()
        await ring.nop()
        # No ring of its own (no fd, never entered), no eventfd.
        assert ring.ring.fd == -1 and ring.ring.enter_calls == 0 and ring._efd == -1
        return ring, ring.ring, got, whole

    fds_before = open_fds()
    ring, raw, got, whole = uring_rs.run(main())
    assert all(g == data for g in got) and whole == data
    assert ring.closed and raw.closed  # closed with its loop
    assert open_fds() == fds_before


def test_on_asyncio_loop_the_ring_is_its_own() -> None:
    async def main() -> int:
        ring = aio.get_ring()
        await ring.nop()
        return ring.ring.fd

    assert asyncio.run(main()) >= 0


def test_aioring_with_setup_flags_keeps_a_ring_of_its_own() -> None:
    async def main() -> tuple[int, int]:
        async with aio.AioRing(8, flags=uring_rs.IORING_SETUP_CLAMP) as ring:
            await ring.nop()
            return ring.ring.fd, ring.ring.enter_calls

    fd, enters = uring_rs.run(main())
    assert fd >= 0 and enters > 0


def test_a_relay_ring_is_never_entered_directly() -> None:
    async def main() -> None:
        ring = aio.get_ring()
        await ring.nop()
        with pytest.raises(UringError, match=r"relays its ops through a uring_rs\.Loop"):
            ring.ring.submit(wait_nr=1)

    uring_rs.run(main())


def test_linked_timeout_reaches_the_kernel_with_its_op() -> None:
    # An op with timeout= is a chain (IOSQE_IO_LINK + link_timeout): moved into the loop's
    # SQ whole, or the timeout would never fire.
    r, w = os.pipe()
    try:

        async def main() -> float:
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                await _read_t(r)
            return time.monotonic() - t0

        assert uring_rs.run(main()) < 2.0
    finally:
        os.close(r)
        os.close(w)


async def _read_t(fd: int) -> int:
    """A read of ``fd`` with a linked timeout of 50 ms."""
    ring = aio.get_ring()
    buf = bytearray(16)
    return await ring._op_timeout(0.05, _native.read, fd, buf, -1)


def test_cancelled_read_keeps_its_buffer_until_the_kernel_is_done() -> None:
    r, w = os.pipe()
    try:

        async def main() -> tuple[int, int]:
            ring = aio.get_ring()
            buf = bytearray(4096)
            task = asyncio.ensure_future(ring.read(r, buf))
            await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            del buf, task
            gc.collect()
            # The kernel writes into nothing freed: the cancel went in before the caller
            # went on, and what was pinned is released only with the final completion.
            os.write(w, b"x" * 4096)
            for _ in range(100):
                if ring.ring.in_flight == 0 and ring.pending == 0:
                    break
                await asyncio.sleep(0.005)
            return ring.ring.in_flight, ring.pending

        assert uring_rs.run(main()) == (0, 0)
    finally:
        os.close(r)
        os.close(w)


def test_close_with_reads_in_flight_cancels_them_promptly(aio_loop: str) -> None:
    # On either loop: close() cancels the awaits of ops it cancelled.
    r, w = os.pipe()
    try:

        async def main() -> tuple[float, list[bool], int]:
            ring = aio.get_ring()
            tasks = [asyncio.ensure_future(ring.read(r, bytearray(8))) for _ in range(20)]
            await asyncio.sleep(0.02)
            t0 = time.monotonic()
            ring.close()
            took = time.monotonic() - t0
            await asyncio.wait(tasks, timeout=1.0)
            done = [t.cancelled() for t in tasks]
            return took, done, ring.ring.in_flight if not ring.ring.closed else 0

        took, cancelled, in_flight = aio_run(main())
        assert took < 1.0 and all(cancelled) and in_flight == 0
    finally:
        os.close(r)
        os.close(w)


def test_loop_closed_with_ops_in_flight_cancels_them_and_leaks_nothing() -> None:
    r, w = os.pipe()
    fds_before = open_fds()
    loop = uring_rs.new_event_loop()
    holder: dict[str, Any] = {}

    async def start() -> None:
        ring = aio.get_ring()
        holder["ring"] = ring
        holder["tasks"] = [asyncio.ensure_future(ring.read(r, bytearray(8))) for _ in range(5)]
        await asyncio.sleep(0.02)

    try:
        loop.run_until_complete(start())
        t0 = time.monotonic()
        loop.close()
        assert time.monotonic() - t0 < 2.0
        assert holder["ring"].closed and holder["ring"].ring.closed
        del holder["tasks"]
        assert open_fds() == fds_before
    finally:
        os.close(r)
        os.close(w)


def test_aclose_delivers_cancellation_through_the_loop() -> None:
    r, w = os.pipe()
    try:

        async def main() -> list[Any]:
            ring = aio.AioRing(16)
            tasks = [asyncio.ensure_future(ring.read(r, bytearray(8))) for _ in range(3)]
            await asyncio.sleep(0.02)
            assert ring.ring.fd == -1  # bound to the loop: a relay
            await ring.aclose()
            return await asyncio.gather(*tasks, return_exceptions=True)

        out = uring_rs.run(main())
        assert all(isinstance(x, asyncio.CancelledError) for x in out)
    finally:
        os.close(r)
        os.close(w)


def test_fd_from_an_open_whose_task_was_cancelled_is_closed(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"x")
    fds_before = open_fds()

    async def main() -> None:
        ring = aio.get_ring()
        for _ in range(50):
            t = asyncio.ensure_future(ring.openat(p))
            await asyncio.sleep(0)
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                fd = await t
                os.close(fd)
        for _ in range(20):
            if ring.pending == 0:
                break
            await asyncio.sleep(0.005)

    uring_rs.run(main())
    assert open_fds() == fds_before


def test_errors_come_back_as_on_any_ring(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            await aio.read_bytes(tmp_path / "missing")
        ring = aio.get_ring()
        res = await ring._op(_native.read, 1_000_000, bytearray(1), -1)
        assert res == -errno.EBADF

    uring_rs.run(main())
