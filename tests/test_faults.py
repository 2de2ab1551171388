"""Faults from outside, each reproduced: signals during waits, fd and memlock limits,
a tiny CQ under load, fds closed under ops, connection resets, full filesystems, and a
ring closed by one thread while another waits on it."""

from __future__ import annotations

import array
import errno
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import uring_rs
from _support import reap, run_python
from uring_rs import Cqe, IoUringError, Ring, UringError, ops


def run_child(code: str, timeout: float = 60) -> Any:
    """Runs `code` in a fresh interpreter; it prints one JSON object as its last line."""
    proc = run_python(code, timeout)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------- signals


@pytest.fixture
def signals_at_1khz() -> Iterator[list[int]]:
    """SIGALRM every millisecond, handled by a no-op Python handler (counted)."""
    count = [0]

    def handler(signum: int, frame: FrameType | None) -> None:
        count[0] += 1

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        yield count
    finally:
        stop_alarm(old)


def stop_alarm(old: Any) -> None:
    """Disarms the timer; an alarm already pending is discarded (SIG_IGN) before the
    old handler (maybe SIG_DFL, which would kill the process) comes back."""
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, old)


def test_waits_complete_correctly_under_1khz_signals(signals_at_1khz: list[int]) -> None:
    with Ring(8) as ring:
        # copy_cqes waiting for a timeout op
        t0 = time.monotonic()
        ops.timeout(ring, 1, 0.2)
        ring.submit()
        (cqe,) = ring.copy_cqes(wait_nr=1)
        assert (cqe.user_data, cqe.res) == (1, -errno.ETIME)
        assert time.monotonic() - t0 >= 0.19
        # submit(wait_nr) and copy_cqe
        ops.timeout(ring, 2, 0.1)
        assert ring.submit(wait_nr=1) == 1
        assert ring.copy_cqe().user_data == 2
        # a timed wait with nothing to come lasts its timeout, not less, not forever
        t0 = time.monotonic()
        assert ring.copy_cqes(wait_nr=1, timeout=0.3) == []
        assert 0.29 <= time.monotonic() - t0 < 2.0
        # copy_cqes_into waits too
        ud, res = array.array("Q", [0]), array.array("i", [0])
        ops.timeout(ring, 3, 0.1)
        ring.submit()
        assert ring.copy_cqes_into(ud, res, wait_nr=1) == 1 and (ud[0], res[0]) == (3, -errno.ETIME)
        assert ring.in_flight == 0
    assert signals_at_1khz[0] > 100, "the timer did not fire during the waits"


def test_pipe_traffic_under_1khz_signals(signals_at_1khz: list[int]) -> None:
    """Reads that wait on a writer thread, signals landing throughout: every byte arrives once."""
    r, w = os.pipe()
    chunks = [bytes([i % 256]) * 100 for i in range(300)]

    def writer() -> None:
        for c in chunks:
            os.write(w, c)
            time.sleep(0.0005)

    th = threading.Thread(target=writer)
    got = bytearray()
    with Ring(16) as ring:
        th.start()
        while len(got) < 300 * 100:
            buf = bytearray(1000)
            ops.read(ring, 7, r, buf, -1)
            ring.submit(wait_nr=1)
            (cqe,) = ring.copy_cqes(wait_nr=1)
            got += buf[: cqe.result()]
        th.join()
    os.close(r)
    os.close(w)
    assert bytes(got) == b"".join(chunks)


def test_a_raising_signal_handler_ends_the_wait_and_the_ring_stays_usable() -> None:
    class Stop(Exception):
        pass

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Stop

    old = signal.signal(signal.SIGALRM, handler)
    try:
        with Ring(4) as ring:
            ops.timeout(ring, 1, 10)
            ring.submit()
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            t0 = time.monotonic()
            with pytest.raises(Stop):
                ring.copy_cqes(wait_nr=1)
            assert time.monotonic() - t0 < 1.0, "the handler's exception was not acted on promptly"
            ops.timeout_remove(ring, 2, 1)
            ring.submit()
            assert sorted(c.user_data for c in reap(ring, 2)) == [1, 2]
    finally:
        stop_alarm(old)


