"""The uring_rs benchmark suite: workloads x implementations, side by side in one run.

    python bench/suite.py [--quick] [--runs N] [--seconds S] [--direct-size 1GiB]
                          [--cached-size 256MiB] [--dir /var/tmp] [--data-dir DIR]
                          [--workloads a,b] [--impls a,b] [--json PATH] [--png PATH] [--no-files]

Workloads (rows of the table, ``--workloads`` takes their ids):

    nop-1, nop-256        NOP round trips, queued and reaped in batches of 1 / 256
    rand4k-qd1/64/256     4 KiB reads at random 4 KiB-aligned offsets of a page-cached file
                          (``--cached-size``, default 256 MiB of random data, read once first)
    direct4k-qd1/64       the same with O_DIRECT on a ``--direct-size`` file (default 1 GiB of
                          random data written and fsynced, not fallocated) on a disk, not tmpfs
    seq1m-qd1             sequential 1 MiB reads of the page-cached file

Implementations (``--impls`` takes their names; each is skipped with a note where it cannot
run): ``os.pread``, ``os.preadv`` (into a preallocated buffer), ``threads(8)`` (a
ThreadPoolExecutor of 8 threads doing preadv, depth-sized waves), ``uring_rs`` (one
``ops.read``/``ops.nop`` per op, ``submit(wait_nr=1)``, ``copy_cqes()``), ``uring_rs batch``
(``ops.read_many``/``nop_many`` into slices of one buffer, reaped with ``copy_cqes_into``
into preallocated arrays; depth-sized waves), ``uring_rs fixed`` (registered file and
buffers, ``ops.read_fixed``), ``C liburing`` and ``C pread`` (``liburing_c/uring_bench.c``,
built here with ``cc -O2 ... -luring``), and the PyPI bindings ``liburing (PyPI)`` and
``uring-api (PyPI)`` if they are installed (they are not dependencies of uring_rs).

Method. Every implementation of a workload is set up once; then a discarded warm-up
measurement each, then ``--runs`` rounds (>= 5) in which each implementation runs for
``--seconds`` of I/O, in alternating order (ABBA...) so drift hits all alike. Every
implementation reads the same precomputed offsets, from the first, in the same order.
The table shows median ops/s and, for each implementation, the median over rounds of its
ops/s divided by the workload's baseline measured in the same round (``x base``): only
those same-run ratios are meant to be compared across machines or runs. The baseline is
``os.pread`` for page-cached reads; ``os.preadv`` for O_DIRECT (``os.pread``'s buffer is
not aligned); for NOPs, which have no syscall twin, the ``os.pread`` 4 KiB page-cached
random-read loop serves as the anchor. A summary gives uring_rs over each other
implementation, again as the median of same-round ratios.

``--quick`` (5 rounds of 0.08 s, 64 MiB / 128 MiB files) takes well under a minute;
``run_quick()`` runs it, then a short event-loop echo row (``loop_echo``: uring_rs.Loop,
uvloop when installed, asyncio; about 20 s), and returns the text (``python -m uring_rs
bench`` prints it). Results go to ``bench/out/`` (JSON, and a PNG if matplotlib is
importable).

Adding a row: write a subclass of ``Impl`` whose ``setup(workload, env)`` returns a
``Runner`` (``run(seconds) -> (ops, seconds)``, ``close()``), raising ``Skip`` where it
does not apply, and append it to ``IMPLS``. Adding a workload: append a ``Workload``.
"""

from __future__ import annotations

import argparse
import array
import ctypes
import importlib
import itertools
import json
import mmap
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import uring_rs
from uring_rs import Ring, ops


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


# Optional comparisons, used only if installed: never dependencies of uring_rs.
pypi_liburing: Any = _optional("liburing")
pypi_uring_api: Any = _optional("uring_api")

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
C_SOURCE = BENCH_DIR / "liburing_c" / "uring_bench.c"

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
N_OFFSETS = 1 << 18  # random offsets per file (each run cycles through them from the first)
SEED = 20240601
DIRECT_ALIGN = 4096  # buffer alignment used for O_DIRECT


class Skip(Exception):
    """An implementation does not apply to a workload, or cannot run here."""


class BenchError(RuntimeError):
    """An operation failed or came back short during a measurement."""


def _check_failed(what: str, got: int, want: int) -> BenchError:
    if got < 0:
        return BenchError(f"{what}: {os.strerror(-got)} (res={got})")
    return BenchError(f"{what}: got {got}, expected {want}")


# --------------------------------------------------------------------------- workloads


class Workload(NamedTuple):
    id: str
    title: str
    kind: str  # "nop" or "read"
    depth: int  # NOP batch size, or reads kept in flight
    bs: int = 0
    file: str = ""  # "cached" or "direct"
    pattern: str = ""  # "random" or "seq"
    baseline: str = "os.pread"

    @property
    def direct(self) -> bool:
        return self.file == "direct"

    @property
    def offsets_key(self) -> str:
        return f"{self.file}-{self.pattern}-{self.bs}"


WORKLOADS: list[Workload] = [
    Workload("nop-1", "NOP, batches of 1", "nop", 1),
    Workload("nop-256", "NOP, batches of 256", "nop", 256),
    Workload(
        "rand4k-qd1",
        "4 KiB random read, page cache, depth 1",
        "read",
        1,
        4 * KiB,
        "cached",
        "random",
    ),
    Workload(
        "rand4k-qd64",
        "4 KiB random read, page cache, depth 64",
        "read",
        64,
        4 * KiB,
        "cached",
        "random",
    ),
    Workload(
        "rand4k-qd256",
        "4 KiB random read, page cache, depth 256",
        "read",
        256,
        4 * KiB,
        "cached",
        "random",
    ),
    Workload(
        "direct4k-qd1",
        "4 KiB random read, O_DIRECT, depth 1",
        "read",
        1,
        4 * KiB,
        "direct",
        "random",
        baseline="os.preadv",
    ),
    Workload(
        "direct4k-qd64",
        "4 KiB random read, O_DIRECT, depth 64",
        "read",
        64,
        4 * KiB,
        "direct",
        "random",
        baseline="os.preadv",
    ),
    Workload(
        "seq1m-qd1",
        "1 MiB sequential read, page cache, depth 1",
        "read",
        1,
        1 * MiB,
        "cached",
        "seq",
    ),
]

# The anchor loop NOP workloads are compared with: os.pread of 4 KiB, page cache, random.
NOP_ANCHOR = Workload("rand4k-qd1", "anchor", "read", 1, 4 * KiB, "cached", "random")


# --------------------------------------------------------------------------- environment


