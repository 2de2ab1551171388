//! The kernel ABI of io_uring, and nothing else: structs and constants as
//! `<linux/io_uring.h>` defines them, and the three raw syscalls.
//!
//! Every struct here is `#[repr(C)]` with a compile-time size (and, where a
//! field's place matters, offset) check, so a mistake fails the build rather
//! than corrupting a ring.

#![allow(dead_code)]

use std::mem::{offset_of, size_of};

// ---------------------------------------------------------------- structs

/// `struct io_sqring_offsets`: where the SQ ring's fields sit in its mapping.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SqringOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub flags: u32,
    pub dropped: u32,
    pub array: u32,
    pub resv1: u32,
    pub user_addr: u64,
}

/// `struct io_cqring_offsets`: where the CQ ring's fields sit in its mapping.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct CqringOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub overflow: u32,
    pub cqes: u32,
    pub flags: u32,
    pub resv1: u32,
    pub user_addr: u64,
}

/// `struct io_uring_params`: in/out argument of `io_uring_setup(2)`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Params {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub flags: u32,
    pub sq_thread_cpu: u32,
    pub sq_thread_idle: u32,
    pub features: u32,
    pub wq_fd: u32,
    pub resv: [u32; 3],
    pub sq_off: SqringOffsets,
    pub cq_off: CqringOffsets,
}

/// `struct io_uring_sqe`, the 64-byte submission entry. The kernel header
/// spells most fields as unions; each field here carries the union's first
/// name and its doc lists the others, so ops.rs reads like liburing.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Sqe {
    pub opcode: u8,
    /// `IOSQE_*`
    pub flags: u8,
    pub ioprio: u16,
    pub fd: i32,
    /// union: `off`, `addr2`, `{cmd_op, __pad1}`
    pub off: u64,
    /// union: `addr`, `splice_off_in`, `{level, optname}`
    pub addr: u64,
    pub len: u32,
    /// union: `rw_flags`, `fsync_flags`, `poll32_events`, `sync_range_flags`,
    /// `msg_flags`, `timeout_flags`, `accept_flags`, `cancel_flags`,
    /// `open_flags`, `statx_flags`, `fadvise_advice`, `splice_flags`,
    /// `rename_flags`, `unlink_flags`, `hardlink_flags`, `msg_ring_flags`,
    /// `waitid_flags`, `futex_flags`, `install_fd_flags`, `nop_flags`
    pub op_flags: u32,
    pub user_data: u64,
    /// union: `buf_index`, `buf_group`
    pub buf_index: u16,
    pub personality: u16,
    /// union: `splice_fd_in`, `file_index`, `optlen`, `{addr_len, __pad3}`
    pub file_index: u32,
    /// union: `addr3`, `optval`, `cmd[]`
    pub addr3: u64,
    pub pad2: u64,
}

/// `struct io_uring_cqe`, the 16-byte completion entry.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cqe {
    pub user_data: u64,
    pub res: i32,
    pub flags: u32,
}

/// `struct io_uring_getevents_arg`, passed with `IORING_ENTER_EXT_ARG`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct GeteventsArg {
    pub sigmask: u64,
    pub sigmask_sz: u32,
    pub min_wait_usec: u32,
    pub ts: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KernelTimespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

impl KernelTimespec {
    /// `t` seconds (finite, >= 0: a wait's timeout the caller clamped).
    pub fn from_secs_f64(t: f64) -> KernelTimespec {
        KernelTimespec {
            tv_sec: t as i64,
            tv_nsec: ((t - t.floor()) * 1e9) as i64,
        }
    }
}

/// `struct io_uring_probe_op`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ProbeOp {
    pub op: u8,
    pub resv: u8,
    pub flags: u16,
    pub resv2: u32,
}

/// `struct io_uring_probe` with room for every opcode a u8 can name.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub last_op: u8,
    pub ops_len: u8,
    pub resv: u16,
    pub resv2: [u32; 3],
    pub ops: [ProbeOp; 256],
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            last_op: 0,
            ops_len: 0,
            resv: 0,
            resv2: [0; 3],
            ops: [ProbeOp::default(); 256],
        }
    }
}