# ------------------------------------------------------------------ limits


def test_fd_quota_exhausted_in_setup_and_in_results() -> None:
    out = run_child(
        """
        import errno, json, os, resource, socket
        from uring_rs import AT_FDCWD, Ring, UringError, ops
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        ring = Ring(8)
        lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen()
        cli = socket.create_connection(lst.getsockname())
        fds = []
        while True:
            try:
                fds.append(os.open("/dev/null", os.O_RDONLY))
            except OSError as e:
                assert e.errno == errno.EMFILE
                break
        out = {}
        try:
            Ring(4)
        except UringError as e:
            out["setup"] = [e.kind.name, e.errno, str(e)]
        ops.openat(ring, 1, AT_FDCWD, "/dev/null")
        ops.accept(ring, 2, lst)
        ring.submit()
        got = []
        while len(got) < 2:
            got += ring.copy_cqes(wait_nr=1, timeout=5)
        out["results"] = sorted([c.user_data, c.res] for c in got)
        os.close(fds.pop()); os.close(fds.pop())
        out["after"] = Ring(4).sq_entries
        ops.accept(ring, 3, lst)
        ring.submit()
        out["accept_after"] = ring.copy_cqes(wait_nr=1, timeout=5)[0].res >= 0
        print(json.dumps(out))
        """
    )
    kind, err, msg = out["setup"]
    assert kind == "PROCESS_FD_QUOTA_EXCEEDED" and err == errno.EMFILE
    assert "RLIMIT_NOFILE" in msg
    assert out["results"] == [[1, -errno.EMFILE], [2, -errno.EMFILE]]
    assert out["after"] == 4 and out["accept_after"] is True


def test_low_memlock_limit_fails_register_buffers_with_advice() -> None:
    """As root (CAP_IPC_LOCK) the kernel does not account registered buffers against
    RLIMIT_MEMLOCK, so the child drops to nobody after importing what it needs."""
    if os.geteuid() != 0:
        pytest.skip("needs root to set up the unprivileged child (setuid)")
    out = run_child(
        """
        import json, os, resource
        from uring_rs import Ring, UringError
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (65536, 65536))
        out = {}
        with Ring(4) as r:
            r.register_buffers([bytearray(1 << 20)])  # root: not accounted
            out["root"] = "ok"
        os.setgid(65534)
        os.setuid(65534)
        with Ring(4) as r:
            try:
                r.register_buffers([bytearray(1 << 20)])
                out["nobody"] = "registered"
            except UringError as e:
                out["nobody"] = [e.kind.name, e.errno, str(e)]
            r.register_buffers([bytearray(4096)])  # within the limit
            out["small"] = "ok"
        print(json.dumps(out))
        """
    )
    assert out["root"] == "ok"
    kind, err, msg = out["nobody"]
    assert kind == "SYSTEM_RESOURCES" and err == errno.ENOMEM
    assert "RLIMIT_MEMLOCK is 65536 bytes" in msg and "setrlimit" in msg
    assert out["small"] == "ok"


def test_file_size_limit_gives_efbig_in_results() -> None:
    out = run_child(
        """
        import json, os, resource, signal, tempfile
        from uring_rs import Ring, ops
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        fd, path = tempfile.mkstemp()
        with Ring(4) as r:
            ops.write(r, 1, fd, b"x" * 8192, 0)
            ops.write(r, 2, fd, b"y" * 100, 5000)
            r.submit()
            got = []
            while len(got) < 2:
                got += r.copy_cqes(wait_nr=1, timeout=5)
        os.unlink(path)
        print(json.dumps(sorted([c.user_data, c.res] for c in got)))
        """
    )
    assert out == [[1, 4096], [2, -errno.EFBIG]]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (RLIMIT_FSIZE covers the full-file case)")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_filesystem_gives_enospc_in_results(small_tmpfs: Path) -> None:
    fd = os.open(small_tmpfs / "big", os.O_WRONLY | os.O_CREAT)
    try:
        with Ring(16) as ring:
            chunk = b"z" * 16384
            for i in range(8):  # 128 KiB into 64 KiB
                ops.write(ring, i, fd, chunk, i * len(chunk))
            ring.submit()
            res = {c.user_data: c.res for c in reap(ring, 8)}
    finally:
        os.close(fd)
    assert -errno.ENOSPC in res.values(), res
    assert sum(r for r in res.values() if r > 0) <= 64 * 1024
    assert all(r == -errno.ENOSPC or 0 <= r <= 16384 for r in res.values()), res