class Config:
    """What to run. (Plain classes, not dataclasses, here: the module can then be loaded by
    file path without being registered in sys.modules.)"""

    def __init__(
        self,
        *,
        quick: bool = False,
        runs: int = 7,
        seconds: float = 0.3,
        cached_size: int = 256 * MiB,
        direct_size: int = 1 * GiB,
        base_dir: Path | None = None,  # where the temporary data directory goes
        data_dir: Path | None = None,  # keep and reuse the data files here
        workloads: list[str] | None = None,
        impls: list[str] | None = None,
        log: Callable[[str], None] | None = None,
        compact: bool = False,  # one summary line for skipped rows instead of a row each
    ) -> None:
        self.quick = quick
        self.runs = runs
        self.seconds = seconds
        self.cached_size = cached_size
        self.direct_size = direct_size
        self.base_dir = base_dir
        self.data_dir = data_dir
        self.workloads = workloads
        self.impls = impls
        self.compact = compact
        self.log: Callable[[str], None] = log or (lambda s: print(s, file=sys.stderr, flush=True))

    @classmethod
    def quick_defaults(cls, **kw: Any) -> Config:
        base: dict[str, Any] = {
            "quick": True,
            "runs": 5,
            "seconds": 0.08,
            "cached_size": 64 * MiB,
            "direct_size": 128 * MiB,
        }
        base.update(kw)
        return cls(**base)


