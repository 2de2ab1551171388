"""AnyIO's own test suite, run on asyncio's loop and on uring_rs.Loop in one pytest session.

Usage (one command)::

    python tests/anyio_suite.py [--cache DIR] [--json FILE] [-- extra pytest args]

The interpreter that runs this must have AnyIO installed with its test dependencies (the
``test`` dependency group of AnyIO's pyproject.toml: blockbuster, hypothesis, psutil,
pytest, pytest-mock, pytest-timeout, trustme, truststore, uvloop) and uring_rs. The sdist of
the installed AnyIO version is downloaded with ``pip download`` into the cache directory
(default ``~/.cache/uring_rs-anyio``) and unpacked there if it is absent, so the tests are
the ones written for the AnyIO being imported.

How the loop is chosen: AnyIO's tests take the backend from the ``anyio_backend`` fixture
of their ``tests/conftest.py``, parametrized over ``asyncio_params`` (which several test
modules also import for their own ``parametrize``). The unpacked conftest gets a block
appended that rebuilds that list in place, before any test module imports it: every
asyncio parameter AnyIO defines for asyncio's own loop (``asyncio``, and ``asyncio+eager``
on 3.12+) is kept and gets a twin with the same options plus
``loop_factory=uring_rs.new_event_loop`` (``uring_rs``, ``uring_rs+eager``); the uvloop
parameter is dropped (it is neither loop). The ``anyio_backend`` fixture is redefined over
the new list. So each backend-parametrized test runs twice in the same session, as
``test[asyncio...]`` and ``test[uring_rs...]``, with identical options (AnyIO runs its
asyncio tests with ``debug=True``; so do we).

The comparison pairs each ``uring_rs`` test with its ``asyncio`` twin (the node id with
``uring_rs`` replaced by ``asyncio``). It prints both loops' counts, every test that passes
on asyncio but not on uring_rs with its failure, and closes with::

    anyio: N passed, N failed

counting the uring_rs twins: passed, and failed (failed or errored) among those whose
asyncio twin passed. Tests that are not parametrized over the backend (plain sync tests,
trio-only ones, ``["asyncio"]``-only ones) run once on asyncio's loop and are reported
apart. Exit status: 0 when every test that passes on asyncio passes on uring_rs, 1 when
some does not, 2 when the suite could not be run.

This module is also the pytest plugin that records the outcomes (loaded with ``-p``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PATCH_MARK = "# --- appended by uring_rs tests/anyio_suite.py ---"

# Appended to AnyIO's tests/conftest.py. It relies on the names that conftest defines
# (asyncio_params, backend_params); if a future AnyIO renames them the run fails at
# collection with this message, instead of silently testing asyncio's loop twice.
CONFTEST_PATCH = (
    PATCH_MARK
    + """
import uring_rs as _uring_rs

for _name in ("asyncio_params", "backend_params"):
    if _name not in globals():
        raise RuntimeError(
            f"uring_rs anyio_suite: AnyIO's conftest has no {_name}; update the patch"
        )


def _uring_rs_eager_loop_factory():
    loop = _uring_rs.new_event_loop()
    loop.set_task_factory(asyncio.eager_task_factory)
    return loop


def _uring_rs_twin(param):
    backend, options = param.values[0]
    factory = options.get("loop_factory")
    if factory is None:
        factory = _uring_rs.new_event_loop
    elif getattr(factory, "__name__", "") == "eager_task_loop_factory":
        factory = _uring_rs_eager_loop_factory
    else:
        return None
    return pytest.param(
        (backend, {**options, "loop_factory": factory}),
        marks=param.marks,
        id=param.id.replace("asyncio", "uring_rs", 1),
    )


_ours = []
for _param in asyncio_params:
    _backend, _options = _param.values[0]
    _factory = _options.get("loop_factory")
    if _factory is not None and getattr(_factory, "__name__", "") != "eager_task_loop_factory":
        continue  # uvloop / winloop: neither loop under comparison
    _ours.append(_param)
    _ours.append(_uring_rs_twin(_param))
if not any(p.id == "uring_rs" for p in _ours):
    raise RuntimeError("uring_rs anyio_suite: AnyIO's conftest has no plain asyncio param")
asyncio_params[:] = _ours
backend_params[:] = _ours + [
    p for p in backend_params if not isinstance(p.values[0], tuple)
]


