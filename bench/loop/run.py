"""The asyncio event loop benchmark: uring_rs.Loop beside uvloop, rloop, asyncio and C.

    python bench/loop/run.py [--quick] [--rounds N] [--seconds T] [--warmup W]
                             [--servers a,b] [--points 50x64,500x1024] [--http-seconds T]
                             [--no-http] [--no-files] [--seed N] [--json PATH] [--png PATH]

Echo ping-pong over loopback TCP. ``loadgen.c`` (one process, epoll) opens N connections to
one server; each sends S bytes, waits until all S are back (comparing every byte with
what it sent), and sends the next S. It warms up for ``--warmup`` seconds, then counts
the round trips of a ``--seconds`` window and reads the server's utime+stime from
``/proc/PID/stat`` at both ends of it, then lets the messages in flight finish and closes
every connection in order (shutdown, the server's EOF). A wrong byte, an early close, a
reset, more bytes back than sent, or no progress for 5 s (a hang) fails the measurement.

Servers, each in its own process, started once and kept for the whole run (restarted
after a failure): ``uring_rs``, ``uvloop`` and ``asyncio`` loops each with a
``Protocol`` (``protocol``), asyncio streams (``streams``) and ``loop.sock_recv`` /
``sock_sendall`` (``sock_*``) (``servers.py``); asyncio's loop with ``uring_rs.aio``'s
sock_* functions (``aio sock_*``); rloop with a protocol; and two C limits built here
with ``cc -O2``: ``echo_epoll.c`` and ``echo_uring.c`` (liburing: multishot accept,
multishot recv from a buffer ring, one submit-and-wait per turn). A server whose loop is
not installed, or that does not start, is skipped with the reason.

Points: N in {1, 50, 500} connections x S in {64 B, 1 KiB, 64 KiB} (``--quick``: 50 x
{64 B, 1 KiB}). Rounds (``--rounds``, >= 5): in each, every point is measured on every
server once, in an order shuffled per round and point. Two figures per server and point:
round trips per second and server CPU microseconds per round trip. The tables show
medians over rounds and, in brackets, the median over rounds of the ratio to uvloop in
the same round and point (the same shape for the uring_rs and asyncio rows, uvloop's
protocol server for rloop and C): only those ratios are meant to be compared across
runs or machines.

HTTP: wrk (one thread, 50 keep-alive connections) against uvicorn on each loop
(``servers.py LOOP uvicorn``: a raw ASGI app, ``uvicorn.Server.serve`` inside the
loop's ``run``), requests/s and server CPU per request, in rounds as above.

Files: ``aio_files.py`` (``aio.open`` of 10,000 4 KiB files on uring_rs.Loop vs asyncio's
loop) runs last, in its own process (``--no-files`` skips it).

The issue's targets are checked at the end from the same-round ratios. Output: Markdown
on stdout, ``bench/out/loop.json``, ``bench/loop.png`` (matplotlib: CPU per round trip
per server, grouped by point). Full run ~20 min; ``--quick`` ~3 min.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
OUT = BENCH / "out"
BUILD = OUT / "loop-build"
LOGS = OUT / "loop-logs"
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")

FULL_POINTS = [(n, s) for n in (1, 50, 500) for s in (64, 1024, 65536)]
QUICK_POINTS = [(50, 64), (50, 1024)]
BASE = "uvloop protocol"
STALL_S = 5.0


# ---- servers ------------------------------------------------------------------------------


@dataclass
class Spec:
    name: str
    argv: list[str]
    baseline: str  # the server whose same-round figures the ratios divide by
    loop: str | None = None  # the Python module the server needs (None: C)
    note: str = ""


def py_server(loop: str, shape: str, label: str, baseline: str) -> Spec:
    return Spec(
        f"{loop} {label}",
        [PY, str(HERE / "servers.py"), loop, shape],
        baseline,
        loop=loop,
    )


def echo_specs() -> list[Spec]:
    specs = [
        Spec("C io_uring", [str(BUILD / "echo_uring")], BASE),
        Spec("C epoll", [str(BUILD / "echo_epoll")], BASE),
    ]
    for loop in ("uring_rs", "uvloop", "asyncio"):
        specs += [
            py_server(loop, "protocol", "protocol", "uvloop protocol"),
            py_server(loop, "streams", "streams", "uvloop streams"),
            py_server(loop, "sock", "sock_*", "uvloop sock_*"),
        ]
    specs.append(py_server("asyncio", "aio_sock", "aio sock_*", "uvloop sock_*"))
    specs[-1].loop = "uring_rs"  # what it needs besides asyncio
    specs.append(py_server("rloop", "protocol", "protocol", BASE))
    return specs


def http_specs() -> list[Spec]:
    return [
        py_server(loop, "uvicorn", "uvicorn", "uvloop uvicorn")
        for loop in ("uring_rs", "uvloop", "asyncio", "rloop")
    ]


class StartFailed(Exception):
    pass


@dataclass
class Server:
    spec: Spec
    proc: subprocess.Popen[bytes]
    port: int
    ready_line: str
    err_path: Path
    err_seen: int = 0  # bytes of the stderr log already reported
    started: float = field(default_factory=time.time)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def new_stderr(self) -> str:
        try:
            with open(self.err_path, "rb") as f:
                f.seek(self.err_seen)
                data = f.read()
        except OSError:
            return ""
        self.err_seen += len(data)
        return data.decode(errors="replace")

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def start_server(spec: Spec, timeout: float = 30.0) -> Server:
    """Starts a server and waits for its READY line. An ImportError of uring_rs is retried
    (another engineer may be rebuilding it); anything else raises StartFailed."""
    LOGS.mkdir(parents=True, exist_ok=True)
    err_path = LOGS / f"{slug(spec.name)}.err"
    for attempt in range(6):
        with open(err_path, "ab") as err:
            err.write(f"--- start {time.strftime('%H:%M:%S')} {' '.join(spec.argv)}\n".encode())
            offset = err.tell()
            proc = subprocess.Popen(
                spec.argv,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=BENCH.parent,
            )
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            r, _, _ = select.select([proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(proc.stdout.fileno(), 256)
                if not chunk:
                    break
                line += chunk
            elif proc.poll() is not None:
                break
        text = line.decode(errors="replace").strip()
        if text.startswith("READY "):
            srv = Server(spec, proc, int(text.split()[1]), text, err_path)
            srv.err_seen = err_path.stat().st_size
            return srv
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        with open(err_path, "rb") as f:
            f.seek(offset)
            err_text = f.read().decode(errors="replace").strip()
        transient = (
            "ImportError" in err_text
            or "ModuleNotFoundError: No module named 'uring_rs" in err_text
        )
        if spec.loop == "uring_rs" and transient and attempt < 5:
            time.sleep(3)  # a rebuild in progress: try again
            continue
        last = err_text.splitlines()[-1] if err_text else f"no READY line within {timeout:g} s"
        raise StartFailed(f"exit status {proc.returncode}: {last}")
    raise AssertionError("unreachable")


def proc_ticks(pid: int) -> int:
    """utime + stime of the process, in clock ticks (its threads included)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError as e:
        raise Failed(f"cannot read /proc/{pid}/stat: {e}") from e
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


