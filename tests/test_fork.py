"""fork(): a child touching its parent's ring gets a clear RuntimeError, can make and
use its own ring, and exits cleanly; the parent's ring carries on untouched."""

from __future__ import annotations

import errno
import gc
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest
from _support import reap
from uring_rs import Ring, ops


def in_child(body: Callable[[], int]) -> int:
    """Runs `body` in a forked child; returns its exit status (the child never returns)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 99
        try:
            code = body()
        except BaseException as e:  # noqa: BLE001 - the exit status carries it
            os.write(2, f"child: {e!r}\n".encode())
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_child_gets_a_clear_error_and_the_parent_ring_is_unaffected(tmp_path: object) -> None:
    r, w = os.pipe()
    with Ring(8) as ring:
        buf = bytearray(5)
        ops.read(ring, 1, r, buf, -1)  # in flight across the fork
        ring.submit()
        ops.nop(ring, 2)  # queued, not submitted, across the fork

        def child() -> int:
            calls: list[Callable[[], object]] = [
                ring.submit,
                ring.copy_cqes,
                lambda: ring.in_flight,
                lambda: ops.nop(ring, 3),
                lambda: ring.register_files([0]),
                ring.probe,
            ]
            for call in calls:
                try:
                    call()
                except RuntimeError as e:
                    msg = str(e)
                    if "fork" not in msg or "create a new Ring in the child" not in msg:
                        return 2
                else:
                    return 3
            # Its own ring works.
            with Ring(4) as mine:
                ops.nop(mine, 42)
                mine.submit(wait_nr=1)
                if [c.user_data for c in mine.copy_cqes()] != [42]:
                    return 4
            ring.close()  # closing the parent's ring in the child is allowed and harmless
            if not ring.closed:
                return 5
            return 0

        assert in_child(child) == 0
        # The parent's ring: the queued nop and the in-flight read complete.
        assert ring.submit() == 1
        os.write(w, b"hello")
        got = {c.user_data: c.res for c in reap(ring, 2)}
        assert got == {1: 5, 2: 0} and bytes(buf) == b"hello"
        # New work after the fork too.
        ops.timeout(ring, 4, 0.01)
        ring.submit()
        assert [(c.user_data, c.res) for c in reap(ring, 1)] == [(4, -errno.ETIME)]
        assert ring.in_flight == 0
    os.close(r)
    os.close(w)


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_child_that_drops_the_parents_ring_exits_cleanly() -> None:
    """Garbage collection of the parent's ring in the child (with ops in flight) is
    quiet: no crash, no cancel sent to the parent's ring."""
    r, w = os.pipe()
    ring = Ring(8)
    ops.read(ring, 1, r, bytearray(4), -1)
    ring.submit()

    def child() -> int:
        nonlocal ring
        del ring
        gc.collect()
        return 0

    assert in_child(child) == 0
    assert ring.in_flight == 1
    os.write(w, b"data")
    (cqe,) = reap(ring, 1)
    assert (cqe.user_data, cqe.res) == (1, 4), "the child's exit disturbed the parent's op"
    ring.close()
    os.close(r)
    os.close(w)


def test_child_exiting_through_the_interpreter_with_a_parent_ring() -> None:
    """A child that exits normally (interpreter finalization drops the parent's ring,
    with an op in flight) exits 0; the parent's op then completes. Run in a fresh
    interpreter, so the child's finalization is not pytest's."""
    code = textwrap.dedent(
        """
        import os, sys
        from uring_rs import Ring, ops
        r, w = os.pipe()
        ring = Ring(8)
        ops.read(ring, 1, r, bytearray(4), -1)
        ring.submit()
        pid = os.fork()
        if pid == 0:
            try:
                ring.submit()
            except RuntimeError:
                sys.exit(0)  # normal exit: finalization drops `ring`
            sys.exit(3)
        _, status = os.waitpid(pid, 0)
        os.write(w, b"data")
        (cqe,) = ring.copy_cqes(wait_nr=1, timeout=5)
        print(os.waitstatus_to_exitcode(status), cqe.user_data, cqe.res)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "1", "4"], (proc.stdout, proc.stderr)
