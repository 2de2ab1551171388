//! The ring itself: `io_uring_setup`, the three mappings, and the index
//! arithmetic and memory orderings of the SQ and CQ.
//!
//! This layer knows nothing of Python. [`RawRing`] owns the fd and the
//! mappings and is shared (behind an `Arc`) between the Python `Ring` and any
//! thread blocked in `io_uring_enter`, so the memory stays mapped while anyone
//! may look at it. The SQ's local indexes ([`SqState`]) and the CQ head are
//! only touched by whoever holds the Python `Ring`'s state lock.
//!
//! Orderings, as liburing's `barrier.h` names them: the kernel's SQ head and
//! CQ tail are read with `Acquire` (what the kernel wrote before moving them
//! is visible after), our SQ tail and CQ head are written with `Release` (the
//! SQEs we filled, and our reads of CQEs, happen before the kernel sees the
//! move). Indexes are free-running u32s; every distance is a `wrapping_sub`.

use std::ptr;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use super::sys::{self, Cqe, GeteventsArg, KernelTimespec, Params, Sqe};

/// What `enter` on a relay ring fails with (io_uring_enter never returns
/// it for a real ring).
pub const RELAY_ENTER: i32 = libc::ENOTCONN;

/// `_NSIG / 8`: the sigset size the kernel expects beside a (null) sigmask.
const KERNEL_SIGSET_BYTES: usize = 8;

