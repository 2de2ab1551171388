//! Stream transports' native half: the per-connection state the loop keeps
//! (write buffer, flow control, reading), `StreamCore` (what the Python
//! transport in `_loop.py` holds), and the completions of their ops: a
//! multishot recv into the loop's provided-buffer ring, one send per
//! transport per iteration (a large write to an idle transport goes out at
//! once), multishot accept for servers.
//!
//! Owns: stream state and its ops. May not touch: the iteration itself
//! (core.rs calls `flush_writes` before it waits and `reap` hands
//! completions here), asyncio's cold transport logic (close, abort,
//! connection_lost: Python).

use std::sync::atomic::Ordering;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::engine::prep;
use crate::engine::sys;
use crate::event_loop::recvbufs::RECV_GROUP;
use crate::event_loop::state::{cancel, queue_op, submit_now, LoopCore, Op, Ready, State, Stream};
use crate::event_loop::wbuf::{Outgoing, SendArgs, HOLD_MIN};

/// A write of at least this many bytes, to a stream with nothing queued,
/// is sent at once with send(2), as asyncio's and uvloop's transports do;
/// what the socket does not take is buffered. Batching large writes into
/// the iteration's submit saves nothing (the copy into the socket costs far
/// more than the syscall) and keeps each written `bytes` alive until the
/// next iteration: with many connections that churns the allocator (page
/// faults on every message; bench/loop: 50 connections x 64 KiB, 62 -> 28
/// us of server CPU per round trip). Small writes stay batched (500 x 64 B:
/// 7.6 us per round trip sent at once, 6.5 batched).
const DIRECT_MIN: usize = 16 * 1024;

/// The native half of a stream transport.
#[pyclass(frozen, module = "uring_rs._native", name = "StreamCore")]
pub struct StreamCore {
    loop_: Py<LoopCore>,
    id: usize,
    gen: u32,
    /// The socket's fd.
    #[pyo3(get)]
    fd: i32,
}

impl StreamCore {
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut Stream, &mut State) -> R) -> Option<R> {
        let lp = self.loop_.bind(py).get();
        let mut st = lp.lock();
        let st = &mut *st;
        let mut streams = std::mem::take(&mut st.streams);
        let r = streams.get_mut(self.id, self.gen).map(|s| f(s, st));
        st.streams = streams;
        r
    }
}

/// Queues the multishot recv of stream `id`.
pub fn arm_recv(st: &mut State, id: usize, gen: u32, fd: i32) -> Option<u64> {
    queue_op(st, sys::IORING_OP_RECV, Op::Recv { id, gen }, |sqe| {
        prep::recv_multishot(sqe, fd, RECV_GROUP, 0)
    })
}

/// Before the iteration's wait: one send per stream with buffered data and
/// none in flight.
pub fn flush_writes(st: &mut State) {
    if st.flush.is_empty() {
        return;
    }
    let ids = std::mem::take(&mut st.flush);
    let mut streams = std::mem::take(&mut st.streams);
    for (id, gen) in ids {
        let Some(s) = streams.get_mut(id, gen) else {
            continue;
        };
        s.in_flush = false;
        if s.sending > 0 || s.wbuf.is_empty() || s.conn_lost > 0 {
            continue;
        }
        let Some(e) = st.engine.as_mut() else { break };
        if e.space_left() == 0 {
            submit_now(e);
        }
        let data = s.wbuf.take();
        let args = data.args();
        let fd = s.fd;
        s.sending = data.len;
        let flags = libc::MSG_NOSIGNAL as u32;
        let opcode = match args {
            SendArgs::Send(..) => sys::IORING_OP_SEND,
            SendArgs::SendMsg(_) => sys::IORING_OP_SENDMSG,
        };
        // The op's `data` keeps what `args` points to until its completion.
        let r = e.queue(0, opcode, Op::Send { id, gen, data }, |sqe, _| match args {
            SendArgs::Send(addr, len) => prep::send(sqe, fd, addr, len, flags),
            SendArgs::SendMsg(hdr) => prep::sendmsg(sqe, fd, hdr, flags),
        });
        if let Err(op) = r {
            // Could not queue even after a submit: keep the data for later.
            if let Op::Send { data, .. } = *op {
                s.wbuf.requeue(data, 0);
            }
            s.sending = 0;
            s.in_flush = true;
            st.flush.push((id, gen));
        }
    }
    st.streams = streams;
}

