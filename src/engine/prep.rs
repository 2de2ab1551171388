//! SQE builders: one short function per op, in liburing's shape
//! (`io_uring_prep_*`: its name and argument order where liburing has the
//! op). Each fills a zeroed SQE, opcode included, from plain values (fds,
//! addresses, lengths, flags); none allocates, pins or checks anything, so
//! the caller converts and checks first and queues with the same opcode.
//! The tests hold each builder to the fields liburing's sets.
//!
//! Owns: the SQE field layout of every op. May not touch: memory the
//! addresses point to (the caller keeps it alive through the op's slot), the
//! rings, or Python.

use super::sys::{self, Sqe};

// ----------------------------------------------------------------- common

/// liburing's `io_uring_prep_rw`: the fields most ops share.
pub fn rw(sqe: &mut Sqe, opcode: u8, fd: i32, addr: u64, len: u32, off: u64) {
    sqe.opcode = opcode;
    sqe.fd = fd;
    sqe.addr = addr;
    sqe.len = len;
    sqe.off = off;
}

/// liburing's `io_uring_sqe_set_flags`: the `IOSQE_*` bits.
pub fn set_flags(sqe: &mut Sqe, flags: u8) {
    sqe.flags = flags;
}

pub fn nop(sqe: &mut Sqe) {
    rw(sqe, sys::IORING_OP_NOP, -1, 0, 0, 0);
}

// ------------------------------------------------------------ read, write

/// `off` u64::MAX (-1) reads at the file position.
pub fn read(sqe: &mut Sqe, fd: i32, addr: u64, len: u32, off: u64) {
    rw(sqe, sys::IORING_OP_READ, fd, addr, len, off);
}

pub fn write(sqe: &mut Sqe, fd: i32, addr: u64, len: u32, off: u64) {
    rw(sqe, sys::IORING_OP_WRITE, fd, addr, len, off);
}

/// `iov` is an array of `nr` iovecs; `rw_flags` are `RWF_*`.
pub fn readv(sqe: &mut Sqe, fd: i32, iov: u64, nr: u32, off: u64, rw_flags: u32) {
    rw(sqe, sys::IORING_OP_READV, fd, iov, nr, off);
    sqe.op_flags = rw_flags;
}

pub fn writev(sqe: &mut Sqe, fd: i32, iov: u64, nr: u32, off: u64, rw_flags: u32) {
    rw(sqe, sys::IORING_OP_WRITEV, fd, iov, nr, off);
    sqe.op_flags = rw_flags;
}

/// A read into registered buffer `buf_index`; `addr..addr+len` lies in it.
pub fn read_fixed(sqe: &mut Sqe, fd: i32, addr: u64, len: u32, off: u64, buf_index: u16) {
    rw(sqe, sys::IORING_OP_READ_FIXED, fd, addr, len, off);
    sqe.buf_index = buf_index;
}

pub fn write_fixed(sqe: &mut Sqe, fd: i32, addr: u64, len: u32, off: u64, buf_index: u16) {
    rw(sqe, sys::IORING_OP_WRITE_FIXED, fd, addr, len, off);
    sqe.buf_index = buf_index;
}

// ---------------------------------------------------------------- network

pub fn recv(sqe: &mut Sqe, fd: i32, addr: u64, len: u32, msg_flags: u32) {
    rw(sqe, sys::IORING_OP_RECV, fd, addr, len, 0);
    sqe.op_flags = msg_flags;
}

/// Multishot recv into buffers picked from provided-buffer group `group`.
pub fn recv_multishot(sqe: &mut Sqe, fd: i32, group: u16, msg_flags: u32) {
    rw(sqe, sys::IORING_OP_RECV, fd, 0, 0, 0);
    sqe.op_flags = msg_flags;
    sqe.ioprio |= sys::IORING_RECV_MULTISHOT;
    sqe.flags |= sys::IOSQE_BUFFER_SELECT;
    sqe.buf_index = group;
}

pub fn send(sqe: &mut Sqe, fd: i32, addr: u64, len: u32, msg_flags: u32) {
    rw(sqe, sys::IORING_OP_SEND, fd, addr, len, 0);
    sqe.op_flags = msg_flags;
}

/// Zero-copy send; `zc_flags` are `IORING_RECVSEND_*` / `IORING_SEND_ZC_*`.
pub fn send_zc(sqe: &mut Sqe, fd: i32, addr: u64, len: u32, msg_flags: u32, zc_flags: u16) {
    rw(sqe, sys::IORING_OP_SEND_ZC, fd, addr, len, 0);
    sqe.op_flags = msg_flags;
    sqe.ioprio = zc_flags;
}

/// `msghdr` is a `struct msghdr`'s address.
pub fn sendmsg(sqe: &mut Sqe, fd: i32, msghdr: u64, msg_flags: u32) {
    rw(sqe, sys::IORING_OP_SENDMSG, fd, msghdr, 1, 0);
    sqe.op_flags = msg_flags;
}

