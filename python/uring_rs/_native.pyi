"""Type stub of the Rust core. Public names are re-exported by ``uring_rs`` and ``uring_rs.ops``."""

from collections.abc import Iterable, Iterator
from os import PathLike
from typing import Literal, Protocol, final

from typing_extensions import Buffer, Self, TypeAlias

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
    "MsgHdr",
    "Probe",
    "ProvidedBuffer",
    "Ring",
    "Siginfo",
    "Sqe",
    "Statx",
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
    def fd(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def features(self) -> int: ...
    @property
    def sq_entries(self) -> int: ...
    @property
    def cq_entries(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def in_flight(self) -> int: ...
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
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> Literal[False]: ...
    @property
    def enter_calls(self) -> int: ...
    def sq_flags(self) -> int: ...
    def flush_sq(self) -> int: ...
    def sq_ready(self) -> int: ...
    def sq_space_left(self) -> int: ...
    def cq_ready(self) -> int: ...
    def cq_ring_needs_flush(self) -> bool: ...
    def submit(self, wait_nr: int = 0) -> int: ...
    def enter(self, to_submit: int, min_complete: int, flags: int) -> int: ...
    def copy_cqes(
        self, wait_nr: int = 0, max: int | None = None, timeout: float | None = None
    ) -> list[Cqe]: ...
    def copy_cqes_into(
        self,
        user_data: Buffer,
        res: Buffer,
        flags: Buffer | None = None,
        wait_nr: int = 0,
        timeout: float | None = None,
    ) -> int: ...
    def copy_cqe(self) -> Cqe: ...
    def peek_cqes(self, max: int | None = None) -> list[Cqe]: ...
    def cq_advance(self, count: int) -> None: ...
    def cqe_seen(self) -> None: ...
    def probe(self) -> Probe: ...
    def register_eventfd(self, fd: _Fd) -> None: ...
    def register_eventfd_async(self, fd: _Fd) -> None: ...
    def unregister_eventfd(self) -> None: ...
    def register_files(self, fds: Iterable[_Fd]) -> None: ...
    def register_files_sparse(self, count: int) -> None: ...
    def register_files_update(self, offset: int, fds: Iterable[_Fd]) -> int: ...
    def unregister_files(self) -> None: ...
    def register_buffers(self, buffers: Iterable[Buffer]) -> None: ...
    def unregister_buffers(self) -> None: ...
    def register_ring_fd(self) -> int: ...
    def unregister_ring_fd(self) -> None: ...

@final
class Sqe:
    @property
    def opcode(self) -> int: ...
    user_data: int
    flags: int
    ioprio: int
    buf_group: int
    personality: int

@final
class Cqe:
    def __new__(cls, user_data: int, res: int, flags: int) -> Self: ...
    @property
    def user_data(self) -> int: ...
    @property
    def res(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def more(self) -> bool: ...
    @property
    def buffer_id(self) -> int | None: ...
    def result(self) -> int: ...
    def __iter__(self) -> Iterator[int]: ...
    def __len__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Probe:
    @property
    def last_op(self) -> int: ...
    def supports(self, opcode: int) -> bool: ...
    def __contains__(self, opcode: int, /) -> bool: ...
    def __iter__(self) -> Iterator[int]: ...
    def __len__(self) -> int: ...
    def names(self) -> list[str]: ...

@final
class BufferRing:
    def __new__(cls, ring: Ring, group_id: int, count: int, size: int) -> Self: ...
    @property
    def group_id(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def outstanding(self) -> int: ...
    @property
    def registered(self) -> bool: ...
    def get(self, cqe: Cqe) -> ProvidedBuffer: ...
    def unregister(self) -> None: ...

@final
class ProvidedBuffer:
    @property
    def buffer_id(self) -> int: ...
    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    # The buffer protocol, as typeshed spells it for every version (the
    # dunders exist at runtime from Python 3.12; see stubtest-allowlist.txt).
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...
    def release(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> Literal[False]: ...

@final
class Statx:
    """Filled in by ``ops.statx``; read it once the completion is consumed."""

    def __new__(cls) -> Self: ...
    @property
    def in_flight(self) -> bool: ...
    @property
    def mask(self) -> int: ...
    @property
    def blksize(self) -> int: ...
    @property
    def attributes(self) -> int: ...
    @property
    def attributes_mask(self) -> int: ...
    @property
    def nlink(self) -> int: ...
    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def mode(self) -> int: ...
    @property
    def ino(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def blocks(self) -> int: ...
    @property
    def atime(self) -> float: ...
    @property
    def atime_ns(self) -> int: ...
    @property
    def btime(self) -> float: ...
    @property
    def btime_ns(self) -> int: ...
    @property
    def ctime(self) -> float: ...
    @property
    def ctime_ns(self) -> int: ...
    @property
    def mtime(self) -> float: ...
    @property
    def mtime_ns(self) -> int: ...
    @property
    def rdev_major(self) -> int: ...
    @property
    def rdev_minor(self) -> int: ...
    @property
    def dev_major(self) -> int: ...
    @property
    def dev_minor(self) -> int: ...
    @property
    def dev(self) -> int: ...
    @property
    def rdev(self) -> int: ...
    @property
    def mnt_id(self) -> int: ...
    @property
    def dio_mem_align(self) -> int: ...
    @property
    def dio_offset_align(self) -> int: ...
    @property
    def dio_read_offset_align(self) -> int: ...
    @property
    def subvol(self) -> int: ...
    @property
    def atomic_write_unit_min(self) -> int: ...
    @property
    def atomic_write_unit_max(self) -> int: ...
    @property
    def atomic_write_unit_max_opt(self) -> int: ...
    @property
    def atomic_write_segments_max(self) -> int: ...

@final
class MsgHdr:
    """Filled in by ``ops.recvmsg(..., msg=...)``: flags, sender address, ancillary data."""

    def __new__(cls, controllen: int = 0) -> Self: ...
    @property
    def in_flight(self) -> bool: ...
    @property
    def controllen(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def address(self) -> _Address | tuple[int, bytes] | None: ...
    @property
    def ancdata(self) -> list[tuple[int, int, bytes]]: ...

@final
class Siginfo:
    """Filled in by ``ops.waitid(..., infop=...)``; fields named as ``os.waitid``'s result."""

    def __new__(cls) -> Self: ...
    @property
    def in_flight(self) -> bool: ...
    @property
    def si_signo(self) -> int: ...
    @property
    def si_code(self) -> int: ...
    @property
    def si_pid(self) -> int: ...
    @property
    def si_uid(self) -> int: ...
    @property
    def si_status(self) -> int: ...

def kernel_release() -> str: ...
def opcode_names() -> list[str]: ...

# ops
def nop(ring: Ring, user_data: int) -> Sqe: ...
def read(ring: Ring, user_data: int, fd: _Fd, buf: Buffer, offset: int) -> Sqe: ...
def write(ring: Ring, user_data: int, fd: _Fd, buf: Buffer, offset: int) -> Sqe: ...
def fsync(ring: Ring, user_data: int, fd: _Fd, flags: int = 0) -> Sqe: ...
def accept(ring: Ring, user_data: int, sockfd: _Fd, flags: int = 0) -> Sqe: ...
def connect(ring: Ring, user_data: int, sockfd: _Fd, address: _Address) -> Sqe: ...
def recv(ring: Ring, user_data: int, sockfd: _Fd, buf: Buffer, flags: int = 0) -> Sqe: ...
def send(ring: Ring, user_data: int, sockfd: _Fd, buf: Buffer, flags: int = 0) -> Sqe: ...
def openat(
    ring: Ring, user_data: int, dirfd: _Fd, path: _Path, flags: int = 0, mode: int = 0o644
) -> Sqe: ...
def close(ring: Ring, user_data: int, fd: _Fd) -> Sqe: ...
def timeout(ring: Ring, user_data: int, seconds: float, count: int = 0, flags: int = 0) -> Sqe: ...
def timeout_remove(ring: Ring, user_data: int, timeout_user_data: int, flags: int = 0) -> Sqe: ...
def link_timeout(ring: Ring, user_data: int, seconds: float, flags: int = 0) -> Sqe: ...
def poll_add(ring: Ring, user_data: int, fd: _Fd, events: int, flags: int = 0) -> Sqe: ...
def poll_remove(ring: Ring, user_data: int, target_user_data: int) -> Sqe: ...
def read_fixed(
    ring: Ring,
    user_data: int,
    fd: _Fd,
    buf_index: int,
    offset: int,
    nbytes: int | None = None,
    buf_offset: int = 0,
) -> Sqe: ...
def write_fixed(
    ring: Ring,
    user_data: int,
    fd: _Fd,
    buf_index: int,
    offset: int,
    nbytes: int | None = None,
    buf_offset: int = 0,
) -> Sqe: ...
def accept_multishot(ring: Ring, user_data: int, sockfd: _Fd, flags: int = 0) -> Sqe: ...
def recv_multishot(
    ring: Ring, user_data: int, sockfd: _Fd, buf_group: int, flags: int = 0
) -> Sqe: ...
def provide_buffers(
    ring: Ring,
    user_data: int,
    buf: Buffer,
    size: int,
    count: int,
    group_id: int,
    start_id: int = 0,
) -> Sqe: ...
def remove_buffers(ring: Ring, user_data: int, count: int, group_id: int) -> Sqe: ...
def poll_update(
    ring: Ring,
    user_data: int,
    old_user_data: int,
    new_user_data: int,
    events: int,
    flags: int,
) -> Sqe: ...
def timeout_update(
    ring: Ring, user_data: int, timeout_user_data: int, seconds: float, flags: int = 0
) -> Sqe: ...
def msg_ring(
    ring: Ring, user_data: int, target: Ring | int, res: int, target_user_data: int, flags: int = 0
) -> Sqe: ...
def read_many(
    ring: Ring,
    user_data: int,
    fd: _Fd,
    buf: Buffer,
    offsets: Buffer | Iterable[int],
    size: int,
    *,
    flags: int = 0,
) -> int: ...
def write_many(
    ring: Ring,
    user_data: int,
    fd: _Fd,
    buf: Buffer,
    offsets: Buffer | Iterable[int],
    size: int,
    *,
    flags: int = 0,
) -> int: ...
def nop_many(ring: Ring, user_data: int, count: int) -> int: ...
def cancel(ring: Ring, user_data: int, target_user_data: int, flags: int = 0) -> Sqe: ...
def cancel_fd(ring: Ring, user_data: int, fd: _Fd, flags: int = 0) -> Sqe: ...

# files
def readv(
    ring: Ring, user_data: int, fd: _Fd, buffers: Iterable[Buffer], offset: int, flags: int = 0
) -> Sqe: ...
def writev(
    ring: Ring, user_data: int, fd: _Fd, buffers: Iterable[Buffer], offset: int, flags: int = 0
) -> Sqe: ...
def statx(
    ring: Ring,
    user_data: int,
    dirfd: _Fd,
    path: _Path,
    flags: int = 0,
    mask: int = 0x7FF,
    statxbuf: Statx | None = None,
) -> Sqe: ...
def fallocate(ring: Ring, user_data: int, fd: _Fd, mode: int, offset: int, length: int) -> Sqe: ...
def fadvise(ring: Ring, user_data: int, fd: _Fd, offset: int, length: int, advice: int) -> Sqe: ...
def madvise(ring: Ring, user_data: int, buf: Buffer, advice: int) -> Sqe: ...
def ftruncate(ring: Ring, user_data: int, fd: _Fd, length: int) -> Sqe: ...
def sync_file_range(
    ring: Ring, user_data: int, fd: _Fd, offset: int, nbytes: int, flags: int = 0
) -> Sqe: ...
def unlinkat(ring: Ring, user_data: int, dirfd: _Fd, path: _Path, flags: int = 0) -> Sqe: ...
def renameat(
    ring: Ring,
    user_data: int,
    olddirfd: _Fd,
    oldpath: _Path,
    newdirfd: _Fd,
    newpath: _Path,
    flags: int = 0,
) -> Sqe: ...
def mkdirat(ring: Ring, user_data: int, dirfd: _Fd, path: _Path, mode: int = 0o777) -> Sqe: ...
def symlinkat(ring: Ring, user_data: int, target: _Path, newdirfd: _Fd, linkpath: _Path) -> Sqe: ...
def linkat(
    ring: Ring,
    user_data: int,
    olddirfd: _Fd,
    oldpath: _Path,
    newdirfd: _Fd,
    newpath: _Path,
    flags: int = 0,
) -> Sqe: ...
def openat2(
    ring: Ring,
    user_data: int,
    dirfd: _Fd,
    path: _Path,
    flags: int = 0,
    mode: int = 0,
    resolve: int = 0,
) -> Sqe: ...
def close_fixed(ring: Ring, user_data: int, file_index: int) -> Sqe: ...
def files_update(ring: Ring, user_data: int, fds: Iterable[_Fd], offset: int = 0) -> Sqe: ...
def splice(
    ring: Ring,
    user_data: int,
    fd_in: _Fd,
    off_in: int,
    fd_out: _Fd,
    off_out: int,
    nbytes: int,
    flags: int = 0,
) -> Sqe: ...
def tee(
    ring: Ring, user_data: int, fd_in: _Fd, fd_out: _Fd, nbytes: int, flags: int = 0
) -> Sqe: ...

# network
def socket(
    ring: Ring, user_data: int, domain: int, type: int, protocol: int = 0, flags: int = 0
) -> Sqe: ...
def shutdown(ring: Ring, user_data: int, sockfd: _Fd, how: int) -> Sqe: ...
def sendmsg(
    ring: Ring,
    user_data: int,
    sockfd: _Fd,
    buffers: Iterable[Buffer],
    address: _Address | None = None,
    flags: int = 0,
    *,
    ancdata: Iterable[tuple[int, int, Buffer]] | None = None,
) -> Sqe: ...
def sendmsg_zc(
    ring: Ring,
    user_data: int,
    sockfd: _Fd,
    buffers: Iterable[Buffer],
    address: _Address | None = None,
    flags: int = 0,
    *,
    ancdata: Iterable[tuple[int, int, Buffer]] | None = None,
) -> Sqe: ...
def recvmsg(
    ring: Ring,
    user_data: int,
    sockfd: _Fd,
    buffers: Iterable[Buffer],
    flags: int = 0,
    msg: MsgHdr | None = None,
) -> Sqe: ...
def send_zc(
    ring: Ring, user_data: int, sockfd: _Fd, buf: Buffer, flags: int = 0, zc_flags: int = 0
) -> Sqe: ...
def bind(ring: Ring, user_data: int, sockfd: _Fd, address: _Address) -> Sqe: ...
def listen(ring: Ring, user_data: int, sockfd: _Fd, backlog: int) -> Sqe: ...

# processes and futexes
def waitid(
    ring: Ring, user_data: int, idtype: int, id: int, options: int, infop: Siginfo | None = None
) -> Sqe: ...
def futex_wait(
    ring: Ring,
    user_data: int,
    buf: Buffer,
    offset: int,
    val: int,
    mask: int = 0xFFFFFFFF,
    futex_flags: int = 130,
    flags: int = 0,
) -> Sqe: ...
def futex_wake(
    ring: Ring,
    user_data: int,
    buf: Buffer,
    offset: int,
    val: int,
    mask: int = 0xFFFFFFFF,
    futex_flags: int = 130,
    flags: int = 0,
) -> Sqe: ...

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