/// `struct statx_timestamp`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct StatxTimestamp {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub reserved: i32,
}

/// `struct statx` (statx(2)), as Linux 6.16 defines it: the kernel writes
/// all 256 bytes, zeroing what it does not know.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Statx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: u64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub spare0: u16,
    pub stx_ino: u64,
    pub stx_size: u64,
    pub stx_blocks: u64,
    pub stx_attributes_mask: u64,
    pub stx_atime: StatxTimestamp,
    pub stx_btime: StatxTimestamp,
    pub stx_ctime: StatxTimestamp,
    pub stx_mtime: StatxTimestamp,
    pub stx_rdev_major: u32,
    pub stx_rdev_minor: u32,
    pub stx_dev_major: u32,
    pub stx_dev_minor: u32,
    pub stx_mnt_id: u64,
    pub stx_dio_mem_align: u32,
    pub stx_dio_offset_align: u32,
    pub stx_subvol: u64,
    pub stx_atomic_write_unit_min: u32,
    pub stx_atomic_write_unit_max: u32,
    pub stx_atomic_write_segments_max: u32,
    pub stx_dio_read_offset_align: u32,
    pub stx_atomic_write_unit_max_opt: u32,
    pub spare2: u32,
    pub spare3: [u64; 8],
}

/// `struct open_how` (openat2(2)).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenHow {
    pub flags: u64,
    pub mode: u64,
    pub resolve: u64,
}

/// `siginfo_t` as waitid fills it for SIGCHLD (the 64-bit layout: the
/// `_sigchld` member of the union starts at byte 16).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Siginfo {
    pub si_signo: i32,
    pub si_errno: i32,
    pub si_code: i32,
    pub pad0: i32,
    pub si_pid: i32,
    pub si_uid: u32,
    pub si_status: i32,
    pub pad1: i32,
    pub si_utime: i64,
    pub si_stime: i64,
    pub rest: [u64; 10],
}

const _: () = {
    assert!(size_of::<StatxTimestamp>() == 16);
    assert!(size_of::<Statx>() == 256);
    assert!(offset_of!(Statx, stx_ino) == 0x20);
    assert!(offset_of!(Statx, stx_atime) == 0x40);
    assert!(offset_of!(Statx, stx_rdev_major) == 0x80);
    assert!(offset_of!(Statx, stx_mnt_id) == 0x90);
    assert!(offset_of!(Statx, stx_subvol) == 0xa0);
    assert!(offset_of!(Statx, stx_atomic_write_segments_max) == 0xb0);
    assert!(offset_of!(Statx, spare3) == 0xc0);
    assert!(size_of::<OpenHow>() == 24);
    assert!(size_of::<Siginfo>() == 128);
    assert!(offset_of!(Siginfo, si_pid) == 16);
    assert!(offset_of!(Siginfo, si_status) == 24);
};

// The ABI, checked at compile time.
const _: () = {
    assert!(size_of::<SqringOffsets>() == 40);
    assert!(size_of::<CqringOffsets>() == 40);
    assert!(size_of::<Params>() == 120);
    assert!(offset_of!(Params, sq_off) == 40);
    assert!(offset_of!(Params, cq_off) == 80);
    assert!(size_of::<Sqe>() == 64);
    assert!(offset_of!(Sqe, fd) == 4);
    assert!(offset_of!(Sqe, off) == 8);
    assert!(offset_of!(Sqe, addr) == 16);
    assert!(offset_of!(Sqe, len) == 24);
    assert!(offset_of!(Sqe, op_flags) == 28);
    assert!(offset_of!(Sqe, user_data) == 32);
    assert!(offset_of!(Sqe, buf_index) == 40);
    assert!(offset_of!(Sqe, personality) == 42);
    assert!(offset_of!(Sqe, file_index) == 44);
    assert!(offset_of!(Sqe, addr3) == 48);
    assert!(size_of::<Cqe>() == 16);
    assert!(size_of::<GeteventsArg>() == 24);
    assert!(size_of::<KernelTimespec>() == 16);
    assert!(size_of::<ProbeOp>() == 8);
    assert!(offset_of!(Probe, ops) == 16);
};

