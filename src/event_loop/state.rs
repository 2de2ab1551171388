//! The loop's state: what its ops keep (`Op`), the ready queue's entries
//! (`Ready`), timers, fd watches, and `LoopCore`'s fields. `core.rs` runs
//! the loop over it, `stream.rs` keeps the streams in it.
//!
//! Owns: the data layout and the one lock. May not touch: Python code (no
//! callback runs here).

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::engine::{prep, sys, Engine, Hold};
use crate::event_loop::handle::{Handle, TimerHandle};

/// asyncio's `MAXIMUM_SELECT_TIMEOUT`: the longest single wait, seconds.
pub(crate) const MAX_WAIT: f64 = 24.0 * 3600.0;

/// What an op of the loop keeps until its final completion, and what its
/// completion means.
#[derive(Default)]
pub enum Op {
    #[default]
    None,
    /// The read on the wake-up eventfd, into its 8-byte counter.
    Wake(Box<u64>),
    /// A one-shot poll for a reader (`write == false`) or writer on `fd`,
    /// re-armed after the callback ran (level-triggered, as selectors).
    Poll {
        fd: i32,
        write: bool,
    },
    /// A stream's multishot recv (buffers from the loop's ring).
    Recv {
        id: usize,
        gen: u32,
    },
    /// A stream's send; the bytes stay here until the kernel is done.
    Send {
        id: usize,
        gen: u32,
        data: crate::event_loop::wbuf::Outgoing,
    },
    /// A child's exit: `IORING_OP_WAITID` (P_PID, WEXITED: it reaps the
    /// child) fills `info`; `callback(returncode)` runs once it completes.
    Child {
        info: Box<sys::Siginfo>,
        callback: Py<PyAny>,
    },
    /// A server's multishot accept on listening socket `fd`.
    Accept {
        fd: i32,
    },
    /// `sock_recv`: the bytes land in `buf`.
    SockRecv {
        fut: Py<PyAny>,
        fd: i32,
        buf: Vec<u8>,
    },
    /// `sock_recv_into`: the caller's buffer, pinned.
    SockRecvInto {
        fut: Py<PyAny>,
        fd: i32,
        pin: crate::py::keep::PinnedBuf,
    },
    SockAccept {
        fut: Py<PyAny>,
        fd: i32,
    },
    /// `sendfile`'s splices (file -> pipe -> socket `fd`): the byte count.
    SockSplice {
        fut: Py<PyAny>,
        fd: i32,
    },
    /// A datagram transport's receive: the datagram lands in `buf`, its
    /// sender in `msg`.
    DgramRecv {
        fut: Py<PyAny>,
        fd: i32,
        buf: Vec<u8>,
        msg: Box<MsgBox>,
    },
    /// A datagram transport's send of the pinned `pin` (to `msg`'s address,
    /// if any).
    DgramSend {
        fut: Py<PyAny>,
        fd: i32,
        pin: crate::py::keep::PinnedBuf,
        msg: Box<MsgBox>,
    },
    /// `sock_connect`: the address the kernel reads.
    SockConnect {
        fut: Py<PyAny>,
        fd: i32,
        addr: Box<crate::py::addr::SockAddr>,
    },
}

impl Hold for Op {
    fn is_empty(&self) -> bool {
        matches!(self, Op::None)
    }
}

/// A `msghdr` with its one iovec and an address, boxed so the kernel's
/// pointers into it stay put while the op is in flight.
pub struct MsgBox {
    pub(crate) hdr: libc::msghdr,
    pub(crate) iov: libc::iovec,
    pub(crate) addr: libc::sockaddr_storage,
}

// SAFETY: the raw pointers point into this box and into the buffer its op
// keeps beside it; the box moves between threads only inside the loop's
// locked state, and is read only by the holder of that lock.
unsafe impl Send for MsgBox {}
// SAFETY: as above; shared references only read it.
unsafe impl Sync for MsgBox {}

impl MsgBox {
    /// A header over `len` bytes at `base`, naming `addr` (`addr_len` 0: no
    /// address), for the kernel to fill or read.
    pub(crate) fn new(
        base: *mut u8,
        len: usize,
        addr: Option<(libc::sockaddr_storage, u32)>,
    ) -> Box<MsgBox> {
        // SAFETY: all-zero is a valid msghdr, iovec and sockaddr_storage.
        let mut m: Box<MsgBox> = Box::new(unsafe { std::mem::zeroed() });
        m.iov.iov_base = base.cast();
        m.iov.iov_len = len;
        m.hdr.msg_iov = &mut m.iov;
        m.hdr.msg_iovlen = 1;
        if let Some((sa, n)) = addr {
            m.addr = sa;
            m.hdr.msg_name = (&mut m.addr as *mut libc::sockaddr_storage).cast();
            m.hdr.msg_namelen = n;
        }
        m
    }

