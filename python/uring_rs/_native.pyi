"""The Rust core of uring_rs (a compiled module) and its type stub.

Everything public here is re-exported by ``uring_rs`` (classes, constants, functions)
and by ``uring_rs.ops`` (the operations); import it from there.
"""

import asyncio
import contextvars
from collections.abc import Callable, Iterable, Iterator
from os import PathLike
from typing import Any, Literal, Protocol, final

from typing_extensions import Buffer, Self, TypeAlias, disjoint_base

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

_Fd: TypeAlias = int | _HasFileno
_Path: TypeAlias = str | bytes | PathLike[str] | PathLike[bytes]
_Address: TypeAlias = (
    tuple[str, int]
    | tuple[str, int, int]
    | tuple[str, int, int, int]
    | str
    | bytes
    | PathLike[str]
    | PathLike[bytes]
)

__all__ = [
    "AT_EMPTY_PATH",
    "AT_FDCWD",
    "AT_NO_AUTOMOUNT",
    "AT_REMOVEDIR",
    "AT_STATX_DONT_SYNC",
    "AT_STATX_FORCE_SYNC",
    "AT_STATX_SYNC_AS_STAT",
    "AT_SYMLINK_FOLLOW",
    "AT_SYMLINK_NOFOLLOW",
    "FALLOC_FL_COLLAPSE_RANGE",
    "FALLOC_FL_INSERT_RANGE",
    "FALLOC_FL_KEEP_SIZE",
    "FALLOC_FL_NO_HIDE_STALE",
    "FALLOC_FL_PUNCH_HOLE",
    "FALLOC_FL_UNSHARE_RANGE",
    "FALLOC_FL_ZERO_RANGE",
    "FUTEX2_NUMA",
    "FUTEX2_PRIVATE",
    "FUTEX2_SIZE_U8",
    "FUTEX2_SIZE_U16",
    "FUTEX2_SIZE_U32",
    "FUTEX2_SIZE_U64",
    "FUTEX_BITSET_MATCH_ANY",
    "IORING_ACCEPT_DONTWAIT",
    "IORING_ACCEPT_MULTISHOT",
    "IORING_ACCEPT_POLL_FIRST",
    "IORING_ASYNC_CANCEL_ALL",
    "IORING_ASYNC_CANCEL_ANY",
    "IORING_ASYNC_CANCEL_FD",
    "IORING_ASYNC_CANCEL_FD_FIXED",
    "IORING_ASYNC_CANCEL_OP",
    "IORING_ASYNC_CANCEL_USERDATA",
    "IORING_CQE_BUFFER_SHIFT",
    "IORING_CQE_F_BUFFER",
    "IORING_CQE_F_BUF_MORE",
    "IORING_CQE_F_MORE",
    "IORING_CQE_F_NOTIF",
    "IORING_CQE_F_SOCK_NONEMPTY",
    "IORING_CQ_EVENTFD_DISABLED",
    "IORING_ENTER_ABS_TIMER",
    "IORING_ENTER_EXT_ARG",
    "IORING_ENTER_EXT_ARG_REG",
    "IORING_ENTER_GETEVENTS",
    "IORING_ENTER_NO_IOWAIT",
    "IORING_ENTER_REGISTERED_RING",
    "IORING_ENTER_SQ_WAIT",
    "IORING_ENTER_SQ_WAKEUP",
    "IORING_FEAT_CQE_SKIP",
    "IORING_FEAT_CUR_PERSONALITY",
    "IORING_FEAT_EXT_ARG",
    "IORING_FEAT_FAST_POLL",
    "IORING_FEAT_LINKED_FILE",
    "IORING_FEAT_MIN_TIMEOUT",
    "IORING_FEAT_NATIVE_WORKERS",
    "IORING_FEAT_NODROP",
    "IORING_FEAT_NO_IOWAIT",
    "IORING_FEAT_POLL_32BITS",
    "IORING_FEAT_RECVSEND_BUNDLE",
    "IORING_FEAT_REG_REG_RING",
    "IORING_FEAT_RSRC_TAGS",
    "IORING_FEAT_RW_ATTR",
    "IORING_FEAT_RW_CUR_POS",
    "IORING_FEAT_SINGLE_MMAP",
    "IORING_FEAT_SQPOLL_NONFIXED",
    "IORING_FEAT_SUBMIT_STABLE",
    "IORING_FSYNC_DATASYNC",
    "IORING_LINK_TIMEOUT_UPDATE",
    "IORING_NOTIF_USAGE_ZC_COPIED",
    "IORING_OP_ACCEPT",
    "IORING_OP_ASYNC_CANCEL",
    "IORING_OP_BIND",
    "IORING_OP_CLOSE",
    "IORING_OP_CONNECT",
    "IORING_OP_EPOLL_CTL",
    "IORING_OP_EPOLL_WAIT",
    "IORING_OP_FADVISE",
    "IORING_OP_FALLOCATE",
    "IORING_OP_FGETXATTR",
    "IORING_OP_FILES_UPDATE",
    "IORING_OP_FIXED_FD_INSTALL",
    "IORING_OP_FSETXATTR",
    "IORING_OP_FSYNC",
    "IORING_OP_FTRUNCATE",
    "IORING_OP_FUTEX_WAIT",
    "IORING_OP_FUTEX_WAITV",
    "IORING_OP_FUTEX_WAKE",
    "IORING_OP_GETXATTR",
    "IORING_OP_LINKAT",
    "IORING_OP_LINK_TIMEOUT",
    "IORING_OP_LISTEN",
    "IORING_OP_MADVISE",
    "IORING_OP_MKDIRAT",
    "IORING_OP_MSG_RING",
    "IORING_OP_NOP",
    "IORING_OP_OPENAT",
    "IORING_OP_OPENAT2",
    "IORING_OP_PIPE",
    "IORING_OP_POLL_ADD",
    "IORING_OP_POLL_REMOVE",
    "IORING_OP_PROVIDE_BUFFERS",
    "IORING_OP_READ",
    "IORING_OP_READV",
    "IORING_OP_READV_FIXED",
    "IORING_OP_READ_FIXED",
    "IORING_OP_READ_MULTISHOT",
    "IORING_OP_RECV",
    "IORING_OP_RECVMSG",
    "IORING_OP_RECV_ZC",
    "IORING_OP_REMOVE_BUFFERS",
    "IORING_OP_RENAMEAT",
    "IORING_OP_SEND",
    "IORING_OP_SENDMSG",
    "IORING_OP_SENDMSG_ZC",
    "IORING_OP_SEND_ZC",
    "IORING_OP_SETXATTR",
    "IORING_OP_SHUTDOWN",
    "IORING_OP_SOCKET",
    "IORING_OP_SPLICE",
    "IORING_OP_STATX",
    "IORING_OP_SYMLINKAT",
    "IORING_OP_SYNC_FILE_RANGE",
    "IORING_OP_TEE",
    "IORING_OP_TIMEOUT",
    "IORING_OP_TIMEOUT_REMOVE",
    "IORING_OP_UNLINKAT",
    "IORING_OP_URING_CMD",
    "IORING_OP_WAITID",
    "IORING_OP_WRITE",
    "IORING_OP_WRITEV",
    "IORING_OP_WRITEV_FIXED",
    "IORING_OP_WRITE_FIXED",
    "IORING_POLL_ADD_LEVEL",
    "IORING_POLL_ADD_MULTI",
    "IORING_POLL_UPDATE_EVENTS",
    "IORING_POLL_UPDATE_USER_DATA",
    "IORING_RECVSEND_BUNDLE",
    "IORING_RECVSEND_FIXED_BUF",
    "IORING_RECVSEND_POLL_FIRST",
    "IORING_RECV_MULTISHOT",
    "IORING_REGISTER_BUFFERS",
    "IORING_REGISTER_BUFFERS2",
    "IORING_REGISTER_BUFFERS_UPDATE",
    "IORING_REGISTER_ENABLE_RINGS",
    "IORING_REGISTER_EVENTFD",
    "IORING_REGISTER_EVENTFD_ASYNC",
    "IORING_REGISTER_FILES",
    "IORING_REGISTER_FILES2",
    "IORING_REGISTER_FILES_SKIP",
    "IORING_REGISTER_FILES_UPDATE",
    "IORING_REGISTER_FILES_UPDATE2",
    "IORING_REGISTER_FILE_ALLOC_RANGE",
    "IORING_REGISTER_IOWQ_AFF",
    "IORING_REGISTER_IOWQ_MAX_WORKERS",
    "IORING_REGISTER_PBUF_RING",
    "IORING_REGISTER_PBUF_STATUS",
    "IORING_REGISTER_PERSONALITY",
    "IORING_REGISTER_PROBE",
    "IORING_REGISTER_RESTRICTIONS",
    "IORING_REGISTER_RING_FDS",
    "IORING_REGISTER_SYNC_CANCEL",
    "IORING_SEND_ZC_REPORT_USAGE",
    "IORING_SETUP_ATTACH_WQ",
    "IORING_SETUP_CLAMP",
    "IORING_SETUP_COOP_TASKRUN",
    "IORING_SETUP_CQE32",
    "IORING_SETUP_CQSIZE",
    "IORING_SETUP_DEFER_TASKRUN",
    "IORING_SETUP_HYBRID_IOPOLL",
    "IORING_SETUP_IOPOLL",
    "IORING_SETUP_NO_MMAP",
    "IORING_SETUP_NO_SQARRAY",
    "IORING_SETUP_REGISTERED_FD_ONLY",
    "IORING_SETUP_R_DISABLED",
    "IORING_SETUP_SINGLE_ISSUER",
    "IORING_SETUP_SQE128",
    "IORING_SETUP_SQPOLL",
    "IORING_SETUP_SQ_AFF",
    "IORING_SETUP_SUBMIT_ALL",
    "IORING_SETUP_TASKRUN_FLAG",
    "IORING_SQ_CQ_OVERFLOW",
    "IORING_SQ_NEED_WAKEUP",
    "IORING_SQ_TASKRUN",
    "IORING_TIMEOUT_ABS",
    "IORING_TIMEOUT_BOOTTIME",
    "IORING_TIMEOUT_CLOCK_MASK",
    "IORING_TIMEOUT_ETIME_SUCCESS",
    "IORING_TIMEOUT_MULTISHOT",
    "IORING_TIMEOUT_REALTIME",
    "IORING_TIMEOUT_UPDATE",
    "IORING_TIMEOUT_UPDATE_MASK",
    "IORING_UNREGISTER_BUFFERS",
    "IORING_UNREGISTER_EVENTFD",
    "IORING_UNREGISTER_FILES",
    "IORING_UNREGISTER_IOWQ_AFF",
    "IORING_UNREGISTER_PBUF_RING",
    "IORING_UNREGISTER_PERSONALITY",
    "IORING_UNREGISTER_RING_FDS",
    "IOSQE_ASYNC",
    "IOSQE_BUFFER_SELECT",
    "IOSQE_CQE_SKIP_SUCCESS",
    "IOSQE_FIXED_FILE",
    "IOSQE_IO_DRAIN",
    "IOSQE_IO_HARDLINK",
    "IOSQE_IO_LINK",
    "RENAME_EXCHANGE",
    "RENAME_NOREPLACE",
    "RENAME_WHITEOUT",
    "RESOLVE_BENEATH",
    "RESOLVE_CACHED",
    "RESOLVE_IN_ROOT",
    "RESOLVE_NO_MAGICLINKS",
    "RESOLVE_NO_SYMLINKS",
    "RESOLVE_NO_XDEV",
    "SPLICE_F_FD_IN_FIXED",
    "SPLICE_F_GIFT",
    "SPLICE_F_MORE",
    "SPLICE_F_MOVE",
    "SPLICE_F_NONBLOCK",
    "STATX_ATIME",
    "STATX_ATTR_APPEND",
    "STATX_ATTR_AUTOMOUNT",
    "STATX_ATTR_COMPRESSED",
    "STATX_ATTR_DAX",
    "STATX_ATTR_ENCRYPTED",
    "STATX_ATTR_IMMUTABLE",
    "STATX_ATTR_MOUNT_ROOT",
    "STATX_ATTR_NODUMP",
    "STATX_ATTR_VERITY",
    "STATX_ATTR_WRITE_ATOMIC",
    "STATX_BASIC_STATS",
    "STATX_BLOCKS",
    "STATX_BTIME",
    "STATX_CTIME",
    "STATX_DIOALIGN",
    "STATX_DIO_READ_ALIGN",
    "STATX_GID",
    "STATX_INO",
    "STATX_MNT_ID",
    "STATX_MNT_ID_UNIQUE",
    "STATX_MODE",
    "STATX_MTIME",
    "STATX_NLINK",
    "STATX_SIZE",
    "STATX_SUBVOL",
    "STATX_TYPE",
    "STATX_UID",
    "STATX_WRITE_ATOMIC",
    "SYNC_FILE_RANGE_WAIT_AFTER",
    "SYNC_FILE_RANGE_WAIT_BEFORE",
    "SYNC_FILE_RANGE_WRITE",
    "BufferRing",
    "Cqe",
    "Handle",
    "LoopCore",
    "MsgHdr",
    "Probe",
    "ProvidedBuffer",
    "Ring",
    "Siginfo",
    "Sqe",
    "Statx",
    "StreamCore",
    "TimerHandle",
    "_FreshBytes",
    "_Pipes",
    "_fstat_brief",
    "_preallocate",
    "_read_files",
    "_read_files_direct",
    "accept",
    "accept_multishot",
    "bind",
    "cancel",
    "cancel_fd",
    "close",
    "close_fixed",
    "connect",
    "fadvise",
    "fallocate",
    "files_update",
    "fsync",
    "ftruncate",
    "futex_wait",
    "futex_wake",
    "kernel_release",
    "link_timeout",
    "linkat",
    "listen",
    "madvise",
    "mkdirat",
    "msg_ring",
    "nop",
    "nop_many",
    "opcode_names",
    "openat",
    "openat2",
    "poll_add",
    "poll_remove",
    "poll_update",
    "provide_buffers",
    "read",
    "read_fixed",
    "read_many",
    "readv",
    "recv",
    "recv_multishot",
    "recvmsg",
    "remove_buffers",
    "renameat",
    "send",
    "send_zc",
    "sendmsg",
    "sendmsg_zc",
    "shutdown",
    "socket",
    "splice",
    "statx",
    "symlinkat",
    "sync_file_range",
    "tee",
    "timeout",
    "timeout_remove",
    "timeout_update",
    "unlinkat",
    "waitid",
    "write",
    "write_fixed",
    "write_many",
    "writev",
]