pub fn sendmsg_zc(sqe: &mut Sqe, fd: i32, msghdr: u64, msg_flags: u32) {
    sendmsg(sqe, fd, msghdr, msg_flags);
    sqe.opcode = sys::IORING_OP_SENDMSG_ZC;
}

pub fn recvmsg(sqe: &mut Sqe, fd: i32, msghdr: u64, msg_flags: u32) {
    rw(sqe, sys::IORING_OP_RECVMSG, fd, msghdr, 1, 0);
    sqe.op_flags = msg_flags;
}

/// `addr`/`addrlen` (a `socklen_t` the kernel updates) may be 0.
pub fn accept(sqe: &mut Sqe, fd: i32, addr: u64, addrlen: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_ACCEPT, fd, addr, 0, addrlen);
    sqe.op_flags = flags;
}

pub fn accept_multishot(sqe: &mut Sqe, fd: i32, addr: u64, addrlen: u64, flags: u32) {
    accept(sqe, fd, addr, addrlen, flags);
    sqe.ioprio |= sys::IORING_ACCEPT_MULTISHOT;
}

/// `addr` is a sockaddr's address, `addrlen` its length.
pub fn connect(sqe: &mut Sqe, fd: i32, addr: u64, addrlen: u32) {
    rw(sqe, sys::IORING_OP_CONNECT, fd, addr, 0, addrlen as u64);
}

pub fn bind(sqe: &mut Sqe, fd: i32, addr: u64, addrlen: u32) {
    rw(sqe, sys::IORING_OP_BIND, fd, addr, 0, addrlen as u64);
}

pub fn listen(sqe: &mut Sqe, fd: i32, backlog: i32) {
    rw(sqe, sys::IORING_OP_LISTEN, fd, 0, backlog as u32, 0);
}

/// socket(2): the new fd is the result; `flags` must be 0.
pub fn socket(sqe: &mut Sqe, domain: i32, kind: i32, protocol: i32, flags: u32) {
    rw(
        sqe,
        sys::IORING_OP_SOCKET,
        domain,
        0,
        protocol as u32,
        kind as u32 as u64,
    );
    sqe.op_flags = flags;
}

pub fn shutdown(sqe: &mut Sqe, fd: i32, how: u32) {
    rw(sqe, sys::IORING_OP_SHUTDOWN, fd, 0, how, 0);
}

// ------------------------------------------------------------------ files

pub fn close(sqe: &mut Sqe, fd: i32) {
    rw(sqe, sys::IORING_OP_CLOSE, fd, 0, 0, 0);
}

/// Closes registered file `file_index` (stored as index + 1: 0 means "an
/// fd"; u32::MAX, which names no index, saturates rather than wrap to 0).
pub fn close_direct(sqe: &mut Sqe, file_index: u32) {
    close(sqe, 0);
    sqe.file_index = file_index.saturating_add(1);
}

pub fn fsync(sqe: &mut Sqe, fd: i32, fsync_flags: u32) {
    rw(sqe, sys::IORING_OP_FSYNC, fd, 0, 0, 0);
    sqe.op_flags = fsync_flags;
}

/// `path` is a NUL-terminated string's address.
pub fn openat(sqe: &mut Sqe, dirfd: i32, path: u64, flags: u32, mode: u32) {
    rw(sqe, sys::IORING_OP_OPENAT, dirfd, path, mode, 0);
    sqe.op_flags = flags;
}

/// liburing's `io_uring_prep_openat_direct`: opens into registered file
/// `file_index` (stored as index + 1), replacing the file there if any;
/// Linux 5.15. `flags` must not hold `O_CLOEXEC` (a direct descriptor is in
/// no fd table: the kernel refuses it with EINVAL).
pub fn openat_direct(sqe: &mut Sqe, dirfd: i32, path: u64, flags: u32, mode: u32, file_index: u32) {
    openat(sqe, dirfd, path, flags, mode);
    sqe.file_index = file_index.saturating_add(1);
}

/// `how` is a `struct open_how`'s address.
pub fn openat2(sqe: &mut Sqe, dirfd: i32, path: u64, how: u64) {
    let len = std::mem::size_of::<sys::OpenHow>() as u32;
    rw(sqe, sys::IORING_OP_OPENAT2, dirfd, path, len, how);
}

/// `statxbuf` is a `struct statx`'s address; `flags` are `AT_*`.
pub fn statx(sqe: &mut Sqe, dirfd: i32, path: u64, flags: u32, mask: u32, statxbuf: u64) {
    rw(sqe, sys::IORING_OP_STATX, dirfd, path, mask, statxbuf);
    sqe.op_flags = flags;
}

pub fn fallocate(sqe: &mut Sqe, fd: i32, mode: u32, offset: u64, len: u64) {
    rw(sqe, sys::IORING_OP_FALLOCATE, fd, len, mode, offset);
}

