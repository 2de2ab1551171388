"""IOSQE_CQE_SKIP_SUCCESS on the leading ops of a linked chain, on the real kernel.

A skipped op posts no completion when it succeeds, so the ring keeps its memory until a
later op of its chain completes (the kernel runs a chain's ops in order), or until its own
failure completion is consumed; a failed soft-linked skipped op makes the kernel cancel the
rest of its chain without posting their completions, and the ring releases them then. The
flag is refused wherever no later completion would tell the ring the op is done.
"""

from __future__ import annotations

import errno
import gc
import os
import socket
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
import uring_rs
from _support import WBuf, collected, reap
from uring_rs import Ring, ops

SKIP = uring_rs.IOSQE_CQE_SKIP_SUCCESS
LINK = uring_rs.IOSQE_IO_LINK
HARD = uring_rs.IOSQE_IO_HARDLINK


def settle(ring: Ring) -> list[tuple[int, int]]:
    """Every completion that arrives within a short while, as (user_data, res)."""
    time.sleep(0.05)
    return [(c.user_data, c.res) for c in ring.copy_cqes()]


@pytest.fixture
def wfd(tmp_path: Path) -> Iterator[int]:
    fd = os.open(tmp_path / "out.bin", os.O_RDWR | os.O_CREAT, 0o644)
    yield fd
    os.close(fd)


# ------------------------------------------------------------ supported chains


def test_write_skipped_then_fsync_posts_one_completion_and_keeps_the_buffer_until_it(
    ring: Ring, wfd: int
) -> None:
    buf = WBuf(b"written through a skipped op")
    ref = weakref.ref(buf)
    ops.write(ring, 1, wfd, buf, 0).flags = SKIP | LINK
    ops.fsync(ring, 2, wfd)
    del buf
    assert not collected(ref), "the ring let go of a queued skipped write's buffer"
    ring.submit(wait_nr=1)
    # The fsync's completion is ready, not consumed: the write's buffer is still held.
    assert not collected(ref), "released before the chain's tail completion was consumed"
    assert ring.in_flight == 2
    (cqe,) = reap(ring, 1)
    assert (cqe.user_data, cqe.res) == (2, 0)
    assert collected(ref)
    assert ring.in_flight == 0
    assert settle(ring) == []
    assert os.pread(wfd, 64, 0) == b"written through a skipped op"


def test_recv_skipped_keeps_its_buffer_while_the_chain_waits_and_receives_into_it(
    ring: Ring, pair: tuple[socket.socket, socket.socket], wfd: int
) -> None:
    a, b = pair
    buf = WBuf(16)
    ref = weakref.ref(buf)
    ops.recv(ring, 1, a, buf).flags = SKIP | LINK
    ops.fsync(ring, 2, wfd)
    ring.submit()
    del buf
    assert not collected(ref), "the ring let go of an in-flight skipped recv's buffer"
    assert settle(ring) == [] and ring.in_flight == 2
    b.sendall(b"kept alive")
    ring.submit(wait_nr=1)
    alive = ref()
    assert alive is not None
    assert [(c.user_data, c.res) for c in reap(ring, 1)] == [(2, 0)]
    assert bytes(alive[:10]) == b"kept alive"
    del alive
    assert collected(ref)
    assert ring.in_flight == 0


def test_several_skipped_ops_lead_a_chain_and_later_ones_may_be_hard_linked(
    ring: Ring, wfd: int
) -> None:
    bufs = [WBuf(b"a" * 8), WBuf(b"b" * 8), WBuf(b"c" * 8)]
    refs = [weakref.ref(b) for b in bufs]
    ops.write(ring, 1, wfd, bufs[0], 0).flags = SKIP | LINK
    ops.write(ring, 2, wfd, bufs[1], 8).flags = SKIP | HARD
    ops.write(ring, 3, wfd, bufs[2], 16).flags = LINK
    ops.fsync(ring, 4, wfd)
    del bufs
    ring.submit(wait_nr=2)
    assert sorted((c.user_data, c.res) for c in reap(ring, 2)) == [(3, 8), (4, 0)]
    assert all(collected(r) for r in refs)
    assert ring.in_flight == 0
    assert os.pread(wfd, 24, 0) == b"a" * 8 + b"b" * 8 + b"c" * 8


