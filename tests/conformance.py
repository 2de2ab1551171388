"""Run CPython's own event-loop conformance tests against a loop factory.

The tests come from the running interpreter's ``test.test_asyncio`` package
(pyenv builds ship it; on Debian it is ``libpython3.X-testsuite``), so the
suite always matches the Python under test. Four of its mixins describe what
any asyncio loop must do, and they are bound here to the factory named on the
command line:

- ``test_events.EventLoopTestsMixin`` with ``test_events.SubprocessTestsMixin``
- ``test_sock_lowlevel.BaseSockTestsMixin``
- ``test_server.BaseStartServer``
- ``test_buffered_proto.BaseTestBufferedProtocol``

Every test runs in its own interpreter (and its own session, so a test's
children die with it) under a timeout, so a hang or a crash is a result, not
the end of the run.

    python tests/conformance.py --loop asyncio            # the reference: 85/85 on 3.11.7
    python tests/conformance.py --loop uvloop -j 2 -v
    python tests/conformance.py --loop uring_rs --json report.json
    python tests/conformance.py --loop mypkg.loops:make_loop -k sock_
    python tests/conformance.py --loop uring_rs --list

Outcomes: pass, fail, error, skip, timeout (and crash: the child died without
reporting, e.g. a segfault). The last line is ``conformance: N passed, N
failed, N skipped`` where "failed" counts fail + error + timeout + crash. Exit
status: 0 when nothing failed, 1 when something did, 2 when the run could not
start (no test package, no such loop factory).

The mixins hold 88 tests on Python 3.11.7. Three of them are white-box tests
of CPython's own loop internals (see ``SKIPS``) and are skipped, with their
reason, for every loop: that leaves 85, which asyncio's own loop passes.
``--no-skip`` runs the three too (asyncio's loop passes all 88). Measured on
3.11.7: uvloop 0.23.0 passes 63, rloop 0.5.0 passes 42. ``test_internal_fds``
skips itself on loops that are not a ``BaseSelectorEventLoop``. Other versions
(asyncio's loop, all passing): 3.9 has 83 tests, 3.10 85, 3.12 89, 3.13 90.

One harness adaptation: the stdlib cleanup (``utils.TestCase.close_loop``) reads
``loop._default_executor``; a loop without it is shut down through the public
``shutdown_default_executor()`` instead (see ``_close_loop_via``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, cast

# Short names for the loops people compare against; anything else is given as
# "module:callable" (or "module.callable").
KNOWN_LOOPS: dict[str, str] = {
    "asyncio": "asyncio:new_event_loop",
    "uvloop": "uvloop:new_event_loop",
    "rloop": "rloop:new_event_loop",
    "uring_rs": "uring_rs:new_event_loop",
}

# (harness class, mixin test name) -> reason. These three test CPython's loop
# implementation rather than loop behaviour: no loop that is not
# asyncio.BaseEventLoop's own code can pass them, whatever it does right.
SKIPS: dict[tuple[str, str], str] = {
    ("EventLoopTests", "test_create_server_multiple_hosts_ipv4"): (
        "white-box: patches asyncio.base_events.socket (a name only BaseEventLoop.create_server "
        "looks up) and stubs loop._start_serving/_stop_serving; the sockets it asserts on are "
        "mocks with a getsockbyname() method that real sockets lack"
    ),
    ("EventLoopTests", "test_create_server_multiple_hosts_ipv6"): (
        "white-box: patches asyncio.base_events.socket (a name only BaseEventLoop.create_server "
        "looks up) and stubs loop._start_serving/_stop_serving; the sockets it asserts on are "
        "mocks with a getsockbyname() method that real sockets lack"
    ),
    ("EventLoopTests", "test_timeout_rounding"): (
        "white-box: replaces loop._run_once to count BaseEventLoop iterations and reads "
        "loop._clock_resolution and loop._selector; a loop whose iteration is not a Python "
        "_run_once has nothing to count"
    ),
}

# Harness class -> (module under test.test_asyncio, mixin names, hook that builds the loop).
# EventLoopTestsMixin and BaseSockTestsMixin call create_event_loop();
# FunctionalTestCaseMixin (the base of the other two) calls new_loop().
HARNESS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "EventLoopTests": (
        "test_events",
        ("EventLoopTestsMixin", "SubprocessTestsMixin"),
        "create_event_loop",
    ),
    "SockTests": ("test_sock_lowlevel", ("BaseSockTestsMixin",), "create_event_loop"),
    "StartServerTests": ("test_server", ("BaseStartServer",), "new_loop"),
    "BufferedProtocolTests": ("test_buffered_proto", ("BaseTestBufferedProtocol",), "new_loop"),
}

OUTCOMES = ("pass", "fail", "error", "skip", "timeout", "crash")
FAILING = ("fail", "error", "timeout", "crash")


class SetupError(Exception):
    """The run cannot start; the message says why."""


def resolve_spec(loop: str) -> str:
    spec = KNOWN_LOOPS.get(loop, loop)
    if ":" not in spec:
        if "." not in spec:
            raise SetupError(
                f"--loop {loop!r}: expected one of {', '.join(KNOWN_LOOPS)} or module:callable"
            )
        mod, _, attr = spec.rpartition(".")
        spec = f"{mod}:{attr}"
    return spec


def load_factory(spec: str) -> Callable[[], Any]:
    mod_name, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise SetupError(f"cannot import {mod_name!r} for --loop {spec}: {exc}") from exc
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            if mod_name == "uring_rs" and attr == "new_event_loop":
                version = getattr(mod, "__version__", "?")
                raise SetupError(
                    f"uring_rs {version} (from {getattr(mod, '__file__', '?')}) has no "
                    "new_event_loop: uring_rs.Loop (issue 10) is not built yet"
                )
            raise SetupError(f"{obj!r} has no attribute {part!r} (--loop {spec})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SetupError(f"--loop {spec}: {obj!r} is not callable")
    return cast("Callable[[], Any]", obj)


def import_suite() -> dict[str, Any]:
    """The four test.test_asyncio modules, or SetupError saying how to get them."""
    mods: dict[str, Any] = {}
    for name in sorted({m for m, _, _ in HARNESS.values()}):
        try:
            mods[name] = importlib.import_module(f"test.test_asyncio.{name}")
        except ImportError as exc:
            v = f"{sys.version_info[0]}.{sys.version_info[1]}"
            raise SetupError(
                f"this interpreter ({sys.executable}, Python {platform.python_version()}) has no "
                f"test.test_asyncio.{name} ({exc}); use a full CPython build (pyenv ships the "
                f"test suite) or install Debian's libpython{v}-testsuite"
            ) from exc
    return mods


def build_classes(factory: Callable[[], Any], skips: dict[tuple[str, str], str]) -> dict[str, type]:
    """The harness TestCase classes, each bound to `factory`."""
    mods = import_suite()
    from test.test_asyncio import utils as test_utils  # type: ignore[import-not-found]

    classes: dict[str, type] = {}
    for cls_name, (mod_name, mixin_names, hook) in HARNESS.items():
        mod = mods[mod_name]
        bases: list[type] = [getattr(mod, m) for m in mixin_names]
        # The stdlib binds the first two to test_utils.TestCase (it checks for
        # leaked threads and reaps children) and the functional ones to plain
        # unittest.TestCase; do as it does.
        bases.append(test_utils.TestCase if hook == "create_event_loop" else unittest.TestCase)

        def make_loop(self: Any, _factory: Callable[[], Any] = factory) -> Any:
            return _factory()

        ns: dict[str, Any] = {hook: make_loop, "__module__": __name__, "__qualname__": cls_name}
        if hook == "create_event_loop":
            ns["close_loop"] = staticmethod(_close_loop_via(test_utils.TestCase.close_loop))
        for (c, test), reason in skips.items():
            # Only tests this Python's mixins have: a skip never adds a test.
            if c == cls_name and any(hasattr(b, test) for b in bases):
                ns[test] = unittest.skip(reason)(lambda self: None)
        classes[cls_name] = type(cls_name, tuple(bases), ns)
    return classes


def _close_loop_via(stdlib_close_loop: Callable[[Any], None]) -> Callable[[Any], None]:
    """test_utils.TestCase.close_loop, for loops without BaseEventLoop's private state.

    The stdlib cleanup reads ``loop._default_executor`` (a BaseEventLoop
    attribute) before it closes the loop; uvloop has no such attribute, and
    without this every one of its tests would error in cleanup rather than
    in what it tests. A loop that has the attribute gets the stdlib cleanup
    unchanged; one that does not is shut down through the public
    ``shutdown_default_executor()``, and the rest of the stdlib cleanup (the
    child-watcher thread joins) then runs as written.
    """

    class _Closed:
        _default_executor = None

        def __init__(self, loop: Any) -> None:
            self._loop = loop

        def close(self) -> None:
            self._loop.close()

    def close_loop(loop: Any) -> None:
        if hasattr(loop, "_default_executor"):
            stdlib_close_loop(loop)
            return
        if not loop.is_closed():
            loop.run_until_complete(loop.shutdown_default_executor())
        stdlib_close_loop(_Closed(loop))

    return close_loop


def collect(classes: dict[str, type]) -> list[str]:
    loader = unittest.TestLoader()
    ids: list[str] = []
    for cls_name, cls in classes.items():
        ids.extend(f"{cls_name}.{name}" for name in loader.getTestCaseNames(cls))
    return ids


# ---------------------------------------------------------------- the child


def _format(err: Any) -> str:
    return "".join(traceback.format_exception(*err))


class _Recorder(unittest.TestResult):
    def __init__(self) -> None:
        super().__init__()
        self.outcome = "pass"
        self.detail = ""

    def _set(self, outcome: str, detail: str) -> None:
        # The worst outcome wins: an error in tearDown after a failure is still a failure.
        rank = {"pass": 0, "skip": 1, "fail": 2, "error": 3}
        if rank[outcome] >= rank[self.outcome]:
            self.outcome, self.detail = outcome, detail

    def addFailure(self, test: Any, err: Any) -> None:
        self._set("fail", _format(err))

    def addError(self, test: Any, err: Any) -> None:
        self._set("error", _format(err))

    def addSkip(self, test: Any, reason: str) -> None:
        self._set("skip", reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        self._set("pass", "expected failure")

    def addUnexpectedSuccess(self, test: Any) -> None:
        self._set("fail", "unexpected success")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is not None:
            kind = "fail" if issubclass(err[0], test.failureException) else "error"
            self._set(kind, f"{subtest}: {_format(err)}")


def run_child(spec: str, test_id: str, skips: dict[tuple[str, str], str], out_path: str) -> int:
    result: dict[str, Any] = {"id": test_id}
    try:
        classes = build_classes(load_factory(spec), skips)
        cls_name, _, method = test_id.partition(".")
        test = classes[cls_name](method)
        rec = _Recorder()
        test.run(rec)
        result.update(outcome=rec.outcome, detail=rec.detail)
    except BaseException:  # noqa: BLE001 - anything here is the test's result
        result.update(outcome="error", detail=traceback.format_exc())
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


# ---------------------------------------------------------------- the parent


def run_one(spec: str, test_id: str, skip_mode: str, timeout: float) -> dict[str, Any]:
    fd, out_path = tempfile.mkstemp(prefix="conformance-", suffix=".json")
    os.close(fd)
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        test_id,
        "--loop",
        spec,
        skip_mode,
        "--json",
        out_path,
    ]
    t0 = time.monotonic()
    # A session of its own: on timeout the whole group (the test's own
    # subprocesses included) is killed, and nothing is left to hold the run.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        output, _ = proc.communicate()
        timed_out = True
    elapsed = time.monotonic() - t0
    _kill_group(proc)  # leftovers of a test that returned but left children behind
    text = output.decode("utf-8", "replace")
    result: dict[str, Any]
    try:
        with open(out_path, encoding="utf-8") as f:
            result = json.load(f)
    except (OSError, ValueError):
        result = {"id": test_id}
    finally:
        os.unlink(out_path)
    if timed_out:
        result.update(
            outcome="timeout",
            detail=f"no result after {timeout:g}s\n--- its output ends:\n{text[-4000:]}",
        )
    elif "outcome" not in result:
        result.update(
            outcome="crash",
            detail=f"exit status {proc.returncode}, no result\n"
            f"--- its output ends:\n{text[-4000:]}",
        )
    result["duration_s"] = round(elapsed, 3)
    result["reason"] = (
        _summary_reason(result.get("detail", "")) if result["outcome"] != "pass" else ""
    )
    if result["outcome"] in FAILING:
        result["output"] = text[-4000:]
    return result


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _summary_reason(detail: str) -> str:
    """The line of a traceback that says what went wrong."""
    if detail.startswith(("no result after", "exit status")):
        return detail.splitlines()[0]
    lines = [ln for ln in detail.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if not ln.startswith((" ", "Traceback", "During handling", "The above exception")):
            return ln.strip()[:160]
    return lines[-1].strip()[:160] if lines else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="CPython's asyncio loop conformance tests, bound to a loop factory.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="loops: "
        + ", ".join(f"{k} ({v})" for k, v in KNOWN_LOOPS.items())
        + ", or module:callable",
    )
    p.add_argument("--loop", default="asyncio", help="loop factory (default: asyncio)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="tests run at once (default 2)")
    # Passing tests take under a second on asyncio's loop; the tests' own waits
    # give up after support.SHORT_TIMEOUT (30 s), so 20 s reports a hang as one.
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per test (default 20)")
    p.add_argument(
        "-k",
        dest="patterns",
        action="append",
        default=[],
        help="only tests whose id contains this (repeatable)",
    )
    p.add_argument("--json", metavar="PATH", help="write a JSON report here ('-' for stdout)")
    p.add_argument("--list", action="store_true", help="list the test ids and exit")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show the traceback of every failing test"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--skip",
        dest="skip_mode",
        action="store_const",
        const="--skip",
        help="skip the white-box tests listed in SKIPS, with their reasons (default)",
    )
    g.add_argument(
        "--no-skip",
        dest="skip_mode",
        action="store_const",
        const="--no-skip",
        help="run the white-box tests too",
    )
    p.add_argument("--child", metavar="TEST_ID", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    try:
        spec = resolve_spec(args.loop)
        skip_mode = args.skip_mode or "--skip"
        skips = SKIPS if skip_mode == "--skip" else {}
        if args.child:
            return run_child(spec, args.child, skips, args.json)
        factory = load_factory(spec)
        # Fail now, once, with the factory's own error, rather than 85 times.
        try:
            probe = factory()
        except Exception as exc:
            raise SetupError(
                f"--loop {spec}: the factory raised {type(exc).__name__}: {exc}"
            ) from exc
        try:
            loop_type = f"{type(probe).__module__}.{type(probe).__qualname__}"
        finally:
            probe.close()
        ids = collect(build_classes(factory, skips))
    except SetupError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2
    if args.patterns:
        ids = [t for t in ids if any(k in t for k in args.patterns)]
    if args.list:
        for t in ids:
            print(t)
        return 0

    # With --json - the report owns stdout and the progress goes to stderr.
    out = sys.stderr if args.json == "-" else sys.stdout
    header = (
        f"conformance: {len(ids)} tests of Python {platform.python_version()}'s test.test_asyncio "
        f"on {spec} ({loop_type}), {args.jobs} at a time, {args.timeout:g}s each"
    )
    print(header, file=out, flush=True)
    t0 = time.monotonic()
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def job(test_id: str) -> None:
        r = run_one(spec, test_id, skip_mode, args.timeout)
        with lock:
            results.append(r)
            n = len(results)
            if args.quiet and r["outcome"] not in FAILING:
                return
            line = (
                f"[{n:3d}/{len(ids)}] {r['outcome'].upper():7s} {test_id} ({r['duration_s']:.2f}s)"
            )
            if r["outcome"] in FAILING or r["outcome"] == "skip":
                line += f"\n          {r['reason']}"
            if args.verbose and r["outcome"] in FAILING:
                line += "\n" + "\n".join("          | " + ln for ln in r["detail"].splitlines())
            print(line, file=out, flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(job, ids))
    wall = time.monotonic() - t0

    order = {t: i for i, t in enumerate(ids)}
    results.sort(key=lambda r: order[r["id"]])
    counts = {o: sum(1 for r in results if r["outcome"] == o) for o in OUTCOMES}
    failed = sum(counts[o] for o in FAILING)
    bad = [r for r in results if r["outcome"] in FAILING]
    if bad:
        print("\nnot passing:", file=out)
        for r in bad:
            print(f"  {r['outcome']:7s} {r['id']}: {r['reason']}", file=out)
    print(
        f"\nconformance: {spec} on Python {platform.python_version()}: "
        + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES)
        + f" of {len(ids)} in {wall:.1f}s",
        file=out,
    )

    if args.json:
        report = {
            "python": platform.python_version(),
            "executable": sys.executable,
            "loop": spec,
            "loop_type": loop_type,
            "skip_list_applied": skip_mode == "--skip",
            "jobs": args.jobs,
            "timeout_s": args.timeout,
            "wall_s": round(wall, 2),
            "total": len(ids),
            "counts": counts,
            "tests": results,
        }
        if args.json == "-":
            json.dump(report, sys.stdout, indent=1)
            print()
        else:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(report, f, indent=1)
    # The closing line in the plain 'N passed, N failed' form.
    print(
        f"conformance: {counts['pass']} passed, {failed} failed, {counts['skip']} skipped", file=out
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