/// A length in `len` (every kernel with FADVISE reads it).
pub fn fadvise(sqe: &mut Sqe, fd: i32, offset: u64, len: u32, advice: u32) {
    rw(sqe, sys::IORING_OP_FADVISE, fd, 0, len, offset);
    sqe.op_flags = advice;
}

/// A 64-bit length in `addr` (Linux 6.11 reads it; older kernels refuse a
/// non-zero `addr`).
pub fn fadvise64(sqe: &mut Sqe, fd: i32, offset: u64, len: u64, advice: u32) {
    rw(sqe, sys::IORING_OP_FADVISE, fd, len, 0, offset);
    sqe.op_flags = advice;
}

/// madvise(2) on `addr..addr+len`.
pub fn madvise(sqe: &mut Sqe, addr: u64, len: u32, advice: u32) {
    rw(sqe, sys::IORING_OP_MADVISE, -1, addr, len, 0);
    sqe.op_flags = advice;
}

/// A 64-bit length in `off` (Linux 6.11).
pub fn madvise64(sqe: &mut Sqe, addr: u64, len: u64, advice: u32) {
    rw(sqe, sys::IORING_OP_MADVISE, -1, addr, 0, len);
    sqe.op_flags = advice;
}

pub fn ftruncate(sqe: &mut Sqe, fd: i32, len: u64) {
    rw(sqe, sys::IORING_OP_FTRUNCATE, fd, 0, 0, len);
}

pub fn sync_file_range(sqe: &mut Sqe, fd: i32, len: u32, offset: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_SYNC_FILE_RANGE, fd, 0, len, offset);
    sqe.op_flags = flags;
}

/// Moves up to `len` bytes from `fd_in` (at `off_in`, u64::MAX: its
/// position) to `fd_out`; one of them must be a pipe.
pub fn splice(
    sqe: &mut Sqe,
    fd_in: i32,
    off_in: u64,
    fd_out: i32,
    off_out: u64,
    len: u32,
    flags: u32,
) {
    // splice_off_in shares `addr`, splice_fd_in shares `file_index`.
    rw(sqe, sys::IORING_OP_SPLICE, fd_out, off_in, len, off_out);
    sqe.file_index = fd_in as u32;
    sqe.op_flags = flags;
}

/// Duplicates up to `len` bytes from pipe `fd_in` to pipe `fd_out`.
pub fn tee(sqe: &mut Sqe, fd_in: i32, fd_out: i32, len: u32, flags: u32) {
    rw(sqe, sys::IORING_OP_TEE, fd_out, 0, len, 0);
    sqe.file_index = fd_in as u32;
    sqe.op_flags = flags;
}

/// Replaces registered files from `offset` on with the `nr` fds at `fds`.
pub fn files_update(sqe: &mut Sqe, fds: u64, nr: u32, offset: u32) {
    rw(sqe, sys::IORING_OP_FILES_UPDATE, -1, fds, nr, offset as u64);
}

// ------------------------------------------------------------------ paths

/// Paths are NUL-terminated strings' addresses; `flags` 0 or `AT_REMOVEDIR`.
pub fn unlinkat(sqe: &mut Sqe, dirfd: i32, path: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_UNLINKAT, dirfd, path, 0, 0);
    sqe.op_flags = flags;
}

pub fn mkdirat(sqe: &mut Sqe, dirfd: i32, path: u64, mode: u32) {
    rw(sqe, sys::IORING_OP_MKDIRAT, dirfd, path, mode, 0);
}

/// `flags` are `RENAME_*`.
pub fn renameat(
    sqe: &mut Sqe,
    olddirfd: i32,
    oldpath: u64,
    newdirfd: i32,
    newpath: u64,
    flags: u32,
) {
    rw(
        sqe,
        sys::IORING_OP_RENAMEAT,
        olddirfd,
        oldpath,
        newdirfd as u32,
        newpath,
    );
    sqe.op_flags = flags;
}

/// Makes `linkpath` (relative to `newdirfd`) point at `target`.
pub fn symlinkat(sqe: &mut Sqe, target: u64, newdirfd: i32, linkpath: u64) {
    rw(sqe, sys::IORING_OP_SYMLINKAT, newdirfd, target, 0, linkpath);
}

/// `flags` 0 or `AT_SYMLINK_FOLLOW`.
pub fn linkat(sqe: &mut Sqe, olddirfd: i32, oldpath: u64, newdirfd: i32, newpath: u64, flags: u32) {
    rw(
        sqe,
        sys::IORING_OP_LINKAT,
        olddirfd,
        oldpath,
        newdirfd as u32,
        newpath,
    );
    sqe.op_flags = flags;
}

// ------------------------------------------------------------------- poll

/// liburing's `__io_uring_prep_poll_mask`: poll32_events is stored in the
/// kernel's byte order, as is on little-endian, half-word swapped on
/// big-endian (`__swahw32`).
fn poll_mask(events: u32) -> u32 {
    if cfg!(target_endian = "big") {
        events.rotate_left(16)
    } else {
        events
    }
}