// ------------------------------------------------------------- constants

/// Offsets given to `mmap(2)` on the ring fd.
pub const IORING_OFF_SQ_RING: i64 = 0;
pub const IORING_OFF_CQ_RING: i64 = 0x8000000;
pub const IORING_OFF_SQES: i64 = 0x10000000;

pub const IO_URING_OP_SUPPORTED: u16 = 1 << 0;

/// The kernel's largest SQ (and twice that for the CQ): `IORING_MAX_ENTRIES`.
pub const IORING_MAX_ENTRIES: u32 = 32768;
pub const IORING_MAX_CQ_ENTRIES: u32 = 2 * IORING_MAX_ENTRIES;

/// Declares the public constants once: each becomes a `pub const` here and a
/// row of [`PUBLIC_CONSTANTS`], which lib.rs exports to Python by name.
macro_rules! public_consts {
    ($($name:ident: $ty:ty = $val:expr;)*) => {
        $(pub const $name: $ty = $val;)*
        /// Every constant exported to Python, by its kernel name.
        pub const PUBLIC_CONSTANTS: &[(&str, i64)] = &[$((stringify!($name), $name as i64),)*];
    };
}

public_consts! {
    // io_uring_setup(2) flags
    IORING_SETUP_IOPOLL: u32 = 1 << 0;
    IORING_SETUP_SQPOLL: u32 = 1 << 1;
    IORING_SETUP_SQ_AFF: u32 = 1 << 2;
    IORING_SETUP_CQSIZE: u32 = 1 << 3;
    IORING_SETUP_CLAMP: u32 = 1 << 4;
    IORING_SETUP_ATTACH_WQ: u32 = 1 << 5;
    IORING_SETUP_R_DISABLED: u32 = 1 << 6;
    IORING_SETUP_SUBMIT_ALL: u32 = 1 << 7;
    IORING_SETUP_COOP_TASKRUN: u32 = 1 << 8;
    IORING_SETUP_TASKRUN_FLAG: u32 = 1 << 9;
    IORING_SETUP_SQE128: u32 = 1 << 10;
    IORING_SETUP_CQE32: u32 = 1 << 11;
    IORING_SETUP_SINGLE_ISSUER: u32 = 1 << 12;
    IORING_SETUP_DEFER_TASKRUN: u32 = 1 << 13;
    IORING_SETUP_NO_MMAP: u32 = 1 << 14;
    IORING_SETUP_REGISTERED_FD_ONLY: u32 = 1 << 15;
    IORING_SETUP_NO_SQARRAY: u32 = 1 << 16;
    IORING_SETUP_HYBRID_IOPOLL: u32 = 1 << 17;

    // the SQ ring's flags word, written by the kernel
    IORING_SQ_NEED_WAKEUP: u32 = 1 << 0;
    IORING_SQ_CQ_OVERFLOW: u32 = 1 << 1;
    IORING_SQ_TASKRUN: u32 = 1 << 2;
    IORING_CQ_EVENTFD_DISABLED: u32 = 1 << 0;

    // io_uring_enter(2) flags
    IORING_ENTER_GETEVENTS: u32 = 1 << 0;
    IORING_ENTER_SQ_WAKEUP: u32 = 1 << 1;
    IORING_ENTER_SQ_WAIT: u32 = 1 << 2;
    IORING_ENTER_EXT_ARG: u32 = 1 << 3;
    IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;
    IORING_ENTER_ABS_TIMER: u32 = 1 << 5;
    IORING_ENTER_EXT_ARG_REG: u32 = 1 << 6;
    IORING_ENTER_NO_IOWAIT: u32 = 1 << 7;

    // io_uring_params.features
    IORING_FEAT_SINGLE_MMAP: u32 = 1 << 0;
    IORING_FEAT_NODROP: u32 = 1 << 1;
    IORING_FEAT_SUBMIT_STABLE: u32 = 1 << 2;
    IORING_FEAT_RW_CUR_POS: u32 = 1 << 3;
    IORING_FEAT_CUR_PERSONALITY: u32 = 1 << 4;
    IORING_FEAT_FAST_POLL: u32 = 1 << 5;
    IORING_FEAT_POLL_32BITS: u32 = 1 << 6;
    IORING_FEAT_SQPOLL_NONFIXED: u32 = 1 << 7;
    IORING_FEAT_EXT_ARG: u32 = 1 << 8;
    IORING_FEAT_NATIVE_WORKERS: u32 = 1 << 9;
    IORING_FEAT_RSRC_TAGS: u32 = 1 << 10;
    IORING_FEAT_CQE_SKIP: u32 = 1 << 11;
    IORING_FEAT_LINKED_FILE: u32 = 1 << 12;
    IORING_FEAT_REG_REG_RING: u32 = 1 << 13;
    IORING_FEAT_RECVSEND_BUNDLE: u32 = 1 << 14;
    IORING_FEAT_MIN_TIMEOUT: u32 = 1 << 15;
    IORING_FEAT_RW_ATTR: u32 = 1 << 16;
    IORING_FEAT_NO_IOWAIT: u32 = 1 << 17;

    // sqe.flags
    IOSQE_FIXED_FILE: u8 = 1 << 0;
    IOSQE_IO_DRAIN: u8 = 1 << 1;
    IOSQE_IO_LINK: u8 = 1 << 2;
    IOSQE_IO_HARDLINK: u8 = 1 << 3;
    IOSQE_ASYNC: u8 = 1 << 4;
    IOSQE_BUFFER_SELECT: u8 = 1 << 5;
    IOSQE_CQE_SKIP_SUCCESS: u8 = 1 << 6;

    // cqe.flags
    IORING_CQE_F_BUFFER: u32 = 1 << 0;
    IORING_CQE_F_MORE: u32 = 1 << 1;
    IORING_CQE_F_SOCK_NONEMPTY: u32 = 1 << 2;
    IORING_CQE_F_NOTIF: u32 = 1 << 3;
    IORING_CQE_F_BUF_MORE: u32 = 1 << 4;
    IORING_CQE_BUFFER_SHIFT: u32 = 16;

    // timeout_flags
    IORING_TIMEOUT_ABS: u32 = 1 << 0;
    IORING_TIMEOUT_UPDATE: u32 = 1 << 1;
    IORING_TIMEOUT_BOOTTIME: u32 = 1 << 2;
    IORING_TIMEOUT_REALTIME: u32 = 1 << 3;
    IORING_LINK_TIMEOUT_UPDATE: u32 = 1 << 4;
    IORING_TIMEOUT_ETIME_SUCCESS: u32 = 1 << 5;
    IORING_TIMEOUT_MULTISHOT: u32 = 1 << 6;
    IORING_TIMEOUT_CLOCK_MASK: u32 = (1 << 2) | (1 << 3);
    IORING_TIMEOUT_UPDATE_MASK: u32 = (1 << 1) | (1 << 4);

    // poll_add / poll_remove (sqe.len)
    IORING_POLL_ADD_MULTI: u32 = 1 << 0;
    IORING_POLL_UPDATE_EVENTS: u32 = 1 << 1;
    IORING_POLL_UPDATE_USER_DATA: u32 = 1 << 2;
    IORING_POLL_ADD_LEVEL: u32 = 1 << 3;

    // cancel_flags
    IORING_ASYNC_CANCEL_ALL: u32 = 1 << 0;
    IORING_ASYNC_CANCEL_FD: u32 = 1 << 1;
    IORING_ASYNC_CANCEL_ANY: u32 = 1 << 2;
    IORING_ASYNC_CANCEL_FD_FIXED: u32 = 1 << 3;
    IORING_ASYNC_CANCEL_USERDATA: u32 = 1 << 4;
    IORING_ASYNC_CANCEL_OP: u32 = 1 << 5;

    IORING_FSYNC_DATASYNC: u32 = 1 << 0;

    // send/recv ioprio flags
    IORING_RECVSEND_POLL_FIRST: u16 = 1 << 0;
    IORING_RECV_MULTISHOT: u16 = 1 << 1;
    IORING_RECVSEND_FIXED_BUF: u16 = 1 << 2;
    IORING_SEND_ZC_REPORT_USAGE: u16 = 1 << 3;
    IORING_RECVSEND_BUNDLE: u16 = 1 << 4;

    // accept ioprio flags
    IORING_ACCEPT_MULTISHOT: u16 = 1 << 0;
    IORING_ACCEPT_DONTWAIT: u16 = 1 << 1;
    IORING_ACCEPT_POLL_FIRST: u16 = 1 << 2;

    // enum io_uring_op
    IORING_OP_NOP: u8 = 0;
    IORING_OP_READV: u8 = 1;
    IORING_OP_WRITEV: u8 = 2;
    IORING_OP_FSYNC: u8 = 3;
    IORING_OP_READ_FIXED: u8 = 4;
    IORING_OP_WRITE_FIXED: u8 = 5;
    IORING_OP_POLL_ADD: u8 = 6;
    IORING_OP_POLL_REMOVE: u8 = 7;
    IORING_OP_SYNC_FILE_RANGE: u8 = 8;
    IORING_OP_SENDMSG: u8 = 9;
    IORING_OP_RECVMSG: u8 = 10;
    IORING_OP_TIMEOUT: u8 = 11;
    IORING_OP_TIMEOUT_REMOVE: u8 = 12;
    IORING_OP_ACCEPT: u8 = 13;
    IORING_OP_ASYNC_CANCEL: u8 = 14;
    IORING_OP_LINK_TIMEOUT: u8 = 15;
    IORING_OP_CONNECT: u8 = 16;
    IORING_OP_FALLOCATE: u8 = 17;
    IORING_OP_OPENAT: u8 = 18;
    IORING_OP_CLOSE: u8 = 19;
    IORING_OP_FILES_UPDATE: u8 = 20;
    IORING_OP_STATX: u8 = 21;
    IORING_OP_READ: u8 = 22;
    IORING_OP_WRITE: u8 = 23;
    IORING_OP_FADVISE: u8 = 24;
    IORING_OP_MADVISE: u8 = 25;
    IORING_OP_SEND: u8 = 26;
    IORING_OP_RECV: u8 = 27;
    IORING_OP_OPENAT2: u8 = 28;
    IORING_OP_EPOLL_CTL: u8 = 29;
    IORING_OP_SPLICE: u8 = 30;
    IORING_OP_PROVIDE_BUFFERS: u8 = 31;
    IORING_OP_REMOVE_BUFFERS: u8 = 32;
    IORING_OP_TEE: u8 = 33;
    IORING_OP_SHUTDOWN: u8 = 34;
    IORING_OP_RENAMEAT: u8 = 35;
    IORING_OP_UNLINKAT: u8 = 36;
    IORING_OP_MKDIRAT: u8 = 37;
    IORING_OP_SYMLINKAT: u8 = 38;
    IORING_OP_LINKAT: u8 = 39;
    IORING_OP_MSG_RING: u8 = 40;
    IORING_OP_FSETXATTR: u8 = 41;
    IORING_OP_SETXATTR: u8 = 42;
    IORING_OP_FGETXATTR: u8 = 43;
    IORING_OP_GETXATTR: u8 = 44;
    IORING_OP_SOCKET: u8 = 45;
    IORING_OP_URING_CMD: u8 = 46;
    IORING_OP_SEND_ZC: u8 = 47;
    IORING_OP_SENDMSG_ZC: u8 = 48;
    IORING_OP_READ_MULTISHOT: u8 = 49;
    IORING_OP_WAITID: u8 = 50;
    IORING_OP_FUTEX_WAIT: u8 = 51;
    IORING_OP_FUTEX_WAKE: u8 = 52;
    IORING_OP_FUTEX_WAITV: u8 = 53;
    IORING_OP_FIXED_FD_INSTALL: u8 = 54;
    IORING_OP_FTRUNCATE: u8 = 55;
    IORING_OP_BIND: u8 = 56;
    IORING_OP_LISTEN: u8 = 57;
    IORING_OP_RECV_ZC: u8 = 58;
    IORING_OP_EPOLL_WAIT: u8 = 59;
    IORING_OP_READV_FIXED: u8 = 60;
    IORING_OP_WRITEV_FIXED: u8 = 61;
    IORING_OP_PIPE: u8 = 62;

    // io_uring_register(2) opcodes
    IORING_REGISTER_BUFFERS: u32 = 0;
    IORING_UNREGISTER_BUFFERS: u32 = 1;
    IORING_REGISTER_FILES: u32 = 2;
    IORING_UNREGISTER_FILES: u32 = 3;
    IORING_REGISTER_EVENTFD: u32 = 4;
    IORING_UNREGISTER_EVENTFD: u32 = 5;
    IORING_REGISTER_FILES_UPDATE: u32 = 6;
    IORING_REGISTER_EVENTFD_ASYNC: u32 = 7;
    IORING_REGISTER_PROBE: u32 = 8;
    IORING_REGISTER_PERSONALITY: u32 = 9;
    IORING_UNREGISTER_PERSONALITY: u32 = 10;
    IORING_REGISTER_RESTRICTIONS: u32 = 11;
    IORING_REGISTER_ENABLE_RINGS: u32 = 12;
    IORING_REGISTER_FILES2: u32 = 13;
    IORING_REGISTER_FILES_UPDATE2: u32 = 14;
    IORING_REGISTER_BUFFERS2: u32 = 15;
    IORING_REGISTER_BUFFERS_UPDATE: u32 = 16;
    IORING_REGISTER_IOWQ_AFF: u32 = 17;
    IORING_UNREGISTER_IOWQ_AFF: u32 = 18;
    IORING_REGISTER_IOWQ_MAX_WORKERS: u32 = 19;
    IORING_REGISTER_RING_FDS: u32 = 20;
    IORING_UNREGISTER_RING_FDS: u32 = 21;
    IORING_REGISTER_PBUF_RING: u32 = 22;
    IORING_UNREGISTER_PBUF_RING: u32 = 23;
    IORING_REGISTER_SYNC_CANCEL: u32 = 24;
    IORING_REGISTER_FILE_ALLOC_RANGE: u32 = 25;
    IORING_REGISTER_PBUF_STATUS: u32 = 26;

    IORING_REGISTER_FILES_SKIP: i32 = -2;

    // send_zc: the notification's res with IORING_SEND_ZC_REPORT_USAGE
    IORING_NOTIF_USAGE_ZC_COPIED: u32 = 1 << 31;

    // splice/tee: fd_in is a registered file index
    SPLICE_F_FD_IN_FIXED: u32 = 1 << 31;
    SPLICE_F_MOVE: u32 = 1;
    SPLICE_F_NONBLOCK: u32 = 2;
    SPLICE_F_MORE: u32 = 4;
    SPLICE_F_GIFT: u32 = 8;

    // statx(2) mask bits
    STATX_TYPE: u32 = 0x1;
    STATX_MODE: u32 = 0x2;
    STATX_NLINK: u32 = 0x4;
    STATX_UID: u32 = 0x8;
    STATX_GID: u32 = 0x10;
    STATX_ATIME: u32 = 0x20;
    STATX_MTIME: u32 = 0x40;
    STATX_CTIME: u32 = 0x80;
    STATX_INO: u32 = 0x100;
    STATX_SIZE: u32 = 0x200;
    STATX_BLOCKS: u32 = 0x400;
    STATX_BASIC_STATS: u32 = 0x7ff;
    STATX_BTIME: u32 = 0x800;
    STATX_MNT_ID: u32 = 0x1000;
    STATX_DIOALIGN: u32 = 0x2000;
    STATX_MNT_ID_UNIQUE: u32 = 0x4000;
    STATX_SUBVOL: u32 = 0x8000;
    STATX_WRITE_ATOMIC: u32 = 0x10000;
    STATX_DIO_READ_ALIGN: u32 = 0x20000;

    // statx.stx_attributes bits
    STATX_ATTR_COMPRESSED: u64 = 0x4;
    STATX_ATTR_IMMUTABLE: u64 = 0x10;
    STATX_ATTR_APPEND: u64 = 0x20;
    STATX_ATTR_NODUMP: u64 = 0x40;
    STATX_ATTR_ENCRYPTED: u64 = 0x800;
    STATX_ATTR_AUTOMOUNT: u64 = 0x1000;
    STATX_ATTR_MOUNT_ROOT: u64 = 0x2000;
    STATX_ATTR_VERITY: u64 = 0x100000;
    STATX_ATTR_DAX: u64 = 0x200000;
    STATX_ATTR_WRITE_ATOMIC: u64 = 0x400000;

    // *at(2) flags (Python's os module has none of these)
    AT_SYMLINK_NOFOLLOW: u32 = 0x100;
    AT_REMOVEDIR: u32 = 0x200;
    AT_SYMLINK_FOLLOW: u32 = 0x400;
    AT_NO_AUTOMOUNT: u32 = 0x800;
    AT_EMPTY_PATH: u32 = 0x1000;
    AT_STATX_SYNC_AS_STAT: u32 = 0;
    AT_STATX_FORCE_SYNC: u32 = 0x2000;
    AT_STATX_DONT_SYNC: u32 = 0x4000;

    // renameat2(2) flags
    RENAME_NOREPLACE: u32 = 1 << 0;
    RENAME_EXCHANGE: u32 = 1 << 1;
    RENAME_WHITEOUT: u32 = 1 << 2;

    // openat2(2) open_how.resolve
    RESOLVE_NO_XDEV: u64 = 0x01;
    RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    RESOLVE_NO_SYMLINKS: u64 = 0x04;
    RESOLVE_BENEATH: u64 = 0x08;
    RESOLVE_IN_ROOT: u64 = 0x10;
    RESOLVE_CACHED: u64 = 0x20;

    // fallocate(2) modes
    FALLOC_FL_KEEP_SIZE: u32 = 0x01;
    FALLOC_FL_PUNCH_HOLE: u32 = 0x02;
    FALLOC_FL_NO_HIDE_STALE: u32 = 0x04;
    FALLOC_FL_COLLAPSE_RANGE: u32 = 0x08;
    FALLOC_FL_ZERO_RANGE: u32 = 0x10;
    FALLOC_FL_INSERT_RANGE: u32 = 0x20;
    FALLOC_FL_UNSHARE_RANGE: u32 = 0x40;

    // sync_file_range(2) flags
    SYNC_FILE_RANGE_WAIT_BEFORE: u32 = 1;
    SYNC_FILE_RANGE_WRITE: u32 = 2;
    SYNC_FILE_RANGE_WAIT_AFTER: u32 = 4;

    // futex2 flags (futex_wait/futex_wake) and the match-all mask
    FUTEX2_SIZE_U8: u32 = 0x00;
    FUTEX2_SIZE_U16: u32 = 0x01;
    FUTEX2_SIZE_U32: u32 = 0x02;
    FUTEX2_SIZE_U64: u32 = 0x03;
    FUTEX2_NUMA: u32 = 0x04;
    FUTEX2_PRIVATE: u32 = 128;
    FUTEX_BITSET_MATCH_ANY: u32 = 0xffff_ffff;

    AT_FDCWD: i32 = libc::AT_FDCWD;
}

