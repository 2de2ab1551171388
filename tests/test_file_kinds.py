"""Whole files, exactly: read_files, aio.read_bytes, AsyncBinaryFile.read(), text read()
and copy_file give what the built-in open().read() and shutil.copyfile give, for every
kind of file (regular, procfs, sysfs, FIFOs, character devices, files that grow or
shrink while read), and leak no descriptor when interrupted at any stage."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pytest
import uring_rs
from _support import run_python
from uring_rs import aio, copy_file, read_files

T = TypeVar("T")

SIZES = [0, 1, 4095, 4096, 16383, 16384, 65535, 65536, 65537, 131072, 131073, (1 << 20) + 3]


def builtin_read(path: str | Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def stable(path: str) -> bool:
    """The file exists, is readable and reads the same twice (a fixed content)."""
    try:
        return builtin_read(path) == builtin_read(path)
    except OSError:
        return False


PROCFS = ["/proc/kallsyms", "/proc/version", "/proc/filesystems", "/proc/self/cmdline"]
SYSFS = [
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/kernel/mm/transparent_hugepage/defrag",
    "/sys/devices/system/cpu/online",
    "/sys/devices/system/cpu/possible",
    "/sys/class/net/lo/mtu",
]


def pseudo_files() -> list[str]:
    """procfs files (st_size 0) and sysfs attributes whose st_size (4096) is not their
    length, that read the same twice."""
    found = []
    for path in PROCFS + SYSFS:
        if stable(path) and os.stat(path).st_size != len(builtin_read(path)):
            found.append(path)
    return found


PSEUDO = pseudo_files()
needs_pseudo = pytest.mark.skipif(not PSEUDO, reason="no stable procfs/sysfs file here (probed)")


async def aio_read_modes(path: str | Path) -> list[bytes]:
    """The file read through each aio path: read_bytes, read() of "rb" (default and
    unbuffered), read_text encoded back, and readline / async-for lines joined."""
    got = [await aio.read_bytes(path)]
    async with aio.open(path, "rb") as f:
        got.append(await f.read())
    async with aio.open(path, "rb", buffering=0) as f:
        got.append(await f.read())
    async with aio.open(path, "r", encoding="latin-1", newline="") as t:
        got.append((await t.read()).encode("latin-1"))
    async with aio.open(path, "rb") as f:
        got.append(b"".join([line async for line in f]))
    return got


# ---- regular files ------------------------------------------------------------------------


def test_regular_files_of_every_size(tmp_path: Path, descriptors: str) -> None:
    paths = []
    for size in SIZES:
        p = tmp_path / f"f{size}"
        p.write_bytes(os.urandom(size))
        paths.append(p)
    assert read_files(paths) == [builtin_read(p) for p in paths]

    async def main() -> None:
        for p in paths:
            assert await aio_read_modes(p) == [builtin_read(p)] * 5, p

    asyncio.run(main())
    for p in paths:
        copy_file(p, tmp_path / "copy")
        assert builtin_read(tmp_path / "copy") == builtin_read(p)


def test_a_file_that_grows_after_open_is_read_to_its_new_end(tmp_path: Path) -> None:
    async def main() -> None:
        for size, extra in [(0, 10), (100, 5000), (70_000, 70_000), (1 << 20, 3)]:
            p = tmp_path / "grows"
            p.write_bytes(os.urandom(size))
            async with aio.open(p, "rb") as f:  # its size is taken here
                with open(p, "ab") as w:  # noqa: ASYNC230 - the change under test, in between
                    w.write(os.urandom(extra))
                assert await f.read() == builtin_read(p)

    asyncio.run(main())


def test_a_file_that_shrinks_after_open_is_read_to_its_new_end(tmp_path: Path) -> None:
    async def main() -> None:
        for size, keep in [(100, 0), (70_000, 1000), (1 << 20, 65536)]:
            p = tmp_path / "shrinks"
            p.write_bytes(os.urandom(size))
            async with aio.open(p, "rb") as f:
                os.truncate(p, keep)
                assert await f.read() == builtin_read(p)

    asyncio.run(main())


@pytest.mark.parametrize("what", ["read_files", "copy_file"])
def test_a_file_growing_or_shrinking_during_the_call_gives_a_prefix(
    tmp_path: Path, what: str
) -> None:
    # A writer appends (then truncates) while the call runs: what comes back is always
    # the file as some sequential reader saw it: a prefix of its bytes at some time.
    p = tmp_path / "moving"
    block = os.urandom(1 << 16)
    p.write_bytes(block * 16)
    stop = threading.Event()

    def mutate() -> None:
        while not stop.is_set():
            with open(p, "ab") as f:
                for _ in range(8):
                    f.write(block)
            os.truncate(p, len(block) * 16)

    writer = threading.Thread(target=mutate)
    writer.start()
    try:
        for _ in range(20):
            if what == "read_files":
                (got,) = read_files([p])
            else:
                copy_file(p, tmp_path / "dst", chunk_size=1 << 16, depth=4)
                got = builtin_read(tmp_path / "dst")
            assert len(got) >= len(block) * 16
            assert len(got) % len(block) == 0 or len(got) > len(block) * 16
            assert got == (block * (len(got) // len(block) + 1))[: len(got)]
    finally:
        stop.set()
        writer.join()


# ---- procfs and sysfs ---------------------------------------------------------------------


@needs_pseudo
def test_procfs_and_sysfs_files_are_read_whole(descriptors: str) -> None:
    assert read_files(PSEUDO) == [builtin_read(p) for p in PSEUDO]

    async def main() -> None:
        for p in PSEUDO:
            assert await aio_read_modes(p) == [builtin_read(p)] * 5, p

    asyncio.run(main())


@needs_pseudo
def test_copy_file_of_procfs_and_sysfs_files_is_shutils_copy(tmp_path: Path) -> None:
    # Before: /proc/version copied 0 bytes (planned from st_size 0), and a sysfs
    # attribute (st_size 4096, a few bytes) spun forever: run it where a hang fails.
    proc = run_python(
        f"""
        import os, shutil, sys
        from uring_rs import copy_file
        for i, src in enumerate({PSEUDO!r}):
            copy_file(src, {str(tmp_path)!r} + f"/ours{{i}}")
            small = 7 if len(open(src, "rb").read()) < 65536 else 4093  # kallsyms: 5 MB
            copy_file(src, {str(tmp_path)!r} + f"/small{{i}}", chunk_size=small, depth=3)
            shutil.copyfile(src, {str(tmp_path)!r} + f"/theirs{{i}}")
        print("done")
        """,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout == "done\n", proc.stderr
    for i in range(len(PSEUDO)):
        theirs = builtin_read(tmp_path / f"theirs{i}")
        assert builtin_read(tmp_path / f"ours{i}") == theirs, PSEUDO[i]
        assert builtin_read(tmp_path / f"small{i}") == theirs, PSEUDO[i]
        assert theirs, PSEUDO[i]


def test_a_sysfs_size_larger_than_the_content_is_not_data(descriptors: str) -> None:
    path = next((p for p in SYSFS if stable(p)), None)
    if path is None:
        pytest.skip("no readable sysfs attribute here (probed)")
    assert os.stat(path).st_size > len(builtin_read(path))
    assert read_files([path]) == [builtin_read(path)]


# ---- FIFOs ---------------------------------------------------------------------------------


@contextlib.contextmanager
def fifo_writer(
    path: Path, chunks: list[bytes], delay: float = 0.05, start_after: float = 0.0
) -> Iterator[None]:
    """A thread that opens the FIFO for writing (after ``start_after`` s), writes each
    chunk with ``delay`` s between, and closes it."""

    def write() -> None:
        time.sleep(start_after)
        fd = os.open(path, os.O_WRONLY)  # blocks until a reader opened it
        try:
            for chunk in chunks:
                os.write(fd, chunk)
                time.sleep(delay)
        finally:
            os.close(fd)

    t = threading.Thread(target=write)
    t.start()
    try:
        yield
    finally:
        t.join(timeout=10)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    p = tmp_path / "fifo"
    os.mkfifo(p)
    return p


CHUNKS = [b"a" * 1000, b"b" * 1000, b"c" * 1000]


@pytest.mark.parametrize("start_after", [0.0, 0.1])
def test_read_files_of_a_fifo_waits_for_its_writer_and_reads_to_the_end(
    fifo: Path, tmp_path: Path, start_after: float, descriptors: str
) -> None:
    other = tmp_path / "other"
    other.write_bytes(b"other file")
    with fifo_writer(fifo, CHUNKS, start_after=start_after):
        got = read_files([other, fifo, other])
    assert got == [b"other file", b"".join(CHUNKS), b"other file"]


def test_read_files_direct_descriptors_never_enter_the_fd_table(
    fifo: Path, descriptors: str
) -> None:
    # While read_files waits for the FIFO's writer, the file is open: as an entry of the
    # ring's fixed-file table only (direct), or as a process descriptor too (plain).
    def open_names() -> set[str]:
        names = set()
        for fd in fds():
            with contextlib.suppress(OSError):
                names.add(os.readlink(f"/proc/self/fd/{fd}"))
        return names

    got: list[list[bytes]] = []
    reader = threading.Thread(target=lambda: got.append(read_files([fifo])))
    reader.start()
    time.sleep(0.2)  # the open is done and the read waits
    during = open_names()
    with fifo_writer(fifo, [b"data"]):
        reader.join(5)
    assert got == [[b"data"]]
    assert (str(fifo) in during) == (descriptors == "plain")


def test_a_fifo_whose_writer_writes_nothing_reads_empty(fifo: Path, descriptors: str) -> None:
    with fifo_writer(fifo, [], start_after=0.05):
        assert read_files([fifo]) == [b""]
    with fifo_writer(fifo, [], start_after=0.05):
        assert asyncio.run(aio.read_bytes(fifo)) == b""


@pytest.mark.parametrize("start_after", [0.0, 0.1])
def test_aio_reads_of_a_fifo_wait_for_the_writer_and_read_to_the_end(
    fifo: Path, start_after: float
) -> None:
    async def main() -> list[bytes]:
        got = []
        for mode in ("bytes", "read", "text", "lines"):
            with fifo_writer(fifo, CHUNKS, start_after=start_after):
                if mode == "bytes":
                    got.append(await aio.read_bytes(fifo))
                elif mode == "read":
                    async with aio.open(fifo, "rb") as f:
                        got.append(await f.read())
                elif mode == "text":
                    got.append((await aio.read_text(fifo, encoding="ascii")).encode())
                else:
                    async with aio.open(fifo, "rb") as f:
                        got.append(b"".join([line async for line in f]))
        return got

    assert asyncio.run(main()) == [b"".join(CHUNKS)] * 4


# ---- character devices ---------------------------------------------------------------------


@pytest.mark.parametrize("direct", [True, False])
def test_read_files_of_a_file_with_no_end_raises_memory_error(direct: bool) -> None:
    # /dev/zero never ends: the built-in read() runs out of memory, and so does
    # read_files, with MemoryError (not an abort), leaving nothing open.
    proc = run_python(
        f"""
        import os, resource
        import uring_rs.files
        uring_rs.files._READ_DIRECT = {direct}
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        before = set(os.listdir("/proc/self/fd"))
        try:
            uring_rs.read_files(["/dev/zero"])
        except MemoryError:
            print("MemoryError", set(os.listdir("/proc/self/fd")) == before)
        """,
        timeout=60,
    )
    assert proc.stdout == "MemoryError True\n", proc.stderr


def test_character_devices(tmp_path: Path, descriptors: str) -> None:
    assert read_files(["/dev/null"]) == [b""]

    async def main() -> None:
        assert await aio.read_bytes("/dev/null") == b""
        async with aio.open("/dev/zero", "rb") as f:
            assert await f.read(100_000) == bytes(100_000)  # a size limit: exactly that
            assert await f.read(5) == bytes(5)
        async with aio.open("/dev/zero", "rb", buffering=0) as f:
            assert await f.read(70_000) == bytes(70_000)
        async with aio.open("/dev/urandom", "rb") as f:
            assert len(await f.read(1 << 20)) == 1 << 20

    asyncio.run(main())
    dst = tmp_path / "dst"
    dst.write_bytes(b"old")
    copy_file("/dev/null", dst)
    assert dst.read_bytes() == b""


# ---- interruption at every stage: no descriptor leaked --------------------------------------


class Interrupted(Exception):
    pass


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raises Interrupted from a SIGALRM handler after ``seconds`` (as Ctrl-C would)."""
    armed = True

    def handler(signum: int, frame: FrameType | None) -> None:
        if armed:
            raise Interrupted

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def interrupted(fn: Callable[[], object], seconds: float) -> bool:
    try:
        with alarm(seconds):
            fn()
    except Interrupted:
        return True
    return False