@final
class Ring:
    """An io_uring instance: a submission queue (SQ) and a completion queue (CQ) shared with the
    kernel, set up with ``io_uring_setup(2)`` and mapped into the process.

    ``Ring(entries=32, flags=0, *, sq_thread_idle=1000, sq_thread_cpu=None, cq_entries=None)``

    ``entries`` (a power of two from 1 to 32768) sizes the SQ; the CQ gets twice as many unless
    ``cq_entries`` says otherwise (``IORING_SETUP_CQSIZE``). ``flags`` takes ``IORING_SETUP_*``
    (``SQPOLL``, ``IOPOLL``, ``SINGLE_ISSUER``, ``DEFER_TASKRUN``, ``COOP_TASKRUN``,
    ``R_DISABLED``, ...); ``sq_thread_idle`` (milliseconds) and ``sq_thread_cpu`` configure the
    SQPOLL thread. ``SQE128``, ``CQE32``, ``NO_MMAP``, ``REGISTERED_FD_ONLY`` and ``ATTACH_WQ``
    are refused with ``ValueError``.

    Queue ops with the functions of ``uring_rs.ops``, hand them to the kernel with ``submit()``,
    and consume their completions with ``copy_cqes()`` (or ``copy_cqe()``, ``copy_cqes_into()``).
    The ring keeps every object an op uses alive until that op's final completion has been
    consumed. ``close()`` (or garbage collection) cancels what is still in flight and waits for
    it. A ring may be shared by threads; it refuses use in a child after ``fork()``
    (``RuntimeError``).

    Raises:
        UringValueError: ``entries`` is 0, not a power of two, or above 32768.
        UringError: ``io_uring_setup`` failed (``PERMISSION_DENIED`` explains seccomp and the
            ``kernel.io_uring_disabled`` sysctl; ``SYSTEM_RESOURCES``: ``RLIMIT_MEMLOCK``).
        ValueError: a negative argument, or a refused flag.
        TypeError: a non-integer argument.
    """

    def __new__(
        cls,
        entries: int = 32,
        flags: int = 0,
        *,
        sq_thread_idle: int = 1000,
        sq_thread_cpu: int | None = None,
        cq_entries: int | None = None,
    ) -> Self: ...
    @property
    def fd(self) -> int:
        """The ring's file descriptor (for ``ops.msg_ring`` targets, ``select``, ...)."""
    @property
    def flags(self) -> int:
        """The ``IORING_SETUP_*`` flags the ring was set up with (including those ``sq_thread_cpu``
        and ``cq_entries`` added).
        """
    @property
    def features(self) -> int:
        """``IORING_FEAT_*`` bits the kernel reported at setup."""
    @property
    def sq_entries(self) -> int:
        """Size of the submission queue (``entries``, as the kernel rounded it)."""
    @property
    def cq_entries(self) -> int:
        """Size of the completion queue."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` has run."""
    @property
    def in_flight(self) -> int:
        """Ops queued or in flight whose final completion has not been consumed: what the ring is
        keeping alive.
        """
    def close(self) -> None:
        """Cancels and drains every op in flight, then unmaps and closes the ring.

        Memory an op still uses is never freed: what cannot be confirmed finished
        within 5 s is kept (leaked). Fds carried by completions nobody consumed
        (openat, accept, socket) are closed. A SINGLE_ISSUER ring with ops in
        flight raises ``RuntimeError`` when closed from another thread than its
        submitter (the kernel refuses that thread's cancels).
        """
    def enable(self) -> None:
        """Enables a ring set up with ``IORING_SETUP_R_DISABLED`` (Linux 5.10)."""
    @property
    def disabled(self) -> bool:
        """Whether the ring is still disabled (R_DISABLED and not yet enabled)."""
    def __enter__(self) -> Self:
        """Returns the ring."""
    def __exit__(self, exc_type: object, exc: object, tb: object) -> Literal[False]:
        """Closes the ring (see ``close()``); exceptions propagate."""
    @property
    def enter_calls(self) -> int:
        """How many ``io_uring_enter`` calls this ring has made (diagnostics)."""
    def sq_flags(self) -> int:
        """The SQ ring's flags word as the kernel last wrote it (``IORING_SQ_NEED_WAKEUP``,
        ``IORING_SQ_CQ_OVERFLOW``, ``IORING_SQ_TASKRUN``).
        """
    def flush_sq(self) -> int:
        """Publishes queued SQEs to the kernel's tail without entering the kernel; returns how many
        it has yet to consume (useful with SQPOLL).

        Raises:
            ValueError: a chain with ``IOSQE_CQE_SKIP_SUCCESS`` breaks the rule ``Sqe.flags``
                states (nothing is published).
        """
    def sq_ready(self) -> int:
        """SQEs queued but not yet consumed by the kernel."""
    def sq_space_left(self) -> int:
        """Free SQ entries: how many ops can be queued before ``SUBMISSION_QUEUE_FULL``."""
    def cq_ready(self) -> int:
        """Completions ready to be consumed."""
    def cq_ring_needs_flush(self) -> bool:
        """Whether completions wait outside the CQ: overflowed ones (``IORING_SQ_CQ_OVERFLOW``) or
        task work not yet run (``IORING_SQ_TASKRUN``, with ``DEFER_TASKRUN`` or
        ``TASKRUN_FLAG``). A ``copy_cqes`` that finds the CQ empty flushes them, as does a
        ``submit``/``wait``.
        """
    def submit(self, wait_nr: int = 0) -> int:
        """Hands the queued SQEs to the kernel; returns how many were submitted.

        Enters the kernel (``io_uring_enter``) when there is something to submit (with SQPOLL,
        only to wake its thread), or when ``wait_nr > 0``: then it waits, with the GIL released,
        until ``wait_nr`` completions are ready. Signals are handled as PEP 475 says: the Python
        handlers run, and an exception they raise (``KeyboardInterrupt``) ends the wait.

        Raises:
            UringError: ``io_uring_enter`` failed (``COMPLETION_QUEUE_OVERCOMMITTED`` when the CQ
                is full and the kernel cannot take more: consume completions first).
            ValueError: a chain with ``IOSQE_CQE_SKIP_SUCCESS`` breaks the rule ``Sqe.flags``
                states (nothing is submitted).
        """
    def enter(self, to_submit: int, min_complete: int, flags: int) -> int:
        """Raw ``io_uring_enter(2)``: submits ``to_submit`` SQEs and waits for ``min_complete``
        completions (with ``IORING_ENTER_GETEVENTS`` in ``flags``); returns what the kernel
        returns. Unlike ``submit``, EINTR is reported as a ``UringError`` of kind
        ``SIGNAL_INTERRUPT``. A waiting call with SQEs to submit submits them first, then waits.

        Raises:
            ValueError: ``to_submit`` would end inside a flushed chain with
                ``IOSQE_CQE_SKIP_SUCCESS``, which the kernel must take whole (nothing is
                submitted).
        """
    def copy_cqes(
        self, wait_nr: int = 0, max: int | None = None, timeout: float | None = None
    ) -> list[Cqe]:
        """Consumes and returns the ready completions (at most ``max``).

        If none is ready and ``wait_nr > 0`` (or the CQ overflowed), enters the kernel and waits,
        GIL released, for ``wait_nr`` completions, at most ``timeout`` seconds (then it returns
        what is there, maybe ``[]``). Consuming an op's final completion releases what the ring
        kept alive for it.
        """
    def copy_cqes_into(
        self,
        user_data: Buffer,
        res: Buffer,
        flags: Buffer | None = None,
        wait_nr: int = 0,
        timeout: float | None = None,
    ) -> int:
        """Consumes completions into preallocated arrays, creating no Python object per completion;
        returns how many it wrote.

        ``user_data`` is a writable uint64 array (``array('Q')``, numpy ``uint64``), ``res`` an
        int32 one (``array('i')``) and ``flags``, if given, a uint32 one (``array('I')``), all at
        least as long as ``user_data``, whose length bounds the count. Waits as ``copy_cqes``
        does. Completions that carry a provided buffer cannot be claimed with ``BufferRing.get``
        afterwards (there is no ``Cqe``): use ``copy_cqes`` for those.
        """
    def copy_cqe(self) -> Cqe:
        """Waits (GIL released) for one completion and consumes it."""
    def peek_cqes(self, max: int | None = None) -> list[Cqe]:
        """The ready completions (at most ``max``), not consumed: consume them with ``cq_advance``
        or ``cqe_seen``.
        """
    def cq_advance(self, count: int) -> None:
        """Consumes ``count`` completions read with ``peek_cqes``."""
    def cqe_seen(self) -> None:
        """Consumes one completion read with ``peek_cqes``."""
    def probe(self) -> Probe:
        """The kernel's opcode support (``IORING_REGISTER_PROBE``, Linux 5.6)."""
    def register_eventfd(self, fd: _Fd) -> None:
        """Makes the kernel signal ``fd`` (an eventfd) whenever it posts a completion
        (``IORING_REGISTER_EVENTFD``): a way to wait on the ring from ``select``/asyncio.
        """
    def register_eventfd_async(self, fd: _Fd) -> None:
        """Like ``register_eventfd``, but only for completions that did not happen inline during
        ``submit`` (``IORING_REGISTER_EVENTFD_ASYNC``).
        """
    def unregister_eventfd(self) -> None:
        """Stops signalling the registered eventfd."""
    def register_files(self, fds: Iterable[_Fd]) -> None:
        """Registers files (ints or objects with ``fileno()``; -1 leaves a slot empty): an op with
        ``IOSQE_FIXED_FILE`` then takes an index into this table as its fd, which saves the
        kernel a lookup per op.
        """
    def register_files_sparse(self, count: int) -> None:
        """Registers a table of ``count`` empty file slots (Linux 5.19), to fill with
        ``register_files_update`` or ``ops.files_update``.
        """
    def register_files_update(self, offset: int, fds: Iterable[_Fd]) -> int:
        """Replaces registered files from index ``offset`` on (-1 empties a slot); returns how many
        were updated.
        """
    def unregister_files(self) -> None:
        """Unregisters the file table."""
    def register_buffers(self, buffers: Iterable[Buffer]) -> None:
        """Registers writable buffers for ``ops.read_fixed`` and ``ops.write_fixed`` (the kernel
        maps them once, not per op). They stay pinned (a ``bytearray`` cannot resize) and alive
        until ``unregister_buffers()`` or close.

        Raises:
            UringError: ``SYSTEM_RESOURCES`` when the pages exceed ``RLIMIT_MEMLOCK`` (the
                message names the limit and its value).
        """
    def unregister_buffers(self) -> None:
        """Unregisters the buffers; fixed ops still in flight keep their own pin, so this is safe
        while they run.
        """
    def register_ring_fd(self) -> int:
        """Registers the ring fd with the calling thread (``IORING_REGISTER_RING_FDS``, Linux 5.18):
        that thread's enters skip the fd lookup. Returns the registered index.
        """
    def unregister_ring_fd(self) -> None:
        """Undoes ``register_ring_fd`` for the calling thread."""