/// Kernel names of the opcodes, indexed by opcode (for `info` and `probe`).
pub const OPCODE_NAMES: &[&str] = &[
    "NOP",
    "READV",
    "WRITEV",
    "FSYNC",
    "READ_FIXED",
    "WRITE_FIXED",
    "POLL_ADD",
    "POLL_REMOVE",
    "SYNC_FILE_RANGE",
    "SENDMSG",
    "RECVMSG",
    "TIMEOUT",
    "TIMEOUT_REMOVE",
    "ACCEPT",
    "ASYNC_CANCEL",
    "LINK_TIMEOUT",
    "CONNECT",
    "FALLOCATE",
    "OPENAT",
    "CLOSE",
    "FILES_UPDATE",
    "STATX",
    "READ",
    "WRITE",
    "FADVISE",
    "MADVISE",
    "SEND",
    "RECV",
    "OPENAT2",
    "EPOLL_CTL",
    "SPLICE",
    "PROVIDE_BUFFERS",
    "REMOVE_BUFFERS",
    "TEE",
    "SHUTDOWN",
    "RENAMEAT",
    "UNLINKAT",
    "MKDIRAT",
    "SYMLINKAT",
    "LINKAT",
    "MSG_RING",
    "FSETXATTR",
    "SETXATTR",
    "FGETXATTR",
    "GETXATTR",
    "SOCKET",
    "URING_CMD",
    "SEND_ZC",
    "SENDMSG_ZC",
    "READ_MULTISHOT",
    "WAITID",
    "FUTEX_WAIT",
    "FUTEX_WAKE",
    "FUTEX_WAITV",
    "FIXED_FD_INSTALL",
    "FTRUNCATE",
    "BIND",
    "LISTEN",
    "RECV_ZC",
    "EPOLL_WAIT",
    "READV_FIXED",
    "WRITEV_FIXED",
    "PIPE",
];

