"""The bridge between an asyncio loop and an io_uring ring: ``AioRing`` and ``get_ring``.

Owns: the loop-bound ring (``AioRing``: lazy batched submission, eventfd reaping,
per-op futures, cancellation, close), the per-loop registry with its ``loop.close``
hook and ``atexit`` cleanup, ``get_ring()``, and the small helpers the other aio
modules share (``_raise_for``, ``_close_quietly``, the typing aliases).
May not touch: file objects or socket conveniences beyond the ring's own methods; it
is the bottom of ``uring_rs.aio`` and imports nothing else from the package (the
files and sockets modules import it, never the reverse).

An :class:`AioRing` is a :class:`uring_rs.Ring` bound to a running asyncio loop:

- **Submission is lazy and batched.** An op queues its SQE at once and schedules one
  ``submit()`` with ``loop.call_soon``: every op queued during one loop iteration goes to
  the kernel in a single ``io_uring_enter``. A full SQ is submitted on the spot and the op
  queued again.
- **Completions come back through an eventfd** registered with the ring
  (``Ring.register_eventfd``) and watched with ``loop.add_reader``. On a wakeup the eventfd
  is drained *first*, then the CQ is drained completely (``copy_cqes()`` until it returns
  nothing, which also flushes a CQ that overflowed into the kernel's backlog), and
  ``cq_ready()`` is checked once more before going back to sleep: a completion posted after
  the eventfd read signals the eventfd again, so no wakeup is lost.
- **On a uring_rs.Loop there is no eventfd and no ring of its own**: the ring is a relay
  (``LoopCore._relay_ring``, a ``Ring`` over private memory) whose SQEs the loop moves
  into its own ring and submits with its own in its one ``io_uring_enter`` per iteration;
  their completions come back as batches to ``_deliver`` from the loop's ready queue. An
  ``AioRing`` given setup ``flags`` keeps a ring of its own there too.
- **Each op is awaited through a Future** keyed by a user_data the ring allocates (unique
  per ring). Cancelling the awaiting task queues ``ops.cancel`` for that op and submits it
  at once; the op's buffer stays alive in the core until its final completion. A cancelled
  ``openat``/``accept`` whose completion still produced a descriptor closes it.

``get_ring()`` returns the running loop's shared ring, created on first use and closed when
the loop is closed: the first ring bound to a loop replaces that loop's ``close`` with a
wrapper (an instance attribute, removed again when it runs) that closes every ``AioRing``
bound to the loop and then calls the original ``close``. Loops whose ``close`` cannot be
replaced (extension types without an instance ``__dict__``) have their rings closed by the
next ``get_ring()`` call that finds the loop closed, or at interpreter exit.

Rings are not thread-safe at this level: use an ``AioRing`` only from its loop's thread.

After ``fork()`` the child shares the parent's eventfd and, through its copy of the loop,
the parent's epoll instance. Every ring and registry entry records the pid that made it;
in any other process it is dropped without being touched (no ``remove_reader``, no read of
the eventfd, no cancels): a child's exit, or its copy of the loop closing, leaves the
parent's loop registration as it was. Using a parent's ring in the child raises
``RuntimeError``; a new loop in the child gets rings of its own.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import itertools
import math
import os
import socket
import time
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Union

from uring_rs import _native
from uring_rs._errors import IoUringError, UringError
from uring_rs._native import AT_FDCWD, IOSQE_IO_HARDLINK, IOSQE_IO_LINK, Ring, Sqe

if TYPE_CHECKING:
    from typing import Protocol

    from typing_extensions import Buffer, Self

    class _HasFileno(Protocol):
        def fileno(self) -> int: ...

    # typing-only (private, so stubtest does not look for them at runtime)
    _Fd = Union[int, _HasFileno]
    _StrOrBytesPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
    _FileDescriptorOrPath = Union[int, _StrOrBytesPath]
    _Address = Union[tuple[str, int], tuple[str, int, int, int], str, bytes, tuple[Any, ...]]

__all__ = ["AioRing", "get_ring"]


def _sock_fd(sock: Any) -> int:
    """``sock``'s descriptor, checked as the socket methods name it (an int, or an object with
    ``fileno()``)."""
    if isinstance(sock, int) and not isinstance(sock, bool):
        return sock
    fileno = getattr(sock, "fileno", None)
    if fileno is None:
        raise TypeError(
            f"sock must be a socket, an int or an object with fileno(), got {type(sock).__name__}"
        )
    fd = fileno()
    if not isinstance(fd, int):
        raise TypeError(f"sock.fileno() must return an int, got {fd!r}")
    return fd


ops = _native  # the op functions (uring_rs.ops re-exports them)
_AT_SYMLINK_NOFOLLOW = 0x100
_AT_EMPTY_PATH = 0x1000
_STATX_BASIC_STATS = 0x7FF

_SQ_FULL = IoUringError.SUBMISSION_QUEUE_FULL
#: user_data of internal fire-and-forget ops (cancels, closes); never allocated to an op.
_IGNORED = 0
#: How long a synchronous ``close()`` waits for cancelled ops to report their completions.
_CLOSE_WAIT = 2.0
_MSG_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
#: SQ entries an op with a linked timeout takes; an AioRing must have room for both.
_LINKED_PAIR = 2
#: Timeouts from this many seconds on (about 31 million years) are no timeout at all (a
#: kernel timespec holds at most 2**63 ns).
_NO_TIMEOUT = 1e15


# The pid, for the hot paths' fork check (a syscall per op would cost): refreshed in a
# child by the interpreter's at-fork hook. Teardown (_shutdown, aclose) and binding ask
# the kernel (os.getpid), so even a fork that bypasses os.fork() cannot make a child
# remove the parent's loop registration.
_PID = [os.getpid()]


def _refresh_pid() -> None:
    _PID[0] = os.getpid()


os.register_at_fork(after_in_child=_refresh_pid)


def _pid_now() -> int:
    return _PID[0]


def _raise_for(res: int, filename: Any = None) -> int:
    """``res`` if it is >= 0, else the ``OSError`` subclass ``os`` raises for ``-res``."""
    if res >= 0:
        return res
    if filename is None:
        raise OSError(-res, os.strerror(-res))
    raise OSError(-res, os.strerror(-res), filename)


def _check_open_path(path: str | bytes) -> None:
    """The built-in ``open``'s check of a path for a null byte, in its words."""
    if (b"\0" if isinstance(path, bytes) else "\0") in path:  # type: ignore[operator]
        raise ValueError("embedded null byte")


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _new_eventfd() -> int:
    """A non-blocking, close-on-exec eventfd (``os.eventfd`` from Python 3.10, else libc)."""
    make = getattr(os, "eventfd", None)
    if make is not None:
        fd: int = make(0, os.O_NONBLOCK | os.O_CLOEXEC)  # EFD_NONBLOCK | EFD_CLOEXEC
        return fd
    import ctypes  # Python 3.9

    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.eventfd(0, os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return int(fd)


# --------------------------------------------------------------------------------------
# Loop binding: one shared ring per loop, every ring closed with its loop.


class _LoopRings:
    __slots__ = ("default", "hooked", "pid", "rings")

    def __init__(self) -> None:
        self.default: AioRing | None = None
        self.rings: weakref.WeakSet[AioRing] = weakref.WeakSet()
        self.hooked = False
        self.pid = os.getpid()  # a forked child must leave the parent's entry alone


# Values hold their loop strongly (through their rings), so an entry lives until the
# loop is closed (the hook pops it) or until a later purge finds the loop closed.
_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopRings] = (
    weakref.WeakKeyDictionary()
)


