"""Lifetimes: the ring keeps what an op needs alive until its final completion is
consumed; close() and garbage collection with ops in flight cancel and drain them;
no fd or mapping leaks; waits follow PEP 475 and Ctrl-C interrupts them."""

from __future__ import annotations

import errno
import gc
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
import uring_rs
from _support import (
    DATA,
    REPO,
    WBuf,
    collected,
    maps_lines,
    open_fds,
    reap,
    restore_sigint,
    run_python,
)
from uring_rs import Ring, ops

# ---------------------------------------------------------------- keep-alive


def test_recv_buffer_dropped_by_the_caller_stays_alive_and_receives_the_data(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    buf = WBuf(16)
    ref = weakref.ref(buf)
    ops.recv(ring, 1, a, buf)
    ring.submit()
    del buf
    assert not collected(ref), "the ring let go of an in-flight recv buffer"
    b.sendall(b"kept alive")
    ring.submit(wait_nr=1)  # completed, not yet consumed
    # Take the buffer back before consuming the completion (which releases it).
    alive = ref()
    assert alive is not None
    (cqe,) = reap(ring, 1)
    assert cqe.res == 10
    assert bytes(alive[:10]) == b"kept alive"
    del alive
    assert collected(ref)


def test_read_buffer_dropped_by_the_caller_receives_the_data(ring: Ring, rfd: int) -> None:
    buf = WBuf(64)
    ref = weakref.ref(buf)
    ops.read(ring, 1, rfd, buf, 128)
    del buf
    gc.collect()
    ring.submit(wait_nr=1)
    alive = ref()
    assert alive is not None
    assert reap(ring, 1)[0].res == 64
    assert bytes(alive) == DATA[128:192]


def test_memoryview_of_a_dropped_buffer_keeps_the_buffer_alive(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    buf = WBuf(32)
    ref = weakref.ref(buf)
    ops.recv(ring, 1, a, memoryview(buf)[8:16])
    ring.submit()
    del buf
    assert not collected(ref)
    b.sendall(b"12345678")
    ring.submit(wait_nr=1)
    alive = ref()
    assert alive is not None
    assert reap(ring, 1)[0].res == 8
    assert bytes(alive[8:16]) == b"12345678"
    assert bytes(alive[:8]) == bytes(8)


def test_send_buffer_dropped_by_the_caller_is_sent_intact(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    a.setblocking(False)
    filler = 0
    try:
        while True:
            filler += a.send(b"\0" * 65536)
    except BlockingIOError:
        pass
    payload = WBuf(bytes(range(256)) * 64)
    ref = weakref.ref(payload)
    ops.send(ring, 1, a, payload)
    ring.submit()
    del payload
    assert not collected(ref), "the ring let go of an in-flight send buffer"
    received = bytearray()
    b.settimeout(5)
    while len(received) < filler + 256 * 64:
        received += b.recv(1 << 20)
    assert reap(ring, 1)[0].res == 256 * 64
    assert bytes(received[filler:]) == bytes(range(256)) * 64
    assert collected(ref)


def test_buffer_stays_alive_until_its_completion_is_consumed(ring: Ring, rfd: int) -> None:
    buf = WBuf(8)
    ref = weakref.ref(buf)
    ops.read(ring, 1, rfd, buf, 0)
    del buf
    ring.submit(wait_nr=1)
    assert ring.cq_ready() == 1
    assert not collected(ref), "released on completion, before it was consumed"
    ring.copy_cqes()
    assert collected(ref)


def test_peek_cqes_keeps_the_buffer_and_cq_advance_releases_it(ring: Ring, rfd: int) -> None:
    buf = WBuf(8)
    ref = weakref.ref(buf)
    ops.read(ring, 1, rfd, buf, 0)
    del buf
    ring.submit(wait_nr=1)
    assert [c.res for c in ring.peek_cqes()] == [8]
    assert not collected(ref)
    ring.cq_advance(1)
    assert collected(ref)


def test_cqe_seen_releases_the_buffer(ring: Ring, rfd: int) -> None:
    buf = WBuf(8)
    ref = weakref.ref(buf)
    ops.read(ring, 1, rfd, buf, 0)
    del buf
    ring.submit(wait_nr=1)
    ring.peek_cqes()
    ring.cqe_seen()
    assert collected(ref)


def test_reference_count_returns_to_its_start_after_the_completion(ring: Ring, rfd: int) -> None:
    buf = bytearray(8)
    start = sys.getrefcount(buf)
    ops.read(ring, 1, rfd, buf, 0)
    assert sys.getrefcount(buf) > start
    ring.submit(wait_nr=1)
    assert sys.getrefcount(buf) > start
    ring.copy_cqes()
    assert sys.getrefcount(buf) == start


def test_in_flight_buffer_cannot_be_resized(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    buf = bytearray(8)
    ops.recv(ring, 1, a, buf)
    ring.submit()
    with pytest.raises(BufferError):
        buf.extend(b"would move the memory the kernel writes")
    with pytest.raises(BufferError):
        del buf[:4]
    b.sendall(b"ok")
    reap(ring, 1)
    buf.extend(b"fine now")
    assert len(buf) == 16


def test_in_flight_mmap_cannot_be_closed(
    ring: Ring, pair: tuple[socket.socket, socket.socket]
) -> None:
    import mmap

    a, b = pair
    m = mmap.mmap(-1, 4096)
    ops.recv(ring, 1, a, m)
    ring.submit()
    with pytest.raises(BufferError):
        m.close()
    b.sendall(b"mapped")
    assert reap(ring, 1)[0].res == 6
    assert m[:6] == b"mapped"
    m.close()


def test_buffer_of_an_overflowed_completion_is_kept_until_consumed(rfd: int) -> None:
    with Ring(4, cq_entries=8) as ring:
        for i in range(8):
            ops.nop(ring, i)
            if i % 4 == 3:
                ring.submit()
        buf = WBuf(8)
        ref = weakref.ref(buf)
        ops.read(ring, 99, rfd, buf, 0)
        del buf
        ring.submit()
        time.sleep(0.01)
        assert ring.cq_ring_needs_flush()
        assert not collected(ref)
        seen: dict[int, int] = {}
        while ring.in_flight:
            for c in ring.copy_cqes(wait_nr=1, timeout=2):
                seen[c.user_data] = c.res
        assert seen[99] == 8
        assert collected(ref)


def test_op_that_failed_to_queue_keeps_nothing() -> None:
    with Ring(1) as small:
        ops.nop(small, 1)
        buf = WBuf(8)
        ref = weakref.ref(buf)
        with pytest.raises(uring_rs.UringError):
            ops.read(small, 2, 0, buf, 0)
        del buf
        assert collected(ref)


def test_openat_path_built_on_the_fly_is_not_needed_after_queueing(
    ring: Ring, data_file: Path
) -> None:
    ops.openat(ring, 1, uring_rs.AT_FDCWD, "".join([str(data_file.parent), "/", data_file.name]))
    gc.collect()
    ring.submit()
    fd = reap(ring, 1)[0].result()
    try:
        assert os.pread(fd, 4, 0) == DATA[:4]
    finally:
        os.close(fd)


def test_in_flight_counts_ops_until_their_completion_is_consumed(ring: Ring) -> None:
    assert ring.in_flight == 0
    ops.nop(ring, 1)
    assert ring.in_flight == 1
    ring.submit(wait_nr=1)
    assert ring.in_flight == 1
    ring.copy_cqes()
    assert ring.in_flight == 0


# ---------------------------------------------------------------- close and gc with ops in flight


def test_close_with_a_recv_in_flight_returns_promptly(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, _b = pair
    ring = Ring(8)
    buf = WBuf(16)
    ref = weakref.ref(buf)
    ops.recv(ring, 1, a, buf)
    ring.submit()
    del buf
    start = time.monotonic()
    ring.close()
    assert time.monotonic() - start < 1.0
    assert ring.closed
    assert collected(ref), "the cancelled recv's buffer was not released"


def test_close_with_a_recv_in_flight_leaves_the_socket_data_unconsumed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    ring = Ring(8)
    ops.recv(ring, 1, a, bytearray(16))
    ring.submit()
    ring.close()
    b.sendall(b"after close")
    a.settimeout(2)
    assert a.recv(16) == b"after close"


def test_rings_work_after_one_was_closed_with_a_recv_in_flight(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    ring = Ring(8)
    ops.recv(ring, 1, a, bytearray(16))
    ring.submit()
    ring.close()
    with Ring(8) as again:
        buf = bytearray(4)
        ops.recv(again, 2, a, buf)
        again.submit()
        b.sendall(b"next")
        assert reap(again, 1)[0].res == 4
        assert buf == b"next"


def test_close_with_many_kinds_of_ops_in_flight_returns_promptly(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, _ = pair
    r, w = os.pipe()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    refs: list[weakref.ref[WBuf]] = []
    try:
        ring = Ring(16)
        bufs = [WBuf(8) for _ in range(3)]
        refs = [weakref.ref(x) for x in bufs]
        ops.recv(ring, 1, a, bufs[0])
        ops.read(ring, 2, r, bufs[1], -1)
        ops.poll_add(ring, 3, r, select.POLLIN)
        ops.timeout(ring, 4, 60)
        ops.accept(ring, 5, srv)
        sqe = ops.recv(ring, 6, a, bufs[2])
        sqe.flags = uring_rs.IOSQE_IO_LINK
        ops.link_timeout(ring, 7, 60)
        ring.submit()
        del bufs
        assert ring.in_flight == 7
        start = time.monotonic()
        ring.close()
        assert time.monotonic() - start < 1.0
        assert all(collected(ref) for ref in refs)
    finally:
        os.close(r)
        os.close(w)
        srv.close()


def test_close_releases_buffers_of_queued_but_unsubmitted_ops(rfd: int) -> None:
    ring = Ring(8)
    buf = WBuf(8)
    ref = weakref.ref(buf)
    ops.read(ring, 1, rfd, buf, 0)
    del buf
    assert not collected(ref)
    ring.close()
    assert collected(ref)


def test_close_releases_buffers_of_completed_but_unconsumed_ops(rfd: int) -> None:
    ring = Ring(8)
    buf = WBuf(8)
    ref = weakref.ref(buf)
    ops.read(ring, 1, rfd, buf, 0)
    del buf
    ring.submit(wait_nr=1)
    ring.close()
    assert collected(ref)


def test_garbage_collecting_a_ring_with_a_recv_in_flight_cancels_and_releases(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, _ = pair
    before = open_fds()
    ring = Ring(8)
    buf = WBuf(16)
    buf_ref = weakref.ref(buf)
    ring_ref = weakref.ref(ring)
    ops.recv(ring, 1, a, buf)
    ring.submit()
    del buf, ring
    gc.collect()
    assert ring_ref() is None
    assert buf_ref() is None
    assert open_fds() == before


def test_close_from_another_thread_ends_a_blocked_wait_with_value_error() -> None:
    ring = Ring(4)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            ring.copy_cqes(wait_nr=1)
        except BaseException as e:  # noqa: BLE001 - the main thread reports it
            errors.append(e)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.05)
    start = time.monotonic()
    ring.close()
    t.join(5)
    assert not t.is_alive()
    assert time.monotonic() - start < 2.0
    assert len(errors) == 1 and isinstance(errors[0], ValueError)


def test_close_from_another_thread_while_a_recv_waits_releases_the_buffer(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, _ = pair
    ring = Ring(4)
    buf = WBuf(8)
    ref = weakref.ref(buf)
    ops.recv(ring, 1, a, buf)
    ring.submit()
    del buf
    results: list[object] = []

    def wait() -> None:
        try:
            results.append(ring.copy_cqes(wait_nr=1))
        except ValueError as e:
            results.append(e)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.05)
    ring.close()
    t.join(5)
    assert not t.is_alive()
    assert len(results) == 1
    assert collected(ref)


def test_forked_child_cannot_use_the_ring_and_leaves_the_parents_ops_alone() -> None:
    proc = run_python(
        """
        import os, socket
        from uring_rs import Ring, ops
        a, b = socket.socketpair()
        ring = Ring(8)
        buf = bytearray(8)
        ops.recv(ring, 1, a, buf)
        ring.submit()
        pid = os.fork()
        if pid == 0:
            code = 0
            for call in (lambda: ops.nop(ring, 2), ring.copy_cqes, ring.submit):
                try:
                    call()
                    code = 1
                except RuntimeError:
                    pass
            ring.close()  # the child's copy only
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        b.sendall(b"parent")
        (cqe,) = ring.copy_cqes(wait_nr=1, timeout=5)
        print(os.waitstatus_to_exitcode(status), cqe.user_data, cqe.res, bytes(buf[:6]).decode())
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "1", "6", "parent"]


# ------------------------------------------------------ re-entrancy: Python code run by the ring


def test_a_buffer_finalizer_may_queue_an_op_while_completions_are_consumed(rfd: int) -> None:
    with Ring(8) as ring:
        buf = WBuf(8)
        weakref.finalize(buf, lambda: ops.nop(ring, 99))
        ops.read(ring, 1, rfd, buf, 0)
        del buf
        ring.submit(wait_nr=1)
        assert [c.user_data for c in ring.copy_cqes()] == [1]
        assert ring.sq_ready() == 1  # the finalizer's nop
        ring.submit()
        assert [c.user_data for c in reap(ring, 1)] == [99]


def test_a_buffer_finalizer_may_close_the_ring_while_completions_are_consumed(rfd: int) -> None:
    ring = Ring(8)
    buf = WBuf(8)
    weakref.finalize(buf, ring.close)
    ops.read(ring, 1, rfd, buf, 0)
    ops.read(ring, 2, rfd, bytearray(8), 8)
    del buf
    ring.submit(wait_nr=2)
    got = ring.copy_cqes()
    assert [c.user_data for c in got] == [1, 2]
    assert ring.closed


def test_a_buffer_finalizer_may_reap_while_cq_advance_releases(rfd: int) -> None:
    with Ring(8) as ring:
        inner: list[list[uring_rs.Cqe]] = []
        buf = WBuf(8)
        weakref.finalize(buf, lambda: inner.append(ring.copy_cqes()))
        ops.read(ring, 1, rfd, buf, 0)
        ops.nop(ring, 2)
        del buf
        ring.submit(wait_nr=2)
        ring.peek_cqes()
        ring.cq_advance(1)
        assert [[c.user_data for c in batch] for batch in inner] == [[2]]
        assert ring.in_flight == 0


def test_a_fileno_that_closes_the_ring_gets_value_error_and_queues_nothing(rfd: int) -> None:
    ring = Ring(8)

    class Closer:
        def fileno(self) -> int:
            ring.close()
            return rfd

    with pytest.raises(ValueError):
        ops.read(ring, 1, Closer(), bytearray(8), 0)
    assert ring.closed


def test_a_buffer_finalizer_run_by_close_cannot_queue_on_the_closing_ring() -> None:
    r, w = os.pipe()
    try:
        ring = Ring(8)
        outcome: list[str] = []

        def fin() -> None:
            try:
                ops.nop(ring, 5)
                outcome.append("queued")
            except ValueError:
                outcome.append("ValueError")

        buf = WBuf(8)
        weakref.finalize(buf, fin)
        ops.read(ring, 1, r, buf, -1)
        del buf
        ring.submit()
        ring.close()
        assert outcome == ["ValueError"]
    finally:
        os.close(r)
        os.close(w)


def test_a_signal_handler_that_closes_the_ring_ends_the_wait_with_value_error() -> None:
    proc = run_python(
        """
        import signal, time
        from uring_rs import Ring
        ring = Ring(4)
        signal.signal(signal.SIGALRM, lambda *a: ring.close())
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        start = time.monotonic()
        try:
            ring.copy_cqes(wait_nr=1)
        except ValueError:
            print("ValueError", time.monotonic() - start < 1)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ValueError", "True"]


def test_closing_a_ring_while_four_threads_use_it_gives_exceptions_not_crashes() -> None:
    proc = run_python(
        """
        import os, threading, time
        from uring_rs import Ring, UringError, ops
        fd = os.open("/dev/zero", os.O_RDONLY)
        for rounds in range(20):
            ring = Ring(16)
            unexpected = []
            def work(tid):
                bufs = [bytearray(64) for _ in range(8)]
                try:
                    for i in range(100000):
                        try:
                            ops.read(ring, i, fd, bufs[i % 8], 0)
                            ops.nop(ring, i)
                        except UringError:
                            pass
                        ring.submit()
                        ring.copy_cqes(wait_nr=1, timeout=0.01)
                except ValueError:
                    return  # the ring was closed under us: the documented outcome
                except BaseException as e:
                    unexpected.append(repr(e))
            threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.01)
            ring.close()
            for t in threads:
                t.join(10)
            assert not any(t.is_alive() for t in threads)
            assert not unexpected, unexpected
        print("ok")
        """,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# ---------------------------------------------------------------- fd and mapping leaks


def test_2000_ring_create_close_cycles_leak_no_fd_and_no_mapping() -> None:
    for _ in range(50):  # warm up allocator arenas
        Ring(8).close()
    gc.collect()
    fds, maps = open_fds(), maps_lines()
    for _ in range(2000):
        ring = Ring(8)
        ring.close()
    gc.collect()
    assert open_fds() == fds
    assert maps_lines() == maps


def test_2000_rings_dropped_without_close_leak_no_fd_and_no_mapping() -> None:
    for _ in range(50):
        Ring(8)
    gc.collect()
    fds, maps = open_fds(), maps_lines()
    for _ in range(2000):
        with Ring(8) as ring:
            ops.nop(ring, 1)
        Ring(4)  # dropped at once
    gc.collect()
    assert open_fds() == fds
    assert maps_lines() == maps


def test_rings_closed_with_ops_in_flight_leak_no_fd_and_no_mapping(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, _ = pair
    for _ in range(20):
        Ring(8).close()
    gc.collect()
    fds, maps = open_fds(), maps_lines()
    for i in range(300):
        ring = Ring(8)
        ops.recv(ring, i, a, bytearray(8))
        ops.timeout(ring, i, 60)
        ring.submit()
        ring.close()
    gc.collect()
    assert open_fds() == fds
    assert maps_lines() == maps


# ---------------------------------------------------------------- signals: Ctrl-C and PEP 475


def _spawn_waiter(wait_call: str) -> subprocess.Popen[str]:
    code = f"""
import uring_rs
ring = uring_rs.Ring(4)
print("ready", flush=True)
{wait_call}
print("returned", flush=True)
"""
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        preexec_fn=restore_sigint,
    )


@pytest.mark.parametrize(
    "wait_call",
    [
        "ring.copy_cqes(wait_nr=1)",
        "ring.copy_cqe()",
        "ring.submit(wait_nr=1)",
        "uring_rs.ops.timeout(ring, 1, 60); ring.submit(wait_nr=1)",
        "ring.copy_cqes(wait_nr=1, timeout=60)",
    ],
)
def test_ctrl_c_interrupts_a_blocking_wait(wait_call: str) -> None:
    proc = _spawn_waiter(wait_call)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # well inside the wait
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert time.monotonic() - start < 3
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    assert "Traceback" in err
    assert "returned" not in out


def test_a_signal_handler_that_does_not_raise_lets_the_wait_resume_and_complete() -> None:
    proc = run_python(
        """
        import signal, time
        from uring_rs import Ring, ops
        calls = []
        signal.signal(signal.SIGALRM, lambda *a: calls.append(1))
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        ring = Ring(4)
        ops.timeout(ring, 5, 0.2)
        ring.submit()
        start = time.monotonic()
        cqes = ring.copy_cqes(wait_nr=1)
        signal.setitimer(signal.ITIMER_REAL, 0)
        print(cqes[0].user_data, cqes[0].res, len(calls) > 5, time.monotonic() - start >= 0.19)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["5", str(-errno.ETIME), "True", "True"]


def test_pep_475_submit_with_wait_resumes_after_a_non_raising_handler() -> None:
    proc = run_python(
        """
        import signal
        from uring_rs import Ring, ops
        calls = []
        signal.signal(signal.SIGALRM, lambda *a: calls.append(1))
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        ring = Ring(4)
        ops.timeout(ring, 5, 0.15)
        ring.submit(wait_nr=1)
        signal.setitimer(signal.ITIMER_REAL, 0)
        print(ring.cq_ready(), len(calls) > 3)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "True"]


def test_pep_475_wait_with_timeout_still_ends_at_its_timeout() -> None:
    proc = run_python(
        """
        import signal, time
        from uring_rs import Ring
        calls = []
        signal.signal(signal.SIGALRM, lambda *a: calls.append(1))
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        ring = Ring(4)
        start = time.monotonic()
        got = ring.copy_cqes(wait_nr=1, timeout=0.15)
        elapsed = time.monotonic() - start
        signal.setitimer(signal.ITIMER_REAL, 0)
        print(got, len(calls) > 3, 0.14 <= elapsed < 1.0)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "True", "True"]


def test_an_exception_from_a_signal_handler_propagates_out_of_the_wait() -> None:
    proc = run_python(
        """
        import signal
        from uring_rs import Ring
        class Stop(Exception):
            pass
        def handler(*a):
            raise Stop("from handler")
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        ring = Ring(4)
        try:
            ring.copy_cqes(wait_nr=1)
        except Stop as e:
            print("stopped:", e, ring.closed)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "stopped: from handler False"


def test_ring_is_usable_after_an_interrupted_wait() -> None:
    proc = run_python(
        """
        import signal
        from uring_rs import Ring, ops
        def handler(*a):
            raise KeyboardInterrupt
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        ring = Ring(4)
        try:
            ring.copy_cqes(wait_nr=1)
        except KeyboardInterrupt:
            pass
        ops.nop(ring, 3)
        ring.submit(wait_nr=1)
        print([c.user_data for c in ring.copy_cqes()], ring.in_flight)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[3] 0"


def test_fresh_bytes_is_filled_by_a_read_and_handed_out_without_a_copy(tmp_path: Path) -> None:
    from uring_rs._native import _FreshBytes

    data = os.urandom(100_000)
    (tmp_path / "f").write_bytes(data)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        with uring_rs.Ring(4) as ring:
            whole, short = _FreshBytes(len(data)), _FreshBytes(len(data) + 5000)
            uring_rs.ops.read(ring, 1, fd, whole, 0)
            uring_rs.ops.read(ring, 2, fd, short, 0)
            ring.submit(wait_nr=2)
            got = {c.user_data: c.res for c in ring.copy_cqes(wait_nr=2)}
            # While the view is exported (as the ring pins it for a read), it is not handed out.
            with memoryview(whole), pytest.raises(BufferError):
                whole.take(got[1])
            first = whole.take(got[1])
            assert type(first) is bytes and first == data
            assert short.take(got[2]) == data  # a short read: shrunk to what came
            with pytest.raises(ValueError, match="already"):
                whole.take(1)
            with pytest.raises(BufferError):
                memoryview(whole)  # taken: no more reads into it
    finally:
        os.close(fd)
    with pytest.raises(ValueError):
        _FreshBytes(0)