/// `events` in poll(2)'s bits; `multi` keeps it armed (IORING_POLL_ADD_MULTI).
pub fn poll_add(sqe: &mut Sqe, fd: i32, events: u32, multi: bool) {
    let flags = if multi { sys::IORING_POLL_ADD_MULTI } else { 0 };
    poll_add_flags(sqe, fd, events, flags);
}

/// `poll_add` with any `IORING_POLL_ADD_*` flags (they go in `len`).
pub fn poll_add_flags(sqe: &mut Sqe, fd: i32, events: u32, flags: u32) {
    rw(sqe, sys::IORING_OP_POLL_ADD, fd, 0, flags, 0);
    sqe.op_flags = poll_mask(events);
}

/// Removes the poll whose token is `target`.
pub fn poll_remove(sqe: &mut Sqe, target: u64) {
    rw(sqe, sys::IORING_OP_POLL_REMOVE, -1, target, 0, 0);
}

/// Updates the poll whose token is `target`: its events (with
/// `IORING_POLL_UPDATE_EVENTS`; the kernel refuses non-zero `events`
/// without it) and/or its token (`new`, with `IORING_POLL_UPDATE_USER_DATA`).
pub fn poll_update(sqe: &mut Sqe, target: u64, new: u64, events: u32, flags: u32) {
    rw(sqe, sys::IORING_OP_POLL_REMOVE, -1, target, flags, new);
    sqe.op_flags = poll_mask(events);
}

// --------------------------------------------------------------- timeouts

/// `ts` is a `__kernel_timespec`'s address; `count` completions also end it.
pub fn timeout(sqe: &mut Sqe, ts: u64, count: u32, flags: u32) {
    rw(sqe, sys::IORING_OP_TIMEOUT, -1, ts, 1, count as u64);
    sqe.op_flags = flags;
}

pub fn timeout_remove(sqe: &mut Sqe, target: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_TIMEOUT_REMOVE, -1, target, 0, 0);
    sqe.op_flags = flags;
}

/// Gives the timeout whose token is `target` the expiry at `ts`.
pub fn timeout_update(sqe: &mut Sqe, ts: u64, target: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_TIMEOUT_REMOVE, -1, target, 0, ts);
    sqe.op_flags = flags | sys::IORING_TIMEOUT_UPDATE;
}

pub fn link_timeout(sqe: &mut Sqe, ts: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_LINK_TIMEOUT, -1, ts, 1, 0);
    sqe.op_flags = flags;
}

// ----------------------------------------------------------- cancellation

/// Cancels the op whose token is `target`.
pub fn cancel(sqe: &mut Sqe, target: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_ASYNC_CANCEL, -1, target, 0, 0);
    sqe.op_flags = flags;
}

/// Cancels every op in flight (`IORING_ASYNC_CANCEL_ALL | _ANY`).
pub fn cancel_any(sqe: &mut Sqe) {
    cancel(
        sqe,
        0,
        sys::IORING_ASYNC_CANCEL_ALL | sys::IORING_ASYNC_CANCEL_ANY,
    );
}

pub fn cancel_fd(sqe: &mut Sqe, fd: i32, flags: u32) {
    rw(sqe, sys::IORING_OP_ASYNC_CANCEL, fd, 0, 0, 0);
    sqe.op_flags = flags | sys::IORING_ASYNC_CANCEL_FD;
}

// ------------------------------------------------------- provided buffers

/// Hands `nr` buffers of `len` bytes from `addr` on to group `group`, with
/// ids from `bid`.
pub fn provide_buffers(sqe: &mut Sqe, addr: u64, len: u32, nr: u32, group: u16, bid: u16) {
    rw(
        sqe,
        sys::IORING_OP_PROVIDE_BUFFERS,
        nr as i32,
        addr,
        len,
        bid as u64,
    );
    sqe.buf_index = group;
}

pub fn remove_buffers(sqe: &mut Sqe, nr: u32, group: u16) {
    rw(sqe, sys::IORING_OP_REMOVE_BUFFERS, nr as i32, 0, 0, 0);
    sqe.buf_index = group;
}

// ----------------------------------------- rings, processes and futexes

/// Posts a CQE with `res` (as `len`) and `data` (its user_data) on the ring
/// `fd`.
pub fn msg_ring(sqe: &mut Sqe, fd: i32, res: u32, data: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_MSG_RING, fd, 0, res, data);
    sqe.op_flags = flags;
}

/// Waits for a child (`idtype`/`id` as waitid(2)); `infop` is a siginfo's
/// address.
pub fn waitid(sqe: &mut Sqe, idtype: u32, id: u32, infop: u64, options: u32, flags: u32) {
    rw(sqe, sys::IORING_OP_WAITID, id as i32, 0, idtype, 0);
    sqe.op_flags = flags;
    sqe.file_index = options;
    sqe.off = infop; // addr2
}