def _close_rings_of(loop: asyncio.AbstractEventLoop) -> None:
    entry = _loops.pop(loop, None)
    if entry is None:
        return
    rings = list(entry.rings)
    if entry.default is not None and entry.default not in rings:
        rings.append(entry.default)
    entry.default = None
    for r in rings:
        r._shutdown(final=True)


def _hook_close(loop: asyncio.AbstractEventLoop) -> bool:
    """Makes ``loop.close()`` close the loop's rings first. False if it cannot."""
    original = loop.close

    def close() -> None:
        try:
            _close_rings_of(loop)
        finally:
            with contextlib.suppress(AttributeError):
                del loop.close
            original()

    try:
        loop.close = close  # type: ignore[method-assign]
    except (AttributeError, TypeError):
        return False
    return True


def _purge_closed_loops() -> None:
    for loop in [lp for lp in list(_loops.keys()) if lp.is_closed()]:
        _close_rings_of(loop)


@atexit.register
def _close_all_at_exit() -> None:
    for loop in list(_loops.keys()):
        _close_rings_of(loop)


def _refuse_inherited(loop: asyncio.AbstractEventLoop) -> None:
    """Raises in a forked child running a loop whose rings belong to the parent.

    The child's copy of such a loop shares its epoll instance with the parent's: a
    reader added or removed here would change the parent's registrations.
    """
    entry = _loops.get(loop)
    if entry is not None and entry.pid != os.getpid():
        raise RuntimeError(
            "this event loop was inherited from the parent process through fork(), and "
            "its epoll instance is still shared with the parent: uring_rs.aio cannot bind "
            "a ring to it; run a new loop in the child (asyncio.run)"
        )


def _attach(loop: asyncio.AbstractEventLoop, ring: AioRing) -> _LoopRings:
    entry = _loops.get(loop)
    if entry is None:
        _purge_closed_loops()
        entry = _LoopRings()
        _loops[loop] = entry
        entry.hooked = _hook_close(loop)
    entry.rings.add(ring)
    return entry