/// A send finished: requeue what the kernel did not take, and say what the
/// Python side must hear about (under the loop's lock, nothing runs here).
pub fn send_done(st: &mut State, id: usize, gen: u32, data: Outgoing, res: i32) {
    let Some(s) = st.streams.get_mut(id, gen) else {
        return;
    };
    s.sending = 0;
    if res < 0 {
        s.wbuf.clear();
        st.ready.push_back(Ready::StreamError {
            id,
            gen,
            errno: -res,
            what: "write",
        });
        return;
    }
    s.wbuf.requeue(data, res as usize);
    if !s.wbuf.is_empty() {
        if !s.in_flush {
            s.in_flush = true;
            st.flush.push((id, gen));
        }
        return;
    }
    if s.protocol_paused && s.buffer_size() <= s.low {
        s.protocol_paused = false;
        s.resume_pending = true;
        st.ready.push_back(Ready::StreamResume { id, gen });
    }
    if std::mem::take(&mut s.notify_empty) {
        st.ready.push_back(Ready::StreamEmpty { id, gen });
    }
    if s.closing {
        st.ready.push_back(Ready::StreamDrained { id, gen });
    } else if s.eof_requested && !s.eof_done {
        s.eof_done = true;
        // SAFETY: shutdown(2) on the stream's own socket fd.
        unsafe { libc::shutdown(s.fd, libc::SHUT_WR) };
    }
}

/// A recv completion of stream `id`: data (with the buffer it is in), end
/// of stream, or an error.
pub fn recv_done(st: &mut State, id: usize, gen: u32, res: i32, flags: u32, more: bool) {
    let bid = (flags & sys::IORING_CQE_F_BUFFER != 0)
        .then_some((flags >> sys::IORING_CQE_BUFFER_SHIFT) as u16);
    if let Some(b) = st.recv_bufs.as_mut() {
        if bid.is_some() {
            b.taken();
        } else if res == -libc::ENOBUFS {
            b.ran_out();
        }
    }
    let alive = st.streams.get_mut(id, gen).is_some();
    if !alive {
        if let Some(b) = bid {
            st.recycle(b);
        }
        return;
    }
    if res > 0 {
        if let Some(b) = bid {
            st.ready.push_back(Ready::StreamData {
                id,
                gen,
                bid: b,
                len: res as usize,
            });
        }
    }
    if more {
        return;
    }
    // The multishot recv ended.
    let s = st.streams.get_mut(id, gen).expect("checked above");
    s.recv_token = None;
    match res {
        0 => st.ready.push_back(Ready::StreamEof { id, gen }),
        r if r > 0 || r == -libc::ENOBUFS => st.ready.push_back(Ready::StreamRearm { id, gen }),
        r if r == -libc::ECANCELED => {}
        r => st.ready.push_back(Ready::StreamError {
            id,
            gen,
            errno: -r,
            what: "read",
        }),
    }
}

impl State {
    /// Gives a provided buffer back to the kernel.
    pub fn recycle(&mut self, bid: u16) {
        if let Some(b) = self.recv_bufs.as_mut() {
            b.recycle(bid);
        }
    }
}