def test_write_many_skipped_then_fsync(ring: Ring, wfd: int) -> None:
    buf = WBuf(b"".join(bytes([65 + i]) * 16 for i in range(4)))
    ref = weakref.ref(buf)
    assert ops.write_many(ring, 10, wfd, buf, [0, 16, 32, 48], 16, flags=SKIP | LINK) == 4
    ops.fsync(ring, 99, wfd)
    del buf
    ring.submit(wait_nr=1)
    assert not collected(ref)
    assert [(c.user_data, c.res) for c in reap(ring, 1)] == [(99, 0)]
    assert collected(ref)
    assert ring.in_flight == 0
    assert os.pread(wfd, 64, 0) == b"A" * 16 + b"B" * 16 + b"C" * 16 + b"D" * 16


# ------------------------------------------------------------ failures in a chain


def test_a_failing_skipped_op_posts_its_error_and_its_chain_ends_silently(
    ring: Ring, rfd: int, wfd: int
) -> None:
    # Writing to a read-only fd fails at issue (-EBADF). The kernel (Linux 5.17+,
    # REQ_F_SKIP_LINK_CQES) then cancels the rest of the chain without posting its
    # completions: the fsync posts no -ECANCELED. The ring releases both.
    buf = WBuf(b"never written")
    ref = weakref.ref(buf)
    ops.write(ring, 1, rfd, buf, 0).flags = SKIP | LINK
    ops.fsync(ring, 2, wfd)
    del buf
    ring.submit(wait_nr=1)
    assert settle(ring) == [(1, -errno.EBADF)]
    assert ring.in_flight == 0
    assert collected(ref)


def test_a_short_skipped_read_posts_its_count_and_its_chain_ends_silently(
    ring: Ring, rfd: int, wfd: int
) -> None:
    # A short read counts as a failure for links: the completion is posted (res >= 0).
    ops.read(ring, 1, rfd, bytearray(100), 65536 - 10).flags = SKIP | LINK
    ops.fsync(ring, 2, wfd)
    ring.submit(wait_nr=1)
    assert settle(ring) == [(1, 10)]
    assert ring.in_flight == 0


def test_a_failing_hard_linked_skipped_op_posts_its_error_and_the_chain_goes_on(
    ring: Ring, rfd: int, wfd: int
) -> None:
    ops.write(ring, 1, wfd, b"x", 0).flags = SKIP | LINK
    ops.write(ring, 2, rfd, b"y", 0).flags = SKIP | HARD
    ops.fsync(ring, 3, wfd)
    ring.submit(wait_nr=2)
    assert settle(ring) == [(2, -errno.EBADF), (3, 0)]
    assert ring.in_flight == 0


def test_a_chain_refused_at_submission_posts_only_its_skipped_first_op(
    ring: Ring, rfd: int
) -> None:
    # An ioprio the kernel refuses fails the read when it is prepared: the whole chain
    # fails, and with a skipped first op only that op's -ECANCELED is posted.
    buf = WBuf(8)
    ref = weakref.ref(buf)
    ops.nop(ring, 1).flags = SKIP | LINK
    bad = ops.read(ring, 2, rfd, buf, 0)
    bad.flags = LINK
    bad.ioprio = 0xFFFF
    ops.nop(ring, 3)
    del buf, bad
    ring.submit(wait_nr=1)
    assert settle(ring) == [(1, -errno.ECANCELED)]
    assert ring.in_flight == 0
    assert collected(ref)


def test_cancelling_a_skipped_op_posts_its_cancellation_and_releases_the_chain(
    ring: Ring, pair: tuple[socket.socket, socket.socket], wfd: int
) -> None:
    a, _ = pair
    buf = WBuf(16)
    ref = weakref.ref(buf)
    ops.recv(ring, 1, a, buf).flags = SKIP | LINK
    ops.fsync(ring, 2, wfd)
    ring.submit()
    del buf
    assert settle(ring) == []
    ops.cancel(ring, 9, 1)
    ring.submit(wait_nr=2)
    assert sorted(settle(ring)) == [(1, -errno.ECANCELED), (9, 0)]
    assert ring.in_flight == 0
    assert collected(ref)


