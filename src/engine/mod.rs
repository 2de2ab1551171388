//! The ring engine: io_uring as liburing does it, in plain Rust over raw
//! syscalls, with no Python in it. Its clients are the Python API
//! (`py`) and the event loop (`event_loop`); it uses nothing
//! of theirs.
//!
//! - [`sys`]: the kernel ABI (structs checked against the kernel's sizes and
//!   offsets, constants) and the three raw syscalls.
//! - [`ring`]: setup, the three mappings, the memory-ordered SQ and CQ
//!   indexes, `enter` and `register`.
//! - [`slots`]: per-op ownership and the tokens the kernel sees as
//!   user_data, generic over what a client keeps alive (`Hold`).
//! - [`prep`]: SQE builders, one short function per op, liburing's shape.
//! - [`bufring`]: provided-buffer ring memory (`IORING_REGISTER_PBUF_RING`).
//! - [`Engine`] (here): a ring with its SQ state and slots, the unit a
//!   client locks: queue an op, reap completions, aim cancels.
//!
//! The unsafe surface, each block with its SAFETY note (tests aside):
//! 1. `sys::io_uring_setup` / `io_uring_enter` / `io_uring_register`: raw
//!    syscalls; the pointers passed point to live memory for the call.
//!    `io_uring_enter`, `io_uring_register` and `RawRing::register` are
//!    `unsafe fn`s: their caller vouches for the argument pointer.
//! 2. `ring::Mapping`: mmap/madvise/munmap of the SQ ring, CQ ring and SQE
//!    array, and typed pointers into them at offsets the kernel gave.
//! 3. `ring::RawRing`: the masks read and the SQ array filled once at
//!    setup; atomic loads/stores of the kernel-shared head, tail and flags
//!    words; SQE writes and CQE reads at masked indexes; closing its fd (on
//!    a failed setup, and on drop).
//! 4. `bufring`: `AnonMap` (mmap/madvise/munmap of a buffer ring's memory),
//!    `BufRingMem`'s buffer addresses, descriptor writes, release-ordered
//!    tail store and `Send`/`Sync`.
//! 5. `slots::TokenKey::random`: `getrandom` into a local array.
//! 6. `ring::RawRing`'s `Send`/`Sync`: the pointers are to its own mappings,
//!    shared words are atomics, the rest is touched under the client's lock.
//!
//! Safe to call but trusted: [`prep`]'s builders write addresses the kernel
//! will read or write. A client queues an op only with memory its slot keeps
//! alive (its `Hold`, or the slot's scratch) until the final completion.

pub mod bufring;
pub mod prep;
pub mod ring;
pub mod slots;
pub mod sys;

use std::sync::Arc;

pub use ring::{RawRing, SetupError, SqState};
pub use slots::{Hold, MessageLink, OnDone, Origin, Slot, Slots, TokenKey};

/// A completion as a client sees it: translated to the caller's user_data,
/// with what the ring knows of the op that produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub user_data: u64,
    pub res: i32,
    pub flags: u32,
    /// The provided-buffer group the op selected from, when the completion
    /// is the op's own (never for a foreign completion).
    pub buf_group: Option<u16>,
    /// The op's successful completions are new fds (`Slot::makes_fd`).
    pub makes_fd: bool,
    /// Produced by one of this ring's ops (false: a foreign post).
    pub own: bool,
}

/// One CQE of a live op, as `Engine::reap_ops` hands it over.
pub enum Step<'a, K> {
    /// More completions follow (`IORING_CQE_F_MORE`): the op keeps `K`.
    More(&'a mut K),
    /// The op's final completion: its keep, now the client's.
    Last(K),
    /// Not one of this ring's ops: a relay ring's (see `RawRing::relay`),
    /// or a message from another ring.
    Foreign,
}

/// A ring, its private SQ indexes and its in-flight ops: everything a
/// client guards with one lock.
pub struct Engine<K: Hold> {
    pub raw: Arc<RawRing>,
    pub sq: SqState,
    pub slots: Slots<K>,
    /// The last SQE published by `flush_checked` has a link flag: until the
    /// kernel consumes it, the next SQEs continue its chain.
    tail_linked: bool,
}

/// A chain to record: its first SQ position and its SQEs' (token, flags).
pub type ChainSpec = (u32, Vec<(u64, u8)>);

/// The SQE flags that link an SQE to the next.
const LINKS: u8 = sys::IOSQE_IO_LINK | sys::IOSQE_IO_HARDLINK;

