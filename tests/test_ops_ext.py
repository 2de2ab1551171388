"""File, network, process and futex ops, against the real kernel.

Each test skips only when ``ring.probe()`` says the kernel lacks the opcode.
"""

from __future__ import annotations

import array
import errno
import gc
import mmap
import os
import re
import signal
import socket
import stat
import sys
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uring_rs
from uring_rs import Cqe, MsgHdr, Ring, Siginfo, Statx, ops

PAGE = mmap.PAGESIZE


def reap(ring: Ring, n: int, timeout: float = 5.0) -> list[Cqe]:
    got: list[Cqe] = []
    while len(got) < n:
        batch = ring.copy_cqes(wait_nr=1, timeout=timeout)
        assert batch, f"timed out with {len(got)}/{n} completions"
        got.extend(batch)
    return got


def run(ring: Ring, n: int = 1) -> list[Cqe]:
    """Submits what is queued and returns `n` completions, sorted by user_data."""
    ring.submit()
    return sorted(reap(ring, n), key=lambda c: c.user_data)


def needs(ring: Ring, *opcodes: int) -> None:
    probe = ring.probe()
    for op in opcodes:
        if not probe.supports(op):
            pytest.skip(f"kernel lacks opcode {uring_rs.opcode_names()[op]} (probed)")


@pytest.fixture
def dirfd(tmp_path: Path) -> Iterator[int]:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