/// Waits while the futex word at `futex` holds `val` (under `mask`);
/// `futex_flags` are `FUTEX2_*` (they go in `fd`).
pub fn futex_wait(sqe: &mut Sqe, futex: u64, val: u64, mask: u64, futex_flags: u32, flags: u32) {
    rw(
        sqe,
        sys::IORING_OP_FUTEX_WAIT,
        futex_flags as i32,
        futex,
        0,
        val,
    );
    sqe.op_flags = flags;
    sqe.addr3 = mask;
}

/// Wakes up to `val` waiters of the futex word at `futex`.
pub fn futex_wake(sqe: &mut Sqe, futex: u64, val: u64, mask: u64, futex_flags: u32, flags: u32) {
    rw(
        sqe,
        sys::IORING_OP_FUTEX_WAKE,
        futex_flags as i32,
        futex,
        0,
        val,
    );
    sqe.op_flags = flags;
    sqe.addr3 = mask;
}

#[cfg(test)]
mod tests {
    //! Each builder against the SQE liburing's `io_uring_prep_*` of the same
    //! name leaves (liburing 2.9's liburing.h): every field is compared, so
    //! a builder that sets a field liburing leaves alone fails too.

    use super::*;

    /// What liburing's `io_uring_prep_rw(op, sqe, fd, addr, len, off)` leaves
    /// in a zeroed SQE; a test adds the op's own fields with `..`.
    fn prep_rw(opcode: u8, fd: i32, addr: u64, len: u32, off: u64) -> Sqe {
        Sqe {
            opcode,
            fd,
            addr,
            len,
            off,
            ..Sqe::default()
        }
    }

    /// Runs a builder on a zeroed SQE (as `get_sqe` hands them out).
    fn built(f: impl FnOnce(&mut Sqe)) -> Sqe {
        let mut sqe = Sqe::default();
        f(&mut sqe);
        sqe
    }

    /// Sqe has no PartialEq (the ABI type stays plain): compare every field
    /// through Debug, one line per field so a failure names it.
    #[track_caller]
    fn same(got: Sqe, want: Sqe) {
        assert_eq!(format!("{got:#?}"), format!("{want:#?}"));
    }

    #[test]
    fn common_builders() {
        same(
            built(|s| rw(s, sys::IORING_OP_READ, 3, 0x1000, 7, 9)),
            prep_rw(sys::IORING_OP_READ, 3, 0x1000, 7, 9),
        );
        same(
            built(|s| set_flags(s, sys::IOSQE_IO_LINK)),
            Sqe {
                flags: sys::IOSQE_IO_LINK,
                ..Sqe::default()
            },
        );
        same(built(nop), prep_rw(sys::IORING_OP_NOP, -1, 0, 0, 0));
    }

    #[test]
    fn read_write_builders() {
        type Rw = fn(&mut Sqe, i32, u64, u32, u64);
        for (f, opcode) in [
            (read as Rw, sys::IORING_OP_READ),
            (write, sys::IORING_OP_WRITE),
        ] {
            same(
                built(|s| f(s, 3, 0x1000, 4096, u64::MAX)),
                prep_rw(opcode, 3, 0x1000, 4096, u64::MAX),
            );
        }
        // readv2/writev2: rw_flags.
        type Rwv = fn(&mut Sqe, i32, u64, u32, u64, u32);
        for (f, opcode) in [
            (readv as Rwv, sys::IORING_OP_READV),
            (writev, sys::IORING_OP_WRITEV),
        ] {
            same(
                built(|s| f(s, 3, 0x2000, 2, 512, 8)),
                Sqe {
                    op_flags: 8,
                    ..prep_rw(opcode, 3, 0x2000, 2, 512)
                },
            );
        }
        type Fixed = fn(&mut Sqe, i32, u64, u32, u64, u16);
        for (f, opcode) in [
            (read_fixed as Fixed, sys::IORING_OP_READ_FIXED),
            (write_fixed, sys::IORING_OP_WRITE_FIXED),
        ] {
            same(
                built(|s| f(s, 3, 0x3000, 100, 4096, 5)),
                Sqe {
                    buf_index: 5,
                    ..prep_rw(opcode, 3, 0x3000, 100, 4096)
                },
            );
        }
    }