/// Why SQEs with `IOSQE_CQE_SKIP_SUCCESS` may not be published (or
/// submitted) as they are: the ring could not tell when the kernel is done
/// with a skipped op's memory. Each names the op (its user_data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainError {
    /// The ring uses `IORING_SETUP_SQPOLL`.
    Sqpoll { user_data: u64 },
    /// A skipped op without `IOSQE_IO_LINK` / `IOSQE_IO_HARDLINK`: it ends
    /// its chain, so no later CQE would tell it is done.
    Unlinked { user_data: u64 },
    /// A chain with a skipped op holds an `IORING_OP_LINK_TIMEOUT`, whose
    /// CQE can come before the op it times out has finished.
    LinkTimeout { user_data: u64 },
    /// A skipped op follows an op of its chain without the flag (`flushed`:
    /// that op was published by an earlier flush).
    NotLeading { user_data: u64, flushed: bool },
    /// A chain's first (skipped) op uses `IOSQE_IO_HARDLINK`.
    HardHead { user_data: u64 },
    /// A skipped op would make a new fd (not a direct descriptor): nobody
    /// would ever learn its number, to use or close it.
    LosesFd { user_data: u64 },
    /// The SQEs end before the chain with this skipped op does.
    Open { user_data: u64 },
    /// Submitting `to_submit` SQEs would end inside the chain starting with
    /// this op; `need` would take all of it.
    Split {
        user_data: u64,
        to_submit: u32,
        need: u32,
    },
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ChainError::Sqpoll { user_data } => write!(
                f,
                "IOSQE_CQE_SKIP_SUCCESS (op with user_data={user_data}) is not supported on a ring \
                 set up with IORING_SETUP_SQPOLL: the kernel thread submits on its own, and the \
                 ring could not tell if it split a chain; clear the flag"
            ),
            ChainError::Unlinked { user_data } => write!(
                f,
                "IOSQE_CQE_SKIP_SUCCESS (op with user_data={user_data}) needs IOSQE_IO_LINK: a \
                 skipped op must be linked to a later op without the flag, whose completion tells \
                 the ring it is done (it cannot be the last op of a chain); add IOSQE_IO_LINK and \
                 queue that op, or clear the flag"
            ),
            ChainError::LinkTimeout { user_data } => write!(
                f,
                "IOSQE_CQE_SKIP_SUCCESS is not supported in a chain with IORING_OP_LINK_TIMEOUT \
                 (op with user_data={user_data}): a linked timeout completes before the op it \
                 times out may have finished"
            ),
            ChainError::NotLeading {
                user_data,
                flushed: false,
            } => write!(
                f,
                "IOSQE_CQE_SKIP_SUCCESS (op with user_data={user_data}) is only supported on the \
                 leading ops of a chain: this one follows an op of its chain without the flag; \
                 put the skipped ops first, or clear the flag"
            ),
            ChainError::NotLeading {
                user_data,
                flushed: true,
            } => write!(
                f,
                "IOSQE_CQE_SKIP_SUCCESS (op with user_data={user_data}) is only supported on the \
                 leading ops of a chain: this one continues a chain begun by an op flushed \
                 earlier with IOSQE_IO_LINK; submit that chain before queueing this one, or clear \
                 the flag"
            ),
            ChainError::HardHead { user_data } => write!(
                f,
                "IOSQE_CQE_SKIP_SUCCESS on the first op of a chain (user_data={user_data}) needs \
                 IOSQE_IO_LINK, not IOSQE_IO_HARDLINK: if that op failed, the ring could not tell \
                 whether the rest of the chain still runs (later skipped ops may use \
                 IOSQE_IO_HARDLINK)"
            ),
            ChainError::LosesFd { user_data } => write!(
                f,
                "IOSQE_CQE_SKIP_SUCCESS is not supported on an op that makes a new file \
                 descriptor (user_data={user_data}): its number comes only in the completion the \
                 flag suppresses, so it could never be used or closed; open into the fixed file \
                 table (a direct descriptor) instead, or clear the flag"
            ),
            ChainError::Open { user_data } => write!(
                f,
                "the chain with IOSQE_CQE_SKIP_SUCCESS (op with user_data={user_data}) is not \
                 finished: queue the op that ends it (one without IOSQE_IO_LINK and without \
                 IOSQE_CQE_SKIP_SUCCESS) before submit() or flush_sq(), or clear the flag; \
                 nothing was submitted"
            ),
            ChainError::Split {
                user_data,
                to_submit,
                need,
            } => write!(
                f,
                "to_submit={to_submit} would end inside a chain with IOSQE_CQE_SKIP_SUCCESS \
                 (starting with the op with user_data={user_data}): the kernel must see the whole \
                 chain at once; submit at least {need}"
            ),
        }
    }
}

impl<K: Hold> Engine<K> {
    pub fn new(raw: RawRing) -> Engine<K> {
        Engine {
            raw: Arc::new(raw),
            sq: SqState::default(),
            slots: Slots::default(),
            tail_linked: false,
        }
    }

