"""Core throughput of uring_rs beside an os.pread loop, in the same run.

    python bench/bench_core.py [--quick] [--runs N] [--seconds S] [--json PATH]

Three workloads, each run by uring_rs and by an ``os.pread`` loop in alternating order,
``--runs`` rounds (>= 5; default 7, ``--quick`` 5 rounds of 0.2 s instead of 0.5 s):

- NOP throughput in batches of 1 and of 256: queue N ``ops.nop``, ``ring.submit(wait_nr=N)``,
  ``ring.copy_cqes()``.
- 4 KiB random reads of a page-cached 256 MiB file (random data, in a temporary directory,
  read once to cache it) at queue depth 64: 64 ``ops.read`` kept in flight into 64
  preallocated bytearrays, at precomputed random 4 KiB-aligned offsets.

The ``os.pread`` loop reads 4 KiB at the same offsets; it is the baseline of every row (for
NOPs an anchor: there is no syscall twin of a NOP). Printed: median ops/s of each and the
median of the same-round ratios uring_rs / os.pread. Takes about 30 s (``--quick`` ~12 s).
The full matrix (C liburing, threads, PyPI bindings, O_DIRECT, batch API, ...) is
``bench/suite.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import suite  # bench/suite.py, beside this file

WORKLOADS = ["nop-1", "nop-256", "rand4k-qd64"]
IMPLS = ["os.pread", "uring_rs"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5 rounds of 0.2 s")
    p.add_argument("--runs", type=int)
    p.add_argument("--seconds", type=float, help="seconds of I/O per measurement")
    p.add_argument("--dir", type=Path, help="where the temporary data dir goes (/var/tmp)")
    p.add_argument("--json", type=Path, default=suite.OUT_DIR / "core.json")
    p.add_argument("--no-files", action="store_true", help="print only; write no JSON")
    a = p.parse_args(argv)
    cfg = suite.Config(
        quick=a.quick,
        runs=a.runs or (5 if a.quick else 7),
        seconds=a.seconds or (0.2 if a.quick else 0.5),
        cached_size=256 * suite.MiB,
        base_dir=a.dir,
        workloads=WORKLOADS,
        impls=IMPLS,
    )
    if cfg.runs < 5:
        cfg.log(f"note: {cfg.runs} rounds: quote medians of >= 5")
    text, result = suite.run_suite(cfg)
    print("\n".join(text.splitlines()[:2]))
    print()
    print(
        f"{'workload':<14} {'uring_rs ops/s':>15} {'os.pread ops/s':>15} "
        f"{'uring_rs/os.pread':>18}  (min-max over rounds)"
    )
    for w in result["workloads"]:
        res = w["results"]
        ur, pr = res.get("uring_rs", {}), res.get("os.pread", {})
        if "skipped" in ur or "skipped" in pr:
            print(f"{w['id']:<14} skipped: {ur.get('skipped') or pr.get('skipped')}")
            continue
        ratios = ur["ratio_vs_baseline"]
        print(
            f"{w['id']:<14} {ur['median_ops_per_s']:>15,.0f} {pr['median_ops_per_s']:>15,.0f} "
            f"{statistics.median(ratios):>18.2f}  ({min(ratios):.2f}-{max(ratios):.2f})"
        )
    print()
    print(
        "os.pread: 4 KiB reads at the same random offsets of the page-cached file (for the "
        "NOP rows an anchor, not a twin); ratios are medians of same-round ratios."
    )
    if not a.no_files:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
