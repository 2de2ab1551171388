//! `read_files`' native loop: many whole files read on a private ring (two
//! rings, the calling thread's and a helper thread's, sharing the paths,
//! for a large batch), the engine's third client (after `py` and
//! `event_loop`); `copy_file`'s pipes (`_Pipes`), which close themselves, and
//! its `_preallocate`; and `_fstat_brief`, the three `fstat` fields `aio.open`
//! uses.
//!
//! Owns: the per-file chains (an open, a pair of reads, a poll for a FIFO's
//! writer), the slots that run them and their buffers, the results, and the
//! drain on every way out (an error, an exception from a signal handler, a
//! panic): nothing is freed while the kernel may still write into it.
//! May not touch: SQE fields (the engine's builders fill them); Python is
//! used only to convert the paths, check signals and build the results.
//!
//! Where the kernel has `IORING_FEAT_LINKED_FILE` (Linux 5.18), each file is
//! one chain: `openat` into the slot's entry of a sparse fixed-file table
//! (a direct descriptor: it never enters the process's fd table, so nothing
//! can leak, and an occupied entry is replaced, so no close is needed)
//! `IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS` (only a failed open completes,
//! and then alone: the kernel silences the reads it cancels)
//! -> a read into buffer A (`IOSQE_FIXED_FILE`)
//! `IOSQE_IO_HARDLINK` -> a read into buffer B, which confirms the end of a
//! file that fit in A. Before that (or when asked), the open is an op of its
//! own, its fd is read with the same pair and closed here; a Python signal
//! handler cannot run in between (signals are checked only between waits,
//! and every fd the loop holds is closed on the way out).
//!
//! The unsafe surface: the reads' target memory (uninitialised capacity of
//! the slots' `Vec`s, whose length is set from what the kernel reported),
//! registering the file table, `fstat`/`stat`/`close`.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyMemoryError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::engine::sys::{self, KernelTimespec, Params};
use crate::engine::{prep, RawRing, SqState};

/// Each slot's two buffers: a file that fits in A is read with one pair.
const FIRST_READ: usize = 64 << 10;
/// The most one read asks for (the kernel caps a read near 2 GiB).
const MAX_READ: usize = 1 << 30;
/// The most slots (files in flight) a call uses.
pub const MAX_SLOTS: usize = 1 << 14;
/// How long a wait lasts before signals are checked again (a handler runs in
/// the main thread, while the signal may have interrupted another).
const WAIT_SLICE: Duration = Duration::from_millis(250);
/// How long the drain waits for cancelled ops before giving up on them.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

// user_data: slot << 2 | stage; the cancels have their own value.
const OPEN: u64 = 0;
const READ_A: u64 = 1;
const READ_B: u64 = 2;
const POLL: u64 = 3;
const STAGE_MASK: u64 = 3;
const CANCEL: u64 = u64::MAX;

/// What a slot's ops in flight are doing; each phase ends when the last of
/// its completions has come (`Slot::pending` reaches 0), in whatever order
/// they came.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Idle,
    /// A plain `openat` (its fd comes in its completion).
    Opening,
    /// The first pair of reads (after the open, or linked to it).
    First,
    /// Waiting for a FIFO's writer (`POLLIN`, or `POLLHUP` once it left).
    Poll,
    /// A pair of reads of a file larger than one pair: into `data`, then B.
    More,
}

struct Slot {
    /// The file's index in the input.
    file: usize,
    phase: Phase,
    /// Completions still to come for the phase.
    pending: u32,
    /// Plain mode: the file's fd, -1 when none is open.
    fd: i32,
    /// The phase's results: the direct open's, read A's, read B's (or the
    /// poll's in `a`).
    open_res: i32,
    a: i32,
    b: i32,
    /// A FIFO's writer was waited for already.
    polled: bool,
    /// The kernel writes into these buffers' capacity (their length stays 0).
    buf_a: Vec<u8>,
    buf_b: Vec<u8>,
    /// A file larger than one pair: everything read so far (its length), and
    /// the capacity the next read fills.
    data: Vec<u8>,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            file: 0,
            phase: Phase::Idle,
            pending: 0,
            fd: -1,
            open_res: 0,
            a: 0,
            b: 0,
            polled: false,
            buf_a: Vec::with_capacity(FIRST_READ),
            buf_b: Vec::with_capacity(FIRST_READ),
            data: Vec::new(),
        }
    }

    /// The first `n` bytes the kernel wrote into `buf`'s capacity.
    fn filled(buf: &Vec<u8>, n: i32) -> &[u8] {
        let n = (n.max(0) as usize).min(buf.capacity());
        // SAFETY: a read into `buf`'s capacity completed with `n` bytes (the
        // caller passes the read's result, clamped here to the capacity), so
        // the kernel wrote those bytes: they are initialised. Nothing writes
        // into the buffer meanwhile (no read of it is in flight).
        unsafe { std::slice::from_raw_parts(buf.as_ptr(), n) }
    }
}

