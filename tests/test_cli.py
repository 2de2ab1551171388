"""``python -m uring_rs``: info, bench, --help, and a reader that goes away."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import uring_rs
from _support import REPO


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uring_rs", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_info_names_the_version_the_kernel_and_the_opcodes() -> None:
    proc = cli("info")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"uring_rs {uring_rs.__version__} on Python ")
    assert lines[1].startswith(f"kernel: {uring_rs.kernel_release()} ")
    assert any(line.startswith("opcodes supported (") for line in lines)


def test_no_command_means_info() -> None:
    assert cli().stdout == cli("info").stdout


def test_info_into_a_closed_pipe_ends_quietly() -> None:
    # `python -m uring_rs info | head -0`: the reader is gone before anything is written.
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "uring_rs", "info"],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=REPO,
        )
    finally:
        os.close(w)
    assert proc.stderr == ""
    assert proc.returncode == 141  # as a process killed by SIGPIPE


@pytest.mark.parametrize("args", [["--help"], ["info", "--help"], ["bench", "--help"]])
def test_help_is_plain_text(args: list[str]) -> None:
    proc = cli(*args)
    assert proc.returncode == 0
    assert "``" not in proc.stdout and "`" not in proc.stdout, proc.stdout
    if args == ["--help"]:
        assert "python -m uring_rs info" in proc.stdout
        assert "python -m uring_rs bench" in proc.stdout


def test_unknown_command_is_a_usage_error() -> None:
    proc = cli("nope")
    assert proc.returncode == 2
    assert "invalid choice: 'nope'" in proc.stderr


# --------------------------------------------------------------------------- bench/suite.py


@pytest.fixture(scope="module")
def suite() -> ModuleType:
    path = REPO / "bench" / "suite.py"
    spec = importlib.util.spec_from_file_location("uring_rs_bench_suite_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_skip_summary_groups_rows_by_reason_and_place(suite: ModuleType) -> None:
    w1, w2 = suite.WORKLOADS[0], suite.WORKLOADS[2]
    rows = []
    for w in (w1, w2):
        for impl in ("uring_rs", "C liburing", "C pread"):
            row = suite.Row(w, impl)
            if impl != "uring_rs":
                row.skipped = "liburing-dev is not installed"
            rows.append(row)
    nop_only = suite.Row(w1, "threads(8)")
    nop_only.skipped = "no NOP"
    rows.append(nop_only)
    assert suite.skip_summary(rows) == (
        f"skipped 5 of 7 rows: C liburing, C pread on all workloads: "
        f"liburing-dev is not installed; threads(8) on {w1.id}: no NOP"
    )
    assert suite.skip_summary([suite.Row(w1, "uring_rs")]) is None


def test_a_tiny_compact_run_logs_progress_and_sums_up_skips(
    suite: ModuleType, tmp_path: Path
) -> None:
    log: list[str] = []
    cfg = suite.Config(
        runs=1,
        seconds=0.01,
        cached_size=1 << 20,
        base_dir=tmp_path,
        workloads=["nop-1"],
        impls=["os.pread", "os.preadv", "uring_rs"],
        log=log.append,
        compact=True,
    )
    text, result = suite.run_suite(cfg)
    assert any("[1/1] nop-1" in line for line in log), log
    assert "skipped 1 of 3 rows: os.preadv on all workloads: no NOP" in text
    table = [line for line in text.splitlines() if line.startswith(("nop-1", " " * 15))]
    assert not any("skipped:" in line for line in table), text
    assert result["workloads"][0]["results"]["uring_rs"]["ops"][0] > 0
    note = suite.write_results(result, tmp_path / "out" / "s.json", tmp_path / "out" / "s.png")
    assert (tmp_path / "out" / "s.json").is_file()
    assert note.startswith(f"wrote {tmp_path / 'out' / 's.json'}")
    assert ("and the plot" in note) == (tmp_path / "out" / "s.png").is_file()
