"""Files and asyncio benchmarks for uring_rs: read_files, aio.open, copy_file.

    python bench/bench_files.py [--quick] [--runs 7] [--files 10000] [--file-size 4096]
                                [--tasks 100] [--big-size 13MiB] [--lines 300000]
                                [--aiofiles-lines 10000] [--copy-size 1GiB]
                                [--plot bench/files.png] [--json bench/out/files.json] [--cold]

Every section runs its cases interleaved (ABCABC...), ``--runs`` rounds (>= 5); each
figure is the median, and "x" is the ratio to the section's baseline in the same run
(> 1: faster than the baseline).

1. Read ``--files`` files of ``--file-size`` bytes: ``uring_rs.read_files`` vs a
   ``Path.read_bytes`` loop (target >= 2x) vs ``ThreadPoolExecutor.map(Path.read_bytes)``.
2. The same files from asyncio with ``--tasks`` concurrent tasks, each doing
   ``async with open(p, "rb") as f: await f.read()``: ``uring_rs.aio.open`` vs
   ``aiofiles.open`` (if installed) vs ``asyncio.to_thread(Path.read_bytes)``.
3. ``read()`` of one ``--big-size`` file in ``async with open(p, "rb")``: ``uring_rs.aio``
   vs ``aiofiles`` vs the built-in synchronous ``open`` (the baseline; target <= 1.2x its
   time).
4. ``async for line`` over a file of ``--lines`` lines, text and binary: ``uring_rs.aio``
   vs the built-in synchronous loop (the baseline; target <= 4x its time). aiofiles
   costs a thread round trip per line: it is timed over ``--aiofiles-lines`` lines and
   scaled to ``--lines`` (marked "scaled").
5. Copy one ``--copy-size`` file: ``uring_rs.copy_file`` vs ``shutil.copyfile`` (target
   >= 1x; ``os.sync()`` before each run, untimed; the destination removed between runs),
   and beside them copy_file's ring pipeline (splices), its way where the kernel refuses
   its own copy.

Files are in the page cache (just written) unless ``--cold``, which drops the page cache
before every read run (needs root; affects the whole machine). ``--quick`` uses 2,000
files, 30,000 lines and a 64 MiB copy. aiofiles is the ``bench`` extra:
``pip install '.[bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uring_rs
from uring_rs import aio

try:
    import aiofiles  # type: ignore[import-untyped, unused-ignore]
except ImportError:  # the comparison is skipped
    aiofiles = None


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


Result = dict[str, Any]


def measure(
    name: str,
    fn: Callable[[], object],
    runs: int,
    before: Callable[[], None] | None = None,
) -> Result:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"name": name, "median": statistics.median(times), "min": min(times), "runs": times}


def interleaved(
    cases: list[tuple[str, Callable[[], object]]],
    runs: int,
    before: Callable[[], None] | None = None,
) -> list[Result]:
    """Runs the cases round-robin (ABCABC...) so drift hits them all alike."""
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(runs):
        for name, fn in cases:
            if before is not None:
                before()
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return [
        {"name": n, "median": statistics.median(ts), "min": min(ts), "runs": ts}
        for n, ts in times.items()
    ]


# ---- 1. read many files ------------------------------------------------------------------


def bench_read(paths: list[Path], runs: int, cold: bool) -> list[Result]:
    expected = [p.read_bytes() for p in paths]
    assert uring_rs.read_files(paths) == expected
    pool = ThreadPoolExecutor()
    assert list(pool.map(Path.read_bytes, paths)) == expected
    cases: list[tuple[str, Callable[[], object]]] = [
        ("read_files (max_in_flight=64)", lambda: uring_rs.read_files(paths)),
        ("read_files (max_in_flight=256)", lambda: uring_rs.read_files(paths, max_in_flight=256)),
        ("Path.read_bytes loop", lambda: [p.read_bytes() for p in paths]),
        (
            f"ThreadPoolExecutor ({pool._max_workers} threads)",
            lambda: list(pool.map(Path.read_bytes, paths)),
        ),
    ]
    try:
        return interleaved(cases, runs, drop_caches if cold else None)
    finally:
        pool.shutdown()


# ---- 2. asyncio ----------------------------------------------------------------------------


async def with_tasks(
    paths: list[Path], tasks: int, read: Callable[[Path], Awaitable[bytes]]
) -> int:
    it: Iterator[Path] = iter(paths)
    total = 0

    async def worker() -> None:
        nonlocal total
        for p in it:
            n = len(await read(p))  # not `total += len(await ...)`: it reads total first
            total += n

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return total


async def read_aio(p: Path) -> bytes:
    async with aio.open(p, "rb") as f:
        return await f.read()


async def read_aiofiles(p: Path) -> bytes:
    assert aiofiles is not None
    async with aiofiles.open(p, "rb") as f:
        data: bytes = await f.read()
        return data


async def read_to_thread(p: Path) -> bytes:
    return await asyncio.to_thread(p.read_bytes)


def bench_async(paths: list[Path], tasks: int, runs: int, cold: bool) -> list[Result]:
    expected = sum(p.stat().st_size for p in paths)
    readers: list[tuple[str, Callable[[Path], Awaitable[bytes]]]] = [
        ("uring_rs.aio.open", read_aio),
    ]
    if aiofiles is not None:
        readers.append(("aiofiles.open", read_aiofiles))
    readers.append(("asyncio.to_thread(read_bytes)", read_to_thread))

    async def main() -> list[Result]:
        # warm up: the loop's ring and the default executor's threads
        await aio.get_ring().nop()
        for _, read in readers:
            await with_tasks(paths[:tasks], tasks, read)
        times: dict[str, list[float]] = {name: [] for name, _ in readers}
        for _ in range(runs):
            for name, read in readers:
                if cold:
                    drop_caches()
                t = time.perf_counter()
                total = await with_tasks(paths, tasks, read)
                times[name].append(time.perf_counter() - t)
                assert total == expected, (name, total, expected)
        return [
            {"name": n, "median": statistics.median(ts), "min": min(ts), "runs": ts}
            for n, ts in times.items()
        ]

    return asyncio.run(main())


# ---- 3. read() of one big file, 4. async for line ------------------------------------------

Case = tuple[str, Callable[[], Any], bool]  # name, function, is it a coroutine function


def interleaved_mixed(
    cases: list[Case], runs: int, scale: dict[str, float] | None = None
) -> list[Result]:
    """Like ``interleaved``, for sync functions and coroutine functions side by side: the
    coroutines run on one event loop (its ring warmed up) and are timed inside it, so
    neither the loop's start nor ``run_until_complete`` is counted. ``scale`` multiplies a
    case's times (a case timed on a fraction of the work)."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    loop = asyncio.new_event_loop()

    async def timed(fn: Callable[[], Awaitable[object]]) -> float:
        t = time.perf_counter()
        await fn()
        return time.perf_counter() - t

    try:

        async def warm() -> None:
            await aio.get_ring().nop()

        loop.run_until_complete(warm())
        for _name, fn, is_async in cases:  # warm up: caches, executor threads
            loop.run_until_complete(fn()) if is_async else fn()
        for _ in range(runs):
            for name, fn, is_async in cases:
                if is_async:
                    dt = loop.run_until_complete(timed(fn))
                else:
                    t = time.perf_counter()
                    fn()
                    dt = time.perf_counter() - t
                times[name].append(dt * (scale or {}).get(name, 1.0))
    finally:
        loop.close()
    return [
        {"name": n, "median": statistics.median(ts), "min": min(ts), "runs": ts}
        for n, ts in times.items()
    ]