@final
class Sqe:
    """The handle of one queued submission queue entry, returned by every op.

    ``user_data``, ``flags`` (``IOSQE_*``: ``IOSQE_IO_LINK`` to chain the next op,
    ``IOSQE_FIXED_FILE``, ``IOSQE_ASYNC``, ``IOSQE_BUFFER_SELECT``, ...), ``ioprio``,
    ``buf_group`` and ``personality`` can be read and changed until the ring's next ``submit()``
    (or ``flush_sq()``); reading or setting one afterwards raises ``ValueError`` (``user_data``
    and ``opcode`` stay readable). ``IOSQE_CQE_SKIP_SUCCESS`` is accepted on the leading ops
    of a linked chain that ends in an op without it (see ``flags``): the ring needs a
    completion to know when an op's memory may be released.
    """

    @property
    def opcode(self) -> int:
        """The op's ``IORING_OP_*`` code (read-only)."""
    user_data: int
    """The 64-bit value the op's completions carry; any int in 0..2**64-1, repeats allowed."""
    flags: int
    """``IOSQE_*`` flags (``IOSQE_IO_LINK``, ``IOSQE_IO_HARDLINK``, ``IOSQE_IO_DRAIN``,
    ``IOSQE_ASYNC``, ``IOSQE_FIXED_FILE``, ``IOSQE_BUFFER_SELECT``, ``IOSQE_CQE_SKIP_SUCCESS``).

    ``IOSQE_CQE_SKIP_SUCCESS`` (no completion when the op succeeds) is accepted only with
    ``IOSQE_IO_LINK`` or ``IOSQE_IO_HARDLINK``, and not on ``link_timeout``, on an op that makes
    a new fd (``openat``, ``accept``, ``socket``: the fd would be lost; a direct descriptor is
    fine) or on an ``IORING_SETUP_SQPOLL`` ring (``ValueError`` when set). ``submit()`` and
    ``flush_sq()`` then check its chain and raise ``ValueError``, submitting nothing, unless:
    the skipped ops lead the chain, the first with ``IOSQE_IO_LINK`` (later ones may use
    ``IOSQE_IO_HARDLINK``); one or more ops without the flag follow and end it; the whole chain
    is queued before that flush; it holds no ``link_timeout``. The ring keeps a skipped op's
    memory until a later op of its chain posts a completion that is consumed, or until the op's
    own completion, posted if it fails (a short read or write counts), is consumed. When a
    skipped op with ``IOSQE_IO_LINK`` fails, the kernel cancels the rest of the chain without
    posting their completions; the ring releases them then. A ring that has used the flag gets
    ``-EOPNOTSUPP`` for ``IOSQE_IO_DRAIN`` (the kernel's rule).
    """
    ioprio: int
    """The I/O priority (``ioprio_set(2)`` encoding); some ops use it for flags."""
    buf_group: int
    """The provided-buffer group an op with ``IOSQE_BUFFER_SELECT`` picks from."""
    personality: int
    """A credentials id registered with the kernel (0: the ring's own)."""

@final
class Cqe:
    """One completion: ``user_data``, ``res`` and ``flags``, as the kernel posted them.

    Unpacks as ``user_data, res, flags = cqe`` and compares equal by those three. ``result()``
    turns a negative ``res`` into the ``OSError`` ``os`` functions raise. ``Cqe(user_data, res,
    flags)`` makes one by hand (for tests); it carries no buffer.
    """

    def __new__(cls, user_data: int, res: int, flags: int) -> Self: ...
    @property
    def user_data(self) -> int:
        """The ``user_data`` of the op that posted this completion."""
    @property
    def res(self) -> int:
        """The result: what the syscall would return, or ``-errno``."""
    @property
    def flags(self) -> int:
        """``IORING_CQE_F_*`` bits (``MORE``, ``BUFFER`` with the buffer id above
        ``IORING_CQE_BUFFER_SHIFT``, ``NOTIF``, ``SOCK_NONEMPTY``).
        """
    @property
    def more(self) -> bool:
        """``IORING_CQE_F_MORE``: more completions will follow for this op (multishot, zero-copy
        sends).
        """
    @property
    def buffer_id(self) -> int | None:
        """The provided buffer's id when ``IORING_CQE_F_BUFFER`` is set, else None."""
    def result(self) -> int:
        """``res`` when it is >= 0; otherwise raises the ``OSError`` subclass ``os`` functions raise
        for that errno (``FileNotFoundError`` for ENOENT, ...), with ``errno`` set. A zero-copy
        notification's ``res`` is a usage report and is returned as it is.
        """
    def __iter__(self) -> Iterator[int]:
        """Yields ``user_data``, ``res``, ``flags``."""
    def __len__(self) -> int:
        """3."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Probe:
    """Which opcodes the running kernel supports (``IORING_REGISTER_PROBE``), from ``Ring.probe()``.

    ``probe.supports(uring_rs.IORING_OP_X)`` or ``uring_rs.IORING_OP_X in probe``; iterating
    yields the supported opcodes, ``len()`` counts them, ``names()`` names them.
    """

    @property
    def last_op(self) -> int:
        """The highest opcode the kernel knows."""
    def supports(self, opcode: int) -> bool:
        """Whether the kernel supports ``opcode`` (an ``IORING_OP_*``)."""
    def __contains__(self, opcode: int, /) -> bool:
        """Same as ``supports``."""
    def __iter__(self) -> Iterator[int]:
        """The supported opcodes, in order."""
    def __len__(self) -> int:
        """How many opcodes are supported."""
    def names(self) -> list[str]:
        """Kernel names (without ``IORING_OP_``) of the supported opcodes."""

@final
class BufferRing:
    """A ring of provided buffers (``IORING_REGISTER_PBUF_RING``, Linux 5.19): the kernel picks a
    buffer from group ``group_id`` when an op with ``IOSQE_BUFFER_SELECT`` and ``Sqe.buf_group``
    (or ``ops.recv_multishot``) has data, instead of the caller naming one.

    ``BufferRing(ring, group_id, count, size)``: ``count`` (a power of two up to 32768) buffers
    of ``size`` bytes each, in memory the ring owns. A completion with ``IORING_CQE_F_BUFFER``
    names the buffer it filled (``Cqe.buffer_id``); ``get(cqe)`` returns it as a
    ``ProvidedBuffer``, which goes back to the kernel when released. The memory stays with the
    ring until nothing in flight can use it.

    Raises:
        UringError: the kernel refused the registration (a group id already in use, an older
            kernel: ``ARGUMENTS_INVALID``).
        ValueError: ``count`` is not a power of two, or the ring is closed.
    """

    def __new__(cls, ring: Ring, group_id: int, count: int, size: int) -> Self: ...
    @property
    def group_id(self) -> int:
        """The buffer group id ops name in ``Sqe.buf_group``."""
    @property
    def count(self) -> int:
        """How many buffers the ring holds."""
    @property
    def size(self) -> int:
        """The size of each buffer, in bytes."""
    @property
    def outstanding(self) -> int:
        """Buffers currently handed out as ``ProvidedBuffer`` and not released."""
    @property
    def registered(self) -> bool:
        """Whether the group is registered with an open ring (False once unregistered, or once its
        ring is closed).
        """
    def get(self, cqe: Cqe) -> ProvidedBuffer:
        """The buffer a completion with ``IORING_CQE_F_BUFFER`` filled, holding ``cqe.res`` bytes,
        as a ``ProvidedBuffer``; release it to give it back.

        Raises:
            ValueError: the completion carries no buffer, belongs to another ring or group, was
                only peeked, or its buffer was already taken.
        """
    def unregister(self) -> None:
        """Unregisters the group. Its memory stays with the ring until nothing in flight can use
        it.
        """

@final
class ProvidedBuffer:
    """A provided buffer the kernel filled, taken from a completion with ``BufferRing.get``. Read it
    with ``bytes()``, ``memoryview()`` (it supports the buffer protocol) or ``len()`` (the bytes
    received); ``release()`` it (or use ``with``) to give it back to the kernel. A buffer that is
    never released is lost to the group until its ``BufferRing`` is unregistered.
    """

    @property
    def buffer_id(self) -> int:
        """The buffer's id within its group."""
    def __len__(self) -> int:
        """The number of bytes the kernel put in the buffer."""
    def __bytes__(self) -> bytes:
        """A copy of the received bytes."""
    # The buffer protocol, as typeshed spells it for every version (the
    # dunders exist at runtime from Python 3.12; see stubtest-allowlist.txt).
    def __buffer__(self, flags: int, /) -> memoryview:
        """The received bytes as a read-only buffer (``memoryview(pb)``)."""
    def __release_buffer__(self, buffer: memoryview, /) -> None:
        """Releases a view made by ``__buffer__``."""
    def release(self) -> None:
        """Gives the buffer back to the kernel; a no-op if already released.

        Raises:
            BufferError: a memoryview of it is still open.
        """
    def __enter__(self) -> Self:
        """Returns the buffer."""
    def __exit__(self, exc_type: object, exc: object, tb: object) -> Literal[False]:
        """Releases the buffer; exceptions propagate."""

