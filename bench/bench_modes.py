"""What each ring option gives: 4 KiB random page-cached reads at depth 64.

Every variant runs in the same process, round-robin, and is reported as a ratio to the default
ring measured in the same round (medians over rounds). Two drivers: the batch API
(``read_many`` + ``copy_cqes_into``: kernel-side differences show) and one ``ops.read`` call per
op (what a plain Python loop sees).

    python bench/bench_modes.py [--rounds 7] [--ops 100000] [--size-mib 256]
"""

from __future__ import annotations

import argparse
import array
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import uring_rs
from uring_rs import Ring, ops

DEPTH = 64
BS = 4096


@dataclass(frozen=True)
class Variant:
    name: str
    flags: int = 0
    ring_fd: bool = False
    fixed_file: bool = False
    fixed_buf: bool = False


VARIANTS = [
    Variant("default"),
    Variant("SINGLE_ISSUER", uring_rs.IORING_SETUP_SINGLE_ISSUER),
    Variant(
        "SINGLE_ISSUER+DEFER_TASKRUN",
        uring_rs.IORING_SETUP_SINGLE_ISSUER | uring_rs.IORING_SETUP_DEFER_TASKRUN,
    ),
    Variant("COOP_TASKRUN", uring_rs.IORING_SETUP_COOP_TASKRUN),
    Variant("registered ring fd", ring_fd=True),
    Variant("registered file", fixed_file=True),
    Variant("registered file+buffer", fixed_file=True, fixed_buf=True),
]


def make_ring(v: Variant, fd: int, buf: bytearray) -> tuple[Ring, int]:
    ring = Ring(2 * DEPTH, v.flags)
    if v.ring_fd:
        ring.register_ring_fd()
    if v.fixed_file:
        ring.register_files([fd])
        fd = 0
    if v.fixed_buf:
        ring.register_buffers([buf])
    return ring, fd


def batch_driver(v: Variant, fd: int, offsets: array.array[int]) -> float:
    buf = bytearray(DEPTH * BS)
    ring, target = make_ring(v, fd, buf)
    sqe_flags = uring_rs.IOSQE_FIXED_FILE if v.fixed_file else 0
    ud, res = array.array("Q", [0] * DEPTH), array.array("i", [0] * DEPTH)
    n = len(offsets)
    t0 = time.perf_counter()
    if v.fixed_buf:
        for s in range(0, n, DEPTH):
            chunk = offsets[s : s + DEPTH]
            for i, off in enumerate(chunk):
                sqe = ops.read_fixed(ring, i, target, 0, off, nbytes=BS, buf_offset=i * BS)
                sqe.flags = sqe_flags
            got = 0
            ring.submit()
            while got < len(chunk):
                got += ring.copy_cqes_into(ud, res, wait_nr=1)
    else:
        for s in range(0, n, DEPTH):
            chunk = offsets[s : s + DEPTH]
            ops.read_many(ring, 0, target, buf, chunk, BS, flags=sqe_flags)
            ring.submit()
            got = 0
            while got < len(chunk):
                got += ring.copy_cqes_into(ud, res, wait_nr=1)
    rate = n / (time.perf_counter() - t0)
    ring.close()
    return rate


def per_op_driver(v: Variant, fd: int, offsets: array.array[int]) -> float:
    bufs = [bytearray(BS) for _ in range(DEPTH)]
    ring, target = make_ring(v, fd, bytearray(BS))
    sqe_flags = uring_rs.IOSQE_FIXED_FILE if v.fixed_file else 0
    ud, res = array.array("Q", [0] * DEPTH), array.array("i", [0] * DEPTH)
    read, into, submit = ops.read, ring.copy_cqes_into, ring.submit
    it = iter(offsets)
    t0 = time.perf_counter()
    for k in range(DEPTH):
        read(ring, k, target, bufs[k], next(it)).flags = sqe_flags
    submit()
    done = 0
    n = len(offsets)
    while done < n:
        got = into(ud, res, wait_nr=1)
        done += got
        for j in range(got):
            u = ud[j]
            off = next(it, None)
            if off is not None:
                sqe = read(ring, u, target, bufs[u], off)
                if sqe_flags:
                    sqe.flags = sqe_flags
        submit()
    rate = n / (time.perf_counter() - t0)
    ring.close()
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--ops", type=int, default=100_000)
    p.add_argument("--size-mib", type=int, default=256)
    args = p.parse_args()
    with tempfile.NamedTemporaryFile(dir="/var/tmp", prefix="uring_modes.") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(1 << 20))
        f.flush()
        fd = os.open(f.name, os.O_RDONLY)
        with open(f.name, "rb") as warm:
            while warm.read(1 << 24):
                pass
        rng = random.Random(7)
        blocks = (args.size_mib << 20) // BS
        offsets = array.array("q", (rng.randrange(blocks) * BS for _ in range(args.ops)))
        drivers: list[tuple[str, Callable[[Variant, int, array.array[int]], float]]] = [
            ("batch API", batch_driver),
            ("ops.read per op", per_op_driver),
        ]
        for dname, driver in drivers:
            ratios: dict[str, list[float]] = {v.name: [] for v in VARIANTS}
            rates: dict[str, list[float]] = {v.name: [] for v in VARIANTS}
            for _ in range(args.rounds):
                base = 0.0
                for v in VARIANTS:
                    r = driver(v, fd, offsets)
                    base = r if v.name == "default" else base
                    rates[v.name].append(r)
                    ratios[v.name].append(r / base)
            print(
                f"\n{dname}: 4 KiB random page-cached reads, depth {DEPTH}, "
                f"{args.rounds} rounds x {args.ops} ops"
            )
            print(f"{'variant':30} {'ops/s':>10} {'x default':>10}")
            for v in VARIANTS:
                print(
                    f"{v.name:30} {statistics.median(rates[v.name]) / 1e3:9.0f}k "
                    f"{statistics.median(ratios[v.name]):10.3f}"
                )
        os.close(fd)


if __name__ == "__main__":
    main()