def bench_big_read(path: Path, runs: int) -> list[Result]:
    expected = path.read_bytes()

    def builtin() -> bytes:
        with open(path, "rb") as f:
            return f.read()

    async def ours() -> bytes:
        async with aio.open(path, "rb") as f:
            return await f.read()

    async def theirs() -> bytes:
        assert aiofiles is not None
        async with aiofiles.open(path, "rb") as f:
            data: bytes = await f.read()
            return data

    assert builtin() == expected and asyncio.run(ours()) == expected
    cases: list[Case] = [
        ("built-in open().read() (sync)", builtin, False),
        ("uring_rs.aio.open + read()", ours, True),
    ]
    if aiofiles is not None:
        cases.append(("aiofiles.open + read()", theirs, True))
    return interleaved_mixed(cases, runs)


def bench_lines(path: Path, runs: int, lines: int, aiofiles_lines: int) -> list[Result]:
    def builtin(mode: str) -> Callable[[], int]:
        def loop_() -> int:
            n = 0
            with open(path, mode) as f:
                for _ in f:
                    n += 1
            return n

        return loop_

    def ours(mode: str) -> Callable[[], Coroutine[Any, Any, int]]:
        async def loop_() -> int:
            n = 0
            async with aio.open(path, mode) as f:
                async for _ in f:
                    n += 1
            return n

        return loop_

    def theirs(mode: str) -> Callable[[], Awaitable[int]]:
        async def loop_() -> int:
            assert aiofiles is not None
            n = 0
            async with aiofiles.open(path, mode) as f:
                async for _ in f:
                    n += 1
                    if n == aiofiles_lines:
                        break
            return n

        return loop_

    assert builtin("r")() == lines == asyncio.run(ours("r")()) == asyncio.run(ours("rb")())
    cases: list[Case] = [
        ("built-in text loop (sync)", builtin("r"), False),
        ("uring_rs.aio text async for", ours("r"), True),
        ("built-in binary loop (sync)", builtin("rb"), False),
        ("uring_rs.aio binary async for", ours("rb"), True),
    ]
    scale = {}
    if aiofiles is not None:
        name = f"aiofiles text async for (scaled from {aiofiles_lines:,})"
        cases.append((name, theirs("r"), True))
        scale[name] = lines / aiofiles_lines
    return interleaved_mixed(cases, runs, scale)