@final
class Statx:
    """What ``ops.statx`` fills in: ``Statx()`` makes an empty one (all zero).

    Pass it as ``statxbuf`` and read the fields once the completion has been consumed; ``mask``
    says which ones the kernel filled (``STATX_*``), the others are zero. One op at a time:
    handing it to a second op while ``in_flight`` raises ``ValueError``.
    """

    def __new__(cls) -> Self: ...
    @property
    def in_flight(self) -> bool:
        """An op holding this object has not finished: the fields are not final."""
    @property
    def mask(self) -> int:
        """``STATX_*`` bits: which fields the kernel filled in."""
    @property
    def blksize(self) -> int:
        """Preferred I/O block size (``st_blksize``)."""
    @property
    def attributes(self) -> int:
        """``STATX_ATTR_*`` bits of the file."""
    @property
    def attributes_mask(self) -> int:
        """Which ``STATX_ATTR_*`` bits the filesystem supports."""
    @property
    def nlink(self) -> int:
        """Number of hard links."""
    @property
    def uid(self) -> int:
        """Owner's user id."""
    @property
    def gid(self) -> int:
        """Owner's group id."""
    @property
    def mode(self) -> int:
        """File type and permission bits, as ``os.stat_result.st_mode``."""
    @property
    def ino(self) -> int:
        """Inode number."""
    @property
    def size(self) -> int:
        """Size in bytes."""
    @property
    def blocks(self) -> int:
        """Number of 512-byte blocks allocated."""
    @property
    def atime(self) -> float:
        """Last access, in seconds since the epoch."""
    @property
    def atime_ns(self) -> int:
        """Last access, in nanoseconds since the epoch."""
    @property
    def btime(self) -> float:
        """Creation (birth) time, in seconds (``STATX_BTIME``)."""
    @property
    def btime_ns(self) -> int:
        """Creation (birth) time, in nanoseconds."""
    @property
    def ctime(self) -> float:
        """Last status change, in seconds."""
    @property
    def ctime_ns(self) -> int:
        """Last status change, in nanoseconds."""
    @property
    def mtime(self) -> float:
        """Last modification, in seconds."""
    @property
    def mtime_ns(self) -> int:
        """Last modification, in nanoseconds."""
    @property
    def rdev_major(self) -> int:
        """Major number of the device this file is (device files)."""
    @property
    def rdev_minor(self) -> int:
        """Minor number of the device this file is."""
    @property
    def dev_major(self) -> int:
        """Major number of the device holding the file."""
    @property
    def dev_minor(self) -> int:
        """Minor number of the device holding the file."""
    @property
    def dev(self) -> int:
        """``dev_major`` and ``dev_minor`` combined, as ``os.stat_result.st_dev``."""
    @property
    def rdev(self) -> int:
        """``rdev_major`` and ``rdev_minor`` combined, as ``os.stat_result.st_rdev``."""
    @property
    def mnt_id(self) -> int:
        """Mount id (``STATX_MNT_ID``, ``STATX_MNT_ID_UNIQUE``)."""
    @property
    def dio_mem_align(self) -> int:
        """Memory alignment O_DIRECT needs (``STATX_DIOALIGN``)."""
    @property
    def dio_offset_align(self) -> int:
        """File offset alignment O_DIRECT needs (``STATX_DIOALIGN``)."""
    @property
    def dio_read_offset_align(self) -> int:
        """File offset alignment O_DIRECT reads need (``STATX_DIO_READ_ALIGN``)."""
    @property
    def subvol(self) -> int:
        """Subvolume id (``STATX_SUBVOL``, btrfs and bcachefs)."""
    @property
    def atomic_write_unit_min(self) -> int:
        """Smallest atomic write, in bytes (``STATX_WRITE_ATOMIC``)."""
    @property
    def atomic_write_unit_max(self) -> int:
        """Largest atomic write, in bytes."""
    @property
    def atomic_write_unit_max_opt(self) -> int:
        """Largest atomic write that performs well, in bytes."""
    @property
    def atomic_write_segments_max(self) -> int:
        """Most iovec segments an atomic write may have."""

@final
class MsgHdr:
    """What ``ops.recvmsg`` fills in besides the data.

    ``MsgHdr(controllen=0)`` makes one with room for ``controllen`` bytes of ancillary data; pass
    it as ``msg``, then read ``flags``, ``address`` and ``ancdata`` once the completion has been
    consumed. One op at a time, like ``Statx``.
    """

    def __new__(cls, controllen: int = 0) -> Self: ...
    @property
    def in_flight(self) -> bool:
        """An op holding this object has not finished: the fields are not final."""
    @property
    def controllen(self) -> int:
        """Room for ancillary data, in bytes."""
    @property
    def flags(self) -> int:
        """``msg_flags`` of the last recvmsg (``socket.MSG_TRUNC``, ``MSG_CTRUNC``, ...), without
        the ``MSG_CMSG_CLOEXEC`` recvmsg always adds.
        """
    @property
    def address(self) -> _Address | tuple[int, bytes] | None:
        """The sender's address, as ``socket.recvfrom`` returns it (None when the socket reports
        none, as for a connected stream).
        """
    @property
    def ancdata(self) -> list[tuple[int, int, bytes]]:
        """Ancillary data as ``socket.recvmsg`` returns it: a list of ``(level, type, data)``."""

@final
class Siginfo:
    """What ``ops.waitid`` fills in: ``Siginfo()`` makes an empty one.

    Pass it as ``infop`` and read the fields (named as ``os.waitid``'s result) once the
    completion has been consumed. One op at a time, like ``Statx``.
    """

    def __new__(cls) -> Self: ...
    @property
    def in_flight(self) -> bool:
        """An op holding this object has not finished: the fields are not final."""
    @property
    def si_signo(self) -> int:
        """``signal.SIGCHLD`` when a child changed state, 0 when none had (``os.WNOHANG``)."""
    @property
    def si_code(self) -> int:
        """``os.CLD_EXITED``, ``os.CLD_KILLED``, ``os.CLD_DUMPED``, ..."""
    @property
    def si_pid(self) -> int:
        """The child's process id."""
    @property
    def si_uid(self) -> int:
        """The child's real user id."""
    @property
    def si_status(self) -> int:
        """The exit status, or the signal that stopped or killed the child."""

def kernel_release() -> str:
    """The running kernel's release (``uname -r``), e.g. ``'6.8.0-45-generic'``."""

def opcode_names() -> list[str]:
    """Kernel names (without ``IORING_OP_``) of every opcode uring_rs knows, indexed by opcode."""

# ops
def nop(ring: Ring, user_data: int) -> Sqe:
    """Queues a no-op (``IORING_OP_NOP``): completes with ``res == 0``. Measures the ring's own
    cost, or wakes a waiter.
    """

def read(ring: Ring, user_data: int, fd: _Fd, buf: Buffer, offset: int) -> Sqe:
    """Queues ``read(2)``/``pread(2)``: reads up to ``len(buf)`` bytes of ``fd`` at ``offset`` (-1:
    the file position) into ``buf``. The result is the number of bytes read.

    ``buf`` must be writable and C-contiguous (``bytearray``, ``memoryview`` of one, ``mmap``,
    ``array``, numpy array); the ring keeps it alive and pinned until the completion is consumed.

    Raises:
        TypeError, BufferError: ``buf`` is read-only or not contiguous (nothing is queued).
        UringError: ``SUBMISSION_QUEUE_FULL``: submit and reap, then queue again.
    """

def write(ring: Ring, user_data: int, fd: _Fd, buf: Buffer, offset: int) -> Sqe:
    """Queues ``write(2)``/``pwrite(2)`` of ``buf`` to ``fd`` at ``offset`` (-1: the file position;
    a file opened with ``O_APPEND`` appends). The result is the number of bytes written, which
    may be short. ``buf`` (any buffer) is pinned until the completion.
    """

def fsync(ring: Ring, user_data: int, fd: _Fd, flags: int = 0) -> Sqe:
    """Queues ``fsync(2)`` of ``fd``; ``flags`` may be ``IORING_FSYNC_DATASYNC`` (``fdatasync``)."""

def accept(ring: Ring, user_data: int, sockfd: _Fd, flags: int = 0) -> Sqe:
    """Queues ``accept4(2)`` on a listening socket; the result is the new connection's fd
    (``SOCK_CLOEXEC`` is always added, as ``socket.accept`` does, PEP 446). ``flags`` are
    ``accept4`` flags (``socket.SOCK_NONBLOCK``).
    """

def connect(ring: Ring, user_data: int, sockfd: _Fd, address: _Address) -> Sqe:
    """Queues ``connect(2)`` of ``sockfd`` to ``address``, written as the socket module writes it
    for the socket's family (AF_INET ``(host, port)``, AF_INET6 ``(host, port[, flowinfo,
    scope_id])``, AF_UNIX a path). The result is 0.

    Raises:
        ValueError: the host is a name, not a numeric address (resolve it first).
    """

def recv(ring: Ring, user_data: int, sockfd: _Fd, buf: Buffer, flags: int = 0) -> Sqe:
    """Queues ``recv(2)`` into ``buf`` (writable, pinned until the completion); ``flags`` are
    ``socket.MSG_*``. The result is the number of bytes received, 0 at end of stream. With
    ``IOSQE_BUFFER_SELECT`` and ``Sqe.buf_group``, pass ``bytearray(0)``: the kernel picks a
    provided buffer instead.
    """

def send(ring: Ring, user_data: int, sockfd: _Fd, buf: Buffer, flags: int = 0) -> Sqe:
    """Queues ``send(2)`` of ``buf``; ``flags`` are ``socket.MSG_*``. The result is the number of
    bytes sent, which may be short on a stream socket.
    """

def openat(
    ring: Ring, user_data: int, dirfd: _Fd, path: _Path, flags: int = 0, mode: int = 0o644
) -> Sqe:
    """Queues ``openat(2)``, arguments in ``os.open``'s order: ``path`` relative to ``dirfd``
    (``AT_FDCWD``: the working directory). The result is the new fd; ``O_CLOEXEC`` is always
    added, as ``os.open`` does (PEP 446). ``path`` is copied.
    """