/// What the readers of one `read_files` call share: the paths, the next
/// file to claim, and a flag that stops them all (one failed).
struct Work<'a> {
    paths: &'a [CString],
    next: AtomicUsize,
    stop: AtomicBool,
}

impl Work<'_> {
    /// The next file nobody has claimed, if any is left.
    fn claim(&self) -> Option<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.paths.len()).then_some(i)
    }
}

/// One ring, its slots and the results it read: a `read_files` call runs
/// one, or two (the second on a helper thread) for a large batch.
struct Reader<'a> {
    ring: RawRing,
    sq: SqState,
    /// Direct descriptors (a fixed-file table of one entry per slot).
    direct: bool,
    ext_arg: bool,
    work: &'a Work<'a>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Ops whose completion has not come yet, across the slots.
    in_flight: u64,
    /// (index, contents) of each file read.
    results: Vec<(usize, Py<PyBytes>)>,
    /// (index, errno) of each path that could not be read.
    failures: Vec<(usize, i32)>,
}

/// The call's ring: a plain one (`IORING_SETUP_DEFER_TASKRUN` measured no
/// faster here: the opens and reads of cached files complete inline).
fn setup(entries: u32) -> Result<RawRing, i32> {
    let mut p = Params {
        flags: sys::IORING_SETUP_CQSIZE,
        cq_entries: 2 * entries,
        ..Params::default()
    };
    RawRing::setup(entries, &mut p).map_err(|e| match e {
        crate::engine::SetupError::Setup(e) | crate::engine::SetupError::Mmap(e) => e,
    })
}

fn next_pow2(n: usize) -> u32 {
    n.max(1).next_power_of_two() as u32
}