# ---- 5. copy a big file -----------------------------------------------------------------------


def bench_copy(src: Path, dst: Path, runs: int) -> list[Result]:
    def fresh() -> None:
        dst.unlink(missing_ok=True)
        os.sync()

    uring_rs.copy_file(src, dst)
    assert os.path.getsize(dst) == os.path.getsize(src)
    with open(src, "rb") as a, open(dst, "rb") as b:
        assert a.read(1 << 20) == b.read(1 << 20)

    def ring_splices() -> None:
        # The ring's pipeline, which copy_file uses only where the kernel refuses its own
        # copy: shown beside it for the choice (its dst is reserved first too).
        uring_rs.files._COPY_IN_KERNEL = False
        try:
            uring_rs.copy_file(src, dst)
        finally:
            uring_rs.files._COPY_IN_KERNEL = True

    cases: list[tuple[str, Callable[[], object]]] = [
        ("copy_file", lambda: uring_rs.copy_file(src, dst)),
        ("copy_file, ring splices", ring_splices),
        ("shutil.copyfile", lambda: shutil.copyfile(src, dst)),
    ]
    return interleaved(cases, runs, fresh)


# ---- report -----------------------------------------------------------------------------------


def report(title: str, results: list[Result], baseline: str, unit_bytes: int | None = None) -> None:
    base = next(r for r in results if r["name"] == baseline)["median"]
    print(f"\n{title}")
    for r in results:
        line = f"  {r['name']:<34} {r['median'] * 1e3:9.1f} ms  (min {r['min'] * 1e3:8.1f})"
        line += f"  {base / r['median']:5.2f}x vs {baseline}"
        if unit_bytes:
            line += f"  {unit_bytes / r['median'] / 1e9:5.2f} GB/s"
        print(line)
        r["speedup"] = base / r["median"]


