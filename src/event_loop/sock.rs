//! The loop's `sock_*` coroutines' native half: one ring op per call
//! (recv, recv_into, accept, connect), whose completion resolves the
//! coroutine's future. A call cancelled after its op completed anyway
//! leaves the bytes (or the accepted fd) in a per-socket stash that the
//! next call on that socket takes first, so nothing is lost.
//!
//! Datagram transports' receives and sends are here too: one
//! `IORING_OP_RECVMSG` / `IORING_OP_SENDMSG` per datagram, each resolving a
//! future the Python transport waits on.
//!
//! Owns: the sock ops, the datagram ops and the stash. May not touch:
//! streams, the iteration (core.rs hands completions here).

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::engine::{prep, sys};
use crate::event_loop::state::{cancel, queue_op, submit_now};
use crate::event_loop::state::{LoopCore, MsgBox, Op, Ready, SockResult, State};
use crate::py::keep::PinnedBuf;

fn queue(st: &mut State, op: Op, prep_fn: impl FnOnce(&mut sys::Sqe)) -> Option<u64> {
    queue_op(st, op_code(&op), op, prep_fn)
}

fn op_code(op: &Op) -> u8 {
    match op {
        Op::SockRecv { .. } | Op::SockRecvInto { .. } => sys::IORING_OP_RECV,
        Op::SockAccept { .. } => sys::IORING_OP_ACCEPT,
        Op::SockConnect { .. } => sys::IORING_OP_CONNECT,
        Op::SockSplice { .. } => sys::IORING_OP_SPLICE,
        Op::DgramRecv { .. } => sys::IORING_OP_RECVMSG,
        Op::DgramSend { .. } => sys::IORING_OP_SENDMSG,
        _ => sys::IORING_OP_NOP,
    }
}

/// `buf` after a receive that returned `res` (its byte count, or -errno).
fn received(mut buf: Vec<u8>, res: i32) -> Vec<u8> {
    if res > 0 {
        // SAFETY: the kernel wrote `res` bytes (at most the capacity it
        // was given) at the start of the buffer.
        unsafe { buf.set_len((res as usize).min(buf.capacity())) };
    }
    buf
}

/// A finished sock op: queue the future's resolution (-errno: the error).
/// What the op pinned (a caller's buffer, the bytes sent) is released.
pub fn done(st: &mut State, op: Op, res: i32) {
    let (fut, fd, result) = match op {
        Op::SockRecv { fut, fd, buf } => (fut, fd, SockResult::Bytes(received(buf, res))),
        Op::DgramRecv { fut, fd, buf, msg } => {
            (fut, fd, SockResult::Datagram(received(buf, res), msg))
        }
        Op::SockRecvInto { fut, fd, .. }
        | Op::SockSplice { fut, fd }
        | Op::DgramSend { fut, fd, .. } => (fut, fd, SockResult::Count(res)),
        Op::SockAccept { fut, fd } => (fut, fd, SockResult::Fd(res)),
        Op::SockConnect { fut, fd, .. } => (fut, fd, SockResult::Unit),
        _ => return,
    };
    let result = if res < 0 {
        SockResult::Errno(-res)
    } else {
        result
    };
    st.ready.push_back(Ready::SockDone { fut, fd, result });
}

/// Resolves a sock op's future, or stashes what a cancelled call got.
pub fn resolve(
    slf: &Bound<'_, LoopCore>,
    fut: Py<PyAny>,
    fd: i32,
    result: SockResult,
) -> PyResult<()> {
    let py = slf.py();
    let f = fut.bind(py);
    if f.call_method0(pyo3::intern!(py, "done"))?.is_truthy()? {
        // Cancelled: keep what arrived for the next call on this socket.
        let mut st = slf.get().lock();
        match result {
            SockResult::Bytes(b) if !b.is_empty() => {
                st.stash.data.entry(fd).or_default().push_back(b)
            }
            SockResult::Fd(conn) => st.stash.fds.entry(fd).or_default().push_back(conn),
            _ => {}
        }
        return Ok(());
    }
    match result {
        SockResult::Bytes(b) => {
            f.call_method1(pyo3::intern!(py, "set_result"), (PyBytes::new(py, &b),))?
        }
        SockResult::Count(n) => f.call_method1(pyo3::intern!(py, "set_result"), (n,))?,
        SockResult::Fd(conn) => f.call_method1(pyo3::intern!(py, "set_result"), (conn,))?,
        SockResult::Unit => f.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))?,
        SockResult::Datagram(b, msg) => {
            let addr = crate::py::addr::address(py, &msg.addr, msg.hdr.msg_namelen)?
                .unwrap_or_else(|| py.None().into_bound(py));
            f.call_method1(
                pyo3::intern!(py, "set_result"),
                ((PyBytes::new(py, &b), addr),),
            )?
        }
        SockResult::Errno(e) => {
            let exc = crate::py::error::os_error(e);
            f.call_method1(pyo3::intern!(py, "set_exception"), (exc.value(py),))?
        }
    };
    Ok(())
}