def close(ring: Ring, user_data: int, fd: _Fd) -> Sqe:
    """Queues ``close(2)`` of ``fd``."""

def timeout(ring: Ring, user_data: int, seconds: float, count: int = 0, flags: int = 0) -> Sqe:
    """Queues a timeout: completes with ``-ETIME`` after ``seconds``, or with 0 once ``count`` other
    completions have been posted (``count > 0``). ``flags``: ``IORING_TIMEOUT_ABS``,
    ``_BOOTTIME``, ``_REALTIME``, ``_MULTISHOT``, ``_ETIME_SUCCESS``.
    """

def timeout_remove(ring: Ring, user_data: int, timeout_user_data: int, flags: int = 0) -> Sqe:
    """Queues the removal of the in-flight timeout queued with ``timeout_user_data``; that timeout
    completes with ``-ECANCELED``, this op with 0 (or ``-ENOENT``, ``-EALREADY``).
    """

def link_timeout(ring: Ring, user_data: int, seconds: float, flags: int = 0) -> Sqe:
    """Queues a timeout for the previous op, which must carry ``IOSQE_IO_LINK``: if that op has not
    completed after ``seconds``, it is cancelled (``-ECANCELED``) and this op completes with
    ``-ETIME``.
    """

def poll_add(ring: Ring, user_data: int, fd: _Fd, events: int, flags: int = 0) -> Sqe:
    """Queues a poll for ``events`` (``select.POLLIN``, ``POLLOUT``, ...) on ``fd``; the result is
    the events that fired. With ``flags=IORING_POLL_ADD_MULTI`` (Linux 5.13) it posts one
    completion per readiness change while ``Cqe.more``.
    """

def poll_remove(ring: Ring, user_data: int, target_user_data: int) -> Sqe:
    """Queues the removal of the in-flight poll queued with ``target_user_data``."""

def read_fixed(
    ring: Ring,
    user_data: int,
    fd: _Fd,
    buf_index: int,
    offset: int,
    nbytes: int | None = None,
    buf_offset: int = 0,
) -> Sqe:
    """Queues a read into registered buffer ``buf_index`` (see ``Ring.register_buffers``):
    ``nbytes`` (default: the rest of the buffer) at ``buf_offset`` within it, from ``fd`` at
    ``offset``. The op pins the buffer for its own lifetime, so ``unregister_buffers`` while it
    runs is safe.
    """

def write_fixed(
    ring: Ring,
    user_data: int,
    fd: _Fd,
    buf_index: int,
    offset: int,
    nbytes: int | None = None,
    buf_offset: int = 0,
) -> Sqe:
    """Queues a write from registered buffer ``buf_index``; arguments as ``read_fixed``."""

def accept_multishot(ring: Ring, user_data: int, sockfd: _Fd, flags: int = 0) -> Sqe:
    """Queues a multishot accept (Linux 5.19): one completion per accepted connection (its fd in
    ``res``, ``SOCK_CLOEXEC`` added) while ``Cqe.more``; the last one (an error, or cancellation)
    has ``more == False``.
    """

def recv_multishot(ring: Ring, user_data: int, sockfd: _Fd, buf_group: int, flags: int = 0) -> Sqe:
    """Queues a multishot recv (Linux 6.0): each completion carries a buffer the kernel picked from
    provided-buffer group ``buf_group`` (``Cqe.buffer_id``; take it with ``BufferRing.get``). It
    ends with a completion whose ``more`` is False: end of stream, an error, or ``-ENOBUFS`` when
    the group ran dry (release buffers and queue it again).
    """

def provide_buffers(
    ring: Ring,
    user_data: int,
    buf: Buffer,
    size: int,
    count: int,
    group_id: int,
    start_id: int = 0,
) -> Sqe:
    """Queues ``IORING_OP_PROVIDE_BUFFERS``: hands ``count`` buffers of ``size`` bytes, carved from
    ``buf``, to the kernel as group ``group_id`` with ids from ``start_id``. The older interface
    (prefer ``BufferRing``): ``buf`` stays pinned until the ring is closed.
    """

def remove_buffers(ring: Ring, user_data: int, count: int, group_id: int) -> Sqe:
    """Queues the removal of up to ``count`` buffers of group ``group_id``; the result is how many
    were removed.
    """

def poll_update(
    ring: Ring,
    user_data: int,
    old_user_data: int,
    new_user_data: int,
    events: int,
    flags: int,
) -> Sqe:
    """Queues an update of the in-flight poll queued with ``old_user_data``: its events (with
    ``IORING_POLL_UPDATE_EVENTS`` in ``flags``) and/or its user_data (with
    ``IORING_POLL_UPDATE_USER_DATA``: later completions carry ``new_user_data``). ``flags`` may
    add ``IORING_POLL_ADD_MULTI``.
    """

def timeout_update(
    ring: Ring, user_data: int, timeout_user_data: int, seconds: float, flags: int = 0
) -> Sqe:
    """Queues a change of the in-flight timeout queued with ``timeout_user_data`` to expire after
    ``seconds`` (``IORING_TIMEOUT_UPDATE``, Linux 5.11).
    """

def msg_ring(
    ring: Ring, user_data: int, target: Ring | int, res: int, target_user_data: int, flags: int = 0
) -> Sqe:
    """Queues ``IORING_OP_MSG_RING`` (Linux 5.18): posts a completion with ``res`` and
    ``target_user_data`` on ``target`` (a ``Ring``, or a ring fd): a way to wake or message a
    ring another thread waits on. ``flags`` go to the kernel as the op's ``IORING_MSG_RING_*``
    flags.
    """

def read_many(
    ring: Ring,
    user_data: int,
    fd: _Fd,
    buf: Buffer,
    offsets: Buffer | Iterable[int],
    size: int,
    *,
    flags: int = 0,
) -> int:
    """Queues one read per offset, all or nothing: read ``i`` fills ``buf[i*size:(i+1)*size]`` from
    ``offsets[i]`` of ``fd`` and completes with user_data ``user_data + i``. Returns the number
    queued.

    ``offsets`` is a buffer of int64 (``array('q')``, numpy ``int64``) or any iterable of ints;
    ``buf`` must hold ``len(offsets) * size`` bytes and is pinned once for the whole batch.
    ``flags`` (``IOSQE_*``, e.g. ``IOSQE_FIXED_FILE`` with a registered index as ``fd``) go on
    every SQE. With ``IOSQE_CQE_SKIP_SUCCESS | IOSQE_IO_LINK`` the ops lead a chain (see
    ``Sqe.flags``): queue the op that ends it (an ``fsync``, say) before ``submit()``. The SQ
    must then have room for it too, and ``buf`` is kept until that op's completion is consumed.

    Raises:
        UringError: ``SUBMISSION_QUEUE_FULL`` when the SQ lacks room for every op (nothing is
            queued); with ``IOSQE_CQE_SKIP_SUCCESS``, for one more.
        ValueError: ``buf`` is too small, ``user_data + len(offsets)`` passes 2**64-1, or
            ``IOSQE_CQE_SKIP_SUCCESS`` breaks the rule of ``Sqe.flags`` so far (nothing is
            queued).
    """

def write_many(
    ring: Ring,
    user_data: int,
    fd: _Fd,
    buf: Buffer,
    offsets: Buffer | Iterable[int],
    size: int,
    *,
    flags: int = 0,
) -> int:
    """Queues one write per offset from consecutive ``size``-byte slices of ``buf``, all or nothing;
    arguments and results as ``read_many``.
    """

def nop_many(ring: Ring, user_data: int, count: int) -> int:
    """Queues ``count`` no-ops with user_data ``user_data + i``, all or nothing; returns
    ``count``.
    """

@final
class _FreshBytes:
    """A new, uninitialised ``bytes`` object of ``size`` bytes for one read to fill (the
    buffer protocol: writable), then handed out with no copy by ``take``. Nobody else sees
    the object before ``take``."""

    def __new__(cls, size: int) -> Self: ...
    def take(self, got: int) -> bytes:
        """The first ``got`` bytes the completed read wrote, as that object (shrunk in place),
        once. Raises BufferError while still exported (a read may be in flight), ValueError
        if already taken."""
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...
    def __len__(self) -> int: ...

@final
class _Pipes:
    """``copy_file``'s pipes, owned from the moment they exist: closed by ``close()`` or,
    whatever happens in between, when the object is freed."""

    def __new__(cls, count: int, size: int) -> Self:
        """``count`` pipes (``O_CLOEXEC``), each sized to at least ``size`` bytes with
        ``F_SETPIPE_SZ`` where it can be."""
    @property
    def fds(self) -> list[tuple[int, int]]:
        """The (read end, write end) of each pipe; empty once closed."""
    @property
    def sized(self) -> bool:
        """Whether every pipe holds at least ``size`` bytes."""
    def close(self) -> None:
        """Closes them all (again: nothing)."""

def _fstat_brief(fd: int) -> tuple[int, int, int]:
    """``(st_mode, st_size, st_blksize)`` of an open fd: what ``aio.open`` needs of
    ``os.fstat``, without building its full result; the same ``OSError`` on failure."""

def _preallocate(fd: int, len: int) -> bool:
    """``fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, len)`` without the GIL: the blocks a copy of
    ``len`` bytes will fill, reserved at once (the size is unchanged). Whether it worked: a
    filesystem without fallocate, a full disk or a signal are no error here."""

def _read_files(
    paths: list[Any], max_in_flight: int, direct: bool = True
) -> tuple[list[bytes | None], list[tuple[int, int, str | bytes]]]:
    """``uring_rs.read_files``' native loop (the wrapper checks ``max_in_flight`` and builds
    the exceptions): the contents in input order (None for a path that failed) and the
    failures as (index, errno, the path as ``os.fspath`` gave it). ``direct=False`` uses
    plain descriptors where direct ones work.
    """

def _read_files_direct() -> bool:
    """Whether this kernel lets ``read_files`` use direct descriptors
    (``IORING_FEAT_LINKED_FILE``)."""

def cancel(ring: Ring, user_data: int, target_user_data: int, flags: int = 0) -> Sqe:
    """Queues ``IORING_OP_ASYNC_CANCEL`` of the in-flight op queued with ``target_user_data``.
    ``flags``: ``IORING_ASYNC_CANCEL_ALL`` (every op with that user_data: one cancel is queued
    per op, each with its own completion, and the last ``Sqe`` is returned) or
    ``IORING_ASYNC_CANCEL_ANY`` (every op). The result is >= 0 when found and cancelled, else
    ``-ENOENT`` (nothing to cancel) or ``-EALREADY`` (running, may still complete). The cancelled
    op completes with ``-ECANCELED``.
    """

def cancel_fd(ring: Ring, user_data: int, fd: _Fd, flags: int = 0) -> Sqe:
    """Queues the cancellation of in-flight ops on ``fd`` (``IORING_ASYNC_CANCEL_FD``, Linux 5.19;
    ``flags`` may add ``IORING_ASYNC_CANCEL_ALL`` and ``_FD_FIXED``).
    """

