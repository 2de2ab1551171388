"""Stateful fuzzing: random sequences of ring operations, checked against a model.

Hypothesis drives a real ring (real files, a pipe, a socketpair, timeouts, polls,
cancels, registered files and buffers) through random sequences of queueing,
submitting and reaping, valid and invalid. The model checks after every step that:

- every queued op completes exactly once, with its own user_data and an expected
  result (a completion the model does not expect, or a second one, fails);
- buffers hold what the op says it put there, and nothing past the result;
- ``ring.in_flight`` and ``ring.sq_ready()`` match the model;
- a failed call (bad argument, full SQ) raises and queues nothing;
- a buffer's reference count is back to its start value once its op's final
  completion has been consumed (or the ring is closed);
- at the end every op is accounted for, and every byte written into the pipe and
  the socket came out exactly once (as a multiset).

CI runs the ``ci`` profile (conftest.py); ``HYPOTHESIS_PROFILE=long`` runs many more
examples (see RELIABILITY.md).
"""

from __future__ import annotations

import array
import errno
import functools
import os
import select
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

import uring_rs
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from uring_rs import Cqe, IoUringError, Ring, UringError, ops

DATA = bytes(i % 251 for i in range(65536))
BAD_FD = 1_000_000  # fits a C int, never open here
SENTINEL = 0xEE
# Bytes that may be in a pipe or socket at once, kept below their capacity so a
# write never blocks (it would then only finish by cancellation).
CHANNEL_CAP = 48 * 1024
CANCELLED = (-errno.ECANCELED, -errno.EINTR)
ARG_ERRORS = (TypeError, ValueError, OverflowError, BufferError)

Buf = Union[bytearray, memoryview, "array.array[int]"]


def make_buf(kind: int, n: int) -> Buf:
    """A writable buffer of n bytes filled with SENTINEL, of one of three kinds."""
    if kind == 0:
        return bytearray([SENTINEL]) * n
    if kind == 1:
        # A slice in the middle of a bigger bytearray: the op must see only the slice.
        return memoryview(bytearray([SENTINEL]) * (n + 16))[8 : 8 + n]
    return array.array("B", [SENTINEL]) * n


def fill(buf: Buf, data: bytes) -> None:
    memoryview(buf)[:] = data


@dataclass
class Expect:
    """One queued op: what its final completion may carry and how to check it."""

    seq: int
    ud: int
    what: str
    accept: Callable[[int], bool]
    sure: bool  # completes without outside help (no data, no expiry needed)
    check: Callable[[int], None] | None = None
    buf: Buf | None = None
    base_refs: int = 0
    multishot: bool = False
    submitted: bool = False
    cancel_requested: bool = False
    fixed_file: bool = False
    fixed_buf: bool = False
    files_epoch: int = 0
    bufs_epoch: int = 0
    must_fail_with: int | None = None
    cancels: int | None = None  # for a cancel-like op: the target's ud
    cancel_all: bool = False
    busy_index: int | None = None


@dataclass
class Channel:
    """A pipe or a socketpair: what went in, what came out."""

    rfd: int
    wfd: int
    closers: list[Callable[[], None]] = field(default_factory=list)
    queued_bytes: int = 0  # written (or queued to be) minus read back
    written: Counter[int] = field(default_factory=Counter)
    read: Counter[int] = field(default_factory=Counter)

    def close(self) -> None:
        for c in self.closers:
            c()


def new_pipe() -> Channel:
    r, w = os.pipe()
    return Channel(r, w, [lambda: os.close(r), lambda: os.close(w)])


def new_socketpair() -> Channel:
    a, b = socket.socketpair()
    return Channel(b.fileno(), a.fileno(), [a.close, b.close])


def bufof(exp: Expect) -> Buf:
    assert exp.buf is not None
    return exp.buf


def triples(cqes: list[Cqe]) -> list[tuple[int, int, int]]:
    return [(c.user_data, c.res, c.flags) for c in cqes]


def refcounts(objs: list[bytearray]) -> list[int]:
    """Reference counts of the list's items, each held once by the list (no loop
    variable, no zip tuple: either would count once more)."""
    return [sys.getrefcount(objs[i]) for i in range(len(objs))]