def test_read_files_interrupted_at_any_stage_leaks_no_descriptor(
    tmp_path: Path, descriptors: str
) -> None:
    paths = []
    for i in range(2000):
        p = tmp_path / f"f{i}"
        p.write_bytes(os.urandom((i * 97) % 200_000))  # small, and larger than a slot
        paths.append(p)
    before = fds()
    hits = 0
    for k in range(40):  # interrupt at spread-out moments: opens, reads, closes in flight
        delay = 0.0002 + k * 0.0005
        hits += interrupted(lambda: read_files(paths, max_in_flight=64), delay)
        assert fds() == before, f"after an interruption at {delay * 1e3:.1f} ms"
    assert hits >= 10  # most runs were cut short somewhere


def test_read_files_interrupted_while_a_fifo_waits_for_its_writer(
    fifo: Path, descriptors: str
) -> None:
    before = fds()
    assert interrupted(lambda: read_files([fifo]), 0.1)  # no writer: waits
    assert fds() == before
    writer_fd = -1

    def partial() -> None:
        nonlocal writer_fd
        time.sleep(0.02)
        writer_fd = os.open(fifo, os.O_WRONLY)
        os.write(writer_fd, b"some")  # and stays open: the read in flight waits for more

    t = threading.Thread(target=partial)
    t.start()
    assert interrupted(lambda: read_files([fifo]), 0.2)
    t.join()
    os.close(writer_fd)
    assert fds() == before


