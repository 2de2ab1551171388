"""Helpers shared by the core tests (not fixtures: those live in conftest.py or the test file)."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import signal
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path
from typing import Any

import pytest
import uring_rs
from uring_rs import Cqe, Ring

REPO = Path(__file__).resolve().parent.parent

#: The loops the aio tests run on: asyncio's own (the ring is woken by an eventfd) and
#: uring_rs.Loop (the ops go through the loop's own ring: a relay ring).
AIO_LOOPS = ["asyncio", "uring_rs"]
_aio_loop = ["asyncio"]


def aio_run(coro: Any) -> Any:
    """Runs ``coro`` on the loop the current test was parametrized with (conftest's
    ``aio_loop`` fixture sets it)."""
    if _aio_loop[0] == "uring_rs":
        return uring_rs.run(coro)
    return asyncio.run(coro)


DATA = bytes(i % 251 for i in range(65536))  # what conftest's data_file holds


def reap(ring: Ring, n: int, timeout: float = 5.0) -> list[Cqe]:
    """Consumes exactly ``n`` completions, failing (not hanging) if they do not come."""
    got: list[Cqe] = []
    while len(got) < n:
        batch = ring.copy_cqes(wait_nr=1, max=n - len(got), timeout=timeout)
        assert batch, f"timed out after {timeout}s with {len(got)}/{n} completions: {got}"
        got.extend(batch)
    return got


def by_user_data(cqes: list[Cqe]) -> dict[int, Cqe]:
    out = {c.user_data: c for c in cqes}
    assert len(out) == len(cqes), f"repeated user_data in {cqes}"
    return out


def needs(ring: Ring, *opcodes: int) -> None:
    """Skips the test unless the kernel supports every opcode (probed)."""
    probe = ring.probe()
    for op in opcodes:
        if not probe.supports(op):
            pytest.skip(f"kernel lacks opcode {uring_rs.opcode_names()[op]} (probed)")


def run_python(code: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a fresh interpreter (this venv, this uring_rs)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def restore_sigint() -> None:
    """``preexec_fn`` for a child that must get Ctrl-C: a shell starts background jobs with
    SIGINT ignored, the child would inherit that, and Python then never raises
    KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def eventfd_nonblocking() -> int:
    """A new non-blocking eventfd (counter 0): ``os.eventfd`` from Python 3.10, libc's before."""
    if hasattr(os, "eventfd"):
        return os.eventfd(0, os.EFD_NONBLOCK)
    libc = ctypes.CDLL(None, use_errno=True)
    fd: int = libc.eventfd(0, os.O_NONBLOCK)  # EFD_NONBLOCK is O_NONBLOCK (sys/eventfd.h)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def maps_lines() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


class WBuf(bytearray):
    """A bytearray that can be weakly referenced, to see when the ring lets go."""


def collected(ref: weakref.ref[WBuf]) -> bool:
    """Whether the object behind ``ref`` is gone after a collection."""
    gc.collect()
    return ref() is None
