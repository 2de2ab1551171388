"""Ring: setup, entries, properties, close, SQ/CQ behaviour, wrap-around, overflow, errors.

All against the real kernel. Each test checks one behaviour and is named for it.
"""

from __future__ import annotations

import errno
import os
import pickle
import select
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
import uring_rs
from _support import DATA, open_fds, reap, run_python
from uring_rs import Cqe, IoUringError, Ring, UringError, UringValueError, ops

# ---------------------------------------------------------------- entries


@pytest.mark.parametrize(
    ("entries", "kind"),
    [
        (0, IoUringError.ENTRIES_ZERO),
        (3, IoUringError.ENTRIES_NOT_POWER_OF_TWO),
        (33, IoUringError.ENTRIES_NOT_POWER_OF_TWO),
        (65536, IoUringError.ENTRIES_TOO_LARGE),
        (2**70, IoUringError.ENTRIES_TOO_LARGE),
    ],
)
def test_bad_entries_raise_uring_error_that_is_also_value_error(
    entries: int, kind: IoUringError
) -> None:
    with pytest.raises(UringError) as info:
        Ring(entries)
    assert info.value.kind is kind
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, UringValueError)
    assert isinstance(info.value, OSError)


def test_bad_entries_are_caught_by_except_value_error() -> None:
    with pytest.raises(ValueError):
        Ring(3)


def test_bad_entries_error_carries_no_errno() -> None:
    with pytest.raises(UringError) as info:
        Ring(0)
    assert info.value.errno is None


def test_negative_entries_raise_value_error() -> None:
    with pytest.raises(ValueError):
        Ring(-1)


@pytest.mark.parametrize("entries", [4.0, "4", b"4"])
def test_non_integer_entries_raise_type_error(entries: object) -> None:
    with pytest.raises(TypeError):
        Ring(entries)  # type: ignore[arg-type]


@pytest.mark.parametrize("entries", [1, 2, 4, 4096, 32768])
def test_power_of_two_entries_up_to_32768_set_up(entries: int) -> None:
    with Ring(entries) as ring:
        assert ring.sq_entries == entries
        assert ring.cq_entries == 2 * entries  # the kernel's default CQ size


def test_default_entries_is_32() -> None:
    with Ring() as ring:
        assert ring.sq_entries == 32


def test_4096_entries_ring_queues_4096_nops() -> None:
    with Ring(4096) as ring:
        assert ops.nop_many(ring, 0, 4096) == 4096
        assert ring.sq_space_left() == 0
        assert ring.submit() == 4096
        assert len(reap(ring, 4096)) == 4096


# ---------------------------------------------------------------- setup flags and parameters


def test_cq_entries_sets_cq_size_and_cqsize_flag() -> None:
    with Ring(4, cq_entries=8) as ring:
        assert ring.sq_entries == 4
        assert ring.cq_entries == 8
        assert ring.flags & uring_rs.IORING_SETUP_CQSIZE


def test_cq_entries_is_rounded_up_to_a_power_of_two() -> None:
    with Ring(4, cq_entries=5) as ring:
        assert ring.cq_entries == 8


@pytest.mark.parametrize("cq_entries", [0, 2, 1 << 30])
def test_bad_cq_entries_raise_arguments_invalid(cq_entries: int) -> None:
    # 0, fewer than the SQ, or beyond the kernel's limit without CLAMP.
    with pytest.raises(UringError) as info:
        Ring(4, cq_entries=cq_entries)
    assert info.value.kind is IoUringError.ARGUMENTS_INVALID
    assert info.value.errno == errno.EINVAL
    assert not isinstance(info.value, ValueError)


def test_sq_thread_cpu_without_sqpoll_raises_arguments_invalid() -> None:
    # sq_thread_cpu adds IORING_SETUP_SQ_AFF, which the kernel refuses without SQPOLL.
    with pytest.raises(UringError) as info:
        Ring(4, sq_thread_cpu=0)
    assert info.value.kind is IoUringError.ARGUMENTS_INVALID
    assert info.value.errno == errno.EINVAL


def test_cq_entries_beyond_limit_with_clamp_are_clamped() -> None:
    with Ring(4, uring_rs.IORING_SETUP_CLAMP, cq_entries=1 << 30) as ring:
        assert ring.cq_entries >= 4
        assert ring.cq_entries & (ring.cq_entries - 1) == 0


@pytest.mark.parametrize(
    "flag",
    [
        uring_rs.IORING_SETUP_SQE128,
        uring_rs.IORING_SETUP_CQE32,
        uring_rs.IORING_SETUP_NO_MMAP,
        uring_rs.IORING_SETUP_REGISTERED_FD_ONLY,
        uring_rs.IORING_SETUP_ATTACH_WQ,
    ],
)
def test_unsupported_setup_flags_raise_value_error(flag: int) -> None:
    with pytest.raises(ValueError):
        Ring(4, flag)