/// One `mmap(2)` of the ring fd, unmapped with exactly its own length.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    /// A fresh read-write `mmap(2)` of `len` bytes (`fd` at `offset`, or
    /// anonymous memory with fd -1 and MAP_ANONYMOUS in `flags`).
    fn map(fd: i32, len: usize, flags: i32, offset: i64) -> Result<Mapping, i32> {
        // SAFETY: a fresh mapping (of the ring fd at one of the offsets the
        // kernel defines, or anonymous): nothing else aliases it yet.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::ENOMEM));
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }

    fn new(fd: i32, len: usize, offset: i64) -> Result<Mapping, i32> {
        // MAP_POPULATE pre-faults it so the first submissions do not
        // page-fault.
        let m = Mapping::map(fd, len, libc::MAP_SHARED | libc::MAP_POPULATE, offset)?;
        // A forked child must not share the parent's ring memory: with
        // MADV_DONTFORK the child has no mapping there at all, and the Python
        // layer refuses to use a ring from another process. Failure only
        // loses that protection, so it is not an error.
        // SAFETY: (ptr, len) is the mapping just made.
        unsafe { libc::madvise(m.ptr.cast(), m.len, libc::MADV_DONTFORK) };
        Ok(m)
    }

    /// Zeroed private anonymous memory laid out as a ring's mapping, for a
    /// relay ring (no kernel ring behind it).
    fn anon(len: usize) -> Result<Mapping, i32> {
        Mapping::map(-1, len, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, 0)
    }

    /// A pointer `offset` bytes in, for a `T` the kernel placed there.
    fn at<T>(&self, offset: u32) -> *mut T {
        assert!(
            offset as usize + std::mem::size_of::<T>() <= self.len,
            "ring offset out of map"
        );
        // SAFETY: in bounds, checked above.
        unsafe { self.ptr.add(offset as usize).cast() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: (ptr, len) is exactly what mmap returned; no reference into
        // it outlives the RawRing that owns this Mapping.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// What `io_uring_setup` can fail with, before any ring exists.
#[derive(Debug)]
pub enum SetupError {
    /// The syscall failed with this errno.
    Setup(i32),
    /// A mapping failed with this errno.
    Mmap(i32),
}

/// An io_uring instance: fd, mappings and pointers into them.
///
/// Or a *relay* ring ([`RawRing::relay`], `fd == -1`): the same SQ/CQ layout
/// in private memory, with no kernel ring behind it. Its client queues and
/// flushes SQEs as on any ring; the host (the event loop) takes them with
/// [`RawRing::relay_take`] into its own ring, and hands the completions
/// back to the client's slots itself. It is never entered.
pub struct RawRing {
    pub fd: i32,
    pub flags: u32,
    pub features: u32,
    pub sq_entries: u32,
    pub cq_entries: u32,
    sq_mask: u32,
    cq_mask: u32,
    sq_khead: *const AtomicU32,
    sq_ktail: *const AtomicU32,
    sq_kflags: *const AtomicU32,
    sqes: *mut Sqe,
    cq_khead: *const AtomicU32,
    cq_ktail: *const AtomicU32,
    cq_koverflow: *const AtomicU32,
    cqes: *const Cqe,
    /// The thread (a [`thread_id`], never reused, unlike a pthread_t) that
    /// registered the ring fd, 0 if none, and the registered index:
    /// registered ring fds are per thread, so only that thread may enter
    /// through the index (the kernel drops it when the thread exits).
    reg_owner: AtomicU64,
    reg_index: AtomicU32,
    /// io_uring_enter calls made, for diagnostics (and to test that the
    /// SQPOLL and batch paths make none per op).
    enters: AtomicU64,
    /// A relay ring's answer to `probe` (its host's).
    relay_probe: Option<(u8, Vec<bool>)>,
    // Declared last so they unmap after every pointer above is dead.
    _sq_map: Mapping,
    _cq_map: Option<Mapping>,
    _sqes_map: Mapping,
}

// SAFETY: the raw pointers point into shared mappings owned by this struct;
// all access to the kernel-shared words is atomic, and the non-atomic parts
// (SQE slots, CQE reads) are only done by the holder of the Python Ring's
// state lock, so moving or sharing the RawRing between threads is sound.
unsafe impl Send for RawRing {}
// SAFETY: as above.
unsafe impl Sync for RawRing {}

/// The SQ's private indexes, as liburing's `sqe_head`/`sqe_tail`: `get_sqe`
/// moves `sqe_tail`; `flush_sq` publishes it to the kernel's tail once.
#[derive(Debug, Default, Clone, Copy)]
pub struct SqState {
    pub sqe_head: u32,
    pub sqe_tail: u32,
}

impl RawRing {
    /// `io_uring_setup(2)` and the mappings. `params` goes in with the
    /// caller's flags and comes back filled by the kernel.
    pub fn setup(entries: u32, params: &mut Params) -> Result<RawRing, SetupError> {
        let fd = sys::io_uring_setup(entries, params).map_err(SetupError::Setup)?;
        Self::map(fd, params).inspect_err(|_| {
            // SAFETY: fd is the ring we just created and nobody else has it.
            unsafe { libc::close(fd) };
        })
    }

    /// A relay ring of `entries` SQEs (a power of two): see [`RawRing`].
    /// `features` are the host ring's, which the relay's ops run on.
    /// `probe` is the host's answer to [`RawRing::probe`], which a relay
    /// gives as its own.
    pub fn relay(
        entries: u32,
        features: u32,
        probe: Option<(u8, Vec<bool>)>,
    ) -> Result<RawRing, SetupError> {
        let entries = entries.max(1).next_power_of_two();
        // The kernel's layout, as io_uring_setup would report it: the SQ
        // ring's words, then its index array; the CQ ring (empty: a relay's
        // completions never pass through it) in the same mapping.
        let mut p = Params {
            sq_entries: entries,
            cq_entries: 2 * entries,
            features: features | sys::IORING_FEAT_SINGLE_MMAP,
            ..Default::default()
        };
        p.sq_off.head = 0;
        p.sq_off.tail = 4;
        p.sq_off.ring_mask = 8;
        p.sq_off.ring_entries = 12;
        p.sq_off.flags = 16;
        p.sq_off.dropped = 20;
        p.cq_off.head = 24;
        p.cq_off.tail = 28;
        p.cq_off.ring_mask = 32;
        p.cq_off.ring_entries = 36;
        p.cq_off.overflow = 40;
        p.cq_off.flags = 44;
        p.cq_off.cqes = 64;
        let cq_end = 64 + p.cq_entries as usize * std::mem::size_of::<Cqe>();
        p.sq_off.array = cq_end as u32;
        let sq_len = cq_end + entries as usize * 4;
        let sq_map = Mapping::anon(sq_len).map_err(SetupError::Mmap)?;
        let sqes_map = Mapping::anon(entries as usize * std::mem::size_of::<Sqe>())
            .map_err(SetupError::Mmap)?;
        // SAFETY: the words lie inside the fresh mapping (offsets above);
        // nothing else sees it yet.
        unsafe {
            *sq_map.at::<u32>(p.sq_off.ring_mask) = entries - 1;
            *sq_map.at::<u32>(p.sq_off.ring_entries) = entries;
            *sq_map.at::<u32>(p.cq_off.ring_mask) = p.cq_entries - 1;
            *sq_map.at::<u32>(p.cq_off.ring_entries) = p.cq_entries;
        }
        let mut raw = Self::from_maps(-1, &p, sq_map, None, sqes_map)?;
        raw.relay_probe = probe;
        Ok(raw)
    }

    /// Whether this is a relay ring (see [`RawRing`]).
    pub fn is_relay(&self) -> bool {
        self.fd < 0
    }

    /// The host's side of a relay ring: hands the flushed SQEs, oldest
    /// first, to `take` until it returns false (that one is not taken),
    /// then marks the taken ones consumed; returns how many were taken.
    pub fn relay_take(&self, mut take: impl FnMut(&Sqe) -> bool) -> u32 {
        debug_assert!(self.is_relay());
        // Only the host moves the head (as the kernel does on a real ring).
        let head = self.atomic(self.sq_khead).load(Ordering::Relaxed);
        let tail = self.atomic(self.sq_ktail).load(Ordering::Acquire);
        let mut n = 0u32;
        while head.wrapping_add(n) != tail {
            let idx = head.wrapping_add(n) & self.sq_mask;
            // SAFETY: the entry lies between the head and the tail the
            // client published with Release (loaded with Acquire above): it
            // is filled, and the client will not touch it until the head
            // moves past it.
            let sqe = unsafe { &*self.sqes.add(idx as usize) };
            if !take(sqe) {
                break;
            }
            n += 1;
        }
        if n != 0 {
            self.atomic(self.sq_khead)
                .store(head.wrapping_add(n), Ordering::Release);
        }
        n
    }

    /// The flushed SQE at free-running position `pos` of a relay ring, if
    /// it is still between the host's head and the published tail.
    pub fn relay_peek(&self, pos: u32) -> Option<&Sqe> {
        let head = self.atomic(self.sq_khead).load(Ordering::Relaxed);
        let tail = self.atomic(self.sq_ktail).load(Ordering::Acquire);
        if !index::within(pos, head, tail) {
            return None;
        }
        // SAFETY: as in relay_take: flushed, not yet taken.
        Some(unsafe { &*self.sqes.add((pos & self.sq_mask) as usize) })
    }

    fn map(fd: i32, p: &Params) -> Result<RawRing, SetupError> {
        let sqe_size = std::mem::size_of::<Sqe>();
        let cqe_size = std::mem::size_of::<Cqe>();
        let no_sqarray = p.flags & sys::IORING_SETUP_NO_SQARRAY != 0;
        let mut sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        if no_sqarray {
            sq_len = p.sq_off.dropped as usize + 4;
        }
        let mut cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * cqe_size;
        let single = p.features & sys::IORING_FEAT_SINGLE_MMAP != 0;
        if single {
            sq_len = sq_len.max(cq_len);
            cq_len = sq_len;
        }
        let sq_map = Mapping::new(fd, sq_len, sys::IORING_OFF_SQ_RING).map_err(SetupError::Mmap)?;
        let cq_map = if single {
            None
        } else {
            Some(Mapping::new(fd, cq_len, sys::IORING_OFF_CQ_RING).map_err(SetupError::Mmap)?)
        };
        // The SQE array is its own mapping, sized by the SQE count (and
        // unmapped with that size, not the ring's).
        let sqes_map = Mapping::new(fd, p.sq_entries as usize * sqe_size, sys::IORING_OFF_SQES)
            .map_err(SetupError::Mmap)?;
        Self::from_maps(fd, p, sq_map, cq_map, sqes_map)
    }

    fn from_maps(
        fd: i32,
        p: &Params,
        sq_map: Mapping,
        cq_map: Option<Mapping>,
        sqes_map: Mapping,
    ) -> Result<RawRing, SetupError> {
        let no_sqarray = p.flags & sys::IORING_SETUP_NO_SQARRAY != 0;
        let cq = cq_map.as_ref().unwrap_or(&sq_map);
        let sq_mask = sq_map.at::<u32>(p.sq_off.ring_mask);
        let cq_mask = cq.at::<u32>(p.cq_off.ring_mask);
        // SAFETY: the masks are plain words the kernel wrote before setup
        // returned and never changes.
        let (sq_mask, cq_mask) = unsafe { (*sq_mask, *cq_mask) };
        if !no_sqarray {
            let array = sq_map.at::<u32>(p.sq_off.array);
            for i in 0..p.sq_entries {
                // SAFETY: `array` has sq_entries u32 slots inside sq_map
                // (sq_len covers them). Filling it once with the identity,
                // as liburing does, lets flush_sq publish with one store.
                unsafe { array.add(i as usize).write(i) };
            }
        }
        Ok(RawRing {
            fd,
            flags: p.flags,
            features: p.features,
            sq_entries: p.sq_entries,
            cq_entries: p.cq_entries,
            sq_mask,
            cq_mask,
            sq_khead: sq_map.at(p.sq_off.head),
            sq_ktail: sq_map.at(p.sq_off.tail),
            sq_kflags: sq_map.at(p.sq_off.flags),
            sqes: sqes_map.ptr.cast(),
            cq_khead: cq.at(p.cq_off.head),
            cq_ktail: cq.at(p.cq_off.tail),
            cq_koverflow: cq.at(p.cq_off.overflow),
            cqes: cq.at(p.cq_off.cqes),
            reg_owner: AtomicU64::new(0),
            reg_index: AtomicU32::new(0),
            enters: AtomicU64::new(0),
            relay_probe: None,
            _sq_map: sq_map,
            _cq_map: cq_map,
            _sqes_map: sqes_map,
        })
    }

    fn atomic(&self, p: *const AtomicU32) -> &AtomicU32 {
        // SAFETY: every such pointer was taken in `map` from a live mapping
        // owned by self, is 4-byte aligned (the kernel's offsets are), and the
        // kernel accesses the word atomically too.
        unsafe { &*p }
    }

    // ------------------------------------------------------------- SQ side

    /// The kernel's SQ head: entries before it have been consumed.
    pub fn sq_head(&self) -> u32 {
        self.atomic(self.sq_khead).load(Ordering::Acquire)
    }

    /// The SQ ring's flags word (`IORING_SQ_*`).
    pub fn sq_flags(&self) -> u32 {
        self.atomic(self.sq_kflags).load(Ordering::Relaxed)
    }

    /// SQEs queued and not yet consumed by the kernel (flushed or not).
    pub fn sq_ready(&self, q: &SqState) -> u32 {
        q.sqe_tail.wrapping_sub(self.sq_head())
    }

    pub fn sq_space_left(&self, q: &SqState) -> u32 {
        self.sq_entries - self.sq_ready(q)
    }

    /// A zeroed SQE at the SQ's tail, and its free-running position, or
    /// `None` when the SQ is full (nothing is changed then).
    ///
    /// The exclusive borrow of `q`, which lives under the Python Ring's state
    /// lock, is what makes handing out `&mut Sqe` sound: only its holder
    /// writes SQEs.
    pub fn get_sqe<'a>(&'a self, q: &'a mut SqState) -> Option<(u32, &'a mut Sqe)> {
        let pos = q.sqe_tail;
        if pos.wrapping_sub(self.sq_head()) >= self.sq_entries {
            return None;
        }
        q.sqe_tail = pos.wrapping_add(1);
        // SAFETY: slot `pos & mask` is between the kernel's head and our
        // tail, so the kernel is not reading it; the caller holds the state
        // lock, so nobody else writes it either.
        let sqe = unsafe { &mut *self.sqes.add((pos & self.sq_mask) as usize) };
        *sqe = Sqe::default();
        Some((pos, sqe))
    }

    /// The SQE at a queued-but-unflushed position (for `Sqe` setters and
    /// for discarding on close), or `None` if `pos` has been flushed.
    pub fn sqe_at<'a>(&'a self, q: &'a mut SqState, pos: u32) -> Option<&'a mut Sqe> {
        if !index::within(pos, q.sqe_head, q.sqe_tail) {
            return None;
        }
        // SAFETY: `pos` lies in [sqe_head, sqe_tail), which the kernel cannot
        // see yet, and the exclusive borrow of `q` (held under the state
        // lock) means nobody else writes SQEs.
        Some(unsafe { &mut *self.sqes.add((pos & self.sq_mask) as usize) })
    }

    /// Publishes queued SQEs to the kernel with one Release store of the tail;
    /// returns how many the kernel has yet to consume.
    pub fn flush_sq(&self, q: &mut SqState) -> u32 {
        if q.sqe_head != q.sqe_tail {
            q.sqe_head = q.sqe_tail;
            // The array already maps each slot to itself (see `map`), so the
            // tail alone publishes the new entries.
            self.atomic(self.sq_ktail)
                .store(q.sqe_tail, Ordering::Release);
        }
        self.sq_ready(q)
    }

    /// Whether `submit` must call `io_uring_enter`: always without SQPOLL;
    /// with SQPOLL only when the kernel thread sleeps, and then with
    /// `IORING_ENTER_SQ_WAKEUP` added to `flags`.
    pub fn sq_ring_needs_enter(&self, flags: &mut u32) -> bool {
        if self.flags & sys::IORING_SETUP_SQPOLL == 0 {
            return true;
        }
        // The tail store in flush_sq and this load of the flags must not be
        // reordered, or we could miss the SQ thread going to sleep after it
        // last looked at the tail and leave our SQEs unseen. The kernel
        // pairs this with a full barrier between setting NEED_WAKEUP and its
        // last read of the tail (io_uring/sqpoll.c); tokio-rs/io-uring#108
        // and liburing's io_uring_sq_ring_needs_enter reason the same way.
        fence(Ordering::SeqCst);
        if self.sq_flags() & sys::IORING_SQ_NEED_WAKEUP != 0 {
            *flags |= sys::IORING_ENTER_SQ_WAKEUP;
            return true;
        }
        false
    }

    // ------------------------------------------------------------- CQ side

    fn cq_head(&self) -> u32 {
        // Only we write the CQ head, so our last store is what we read.
        self.atomic(self.cq_khead).load(Ordering::Relaxed)
    }

    /// CQEs posted and not yet consumed.
    pub fn cq_ready(&self) -> u32 {
        self.atomic(self.cq_ktail)
            .load(Ordering::Acquire)
            .wrapping_sub(self.cq_head())
    }

    /// The `i`-th ready CQE (0 is the oldest). The caller checks
    /// `i < cq_ready()` and holds the state lock.
    pub fn cqe(&self, i: u32) -> Cqe {
        let idx = self.cq_head().wrapping_add(i) & self.cq_mask;
        // SAFETY: idx is masked into the CQE array, and the entry lies
        // between our head and the tail we loaded with Acquire, so the
        // kernel finished writing it and will not touch it until we move
        // the head past it.
        unsafe { ptr::read_volatile(self.cqes.add(idx as usize)) }
    }

    /// Marks `count` CQEs consumed: one Release store of the head.
    pub fn cq_advance(&self, count: u32) {
        if count != 0 {
            let head = self.cq_head().wrapping_add(count);
            self.atomic(self.cq_khead).store(head, Ordering::Release);
        }
    }

    /// The kernel holds completions we have not seen in the CQ: overflowed
    /// CQEs, or (with DEFER_TASKRUN / TASKRUN_FLAG) task work that will post
    /// them. Either way an `enter` with GETEVENTS brings them in.
    pub fn cq_ring_needs_flush(&self) -> bool {
        self.sq_flags() & (sys::IORING_SQ_CQ_OVERFLOW | sys::IORING_SQ_TASKRUN) != 0
    }

    /// Completions the kernel dropped for lack of CQ space (only without
    /// `IORING_FEAT_NODROP`).
    pub fn cq_overflow(&self) -> u32 {
        self.atomic(self.cq_koverflow).load(Ordering::Relaxed)
    }

    // --------------------------------------------------------------- enter

    /// `io_uring_enter(2)`, waiting at most `timeout` when one is given
    /// (through `IORING_ENTER_EXT_ARG`; the caller checks the feature).
    ///
    /// Sound to call without the state lock: the kernel only consumes SQEs
    /// already published by `flush_sq`, whose memory the keep-alive table
    /// holds until their completions are consumed.
    pub fn enter(
        &self,
        to_submit: u32,
        min_complete: u32,
        mut flags: u32,
        timeout: Option<KernelTimespec>,
    ) -> Result<u32, i32> {
        let ts = timeout.unwrap_or_default();
        let arg = GeteventsArg {
            ts: &ts as *const KernelTimespec as u64,
            ..Default::default()
        };
        let (argp, argsz) = if timeout.is_some() {
            flags |= sys::IORING_ENTER_EXT_ARG;
            (
                &arg as *const GeteventsArg as *const libc::c_void,
                std::mem::size_of::<GeteventsArg>(),
            )
        } else {
            (ptr::null(), KERNEL_SIGSET_BYTES)
        };
        if self.is_relay() {
            // Nothing to enter: the host ring submits a relay's SQEs
            // (an errno io_uring_enter itself never returns).
            return Err(RELAY_ENTER);
        }
        self.enters.fetch_add(1, Ordering::Relaxed);
        let mut fd = self.fd;
        let owner = self.reg_owner.load(Ordering::Relaxed);
        if owner != 0 && owner == thread_id() {
            fd = self.reg_index.load(Ordering::Relaxed) as i32;
            flags |= sys::IORING_ENTER_REGISTERED_RING;
        }
        // SAFETY: argp is null or points to `arg`, which with `ts` lives on
        // this frame for the whole call; the SQEs being submitted reference
        // memory pinned by the keep-alive table (see above).
        unsafe { sys::io_uring_enter(fd, to_submit, min_complete, flags, argp, argsz) }
            .map(|n| n as u32)
    }

    /// How many times `enter` has been called on this ring.
    pub fn enter_calls(&self) -> u64 {
        self.enters.load(Ordering::Relaxed)
    }

    /// Records (or clears) the calling thread's registered index of the ring
    /// fd (IORING_REGISTER_RING_FDS).
    pub fn set_registered_index(&self, index: Option<u32>) {
        match index {
            Some(i) => {
                self.reg_index.store(i, Ordering::Relaxed);
                self.reg_owner.store(thread_id(), Ordering::Relaxed);
            }
            None => self.reg_owner.store(0, Ordering::Relaxed),
        }
    }

    /// The registered index and the thread ([`thread_id`]) that owns it.
    pub fn registered_index(&self) -> Option<(u32, u64)> {
        let owner = self.reg_owner.load(Ordering::Relaxed);
        (owner != 0).then(|| (self.reg_index.load(Ordering::Relaxed), owner))
    }

    /// The kernel's opcode support (`IORING_REGISTER_PROBE`, Linux 5.6): the
    /// last opcode it knows and, per opcode, whether it is supported.
    pub fn probe(&self) -> Result<(u8, Vec<bool>), i32> {
        if self.is_relay() {
            return self.relay_probe.clone().ok_or(libc::EOPNOTSUPP);
        }
        let mut p = Box::<sys::Probe>::default();
        // SAFETY: p is a zeroed io_uring_probe with room for 256 ops, the
        // count we pass; the kernel writes only within it.
        unsafe {
            self.register(
                sys::IORING_REGISTER_PROBE,
                (&mut *p as *mut sys::Probe).cast(),
                256,
            )
        }?;
        let mut supported = vec![false; 256];
        for op in p.ops.iter().take(p.ops_len as usize) {
            if op.flags & sys::IO_URING_OP_SUPPORTED != 0 {
                supported[op.op as usize] = true;
            }
        }
        Ok((p.last_op, supported))
    }

    /// `io_uring_register(2)` on this ring.
    ///
    /// # Safety
    /// As [`sys::io_uring_register`].
    pub unsafe fn register(
        &self,
        opcode: u32,
        arg: *const libc::c_void,
        nr_args: u32,
    ) -> Result<i32, i32> {
        if self.is_relay() {
            // Registrations belong to the host ring, which a relay's client
            // does not own.
            return Err(libc::EOPNOTSUPP);
        }
        sys::io_uring_register(self.fd, opcode, arg, nr_args)
    }
}

/// `struct io_uring_rsrc_update`, for unregistering the ring fd on drop.
#[repr(C)]
struct RingFdUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

impl Drop for RawRing {
    fn drop(&mut self) {
        // A registered ring fd holds the ring open in the kernel for as long
        // as the registering thread lives: drop it when we can (from that
        // thread); from another thread it goes when that thread exits.
        if let Some((index, owner)) = self.registered_index() {
            if owner == thread_id() {
                let up = RingFdUpdate {
                    offset: index,
                    resv: 0,
                    data: 0,
                };
                // Failure only means the index is already gone.
                // SAFETY: one io_uring_rsrc_update, read during the call.
                let _ = unsafe {
                    sys::io_uring_register(
                        self.fd,
                        sys::IORING_UNREGISTER_RING_FDS,
                        (&up as *const RingFdUpdate).cast(),
                        1,
                    )
                };
            }
        }
        // The mappings unmap themselves afterwards (field drop order).
        if !self.is_relay() {
            // SAFETY: fd is ours and closed exactly once, here.
            unsafe { libc::close(self.fd) };
        }
    }
}

/// The calling thread's id for this library: unique for the life of the
/// process (a `pthread_t` is reused by the next thread), never 0.
pub fn thread_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ID.with(|id| *id)
}