    #[test]
    fn network_builders() {
        // msg_flags for recv, send and the msghdr ops; len 1 for the latter.
        type Buf = fn(&mut Sqe, i32, u64, u32, u32);
        for (f, opcode) in [
            (recv as Buf, sys::IORING_OP_RECV),
            (send, sys::IORING_OP_SEND),
        ] {
            same(
                built(|s| f(s, 4, 0x1000, 64, 2)),
                Sqe {
                    op_flags: 2,
                    ..prep_rw(opcode, 4, 0x1000, 64, 0)
                },
            );
        }
        // Our recv_multishot also selects the group (liburing's leaves
        // IOSQE_BUFFER_SELECT and buf_group to the caller).
        same(
            built(|s| recv_multishot(s, 4, 7, 2)),
            Sqe {
                op_flags: 2,
                ioprio: sys::IORING_RECV_MULTISHOT,
                flags: sys::IOSQE_BUFFER_SELECT,
                buf_index: 7,
                ..prep_rw(sys::IORING_OP_RECV, 4, 0, 0, 0)
            },
        );
        same(
            built(|s| send_zc(s, 4, 0x1000, 64, 2, sys::IORING_RECVSEND_POLL_FIRST)),
            Sqe {
                op_flags: 2,
                ioprio: sys::IORING_RECVSEND_POLL_FIRST,
                ..prep_rw(sys::IORING_OP_SEND_ZC, 4, 0x1000, 64, 0)
            },
        );
        for (f, opcode) in [
            (
                sendmsg as fn(&mut Sqe, i32, u64, u32),
                sys::IORING_OP_SENDMSG,
            ),
            (sendmsg_zc, sys::IORING_OP_SENDMSG_ZC),
            (recvmsg, sys::IORING_OP_RECVMSG),
        ] {
            same(
                built(|s| f(s, 4, 0x5000, 2)),
                Sqe {
                    op_flags: 2,
                    ..prep_rw(opcode, 4, 0x5000, 1, 0)
                },
            );
        }
        // accept: addrlen's address in off (addr2), accept_flags.
        same(
            built(|s| accept(s, 5, 0x100, 0x200, 0x80000)),
            Sqe {
                op_flags: 0x80000,
                ..prep_rw(sys::IORING_OP_ACCEPT, 5, 0x100, 0, 0x200)
            },
        );
        same(
            built(|s| accept_multishot(s, 5, 0, 0, 0x80000)),
            Sqe {
                op_flags: 0x80000,
                ioprio: sys::IORING_ACCEPT_MULTISHOT,
                ..prep_rw(sys::IORING_OP_ACCEPT, 5, 0, 0, 0)
            },
        );
        same(
            built(|s| connect(s, 5, 0x100, 16)),
            prep_rw(sys::IORING_OP_CONNECT, 5, 0x100, 0, 16),
        );
        same(
            built(|s| bind(s, 5, 0x100, 16)),
            prep_rw(sys::IORING_OP_BIND, 5, 0x100, 0, 16),
        );
        same(
            built(|s| listen(s, 5, 128)),
            prep_rw(sys::IORING_OP_LISTEN, 5, 0, 128, 0),
        );
        // socket: domain in fd, protocol in len, type in off, rw_flags.
        same(
            built(|s| socket(s, libc::AF_INET, libc::SOCK_STREAM, 6, 0)),
            prep_rw(
                sys::IORING_OP_SOCKET,
                libc::AF_INET,
                0,
                6,
                libc::SOCK_STREAM as u64,
            ),
        );
        same(
            built(|s| shutdown(s, 5, libc::SHUT_WR as u32)),
            prep_rw(sys::IORING_OP_SHUTDOWN, 5, 0, libc::SHUT_WR as u32, 0),
        );
    }