    /// Checks the chains of the unpublished SQEs that hold an op with
    /// `IOSQE_CQE_SKIP_SUCCESS` (only when `slots.skip_queued` says one may),
    /// and returns them as (first SQ position, [(token, flags)]). Accepted:
    /// a chain that starts with one or more skipped ops, each linked to the
    /// next, the first with `IOSQE_IO_LINK` (not `IOSQE_IO_HARDLINK`),
    /// followed by one or more ops without the flag, the last of which ends
    /// the chain, and no `IORING_OP_LINK_TIMEOUT`; not on an SQPOLL ring,
    /// and not on an op that makes a new fd (`Slot::makes_fd`).
    /// For these shapes, `Slots::settle_chain`'s rules are exact (see there;
    /// the kernel behaviours are tested in tests/test_skip_success.py).
    /// With `allow_open`, the last chain may still be unfinished (more SQEs
    /// are coming before the flush).
    ///
    /// Why the first skipped op must lead its chain and be soft-linked: when
    /// a chain fails at submission (an op's arguments refused), the kernel
    /// posts the CQE of the chain's first op only if that op has the flag,
    /// and the CQEs of every op otherwise, so a skipped op after an op
    /// without the flag, or a hard-linked first one, would post a failure
    /// CQE that leaves open whether the rest of its chain still runs, or
    /// will post CQEs.
    pub fn check_chains(&mut self, allow_open: bool) -> Result<Vec<ChainSpec>, ChainError> {
        let mut out = Vec::new();
        if !self.slots.skip_queued {
            debug_assert!(
                self.unpublished_skip().is_none(),
                "an SQE with IOSQE_CQE_SKIP_SUCCESS was queued without slots.skip_queued"
            );
            return Ok(out);
        }
        let sqpoll = self.raw.flags & sys::IORING_SETUP_SQPOLL != 0;
        // The first SQEs continue the last published one's chain if that
        // one is linked and the kernel has not consumed it yet (a chain the
        // kernel consumed ends with its submission).
        let mut continued = self.tail_linked && self.raw.sq_head() != self.sq.sqe_head;
        let mut seen_plain = continued;
        let mut skip_head: Option<u64> = None;
        let mut start = self.sq.sqe_head;
        let mut cur: Vec<(u64, u8)> = Vec::new();
        let mut pos = self.sq.sqe_head;
        while let Some(sqe) = self.raw.sqe_at(&mut self.sq, pos) {
            let (flags, opcode, token) = (sqe.flags, sqe.opcode, sqe.user_data);
            let slot = self.slots.get(token);
            let user_data = slot.map_or(token, |s| s.user_data);
            let makes_fd = slot.is_some_and(|s| s.makes_fd);
            let linked = flags & LINKS != 0;
            if flags & sys::IOSQE_CQE_SKIP_SUCCESS != 0 {
                if sqpoll {
                    return Err(ChainError::Sqpoll { user_data });
                }
                if opcode == sys::IORING_OP_LINK_TIMEOUT {
                    return Err(ChainError::LinkTimeout { user_data });
                }
                if !linked {
                    return Err(ChainError::Unlinked { user_data });
                }
                if makes_fd {
                    return Err(ChainError::LosesFd { user_data });
                }
                if seen_plain {
                    return Err(ChainError::NotLeading {
                        user_data,
                        flushed: continued && cur.is_empty(),
                    });
                }
                if cur.is_empty() && flags & sys::IOSQE_IO_HARDLINK != 0 {
                    return Err(ChainError::HardHead { user_data });
                }
                skip_head.get_or_insert(user_data);
            } else {
                if skip_head.is_some() && opcode == sys::IORING_OP_LINK_TIMEOUT {
                    return Err(ChainError::LinkTimeout { user_data });
                }
                seen_plain = true;
            }
            cur.push((token, flags));
            pos = pos.wrapping_add(1);
            if !linked {
                if skip_head.is_some() {
                    out.push((start, std::mem::take(&mut cur)));
                } else {
                    cur.clear();
                }
                start = pos;
                skip_head = None;
                seen_plain = false;
                continued = false;
            }
        }
        match skip_head {
            Some(user_data) if !allow_open => Err(ChainError::Open { user_data }),
            _ => Ok(out),
        }
    }

    /// The user_data of an unpublished SQE with `IOSQE_CQE_SKIP_SUCCESS`.
    fn unpublished_skip(&mut self) -> Option<u64> {
        let mut pos = self.sq.sqe_head;
        while let Some(sqe) = self.raw.sqe_at(&mut self.sq, pos) {
            if sqe.flags & sys::IOSQE_CQE_SKIP_SUCCESS != 0 {
                return Some(sqe.user_data);
            }
            pos = pos.wrapping_add(1);
        }
        None
    }