impl LoopCore {
    /// Queues a recv of up to `n` bytes on `fd` resolving `fut`; returns the
    /// op's token, or None if stashed data already resolved it.
    pub(crate) fn sock_recv_op(
        &self,
        py: Python<'_>,
        fut: &Bound<'_, PyAny>,
        fd: i32,
        n: usize,
    ) -> PyResult<Option<u64>> {
        self.check_closed()?;
        let mut st = self.lock();
        if let Some(q) = st.stash.data.get_mut(&fd) {
            if let Some(mut b) = q.pop_front() {
                let rest = if b.len() > n {
                    Some(b.split_off(n))
                } else {
                    None
                };
                if let Some(r) = rest {
                    q.push_front(r);
                }
                drop(st);
                fut.call_method1("set_result", (PyBytes::new(py, &b),))?;
                return Ok(None);
            }
        }
        // Uninitialised (zeroing a 64 KiB buffer per call was most of a round trip's
        // instructions): the kernel writes the bytes, and only what it wrote is ever read
        // (set_len to its count in `done`).
        let mut buf: Vec<u8> = Vec::with_capacity(n);
        let (addr, len) = (buf.as_mut_ptr() as u64, n.min(u32::MAX as usize) as u32);
        let op = Op::SockRecv {
            fut: fut.clone().unbind(),
            fd,
            buf,
        };
        Ok(queue(&mut st, op, |sqe| prep::recv(sqe, fd, addr, len, 0)))
    }