/// A flag that is true while the calling thread runs and turns false when
/// it exits (its thread-local destructors run), for rings whose kernel side
/// belongs to one thread (IORING_SETUP_SINGLE_ISSUER).
pub fn thread_alive_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    struct Alive(Arc<AtomicBool>);
    impl Drop for Alive {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    thread_local! {
        static ALIVE: Alive = Alive(Arc::new(AtomicBool::new(true)));
    }
    ALIVE
        .try_with(|a| a.0.clone())
        .unwrap_or_else(|_| Arc::new(AtomicBool::new(false)))
}

/// Distance helpers, kept free of the ring so the u32 wrap can be unit-tested.
pub mod index {
    /// Entries between `head` and `tail` of a free-running u32 ring index.
    pub fn distance(head: u32, tail: u32) -> u32 {
        tail.wrapping_sub(head)
    }
    /// Whether `pos` lies in `[head, tail)`.
    pub fn within(pos: u32, head: u32, tail: u32) -> bool {
        pos.wrapping_sub(head) < tail.wrapping_sub(head)
    }
}

#[cfg(test)]
mod tests {
    use super::index::*;
    use super::*;

    #[test]
    fn distance_wraps_around_u32() {
        assert_eq!(distance(u32::MAX - 1, 2), 4);
        assert_eq!(distance(5, 5), 0);
        assert_eq!(distance(u32::MAX, 0), 1);
    }

