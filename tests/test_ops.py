"""One round trip per op against the real kernel: tmp files, pipes, socketpairs,
loopback TCP (IPv4 and IPv6) and AF_UNIX sockets. Plus the argument rules API.md
gives for ops (buffers, fds, offsets, paths, addresses, seconds)."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uring_rs
from _support import DATA, by_user_data, reap
from uring_rs import Ring, ops


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        with contextlib.suppress(OSError):
            os.close(fd)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield s
    s.close()


class FileNo:
    """Any object with fileno() is an fd argument."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


def one(ring: Ring, timeout: float = 5.0) -> int:
    """Submits, waits for the single completion and returns its res."""
    ring.submit()
    (cqe,) = reap(ring, 1, timeout)
    assert ring.in_flight == 0
    return cqe.res


# ---------------------------------------------------------------- nop


def test_nop_completes_with_zero(ring: Ring) -> None:
    sqe = ops.nop(ring, 7)
    assert sqe.opcode == uring_rs.IORING_OP_NOP and sqe.user_data == 7
    ring.submit()
    assert reap(ring, 1)[0] == uring_rs.Cqe(7, 0, 0)


@pytest.mark.parametrize("user_data", [0, 1, 2**63, 2**64 - 1])
def test_nop_carries_any_64_bit_user_data(ring: Ring, user_data: int) -> None:
    ops.nop(ring, user_data)
    ring.submit()
    assert reap(ring, 1)[0].user_data == user_data


@pytest.mark.parametrize("user_data", [-1, 2**64])
def test_user_data_outside_64_bits_is_refused_and_queues_nothing(
    ring: Ring, user_data: int
) -> None:
    with pytest.raises((OverflowError, ValueError)):
        ops.nop(ring, user_data)
    assert ring.sq_ready() == 0


# ---------------------------------------------------------------- read


def test_read_at_an_offset(ring: Ring, rfd: int) -> None:
    buf = bytearray(4096)
    sqe = ops.read(ring, 1, rfd, buf, 1000)
    assert sqe.opcode == uring_rs.IORING_OP_READ
    assert one(ring) == 4096
    assert bytes(buf) == DATA[1000:5096]


def test_read_past_end_of_file_returns_zero(ring: Ring, rfd: int) -> None:
    buf = bytearray(16)
    ops.read(ring, 1, rfd, buf, len(DATA))
    assert one(ring) == 0
    assert buf == bytearray(16)


def test_read_near_end_of_file_is_short(ring: Ring, rfd: int) -> None:
    buf = bytearray(100)
    ops.read(ring, 1, rfd, buf, len(DATA) - 10)
    assert one(ring) == 10
    assert bytes(buf[:10]) == DATA[-10:]


def test_read_with_offset_minus_one_uses_and_advances_the_file_position(
    ring: Ring, rfd: int
) -> None:
    os.lseek(rfd, 100, os.SEEK_SET)
    buf = bytearray(10)
    ops.read(ring, 1, rfd, buf, -1)
    assert one(ring) == 10
    assert bytes(buf) == DATA[100:110]
    assert os.lseek(rfd, 0, os.SEEK_CUR) == 110


def test_read_from_a_pipe_waits_for_data(ring: Ring, pipe: tuple[int, int]) -> None:
    r, w = pipe
    buf = bytearray(5)
    ops.read(ring, 1, r, buf, -1)
    ring.submit()
    assert ring.copy_cqes(wait_nr=1, timeout=0.02) == []
    os.write(w, b"hello")
    assert reap(ring, 1)[0].res == 5
    assert buf == b"hello"


def test_read_into_a_memoryview_slice_fills_only_the_slice(ring: Ring, rfd: int) -> None:
    backing = bytearray(b"." * 20)
    ops.read(ring, 1, rfd, memoryview(backing)[5:15], 0)
    assert one(ring) == 10
    assert backing == b"....." + DATA[:10] + b"....."


def test_read_into_an_array(ring: Ring, rfd: int) -> None:
    import array

    arr = array.array("I", bytes(16))
    ops.read(ring, 1, rfd, arr, 0)
    assert one(ring) == 16
    assert arr.tobytes() == DATA[:16]


def test_read_into_an_mmap(ring: Ring, rfd: int) -> None:
    import mmap

    with mmap.mmap(-1, 4096) as m:
        ops.read(ring, 1, rfd, m, 4096)
        assert one(ring) == 4096
        assert m[:] == DATA[4096:8192]


def test_read_with_fd_given_as_an_object_with_fileno(ring: Ring, data_file: Path) -> None:
    with open(data_file, "rb", buffering=0) as f:
        buf = bytearray(8)
        ops.read(ring, 1, f, buf, 8)
        assert one(ring) == 8
        assert bytes(buf) == DATA[8:16]