// -------------------------------------------------------------- syscalls
//
// Each wrapper returns the raw result, or `Err(errno)`; mapping errnos to
// meanings is the caller's business (error.rs), because the same errno means
// different things for setup and enter.

fn check(ret: libc::c_long) -> Result<i32, i32> {
    if ret < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(ret as i32)
    }
}

/// `io_uring_setup(2)`.
pub fn io_uring_setup(entries: u32, params: &mut Params) -> Result<i32, i32> {
    // SAFETY: `params` is a valid, exclusively borrowed `io_uring_params` of
    // the kernel's size; the kernel reads and writes only within it.
    check(unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, params as *mut Params) })
}

/// `io_uring_enter(2)`. `arg`/`argsz` are either null/`_NSIG/8` or a
/// `GeteventsArg` with `IORING_ENTER_EXT_ARG` in `flags`.
///
/// # Safety
/// `arg` must be null or point to a live object of `argsz` bytes of the kind
/// `flags` says, and every SQE made visible to the kernel must reference only
/// memory that stays valid until its completion.
pub unsafe fn io_uring_enter(
    fd: i32,
    to_submit: u32,
    min_complete: u32,
    flags: u32,
    arg: *const libc::c_void,
    argsz: usize,
) -> Result<i32, i32> {
    check(libc::syscall(
        libc::SYS_io_uring_enter,
        fd,
        to_submit,
        min_complete,
        flags,
        arg,
        argsz,
    ))
}

/// `io_uring_register(2)`.
///
/// # Safety
/// `arg` must point to what `opcode` expects, `nr_args` elements long, and any
/// memory it registers must stay valid until unregistered.
pub unsafe fn io_uring_register(
    fd: i32,
    opcode: u32,
    arg: *const libc::c_void,
    nr_args: u32,
) -> Result<i32, i32> {
    check(libc::syscall(
        libc::SYS_io_uring_register,
        fd,
        opcode,
        arg,
        nr_args,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqe_is_64_bytes_and_cqe_16() {
        assert_eq!(size_of::<Sqe>(), 64);
        assert_eq!(size_of::<Cqe>(), 16);
    }

    #[test]
    fn opcode_names_match_constants() {
        assert_eq!(OPCODE_NAMES[IORING_OP_READ as usize], "READ");
        assert_eq!(OPCODE_NAMES[IORING_OP_SEND_ZC as usize], "SEND_ZC");
        assert_eq!(OPCODE_NAMES.len(), IORING_OP_PIPE as usize + 1);
        for (name, value) in PUBLIC_CONSTANTS {
            if let Some(op) = name.strip_prefix("IORING_OP_") {
                assert_eq!(OPCODE_NAMES[*value as usize], op);
            }
        }
    }
}