    /// Queues a recv into `buf` (pinned until it completes) resolving `fut`
    /// with the byte count; None if stashed data already resolved it.
    pub(crate) fn sock_recv_into_op(
        &self,
        py: Python<'_>,
        fut: &Bound<'_, PyAny>,
        fd: i32,
        buf: &Bound<'_, PyAny>,
    ) -> PyResult<Option<u64>> {
        self.check_closed()?;
        let pin = PinnedBuf::get(buf, true, "buf")?;
        let mut st = self.lock();
        if let Some(q) = st.stash.data.get_mut(&fd) {
            if let Some(mut b) = q.pop_front() {
                let n = b.len().min(pin.len());
                // SAFETY: the pin holds `pin.len()` writable bytes; n fits.
                unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), pin.ptr(), n) };
                if n < b.len() {
                    q.push_front(b.split_off(n));
                }
                drop(st);
                drop(pin);
                fut.call_method1("set_result", (n,))?;
                let _ = py;
                return Ok(None);
            }
        }
        let (addr, len) = (pin.ptr() as u64, pin.len().min(u32::MAX as usize) as u32);
        let op = Op::SockRecvInto {
            fut: fut.clone().unbind(),
            fd,
            pin,
        };
        Ok(queue(&mut st, op, |sqe| prep::recv(sqe, fd, addr, len, 0)))
    }

    /// Queues an accept on listening socket `fd` resolving `fut` with the
    /// new fd; None if a stashed connection already resolved it.
    pub(crate) fn sock_accept_op(&self, fut: &Bound<'_, PyAny>, fd: i32) -> PyResult<Option<u64>> {
        self.check_closed()?;
        let mut st = self.lock();
        if let Some(conn) = st.stash.fds.get_mut(&fd).and_then(|q| q.pop_front()) {
            drop(st);
            fut.call_method1("set_result", (conn,))?;
            return Ok(None);
        }
        let op = Op::SockAccept {
            fut: fut.clone().unbind(),
            fd,
        };
        let flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u32;
        Ok(queue(&mut st, op, |sqe| prep::accept(sqe, fd, 0, 0, flags)))
    }

    /// Queues a connect of `fd` to `address` (already resolved) resolving
    /// `fut`.
    pub(crate) fn sock_connect_op(
        &self,
        fut: &Bound<'_, PyAny>,
        fd: i32,
        address: &Bound<'_, PyAny>,
    ) -> PyResult<Option<u64>> {
        self.check_closed()?;
        let sa = Box::new(crate::py::addr::sockaddr(fd, address)?);
        let (addr, len) = (&sa.storage as *const libc::sockaddr_storage as u64, sa.len);
        let mut st = self.lock();
        let op = Op::SockConnect {
            fut: fut.clone().unbind(),
            fd,
            addr: sa,
        };
        let token = queue(&mut st, op, |sqe| prep::connect(sqe, fd, addr, len));
        // The connection attempt starts now, as a connect(2) call would: the
        // peer may be waiting for it before this loop iterates again.
        if let Some(e) = st.engine.as_mut() {
            submit_now(e);
        }
        Ok(token)
    }

    /// Queues a datagram transport's receive of up to `n` bytes on `fd`;
    /// `fut` gets `(data, address)`. Returns the op's token.
    pub(crate) fn dgram_recv_op(
        &self,
        fut: &Bound<'_, PyAny>,
        fd: i32,
        n: usize,
    ) -> PyResult<Option<u64>> {
        self.check_closed()?;
        // Uninitialised: the kernel writes the datagram, and only what it
        // wrote is ever read (set_len to its count in `done`).
        let mut buf: Vec<u8> = Vec::with_capacity(n);
        let msg = MsgBox::receiving(buf.as_mut_ptr(), n);
        let at = msg.as_u64();
        let mut st = self.lock();
        let op = Op::DgramRecv {
            fut: fut.clone().unbind(),
            fd,
            buf,
            msg,
        };
        Ok(queue(&mut st, op, |sqe| prep::recvmsg(sqe, fd, at, 0)))
    }

    /// Queues a datagram transport's send of `data` on `fd`, to `address`
    /// (None: the connected peer); `fut` gets the byte count.
    pub(crate) fn dgram_send_op(
        &self,
        fut: &Bound<'_, PyAny>,
        fd: i32,
        data: &Bound<'_, PyAny>,
        address: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<u64>> {
        self.check_closed()?;
        let addr = match address {
            Some(a) if !a.is_none() => {
                let sa = crate::py::addr::sockaddr(fd, a)?;
                Some((sa.storage, sa.len))
            }
            _ => None,
        };
        let pin = PinnedBuf::get(data, false, "data")?;
        let msg = MsgBox::new(pin.ptr(), pin.len(), addr);
        let at = msg.as_u64();
        let flags = libc::MSG_NOSIGNAL as u32;
        let mut st = self.lock();
        let op = Op::DgramSend {
            fut: fut.clone().unbind(),
            fd,
            pin,
            msg,
        };
        Ok(queue(&mut st, op, |sqe| prep::sendmsg(sqe, fd, at, flags)))
    }

    /// Queues a splice(2) of up to `len` bytes from `fd_in` (at `off_in`, or
    /// its position when -1) to `fd_out` (a pipe or socket) resolving `fut`
    /// with the count; `sock` names the socket the call is for.
    pub(crate) fn sock_splice_op(
        &self,
        fut: &Bound<'_, PyAny>,
        sock: i32,
        fd_in: i32,
        off_in: i64,
        fd_out: i32,
        len: u32,
    ) -> PyResult<Option<u64>> {
        self.check_closed()?;
        let mut st = self.lock();
        let op = Op::SockSplice {
            fut: fut.clone().unbind(),
            fd: sock,
        };
        Ok(queue(&mut st, op, |sqe| {
            prep::splice(sqe, fd_in, off_in as u64, fd_out, u64::MAX, len, 0)
        }))
    }

    /// Cancels op `token` at once: the kernel lets go of its socket before
    /// this returns (a close that follows really closes it).
    pub(crate) fn cancel_token_now(&self, token: u64) {
        let mut st = self.lock();
        cancel(&mut st, token, true);
    }

    /// Forgets what was stashed for `fd` (the socket is being closed); an
    /// accepted connection nobody took is closed.
    pub(crate) fn forget_stash(&self, fd: i32) {
        let mut st = self.lock();
        st.stash.data.remove(&fd);
        if let Some(q) = st.stash.fds.remove(&fd) {
            for conn in q {
                // SAFETY: an accepted fd nobody took: ours to close.
                unsafe { libc::close(conn) };
            }
        }
    }
}