    /// Publishes the queued SQEs (`RawRing::flush_sq`) once their chains
    /// pass `check_chains`, recording those with skipped ops; returns how
    /// many SQEs the kernel has yet to consume. On an error nothing is
    /// published (or changed).
    pub fn flush_checked(&mut self) -> Result<u32, ChainError> {
        if self.sq.sqe_head != self.sq.sqe_tail {
            let chains = self.check_chains(false)?;
            for (start, members) in &chains {
                self.slots.link_chain(*start, members);
            }
            self.slots.skip_queued = false;
            let last = self.sq.sqe_tail.wrapping_sub(1);
            self.tail_linked = self
                .raw
                .sqe_at(&mut self.sq, last)
                .is_some_and(|s| s.flags & LINKS != 0);
        }
        Ok(self.raw.flush_sq(&mut self.sq))
    }

    /// Refuses an `io_uring_enter` with `to_submit` that would end inside a
    /// published chain with a skipped op: the kernel would run the two parts
    /// as separate chains.
    pub fn check_cut(&self, to_submit: u32) -> Result<(), ChainError> {
        if !self.slots.has_unconsumed_chains() {
            return Ok(());
        }
        let (head, tail) = (self.raw.sq_head(), self.sq.sqe_head);
        if to_submit >= tail.wrapping_sub(head) {
            return Ok(());
        }
        let cut = head.wrapping_add(to_submit);
        let age = |x: u32| tail.wrapping_sub(x);
        for (start, end, user_data) in self.slots.unconsumed_chains() {
            if age(end) < age(cut) && age(cut) < age(start) {
                return Err(ChainError::Split {
                    user_data,
                    to_submit,
                    need: end.wrapping_sub(head),
                });
            }
        }
        Ok(())
    }

    /// After an `io_uring_enter` that submitted (made under the client's
    /// lock, so nothing else consumed meanwhile): notes how far the kernel
    /// consumed, splitting a chain it stopped inside (`Slots::split_chains`).
    pub fn note_consumed(&mut self) {
        if self.slots.has_unconsumed_chains() {
            let head = self.raw.sq_head();
            self.slots.split_chains(head, self.sq.sqe_head);
        }
    }

    /// Queues one SQE: takes an SQ entry and a slot for `keep`, lets `prep`
    /// fill the SQE (and the slot's scratch memory); returns the SQE's
    /// position and its token. When the SQ is full nothing is queued and
    /// `keep` comes back (boxed: the refusal is the rare path).
    pub fn queue(
        &mut self,
        user_data: u64,
        opcode: u8,
        keep: K,
        prep: impl FnOnce(&mut sys::Sqe, &mut Slot<K>),
    ) -> Result<(u32, u64), Box<K>> {
        let Some((pos, sqe)) = self.raw.get_sqe(&mut self.sq) else {
            return Err(Box::new(keep));
        };
        let (slot, token) = self.slots.alloc_slot(user_data, opcode, keep);
        sqe.opcode = opcode;
        sqe.user_data = token;
        prep(sqe, slot);
        debug_assert_eq!(sqe.opcode, opcode, "the builder's opcode is the slot's");
        slot.note_sqe(sqe);
        Ok((pos, token))
    }

    /// Free SQ entries.
    pub fn space_left(&self) -> u32 {
        self.raw.sq_space_left(&self.sq)
    }

    /// One CQE as the caller sees it (None for the ring's internal ops);
    /// when `consume`, a final completion releases its op's slot into
    /// `dead`. Only a completion the token proves to be a live op's own
    /// releases anything.
    #[inline]
    pub fn translate(
        slots: &mut Slots<K>,
        c: &sys::Cqe,
        consume: bool,
        dead: &mut Vec<K>,
    ) -> Option<Completion> {
        match slots.origin(c) {
            Origin::Internal => None,
            Origin::Foreign => Some(Completion {
                user_data: c.user_data,
                res: c.res,
                flags: c.flags,
                buf_group: None,
                makes_fd: false,
                own: false,
            }),
            Origin::Op {
                index,
                user_data,
                last,
            } => {
                let slot = slots.slot_at(index);
                let (buf_group, makes_fd) = (slot.buf_group, slot.makes_fd);
                if consume && slots.in_chain(index) {
                    slots.settle_chain(index, last, dead);
                }
                if consume && last {
                    let k = slots.finish_at(index, c);
                    if !k.is_empty() {
                        dead.push(k);
                    }
                }
                Some(Completion {
                    user_data,
                    res: c.res,
                    flags: c.flags,
                    buf_group,
                    makes_fd,
                    own: true,
                })
            }
        }
    }