    #[test]
    fn file_builders() {
        same(
            built(|s| close(s, 6)),
            prep_rw(sys::IORING_OP_CLOSE, 6, 0, 0, 0),
        );
        // __io_uring_set_target_fixed_file: index + 1.
        same(
            built(|s| close_direct(s, 3)),
            Sqe {
                file_index: 4,
                ..prep_rw(sys::IORING_OP_CLOSE, 0, 0, 0, 0)
            },
        );
        assert_eq!(built(|s| close_direct(s, u32::MAX)).file_index, u32::MAX);
        same(
            built(|s| fsync(s, 6, sys::IORING_FSYNC_DATASYNC)),
            Sqe {
                op_flags: sys::IORING_FSYNC_DATASYNC,
                ..prep_rw(sys::IORING_OP_FSYNC, 6, 0, 0, 0)
            },
        );
        // openat: mode in len, open_flags.
        same(
            built(|s| openat(s, libc::AT_FDCWD, 0x700, 0o2, 0o644)),
            Sqe {
                op_flags: 0o2,
                ..prep_rw(sys::IORING_OP_OPENAT, libc::AT_FDCWD, 0x700, 0o644, 0)
            },
        );
        same(
            built(|s| openat_direct(s, libc::AT_FDCWD, 0x700, 0o2, 0o644, 3)),
            Sqe {
                op_flags: 0o2,
                file_index: 4,
                ..prep_rw(sys::IORING_OP_OPENAT, libc::AT_FDCWD, 0x700, 0o644, 0)
            },
        );
        same(
            built(|s| openat2(s, libc::AT_FDCWD, 0x700, 0x800)),
            prep_rw(sys::IORING_OP_OPENAT2, libc::AT_FDCWD, 0x700, 24, 0x800),
        );
        // statx: mask in len, the buffer in off (addr2), statx_flags.
        same(
            built(|s| statx(s, 6, 0x700, libc::AT_EMPTY_PATH as u32, 0x7ff, 0x900)),
            Sqe {
                op_flags: libc::AT_EMPTY_PATH as u32,
                ..prep_rw(sys::IORING_OP_STATX, 6, 0x700, 0x7ff, 0x900)
            },
        );
        // fallocate: mode in len, offset in off, the length in addr.
        same(
            built(|s| fallocate(s, 6, 1, 4096, 1 << 40)),
            prep_rw(sys::IORING_OP_FALLOCATE, 6, 1 << 40, 1, 4096),
        );
        same(
            built(|s| fadvise(s, 6, 4096, 8192, 3)),
            Sqe {
                op_flags: 3,
                ..prep_rw(sys::IORING_OP_FADVISE, 6, 0, 8192, 4096)
            },
        );
        same(
            built(|s| fadvise64(s, 6, 4096, 1 << 33, 3)),
            Sqe {
                op_flags: 3,
                ..prep_rw(sys::IORING_OP_FADVISE, 6, 1 << 33, 0, 4096)
            },
        );
        same(
            built(|s| madvise(s, 0x10000, 8192, 4)),
            Sqe {
                op_flags: 4,
                ..prep_rw(sys::IORING_OP_MADVISE, -1, 0x10000, 8192, 0)
            },
        );
        same(
            built(|s| madvise64(s, 0x10000, 1 << 33, 4)),
            Sqe {
                op_flags: 4,
                ..prep_rw(sys::IORING_OP_MADVISE, -1, 0x10000, 0, 1 << 33)
            },
        );
        same(
            built(|s| ftruncate(s, 6, 1 << 33)),
            prep_rw(sys::IORING_OP_FTRUNCATE, 6, 0, 0, 1 << 33),
        );
        same(
            built(|s| sync_file_range(s, 6, 4096, 8192, 2)),
            Sqe {
                op_flags: 2,
                ..prep_rw(sys::IORING_OP_SYNC_FILE_RANGE, 6, 0, 4096, 8192)
            },
        );
        // splice/tee: splice_off_in in addr, splice_fd_in in file_index.
        same(
            built(|s| splice(s, 7, u64::MAX, 8, 4096, 100, 1)),
            Sqe {
                file_index: 7,
                op_flags: 1,
                ..prep_rw(sys::IORING_OP_SPLICE, 8, u64::MAX, 100, 4096)
            },
        );
        same(
            built(|s| tee(s, 7, 8, 100, 1)),
            Sqe {
                file_index: 7,
                op_flags: 1,
                ..prep_rw(sys::IORING_OP_TEE, 8, 0, 100, 0)
            },
        );
        same(
            built(|s| files_update(s, 0x400, 3, 10)),
            prep_rw(sys::IORING_OP_FILES_UPDATE, -1, 0x400, 3, 10),
        );
    }

    #[test]
    fn path_builders() {
        same(
            built(|s| unlinkat(s, 6, 0x700, libc::AT_REMOVEDIR as u32)),
            Sqe {
                op_flags: libc::AT_REMOVEDIR as u32,
                ..prep_rw(sys::IORING_OP_UNLINKAT, 6, 0x700, 0, 0)
            },
        );
        same(
            built(|s| mkdirat(s, 6, 0x700, 0o755)),
            prep_rw(sys::IORING_OP_MKDIRAT, 6, 0x700, 0o755, 0),
        );
        // The second directory fd in len, the second path in off (addr2).
        type TwoPaths = fn(&mut Sqe, i32, u64, i32, u64, u32);
        for (f, opcode) in [
            (renameat as TwoPaths, sys::IORING_OP_RENAMEAT),
            (linkat, sys::IORING_OP_LINKAT),
        ] {
            same(
                built(|s| f(s, 6, 0x700, 9, 0x800, 1)),
                Sqe {
                    op_flags: 1,
                    ..prep_rw(opcode, 6, 0x700, 9, 0x800)
                },
            );
        }
        same(
            built(|s| symlinkat(s, 0x700, 9, 0x800)),
            prep_rw(sys::IORING_OP_SYMLINKAT, 9, 0x700, 0, 0x800),
        );
    }

    #[test]
    fn poll_builders() {
        let pollin = libc::POLLIN as u32;
        same(
            built(|s| poll_add(s, 6, pollin, false)),
            Sqe {
                op_flags: pollin,
                ..prep_rw(sys::IORING_OP_POLL_ADD, 6, 0, 0, 0)
            },
        );
        // io_uring_prep_poll_multishot: len IORING_POLL_ADD_MULTI.
        same(
            built(|s| poll_add(s, 6, pollin, true)),
            Sqe {
                op_flags: pollin,
                ..prep_rw(sys::IORING_OP_POLL_ADD, 6, 0, sys::IORING_POLL_ADD_MULTI, 0)
            },
        );
        same(
            built(|s| poll_add_flags(s, 6, pollin, 1 << 3)),
            Sqe {
                op_flags: pollin,
                ..prep_rw(sys::IORING_OP_POLL_ADD, 6, 0, 1 << 3, 0)
            },
        );
        same(
            built(|s| poll_remove(s, 0xabc)),
            prep_rw(sys::IORING_OP_POLL_REMOVE, -1, 0xabc, 0, 0),
        );
        // The old token in addr, the new in off (addr2), flags in len.
        let flags = sys::IORING_POLL_UPDATE_EVENTS | sys::IORING_POLL_UPDATE_USER_DATA;
        same(
            built(|s| poll_update(s, 0xabc, 0xdef, pollin, flags)),
            Sqe {
                op_flags: pollin,
                ..prep_rw(sys::IORING_OP_POLL_REMOVE, -1, 0xabc, flags, 0xdef)
            },
        );
        assert_eq!(
            poll_mask(0x0001_0004) == 0x0001_0004,
            cfg!(target_endian = "little")
        );
    }