@pytest.fixture(params=backend_params)
def anyio_backend(request):
    return request.param
"""
)

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "uring_rs-anyio"
RESULTS_ENV = "URING_RS_ANYIO_RESULTS"


# ---------------------------------------------------------------- the pytest plugin half


_outcomes: dict[str, dict[str, str]] = {}


def pytest_runtest_logreport(report: Any) -> None:
    entry = _outcomes.setdefault(report.nodeid, {"outcome": "passed", "detail": ""})
    if hasattr(report, "wasxfail"):
        entry["outcome"] = "xfailed" if report.skipped else "xpassed"
        return
    if report.failed:
        entry["outcome"] = "failed" if report.when == "call" else "error"
        text = str(report.longreprtext)
        entry["detail"] += f"[{report.when}] {text}\n"
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
        longrepr = report.longrepr
        entry["detail"] = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    path = os.environ.get(RESULTS_ENV)
    if path:
        Path(path).write_text(json.dumps(_outcomes, indent=1))


# ---------------------------------------------------------------- fetching and patching


def installed_anyio_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('anyio'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def prepare_tree(cache: Path, version: str, python: str) -> Path:
    """The unpacked, patched sdist of AnyIO ``version`` (downloaded if absent)."""
    cache.mkdir(parents=True, exist_ok=True)
    tree = cache / f"anyio-{version}"
    if not (tree / "tests" / "conftest.py").exists():
        sdist = cache / f"anyio-{version}.tar.gz"
        if not sdist.exists():
            subprocess.run(
                [
                    python,
                    "-m",
                    "pip",
                    "download",
                    "--no-binary",
                    ":all:",
                    "--no-deps",
                    "-d",
                    str(cache),
                    f"anyio=={version}",
                ],
                check=True,
            )
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                target = (cache / member.name).resolve()
                if not target.is_relative_to(cache.resolve()) or member.issym() or member.islnk():
                    raise RuntimeError(f"unexpected member in {sdist}: {member.name}")
            if hasattr(tarfile, "data_filter"):  # 3.12, and 3.9-3.11 security releases
                tar.extractall(cache, filter="data")
            else:
                tar.extractall(cache)
    conftest = tree / "tests" / "conftest.py"
    text = conftest.read_text()
    if PATCH_MARK not in text:
        conftest.write_text(text + "\n" + CONFTEST_PATCH)
    return tree


# ---------------------------------------------------------------- running and comparing


def _localhost_lacks_ipv6() -> bool:
    """True when ``localhost`` has no ::1 although ::1 works (an /etc/hosts without the
    ``::1 localhost`` line): AnyIO's ipv6 tests bind ``("localhost", 0)`` with AF_INET6."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False  # no IPv6 at all: AnyIO skips its ipv6 tests itself
    try:
        socket.getaddrinfo("localhost", 0, socket.AF_INET6)
    except socket.gaierror:
        return True
    return False


def hosts_wrapper(cache: Path) -> list[str]:
    """A command prefix that runs pytest with ``::1 localhost`` added to /etc/hosts, in a
    private mount namespace (nothing changes outside it), when this machine's hosts file
    lacks it and ``unshare`` can do that (root); else an empty prefix."""
    if not _localhost_lacks_ipv6():
        return []
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("note: localhost has no ::1 here, so AnyIO's ipv6 tests fail on both loops")
        return []
    hosts = cache / "hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + "\n::1 localhost ip6-localhost\n")
    print("note: localhost has no ::1 in /etc/hosts: pytest runs with it added, in a private")
    print("      mount namespace (unshare --mount, a bind mount over /etc/hosts)")
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(hosts)]