def test_read_with_fd_given_as_a_custom_fileno_object(ring: Ring, rfd: int) -> None:
    buf = bytearray(8)
    ops.read(ring, 1, FileNo(rfd), buf, 16)
    assert one(ring) == 8
    assert bytes(buf) == DATA[16:24]


def test_read_of_a_bad_fd_fails_in_the_completion(ring: Ring, pipe: tuple[int, int]) -> None:
    r, _w = pipe
    os.close(r)
    ops.read(ring, 1, r, bytearray(8), 0)
    assert one(ring) == -errno.EBADF


def test_read_of_a_directory_raises_is_a_directory_error(ring: Ring, tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        ops.read(ring, 1, fd, bytearray(8), 0)
        ring.submit()
        (cqe,) = reap(ring, 1)
        with pytest.raises(IsADirectoryError) as info:
            cqe.result()
        assert info.value.errno == errno.EISDIR
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "buf",
    [b"read-only bytes", memoryview(bytearray(8)).toreadonly()],
    ids=["bytes", "readonly-memoryview"],
)
def test_read_into_a_read_only_buffer_raises_and_queues_nothing(
    ring: Ring, rfd: int, buf: bytes | memoryview
) -> None:
    with pytest.raises((TypeError, BufferError)):
        ops.read(ring, 1, rfd, buf, 0)
    assert ring.sq_ready() == 0
    assert ring.in_flight == 0


def test_read_into_a_str_raises_type_error_and_queues_nothing(ring: Ring, rfd: int) -> None:
    with pytest.raises(TypeError):
        ops.read(ring, 1, rfd, "text", 0)  # type: ignore[arg-type]
    assert ring.sq_ready() == 0


def test_read_into_a_non_contiguous_memoryview_raises_buffer_error(ring: Ring, rfd: int) -> None:
    view = memoryview(bytearray(16))[::2]
    with pytest.raises(BufferError):
        ops.read(ring, 1, rfd, view, 0)
    assert ring.sq_ready() == 0


def test_write_from_a_non_contiguous_memoryview_raises_buffer_error(
    ring: Ring, pipe: tuple[int, int]
) -> None:
    view = memoryview(b"abcdefgh")[::2]
    with pytest.raises(BufferError):
        ops.write(ring, 1, pipe[1], view, -1)
    assert ring.sq_ready() == 0


@pytest.mark.parametrize("offset", [-2, -(2**40)])
def test_offset_below_minus_one_raises_value_error(ring: Ring, rfd: int, offset: int) -> None:
    with pytest.raises(ValueError):
        ops.read(ring, 1, rfd, bytearray(8), offset)
    assert ring.sq_ready() == 0


@pytest.mark.parametrize("fd", ["3", 3.0, None])
def test_fd_of_the_wrong_type_raises_type_error(ring: Ring, fd: object) -> None:
    with pytest.raises(TypeError):
        ops.read(ring, 1, fd, bytearray(8), 0)  # type: ignore[arg-type]
    assert ring.sq_ready() == 0


def test_two_reads_with_the_same_user_data_both_complete_with_their_data(
    ring: Ring, rfd: int
) -> None:
    a, b = bytearray(100), bytearray(100)
    ops.read(ring, 5, rfd, a, 0)
    ops.read(ring, 5, rfd, b, 30000)
    ring.submit()
    cqes = reap(ring, 2)
    assert [(c.user_data, c.res) for c in cqes] == [(5, 100), (5, 100)]
    assert bytes(a) == DATA[:100]
    assert bytes(b) == DATA[30000:30100]
    assert ring.in_flight == 0


def test_many_ops_with_one_user_data_each_complete_once(ring: Ring, rfd: int) -> None:
    bufs = [bytearray(8) for _ in range(20)]
    for i, buf in enumerate(bufs):
        ops.read(ring, 0, rfd, buf, i * 8)
    ring.submit()
    cqes = reap(ring, 20)
    assert all(c.user_data == 0 and c.res == 8 for c in cqes)
    for i, buf in enumerate(bufs):
        assert bytes(buf) == DATA[i * 8 : i * 8 + 8]
    assert ring.copy_cqes() == []


# ---------------------------------------------------------------- write


def test_write_at_an_offset(ring: Ring, tmp_path: Path) -> None:
    p = tmp_path / "w.bin"
    p.write_bytes(b"." * 10)
    fd = os.open(p, os.O_WRONLY)
    try:
        sqe = ops.write(ring, 1, fd, b"abc", 4)
        assert sqe.opcode == uring_rs.IORING_OP_WRITE
        assert one(ring) == 3
    finally:
        os.close(fd)
    assert p.read_bytes() == b"....abc..."