impl<'a> Reader<'a> {
    fn new(work: &'a Work<'a>, nslots: usize, want_direct: bool) -> Result<Reader<'a>, i32> {
        let entries = next_pow2(3 * nslots + 1).min(32768);
        let ring = setup(entries)?;
        let mut direct = want_direct && ring.features & sys::IORING_FEAT_LINKED_FILE != 0;
        if direct {
            // A sparse table: every entry empty (-1) until an open fills it.
            let table = vec![-1i32; nslots];
            // SAFETY: `table` is an array of `nslots` fds, the count passed;
            // the kernel reads it during the call only.
            let r = unsafe {
                ring.register(
                    sys::IORING_REGISTER_FILES,
                    table.as_ptr().cast(),
                    nslots as u32,
                )
            };
            direct = r.is_ok(); // e.g. RLIMIT_NOFILE below nslots: plain fds
        }
        Ok(Reader {
            ext_arg: ring.features & sys::IORING_FEAT_EXT_ARG != 0,
            ring,
            sq: SqState::default(),
            direct,
            work,
            slots: (0..nslots).map(|_| Slot::new()).collect(),
            free: (0..nslots).rev().collect(),
            in_flight: 0,
            results: Vec::new(),
            failures: Vec::new(),
        })
    }

    /// Submits first when the SQ has fewer than `room` free
    /// entries (so a chain is never split between two submits, which would
    /// end it early).
    fn make_room(&mut self, room: u32) -> Result<(), i32> {
        let mut tries = 0;
        while self.ring.sq_space_left(&self.sq) < room {
            tries += 1;
            if tries > 1000 {
                return Err(libc::EBUSY); // the kernel takes nothing: give up, drain
            }
            let n = self.ring.flush_sq(&mut self.sq);
            match self.ring.enter(n, 0, 0, None) {
                Ok(_) | Err(libc::EINTR) => {}
                Err(libc::EAGAIN) | Err(libc::EBUSY) => {
                    // The kernel is short of memory for requests, or holds
                    // overflowed completions: wait for one, then retry.
                    let ts = KernelTimespec {
                        tv_sec: 0,
                        tv_nsec: 1_000_000,
                    };
                    let ts = self.ext_arg.then_some(ts);
                    let _ = self.ring.enter(0, 1, sys::IORING_ENTER_GETEVENTS, ts);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Queues one SQE (the caller made room) and counts its completion.
    fn push(&mut self, ud: u64, build: impl FnOnce(&mut sys::Sqe)) {
        let (_, sqe) = self
            .ring
            .get_sqe(&mut self.sq)
            .expect("make_room left an SQ entry free");
        build(sqe);
        sqe.user_data = ud;
        self.in_flight += 1;
    }

    /// Starts file `file` in slot `s`.
    fn start(&mut self, s: usize, file: usize) -> Result<(), i32> {
        let path = self.work.paths[file].as_ptr() as u64;
        let slot = &mut self.slots[s];
        slot.file = file;
        slot.polled = false;
        slot.fd = -1;
        slot.open_res = 0;
        let ud = (s as u64) << 2;
        if self.direct {
            self.make_room(3)?;
            self.slots[s].phase = Phase::First;
            // The open's completion comes only if it fails (IOSQE_CQE_SKIP_SUCCESS),
            // and then alone: the kernel silences the reads it cancels.
            self.slots[s].pending = 2;
            self.push(ud | OPEN, |sqe| {
                prep::openat_direct(
                    sqe,
                    libc::AT_FDCWD,
                    path,
                    libc::O_RDONLY as u32,
                    0,
                    s as u32,
                );
                prep::set_flags(sqe, sys::IOSQE_IO_LINK | sys::IOSQE_CQE_SKIP_SUCCESS);
            });
            self.in_flight -= 1;
            self.queue_pair(s, false);
        } else {
            self.make_room(1)?;
            self.slots[s].phase = Phase::Opening;
            self.slots[s].pending = 1;
            self.push(ud | OPEN, |sqe| {
                let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u32;
                prep::openat(sqe, libc::AT_FDCWD, path, flags, 0);
            });
        }
        Ok(())
    }

    /// The fd and flags the slot's ops use.
    fn target(&self, s: usize) -> (i32, u8) {
        if self.direct {
            (s as i32, sys::IOSQE_FIXED_FILE)
        } else {
            (self.slots[s].fd, 0)
        }
    }

    /// Queues a pair of reads at the file position: into A (or the rest of
    /// `data`'s capacity with `more`), then, hard-linked so it runs whatever
    /// the first returned, into B: it goes on where the first ended. The
    /// caller has made room for both.
    fn queue_pair(&mut self, s: usize, more: bool) {
        let (fd, fixed) = self.target(s);
        let slot = &mut self.slots[s];
        let (addr, len) = if more {
            let spare = (slot.data.capacity() - slot.data.len()).min(MAX_READ);
            // SAFETY: `len` is within the Vec's allocation; only the address
            // is taken (the kernel writes there, the Vec is not moved or
            // grown until the read's completion).
            (
                unsafe { slot.data.as_mut_ptr().add(slot.data.len()) },
                spare,
            )
        } else {
            (slot.buf_a.as_mut_ptr(), FIRST_READ)
        };
        let b = slot.buf_b.as_mut_ptr() as u64;
        let ud = (s as u64) << 2;
        self.push(ud | READ_A, |sqe| {
            prep::read(sqe, fd, addr as u64, len as u32, u64::MAX);
            prep::set_flags(sqe, fixed | sys::IOSQE_IO_HARDLINK);
        });
        self.push(ud | READ_B, |sqe| {
            prep::read(sqe, fd, b, FIRST_READ as u32, u64::MAX);
            prep::set_flags(sqe, fixed);
        });
    }

    /// The reported size of the slot's file (a hint for the buffer of what
    /// is left: the reads go on until one returns 0 whatever it says).
    fn size_hint(&self, s: usize) -> usize {
        // SAFETY: plain data, filled by the kernel on success.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let slot = &self.slots[s];
        let r = if self.direct {
            // The path names the file we opened unless it was renamed since:
            // the size is only a hint.
            // SAFETY: a NUL-terminated path and a stat buffer, live for the call.
            unsafe { libc::stat(self.work.paths[slot.file].as_ptr(), &mut st) }
        } else {
            // SAFETY: our own open fd and a stat buffer.
            unsafe { libc::fstat(slot.fd, &mut st) }
        };
        if r == 0 {
            st.st_size.max(0) as usize
        } else {
            0
        }
    }

    /// The file in slot `s` is over (read or failed): closes its fd (plain
    /// mode; no op of it is in flight) and starts the next file there.
    fn finish(&mut self, s: usize) -> Result<(), i32> {
        let slot = &mut self.slots[s];
        slot.phase = Phase::Idle;
        if slot.fd >= 0 {
            // SAFETY: the fd is ours (its open completed here) and no op in
            // flight uses it; it is forgotten right away.
            unsafe { libc::close(slot.fd) };
            slot.fd = -1;
        }
        if slot.data.capacity() > 0 {
            slot.data = Vec::new();
        }
        self.free.push(s);
        Ok(())
    }

    fn fail(&mut self, s: usize, res: i32) -> Result<(), i32> {
        self.failures.push((self.slots[s].file, -res));
        self.finish(s)
    }

    fn done(&mut self, s: usize, bytes: Bound<'_, PyBytes>) -> Result<(), i32> {
        self.results.push((self.slots[s].file, bytes.unbind()));
        self.finish(s)
    }

    /// How many of the completions counted in flight this one stands for:
    /// a direct open's (which comes only when it failed) for the two reads
    /// the kernel cancelled and silenced; any other for itself.
    fn counts(&self, c: &sys::Cqe) -> u32 {
        if self.direct && c.user_data & STAGE_MASK == OPEN {
            2
        } else {
            1
        }
    }

    /// One completion: records its result; when the slot's phase has all of
    /// them, decides what comes next.
    fn complete(&mut self, py: Python<'_>, c: sys::Cqe) -> Result<(), i32> {
        if c.user_data == CANCEL {
            return Ok(());
        }
        let counts = self.counts(&c);
        self.in_flight -= counts as u64;
        let s = (c.user_data >> 2) as usize;
        let slot = &mut self.slots[s];
        match c.user_data & STAGE_MASK {
            OPEN => slot.open_res = c.res,
            READ_A | POLL => slot.a = c.res,
            _ => slot.b = c.res,
        }
        slot.pending -= counts;
        if slot.pending > 0 {
            return Ok(());
        }
        let (phase, open_res, a, b) = (slot.phase, slot.open_res, slot.a, slot.b);
        match phase {
            Phase::Opening => {
                if open_res < 0 {
                    return self.fail(s, open_res);
                }
                self.slots[s].fd = open_res;
                self.read_first(s)
            }
            Phase::First if open_res < 0 => self.fail(s, open_res),
            Phase::First | Phase::More if a < 0 || b < 0 => self.fail(s, if a < 0 { a } else { b }),
            Phase::First if b == 0 && a > 0 => {
                // The common case: the file fit in A, its end confirmed.
                let bytes = PyBytes::new(py, Slot::filled(&self.slots[s].buf_a, a));
                self.done(s, bytes)
            }
            Phase::First if a == 0 && b == 0 => {
                if self.slots[s].polled {
                    return self.done(s, PyBytes::new(py, b""));
                }
                // Empty, or a FIFO nobody has opened for writing yet: the
                // built-in open() waits for a writer, so do we (POLLIN once
                // it wrote, POLLHUP once it came and went). The poll
                // completes at once for anything else (regular files,
                // procfs and devices poll readable), and a second pair of
                // reads says it is empty.
                let slot = &mut self.slots[s];
                slot.polled = true;
                slot.phase = Phase::Poll;
                slot.pending = 1;
                let (fd, fixed) = self.target(s);
                self.make_room(1)?;
                self.push(((s as u64) << 2) | POLL, |sqe| {
                    prep::poll_add(sqe, fd, libc::POLLIN as u32, false);
                    prep::set_flags(sqe, fixed);
                });
                Ok(())
            }
            Phase::First => {
                // More than one buffer: keep both and read on.
                let slot = &mut self.slots[s];
                let mut data = Vec::with_capacity((a + b) as usize);
                data.extend_from_slice(Slot::filled(&slot.buf_a, a));
                data.extend_from_slice(Slot::filled(&slot.buf_b, b));
                slot.data = data;
                self.read_more(s)
            }
            Phase::Poll if a < 0 => self.fail(s, a),
            Phase::Poll => self.read_first(s),
            Phase::More => {
                let slot = &mut self.slots[s];
                let len = slot.data.len() + a as usize;
                assert!(
                    len <= slot.data.capacity(),
                    "a read returned more than asked"
                );
                // SAFETY: the read into the capacity after `len()` completed
                // with `a` bytes, which the kernel wrote; within capacity.
                unsafe { slot.data.set_len(len) };
                if b == 0 {
                    let bytes = PyBytes::new(py, &self.slots[s].data);
                    return self.done(s, bytes);
                }
                let Slot { data, buf_b, .. } = slot;
                data.try_reserve(b as usize).map_err(|_| libc::ENOMEM)?;
                data.extend_from_slice(Slot::filled(buf_b, b));
                self.read_more(s)
            }
            Phase::Idle => unreachable!("a completion for an idle slot"),
        }
    }

    fn read_first(&mut self, s: usize) -> Result<(), i32> {
        self.make_room(2)?;
        let slot = &mut self.slots[s];
        slot.phase = Phase::First;
        slot.pending = 2;
        slot.open_res = 0;
        self.queue_pair(s, false);
        Ok(())
    }

    /// The next pair of a file larger than one pair: into the rest of
    /// `data`'s capacity, grown (when full) to what the reported size says
    /// is left, at least what was read so far (sizes that lie grow it
    /// geometrically), then into B.
    fn read_more(&mut self, s: usize) -> Result<(), i32> {
        let (len, cap) = (self.slots[s].data.len(), self.slots[s].data.capacity());
        if cap - len < FIRST_READ {
            let left = self.size_hint(s).saturating_sub(len);
            let extra = left.max(len).clamp(FIRST_READ, MAX_READ);
            // A file with no end (/dev/zero) runs out of memory: MemoryError, as
            // the built-in read() raises, not an abort.
            self.slots[s]
                .data
                .try_reserve_exact(extra)
                .map_err(|_| libc::ENOMEM)?;
        }
        self.make_room(2)?;
        let slot = &mut self.slots[s];
        slot.phase = Phase::More;
        slot.pending = 2;
        self.queue_pair(s, true);
        Ok(())
    }

    /// The loop: keeps every slot busy, submits, waits, handles what came.
    fn run(&mut self, py: Python<'_>) -> PyResult<()> {
        let mut claiming = true;
        loop {
            while claiming && !self.free.is_empty() {
                let Some(file) = self.work.claim() else {
                    claiming = false;
                    break;
                };
                let s = self.free.pop().expect("not empty");
                self.start(s, file).map_err(enter_error)?;
            }
            if self.in_flight == 0 {
                return Ok(());
            }
            let to_submit = self.ring.flush_sq(&mut self.sq);
            let ring = &self.ring;
            let ts = self.ext_arg.then_some(KernelTimespec {
                tv_sec: WAIT_SLICE.as_secs() as i64,
                tv_nsec: WAIT_SLICE.subsec_nanos() as i64,
            });
            let r = if ring.cq_ready() > 0 && to_submit == 0 {
                Ok(0)
            } else {
                py.detach(|| ring.enter(to_submit, 1, sys::IORING_ENTER_GETEVENTS, ts))
            };
            match r {
                Ok(_) | Err(libc::ETIME) | Err(libc::EINTR) | Err(libc::EAGAIN)
                | Err(libc::EBUSY) => {}
                Err(e) => return Err(enter_error(e)),
            }
            py.check_signals()?;
            if self.work.stop.load(Ordering::Relaxed) {
                // Another reader failed: its error is the call's. What is in
                // flight here is drained when this reader is dropped.
                return Ok(());
            }
            let ready = self.ring.cq_ready();
            for i in 0..ready {
                let c = self.ring.cqe(i);
                // Consumed before it is handled: an error while handling it
                // leaves the ring and the slot's count in step.
                let r = self.complete(py, c);
                if let Err(e) = r {
                    self.ring.cq_advance(i + 1);
                    return Err(enter_error(e));
                }
            }
            self.ring.cq_advance(ready);
        }
    }

    /// Cancels everything in flight and waits for the completions (each
    /// plain open that still produces an fd has it closed by `finish`'s
    /// rule in Drop); true when nothing is left in flight.
    fn drain(&mut self) -> bool {
        let deadline = Instant::now() + DRAIN_GRACE;
        let mut sent: Option<Instant> = None;
        let mut any_refused = false;
        while self.in_flight > 0 && Instant::now() < deadline {
            if sent.is_none_or(|t| t.elapsed() > Duration::from_millis(100)) {
                let _ = self.make_room(1);
                if any_refused {
                    self.cancel_each();
                } else if let Some((_, sqe)) = self.ring.get_sqe(&mut self.sq) {
                    prep::cancel_any(sqe);
                    sqe.user_data = CANCEL;
                }
                sent = Some(Instant::now());
            }
            let to_submit = self.ring.flush_sq(&mut self.sq);
            let ts = self.ext_arg.then_some(KernelTimespec {
                tv_sec: 0,
                tv_nsec: 20_000_000,
            });
            let _ = self
                .ring
                .enter(to_submit, 1, sys::IORING_ENTER_GETEVENTS, ts);
            let ready = self.ring.cq_ready();
            for i in 0..ready {
                let c = self.ring.cqe(i);
                if c.user_data == CANCEL {
                    // Before Linux 5.19 there is no IORING_ASYNC_CANCEL_ANY.
                    any_refused |= c.res == -libc::EINVAL;
                    continue;
                }
                let counts = self.counts(&c);
                self.in_flight -= counts as u64;
                let slot = &mut self.slots[(c.user_data >> 2) as usize];
                slot.pending = slot.pending.saturating_sub(counts);
                if c.user_data & STAGE_MASK == OPEN && !self.direct && c.res >= 0 {
                    slot.fd = c.res; // closed below
                }
            }
            self.ring.cq_advance(ready);
        }
        self.in_flight == 0
    }

    /// Cancels each slot's ops by their user_data (kernels before 5.19).
    fn cancel_each(&mut self) {
        for s in 0..self.slots.len() {
            if self.slots[s].pending == 0 {
                continue;
            }
            for stage in [OPEN, READ_A, READ_B, POLL] {
                if self.make_room(1).is_err() {
                    return;
                }
                if let Some((_, sqe)) = self.ring.get_sqe(&mut self.sq) {
                    prep::cancel(sqe, ((s as u64) << 2) | stage, 0);
                    sqe.user_data = CANCEL;
                }
            }
        }
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if self.in_flight > 0 && !self.drain() {
            // The kernel did not confirm the cancels in time: it may still
            // write into the buffers, so they are never freed.
            std::mem::forget(std::mem::take(&mut self.slots));
            return;
        }
        for slot in &mut self.slots {
            if slot.fd >= 0 {
                // SAFETY: an fd one of our opens produced, with no op in
                // flight (the drain confirmed it), closed once.
                unsafe { libc::close(slot.fd) };
                slot.fd = -1;
            }
        }
        // The ring goes after this (a field), and with it the direct
        // descriptors in its file table.
    }
}

/// An errno from the loop itself (not a file's: those are results).
fn enter_error(e: i32) -> PyErr {
    if e == libc::ENOMEM {
        return PyMemoryError::new_err("read_files: out of memory for a file's contents");
    }
    PyOSError::new_err((e, std::io::Error::from_raw_os_error(e).to_string()))
}

/// A path argument as `open()` takes it: `os.fspath`, then a str encoded
/// with the filesystem encoding; (the NUL-terminated bytes, the fspath
/// result, for the errors).
fn path_arg<'py>(
    obj: &Bound<'py, PyAny>,
    fspath: &mut Option<Bound<'py, PyAny>>,
) -> PyResult<(CString, Bound<'py, PyAny>)> {
    let name = if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        obj.clone()
    } else {
        if fspath.is_none() {
            *fspath = Some(obj.py().import("os")?.getattr("fspath")?);
        }
        fspath.as_ref().expect("just set").call1((obj,))?
    };
    let bytes: Vec<u8> = if let Ok(b) = name.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else {
        name.extract::<OsString>()?.as_bytes().to_vec()
    };
    let c = CString::new(bytes).map_err(|_| PyValueError::new_err("embedded null byte"))?;
    Ok((c, name))
}

/// Files at least this many are read by two threads (each with its ring).
const HELPER_MIN_FILES: usize = 256;

/// Whether the helper thread has ended, for the calling thread to wait on
/// in slices (checking signals in between).
#[derive(Default)]
struct Ended {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Ended {
    /// Waits up to `slice`; whether the helper has ended.
    fn wait(&self, slice: Duration) -> bool {
        let g = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) = self
            .cv
            .wait_timeout_while(g, slice, |done| !*done)
            .unwrap_or_else(|e| e.into_inner());
        *g
    }
}

/// Marks the helper ended when dropped (also when it panics).
struct EndedGuard<'a>(&'a Ended);

