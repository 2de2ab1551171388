"""Threads sharing one ring: queueing, submitting and reaping concurrently.

8 threads run for a bounded time (2 s by default, 10 s with HYPOTHESIS_PROFILE=long,
or URING_RS_THREAD_SECONDS). Every op's user_data carries its thread and a counter;
every completion reaped, by whichever thread, goes into one global list. At the end
each queued op has exactly one completion, with its result and its data.
"""

from __future__ import annotations

import array
import os
import threading
import time
from collections import Counter
from pathlib import Path

from uring_rs import IoUringError, Ring, UringError, ops

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
SECONDS = float(os.environ.get("URING_RS_THREAD_SECONDS", "10" if LONG else "2"))
THREADS = 8
DATA = bytes(i % 251 for i in range(1 << 16))


def test_eight_threads_share_a_ring_without_losing_a_completion(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    fd = os.open(path, os.O_RDONLY)
    lock = threading.Lock()
    reaped: list[tuple[int, int]] = []
    queued: list[set[int]] = [set() for _ in range(THREADS)]
    reads: dict[int, tuple[bytearray, int]] = {}  # user_data -> (buffer, file offset)
    errors: list[BaseException] = []
    stop = time.monotonic() + SECONDS
    ring = Ring(64)

    def record(pairs: list[tuple[int, int]]) -> None:
        if pairs:
            with lock:
                reaped.extend(pairs)

    def worker(tid: int) -> None:
        n = 0
        ud_arr, res_arr = array.array("Q", [0] * 16), array.array("i", [0] * 16)
        try:
            while time.monotonic() < stop:
                for _ in range(1 + n % 7):
                    ud = (tid << 48) | n
                    try:
                        if n % 4 == 0:
                            off = (n * 97) % (len(DATA) - 256)
                            buf = bytearray(256)
                            with lock:
                                reads[ud] = (buf, off)
                            ops.read(ring, ud, fd, buf, off)
                        else:
                            ops.nop(ring, ud)
                    except UringError as e:
                        assert e.kind is IoUringError.SUBMISSION_QUEUE_FULL, e
                        with lock:
                            reads.pop(ud, None)
                        break
                    queued[tid].add(ud)
                    n += 1
                ring.submit()
                if n % 3 == 0:
                    k = ring.copy_cqes_into(ud_arr, res_arr)
                    record([(ud_arr[i], res_arr[i]) for i in range(k)])
                else:
                    record([(c.user_data, c.res) for c in ring.copy_cqes(wait_nr=1, timeout=0.01)])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + 30)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    ring.submit()
    deadline = time.monotonic() + 10
    while ring.in_flight and time.monotonic() < deadline:
        record([(c.user_data, c.res) for c in ring.copy_cqes(wait_nr=1, timeout=1)])
    assert ring.in_flight == 0
    ring.close()
    os.close(fd)

    all_queued = set().union(*queued)
    counts = Counter(ud for ud, _ in reaped)
    dup = [ud for ud, c in counts.items() if c > 1]
    lost = all_queued - counts.keys()
    alien = counts.keys() - all_queued
    assert not dup, f"{len(dup)} completions reaped twice, e.g. {dup[:5]}"
    assert not lost, f"{len(lost)} completions lost, e.g. {sorted(lost)[:5]}"
    assert not alien, f"{len(alien)} completions nobody queued, e.g. {sorted(alien)[:5]}"
    for ud, res in reaped:
        if ud in reads:
            buf, off = reads[ud]
            assert res == 256 and bytes(buf) == DATA[off : off + 256], ud
        else:
            assert res == 0, (ud, res)
    assert len(reaped) > 1000 * SECONDS, f"only {len(reaped)} ops in {SECONDS}s"


def test_threads_closing_and_using_one_ring_get_exceptions_not_crashes() -> None:
    """The worst misuse: some threads use a ring while another closes it."""
    for _ in range(20):
        ring = Ring(8)
        errors: list[BaseException] = []
        go = threading.Event()

        def user(ring: Ring, go: threading.Event, errors: list[BaseException]) -> None:
            go.wait()
            try:
                for i in range(200):
                    ops.nop(ring, i)
                    ring.submit()
                    ring.copy_cqes()
            except ValueError as e:
                assert "closed" in str(e)
            except UringError as e:
                assert e.kind is IoUringError.SUBMISSION_QUEUE_FULL
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=user, args=(ring, go, errors)) for _ in range(4)]
        for t in threads:
            t.start()
        go.set()
        time.sleep(0.001)
        ring.close()
        for t in threads:
            t.join(timeout=10)
        assert not errors, errors
        assert ring.closed