# files
def readv(
    ring: Ring, user_data: int, fd: _Fd, buffers: Iterable[Buffer], offset: int, flags: int = 0
) -> Sqe:
    """Queues ``preadv2(2)`` into a sequence of writable buffers (at most 1024, each pinned) at
    ``offset`` (-1: the file position); ``flags`` are ``os.RWF_*``.
    """

def writev(
    ring: Ring, user_data: int, fd: _Fd, buffers: Iterable[Buffer], offset: int, flags: int = 0
) -> Sqe:
    """Queues ``pwritev2(2)`` from a sequence of buffers (at most 1024) at ``offset``; ``flags`` are
    ``os.RWF_*`` (``RWF_APPEND``, ``RWF_DSYNC``, ...).
    """

def statx(
    ring: Ring,
    user_data: int,
    dirfd: _Fd,
    path: _Path,
    flags: int = 0,
    mask: int = 0x7FF,
    statxbuf: Statx | None = None,
) -> Sqe:
    """Queues ``statx(2)`` of ``path`` relative to ``dirfd`` into ``statxbuf``, a ``Statx``
    (required: the kernel needs somewhere to write); read it once the completion has been
    consumed. ``flags``: ``AT_*`` (``AT_EMPTY_PATH`` with ``path=""`` stats ``dirfd`` itself);
    ``mask``: ``STATX_*``.
    """

def fallocate(ring: Ring, user_data: int, fd: _Fd, mode: int, offset: int, length: int) -> Sqe:
    """Queues ``fallocate(2)``: ``mode`` is 0 or ``FALLOC_FL_*``."""

def fadvise(ring: Ring, user_data: int, fd: _Fd, offset: int, length: int, advice: int) -> Sqe:
    """Queues ``posix_fadvise(2)``: ``advice`` is ``os.POSIX_FADV_*``; ``length`` 0 means to the end
    of the file (4 GiB and more: Linux 6.11).
    """

def madvise(ring: Ring, user_data: int, buf: Buffer, advice: int) -> Sqe:
    """Queues ``madvise(2)`` on ``buf``'s memory (``mmap.MADV_*``); ``buf`` is pinned until the
    completion. Advice that could crash the process or change memory ``buf`` does not own
    (``MADV_DONTFORK``, ``MADV_HWPOISON``, guard pages, ...) raises ``ValueError``; ``DONTNEED``,
    ``FREE``, ``REMOVE``, ``WIPEONFORK`` and ``POPULATE_WRITE`` need a writable buffer on page
    boundaries (an ``mmap.mmap``).
    """

def ftruncate(ring: Ring, user_data: int, fd: _Fd, length: int) -> Sqe:
    """Queues ``ftruncate(2)`` of ``fd`` to ``length`` bytes (Linux 6.9)."""

def sync_file_range(
    ring: Ring, user_data: int, fd: _Fd, offset: int, nbytes: int, flags: int = 0
) -> Sqe:
    """Queues ``sync_file_range(2)``: ``nbytes`` 0 means to the end of the file; ``flags`` are
    ``SYNC_FILE_RANGE_*``.
    """

def unlinkat(ring: Ring, user_data: int, dirfd: _Fd, path: _Path, flags: int = 0) -> Sqe:
    """Queues ``unlinkat(2)`` (Linux 5.11): ``flags`` 0, or ``AT_REMOVEDIR`` to remove a
    directory.
    """

def renameat(
    ring: Ring,
    user_data: int,
    olddirfd: _Fd,
    oldpath: _Path,
    newdirfd: _Fd,
    newpath: _Path,
    flags: int = 0,
) -> Sqe:
    """Queues ``renameat2(2)`` (Linux 5.11): ``flags`` are ``RENAME_*``."""

def mkdirat(ring: Ring, user_data: int, dirfd: _Fd, path: _Path, mode: int = 0o777) -> Sqe:
    """Queues ``mkdirat(2)`` (Linux 5.15)."""

def symlinkat(ring: Ring, user_data: int, target: _Path, newdirfd: _Fd, linkpath: _Path) -> Sqe:
    """Queues ``symlinkat(2)`` (Linux 5.15): makes ``linkpath`` (relative to ``newdirfd``) point at
    ``target``.
    """

def linkat(
    ring: Ring,
    user_data: int,
    olddirfd: _Fd,
    oldpath: _Path,
    newdirfd: _Fd,
    newpath: _Path,
    flags: int = 0,
) -> Sqe:
    """Queues ``linkat(2)`` (Linux 5.15): ``flags`` 0 or ``AT_SYMLINK_FOLLOW``."""

def openat2(
    ring: Ring,
    user_data: int,
    dirfd: _Fd,
    path: _Path,
    flags: int = 0,
    mode: int = 0,
    resolve: int = 0,
) -> Sqe:
    """Queues ``openat2(2)``: ``resolve`` is ``RESOLVE_*``; ``O_CLOEXEC`` is always added. The
    kernel is strict where ``openat`` is lenient: a ``mode`` without ``O_CREAT``/``O_TMPFILE``,
    or an unknown flag, completes with ``-EINVAL``.
    """

def close_fixed(ring: Ring, user_data: int, file_index: int) -> Sqe:
    """Queues the close of registered file ``file_index`` (Linux 5.15)."""

def files_update(ring: Ring, user_data: int, fds: Iterable[_Fd], offset: int = 0) -> Sqe:
    """Queues ``IORING_OP_FILES_UPDATE``: replaces registered files from index ``offset`` on with
    ``fds`` (-1 empties a slot); the result is the number updated.
    """

def splice(
    ring: Ring,
    user_data: int,
    fd_in: _Fd,
    off_in: int,
    fd_out: _Fd,
    off_out: int,
    nbytes: int,
    flags: int = 0,
) -> Sqe:
    """Queues ``splice(2)``: moves up to ``nbytes`` from ``fd_in`` to ``fd_out``, one of which must
    be a pipe. An offset of -1 means none (the fd's own position; a pipe's must be -1).
    ``flags``: ``SPLICE_F_*``.
    """

def tee(ring: Ring, user_data: int, fd_in: _Fd, fd_out: _Fd, nbytes: int, flags: int = 0) -> Sqe:
    """Queues ``tee(2)``: duplicates up to ``nbytes`` from pipe ``fd_in`` to pipe ``fd_out`` without
    consuming them.
    """

# network
def socket(
    ring: Ring, user_data: int, domain: int, type: int, protocol: int = 0, flags: int = 0
) -> Sqe:
    """Queues ``socket(2)`` (Linux 5.19); the result is the new fd. ``SOCK_CLOEXEC`` is always added
    to ``type``. ``flags`` is reserved by the kernel (0).
    """

def shutdown(ring: Ring, user_data: int, sockfd: _Fd, how: int) -> Sqe:
    """Queues ``shutdown(2)``: ``how`` is ``socket.SHUT_RD``, ``SHUT_WR`` or ``SHUT_RDWR``."""

def sendmsg(
    ring: Ring,
    user_data: int,
    sockfd: _Fd,
    buffers: Iterable[Buffer],
    address: _Address | None = None,
    flags: int = 0,
    *,
    ancdata: Iterable[tuple[int, int, Buffer]] | None = None,
) -> Sqe:
    """Queues ``sendmsg(2)`` of a sequence of buffers (at most 1024), to ``address`` (for an
    unconnected datagram socket) and with ``ancdata`` (``[(level, type, data)]`` as
    ``socket.sendmsg`` takes it, e.g. ``SCM_RIGHTS`` to pass fds). Everything is copied or pinned
    until the completion.
    """

def sendmsg_zc(
    ring: Ring,
    user_data: int,
    sockfd: _Fd,
    buffers: Iterable[Buffer],
    address: _Address | None = None,
    flags: int = 0,
    *,
    ancdata: Iterable[tuple[int, int, Buffer]] | None = None,
) -> Sqe:
    """Queues a zero-copy ``sendmsg`` (Linux 6.1): completes as ``send_zc`` does, with a second,
    ``IORING_CQE_F_NOTIF`` completion once the kernel no longer reads the buffers.
    """

def recvmsg(
    ring: Ring,
    user_data: int,
    sockfd: _Fd,
    buffers: Iterable[Buffer],
    flags: int = 0,
    msg: MsgHdr | None = None,
) -> Sqe:
    """Queues ``recvmsg(2)`` into a sequence of writable buffers. To learn the sender's address,
    ``msg_flags`` or ancillary data, pass ``msg``, a ``MsgHdr``, and read it once the completion
    has been consumed. ``MSG_CMSG_CLOEXEC`` is always added, so received fds are not inherited
    (PEP 446).
    """

def send_zc(
    ring: Ring, user_data: int, sockfd: _Fd, buf: Buffer, flags: int = 0, zc_flags: int = 0
) -> Sqe:
    """Queues a zero-copy send (Linux 6.0). Two completions with the same user_data: the result
    (``Cqe.more`` true), then a notification (``IORING_CQE_F_NOTIF``, ``more`` false) once the
    kernel no longer reads ``buf``, which stays pinned until then. With
    ``zc_flags=IORING_SEND_ZC_REPORT_USAGE`` the notification's ``res &
    IORING_NOTIF_USAGE_ZC_COPIED`` says the data was copied after all (test it with ``&``: that
    bit makes ``res`` negative).
    """

def bind(ring: Ring, user_data: int, sockfd: _Fd, address: _Address) -> Sqe:
    """Queues ``bind(2)`` (Linux 6.11); ``address`` as the socket module writes it."""

def listen(ring: Ring, user_data: int, sockfd: _Fd, backlog: int) -> Sqe:
    """Queues ``listen(2)`` (Linux 6.11)."""

# processes and futexes
def waitid(
    ring: Ring, user_data: int, idtype: int, id: int, options: int, infop: Siginfo | None = None
) -> Sqe:
    """Queues ``waitid(2)`` (Linux 6.7): ``idtype`` is ``os.P_PID``, ``P_PIDFD``, ``P_PGID`` or
    ``P_ALL``; ``options`` ``os.WEXITED``, ... The result is 0 (or ``-ECHILD``, ...); what
    happened lands in ``infop``, a ``Siginfo``, when given.
    """

def futex_wait(
    ring: Ring,
    user_data: int,
    buf: Buffer,
    offset: int,
    val: int,
    mask: int = 0xFFFFFFFF,
    futex_flags: int = 130,
    flags: int = 0,
) -> Sqe:
    """Queues a futex wait (Linux 6.7) on the word at ``buf[offset:offset+4]`` (aligned; ``buf`` is
    pinned): completes when woken, or at once with ``-EAGAIN`` if the word no longer holds
    ``val``. The default ``futex_flags`` are ``FUTEX2_SIZE_U32 | FUTEX2_PRIVATE`` (a word in this
    process); use ``FUTEX2_SIZE_U32`` alone for one in shared memory.
    """

def futex_wake(
    ring: Ring,
    user_data: int,
    buf: Buffer,
    offset: int,
    val: int,
    mask: int = 0xFFFFFFFF,
    futex_flags: int = 130,
    flags: int = 0,
) -> Sqe:
    """Queues a futex wake (Linux 6.7) of up to ``val`` waiters of the word at ``buf[offset]``; the
    result is how many were woken.
    """

