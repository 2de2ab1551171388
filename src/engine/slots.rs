//! Per-op ownership and the tokens the kernel sees (no Python here).
//!
//! Owns: [`Slots`], the slab of in-flight ops, and the token scheme. May
//! not touch: the kernel (that is `ring.rs`) or any Python object; what a
//! client keeps alive for an op is its own type `K: Hold`.
//!
//! The kernel's `user_data` of every SQE is a *token* naming a slot
//! (index + generation), never the caller's value: callers may repeat
//! user_data freely, and a stale token (an op that already finished)
//! matches nothing, so a late cancel can never hit an unrelated op. The slot
//! carries the caller's user_data, what the client keeps alive, and a
//! scratch area of plain memory the kernel reads or writes (timespecs,
//! socket addresses, paths, iovecs).
//!
//! A CQE's user_data is not proof that one of our SQEs produced it:
//! `IORING_OP_MSG_RING` (from this process or any other holding the ring
//! fd) posts any value it likes. So a token is the slot's (index,
//! generation, check) passed through a keyed permutation of `u64` whose key
//! is drawn from the kernel's random source for each ring: a value nobody
//! read from this ring's own SQEs decodes to a check that fails, or to a
//! slot that is not live, and is reported as a *foreign* completion with its
//! value as posted; nothing is released on its account. A token from an
//! earlier ring with the same fd number means nothing to a later one.

use super::sys;

/// What a client keeps alive for one op until its final completion has been
/// consumed: buffers the kernel reads or writes, objects it points to.
/// Dropping it gives them up, so a client drops kept values only when the
/// kernel is done (and outside any lock, if dropping runs foreign code).
pub trait Hold: Default {
    /// Whether it keeps nothing (then the client may skip handling it).
    fn is_empty(&self) -> bool;
    /// Told the op's final `res` just before the slot is freed.
    fn finished(&mut self, _res: i32) {}
}

impl Hold for () {
    fn is_empty(&self) -> bool {
        true
    }
}

/// The far end of a message to another ring: who to tell when it was not
/// delivered.
pub struct MessageLink {
    pub undelivered: Box<dyn FnOnce() + Send + Sync>,
    pub delivered: bool,
}

impl Drop for MessageLink {
    fn drop(&mut self) {
        if !self.delivered {
            let f = std::mem::replace(&mut self.undelivered, Box::new(|| {}));
            f();
        }
    }
}

/// What the op's final completion does besides releasing its slot.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub enum OnDone {
    #[default]
    Nothing,
    /// A poll update (`IORING_POLL_UPDATE_USER_DATA`): on success, the
    /// target poll's later completions carry the new user_data.
    Retarget { target: u64, user_data: u64 },
}

/// One in-flight op; `K` is what the client keeps alive for it.
#[derive(Default)]
pub struct Slot<K> {
    pub user_data: u64,
    pub generation: u32,
    pub opcode: u8,
    pub live: bool,
    pub keep: K,
    /// The provided-buffer group the op selects from (`IOSQE_BUFFER_SELECT`),
    /// so a completion's buffer can be matched to its group.
    pub buf_group: Option<u16>,
    /// The op's successful completions are new file descriptors (openat,
    /// accept, socket into the fd table, not direct descriptors): a close
    /// that discards them unconsumed closes them.
    pub makes_fd: bool,
    pub on_done: OnDone,
    /// Plain memory the kernel uses through pointers in the SQE. Its heap
    /// buffer is stable while the slot is live (it is only resized when the
    /// slot is being prepared), and its capacity is reused across ops.
    pub scratch: Vec<u64>,
    /// Whether `scratch` was handed out for the current op.
    scratch_taken: bool,
}

impl<K> Slot<K> {
    /// `nbytes` of zeroed, 8-byte aligned scratch memory for the kernel.
    /// Call it once per op: a second call reuses (and may move) the same
    /// block, so an op needing several objects lays them out in one block.
    pub fn scratch(&mut self, nbytes: usize) -> *mut u8 {
        debug_assert!(!self.scratch_taken, "Slot::scratch called twice for one op");
        self.scratch_taken = true;
        self.scratch.clear();
        self.scratch.resize(nbytes.div_ceil(8), 0);
        self.scratch.as_mut_ptr().cast()
    }

