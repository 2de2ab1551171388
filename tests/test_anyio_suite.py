"""AnyIO's own test suite on uring_rs.Loop against asyncio's loop (tests/anyio_suite.py).

Runs when AnyIO and its test dependencies are importable by the interpreter that runs
AnyIO's tests: this one, or the one named by ``URING_RS_ANYIO_PYTHON`` (a venv made for
them, with uring_rs installed in it); skips with the missing module's name otherwise.
The ``test`` extra installs them (but truststore on Python 3.9, which it does not support:
there the suite is skipped). The run takes 2-3 minutes (about 3,500 tests, AnyIO's own
per-test timeout of 20 s).

Every test that passes on asyncio's loop must pass on uring_rs.Loop, except those in
``KNOWN``: loop bugs, each with a minimal reproducer in tests/test_loop_reliability.py
(a strict xfail while it is open). A known test that passes fails this test until it
leaves the list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio_suite
import pytest

RUNNER = Path(__file__).with_name("anyio_suite.py")

DEPS = [
    "anyio",
    "blockbuster",
    "hypothesis",
    "psutil",
    "pytest_mock",
    "pytest_timeout",
    "trustme",
    "truststore",
    "uring_rs",
]

# The node id up to its parameters -> the loop bug that makes it fail on uring_rs.Loop,
# each with a reproducer in tests/test_loop_reliability.py. Empty: the two found here
# (remove_reader of a closed socket, 13 UNIX socket tests; a failed sock_connect's
# exception kept in a cycle through its future, test_happy_eyeballs_refcycles) are fixed.
KNOWN: dict[str, str] = {}


def _python() -> str:
    return os.environ.get("URING_RS_ANYIO_PYTHON", sys.executable)


def _missing() -> list[str]:
    probe = (
        "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if not u.find_spec(m)])"
    )
    try:
        out = subprocess.run(
            [_python(), "-c", probe, *DEPS], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        return [f"(cannot run {_python()}: {exc})"]
    return out.stdout.split()


def test_anyio_suite_passes_on_uring_rs_where_it_passes_on_asyncio(tmp_path: Path) -> None:
    missing = _missing()
    if missing:
        pytest.skip(
            f"AnyIO's test dependencies are not importable by {_python()}: "
            f"{', '.join(missing)} (set URING_RS_ANYIO_PYTHON to a venv that has them)"
        )
    results = tmp_path / "anyio.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--python", _python(), "--json", str(results)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode == 2 or not results.exists():
        pytest.fail(f"the AnyIO runner could not run the suite:\n{done.stderr}{done.stdout}")
    outcomes: dict[str, dict[str, str]] = json.loads(results.read_text())
    assert any("[uring_rs" in n for n in outcomes), "no test ran on uring_rs.Loop"
    regressions = anyio_suite.find_regressions(outcomes)
    unknown = [n for n in regressions if n.split("[")[0] not in KNOWN]
    ours: dict[str, list[str]] = {}
    for n, e in outcomes.items():
        if "[uring_rs" in n and n.split("[")[0] in KNOWN:
            ours.setdefault(n.split("[")[0], []).append(e["outcome"])
    fixed = sorted(base for base, got in ours.items() if set(got) == {"passed"})
    summary = done.stdout[done.stdout.rfind("\nAnyIO ") :]
    assert unknown == [], f"pass on asyncio's loop, not on uring_rs.Loop:\n{summary}"
    assert fixed == [], f"known failures that pass now: take them off KNOWN: {fixed}"