    /// For a receive: room for any sender address.
    pub(crate) fn receiving(base: *mut u8, len: usize) -> Box<MsgBox> {
        let mut m = MsgBox::new(base, len, None);
        m.hdr.msg_name = (&mut m.addr as *mut libc::sockaddr_storage).cast();
        m.hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
        m
    }

    pub(crate) fn as_u64(&self) -> u64 {
        &self.hdr as *const libc::msghdr as u64
    }
}

/// An entry of the ready queue.
pub enum Ready {
    Handle(Py<Handle>),
    Timer(Py<TimerHandle>),
    /// `fd` became readable (or writable): run its current callback, then
    /// poll again if one is still registered.
    Watch {
        fd: i32,
        write: bool,
    },
    /// `len` bytes for stream `id` in provided buffer `bid`.
    StreamData {
        id: usize,
        gen: u32,
        bid: u16,
        len: usize,
    },
    StreamEof {
        id: usize,
        gen: u32,
    },
    /// The multishot recv ended early: arm it again if still reading.
    StreamRearm {
        id: usize,
        gen: u32,
    },
    StreamError {
        id: usize,
        gen: u32,
        errno: i32,
        what: &'static str,
    },
    /// The write buffer went under the low-water mark.
    StreamResume {
        id: usize,
        gen: u32,
    },
    /// A closing stream's buffer is sent: connection_lost.
    /// The write buffer emptied and the transport asked to hear of it
    /// (`_make_empty_waiter`, sendfile).
    StreamEmpty {
        id: usize,
        gen: u32,
    },
    StreamDrained {
        id: usize,
        gen: u32,
    },
    /// A connection (`res` its fd, or -errno) on listening socket `fd`.
    Accepted {
        fd: i32,
        res: i32,
    },
    /// A handle made by asyncio's own code (`events.Handle`), queued with
    /// `_add_callback`: run through its `_run()`.
    Foreign(Py<PyAny>),
    /// A child exited: `callback(returncode)` (None: it was reaped by
    /// someone else).
    ChildExited {
        callback: Py<PyAny>,
        returncode: Option<i32>,
    },
    /// A batch of a relay ring's completions: `deliver(done)`.
    Relay {
        deliver: Py<PyAny>,
        done: Vec<(u64, i32, u32)>,
    },
    /// A sock op finished: resolve its future.
    SockDone {
        fut: Py<PyAny>,
        fd: i32,
        result: SockResult,
    },
}

/// A scheduled timer in the heap: earliest `when` first, FIFO among equals.
pub(crate) struct Timer {
    pub(crate) when: f64,
    pub(crate) seq: u64,
    pub(crate) handle: Py<TimerHandle>,
    pub(crate) cancelled: std::sync::Arc<AtomicBool>,
}