impl Drop for EndedGuard<'_> {
    fn drop(&mut self) {
        *self.0.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0.cv.notify_all();
    }
}

/// What one reader read: (index, contents) and (index, errno).
type Parts = (Vec<(usize, Py<PyBytes>)>, Vec<(usize, i32)>);

/// One reader's share of `work`, on a ring of its own; on any error the
/// others are told to stop claiming files (each drains what it has in
/// flight on its way out).
fn read_some(py: Python<'_>, work: &Work<'_>, nslots: usize, direct: bool) -> PyResult<Parts> {
    let res = Reader::new(work, nslots, direct)
        .map_err(enter_error)
        .and_then(|mut r| {
            r.run(py)?;
            Ok((
                std::mem::take(&mut r.results),
                std::mem::take(&mut r.failures),
            ))
        });
    if res.is_err() {
        work.stop.store(true, Ordering::Relaxed);
    }
    res
}

/// `uring_rs.read_files`' loop (the Python wrapper checks the arguments and
/// builds the exceptions): returns the contents (None for a failed path)
/// and the failures as (index, errno, the path as `os.fspath` gave it).
/// `direct=False` uses plain fds even where direct descriptors work.
#[pyfunction]
#[pyo3(signature = (paths, max_in_flight, direct = true))]
pub fn _read_files<'py>(
    py: Python<'py>,
    paths: &Bound<'py, PyList>,
    max_in_flight: usize,
    direct: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut names = Vec::with_capacity(paths.len());
    let mut cpaths = Vec::with_capacity(paths.len());
    let mut fspath = None;
    for p in paths.iter() {
        let (c, name) = path_arg(&p, &mut fspath)?;
        cpaths.push(c);
        names.push(name);
    }
    let n = cpaths.len();
    let work = Work {
        paths: &cpaths,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    let helper = n >= HELPER_MIN_FILES
        && max_in_flight >= 2
        && std::thread::available_parallelism().is_ok_and(|p| p.get() >= 2);
    let readers = if helper { 2 } else { 1 };
    let nslots = (max_in_flight / readers).clamp(1, MAX_SLOTS).min(n.max(1));
    let parts = if helper {
        // The calling thread reads with one ring, a helper thread with
        // another, claiming files from the same counter: the kernel's work
        // (the opens and reads of cached files complete inline, in the
        // thread that submits them) runs on two CPUs, and each thread holds
        // the GIL only to make the `bytes` of what it read.
        let ended = Ended::default();
        let (mine, theirs) = std::thread::scope(|scope| {
            let work = &work;
            let ended = &ended;
            let h = scope.spawn(move || {
                let _ended = EndedGuard(ended); // when the helper ends, even by a panic
                Python::attach(|py| read_some(py, work, nslots, direct))
            });
            let mut mine = read_some(py, work, nslots, direct);
            // Wait for the helper without the GIL (it may need it), checking
            // signals as the reader does: a handler's exception stops both.
            loop {
                if py.detach(|| ended.wait(WAIT_SLICE)) {
                    break;
                }
                if let Err(e) = py.check_signals() {
                    work.stop.store(true, Ordering::Relaxed);
                    if mine.is_ok() {
                        mine = Err(e);
                    }
                }
            }
            let theirs = py.detach(|| h.join());
            (mine, theirs)
        });
        let theirs = theirs.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let (mut a, mut b) = (mine?, theirs?);
        a.0.append(&mut b.0);
        a.1.append(&mut b.1);
        a
    } else {
        read_some(py, &work, nslots, direct)?
    };
    let (read, mut failures) = parts;
    let mut results: Vec<Option<Py<PyBytes>>> = (0..n).map(|_| None).collect();
    for (i, b) in read {
        results[i] = Some(b);
    }
    failures.sort_unstable(); // input order
    let list = PyList::new(py, results.into_iter().map(|r| r.map(|b| b.into_bound(py))))?;
    let fails = PyList::empty(py);
    for (i, e) in failures {
        fails.append((i, e, &names[i]))?;
    }
    PyTuple::new(py, [list.into_any(), fails.into_any()])
}

