"""Registration, provided buffers, multishot and cancellation, against the real kernel."""

from __future__ import annotations

import gc
import os
import select
import socket
import sys
from pathlib import Path

import pytest
import uring_rs
from _support import eventfd_nonblocking
from uring_rs import BufferRing, Cqe, Ring, UringError, ops


def reap(ring: Ring, n: int, timeout: float = 5.0) -> list[Cqe]:
    got: list[Cqe] = []
    while len(got) < n:
        batch = ring.copy_cqes(wait_nr=1, timeout=timeout)
        assert batch, f"timed out with {len(got)}/{n} completions"
        got.extend(batch)
    return got


def needs(ring: Ring, *opcodes: int) -> None:
    probe = ring.probe()
    for op in opcodes:
        if not probe.supports(op):
            pytest.skip(f"kernel lacks opcode {uring_rs.opcode_names()[op]} (probed)")


def test_register_files_then_read_through_fixed_file(ring: Ring, data_file: Path) -> None:
    fd = os.open(data_file, os.O_RDONLY)
    try:
        ring.register_files([fd])
        buf = bytearray(100)
        sqe = ops.read(ring, 1, 0, buf, 10)  # fd 0 is the registered index here
        sqe.flags = uring_rs.IOSQE_FIXED_FILE
        ring.submit()
        (cqe,) = reap(ring, 1)
        assert cqe.result() == 100
        assert bytes(buf) == data_file.read_bytes()[10:110]
        ring.unregister_files()
    finally:
        os.close(fd)


def test_register_files_sparse_and_update(ring: Ring, data_file: Path) -> None:
    ring.register_files_sparse(4)
    fd = os.open(data_file, os.O_RDONLY)
    try:
        assert ring.register_files_update(2, [fd]) == 1
        buf = bytearray(8)
        sqe = ops.read(ring, 5, 2, buf, 0)
        sqe.flags = uring_rs.IOSQE_FIXED_FILE
        ring.submit()
        assert reap(ring, 1)[0].result() == 8
        assert bytes(buf) == data_file.read_bytes()[:8]
        # An empty slot fails in the completion, not with a crash.
        sqe = ops.read(ring, 6, 1, buf, 0)
        sqe.flags = uring_rs.IOSQE_FIXED_FILE
        ring.submit()
        assert reap(ring, 1)[0].res == -9  # EBADF
    finally:
        os.close(fd)


def test_register_files_twice_is_a_clear_error(ring: Ring) -> None:
    r, w = os.pipe()
    try:
        ring.register_files([r])
        with pytest.raises(UringError, match="already registered") as exc:
            ring.register_files([w])
        assert exc.value.errno == 16  # EBUSY
    finally:
        os.close(r)
        os.close(w)


def test_unregister_files_without_registration_raises(ring: Ring) -> None:
    with pytest.raises(UringError) as exc:
        ring.unregister_files()
    assert exc.value.errno is not None


def test_read_fixed_and_write_fixed_round_trip(ring: Ring, tmp_path: Path) -> None:
    bufs = [bytearray(4096), bytearray(4096)]
    ring.register_buffers(bufs)
    bufs[0][:] = b"x" * 4096
    path = tmp_path / "fixed.bin"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        ops.write_fixed(ring, 1, fd, 0, 0)
        ring.submit()
        assert reap(ring, 1)[0].result() == 4096
        ops.read_fixed(ring, 2, fd, 1, 100, nbytes=50, buf_offset=10)
        ring.submit()
        assert reap(ring, 1)[0].result() == 50
        assert bytes(bufs[1][10:60]) == b"x" * 50
        assert bytes(bufs[1][:10]) == bytes(10)
    finally:
        os.close(fd)
    ring.unregister_buffers()


def test_registered_buffer_cannot_be_resized_while_registered(ring: Ring) -> None:
    buf = bytearray(4096)
    ring.register_buffers([buf])
    with pytest.raises(BufferError):
        buf.extend(b"more")
    ring.unregister_buffers()
    buf.extend(b"more")  # released again


def test_read_fixed_out_of_range_queues_nothing(ring: Ring, rfd: int) -> None:
    ring.register_buffers([bytearray(64)])
    with pytest.raises(ValueError, match="past the end"):
        ops.read_fixed(ring, 1, rfd, 0, 0, nbytes=65)
    with pytest.raises(ValueError, match="no registered buffer"):
        ops.read_fixed(ring, 1, rfd, 3, 0)
    assert ring.sq_ready() == 0


def test_register_read_only_buffer_is_refused(ring: Ring) -> None:
    with pytest.raises(BufferError):
        ring.register_buffers([b"read-only"])