def test_close_with_a_skipped_chain_in_flight_returns_promptly_and_releases_it(
    pair: tuple[socket.socket, socket.socket], wfd: int
) -> None:
    a, b = pair
    ring = Ring(8)
    buf = WBuf(16)
    ref = weakref.ref(buf)
    ops.recv(ring, 1, a, buf).flags = SKIP | LINK
    ops.fsync(ring, 2, wfd)
    ring.submit()
    # And one more chain queued but never submitted.
    ops.recv(ring, 3, a, bytearray(4)).flags = SKIP | LINK
    ops.nop(ring, 4)
    del buf
    assert not collected(ref)
    t0 = time.monotonic()
    ring.close()
    assert time.monotonic() - t0 < 2.0
    assert collected(ref)
    # Nothing is left reading the socket: the data stays there.
    b.sendall(b"after")
    assert a.recv(16) == b"after"


def test_rings_dropped_with_skipped_chains_in_flight_leak_no_fd(
    pair: tuple[socket.socket, socket.socket], wfd: int
) -> None:
    a, _ = pair
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        ring = Ring(8)
        ops.recv(ring, 1, a, bytearray(8)).flags = SKIP | LINK
        ops.fsync(ring, 2, wfd)
        ring.submit()
        del ring
        gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before


# ------------------------------------------------------------ refused


def test_skip_success_without_a_link_is_refused_when_set(ring: Ring) -> None:
    sqe = ops.nop(ring, 1)
    for flags in (SKIP, SKIP | uring_rs.IOSQE_ASYNC):
        with pytest.raises(ValueError, match="IOSQE_CQE_SKIP_SUCCESS needs IOSQE_IO_LINK"):
            sqe.flags = flags
    assert sqe.flags == 0
    with pytest.raises(ValueError, match="IOSQE_CQE_SKIP_SUCCESS needs IOSQE_IO_LINK"):
        ops.write_many(ring, 0, 1, b"x", [0], 1, flags=SKIP)
    assert ring.sq_ready() == 1


def test_skip_success_on_the_last_op_of_a_chain_is_refused_at_submit_losing_nothing(
    ring: Ring,
) -> None:
    ops.nop(ring, 1).flags = SKIP | LINK
    last = ops.nop(ring, 2)
    with pytest.raises(ValueError, match="IOSQE_CQE_SKIP_SUCCESS needs IOSQE_IO_LINK"):
        last.flags = SKIP
    assert last.flags == 0
    last.flags = SKIP | LINK
    for publish in (ring.submit, ring.flush_sq):
        with pytest.raises(ValueError, match=r"IOSQE_CQE_SKIP_SUCCESS.*not finished"):
            publish()
    assert ring.sq_ready() == 2 and ring.in_flight == 2
    assert settle(ring) == []
    # Fixed by ending the chain with an op that posts: it is the only completion.
    last.flags = 0
    ring.submit(wait_nr=1)
    assert settle(ring) == [(2, 0)]
    assert ring.in_flight == 0


def test_a_chain_left_open_can_be_finished_by_queueing_its_tail(ring: Ring) -> None:
    ops.nop(ring, 1).flags = SKIP | LINK
    with pytest.raises(ValueError, match="not finished"):
        ring.submit()
    ops.nop(ring, 2)
    ring.submit(wait_nr=1)
    assert settle(ring) == [(2, 0)]
    assert ring.in_flight == 0


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        ([SKIP | HARD, 0], "needs IOSQE_IO_LINK, not IOSQE_IO_HARDLINK"),
        ([LINK, SKIP | LINK, 0], "only supported on the leading ops"),
        ([SKIP | LINK, LINK, SKIP | LINK, 0], "only supported on the leading ops"),
    ],
)
def test_chain_shapes_the_ring_cannot_follow_are_refused_at_submit(
    ring: Ring, flags: list[int], match: str
) -> None:
    sqes = [ops.nop(ring, i) for i in range(len(flags))]
    for sqe, f in zip(sqes, flags):
        sqe.flags = f
    with pytest.raises(ValueError, match=match) as exc:
        ring.submit()
    assert "IOSQE_CQE_SKIP_SUCCESS" in str(exc.value)
    assert ring.sq_ready() == len(flags)
    for sqe in sqes:
        sqe.flags = 0
    ring.submit(wait_nr=len(flags))
    assert len(settle(ring)) == len(flags)


def test_a_skipped_op_cannot_continue_a_chain_flushed_earlier(ring: Ring) -> None:
    ops.nop(ring, 1).flags = LINK
    ring.flush_sq()
    ops.nop(ring, 2).flags = SKIP | LINK
    ops.nop(ring, 3)
    with pytest.raises(ValueError, match="continues a chain begun by an op flushed earlier"):
        ring.submit()
    assert ring.enter(1, 0, 0) == 1  # the flushed one alone: its chain ends there
    ring.submit(wait_nr=2)
    assert sorted(settle(ring)) == [(1, 0), (3, 0)]
    assert ring.in_flight == 0