/// Runs a stream entry of the ready queue (the Python side of a
/// completion).
pub fn run_stream(slf: &Bound<'_, LoopCore>, item: Ready) -> PyResult<()> {
    let py = slf.py();
    let lp = slf.get();
    match item {
        Ready::StreamData { id, gen, bid, len } => {
            // Copy out of the provided buffer and give it back at once.
            let mut st = lp.lock();
            let Some(addr) = st.recv_bufs.as_ref().map(|b| b.addr(bid)) else {
                return Ok(());
            };
            // SAFETY: buffer `bid` holds `len` bytes the kernel wrote and is
            // ours until recycled below.
            let data = unsafe { std::slice::from_raw_parts(addr, len) };
            let Some(s) = st.streams.get_mut(id, gen) else {
                st.recycle(bid);
                return Ok(());
            };
            if !(s.reading && s.conn_lost == 0) {
                // Paused (or lost): keep it for resume_reading().
                if s.conn_lost == 0 {
                    s.stash.push(data.to_vec());
                }
                st.recycle(bid);
                return Ok(());
            }
            let target = (
                s.data_received.as_ref().map(|d| d.clone_ref(py)),
                s.protocol.clone_ref(py),
                s.transport.clone_ref(py),
            );
            // The bytes object is made under the lock: creating bytes runs no
            // Python code (bytes are not tracked by the collector), and it
            // saves a copy.
            let bytes = target.0.is_some().then(|| PyBytes::new(py, data));
            let owned = if bytes.is_none() {
                Some(data.to_vec())
            } else {
                None
            };
            st.recycle(bid);
            drop(st);
            let (dr, protocol, transport) = target;
            match (dr, bytes) {
                (Some(dr), Some(b)) => {
                    if let Err(e) = dr.bind(py).call1((b,)) {
                        return fatal(
                            py,
                            &transport,
                            e,
                            "Fatal error: protocol.data_received() call failed.",
                        );
                    }
                    Ok(())
                }
                _ => deliver(
                    py,
                    owned.as_deref().unwrap_or_default(),
                    None,
                    &protocol,
                    &transport,
                ),
            }
        }
        Ready::StreamEof { id, gen } => {
            // Not after the connection was lost (an error came first).
            let t = {
                let mut st = lp.lock();
                st.streams
                    .get_mut(id, gen)
                    .filter(|s| s.conn_lost == 0)
                    .and_then(|s| {
                        if !s.reading || !s.stash.is_empty() {
                            // Paused: after what was stashed, on resume.
                            s.eof_pending = true;
                            None
                        } else {
                            Some(s.transport.clone_ref(py))
                        }
                    })
            };
            if let Some(t) = t {
                t.bind(py).call_method0(pyo3::intern!(py, "_read_eof"))?;
            }
            Ok(())
        }
        Ready::StreamRearm { id, gen } => {
            let mut st = lp.lock();
            let want = st.streams.get_mut(id, gen).and_then(|s| {
                (s.reading && s.recv_token.is_none() && s.conn_lost == 0).then_some(s.fd)
            });
            if let Some(fd) = want {
                let t = arm_recv(&mut st, id, gen, fd);
                if let Some(s) = st.streams.get_mut(id, gen) {
                    s.recv_token = t;
                }
            }
            Ok(())
        }
        Ready::StreamError {
            id,
            gen,
            errno,
            what,
        } => {
            let t = transport_of(slf, id, gen);
            if let Some(t) = t {
                let e = crate::py::error::os_error(errno);
                let msg = if what == "read" {
                    "Fatal read error on socket transport"
                } else {
                    "Fatal write error on socket transport"
                };
                t.bind(py)
                    .call_method1(pyo3::intern!(py, "_fatal_error"), (e.value(py), msg))?;
            }
            Ok(())
        }
        Ready::StreamResume { id, gen } => {
            let p = {
                let mut st = lp.lock();
                st.streams.get_mut(id, gen).and_then(|s| {
                    std::mem::take(&mut s.resume_pending).then(|| s.protocol.clone_ref(py))
                })
            };
            if let Some(p) = p {
                if let Err(e) = p.bind(py).call_method0(pyo3::intern!(py, "resume_writing")) {
                    protocol_error(slf, e, "protocol.resume_writing() failed", &p)?;
                }
            }
            Ok(())
        }
        Ready::StreamEmpty { id, gen } => {
            if let Some(t) = transport_of(slf, id, gen) {
                t.bind(py)
                    .call_method0(pyo3::intern!(py, "_buffer_emptied"))?;
            }
            Ok(())
        }
        Ready::StreamDrained { id, gen } => {
            if let Some(t) = transport_of(slf, id, gen) {
                t.bind(py)
                    .call_method1(pyo3::intern!(py, "_call_connection_lost"), (py.None(),))?;
            }
            Ok(())
        }
        Ready::Accepted { fd, res } => {
            slf.call_method1(pyo3::intern!(py, "_accepted"), (fd, res))?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Hands a protocol's exception to the transport's `_fatal_error`
/// (KeyboardInterrupt and SystemExit go up instead).
fn fatal(py: Python<'_>, transport: &Py<PyAny>, e: PyErr, msg: &str) -> PyResult<()> {
    if crate::event_loop::handle::ends_the_loop(py, &e) {
        return Err(e);
    }
    transport
        .bind(py)
        .call_method1(pyo3::intern!(py, "_fatal_error"), (e.value(py), msg))?;
    Ok(())
}

fn transport_of(slf: &Bound<'_, LoopCore>, id: usize, gen: u32) -> Option<Py<PyAny>> {
    let py = slf.py();
    let mut st = slf.get().lock();
    st.streams
        .get_mut(id, gen)
        .map(|s| s.transport.clone_ref(py))
}

fn protocol_error(
    slf: &Bound<'_, LoopCore>,
    e: PyErr,
    message: &str,
    protocol: &Py<PyAny>,
) -> PyResult<()> {
    let py = slf.py();
    if crate::event_loop::handle::ends_the_loop(py, &e) {
        return Err(e);
    }
    let ctx = pyo3::types::PyDict::new(py);
    ctx.set_item("message", message)?;
    ctx.set_item("exception", e.value(py))?;
    ctx.set_item("protocol", protocol)?;
    slf.call_method1(pyo3::intern!(py, "call_exception_handler"), (ctx,))?;
    Ok(())
}

/// Hands received bytes to the protocol: `data_received(bytes)`, or for a
/// BufferedProtocol `get_buffer(-1)` / copy / `buffer_updated(n)` until
/// all is taken. Protocol errors go to the transport's `_fatal_error`.
fn deliver(
    py: Python<'_>,
    data: &[u8],
    data_received: Option<Py<PyAny>>,
    protocol: &Py<PyAny>,
    transport: &Py<PyAny>,
) -> PyResult<()> {
    let fatal = |e: PyErr, msg: &str| fatal(py, transport, e, msg);
    if let Some(dr) = data_received {
        let b = PyBytes::new(py, data);
        if let Err(e) = dr.bind(py).call1((b,)) {
            return fatal(e, "Fatal error: protocol.data_received() call failed.");
        }
        return Ok(());
    }
    let p = protocol.bind(py);
    let mut rest = data;
    while !rest.is_empty() {
        let buf = match p.call_method1(pyo3::intern!(py, "get_buffer"), (-1,)) {
            Ok(b) => b,
            Err(e) => return fatal(e, "Fatal error: protocol.get_buffer() call failed."),
        };
        let n = {
            let pin = match crate::py::keep::PinnedBuf::get(&buf, true, "get_buffer() result") {
                Ok(p) => p,
                Err(e) => return fatal(e, "Fatal error: protocol.get_buffer() call failed."),
            };
            if pin.is_empty() {
                return fatal(
                    PyRuntimeError::new_err("get_buffer() returned an empty buffer"),
                    "Fatal error: protocol.get_buffer() call failed.",
                );
            }
            let n = pin.len().min(rest.len());
            // SAFETY: the pin holds `pin.len()` writable bytes for as long as
            // it lives; the regions cannot overlap (one is ours).
            unsafe { std::ptr::copy_nonoverlapping(rest.as_ptr(), pin.ptr(), n) };
            n
        };
        rest = &rest[n..];
        if let Err(e) = p.call_method1(pyo3::intern!(py, "buffer_updated"), (n,)) {
            return fatal(e, "Fatal error: protocol.buffer_updated() call failed.");
        }
    }
    Ok(())
}

#[pymethods]
impl StreamCore {
    /// Queues `data` for this iteration's send; pauses the protocol over
    /// the high-water mark, as asyncio's transports do.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let pin = match crate::py::keep::PinnedBuf::get(data, false, "data") {
            Ok(p) => p,
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "data argument must be a bytes-like object, not {:?}",
                    data.get_type().name()?.to_string()
                )))
            }
        };
        // SAFETY: the pin keeps `len` bytes readable while it lives.
        let bytes = unsafe { std::slice::from_raw_parts(pin.ptr(), pin.len()) };
        // A large exact `bytes` (immutable) is held, not copied: the buffer
        // keeps a reference, so its data stays where `bytes` points.
        let mut held = (bytes.len() >= HOLD_MIN && data.is_exact_instance_of::<PyBytes>())
            .then(|| data.clone().unbind());
        enum After {
            Nothing,
            Pause(Py<PyAny>),
            Lost(u32),
        }
        let after = self
            .with(py, |s, st| {
                if s.eof_requested {
                    return Err(PyRuntimeError::new_err(
                        "Cannot call write() after write_eof()",
                    ));
                }
                if bytes.is_empty() {
                    return Ok(After::Nothing);
                }
                if s.conn_lost > 0 {
                    s.conn_lost += 1;
                    return Ok(After::Lost(s.conn_lost));
                }
                let mut rest = bytes;
                if bytes.len() >= DIRECT_MIN && s.wbuf.is_empty() && s.sending == 0 {
                    // SAFETY: send(2) of `bytes` (readable while the pin
                    // lives) on the stream's own socket; it does not block.
                    let n = unsafe {
                        libc::send(
                            s.fd,
                            bytes.as_ptr().cast(),
                            bytes.len(),
                            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                        )
                    };
                    if n > 0 {
                        rest = &bytes[n as usize..];
                    }
                    if rest.is_empty() {
                        return Ok(After::Nothing);
                    }
                }
                match held.take() {
                    Some(obj) => s.wbuf.push_held(obj, rest.as_ptr() as usize, rest.len()),
                    None => s.wbuf.push_copy(rest),
                }
                if !s.in_flush && s.sending == 0 {
                    s.in_flush = true;
                    st.flush.push((self.id, self.gen));
                }
                if s.should_pause() {
                    return Ok(After::Pause(s.protocol.clone_ref(py)));
                }
                Ok(After::Nothing)
            })
            .unwrap_or(Ok(After::Nothing))?;
        drop(pin);
        match after {
            After::Nothing => Ok(()),
            After::Lost(n) => {
                if n >= 5 {
                    py.import("asyncio.log")?
                        .getattr("logger")?
                        .call_method1("warning", ("socket.send() raised exception.",))?;
                }
                Ok(())
            }
            After::Pause(p) => {
                if let Err(e) = p.bind(py).call_method0(pyo3::intern!(py, "pause_writing")) {
                    protocol_error(
                        self.loop_.bind(py),
                        e,
                        "protocol.pause_writing() failed",
                        &p,
                    )?;
                }
                Ok(())
            }
        }
    }

    /// Bytes accepted by `write()` and not yet sent (0 once the stream is
    /// detached).
    fn get_write_buffer_size(&self, py: Python<'_>) -> usize {
        self.with(py, |s, _| s.buffer_size()).unwrap_or(0)
    }

    /// The `(low, high)` water marks (`(0, 0)` once the stream is detached).
    fn get_write_buffer_limits(&self, py: Python<'_>) -> (usize, usize) {
        self.with(py, |s, _| (s.low, s.high)).unwrap_or((0, 0))
    }

    /// Sets the limits (checked by the Python side) and pauses or resumes
    /// the protocol as the buffer now stands.
    fn _set_limits(&self, py: Python<'_>, high: usize, low: usize) -> PyResult<()> {
        let act = self.with(py, |s, _| {
            s.high = high;
            s.low = low;
            if s.should_pause() {
                Some(("pause_writing", s.protocol.clone_ref(py)))
            } else if s.protocol_paused && s.buffer_size() <= s.low {
                s.protocol_paused = false;
                Some(("resume_writing", s.protocol.clone_ref(py)))
            } else {
                None
            }
        });
        if let Some(Some((m, p))) = act {
            if let Err(e) = p.bind(py).call_method0(m) {
                let msg = format!("protocol.{m}() failed");
                protocol_error(self.loop_.bind(py), e, &msg, &p)?;
            }
        }
        Ok(())
    }

    #[getter]
    fn _protocol_paused(&self, py: Python<'_>) -> bool {
        self.with(py, |s, _| s.protocol_paused).unwrap_or(false)
    }

    /// Starts (or resumes) reading: delivers what was kept while paused,
    /// then arms the multishot recv.
    fn resume_reading(&self, py: Python<'_>) -> PyResult<()> {
        let stash = self
            .with(py, |s, st| {
                if s.conn_lost > 0 || s.closing {
                    return Vec::new();
                }
                s.reading = true;
                if s.recv_token.is_none() && !s.eof_pending {
                    // Armed by the next iteration (in queue order, after
                    // connection_made when this is the first start).
                    st.ready.push_back(Ready::StreamRearm {
                        id: self.id,
                        gen: self.gen,
                    });
                }
                std::mem::take(&mut s.stash)
            })
            .unwrap_or_default();
        if !stash.is_empty() {
            let target = self.with(py, |s, _| {
                (
                    s.data_received.as_ref().map(|d| d.clone_ref(py)),
                    s.protocol.clone_ref(py),
                    s.transport.clone_ref(py),
                )
            });
            if let Some((dr, p, t)) = target {
                for chunk in stash {
                    deliver(py, &chunk, dr.as_ref().map(|d| d.clone_ref(py)), &p, &t)?;
                }
            }
        }
        // The EOF that came while paused, once its data is in (and if the
        // protocol did not pause again meanwhile).
        let eof = self
            .with(py, |s, _| {
                (s.eof_pending && s.reading && s.conn_lost == 0 && s.stash.is_empty()).then(|| {
                    s.eof_pending = false;
                    s.transport.clone_ref(py)
                })
            })
            .flatten();
        if let Some(t) = eof {
            t.bind(py).call_method0(pyo3::intern!(py, "_read_eof"))?;
        }
        Ok(())
    }

    /// Stops reading: the recv is cancelled (data stays in the kernel);
    /// what races the cancel is kept for resume_reading().
    fn pause_reading(&self, py: Python<'_>) {
        self.with(py, |s, st| {
            s.reading = false;
            if let Some(t) = s.recv_token.take() {
                cancel(st, t, false);
            }
        });
    }

    /// The protocol to call from now on (`set_protocol`).
    fn set_protocol(&self, py: Python<'_>, protocol: &Bound<'_, PyAny>) -> PyResult<()> {
        let buffered = protocol.is_instance(&py.import("asyncio")?.getattr("BufferedProtocol")?)?;
        let dr = if buffered {
            None
        } else {
            Some(
                protocol
                    .getattr(pyo3::intern!(py, "data_received"))?
                    .unbind(),
            )
        };
        self.with(py, |s, _| {
            s.protocol = protocol.clone().unbind();
            s.data_received = dr;
        });
        Ok(())
    }

    /// `write_eof`: shut down the write side once the buffer is sent.
    fn write_eof(&self, py: Python<'_>) {
        self.with(py, |s, _| {
            if s.eof_requested {
                return;
            }
            s.eof_requested = true;
            if s.buffer_size() == 0 && !s.eof_done {
                s.eof_done = true;
                // SAFETY: shutdown(2) on the stream's own socket fd.
                unsafe { libc::shutdown(s.fd, libc::SHUT_WR) };
            }
        });
    }

    #[getter]
    fn _eof(&self, py: Python<'_>) -> bool {
        self.with(py, |s, _| s.eof_requested).unwrap_or(false)
    }

    /// `close()`: stop reading; true if the buffer is empty (connection_lost
    /// may be scheduled now), false if it is called once the buffer drained.
    fn _close(&self, py: Python<'_>) -> bool {
        self.with(py, |s, st| {
            s.closing = true;
            s.reading = false;
            if let Some(t) = s.recv_token.take() {
                cancel(st, t, false);
            }
            s.buffer_size() == 0
        })
        .unwrap_or(true)
    }

    /// Whether the write buffer is empty; if not, the transport's
    /// `_buffer_emptied()` runs once it is.
    fn _notify_empty(&self, py: Python<'_>) -> bool {
        self.with(py, |s, _| {
            let empty = s.buffer_size() == 0;
            s.notify_empty = !empty;
            empty
        })
        .unwrap_or(true)
    }

    /// `_force_close()`: drop the buffer and stop everything.
    fn _abort(&self, py: Python<'_>) {
        self.with(py, |s, st| {
            s.closing = true;
            s.reading = false;
            s.wbuf.clear();
            if let Some(t) = s.recv_token.take() {
                cancel(st, t, false);
            }
        });
    }

    /// Marks the connection lost (writes are then counted and dropped).
    fn _lose(&self, py: Python<'_>) {
        self.with(py, |s, _| {
            if s.conn_lost == 0 {
                s.conn_lost = 1;
            }
        });
    }

    #[getter]
    fn _conn_lost(&self, py: Python<'_>) -> u32 {
        self.with(py, |s, _| s.conn_lost).unwrap_or(1)
    }

    #[getter]
    fn _reading(&self, py: Python<'_>) -> bool {
        self.with(py, |s, _| s.reading).unwrap_or(false)
    }

    /// Forgets the stream: its ops are cancelled now (so the kernel drops
    /// its file reference before the socket is closed).
    fn _detach(&self, py: Python<'_>) {
        let lp = self.loop_.bind(py).get();
        let gone = {
            let mut st = lp.lock();
            let gone = st.streams.remove(self.id, self.gen);
            let n = st.streams.len();
            if let Some(b) = st.recv_bufs.as_mut() {
                b.set_streams(n);
            }
            if let Some(s) = gone.as_ref() {
                if let Some(t) = s.recv_token {
                    cancel(&mut st, t, true);
                }
                if s.sending > 0 || s.recv_token.is_some() {
                    // Cancel the send too, by fd.
                    let fd = s.fd;
                    queue_op(&mut st, sys::IORING_OP_ASYNC_CANCEL, Op::None, |sqe| {
                        prep::cancel_fd(sqe, fd, sys::IORING_ASYNC_CANCEL_ALL)
                    });
                    if let Some(e) = st.engine.as_mut() {
                        submit_now(e);
                    }
                }
            }
            gone
        };
        drop(gone);
    }
}

