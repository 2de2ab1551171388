"""``python -m uring_rs``: ``info`` (what this machine's io_uring can do, in plain words)
and ``bench`` (the short benchmark suite of a source checkout)."""

from __future__ import annotations

import argparse
import errno
import os
import platform
import sys
from pathlib import Path

import uring_rs
from uring_rs import IoUringError, Ring, UringError

_FEATURES = sorted(
    (name for name in uring_rs.__all__ if name.startswith("IORING_FEAT_")),
    key=lambda n: int(getattr(uring_rs, n)),
)


def _sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys/" + name.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def explain_setup_failure(exc: UringError) -> str:
    """Why a ring cannot be set up here, in plain words."""
    disabled = _sysctl("kernel.io_uring_disabled")
    if exc.kind is IoUringError.SYSTEM_OUTDATED or exc.errno == errno.ENOSYS:
        return (
            "the kernel has no io_uring_setup syscall: it is older than 5.1, built without "
            "CONFIG_IO_URING, or a seccomp policy makes the call fail with ENOSYS"
        )
    if exc.kind is IoUringError.PERMISSION_DENIED or exc.errno == errno.EPERM:
        if disabled == "2":
            return "io_uring is disabled by the sysctl kernel.io_uring_disabled=2"
        if disabled == "1":
            return (
                "io_uring is limited to members of kernel.io_uring_group "
                "(sysctl kernel.io_uring_disabled=1)"
            )
        return (
            "io_uring_setup is not permitted: most likely a container's seccomp policy "
            "(Docker's and Podman's default profiles block io_uring)"
        )
    return str(exc)


def info(out: list[str]) -> int:
    """Appends to ``out`` what this machine's io_uring can do; returns the exit status (1
    when no ring can be set up here)."""
    out.append(f"uring_rs {uring_rs.__version__} on Python {platform.python_version()}")
    out.append(f"kernel: {uring_rs.kernel_release()} ({platform.machine()})")
    disabled = _sysctl("kernel.io_uring_disabled")
    if disabled is not None:
        out.append(f"sysctl kernel.io_uring_disabled: {disabled}")
    try:
        ring = Ring(8)
    except UringError as exc:
        out.append(f"io_uring: NOT AVAILABLE: {explain_setup_failure(exc)}")
        out.append(f"  ({exc.kind.name}: {exc})")
        return 1
    with ring:
        out.append("io_uring: available (a ring was set up here)")
        feats = [
            n.removeprefix("IORING_FEAT_")
            for n in _FEATURES
            if ring.features & getattr(uring_rs, n)
        ]
        unknown = ring.features & ~sum(int(getattr(uring_rs, n)) for n in _FEATURES)
        if unknown:
            feats.append(f"unknown bits {unknown:#x}")
        out.append(f"features ({len(feats)}): " + " ".join(feats))
        try:
            probe = ring.probe()
        except UringError as exc:
            out.append(f"opcodes: probe failed: {exc}")
            return 0
        names = probe.names()
        out.append(f"opcodes supported ({len(names)}, last_op={probe.last_op}):")
        line = " "
        for name in names:
            if len(line) + len(name) + 1 > 78:
                out.append(line)
                line = " "
            line += " " + name
        out.append(line)
        missing = [n for i, n in enumerate(uring_rs.opcode_names()) if not probe.supports(i)]
        if missing:
            out.append("not supported by this kernel: " + " ".join(missing))
    out.append(_loop_line())
    return 0


def _loop_line() -> str:
    """Whether ``uring_rs.Loop`` can run here: it needs a ring and a provided-buffer ring."""
    try:
        loop = uring_rs.new_event_loop()
    except UringError as exc:
        return f"event loop (uring_rs.Loop): NOT AVAILABLE: {exc}"
    try:
        loop.run_until_complete(_nothing())
    finally:
        loop.close()
    return (
        "event loop (uring_rs.Loop): available "
        "(uring_rs.run(main()), or loop_factory=uring_rs.new_event_loop)"
    )


async def _nothing() -> None:
    return None


def _find_suite() -> Path | None:
    """bench/suite.py of the source checkout: the current directory's, or the one this
    package was installed (editable) from."""
    here = Path(__file__).resolve()
    for root in (Path.cwd(), *here.parents):
        candidate = root / "bench" / "suite.py"
        if candidate.is_file():
            return candidate
    return None


def bench(out: list[str]) -> int:
    """The short benchmark suite (under a minute), from the source checkout's bench/.

    Progress goes to stderr while it runs; ``out`` gets the table, one line for the rows
    that were skipped and why, and where the results and the plot were written.
    """
    suite = _find_suite()
    if suite is None:
        out.append(
            "python -m uring_rs bench runs bench/suite.py of a uring_rs source checkout: "
            "run it from the repository root (the benchmarks are not part of the wheel)"
        )
        return 2
    import importlib.util

    spec = importlib.util.spec_from_file_location("uring_rs_bench_suite", suite)
    if spec is None or spec.loader is None:
        out.append(f"cannot load {suite}")
        return 2
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need their module registered
    spec.loader.exec_module(module)

    def progress(line: str) -> None:
        print(f"bench: {line.strip()}", file=sys.stderr, flush=True)

    progress(f"uring_rs {uring_rs.__version__}: quick benchmark suite ({suite}), under a minute")
    out.append(f"uring_rs {uring_rs.__version__}: quick benchmark suite ({suite})")
    out.append(str(module.run_quick(log=progress, out_dir=suite.parent / "out", compact=True)))
    return 0


DESCRIPTION = """\
uring_rs from the command line.

  python -m uring_rs info    kernel release, io_uring availability (and why not),
                             ring features and the opcodes this kernel supports
  python -m uring_rs bench   the short benchmark suite of a source checkout (run it
                             from the repository root; under a minute): uring_rs beside
                             os.pread, threads, C liburing and the PyPI bindings
"""


def _print(text: str) -> int:
    """Prints ``text``; a reader that went away (``| head``) ends the program quietly."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python would report the failed flush again at exit: point stdout at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + 13  # as a process killed by SIGPIPE
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m uring_rs",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{info,bench}")
    sub.add_parser(
        "info",
        help="kernel, ring features and supported opcodes (the default)",
        description="What this machine's io_uring can do: kernel release, whether a ring "
        "can be set up (and why not), ring features and supported opcodes.",
    )
    sub.add_parser(
        "bench",
        help="the short benchmark suite, beside os.pread, threads and C liburing",
        description="The short benchmark suite of a uring_rs source checkout (bench/suite.py "
        "--quick): progress on stderr, then the table, what was skipped, and where the "
        "results and the plot were written (bench/out/).",
    )
    args = parser.parse_args(argv)
    lines: list[str] = []
    rc = bench(lines) if args.command == "bench" else info(lines)
    return _print("\n".join(lines)) or rc


if __name__ == "__main__":
    sys.exit(main())
