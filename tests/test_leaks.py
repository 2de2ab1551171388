"""Leaks: memory stays flat over a million ops, buffers' reference counts come back,
and ten thousand rings leave no fd and no mapping behind.

HYPOTHESIS_PROFILE=long multiplies the op and ring counts by 10.
"""

from __future__ import annotations

import array
import gc
import os
import select
import socket
import sys
from pathlib import Path

from _support import maps_lines, open_fds
from uring_rs import BufferRing, Cqe, Ring, ops

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
SCALE = 10 if LONG else 1
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def run_nops(ring: Ring, total: int, batch: int) -> None:
    for _ in range(total // batch):
        for i in range(batch):
            ops.nop(ring, i)
        ring.submit(wait_nr=batch)
        got = ring.copy_cqes()
        assert len(got) == batch


def test_rss_stays_flat_over_a_million_nops() -> None:
    with Ring(256) as ring:
        run_nops(ring, 100_000, 256)  # warm up: slot table, freelists, allocator
        gc.collect()
        before = rss()
        run_nops(ring, 1_000_000 * SCALE, 256)
        gc.collect()
        grown = rss() - before
        assert ring.in_flight == 0
    assert grown < 8 << 20, f"RSS grew {grown / 2**20:.1f} MiB over {1_000_000 * SCALE} nops"


def test_rss_stays_flat_over_a_million_batched_nops() -> None:
    ud, res = array.array("Q", bytes(8 * 256)), array.array("i", bytes(4 * 256))
    with Ring(256) as ring:
        for _ in range(400):
            ops.nop_many(ring, 0, 256)
            ring.submit(wait_nr=256)
            ring.copy_cqes_into(ud, res)
        gc.collect()
        before = rss()
        for _ in range(1_000_000 * SCALE // 256):
            ops.nop_many(ring, 0, 256)
            ring.submit(wait_nr=256)
            assert ring.copy_cqes_into(ud, res) == 256
        grown = rss() - before
    assert grown < 8 << 20, f"RSS grew {grown / 2**20:.1f} MiB"


def test_buffer_refcounts_return_after_completions(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(4096))
    fd = os.open(path, os.O_RDWR)
    a, b = socket.socketpair()
    objs: list[object] = [
        bytearray(64),
        bytearray(64),
        b"x" * 64,
        bytearray(64),
        bytearray(64),
        memoryview(bytearray(64)),
        array.array("B", bytes(64)),
        bytearray(128),
        "path-" + str(os.getpid()),
    ]
    base = [sys.getrefcount(objs[i]) for i in range(len(objs))]
    with Ring(32) as ring:
        for _ in range(3):
            ops.read(ring, 1, fd, objs[0], 0)  # type: ignore[arg-type]
            ops.write(ring, 2, fd, objs[1], 0)  # type: ignore[arg-type]
            ops.write(ring, 3, fd, objs[2], 64)  # type: ignore[arg-type]
            ops.send(ring, 4, a, objs[3])  # type: ignore[arg-type]
            ops.recv(ring, 5, b, objs[4])  # type: ignore[arg-type]
            ops.read(ring, 6, fd, objs[5], 0)  # type: ignore[arg-type]
            ops.write(ring, 7, fd, objs[6], 0)  # type: ignore[arg-type]
            ops.read_many(ring, 8, fd, objs[7], [0, 64], 64)  # type: ignore[arg-type]
            ops.openat(ring, 10, fd, objs[8], 0)  # type: ignore[arg-type]
            ops.timeout(ring, 11, 0.001)
            ops.poll_add(ring, 12, b, select.POLLOUT)
            during = [sys.getrefcount(objs[i]) for i in range(8)]
            assert all(d > n for d, n in zip(during, base)), "an op must hold its buffer"
            ring.submit()
            got: list[Cqe] = []
            while len(got) < 12:
                got += ring.copy_cqes(wait_nr=1, timeout=5)
            assert ring.in_flight == 0
        ring.register_buffers([objs[0], objs[1]])  # type: ignore[list-item]
        ops.read_fixed(ring, 13, fd, 0, 0)
        ops.write_fixed(ring, 14, fd, 1, 0)
        ring.submit()
        ring.unregister_buffers()  # while the fixed ops may still run
        got = []
        while len(got) < 2:
            got += ring.copy_cqes(wait_nr=1, timeout=5)
        after_fixed = [sys.getrefcount(objs[i]) for i in range(len(objs))]
        br = BufferRing(ring, 3, 4, 64)
        a.send(b"hello")
        ops.recv_multishot(ring, 15, b, 3)
        ring.submit()
        (cqe,) = ring.copy_cqes(wait_nr=1, timeout=5)
        with br.get(cqe) as pb:
            assert bytes(pb) == b"hello"
        ops.cancel(ring, 16, 15)
        ring.submit()
        while ring.in_flight:
            ring.copy_cqes(wait_nr=1, timeout=5)
    a.close()
    b.close()
    os.close(fd)
    assert after_fixed == base, "buffers still referenced after their completions"
    now = [sys.getrefcount(objs[i]) for i in range(len(objs))]
    assert now == base


def test_ten_thousand_rings_leave_no_fd_and_no_mapping() -> None:
    for _ in range(100):
        Ring(8).close()
    gc.collect()
    fd0, maps0, rss0 = open_fds(), maps_lines(), rss()
    for i in range(10_000 * SCALE):
        ring = Ring(8)
        if i % 3 == 0:
            ops.nop(ring, 1)
            ring.submit(wait_nr=1)
        if i % 3 == 1:
            ops.timeout(ring, 2, 100)  # in flight when the ring is dropped
            ring.submit()
        if i % 2 == 0:
            ring.close()
        del ring  # the others are closed by garbage collection
    gc.collect()
    assert open_fds() == fd0, f"{open_fds() - fd0} fds left"
    assert maps_lines() == maps0, f"{maps_lines() - maps0} mappings left"
    assert rss() - rss0 < 8 << 20, f"RSS grew {(rss() - rss0) / 2**20:.1f} MiB"