def plot(sections: list[tuple[str, list[Result], str]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(sections), 1, figsize=(9, 2.3 * len(sections) + 0.6))
    if len(sections) == 1:
        axes = [axes]
    for ax, (title, results, baseline) in zip(axes, sections):
        names = [r["name"] for r in results][::-1]
        ms = [r["median"] * 1e3 for r in results][::-1]
        colors = [
            "#1f77b4" if ("uring" in n or "read_files" in n or "copy_file" in n) else "#999999"
            for n in names
        ]
        bars = ax.barh(names, ms, color=colors)
        base = next(r for r in results if r["name"] == baseline)["median"] * 1e3
        for bar, value in zip(bars, ms):
            ax.text(
                bar.get_width(),
                bar.get_y() + bar.get_height() / 2,
                f" {value:.0f} ms ({base / value:.2f}x)",
                va="center",
                fontsize=8,
            )
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xlabel("median wall time, ms (lower is better)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_xlim(0, max(ms) * 1.35)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"\nchart: {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2,000 files, 64 MiB copy")
    parser.add_argument("--runs", type=int, default=7, help="runs per case (>= 5; 7)")
    parser.add_argument("--files", type=int, default=None, help="files to read (10000)")
    parser.add_argument("--file-size", type=int, default=4096)
    parser.add_argument("--tasks", type=int, default=100, help="asyncio tasks (100)")
    parser.add_argument("--copy-size", type=parse_size, default=None, help="bytes (1GiB)")
    parser.add_argument("--big-size", type=parse_size, default=13 << 20, help="bytes (13MiB)")
    parser.add_argument("--lines", type=int, default=None, help="lines (300000)")
    parser.add_argument("--aiofiles-lines", type=int, default=10_000)
    parser.add_argument(
        "--only", default="read,async,big,lines,copy", help="sections to run (all of them)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="work directory (a temp dir)")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before reads")
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG chart here")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--skip-copy", action="store_true")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5 (medians of >= 5 runs)")
    files = args.files or (2000 if args.quick else 10000)
    copy_size = args.copy_size or ((64 << 20) if args.quick else (1 << 30))
    nlines = args.lines or (30_000 if args.quick else 300_000)
    only = set(args.only.split(","))

    work = Path(tempfile.mkdtemp(prefix="uring_rs_bench_", dir=args.dir))
    try:
        tree = work / "files"
        tree.mkdir()
        paths = []
        for i in range(files):
            sub = tree / f"{i // 1000:03d}"
            sub.mkdir(exist_ok=True)
            p = sub / f"{i:05d}.bin"
            p.write_bytes(os.urandom(args.file_size))
            paths.append(p)
        print(
            f"uring_rs {uring_rs.__version__}, Python {platform.python_version()}, "
            f"Linux {platform.release()}, {os.cpu_count()} CPUs; "
            f"{'cold' if args.cold else 'warm'} page cache; median of {args.runs} runs"
        )
        sections: list[tuple[str, list[Result], str]] = []

        if "read" in only:
            read = bench_read(paths, args.runs, args.cold)
            title = f"Read {files:,} files of {args.file_size:,} B (sync)"
            report(title, read, "Path.read_bytes loop")
            sections.append((title, read, "Path.read_bytes loop"))

        if "async" in only:
            asy = bench_async(paths, args.tasks, args.runs, args.cold)
            base = "aiofiles.open" if aiofiles is not None else "asyncio.to_thread(read_bytes)"
            title = f"Read the same files from asyncio, {args.tasks} tasks"
            report(title, asy, base)
            sections.append((title, asy, base))

        if "big" in only:
            big = work / "big.read"
            big.write_bytes(os.urandom(args.big_size))
            rows = bench_big_read(big, args.runs)
            title = f"read() of a {args.big_size / (1 << 20):,.0f} MiB file in async with open"
            report(title, rows, "built-in open().read() (sync)", args.big_size)
            sections.append((title, rows, "built-in open().read() (sync)"))

        if "lines" in only:
            text = work / "lines.txt"
            rng = random.Random(1)
            with open(text, "w") as f:
                for i in range(nlines):
                    f.write(f"line {i} {'x' * rng.randint(0, 60)}\n")
            rows = bench_lines(text, args.runs, nlines, min(args.aiofiles_lines, nlines))
            for kind in ("text", "binary"):
                part = [r for r in rows if f" {kind} " in r["name"]]
                base = f"built-in {kind} loop (sync)"
                title = f"async for line over {nlines:,} lines, {kind}"
                report(title, part, base)
                sections.append((title, part, base))

        if "copy" in only and not args.skip_copy:
            src = work / "big.src"
            with open(src, "wb") as f:
                block = os.urandom(1 << 20)
                for _ in range(copy_size // len(block)):
                    f.write(block)
                f.write(block[: copy_size % len(block)])
            copy = bench_copy(src, work / "big.dst", args.runs)
            title = f"Copy a {copy_size / (1 << 20):,.0f} MiB file (page cache)"
            report(title, copy, "shutil.copyfile", copy_size)
            sections.append((title, copy, "shutil.copyfile"))

        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(
                json.dumps(
                    {
                        "argv": sys.argv[1:],
                        "python": platform.python_version(),
                        "kernel": platform.release(),
                        "cpus": os.cpu_count(),
                        "sections": [
                            {"title": t, "baseline": b, "results": r} for t, r, b in sections
                        ],
                    },
                    indent=2,
                )
            )
        if args.plot:
            plot(sections, args.plot)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