def test_read_files_large_batch_interrupted_while_fifos_wait_leaks_nothing(
    tmp_path: Path, descriptors: str
) -> None:
    # 300 paths: two readers (this thread's and a helper thread's) share them; each
    # ends up waiting on one of the FIFOs (no writer). The interruption must stop
    # both, wherever the FIFOs went, and return with nothing left open.
    paths = [tmp_path / f"f{i}" for i in range(298)]
    for i, p in enumerate(paths):
        p.write_bytes(bytes([i % 256]) * (i * 13 % 5000))
    for name in ("fifo1", "fifo2"):
        os.mkfifo(tmp_path / name)
        paths.append(tmp_path / name)
    before = fds()
    t0 = time.monotonic()
    assert interrupted(lambda: read_files(paths), 0.3)
    assert time.monotonic() - t0 < 5  # both readers stopped: no wait for a writer
    assert fds() == before


def test_read_files_large_batch_reports_every_failure_in_order(
    tmp_path: Path, descriptors: str
) -> None:
    paths = [tmp_path / f"f{i}" for i in range(600)]
    for i, p in enumerate(paths):
        if i % 7:
            p.write_bytes(str(i).encode() * (i % 50))
    got = read_files(paths, return_exceptions=True)
    for i, (p, r) in enumerate(zip(paths, got)):
        if i % 7:
            assert r == p.read_bytes()
        else:
            assert isinstance(r, FileNotFoundError) and r.filename == os.fspath(p)