impl Timer {
    pub(crate) fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

impl PartialEq for Timer {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == CmpOrdering::Equal
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timer {
    fn cmp(&self, o: &Self) -> CmpOrdering {
        // Reversed: BinaryHeap is a max-heap.
        o.when
            .total_cmp(&self.when)
            .then_with(|| o.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
pub(crate) struct Watch {
    pub(crate) reader: Option<Py<Handle>>,
    pub(crate) writer: Option<Py<Handle>>,
    /// Tokens of the polls in flight.
    pub(crate) read_poll: Option<u64>,
    pub(crate) write_poll: Option<u64>,
    /// The objects add_reader / add_writer were given: a socket closed since
    /// (fileno -1) is still found by identity, as asyncio's selectors do.
    pub(crate) read_obj: Option<Py<PyAny>>,
    pub(crate) write_obj: Option<Py<PyAny>>,
}

pub struct State {
    pub engine: Option<Engine<Op>>,
    pub ready: VecDeque<Ready>,
    pub(crate) timers: BinaryHeap<Timer>,
    /// Cancelled timers still in the heap.
    pub(crate) timers_cancelled: usize,
    pub(crate) seq: u64,
    pub(crate) watches: HashMap<i32, Watch>,
    pub(crate) wake_armed: bool,
    pub streams: Streams,
    /// Streams with buffered writes to send before the next wait.
    pub flush: Vec<(usize, u32)>,
    /// The provided-buffer ring the streams' recvs pick from.
    pub recv_bufs: Option<crate::event_loop::recvbufs::RecvBufs>,
    /// What cancelled sock calls received anyway, per socket.
    pub stash: Stash,
    /// Listening sockets with a multishot accept: fd -> its token.
    pub(crate) listeners: HashMap<i32, Option<u64>>,
    /// Relay rings (`uring_rs.aio` on this loop) whose ops go through this
    /// loop's ring.
    pub relays: Vec<Relay>,
}

/// The native half of `uring_rs.Loop`: ready queue, timers, the ring, fd
/// watchers. Making one sets up the loop's ring (SINGLE_ISSUER and
/// DEFER_TASKRUN when the kernel has them, else COOP_TASKRUN, else neither)
/// and its provided-buffer ring for stream reads (Linux 5.19).
#[pyclass(subclass, frozen, module = "uring_rs._native", name = "LoopCore")]
pub struct LoopCore {
    pub(crate) st: Mutex<State>,
    /// Set by `call_soon_threadsafe`: a handle was queued by some thread, so
    /// a wait about to start must not block.
    pub(crate) has_inbox: AtomicBool,
    /// The loop is (about to be) blocked in `io_uring_enter`: a thread that
    /// queues work must wake it.
    pub(crate) sleeping: AtomicBool,
    pub(crate) wake_fd: i32,
    pub(crate) stopping: AtomicBool,
    pub(crate) closed: AtomicBool,
    pub(crate) debug: AtomicBool,
    pub(crate) clock_resolution: f64,
    /// `py::ring::FORK_GENERATION` when the loop was made: a forked child
    /// sees another value (an atomic load per iteration, not a getpid).
    pub(crate) fork_generation: u64,
    /// The kernel has `IORING_OP_WAITID` (Linux 6.7): children's exits are
    /// waited for by the ring, else polled on a pidfd.
    pub(crate) has_waitid: bool,
}

/// CLOCK_MONOTONIC in seconds, as `time.monotonic()`.
pub fn monotonic() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// asyncio's `selectors._fileobj_to_fd`: an int or an object with
/// `fileno()`, never negative.
pub(crate) fn fileobj_to_fd(obj: &Bound<'_, PyAny>) -> PyResult<i32> {
    let fd: i64 = match obj.extract::<i64>() {
        Ok(v) => v,
        Err(_) => obj
            .call_method0("fileno")
            .map_err(|_| {
                PyValueError::new_err(format!(
                    "Invalid file object: {}",
                    obj.repr().map(|r| r.to_string()).unwrap_or_default()
                ))
            })?
            .extract()?,
    };
    if fd < 0 || fd > i32::MAX as i64 {
        return Err(PyValueError::new_err(format!(
            "Invalid file descriptor: {fd}"
        )));
    }
    Ok(fd as i32)
}

/// Submits what is queued (the SQ is full, or a cancel must act now).
pub fn submit_now(e: &mut Engine<Op>) {
    let n = e.raw.flush_sq(&mut e.sq);
    // GETEVENTS runs deferred task work too (DEFER_TASKRUN), so a cancelled
    // op really lets go of its file before this returns.
    let _ = e.raw.enter(n, 0, sys::IORING_ENTER_GETEVENTS, None);
}

/// Queues one op on the loop's ring, submitting what is queued first if
/// the SQ is full; its token, or None if the loop is closed (or the kernel
/// consumes nothing).
pub fn queue_op(
    st: &mut State,
    opcode: u8,
    op: Op,
    prep_sqe: impl FnOnce(&mut sys::Sqe),
) -> Option<u64> {
    let e = st.engine.as_mut()?;
    if e.space_left() == 0 {
        submit_now(e);
    }
    e.queue(0, opcode, op, |sqe, _| prep_sqe(sqe))
        .ok()
        .map(|(_, t)| t)
}

/// Cancels op `token`; with `now`, submits at once so the kernel drops
/// the file reference before the caller goes on (a close that follows must
/// really close). Its completion is ignored.
pub fn cancel(st: &mut State, token: u64, now: bool) {
    queue_op(st, sys::IORING_OP_ASYNC_CANCEL, Op::None, |sqe| {
        prep::cancel(sqe, token, 0)
    });
    if now {
        if let Some(e) = st.engine.as_mut() {
            submit_now(e);
        }
    }
}

impl LoopCore {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn check_closed(&self) -> PyResult<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err("Event loop is closed"));
        }
        Ok(())
    }
}

/// A relay attached to the loop.
pub struct Relay {
    pub ring: Py<crate::py::ring::Ring>,
    /// Called with a list of `(user_data, res, flags)`, from the ready
    /// queue, for each batch of the relay's completions.
    pub deliver: Py<PyAny>,
    /// While `drain` runs for this relay: its completions, collected for
    /// the caller instead of being queued.
    pub draining: Option<Vec<(u64, i32, u32)>>,
}

/// One stream connection's state, kept in the loop's slab.
pub struct Stream {
    pub gen: u32,
    pub fd: i32,
    pub protocol: Py<PyAny>,
    /// The Python transport: told of EOF and fatal errors.
    pub transport: Py<PyAny>,
    /// `protocol.data_received`, or None for a BufferedProtocol.
    pub data_received: Option<Py<PyAny>>,
    /// Bytes accepted by write() and not yet handed to a send.
    pub wbuf: crate::event_loop::wbuf::WBuf,
    /// Bytes in the send in flight (0: none).
    pub sending: usize,
    pub in_flush: bool,
    /// The transport wants data (not paused, not closing).
    pub reading: bool,
    pub recv_token: Option<u64>,
    /// Data that arrived while reading was paused, delivered on resume.
    pub stash: Vec<Vec<u8>>,
    pub eof_requested: bool,
    pub eof_done: bool,
    pub closing: bool,
    pub conn_lost: u32,
    pub high: usize,
    pub low: usize,
    pub protocol_paused: bool,
    /// A `StreamResume` is queued and the protocol has not heard it yet.
    pub resume_pending: bool,
    /// Tell the transport (`_buffer_emptied`) when the buffer empties.
    pub notify_empty: bool,
    /// The peer's EOF came while reading was paused (or data stashed): it
    /// is delivered by resume_reading(), after the stashed data.
    pub eof_pending: bool,
}

impl Stream {
    pub fn buffer_size(&self) -> usize {
        self.wbuf.len() + self.sending
    }

