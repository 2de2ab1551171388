"""The typed surface: stubtest checks the stub against the built extension, and
mypy --strict passes over the package and the tests (run as subprocesses)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _support import REPO

ALLOWLIST = REPO / "stubtest-allowlist.txt"
# The buffer protocol's dunders exist at runtime only from Python 3.12: an allowlist entry
# for them would be reported as unused there.
ALLOWLIST_BEFORE_312 = REPO / "stubtest-allowlist-before-3.12.txt"


def allowlists() -> list[str]:
    files = [ALLOWLIST] + ([ALLOWLIST_BEFORE_312] if sys.version_info < (3, 12) else [])
    return [arg for f in files for arg in ("--allowlist", str(f))]


def run(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args, "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A private mypy cache: other checkouts' runs must not race on .mypy_cache.
    return tmp_path_factory.mktemp("mypy_cache")


def stubtest(modules: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    # stubtest takes no --cache-dir of its own; it reads mypy's from a config file.
    config = cache / "stubtest.ini"
    # implicit_reexport = False: the stubtest of mypy 1.x (the last mypy that runs on Python
    # 3.9) otherwise checks every name a module imports (typing.Any, ...) as if it exported
    # it; mypy 2's stubtest skips them either way.
    config.write_text(f"[mypy]\ncache_dir = {cache / 'stubtest'}\nimplicit_reexport = False\n")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            *modules,
            *allowlists(),
            "--mypy-config-file",
            str(config),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_stubtest_passes_for_the_native_stub_ops_and_errors(cache: Path) -> None:
    proc = stubtest(["uring_rs._native", "uring_rs.ops", "uring_rs._errors"], cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stubtest_passes_for_the_whole_package(cache: Path) -> None:
    proc = stubtest(["uring_rs"], cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_passes_on_the_package_and_the_tests(cache: Path) -> None:
    proc = run(["mypy", "--strict", "python/uring_rs", "tests"], cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_mypy_strict_rejects_misuse_of_the_api(tmp_path: Path, cache: Path) -> None:
    # The stub is real types, not Any: wrong arguments are caught statically.
    bad = tmp_path / "bad.py"
    bad.write_text(
        textwrap.dedent(
            """
            from uring_rs import Ring, ops

            ring = Ring(8)
            ops.read(ring, 1, 0, "not a buffer", 0)
            ops.openat(ring, 1, -100, 42)
            n: str = ring.submit()
            ring.copy_cqes(wait_nr="1")
            cqe = ring.copy_cqe()
            cqe.res = 3
            """
        )
    )
    proc = run(["mypy", "--strict", str(bad)], cache)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert {int(line.split(":")[1]) for line in errors} == {5, 6, 7, 8, 10}, proc.stdout


def test_mypy_strict_accepts_the_api_md_example(tmp_path: Path, cache: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text(
        textwrap.dedent(
            """
            import os
            from uring_rs import Cqe, Ring, UringError, IoUringError, ops

            with Ring(64) as ring:
                fd = os.open("data.bin", os.O_RDONLY)
                buf = bytearray(4096)
                sqe = ops.read(ring, 7, fd, buf, 0)
                sqe.flags = 0
                ring.submit(wait_nr=1)
                (cqe,) = ring.copy_cqes()
                assert cqe.user_data == 7 and cqe.result() == 4096
                user_data, res, flags = cqe
                more: bool = cqe.more
                bid: int | None = cqe.buffer_id
                try:
                    Ring(3)
                except UringError as e:
                    kind: IoUringError = e.kind
            """
        )
    )
    proc = run(["mypy", "--strict", str(good)], cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
