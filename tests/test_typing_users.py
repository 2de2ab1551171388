"""Small programs written the way a user would, type-checked with ``mypy --strict`` and run.

Each program must pass ``mypy --strict`` with no ``# type: ignore`` and no cast, and must
then run to completion against the real kernel (so the types describe code that works).
Another program makes mistakes a user makes; mypy must flag each of them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROGRAMS: dict[str, str] = {
    # Ring.__exit__ returns Literal[False]: a return inside `with` is the function's last word.
    "ring_in_with": """
        from uring_rs import Ring

        def sq_entries(n: int) -> int:
            with Ring(n) as r:
                return r.sq_entries

        assert sq_entries(8) == 8
    """,
    "read_a_file": """
        import os
        import tempfile

        from uring_rs import Ring, ops

        def read_head(path: str, n: int = 4096) -> bytes:
            fd = os.open(path, os.O_RDONLY)
            try:
                with Ring(8) as ring:
                    buf = bytearray(n)
                    ops.read(ring, 1, fd, buf, 0)
                    ring.submit(wait_nr=1)
                    cqe = ring.copy_cqe()
                    user_data, res, flags = cqe
                    assert user_data == 1 and flags == 0
                    return bytes(buf[: cqe.result()])
            finally:
                os.close(fd)

        with tempfile.NamedTemporaryFile() as f:
            f.write(b"hello io_uring")
            f.flush()
            assert read_head(f.name) == b"hello io_uring"
    """,
    "errors": """
        from __future__ import annotations

        import errno

        from uring_rs import AT_FDCWD, IoUringError, Ring, UringError, UringValueError, ops

        def open_missing() -> int | None:
            with Ring(4) as ring:
                ops.openat(ring, 1, AT_FDCWD, "/nonexistent/uring_rs/x")
                ring.submit(wait_nr=1)
                try:
                    return ring.copy_cqe().result()
                except FileNotFoundError as e:
                    assert e.errno == errno.ENOENT
                    return None

        def bad_size() -> IoUringError | None:
            try:
                Ring(3)
            except UringValueError as e:
                return e.kind
            return None

        def queue_too_many() -> IoUringError:
            with Ring(1) as ring:
                try:
                    for i in range(4):
                        ops.nop(ring, i)
                except UringError as e:
                    return e.kind
            raise AssertionError("the SQ never filled")

        assert open_missing() is None
        assert bad_size() is IoUringError.ENTRIES_NOT_POWER_OF_TWO
        assert queue_too_many() is IoUringError.SUBMISSION_QUEUE_FULL
    """,
    "batch": """
        import array
        import os
        import tempfile

        from uring_rs import Ring, ops

        def read_pages(path: str, pages: list[int]) -> list[int]:
            fd = os.open(path, os.O_RDONLY)
            try:
                with Ring(64) as ring:
                    buf = bytearray(4096 * len(pages))
                    offsets = array.array("q", [4096 * p for p in pages])
                    queued: int = ops.read_many(ring, 100, fd, buf, offsets, 4096)
                    ring.submit(wait_nr=queued)
                    ud = array.array("Q", bytes(8 * queued))
                    res = array.array("i", bytes(4 * queued))
                    n = ring.copy_cqes_into(ud, res, wait_nr=queued)
                    assert n == queued and sorted(ud) == list(range(100, 100 + queued))
                    return [buf[4096 * i] for i in range(len(pages))]
            finally:
                os.close(fd)

        with tempfile.NamedTemporaryFile() as f:
            f.write(b"".join(bytes([i]) * 4096 for i in range(4)))
            f.flush()
            assert read_pages(f.name, [3, 0, 2]) == [3, 0, 2]
    """,
    "buffer_ring": """
        import socket

        import uring_rs
        from uring_rs import BufferRing, Ring, ops

        def echo_through_provided_buffers(messages: list[bytes]) -> list[bytes]:
            got: list[bytes] = []
            a, b = socket.socketpair()
            with a, b, Ring(8) as ring:
                br = BufferRing(ring, 7, 4, 64)
                for i, msg in enumerate(messages):
                    sqe = ops.recv(ring, i, a, bytearray(0))
                    sqe.flags = uring_rs.IOSQE_BUFFER_SELECT
                    sqe.buf_group = br.group_id
                    ring.submit()
                    b.send(msg)
                    cqe = ring.copy_cqe()
                    if cqe.buffer_id is None:
                        raise RuntimeError(f"no buffer: {cqe}")
                    with br.get(cqe) as pb:
                        got.append(bytes(pb))
            return got

        assert echo_through_provided_buffers([b"a", b"bc", b"def"]) == [b"a", b"bc", b"def"]
    """,
    "probe_statx_version": """
        import os
        import tempfile

        import uring_rs
        from uring_rs import AT_FDCWD, Ring, Statx, ops

        def size_of(path: str) -> int:
            with Ring(4) as ring:
                probe = ring.probe()
                names: list[str] = probe.names()
                assert "READ" in names or "IORING_OP_READ" in names
                if not probe.supports(uring_rs.IORING_OP_STATX):
                    return os.stat(path).st_size
                st = Statx()
                ops.statx(ring, 1, AT_FDCWD, path, mask=uring_rs.STATX_SIZE, statxbuf=st)
                ring.submit(wait_nr=1)
                ring.copy_cqe().result()
                return st.size

        version: str = uring_rs.__version__
        assert version[0].isdigit()
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"x" * 123)
            f.flush()
            assert size_of(f.name) == 123
    """,
    "files_and_aio": """
        from __future__ import annotations

        import asyncio
        import tempfile
        from pathlib import Path

        import uring_rs

        async def head_and_size(path: Path) -> tuple[bytes, int]:
            data = await uring_rs.aio.read_bytes(path)
            async with uring_rs.aio.open(path, "rb") as f:
                head = await f.read(4)
            return head, len(data)

        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "src.bin"
            src.write_bytes(b"0123456789")
            dst: Path = uring_rs.copy_file(src, Path(d) / "dst.bin")
            blobs: list[bytes] = uring_rs.read_files([src, dst])
            mixed: list[bytes | OSError] = uring_rs.read_files(
                [src, Path(d) / "missing"], return_exceptions=True
            )
            assert blobs == [b"0123456789"] * 2 and isinstance(mixed[1], FileNotFoundError)
            assert asyncio.run(head_and_size(dst)) == (b"0123", 10)
    """,
}

# Mistakes a user makes, one a line; mypy --strict must report an error on each line listed.
MISTAKES = """
import uring_rs
from uring_rs import Ring, ops

