"""CPython's own loop conformance tests, run against uring_rs.new_event_loop.

The work is done by tests/conformance.py (one process per test, a timeout per
test, the white-box skip list with its reasons); this wrapper runs it and
fails on any test that neither passed nor was skipped, naming each with the
line that says why.

While the loop is built in steps, tests/conformance_pending.json lists, per
Python version, the tests a later step makes pass, each with what it waits
for. Any other test must pass; a listed test that passes fails this test
until it is taken off the list (as a strict xfail), so the list only shrinks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import uring_rs

RUNNER = Path(__file__).with_name("conformance.py")
PENDING = Path(__file__).with_name("conformance_pending.json")


def _pending() -> dict[str, str]:
    table: dict[str, dict[str, str]] = json.loads(PENDING.read_text())
    return table.get(f"{sys.version_info[0]}.{sys.version_info[1]}", {})


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
    pending = _pending()
    bad = [
        t
        for t in report["tests"]
        if t["outcome"] not in ("pass", "skip") and t["id"] not in pending
    ]
    summary = "\n".join(f"  {t['outcome']}: {t['id']}: {t['reason']}" for t in bad)
    assert not bad, f"{len(bad)} of {report['total']} conformance tests did not pass:\n{summary}"
    fixed = sorted(
        t["id"] for t in report["tests"] if t["outcome"] == "pass" and t["id"] in pending
    )
    assert not fixed, (
        "these now pass: take them off tests/conformance_pending.json:\n  " + "\n  ".join(fixed)
    )
    # A skip is only acceptable with a reason: the white-box list, or the
    # test's own skipTest (test_internal_fds skips for non-selector loops).
    assert all(t["reason"] for t in report["tests"] if t["outcome"] == "skip")