/// Whether this kernel reads with direct descriptors (for the tests).
#[pyfunction]
pub fn _read_files_direct() -> bool {
    let mut p = Params::default();
    RawRing::setup(1, &mut p).is_ok_and(|r| r.features & sys::IORING_FEAT_LINKED_FILE != 0)
}

/// `(st_mode, st_size, st_blksize)` of an open fd: what `aio.open` needs of
/// `os.fstat`, without building its 19-field result (float and nanosecond
/// times); the same `OSError` on failure.
#[pyfunction]
fn _fstat_brief(fd: i32) -> PyResult<(u32, i64, i64)> {
    // SAFETY: plain data, filled by the kernel on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a stat buffer live for the call; any fd value is safe to pass.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok((st.st_mode, st.st_size, st.st_blksize))
}

/// `fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, len)` without the GIL: reserves the
/// blocks a copy of `len` bytes will fill, so the filesystem allocates them in
/// one extent instead of reserving block by block as the writes come (ext4's
/// delayed allocation); the size stays what it is. Whether it worked: a
/// filesystem without fallocate, a full disk, a signal or a `len` below 1
/// (EINVAL) are no error here (the copy then allocates as it writes, and
/// reports a full disk itself).
#[pyfunction]
fn _preallocate(py: Python<'_>, fd: i32, len: i64) -> bool {
    // SAFETY: no memory is passed; any fd value is safe to pass (a bad one fails
    // with EBADF).
    py.detach(|| unsafe { libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, 0, len) } == 0)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_fstat_brief, m)?)?;
    m.add_function(wrap_pyfunction!(_preallocate, m)?)?;
    m.add_function(wrap_pyfunction!(_read_files, m)?)?;
    m.add_function(wrap_pyfunction!(_read_files_direct, m)?)?;
    m.add_class::<Pipes>()?;
    Ok(())
}