def is_full(exc: BaseException) -> bool:
    return isinstance(exc, UringError) and exc.kind is IoUringError.SUBMISSION_QUEUE_FULL


user_data_high = st.sampled_from([0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]) | st.integers(
    0, 0xFFFF_FFFF
)
nop_user_data = st.sampled_from([0, 1, 2**63, 2**64 - 1])
buf_kinds = st.integers(0, 2)


class RingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="uring_fuzz_")
        self.data_path = os.path.join(self.tmp, "data.bin")
        with open(self.data_path, "wb") as f:
            f.write(DATA)
        self.data_fd = os.open(self.data_path, os.O_RDONLY)
        self.pos_fd = os.open(self.data_path, os.O_RDONLY)  # for offset -1 reads
        self.out_fd = os.open(os.path.join(self.tmp, "out.bin"), os.O_RDWR | os.O_CREAT)
        self.out_off = 0
        self.ring: Ring | None = None
        self.entries = 8
        self.cq_entries: int | None = None
        self.pending: dict[int, Expect] = {}
        self.seq = 0
        self.counter = 1000
        self.pipe = new_pipe()
        self.sock = new_socketpair()
        self.files_registered = False
        self.files_epoch = 0
        self.reg_bufs: list[bytearray] | None = None
        self.reg_bufs_base: list[int] = []
        self.bufs_epoch = 0
        self.busy: set[int] = set()
        self.confirmed_cancel: set[int] = set()
        self.final_res: dict[int, int] = {}
        self.peeked: int | None = None

    # ------------------------------------------------------------ helpers

    @property
    def r(self) -> Ring:
        assert self.ring is not None
        return self.ring

    def unsubmitted(self) -> int:
        return sum(1 for e in self.pending.values() if not e.submitted)

    def new_ud(self, high: int) -> int:
        self.counter += 1
        return (high << 32) | self.counter

    def queue(self, exp: Expect, call: Callable[[], object]) -> bool:
        """Queues through `call`; checks that a full SQ raises and queues nothing."""
        r = self.r
        before = (r.sq_ready(), r.in_flight)
        full = self.unsubmitted() >= r.sq_entries
        if exp.buf is not None:
            exp.base_refs = sys.getrefcount(exp.buf)
        try:
            call()
        except UringError as e:
            assert full and is_full(e), f"{exp.what}: unexpected {e!r}"
            assert "submit()" in str(e), str(e)
            assert (r.sq_ready(), r.in_flight) == before
            if exp.buf is not None:
                refs = sys.getrefcount(exp.buf)  # (outside the assert, which would hold one more)
                assert refs == exp.base_refs, "refused op kept its buffer"
            return False
        assert not full, f"{exp.what}: queued into a full SQ"
        self.seq += 1
        exp.seq = self.seq
        exp.files_epoch = self.files_epoch
        exp.bufs_epoch = self.bufs_epoch
        self.pending[exp.seq] = exp
        return True

    def mark_cancel(self, target: int) -> None:
        for e in self.pending.values():
            if e.ud == target:
                e.cancel_requested = True

    def consume(self, cqes: list[tuple[int, int, int]]) -> None:
        for ud, res, flags in cqes:
            cands = [e for e in self.pending.values() if e.ud == ud and e.submitted]
            assert cands, f"completion ({ud}, {res}, {flags:#x}) matches no op in flight"
            exp = cands[0]
            more = bool(flags & uring_rs.IORING_CQE_F_MORE)
            if more:
                assert exp.multishot, f"{exp.what}: F_MORE on a single-shot op"
                assert res > 0, f"{exp.what}: multishot poll gave {res}"
                continue
            self.finish(exp, res)

    def finish(self, exp: Expect, res: int) -> None:
        del self.pending[exp.seq]
        if exp.busy_index is not None:
            self.busy.discard(exp.busy_index)
        what = f"{exp.what} (ud={exp.ud})"
        if exp.must_fail_with is not None:
            assert res == -exp.must_fail_with, f"{what}: res {res}, expected -{exp.must_fail_with}"
        elif exp.cancel_requested and res in CANCELLED:
            pass
        elif exp.fixed_file and exp.files_epoch != self.files_epoch and res == -errno.EBADF:
            pass  # files unregistered while it was in flight
        elif exp.fixed_buf and exp.bufs_epoch != self.bufs_epoch and res == -errno.EFAULT:
            pass  # buffers unregistered while it was in flight
        else:
            assert exp.accept(res), f"{what}: unexpected res {res}"
            if exp.check is not None:
                exp.check(res)
        if exp.ud in self.confirmed_cancel:
            assert res in CANCELLED, f"{what}: cancelled (confirmed) but res {res}"
        self.final_res[exp.ud] = res
        if exp.cancels is not None:
            hit = res >= 1 if exp.cancel_all else res == 0
            if hit:
                self.confirmed_cancel.add(exp.cancels)
                done = self.final_res.get(exp.cancels)
                if done is not None:
                    assert done in CANCELLED, f"{what} confirmed, but target had res {done}"
        if exp.buf is not None:
            refs = sys.getrefcount(exp.buf)
            assert refs == exp.base_refs, f"{what}: buffer refcount {refs} != {exp.base_refs}"

    @staticmethod
    def check_released(exps: list[Expect]) -> None:
        for exp in exps:
            if exp.buf is not None:
                refs = sys.getrefcount(exp.buf)
                assert refs == exp.base_refs, f"{exp.what}: buffer kept after close"

    def mark_submitted(self) -> None:
        for e in self.pending.values():
            if not e.submitted:
                e.submitted = True
                if e.fixed_file and not self.files_registered:
                    e.must_fail_with = errno.EBADF
                if e.fixed_buf and (self.reg_bufs is None or e.bufs_epoch != self.bufs_epoch):
                    e.must_fail_with = errno.EFAULT

    def sure_pending(self, submitted_only: bool) -> bool:
        return any(e.sure and (e.submitted or not submitted_only) for e in self.pending.values())

    def close_strays(self) -> None:
        """Closes fds to the data file that ops opened (openat) or were given (close)
        and that no completion reported, because a close of the ring reaped them."""
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd in (self.data_fd, self.pos_fd):
                continue
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == self.data_path:
                    os.close(fd)
            except OSError:
                pass

    def channel_room(self, ch: Channel, n: int) -> bool:
        return ch.queued_bytes + n <= CHANNEL_CAP

    # -------------------------------------------------------------- setup

    @initialize(
        entries=st.sampled_from([1, 2, 4, 8, 32]),
        cq=st.sampled_from([None, 1, 4]),
    )
    def open_ring(self, entries: int, cq: int | None) -> None:
        self.entries = entries
        self.cq_entries = None if cq is None else max(entries * cq, 2)
        self.ring = Ring(entries, cq_entries=self.cq_entries)

    # --------------------------------------------------------- queue: ops

    @rule(ud=nop_user_data)
    def nop(self, ud: int) -> None:
        exp = Expect(0, ud, "nop", lambda res: res == 0, sure=True)
        self.queue(exp, lambda: ops.nop(self.r, ud))

    @rule(
        high=user_data_high,
        off=st.integers(0, len(DATA) + 100),
        n=st.integers(0, 5000),
        kind=buf_kinds,
        asynch=st.booleans(),
    )
    def read_file(self, high: int, off: int, n: int, kind: int, asynch: bool) -> None:
        ud = self.new_ud(high)
        want = max(0, min(n, len(DATA) - off))

        def check(res: int) -> None:
            b = bytes(bufof(exp))
            assert b[:res] == DATA[off : off + res], "read_file: wrong bytes"
            assert b[res:] == bytes([SENTINEL]) * (n - res), "read_file: wrote past res"

        exp = Expect(0, ud, "read_file", lambda res: res == want, True, check, make_buf(kind, n))

        def call() -> None:
            sqe = ops.read(self.r, ud, self.data_fd, bufof(exp), off)
            if asynch:
                sqe.flags = uring_rs.IOSQE_ASYNC

        self.queue(exp, call)

    @rule(high=user_data_high, n=st.integers(1, 300))
    def read_file_current_position(self, high: int, n: int) -> None:
        ud = self.new_ud(high)

        def check(res: int) -> None:
            b = bytes(bufof(exp))
            got = b[:res]
            # Some run of the file: consecutive bytes of the i % 251 pattern.
            assert all((got[i] + 1) % 251 == got[i + 1] for i in range(len(got) - 1)), got
            assert b[res:] == bytes([SENTINEL]) * (n - res)

        exp = Expect(0, ud, "read_pos", lambda res: 0 <= res <= n, True, check, make_buf(0, n))
        self.queue(exp, lambda: ops.read(self.r, ud, self.pos_fd, bufof(exp), -1))

    @rule(high=user_data_high, data=st.binary(max_size=3000), kind=buf_kinds)
    def write_file(self, high: int, data: bytes, kind: int) -> None:
        ud = self.new_ud(high)
        off = self.out_off
        self.out_off += len(data) + 7

        def check(res: int) -> None:
            assert os.pread(self.out_fd, len(data), off) == data, "write_file: file differs"

        exp = Expect(
            0,
            ud,
            "write_file",
            lambda res: res == len(data),
            True,
            check,
            make_buf(kind, len(data)),
        )
        assert exp.buf is not None
        fill(exp.buf, data)
        self.queue(exp, lambda: ops.write(self.r, ud, self.out_fd, bufof(exp), off))

    @rule(high=user_data_high, fd=st.sampled_from([BAD_FD, -1]), write=st.booleans())
    def rw_bad_fd(self, high: int, fd: int, write: bool) -> None:
        ud = self.new_ud(high)
        exp = Expect(0, ud, "rw_bad_fd", lambda res: res == -errno.EBADF, True, buf=bytearray(8))
        fn = ops.write if write else ops.read
        self.queue(exp, lambda: fn(self.r, ud, fd, bufof(exp), 0))

    @rule(high=user_data_high, data=st.binary(min_size=1, max_size=2048), sock=st.booleans())
    def channel_write(self, high: int, data: bytes, sock: bool) -> None:
        ch = self.sock if sock else self.pipe
        if not self.channel_room(ch, len(data)):
            return
        ud = self.new_ud(high)

        def check(res: int) -> None:
            ch.written.update(data[:res])
            ch.queued_bytes -= len(data) - res

        exp = Expect(
            0,
            ud,
            "send" if sock else "pipe_write",
            lambda res: res == len(data),
            True,
            check,
            bytearray(data),
        )
        if sock:
            ok = self.queue(exp, lambda: ops.send(self.r, ud, ch.wfd, bufof(exp)))
        else:
            ok = self.queue(exp, lambda: ops.write(self.r, ud, ch.wfd, bufof(exp), -1))
        if ok:
            ch.queued_bytes += len(data)

    @rule(
        high=user_data_high,
        n=st.integers(1, 4096),
        sock=st.booleans(),
        dontwait=st.booleans(),
        kind=buf_kinds,
    )
    def channel_read(self, high: int, n: int, sock: bool, dontwait: bool, kind: int) -> None:
        ch = self.sock if sock else self.pipe
        ud = self.new_ud(high)
        dontwait = dontwait and sock

        def accept(res: int) -> bool:
            return 0 < res <= n or (dontwait and res == -errno.EAGAIN)

        def check(res: int) -> None:
            b = bytes(bufof(exp))
            if res > 0:
                ch.read.update(b[:res])
                ch.queued_bytes -= res
            assert b[max(res, 0) :] == bytes([SENTINEL]) * (n - max(res, 0)), "wrote past res"

        exp = Expect(
            0, ud, "recv" if sock else "pipe_read", accept, dontwait, check, make_buf(kind, n)
        )
        if sock:
            flags = socket.MSG_DONTWAIT if dontwait else 0
            self.queue(exp, lambda: ops.recv(self.r, ud, ch.rfd, bufof(exp), flags))
        else:
            self.queue(exp, lambda: ops.read(self.r, ud, ch.rfd, bufof(exp), -1))

    @rule(high=user_data_high, seconds=st.sampled_from([0, 0.0, 0.001, 1000, 1000.5]))
    def timeout(self, high: int, seconds: float) -> None:
        ud = self.new_ud(high)
        exp = Expect(0, ud, "timeout", lambda res: res == -errno.ETIME, seconds < 1)
        self.queue(exp, lambda: ops.timeout(self.r, ud, seconds))

    @rule(high=user_data_high, multi=st.booleans())
    def poll_add(self, high: int, multi: bool) -> None:
        ud = self.new_ud(high)
        flags = uring_rs.IORING_POLL_ADD_MULTI if multi else 0
        exp = Expect(0, ud, "poll_add", lambda res: res > 0 and bool(res & select.POLLIN), False)
        exp.multishot = multi
        self.queue(exp, lambda: ops.poll_add(self.r, ud, self.sock.rfd, select.POLLIN, flags))

    def targets(self) -> list[int]:
        return sorted({e.ud for e in self.pending.values()})

    # Draws never depend on what the kernel has completed so far (which varies from
    # run to run): a rule picks among live ops by an index drawn up front, modulo.
    @rule(
        high=user_data_high,
        pick=st.none() | st.integers(0, 2**16),
        other=st.integers(0, 2**64 - 1),
        kind=st.sampled_from(["cancel", "all", "poll", "timeout"]),
    )
    def cancel_like(self, high: int, pick: int | None, other: int, kind: str) -> None:
        known = self.targets()
        target = known[pick % len(known)] if known and pick is not None else other
        ud = self.new_ud(high)
        if kind in ("cancel", "all"):
            every = kind == "all"
            hits = [e for e in self.pending.values() if e.ud == target]
            n = max(len(hits), 1) if every else 1

            def accept_c(res: int) -> bool:
                return res >= 0 if every else res in (0, -errno.ENOENT, -errno.EALREADY)

            flags = uring_rs.IORING_ASYNC_CANCEL_ALL if every else 0
            r = self.r
            before = (r.sq_ready(), r.in_flight)
            full = self.unsubmitted() + n > r.sq_entries
            try:
                ops.cancel(r, ud, target, flags)
            except UringError as e:
                assert full and is_full(e), repr(e)
                assert (r.sq_ready(), r.in_flight) == before
                return
            assert not full
            unique = len(hits) == 1
            for _ in range(n):
                exp = Expect(
                    0,
                    ud,
                    kind,
                    accept_c,
                    True,
                    cancels=target if unique else None,
                    cancel_all=every,
                )
                self.seq += 1
                exp.seq = self.seq
                self.pending[exp.seq] = exp
            self.mark_cancel(target)
            return
        opcode_ok = "poll_add" if kind == "poll" else "timeout"
        hits = [e for e in self.pending.values() if e.ud == target and e.what == opcode_ok]
        exp = Expect(
            0,
            ud,
            f"{kind}_remove",
            lambda res: res in (0, -errno.ENOENT, -errno.EALREADY, -errno.EBUSY),
            True,
            cancels=target if len(hits) == 1 else None,
        )
        fn = (
            (lambda: ops.poll_remove(self.r, ud, target))
            if kind == "poll"
            else (lambda: ops.timeout_remove(self.r, ud, target))
        )
        if self.queue(exp, fn) and hits:
            for h in hits:
                h.cancel_requested = True

    @rule(high=user_data_high, exists=st.booleans())
    def openat(self, high: int, exists: bool) -> None:
        ud = self.new_ud(high)
        path = self.data_path if exists else os.path.join(self.tmp, "missing")

        def accept(res: int) -> bool:
            return res >= 0 if exists else res == -errno.ENOENT

        def check(res: int) -> None:
            if res >= 0:
                os.close(res)

        exp = Expect(0, ud, "openat", accept, True, check)
        self.queue(exp, lambda: ops.openat(self.r, ud, uring_rs.AT_FDCWD, path, os.O_RDONLY))

    @rule(high=user_data_high)
    def close_op(self, high: int) -> None:
        ud = self.new_ud(high)
        fd = os.dup(self.data_fd)
        exp = Expect(0, ud, "close", lambda res: res == 0, True)
        if not self.queue(exp, lambda: ops.close(self.r, ud, fd)):
            os.close(fd)

    # --------------------------------------------------------- registration

    @rule()
    def register_files(self) -> None:
        fds = [self.data_fd, self.pipe.rfd, self.out_fd]
        if self.files_registered:
            try:
                self.r.register_files(fds)
            except UringError as e:
                assert "unregister" in str(e), str(e)
            else:
                raise AssertionError("register_files twice succeeded")
        else:
            self.r.register_files(fds)
            self.files_registered = True

    @rule()
    def unregister_files(self) -> None:
        if not self.files_registered:
            try:
                self.r.unregister_files()
            except UringError:
                pass
            else:
                raise AssertionError("unregister_files with none registered succeeded")
        else:
            self.r.unregister_files()
            self.files_registered = False
            self.files_epoch += 1

    @precondition(lambda self: self.files_registered)
    @rule(high=user_data_high, off=st.integers(0, len(DATA)), n=st.integers(1, 2000))
    def read_fixed_file(self, high: int, off: int, n: int) -> None:
        ud = self.new_ud(high)
        want = max(0, min(n, len(DATA) - off))

        def check(res: int) -> None:
            assert bytes(bufof(exp))[:res] == DATA[off : off + res]

        exp = Expect(0, ud, "read_fixed_file", lambda res: res == want, True, check, bytearray(n))
        exp.fixed_file = True

        def call() -> None:
            sqe = ops.read(self.r, ud, 0, bufof(exp), off)
            sqe.flags = uring_rs.IOSQE_FIXED_FILE

        self.queue(exp, call)

    @rule(sizes=st.lists(st.integers(1, 8192), min_size=1, max_size=4))
    def register_buffers(self, sizes: list[int]) -> None:
        bufs = [bytearray(n) for n in sizes]
        if self.reg_bufs is not None:
            try:
                self.r.register_buffers(bufs)
            except UringError as e:
                assert "unregister_buffers()" in str(e), str(e)
            else:
                raise AssertionError("register_buffers twice succeeded")
            return
        base = refcounts(bufs)
        self.r.register_buffers(bufs)
        held = refcounts(bufs)
        assert all(h > n for h, n in zip(held, base)), "register_buffers must keep its buffers"
        self.reg_bufs = bufs
        self.reg_bufs_base = base

    @rule()
    def unregister_buffers(self) -> None:
        if self.reg_bufs is None:
            try:
                self.r.unregister_buffers()
            except UringError:
                pass
            else:
                raise AssertionError("unregister_buffers with none registered succeeded")
            return
        bufs, base = self.reg_bufs, self.reg_bufs_base
        self.r.unregister_buffers()
        self.reg_bufs = None
        self.bufs_epoch += 1
        # The ring lets go of them (an op in flight holds its own pin).
        now = refcounts(bufs)
        for i, b in enumerate(bufs):
            if id(b) not in self.busy:
                assert now[i] == base[i], "unregistered buffer still referenced"

    @precondition(lambda self: self.reg_bufs is not None)
    @rule(
        high=user_data_high,
        pick=st.integers(0, 3),
        boff=st.integers(0, 2**16),
        n=st.integers(0, 2**16),
        off=st.integers(0, len(DATA)),
        payload_seed=st.binary(min_size=1, max_size=64),
        write=st.booleans(),
    )
    def rw_fixed(
        self, high: int, pick: int, boff: int, n: int, off: int, payload_seed: bytes, write: bool
    ) -> None:
        assert self.reg_bufs is not None
        free = [i for i, b in enumerate(self.reg_bufs) if id(b) not in self.busy]
        if not free:
            return
        index = free[pick % len(free)]
        buf = self.reg_bufs[index]
        boff %= len(buf)
        n %= len(buf) - boff + 1
        ud = self.new_ud(high)
        if write:
            payload = (payload_seed * (n // len(payload_seed) + 1))[:n]
            buf[boff : boff + n] = payload
            off = self.out_off
            self.out_off += n + 3

            def check_w(res: int) -> None:
                assert os.pread(self.out_fd, n, off) == payload

            exp = Expect(0, ud, "write_fixed", lambda res: res == n, True, check_w)
            call: Callable[[], object] = functools.partial(
                ops.write_fixed, self.r, ud, self.out_fd, index, off, n, boff
            )
        else:
            want = max(0, min(n, len(DATA) - off))
            buf[boff : boff + n] = bytes([SENTINEL]) * n

            def check_r(res: int) -> None:
                assert buf[boff : boff + res] == DATA[off : off + res]
                assert buf[boff + res : boff + n] == bytes([SENTINEL]) * (n - res)

            exp = Expect(0, ud, "read_fixed", lambda res: res == want, True, check_r)
            call = functools.partial(ops.read_fixed, self.r, ud, self.data_fd, index, off, n, boff)
        exp.fixed_buf = True
        exp.busy_index = id(buf)
        if self.queue(exp, call):
            self.busy.add(id(buf))

    # ------------------------------------------------------- invalid calls

    @rule(which=st.integers(0, 13), high=user_data_high)
    def invalid_call(self, which: int, high: int) -> None:
        r = self.r
        ud = self.new_ud(high)
        ro = b"read-only bytes"
        calls: list[Callable[[], object]] = [
            lambda: ops.read(r, ud, self.data_fd, ro, 0),  # read into read-only memory
            lambda: ops.read(r, ud, self.data_fd, memoryview(bytearray(64))[::2], 0),  # strided
            lambda: ops.read(r, -1, self.data_fd, bytearray(4), 0),
            lambda: ops.nop(r, 2**64),
            lambda: ops.read(r, ud, "not an fd", bytearray(4), 0),  # type: ignore[arg-type]
            lambda: ops.read(r, ud, self.data_fd, bytearray(4), -2),
            lambda: ops.write(r, ud, self.out_fd, b"x", 2**63),
            lambda: ops.timeout(r, ud, -1),
            lambda: ops.timeout(r, ud, float("nan")),
            lambda: ops.openat(r, ud, uring_rs.AT_FDCWD, "a\0b"),
            lambda: ops.poll_add(r, ud, self.sock.rfd, -1),
            lambda: r.cq_advance(2**31),
            lambda: r.copy_cqes(max=-1),
            lambda: ops.recv(r, ud, self.sock.rfd, None),  # type: ignore[arg-type]
        ]
        before = (r.sq_ready(), r.in_flight)
        try:
            calls[which]()
        except ARG_ERRORS as e:
            assert str(e), f"call {which}: empty message"
        else:
            raise AssertionError(f"invalid call {which} did not raise")
        assert (r.sq_ready(), r.in_flight) == before, f"invalid call {which} changed the ring"

    # ------------------------------------------------------ submit and reap

    @rule()
    def submit(self) -> None:
        n = self.unsubmitted()
        got = self.r.submit()
        assert got == n, f"submit returned {got}, {n} were queued"
        self.mark_submitted()

    @rule()
    def submit_and_wait(self) -> None:
        if not self.sure_pending(submitted_only=False):
            return  # it could wait forever
        n = self.unsubmitted()
        got = self.r.submit(wait_nr=1)
        assert got == n
        self.mark_submitted()
        assert self.r.cq_ready() >= 1 or self.r.cq_ring_needs_flush()

    @rule(max=st.none() | st.integers(0, 5))
    def copy_cqes(self, max: int | None) -> None:
        cqes = self.r.copy_cqes(max=max)
        if max is not None:
            assert len(cqes) <= max
        self.consume(triples(cqes))

    @rule(timeout=st.sampled_from([0.0, 0.005, 0.02]))
    def copy_cqes_wait(self, timeout: float) -> None:
        t0 = time.monotonic()
        cqes = self.r.copy_cqes(wait_nr=1, timeout=timeout)
        assert time.monotonic() - t0 < timeout + 1.0
        self.consume(triples(cqes))

    @rule()
    def copy_cqe(self) -> None:
        if not self.sure_pending(submitted_only=True):
            return  # it could wait forever
        c = self.r.copy_cqe()
        self.consume(triples([c]))

    @rule(cap=st.integers(1, 8), with_flags=st.booleans())
    def copy_cqes_into(self, cap: int, with_flags: bool) -> None:
        # Without flags the model could not tell a multishot's F_MORE completions.
        with_flags = with_flags or any(e.multishot for e in self.pending.values())
        uds = array.array("Q", [0]) * cap
        res = array.array("i", [0]) * cap
        flg = array.array("I", [0]) * cap
        n = self.r.copy_cqes_into(uds, res, flg if with_flags else None)
        assert 0 <= n <= cap
        self.consume([(uds[i], res[i], flg[i] if with_flags else 0) for i in range(n)])

    @rule(max=st.none() | st.integers(0, 5), k=st.integers(0, 5), seen=st.booleans())
    def peek_then_advance(self, max: int | None, k: int, seen: bool) -> None:
        r = self.r
        peeked = r.peek_cqes(max)
        again = r.peek_cqes(max)
        assert again[: len(peeked)] == peeked[: len(again)], "peek consumed something"
        k = min(k, len(peeked))
        if k == 1 and seen:
            r.cqe_seen()
        else:
            r.cq_advance(k)
        self.consume(triples(peeked[:k]))

    # --------------------------------------------------------------- close

    @rule()
    def close_and_reopen(self) -> None:
        """Closing with ops in flight drains them and lets go of every buffer."""
        r = self.r
        t0 = time.monotonic()
        r.close()
        assert time.monotonic() - t0 < 6.0, "close took longer than its grace period"
        assert r.closed
        for bad in (lambda: r.in_flight, r.submit, r.copy_cqes, lambda: ops.nop(r, 1)):
            try:
                bad()
            except ValueError as e:
                assert "closed" in str(e)
            else:
                raise AssertionError("a closed ring accepted a call")
        r.close()  # idempotent
        self.check_released(list(self.pending.values()))
        self.pending.clear()  # (their checks may refer to registered buffers)
        if self.reg_bufs is not None:
            now = refcounts(self.reg_bufs)
            assert now == self.reg_bufs_base, "registered buffer kept after close"
        # Ops that were in flight are gone with the ring; so are the channels'
        # accounts (a read may have completed unseen during close).
        self.pending.clear()
        self.close_strays()
        self.busy.clear()
        self.reg_bufs = None
        self.files_registered = False
        self.pipe.close()
        self.sock.close()
        self.pipe = new_pipe()
        self.sock = new_socketpair()
        self.ring = Ring(self.entries, cq_entries=self.cq_entries)

    # ----------------------------------------------------------- invariants

    @invariant()
    def counts_match_the_model(self) -> None:
        if self.ring is None:
            return
        assert self.r.in_flight == len(self.pending), (self.r.in_flight, len(self.pending))
        assert self.r.sq_ready() == self.unsubmitted()

    def teardown(self) -> None:
        try:
            if self.ring is not None and not self.r.closed:
                self.drain_everything()
        finally:
            if self.ring is not None:
                self.r.close()
            self.pipe.close()
            self.sock.close()
            self.close_strays()
            for fd in (self.data_fd, self.pos_fd, self.out_fd):
                os.close(fd)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def drain_everything(self) -> None:
        """Cancels what is left, reaps until nothing is in flight, then accounts for every byte."""
        r = self.r
        if self.unsubmitted() >= r.sq_entries:
            self.submit()
        ud = self.new_ud(0)
        ops.cancel(r, ud, 0, uring_rs.IORING_ASYNC_CANCEL_ANY)
        self.seq += 1
        self.pending[self.seq] = Expect(self.seq, ud, "cancel_any", lambda res: res >= 0, True)
        for e in self.pending.values():
            e.cancel_requested = True
        self.submit()
        deadline = time.monotonic() + 10
        while self.pending and time.monotonic() < deadline:
            self.consume(triples(r.copy_cqes(wait_nr=1, timeout=0.5)))
        assert not self.pending, f"lost completions: {[e.what for e in self.pending.values()]}"
        assert r.in_flight == 0
        assert r.copy_cqes() == [], "a completion after everything was accounted for"
        if self.reg_bufs is not None:
            self.unregister_buffers()
        for ch in (self.pipe, self.sock):
            os.set_blocking(ch.rfd, False)
            while True:
                try:
                    chunk = os.read(ch.rfd, 65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                ch.read.update(chunk)
            assert ch.read == ch.written, "bytes lost or duplicated in a channel"


TestRingMachine = RingMachine.TestCase