def test_unregister_buffers_while_read_fixed_in_flight_keeps_memory(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    buf = bytearray(32)
    ring.register_buffers([buf])
    ops.read_fixed(ring, 1, a.fileno(), 0, -1, nbytes=5)
    ring.submit()
    ring.unregister_buffers()
    del buf
    gc.collect()
    b.send(b"hello")
    assert reap(ring, 1)[0].result() == 5


def test_register_eventfd_signals_completions(ring: Ring) -> None:
    efd = eventfd_nonblocking()
    try:
        ring.register_eventfd(efd)
        ops.nop(ring, 1)
        ring.submit()
        reap(ring, 1)
        assert int.from_bytes(os.read(efd, 8), sys.byteorder) >= 1
        ring.unregister_eventfd()
        ops.nop(ring, 2)
        ring.submit()
        reap(ring, 1)
        with pytest.raises(BlockingIOError):
            os.read(efd, 8)
    finally:
        os.close(efd)


def test_register_ring_fd_then_submit_through_index(ring: Ring) -> None:
    index = ring.register_ring_fd()
    assert index >= 0
    for i in range(10):
        ops.nop(ring, i)
    assert ring.submit(wait_nr=10) == 10
    assert sorted(c.user_data for c in ring.copy_cqes()) == list(range(10))
    ring.unregister_ring_fd()
    with pytest.raises(ValueError, match="not registered"):
        ring.unregister_ring_fd()


def test_probe_supports_iteration_and_names(ring: Ring) -> None:
    probe = ring.probe()
    assert probe.supports(uring_rs.IORING_OP_NOP)
    assert uring_rs.IORING_OP_READ in probe
    assert next(iter(probe)) == uring_rs.IORING_OP_NOP
    assert "READ" in probe.names()
    assert len(probe) == len(probe.names())
    assert not probe.supports(-1) and not probe.supports(300)


def test_buffer_ring_recv_gives_data_and_recycles(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    needs(ring, uring_rs.IORING_OP_RECV)
    a, b = pair
    br = BufferRing(ring, 7, 4, 64)
    for i in range(12):  # three times round a ring of four
        sqe = ops.recv(ring, i, a, bytearray(0))
        sqe.flags = uring_rs.IOSQE_BUFFER_SELECT
        sqe.buf_group = 7
        ring.submit()
        b.send(b"msg%d" % i)
        (cqe,) = reap(ring, 1)
        assert cqe.buffer_id is not None
        with br.get(cqe) as pb:
            assert bytes(pb) == b"msg%d" % i
            assert len(pb) == len(b"msg%d" % i)
            assert bytes(memoryview(pb)) == b"msg%d" % i
        assert br.outstanding == 0


def test_provided_buffer_cannot_be_released_with_a_view_open(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    br = BufferRing(ring, 3, 2, 16)
    sqe = ops.recv(ring, 1, a, bytearray(0))
    sqe.flags = uring_rs.IOSQE_BUFFER_SELECT
    sqe.buf_group = 3
    ring.submit()
    b.send(b"abc")
    pb = br.get(reap(ring, 1)[0])
    view = memoryview(pb)
    with pytest.raises(BufferError):
        pb.release()
    view.release()
    pb.release()
    with pytest.raises(ValueError, match="released"):
        bytes(pb)


def test_recv_multishot_streams_until_eof(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    needs(ring, uring_rs.IORING_OP_RECV)
    a, b = pair
    br = BufferRing(ring, 1, 8, 128)
    ops.recv_multishot(ring, 42, a, 1)
    ring.submit()
    received = b""
    for i in range(5):
        b.send(b"part%d;" % i)
        (cqe,) = reap(ring, 1)
        assert cqe.user_data == 42 and cqe.more
        with br.get(cqe) as pb:
            received += bytes(pb)
    b.shutdown(socket.SHUT_WR)
    (last,) = reap(ring, 1)
    assert last.res == 0 and not last.more  # end of stream ends the multishot
    assert received == b"".join(b"part%d;" % i for i in range(5))
    assert ring.in_flight == 0


def test_recv_multishot_enobufs_then_rearm(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    br = BufferRing(ring, 2, 2, 8)
    ops.recv_multishot(ring, 9, a, 2)
    ring.submit()
    held = []
    for i in range(2):
        b.send(b"x%d" % i)
        (cqe,) = reap(ring, 1)
        held.append(br.get(cqe))
    b.send(b"more")
    (cqe,) = reap(ring, 1)
    assert cqe.res == -105 and not cqe.more  # ENOBUFS: the group ran dry
    for pb in held:
        pb.release()
    ops.recv_multishot(ring, 10, a, 2)
    ring.submit()
    (cqe,) = reap(ring, 1)
    with br.get(cqe) as pb:
        assert bytes(pb) == b"more"
    ops.cancel(ring, 11, 10)
    ring.submit()
    got = {c.user_data: c for c in reap(ring, 2)}
    assert got[10].res == -125 and not got[10].more


def test_accept_multishot_accepts_several(ring: Ring) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    try:
        ops.accept_multishot(ring, 5, srv)
        ring.submit()
        clients = [socket.create_connection(srv.getsockname()) for _ in range(3)]
        cqes = reap(ring, 3)
        for c in cqes:
            assert c.user_data == 5 and c.more
            fd = c.result()
            assert os.get_inheritable(fd) is False
            os.close(fd)
        ops.cancel(ring, 6, 5)
        ring.submit()
        final = {c.user_data: c for c in reap(ring, 2)}
        assert not final[5].more
        for cl in clients:
            cl.close()
    finally:
        srv.close()


def test_legacy_provide_buffers_then_recv(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    needs(ring, uring_rs.IORING_OP_PROVIDE_BUFFERS)
    a, b = pair
    pool = bytearray(4 * 32)
    ops.provide_buffers(ring, 1, pool, 32, 4, 5)
    ring.submit()
    assert reap(ring, 1)[0].result() == 0
    del pool
    gc.collect()  # the ring keeps it pinned
    sqe = ops.recv(ring, 2, a, bytearray(0))
    sqe.flags = uring_rs.IOSQE_BUFFER_SELECT
    sqe.buf_group = 5
    ring.submit()
    b.send(b"legacy")
    cqe = reap(ring, 1)[0]
    assert cqe.result() == 6 and cqe.buffer_id is not None
    ops.remove_buffers(ring, 3, 4, 5)
    ring.submit()
    assert reap(ring, 1)[0].result() == 3  # the other three


def test_cancel_all_with_repeated_user_data(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    for _ in range(3):
        ops.recv(ring, 77, a, bytearray(8))
    ring.submit()
    ops.cancel(ring, 1, 77, uring_rs.IORING_ASYNC_CANCEL_ALL)
    ring.submit()
    cqes = reap(ring, 6)
    assert sorted(c.res for c in cqes if c.user_data == 77) == [-125] * 3
    assert ring.in_flight == 0


def test_cancel_unknown_target_is_enoent(ring: Ring) -> None:
    ops.cancel(ring, 1, 12345)
    ring.submit()
    assert reap(ring, 1)[0].res == -2


def test_cancel_fd_and_cancel_any(ring: Ring, pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    ops.recv(ring, 1, a, bytearray(8))
    ops.recv(ring, 2, b, bytearray(8))
    ring.submit()
    ops.cancel_fd(ring, 3, a)
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got == {1: -125, 3: 0}
    ops.cancel(ring, 4, 0, uring_rs.IORING_ASYNC_CANCEL_ANY | uring_rs.IORING_ASYNC_CANCEL_ALL)
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got == {2: -125, 4: 1}


def test_poll_multishot_and_poll_update(ring: Ring) -> None:
    r, w = os.pipe()
    try:
        ops.poll_add(ring, 1, r, select.POLLIN, uring_rs.IORING_POLL_ADD_MULTI)
        ring.submit()
        os.write(w, b"x")
        (c,) = reap(ring, 1)
        assert c.user_data == 1 and c.more and c.res & select.POLLIN
        ops.poll_update(ring, 2, 1, 99, select.POLLIN, uring_rs.IORING_POLL_UPDATE_USER_DATA)
        ring.submit()
        got = reap(ring, 1)
        assert got[0].user_data == 2 and got[0].res == 0
        os.read(r, 1)
        os.write(w, b"y")
        (c,) = reap(ring, 1)
        assert c.user_data == 99 and c.more
        ops.poll_remove(ring, 3, 99)
        ring.submit()
        got2 = {c.user_data: c for c in reap(ring, 2)}
        assert got2[3].res == 0 and not got2[99].more
    finally:
        os.close(r)
        os.close(w)


def test_timeout_update_shortens_a_timeout(ring: Ring) -> None:
    ops.timeout(ring, 1, 30)
    ring.submit()
    ops.timeout_update(ring, 2, 1, 0.01)
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2, timeout=5)}
    assert got == {2: 0, 1: -62}


def test_msg_ring_posts_on_another_ring(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_MSG_RING)
    with Ring(8) as other:
        ops.msg_ring(ring, 1, other, 1234, 0xDEADBEEF)
        ring.submit()
        assert reap(ring, 1)[0].result() == 0
        (msg,) = reap(other, 1)
        assert msg.user_data == 0xDEADBEEF and msg.res == 1234
        assert other.in_flight == 0


def test_closing_with_a_message_pending_does_not_stall() -> None:
    with Ring(8) as src:
        other = Ring(8)
        ops.msg_ring(src, 1, other, 1, 2)  # queued, never submitted
        other.close()
        assert other.closed
