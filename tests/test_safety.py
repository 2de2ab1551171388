"""Hostile-user safety: completions a ring did not issue, buffers from the
wrong group, object buffers, and the stalls and leaks around close.

Each test drives the real kernel; a failure here means the kernel could
write into memory Python has freed, or a result lies.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import os
import select
import socket
import threading
import time
import weakref
from typing import Any, Callable

import pytest
import uring_rs
from _support import open_fds
from uring_rs import BufferRing, Ring, ops


def _probe(op: int) -> bool:
    with Ring(2) as r:
        return r.probe().supports(op)


HAS_MSG_RING = _probe(uring_rs.IORING_OP_MSG_RING)
needs_msg_ring = pytest.mark.skipif(not HAS_MSG_RING, reason="kernel lacks IORING_OP_MSG_RING")


def _drain(ring: Ring, n: int, timeout: float = 5.0) -> list[uring_rs.Cqe]:
    out: list[uring_rs.Cqe] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out.extend(ring.copy_cqes(wait_nr=1, timeout=0.2))
    return out


def _forged_values() -> list[int]:
    # Small integers, what a slot token used to look like (generation << 32 |
    # index), the internal-token range, and the extremes.
    vals = list(range(64))
    vals += [(g << 32) | i for g in range(1, 4) for i in range(8)]
    vals += [(1 << 63) | i for i in range(4)]
    vals += [2**64 - 1, 2**63, 1 << 32]
    return vals


# 1. Forged completions ---------------------------------------------------


@needs_msg_ring
def test_msg_ring_cannot_complete_a_pending_read() -> None:
    ring = Ring(64)
    r, w = os.pipe()
    try:
        buf = bytearray(16)
        ops.read(ring, 5000, r, buf, -1)
        ring.submit()
        forged = _forged_values()
        for i, v in enumerate(forged):
            ops.msg_ring(ring, 1000 + i, ring.fd, 0, v)
            ring.submit()
        seen = _drain(ring, 2 * len(forged))
        posted = sorted(c.user_data for c in seen if c.user_data < 1000 or c.user_data >= 2000)
        assert posted == sorted(forged), "each forged post comes back as posted"
        assert all(c.user_data != 5000 for c in seen), "the read was not reported done"
        # The read is still in flight and its buffer still pinned.
        assert ring.in_flight == 1
        with pytest.raises(BufferError):
            buf.extend(b"x")
        os.write(w, b"hello")
        (done,) = _drain(ring, 1)
        assert (done.user_data, done.res) == (5000, 5)
        assert bytes(buf[:5]) == b"hello"
        assert ring.in_flight == 0
    finally:
        ring.close()
        os.close(r)
        os.close(w)


@needs_msg_ring
def test_message_for_a_closed_ring_means_nothing_to_its_successor() -> None:
    sender = Ring(8)
    b = Ring(8)
    ops.msg_ring(sender, 1, b, 0, 42)  # queued, not submitted: B's token
    fd_b = b.fd
    b.close()
    c = Ring(8)
    r, w = os.pipe()
    try:
        if c.fd != fd_b:
            pytest.skip("the kernel did not reuse the fd number for the new ring")
        buf = bytearray(8)
        ops.read(c, 5, r, buf, -1)
        c.submit()
        sender.submit()
        (sent,) = _drain(sender, 1)
        assert sent.res == 0
        (got,) = _drain(c, 1)
        assert got.user_data not in (5, 42), "a foreign value, not C's op nor B's user_data"
        assert c.in_flight == 1, "C's read is still in flight"
        with pytest.raises(BufferError):
            buf.extend(b"x")
    finally:
        c.close()
        sender.close()
        os.close(r)
        os.close(w)


@needs_msg_ring
def test_msg_ring_between_rings_still_delivers() -> None:
    a, b = Ring(8), Ring(8)
    try:
        ops.msg_ring(a, 1, b, 123, 77)
        a.submit()
        (sent,) = _drain(a, 1)
        assert sent.res == 0
        (got,) = _drain(b, 1)
        assert (got.user_data, got.res) == (77, 123)
        assert b.in_flight == 0
        # A raw fd target gets the raw value.
        ops.msg_ring(a, 2, b.fd, 5, 99)
        a.submit()
        _drain(a, 1)
        (got,) = _drain(b, 1)
        assert (got.user_data, got.res) == (99, 5)
    finally:
        a.close()
        b.close()


# 8. Messages that are never posted --------------------------------------


@needs_msg_ring
def test_undelivered_messages_release_their_target_slot() -> None:
    a, b = Ring(8), Ring(8)
    try:
        # Refused by the kernel (unknown flag): -EINVAL, nothing posted.
        ops.msg_ring(a, 1, b, 0, 5, flags=1 << 30)
        assert b.in_flight == 1
        a.submit()
        (sent,) = _drain(a, 1)
        assert sent.res < 0
        assert b.in_flight == 0
        # Sender closed with the message unsubmitted.
        ops.msg_ring(a, 2, b, 0, 6)
        assert b.in_flight == 1
        a.close()
        assert b.in_flight == 0
        assert b.peek_cqes() == []
    finally:
        a.close()
        b.close()


# 2. Provided buffers from another group, ring, or a forged completion ----


def _recv_one(ring: Ring, group: int, data: bytes) -> uring_rs.Cqe:
    s1, s2 = socket.socketpair()
    try:
        sqe = ops.recv(ring, 9, s1, bytearray(0))
        sqe.flags = uring_rs.IOSQE_BUFFER_SELECT
        sqe.buf_group = group
        s2.send(data)
        ring.submit()
        (cqe,) = _drain(ring, 1)
        return cqe
    finally:
        s1.close()
        s2.close()


def test_buffer_ring_refuses_completions_of_other_groups() -> None:
    ring = Ring(8)
    try:
        br1 = BufferRing(ring, 1, 4, 64)
        br2 = BufferRing(ring, 2, 4, 64)
        cqe = _recv_one(ring, 2, b"group two")
        assert cqe.buffer_id is not None
        with pytest.raises(ValueError, match="another buffer group"):
            br1.get(cqe)
        assert br1.outstanding == 0
        pb = br2.get(cqe)
        assert bytes(pb) == b"group two"
        with pytest.raises(ValueError, match="already taken"):
            br2.get(cqe)
        pb.release()
        # Every buffer is handed out once: fill the ring and check ids.
        ids = []
        for i in range(4):
            c = _recv_one(ring, 2, b"%d" % i)
            ids.append(br2.get(c))
        assert len({p.buffer_id for p in ids}) == 4
        for p in ids:
            p.release()
        # A Cqe built by hand, or peeked, or from another ring: refused.
        with pytest.raises(ValueError):
            br2.get(uring_rs.Cqe(9, 1, uring_rs.IORING_CQE_F_BUFFER))
        other = Ring(8)
        try:
            BufferRing(other, 2, 4, 64)
            c = _recv_one(other, 2, b"other")
            with pytest.raises(ValueError, match="another Ring"):
                br2.get(c)
        finally:
            other.close()
    finally:
        ring.close()


@needs_msg_ring
def test_forged_buffer_completion_is_not_claimable() -> None:
    ring = Ring(8)
    try:
        br = BufferRing(ring, 3, 4, 64)
        flags = uring_rs.IORING_CQE_F_BUFFER | (1 << 16)
        # IORING_MSG_RING_FLAGS_PASS (1 << 1) copies the sender's cqe flags.
        sqe = ops.msg_ring(ring, 1, ring.fd, 10, 555, flags=1 << 1)
        sqe_any: object = sqe
        assert sqe_any is not None
        # The flags to pass go in file_index; not exposed, so the posted CQE
        # carries no buffer flag unless the kernel copies ours. Either way the
        # completion is foreign and cannot hand out a buffer.
        ring.submit()
        cqes = _drain(ring, 2)
        posted = [c for c in cqes if c.user_data == 555]
        if posted and posted[0].buffer_id is not None:
            with pytest.raises(ValueError):
                br.get(posted[0])
        forged = uring_rs.Cqe(555, 10, flags)
        with pytest.raises(ValueError):
            br.get(forged)
        assert br.outstanding == 0
    finally:
        ring.close()


# 3. Buffers of Python objects --------------------------------------------


def test_object_buffers_are_refused_everywhere() -> None:
    np = pytest.importorskip("numpy")
    objs = np.array([object(), object()], dtype=object)
    structured = np.zeros(2, dtype=[("a", "i4"), ("o", "O")])
    py_objs = (ctypes.py_object * 2)()
    r, w = os.pipe()
    ring = Ring(8)
    try:
        for bad in (objs, memoryview(objs), structured, py_objs):
            with pytest.raises(TypeError, match="Python objects"):
                ops.read(ring, 1, r, bad, -1)
            with pytest.raises(TypeError, match="Python objects"):
                ops.readv(ring, 1, r, [bytearray(4), bad], -1)
            with pytest.raises(TypeError, match="Python objects"):
                ops.write(ring, 1, w, bad, -1)
            with pytest.raises(TypeError, match="Python objects"):
                ring.register_buffers([bad])
        assert ring.in_flight == 0
        # Plain numeric arrays and names with an O in a field name still work.
        named = np.zeros(2, dtype=[("Offset", "i4")])
        ops.read(ring, 2, r, named, -1)
        ops.read(ring, 3, r, np.zeros(4, dtype=np.uint8), -1)
        os.write(w, b"12345678abcd")
        ring.submit()
        got = _drain(ring, 2)
        assert sorted(c.user_data for c in got) == [2, 3]
    finally:
        ring.close()
        os.close(r)
        os.close(w)


# 4. poll_update's user_data -----------------------------------------------


def test_poll_update_that_loses_the_race_leaves_user_data_alone() -> None:
    ring = Ring(8)
    r, w = os.pipe()
    try:
        ops.poll_add(ring, 1, r, select.POLLIN)
        ring.submit()
        upd = ops.poll_update(ring, 9, 1, 2, 0, uring_rs.IORING_POLL_UPDATE_USER_DATA)
        assert upd.user_data == 9
        os.write(w, b"x")  # the poll fires before the update is submitted
        time.sleep(0.05)
        ring.submit()
        got = {c.user_data: c.res for c in _drain(ring, 2)}
        assert 2 not in got, "the kernel never assigned the new user_data"
        assert got[1] & select.POLLIN
        assert got[9] == -errno.ENOENT
        assert ring.in_flight == 0
    finally:
        ring.close()
        os.close(r)
        os.close(w)


def test_poll_update_that_succeeds_changes_later_completions() -> None:
    ring = Ring(8)
    r, w = os.pipe()
    try:
        ops.poll_add(ring, 1, r, select.POLLIN)
        ring.submit()
        ops.poll_update(ring, 9, 1, 2, 0, uring_rs.IORING_POLL_UPDATE_USER_DATA)
        ring.submit()
        (u,) = _drain(ring, 1)
        assert (u.user_data, u.res) == (9, 0)
        os.write(w, b"x")
        (p,) = _drain(ring, 1)
        assert p.user_data == 2 and p.res & select.POLLIN
    finally:
        ring.close()
        os.close(r)
        os.close(w)


# 5. cancel ALL with more targets than SQ entries -----------------------------


def test_cancel_all_with_more_targets_than_sq_entries() -> None:
    ring = Ring(4)
    pipes = [os.pipe() for _ in range(13)]
    bufs = [bytearray(8) for _ in pipes]
    try:
        for (r, _), b in zip(pipes, bufs):
            if ring.sq_space_left() == 0:
                ring.submit()
            ops.read(ring, 5, r, b, -1)
        ring.submit()
        assert ring.in_flight == 13
        ops.cancel(ring, 6, 5, uring_rs.IORING_ASYNC_CANCEL_ALL)
        ring.submit()
        got = _drain(ring, 26)
        reads = [c for c in got if c.user_data == 5]
        cancels = [c for c in got if c.user_data == 6]
        assert len(reads) == 13 and all(c.res == -errno.ECANCELED for c in reads)
        assert len(cancels) == 13 and all(c.res >= 0 for c in cancels)
        assert ring.in_flight == 0
    finally:
        ring.close()
        for r, w in pipes:
            os.close(r)
            os.close(w)


# 6. Registered ring fds and thread reuse ----------------------------------


def test_registered_ring_fd_of_an_exited_thread_is_not_inherited() -> None:
    ring = Ring(8)
    try:
        errors: list[Exception] = []

        def register() -> None:
            try:
                ring.register_ring_fd()
                ops.nop(ring, 1)
                ring.submit()
            except Exception as e:  # noqa: BLE001 - any error in the thread fails the test below
                errors.append(e)

        for _ in range(5):
            t = threading.Thread(target=register)
            t.start()
            t.join()
        assert not errors, errors

        def use() -> None:
            try:
                ops.nop(ring, 2)
                ring.submit()
            except Exception as e:  # noqa: BLE001 - any error in the thread fails the test below
                errors.append(e)

        for _ in range(20):
            t = threading.Thread(target=use)
            t.start()
            t.join()
        assert not errors, errors
        assert len(_drain(ring, 25)) == 25
        r, w = os.pipe()
        ops.read(ring, 3, r, bytearray(4), -1)
        ring.submit()
        start = time.monotonic()
        ring.close()
        assert time.monotonic() - start < 2.0
        os.close(r)
        os.close(w)
    finally:
        ring.close()


# 7. R_DISABLED -----------------------------------------------------------


def test_disabled_ring_can_be_enabled_and_closes_promptly() -> None:
    ring = Ring(8, uring_rs.IORING_SETUP_R_DISABLED)
    assert ring.disabled
    ops.nop(ring, 1)
    with pytest.raises(uring_rs.UringError, match="enable"):
        ring.submit()
    ring.enable()
    assert not ring.disabled
    with pytest.raises(ValueError):
        ring.enable()
    ring.submit()
    (c,) = _drain(ring, 1)
    assert c.user_data == 1
    ring.close()

    ring = Ring(8, uring_rs.IORING_SETUP_R_DISABLED)
    buf = bytearray(8)
    r, w = os.pipe()
    ops.read(ring, 1, r, buf, -1)
    ring.flush_sq()  # published, but a disabled ring consumes nothing
    start = time.monotonic()
    ring.close()
    assert time.monotonic() - start < 1.0
    buf.extend(b"resizable: no longer pinned")
    os.close(r)
    os.close(w)


# 9. Fds of completions discarded by close ---------------------------------


def test_close_closes_fds_of_unconsumed_completions(tmp_path: object) -> None:
    before = open_fds()
    for _ in range(3):
        ring = Ring(16)
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        ops.accept_multishot(ring, 1, srv)
        ops.socket(ring, 2, socket.AF_INET, socket.SOCK_STREAM)
        ops.openat(ring, 3, -100, "/dev/null", os.O_RDONLY)
        ring.submit()
        clients = [socket.create_connection(srv.getsockname()) for _ in range(3)]
        deadline = time.monotonic() + 5
        while ring.cq_ready() < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ring.cq_ready() >= 5
        ring.close()
        for c in clients:
            c.close()
        srv.close()
    assert open_fds() == before


# 10. Cycles through kept objects ------------------------------------------


class _Buf(bytearray):
    ring: object


def test_cycle_through_a_pinned_buffer_is_collected() -> None:
    r, w = os.pipe()
    try:
        ring = Ring(8)
        buf = _Buf(16)
        buf.ring = ring
        ops.read(ring, 1, r, buf, -1)
        ring.submit()
        ref = weakref.ref(ring)
        fd = ring.fd
        del ring, buf
        gc.collect()
        assert ref() is None, "the cycle ring -> op -> buffer -> ring was collected"
        with pytest.raises(OSError):
            os.fstat(fd)  # the ring fd was closed (and not reused yet)
    finally:
        os.close(r)
        os.close(w)


def test_cycle_through_a_registered_buffer_is_collected() -> None:
    ring = Ring(8)
    buf = _Buf(4096)
    buf.ring = ring
    ring.register_buffers([buf])
    ref = weakref.ref(ring)
    del ring, buf
    gc.collect()
    assert ref() is None


def test_ctypes_buffer_in_flight_is_never_freed_by_the_collector() -> None:
    # ctypes frees its memory in tp_clear: such a buffer is never shown to
    # the collector while the kernel may write into it, so the cycle stays
    # (the op finishes; memory is intact), rather than the kernel writing
    # into freed memory.
    r, w = os.pipe()
    ring = Ring(8)
    buf = (ctypes.c_char * 16)()
    holder = [buf, ring]
    buf_any: object = buf
    setattr(buf_any, "cycle", holder)  # noqa: B010 - ctypes instances have a __dict__
    ops.read(ring, 1, r, buf, -1)
    ring.submit()
    ref = weakref.ref(ring)
    del ring, buf, holder, buf_any
    gc.collect()
    ring2 = ref()
    assert ring2 is not None
    os.write(w, b"still here")
    (c,) = _drain(ring2, 1)
    assert c.res == 10
    ring2.close()
    os.close(r)
    os.close(w)


# 13. SINGLE_ISSUER closed from another thread ------------------------------


class _Issuer(threading.Thread):
    """A thread that owns a SINGLE_ISSUER ring with a read in flight, and
    runs what it is asked to (so the test can act on its thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()
        self.jobs: list[Callable[[], None] | None] = []
        self.cv = threading.Condition()
        self.out: list[Any] = []

    def run(self) -> None:
        ring = Ring(8, uring_rs.IORING_SETUP_SINGLE_ISSUER)
        r, w = os.pipe()
        buf = bytearray(8)
        ops.read(ring, 1, r, buf, -1)
        ring.submit()
        self.out.extend([ring, buf, r, w])
        del ring
        self.ready.set()
        while True:
            with self.cv:
                while not self.jobs:
                    self.cv.wait()
                job = self.jobs.pop(0)
            if job is None:
                return
            job()

    def call(self, fn: Callable[[], object]) -> None:
        done = threading.Event()

        def job() -> None:
            try:
                fn()
            finally:
                done.set()

        with self.cv:
            self.jobs.append(job)
            self.cv.notify()
        assert done.wait(10)

    def stop(self) -> None:
        with self.cv:
            self.jobs.append(None)
            self.cv.notify()
        self.join()


def test_single_issuer_close_from_another_thread_raises_promptly() -> None:
    t = _Issuer()
    t.start()
    t.ready.wait(5)
    ring, buf, r, w = t.out
    try:
        start = time.monotonic()
        with pytest.raises(RuntimeError, match="SINGLE_ISSUER"):
            ring.close()
        assert time.monotonic() - start < 1.0
        assert not ring.closed and ring.in_flight == 1
        start = time.monotonic()
        t.call(ring.close)  # from the issuer thread: prompt
        assert time.monotonic() - start < 2.0
        assert ring.closed
        buf.extend(b"unpinned")
    finally:
        t.stop()
        os.close(r)
        os.close(w)


def test_single_issuer_collected_off_thread_is_prompt_and_finished_by_its_issuer() -> None:
    t = _Issuer()
    t.start()
    t.ready.wait(5)
    ring, buf, r, w = t.out
    t.out.clear()
    try:
        start = time.monotonic()
        del ring  # the last reference, dropped on this thread
        assert time.monotonic() - start < 1.0
        with pytest.raises(BufferError):
            buf.extend(b"x")  # still pinned: the read is still in flight

        def touch() -> None:
            with Ring(2) as other:
                ops.nop(other, 0)
                other.submit()

        t.call(touch)  # the issuer's next use of uring_rs tears it down
        buf.extend(b"x")
    finally:
        t.stop()
        os.close(r)
        os.close(w)


def test_single_issuer_whose_issuer_exited_closes_promptly() -> None:
    t = _Issuer()
    t.start()
    t.ready.wait(5)
    ring, buf, r, w = t.out
    t.stop()
    # The kernel refuses every other thread's cancels for good: the close is
    # prompt and keeps the buffer (it can never be confirmed unused).
    # (Thread.join returns before the thread's last destructors have run;
    # until then the issuer still counts as alive and close() raises.)
    deadline = time.monotonic() + 5
    while True:
        start = time.monotonic()
        try:
            ring.close()
            break
        except RuntimeError:
            assert time.monotonic() < deadline, "the issuer never counted as exited"
            time.sleep(0.01)
    assert time.monotonic() - start < 1.0
    assert ring.closed
    with pytest.raises(BufferError):
        buf.extend(b"x")
    os.close(r)
    os.close(w)


# Objects that outlive their ring -----------------------------------------


def test_buffer_ring_outliving_its_ring_says_so() -> None:
    ring = Ring(8)
    br = BufferRing(ring, 4, 4, 64)
    cqe = _recv_one(ring, 4, b"kept")
    pb = br.get(cqe)
    assert br.registered
    ring.close()
    assert not br.registered
    assert bytes(pb) == b"kept"  # the buffer memory is the BufferRing's own
    pb.release()
    with pytest.raises(ValueError):
        br.get(cqe)