impl LoopCore {
    /// A new stream for socket `fd` (non-blocking, connected), its protocol
    /// and its Python transport; reading starts with `resume_reading()`.
    pub fn new_stream(
        slf: &Bound<'_, LoopCore>,
        fd: i32,
        protocol: &Bound<'_, PyAny>,
        transport: &Bound<'_, PyAny>,
    ) -> PyResult<StreamCore> {
        let py = slf.py();
        let lp = slf.get();
        if lp.closed.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err("Event loop is closed"));
        }
        let stream = Stream {
            gen: 0,
            fd,
            protocol: protocol.clone().unbind(),
            transport: transport.clone().unbind(),
            data_received: None,
            wbuf: Default::default(),
            sending: 0,
            in_flush: false,
            reading: false,
            recv_token: None,
            stash: Vec::new(),
            eof_requested: false,
            eof_done: false,
            closing: false,
            conn_lost: 0,
            high: 64 * 1024,
            low: 16 * 1024,
            protocol_paused: false,
            resume_pending: false,
            notify_empty: false,
            eof_pending: false,
        };
        let (id, gen) = {
            let mut st = lp.lock();
            let r = st.streams.insert(stream);
            let n = st.streams.len();
            if let Some(b) = st.recv_bufs.as_mut() {
                b.set_streams(n);
            }
            r
        };
        let core = StreamCore {
            loop_: slf.clone().unbind(),
            id,
            gen,
            fd,
        };
        core.set_protocol(py, protocol)?;
        Ok(core)
    }
}