def test_write_with_offset_minus_one_appends_at_the_file_position(
    ring: Ring, tmp_path: Path
) -> None:
    p = tmp_path / "w.bin"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"12345")
        ops.write(ring, 1, fd, bytearray(b"678"), -1)
        assert one(ring) == 3
        assert os.lseek(fd, 0, os.SEEK_CUR) == 8
    finally:
        os.close(fd)
    assert p.read_bytes() == b"12345678"


def test_write_to_a_pipe(ring: Ring, pipe: tuple[int, int]) -> None:
    r, w = pipe
    ops.write(ring, 1, w, memoryview(b"xyz"), -1)
    assert one(ring) == 3
    assert os.read(r, 10) == b"xyz"


def test_write_to_a_read_only_fd_fails_with_ebadf(ring: Ring, rfd: int) -> None:
    ops.write(ring, 1, rfd, b"no", 0)
    assert one(ring) == -errno.EBADF


# ---------------------------------------------------------------- fsync


def test_fsync_of_a_written_file_completes_with_zero(ring: Ring, tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"data")
        sqe = ops.fsync(ring, 1, fd)
        assert sqe.opcode == uring_rs.IORING_OP_FSYNC
        assert one(ring) == 0
    finally:
        os.close(fd)


def test_fsync_with_datasync_flag_completes_with_zero(ring: Ring, tmp_path: Path) -> None:
    with open(tmp_path / "f", "wb") as f:
        f.write(b"data")
        f.flush()
        ops.fsync(ring, 1, f, uring_rs.IORING_FSYNC_DATASYNC)
        assert one(ring) == 0


