"""``aio.open`` reads of many small files on uring_rs.Loop vs ``aio`` over asyncio's loop.

    python bench/loop/aio_files.py [--quick] [--files 10000] [--file-size 4096]
                                   [--tasks 1,10,100] [--rounds 5] [--dir DIR] [--json PATH]

``--files`` files of ``--file-size`` random bytes are written to a temporary directory
(under ``--dir``, default the system's) and so are in the page cache. On each loop, and
for each concurrency in ``--tasks``, that many concurrent tasks take the next path and do
``async with aio.open(p, "rb") as f: await f.read()`` until all are read; the time of
that pass (inside the running loop, after a warm-up pass over the first files) and the
process CPU time it took are measured. Loops: ``uring_rs.Loop`` (``uring_rs.run``),
asyncio's default loop (``asyncio.run``; ``aio`` reaps its ring through an eventfd
watched with ``add_reader``) and, if installed, uvloop. Each round runs every loop once,
a new loop each time, in an order that rotates by round; the first round also checks
every file's bytes. Printed, per concurrency: median seconds, files/s and CPU us per
file, and uring_rs.Loop's speed-up over asyncio (the median of same-round ratios asyncio
time / Loop time; the issue's target is >= 1.5x). The loop's own work per file shrinks
as concurrency grows (one iteration serves every task whose op completed), so the
speed-up does too: at 100 tasks what is left is aio's per-file Python work, the same on
both loops. ``--quick``: 2,000 files, 5 rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uring_rs
from uring_rs import aio

uvloop: Any
try:
    import uvloop
except ImportError:  # its row is left out
    uvloop = None


async def read_all(paths: list[Path], tasks: int, keep: bool) -> tuple[int, list[bytes] | None]:
    """Reads every path with `tasks` workers; the byte total and, if keep, the contents."""
    it = iter(range(len(paths)))
    total = 0
    got: list[bytes] | None = [b""] * len(paths) if keep else None

    async def worker() -> None:
        nonlocal total
        for i in it:
            async with aio.open(paths[i], "rb") as f:
                data = await f.read()
            total += len(data)
            if got is not None:
                got[i] = data

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return total, got


def one_pass(
    runner: Callable[[Coroutine[Any, Any, Any]], Any],
    paths: list[Path],
    tasks: int,
    expected: list[bytes] | None,
) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        await read_all(paths[: max(tasks, 100)], tasks, False)  # warm-up: the ring, first opens
        c0, t0 = time.process_time(), time.perf_counter()
        total, got = await read_all(paths, tasks, expected is not None)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if expected is not None:
            bad = [str(paths[i]) for i, (a, b) in enumerate(zip(got or [], expected)) if a != b]
            if bad:
                raise SystemExit(f"aio.open read wrong bytes from {len(bad)} files, e.g. {bad[0]}")
        want = sum(len(b) for b in EXPECTED)
        if total != want:
            raise SystemExit(f"read {total} bytes, expected {want}")
        return wall, cpu

    return runner(main())  # type: ignore[no-any-return]


EXPECTED: list[bytes] = []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--files", type=int)
    ap.add_argument("--file-size", type=int, default=4096)
    ap.add_argument("--tasks", default="1,10,100", help="concurrencies, comma-separated")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    nfiles = args.files or (2000 if args.quick else 10000)
    levels = [int(t) for t in str(args.tasks).split(",") if t.strip()]
    if not levels or min(levels) < 1:
        ap.error("--tasks: one or more concurrencies >= 1, e.g. 1,10,100")

    loops: list[tuple[str, Callable[[Coroutine[Any, Any, Any]], Any]]] = [
        ("uring_rs.Loop", uring_rs.run),
        ("asyncio", asyncio.run),
    ]
    if uvloop is not None:
        loops.append(("uvloop", uvloop.run))
    t_start = time.perf_counter()
    times: dict[tuple[int, str], list[float]] = {}
    cpus: dict[tuple[int, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="uring_rs-aio-files-", dir=args.dir) as d:
        paths = [Path(d) / f"f{i:05d}" for i in range(nfiles)]
        for p in paths:
            data = os.urandom(args.file_size)
            p.write_bytes(data)
            EXPECTED.append(data)
        for rnd in range(args.rounds):
            k = rnd % len(loops)
            for tasks in levels:
                for name, runner in loops[k:] + loops[:k]:
                    check = EXPECTED if rnd == 0 else None
                    wall, cpu = one_pass(runner, paths, tasks, check)
                    times.setdefault((tasks, name), []).append(wall)
                    cpus.setdefault((tasks, name), []).append(cpu)
    print(
        f"`aio.open` reads of {nfiles:,} files of {args.file_size} B (page cache), "
        f"{args.rounds} rounds:"
    )
    print()
    print("| tasks | loop | seconds | files/s | CPU us/file | x asyncio (time) |")
    print("|---:|---|---:|---:|---:|---:|")
    result: dict[str, Any] = {
        "files": nfiles,
        "file_size": args.file_size,
        "tasks": levels,
        "rounds": args.rounds,
        "levels": {},
    }
    for tasks in levels:
        level: dict[str, Any] = {}
        base = times[(tasks, "asyncio")]
        for name, _ in loops:
            t = times[(tasks, name)]
            med = statistics.median(t)
            cpu = statistics.median(cpus[(tasks, name)])
            ratios = [a / b for a, b in zip(base, t)]
            rel = statistics.median(ratios)
            level[name] = {
                "seconds": t,
                "cpu_s": cpus[(tasks, name)],
                "median_s": med,
                "x_asyncio": rel,
                "x_range": [min(ratios), max(ratios)],
            }
            print(
                f"| {tasks} | {name} | {med:.3f} | {nfiles / med:,.0f} | "
                f"{cpu / nfiles * 1e6:.1f} | {rel:.2f}x |"
            )
        result["levels"][str(tasks)] = level
    result["speedup"] = {
        str(t): result["levels"][str(t)]["uring_rs.Loop"]["x_asyncio"] for t in levels
    }
    result["wall_s"] = time.perf_counter() - t_start
    print()
    for t in levels:
        lo, hi = result["levels"][str(t)]["uring_rs.Loop"]["x_range"]
        print(
            f"uring_rs.Loop over asyncio, {t} task(s): {result['speedup'][str(t)]:.2f}x "
            f"(median of same-round ratios; range {lo:.2f}-{hi:.2f}; target >= 1.5x)"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
