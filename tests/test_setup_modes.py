"""Setup modes, each exercised against the real kernel."""

from __future__ import annotations

import errno
import socket
import threading
import time

import pytest
import uring_rs
from uring_rs import Cqe, Ring, UringError, ops


def ring_or_skip(entries: int, flags: int, **kw: int) -> Ring:
    """A ring with `flags`, or a skip saying the kernel refused them."""
    try:
        return Ring(entries, flags, **kw)
    except UringError as exc:
        if exc.errno in (errno.EINVAL, errno.EPERM):
            pytest.skip(f"kernel refused setup flags {flags:#x}: {exc}")
        raise


def reap(ring: Ring, n: int) -> list[Cqe]:
    got: list[Cqe] = []
    while len(got) < n:
        batch = ring.copy_cqes(wait_nr=1, timeout=5)
        assert batch, f"timed out after {len(got)}/{n}"
        got.extend(batch)
    return got


def test_sqpoll_submits_without_entering_while_the_thread_is_awake() -> None:
    with ring_or_skip(16, uring_rs.IORING_SETUP_SQPOLL, sq_thread_idle=2000) as ring:
        ops.nop(ring, 0)
        ring.submit()  # may wake the thread once
        reap(ring, 1)
        before = ring.enter_calls
        for i in range(1, 9):
            ops.nop(ring, i)
            assert ring.submit() == 1
        deadline = time.monotonic() + 5
        while ring.cq_ready() < 8 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert ring.cq_ready() == 8
        assert ring.enter_calls == before  # the SQ thread picked them up alone
        assert sorted(c.user_data for c in ring.copy_cqes()) == list(range(1, 9))


def test_sqpoll_thread_sleeps_when_idle_and_is_woken_by_submit() -> None:
    with ring_or_skip(8, uring_rs.IORING_SETUP_SQPOLL, sq_thread_idle=10) as ring:
        ops.nop(ring, 1)
        ring.submit()
        reap(ring, 1)
        deadline = time.monotonic() + 5
        while not ring.sq_flags() & uring_rs.IORING_SQ_NEED_WAKEUP:
            assert time.monotonic() < deadline, "SQ thread never went idle"
            time.sleep(0.005)
        before = ring.enter_calls
        ops.nop(ring, 2)
        assert ring.submit() == 1
        assert ring.enter_calls == before + 1  # the wakeup enter
        assert reap(ring, 1)[0].user_data == 2


def test_sqpoll_with_cpu_affinity() -> None:
    with ring_or_skip(8, uring_rs.IORING_SETUP_SQPOLL, sq_thread_cpu=0) as ring:
        assert ring.flags & uring_rs.IORING_SETUP_SQ_AFF
        ops.nop(ring, 3)
        ring.submit()
        assert reap(ring, 1)[0].user_data == 3


def test_sq_aff_without_sqpoll_is_arguments_invalid() -> None:
    with pytest.raises(UringError) as exc:
        Ring(8, sq_thread_cpu=0)
    assert exc.value.kind is uring_rs.IoUringError.ARGUMENTS_INVALID


def test_single_issuer_refuses_submission_from_another_thread() -> None:
    with ring_or_skip(8, uring_rs.IORING_SETUP_SINGLE_ISSUER) as ring:
        ops.nop(ring, 1)
        ring.submit()
        reap(ring, 1)
        errors: list[BaseException] = []

        def other() -> None:
            try:
                ops.nop(ring, 2)
                ring.submit()
            except BaseException as e:  # noqa: BLE001 - collected for the assert
                errors.append(e)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert len(errors) == 1 and isinstance(errors[0], UringError)
        assert errors[0].errno == errno.EEXIST