    /// Records what the prepared SQE says about the op's completions.
    pub fn note_sqe(&mut self, sqe: &sys::Sqe) {
        self.buf_group = (sqe.flags & sys::IOSQE_BUFFER_SELECT != 0).then_some(sqe.buf_index);
        self.makes_fd = matches!(
            sqe.opcode,
            sys::IORING_OP_OPENAT
                | sys::IORING_OP_OPENAT2
                | sys::IORING_OP_ACCEPT
                | sys::IORING_OP_SOCKET
        ) && sqe.file_index == 0;
    }
}

/// How a CQE relates to this ring's ops.
pub enum Origin {
    /// Produced by the live op the token names: its slot index, its
    /// user_data, whether the completion is its last.
    Op {
        index: usize,
        user_data: u64,
        last: bool,
    },
    /// One of the ring's own internal ops (close-time cancels): not shown.
    Internal,
    /// Nothing this ring issued (a `msg_ring` post with a raw value, or a
    /// token of an op that already finished): reported with the value as
    /// posted, and nothing is released.
    Foreign,
}

/// Slot indexes at and above this are the ring's internal tokens.
const INTERNAL_BASE: u32 = 0xffff_ff00;
/// The internal token of close-time cancels.
pub const INTERNAL_CANCEL: u32 = INTERNAL_BASE;
/// A token that names no op: targets that are not found use it, so the
/// kernel answers -ENOENT as it would for an unknown user_data.
pub const NO_TARGET: u32 = INTERNAL_BASE + 1;

/// An odd multiplier and its inverse modulo 2**64.
const M1: u64 = 0x9e37_79b9_7f4a_7c15;
const M2: u64 = 0xbf58_476d_1ce4_e5b9;
const fn inverse(m: u64) -> u64 {
    // Newton's iteration doubles the correct low bits each step.
    let mut x = m;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(x)));
        i += 1;
    }
    x
}
const M1_INV: u64 = inverse(M1);
const M2_INV: u64 = inverse(M2);

/// A ring's token key: two words from the kernel's random source.
#[derive(Clone, Copy)]
pub struct TokenKey([u64; 2]);

impl TokenKey {
    pub fn random() -> TokenKey {
        let mut k = [0u64; 2];
        // SAFETY: getrandom writes at most 16 bytes into `k`.
        let n = unsafe { libc::getrandom(k.as_mut_ptr().cast(), 16, 0) };
        if n != 16 {
            // No random source (very old kernel, seccomp): mix what differs
            // between rings and runs. Tokens then resist accidents, not
            // adversaries.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            k = [
                t ^ (&k as *const _ as u64),
                t.rotate_left(17) ^ std::process::id() as u64,
            ];
        }
        TokenKey(k)
    }

    /// The keyed permutation of u64 (xor, odd multiply, xor-shift: each step
    /// invertible).
    #[inline]
    fn encode(&self, mut x: u64) -> u64 {
        x ^= self.0[0];
        x = x.wrapping_mul(M1);
        x ^= x >> 32;
        x = x.wrapping_mul(M2);
        x ^= x >> 32;
        x ^ self.0[1]
    }

    #[inline]
    fn decode(&self, y: u64) -> u64 {
        let mut x = y ^ self.0[1];
        x ^= x >> 32;
        x = x.wrapping_mul(M2_INV);
        x ^= x >> 32;
        x = x.wrapping_mul(M1_INV);
        x ^ self.0[0]
    }
}

/// The check value in the top 16 bits of every decoded token.
const CHECK: u64 = 0x5a17;

/// The slab of slots, with a free list so steady-state queueing allocates
/// nothing.
pub struct Slots<K> {
    slots: Vec<Slot<K>>,
    free: Vec<u32>,
    live: usize,
    key: TokenKey,
}

impl<K: Hold> Default for Slots<K> {
    fn default() -> Slots<K> {
        Slots::new(TokenKey::random())
    }
}