    /// Copies up to `max` ready CQEs, translated, into `out`; when
    /// `consume`, advances the CQ and releases finished slots into `dead`.
    /// Returns how many CQ entries it went through.
    pub fn reap(
        &mut self,
        max: usize,
        consume: bool,
        out: &mut Vec<Completion>,
        dead: &mut Vec<K>,
    ) -> u32 {
        let n = (self.raw.cq_ready() as usize).min(max) as u32;
        for i in 0..n {
            let c = self.raw.cqe(i);
            if let Some(r) = Self::translate(&mut self.slots, &c, consume, dead) {
                out.push(r);
            }
        }
        if consume {
            self.raw.cq_advance(n);
        }
        n
    }

    /// Consumes up to `max` ready CQEs, handing each to `f` with what its op
    /// keeps: `Step::More` (the op goes on; its keep stays in the slot) or
    /// `Step::Last` (the op is finished; its keep is handed over), or
    /// `Step::Foreign`; internal completions are skipped. For clients whose ops carry
    /// their continuation in `K` (the event loop). Returns the CQEs seen.
    pub fn reap_ops(&mut self, max: usize, mut f: impl FnMut(&sys::Cqe, Step<'_, K>)) -> u32 {
        let n = (self.raw.cq_ready() as usize).min(max) as u32;
        // Chain members a CQE settles (a client of this call records no
        // chains, but a chain's rules hold all the same).
        let mut settled = Vec::new();
        for i in 0..n {
            let c = self.raw.cqe(i);
            let origin = self.slots.origin(&c);
            if let Origin::Op { index, last, .. } = origin {
                if self.slots.in_chain(index) {
                    self.slots.settle_chain(index, last, &mut settled);
                }
            }
            match origin {
                Origin::Op {
                    index, last: false, ..
                } => f(&c, Step::More(&mut self.slots.slot_at(index).keep)),
                Origin::Op {
                    index, last: true, ..
                } => {
                    let k = self.slots.finish_at(index, &c);
                    f(&c, Step::Last(k));
                }
                Origin::Foreign => f(&c, Step::Foreign),
                Origin::Internal => {}
            }
        }
        self.raw.cq_advance(n);
        drop(settled);
        n
    }

    /// The tokens of in-flight ops with `user_data` and one of `opcodes`
    /// (any opcode when empty), for ops that name a target.
    ///
    /// Ops whose final completion is already in the CQ (finished, not yet
    /// consumed) are not targets: a cancel aimed at them could only fail,
    /// while another in-flight op with the same user_data may be meant.
    pub fn find_targets(&self, user_data: u64, opcodes: &[u8]) -> Vec<u64> {
        let mut found = self.slots.find(user_data, opcodes);
        if !found.is_empty() {
            let done: Vec<u64> = (0..self.raw.cq_ready())
                .map(|i| self.raw.cqe(i))
                .filter(|c| c.flags & sys::IORING_CQE_F_MORE == 0)
                .map(|c| c.user_data)
                .collect();
            found.retain(|t| !done.contains(t));
        }
        found
    }

    /// Releases the ops queued but never published (the kernel never saw
    /// them) into `dead`, and forgets their SQ entries.
    pub fn release_unpublished(&mut self, dead: &mut Vec<K>) {
        if self.raw.is_relay() {
            // Flushed but not yet taken by the host: never seen by a kernel.
            let mut pos = self.raw.sq_head();
            while pos != self.sq.sqe_head {
                if let Some(sqe) = self.raw.relay_peek(pos) {
                    dead.extend(self.slots.release(sqe.user_data));
                }
                pos = pos.wrapping_add(1);
            }
        }
        let mut pos = self.sq.sqe_head;
        while let Some(sqe) = self.raw.sqe_at(&mut self.sq, pos) {
            dead.extend(self.slots.release(sqe.user_data));
            pos = pos.wrapping_add(1);
        }
        self.sq.sqe_tail = self.sq.sqe_head;
    }

    /// The close-time drain: forgets the ops never published, then cancels
    /// everything in flight (again every 100 ms) and reaps until nothing is
    /// in flight or `grace` runs out. Each batch of reaped completions and the
    /// keeps they released go to `settle`; `wait(raw, to_submit, flags, ts)`
    /// is the blocking `io_uring_enter` (a client releases its interpreter
    /// lock around it). Returns whether every op was confirmed finished;
    /// if not, the slots are leaked (never freed: the kernel may still write
    /// into what they keep). EEXIST from the wait (a SINGLE_ISSUER ring whose
    /// issuer thread exited: the kernel refuses every other thread for good)
    /// ends it at once. `others` says how many ops of relay rings hosted
    /// here are still in flight (the cancel reaches them too, and their
    /// completions come to `settle` as foreign ones): the drain waits for
    /// them as well.
    ///
    /// A relay ring's own drain releases what its host never took and
    /// leaks the rest (it cannot wait: its host reaps for it).
    pub fn drain(
        &mut self,
        grace: std::time::Duration,
        mut settle: impl FnMut(Vec<Completion>, Vec<K>),
        mut wait: impl FnMut(&RawRing, u32, u32, Option<sys::KernelTimespec>) -> Result<u32, i32>,
        mut others: impl FnMut() -> usize,
    ) -> bool {
        use std::time::{Duration, Instant};
        let ext_arg = self.raw.features & sys::IORING_FEAT_EXT_ARG != 0;
        let mut dead = Vec::new();
        self.release_unpublished(&mut dead);
        settle(Vec::new(), dead);
        if self.raw.is_relay() {
            if self.slots.live() > 0 {
                std::mem::forget(self.slots.take_all());
                return false;
            }
            return true;
        }
        let deadline = Instant::now() + grace;
        let mut cancel_sent_at: Option<Instant> = None;
        loop {
            let (mut out, mut dead) = (Vec::new(), Vec::new());
            self.reap(usize::MAX, true, &mut out, &mut dead);
            let live = self.slots.live() + others();
            let resend = cancel_sent_at.is_none_or(|t| t.elapsed() > Duration::from_millis(100));
            if live > 0 && resend && self.queue_cancel_all() {
                cancel_sent_at = Some(Instant::now());
            }
            let pending = self.raw.flush_sq(&mut self.sq);
            settle(out, dead);
            if live == 0 || Instant::now() >= deadline {
                break;
            }
            let mut flags = sys::IORING_ENTER_GETEVENTS;
            self.raw.sq_ring_needs_enter(&mut flags);
            let ts = ext_arg.then_some(sys::KernelTimespec {
                tv_sec: 0,
                tv_nsec: 20_000_000,
            });
            let raw = self.raw.clone();
            let r = wait(&raw, pending, flags, ts);
            self.note_consumed();
            if r == Err(libc::EEXIST) {
                break;
            }
        }
        if self.slots.live() > 0 {
            std::mem::forget(self.slots.take_all());
            return false;
        }
        true
    }

    /// Queues the close-time cancel of everything in flight (internal
    /// token); false if the SQ is full.
    pub fn queue_cancel_all(&mut self) -> bool {
        let token = self.slots.internal(slots::INTERNAL_CANCEL);
        match self.raw.get_sqe(&mut self.sq) {
            Some((_, sqe)) => {
                prep::cancel_any(sqe);
                sqe.user_data = token;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_ring_hands_flushed_sqes_to_its_host_in_order() {
        let raw = RawRing::relay(4, 0, None).expect("anonymous memory");
        assert!(raw.is_relay());
        assert_eq!(raw.enter(0, 0, 0, None), Err(ring::RELAY_ENTER));
        let mut e: Engine<()> = Engine::new(raw);
        nops(&mut e, &[LINK, 0, 0]);
        // Not flushed yet: the host sees nothing.
        assert_eq!(e.raw.relay_take(|_| true), 0);
        e.raw.flush_sq(&mut e.sq);
        assert_eq!(e.space_left(), 1);
        let mut seen = Vec::new();
        // The host stops where it has no room: what it did not take stays.
        let took = e.raw.relay_take(|s| {
            seen.push((s.opcode, s.flags));
            seen.len() < 2
        });
        assert_eq!(took, 1);
        assert_eq!(seen[0], (sys::IORING_OP_NOP, LINK));
        assert!(e.raw.relay_peek(e.raw.sq_head()).is_some());
        assert_eq!(e.raw.relay_take(|_| true), 2);
        assert_eq!(e.space_left(), 4);
        assert!(e.raw.relay_peek(e.raw.sq_head()).is_none());
        // Three slots live (the host reaps for the relay), never released by
        // a drain that cannot wait: they are leaked, not freed.
        assert_eq!(e.slots.live(), 3);
        let done = e.drain(
            std::time::Duration::from_millis(10),
            |_, _| {},
            |_, _, _, _| Ok(0),
            || 0,
        );
        assert!(!done);
    }

    fn engine(entries: u32) -> Option<Engine<()>> {
        let mut p = sys::Params::default();
        RawRing::setup(entries, &mut p).ok().map(Engine::new)
    }

    const SKIP: u8 = sys::IOSQE_CQE_SKIP_SUCCESS;
    const LINK: u8 = sys::IOSQE_IO_LINK;
    const HARD: u8 = sys::IOSQE_IO_HARDLINK;

    /// Queues NOPs with these flags (user_data 0, 1, ...), as a client that
    /// sets `IOSQE_CQE_SKIP_SUCCESS` does (telling the slots).
    fn nops(e: &mut Engine<()>, flags: &[u8]) {
        for (i, &f) in flags.iter().enumerate() {
            e.queue(i as u64, sys::IORING_OP_NOP, (), |sqe, _| {
                prep::nop(sqe);
                prep::set_flags(sqe, f);
            })
            .unwrap();
        }
        e.slots.skip_queued = true;
    }

    /// Flushes, submits everything and reaps what completes.
    fn run(e: &mut Engine<()>, expect: u32) -> Vec<(u64, i32)> {
        let n = e.flush_checked().unwrap();
        let _ = e.raw.enter(n, expect, sys::IORING_ENTER_GETEVENTS, None);
        e.note_consumed();
        let (mut out, mut dead) = (Vec::new(), Vec::new());
        e.reap(usize::MAX, true, &mut out, &mut dead);
        out.iter().map(|c| (c.user_data, c.res)).collect()
    }

    #[test]
    fn check_chains_accepts_leading_skipped_ops_and_refuses_the_rest() {
        let Some(mut e) = engine(16) else {
            return;
        };
        let cases: &[(&[u8], Option<&str>)] = &[
            (&[SKIP | LINK, 0], None),
            (&[SKIP | LINK, SKIP | HARD, LINK, 0], None),
            (&[0, SKIP | LINK, 0], None),
            (&[SKIP | LINK], Some("Open")),
            (&[SKIP | HARD, 0], Some("HardHead")),
            (&[LINK, SKIP | LINK, 0], Some("NotLeading")),
            (&[SKIP | LINK, LINK, SKIP | LINK, 0], Some("NotLeading")),
            (&[SKIP, 0], Some("Unlinked")),
            (&[LINK, SKIP], Some("Unlinked")),
        ];
        for (flags, want) in cases {
            nops(&mut e, flags);
            let got = e.flush_checked().err().map(|err| format!("{err:?}"));
            match (want, &got) {
                (None, None) => {}
                (Some(w), Some(g)) => assert!(g.starts_with(w), "{flags:?}: {g}"),
                _ => panic!("{flags:?}: wanted {want:?}, got {got:?}"),
            }
            if got.is_some() {
                assert_ne!(e.sq.sqe_head, e.sq.sqe_tail, "a refusal publishes nothing");
                let mut dead = Vec::new();
                e.release_unpublished(&mut dead);
            } else {
                let n = e.raw.sq_ready(&e.sq);
                let _ = e.raw.enter(n, 0, 0, None);
                e.note_consumed();
                std::thread::sleep(std::time::Duration::from_millis(20));
                let (mut out, mut dead) = (Vec::new(), Vec::new());
                e.reap(usize::MAX, true, &mut out, &mut dead);
                assert_eq!(e.slots.live(), 0, "{flags:?}");
            }
        }
        // A skipped op cannot continue a chain begun by a flushed op.
        nops(&mut e, &[LINK]);
        e.flush_checked().unwrap();
        nops(&mut e, &[SKIP | LINK, 0]);
        let err = e.flush_checked().unwrap_err();
        assert!(
            matches!(err, ChainError::NotLeading { flushed: true, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_skipped_nop_chain_posts_only_the_tail_and_frees_every_slot() {
        let Some(mut e) = engine(8) else {
            return;
        };
        nops(&mut e, &[SKIP | LINK, SKIP | LINK, 0]);
        assert_eq!(run(&mut e, 1), vec![(2, 0)]);
        assert_eq!(e.slots.live(), 0);
        assert!(!e.slots.has_unconsumed_chains());
    }

    #[test]
    fn a_failed_skipped_op_posts_its_error_and_the_kernel_silences_the_rest() {
        let Some(mut e) = engine(8) else {
            return;
        };
        let buf = [0u8; 4];
        let addr = buf.as_ptr() as u64;
        e.queue(7, sys::IORING_OP_WRITE, (), |sqe, _| {
            prep::write(sqe, -1, addr, 4, 0);
            prep::set_flags(sqe, SKIP | LINK);
        })
        .unwrap();
        e.queue(8, sys::IORING_OP_NOP, (), |sqe, _| prep::nop(sqe))
            .unwrap();
        e.slots.skip_queued = true;
        let got = run(&mut e, 1);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (mut out, mut dead) = (Vec::new(), Vec::new());
        e.reap(usize::MAX, true, &mut out, &mut dead);
        assert_eq!(got, vec![(7, -libc::EBADF)]);
        assert!(out.is_empty(), "the tail's CQE is suppressed: {out:?}");
        assert_eq!(e.slots.live(), 0);
    }

    #[test]
    fn check_cut_refuses_a_submission_ending_inside_a_chain() {
        let Some(mut e) = engine(8) else {
            return;
        };
        nops(&mut e, &[0, SKIP | LINK, SKIP | LINK, 0]);
        e.flush_checked().unwrap();
        assert!(e.check_cut(1).is_ok());
        assert!(matches!(
            e.check_cut(2),
            Err(ChainError::Split {
                user_data: 1,
                need: 4,
                ..
            })
        ));
        assert!(e.check_cut(3).is_err());
        assert!(e.check_cut(4).is_ok() && e.check_cut(100).is_ok());
        // Cut anyway (as a kernel that stops early would): the parts are
        // separate chains, and the tail's CQE frees nothing of the first.
        assert_eq!(e.raw.enter(3, 0, 0, None), Ok(3));
        e.note_consumed();
        assert_eq!(e.raw.enter(1, 1, sys::IORING_ENTER_GETEVENTS, None), Ok(1));
        e.note_consumed();
        let (mut out, mut dead) = (Vec::new(), Vec::new());
        e.reap(usize::MAX, true, &mut out, &mut dead);
        let uds: Vec<u64> = out.iter().map(|c| c.user_data).collect();
        assert_eq!(uds, vec![0, 3]);
        assert_eq!(e.slots.live(), 2, "the cut-off skipped ops are kept");
    }

    #[test]
    fn nops_complete_with_their_user_data() {
        let Some(mut e) = engine(8) else {
            eprintln!("io_uring unavailable here: skipped");
            return;
        };
        for ud in [1u64, 1, u64::MAX] {
            e.queue(ud, sys::IORING_OP_NOP, (), |sqe, _| prep::nop(sqe))
                .unwrap();
        }
        let n = e.raw.flush_sq(&mut e.sq);
        assert_eq!(e.raw.enter(n, 3, sys::IORING_ENTER_GETEVENTS, None), Ok(3));
        let (mut out, mut dead) = (Vec::new(), Vec::new());
        assert_eq!(e.reap(usize::MAX, true, &mut out, &mut dead), 3);
        let mut uds: Vec<u64> = out.iter().map(|c| c.user_data).collect();
        uds.sort();
        assert_eq!(uds, vec![1, 1, u64::MAX]);
        assert!(out.iter().all(|c| c.own && c.res == 0));
        assert_eq!(e.slots.live(), 0);
    }

    #[test]
    fn a_full_sq_hands_the_keep_back() {
        let Some(mut e) = engine(2) else {
            return;
        };
        for _ in 0..2 {
            e.queue(0, sys::IORING_OP_NOP, (), |sqe, _| prep::nop(sqe))
                .unwrap();
        }
        assert!(e
            .queue(0, sys::IORING_OP_NOP, (), |sqe, _| prep::nop(sqe))
            .is_err());
        let mut dead = Vec::new();
        e.release_unpublished(&mut dead);
        assert_eq!(e.slots.live(), 0);
        assert_eq!(e.space_left(), 2);
    }

    #[test]
    fn a_posted_value_is_foreign_and_releases_nothing() {
        let Some(mut e) = engine(8) else {
            return;
        };
        // A read that will not complete (an empty pipe), then a msg_ring
        // from the ring to itself carrying a forged value.
        let mut fds = [0i32; 2];
        // SAFETY: pipe writes two fds into the array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let mut buf = vec![0u8; 8];
        let addr = buf.as_mut_ptr() as u64;
        e.queue(5, sys::IORING_OP_READ, (), |sqe, _| {
            prep::read(sqe, fds[0], addr, 8, u64::MAX)
        })
        .unwrap();
        let fd = e.raw.fd;
        e.queue(6, sys::IORING_OP_MSG_RING, (), |sqe, _| {
            prep::msg_ring(sqe, fd, 0, 1 << 32, 0)
        })
        .unwrap();
        let n = e.raw.flush_sq(&mut e.sq);
        let _ = e.raw.enter(n, 2, sys::IORING_ENTER_GETEVENTS, None);
        let (mut out, mut dead) = (Vec::new(), Vec::new());
        e.reap(usize::MAX, true, &mut out, &mut dead);
        assert!(out.iter().any(|c| !c.own && c.user_data == 1 << 32) || out.len() == 1);
        assert!(out.iter().all(|c| c.user_data != 5));
        assert_eq!(e.slots.live(), 1, "the read is still in flight");
        // Let it finish before `buf` goes away.
        // SAFETY: writes one byte from a static buffer.
        unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) };
        let _ = e.raw.enter(0, 1, sys::IORING_ENTER_GETEVENTS, None);
        out.clear();
        e.reap(usize::MAX, true, &mut out, &mut dead);
        assert_eq!(
            out.iter().find(|c| c.user_data == 5).map(|c| c.res),
            Some(1)
        );
        assert_eq!(buf[0], b'x');
        // SAFETY: closing our own pipe fds.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