def test_skip_success_is_refused_on_link_timeouts_and_in_their_chains(ring: Ring) -> None:
    with pytest.raises(ValueError, match=r"IOSQE_CQE_SKIP_SUCCESS.*LINK_TIMEOUT"):
        ops.link_timeout(ring, 1, 1.0).flags = SKIP | LINK
    ring.submit()
    settle(ring)
    ops.nop(ring, 2).flags = SKIP | LINK
    ops.nop(ring, 3).flags = LINK
    ops.link_timeout(ring, 4, 1.0)
    with pytest.raises(ValueError, match=r"IOSQE_CQE_SKIP_SUCCESS.*LINK_TIMEOUT"):
        ring.submit()


def test_skip_success_is_refused_on_an_op_that_makes_an_fd(ring: Ring, tmp_path: Path) -> None:
    sqe = ops.openat(ring, 1, -100, tmp_path / "f", os.O_CREAT | os.O_WRONLY)
    with pytest.raises(ValueError, match=r"IOSQE_CQE_SKIP_SUCCESS.*file descriptor"):
        sqe.flags = SKIP | LINK
    assert sqe.flags == 0


def test_enter_refuses_a_to_submit_that_would_split_a_skipped_chain(ring: Ring) -> None:
    ops.nop(ring, 1)
    ops.nop(ring, 2).flags = SKIP | LINK
    ops.nop(ring, 3).flags = SKIP | LINK
    ops.nop(ring, 4)
    ring.flush_sq()
    for n in (2, 3):
        with pytest.raises(ValueError, match=r"to_submit=\d would end inside a chain.*at least 4"):
            ring.enter(n, 0, 0)
    assert ring.sq_ready() == 4
    assert ring.enter(1, 0, 0) == 1
    with pytest.raises(ValueError, match="at least 3"):
        ring.enter(1, 1, uring_rs.IORING_ENTER_GETEVENTS)
    assert ring.enter(3, 1, uring_rs.IORING_ENTER_GETEVENTS) == 3
    assert sorted(settle(ring)) == [(1, 0), (4, 0)]
    assert ring.in_flight == 0


def test_write_many_refusals_queue_nothing(ring: Ring, wfd: int) -> None:
    with pytest.raises(ValueError, match="IOSQE_CQE_SKIP_SUCCESS needs IOSQE_IO_LINK"):
        ops.write_many(ring, 0, wfd, bytearray(32), [0, 16], 16, flags=SKIP)
    with pytest.raises(ValueError, match="not IOSQE_IO_HARDLINK"):
        ops.write_many(ring, 0, wfd, bytearray(32), [0, 16], 16, flags=SKIP | HARD)
    ops.nop(ring, 7).flags = LINK
    with pytest.raises(ValueError, match="leading ops"):
        ops.write_many(ring, 0, wfd, bytearray(32), [0, 16], 16, flags=SKIP | LINK)
    assert ring.sq_ready() == 1 and ring.in_flight == 1
    ring.submit(wait_nr=1)
    settle(ring)
    free = ring.sq_space_left()
    with pytest.raises(uring_rs.UringError) as exc:
        ops.write_many(
            ring, 0, wfd, bytearray(16 * free), [16 * i for i in range(free)], 16, flags=SKIP | LINK
        )
    assert exc.value.kind is uring_rs.IoUringError.SUBMISSION_QUEUE_FULL
    assert "one more" in str(exc.value)
    assert ring.sq_ready() == 0 and ring.in_flight == 0


def test_skip_success_is_refused_on_an_sqpoll_ring() -> None:
    try:
        ring = Ring(8, flags=uring_rs.IORING_SETUP_SQPOLL)
    except uring_rs.UringError:
        pytest.skip("no SQPOLL here")
    with ring:
        sqe = ops.nop(ring, 1)
        with pytest.raises(ValueError, match=r"IOSQE_CQE_SKIP_SUCCESS.*SQPOLL"):
            sqe.flags = SKIP | LINK
        with pytest.raises(ValueError, match=r"IOSQE_CQE_SKIP_SUCCESS.*SQPOLL"):
            ops.write_many(ring, 0, 1, b"xx", [0], 1, flags=SKIP | LINK)
        assert ring.sq_ready() == 1
