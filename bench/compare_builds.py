"""Two builds of uring_rs side by side in one run: a baseline and this one.

    python bench/compare_builds.py --base /path/to/venv-base/bin/python
                                   [--new PYTHON] [--runs N] [--seconds S] [--dir DIR]
                                   [--json PATH | --no-files]

Each interpreter (``--new``, default this one, and ``--base``) has its own uring_rs
installed; both run the same measuring code, ``bench/suite.py`` from this checkout. The rows
are bench_core.py's uring_rs workloads (``nop-1``, ``nop-256``, ``rand4k-qd64``: one
``ops.nop``/``ops.read`` per op) and suite.py's ``uring_rs batch`` rows for ``nop-256`` and
``rand4k-qd64`` (``nop_many``/``read_many`` + ``copy_cqes_into``).

Method. One worker process per interpreter sets every row up once (the same page-cached
256 MiB file of random data and the same offsets, made here first) and runs a discarded
warm-up of each. Then ``--runs`` rounds (>= 7, default 9): in each, every row is measured
for ``--seconds`` by one build and then the other, the order alternating by round and row
(ABBA...), while the other worker waits idle. Printed: per row the median ops/s of each
build and the median of the same-round ratios new/base, with their range. Both builds
should be release builds (the header says which each is). Takes about
``2 * runs * 5 * seconds`` plus ~10 s of setup. Run it under ``nice -n 10`` on a shared
machine, and never beside another benchmark or build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
ROWS: list[tuple[str, str]] = [
    ("nop-1", "uring_rs"),
    ("nop-256", "uring_rs"),
    ("rand4k-qd64", "uring_rs"),
    ("nop-256", "uring_rs batch"),
    ("rand4k-qd64", "uring_rs batch"),
]
WORKLOAD_IDS = sorted({w for w, _ in ROWS})
CACHED_SIZE = 256 * 1024 * 1024


def _suite() -> Any:
    sys.path.insert(0, str(BENCH_DIR))
    import suite  # bench/suite.py, beside this file

    return suite


def _config(suite: Any, data_dir: Path, seconds: float) -> Any:
    return suite.Config(
        runs=1,
        seconds=seconds,
        cached_size=CACHED_SIZE,
        data_dir=data_dir,
        workloads=WORKLOAD_IDS,
        log=lambda s: print(s, file=sys.stderr, flush=True),
    )


# --------------------------------------------------------------------------- worker


def worker(data_dir: Path, seconds: float) -> int:
    """Sets up every row under this interpreter's uring_rs, then answers ``run I`` lines
    on stdin with one JSON line ``{"ops": n, "seconds": s}`` each, until ``quit``."""
    suite = _suite()
    import uring_rs

    cfg = _config(suite, data_dir, seconds)
    workloads = {w.id: w for w in suite.WORKLOADS if w.id in WORKLOAD_IDS}
    impls = {i.name: i for i in suite.IMPLS}
    env = suite.Env(cfg, list(workloads.values()))
    runners = []
    try:
        suite.verify_uring_rs(env)
        for wid, impl in ROWS:
            r = impls[impl].setup(workloads[wid], env)
            runners.append(r)
            r.run(max(seconds / 2, 0.02))  # warm-up, discarded
        hello = {
            "uring_rs": uring_rs.__file__,
            "version": getattr(uring_rs, "__version__", "?"),
            "build": suite.native_build_kind(),
            "python": sys.version.split()[0],
        }
        print(json.dumps(hello), flush=True)
        while True:
            cmd = sys.stdin.readline().split()
            if not cmd or cmd[0] == "quit":
                break
            ops, secs = runners[int(cmd[1])].run(seconds)
            print(json.dumps({"ops": ops, "seconds": secs}), flush=True)
    finally:
        for r in runners:
            r.close()
        env.close()
    return 0


class Worker:
    def __init__(self, name: str, python: str, data_dir: Path, seconds: float) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [python, __file__, "--worker", "--data-dir", str(data_dir), "--seconds", str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info: dict[str, str] = self._reply()

    def _reply(self) -> dict[str, Any]:
        out: IO[str] | None = self.proc.stdout
        line = out.readline() if out is not None else ""
        if not line:
            code = self.proc.wait()
            raise SystemExit(f"the {self.name} worker exited (status {code}) before answering")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(self, row: int) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"run {row}\n")
        self.proc.stdin.flush()
        r = self._reply()
        return float(r["ops"]) / float(r["seconds"])

    def close(self) -> None:
        if self.proc.stdin is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- driver


def _fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}k"


def compare(new: Worker, base: Worker, runs: int) -> dict[str, Any]:
    rates: dict[str, list[list[float]]] = {"new": [[] for _ in ROWS], "base": [[] for _ in ROWS]}
    for rnd in range(runs):
        print(f"round {rnd + 1}/{runs}", file=sys.stderr, flush=True)
        for i in range(len(ROWS)):
            pair = (new, base) if (rnd + i) % 2 == 0 else (base, new)
            for w in pair:
                rates["new" if w is new else "base"][i].append(w.run(i))
    rows = []
    for i, (wid, impl) in enumerate(ROWS):
        n, b = rates["new"][i], rates["base"][i]
        ratios = [x / y for x, y in zip(n, b)]
        rows.append(
            {
                "workload": wid,
                "impl": impl,
                "new_ops_per_s": n,
                "base_ops_per_s": b,
                "ratio_new_over_base": ratios,
                "median_new": statistics.median(n),
                "median_base": statistics.median(b),
                "median_ratio": statistics.median(ratios),
            }
        )
    return {"runs": runs, "new": new.info, "base": base.info, "rows": rows}


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"new:  {result['new']['uring_rs']} ({result['new']['build']}, "
        f"Python {result['new']['python']})",
        f"base: {result['base']['uring_rs']} ({result['base']['build']}, "
        f"Python {result['base']['python']})",
        f"{result['runs']} rounds of {result['seconds']} s per build and row, alternating",
        "",
        f"{'row':<28} {'base ops/s':>11} {'new ops/s':>11} {'new/base':>9}  (min-max)",
    ]
    for r in result["rows"]:
        ratios = r["ratio_new_over_base"]
        lines.append(
            f"{r['impl'] + ' ' + r['workload']:<28} {_fmt_rate(r['median_base']):>11} "
            f"{_fmt_rate(r['median_new']):>11} {r['median_ratio']:>9.3f}  "
            f"({min(ratios):.2f}-{max(ratios):.2f})"
        )
    lines += ["", "new/base: the median over rounds of the same-round ratio (> 1: new is faster)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--base", help="the baseline build's Python interpreter")
    p.add_argument("--new", default=sys.executable, help="this build's (default: this one)")
    p.add_argument("--runs", type=int, default=9, help="rounds (>= 7; default 9)")
    p.add_argument("--seconds", type=float, default=0.5, help="seconds per measurement")
    p.add_argument("--dir", type=Path, help="where the temporary data dir goes (/var/tmp)")
    p.add_argument("--json", type=Path, default=BENCH_DIR / "out" / "compare_builds.json")
    p.add_argument("--no-files", action="store_true", help="print only; write no JSON")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return worker(a.data_dir, a.seconds)
    if not a.base:
        p.error("--base PYTHON is required (the interpreter with the baseline build)")
    if a.runs < 7:
        p.error(f"--runs {a.runs}: quote medians of >= 7 rounds")
    suite = _suite()
    base_dir = a.dir or suite._default_base_dir()
    data_dir = Path(tempfile.mkdtemp(prefix="uring_rs_compare.", dir=base_dir))
    workers: list[Worker] = []
    try:
        # The data files once, here; each worker finds them and reads them into the cache.
        cfg = _config(suite, data_dir, a.seconds)
        suite.Env(cfg, [w for w in suite.WORKLOADS if w.id in WORKLOAD_IDS]).close()
        for name, python in (("new", a.new), ("base", a.base)):
            workers.append(Worker(name, python, data_dir, a.seconds))
        new, base = workers
        if new.info["uring_rs"] == base.info["uring_rs"]:
            print("warning: both interpreters load the same uring_rs", file=sys.stderr)
        result = compare(new, base, a.runs)
        result["seconds"] = a.seconds
    finally:
        for w in workers:
            w.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(format_table(result))
    if not a.no_files:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nresults: {os.path.relpath(a.json)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