def _mount_of(path: Path) -> tuple[str, str]:
    """(mount point, fs type) of the filesystem holding ``path``."""
    best, fstype = "/", "?"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                p = str(path.resolve())
                if (p == mnt or p.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, fstype = mnt, parts[2]
    except OSError:
        pass
    return best, fstype


def _default_base_dir() -> Path:
    for cand in (Path("/var/tmp"), Path(tempfile.gettempdir())):
        if cand.is_dir() and os.access(cand, os.W_OK) and _mount_of(cand)[1] != "tmpfs":
            return cand
    return Path(tempfile.gettempdir())


def _write_random_file(path: Path, size: int, log: Callable[[str], None]) -> None:
    """``size`` bytes of os.urandom data, fsynced: real blocks, not a fallocated hole."""
    t = time.perf_counter()
    chunk = 8 * MiB
    with open(path, "wb", buffering=0) as f:
        left = size
        while left:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n
        os.fsync(f.fileno())
    log(f"  wrote {path} ({size // MiB} MiB of random data) in {time.perf_counter() - t:.1f}s")


def _read_through(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        buf = bytearray(4 * MiB)
        while os.readv(fd, [buf]) > 0:
            pass
    finally:
        os.close(fd)


def aligned_buffers(
    count: int, size: int, align: int = DIRECT_ALIGN
) -> tuple[mmap.mmap, list[memoryview]]:
    """``count`` writable ``size``-byte views into one page-aligned anonymous mapping."""
    stride = (size + align - 1) // align * align
    region = mmap.mmap(-1, max(stride * count, mmap.PAGESIZE))
    view = memoryview(region)
    return region, [view[i * stride : i * stride + size] for i in range(count)]


def aligned_bytearrays(count: int, size: int, align: int = 512) -> list[bytearray]:
    """bytearrays whose storage happens to be ``align``-aligned (for bindings that only take
    bytearray): allocate until enough are found. O_DIRECT needs the device's alignment."""
    found: list[bytearray] = []
    junk: list[bytearray] = []
    for _ in range(count * align * 4):
        b = bytearray(size)
        addr = ctypes.addressof((ctypes.c_char * size).from_buffer(b))
        (found if addr % align == 0 else junk).append(b)
        if len(found) == count:
            return found
    raise Skip(f"could not get {align}-byte aligned bytearrays")


def native_build_kind() -> str:
    """'release' or 'debug' for the loaded uring_rs extension (an ELF .debug_info section
    means a debug build here: the release profile carries none)."""
    from uring_rs import _native

    path = getattr(_native, "__file__", None)
    if not path:
        return "unknown"
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF" or data[4] != 2:
            return "unknown"
        shoff = int.from_bytes(data[0x28:0x30], "little")
        shentsize = int.from_bytes(data[0x3A:0x3C], "little")
        shnum = int.from_bytes(data[0x3C:0x3E], "little")
        shstrndx = int.from_bytes(data[0x3E:0x40], "little")
        strtab = shoff + shstrndx * shentsize
        str_off = int.from_bytes(data[strtab + 0x18 : strtab + 0x20], "little")
        for i in range(shnum):
            h = shoff + i * shentsize
            name_off = int.from_bytes(data[h : h + 4], "little")
            end = data.index(b"\0", str_off + name_off)
            if data[str_off + name_off : end] == b".debug_info":
                return "debug"
        return "release"
    except (OSError, ValueError, IndexError):
        return "unknown"


def build_c_program(build_dir: Path) -> tuple[Path | None, str]:
    """Compile liburing_c/uring_bench.c; (binary, note). binary is None when it cannot."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None, "no C compiler (cc) found"
    build_dir.mkdir(parents=True, exist_ok=True)
    exe = build_dir / "uring_bench"
    cmd = [cc, "-O2", "-o", str(exe), str(C_SOURCE), "-luring"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr
        if "liburing.h" in err or "-luring" in err or "cannot find -luring" in err:
            return None, "liburing-dev is not installed (apt-get install liburing-dev)"
        return None, "cc failed: " + err.strip().splitlines()[-1] if err.strip() else "cc failed"
    version = ""
    try:
        v = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "liburing-dev"],
            capture_output=True,
            text=True,
            check=False,
        )
        version = v.stdout.strip() if v.returncode == 0 else ""
    except OSError:
        pass
    return exe, f"built with {' '.join(cmd[:2])} ... -luring" + (
        f" (liburing-dev {version})" if version else ""
    )


class Env:
    """Data files, offsets and tools shared by every row of one run."""

    def __init__(self, cfg: Config, workloads: Sequence[Workload]) -> None:
        self.cfg = cfg
        log = cfg.log
        base = cfg.base_dir or _default_base_dir()
        self._tmp: Path | None = None
        if cfg.data_dir is not None:
            self.dir = cfg.data_dir
            self.dir.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = Path(tempfile.mkdtemp(prefix="uring_rs_bench.", dir=base))
            self.dir = self._tmp
        self.mount, self.fstype = _mount_of(self.dir)
        log(f"data in {self.dir} ({self.fstype} at {self.mount})")
        self.sizes = {"cached": cfg.cached_size, "direct": cfg.direct_size}
        self.paths: dict[str, Path] = {}
        self.offsets: dict[str, list[int]] = {}
        self.offsets_array: dict[str, array.array[int]] = {}
        self.offsets_file: dict[str, Path] = {}
        self.notes: list[str] = []
        self._c: tuple[Path | None, str] | None = None
        self.pool: ThreadPoolExecutor | None = None
        needed = {w.file for w in workloads if w.file}
        if any(w.kind == "nop" for w in workloads):
            needed.add("cached")  # the NOP anchor loop
        try:
            for name in sorted(needed):
                self._make_file(name)
            for w in [*workloads, NOP_ANCHOR]:
                if w.file and w.file in self.paths and w.offsets_key not in self.offsets:
                    self._make_offsets(w)
        except BaseException:
            self.close()
            raise
        if "direct" in self.paths and self.fstype == "tmpfs":
            self.notes.append("the O_DIRECT file is on tmpfs: O_DIRECT rows measure memory")

    def _make_file(self, name: str) -> None:
        size = self.sizes[name]
        path = self.dir / f"{name}-{size}.bin"
        if not (path.exists() and path.stat().st_size == size):
            _write_random_file(path, size, self.cfg.log)
        if name == "cached":
            _read_through(path)  # into the page cache
        else:
            fd = os.open(path, os.O_RDONLY)
            try:  # not needed in the page cache: O_DIRECT bypasses it
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        self.paths[name] = path

    def _make_offsets(self, w: Workload) -> None:
        size = self.sizes[w.file]
        blocks = size // w.bs
        if w.pattern == "seq":
            offs = [i * w.bs for i in range(blocks)]
        else:
            rng = random.Random(f"{SEED}-{w.offsets_key}")
            offs = [rng.randrange(blocks) * w.bs for _ in range(N_OFFSETS)]
        arr = array.array("q", offs)
        path = self.dir / f"offsets-{w.offsets_key}.bin"
        path.write_bytes(arr.tobytes())
        self.offsets[w.offsets_key] = offs
        self.offsets_array[w.offsets_key] = arr
        self.offsets_file[w.offsets_key] = path

    def c_program(self) -> Path | None:
        """The C benchmark binary, built on first use (None if it cannot be: see c_note)."""
        if self._c is None:
            self._c = build_c_program(self.dir / "build")
            self.cfg.log(f"C liburing: {self._c[1]}")
        return self._c[0]

    @property
    def c_note(self) -> str:
        return self._c[1] if self._c is not None else ""

    def open(self, w: Workload) -> int:
        flags = os.O_RDONLY | (os.O_DIRECT if w.direct else 0)
        return os.open(self.paths[w.file], flags)

    def buffers(self, w: Workload, count: int) -> tuple[Any, list[Any]]:
        """(owner, buffers): ``count`` buffers of ``w.bs`` bytes; aligned for O_DIRECT."""
        if w.direct:
            return aligned_buffers(count, w.bs)
        bufs = [bytearray(w.bs) for _ in range(count)]
        return bufs, bufs

    def thread_pool(self) -> ThreadPoolExecutor:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=8)
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


# --------------------------------------------------------------------------- implementations


class Runner:
    """One implementation set up for one workload. ``run`` does I/O for about ``seconds``
    (it stops issuing then and drains what is in flight) and returns (ops, elapsed)."""

    def run(self, seconds: float) -> tuple[int, float]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FnRunner(Runner):
    def __init__(
        self, fn: Callable[[float], tuple[int, float]], close: Callable[[], None] | None = None
    ) -> None:
        self._fn = fn
        self._close = close

    def run(self, seconds: float) -> tuple[int, float]:
        return self._fn(seconds)

    def close(self) -> None:
        if self._close is not None:
            self._close()


class Impl:
    name = "?"
    note = ""

    def setup(self, w: Workload, env: Env) -> Runner:
        raise NotImplementedError


def _every(depth: int) -> int:
    """Check the clock once per ~64 ops."""
    return max(1, 64 // max(depth, 1))


def _chunks(offs: list[int], n: int = 64) -> list[list[int]]:
    return [offs[i : i + n] for i in range(0, len(offs), n)]


class OsPread(Impl):
    name = "os.pread"
    note = "os.pread loop (allocates the result); anchor of the NOP rows"

    def setup(self, w: Workload, env: Env) -> Runner:
        if w.kind == "nop":
            w = NOP_ANCHOR
        if w.direct:
            raise Skip("os.pread's buffer is not aligned for O_DIRECT")
        fd = env.open(w)
        chunks = _chunks(env.offsets[w.offsets_key])
        bs = w.bs

        def run(seconds: float) -> tuple[int, float]:
            pread = os.pread
            done = 0
            t0 = time.perf_counter()
            deadline = t0 + seconds
            for chunk in itertools.cycle(chunks):
                for off in chunk:
                    if len(pread(fd, bs, off)) != bs:
                        raise BenchError("short pread")
                done += len(chunk)
                if time.perf_counter() >= deadline:
                    break
            return done, time.perf_counter() - t0

        return FnRunner(run, lambda: os.close(fd))


class OsPreadv(Impl):
    name = "os.preadv"
    note = "os.preadv loop into one preallocated buffer"

    def setup(self, w: Workload, env: Env) -> Runner:
        if w.kind == "nop":
            raise Skip("no NOP")
        fd = env.open(w)
        _owner, bufs = env.buffers(w, 1)
        chunks = _chunks(env.offsets[w.offsets_key])
        bs = w.bs
        bl = [bufs[0]]

        def run(seconds: float) -> tuple[int, float]:
            preadv = os.preadv
            done = 0
            t0 = time.perf_counter()
            deadline = t0 + seconds
            for chunk in itertools.cycle(chunks):
                for off in chunk:
                    if preadv(fd, bl, off) != bs:
                        raise BenchError("short preadv")
                done += len(chunk)
                if time.perf_counter() >= deadline:
                    break
            return done, time.perf_counter() - t0

        def close() -> None:
            bl.clear()
            os.close(fd)

        return FnRunner(run, close)


class Threads(Impl):
    name = "threads(8)"
    note = "ThreadPoolExecutor(8): depth-sized waves of os.preadv into preallocated buffers"

    def setup(self, w: Workload, env: Env) -> Runner:
        if w.kind == "nop":
            raise Skip("no NOP")
        fd = env.open(w)
        _owner, bufs = env.buffers(w, w.depth)
        offs = env.offsets[w.offsets_key]
        bls = [[b] for b in bufs]
        pool = env.thread_pool()
        depth, bs = w.depth, w.bs
        every = _every(depth)

        def run(seconds: float) -> tuple[int, float]:
            submit, preadv = pool.submit, os.preadv
            nxt = itertools.cycle(offs).__next__
            done = it = 0
            t0 = time.perf_counter()
            deadline = t0 + seconds
            while True:
                futs = [submit(preadv, fd, bl, nxt()) for bl in bls]
                for f in futs:
                    if f.result() != bs:
                        raise BenchError("short preadv")
                done += depth
                it += 1
                if it % every == 0 and time.perf_counter() >= deadline:
                    break
            return done, time.perf_counter() - t0

        def close() -> None:
            bls.clear()
            os.close(fd)

        return FnRunner(run, close)


def _ring_entries(n: int) -> int:
    e = 1
    while e < n:
        e <<= 1
    return e


def _uring_rs_nop(ring: Ring, batch: int) -> Callable[[float], tuple[int, float]]:
    def run(seconds: float) -> tuple[int, float]:
        nop = ops.nop
        every = _every(batch)
        done = it = 0
        rng = range(batch)
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while True:
            for i in rng:
                nop(ring, i)
            ring.submit(wait_nr=batch)
            got = len(ring.copy_cqes())
            while got < batch:
                got += len(ring.copy_cqes(wait_nr=batch - got))
            done += batch
            it += 1
            if it % every == 0 and time.perf_counter() >= deadline:
                break
        return done, time.perf_counter() - t0

    return run


class UringRs(Impl):
    name = "uring_rs"
    note = (
        "one ops.read/ops.nop per op; submit(wait_nr=1) then copy_cqes(), refilling each "
        "reaped slot (NOP: queue N, submit(wait_nr=N), copy_cqes())"
    )

    def setup(self, w: Workload, env: Env) -> Runner:
        ring = Ring(_ring_entries(w.depth))
        if w.kind == "nop":
            return FnRunner(_uring_rs_nop(ring, w.depth), ring.close)
        fd = env.open(w)
        _owner, bufs = env.buffers(w, w.depth)
        offs = env.offsets[w.offsets_key]
        depth, bs = w.depth, w.bs
        every = _every(depth)

        def run(seconds: float) -> tuple[int, float]:
            read = ops.read
            submit, copy_cqes = ring.submit, ring.copy_cqes
            nxt = itertools.cycle(offs).__next__
            done = it = 0
            t0 = time.perf_counter()
            deadline = t0 + seconds
            for slot in range(depth):
                read(ring, slot, fd, bufs[slot], nxt())
            while True:
                submit(wait_nr=1)
                cqes = copy_cqes()
                for c in cqes:
                    if c.res != bs:
                        raise _check_failed("read", c.res, bs)
                    slot = c.user_data
                    read(ring, slot, fd, bufs[slot], nxt())
                done += len(cqes)
                it += 1
                if it % every == 0 and time.perf_counter() >= deadline:
                    break
            submit()  # the last refills, then drain
            inflight = depth
            while inflight:
                cqes = copy_cqes(wait_nr=1)
                for c in cqes:
                    if c.res != bs:
                        raise _check_failed("read", c.res, bs)
                inflight -= len(cqes)
                done += len(cqes)
            return done, time.perf_counter() - t0

        def close() -> None:
            ring.close()
            os.close(fd)

        return FnRunner(run, close)


class UringRsBatch(Impl):
    name = "uring_rs batch"
    note = (
        "ops.read_many/nop_many: one call queues a depth-sized wave into slices of one "
        "buffer; submit(wait_nr=depth); copy_cqes_into preallocated arrays"
    )

    def setup(self, w: Workload, env: Env) -> Runner:
        ring = Ring(_ring_entries(w.depth))
        depth = w.depth
        ud = array.array("Q", bytes(8 * depth))
        res = array.array("i", bytes(4 * depth))
        if w.kind == "nop":

            def run_nop(seconds: float) -> tuple[int, float]:
                nop_many, submit, into = ops.nop_many, ring.submit, ring.copy_cqes_into
                every = _every(depth)
                done = it = 0
                t0 = time.perf_counter()
                deadline = t0 + seconds
                while True:
                    nop_many(ring, 0, depth)
                    submit(wait_nr=depth)
                    got = into(ud, res)
                    while got < depth:
                        got += into(ud, res, wait_nr=depth - got)
                    done += depth
                    it += 1
                    if it % every == 0 and time.perf_counter() >= deadline:
                        break
                return done, time.perf_counter() - t0

            return FnRunner(run_nop, ring.close)
        fd = env.open(w)
        bs = w.bs
        # one buffer of depth slices (a view of an aligned mapping for O_DIRECT)
        buf: Any = aligned_buffers(1, depth * bs)[1][0] if w.direct else bytearray(depth * bs)
        base = env.offsets_array[w.offsets_key]
        n = len(base)
        # offsets + their first `depth` again, so a wave never wraps inside a slice
        ext = array.array("q", base)
        ext.extend(base[:depth])
        offv = memoryview(ext)
        every = _every(depth)

        def run(seconds: float) -> tuple[int, float]:
            read_many, submit, into = ops.read_many, ring.submit, ring.copy_cqes_into
            done = it = k = 0
            t0 = time.perf_counter()
            deadline = t0 + seconds
            while True:
                read_many(ring, 0, fd, buf, offv[k : k + depth], bs)
                k += depth
                if k >= n:
                    k -= n
                submit(wait_nr=depth)
                got = 0
                while got < depth:
                    m = into(ud, res, wait_nr=1)
                    if (res.count(bs) if m == depth else res[:m].count(bs)) != m:
                        bad = next(r for r in res[:m] if r != bs)
                        raise _check_failed("read_many", bad, bs)
                    got += m
                done += depth
                it += 1
                if it % every == 0 and time.perf_counter() >= deadline:
                    break
            return done, time.perf_counter() - t0

        def close() -> None:
            ring.close()
            os.close(fd)

        return FnRunner(run, close)


class UringRsFixed(Impl):
    name = "uring_rs fixed"
    note = "registered file (IOSQE_FIXED_FILE) and one registered buffer per slot; read_fixed"

    def setup(self, w: Workload, env: Env) -> Runner:
        if w.kind == "nop":
            raise Skip("nothing to register for NOPs")
        ring = Ring(_ring_entries(w.depth))
        fd = env.open(w)
        try:
            ring.register_files([fd])
            bufs: list[Any] = (
                aligned_buffers(w.depth, w.bs)[1]
                if w.direct
                else [bytearray(w.bs) for _ in range(w.depth)]
            )
            ring.register_buffers(bufs)
        except Exception:
            ring.close()
            os.close(fd)
            raise
        offs = env.offsets[w.offsets_key]
        depth, bs = w.depth, w.bs
        every = _every(depth)
        fixed = uring_rs.IOSQE_FIXED_FILE

        def run(seconds: float) -> tuple[int, float]:
            read_fixed = ops.read_fixed
            submit, copy_cqes = ring.submit, ring.copy_cqes
            nxt = itertools.cycle(offs).__next__
            done = it = 0
            t0 = time.perf_counter()
            deadline = t0 + seconds
            for slot in range(depth):
                read_fixed(ring, slot, 0, slot, nxt()).flags = fixed
            while True:
                submit(wait_nr=1)
                cqes = copy_cqes()
                for c in cqes:
                    if c.res != bs:
                        raise _check_failed("read_fixed", c.res, bs)
                    slot = c.user_data
                    read_fixed(ring, slot, 0, slot, nxt()).flags = fixed
                done += len(cqes)
                it += 1
                if it % every == 0 and time.perf_counter() >= deadline:
                    break
            submit()  # the last refills, then drain
            inflight = depth
            while inflight:
                cqes = copy_cqes(wait_nr=1)
                for c in cqes:
                    if c.res != bs:
                        raise _check_failed("read_fixed", c.res, bs)
                inflight -= len(cqes)
                done += len(cqes)
            return done, time.perf_counter() - t0

        def close() -> None:
            ring.close()
            os.close(fd)

        return FnRunner(run, close)


class CProgram(Impl):
    """liburing_c/uring_bench.c, one process per measurement (it times itself)."""

    def __init__(self, name: str, mode: str, note: str) -> None:
        self.name = name
        self.mode = mode
        self.note = note

    def setup(self, w: Workload, env: Env) -> Runner:
        exe_path = env.c_program()
        if exe_path is None:
            raise Skip(env.c_note)
        if w.kind == "nop":
            if self.mode != "read":
                raise Skip("no NOP")
            args = ["nop", "--batch", str(w.depth)]
        else:
            args = [
                self.mode,
                "--file",
                str(env.paths[w.file]),
                "--offsets",
                str(env.offsets_file[w.offsets_key]),
                "--bs",
                str(w.bs),
                "--depth",
                str(w.depth),
            ]
            if w.direct:
                args.append("--direct")
        exe = str(exe_path)

        def run(seconds: float) -> tuple[int, float]:
            proc = subprocess.run(
                [exe, *args, "--seconds", f"{seconds:.6f}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise BenchError(f"uring_bench {' '.join(args)}: {proc.stderr.strip()}")
            out = json.loads(proc.stdout)
            return int(out["ops"]), float(out["seconds"])

        return FnRunner(run)


class PypiLiburing(Impl):
    name = "liburing (PyPI)"
    note = "PyPI 'liburing' (Zig wrapper of liburing): get_sqe/prep_*, submit_and_wait, cq_advance"

    def setup(self, w: Workload, env: Env) -> Runner:
        L = pypi_liburing
        if L is None:
            raise Skip("not installed (pip install liburing)")
        ring = L.Ring()
        ret = L.io_uring_queue_init(_ring_entries(w.depth), ring)
        if ret is not None and ret < 0:
            raise Skip(f"io_uring_queue_init: {os.strerror(-ret)}")
        cqe = L.Cqe()
        depth = w.depth
        get_sqe, submit_and_wait = L.io_uring_get_sqe, L.io_uring_submit_and_wait
        wait_cqe, cq_ready, cq_advance = (
            L.io_uring_wait_cqe,
            L.io_uring_cq_ready,
            L.io_uring_cq_advance,
        )
        set_data = L.io_uring_sqe_set_data64
        every = _every(depth)

        if w.kind == "nop":
            prep_nop = L.io_uring_prep_nop

            def run_nop(seconds: float) -> tuple[int, float]:
                done = it = 0
                rng = range(depth)
                t0 = time.perf_counter()
                deadline = t0 + seconds
                while True:
                    for i in rng:
                        sqe = get_sqe(ring)
                        prep_nop(sqe)
                        set_data(sqe, i)
                    submit_and_wait(ring, depth)
                    got = 0
                    while got < depth:
                        wait_cqe(ring, cqe)
                        r = cq_ready(ring)
                        cq_advance(ring, r)
                        got += r
                    done += depth
                    it += 1
                    if it % every == 0 and time.perf_counter() >= deadline:
                        break
                return done, time.perf_counter() - t0

            return FnRunner(run_nop, lambda: L.io_uring_queue_exit(ring))

        fd = env.open(w)
        if w.direct:  # it takes only bytearray: find aligned ones
            bufs = aligned_bytearrays(depth, w.bs)
        else:
            bufs = [bytearray(w.bs) for _ in range(depth)]
        offs = env.offsets[w.offsets_key]
        bs = w.bs
        prep_read = L.io_uring_prep_read

        def run(seconds: float) -> tuple[int, float]:
            nxt = itertools.cycle(offs).__next__
            done = it = 0
            t0 = time.perf_counter()
            deadline = t0 + seconds
            for slot in range(depth):
                sqe = get_sqe(ring)
                prep_read(sqe, fd, bufs[slot], nxt())
                set_data(sqe, slot)
            stop = False
            inflight = depth
            while inflight:
                submit_and_wait(ring, 1)
                wait_cqe(ring, cqe)
                r = cq_ready(ring)
                for i in range(r):
                    c = cqe[i]
                    if c.res != bs:
                        raise _check_failed("read", c.res, bs)
                    if stop:
                        inflight -= 1
                    else:
                        slot = c.user_data
                        sqe = get_sqe(ring)
                        prep_read(sqe, fd, bufs[slot], nxt())
                        set_data(sqe, slot)
                cq_advance(ring, r)
                done += r
                it += 1
                if not stop and it % every == 0 and time.perf_counter() >= deadline:
                    stop = True
            return done, time.perf_counter() - t0

        def close() -> None:
            L.io_uring_queue_exit(ring)
            os.close(fd)

        return FnRunner(run, close)


class PypiUringApi(Impl):
    name = "uring-api (PyPI)"
    note = "PyPI 'uring-api' (C over liburing): prepare_read, wait() -> [Completion]"

    def setup(self, w: Workload, env: Env) -> Runner:
        U = pypi_uring_api
        if U is None:
            raise Skip("not installed (pip install uring-api)")
        if w.kind == "nop":
            raise Skip("has no NOP op")
        ring = U.Ring(_ring_entries(w.depth))
        fd = env.open(w)
        _owner, bufs = env.buffers(w, w.depth)
        offs = env.offsets[w.offsets_key]
        depth, bs = w.depth, w.bs
        every = _every(depth)

        def run(seconds: float) -> tuple[int, float]:
            prepare_read, wait = ring.prepare_read, ring.wait
            nxt = itertools.cycle(offs).__next__
            done = it = 0
            t0 = time.perf_counter()
            deadline = t0 + seconds
            for slot in range(depth):
                prepare_read(fd, bufs[slot], nxt(), slot)
            stop = False
            inflight = depth
            while inflight:
                got = wait() or []
                for c in got:
                    if c.res != bs:
                        raise _check_failed("read", c.res, bs)
                    if stop:
                        inflight -= 1
                    else:
                        slot = c.user_data
                        prepare_read(fd, bufs[slot], nxt(), slot)
                done += len(got)
                it += 1
                if not stop and it % every == 0 and time.perf_counter() >= deadline:
                    stop = True
            return done, time.perf_counter() - t0

        def close() -> None:
            ring.close()
            os.close(fd)

        return FnRunner(run, close)


IMPLS: list[Impl] = [
    OsPread(),
    OsPreadv(),
    Threads(),
    UringRs(),
    UringRsBatch(),
    UringRsFixed(),
    CProgram(
        "C liburing",
        "read",
        "liburing_c/uring_bench.c: submit_and_wait(1), "
        "for_each_cqe, refill (NOP: batch, submit_and_wait(B))",
    ),
    CProgram("C pread", "pread", "liburing_c/uring_bench.c: pread(2) loop"),
    PypiLiburing(),
    PypiUringApi(),
]

HEADLINE = "uring_rs"  # the row the summary compares with the others
COMPARE_WITH = [
    "os.pread",
    "os.preadv",
    "threads(8)",
    "C liburing",
    "C pread",
    "liburing (PyPI)",
    "uring-api (PyPI)",
]


# --------------------------------------------------------------------------- sanity check


def verify_uring_rs(env: Env) -> None:
    """uring_rs's read, read_many and read_fixed return the bytes os.pread does."""
    if "cached" not in env.paths:
        return
    w = NOP_ANCHOR  # 4 KiB at random offsets of the page-cached file
    offs = env.offsets[w.offsets_key][:8]
    fd = env.open(w)
    try:
        want = [os.pread(fd, w.bs, o) for o in offs]
        with Ring(16) as ring:
            bufs = [bytearray(w.bs) for _ in offs]
            for i, o in enumerate(offs):
                ops.read(ring, i, fd, bufs[i], o)
            ring.submit(wait_nr=len(offs))
            assert sorted(c.result() for c in ring.copy_cqes(wait_nr=len(offs))) == [w.bs] * 8
            assert [bytes(b) for b in bufs] == want, "ops.read returned other bytes"
            big = bytearray(w.bs * len(offs))
            ops.read_many(ring, 0, fd, big, array.array("q", offs), w.bs)
            ring.submit(wait_nr=len(offs))
            ud, res = array.array("Q", bytes(64)), array.array("i", bytes(32))
            got = 0
            while got < len(offs):
                got += ring.copy_cqes_into(ud, res, wait_nr=1)
            assert bytes(big) == b"".join(want), "ops.read_many returned other bytes"
            ring.register_files([fd])
            ring.register_buffers(bufs)
            for b in bufs:
                b[:] = bytes(w.bs)
            for i, o in enumerate(offs):
                ops.read_fixed(ring, i, 0, i, o).flags = uring_rs.IOSQE_FIXED_FILE
            ring.submit(wait_nr=len(offs))
            assert len(ring.copy_cqes(wait_nr=len(offs))) == len(offs)
            assert [bytes(b) for b in bufs] == want, "ops.read_fixed returned other bytes"
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- runner


class Row:
    """One implementation's measurements of one workload."""

    def __init__(self, workload: Workload, impl: str) -> None:
        self.workload = workload
        self.impl = impl
        self.skipped: str | None = None
        self.ops: list[int] = []
        self.seconds: list[float] = []
        self.ratio: list[float] = []  # same-round ops/s over the baseline's

    @property
    def rates(self) -> list[float]:
        return [o / s for o, s in zip(self.ops, self.seconds) if s > 0]

    @property
    def median(self) -> float | None:
        r = self.rates
        return statistics.median(r) if r else None


def run_workload(w: Workload, impls: Sequence[Impl], env: Env, cfg: Config) -> list[Row]:
    rows = {i.name: Row(w, i.name) for i in impls}
    runners: dict[str, Runner] = {}
    for impl in impls:
        try:
            runners[impl.name] = impl.setup(w, env)
        except Skip as e:
            rows[impl.name].skipped = str(e)
        except Exception as e:  # noqa: BLE001 - a row that cannot start is reported, not fatal
            rows[impl.name].skipped = f"setup failed: {type(e).__name__}: {e}"
    try:
        for name, r in list(runners.items()):  # warm-up, discarded; also proves it works
            try:
                r.run(max(cfg.seconds / 2, 0.02))
            except Exception as e:  # noqa: BLE001
                rows[name].skipped = f"failed: {type(e).__name__}: {e}"
                r.close()
                del runners[name]
        order = list(runners)
        for rnd in range(cfg.runs):
            for name in order if rnd % 2 == 0 else reversed(order):
                if name not in runners:
                    continue
                try:
                    ops_done, secs = runners[name].run(cfg.seconds)
                except Exception as e:  # noqa: BLE001
                    rows[name].skipped = f"failed in round {rnd}: {type(e).__name__}: {e}"
                    runners.pop(name).close()
                    continue
                rows[name].ops.append(ops_done)
                rows[name].seconds.append(secs)
    finally:
        for r in runners.values():
            r.close()
    base = rows.get(w.baseline)
    for row in rows.values():
        if row.skipped is None and base is not None and base.skipped is None:
            row.ratio = [a / b for a, b in zip(row.rates, base.rates)]
    return list(rows.values())


def paired_median(a: Row, b: Row) -> float | None:
    if a.skipped or b.skipped or not a.rates or not b.rates:
        return None
    return statistics.median(x / y for x, y in zip(a.rates, b.rates))


def _fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def skip_summary(rows: list[Row]) -> str | None:
    """One line naming every skipped row, grouped by reason: which implementations, where."""
    skipped = [r for r in rows if r.skipped]
    if not skipped:
        return None
    all_ids = list(dict.fromkeys(r.workload.id for r in rows))
    where: dict[tuple[str, str], list[str]] = {}  # (impl, reason) -> workload ids
    for r in skipped:
        where.setdefault((r.impl, r.skipped or ""), []).append(r.workload.id)
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}  # (reason, ids) -> impls
    for (impl, reason), ids in where.items():
        groups.setdefault((reason, tuple(ids)), []).append(impl)
    parts = []
    for (reason, ids), impls in groups.items():
        scope = "all workloads" if list(ids) == all_ids else ", ".join(ids)
        parts.append(f"{', '.join(impls)} on {scope}: {reason}")
    n = len(skipped)
    return f"skipped {n} of {len(rows)} rows: " + "; ".join(parts)


def format_table(rows: list[Row], header: list[str], compact: bool = False) -> str:
    """The results table; ``compact`` leaves skipped rows out and sums them up in one line."""
    out = list(header)
    summary = skip_summary(rows) if compact else None
    if compact:
        rows = [r for r in rows if not r.skipped]
    out.append("")
    out.append(
        f"{'workload':<15} {'implementation':<17} {'ops/s':>8} {'ns/op':>8} "
        f"{'MiB/s':>8} {'x base':>7}  {'(min-max)':<13}"
    )
    last = None
    for row in rows:
        w = row.workload
        label = w.id if w.id != last else ""
        last = w.id
        name = row.impl + (" *" if row.impl == w.baseline else "")
        if row.skipped:
            out.append(f"{label:<15} {name:<17} {'skipped: ' + row.skipped}")
            continue
        med = row.median
        ns = f"{1e9 / med:.0f}" if med else "-"
        mib = f"{med * w.bs / MiB:.0f}" if med and w.kind == "read" else ""
        if row.ratio:
            rm = statistics.median(row.ratio)
            rr = f"({min(row.ratio):.2f}-{max(row.ratio):.2f})"
            rs = f"{rm:.2f}"
        else:
            rs, rr = "-", ""
        out.append(f"{label:<15} {name:<17} {_fmt_rate(med):>8} {ns:>8} {mib:>8} {rs:>7}  {rr}")
    out.append("")
    out.append(
        "* baseline of the workload (NOP rows: the os.pread 4 KiB page-cache loop as "
        "anchor); x base = median over rounds of ops/s / baseline's ops/s in that round."
    )
    if summary:
        out.append(summary)
    # summary: uring_rs over each other implementation, same-round ratios
    by_w: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_w.setdefault(row.workload.id, {})[row.impl] = row
    cols = [c for c in COMPARE_WITH if any(c in d and not d[c].skipped for d in by_w.values())]
    has_head = any(HEADLINE in d and not d[HEADLINE].skipped for d in by_w.values())
    if cols and has_head:
        out.append("")
        out.append(
            f"{HEADLINE} speed over each implementation (median of same-round ratios; "
            ">1 = uring_rs faster):"
        )
        out.append(f"{'workload':<15} " + " ".join(f"{c:>16}" for c in cols))
        for wid, d in by_w.items():
            head = d.get(HEADLINE)
            cells = []
            for c in cols:
                v = paired_median(head, d[c]) if head and c in d else None
                cells.append(f"{v:>16.2f}" if v is not None else f"{'-':>16}")
            out.append(f"{wid:<15} " + " ".join(cells))
    return "\n".join(out)


def machine_info(env: Env | None, cfg: Config) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "uring_rs": uring_rs.__version__,
        "uring_rs_native": getattr(uring_rs._native, "__file__", None),
        "uring_rs_build": native_build_kind(),
        "pypi_liburing": getattr(pypi_liburing, "__version__", None) if pypi_liburing else None,
        "pypi_uring_api": _dist_version("uring-api") if pypi_uring_api else None,
        "runs": cfg.runs,
        "seconds_per_measurement": cfg.seconds,
        "quick": cfg.quick,
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if env is not None:
        info.update(
            data_dir=str(env.dir),
            fs=env.fstype,
            mount=env.mount,
            files={k: env.sizes[k] for k in env.paths},
            c_liburing=env.c_note,
            notes=env.notes,
        )
    return info


def _dist_version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001
        return None


def _header(info: dict[str, Any], impls: Sequence[str]) -> list[str]:
    files = [f"{k} file {v // MiB} MiB" for k, v in (info.get("files") or {}).items()]
    lines = [
        (
            f"uring_rs {info['uring_rs']} ({info['uring_rs_build']} build) on Python "
            f"{info['python']}, Linux {info['kernel']}, {info['cpus']} CPUs "
            f"({info.get('cpu', '?')}), load {info['loadavg'][0]:.2f} -> "
            f"{info.get('loadavg_end', info['loadavg'])[0]:.2f}"
        ),
        (
            f"{info['runs']} alternating rounds of {info['seconds_per_measurement']:g} s per "
            f"implementation; {', '.join(files) or 'no data files'} on {info.get('fs', '?')} "
            f"({info.get('mount', '?')})"
        ),
    ]
    if any(i.startswith("C ") for i in impls):
        lines.append(f"C liburing: {info.get('c_liburing') or '-'}")
    if any("PyPI" in i for i in impls):
        lines.append(
            f"PyPI: liburing {info['pypi_liburing'] or 'not installed'}, "
            f"uring-api {info['pypi_uring_api'] or 'not installed'}"
        )
    if info["uring_rs_build"] == "debug":
        lines.append(
            "WARNING: uring_rs is a DEBUG build: run `maturin develop --release` before measuring"
        )
    lines += [f"note: {n}" for n in info.get("notes", [])]
    return lines


def run_suite(cfg: Config) -> tuple[str, dict[str, Any]]:
    """Run the selected workloads x implementations; (table text, JSON-able results)."""
    if cfg.runs < 1:
        raise ValueError("runs must be >= 1")
    workloads = [w for w in WORKLOADS if not cfg.workloads or w.id in cfg.workloads]
    impls = [i for i in IMPLS if not cfg.impls or i.name in cfg.impls]
    if not workloads or not impls:
        raise ValueError("no workload or no implementation selected")
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    env = Env(cfg, workloads)
    try:
        verify_uring_rs(env)
        rows: list[Row] = []
        for i, w in enumerate(workloads, 1):
            cfg.log(
                f"  [{i}/{len(workloads)}] {w.id}: {w.title} "
                f"({time.perf_counter() - t_start:.0f} s so far)"
            )
            rows += run_workload(w, impls, env, cfg)
        info = machine_info(env, cfg)
    finally:
        env.close()
    info["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    info["loadavg_end"] = info["loadavg"]
    info["loadavg"] = load_start
    text = format_table(rows, _header(info, [i.name for i in impls]), compact=cfg.compact)
    result = {
        "info": info,
        "impls": {i.name: i.note for i in impls},
        "workloads": [
            {
                "id": w.id,
                "title": w.title,
                "kind": w.kind,
                "depth": w.depth,
                "bs": w.bs,
                "direct": w.direct,
                "pattern": w.pattern,
                "baseline": w.baseline,
                "results": {
                    r.impl: (
                        {"skipped": r.skipped}
                        if r.skipped
                        else {
                            "ops": r.ops,
                            "seconds": r.seconds,
                            "ops_per_s": r.rates,
                            "median_ops_per_s": r.median,
                            "ratio_vs_baseline": r.ratio,
                            "median_ratio_vs_baseline": (
                                statistics.median(r.ratio) if r.ratio else None
                            ),
                        }
                    )
                    for r in rows
                    if r.workload is w
                },
                "uring_rs_over": {
                    r.impl: paired_median(head, r)
                    for head in [
                        next((x for x in rows if x.workload is w and x.impl == HEADLINE), None)
                    ]
                    if head is not None
                    for r in rows
                    if r.workload is w and r.impl != HEADLINE
                },
            }
            for w in workloads
        ],
    }
    return text, result


def write_png(result: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib
        import matplotlib.ticker

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ws = [
        w
        for w in result["workloads"]
        if any(
            "median_ratio_vs_baseline" in r and r["median_ratio_vs_baseline"]
            for r in w["results"].values()
        )
    ]
    if not ws:
        return False
    cols = 2
    nrows = (len(ws) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(12, 2.6 * nrows), squeeze=False)
    for ax, w in zip(axes.flat, ws):
        names, vals = [], []
        for name, r in w["results"].items():
            v = r.get("median_ratio_vs_baseline")
            if v:
                names.append(name)
                vals.append(v)
        colors = [
            "tab:orange"
            if n.startswith("uring_rs")
            else "tab:gray"
            if n.startswith(("os.", "threads"))
            else "tab:blue"
            for n in names
        ]
        ax.barh(names[::-1], vals[::-1], color=colors[::-1])
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(
            f"{w['id']} (x {w['baseline']}{' anchor' if w['kind'] == 'nop' else ''})", fontsize=9
        )
        ax.tick_params(labelsize=7)
        for y, v in enumerate(vals[::-1]):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=6)
    for ax in list(axes.flat)[len(ws) :]:
        ax.axis("off")
    info = result["info"]
    fig.suptitle(
        f"uring_rs benchmark: ops/s over the same-round baseline (median of "
        f"{info['runs']}), {info['uring_rs_build']} build, {info['cpus']} CPUs",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


LOOP_POINT = (50, 64)  # connections x bytes of the quick event-loop echo row
LOOP_ROUNDS = 3
LOOP_SECONDS = 1.0


def loop_echo(log: Callable[[str], None]) -> tuple[str, dict[str, Any]]:
    """A short event-loop row: bench/loop/run.py's echo ping-pong (its C load generator,
    50 connections x 64 B) against a protocol server on ``uring_rs.Loop``, uvloop (when
    installed) and asyncio's loop, one process each, interleaved over 3 rounds; medians of
    round trips/s and of the server's CPU time per round trip, and the same-round ratio of
    uring_rs' CPU per round trip to each other's. The full benchmark is bench/loop/run.py."""
    sys.path.insert(0, str(BENCH_DIR / "loop"))
    try:
        loop_bench: Any = importlib.import_module("run")  # bench/loop/run.py
    finally:
        sys.path.pop(0)
    n, size = LOOP_POINT
    title = (
        f"event loop echo ({n} connections x {size} B, a Protocol server, C load generator; "
        f"medians of {LOOP_ROUNDS} rounds)"
    )
    built = loop_bench.build_c()
    if built["loadgen"] is not None:
        return f"{title}: skipped (cannot build the load generator: {built['loadgen']})", {}
    loops = ["uring_rs", "uvloop", "asyncio"]
    skipped = []
    if _optional("uvloop") is None:
        loops.remove("uvloop")
        skipped.append("uvloop (not installed: pip install uvloop)")
    cpu: dict[str, list[float]] = {lp: [] for lp in loops}
    rate: dict[str, list[float]] = {lp: [] for lp in loops}
    for rnd in range(LOOP_ROUNDS):
        for lp in loops if rnd % 2 == 0 else loops[::-1]:
            log(f"  event loop echo: round {rnd + 1}/{LOOP_ROUNDS}, {lp}")
            spec = loop_bench.py_server(lp, "protocol", "protocol", "uvloop protocol")
            srv = loop_bench.start_server(spec)
            try:
                m = loop_bench.measure_echo(srv, n, size, 0.3, LOOP_SECONDS)
            finally:
                srv.stop()
            cpu[lp].append(m["cpu_us_per_rt"])
            rate[lp].append(m["rt_per_s"])
    lines = [title + ":"]
    result: dict[str, Any] = {"point": [n, size], "loops": {}}
    for lp in loops:
        name = "uring_rs.Loop" if lp == "uring_rs" else lp
        line = (
            f"  {name:<14} {statistics.median(rate[lp]) / 1000:7.1f}k round trips/s  "
            f"{statistics.median(cpu[lp]):6.2f} us server CPU per round trip"
        )
        entry: dict[str, Any] = {
            "rt_per_s": statistics.median(rate[lp]),
            "cpu_us_per_rt": statistics.median(cpu[lp]),
        }
        if lp != "uring_rs":
            ratio = statistics.median(a / b for a, b in zip(cpu["uring_rs"], cpu[lp]))
            line += f"   uring_rs.Loop uses {ratio:.2f}x its CPU"
            entry["uring_rs_cpu_ratio"] = ratio
        lines.append(line)
        result["loops"][lp] = entry
    if skipped:
        lines.append("  skipped: " + ", ".join(skipped))
    return "\n".join(lines), result


def run_quick(
    log: Callable[[str], None] | None = None, out_dir: Path | None = None, compact: bool = False
) -> str:
    """The short suite (under a minute); returns the table text.

    ``log`` gets the progress lines (default: none). With ``out_dir``, the JSON results and
    the plot are written there as suite.json and suite.png, and the text ends with where
    they went (or why there is no plot). ``compact`` sums the skipped rows up in one line.
    """
    log = log or (lambda s: None)
    text, result = run_suite(Config.quick_defaults(log=log, compact=compact))
    loop_text, result["loop_echo"] = loop_echo(log)
    text += "\n\n" + loop_text
    if out_dir is None:
        return text
    return text + "\n\n" + write_results(result, out_dir / "suite.json", out_dir / "suite.png")


def write_results(result: dict[str, Any], json_path: Path, png_path: Path) -> str:
    """Writes the JSON results and the plot; returns a line saying where they went."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    if write_png(result, png_path):
        return f"wrote {json_path} and the plot {png_path}"
    why = (
        "matplotlib is not installed: pip install matplotlib"
        if _optional("matplotlib") is None
        else "no workload has a result to plot"
    )
    return f"wrote {json_path}; no plot ({why})"


# --------------------------------------------------------------------------- CLI


def parse_size(text: str) -> int:
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    units = {"k": KiB, "m": MiB, "g": GiB}
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="The uring_rs benchmark suite: workloads x implementations, side by side "
        "in one run. See the module docstring (or bench/README.md) for the method."
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="5 rounds of 0.08 s, 64 MiB cached / 128 MiB O_DIRECT files",
    )
    p.add_argument("--runs", type=int, help="rounds (>= 5 for quoted figures)")
    p.add_argument("--seconds", type=float, help="seconds of I/O per measurement")
    p.add_argument("--cached-size", type=parse_size, help="page-cached file size (256MiB)")
    p.add_argument("--direct-size", type=parse_size, help="O_DIRECT file size (1GiB)")
    p.add_argument("--dir", type=Path, help="where the temporary data dir goes (/var/tmp)")
    p.add_argument("--data-dir", type=Path, help="keep the data files here and reuse them")
    p.add_argument("--workloads", help="comma-separated ids: " + ",".join(w.id for w in WORKLOADS))
    p.add_argument("--impls", help="comma-separated names: " + ",".join(i.name for i in IMPLS))
    p.add_argument("--json", type=Path, default=OUT_DIR / "suite.json")
    p.add_argument("--png", type=Path, default=OUT_DIR / "suite.png")
    p.add_argument("--no-files", action="store_true", help="print only; write no JSON/PNG")
    p.add_argument(
        "--compact",
        action="store_true",
        help="one summary line for the skipped rows instead of a row each",
    )
    a = p.parse_args(argv)
    kw: dict[str, Any] = {}
    for k in ("runs", "seconds", "cached_size", "direct_size"):
        if getattr(a, k) is not None:
            kw[k] = getattr(a, k)
    kw["base_dir"] = a.dir
    kw["data_dir"] = a.data_dir
    if a.workloads:
        kw["workloads"] = [s.strip() for s in a.workloads.split(",") if s.strip()]
        unknown = set(kw["workloads"]) - {w.id for w in WORKLOADS}
        if unknown:
            p.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    if a.impls:
        kw["impls"] = [s.strip() for s in a.impls.split(",") if s.strip()]
        unknown = set(kw["impls"]) - {i.name for i in IMPLS}
        if unknown:
            p.error(f"unknown implementations: {', '.join(sorted(unknown))}")
    kw["compact"] = a.compact
    cfg = Config.quick_defaults(**kw) if a.quick else Config(**kw)
    if cfg.runs < 5:
        cfg.log(f"note: {cfg.runs} rounds: quote medians of >= 5")
    text, result = run_suite(cfg)
    print(text)
    if not a.no_files:
        print("\n" + write_results(result, a.json, a.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