def test_copy_file_interrupted_at_any_stage_leaks_no_descriptor(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(16 << 20))
    before = fds()
    hits = 0
    for k in range(20):
        for chunk in (1 << 16, 2 << 20):  # one splice per chunk, and 256 KiB segments
            hits += interrupted(
                lambda c=chunk: copy_file(src, tmp_path / "dst", chunk_size=c),  # type: ignore[misc]
                0.0005 + k * 0.001,
            )
            assert fds() == before
    assert hits >= 5


@pytest.fixture(params=["kernel", "splice", "buffers"])
def transfer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """copy_file's three ways between regular files: the kernel's copy (copy_file_range,
    else sendfile), and where the kernel refuses both, the ring's splices through pipes or
    (where a pipe cannot be sized, F_SETPIPE_SZ) reads and writes through buffers; the
    module's own switches select them, so that each is exercised here."""
    monkeypatch.setattr(uring_rs.files, "_COPY_IN_KERNEL", request.param == "kernel")
    monkeypatch.setattr(uring_rs.files, "_COPY_SPLICE", request.param == "splice")
    return str(request.param)


def test_copy_file_between_filesystems(tmp_path: Path) -> None:
    # copy_file_range refuses to cross filesystems (EXDEV, Linux 5.19 on); sendfile does.
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no /dev/shm on a filesystem other than the test's temporary directory")
    data = os.urandom((3 << 20) + 5)
    src = shm / f"uring_rs-test-{os.getpid()}"
    try:
        src.write_bytes(data)
        assert copy_file(src, tmp_path / "dst") == tmp_path / "dst"
        assert builtin_read(tmp_path / "dst") == data
        copy_file(tmp_path / "dst", src)
        assert builtin_read(src) == data
    finally:
        src.unlink(missing_ok=True)