# ---- building the C programs ----------------------------------------------------------------


def build_c() -> dict[str, str | None]:
    """Compiles loadgen, echo_epoll and echo_uring into bench/out/loop-build (nice'd).
    Returns, per program, None if built, else why not."""
    BUILD.mkdir(parents=True, exist_ok=True)
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    out: dict[str, str | None] = {}
    for name, libs in (("loadgen", []), ("echo_epoll", []), ("echo_uring", ["-luring"])):
        if cc is None:
            out[name] = "no C compiler (cc)"
            continue
        cmd = [
            "nice",
            "-n",
            "10",
            cc,
            "-O2",
            "-Wall",
            "-o",
            str(BUILD / name),
            str(HERE / f"{name}.c"),
            *libs,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0:
            out[name] = None
        elif "liburing.h" in r.stderr or "-luring" in r.stderr:
            out[name] = "liburing is not installed (apt-get install -y liburing-dev)"
        else:
            lines = r.stderr.strip().splitlines()
            out[name] = "cc failed: " + (lines[-1] if lines else "?")
    return out


# ---- measuring ------------------------------------------------------------------------------


class Failed(Exception):
    pass


def loadgen_cmd(
    port: int, pid: int | None, n: int, s: int, warmup: float, seconds: float
) -> list[str]:
    cmd = [
        str(BUILD / "loadgen"),
        "--port",
        str(port),
        "--conns",
        str(n),
        "--size",
        str(s),
        "--warmup",
        f"{warmup:g}",
        "--seconds",
        f"{seconds:g}",
        "--stall",
        f"{STALL_S:g}",
    ]
    if pid is not None:
        cmd += ["--server-pid", str(pid)]
    return cmd


def check_alive(srv: Server, when: str) -> None:
    if not srv.alive():
        raise Failed(f"the server had exited (status {srv.proc.returncode}) {when}")


def measure_echo(srv: Server, n: int, s: int, warmup: float, seconds: float) -> dict[str, Any]:
    check_alive(srv, "before the measurement")
    cmd = loadgen_cmd(srv.port, srv.pid, n, s, warmup, seconds)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=warmup + seconds + 60)
    except subprocess.TimeoutExpired as e:
        raise Failed("the load generator did not finish (killed after its deadline)") from e
    if r.returncode != 0:
        check_alive(srv, "during the measurement")
        raise Failed(r.stderr.strip() or f"loadgen exit status {r.returncode}")
    res: dict[str, Any] = json.loads(r.stdout)
    check_alive(srv, "during the measurement")
    if res["server_ticks"] < 0:
        raise Failed("could not read the server's /proc/PID/stat")
    rt = res["round_trips"]
    if rt <= 0:
        raise Failed("no round trip completed in the measured window")
    res["rt_per_s"] = rt / res["seconds"]
    res["cpu_us_per_rt"] = res["server_ticks"] / res["clk_tck"] / rt * 1e6
    return res