    /// After the buffer grew or the limits changed: whether the protocol
    /// must be told `pause_writing()`. Not when it is paused already, nor
    /// when a resume it has not heard yet is pending (that resume is taken
    /// back instead, so it never hears pause twice in a row).
    pub fn should_pause(&mut self) -> bool {
        if self.protocol_paused || self.buffer_size() <= self.high {
            return false;
        }
        self.protocol_paused = true;
        !std::mem::take(&mut self.resume_pending)
    }
}

/// The slab of streams: index + generation name one.
#[derive(Default)]
pub struct Streams {
    items: Vec<Option<Stream>>,
    gens: Vec<u32>,
    free: Vec<usize>,
}

impl Streams {
    /// Streams open now.
    pub fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn insert(&mut self, mut s: Stream) -> (usize, u32) {
        let id = match self.free.pop() {
            Some(i) => i,
            None => {
                self.items.push(None);
                self.gens.push(0);
                self.items.len() - 1
            }
        };
        self.gens[id] = self.gens[id].wrapping_add(1);
        s.gen = self.gens[id];
        self.items[id] = Some(s);
        (id, self.gens[id])
    }

    pub fn get_mut(&mut self, id: usize, gen: u32) -> Option<&mut Stream> {
        self.items
            .get_mut(id)
            .and_then(|s| s.as_mut())
            .filter(|s| s.gen == gen)
    }

    pub fn remove(&mut self, id: usize, gen: u32) -> Option<Stream> {
        let ok = self.get_mut(id, gen).is_some();
        if !ok {
            return None;
        }
        self.free.push(id);
        self.items[id].take()
    }

    pub fn drain(&mut self) -> Vec<Stream> {
        self.free = (0..self.items.len()).collect();
        self.items.iter_mut().filter_map(|s| s.take()).collect()
    }
}

/// What a completed sock op hands its future.
pub enum SockResult {
    Bytes(Vec<u8>),
    /// `recv_into`: the byte count (the pin is dropped with the op).
    Count(i32),
    /// `accept`: the new fd.
    Fd(i32),
    /// `connect`: done.
    Unit,
    /// A datagram and its sender.
    Datagram(Vec<u8>, Box<MsgBox>),
    Errno(i32),
}

/// Stashed results of cancelled calls, per socket fd.
#[derive(Default)]
pub struct Stash {
    pub data: HashMap<i32, VecDeque<Vec<u8>>>,
    pub fds: HashMap<i32, VecDeque<i32>>,
}