@pytest.fixture
def wfile(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    path = tmp_path / "out.bin"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    yield path, fd
    os.close(fd)


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        client = socket.create_connection(srv.getsockname())
        server, _ = srv.accept()
    yield client, server
    client.close()
    server.close()


# ------------------------------------------------------------- readv / writev


def test_readv_fills_buffers_in_order(ring: Ring, rfd: int, data_file: Path) -> None:
    needs(ring, uring_rs.IORING_OP_READV)
    a, b = bytearray(100), bytearray(50)
    ops.readv(ring, 1, rfd, [a, memoryview(b)], 10)
    (cqe,) = run(ring)
    assert cqe.result() == 150
    assert bytes(a + b) == data_file.read_bytes()[10:160]


def test_writev_writes_buffers_in_order(ring: Ring, wfile: tuple[Path, int]) -> None:
    needs(ring, uring_rs.IORING_OP_WRITEV)
    path, fd = wfile
    ops.writev(ring, 1, fd, [b"abc", bytearray(b"def"), memoryview(b"xgh")[1:]], 0)
    (cqe,) = run(ring)
    assert cqe.result() == 8
    assert path.read_bytes() == b"abcdefgh"


def test_writev_at_current_position_with_rwf_append(ring: Ring, wfile: tuple[Path, int]) -> None:
    needs(ring, uring_rs.IORING_OP_WRITEV)
    path, fd = wfile
    os.write(fd, b"12345")
    # os.RWF_APPEND is Python 3.10+; the flag itself is the kernel's (linux/fs.h, Linux 4.16).
    rwf_append: int = getattr(os, "RWF_APPEND", 0x10)
    ops.writev(ring, 1, fd, [b"ab"], 0, rwf_append)
    assert run(ring)[0].result() == 2
    assert path.read_bytes() == b"12345ab"


def test_readv_refuses_read_only_buffers_and_queues_nothing(ring: Ring, rfd: int) -> None:
    with pytest.raises((TypeError, BufferError)):
        ops.readv(ring, 1, rfd, [bytearray(4), b"read-only"], 0)
    with pytest.raises(TypeError, match="sequence of buffers"):
        ops.writev(ring, 1, rfd, b"not a list", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="offset"):
        ops.readv(ring, 1, rfd, [bytearray(4)], -2)
    assert ring.sq_ready() == 0 and ring.in_flight == 0


def test_readv_keeps_buffers_alive_until_completion(ring: Ring, rfd: int) -> None:
    needs(ring, uring_rs.IORING_OP_READV)
    buf = array.array("b", bytes(64))
    ref = weakref.ref(buf)
    ops.readv(ring, 1, rfd, [buf], 0)
    del buf
    gc.collect()
    assert ref() is not None, "the ring must keep the buffer alive"
    ring.submit()
    assert reap(ring, 1)[0].result() == 64
    gc.collect()
    assert ref() is None, "released once the completion is consumed"


# ----------------------------------------------------------------------- statx


def test_statx_matches_os_stat(ring: Ring, data_file: Path) -> None:
    needs(ring, uring_rs.IORING_OP_STATX)
    st = Statx()
    mask = uring_rs.STATX_BASIC_STATS | uring_rs.STATX_BTIME
    ops.statx(ring, 1, uring_rs.AT_FDCWD, data_file, 0, mask, statxbuf=st)
    assert st.in_flight
    (cqe,) = run(ring)
    assert cqe.result() == 0
    assert not st.in_flight
    ref = os.stat(data_file)
    assert st.mask & uring_rs.STATX_BASIC_STATS == uring_rs.STATX_BASIC_STATS
    assert st.size == ref.st_size == 65536
    assert st.mode == ref.st_mode and stat.S_ISREG(st.mode)
    assert (st.ino, st.nlink, st.uid, st.gid) == (ref.st_ino, ref.st_nlink, ref.st_uid, ref.st_gid)
    assert st.dev == ref.st_dev
    assert st.blocks == ref.st_blocks
    assert st.mtime_ns == ref.st_mtime_ns
    assert st.mtime == pytest.approx(ref.st_mtime)
    assert st.ctime_ns == ref.st_ctime_ns
    if st.mask & uring_rs.STATX_BTIME:
        assert 0 < st.btime <= st.mtime + 1


def test_statx_empty_path_stats_the_fd(ring: Ring, wfile: tuple[Path, int]) -> None:
    needs(ring, uring_rs.IORING_OP_STATX)
    path, fd = wfile
    os.write(fd, b"x" * 1234)
    st = Statx()
    ops.statx(ring, 1, fd, "", uring_rs.AT_EMPTY_PATH, statxbuf=st)
    assert run(ring)[0].result() == 0
    assert st.size == 1234 and st.ino == os.stat(path).st_ino


def test_statx_missing_file_is_file_not_found(ring: Ring, tmp_path: Path) -> None:
    needs(ring, uring_rs.IORING_OP_STATX)
    ops.statx(ring, 1, uring_rs.AT_FDCWD, tmp_path / "nope", statxbuf=Statx())
    with pytest.raises(FileNotFoundError):
        run(ring)[0].result()


def test_statx_needs_a_statx_and_one_op_at_a_time(ring: Ring, data_file: Path) -> None:
    with pytest.raises(TypeError, match="statxbuf"):
        ops.statx(ring, 1, uring_rs.AT_FDCWD, data_file)
    with pytest.raises(TypeError):
        ops.statx(ring, 1, uring_rs.AT_FDCWD, data_file, statxbuf=bytearray(256))  # type: ignore[arg-type]
    assert ring.sq_ready() == 0
    needs(ring, uring_rs.IORING_OP_STATX)
    st = Statx()
    ops.statx(ring, 1, uring_rs.AT_FDCWD, data_file, statxbuf=st)
    with pytest.raises(ValueError, match="in use"):
        ops.statx(ring, 2, uring_rs.AT_FDCWD, data_file, statxbuf=st)
    assert ring.sq_ready() == 1
    assert run(ring)[0].result() == 0
    ops.statx(ring, 3, uring_rs.AT_FDCWD, data_file, statxbuf=st)  # free again
    assert run(ring)[0].result() == 0


def test_statx_object_outlives_a_dropped_reference(ring: Ring, data_file: Path) -> None:
    needs(ring, uring_rs.IORING_OP_STATX)
    st = Statx()
    ref = weakref.ref(st)
    ops.statx(ring, 1, uring_rs.AT_FDCWD, data_file, statxbuf=st)
    del st
    gc.collect()
    assert ref() is not None, "the ring keeps the Statx the kernel writes into"
    assert run(ring)[0].result() == 0
    gc.collect()
    assert ref() is None


# ------------------------------------------------- fallocate, fadvise, madvise


def test_fallocate_extends_or_keeps_size(ring: Ring, wfile: tuple[Path, int]) -> None:
    needs(ring, uring_rs.IORING_OP_FALLOCATE)
    path, fd = wfile
    ops.fallocate(ring, 1, fd, 0, 0, 1 << 16)
    res = run(ring)[0].res
    if res == -errno.EOPNOTSUPP:
        pytest.skip("the tmp filesystem does not support fallocate")
    assert res == 0
    assert path.stat().st_size == 1 << 16
    ops.fallocate(ring, 2, fd, uring_rs.FALLOC_FL_KEEP_SIZE, 1 << 16, 1 << 16)
    assert run(ring)[0].result() == 0
    assert path.stat().st_size == 1 << 16


def test_fadvise_accepts_advice_and_checks_arguments(ring: Ring, rfd: int) -> None:
    needs(ring, uring_rs.IORING_OP_FADVISE)
    ops.fadvise(ring, 1, rfd, 0, 4096, os.POSIX_FADV_WILLNEED)
    ops.fadvise(ring, 2, rfd, 0, 0, os.POSIX_FADV_DONTNEED)
    ops.fadvise(ring, 3, rfd, 0, 1 << 33, os.POSIX_FADV_SEQUENTIAL)  # a 64-bit length
    assert [c.result() for c in run(ring, 3)] == [0, 0, 0]
    ops.fadvise(ring, 4, rfd, 0, 10, 12345)
    assert run(ring)[0].res == -errno.EINVAL
    with pytest.raises(ValueError):
        ops.fadvise(ring, 5, rfd, -1, 10, os.POSIX_FADV_NORMAL)
    assert ring.sq_ready() == 0


def test_madvise_dontneed_zeroes_an_anonymous_mapping(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_MADVISE)
    with mmap.mmap(-1, 4 * PAGE, flags=mmap.MAP_PRIVATE) as m:  # shared memory would keep it
        m[:5] = b"hello"
        ops.madvise(ring, 1, m, mmap.MADV_DONTNEED)
        assert run(ring)[0].result() == 0
        assert m[:5] == bytes(5)
        ops.madvise(ring, 2, memoryview(m)[PAGE:], mmap.MADV_WILLNEED)
        assert run(ring)[0].result() == 0


def test_madvise_refuses_what_could_crash_or_spill(ring: Ring) -> None:
    with mmap.mmap(-1, 2 * PAGE) as m:
        with pytest.raises(ValueError, match="not supported"):
            ops.madvise(ring, 1, m, mmap.MADV_DONTFORK)
        with pytest.raises(ValueError, match="page boundary"):
            ops.madvise(ring, 1, memoryview(m)[: PAGE + 1], mmap.MADV_DONTNEED)
        with pytest.raises(ValueError, match="page boundary"):
            ops.madvise(ring, 1, bytearray(100), mmap.MADV_DONTNEED)
    with pytest.raises((TypeError, BufferError)):
        ops.madvise(ring, 1, b"read-only", mmap.MADV_DONTNEED)
    assert ring.sq_ready() == 0


# --------------------------------------------------- ftruncate, sync_file_range


def test_ftruncate_shrinks_and_extends(ring: Ring, wfile: tuple[Path, int]) -> None:
    needs(ring, uring_rs.IORING_OP_FTRUNCATE)
    path, fd = wfile
    os.write(fd, b"x" * 100)
    ops.ftruncate(ring, 1, fd, 10)
    assert run(ring)[0].result() == 0
    assert path.read_bytes() == b"x" * 10
    ops.ftruncate(ring, 2, fd, 20)
    assert run(ring)[0].result() == 0
    assert path.read_bytes() == b"x" * 10 + bytes(10)


def test_sync_file_range_writes_back(ring: Ring, wfile: tuple[Path, int]) -> None:
    needs(ring, uring_rs.IORING_OP_SYNC_FILE_RANGE)
    _, fd = wfile
    os.write(fd, b"y" * 8192)
    flags = uring_rs.SYNC_FILE_RANGE_WRITE | uring_rs.SYNC_FILE_RANGE_WAIT_AFTER
    ops.sync_file_range(ring, 1, fd, 0, 0, flags)
    assert run(ring)[0].result() == 0


# ------------------------------------------------------ directory operations


def test_mkdirat_unlinkat_removedir(ring: Ring, tmp_path: Path, dirfd: int) -> None:
    needs(ring, uring_rs.IORING_OP_MKDIRAT, uring_rs.IORING_OP_UNLINKAT)
    ops.mkdirat(ring, 1, dirfd, "sub", 0o700)
    assert run(ring)[0].result() == 0
    assert (tmp_path / "sub").is_dir()
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) & 0o700 == 0o700
    ops.mkdirat(ring, 2, dirfd, "sub")
    with pytest.raises(FileExistsError):
        run(ring)[0].result()
    ops.unlinkat(ring, 3, dirfd, "sub")  # a directory without AT_REMOVEDIR
    assert run(ring)[0].res in (-errno.EISDIR, -errno.EPERM)
    ops.unlinkat(ring, 4, dirfd, "sub", uring_rs.AT_REMOVEDIR)
    assert run(ring)[0].result() == 0
    assert not (tmp_path / "sub").exists()