impl<K: Hold> Slots<K> {
    pub fn new(key: TokenKey) -> Slots<K> {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            key,
        }
    }

    /// The kernel user_data for slot `index` at `generation`.
    pub fn token(&self, index: u32, generation: u32) -> u64 {
        let plain = (CHECK << 48) | ((generation as u64 & 0xffff) << 32) | index as u64;
        self.key.encode(plain)
    }

    /// An internal token (`INTERNAL_CANCEL`, `NO_TARGET`).
    pub fn internal(&self, which: u32) -> u64 {
        self.token(which, 0)
    }

    /// (index, generation) of a token this ring made, or None.
    #[inline]
    fn split(&self, token: u64) -> Option<(u32, u32)> {
        let plain = self.key.decode(token);
        (plain >> 48 == CHECK).then_some((plain as u32, ((plain >> 32) & 0xffff) as u32))
    }

    /// Takes a free slot for an op with `user_data`; returns its token.
    pub fn alloc(&mut self, user_data: u64, opcode: u8, keep: K) -> u64 {
        self.alloc_slot(user_data, opcode, keep).1
    }

    /// `alloc`, also giving the new slot (no token decode to find it).
    #[inline]
    pub fn alloc_slot(&mut self, user_data: u64, opcode: u8, keep: K) -> (&mut Slot<K>, u64) {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                assert!(
                    self.slots.len() < INTERNAL_BASE as usize,
                    "more ops in flight than a ring can track"
                );
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        debug_assert!(!slot.live);
        slot.generation = (slot.generation + 1) & 0xffff;
        slot.user_data = user_data;
        slot.opcode = opcode;
        slot.live = true;
        slot.keep = keep;
        slot.buf_group = None;
        slot.makes_fd = false;
        slot.on_done = OnDone::Nothing;
        slot.scratch_taken = false;
        let generation = slot.generation;
        let token = self.token(index, generation);
        self.live += 1;
        (&mut self.slots[index as usize], token)
    }

    /// The live slot a token names, if any.
    pub fn get_mut(&mut self, token: u64) -> Option<&mut Slot<K>> {
        let (index, generation) = self.split(token)?;
        self.slots
            .get_mut(index as usize)
            .filter(|s| s.live && s.generation == generation)
    }

    /// The live slot a token names, if any.
    pub fn get(&self, token: u64) -> Option<&Slot<K>> {
        let (index, generation) = self.split(token)?;
        self.slots
            .get(index as usize)
            .filter(|s| s.live && s.generation == generation)
    }

    /// The index of the live slot a token names (one decode).
    #[inline]
    fn live_index(&self, token: u64) -> Option<usize> {
        let (index, generation) = self.split(token)?;
        let s = self.slots.get(index as usize)?;
        (s.live && s.generation == generation).then_some(index as usize)
    }

    /// What a CQE's user_data says about its origin (the token is decoded
    /// once; `Origin::Op` carries the slot index for `finish_at`).
    #[inline]
    pub fn origin(&self, cqe: &sys::Cqe) -> Origin {
        match self.split(cqe.user_data) {
            Some((index, _)) if index >= INTERNAL_BASE => Origin::Internal,
            Some((index, generation)) => match self.slots.get(index as usize) {
                Some(s) if s.live && s.generation == generation => Origin::Op {
                    index: index as usize,
                    user_data: s.user_data,
                    last: cqe.flags & sys::IORING_CQE_F_MORE == 0,
                },
                _ => Origin::Foreign,
            },
            None => Origin::Foreign,
        }
    }

    /// The live slot at `index` (from `Origin::Op`).
    #[inline]
    pub fn slot_at(&mut self, index: usize) -> &mut Slot<K> {
        &mut self.slots[index]
    }

    /// Consumes one CQE of a live op: on its last completion, applies the
    /// op's `on_done`, frees the slot and returns what it kept (with a
    /// message link marked delivered when `res >= 0`).
    pub fn finish(&mut self, cqe: &sys::Cqe) -> Option<K> {
        if cqe.flags & sys::IORING_CQE_F_MORE != 0 {
            return None;
        }
        let index = self.live_index(cqe.user_data)?;
        Some(self.finish_at(index, cqe))
    }

    /// `finish` for the live slot at `index`, the CQE being its last.
    #[inline]
    pub fn finish_at(&mut self, index: usize, cqe: &sys::Cqe) -> K {
        if let OnDone::Retarget { target, user_data } = self.slots[index].on_done {
            if cqe.res >= 0 {
                if let Some(t) = self.get_mut(target) {
                    t.user_data = user_data;
                }
            }
        }
        let mut keep = self.release_at(index);
        keep.finished(cqe.res);
        keep
    }

    /// Frees the live slot at `index`; returns what it kept.
    #[inline]
    fn release_at(&mut self, index: usize) -> K {
        let slot = &mut self.slots[index];
        slot.live = false;
        let keep = std::mem::take(&mut slot.keep);
        self.free.push(index as u32);
        self.live -= 1;
        keep
    }

    /// Frees a live slot; returns what it kept, for the caller to drop once
    /// the state lock is released.
    pub fn release(&mut self, token: u64) -> Option<K> {
        let index = self.live_index(token)?;
        Some(self.release_at(index))
    }

    /// Ops in flight (queued and not yet finally completed).
    pub fn live(&self) -> usize {
        self.live
    }

    /// Tokens of live slots whose caller user_data and opcode match, oldest
    /// first by slot index (used to aim cancels, which name user_data).
    pub fn find(&self, user_data: u64, opcodes: &[u8]) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.live
                    && s.user_data == user_data
                    && (opcodes.is_empty() || opcodes.contains(&s.opcode))
            })
            .map(|(i, s)| self.token(i as u32, s.generation))
            .collect()
    }

    /// Tokens of every live slot with `opcode`.
    pub fn with_opcode(&self, opcode: u8) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live && s.opcode == opcode)
            .map(|(i, s)| self.token(i as u32, s.generation))
            .collect()
    }

    /// Releases every live slot with `opcode` (slots no kernel op uses).
    pub fn release_opcode(&mut self, opcode: u8) -> Vec<K> {
        let tokens = self.with_opcode(opcode);
        tokens.into_iter().filter_map(|t| self.release(t)).collect()
    }

    /// Releases every live slot (when the kernel is known to hold none).
    pub fn release_all(&mut self) -> Vec<K> {
        let tokens: Vec<u64> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(i, s)| self.token(i as u32, s.generation))
            .collect();
        tokens.into_iter().filter_map(|t| self.release(t)).collect()
    }

    /// Everything still live, for a close that could not confirm the kernel
    /// is done: the caller leaks it rather than free memory in use.
    pub fn take_all(&mut self) -> Slots<K> {
        let key = self.key;
        std::mem::replace(self, Slots::new(key))
    }

    /// What the live slots keep, for a client that must show it to a
    /// garbage collector.
    pub fn live_keeps(&self) -> impl Iterator<Item = &K> {
        self.slots.iter().filter(|s| s.live).map(|s| &s.keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keep for tests: counts nothing, may carry a message link.
    #[derive(Default)]
    struct K {
        msg: Option<MessageLink>,
    }
    impl Hold for K {
        fn is_empty(&self) -> bool {
            self.msg.is_none()
        }
        fn finished(&mut self, res: i32) {
            if let Some(m) = self.msg.as_mut() {
                m.delivered = res >= 0;
            }
        }
    }
    type Keep = K;

    fn cqe(user_data: u64, res: i32, flags: u32) -> sys::Cqe {
        sys::Cqe {
            user_data,
            res,
            flags,
        }
    }

    #[test]
    fn tokens_are_unique_across_reuse_and_stale_ones_miss() {
        let mut s = Slots::<K>::default();
        let a = s.alloc(7, 0, Keep::default());
        let b = s.alloc(7, 0, Keep::default());
        assert_ne!(a, b);
        assert_eq!(s.live(), 2);
        assert!(s.release(a).is_some());
        assert!(s.release(a).is_none(), "double release must miss");
        let c = s.alloc(9, 0, Keep::default());
        assert_ne!(a, c, "reused slot gets a new generation");
        assert!(s.get_mut(a).is_none());
        assert_eq!(s.get_mut(c).map(|x| x.user_data), Some(9));
        assert_eq!(s.find(7, &[]), vec![b]);
        assert!(s.get_mut(s.internal(NO_TARGET)).is_none());
    }

    #[test]
    fn permutation_round_trips() {
        let k = TokenKey::random();
        for x in [
            0u64,
            1,
            1 << 32,
            u64::MAX,
            0x5a17_0001_0000_0003,
            12345678901234567,
        ] {
            assert_eq!(k.decode(k.encode(x)), x);
        }
        assert_eq!(M1.wrapping_mul(M1_INV), 1);
        assert_eq!(M2.wrapping_mul(M2_INV), 1);
    }

    #[test]
    fn forged_values_are_foreign() {
        let mut s = Slots::<K>::default();
        let tokens: Vec<u64> = (0..64).map(|i| s.alloc(i, 0, Keep::default())).collect();
        // Small integers, slot-looking values, every bit pattern a caller
        // might post with msg_ring: none names a live op.
        let mut forged: Vec<u64> = (0..100_000u64).collect();
        forged.extend((0..64u64).map(|i| (1 << 32) | i));
        forged.extend((0..64u64).map(|i| i << 32));
        forged.push(u64::MAX);
        for v in forged {
            if tokens.contains(&v) {
                continue;
            }
            assert!(matches!(s.origin(&cqe(v, 0, 0)), Origin::Foreign), "{v:#x}");
            assert!(s.finish(&cqe(v, 0, 0)).is_none());
        }
        assert_eq!(s.live(), 64);
        // Another ring's tokens mean nothing here.
        let mut other = Slots::<K>::default();
        let t = other.alloc(1, 0, Keep::default());
        assert!(!tokens.contains(&t) || s.key.0 == other.key.0);
        assert!(matches!(
            s.origin(&cqe(other.internal(INTERNAL_CANCEL), 0, 0)),
            Origin::Foreign
        ));
    }

    #[test]
    fn retarget_applies_only_on_success() {
        let mut s = Slots::<K>::default();
        let poll = s.alloc(1, sys::IORING_OP_POLL_ADD, Keep::default());
        let upd = s.alloc(2, sys::IORING_OP_POLL_REMOVE, Keep::default());
        s.get_mut(upd).unwrap().on_done = OnDone::Retarget {
            target: poll,
            user_data: 99,
        };
        assert!(s.finish(&cqe(upd, -libc::ENOENT, 0)).is_some());
        assert_eq!(s.get(poll).unwrap().user_data, 1);
        let upd = s.alloc(2, sys::IORING_OP_POLL_REMOVE, Keep::default());
        s.get_mut(upd).unwrap().on_done = OnDone::Retarget {
            target: poll,
            user_data: 99,
        };
        assert!(s.finish(&cqe(upd, 0, 0)).is_some());
        assert_eq!(s.get(poll).unwrap().user_data, 99);
    }

    #[test]
    fn undelivered_messages_call_back() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let hits = Arc::new(AtomicUsize::new(0));
        let mut s = Slots::<K>::default();
        for (res, expect) in [(-libc::EINVAL, 1), (0, 1)] {
            let h = hits.clone();
            let keep = Keep {
                msg: Some(MessageLink {
                    undelivered: Box::new(move || {
                        h.fetch_add(1, Ordering::SeqCst);
                    }),
                    delivered: false,
                }),
            };
            let t = s.alloc(0, sys::IORING_OP_MSG_RING, keep);
            drop(s.finish(&cqe(t, res, 0)));
            assert_eq!(hits.load(Ordering::SeqCst), expect);
        }
        // Dropped without any completion (never submitted): undelivered.
        let h = hits.clone();
        let t = s.alloc(
            0,
            sys::IORING_OP_MSG_RING,
            Keep {
                msg: Some(MessageLink {
                    undelivered: Box::new(move || {
                        h.fetch_add(1, Ordering::SeqCst);
                    }),
                    delivered: false,
                }),
            },
        );
        drop(s.release(t));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }
}
