"""The batch API: many ops in one call, completions into preallocated arrays."""

from __future__ import annotations

import array
import gc
import os
import sys
from pathlib import Path

import pytest
import uring_rs
from uring_rs import Ring, UringError, ops


def drain(ring: Ring, n: int) -> tuple[list[int], list[int]]:
    ud, res = array.array("Q", [0] * n), array.array("i", [0] * n)
    uds: list[int] = []
    ress: list[int] = []
    while len(uds) < n:
        k = ring.copy_cqes_into(ud, res, wait_nr=1, timeout=5)
        assert k > 0, "timed out"
        uds += ud[:k]
        ress += res[:k]
    return uds, ress


def test_read_many_fills_consecutive_slices(ring: Ring, data_file: Path, rfd: int) -> None:
    data = data_file.read_bytes()
    offsets = array.array("q", [8192, 0, 4096, 100])
    buf = bytearray(4 * 512)
    assert ops.read_many(ring, 10, rfd, buf, offsets, 512) == 4
    ring.submit()
    uds, ress = drain(ring, 4)
    assert sorted(uds) == [10, 11, 12, 13] and ress == [512] * 4
    for i, off in enumerate(offsets):
        assert buf[i * 512 : (i + 1) * 512] == data[off : off + 512]


def test_read_many_accepts_a_list_of_offsets_and_fixed_files(
    ring: Ring, data_file: Path, rfd: int
) -> None:
    ring.register_files([rfd])
    buf = bytearray(2 * 64)
    ops.read_many(ring, 0, 0, buf, [64, 0], 64, flags=uring_rs.IOSQE_FIXED_FILE)
    ring.submit()
    assert drain(ring, 2)[1] == [64, 64]
    data = data_file.read_bytes()
    assert bytes(buf) == data[64:128] + data[:64]


def test_write_many_then_read_back(ring: Ring, tmp_path: Path) -> None:
    fd = os.open(tmp_path / "w.bin", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        src = bytes(range(256)) * 4
        ops.write_many(ring, 0, fd, src, [768, 512, 256, 0], 256)
        ring.submit()
        assert drain(ring, 4)[1] == [256] * 4
        got = os.pread(fd, 1024, 0)
        assert got == src[768:] + src[512:768] + src[256:512] + src[:256]
    finally:
        os.close(fd)


def test_batch_buffer_stays_alive_until_the_last_completion(ring: Ring) -> None:
    r, w = os.pipe()
    try:
        buf = bytearray(16)
        start = sys.getrefcount(buf)
        ops.read_many(ring, 0, r, buf, [-1, -1], 8)
        ring.submit()
        assert sys.getrefcount(buf) > start  # the ring holds an export
        with pytest.raises(BufferError):
            buf.extend(b"x")
        view = memoryview(buf)
        del buf
        gc.collect()
        os.write(w, b"abcdefgh12345678")
        assert sorted(drain(ring, 2)[1]) == [8, 8]
        assert sorted([bytes(view[:8]), bytes(view[8:])]) == [b"12345678", b"abcdefgh"]
    finally:
        os.close(r)
        os.close(w)


def test_batch_is_all_or_nothing_when_the_sq_is_short() -> None:
    with Ring(4) as ring:
        ops.nop(ring, 0)
        with pytest.raises(UringError) as exc:
            ops.nop_many(ring, 1, 4)
        assert exc.value.kind is uring_rs.IoUringError.SUBMISSION_QUEUE_FULL
        assert ring.sq_ready() == 1 and ring.in_flight == 1


def test_read_many_refuses_a_buffer_too_small_and_queues_nothing(ring: Ring, rfd: int) -> None:
    with pytest.raises(ValueError, match="need"):
        ops.read_many(ring, 0, rfd, bytearray(100), [0, 64], 64)
    with pytest.raises(ValueError, match="offset"):
        ops.read_many(ring, 0, rfd, bytearray(128), [0, -5], 64)
    with pytest.raises(ValueError, match="CQE_SKIP_SUCCESS needs IOSQE_IO_LINK"):
        ops.read_many(ring, 0, rfd, bytearray(64), [0], 64, flags=uring_rs.IOSQE_CQE_SKIP_SUCCESS)
    hard_first = uring_rs.IOSQE_CQE_SKIP_SUCCESS | uring_rs.IOSQE_IO_HARDLINK
    with pytest.raises(ValueError, match=r"CQE_SKIP_SUCCESS.*not IOSQE_IO_HARDLINK"):
        ops.read_many(ring, 0, rfd, bytearray(64), [0], 64, flags=hard_first)
    assert ring.sq_ready() == 0 and ring.in_flight == 0


def test_copy_cqes_into_respects_the_array_length_and_flags(ring: Ring) -> None:
    ops.nop_many(ring, 100, 10)
    ring.submit()
    ud, res, fl = array.array("Q", [0] * 4), array.array("i", [0] * 4), array.array("I", [9] * 4)
    assert ring.copy_cqes_into(ud, res, fl, wait_nr=1, timeout=5) == 4
    assert list(ud) == [100, 101, 102, 103] and list(fl) == [0] * 4
    rest = drain(ring, 6)[0]
    assert rest == list(range(104, 110))
    assert ring.in_flight == 0


def test_copy_cqes_into_times_out_empty(ring: Ring) -> None:
    ud, res = array.array("Q", [0]), array.array("i", [0])
    assert ring.copy_cqes_into(ud, res, wait_nr=1, timeout=0.01) == 0