# --------------------------------------------------------------- tiny CQ


def test_tiny_cq_under_load_loses_nothing(tmp_path: Path) -> None:
    """Ring(2, cq_entries=2) and 600 ops submitted without reaping: the CQ overflows
    (the kernel keeps the overflow), submit may say COMPLETION_QUEUE_OVERCOMMITTED,
    and every completion still arrives exactly once."""
    data = bytes(range(256)) * 64
    path = tmp_path / "d"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    bufs: dict[int, bytearray] = {}
    overflowed = busy = 0
    got: list[Cqe] = []
    with Ring(2, cq_entries=2) as ring:
        assert ring.cq_entries == 2
        for i in range(600):
            if i % 3 == 0:
                bufs[i] = bytearray(100)
                ops.read(ring, i, fd, bufs[i], i)
            else:
                ops.nop(ring, i)
            if ring.sq_space_left() == 0:
                while True:
                    try:
                        ring.submit()
                        break
                    except UringError as e:
                        assert e.kind is IoUringError.COMPLETION_QUEUE_OVERCOMMITTED, e
                        busy += 1
                        got += ring.copy_cqes()
                if ring.cq_ring_needs_flush():
                    overflowed += 1
        ring.submit()
        while ring.in_flight:
            got += ring.copy_cqes(wait_nr=1, timeout=5)
    os.close(fd)
    assert overflowed + busy > 0, "the CQ never overflowed: the test did not test anything"
    assert sorted(c.user_data for c in got) == list(range(600))
    for c in got:
        if c.user_data in bufs:
            assert (
                c.res == 100 and bytes(bufs[c.user_data]) == data[c.user_data : c.user_data + 100]
            )
        else:
            assert c.res == 0


# -------------------------------------------------- fds and peers going away


def test_fd_closed_while_its_op_is_in_flight() -> None:
    """The op holds the file, not the fd number: it finishes normally."""
    with Ring(8) as ring:
        r, w = os.pipe()
        ops.read(ring, 1, r, bytearray(10), -1)
        ring.submit()
        os.close(r)  # the read still holds the pipe's read side
        os.write(w, b"hello")
        (cqe,) = reap(ring, 1)
        assert (cqe.user_data, cqe.res) == (1, 5)
        r2, w2 = os.pipe()
        ops.read(ring, 2, r2, bytearray(10), -1)
        ring.submit()
        os.close(r2)
        os.close(w2)  # no writer left: end of file
        (cqe,) = reap(ring, 1)
        assert (cqe.user_data, cqe.res) == (2, 0)
        os.close(w)
        # A closed fd number queued afterwards fails in its completion.
        ops.read(ring, 3, r, bytearray(10), -1)
        ring.submit()
        (cqe,) = reap(ring, 1)
        assert cqe.res == -errno.EBADF
        # And a socket closed under a pending recv: the ring's close cancels it.
        a, b = socket.socketpair()
        ops.recv(ring, 4, a, bytearray(10))
        ring.submit()
        a.close()
        assert ring.in_flight == 1
    b.close()