    #[test]
    fn timeout_builders() {
        same(
            built(|s| timeout(s, 0x600, 3, sys::IORING_TIMEOUT_ABS)),
            Sqe {
                op_flags: sys::IORING_TIMEOUT_ABS,
                ..prep_rw(sys::IORING_OP_TIMEOUT, -1, 0x600, 1, 3)
            },
        );
        same(
            built(|s| timeout_remove(s, 0xabc, 0)),
            prep_rw(sys::IORING_OP_TIMEOUT_REMOVE, -1, 0xabc, 0, 0),
        );
        // The target in addr, the new timespec in off (addr2), UPDATE added.
        same(
            built(|s| timeout_update(s, 0x600, 0xabc, sys::IORING_TIMEOUT_ABS)),
            Sqe {
                op_flags: sys::IORING_TIMEOUT_ABS | sys::IORING_TIMEOUT_UPDATE,
                ..prep_rw(sys::IORING_OP_TIMEOUT_REMOVE, -1, 0xabc, 0, 0x600)
            },
        );
        same(
            built(|s| link_timeout(s, 0x600, 0)),
            prep_rw(sys::IORING_OP_LINK_TIMEOUT, -1, 0x600, 1, 0),
        );
    }

    #[test]
    fn cancel_builders() {
        same(
            built(|s| cancel(s, 0xabc, sys::IORING_ASYNC_CANCEL_ALL)),
            Sqe {
                op_flags: sys::IORING_ASYNC_CANCEL_ALL,
                ..prep_rw(sys::IORING_OP_ASYNC_CANCEL, -1, 0xabc, 0, 0)
            },
        );
        same(
            built(cancel_any),
            Sqe {
                op_flags: sys::IORING_ASYNC_CANCEL_ALL | sys::IORING_ASYNC_CANCEL_ANY,
                ..prep_rw(sys::IORING_OP_ASYNC_CANCEL, -1, 0, 0, 0)
            },
        );
        same(
            built(|s| cancel_fd(s, 6, sys::IORING_ASYNC_CANCEL_ALL)),
            Sqe {
                op_flags: sys::IORING_ASYNC_CANCEL_ALL | sys::IORING_ASYNC_CANCEL_FD,
                ..prep_rw(sys::IORING_OP_ASYNC_CANCEL, 6, 0, 0, 0)
            },
        );
    }

    #[test]
    fn provided_buffer_builders() {
        // The count in fd, the first id in off, the group in buf_group.
        same(
            built(|s| provide_buffers(s, 0x10000, 4096, 8, 3, 100)),
            Sqe {
                buf_index: 3,
                ..prep_rw(sys::IORING_OP_PROVIDE_BUFFERS, 8, 0x10000, 4096, 100)
            },
        );
        same(
            built(|s| remove_buffers(s, 8, 3)),
            Sqe {
                buf_index: 3,
                ..prep_rw(sys::IORING_OP_REMOVE_BUFFERS, 8, 0, 0, 0)
            },
        );
    }

    #[test]
    fn ring_process_and_futex_builders() {
        same(
            built(|s| msg_ring(s, 9, 5, 77, 0)),
            prep_rw(sys::IORING_OP_MSG_RING, 9, 0, 5, 77),
        );
        // waitid: id in fd, idtype in len, options in file_index, infop in
        // addr2, waitid_flags.
        same(
            built(|s| waitid(s, libc::P_PID, 1234, 0x900, libc::WEXITED as u32, 0)),
            Sqe {
                file_index: libc::WEXITED as u32,
                ..prep_rw(sys::IORING_OP_WAITID, 1234, 0, libc::P_PID, 0x900)
            },
        );
        // futex: futex_flags in fd, val in off, mask in addr3, flags.
        let ff = sys::FUTEX2_SIZE_U32 | sys::FUTEX2_PRIVATE;
        type Futex = fn(&mut Sqe, u64, u64, u64, u32, u32);
        for (f, opcode) in [
            (futex_wait as Futex, sys::IORING_OP_FUTEX_WAIT),
            (futex_wake, sys::IORING_OP_FUTEX_WAKE),
        ] {
            same(
                built(|s| f(s, 0x1000, 1, 0xffff_ffff, ff, 0)),
                Sqe {
                    addr3: 0xffff_ffff,
                    ..prep_rw(opcode, ff as i32, 0x1000, 0, 1)
                },
            );
        }
    }
}