def test_copy_file_reserves_no_more_than_the_copy_fills(tmp_path: Path) -> None:
    # dst's blocks are reserved for the size src reports, and what the copy did not fill
    # is released: here the copy fails half-way (RLIMIT_FSIZE: EFBIG), and dst holds the
    # half and the blocks of the half, as shutil.copyfile leaves it.
    src = tmp_path / "src"
    src.write_bytes(os.urandom(16 << 20))
    r = run_python(
        f"""
        import errno, os, resource, signal, shutil, uring_rs
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, resource.RLIM_INFINITY))
        for name, copy in [("ours", uring_rs.copy_file), ("shutil", shutil.copyfile)]:
            dst = {str(tmp_path)!r} + "/" + name
            try:
                copy({str(src)!r}, dst)
            except OSError as e:
                assert e.errno == errno.EFBIG, e
                print(name, repr(e.filename), os.path.getsize(dst), os.stat(dst).st_blocks)
        """
    )
    assert r.returncode == 0, r.stderr
    ours, theirs = (line.split() for line in r.stdout.splitlines())
    assert ours[0] == "ours" and ours[1] == repr(str(src))
    assert int(ours[2]) == int(theirs[2]) == 8 << 20
    assert int(ours[3]) * 512 <= (8 << 20) + (1 << 20), "reserved blocks past the end kept"
    copy_file(src, tmp_path / "whole")
    assert os.stat(tmp_path / "whole").st_blocks * 512 <= (16 << 20) + (1 << 20)


@pytest.mark.parametrize(("chunk", "depth"), [(4096, 1), (1000, 7), (1 << 20, 4), (3 << 20, 2)])
def test_copy_file_both_ways_every_size(
    tmp_path: Path, transfer: str, chunk: int, depth: int
) -> None:
    for size in [1, 999, 4096, 65537, (1 << 20) + 3, (5 << 20) + 1]:
        src = tmp_path / "src"
        src.write_bytes(os.urandom(size))
        copy_file(src, tmp_path / "dst", chunk_size=chunk, depth=depth)
        assert builtin_read(tmp_path / "dst") == builtin_read(src), (transfer, size)


def test_copy_file_both_ways_interrupted_leaks_nothing(tmp_path: Path, transfer: str) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(16 << 20))
    before = fds()
    hits = 0
    for k in range(15):
        hits += interrupted(lambda: copy_file(src, tmp_path / "dst"), 0.0005 + k * 0.001)
        assert fds() == before
    assert hits >= 3
    copy_file(src, tmp_path / "dst")
    assert builtin_read(tmp_path / "dst") == builtin_read(src)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class FifoFeeder:
    """A writer thread for a FIFO: opens it (blocking until a reader has), writes a
    little and keeps it open until finish(), which also releases a writer still
    waiting in open() for a reader that never came."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)
        try:
            with contextlib.suppress(BrokenPipeError):
                os.write(fd, b"x" * 100)
            self.stop.wait(5)
        finally:
            os.close(fd)

    def finish(self) -> None:
        self.stop.set()
        while self.thread.is_alive():
            with contextlib.suppress(OSError):  # a reader for a writer still in open()
                os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
            self.thread.join(0.01)


@pytest.mark.parametrize("kind", ["regular", "big", "procfs", "fifo"])
def test_aio_reads_cancelled_at_every_step_leak_no_descriptor(
    tmp_path: Path, fifo: Path, kind: str
) -> None:
    if kind == "procfs" and not PSEUDO:
        pytest.skip("no stable procfs/sysfs file here (probed)")
    paths: dict[str, Path | str] = {
        "regular": tmp_path / "small",
        "big": tmp_path / "big",
        "procfs": PSEUDO[0] if PSEUDO else "",
        "fifo": fifo,
    }
    path = paths[kind]
    (tmp_path / "small").write_bytes(os.urandom(3000))
    (tmp_path / "big").write_bytes(os.urandom(3 << 20))

    async def reader(how: str) -> bytes:
        if how == "read_bytes":
            return await aio.read_bytes(path)
        if how == "lines":
            async with aio.open(path, "rb") as f:
                return b"".join([line async for line in f])
        async with aio.open(path, "r", encoding="latin-1") as t:
            return (await t.read()).encode("latin-1")

    async def main() -> None:
        ring = aio.get_ring()
        before = fds()
        for how in ("read_bytes", "lines", "text"):
            for steps in range(8):  # cancel after 0, 1, ... loop iterations
                writer = FifoFeeder(fifo) if kind == "fifo" else None
                task = asyncio.ensure_future(reader(how))
                for _ in range(steps):
                    await asyncio.sleep(0)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                deadline = time.monotonic() + 5
                while ring.pending and time.monotonic() < deadline:  # noqa: ASYNC110 - polls ring counters
                    await asyncio.sleep(0.001)
                if writer is not None:
                    writer.finish()
                assert fds() == before, (how, steps)

    run(main())


def test_exported() -> None:
    assert uring_rs.read_files is read_files
    assert callable(shutil.copyfile)