# constants (the kernel's names)
IORING_SETUP_IOPOLL: int
IORING_SETUP_SQPOLL: int
IORING_SETUP_SQ_AFF: int
IORING_SETUP_CQSIZE: int
IORING_SETUP_CLAMP: int
IORING_SETUP_ATTACH_WQ: int
IORING_SETUP_R_DISABLED: int
IORING_SETUP_SUBMIT_ALL: int
IORING_SETUP_COOP_TASKRUN: int
IORING_SETUP_TASKRUN_FLAG: int
IORING_SETUP_SQE128: int
IORING_SETUP_CQE32: int
IORING_SETUP_SINGLE_ISSUER: int
IORING_SETUP_DEFER_TASKRUN: int
IORING_SETUP_NO_MMAP: int
IORING_SETUP_REGISTERED_FD_ONLY: int
IORING_SETUP_NO_SQARRAY: int
IORING_SETUP_HYBRID_IOPOLL: int
IORING_SQ_NEED_WAKEUP: int
IORING_SQ_CQ_OVERFLOW: int
IORING_SQ_TASKRUN: int
IORING_CQ_EVENTFD_DISABLED: int
IORING_ENTER_GETEVENTS: int
IORING_ENTER_SQ_WAKEUP: int
IORING_ENTER_SQ_WAIT: int
IORING_ENTER_EXT_ARG: int
IORING_ENTER_REGISTERED_RING: int
IORING_ENTER_ABS_TIMER: int
IORING_ENTER_EXT_ARG_REG: int
IORING_ENTER_NO_IOWAIT: int
IORING_FEAT_SINGLE_MMAP: int
IORING_FEAT_NODROP: int
IORING_FEAT_SUBMIT_STABLE: int
IORING_FEAT_RW_CUR_POS: int
IORING_FEAT_CUR_PERSONALITY: int
IORING_FEAT_FAST_POLL: int
IORING_FEAT_POLL_32BITS: int
IORING_FEAT_SQPOLL_NONFIXED: int
IORING_FEAT_EXT_ARG: int
IORING_FEAT_NATIVE_WORKERS: int
IORING_FEAT_RSRC_TAGS: int
IORING_FEAT_CQE_SKIP: int
IORING_FEAT_LINKED_FILE: int
IORING_FEAT_REG_REG_RING: int
IORING_FEAT_RECVSEND_BUNDLE: int
IORING_FEAT_MIN_TIMEOUT: int
IORING_FEAT_RW_ATTR: int
IORING_FEAT_NO_IOWAIT: int
IOSQE_FIXED_FILE: int
IOSQE_IO_DRAIN: int
IOSQE_IO_LINK: int
IOSQE_IO_HARDLINK: int
IOSQE_ASYNC: int
IOSQE_BUFFER_SELECT: int
IOSQE_CQE_SKIP_SUCCESS: int
IORING_CQE_F_BUFFER: int
IORING_CQE_F_MORE: int
IORING_CQE_F_SOCK_NONEMPTY: int
IORING_CQE_F_NOTIF: int
IORING_CQE_F_BUF_MORE: int
IORING_CQE_BUFFER_SHIFT: int
IORING_TIMEOUT_ABS: int
IORING_TIMEOUT_UPDATE: int
IORING_TIMEOUT_BOOTTIME: int
IORING_TIMEOUT_REALTIME: int
IORING_LINK_TIMEOUT_UPDATE: int
IORING_TIMEOUT_ETIME_SUCCESS: int
IORING_TIMEOUT_MULTISHOT: int
IORING_TIMEOUT_CLOCK_MASK: int
IORING_TIMEOUT_UPDATE_MASK: int
IORING_POLL_ADD_MULTI: int
IORING_POLL_UPDATE_EVENTS: int
IORING_POLL_UPDATE_USER_DATA: int
IORING_POLL_ADD_LEVEL: int
IORING_ASYNC_CANCEL_ALL: int
IORING_ASYNC_CANCEL_FD: int
IORING_ASYNC_CANCEL_ANY: int
IORING_ASYNC_CANCEL_FD_FIXED: int
IORING_ASYNC_CANCEL_USERDATA: int
IORING_ASYNC_CANCEL_OP: int
IORING_FSYNC_DATASYNC: int
IORING_RECVSEND_POLL_FIRST: int
IORING_RECV_MULTISHOT: int
IORING_RECVSEND_FIXED_BUF: int
IORING_SEND_ZC_REPORT_USAGE: int
IORING_RECVSEND_BUNDLE: int
IORING_ACCEPT_MULTISHOT: int
IORING_ACCEPT_DONTWAIT: int
IORING_ACCEPT_POLL_FIRST: int
IORING_OP_NOP: int
IORING_OP_READV: int
IORING_OP_WRITEV: int
IORING_OP_FSYNC: int
IORING_OP_READ_FIXED: int
IORING_OP_WRITE_FIXED: int
IORING_OP_POLL_ADD: int
IORING_OP_POLL_REMOVE: int
IORING_OP_SYNC_FILE_RANGE: int
IORING_OP_SENDMSG: int
IORING_OP_RECVMSG: int
IORING_OP_TIMEOUT: int
IORING_OP_TIMEOUT_REMOVE: int
IORING_OP_ACCEPT: int
IORING_OP_ASYNC_CANCEL: int
IORING_OP_LINK_TIMEOUT: int
IORING_OP_CONNECT: int
IORING_OP_FALLOCATE: int
IORING_OP_OPENAT: int
IORING_OP_CLOSE: int
IORING_OP_FILES_UPDATE: int
IORING_OP_STATX: int
IORING_OP_READ: int
IORING_OP_WRITE: int
IORING_OP_FADVISE: int
IORING_OP_MADVISE: int
IORING_OP_SEND: int
IORING_OP_RECV: int
IORING_OP_OPENAT2: int
IORING_OP_EPOLL_CTL: int
IORING_OP_SPLICE: int
IORING_OP_PROVIDE_BUFFERS: int
IORING_OP_REMOVE_BUFFERS: int
IORING_OP_TEE: int
IORING_OP_SHUTDOWN: int
IORING_OP_RENAMEAT: int
IORING_OP_UNLINKAT: int
IORING_OP_MKDIRAT: int
IORING_OP_SYMLINKAT: int
IORING_OP_LINKAT: int
IORING_OP_MSG_RING: int
IORING_OP_FSETXATTR: int
IORING_OP_SETXATTR: int
IORING_OP_FGETXATTR: int
IORING_OP_GETXATTR: int
IORING_OP_SOCKET: int
IORING_OP_URING_CMD: int
IORING_OP_SEND_ZC: int
IORING_OP_SENDMSG_ZC: int
IORING_OP_READ_MULTISHOT: int
IORING_OP_WAITID: int
IORING_OP_FUTEX_WAIT: int
IORING_OP_FUTEX_WAKE: int
IORING_OP_FUTEX_WAITV: int
IORING_OP_FIXED_FD_INSTALL: int
IORING_OP_FTRUNCATE: int
IORING_OP_BIND: int
IORING_OP_LISTEN: int
IORING_OP_RECV_ZC: int
IORING_OP_EPOLL_WAIT: int
IORING_OP_READV_FIXED: int
IORING_OP_WRITEV_FIXED: int
IORING_OP_PIPE: int
IORING_REGISTER_BUFFERS: int
IORING_UNREGISTER_BUFFERS: int
IORING_REGISTER_FILES: int
IORING_UNREGISTER_FILES: int
IORING_REGISTER_EVENTFD: int
IORING_UNREGISTER_EVENTFD: int
IORING_REGISTER_FILES_UPDATE: int
IORING_REGISTER_EVENTFD_ASYNC: int
IORING_REGISTER_PROBE: int
IORING_REGISTER_PERSONALITY: int
IORING_UNREGISTER_PERSONALITY: int
IORING_REGISTER_RESTRICTIONS: int
IORING_REGISTER_ENABLE_RINGS: int
IORING_REGISTER_FILES2: int
IORING_REGISTER_FILES_UPDATE2: int
IORING_REGISTER_BUFFERS2: int
IORING_REGISTER_BUFFERS_UPDATE: int
IORING_REGISTER_IOWQ_AFF: int
IORING_UNREGISTER_IOWQ_AFF: int
IORING_REGISTER_IOWQ_MAX_WORKERS: int
IORING_REGISTER_RING_FDS: int
IORING_UNREGISTER_RING_FDS: int
IORING_REGISTER_PBUF_RING: int
IORING_UNREGISTER_PBUF_RING: int
IORING_REGISTER_SYNC_CANCEL: int
IORING_REGISTER_FILE_ALLOC_RANGE: int
IORING_REGISTER_PBUF_STATUS: int
IORING_REGISTER_FILES_SKIP: int
AT_FDCWD: int
IORING_NOTIF_USAGE_ZC_COPIED: int
SPLICE_F_FD_IN_FIXED: int
SPLICE_F_MOVE: int
SPLICE_F_NONBLOCK: int
SPLICE_F_MORE: int
SPLICE_F_GIFT: int
STATX_TYPE: int
STATX_MODE: int
STATX_NLINK: int
STATX_UID: int
STATX_GID: int
STATX_ATIME: int
STATX_MTIME: int
STATX_CTIME: int
STATX_INO: int
STATX_SIZE: int
STATX_BLOCKS: int
STATX_BASIC_STATS: int
STATX_BTIME: int
STATX_MNT_ID: int
STATX_DIOALIGN: int
STATX_MNT_ID_UNIQUE: int
STATX_SUBVOL: int
STATX_WRITE_ATOMIC: int
STATX_DIO_READ_ALIGN: int
STATX_ATTR_COMPRESSED: int
STATX_ATTR_IMMUTABLE: int
STATX_ATTR_APPEND: int
STATX_ATTR_NODUMP: int
STATX_ATTR_ENCRYPTED: int
STATX_ATTR_AUTOMOUNT: int
STATX_ATTR_MOUNT_ROOT: int
STATX_ATTR_VERITY: int
STATX_ATTR_DAX: int
STATX_ATTR_WRITE_ATOMIC: int
AT_SYMLINK_NOFOLLOW: int
AT_REMOVEDIR: int
AT_SYMLINK_FOLLOW: int
AT_NO_AUTOMOUNT: int
AT_EMPTY_PATH: int
AT_STATX_SYNC_AS_STAT: int
AT_STATX_FORCE_SYNC: int
AT_STATX_DONT_SYNC: int
RENAME_NOREPLACE: int
RENAME_EXCHANGE: int
RENAME_WHITEOUT: int
RESOLVE_NO_XDEV: int
RESOLVE_NO_MAGICLINKS: int
RESOLVE_NO_SYMLINKS: int
RESOLVE_BENEATH: int
RESOLVE_IN_ROOT: int
RESOLVE_CACHED: int
FALLOC_FL_KEEP_SIZE: int
FALLOC_FL_PUNCH_HOLE: int
FALLOC_FL_NO_HIDE_STALE: int
FALLOC_FL_COLLAPSE_RANGE: int
FALLOC_FL_ZERO_RANGE: int
FALLOC_FL_INSERT_RANGE: int
FALLOC_FL_UNSHARE_RANGE: int
SYNC_FILE_RANGE_WAIT_BEFORE: int
SYNC_FILE_RANGE_WRITE: int
SYNC_FILE_RANGE_WAIT_AFTER: int
FUTEX2_SIZE_U8: int
FUTEX2_SIZE_U16: int
FUTEX2_SIZE_U32: int
FUTEX2_SIZE_U64: int
FUTEX2_NUMA: int
FUTEX2_PRIVATE: int
FUTEX_BITSET_MATCH_ANY: int