def test_write_linked_to_fsync_completes_in_order(ring: Ring, tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        sqe = ops.write(ring, 1, fd, b"x" * 100, 0)
        sqe.flags = uring_rs.IOSQE_IO_LINK
        ops.fsync(ring, 2, fd)
        ring.submit()
        assert [(c.user_data, c.res) for c in reap(ring, 2)] == [(1, 100), (2, 0)]
    finally:
        os.close(fd)


# ---------------------------------------------------------------- accept / connect


def test_accept_returns_the_connected_socket(ring: Ring, listener: socket.socket) -> None:
    sqe = ops.accept(ring, 1, listener)
    assert sqe.opcode == uring_rs.IORING_OP_ACCEPT
    ring.submit()
    client = socket.create_connection(listener.getsockname())
    try:
        fd = reap(ring, 1)[0].result()
        conn = socket.socket(fileno=fd)
        try:
            assert conn.getpeername() == client.getsockname()
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"
        finally:
            conn.close()
    finally:
        client.close()


def test_accepted_socket_is_not_inheritable(ring: Ring, listener: socket.socket) -> None:
    client = socket.create_connection(listener.getsockname())
    try:
        ops.accept(ring, 1, listener.fileno())
        fd = one(ring)
        assert fd >= 0
        try:
            assert not os.get_inheritable(fd)
        finally:
            os.close(fd)
    finally:
        client.close()


def test_accept_with_sock_nonblock_returns_a_non_blocking_socket(
    ring: Ring, listener: socket.socket
) -> None:
    client = socket.create_connection(listener.getsockname())
    try:
        ops.accept(ring, 1, listener, socket.SOCK_NONBLOCK)
        fd = one(ring)
        try:
            assert not os.get_blocking(fd)
        finally:
            os.close(fd)
    finally:
        client.close()


def test_connect_to_an_ipv4_listener(ring: Ring, listener: socket.socket) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        sqe = ops.connect(ring, 1, s, listener.getsockname())
        assert sqe.opcode == uring_rs.IORING_OP_CONNECT
        assert one(ring) == 0
        conn, _ = listener.accept()
        with conn:
            assert s.getpeername() == listener.getsockname()


def test_connect_to_an_ipv6_listener(ring: Ring) -> None:
    if not socket.has_ipv6:
        pytest.skip("Python built without IPv6")
    try:
        srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.bind(("::1", 0))
    except OSError as e:
        pytest.skip(f"no IPv6 loopback here: {e}")
    with srv:
        srv.listen(1)
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            ops.connect(ring, 1, s, srv.getsockname())  # a 4-tuple
            assert one(ring) == 0
            conn, _ = srv.accept()
            with conn:
                assert s.getpeername()[:2] == srv.getsockname()[:2]


def test_connect_to_an_ipv6_listener_with_a_2_tuple(ring: Ring) -> None:
    try:
        srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.bind(("::1", 0))
    except OSError as e:
        pytest.skip(f"no IPv6 loopback here: {e}")
    with srv:
        srv.listen(1)
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            ops.connect(ring, 1, s, ("::1", srv.getsockname()[1]))
            assert one(ring) == 0
            srv.accept()[0].close()


@pytest.mark.parametrize("kind", ["str", "bytes", "pathlike"])
def test_connect_to_an_af_unix_listener(ring: Ring, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "sock"
    forms: dict[str, str | bytes | Path] = {
        "str": str(path),
        "bytes": os.fsencode(path),
        "pathlike": path,
    }
    address = forms[kind]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(str(path))
        srv.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            ops.connect(ring, 1, s, address)
            assert one(ring) == 0
            conn, _ = srv.accept()
            with conn:
                s.sendall(b"unix")
                assert conn.recv(4) == b"unix"


def test_connect_to_an_abstract_af_unix_address(ring: Ring) -> None:
    name = f"\0uring_rs-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(name)
        srv.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            ops.connect(ring, 1, s, name)
            assert one(ring) == 0
            srv.accept()[0].close()


def test_connect_to_a_closed_port_raises_connection_refused(ring: Ring) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens on it now
    with socket.socket() as s:
        ops.connect(ring, 1, s, ("127.0.0.1", port))
        ring.submit()
        (cqe,) = reap(ring, 1)
        with pytest.raises(ConnectionRefusedError) as info:
            cqe.result()
        assert info.value.errno == errno.ECONNREFUSED


@pytest.mark.parametrize(
    ("family", "address"),
    [
        (socket.AF_INET, ("localhost", 80)),
        (socket.AF_INET, ("example.invalid", 80)),
        (socket.AF_INET6, ("localhost", 80)),
    ],
)
def test_connect_with_a_hostname_raises_value_error_and_queues_nothing(
    ring: Ring, family: int, address: tuple[str, int]
) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as s, pytest.raises(ValueError):
        ops.connect(ring, 1, s, address)
    assert ring.sq_ready() == 0 and ring.in_flight == 0


def test_connect_with_a_port_out_of_range_raises_and_queues_nothing(ring: Ring) -> None:
    with socket.socket() as s, pytest.raises((OverflowError, ValueError)):
        ops.connect(ring, 1, s, ("127.0.0.1", 70000))
    assert ring.sq_ready() == 0


def test_connect_with_the_wrong_address_form_raises_type_error(ring: Ring) -> None:
    with socket.socket() as s, pytest.raises(TypeError):
        ops.connect(ring, 1, s, "/tmp/not-a-tuple")
    assert ring.sq_ready() == 0


# ---------------------------------------------------------------- recv / send


def test_recv_on_a_socketpair(ring: Ring, pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    buf = bytearray(64)
    sqe = ops.recv(ring, 1, a, buf)
    assert sqe.opcode == uring_rs.IORING_OP_RECV
    ring.submit()
    b.sendall(b"hello")
    assert reap(ring, 1)[0].res == 5
    assert bytes(buf[:5]) == b"hello"


def test_recv_with_msg_peek_leaves_the_data(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    b.sendall(b"peek")
    buf = bytearray(4)
    ops.recv(ring, 1, a, buf, socket.MSG_PEEK)
    assert one(ring) == 4
    assert buf == b"peek"
    assert a.recv(4) == b"peek"


def test_recv_after_the_peer_closes_returns_zero(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    b.shutdown(socket.SHUT_WR)
    ops.recv(ring, 1, a, bytearray(8))
    assert one(ring) == 0


def test_recv_over_loopback_tcp(ring: Ring, listener: socket.socket) -> None:
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    with client, conn:
        buf = bytearray(3)
        ops.recv(ring, 1, conn, buf)
        ring.submit()
        client.sendall(b"tcp")
        assert reap(ring, 1)[0].res == 3
        assert buf == b"tcp"


def test_send_on_a_socketpair(ring: Ring, pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    sqe = ops.send(ring, 1, a, b"world")
    assert sqe.opcode == uring_rs.IORING_OP_SEND
    assert one(ring) == 5
    assert b.recv(5) == b"world"


def test_send_to_a_closed_peer_raises_broken_pipe(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    b.close()
    ops.send(ring, 1, a, b"x", socket.MSG_NOSIGNAL)
    ring.submit()
    (cqe,) = reap(ring, 1)
    with pytest.raises(BrokenPipeError):
        cqe.result()


def test_send_then_recv_on_one_ring(ring: Ring, pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    buf = bytearray(16)
    ops.recv(ring, 2, b, buf)
    ops.send(ring, 1, a, b"roundtrip")
    ring.submit()
    got = by_user_data(reap(ring, 2))
    assert got[1].res == 9 and got[2].res == 9
    assert bytes(buf[:9]) == b"roundtrip"


def test_recv_into_a_read_only_buffer_raises_and_queues_nothing(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    with pytest.raises((TypeError, BufferError)):
        ops.recv(ring, 1, pair[0], b"readonly")
    assert ring.sq_ready() == 0


# ---------------------------------------------------------------- openat / close


@pytest.mark.parametrize("kind", ["str", "bytes", "pathlike"])
def test_openat_accepts_str_bytes_and_pathlike(ring: Ring, data_file: Path, kind: str) -> None:
    forms: dict[str, str | bytes | Path] = {
        "str": str(data_file),
        "bytes": os.fsencode(data_file),
        "pathlike": data_file,
    }
    path = forms[kind]
    sqe = ops.openat(ring, 1, uring_rs.AT_FDCWD, path, os.O_RDONLY)
    assert sqe.opcode == uring_rs.IORING_OP_OPENAT
    fd = one(ring)
    assert fd >= 0
    try:
        assert os.pread(fd, 10, 0) == DATA[:10]
    finally:
        os.close(fd)


def test_openat_returns_a_non_inheritable_fd(ring: Ring, data_file: Path) -> None:
    ops.openat(ring, 1, uring_rs.AT_FDCWD, data_file)
    fd = one(ring)
    try:
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)


def test_openat_relative_to_a_directory_fd(ring: Ring, data_file: Path) -> None:
    dfd = os.open(data_file.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ops.openat(ring, 1, dfd, data_file.name)
        fd = one(ring)
        try:
            assert os.pread(fd, 4, 4) == DATA[4:8]
        finally:
            os.close(fd)
    finally:
        os.close(dfd)


def test_openat_relative_to_a_fileno_object(ring: Ring, data_file: Path) -> None:
    dfd = os.open(data_file.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ops.openat(ring, 1, FileNo(dfd), data_file.name)
        fd = one(ring)
        os.close(fd)
        assert fd >= 0
    finally:
        os.close(dfd)


def test_openat_creates_a_file_with_the_given_mode(ring: Ring, tmp_path: Path) -> None:
    p = tmp_path / "new.bin"
    old_umask = os.umask(0)
    try:
        ops.openat(ring, 1, uring_rs.AT_FDCWD, p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        fd = one(ring)
    finally:
        os.umask(old_umask)
    try:
        os.write(fd, b"created")
    finally:
        os.close(fd)
    assert p.read_bytes() == b"created"
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


def test_openat_default_mode_is_0o644(ring: Ring, tmp_path: Path) -> None:
    p = tmp_path / "default.bin"
    old_umask = os.umask(0)
    try:
        ops.openat(ring, 1, uring_rs.AT_FDCWD, p, os.O_WRONLY | os.O_CREAT)
        os.close(one(ring))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644


def test_openat_of_a_missing_file_raises_file_not_found(ring: Ring, tmp_path: Path) -> None:
    ops.openat(ring, 1, uring_rs.AT_FDCWD, tmp_path / "missing")
    ring.submit()
    (cqe,) = reap(ring, 1)
    assert cqe.res == -errno.ENOENT
    with pytest.raises(FileNotFoundError) as info:
        cqe.result()
    assert info.value.errno == errno.ENOENT


def test_openat_with_o_excl_on_an_existing_file_raises_file_exists(
    ring: Ring, data_file: Path
) -> None:
    ops.openat(ring, 1, uring_rs.AT_FDCWD, data_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    ring.submit()
    with pytest.raises(FileExistsError):
        reap(ring, 1)[0].result()


@pytest.mark.parametrize("path", ["a\0b", b"a\0b"], ids=["str", "bytes"])
def test_openat_path_with_an_embedded_nul_raises_value_error(ring: Ring, path: str | bytes) -> None:
    with pytest.raises(ValueError):
        ops.openat(ring, 1, uring_rs.AT_FDCWD, path)
    assert ring.sq_ready() == 0 and ring.in_flight == 0


def test_openat_path_of_the_wrong_type_raises_type_error(ring: Ring) -> None:
    with pytest.raises(TypeError):
        ops.openat(ring, 1, uring_rs.AT_FDCWD, 5)  # type: ignore[arg-type]
    assert ring.sq_ready() == 0


def test_close_op_closes_the_fd(ring: Ring, data_file: Path) -> None:
    fd = os.open(data_file, os.O_RDONLY)
    sqe = ops.close(ring, 1, fd)
    assert sqe.opcode == uring_rs.IORING_OP_CLOSE
    assert one(ring) == 0
    with pytest.raises(OSError) as info:
        os.fstat(fd)
    assert info.value.errno == errno.EBADF


def test_close_op_of_a_closed_fd_fails_with_ebadf(ring: Ring, pipe: tuple[int, int]) -> None:
    r, _ = pipe
    os.close(r)
    ops.close(ring, 1, r)
    assert one(ring) == -errno.EBADF


def test_openat_then_read_then_close_through_one_ring(ring: Ring, data_file: Path) -> None:
    ops.openat(ring, 1, uring_rs.AT_FDCWD, data_file)
    fd = one(ring)
    buf = bytearray(32)
    ops.read(ring, 2, fd, buf, 64)
    assert one(ring) == 32
    ops.close(ring, 3, fd)
    assert one(ring) == 0
    assert bytes(buf) == DATA[64:96]


# ---------------------------------------------------------------- timeout / timeout_remove


def test_timeout_after_a_relative_time_completes_with_etime(ring: Ring) -> None:
    sqe = ops.timeout(ring, 1, 0.03)
    assert sqe.opcode == uring_rs.IORING_OP_TIMEOUT
    start = time.monotonic()
    ring.submit()
    (cqe,) = reap(ring, 1)
    assert cqe.res == -errno.ETIME
    assert 0.025 <= time.monotonic() - start < 2


def test_timeout_of_zero_seconds_fires_at_once(ring: Ring) -> None:
    ops.timeout(ring, 1, 0)
    assert one(ring) == -errno.ETIME


def test_timeout_accepts_integer_seconds(ring: Ring) -> None:
    ops.timeout(ring, 1, 1)
    ring.submit()
    assert ring.copy_cqes(wait_nr=1, timeout=0.02) == []
    ops.timeout_remove(ring, 2, 1)
    ring.submit()
    assert {c.user_data: c.res for c in reap(ring, 2)} == {1: -errno.ECANCELED, 2: 0}


def test_timeout_at_an_absolute_time_completes_with_etime(ring: Ring) -> None:
    # IORING_TIMEOUT_ABS: seconds on CLOCK_MONOTONIC, which time.monotonic() reads.
    deadline = time.monotonic() + 0.03
    ops.timeout(ring, 1, deadline, flags=uring_rs.IORING_TIMEOUT_ABS)
    ring.submit()
    assert reap(ring, 1)[0].res == -errno.ETIME
    assert time.monotonic() >= deadline - 0.001


def test_timeout_with_count_completes_after_that_many_completions(ring: Ring) -> None:
    ops.timeout(ring, 1, 10, count=2)
    ops.nop(ring, 2)
    ops.nop(ring, 3)
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 3, timeout=2)}
    assert got == {1: 0, 2: 0, 3: 0}


@pytest.mark.parametrize("seconds", [-1, -0.5, float("nan"), float("inf")])
def test_timeout_with_invalid_seconds_raises_value_error(ring: Ring, seconds: float) -> None:
    with pytest.raises((ValueError, OverflowError)):
        ops.timeout(ring, 1, seconds)
    assert ring.sq_ready() == 0


def test_timeout_with_non_numeric_seconds_raises_type_error(ring: Ring) -> None:
    with pytest.raises(TypeError):
        ops.timeout(ring, 1, "1")  # type: ignore[arg-type]
    assert ring.sq_ready() == 0


def test_timeout_remove_cancels_a_pending_timeout(ring: Ring) -> None:
    ops.timeout(ring, 1, 10)
    ring.submit()
    sqe = ops.timeout_remove(ring, 2, 1)
    assert sqe.opcode == uring_rs.IORING_OP_TIMEOUT_REMOVE
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got == {1: -errno.ECANCELED, 2: 0}
    assert ring.in_flight == 0


def test_timeout_remove_finds_a_timeout_by_the_user_data_set_on_its_sqe(ring: Ring) -> None:
    sqe = ops.timeout(ring, 1, 10)
    sqe.user_data = 50
    ring.submit()
    ops.timeout_remove(ring, 2, 50)
    ring.submit()
    assert {c.user_data: c.res for c in reap(ring, 2)} == {50: -errno.ECANCELED, 2: 0}


def test_timeout_remove_of_an_unknown_user_data_fails_with_enoent(ring: Ring) -> None:
    ops.timeout_remove(ring, 2, 12345)
    assert one(ring) == -errno.ENOENT


def test_timeout_remove_of_a_fired_timeout_fails_with_enoent(ring: Ring) -> None:
    ops.timeout(ring, 1, 0)
    assert one(ring) == -errno.ETIME
    ops.timeout_remove(ring, 2, 1)
    assert one(ring) == -errno.ENOENT


def test_timeout_remove_targets_a_timeout_not_another_op_with_that_user_data(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    # user_data 1 is shared by a pending recv and a pending timeout: the remove
    # must find the timeout (the recv is not a timeout) and leave the recv alone.
    buf = bytearray(4)
    ops.recv(ring, 1, pair[0], buf)
    ops.timeout(ring, 1, 10)
    ring.submit()
    ops.timeout_remove(ring, 2, 1)
    ring.submit()
    got = sorted((c.user_data, c.res) for c in reap(ring, 2))
    assert got == [(1, -errno.ECANCELED), (2, 0)]
    assert ring.in_flight == 1  # the recv
    pair[1].sendall(b"done")
    assert reap(ring, 1)[0].res == 4


def test_timeout_remove_skips_a_fired_timeout_whose_completion_is_unconsumed(ring: Ring) -> None:
    ops.timeout(ring, 5, 0)  # fires at once; its CQE waits in the CQ
    ops.timeout(ring, 5, 10)  # still pending
    ring.submit()
    ring.submit(wait_nr=1)
    ops.timeout_remove(ring, 6, 5)
    ring.submit()
    got = sorted((c.user_data, c.res) for c in reap(ring, 3))
    assert got == sorted([(5, -errno.ETIME), (5, -errno.ECANCELED), (6, 0)])


# ---------------------------------------------------------------- link_timeout


def test_link_timeout_fires_when_the_linked_op_takes_too_long(
    ring: Ring, pipe: tuple[int, int]
) -> None:
    r, _ = pipe
    sqe = ops.read(ring, 1, r, bytearray(8), -1)  # nothing to read: waits
    sqe.flags = uring_rs.IOSQE_IO_LINK
    lt = ops.link_timeout(ring, 2, 0.02)
    assert lt.opcode == uring_rs.IORING_OP_LINK_TIMEOUT
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got[2] == -errno.ETIME
    assert got[1] in (-errno.ECANCELED, -errno.EINTR)


def test_link_timeout_is_cancelled_when_the_linked_op_finishes_first(ring: Ring) -> None:
    sqe = ops.nop(ring, 1)
    sqe.flags = uring_rs.IOSQE_IO_LINK
    ops.link_timeout(ring, 2, 5)
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got == {1: 0, 2: -errno.ECANCELED}


def test_link_timeout_is_cancelled_when_data_arrives_in_time(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    buf = bytearray(5)
    sqe = ops.recv(ring, 1, a, buf)
    sqe.flags = uring_rs.IOSQE_IO_LINK
    ops.link_timeout(ring, 2, 5)
    ring.submit()
    b.sendall(b"quick")
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got == {1: 5, 2: -errno.ECANCELED}
    assert buf == b"quick"


def test_link_timeout_racing_the_linked_op_reports_etime_or_ealready(
    ring: Ring, pipe: tuple[int, int]
) -> None:
    # A timeout of zero on a read that can never finish: the timer always fires;
    # whether the cancel finds the read waiting (-ETIME) or already running
    # (-EALREADY) is the kernel's timing. Either way both ops complete once.
    r, _ = pipe
    sqe = ops.read(ring, 1, r, bytearray(8), -1)
    sqe.flags = uring_rs.IOSQE_IO_LINK
    ops.link_timeout(ring, 2, 0)
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got[2] in (-errno.ETIME, -errno.EALREADY)
    assert got[1] in (-errno.ECANCELED, -errno.EINTR)
    assert ring.in_flight == 0


def wait_for_a_worker_blocked_in_fifo_open(timeout: float = 10.0) -> None:
    """Until one of this process's io-wq workers (``iou-wrk-*`` threads) sleeps in a FIFO
    open waiting for a writer (its wchan; where the kernel hides wchans, its state): on
    a loaded machine the worker may take long to get there, and a fixed sleep is a race."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for tid in os.listdir("/proc/self/task"):
            base = f"/proc/self/task/{tid}"
            try:
                with open(f"{base}/comm") as f:
                    if not f.read().startswith("iou-wrk"):
                        continue
                with open(f"{base}/wchan") as f:
                    wchan = f.read().strip()
                with open(f"{base}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue  # the thread went meanwhile
            if "partner" in wchan or "fifo" in wchan or (wchan in ("", "0") and state == "S"):
                return
        time.sleep(0.005)
    raise AssertionError("no io-wq worker blocked in the FIFO's open")


def test_cancel_of_an_op_running_in_a_worker_reports_ealready(ring: Ring, tmp_path: Path) -> None:
    # A blocking FIFO open forced into an io-wq worker (IOSQE_ASYNC) is *running*,
    # not waiting on a poll: the kernel can only interrupt it, and says -EALREADY.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sqe = ops.openat(ring, 1, uring_rs.AT_FDCWD, fifo, os.O_RDONLY)
    sqe.flags = uring_rs.IOSQE_ASYNC
    ring.submit()
    wait_for_a_worker_blocked_in_fifo_open()
    ops.cancel(ring, 2, 1)
    ring.submit()
    cqes: list[uring_rs.Cqe] = []
    deadline = time.monotonic() + 5
    while len(cqes) < 2 and time.monotonic() < deadline:
        batch = ring.copy_cqes(wait_nr=1, timeout=0.5)
        if not batch:
            # The open was not interrupted: a writer lets it finish.
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as e:
                assert e.errno == errno.ENXIO  # no reader (any more)
        cqes += batch
    got = {c.user_data: c.res for c in cqes}
    assert len(got) == 2, cqes
    assert got[2] == -errno.EALREADY, got
    if got[1] >= 0:
        os.close(got[1])
    assert ring.in_flight == 0


def test_link_timeout_without_a_linked_op_fails_with_einval(ring: Ring) -> None:
    ops.link_timeout(ring, 1, 1)
    assert one(ring) == -errno.EINVAL


# ---------------------------------------------------------------- poll_add / poll_remove


def test_poll_add_reports_pollin_when_data_arrives(ring: Ring, pipe: tuple[int, int]) -> None:
    r, w = pipe
    sqe = ops.poll_add(ring, 1, r, select.POLLIN)
    assert sqe.opcode == uring_rs.IORING_OP_POLL_ADD
    ring.submit()
    assert ring.copy_cqes(wait_nr=1, timeout=0.02) == []
    os.write(w, b"x")
    res = reap(ring, 1)[0].result()
    assert res & select.POLLIN


def test_poll_add_on_a_writable_fd_completes_at_once(ring: Ring, pipe: tuple[int, int]) -> None:
    _, w = pipe
    ops.poll_add(ring, 1, w, select.POLLOUT)
    assert one(ring) & select.POLLOUT


def test_poll_add_on_a_socket_object(ring: Ring, pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    ops.poll_add(ring, 1, a, select.POLLIN)
    ring.submit()
    b.sendall(b"!")
    assert reap(ring, 1)[0].res & select.POLLIN


def test_poll_add_reports_pollhup_when_the_writer_closes(ring: Ring, pipe: tuple[int, int]) -> None:
    r, w = pipe
    ops.poll_add(ring, 1, r, select.POLLIN)
    ring.submit()
    os.close(w)
    assert reap(ring, 1)[0].res & select.POLLHUP


def test_poll_remove_names_its_target_by_user_data(ring: Ring, pipe: tuple[int, int]) -> None:
    r, _ = pipe
    ops.poll_add(ring, 10, r, select.POLLIN)
    ring.submit()
    sqe = ops.poll_remove(ring, 11, 10)
    assert sqe.opcode == uring_rs.IORING_OP_POLL_REMOVE
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got == {10: -errno.ECANCELED, 11: 0}
    assert ring.in_flight == 0


def test_poll_remove_of_an_unknown_user_data_fails_with_enoent(ring: Ring) -> None:
    ops.poll_remove(ring, 1, 999)
    assert one(ring) == -errno.ENOENT


def test_poll_remove_targets_a_poll_not_another_op_with_that_user_data(
    ring: Ring, pipe: tuple[int, int]
) -> None:
    r, _w = pipe
    ops.timeout(ring, 10, 10)
    ops.poll_add(ring, 10, r, select.POLLIN)
    ring.submit()
    ops.poll_remove(ring, 11, 10)
    ring.submit()
    got = sorted((c.user_data, c.res) for c in reap(ring, 2))
    assert got == [(10, -errno.ECANCELED), (11, 0)]
    assert ring.in_flight == 1  # the timeout is untouched
    ops.timeout_remove(ring, 12, 10)
    ring.submit()
    assert sorted((c.user_data, c.res) for c in reap(ring, 2)) == [
        (10, -errno.ECANCELED),
        (12, 0),
    ]


def test_poll_remove_before_submit_of_the_poll_finds_it(ring: Ring, pipe: tuple[int, int]) -> None:
    # Both in one submit: the poll is queued first, so the kernel has it when
    # the remove runs.
    r, _ = pipe
    ops.poll_add(ring, 10, r, select.POLLIN)
    ops.poll_remove(ring, 11, 10)
    ring.submit()
    got = {c.user_data: c.res for c in reap(ring, 2)}
    assert got == {10: -errno.ECANCELED, 11: 0}