def run_suite(tree: Path, python: str, results: Path, extra: list[str], prefix: list[str]) -> int:
    env = {
        **os.environ,
        RESULTS_ENV: str(results),
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    cmd = [*prefix, python, "-m", "pytest", "-p", "anyio_suite", "-p", "no:cacheprovider", "-q"]
    cmd += ["--tb=short", *extra]
    print("+ (cd", tree, "&&", " ".join(cmd) + ")", flush=True)
    return subprocess.run(cmd, cwd=tree, env=env, check=False).returncode


_PARAM = re.compile(r"\[(.*)\]$")


def _twin(nodeid: str) -> str | None:
    """The asyncio twin's node id of a uring_rs test, or None if ``nodeid`` is not one."""
    m = _PARAM.search(nodeid)
    if not m or "uring_rs" not in m.group(1):
        return None
    return nodeid[: m.start(1)] + m.group(1).replace("uring_rs", "asyncio") + "]"


def _count(entries: Iterator[dict[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["outcome"]] = counts.get(e["outcome"], 0) + 1
    return counts


def _fmt(counts: dict[str, int]) -> str:
    order = ["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in order if counts.get(k) or k == "failed")


def find_regressions(outcomes: dict[str, dict[str, str]]) -> list[str]:
    """The uring_rs tests that did not pass although their asyncio twin passed."""
    out = []
    for n in sorted(outcomes):
        t = _twin(n)
        if t is None:
            continue
        if outcomes.get(t, {}).get("outcome") == "passed" and outcomes[n]["outcome"] != "passed":
            out.append(n)
    return out


def compare(outcomes: dict[str, dict[str, str]]) -> tuple[int, int, list[str]]:
    """Prints the comparison; returns (uring_rs passed, regressions, regression ids)."""
    ours = {n: _twin(n) for n in outcomes}
    pairs = {n: t for n, t in ours.items() if t is not None}
    twins = set(pairs.values())
    missing = sorted(n for n, t in pairs.items() if t not in outcomes)
    if missing:
        print(f"{len(missing)} uring_rs tests have no asyncio twin (first: {missing[0]})")
    others = [e for n, e in outcomes.items() if n not in pairs and n not in twins]
    asyncio_side = _count(outcomes[t] for t in twins if t in outcomes)
    uring_side = _count(outcomes[n] for n in pairs)
    print(f"asyncio's loop : {_fmt(asyncio_side)}")
    print(f"uring_rs.Loop  : {_fmt(uring_side)}")
    print(f"not parametrized over the loop (asyncio's loop or none): {_fmt(_count(iter(others)))}")

    regressions = find_regressions(outcomes)
    gains = [
        n
        for n, t in sorted(pairs.items())
        if outcomes[n]["outcome"] == "passed" and outcomes.get(t, {}).get("outcome") != "passed"
    ]
    if gains:
        print(f"\n{len(gains)} pass on uring_rs but not on asyncio:")
        for n in gains:
            print(f"  {n}  (asyncio: {outcomes.get(pairs[n], {}).get('outcome', 'not run')})")
    if regressions:
        print(f"\n{len(regressions)} pass on asyncio's loop but not on uring_rs.Loop:")
        for n in regressions:
            print(f"\n--- {n}: {outcomes[n]['outcome']}")
            detail = outcomes[n]["detail"].strip().splitlines()
            print("\n".join("    " + line for line in detail[-40:]))
    else:
        print("\nevery test that passes on asyncio's loop passes on uring_rs.Loop")
    return uring_side.get("passed", 0), len(regressions), regressions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, help="write the per-test outcomes here")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run AnyIO on")
    parser.add_argument(
        "--no-hosts-fix",
        action="store_true",
        help="run AnyIO's tests with this machine's /etc/hosts even if localhost lacks ::1",
    )
    parser.add_argument(
        "--from-json", type=Path, help="do not run: compare the outcomes a --json run wrote"
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    args = parser.parse_args(argv)
    if args.from_json:
        passed, failed, _ = compare(json.loads(args.from_json.read_text()))
        print(f"anyio: {passed} passed, {failed} failed")
        return 1 if failed else 0

    start = time.monotonic()
    try:
        version = installed_anyio_version(args.python)
        tree = prepare_tree(args.cache, version, args.python)
    except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
        print(f"anyio_suite: cannot prepare AnyIO's tests: {exc}", file=sys.stderr)
        return 2
    results = args.json or (args.cache / f"results-{version}.json")
    results.unlink(missing_ok=True)
    prefix = [] if args.no_hosts_fix else hosts_wrapper(args.cache)
    code = run_suite(tree, args.python, results, args.pytest_args, prefix)
    if not results.exists():
        print(f"anyio_suite: pytest exited {code} without results", file=sys.stderr)
        return 2
    outcomes: dict[str, dict[str, str]] = json.loads(results.read_text())
    print(f"\nAnyIO {version}, {len(outcomes)} tests, {time.monotonic() - start:.0f} s")
    passed, failed, _ = compare(outcomes)
    print(f"anyio: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