def test_unlinkat_removes_a_file_by_absolute_path(ring: Ring, tmp_path: Path) -> None:
    needs(ring, uring_rs.IORING_OP_UNLINKAT)
    p = tmp_path / "gone.txt"
    p.write_text("x")
    ops.unlinkat(ring, 1, uring_rs.AT_FDCWD, str(p).encode())
    assert run(ring)[0].result() == 0
    assert not p.exists()
    ops.unlinkat(ring, 2, uring_rs.AT_FDCWD, p)
    with pytest.raises(FileNotFoundError):
        run(ring)[0].result()


def test_renameat_moves_and_noreplace_refuses(ring: Ring, tmp_path: Path, dirfd: int) -> None:
    needs(ring, uring_rs.IORING_OP_RENAMEAT)
    (tmp_path / "a").write_text("A")
    (tmp_path / "b").write_text("B")
    ops.renameat(ring, 1, dirfd, "a", dirfd, "c")
    assert run(ring)[0].result() == 0
    assert (tmp_path / "c").read_text() == "A" and not (tmp_path / "a").exists()
    ops.renameat(ring, 2, dirfd, "c", uring_rs.AT_FDCWD, tmp_path / "b", uring_rs.RENAME_NOREPLACE)
    with pytest.raises(FileExistsError):
        run(ring)[0].result()
    ops.renameat(ring, 3, dirfd, "c", dirfd, "b", uring_rs.RENAME_EXCHANGE)
    assert run(ring)[0].result() == 0
    assert (tmp_path / "b").read_text() == "A" and (tmp_path / "c").read_text() == "B"


def test_symlinkat_and_linkat(ring: Ring, tmp_path: Path, dirfd: int) -> None:
    needs(ring, uring_rs.IORING_OP_SYMLINKAT, uring_rs.IORING_OP_LINKAT)
    (tmp_path / "target").write_text("T")
    ops.symlinkat(ring, 1, "target", dirfd, "sym")
    ops.linkat(ring, 2, dirfd, "target", uring_rs.AT_FDCWD, tmp_path / "hard")
    assert [c.result() for c in run(ring, 2)] == [0, 0]
    assert os.readlink(tmp_path / "sym") == "target"
    assert (tmp_path / "sym").read_text() == "T"
    assert (tmp_path / "hard").stat().st_ino == (tmp_path / "target").stat().st_ino
    assert (tmp_path / "target").stat().st_nlink == 2
    # linkat of the symlink itself, or (AT_SYMLINK_FOLLOW) of what it points at
    ops.linkat(ring, 3, dirfd, "sym", dirfd, "hard-sym")
    ops.linkat(ring, 4, dirfd, "sym", dirfd, "hard-follow", uring_rs.AT_SYMLINK_FOLLOW)
    assert [c.result() for c in run(ring, 2)] == [0, 0]
    assert (tmp_path / "hard-sym").is_symlink()
    assert not (tmp_path / "hard-follow").is_symlink()