/// `copy_file`'s pipes, owned from the moment they exist: created in one
/// call, closed by `close()` or, whatever happens in between (an exception
/// from a signal handler landing anywhere in the Python code that uses
/// them), when the object is freed. The ring that splices through them is
/// closed (its ops finished) before they are.
#[pyclass(module = "uring_rs._native", name = "_Pipes")]
pub struct Pipes {
    fds: Vec<(i32, i32)>,
    sized: bool,
}

#[pymethods]
impl Pipes {
    /// `count` pipes (`O_CLOEXEC`), each sized to at least `size` bytes with
    /// `F_SETPIPE_SZ` where it can be (`sized` says whether all were).
    #[new]
    fn new(count: usize, size: i32) -> PyResult<Pipes> {
        let mut pipes = Pipes {
            fds: Vec::with_capacity(count),
            sized: true,
        };
        for _ in 0..count {
            let mut fds = [-1i32; 2];
            // SAFETY: pipe2 writes two fds into the array.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                return Err(PyOSError::new_err(std::io::Error::last_os_error()));
                // (the pipes made so far are closed by Drop)
            }
            pipes.fds.push((fds[0], fds[1]));
            // SAFETY: fcntl on our own new pipe.
            let got = unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, size) };
            pipes.sized &= got >= size;
        }
        Ok(pipes)
    }

    /// The (read end, write end) of each pipe; empty once closed.
    #[getter]
    fn fds(&self) -> Vec<(i32, i32)> {
        self.fds.clone()
    }

    /// Whether every pipe holds at least `size` bytes.
    #[getter]
    fn sized(&self) -> bool {
        self.sized
    }

    /// Closes them all (again: nothing).
    fn close(&mut self) {
        for (r, w) in self.fds.drain(..) {
            // SAFETY: our own pipe fds, each closed once (drained from the list).
            unsafe {
                libc::close(r);
                libc::close(w);
            }
        }
    }
}

impl Drop for Pipes {
    fn drop(&mut self) {
        self.close();
    }
}