WRK_REQ = re.compile(r"(\d+) requests in ([\d.]+)(m?s)")
WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")


def run_wrk(port: int, seconds: float, conns: int = 50) -> tuple[int, float, str]:
    url = f"http://127.0.0.1:{port}/"
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "5s", url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    out = r.stdout
    if r.returncode != 0:
        raise Failed(f"wrk exit status {r.returncode}: {r.stderr.strip() or out.strip()}")
    for bad in ("Non-2xx or 3xx responses", "Socket errors"):
        if bad in out:
            raise Failed("wrk: " + next(line.strip() for line in out.splitlines() if bad in line))
    m, rps = WRK_REQ.search(out), WRK_RPS.search(out)
    if not m or not rps:
        raise Failed(f"wrk output not understood: {out.strip()}")
    return int(m.group(1)), float(rps.group(1)), out


def measure_http(srv: Server, warmup: float, seconds: float) -> dict[str, Any]:
    check_alive(srv, "before the measurement")
    run_wrk(srv.port, warmup)
    t0 = proc_ticks(srv.pid)
    w0 = time.perf_counter()
    requests, rps, _ = run_wrk(srv.port, seconds)
    wall = time.perf_counter() - w0
    t1 = proc_ticks(srv.pid)
    check_alive(srv, "during the measurement")
    if requests <= 0:
        raise Failed("no request completed")
    return {
        "requests": requests,
        "req_per_s": rps,
        "server_ticks": t1 - t0,
        "wall_s": wall,
        "cpu_us_per_req": (t1 - t0) / CLK_TCK / requests * 1e6,
    }


# ---- the run --------------------------------------------------------------------------------


def label(point: tuple[int, int]) -> str:
    n, s = point
    size = f"{s // 1024} KiB" if s >= 1024 else f"{s} B"
    return f"{n} x {size}"


def key(point: tuple[int, int]) -> str:
    return f"{point[0]}x{point[1]}"


def parse_points(text: str) -> list[tuple[int, int]]:
    pts = []
    for part in text.split(","):
        n, s = part.lower().split("x")
        mult = {"k": 1024}.get(s[-1], 1)
        pts.append((int(n), int(s.rstrip("k")) * mult))
    return pts


def loop_available(loop: str | None) -> str | None:
    """None if the module imports in a fresh interpreter, else why not (retrying uring_rs)."""
    if loop is None or loop == "asyncio":
        return None
    for attempt in range(6):
        r = subprocess.run([PY, "-c", f"import {loop}"], capture_output=True, text=True)
        if r.returncode == 0:
            return None
        if loop == "uring_rs" and attempt < 5:
            time.sleep(3)
            continue
        lines = r.stderr.strip().splitlines()
        return f"{loop} does not import: {lines[-1] if lines else r.returncode}"
    return None


class Fleet:
    """The running servers; failures and stderr output recorded as they happen."""

    def __init__(self, specs: list[Spec], log: Any) -> None:
        self.servers: dict[str, Server] = {}
        self.skipped: dict[str, str] = {}
        self.failures: list[dict[str, Any]] = []
        self.stderr_notes: list[dict[str, Any]] = []
        self.log = log
        for spec in specs:
            self.start(spec)

    def start(self, spec: Spec) -> Server | None:
        why = loop_available(spec.loop)
        if why is not None:
            self.skipped[spec.name] = why
            self.log(f"skip {spec.name}: {why}")
            return None
        try:
            srv = start_server(spec)
        except StartFailed as e:
            self.skipped[spec.name] = f"failed to start: {e}"
            self.log(f"skip {spec.name}: failed to start: {e}")
            return None
        self.servers[spec.name] = srv
        return srv

    def restart(self, name: str) -> None:
        srv = self.servers.pop(name)
        srv.stop()
        self.start(srv.spec)

    def check_stderr(self, srv: Server, where: str) -> None:
        text = srv.new_stderr().strip()
        # uvicorn prints its version banner line (servers.py) at start: not a finding
        text = "\n".join(
            line for line in text.splitlines() if not line.startswith(("uvicorn ", "--- start"))
        )
        if text:
            self.stderr_notes.append(
                {"server": srv.spec.name, "where": where, "stderr": text[-4000:]}
            )
            self.log(
                f"  {srv.spec.name} wrote to stderr during {where}: {text.splitlines()[-1][:200]}"
            )

    def stop(self) -> None:
        for srv in self.servers.values():
            srv.stop()