def test_peer_reset_mid_recv_gives_econnreset() -> None:
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen()
    cli = socket.create_connection(lst.getsockname())
    srv, _ = lst.accept()
    try:
        with Ring(4) as ring:
            buf = bytearray(100)
            ops.recv(ring, 1, cli, buf)
            ops.poll_add(ring, 2, cli, select.POLLIN)
            ring.submit()
            assert ring.copy_cqes(wait_nr=1, timeout=0.05) == []
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            srv.close()  # RST
            res = {c.user_data: c.res for c in reap(ring, 2)}
            assert res[1] == -errno.ECONNRESET
            assert res[2] > 0  # POLLIN|POLLERR|POLLHUP: readable, with the error
            with pytest.raises(ConnectionResetError):
                Cqe(1, res[1], 0).result()
            assert bytes(buf) == bytes(100)
    finally:
        cli.close()
        lst.close()


# ----------------------------------------------- close from another thread


@pytest.mark.parametrize("how", ["copy_cqes", "submit", "copy_cqe", "copy_cqes_into"])
def test_ring_closed_by_another_thread_while_one_waits(how: str) -> None:
    ring = Ring(8)
    r, w = os.pipe()
    ops.read(ring, 1, r, bytearray(10), -1)  # in flight, never completed by data
    ring.submit()
    outcome: list[BaseException | object] = []
    started = threading.Event()

    def waiter() -> None:
        started.set()
        try:
            if how == "copy_cqes":
                outcome.append(ring.copy_cqes(wait_nr=1))
            elif how == "submit":
                outcome.append(ring.submit(wait_nr=1))
            elif how == "copy_cqe":
                outcome.append(ring.copy_cqe())
            else:
                ud, res = array.array("Q", [0]), array.array("i", [0])
                outcome.append(ring.copy_cqes_into(ud, res, wait_nr=1))
        except BaseException as e:  # noqa: BLE001 - the outcome is what is checked
            outcome.append(e)

    th = threading.Thread(target=waiter)
    th.start()
    started.wait()
    time.sleep(0.1)  # let it block in the kernel
    t0 = time.monotonic()
    ring.close()
    th.join(timeout=5)
    elapsed = time.monotonic() - t0
    os.close(r)
    os.close(w)
    assert not th.is_alive(), "the waiter never noticed the close"
    assert elapsed < 2.0
    (res,) = outcome
    assert isinstance(res, ValueError) and "closed" in str(res), repr(res)
    assert ring.closed


def test_close_cancels_in_flight_ops_and_releases_their_buffers() -> None:
    r, w = os.pipe()
    bufs = [bytearray(16) for _ in range(4)]
    base = [sys.getrefcount(bufs[i]) for i in range(4)]
    ring = Ring(8)
    for i in range(4):
        ops.read(ring, i, r, bufs[i], -1)
    ops.timeout(ring, 9, 100)
    ring.submit()
    t0 = time.monotonic()
    ring.close()
    assert time.monotonic() - t0 < 2.0
    now = [sys.getrefcount(bufs[i]) for i in range(4)]
    assert now == base
    os.write(w, b"x" * 64)  # nothing reads it any more
    assert os.read(r, 100) == b"x" * 64
    os.close(r)
    os.close(w)
    with pytest.raises(ValueError, match="closed"):
        ops.nop(ring, 1)


def test_raw_enter_waiter_is_woken_by_close() -> None:
    ring = Ring(4)
    outcome: list[BaseException | int] = []

    def waiter() -> None:
        try:
            outcome.append(ring.enter(0, 1, uring_rs.IORING_ENTER_GETEVENTS))
        except BaseException as e:  # noqa: BLE001 - the outcome is what is checked
            outcome.append(e)

    th = threading.Thread(target=waiter, daemon=True)
    th.start()
    time.sleep(0.1)
    ring.close()
    th.join(timeout=2)
    stuck = th.is_alive()
    if stuck:
        # Unblock it: post a completion to the closed ring's (still open) fd.
        with Ring(2) as other:
            ops.msg_ring(other, 1, ring.fd, 0, 0)
            other.submit(wait_nr=1)
        th.join(timeout=5)
    assert not stuck, "the waiter in enter() was still blocked 2 s after close()"
    (res,) = outcome
    assert isinstance(res, ValueError), repr(res)