def test_process_fd_quota_exceeded_when_rlimit_nofile_is_used_up() -> None:
    proc = run_python(
        """
        import os, resource
        from uring_rs import Ring, UringError
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        fds = []
        try:
            while True:
                fds.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            pass
        try:
            Ring(4)
        except UringError as e:
            print(e.kind.name, e.errno)
        else:
            print("no error")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["PROCESS_FD_QUOTA_EXCEEDED", str(errno.EMFILE)]


# ---------------------------------------------------------------- properties


def test_fd_is_an_open_io_uring_file_descriptor(ring: Ring) -> None:
    assert os.readlink(f"/proc/self/fd/{ring.fd}") == "anon_inode:[io_uring]"


def test_ring_fd_is_not_inheritable(ring: Ring) -> None:
    assert not os.get_inheritable(ring.fd)


def test_flags_are_the_setup_flags() -> None:
    with Ring(4) as ring:
        assert ring.flags == 0
    with Ring(4, uring_rs.IORING_SETUP_CLAMP) as ring:
        assert ring.flags == uring_rs.IORING_SETUP_CLAMP


def test_features_report_what_the_kernel_offers(ring: Ring) -> None:
    # Every kernel this library supports has these (5.4 / 5.5).
    assert ring.features & uring_rs.IORING_FEAT_SINGLE_MMAP
    assert ring.features & uring_rs.IORING_FEAT_NODROP


@pytest.mark.parametrize(
    "name", ["fd", "flags", "features", "sq_entries", "cq_entries", "closed", "in_flight"]
)
def test_properties_are_read_only(ring: Ring, name: str) -> None:
    with pytest.raises(AttributeError):
        setattr(ring, name, 1)


def test_closed_is_false_until_close(ring: Ring) -> None:
    assert ring.closed is False
    ring.close()
    assert ring.closed is True


def test_fresh_ring_has_an_empty_sq_and_cq(ring: Ring) -> None:
    assert ring.sq_ready() == 0
    assert ring.sq_space_left() == ring.sq_entries
    assert ring.cq_ready() == 0
    assert ring.in_flight == 0
    assert ring.cq_ring_needs_flush() is False


def test_repr_names_sizes_and_state() -> None:
    ring = Ring(8)
    assert "sq_entries=8" in repr(ring) and "open" in repr(ring)
    ring.close()
    assert "closed" in repr(ring)


# ---------------------------------------------------------------- close


def test_close_is_idempotent() -> None:
    ring = Ring(4)
    ring.close()
    ring.close()
    assert ring.closed


def test_close_closes_the_ring_fd() -> None:
    before = open_fds()
    ring = Ring(4)
    assert open_fds() == before + 1
    ring.close()
    assert open_fds() == before


def test_context_manager_closes_the_ring() -> None:
    with Ring(4) as ring:
        assert not ring.closed
    assert ring.closed


def test_context_manager_does_not_swallow_exceptions() -> None:
    with pytest.raises(KeyError), Ring(4) as ring:
        raise KeyError("x")
    assert ring.closed


def test_entering_a_closed_ring_as_context_manager_raises_value_error() -> None:
    ring = Ring(4)
    ring.close()
    with pytest.raises(ValueError), ring:
        pass


def test_properties_stay_readable_after_close() -> None:
    ring = Ring(8)
    ring.close()
    assert ring.sq_entries == 8 and ring.cq_entries == 16
    assert ring.closed


_CLOSED_RING_CALLS: dict[str, Callable[[Ring], object]] = {
    "submit": lambda r: r.submit(),
    "submit(wait_nr=1)": lambda r: r.submit(wait_nr=1),
    "enter": lambda r: r.enter(0, 0, 0),
    "flush_sq": lambda r: r.flush_sq(),
    "sq_ready": lambda r: r.sq_ready(),
    "cq_ready": lambda r: r.cq_ready(),
    "sq_space_left": lambda r: r.sq_space_left(),
    "copy_cqes": lambda r: r.copy_cqes(),
    "copy_cqes(wait_nr=1)": lambda r: r.copy_cqes(wait_nr=1),
    "copy_cqe": lambda r: r.copy_cqe(),
    "peek_cqes": lambda r: r.peek_cqes(),
    "cq_advance": lambda r: r.cq_advance(0),
    "cqe_seen": lambda r: r.cqe_seen(),
    "cq_ring_needs_flush": lambda r: r.cq_ring_needs_flush(),
    "in_flight": lambda r: r.in_flight,
    "enter_calls": lambda r: r.enter_calls,
    "sq_flags": lambda r: r.sq_flags(),
    "probe": lambda r: r.probe(),
    "register_files": lambda r: r.register_files([0]),
    "unregister_files": lambda r: r.unregister_files(),
    "register_eventfd": lambda r: r.register_eventfd(0),
    "unregister_eventfd": lambda r: r.unregister_eventfd(),
    "register_buffers": lambda r: r.register_buffers([bytearray(8)]),
    "unregister_buffers": lambda r: r.unregister_buffers(),
    "ops.nop": lambda r: ops.nop(r, 1),
    "ops.read": lambda r: ops.read(r, 1, 0, bytearray(8), 0),
    "ops.write": lambda r: ops.write(r, 1, 1, b"x", 0),
    "ops.fsync": lambda r: ops.fsync(r, 1, 0),
    "ops.accept": lambda r: ops.accept(r, 1, 0),
    "ops.connect": lambda r: ops.connect(r, 1, 0, "/nonexistent"),
    "ops.recv": lambda r: ops.recv(r, 1, 0, bytearray(8)),
    "ops.send": lambda r: ops.send(r, 1, 0, b"x"),
    "ops.openat": lambda r: ops.openat(r, 1, uring_rs.AT_FDCWD, "/"),
    "ops.close": lambda r: ops.close(r, 1, 1000),
    "ops.timeout": lambda r: ops.timeout(r, 1, 1),
    "ops.timeout_remove": lambda r: ops.timeout_remove(r, 1, 2),
    "ops.link_timeout": lambda r: ops.link_timeout(r, 1, 1),
    "ops.poll_add": lambda r: ops.poll_add(r, 1, 0, select.POLLIN),
    "ops.poll_remove": lambda r: ops.poll_remove(r, 1, 2),
}


@pytest.mark.parametrize("call", list(_CLOSED_RING_CALLS), ids=list(_CLOSED_RING_CALLS))
def test_closed_ring_raises_value_error(call: str) -> None:
    ring = Ring(4)
    ring.close()
    with pytest.raises(ValueError, match="closed"):
        _CLOSED_RING_CALLS[call](ring)


# ---------------------------------------------------------------- submission queue


def test_queueing_an_op_fills_one_sq_entry(ring: Ring) -> None:
    ops.nop(ring, 1)
    assert ring.sq_ready() == 1
    assert ring.sq_space_left() == ring.sq_entries - 1
    assert ring.in_flight == 1


def test_queueing_does_not_submit(ring: Ring) -> None:
    ops.nop(ring, 1)
    time.sleep(0.01)
    assert ring.cq_ready() == 0
    assert ring.copy_cqes() == []


def test_submit_returns_the_number_submitted(ring: Ring) -> None:
    for i in range(5):
        ops.nop(ring, i)
    assert ring.submit() == 5
    assert ring.sq_ready() == 0
    assert ring.submit() == 0


def test_submit_with_wait_nr_waits_for_completions(ring: Ring) -> None:
    ops.timeout(ring, 1, 0.03)
    start = time.monotonic()
    assert ring.submit(wait_nr=1) == 1
    assert time.monotonic() - start >= 0.02
    assert ring.cq_ready() == 1


def test_sq_full_raises_submission_queue_full() -> None:
    with Ring(4) as ring:
        for i in range(4):
            ops.nop(ring, i)
        with pytest.raises(UringError) as info:
            ops.nop(ring, 4)
        assert info.value.kind is IoUringError.SUBMISSION_QUEUE_FULL
        assert not isinstance(info.value, ValueError)


def test_sq_full_queues_nothing() -> None:
    with Ring(4) as ring:
        for i in range(4):
            ops.nop(ring, i)
        buf = bytearray(8)
        with pytest.raises(UringError):
            ops.read(ring, 99, 0, buf, 0)
        assert ring.sq_ready() == 4
        assert ring.in_flight == 4
        buf.extend(b"resizable: no export left behind")
        assert ring.submit() == 4
        assert sorted(c.user_data for c in reap(ring, 4)) == [0, 1, 2, 3]
        assert ring.copy_cqes() == []


def test_sq_has_room_again_after_submit() -> None:
    with Ring(4) as ring:
        for i in range(4):
            ops.nop(ring, i)
        ring.submit()
        assert ring.sq_space_left() == 4
        ops.nop(ring, 4)
        ring.submit()
        assert len(reap(ring, 5)) == 5


def test_nop_many_on_a_nearly_full_sq_queues_nothing() -> None:
    with Ring(4) as ring:
        ops.nop(ring, 0)
        with pytest.raises(UringError) as info:
            ops.nop_many(ring, 10, 4)
        assert info.value.kind is IoUringError.SUBMISSION_QUEUE_FULL
        assert ring.sq_ready() == 1


def test_flush_sq_publishes_without_entering(ring: Ring) -> None:
    ops.nop(ring, 1)
    ops.nop(ring, 2)
    calls = ring.enter_calls
    assert ring.flush_sq() == 2
    assert ring.enter_calls == calls
    assert ring.cq_ready() == 0


def test_raw_enter_submits_what_flush_sq_published(ring: Ring) -> None:
    ops.nop(ring, 1)
    ops.nop(ring, 2)
    ring.flush_sq()
    assert ring.enter(2, 2, uring_rs.IORING_ENTER_GETEVENTS) == 2
    assert sorted(c.user_data for c in ring.copy_cqes()) == [1, 2]


def test_raw_enter_does_not_flush_the_sq_itself(ring: Ring) -> None:
    # enter() is the bare syscall (as in liburing and Zig): queued but unpublished
    # SQEs are invisible to the kernel until flush_sq() or submit().
    ops.nop(ring, 1)
    assert ring.enter(1, 0, 0) == 0
    assert ring.sq_ready() == 1
    assert ring.submit() == 1
    assert [c.user_data for c in reap(ring, 1)] == [1]


def test_4_entry_ring_wraps_around_10000_times_one_op_at_a_time() -> None:
    with Ring(4) as ring:
        for i in range(10_000):
            ops.nop(ring, i)
            assert ring.submit() == 1
            (cqe,) = ring.copy_cqes(wait_nr=1)
            assert cqe.user_data == i and cqe.res == 0
        assert ring.in_flight == 0


def test_4_entry_ring_wraps_around_with_full_batches() -> None:
    with Ring(4) as ring:
        for batch in range(2_500):
            for j in range(4):
                ops.nop(ring, batch * 4 + j)
            assert ring.submit(wait_nr=4) == 4
            cqes = ring.copy_cqes()
            assert [c.user_data for c in cqes] == [batch * 4 + j for j in range(4)]


def test_reads_through_a_wrapped_ring_land_in_their_own_buffers(rfd: int) -> None:
    with Ring(4) as ring:
        for i in range(3000):
            bufs = [bytearray(16) for _ in range(3)]
            offs = [(i * 48 + k * 16) % 65000 for k in range(3)]
            for k in range(3):
                ops.read(ring, k, rfd, bufs[k], offs[k])
            ring.submit()
            for c in reap(ring, 3):
                assert c.res == 16
            for k in range(3):
                assert bytes(bufs[k]) == DATA[offs[k] : offs[k] + 16]


# ---------------------------------------------------------------- completion queue


def test_cq_ready_counts_unconsumed_completions(ring: Ring) -> None:
    for i in range(3):
        ops.nop(ring, i)
    ring.submit(wait_nr=3)
    assert ring.cq_ready() == 3


def test_copy_cqes_consumes_the_ready_completions(ring: Ring) -> None:
    for i in range(3):
        ops.nop(ring, i)
    ring.submit(wait_nr=3)
    assert [c.user_data for c in ring.copy_cqes()] == [0, 1, 2]
    assert ring.cq_ready() == 0
    assert ring.in_flight == 0
    assert ring.copy_cqes() == []


def test_copy_cqes_max_takes_at_most_max(ring: Ring) -> None:
    for i in range(5):
        ops.nop(ring, i)
    ring.submit(wait_nr=5)
    assert [c.user_data for c in ring.copy_cqes(max=2)] == [0, 1]
    assert ring.cq_ready() == 3
    assert [c.user_data for c in ring.copy_cqes(max=10)] == [2, 3, 4]


def test_copy_cqes_max_zero_returns_nothing_and_consumes_nothing(ring: Ring) -> None:
    ops.nop(ring, 1)
    ring.submit(wait_nr=1)
    assert ring.copy_cqes(max=0) == []
    assert ring.copy_cqes(wait_nr=1, max=0) == []
    assert ring.cq_ready() == 1


def test_copy_cqes_negative_max_raises_value_error(ring: Ring) -> None:
    with pytest.raises(ValueError):
        ring.copy_cqes(max=-1)


def test_copy_cqes_without_wait_does_not_block(ring: Ring) -> None:
    ops.timeout(ring, 1, 5)
    ring.submit()
    start = time.monotonic()
    assert ring.copy_cqes() == []
    assert time.monotonic() - start < 0.5


def test_copy_cqes_with_timeout_returns_empty_after_the_timeout(ring: Ring) -> None:
    start = time.monotonic()
    assert ring.copy_cqes(wait_nr=1, timeout=0.05) == []
    elapsed = time.monotonic() - start
    assert 0.04 <= elapsed < 1.0


def test_copy_cqes_with_timeout_returns_as_soon_as_a_completion_arrives(ring: Ring) -> None:
    ops.timeout(ring, 7, 0.02)
    ring.submit()
    start = time.monotonic()
    cqes = ring.copy_cqes(wait_nr=1, timeout=5.0)
    assert [c.user_data for c in cqes] == [7]
    assert time.monotonic() - start < 1.0


def test_copy_cqes_with_zero_timeout_does_not_wait(ring: Ring) -> None:
    start = time.monotonic()
    assert ring.copy_cqes(wait_nr=1, timeout=0) == []
    assert time.monotonic() - start < 0.5


def test_copy_cqes_with_negative_timeout_raises_value_error(ring: Ring) -> None:
    with pytest.raises(ValueError):
        ring.copy_cqes(wait_nr=1, timeout=-1.0)


def test_copy_cqes_wait_nr_waits_for_a_pending_completion(ring: Ring) -> None:
    ops.timeout(ring, 3, 0.02)
    ring.submit()
    assert [c.user_data for c in ring.copy_cqes(wait_nr=1)] == [3]


class _TwoReads:
    """Two reads on pipes that a thread completes at 0.05 s and at 0.45 s: the
    second lands after the library's internal 250 ms wait slice."""

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self.pipes = [os.pipe(), os.pipe()]
        self.bufs = [bytearray(1), bytearray(1)]
        for i, (r, _) in enumerate(self.pipes):
            ops.read(ring, i + 1, r, self.bufs[i], -1)
        ring.submit()
        self.thread = threading.Thread(target=self._feed)
        self.thread.start()

    def _feed(self) -> None:
        time.sleep(0.05)
        os.write(self.pipes[0][1], b"a")
        time.sleep(0.4)
        os.write(self.pipes[1][1], b"b")

    def finish(self) -> None:
        self.thread.join()
        reap(self.ring, self.ring.in_flight)
        for pair in self.pipes:
            for fd in pair:
                os.close(fd)


def test_copy_cqes_wait_nr_2_waits_for_two_completions(ring: Ring) -> None:
    two = _TwoReads(ring)
    try:
        start = time.monotonic()
        got = ring.copy_cqes(wait_nr=2)
        elapsed = time.monotonic() - start
        assert sorted(c.user_data for c in got) == [1, 2], f"after {elapsed:.2f}s"
    finally:
        two.finish()


def test_copy_cqes_wait_nr_2_with_timeout_waits_for_two_completions(ring: Ring) -> None:
    two = _TwoReads(ring)
    try:
        got = ring.copy_cqes(wait_nr=2, timeout=5)
        assert sorted(c.user_data for c in got) == [1, 2]
    finally:
        two.finish()


def test_submit_wait_nr_2_waits_for_two_completions(ring: Ring) -> None:
    two = _TwoReads(ring)
    try:
        ring.submit(wait_nr=2)
        assert ring.cq_ready() == 2
    finally:
        two.finish()


def test_copy_cqes_wait_nr_2_with_a_short_timeout_returns_what_is_there(ring: Ring) -> None:
    two = _TwoReads(ring)
    try:
        start = time.monotonic()
        got = ring.copy_cqes(wait_nr=2, timeout=0.15)
        assert 0.1 <= time.monotonic() - start < 0.4
        assert [c.user_data for c in got] == [1]
    finally:
        two.finish()


def test_a_fired_timeout_op_ends_a_wait_for_more_completions(ring: Ring) -> None:
    # The kernel's rule: a TIMEOUT completion wakes waiters whatever min_complete is.
    ops.timeout(ring, 1, 0.02)
    ops.timeout(ring, 2, 5)
    ring.submit()
    start = time.monotonic()
    got = ring.copy_cqes(wait_nr=2)
    assert [c.user_data for c in got] == [1]
    assert time.monotonic() - start < 0.2
    ops.timeout_remove(ring, 3, 2)
    ring.submit()
    reap(ring, 2)


def test_copy_cqe_waits_for_one_completion_and_consumes_it(ring: Ring) -> None:
    ops.timeout(ring, 4, 0.01)
    ops.nop(ring, 5)
    ring.submit()
    first = ring.copy_cqe()
    second = ring.copy_cqe()
    assert {first.user_data, second.user_data} == {4, 5}
    assert ring.cq_ready() == 0


def test_peek_cqes_does_not_consume(ring: Ring) -> None:
    ops.nop(ring, 1)
    ops.nop(ring, 2)
    ring.submit(wait_nr=2)
    assert [c.user_data for c in ring.peek_cqes()] == [1, 2]
    assert [c.user_data for c in ring.peek_cqes(max=1)] == [1]
    assert ring.cq_ready() == 2
    assert ring.in_flight == 2


def test_cq_advance_consumes_peeked_completions(ring: Ring) -> None:
    for i in range(3):
        ops.nop(ring, i)
    ring.submit(wait_nr=3)
    ring.peek_cqes()
    ring.cq_advance(2)
    assert ring.cq_ready() == 1
    assert ring.in_flight == 1
    assert [c.user_data for c in ring.peek_cqes()] == [2]


def test_cqe_seen_consumes_one_completion(ring: Ring) -> None:
    ops.nop(ring, 1)
    ops.nop(ring, 2)
    ring.submit(wait_nr=2)
    (first, _) = ring.peek_cqes()
    assert first.user_data == 1
    ring.cqe_seen()
    assert [c.user_data for c in ring.peek_cqes()] == [2]
    ring.cqe_seen()
    assert ring.cq_ready() == 0 and ring.in_flight == 0


def test_cq_advance_past_the_ready_completions_raises_value_error(ring: Ring) -> None:
    ops.nop(ring, 1)
    ring.submit(wait_nr=1)
    with pytest.raises(ValueError):
        ring.cq_advance(2)
    assert ring.cq_ready() == 1


def test_cqe_seen_with_nothing_ready_raises_value_error(ring: Ring) -> None:
    with pytest.raises(ValueError):
        ring.cqe_seen()


def test_cq_overflow_loses_no_completion() -> None:
    # CQ of 8; 64 NOPs across 16 submits, none reaped in between: the kernel
    # keeps the 56 that do not fit (IORING_FEAT_NODROP) and they all come back.
    with Ring(4, cq_entries=8) as ring:
        assert ring.cq_entries == 8
        for batch in range(16):
            for j in range(4):
                ops.nop(ring, batch * 4 + j)
            assert ring.submit() == 4
        assert ring.cq_ready() == 8
        assert ring.cq_ring_needs_flush()
        assert ring.sq_flags() & uring_rs.IORING_SQ_CQ_OVERFLOW
        seen: list[int] = []
        deadline = time.monotonic() + 5
        while ring.in_flight and time.monotonic() < deadline:
            seen.extend(c.user_data for c in ring.copy_cqes())
        assert sorted(seen) == list(range(64))
        assert not ring.cq_ring_needs_flush()


def test_cq_overflow_is_flushed_by_a_waiting_copy() -> None:
    with Ring(4, cq_entries=8) as ring:
        for batch in range(4):
            for j in range(4):
                ops.nop(ring, batch * 4 + j)
            ring.submit()
        seen = [c.user_data for c in reap(ring, 16)]
        assert sorted(seen) == list(range(16))


def test_peek_cqes_sees_overflowed_completions_once_the_cq_is_drained() -> None:
    with Ring(4, cq_entries=8) as ring:
        for batch in range(3):
            for j in range(4):
                ops.nop(ring, batch * 4 + j)
            ring.submit()
        assert len(ring.peek_cqes()) == 8
        ring.cq_advance(8)
        assert sorted(c.user_data for c in ring.peek_cqes()) == list(range(8, 12))


# ---------------------------------------------------------------- errors from the kernel


def test_enter_with_unknown_flags_raises_submission_queue_entry_invalid(ring: Ring) -> None:
    with pytest.raises(UringError) as info:
        ring.enter(0, 0, 1 << 20)
    assert info.value.kind is IoUringError.SUBMISSION_QUEUE_ENTRY_INVALID
    assert info.value.errno == errno.EINVAL


def test_register_eventfd_with_a_closed_fd_raises_file_descriptor_invalid(ring: Ring) -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(UringError) as info:
        ring.register_eventfd(r)
    assert info.value.kind is IoUringError.FILE_DESCRIPTOR_INVALID
    assert info.value.errno == errno.EBADF


def test_register_files_with_a_closed_fd_raises_file_descriptor_invalid(ring: Ring) -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(UringError) as info:
        ring.register_files([r])
    assert info.value.kind is IoUringError.FILE_DESCRIPTOR_INVALID


def test_fixed_file_without_registered_files_fails_in_the_completion(ring: Ring) -> None:
    # The kernel does not fail io_uring_enter for this (so no
    # FILE_DESCRIPTOR_INVALID from enter): the op's completion carries -EBADF.
    sqe = ops.read(ring, 1, 0, bytearray(8), 0)
    sqe.flags = uring_rs.IOSQE_FIXED_FILE
    ring.flush_sq()
    assert ring.enter(1, 1, uring_rs.IORING_ENTER_GETEVENTS) == 1
    (cqe,) = ring.copy_cqes()
    assert cqe.res == -errno.EBADF
    with pytest.raises(OSError) as info:
        cqe.result()
    assert info.value.errno == errno.EBADF


def test_enter_interrupted_by_a_signal_raises_signal_interrupt() -> None:
    proc = run_python(
        """
        import signal, uring_rs
        from uring_rs import Ring, UringError
        calls = []
        signal.signal(signal.SIGALRM, lambda *a: calls.append(1))
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        ring = Ring(4)
        try:
            ring.enter(0, 1, uring_rs.IORING_ENTER_GETEVENTS)
        except UringError as e:
            print(e.kind.name, e.errno, len(calls))
        else:
            print("returned")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["SIGNAL_INTERRUPT", str(errno.EINTR), "1"]


def test_enter_interrupted_by_a_raising_handler_propagates_its_exception() -> None:
    proc = run_python(
        """
        import signal, uring_rs
        from uring_rs import Ring
        def boom(*a):
            raise RuntimeError("from handler")
        signal.signal(signal.SIGALRM, boom)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        try:
            Ring(4).enter(0, 1, uring_rs.IORING_ENTER_GETEVENTS)
        except RuntimeError as e:
            print("handler:", e)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "handler: from handler"


def test_uring_error_pickles_with_kind_and_errno() -> None:
    with pytest.raises(UringError) as info:
        Ring(4, sq_thread_cpu=0)
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is UringError
    assert clone.kind is IoUringError.ARGUMENTS_INVALID
    assert clone.errno == errno.EINVAL


def test_io_uring_error_has_the_contracts_kinds() -> None:
    assert [k.name for k in IoUringError] == [
        "ENTRIES_ZERO",
        "ENTRIES_NOT_POWER_OF_TWO",
        "ENTRIES_TOO_LARGE",
        "PARAMS_OUTSIDE_ACCESSIBLE_ADDRESS_SPACE",
        "ARGUMENTS_INVALID",
        "PROCESS_FD_QUOTA_EXCEEDED",
        "SYSTEM_FD_QUOTA_EXCEEDED",
        "SYSTEM_RESOURCES",
        "PERMISSION_DENIED",
        "SYSTEM_OUTDATED",
        "SUBMISSION_QUEUE_FULL",
        "FILE_DESCRIPTOR_INVALID",
        "COMPLETION_QUEUE_OVERCOMMITTED",
        "SUBMISSION_QUEUE_ENTRY_INVALID",
        "BUFFER_INVALID",
        "RING_SHUTTING_DOWN",
        "OPCODE_NOT_SUPPORTED",
        "SIGNAL_INTERRUPT",
        "UNEXPECTED",
    ]


# ---------------------------------------------------------------- Cqe


@pytest.mark.parametrize(
    ("err", "exc"),
    [
        (errno.ENOENT, FileNotFoundError),
        (errno.EEXIST, FileExistsError),
        (errno.EISDIR, IsADirectoryError),
        (errno.ENOTDIR, NotADirectoryError),
        (errno.EACCES, PermissionError),
        (errno.EPERM, PermissionError),
        (errno.EAGAIN, BlockingIOError),
        (errno.EINTR, InterruptedError),
        (errno.EPIPE, BrokenPipeError),
        (errno.ECONNREFUSED, ConnectionRefusedError),
        (errno.ECONNRESET, ConnectionResetError),
        (errno.ECONNABORTED, ConnectionAbortedError),
        (errno.ETIMEDOUT, TimeoutError),
        (errno.ECHILD, ChildProcessError),
        (errno.ESRCH, ProcessLookupError),
    ],
)
def test_cqe_result_raises_the_os_error_subclass_for_its_errno(
    err: int, exc: type[OSError]
) -> None:
    with pytest.raises(exc) as info:
        Cqe(1, -err, 0).result()
    assert type(info.value) is exc
    assert info.value.errno == err
    assert info.value.strerror == os.strerror(err)


@pytest.mark.parametrize("err", [errno.EBADF, errno.ETIME, errno.ECANCELED, errno.EINVAL])
def test_cqe_result_raises_plain_os_error_for_other_errnos(err: int) -> None:
    with pytest.raises(OSError) as info:
        Cqe(1, -err, 0).result()
    assert type(info.value) is OSError
    assert info.value.errno == err


def test_cqe_result_returns_res_when_not_negative() -> None:
    assert Cqe(1, 0, 0).result() == 0
    assert Cqe(1, 4096, 0).result() == 4096


def test_cqe_unpacks_as_user_data_res_flags() -> None:
    user_data, res, flags = Cqe(2**64 - 1, -2, 7)
    assert (user_data, res, flags) == (2**64 - 1, -2, 7)
    assert len(Cqe(1, 2, 3)) == 3
    assert list(Cqe(1, 2, 3)) == [1, 2, 3]


def test_cqes_compare_equal_by_user_data_res_flags() -> None:
    assert Cqe(1, 2, 3) == Cqe(1, 2, 3)
    assert Cqe(1, 2, 3) != Cqe(1, 2, 4)
    assert Cqe(1, 2, 3) != Cqe(0, 2, 3)
    assert Cqe(1, 2, 3) != (1, 2, 3)
    assert hash(Cqe(1, 2, 3)) == hash(Cqe(1, 2, 3))
    assert len({Cqe(1, 2, 3), Cqe(1, 2, 3), Cqe(1, 2, 4)}) == 2


def test_cqe_more_reflects_ioring_cqe_f_more() -> None:
    assert Cqe(1, 0, uring_rs.IORING_CQE_F_MORE).more is True
    assert Cqe(1, 0, 0).more is False


def test_cqe_buffer_id_is_none_without_ioring_cqe_f_buffer() -> None:
    assert Cqe(1, 0, 0).buffer_id is None
    assert Cqe(1, 0, 5 << uring_rs.IORING_CQE_BUFFER_SHIFT).buffer_id is None


def test_cqe_buffer_id_comes_from_the_upper_flag_bits() -> None:
    flags = uring_rs.IORING_CQE_F_BUFFER | (513 << uring_rs.IORING_CQE_BUFFER_SHIFT)
    assert Cqe(1, 0, flags).buffer_id == 513


def test_cqe_fields_are_read_only() -> None:
    cqe = Cqe(1, 2, 3)
    with pytest.raises(AttributeError):
        cqe.res = 5  # type: ignore[misc]


def test_cqe_from_the_kernel_carries_the_callers_user_data(ring: Ring) -> None:
    ops.nop(ring, 2**64 - 1)
    ops.nop(ring, 0)
    ring.submit(wait_nr=2)
    assert ring.copy_cqes() == [Cqe(2**64 - 1, 0, 0), Cqe(0, 0, 0)]


# ---------------------------------------------------------------- Sqe


def test_sqe_user_data_set_before_submit_is_what_completes(ring: Ring) -> None:
    sqe = ops.nop(ring, 1)
    sqe.user_data = 42
    assert sqe.user_data == 42
    ring.submit(wait_nr=1)
    assert [c.user_data for c in ring.copy_cqes()] == [42]


def test_sqe_fields_read_back_before_submit(ring: Ring) -> None:
    sqe = ops.nop(ring, 1)
    assert sqe.opcode == uring_rs.IORING_OP_NOP
    assert sqe.flags == 0
    sqe.flags = uring_rs.IOSQE_ASYNC
    sqe.ioprio = 0
    sqe.buf_group = 3
    sqe.personality = 0
    assert sqe.flags == uring_rs.IOSQE_ASYNC
    assert sqe.buf_group == 3
    assert sqe.ioprio == 0 and sqe.personality == 0


def test_sqe_opcode_is_read_only(ring: Ring) -> None:
    sqe = ops.nop(ring, 1)
    with pytest.raises(AttributeError):
        sqe.opcode = 3  # type: ignore[misc]


@pytest.mark.parametrize("field", ["user_data", "flags", "ioprio", "buf_group", "personality"])
def test_sqe_setters_raise_value_error_after_submit(ring: Ring, field: str) -> None:
    sqe = ops.nop(ring, 1)
    ring.submit()
    with pytest.raises(ValueError):
        setattr(sqe, field, 0)


@pytest.mark.parametrize("field", ["user_data", "flags", "ioprio", "buf_group", "personality"])
def test_sqe_setters_raise_value_error_after_flush_sq(ring: Ring, field: str) -> None:
    sqe = ops.nop(ring, 1)
    ring.flush_sq()
    with pytest.raises(ValueError):
        setattr(sqe, field, 0)


def test_sqe_user_data_and_opcode_stay_readable_after_submit(ring: Ring) -> None:
    sqe = ops.nop(ring, 9)
    ring.submit(wait_nr=1)
    assert sqe.user_data == 9
    assert sqe.opcode == uring_rs.IORING_OP_NOP


def test_sqe_setter_after_submit_does_not_touch_a_later_sqe_in_the_same_slot() -> None:
    with Ring(1) as ring:
        old = ops.nop(ring, 1)
        ring.submit(wait_nr=1)
        ring.copy_cqes()
        new = ops.nop(ring, 2)
        with pytest.raises(ValueError):
            old.user_data = 77
        with pytest.raises(ValueError):
            old.flags = uring_rs.IOSQE_IO_LINK
        assert new.flags == 0
        ring.submit(wait_nr=1)
        assert [c.user_data for c in ring.copy_cqes()] == [2]


def test_sqe_flags_refuse_cqe_skip_success_unless_linked_to_a_later_op(ring: Ring) -> None:
    sqe = ops.nop(ring, 1)
    with pytest.raises(ValueError, match="IOSQE_CQE_SKIP_SUCCESS needs IOSQE_IO_LINK"):
        sqe.flags = uring_rs.IOSQE_CQE_SKIP_SUCCESS
    assert sqe.flags == 0
    # Linked, it is accepted; the chain needs a later op that posts (see
    # test_skip_success.py), else submit() refuses it.
    sqe.flags = uring_rs.IOSQE_CQE_SKIP_SUCCESS | uring_rs.IOSQE_IO_LINK
    with pytest.raises(ValueError, match="IOSQE_CQE_SKIP_SUCCESS"):
        ring.submit()
    ops.nop(ring, 2)
    ring.submit(wait_nr=1)
    assert [c.user_data for c in ring.copy_cqes()] == [2]
    assert ring.in_flight == 0


@pytest.mark.parametrize("value", [-1, 256, 0x80])
def test_sqe_flags_refuse_values_that_are_not_iosqe_bits(ring: Ring, value: int) -> None:
    sqe = ops.nop(ring, 1)
    with pytest.raises((ValueError, OverflowError)):
        sqe.flags = value


def test_io_link_chain_completes_in_order(ring: Ring) -> None:
    for i in range(3):
        sqe = ops.nop(ring, i)
        if i < 2:
            sqe.flags = uring_rs.IOSQE_IO_LINK
    ring.submit(wait_nr=3)
    assert [c.user_data for c in ring.copy_cqes()] == [0, 1, 2]


def test_io_link_failure_cancels_the_rest_of_the_chain(ring: Ring) -> None:
    r, w = os.pipe()
    os.close(w)
    os.close(r)
    sqe = ops.read(ring, 1, r, bytearray(8), 0)  # closed fd: -EBADF
    sqe.flags = uring_rs.IOSQE_IO_LINK
    ops.nop(ring, 2)
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got == {1: -errno.EBADF, 2: -errno.ECANCELED}


def test_io_hardlink_chain_continues_after_a_failure(ring: Ring) -> None:
    r, w = os.pipe()
    os.close(w)
    os.close(r)
    sqe = ops.read(ring, 1, r, bytearray(8), 0)
    sqe.flags = uring_rs.IOSQE_IO_HARDLINK
    ops.nop(ring, 2)
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got == {1: -errno.EBADF, 2: 0}


def test_io_drain_waits_for_earlier_ops(ring: Ring) -> None:
    ops.timeout(ring, 1, 0.03)
    sqe = ops.nop(ring, 2)
    sqe.flags = uring_rs.IOSQE_IO_DRAIN
    ring.submit()
    assert [c.user_data for c in reap(ring, 2)] == [1, 2]


# ---------------------------------------------------------------- threads


def test_four_threads_sharing_a_ring_see_every_completion_once() -> None:
    per_thread = 500
    with Ring(32) as ring:
        seen: list[int] = []
        lock = threading.Lock()
        errors: list[BaseException] = []
        total = 4 * per_thread

        def worker(tid: int) -> None:
            try:
                deadline = time.monotonic() + 20
                i = 0
                while i < per_thread:
                    try:
                        ops.nop(ring, tid * per_thread + i)
                        i += 1
                    except UringError as e:
                        assert e.kind is IoUringError.SUBMISSION_QUEUE_FULL
                        ring.submit()
                    if i % 8 == 0:
                        ring.submit()
                        batch = ring.copy_cqes()
                        with lock:
                            seen.extend(c.user_data for c in batch)
                ring.submit()
                while time.monotonic() < deadline:
                    batch = ring.copy_cqes(wait_nr=1, timeout=0.02)
                    with lock:
                        seen.extend(c.user_data for c in batch)
                        if len(seen) >= total:
                            return
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert not any(t.is_alive() for t in threads)
        counts = Counter(seen)
        assert sorted(counts) == list(range(total))
        assert set(counts.values()) == {1}
        assert ring.in_flight == 0


def test_a_wait_in_one_thread_is_woken_by_a_completion_queued_in_another(ring: Ring) -> None:
    result: list[list[Cqe]] = []
    waiter = threading.Thread(target=lambda: result.append(ring.copy_cqes(wait_nr=1, timeout=5)))
    waiter.start()
    time.sleep(0.05)
    ops.nop(ring, 11)
    ring.submit()
    waiter.join(5)
    assert not waiter.is_alive()
    assert [c.user_data for c in result[0]] == [11]


def test_blocking_wait_releases_the_gil(ring: Ring) -> None:
    ops.timeout(ring, 1, 0.2)
    ring.submit()
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    try:
        ring.copy_cqes(wait_nr=1)
    finally:
        stop.set()
        t.join()
    assert ticks > 20
