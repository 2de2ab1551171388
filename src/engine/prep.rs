//! SQE builders: one short function per op, in liburing's shape
//! (`io_uring_prep_*`). Each fills a zeroed SQE from plain values (fds,
//! addresses, lengths, flags); none allocates, pins or checks anything.
//!
//! Owns: the SQE field layout of every op. May not touch: memory the
//! addresses point to (the caller keeps it alive through the op's slot), the
//! rings, or Python.

use super::sys::{self, Sqe};

/// liburing's `io_uring_prep_rw`: the fields most ops share.
pub fn rw(sqe: &mut Sqe, opcode: u8, fd: i32, addr: u64, len: u32, off: u64) {
    sqe.opcode = opcode;
    sqe.fd = fd;
    sqe.addr = addr;
    sqe.len = len;
    sqe.off = off;
}

pub fn nop(sqe: &mut Sqe) {
    rw(sqe, sys::IORING_OP_NOP, -1, 0, 0, 0);
}

/// `off` u64::MAX (-1) reads at the file position.
pub fn read(sqe: &mut Sqe, fd: i32, addr: u64, len: u32, off: u64) {
    rw(sqe, sys::IORING_OP_READ, fd, addr, len, off);
}

pub fn write(sqe: &mut Sqe, fd: i32, addr: u64, len: u32, off: u64) {
    rw(sqe, sys::IORING_OP_WRITE, fd, addr, len, off);
}

pub fn readv(sqe: &mut Sqe, fd: i32, iov: u64, nr: u32, off: u64, rw_flags: u32) {
    rw(sqe, sys::IORING_OP_READV, fd, iov, nr, off);
    sqe.op_flags = rw_flags;
}

pub fn writev(sqe: &mut Sqe, fd: i32, iov: u64, nr: u32, off: u64, rw_flags: u32) {
    rw(sqe, sys::IORING_OP_WRITEV, fd, iov, nr, off);
    sqe.op_flags = rw_flags;
}

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

pub fn sendmsg(sqe: &mut Sqe, fd: i32, msghdr: u64, msg_flags: u32) {
    rw(sqe, sys::IORING_OP_SENDMSG, fd, msghdr, 1, 0);
    sqe.op_flags = msg_flags;
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

pub fn connect(sqe: &mut Sqe, fd: i32, addr: u64, addrlen: u32) {
    rw(sqe, sys::IORING_OP_CONNECT, fd, addr, 0, addrlen as u64);
}

pub fn shutdown(sqe: &mut Sqe, fd: i32, how: u32) {
    rw(sqe, sys::IORING_OP_SHUTDOWN, fd, 0, how, 0);
}

pub fn close(sqe: &mut Sqe, fd: i32) {
    rw(sqe, sys::IORING_OP_CLOSE, fd, 0, 0, 0);
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

/// `events` in poll(2)'s bits; `multi` keeps it armed (IORING_POLL_ADD_MULTI).
pub fn poll_add(sqe: &mut Sqe, fd: i32, events: u32, multi: bool) {
    rw(
        sqe,
        sys::IORING_OP_POLL_ADD,
        fd,
        0,
        if multi { sys::IORING_POLL_ADD_MULTI } else { 0 },
        0,
    );
    sqe.op_flags = if cfg!(target_endian = "big") {
        events.rotate_left(16)
    } else {
        events
    };
}

/// Removes the poll whose token is `target`.
pub fn poll_remove(sqe: &mut Sqe, target: u64) {
    rw(sqe, sys::IORING_OP_POLL_REMOVE, -1, target, 0, 0);
}

/// `ts` is a `__kernel_timespec`'s address; `count` completions also end it.
pub fn timeout(sqe: &mut Sqe, ts: u64, count: u32, flags: u32) {
    rw(sqe, sys::IORING_OP_TIMEOUT, -1, ts, 1, count as u64);
    sqe.op_flags = flags;
}

pub fn timeout_remove(sqe: &mut Sqe, target: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_TIMEOUT_REMOVE, -1, target, 0, 0);
    sqe.op_flags = flags;
}

pub fn link_timeout(sqe: &mut Sqe, ts: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_LINK_TIMEOUT, -1, ts, 1, 0);
    sqe.op_flags = flags;
}

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

/// Posts a CQE with `res` (as `len`) and `data` (its user_data) on the ring
/// `fd`.
pub fn msg_ring(sqe: &mut Sqe, fd: i32, res: u32, data: u64, flags: u32) {
    rw(sqe, sys::IORING_OP_MSG_RING, fd, 0, res, data);
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
    rw(sqe, sys::IORING_OP_SPLICE, fd_out, off_in, len, off_out);
    sqe.file_index = fd_in as u32;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_the_fields_liburing_fills() {
        let mut s = Sqe::default();
        read(&mut s, 3, 0x1000, 4096, 8192);
        assert_eq!(
            (s.opcode, s.fd, s.addr, s.len, s.off),
            (sys::IORING_OP_READ, 3, 0x1000, 4096, 8192)
        );
        let mut s = Sqe::default();
        recv_multishot(&mut s, 4, 7, 0);
        assert_eq!(s.buf_index, 7);
        assert_ne!(s.flags & sys::IOSQE_BUFFER_SELECT, 0);
        assert_ne!(s.ioprio & sys::IORING_RECV_MULTISHOT, 0);
        let mut s = Sqe::default();
        accept_multishot(&mut s, 5, 0, 0, 0);
        assert_eq!(s.opcode, sys::IORING_OP_ACCEPT);
        assert_ne!(s.ioprio & sys::IORING_ACCEPT_MULTISHOT, 0);
        let mut s = Sqe::default();
        poll_add(&mut s, 6, 1, true);
        assert_eq!(s.len, sys::IORING_POLL_ADD_MULTI);
        let mut s = Sqe::default();
        msg_ring(&mut s, 9, 5, 77, 0);
        assert_eq!((s.fd, s.len, s.off), (9, 5, 77));
    }
}
