"""The two loops the loop tests run on: uring_rs.Loop, and asyncio's own as the control.

Every test of tests/test_real_programs.py and tests/test_loop_reliability.py is parametrized
over ``LOOPS``, so a failure that shows on ``uring_rs`` alone is the loop's, and one that
shows on both is the test's (or the library's).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import uring_rs

_T = TypeVar("_T")

LOOPS = ["asyncio", "uring_rs"]
loop_kinds = pytest.mark.parametrize("kind", LOOPS)

FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uring_rs": uring_rs.new_event_loop,
}


class Hung(Exception):
    """The test's time ran out (raised from SIGALRM, so it also ends a loop stuck in its
    wait: both loops wake on EINTR and run Python's signal handlers)."""


@contextlib.contextmanager
def hard_deadline(seconds: float) -> Iterator[None]:
    """Raises ``Hung`` in the main thread after ``seconds``, however the loop is stuck."""

    def fire(signum: int, frame: Any) -> None:
        raise Hung(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_on(kind: str, main: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
    """Runs ``main`` to completion on a new loop of ``kind``, as ``asyncio.run`` does (for
    ``uring_rs``: ``uring_rs.run``), failing after ``timeout`` seconds instead of hanging.

    ``asyncio.wait_for`` gives the readable failure (with the coroutine's traceback); the
    alarm, a little later, catches a loop that no longer runs callbacks at all."""

    async def bounded() -> _T:
        return await asyncio.wait_for(main, timeout)

    with hard_deadline(timeout + 5):
        if kind == "uring_rs":
            return uring_rs.run(bounded())
        assert kind == "asyncio", kind
        return asyncio.run(bounded())


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def rss_kib() -> int:
    """The resident set size, from /proc/self/status (VmRSS, in KiB)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def fd_targets(fds: set[int]) -> dict[int, str]:
    """What each of ``fds`` is (for failure messages): socket:[..], anon_inode:[io_uring]..."""
    out = {}
    for fd in sorted(fds):
        with contextlib.suppress(OSError):
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return out