# The event loop's native half (see uring_rs._loop.Loop)

@disjoint_base
class Handle:
    """A callback scheduled with ``call_soon`` (asyncio's ``Handle`` API)."""

    def cancel(self) -> None:
        """Cancels the callback; a cancelled callback never runs."""
    def cancelled(self) -> bool:
        """Whether ``cancel()`` was called."""
    def get_context(self) -> contextvars.Context:
        """The ``contextvars.Context`` the callback runs in."""
    def _run(self) -> None:
        """Runs the callback now, in its context (exceptions go to the loop)."""
    @property
    def _callback(self) -> Callable[..., object] | None:
        """The callback, or None once cancelled."""
    @property
    def _args(self) -> tuple[object, ...] | None:
        """The positional arguments, or None once cancelled."""
    @property
    def _cancelled(self) -> bool:
        """Whether ``cancel()`` was called."""
    @property
    def _loop(self) -> object:
        """The loop the handle belongs to."""
    @property
    def _source_traceback(self) -> object:
        """Where the handle was made, in debug mode (else None)."""

@final
class TimerHandle(Handle):
    """A callback scheduled with ``call_later``/``call_at`` (asyncio's ``TimerHandle`` API)."""

    def when(self) -> float:
        """The loop time at which the callback is due."""
    @property
    def _scheduled(self) -> bool:
        """Whether the handle is still in the loop's timer heap."""
    @property
    def _when(self) -> float:
        """The loop time at which the callback is due."""
    def __lt__(self, other: TimerHandle, /) -> bool:
        """Ordered by ``when()``."""
    def __le__(self, other: TimerHandle, /) -> bool:
        """Ordered by ``when()``."""
    def __gt__(self, other: TimerHandle, /) -> bool:
        """Ordered by ``when()``."""
    def __ge__(self, other: TimerHandle, /) -> bool:
        """Ordered by ``when()``."""
    def __hash__(self) -> int:
        """Hashes by ``when()``."""

@disjoint_base
class LoopCore:
    """The native half of ``uring_rs.Loop``: ready queue, timers, the ring, fd watchers."""

    def __new__(cls, *args: object, **kwargs: object) -> Self:
        """Sets up the loop's ring (SINGLE_ISSUER/DEFER_TASKRUN when the kernel has them)."""
    _stopping: bool
    """asyncio's ``_stopping`` flag, shared with ``BaseEventLoop``."""
    _closed: bool
    """asyncio's ``_closed`` flag, shared with ``BaseEventLoop``."""
    _debug: bool
    """asyncio's ``_debug`` flag, shared with ``BaseEventLoop``."""
    def get_debug(self) -> bool:
        """Whether debug mode is on."""
    def time(self) -> float:
        """The loop's clock: ``time.monotonic()``."""
    def create_future(self) -> asyncio.Future[Any]:
        """A new ``asyncio.Future`` of this loop."""
    def is_closed(self) -> bool:
        """Whether ``close()`` was called."""
    def call_soon(
        self,
        callback: Callable[..., object],
        *args: object,
        context: contextvars.Context | None = None,
    ) -> Handle:
        """Schedules ``callback(*args)`` for the next iteration; returns its ``Handle``."""
    def _call_soon(
        self,
        callback: Callable[..., object],
        args: tuple[object, ...],
        context: contextvars.Context | None = None,
    ) -> Handle:
        """``call_soon`` without the checks (asyncio internals call it)."""
    def call_soon_threadsafe(
        self,
        callback: Callable[..., object],
        *args: object,
        context: contextvars.Context | None = None,
    ) -> Handle:
        """``call_soon`` from any thread: wakes the loop if it sleeps."""
    def _write_to_self(self) -> None:
        """Wakes the loop from any thread."""
    def call_later(
        self,
        delay: float | None,
        callback: Callable[..., object],
        *args: object,
        context: contextvars.Context | None = None,
    ) -> TimerHandle:
        """Schedules ``callback(*args)`` after ``delay`` seconds; returns its ``TimerHandle``."""
    def call_at(
        self,
        when: float | None,
        callback: Callable[..., object],
        *args: object,
        context: contextvars.Context | None = None,
    ) -> TimerHandle:
        """Schedules ``callback(*args)`` at loop time ``when``; returns its ``TimerHandle``."""
    def _timer_handle_cancelled(self, handle: TimerHandle) -> None:
        """Told by ``TimerHandle.cancel()``: cancelled timers are dropped in bulk."""
    def _run_once(self) -> None:
        """One iteration: submit and wait in one ``io_uring_enter``, then run what is ready."""
    def _add_reader(self, fd: _Fd, callback: Callable[..., object], *args: object) -> Handle:
        """Calls ``callback(*args)`` whenever ``fd`` is readable (level-triggered)."""
    def _add_writer(self, fd: _Fd, callback: Callable[..., object], *args: object) -> Handle:
        """Calls ``callback(*args)`` whenever ``fd`` is writable (level-triggered)."""
    def _remove_reader(self, fd: _Fd) -> bool:
        """Stops watching ``fd`` for reading; whether a reader was set."""
    def _remove_writer(self, fd: _Fd) -> bool:
        """Stops watching ``fd`` for writing; whether a writer was set."""
    def _sock_splice_op(
        self, fut: object, sock: int, fd_in: int, off_in: int, fd_out: int, len: int
    ) -> int | None:
        """Queues a splice of up to ``len`` bytes from ``fd_in`` (at ``off_in``; -1: its
        position) to ``fd_out``, for a sendfile on socket ``sock``; resolves ``fut`` with the
        count. Returns the op's token."""
    def _wait_child(self, pid: int, callback: Callable[[int | None], object]) -> bool:
        """Waits for child ``pid``'s exit on the ring (``IORING_OP_WAITID``, which reaps it),
        then runs ``callback(returncode)`` (None: reaped elsewhere); False, doing nothing,
        when the kernel lacks the op (Linux < 6.7)."""
    def _add_callback(self, handle: object) -> None:
        """Queues a handle made by asyncio itself (``events.Handle``), for signals."""
    def _new_stream(self, fd: int, protocol: object, transport: object) -> StreamCore:
        """The native half of a stream transport for connected socket ``fd``."""
    def _start_accept(self, fd: int) -> None:
        """Starts a multishot accept on listening socket ``fd``; connections go to
        ``self._accepted(fd, conn_fd_or_minus_errno)``."""
    def _stop_accept(self, fd: int) -> bool:
        """Stops accepting on ``fd`` (the cancel reaches the kernel before it returns)."""
    def _sock_recv_op(self, fut: object, fd: int, n: int) -> int | None:
        """Queues a recv of up to ``n`` bytes on ``fd`` resolving ``fut``; the op's token, or
        None when bytes a cancelled call left resolved it at once."""
    def _sock_recv_into_op(self, fut: object, fd: int, buf: Buffer) -> int | None:
        """Queues a recv into ``buf`` (pinned until done) resolving ``fut`` with the count."""
    def _sock_accept_op(self, fut: object, fd: int) -> int | None:
        """Queues an accept on ``fd`` resolving ``fut`` with the new fd."""
    def _sock_connect_op(self, fut: object, fd: int, address: object) -> int | None:
        """Starts a connect of ``fd`` to a resolved ``address`` resolving ``fut``."""
    def _dgram_recv_op(self, fut: object, fd: int, n: int) -> int | None:
        """Queues a datagram receive (``IORING_OP_RECVMSG``) of up to ``n`` bytes on ``fd``
        resolving ``fut`` with ``(data, address)``."""
    def _dgram_send_op(
        self, fut: object, fd: int, data: Buffer, address: object = None
    ) -> int | None:
        """Queues a datagram send (``IORING_OP_SENDMSG``) of ``data`` (pinned until done) to
        ``address`` (None: the connected peer) resolving ``fut`` with the count."""
    def _cancel_op(self, token: int) -> None:
        """Cancels op ``token`` at once (the kernel lets go of its file before it returns)."""
    def _forget_stash(self, fd: int) -> None:
        """Forgets what cancelled calls on ``fd`` received anyway."""
    def _close_core(self) -> None:
        """Cancels and drains the ring's ops and drops every callback (``close()`` calls it)."""
    @property
    def _ops_in_flight(self) -> int:
        """Ops in flight on the loop's ring."""
    def _relay_ring(
        self, entries: int, deliver: Callable[[list[tuple[int, int, int]]], object]
    ) -> Ring:
        """A relay ring whose ops go through this loop's ring; ``deliver`` gets each batch
        of its ``(user_data, res, flags)`` completions from the ready queue."""
    def _relay_flush(self) -> None:
        """Submits what relays and the loop have queued, now, without waiting."""
    def _relay_drain(self, ring: Ring, timeout: float) -> list[tuple[int, int, int]]:
        """Cancels every op of relay ``ring`` and waits (at most ``timeout`` s) for their
        completions, which it returns instead of delivering."""

@final
class StreamCore:
    """The native half of a stream transport: write buffer, flow control, reading."""

    @property
    def fd(self) -> int:
        """The socket's fd."""
    def write(self, data: Buffer) -> None:
        """Queues ``data`` for this iteration's send (asyncio's ``Transport.write``)."""
    def get_write_buffer_size(self) -> int:
        """Bytes accepted and not yet sent."""
    def get_write_buffer_limits(self) -> tuple[int, int]:
        """``(low, high)`` water marks."""
    def _set_limits(self, high: int, low: int) -> None:
        """Sets the water marks; pauses or resumes the protocol as the buffer stands."""
    @property
    def _protocol_paused(self) -> bool:
        """Whether ``pause_writing()`` was called and not yet undone."""
    def resume_reading(self) -> None:
        """Starts or resumes reading (what arrived while paused comes first)."""
    def pause_reading(self) -> None:
        """Stops reading (data stays in the kernel)."""
    def set_protocol(self, protocol: object) -> None:
        """The protocol to call from now on."""
    def write_eof(self) -> None:
        """Shuts the write side down once the buffer is sent."""
    @property
    def _eof(self) -> bool:
        """Whether ``write_eof()`` was called."""
    def _close(self) -> bool:
        """Stops reading; whether the buffer is empty (else connection_lost waits for it)."""
    def _notify_empty(self) -> bool:
        """Whether the write buffer is empty; if not, the transport's ``_buffer_emptied()`` runs
        once it is."""
    def _abort(self) -> None:
        """Drops the buffer and stops reading."""
    def _lose(self) -> None:
        """Marks the connection lost: later writes are counted and dropped."""
    @property
    def _conn_lost(self) -> int:
        """Writes dropped since the connection was lost, plus one (0: not lost)."""
    @property
    def _reading(self) -> bool:
        """Whether the stream is reading."""
    def _detach(self) -> None:
        """Forgets the stream and cancels its ops before its socket is closed."""