def test_defer_taskrun_completes_only_on_enter_with_getevents() -> None:
    flags = uring_rs.IORING_SETUP_SINGLE_ISSUER | uring_rs.IORING_SETUP_DEFER_TASKRUN
    with ring_or_skip(8, flags) as ring:
        a, b = socket.socketpair()
        try:
            buf = bytearray(16)
            ops.recv(ring, 1, a, buf)
            ring.submit()
            b.send(b"deferred")
            time.sleep(0.05)
            assert ring.cq_ready() == 0  # task work waits for us
            assert ring.copy_cqes() == []
            (cqe,) = ring.copy_cqes(wait_nr=1, timeout=5)
            assert cqe.result() == 8 and bytes(buf[:8]) == b"deferred"
        finally:
            a.close()
            b.close()


def test_coop_taskrun_with_taskrun_flag_round_trip() -> None:
    flags = uring_rs.IORING_SETUP_COOP_TASKRUN | uring_rs.IORING_SETUP_TASKRUN_FLAG
    with ring_or_skip(8, flags) as ring:
        a, b = socket.socketpair()
        try:
            ops.recv(ring, 1, a, bytearray(8))
            ring.submit()
            b.send(b"coop")
            (cqe,) = reap(ring, 1)
            assert cqe.result() == 4
        finally:
            a.close()
            b.close()


def test_cqsize_gives_the_requested_completion_queue() -> None:
    with Ring(4, cq_entries=64) as ring:
        assert ring.sq_entries == 4 and ring.cq_entries == 64
        assert ring.flags & uring_rs.IORING_SETUP_CQSIZE


def test_cqsize_smaller_than_sq_is_refused() -> None:
    with pytest.raises(UringError) as exc:
        Ring(64, cq_entries=8)
    assert exc.value.kind is uring_rs.IoUringError.ARGUMENTS_INVALID


def bad_then_nops(ring: Ring) -> None:
    # Unknown poll flags fail when the kernel prepares the SQE (EINVAL).
    ops.poll_add(ring, 100, 0, 1, 1 << 20)
    ops.nop(ring, 101)
    ops.nop(ring, 102)


def test_without_submit_all_submission_stops_at_a_failing_sqe() -> None:
    with Ring(8) as ring:
        bad_then_nops(ring)
        assert ring.submit() == 1
        assert ring.sq_ready() == 2  # the rest wait in the SQ
        assert ring.submit() == 2
        got = {c.user_data: c.res for c in reap(ring, 3)}
        assert got[100] == -errno.EINVAL and got[101] == 0 and got[102] == 0


def test_submit_all_submits_past_a_failing_sqe() -> None:
    with ring_or_skip(8, uring_rs.IORING_SETUP_SUBMIT_ALL) as ring:
        bad_then_nops(ring)
        assert ring.submit() == 3
        got = {c.user_data: c.res for c in reap(ring, 3)}
        assert got == {100: -errno.EINVAL, 101: 0, 102: 0}


def test_no_sqarray_ring_wraps_correctly() -> None:
    with ring_or_skip(4, uring_rs.IORING_SETUP_NO_SQARRAY) as ring:
        for round_ in range(50):
            for k in range(3):
                ops.nop(ring, round_ * 3 + k)
            assert ring.submit(wait_nr=3) == 3
            assert [c.user_data for c in ring.copy_cqes()] == [round_ * 3 + k for k in range(3)]


@pytest.mark.parametrize(
    "flag",
    [
        uring_rs.IORING_SETUP_SQE128,
        uring_rs.IORING_SETUP_CQE32,
        uring_rs.IORING_SETUP_NO_MMAP,
        uring_rs.IORING_SETUP_REGISTERED_FD_ONLY,
    ],
)
def test_unsupported_setup_flags_are_refused_clearly(flag: int) -> None:
    with pytest.raises(ValueError, match="not supported by uring_rs"):
        Ring(8, flag)


def test_unknown_setup_flag_is_arguments_invalid() -> None:
    with pytest.raises(UringError) as exc:
        Ring(8, 1 << 30)
    assert exc.value.kind is uring_rs.IoUringError.ARGUMENTS_INVALID
    assert exc.value.errno == errno.EINVAL
