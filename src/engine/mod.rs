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
}

/// A ring, its private SQ indexes and its in-flight ops: everything a
/// client guards with one lock.
pub struct Engine<K: Hold> {
    pub raw: Arc<RawRing>,
    pub sq: SqState,
    pub slots: Slots<K>,
}

impl<K: Hold> Engine<K> {
    pub fn new(raw: RawRing) -> Engine<K> {
        Engine {
            raw: Arc::new(raw),
            sq: SqState::default(),
            slots: Slots::default(),
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
    /// `Step::Last` (the op is finished; its keep is handed over). Foreign
    /// and internal completions are skipped. For clients whose ops carry
    /// their continuation in `K` (the event loop). Returns the CQEs seen.
    pub fn reap_ops(&mut self, max: usize, mut f: impl FnMut(&sys::Cqe, Step<'_, K>)) -> u32 {
        let n = (self.raw.cq_ready() as usize).min(max) as u32;
        for i in 0..n {
            let c = self.raw.cqe(i);
            match self.slots.origin(&c) {
                Origin::Op {
                    index, last: false, ..
                } => f(&c, Step::More(&mut self.slots.slot_at(index).keep)),
                Origin::Op {
                    index, last: true, ..
                } => {
                    let k = self.slots.finish_at(index, &c);
                    f(&c, Step::Last(k));
                }
                Origin::Internal | Origin::Foreign => {}
            }
        }
        self.raw.cq_advance(n);
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
    /// ends it at once.
    pub fn drain(
        &mut self,
        grace: std::time::Duration,
        mut settle: impl FnMut(Vec<Completion>, Vec<K>),
        mut wait: impl FnMut(&RawRing, u32, u32, Option<sys::KernelTimespec>) -> Result<u32, i32>,
    ) -> bool {
        use std::time::{Duration, Instant};
        let ext_arg = self.raw.features & sys::IORING_FEAT_EXT_ARG != 0;
        let mut dead = Vec::new();
        self.release_unpublished(&mut dead);
        settle(Vec::new(), dead);
        let deadline = Instant::now() + grace;
        let mut cancel_sent_at: Option<Instant> = None;
        loop {
            let (mut out, mut dead) = (Vec::new(), Vec::new());
            self.reap(usize::MAX, true, &mut out, &mut dead);
            let live = self.slots.live();
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
            if wait(&raw, pending, flags, ts) == Err(libc::EEXIST) {
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

    fn engine(entries: u32) -> Option<Engine<()>> {
        let mut p = sys::Params::default();
        RawRing::setup(entries, &mut p).ok().map(Engine::new)
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