with Ring(8) as r:
    r.sq_entries = 16
uring_rs.no_such_name
uring_rs.aio.no_such_function
ops.read(Ring(8), 1, 0, bytearray(8), "0")
version: int = uring_rs.__version__
"""
MISTAKE_LINES = {6, 7, 8, 9, 10}


def mypy(paths: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Run from a directory of its own with no config file, as in a user's project.
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", "", *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=None,
    )


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Writes every program and type-checks them in one mypy run (one start-up)."""
    root = tmp_path_factory.mktemp("users")
    files = []
    for name, source in PROGRAMS.items():
        path = root / f"{name}.py"
        path.write_text(textwrap.dedent(source).lstrip())
        files.append(path)
    proc = mypy(files, root)
    return root, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_user_program_passes_mypy_strict_and_runs(name: str, checked: tuple[Path, str]) -> None:
    root, output = checked
    errors = [line for line in output.splitlines() if line.startswith(f"{name}.py:")]
    assert not errors, "\n".join(errors)
    assert "Success" in output or "error" in output, output  # mypy really ran
    proc = subprocess.run(
        [sys.executable, str(root / f"{name}.py")],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_reports_each_user_mistake(tmp_path: Path) -> None:
    bad = tmp_path / "mistakes.py"
    bad.write_text(MISTAKES)
    proc = mypy([bad], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = {int(line.split(":")[1]) for line in proc.stdout.splitlines() if ": error:" in line}
    assert lines == MISTAKE_LINES, proc.stdout