def so_identity() -> dict[str, Any] | None:
    """The installed uring_rs extension's path, build kind and file identity (mtime, size,
    inode), from a fresh interpreter; None if uring_rs does not import."""
    code = (
        f"import os, sys, json; sys.path.insert(0, {str(BENCH)!r})\n"
        "import uring_rs; from uring_rs import _native; from suite import native_build_kind\n"
        "st = os.stat(_native.__file__)\n"
        "print(json.dumps({'version': uring_rs.__version__, 'path': _native.__file__,"
        " 'build': native_build_kind(), 'mtime': st.st_mtime, 'size': st.st_size,"
        " 'inode': st.st_ino}))"
    )
    for _ in range(6):
        r = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd="/")
        if r.returncode == 0:
            return json.loads(r.stdout)  # type: ignore[no-any-return]
        time.sleep(3)
    return None


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for dist in ("uvloop", "rloop", "uvicorn", "httptools", "h11"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def median_or_none(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarize(
    records: list[dict[str, Any]],
    metric: str,
    names: list[str],
    points: list[str],
    baseline_of: dict[str, str],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per server and point: the median of `metric` and the median same-round ratio to the
    server's baseline (records of one round and point, both successful); `n` successful
    measurements of `attempts`. A server whose baseline was not measured has no ratio."""
    by: dict[tuple[str, str, int], float] = {}
    attempts: dict[tuple[str, str], int] = {}
    for rec in records:
        attempts[(rec["server"], rec["point"])] = attempts.get((rec["server"], rec["point"]), 0) + 1
        if rec.get(metric) is not None:
            by[(rec["server"], rec["point"], rec["round"])] = rec[metric]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    rounds = sorted({rec["round"] for rec in records})
    for name in names:
        out[name] = {}
        base = baseline_of[name]
        for pt in points:
            vals = [by[(name, pt, r)] for r in rounds if (name, pt, r) in by]
            ratios = [
                by[(name, pt, r)] / by[(base, pt, r)]
                for r in rounds
                if (name, pt, r) in by and (base, pt, r) in by and by[(base, pt, r)] > 0
            ]
            out[name][pt] = {
                "median": median_or_none(vals),
                "ratio": median_or_none(ratios) if name != base else (1.0 if vals else None),
                "ratio_min": min(ratios) if ratios and name != base else None,
                "ratio_max": max(ratios) if ratios and name != base else None,
                "n": len(vals),
                "attempts": attempts.get((name, pt), 0),
            }
    return out


def fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def cell(entry: dict[str, Any], scale: float, digits: int, show_ratio: bool) -> str:
    """ "3.1 (0.85x)"; "failed" if no measurement succeeded; "n/m ok" if some failed."""
    if entry["median"] is None:
        return "failed" if entry["attempts"] else "-"
    notes = []
    if show_ratio and entry["ratio"] is not None:
        notes.append(f"{entry['ratio']:.2f}x")
    if entry["n"] < entry["attempts"]:
        notes.append(f"{entry['n']}/{entry['attempts']} ok")
    text = fmt(entry["median"] * scale, digits)
    return text + (f" ({', '.join(notes)})" if notes else "")


def table(
    summary: dict[str, dict[str, dict[str, Any]]],
    names: list[str],
    points: list[str],
    point_labels: dict[str, str],
    scale: float,
    digits: int,
    base: str,
) -> list[str]:
    head = "| server | " + " | ".join(point_labels[p] for p in points) + " |"
    lines = [head, "|---|" + "---:|" * len(points)]
    for name in names:
        cells = []
        for p in points:
            e = summary[name][p]
            cells.append(cell(e, scale, digits, show_ratio=name != base))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def targets(
    cpu: dict[str, Any],
    rps: dict[str, Any],
    http: dict[str, Any] | None,
    files: dict[str, Any] | None,
    points: list[str],
) -> list[dict[str, Any]]:
    """The issue's targets, each checked against same-round median ratios."""
    rows: list[dict[str, Any]] = []

    def check(
        what: str, server: str, figure: dict[str, Any], pts: list[str], limit: float, below: bool
    ) -> None:
        if server not in figure:
            rows.append(
                {"target": what, "limit": limit, "result": "server not measured", "met": None}
            )
            return
        got = {p: figure[server][p]["ratio"] for p in pts if p in figure[server]}
        got = {p: r for p, r in got.items() if r is not None}
        if not got:
            rows.append(
                {"target": what, "limit": limit, "result": "no point measured", "met": None}
            )
            return
        ok = {p: (r <= limit if below else r >= limit) for p, r in got.items()}
        worst = max(got, key=got.get) if below else min(got, key=got.get)  # type: ignore[arg-type]
        rows.append(
            {
                "target": what,
                "limit": limit,
                "ratios": got,
                "result": f"worst {got[worst]:.2f}x at {worst}; "
                f"met at {sum(ok.values())}/{len(ok)} points",
                "met": all(ok.values()),
            }
        )

    hot = [p for p in points if p in ("50x64", "50x1024", "500x64", "500x1024")]
    check(
        "protocol CPU/rt, 50 and 500 conns, 64 B and 1 KiB <= 0.85x uvloop",
        "uring_rs protocol",
        cpu,
        hot,
        0.85,
        True,
    )
    check("streams CPU/rt <= 0.85x uvloop streams", "uring_rs streams", cpu, points, 0.85, True)
    check("sock_* CPU/rt <= 0.5x uvloop sock_*", "uring_rs sock_*", cpu, points, 0.5, True)
    big = [p for p in points if p.endswith("x65536")]
    check("64 KiB protocol CPU/rt <= 0.9x uvloop", "uring_rs protocol", cpu, big, 0.9, True)
    for shape in ("protocol", "streams", "sock_*"):
        check(
            f"throughput, {shape}, every point >= 1.0x uvloop {shape}",
            f"uring_rs {shape}",
            rps,
            points,
            1.0,
            False,
        )
    if http is not None:
        check(
            "uvicorn under wrk, CPU/request <= 0.9x uvloop",
            "uring_rs uvicorn",
            http,
            ["http"],
            0.9,
            True,
        )
    if files is not None and files.get("speedup"):
        for tasks, sp in files["speedup"].items():
            rows.append(
                {
                    "target": f"aio.open reads of {files.get('files', 0):,} 4 KiB files, "
                    f"{tasks} task(s), >= 1.5x aio on asyncio",
                    "limit": 1.5,
                    "ratios": {"files": sp},
                    "result": f"{sp:.2f}x",
                    "met": sp >= 1.5,
                }
            )
    return rows


def plot(
    path: Path,
    cpu: dict[str, Any],
    names: list[str],
    points: list[str],
    point_labels: dict[str, str],
    title: str,
) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no plot"
    names = [n for n in names if any(cpu[n][p]["median"] is not None for p in points)]
    if not names:
        return "nothing to plot"
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(points) + 4), 6))
    width = 0.8 / len(names)
    # One colour family per loop (tab20 pairs dark/light), shapes as shades; uring_rs hatched.
    family = {"C": 14, "uring_rs": 0, "uvloop": 4, "asyncio": 2, "rloop": 8}
    shade: dict[str, int] = {}
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(names):
        fam = name.split()[0]
        k = shade.get(fam, 0)
        shade[fam] = k + 1
        base = family.get(fam, 16)
        color = cmap((base + (k % 2)) % 20) if k < 2 else cmap((base + 1) % 20)
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(points))]
        ys = [cpu[name][p]["median"] or 0 for p in points]
        ours = fam == "uring_rs"
        ax.bar(
            xs,
            ys,
            width,
            label=name,
            color=color,
            edgecolor="black" if ours else None,
            linewidth=0.6,
            hatch=("//", "..", "xx")[k % 3] if ours else ("" if k < 2 else ".."),
        )
    ax.set_xticks(range(len(points)))
    ax.set_xticklabels([point_labels[p] for p in points])
    ax.set_xlabel("connections x message size")
    ax.set_ylabel("server CPU per round trip (us, median; lower is better)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


@dataclass
class Config:
    rounds: int
    seconds: float
    warmup: float
    http_seconds: float
    points: list[tuple[int, int]]
    seed: int


def is_rebuilt(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    return a is not None and b is not None and (a["mtime"], a["inode"]) != (b["mtime"], b["inode"])


def run_echo(
    fleet: Fleet, cfg: Config, rng: random.Random, so_start: dict[str, Any] | None, log: Any
) -> list[dict[str, Any]]:
    """Every round: every point on every server, in a shuffled order. A failed measurement
    is recorded with commands that reproduce it, and its server restarted."""
    records: list[dict[str, Any]] = []
    names = list(fleet.servers)
    for rnd in range(cfg.rounds):
        for pt in cfg.points:
            pk = key(pt)
            order = list(names)
            rng.shuffle(order)
            for name in order:
                srv = fleet.servers.get(name)
                if srv is None:
                    continue
                rec: dict[str, Any] = {"server": name, "point": pk, "round": rnd}
                records.append(rec)
                where = f"{pk} round {rnd + 1}"
                try:
                    rec.update(measure_echo(srv, pt[0], pt[1], cfg.warmup, cfg.seconds))
                except Failed as e:
                    lg = loadgen_cmd(0, None, pt[0], pt[1], cfg.warmup, cfg.seconds)
                    rec["error"] = str(e)
                    rec["reproducer"] = (
                        f"{' '.join(srv.spec.argv)} &  # prints READY <port>; then: "
                        + " ".join(lg).replace("--port 0", "--port <port>")
                    )
                    rec["rerun"] = (
                        f"{Path(PY).name} bench/loop/run.py --servers '{name}' --points {pk} "
                        "--no-http --no-files"
                    )
                    rec["server_alive"] = srv.alive()
                    if srv.spec.loop == "uring_rs":
                        rec["uring_rs_rebuilt_since_start"] = is_rebuilt(so_start, so_identity())
                    fleet.failures.append(rec)
                    log(f"FAIL {name} {label(pt)} round {rnd + 1}: {str(e).splitlines()[0][:300]}")
                    fleet.check_stderr(srv, where)
                    fleet.restart(name)
                    continue
                fleet.check_stderr(srv, where)
            log(f"round {rnd + 1}/{cfg.rounds} {label(pt)} done")
    return records


def run_http(fleet: Fleet, cfg: Config, rng: random.Random, log: Any) -> list[dict[str, Any]]:
    """Every round: wrk against uvicorn on every loop once, in a shuffled order."""
    records: list[dict[str, Any]] = []
    names = list(fleet.servers)
    for rnd in range(cfg.rounds):
        order = list(names)
        rng.shuffle(order)
        for name in order:
            srv = fleet.servers.get(name)
            if srv is None:
                continue
            rec: dict[str, Any] = {"server": name, "point": "http", "round": rnd}
            records.append(rec)
            try:
                rec.update(measure_http(srv, min(0.5, cfg.http_seconds), cfg.http_seconds))
            except (Failed, subprocess.TimeoutExpired) as e:
                rec["error"] = str(e)
                rec["reproducer"] = (
                    f"{' '.join(srv.spec.argv)} &  # prints READY <port>; then: "
                    f"wrk -t1 -c50 -d{max(1, round(cfg.http_seconds))}s http://127.0.0.1:<port>/"
                )
                rec["rerun"] = f"{Path(PY).name} bench/loop/run.py --servers '{name}' --no-files"
                fleet.failures.append(rec)
                log(f"FAIL {name} round {rnd + 1}: {str(e)[:300]}")
                fleet.check_stderr(srv, f"http round {rnd + 1}")
                fleet.restart(name)
                continue
            fleet.check_stderr(srv, f"http round {rnd + 1}")
        log(f"http round {rnd + 1}/{cfg.rounds} done")
    return records


def run_files(quick: bool) -> tuple[dict[str, Any] | None, str]:
    """aio_files.py in its own process: (its JSON, its table) or (None, why not)."""
    path = OUT / "loop_files.json"
    cmd = [PY, str(HERE / "aio_files.py"), "--json", str(path), *(["--quick"] if quick else [])]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        lines = r.stderr.strip().splitlines()
        return None, f"aio_files.py failed: {lines[-1] if lines else r.returncode}"
    return json.loads(path.read_text()), r.stdout.rstrip()


def render(
    info: dict[str, Any],
    cfg: Config,
    names: list[str],
    cpu: dict[str, Any],
    rps: dict[str, Any],
    http_sum: dict[str, Any] | None,
    http_note: str,
    files_text: str,
    tg: list[dict[str, Any]],
    skipped: dict[str, str],
    failures: list[dict[str, Any]],
    stderr_notes: list[dict[str, Any]],
) -> str:
    pkeys = [key(p) for p in cfg.points]
    plabels = {key(p): label(p) for p in cfg.points}
    so = info["uring_rs"] or {}
    out = [
        "## uring_rs.Loop echo benchmark",
        "",
        f"`{info['command']}`: uring_rs {so.get('version', '?')} ({so.get('build', '?')} "
        f"build), Python {info['python']}, Linux {info['kernel']}, {info['cpus']} CPUs, load "
        f"{info['loadavg_start'][0]:.2f} -> {info['loadavg_end'][0]:.2f}; uvloop "
        f"{info['versions']['uvloop']}, rloop {info['versions']['rloop']}; {cfg.rounds} rounds, "
        f"each point {cfg.warmup:g} s warm-up + {cfg.seconds:g} s measured; wall time "
        f"{info['wall_s']:.0f} s.",
    ]
    if so.get("build") == "debug":
        out += ["", "**WARNING: uring_rs is a DEBUG build: `maturin develop --release` first.**"]
    if is_rebuilt(info["uring_rs"], info["uring_rs_end"]):
        out += [
            "",
            "**WARNING: the uring_rs extension changed during the run (a rebuild): "
            "servers started before it ran the old build.**",
        ]
    if info.get("c_io_uring_flags"):
        out.append(f"C io_uring ring setup flags: {info['c_io_uring_flags']}.")
    if names:
        out += [
            "",
            "Server CPU per round trip, us (median; in brackets the median same-round "
            "ratio to uvloop, same shape; lower is better):",
            "",
        ]
        out += table(cpu, names, pkeys, plabels, 1.0, 1, BASE)
        out += [
            "",
            "Round trips per second, thousands (median; in brackets the same-round "
            "ratio to uvloop, same shape; higher is better):",
            "",
        ]
        out += table(rps, names, pkeys, plabels, 1e-3, 1, BASE)
        out.append("")
    if http_sum is not None:
        http_impl = "httptools" if info["versions"]["httptools"] else "h11"
        out += [
            f"uvicorn (raw ASGI app, http={http_impl})"
            f" under `wrk -t1 -c50 -d{max(1, round(cfg.http_seconds))}s` (keep-alive):",
            "",
            "| server | requests/s | x uvloop | CPU us/request | x uvloop |",
            "|---|---:|---:|---:|---:|",
        ]
        for n in http_sum["cpu"]:
            c, q = http_sum["cpu"][n]["http"], http_sum["rps"][n]["http"]
            out.append(
                f"| {n} | {fmt(q['median'], 0)} | {fmt(q['ratio'], 2)} | "
                f"{fmt(c['median'], 1)} | {fmt(c['ratio'], 2)} |"
            )
        out.append("")
    else:
        out += [f"HTTP: skipped ({http_note}).", ""]
    out += [files_text, ""]
    out += [
        "Targets (issue 11), from the same-round ratios above:",
        "",
        "| target | result | met |",
        "|---|---|---|",
    ]
    for t in tg:
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        out.append(f"| {t['target']} | {t['result']} | {met} |")
    out.append("")
    if skipped:
        out += ["Skipped servers:", *(f"- {n}: {why}" for n, why in skipped.items()), ""]
    if failures:
        out.append(f"Failed measurements ({len(failures)}):")
        for f in failures:
            rebuilt = (
                " (uring_rs was rebuilt meanwhile)" if f.get("uring_rs_rebuilt_since_start") else ""
            )
            out.append(
                f"- {f['server']} at {f['point']} round {f['round'] + 1}: "
                f"{f['error'].splitlines()[0]}{rebuilt}"
            )
            out.append(f"  reproduce: `{f['reproducer']}`; or `{f['rerun']}`")
        out.append("")
    if stderr_notes:
        out.append("Servers that wrote to stderr (the whole text: bench/out/loop-logs/):")
        for note in stderr_notes[:20]:
            last = note["stderr"].splitlines()[-1][:200]
            out.append(f"- {note['server']} ({note['where']}): {last}")
        out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, help="measured window per point (1.5; quick 0.7)")
    ap.add_argument("--warmup", type=float, default=0.3)
    ap.add_argument("--servers", help="comma-separated server names (default: all)")
    ap.add_argument("--points", help="e.g. 50x64,500x1k (default: 3 x 3; quick 50x64,50x1k)")
    ap.add_argument("--http-seconds", type=float, help="wrk duration (2; quick 1)")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--no-files", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=OUT / "loop.json")
    ap.add_argument("--png", type=Path, default=BENCH / "loop.png")
    args = ap.parse_args()
    if args.rounds < 5:
        print(f"note: --rounds {args.rounds} < 5: fewer than the method asks for", file=sys.stderr)
    cfg = Config(
        rounds=args.rounds,
        seconds=args.seconds or (0.7 if args.quick else 1.5),
        warmup=args.warmup,
        http_seconds=args.http_seconds or (1.0 if args.quick else 2.0),
        points=parse_points(args.points)
        if args.points
        else (QUICK_POINTS if args.quick else FULL_POINTS),
        seed=args.seed,
    )
    pkeys = [key(p) for p in cfg.points]
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    built = build_c()
    if built["loadgen"] is not None:
        print(f"cannot build the load generator: {built['loadgen']}", file=sys.stderr)
        return 1
    for f in LOGS.glob("*.err"):  # the servers' stderr logs are per run
        f.unlink()
    specs, hspecs = echo_specs(), http_specs()
    if args.servers:
        wanted = [w.strip() for w in args.servers.split(",")]
        known = [s.name for s in specs + hspecs]
        if any(w not in known for w in wanted):
            print(
                f"unknown servers: {[w for w in wanted if w not in known]}; known: {known}",
                file=sys.stderr,
            )
            return 2
        specs = [s for s in specs if s.name in wanted]
        hspecs = [s for s in hspecs if s.name in wanted]
    skipped: dict[str, str] = {}
    for name, prog in (("C io_uring", "echo_uring"), ("C epoll", "echo_epoll")):
        if built[prog] is not None and any(s.name == name for s in specs):
            skipped[name] = str(built[prog])
            log(f"skip {name}: {built[prog]}")
    specs = [s for s in specs if s.name not in skipped]

    so_start = so_identity()
    info: dict[str, Any] = {
        "command": " ".join([Path(PY).name, *sys.argv]),
        "quick": args.quick,
        "config": cfg.__dict__,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "uring_rs": so_start,
        "versions": versions(),
        "clk_tck": CLK_TCK,
    }
    log(
        f"uring_rs {so_start and so_start['version']} ({so_start and so_start['build']} build); "
        f"{len(specs)} echo servers x {len(cfg.points)} points x {cfg.rounds} rounds of "
        f"{cfg.warmup:g}+{cfg.seconds:g} s"
    )
    rng = random.Random(cfg.seed)
    failures: list[dict[str, Any]] = []
    stderr_notes: list[dict[str, Any]] = []

    fleet = Fleet(specs, log)
    try:
        if "C io_uring" in fleet.servers:
            info["c_io_uring_flags"] = fleet.servers["C io_uring"].ready_line.split()[2]
        # Idle check: a server burning CPU while another is measured would skew its figures.
        try:
            t0 = {n: proc_ticks(s.pid) for n, s in fleet.servers.items()}
            time.sleep(1.0)
            idle = {n: (proc_ticks(s.pid) - t0[n]) / CLK_TCK for n, s in fleet.servers.items()}
            info["idle_cpu_s_per_s"] = idle
            if any(v > 0.02 for v in idle.values()):
                log(f"WARNING: servers using CPU while idle: {idle}")
        except Failed as e:  # a server that died at once fails its first measurement
            log(f"idle check: {e}")
        records = run_echo(fleet, cfg, rng, so_start, log)
    finally:
        fleet.stop()
    skipped.update(fleet.skipped)
    failures += fleet.failures
    stderr_notes += fleet.stderr_notes

    http_records: list[dict[str, Any]] = []
    if args.no_http:
        http_note = "--no-http"
    elif not hspecs:
        http_note = "no uvicorn server selected"
    elif shutil.which("wrk") is None:
        http_note = "wrk is not installed (apt-get install -y wrk)"
    elif subprocess.run([PY, "-c", "import uvicorn"], capture_output=True).returncode != 0:
        http_note = "uvicorn is not installed (pip install uvicorn)"
    else:
        http_note = ""
        hfleet = Fleet(hspecs, log)
        try:
            http_records = run_http(hfleet, cfg, rng, log)
        finally:
            hfleet.stop()
        skipped.update(hfleet.skipped)
        failures += hfleet.failures
        stderr_notes += hfleet.stderr_notes

    files_res: dict[str, Any] | None = None
    if args.no_files:
        files_text = "Files: skipped (--no-files)."
    else:
        log("aio_files.py")
        files_res, files_text = run_files(args.quick)
        if files_res is None:
            files_text = f"Files: skipped ({files_text})."

    info["wall_s"] = time.perf_counter() - t_start
    info["loadavg_end"] = os.getloadavg()
    info["uring_rs_end"] = so_identity()

    names = [s.name for s in specs if any(r["server"] == s.name for r in records)]
    baseline_of = {s.name: s.baseline for s in specs}
    cpu = summarize(records, "cpu_us_per_rt", names, pkeys, baseline_of)
    rps = summarize(records, "rt_per_s", names, pkeys, baseline_of)
    http_sum = None
    if http_records:
        hnames = [s.name for s in hspecs if any(r["server"] == s.name for r in http_records)]
        hb = dict.fromkeys(hnames, "uvloop uvicorn")
        http_sum = {
            "cpu": summarize(http_records, "cpu_us_per_req", hnames, ["http"], hb),
            "rps": summarize(http_records, "req_per_s", hnames, ["http"], hb),
        }
    tg = targets(cpu, rps, http_sum["cpu"] if http_sum else None, files_res, pkeys)
    print(
        render(
            info,
            cfg,
            names,
            cpu,
            rps,
            http_sum,
            http_note,
            files_text,
            tg,
            skipped,
            failures,
            stderr_notes,
        )
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    results = {
        "info": info,
        "records": records,
        "http_records": http_records,
        "cpu_us_per_rt": cpu,
        "rt_per_s": rps,
        "http": http_sum,
        "files": files_res,
        "targets": tg,
        "skipped": skipped,
        "failures": failures,
        "stderr": stderr_notes,
    }
    args.json.write_text(json.dumps(results, indent=1, default=str))
    why = None
    if names:
        why = plot(
            args.png,
            cpu,
            names,
            pkeys,
            {key(p): label(p) for p in cfg.points},
            f"uring_rs.Loop echo: server CPU per round trip ({cfg.rounds} rounds, "
            f"{cfg.seconds:g} s each, Linux {info['kernel']}, {info['cpus']} CPUs)",
        )
    log(f"wrote {args.json}" + (f", {args.png}" if names and why is None else f"; no plot: {why}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