def get_ring() -> AioRing:
    """The running loop's shared ``AioRing``: created on first use, closed with the loop."""
    loop = asyncio.get_running_loop()
    entry = _loops.get(loop)
    if entry is not None and entry.default is not None and not entry.default.closed:
        if entry.pid != os.getpid():
            _refuse_inherited(loop)
        return entry.default
    ring = AioRing()
    entry = ring._bind(loop)
    entry.default = ring
    return ring


# --------------------------------------------------------------------------------------
# The ring.


class AioRing:
    """An io_uring ring serving one asyncio loop (see the module docstring).

    ``AioRing(entries=256)`` creates the ring at once; it binds to the running loop on
    first use (or on ``async with``) and may then only be used from that loop. Close it
    with ``close()``, ``await aclose()`` or ``async with``; it is also closed with its loop.
    ``cq_entries`` defaults to four times ``entries``; ``flags`` are ``IORING_SETUP_*``.
    ``entries`` must be at least 2: an op with ``timeout=`` and its linked timeout are
    queued together and reach the kernel in one submit (room is made first).
    """

    def __init__(
        self, entries: int = 256, *, cq_entries: int | None = None, flags: int = 0
    ) -> None:
        if flags & (_native.IORING_SETUP_DEFER_TASKRUN | _native.IORING_SETUP_IOPOLL):
            raise ValueError(
                "AioRing is woken by an eventfd: with IORING_SETUP_DEFER_TASKRUN or "
                "IORING_SETUP_IOPOLL completions are only posted when the ring is entered, "
                "so the eventfd would never fire; leave them out of flags"
            )
        if cq_entries is None:
            cq_entries = max(2 * entries, min(4 * entries, 65536))
        self._ring = Ring(entries, flags, cq_entries=cq_entries)
        if self._ring.sq_entries < _LINKED_PAIR:
            self._ring.close()
            raise ValueError(
                f"AioRing needs entries >= {_LINKED_PAIR}, got entries={entries}: an op "
                "with timeout= goes to the kernel in one submit with its linked timeout, "
                f"{_LINKED_PAIR} SQ entries"
            )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._efd = -1
        # On a uring_rs.Loop: the loop's native core, through which a relay ring's ops go
        # (see _bind); None on other loops.
        self._host: Any = None
        self._flags = flags
        self._entries = entries
        self._ops: dict[int, tuple[asyncio.Future[int], bool]] = {}
        self._ud = itertools.count(1)
        self._submit_scheduled = False
        self._closing = False  # aclose(): ops cancelled by it cancel their awaiting task
        self._closed = False
        # fork(): the child inherits this object, the eventfd and (through the loop) the
        # epoll instance, all shared with the parent. Only this pid may act on them.
        self._pid = os.getpid()
        self._probe: frozenset[int] | None = None

    # ---- state -----------------------------------------------------------------------

    @property
    def ring(self) -> Ring:
        """The underlying ``Ring`` (for diagnostics: ``enter_calls``, ``in_flight``)."""
        return self._ring

    @property
    def closed(self) -> bool:
        """Whether the ring is closed."""
        return self._closed

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop this ring is bound to, or None before first use."""
        return self._loop

    @property
    def pending(self) -> int:
        """Ops whose completion has not been delivered yet."""
        return len(self._ops)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pending={len(self._ops)}"
        return f"<uring_rs.aio.AioRing sq_entries={self._ring.sq_entries} {state}>"

    def _supports(self, opcode: int) -> bool:
        """Whether the kernel has ``opcode`` (probed once per ring)."""
        probe = self._probe
        if probe is None:
            probe = self._probe = frozenset(self._ring.probe())
        return opcode in probe

    def _bind(self, loop: asyncio.AbstractEventLoop) -> _LoopRings:
        _refuse_inherited(loop)
        relay = getattr(loop, "_relay_ring", None)
        if relay is not None and not self._flags and not self._ring.in_flight:
            # A uring_rs.Loop: ops go through the loop's own ring (one submit per
            # iteration with the loop's, completions delivered from its ready queue); the
            # ring made by __init__ was never used.
            ring = relay(self._entries, self._deliver)
            self._ring.close()
            self._ring = ring
            self._host = loop
            self._loop = loop
            return _attach(loop, self)
        efd = _new_eventfd()
        try:
            self._ring.register_eventfd(efd)
            loop.add_reader(efd, self._on_eventfd)
        except BaseException:
            os.close(efd)
            raise
        self._efd = efd
        self._loop = loop
        return _attach(loop, self)

    def _check(self) -> Ring:
        """The ring, bound to the running loop; raises if closed or used from elsewhere."""
        if self._closed:
            raise RuntimeError("this AioRing is closed")
        if self._pid != _PID[0]:  # _pid_now() inlined: every op comes through here
            raise RuntimeError(
                "this AioRing belongs to the parent process (fork()): run a new loop in the "
                "child, where uring_rs.aio.get_ring() gives a ring of its own"
            )
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                raise RuntimeError(
                    "this AioRing is bound to another event loop: use one ring per loop "
                    "(uring_rs.aio.get_ring() gives the running loop's)"
                )
            self._bind(loop)
        return self._ring

    # ---- submission ------------------------------------------------------------------

    def _queue(self, fn: Callable[..., Sqe], *args: Any) -> tuple[int, Sqe]:
        """Queues one SQE with a fresh user_data and schedules the batched submit."""
        ring = self._check()
        ud = next(self._ud)
        try:
            sqe = fn(ring, ud, *args)
        except UringError as e:
            if e.kind is not _SQ_FULL:
                raise
            self._make_room(ring, 1)
            sqe = fn(ring, ud, *args)
        self._schedule_submit()
        return ud, sqe

    async def _reserve(self, n: int) -> Ring:
        """The ring with at least ``n`` free SQ entries (what is queued submitted first):
        SQEs queued next, before any ``await``, go to the kernel in the same submit."""
        ring = self._check()
        if ring.sq_space_left() >= n:
            return ring
        self._make_room(ring, n)
        deadline = time.monotonic() + _CLOSE_WAIT
        while ring.sq_space_left() < n:
            # An SQPOLL thread that has not taken the entries yet (asleep, or not
            # scheduled): let the loop run meanwhile rather than block it.
            if time.monotonic() > deadline:
                raise UringError(
                    _SQ_FULL,
                    None,
                    f"no room for {n} linked SQEs: the kernel has not taken what was submitted",
                )
            await asyncio.sleep(0.0002)
            ring = self._check()
            self._submit_now()
        return ring

    def _make_room(self, ring: Ring, n: int) -> None:
        """Submits what is queued until ``n`` SQ entries are free (or gives up)."""
        for _attempt in range(100):  # once without SQPOLL
            self._submit_now()
            space = ring.sq_space_left()
            if space >= n:
                return
            if space == 0 and ring.flags & _native.IORING_SETUP_SQPOLL:
                # The SQ thread has not taken any entry yet (asleep, or not scheduled):
                # wait in the kernel until one is free (IORING_ENTER_SQ_WAIT, Linux 5.10).
                with contextlib.suppress(UringError):
                    ring.enter(0, 0, _native.IORING_ENTER_SQ_WAIT)
            else:
                time.sleep(0)

    def _schedule_submit(self) -> None:
        if not self._submit_scheduled and self._host is None:  # a Loop submits by itself
            self._submit_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._submit_soon)

    def _track(self, ud: int, fd_result: bool = False) -> asyncio.Future[int]:
        assert self._loop is not None
        fut: asyncio.Future[int] = self._loop.create_future()
        self._ops[ud] = (fut, fd_result)
        return fut

    def _submit_soon(self) -> None:
        self._submit_scheduled = False
        if self._closed or self._pid != _pid_now():
            return
        try:
            self._submit_now()
        except Exception as e:  # noqa: BLE001 - handed to every waiting op
            # The ring refused the batch (not a per-op error: those come back as CQEs).
            # Fail the waiting ops rather than leave their tasks hanging.
            for fut, _ in list(self._ops.values()):
                if not fut.done():
                    fut.set_exception(e)

    def _submit_now(self) -> None:
        """Submits what is queued, then delivers what completed inline."""
        if self._host is not None:
            self._host._relay_flush()  # completions come from the loop's ready queue
            return
        ring = self._ring
        if not ring.sq_ready():
            return
        for _attempt in range(3):
            try:
                ring.submit()
            except UringError as e:
                # EBUSY: the kernel's CQ overflow backlog is full; EAGAIN: out of request
                # memory for now. Drain the CQ and try again.
                if e.errno not in (errno.EBUSY, errno.EAGAIN):
                    raise
            self._reap()
            if not ring.sq_ready():
                return
        # Still not taken (an SQPOLL thread that is behind, or the kernel pushing back):
        # try again on the next loop iteration.
        if self._loop is not None and not self._submit_scheduled:
            self._submit_scheduled = True
            self._loop.call_soon(self._submit_soon)

    # ---- completion ------------------------------------------------------------------

    def _deliver(self, done: list[tuple[int, int, int]]) -> None:
        """Resolves the futures of a batch of completions ``(user_data, res, flags)``:
        from this ring's CQ (``_reap``), or handed over by a uring_rs.Loop."""
        ops_ = self._ops
        for ud, res, _flags in done:
            entry = ops_.pop(ud, None)
            if entry is None:
                continue
            fut, fd_result = entry
            if fut.done():  # the awaiting task was cancelled
                if fd_result and res >= 0:
                    _close_quietly(res)
            elif self._closing and res == -errno.ECANCELED:
                fut.cancel()
            else:
                fut.set_result(res)

    def _on_eventfd(self) -> None:
        if self._closed or self._pid != _pid_now():
            # A forked child running its copy of the loop: reading the shared eventfd
            # would take the parent's wakeup. Nothing to do (and no remove_reader: the
            # epoll instance is the parent's too).
            return
        with contextlib.suppress(BlockingIOError, InterruptedError):
            os.read(self._efd, 8)  # drain the eventfd first, then the CQ
        self._reap()

    def _reap(self) -> None:
        ring = self._ring
        while True:
            # copy_cqes() with nothing ready flushes a CQ that overflowed into the
            # kernel's backlog, so looping until it returns [] drains everything.
            cqes = ring.copy_cqes()
            if not cqes:
                if ring.cq_ready():  # posted meanwhile: do not go to sleep on it
                    continue
                break
            self._deliver([(c.user_data, c.res, c.flags) for c in cqes])

    # ---- awaiting, cancellation ------------------------------------------------------

    async def _await(
        self, ud: int, fut: asyncio.Future[int], fd_result: bool = False, cancellable: bool = True
    ) -> int:
        try:
            return await fut
        except asyncio.CancelledError:
            self._abandon(ud, fut, fd_result, cancellable)
            raise

    def _abandon(
        self, ud: int, fut: asyncio.Future[int], fd_result: bool, cancellable: bool
    ) -> None:
        if ud not in self._ops:
            # Completed before the task saw its cancellation: a descriptor it produced
            # has no owner any more.
            if fd_result and fut.done() and not fut.cancelled():
                res = fut.result()
                if res >= 0:
                    _close_quietly(res)
            return
        if self._closed or not cancellable:
            return
        try:
            self._queue(ops.cancel, ud)
            # Submit now, with the target if it is still queued: the kernel takes its
            # reference to the op's file before the caller can close the descriptor.
            self._submit_now()
        except (RuntimeError, UringError, ValueError):
            pass

    async def _op(self, fn: Callable[..., Sqe], *args: Any, fd_result: bool = False) -> int:
        """Queues one op and waits for its result (``res``). The hot path: no helper
        coroutines in between."""
        ud, _ = self._queue(fn, *args)
        loop = self._loop
        assert loop is not None
        fut: asyncio.Future[int] = loop.create_future()
        self._ops[ud] = (fut, fd_result)
        try:
            return await fut
        except asyncio.CancelledError:
            self._abandon(ud, fut, fd_result, True)
            raise

    def _forget(self, fn: Callable[..., Sqe], *args: Any) -> None:
        """Queues an op whose completion nobody waits for (submitted with the next batch)."""
        self._queue(fn, *args)

    async def _op_pair(
        self,
        fn1: Callable[..., Sqe],
        args1: tuple[Any, ...],
        fn2: Callable[..., Sqe],
        args2: tuple[Any, ...],
    ) -> tuple[int, int]:
        """Runs two ops hard-linked (``IOSQE_IO_HARDLINK``): the second starts when the
        first completed, whatever its result (a short read included), and both go to the
        kernel in one submit. Returns both results. Cancelling cancels both."""
        ring = self._check()
        if ring.sq_space_left() < _LINKED_PAIR:
            ring = await self._reserve(_LINKED_PAIR)
        ud1, ud2 = next(self._ud), next(self._ud)
        sqe = fn1(ring, ud1, *args1)  # if this raises, nothing was queued
        try:
            fn2(ring, ud2, *args2)
        except BaseException:
            fut = self._track(ud1)  # the first is queued alone and unlinked: cancel it
            fut.cancel()
            self._schedule_submit()
            self._abandon(ud1, fut, False, True)
            raise
        sqe.flags |= IOSQE_IO_HARDLINK  # only now: never link an unrelated op queued next
        self._schedule_submit()
        fut1, fut2 = self._track(ud1), self._track(ud2)
        try:
            res1 = await fut1
            res2 = await fut2
        except asyncio.CancelledError:
            self._abandon(ud1, fut1, False, True)
            self._abandon(ud2, fut2, False, True)
            raise
        return res1, res2

    async def _op_timeout(
        self, timeout: float | None, fn: Callable[..., Sqe], *args: Any, fd_result: bool = False
    ) -> int:
        """Runs an op with an optional linked timeout (``IOSQE_IO_LINK`` + ``link_timeout``).

        The op and its timeout are queued back to back after making room for both, so they
        reach the kernel in the same submit: a link is only formed within one submit, and
        an op whose timeout came later would never time out.
        """
        if timeout is None:
            return await self._op(fn, *args, fd_result=fd_result)
        seconds = float(timeout)
        if math.isnan(seconds):
            raise ValueError("timeout must be a number of seconds, not NaN")
        if seconds >= _NO_TIMEOUT:  # inf, or past what a timespec holds
            return await self._op(fn, *args, fd_result=fd_result)
        ring = await self._reserve(_LINKED_PAIR)
        ud, tud = next(self._ud), next(self._ud)
        sqe = fn(ring, ud, *args)  # if this raises, nothing was queued
        sqe.flags |= IOSQE_IO_LINK
        try:
            ops.link_timeout(ring, tud, max(0.0, seconds))
        except BaseException:
            # Not expected (the value and the room were checked), but never leave the link
            # flag for an unrelated op queued next: unlink, and cancel the orphaned op.
            sqe.flags &= ~IOSQE_IO_LINK
            fut = self._track(ud, fd_result)
            fut.cancel()
            self._schedule_submit()
            self._abandon(ud, fut, fd_result, True)
            raise
        self._schedule_submit()
        fut = self._track(ud, fd_result)
        tfut = self._track(tud)
        res = await self._await(ud, fut, fd_result)
        if res != -errno.ECANCELED:
            self._ops.pop(tud, None)  # its completion (-ECANCELED) is not needed
            return res
        tres = await self._await(tud, tfut, cancellable=False)
        if tres == -errno.ETIME:
            raise TimeoutError(f"timed out after {timeout} s")
        return res

    # ---- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Cancels every op in flight, waits (briefly, blocking) for their completions,
        closes descriptors that cancelled opens/accepts produced, and closes the ring.

        Tasks still awaiting an op get its result if it completed, else their await is
        cancelled. Idempotent.
        """
        self._shutdown(final=False)

    async def aclose(self) -> None:
        """Like ``close()``, but waits for cancelled ops without blocking the loop."""
        if self._closed:
            return
        if self._ops and self._loop is not None and self._pid == os.getpid():
            self._closing = True
            for ud in list(self._ops):
                try:
                    self._queue(ops.cancel, ud)
                except (RuntimeError, UringError, ValueError):
                    break
            self._submit_now()
            waiting = {fut for fut, _ in self._ops.values()}
            if waiting:
                await asyncio.wait(waiting, timeout=_CLOSE_WAIT)
        self._shutdown(final=False)

    def _shutdown(self, final: bool) -> None:
        if self._closed:
            return
        self._closed = True
        ring, loop = self._ring, self._loop
        if self._pid != os.getpid():
            self._drop_in_child()
            return
        if loop is not None and self._efd >= 0 and not loop.is_closed():
            with contextlib.suppress(Exception):  # a loop already tearing down
                loop.remove_reader(self._efd)
        try:
            if self._host is not None:
                # Every op in flight, tracked or fire-and-forget (a close, a cancel): a
                # relay cannot wait for its own, the loop reaps for it.
                if not ring.closed and ring.in_flight and not self._host.is_closed():
                    self._settle(self._host._relay_drain(ring, _CLOSE_WAIT), final)
            elif self._ops and not ring.closed:
                self._drain_for_close(final)
        except Exception:  # noqa: BLE001 - closing goes on; Ring.close() drains too
            pass
        finally:
            entries = list(self._ops.values())
            self._ops.clear()
            for fut, _ in entries:
                if not fut.done() and loop is not None and not loop.is_closed():
                    fut.cancel()
            ring.close()
            if self._efd >= 0:
                _close_quietly(self._efd)
                self._efd = -1

    def _drop_in_child(self) -> None:
        """Closing in a forked child (its exit hook, its copy of the loop closing): the
        loop's reader, the epoll registration, the eventfd's count and the ring's ops all
        belong to the parent, which shares them. Forget them without touching any: no
        ``remove_reader`` (it would delete the parent's epoll registration), no cancels,
        no futures resolved. Closing the child's copies of the descriptors is harmless
        (the parent's keep the files open), as is ``Ring.close()`` in a child."""
        self._ops.clear()
        self._ring.close()
        if self._efd >= 0:
            _close_quietly(self._efd)
            self._efd = -1

    def _drain_for_close(self, final: bool) -> None:
        ring = self._ring
        ring.submit()
        for ud in list(self._ops):
            for _attempt in range(2):
                try:
                    ops.cancel(ring, _IGNORED, ud)
                    break
                except UringError as e:
                    if e.kind is not _SQ_FULL:
                        raise
                    ring.submit()
        ring.submit()
        deadline = time.monotonic() + _CLOSE_WAIT
        while self._ops and time.monotonic() < deadline:
            cqes = ring.copy_cqes(wait_nr=1, timeout=0.05)
            self._settle([(c.user_data, c.res, c.flags) for c in cqes], final)

    def _settle(self, done: list[tuple[int, int, int]], final: bool) -> None:
        """Close-time delivery: results to waiting ops (not when ``final``), and
        descriptors nobody will use closed."""
        for ud, res, _flags in done:
            entry = self._ops.pop(ud, None)
            if entry is None:
                continue
            fut, fd_result = entry
            usable = not final and not fut.done() and res != -errno.ECANCELED
            if usable:
                fut.set_result(res)
                continue
            if fd_result and res >= 0:
                _close_quietly(res)
            loop = self._loop
            if not fut.done() and loop is not None and not loop.is_closed():
                fut.cancel()  # its task's await is cancelled, as close() says

    async def __aenter__(self) -> Self:
        """Binds the ring to the running loop and returns it."""
        self._check()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """``await aclose()``: cancels what is in flight and closes the ring."""
        await self.aclose()

    # ---- ops: files ------------------------------------------------------------------

    async def nop(self) -> None:
        """A no-op round trip through the kernel."""
        _raise_for(await self._op(ops.nop))

    async def sleep(self, seconds: float) -> None:
        """Sleeps ``seconds`` on an io_uring timeout (``IORING_OP_TIMEOUT``)."""
        res = await self._op(ops.timeout, max(0.0, float(seconds)))
        if res != -errno.ETIME:
            _raise_for(res)

    async def openat(
        self,
        path: _StrOrBytesPath,
        flags: int = os.O_RDONLY,
        mode: int = 0o666,
        *,
        dir_fd: _Fd = AT_FDCWD,
    ) -> int:
        """``os.open`` on the ring (``O_CLOEXEC`` added); errors carry the filename."""
        path = os.fspath(path)
        _check_open_path(path)
        return _raise_for(
            await self._op(ops.openat, dir_fd, path, flags, mode, fd_result=True), path
        )

    async def close_fd(self, fd: _Fd) -> None:
        """Closes a descriptor on the ring. Not cancellable: the close always happens."""
        ud, _ = self._queue(ops.close, fd)
        _raise_for(await self._await(ud, self._track(ud), cancellable=False))

    def close_fd_nowait(self, fd: _Fd) -> None:
        """Queues the close of ``fd`` without waiting for it (nor for its error): it is
        submitted with the next batch, at the latest one loop iteration later."""
        self._forget(ops.close, fd)

    async def read(self, fd: _Fd, buf: Buffer, offset: int = -1) -> int:
        """Reads into ``buf`` at ``offset`` (-1: the file position); returns the count."""
        return _raise_for(await self._op(ops.read, fd, buf, offset))

    async def write(self, fd: _Fd, data: Buffer, offset: int = -1) -> int:
        """Writes ``data`` at ``offset`` (-1: the file position); returns the count."""
        return _raise_for(await self._op(ops.write, fd, data, offset))

    async def readv(self, fd: _Fd, buffers: Sequence[Buffer], offset: int = -1) -> int:
        """Scatter read (``IORING_OP_READV``) into ``buffers`` in turn; returns the count."""
        return _raise_for(await self._op(ops.readv, fd, list(buffers), offset))

    async def writev(self, fd: _Fd, buffers: Sequence[Buffer], offset: int = -1) -> int:
        """Gather write (``IORING_OP_WRITEV``) of ``buffers`` in turn; returns the count."""
        return _raise_for(await self._op(ops.writev, fd, list(buffers), offset))

    async def fsync(self, fd: _Fd, *, datasync: bool = False) -> None:
        """``fsync`` (``fdatasync`` with ``datasync=True``) of ``fd`` on the ring."""
        flags = _native.IORING_FSYNC_DATASYNC if datasync else 0
        _raise_for(await self._op(ops.fsync, fd, flags))

    async def stat(
        self,
        path: _StrOrBytesPath | int,
        *,
        dir_fd: _Fd = AT_FDCWD,
        follow_symlinks: bool = True,
    ) -> os.stat_result:
        """``os.stat`` on the ring (``IORING_OP_STATX``): the same ``os.stat_result``, the
        same errors (with the filename). ``path`` may be an open descriptor, as for
        ``os.stat``."""
        flags = 0 if follow_symlinks else _AT_SYMLINK_NOFOLLOW
        name: Any
        if isinstance(path, int):
            dir_fd, name, flags = path, "", flags | _AT_EMPTY_PATH
        else:
            name = os.fspath(path)
            if isinstance(name, bytes):
                if b"\0" in name:
                    raise ValueError("stat: embedded null character in path")  # os's words
            elif "\0" in name:
                raise ValueError("embedded null byte")
        sx = _native.Statx()
        res = await self._op(ops.statx, dir_fd, name, flags, _STATX_BASIC_STATS, sx)
        _raise_for(res, None if isinstance(path, int) else name)
        return os.stat_result(
            (sx.mode, sx.ino, sx.dev, sx.nlink, sx.uid, sx.gid, sx.size,
             int(sx.atime), int(sx.mtime), int(sx.ctime)),
            {
                "st_atime": sx.atime, "st_mtime": sx.mtime, "st_ctime": sx.ctime,
                "st_atime_ns": sx.atime_ns, "st_mtime_ns": sx.mtime_ns,
                "st_ctime_ns": sx.ctime_ns, "st_blksize": sx.blksize,
                "st_blocks": sx.blocks, "st_rdev": sx.rdev,
            },
        )  # fmt: skip

    # ---- ops: sockets ----------------------------------------------------------------

    async def recv(
        self, sock: _Fd, n: int, flags: int = 0, *, timeout: float | None = None
    ) -> bytes:
        """Receives up to ``n`` bytes (``b""`` at end of stream)."""
        fd = _sock_fd(sock)
        buf = bytearray(n)
        got = _raise_for(await self._op_timeout(timeout, ops.recv, fd, buf, flags))
        if got == n:
            return bytes(buf)
        return bytes(memoryview(buf)[:got])

    async def recv_into(
        self, sock: _Fd, buf: Buffer, flags: int = 0, *, timeout: float | None = None
    ) -> int:
        """Receives into ``buf``; returns the count (0 at end of stream)."""
        return _raise_for(await self._op_timeout(timeout, ops.recv, _sock_fd(sock), buf, flags))

    async def send(
        self, sock: _Fd, data: Buffer, flags: int = 0, *, timeout: float | None = None
    ) -> int:
        """Sends some of ``data``; returns the count (``MSG_NOSIGNAL`` added)."""
        return _raise_for(
            await self._op_timeout(timeout, ops.send, _sock_fd(sock), data, flags | _MSG_NOSIGNAL)
        )

    async def sendall(
        self, sock: _Fd, data: Buffer, flags: int = 0, *, timeout: float | None = None
    ) -> None:
        """Sends all of ``data``; ``timeout`` bounds the whole call."""
        sock = _sock_fd(sock)
        view = memoryview(data).cast("B")
        deadline = None if timeout is None else time.monotonic() + timeout
        sent = 0
        while sent < len(view):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            sent += await self.send(sock, view[sent:], flags, timeout=left)

    async def accept(self, sock: _Fd, flags: int = 0, *, timeout: float | None = None) -> int:
        """Accepts a connection; returns its descriptor (``SOCK_CLOEXEC`` added)."""
        return _raise_for(
            await self._op_timeout(timeout, ops.accept, _sock_fd(sock), flags, fd_result=True)
        )

    async def connect(self, sock: _Fd, address: _Address, *, timeout: float | None = None) -> None:
        """Connects to a numeric ``address`` (see ``sock_connect`` for host names)."""
        _raise_for(await self._op_timeout(timeout, ops.connect, _sock_fd(sock), address))

    # ---- loop.sock_*-shaped ----------------------------------------------------------

    async def sock_recv(
        self, sock: socket.socket, n: int, *, timeout: float | None = None
    ) -> bytes:
        """``loop.sock_recv``: up to ``n`` bytes (``b""`` at end of stream)."""
        return await self.recv(sock, n, timeout=timeout)

    async def sock_recv_into(
        self, sock: socket.socket, buf: Buffer, *, timeout: float | None = None
    ) -> int:
        """``loop.sock_recv_into``: receives into ``buf``; returns the count."""
        return await self.recv_into(sock, buf, timeout=timeout)

    async def sock_sendall(
        self, sock: socket.socket, data: Buffer, *, timeout: float | None = None
    ) -> None:
        """``loop.sock_sendall``: sends all of ``data``; ``timeout`` bounds the whole call."""
        await self.sendall(sock, data, timeout=timeout)

    async def sock_accept(
        self, sock: socket.socket, *, timeout: float | None = None
    ) -> tuple[socket.socket, Any]:
        """Accepts a connection: ``(socket, address)`` as ``loop.sock_accept`` returns them
        (the new socket non-blocking)."""
        fd = await self.accept(sock, timeout=timeout)
        try:
            conn = socket.socket(fileno=fd)
        except BaseException:
            _close_quietly(fd)
            raise
        conn.setblocking(False)
        try:
            address = conn.getpeername()
        except OSError:
            address = ""
        return conn, address

    async def sock_connect(
        self, sock: socket.socket, address: Any, *, timeout: float | None = None
    ) -> None:
        """Connects ``sock``; host names are resolved with ``loop.getaddrinfo`` first."""
        if not isinstance(sock, socket.socket):
            raise TypeError(
                "sock must be a socket.socket (sock_connect reads its family and type), "
                f"got {type(sock).__name__}"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        family = sock.family
        if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            host = address[0]
            try:
                socket.inet_pton(family, host)
            except (OSError, TypeError, ValueError):
                self._check()
                assert self._loop is not None
                lookup = self._loop.getaddrinfo(
                    host, address[1], family=family, type=sock.type, proto=sock.proto
                )
                if deadline is None:
                    infos = await lookup
                else:
                    try:
                        infos = await asyncio.wait_for(
                            lookup, max(0.0, deadline - time.monotonic())
                        )
                    except asyncio.TimeoutError:  # not the builtin before Python 3.11
                        raise TimeoutError(
                            f"timed out after {timeout} s resolving {host!r}"
                        ) from None
                if not infos:
                    raise OSError(f"getaddrinfo({host!r}) returned nothing") from None
                address = infos[0][4]
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        await self.connect(sock, address, timeout=left)
