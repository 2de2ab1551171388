"""User-space instructions per echo round trip, counted by callgrind: a noise-free figure.

    python bench/loop/callgrind.py [--servers uring_rs,uvloop] [--shape protocol]
                                   [--conns 50] [--size 64] [--seconds 3] [--top 12]
                                   [--json FILE]

Each server (bench/loop/servers.py, one process) runs under ``valgrind --tool=callgrind``
with instrumentation off. The load generator of run.py (built by it into bench/out/loop-build)
connects, warms up, and for its measured window instrumentation is switched on with
``callgrind_control -i on`` and off again after it; the instructions executed in user space
by the server during the window (``Ir``: Python, the loop, libc; the kernel's share is not
counted) are divided by the round trips the load generator counted in it. The same binary,
inputs and environment give the same count whatever else the machine does, so this is the
figure to track the hot path with (BENCHMARKS.md keeps it); the time figures of run.py need
same-run ratios instead. Also printed: the functions with the most instructions (inclusive
of nothing: self cost) per round trip.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (bench/loop/run.py: the load generator and its build)

TOTALS = re.compile(r"^totals:\s+(\d+)", re.M)


def measure(loop: str, shape: str, conns: int, size: int, seconds: float, top: int) -> Any:
    out_dir = Path(tempfile.mkdtemp(prefix="uring_rs-callgrind-"))
    out_file = out_dir / "callgrind.out"
    server = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out_file}",
            sys.executable,
            str(HERE / "servers.py"),
            loop,
            shape,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=HERE.parent.parent,
    )
    assert server.stdout is not None
    try:
        line = server.stdout.readline().decode()
        if not line.startswith("READY "):
            raise RuntimeError(f"{loop} {shape}: no READY line under valgrind")
        port = int(line.split()[1])
        # Warm-up outside the window, then the window with instrumentation on.
        warm = run.loadgen_cmd(port, None, conns, size, 0.5, 0.5)
        subprocess.run(warm, check=True, capture_output=True, timeout=120)
        subprocess.run(
            ["callgrind_control", "-i", "on", str(server.pid)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        cmd = run.loadgen_cmd(port, None, conns, size, 0.0, seconds)
        res = json.loads(
            subprocess.run(
                cmd, check=True, capture_output=True, text=True, timeout=seconds + 120
            ).stdout
        )
        subprocess.run(
            ["callgrind_control", "-i", "off", str(server.pid)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            ["callgrind_control", "-d", str(server.pid)],
            check=True,
            capture_output=True,
            timeout=60,
        )
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    # The dump made by -d, and the final one at exit (instrumentation off: ~0): add them up.
    dumps = sorted(out_dir.glob("callgrind.out*"))
    total = 0
    for d in dumps:
        m = TOTALS.search(d.read_text(errors="replace"))
        if m:
            total += int(m.group(1))
    rts = int(res["round_trips"])
    funcs: list[tuple[str, float]] = []
    biggest = max(dumps, key=lambda d: d.stat().st_size)
    ann = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(biggest)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for m in re.finditer(r"^\s*([\d,]+)\s+\([^)]*\)\s+(\S.*)$", ann, re.M):
        ir = int(m.group(1).replace(",", ""))
        name = m.group(2).strip()
        if "PROGRAM TOTALS" in name:
            continue
        funcs.append((name, ir / max(rts, 1)))
        if len(funcs) >= top:
            break
    for d in dumps:
        d.unlink()
    os.rmdir(out_dir)
    return {
        "loop": loop,
        "shape": shape,
        "conns": conns,
        "size": size,
        "round_trips": rts,
        "instructions": total,
        "ir_per_rt": total / max(rts, 1),
        "top": funcs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default="uring_rs,uvloop")
    ap.add_argument("--shape", default="protocol")
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    built = run.build_c()
    if built["loadgen"] is not None:
        sys.exit(f"cannot build the load generator: {built['loadgen']}")
    results = []
    for loop in args.servers.split(","):
        t0 = time.monotonic()
        r = measure(loop, args.shape, args.conns, args.size, args.seconds, args.top)
        results.append(r)
        print(
            f"{loop} {args.shape} {args.conns}x{args.size}: {r['ir_per_rt']:,.0f} user-space "
            f"instructions per round trip ({r['round_trips']} round trips, "
            f"{time.monotonic() - t0:.0f} s)"
        )
        for name, per in r["top"]:
            print(f"    {per:10,.0f}  {name}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