def test_path_arguments_are_checked_before_queueing(ring: Ring, dirfd: int) -> None:
    with pytest.raises(ValueError, match="null byte"):
        ops.mkdirat(ring, 1, dirfd, "a\0b")
    with pytest.raises(TypeError):
        ops.unlinkat(ring, 1, dirfd, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ops.renameat(ring, 1, "not an fd", "a", dirfd, "b")  # type: ignore[arg-type]
    assert ring.sq_ready() == 0


# --------------------------------------------------------------------- openat2


def test_openat2_opens_cloexec(ring: Ring, data_file: Path) -> None:
    needs(ring, uring_rs.IORING_OP_OPENAT2)
    ops.openat2(ring, 1, uring_rs.AT_FDCWD, data_file, os.O_RDONLY)
    fd = run(ring)[0].result()
    try:
        assert not os.get_inheritable(fd)
        assert os.read(fd, 4) == data_file.read_bytes()[:4]
    finally:
        os.close(fd)


def test_openat2_creates_with_mode(ring: Ring, tmp_path: Path, dirfd: int) -> None:
    needs(ring, uring_rs.IORING_OP_OPENAT2)
    ops.openat2(ring, 1, dirfd, "new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    fd = run(ring)[0].result()
    os.close(fd)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o640 & ~_umask()
    # openat2 is strict: a mode without O_CREAT is EINVAL.
    ops.openat2(ring, 2, dirfd, "new", os.O_RDONLY, 0o600)
    assert run(ring)[0].res == -errno.EINVAL


def test_openat2_resolve_beneath_refuses_escape(ring: Ring, tmp_path: Path, dirfd: int) -> None:
    needs(ring, uring_rs.IORING_OP_OPENAT2)
    (tmp_path / "inside").write_text("ok")
    ops.openat2(ring, 1, dirfd, "../" + tmp_path.name + "/inside", resolve=uring_rs.RESOLVE_BENEATH)
    assert run(ring)[0].res == -errno.EXDEV
    ops.openat2(ring, 2, dirfd, "inside", resolve=uring_rs.RESOLVE_BENEATH)
    os.close(run(ring)[0].result())


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


# ------------------------------------------------------- fixed-file management


def test_files_update_then_close_fixed(ring: Ring, data_file: Path) -> None:
    needs(ring, uring_rs.IORING_OP_FILES_UPDATE, uring_rs.IORING_OP_CLOSE)
    ring.register_files_sparse(4)
    fd = os.open(data_file, os.O_RDONLY)
    try:
        ops.files_update(ring, 1, [fd], offset=2)
        assert run(ring)[0].result() == 1
    finally:
        os.close(fd)  # the registered table holds its own reference
    buf = bytearray(8)
    ops.read(ring, 2, 2, buf, 0).flags = uring_rs.IOSQE_FIXED_FILE
    assert run(ring)[0].result() == 8
    assert bytes(buf) == data_file.read_bytes()[:8]
    ops.close_fixed(ring, 3, 2)
    assert run(ring)[0].result() == 0
    ops.read(ring, 4, 2, buf, 0).flags = uring_rs.IOSQE_FIXED_FILE
    assert run(ring)[0].res == -errno.EBADF
    ops.close_fixed(ring, 5, 2)
    assert run(ring)[0].res == -errno.EBADF


def test_files_update_and_close_fixed_check_arguments(ring: Ring) -> None:
    with pytest.raises(ValueError):
        ops.files_update(ring, 1, [])
    with pytest.raises(ValueError):
        ops.files_update(ring, 1, [0], offset=-1)
    with pytest.raises(ValueError):
        ops.close_fixed(ring, 1, -1)
    with pytest.raises(ValueError):
        ops.close_fixed(ring, 1, 2**32 - 1)
    assert ring.sq_ready() == 0


# ------------------------------------------------------------------ splice, tee


def test_splice_file_to_pipe(ring: Ring, rfd: int, data_file: Path) -> None:
    needs(ring, uring_rs.IORING_OP_SPLICE)
    r, w = os.pipe()
    try:
        ops.splice(ring, 1, rfd, 100, w, -1, 1000)
        assert run(ring)[0].result() == 1000
        assert os.read(r, 2000) == data_file.read_bytes()[100:1100]
        os.lseek(rfd, 7, os.SEEK_SET)
        ops.splice(ring, 2, rfd, -1, w, -1, 3)  # -1: the file's own position
        assert run(ring)[0].result() == 3
        assert os.read(r, 10) == data_file.read_bytes()[7:10]
    finally:
        os.close(r)
        os.close(w)


def test_splice_pipe_to_file(ring: Ring, wfile: tuple[Path, int]) -> None:
    needs(ring, uring_rs.IORING_OP_SPLICE)
    path, fd = wfile
    r, w = os.pipe()
    try:
        os.write(w, b"through a pipe")
        ops.splice(ring, 1, r, -1, fd, 4, 14)
        assert run(ring)[0].result() == 14
        assert path.read_bytes() == bytes(4) + b"through a pipe"
    finally:
        os.close(r)
        os.close(w)


def test_tee_duplicates_without_consuming(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_TEE)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    try:
        os.write(w1, b"copy me")
        ops.tee(ring, 1, r1, w2, 100)
        assert run(ring)[0].result() == 7
        assert os.read(r2, 100) == b"copy me"
        assert os.read(r1, 100) == b"copy me"
    finally:
        for fd in (r1, w1, r2, w2):
            os.close(fd)


def test_splice_offsets_are_checked(ring: Ring) -> None:
    with pytest.raises(ValueError, match="off_in"):
        ops.splice(ring, 1, 0, -2, 1, -1, 10)
    with pytest.raises(ValueError):
        ops.tee(ring, 1, 0, 1, -1)
    assert ring.sq_ready() == 0


# ------------------------------------------------------------ socket, shutdown


def test_socket_makes_a_cloexec_socket(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_SOCKET)
    ops.socket(ring, 1, socket.AF_INET, socket.SOCK_STREAM)
    ops.socket(ring, 2, socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
    fds = [c.result() for c in run(ring, 2)]
    with socket.socket(fileno=fds[0]) as s, socket.socket(fileno=fds[1]) as u:
        assert (s.family, s.type) == (socket.AF_INET, socket.SOCK_STREAM)
        assert u.family == socket.AF_UNIX and not os.get_blocking(u.fileno())
        assert not s.get_inheritable() and not u.get_inheritable()
    ops.socket(ring, 3, 12345, socket.SOCK_STREAM)
    assert run(ring)[0].res == -errno.EAFNOSUPPORT


def test_shutdown_write_side_gives_eof(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_SHUTDOWN)
    a, b = socket.socketpair()
    with a, b:
        ops.shutdown(ring, 1, a, socket.SHUT_WR)
        assert run(ring)[0].result() == 0
        assert b.recv(10) == b""
        b.sendall(b"still open")
        assert a.recv(100) == b"still open"


# ---------------------------------------------------------- sendmsg, recvmsg


def test_sendmsg_and_recvmsg_scatter_gather(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_SENDMSG, uring_rs.IORING_OP_RECVMSG)
    a, b = socket.socketpair()
    with a, b:
        ops.sendmsg(ring, 1, a, [b"he", bytearray(b"llo"), memoryview(b" world")])
        assert run(ring)[0].result() == 11
        x, y = bytearray(3), bytearray(20)
        ops.recvmsg(ring, 2, b, [x, y])
        assert run(ring)[0].result() == 11
        assert bytes(x) == b"hel" and bytes(y[:8]) == b"lo world"


def test_sendmsg_to_address_and_recvmsg_reports_sender(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_SENDMSG, uring_rs.IORING_OP_RECVMSG)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        tx.bind(("127.0.0.1", 0))
        ops.sendmsg(ring, 1, tx, [b"ping", b"!"], rx.getsockname())
        assert run(ring)[0].result() == 5
        buf = bytearray(3)
        msg = MsgHdr()
        ops.recvmsg(ring, 2, rx, [buf], msg=msg)
        assert msg.in_flight
        assert run(ring)[0].result() == 3
        assert not msg.in_flight
        assert bytes(buf) == b"pin"
        assert msg.address == tx.getsockname()
        assert msg.flags & socket.MSG_TRUNC
        assert msg.ancdata == []


def test_recvmsg_ipv6_and_unix_addresses(ring: Ring, tmp_path: Path) -> None:
    needs(ring, uring_rs.IORING_OP_SENDMSG, uring_rs.IORING_OP_RECVMSG)
    if socket.has_ipv6:
        try:
            rx6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            rx6.bind(("::1", 0))
        except OSError:
            pass
        else:
            with rx6, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as tx6:
                tx6.bind(("::1", 0))
                ops.sendmsg(ring, 1, tx6, [b"six"], rx6.getsockname())
                msg = MsgHdr()
                ops.recvmsg(ring, 2, rx6, [bytearray(8)], msg=msg)
                assert [c.result() for c in run(ring, 2)] == [3, 3]
                assert msg.address == tx6.getsockname()
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(str(tmp_path / "rx.sock"))
        tx.bind(str(tmp_path / "tx.sock"))
        ops.sendmsg(ring, 3, tx, [b"unix"], str(tmp_path / "rx.sock"))
        msg = MsgHdr()
        ops.recvmsg(ring, 4, rx, [bytearray(8)], msg=msg)
        assert [c.result() for c in run(ring, 2)] == [4, 4]
        assert msg.address == str(tmp_path / "tx.sock")
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as tx,
    ):
        name = b"\0uring_rs-test-%d" % os.getpid()
        rx.bind(name)
        tx.bind(name + b"-tx")
        ops.sendmsg(ring, 5, tx, [b"abstract"], name)
        msg = MsgHdr()
        ops.recvmsg(ring, 6, rx, [bytearray(16)], msg=msg)
        assert [c.result() for c in run(ring, 2)] == [8, 8]
        assert msg.address == name + b"-tx"


def test_sendmsg_passes_an_fd_and_recvmsg_receives_it_cloexec(ring: Ring, data_file: Path) -> None:
    needs(ring, uring_rs.IORING_OP_SENDMSG, uring_rs.IORING_OP_RECVMSG)
    a, b = socket.socketpair()
    fd = os.open(data_file, os.O_RDONLY)
    with a, b:
        try:
            fds = array.array("i", [fd])
            ops.sendmsg(ring, 1, a, [b"fd"], ancdata=[(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            assert run(ring)[0].result() == 2
        finally:
            os.close(fd)
        msg = MsgHdr(socket.CMSG_SPACE(4))
        assert msg.controllen == socket.CMSG_SPACE(4)
        ops.recvmsg(ring, 2, b, [bytearray(8)], msg=msg)
        assert run(ring)[0].result() == 2
        ((level, kind, data),) = msg.ancdata
        assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
        (got,) = array.array("i", data)
        try:
            assert not os.get_inheritable(got)
            assert os.fstat(got).st_ino == data_file.stat().st_ino
            assert os.pread(got, 4, 0) == data_file.read_bytes()[:4]
        finally:
            os.close(got)


def test_recvmsg_control_too_small_sets_ctrunc(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_SENDMSG, uring_rs.IORING_OP_RECVMSG)
    a, b = socket.socketpair()
    with a, b:
        r, w = os.pipe()
        try:
            fds = array.array("i", [r, w, r])  # CMSG_SPACE(12) > CMSG_SPACE(4)
            a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        finally:
            os.close(r)
            os.close(w)
        msg = MsgHdr(socket.CMSG_SPACE(4))
        ops.recvmsg(ring, 1, b, [bytearray(8)], msg=msg)
        assert run(ring)[0].result() == 1
        assert msg.flags == socket.MSG_CTRUNC  # MSG_CMSG_CLOEXEC, an input flag, is left out
        for _, _, data in msg.ancdata:  # close whatever did arrive
            for got in array.array("i", data[: len(data) - len(data) % 4]):
                os.close(got)


def test_msghdr_is_one_op_at_a_time_and_checks_arguments(ring: Ring) -> None:
    a, b = socket.socketpair()
    with a, b:
        msg = MsgHdr()
        needs(ring, uring_rs.IORING_OP_RECVMSG)
        ops.recvmsg(ring, 1, b, [bytearray(8)], msg=msg)
        with pytest.raises(ValueError, match="in use"):
            ops.recvmsg(ring, 2, b, [bytearray(8)], msg=msg)
        with pytest.raises(TypeError):
            ops.sendmsg(ring, 3, a, [b"x"], ancdata=[b"not a tuple"])  # type: ignore[list-item]
        with socket.socket() as s, pytest.raises(ValueError, match="numeric"):
            ops.sendmsg(ring, 3, s, [b"x"], ("localhost", 80))
        with pytest.raises(ValueError):
            MsgHdr(1 << 30)
        assert ring.sq_ready() == 1
        a.send(b"hi")
        assert run(ring)[0].result() == 2
        assert msg.address is None  # a connected stream has no source address


# ---------------------------------------------------------------- zero copy


def test_send_zc_holds_the_buffer_until_the_notification(
    ring: Ring, tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    needs(ring, uring_rs.IORING_OP_SEND_ZC)
    client, server = tcp_pair
    data = array.array("b", os.urandom(1 << 16))
    ref = weakref.ref(data)
    ops.send_zc(ring, 7, client, data, zc_flags=uring_rs.IORING_SEND_ZC_REPORT_USAGE)
    expected = data.tobytes()
    del data
    ring.submit()
    got = b""
    while len(got) < len(expected):
        got += server.recv(1 << 20)
    assert got == expected
    cqes = reap(ring, 2)
    first, notif = cqes
    assert first.user_data == notif.user_data == 7
    assert first.more and first.result() == 1 << 16
    assert notif.flags & uring_rs.IORING_CQE_F_NOTIF and not notif.more
    # The notification's res is 0 or IORING_NOTIF_USAGE_ZC_COPIED (bit 31: negative as
    # an int32; test it with `&`). Loopback copies.
    assert notif.res & 0xFFFFFFFF in (0, uring_rs.IORING_NOTIF_USAGE_ZC_COPIED)
    assert ring.in_flight == 0
    gc.collect()
    assert ref() is None


def test_send_zc_keeps_the_slot_between_its_two_completions(
    ring: Ring, tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    needs(ring, uring_rs.IORING_OP_SEND_ZC)
    client, server = tcp_pair
    ops.send_zc(ring, 1, client, b"z" * 1000)
    ring.submit()
    (first,) = ring.copy_cqes(wait_nr=1, max=1, timeout=5)
    assert first.more and first.result() == 1000
    # The kernel may still read the buffer: the ring must still hold it.
    assert ring.in_flight == 1
    assert server.recv(2000) == b"z" * 1000
    (notif,) = reap(ring, 1)
    assert notif.flags & uring_rs.IORING_CQE_F_NOTIF and not notif.more
    assert ring.in_flight == 0


def test_send_zc_on_a_unix_socket_fails_in_the_completion(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_SEND_ZC)
    a, b = socket.socketpair()
    with a, b:
        ops.send_zc(ring, 1, a, b"no zerocopy here")
        ring.submit()
        cqes = reap(ring, 1)
        while cqes[-1].more:  # the notification follows a failed send too
            cqes += reap(ring, 1)
        assert cqes[0].res == -errno.EOPNOTSUPP
        assert not cqes[-1].more
        assert ring.in_flight == 0
    with pytest.raises(ValueError, match="FIXED_BUF"):
        ops.send_zc(ring, 2, 0, b"x", zc_flags=uring_rs.IORING_RECVSEND_FIXED_BUF)


def test_sendmsg_zc_sends_and_notifies(
    ring: Ring, tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    needs(ring, uring_rs.IORING_OP_SENDMSG_ZC)
    client, server = tcp_pair
    ops.sendmsg_zc(ring, 3, client, [b"zero", b"copy"])
    ring.submit()
    assert server.recv(100) == b"zerocopy"
    first, notif = reap(ring, 2)
    assert first.more and first.result() == 8
    assert notif.flags & uring_rs.IORING_CQE_F_NOTIF and not notif.more
    assert ring.in_flight == 0


# ------------------------------------------------------------- bind, listen


def test_bind_listen_then_accept(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_BIND, uring_rs.IORING_OP_LISTEN)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        ops.bind(ring, 1, srv, ("127.0.0.1", 0))
        assert run(ring)[0].result() == 0
        host, port = srv.getsockname()
        assert host == "127.0.0.1" and port > 0
        ops.listen(ring, 2, srv, 4)
        assert run(ring)[0].result() == 0
        with socket.create_connection((host, port)) as c:
            ops.accept(ring, 3, srv)
            conn = socket.socket(fileno=run(ring)[0].result())
            with conn:
                c.sendall(b"hello")
                assert conn.recv(10) == b"hello"


def test_bind_unix_path_and_address_errors(ring: Ring, tmp_path: Path) -> None:
    needs(ring, uring_rs.IORING_OP_BIND)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        ops.bind(ring, 1, s, str(tmp_path / "bound.sock"))
        assert run(ring)[0].result() == 0
        assert s.getsockname() == str(tmp_path / "bound.sock")
        ops.bind(ring, 2, s, str(tmp_path / "again.sock"))
        assert run(ring)[0].res == -errno.EINVAL
    with socket.socket() as s, pytest.raises(ValueError, match="numeric"):
        ops.bind(ring, 3, s, ("localhost", 0))
    assert ring.sq_ready() == 0


# ---------------------------------------------------------------------- waitid


def _spawn_exit(code: int) -> int:
    return os.posix_spawn("/bin/sh", ["sh", "-c", f"exit {code}"], os.environ)


def test_waitid_reports_a_child_exit(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_WAITID)
    pid = _spawn_exit(7)
    info = Siginfo()
    ops.waitid(ring, 1, os.P_PID, pid, os.WEXITED, info)
    assert run(ring)[0].result() == 0
    assert not info.in_flight
    assert info.si_signo == signal.SIGCHLD
    assert info.si_pid == pid
    assert info.si_code == os.CLD_EXITED
    assert info.si_status == 7
    assert info.si_uid == os.getuid()


def test_waitid_pidfd_without_infop_and_for_a_non_child(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_WAITID)
    pid = _spawn_exit(0)
    pidfd = os.pidfd_open(pid)
    try:
        ops.waitid(ring, 1, os.P_PIDFD, pidfd, os.WEXITED)
        assert run(ring)[0].result() == 0
    finally:
        os.close(pidfd)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped by the op
    ops.waitid(ring, 2, os.P_PID, 1, os.WEXITED)
    assert run(ring)[0].res == -errno.ECHILD


def test_waitid_in_flight_is_cancelled_by_close() -> None:
    ring = Ring(8)
    needs(ring, uring_rs.IORING_OP_WAITID)
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", "sleep 30"], os.environ)
    try:
        info = Siginfo()
        ops.waitid(ring, 1, os.P_PID, pid, os.WEXITED, info)
        ring.submit()
        assert info.in_flight
        t0 = time.monotonic()
        ring.close()
        assert time.monotonic() - t0 < 4
        assert not info.in_flight
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


# ---------------------------------------------------------------------- futex


def test_futex_wake_wakes_a_waiter(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_FUTEX_WAIT, uring_rs.IORING_OP_FUTEX_WAKE)
    word = bytearray(8)
    ops.futex_wait(ring, 1, word, 4, 0)
    ring.submit()
    assert ring.copy_cqes(wait_nr=1, timeout=0.1) == []  # waiting
    ops.futex_wake(ring, 2, word, 4, 1)
    wait, wake = run(ring, 2)
    assert wait.result() == 0
    assert wake.result() == 1


def test_futex_wait_on_a_changed_value_returns_eagain(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_FUTEX_WAIT, uring_rs.IORING_OP_FUTEX_WAKE)
    word = array.array("I", [5])
    ops.futex_wait(ring, 1, word, 0, 4)
    with pytest.raises(BlockingIOError):
        run(ring)[0].result()
    ops.futex_wake(ring, 2, word, 0, 10)
    assert run(ring)[0].result() == 0  # nobody waiting


def test_futex_word_must_be_in_bounds_and_aligned(ring: Ring) -> None:
    word = bytearray(8)
    with pytest.raises(ValueError, match="past the end"):
        ops.futex_wait(ring, 1, word, 6, 0)
    with pytest.raises(ValueError, match="aligned"):
        ops.futex_wake(ring, 1, memoryview(word)[1:], 0, 1)
    with pytest.raises(ValueError, match="offset"):
        ops.futex_wait(ring, 1, word, -1, 0)
    with pytest.raises(ValueError, match="val"):
        ops.futex_wait(ring, 1, word, 0, -1)
    assert ring.sq_ready() == 0


def test_cancel_ends_a_futex_wait(ring: Ring) -> None:
    needs(ring, uring_rs.IORING_OP_FUTEX_WAIT)
    word = bytearray(4)
    ops.futex_wait(ring, 1, word, 0, 0)
    ring.submit()
    ops.cancel(ring, 2, 1)
    cancelled, cancel = run(ring, 2)
    # A futex cancel reports how many it cancelled (the kernel's io_cancel_remove).
    assert cancelled.res == -errno.ECANCELED and cancel.result() in (0, 1)
    word.extend(b"resizable again")


# ------------------------------------------------------------------ the README


def test_readme_lists_every_op() -> None:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the tests")
    section = readme.read_text().split("## Supported ops", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(\w+)`", section, re.MULTILINE))
    assert listed == set(ops.__all__)


def test_new_names_are_exported() -> None:
    for name in (
        "Statx",
        "MsgHdr",
        "Siginfo",
        "STATX_BASIC_STATS",
        "RESOLVE_BENEATH",
        "AT_REMOVEDIR",
    ):
        assert name in uring_rs.__all__ and hasattr(uring_rs, name)
    assert sys.modules["uring_rs.ops"] is ops


# ------------------------------------------------- arguments are checked first

ALLOWED = (TypeError, ValueError, OverflowError, BufferError, uring_rs.UringError)
NOT_INT: list[object] = ["1", 1.5, None, object()]
U32: list[object] = [*NOT_INT, -1, 2**32, 2**64]
I32: list[object] = [*NOT_INT, 2**31, -(2**31) - 1]
NONNEG: list[object] = [*NOT_INT, -1, 2**63]
FD: list[object] = ["3", 1.5, None, object(), 2**31, -(2**31) - 1]
PATH: list[object] = [None, 1, object(), "a\0b", b"a\0b"]
WBUFS: list[object] = [None, 1, b"single", bytearray(4), [b"read-only"], ["text"], [None], [1]]
RBUFS: list[object] = [None, 1, b"single", ["text"], [None], [1]]


def _cases(
    e: dict[str, object],
) -> list[tuple[str, Callable[..., object], dict[str, object], dict[str, list[object]]]]:
    """(name, op, valid kwargs, bad values by argument) for every op of this module."""
    d, w, s = e["dirfd"], e["wfd"], e["sock"]
    return [
        (
            "readv",
            ops.readv,
            {"fd": w, "buffers": [bytearray(4)], "offset": 0, "flags": 0},
            {"fd": FD, "buffers": WBUFS, "offset": [*NOT_INT, -2], "flags": U32},
        ),
        (
            "writev",
            ops.writev,
            {"fd": w, "buffers": [b"x"], "offset": 0, "flags": 0},
            {"fd": FD, "buffers": RBUFS, "offset": [*NOT_INT, -2], "flags": U32},
        ),
        (
            "statx",
            ops.statx,
            {"dirfd": d, "path": "x", "flags": 0, "mask": 0x7FF, "statxbuf": Statx()},
            {
                "dirfd": FD,
                "path": PATH,
                "flags": U32,
                "mask": U32,
                "statxbuf": [None, 1, b"x" * 256],
            },
        ),
        (
            "fallocate",
            ops.fallocate,
            {"fd": w, "mode": 0, "offset": 0, "length": 1},
            {"fd": FD, "mode": U32, "offset": NONNEG, "length": NONNEG},
        ),
        (
            "fadvise",
            ops.fadvise,
            {"fd": w, "offset": 0, "length": 0, "advice": 0},
            {"fd": FD, "offset": NONNEG, "length": NONNEG, "advice": U32},
        ),
        (
            "madvise",
            ops.madvise,
            {"buf": bytearray(8), "advice": mmap.MADV_NORMAL},
            {"buf": [None, 1, "text"], "advice": [*I32, mmap.MADV_DONTFORK, 100, 102]},
        ),
        ("ftruncate", ops.ftruncate, {"fd": w, "length": 0}, {"fd": FD, "length": NONNEG}),
        (
            "sync_file_range",
            ops.sync_file_range,
            {"fd": w, "offset": 0, "nbytes": 0, "flags": 0},
            {"fd": FD, "offset": NONNEG, "nbytes": U32, "flags": U32},
        ),
        (
            "unlinkat",
            ops.unlinkat,
            {"dirfd": d, "path": "nope", "flags": 0},
            {"dirfd": FD, "path": PATH, "flags": U32},
        ),
        (
            "renameat",
            ops.renameat,
            {"olddirfd": d, "oldpath": "a", "newdirfd": d, "newpath": "b", "flags": 0},
            {"olddirfd": FD, "oldpath": PATH, "newdirfd": FD, "newpath": PATH, "flags": U32},
        ),
        (
            "mkdirat",
            ops.mkdirat,
            {"dirfd": d, "path": "m", "mode": 0o700},
            {"dirfd": FD, "path": PATH, "mode": U32},
        ),
        (
            "symlinkat",
            ops.symlinkat,
            {"target": "t", "newdirfd": d, "linkpath": "l"},
            {"target": PATH, "newdirfd": FD, "linkpath": PATH},
        ),
        (
            "linkat",
            ops.linkat,
            {"olddirfd": d, "oldpath": "a", "newdirfd": d, "newpath": "b", "flags": 0},
            {"olddirfd": FD, "oldpath": PATH, "newdirfd": FD, "newpath": PATH, "flags": U32},
        ),
        (
            "openat2",
            ops.openat2,
            {"dirfd": d, "path": "nope", "flags": 0, "mode": 0, "resolve": 0},
            {"dirfd": FD, "path": PATH, "flags": U32, "mode": NONNEG, "resolve": NONNEG},
        ),
        ("close_fixed", ops.close_fixed, {"file_index": 0}, {"file_index": [*U32, 2**32 - 1]}),
        (
            "files_update",
            ops.files_update,
            {"fds": [w], "offset": 0},
            {"fds": [None, 1, [], [None], ["x"], [2**31]], "offset": U32},
        ),
        (
            "splice",
            ops.splice,
            {"fd_in": w, "off_in": 0, "fd_out": s, "off_out": -1, "nbytes": 0, "flags": 0},
            {
                "fd_in": FD,
                "off_in": [*NOT_INT, -2],
                "fd_out": FD,
                "off_out": [*NOT_INT, -2],
                "nbytes": U32,
                "flags": U32,
            },
        ),
        (
            "tee",
            ops.tee,
            {"fd_in": s, "fd_out": s, "nbytes": 0, "flags": 0},
            {"fd_in": FD, "fd_out": FD, "nbytes": U32, "flags": U32},
        ),
        (
            "socket",
            ops.socket,
            {"domain": socket.AF_UNIX, "type": socket.SOCK_STREAM, "protocol": 0, "flags": 0},
            {"domain": I32, "type": I32, "protocol": I32, "flags": U32},
        ),
        (
            "shutdown",
            ops.shutdown,
            {"sockfd": s, "how": socket.SHUT_RD},
            {"sockfd": FD, "how": I32},
        ),
        (
            "sendmsg",
            ops.sendmsg,
            {"sockfd": s, "buffers": [b"x"], "address": None, "flags": 0},
            {
                "sockfd": FD,
                "buffers": RBUFS,
                "address": [1, ("127.0.0.1", 1)],
                "flags": U32,
                "ancdata": [1, [1], [(1, 2)], [(1, 2, "text")], [(2**31, 1, b"")]],
            },
        ),
        (
            "recvmsg",
            ops.recvmsg,
            {"sockfd": s, "buffers": [bytearray(4)], "flags": socket.MSG_DONTWAIT, "msg": MsgHdr()},
            {"sockfd": FD, "buffers": WBUFS, "flags": U32, "msg": [1, b"x"]},
        ),
        (
            "send_zc",
            ops.send_zc,
            {"sockfd": s, "buf": b"x", "flags": 0, "zc_flags": 0},
            {
                "sockfd": FD,
                "buf": [None, 1, "text"],
                "flags": U32,
                "zc_flags": [*NOT_INT, -1, 2**16, uring_rs.IORING_RECVSEND_FIXED_BUF],
            },
        ),
        (
            "bind",
            ops.bind,
            {"sockfd": s, "address": f"\0uring-rs-bind-{os.getpid()}"},
            {"sockfd": FD, "address": [None, 1, ("127.0.0.1", 1), "x" * 200]},
        ),
        ("listen", ops.listen, {"sockfd": s, "backlog": 1}, {"sockfd": FD, "backlog": I32}),
        (
            "waitid",
            ops.waitid,
            {"idtype": os.P_PID, "id": 1, "options": os.WEXITED | os.WNOHANG, "infop": Siginfo()},
            {"idtype": I32, "id": I32, "options": I32, "infop": [1, b"x"]},
        ),
        (
            "futex_wake",
            ops.futex_wake,
            {
                "buf": bytearray(4),
                "offset": 0,
                "val": 1,
                "mask": 0xFFFFFFFF,
                "futex_flags": uring_rs.FUTEX2_SIZE_U32 | uring_rs.FUTEX2_PRIVATE,
                "flags": 0,
            },
            {
                "buf": [None, 1, "text", bytearray(2)],
                "offset": [*NOT_INT, -1, 1, 4, 2**63],
                "val": NONNEG,
                "mask": NONNEG,
                "futex_flags": U32,
                "flags": U32,
            },
        ),
    ]


def test_bad_arguments_raise_and_queue_nothing(
    ring: Ring, dirfd: int, wfile: tuple[Path, int]
) -> None:
    a, b = socket.socketpair()
    with a, b:
        env: dict[str, object] = {"dirfd": dirfd, "wfd": wfile[1], "sock": a}
        cases = _cases(env)
        assert {c[0] for c in cases} | {"sendmsg_zc", "futex_wait"} >= set(_OPS_HERE)
        for name, op, valid, bad in cases:
            for arg, values in bad.items():
                for value in values:
                    before = (ring.sq_ready(), ring.in_flight)
                    with pytest.raises(ALLOWED) as info:
                        op(ring, 1, **{**valid, arg: value})
                    assert (ring.sq_ready(), ring.in_flight) == before, f"{name}({arg}={value!r})"
                    assert str(info.value), f"{name}({arg}={value!r}) raised without a message"
            op(ring, 2, **valid)  # the valid arguments are accepted
            ring.submit()
            reap(ring, 1)


_OPS_HERE = [
    "readv", "writev", "statx", "fallocate", "fadvise", "madvise", "ftruncate",
    "sync_file_range", "unlinkat", "renameat", "mkdirat", "symlinkat", "linkat", "openat2",
    "close_fixed", "files_update", "splice", "tee", "socket", "shutdown", "sendmsg",
    "sendmsg_zc", "recvmsg", "send_zc", "bind", "listen", "waitid", "futex_wait", "futex_wake",
]  # fmt: skip


def test_a_full_sq_queues_nothing_and_frees_the_out_object(data_file: Path) -> None:
    with Ring(1) as ring:
        ops.nop(ring, 1)
        st, info, msg = Statx(), Siginfo(), MsgHdr()
        a, b = socket.socketpair()
        with a, b:
            queues: list[Callable[[], object]] = [
                lambda: ops.statx(ring, 2, uring_rs.AT_FDCWD, data_file, statxbuf=st),
                lambda: ops.waitid(ring, 3, os.P_ALL, 0, os.WEXITED | os.WNOHANG, info),
                lambda: ops.recvmsg(ring, 4, a, [bytearray(4)], msg=msg),
                lambda: ops.readv(ring, 5, a, [bytearray(4)], 0),
            ]
            for queue in queues:
                with pytest.raises(uring_rs.UringError) as exc:
                    queue()
                assert exc.value.kind == uring_rs.IoUringError.SUBMISSION_QUEUE_FULL
            assert not (st.in_flight or info.in_flight or msg.in_flight)
            assert ring.in_flight == 1
            run(ring)
            needs(ring, uring_rs.IORING_OP_STATX)
            ops.statx(ring, 6, uring_rs.AT_FDCWD, data_file, statxbuf=st)
            assert run(ring)[0].result() == 0 and st.size == 65536
