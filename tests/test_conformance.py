"""CPython's own loop conformance tests, run against uring_rs.new_event_loop.

The work is done by tests/conformance.py (one process per test, a timeout per
test, the white-box skip list with its reasons); this wrapper runs it and
fails on any test that neither passed nor was skipped, naming each with the
line that says why. It skips while uring_rs has no event loop yet (issue 10).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import uring_rs

RUNNER = Path(__file__).with_name("conformance.py")


@pytest.mark.skipif(
    not hasattr(uring_rs, "new_event_loop"),
    reason="uring_rs has no new_event_loop yet: uring_rs.Loop (issue 10) is not built",
)
def test_cpython_loop_conformance(tmp_path: Path) -> None:
    report_path = tmp_path / "conformance.json"
    done = subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            "--loop",
            "uring_rs",
            "--jobs",
            "2",
            "--json",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode == 2 or not report_path.exists():
        pytest.fail(f"the conformance runner could not start:\n{done.stderr}{done.stdout}")
    report = json.loads(report_path.read_text())
    bad = [t for t in report["tests"] if t["outcome"] not in ("pass", "skip")]
    summary = "\n".join(f"  {t['outcome']}: {t['id']}: {t['reason']}" for t in bad)
    assert not bad, f"{len(bad)} of {report['total']} conformance tests did not pass:\n{summary}"
    # A skip is only acceptable with a reason: the white-box list, or the
    # test's own skipTest (test_internal_fds skips for non-selector loops).
    assert all(t["reason"] for t in report["tests"] if t["outcome"] == "skip")