    #[test]
    fn within_wraps_around_u32() {
        assert!(within(u32::MAX, u32::MAX - 1, 3));
        assert!(within(0, u32::MAX - 1, 3));
        assert!(within(2, u32::MAX - 1, 3));
        assert!(!within(3, u32::MAX - 1, 3));
        assert!(!within(u32::MAX - 2, u32::MAX - 1, 3));
        assert!(!within(7, 7, 7));
    }

    fn ring(entries: u32) -> Option<RawRing> {
        let mut p = Params::default();
        match RawRing::setup(entries, &mut p) {
            Ok(r) => Some(r),
            Err(SetupError::Setup(e)) if e == libc::ENOSYS || e == libc::EPERM => None,
            Err(e) => panic!("setup failed: {e:?}"),
        }
    }

    #[test]
    fn nops_through_a_wrapping_ring() {
        let Some(r) = ring(4) else { return };
        let mut q = SqState::default();
        let mut seen = 0u64;
        for round in 0..3000u64 {
            for k in 0..3u64 {
                let (_, sqe) = r.get_sqe(&mut q).expect("space");
                sqe.opcode = sys::IORING_OP_NOP;
                sqe.user_data = round * 3 + k;
            }
            let n = r.flush_sq(&mut q);
            assert_eq!(r.enter(n, 3, sys::IORING_ENTER_GETEVENTS, None), Ok(3));
            assert_eq!(r.cq_ready(), 3);
            for i in 0..3 {
                let c = r.cqe(i);
                assert_eq!(c.user_data, seen);
                assert_eq!(c.res, 0);
                seen += 1;
            }
            r.cq_advance(3);
        }
        assert_eq!(r.cq_ready(), 0);
    }

    #[test]
    fn full_sq_refuses_and_changes_nothing() {
        let Some(r) = ring(2) else { return };
        let mut q = SqState::default();
        assert!(r.get_sqe(&mut q).is_some());
        assert!(r.get_sqe(&mut q).is_some());
        assert!(r.get_sqe(&mut q).is_none());
        assert_eq!(q.sqe_tail, 2);
        assert_eq!(r.sq_space_left(&q), 0);
    }
}
