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
//!
//! Chains with `IOSQE_CQE_SKIP_SUCCESS`: an op with the flag posts no CQE
//! when it succeeds, so its slot cannot wait for its own completion. A client
//! records such a chain when it publishes it ([`Slots::link_chain`]; the
//! engine checks its shape first, see `Engine::check_chains`), and a CQE of
//! one member then settles the others ([`Slots::settle_chain`]): the kernel
//! runs a chain's ops one after another, so a CQE of a member proves that
//! every member before it is done (or never ran), and the CQE of a skipped
//! op (posted only when it fails) cancels every member after it without a
//! CQE when the op is soft-linked (`IOSQE_IO_LINK`).

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
    /// The recorded chain the op belongs to (with a skipped op), and its
    /// position in it.
    chain: Option<ChainRef>,
}

/// A slot's place in a recorded chain.
#[derive(Clone, Copy)]
struct ChainRef {
    id: u32,
    pos: u32,
}

/// A member slot that is no longer live.
const GONE: u32 = u32::MAX;

/// One op of a recorded chain.
#[derive(Clone, Copy)]
struct Member {
    /// Its slot index, or `GONE` once released.
    slot: u32,
    /// It carries `IOSQE_CQE_SKIP_SUCCESS`.
    skip: bool,
    /// It is soft-linked to the next (`IOSQE_IO_LINK` without
    /// `IOSQE_IO_HARDLINK`): its failure cancels the rest of the chain.
    soft: bool,
}

/// A published chain that contains a skipped op: its members in SQ order,
/// and the SQ positions `[start, end)` it was published at, until the kernel
/// has consumed it (see [`Slots::split_chains`]).
#[derive(Default)]
struct Chain {
    members: Vec<Member>,
    live: u32,
    start: u32,
    end: u32,
    consumed: bool,
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
#[derive(Clone, Copy)]
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
    /// Recorded chains (see the module docs), with a free list.
    chains: Vec<Chain>,
    free_chains: Vec<u32>,
    /// Live chains the kernel has not consumed whole yet.
    unconsumed: usize,
    /// An unpublished SQE may carry `IOSQE_CQE_SKIP_SUCCESS`: set by the
    /// client whenever it writes that flag, cleared when the chains are
    /// checked at publication, so publishing SQEs without it costs no scan.
    pub skip_queued: bool,
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
            chains: Vec::new(),
            free_chains: Vec::new(),
            unconsumed: 0,
            skip_queued: false,
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
        debug_assert!(slot.chain.is_none(), "a freed slot left its chain");
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
        self.finish_res(index, cqe.res)
    }

    /// Finishes the live slot at `index` as a final completion with `res`
    /// would (applying its `on_done`), and returns what it kept.
    #[inline]
    fn finish_res(&mut self, index: usize, res: i32) -> K {
        if let OnDone::Retarget { target, user_data } = self.slots[index].on_done {
            if res >= 0 {
                if let Some(t) = self.get_mut(target) {
                    t.user_data = user_data;
                }
            }
        }
        let mut keep = self.release_at(index);
        keep.finished(res);
        keep
    }

    /// Frees the live slot at `index`; returns what it kept.
    #[inline]
    fn release_at(&mut self, index: usize) -> K {
        if self.slots[index].chain.is_some() {
            self.leave_chain(index);
        }
        let slot = &mut self.slots[index];
        slot.live = false;
        let keep = std::mem::take(&mut slot.keep);
        self.free.push(index as u32);
        self.live -= 1;
        keep
    }

    // ------------------------------------------------------------- chains

    /// Records a published chain with a skipped op: `members` are the SQEs'
    /// tokens and `IOSQE_*` flags in SQ order, published at SQ positions
    /// `[start, start + members.len())`. A token that names no live slot
    /// (it cannot happen for SQEs the client queued) stands as a gone member.
    pub fn link_chain(&mut self, start: u32, members: &[(u64, u8)]) {
        let id = self.new_chain();
        let mut chain = std::mem::take(&mut self.chains[id as usize]);
        chain.live = 0;
        chain.start = start;
        chain.end = start.wrapping_add(members.len() as u32);
        chain.consumed = false;
        for &(token, flags) in members {
            let Some(index) = self.live_index(token) else {
                debug_assert!(false, "a published SQE without a live slot");
                chain.members.push(Member {
                    slot: GONE,
                    skip: false,
                    soft: false,
                });
                continue;
            };
            let slot = &mut self.slots[index];
            debug_assert!(slot.chain.is_none());
            slot.chain = Some(ChainRef {
                id,
                pos: chain.members.len() as u32,
            });
            chain.members.push(Member {
                slot: index as u32,
                skip: flags & sys::IOSQE_CQE_SKIP_SUCCESS != 0,
                soft: flags & sys::IOSQE_IO_LINK != 0 && flags & sys::IOSQE_IO_HARDLINK == 0,
            });
            chain.live += 1;
        }
        if chain.live == 0 {
            self.free_chains.push(id);
        } else {
            self.unconsumed += 1;
        }
        self.chains[id as usize] = chain;
    }

    /// Takes the slot at `index` out of its chain (it is being released),
    /// freeing the chain with its last member.
    fn leave_chain(&mut self, index: usize) {
        let Some(r) = self.slots[index].chain.take() else {
            return;
        };
        let chain = &mut self.chains[r.id as usize];
        chain.members[r.pos as usize].slot = GONE;
        chain.live -= 1;
        if chain.live == 0 {
            if !chain.consumed {
                self.unconsumed -= 1;
            }
            chain.members.clear();
            self.free_chains.push(r.id);
        }
    }

    /// What a CQE of the chain member at slot `index` (a live op; `last`: the
    /// CQE is its final one) settles for the rest of its chain, before the
    /// member itself is finished: its keeps go to `dead`.
    ///
    /// - Every skipped member before it is done: the kernel starts a
    ///   chain's op only after the one before it completed, and fails a
    ///   chain (at submission, or on a failure) front to back. It succeeded
    ///   (a skipped op that fails posts its own CQE, which finished it
    ///   already), so it is finished as a success.
    /// - A final CQE of a skipped, soft-linked member means it failed: the
    ///   kernel cancels every member after it and, because the failed op had
    ///   the flag, posts none of their CQEs (`REQ_F_SKIP_LINK_CQES`). They
    ///   never ran, and are finished as cancelled.
    ///
    /// Chain shapes for which these two rules are the whole truth are what
    /// `Engine::check_chains` accepts.
    pub fn settle_chain(&mut self, index: usize, last: bool, dead: &mut Vec<K>) {
        let Some(r) = self.slots[index].chain else {
            return;
        };
        let chain = &self.chains[r.id as usize];
        let me = chain.members[r.pos as usize];
        let cancels_rest = last && me.skip && me.soft;
        let mut done: Vec<(u32, i32)> = Vec::new();
        for (pos, m) in chain.members.iter().enumerate() {
            if m.slot == GONE || pos == r.pos as usize {
                continue;
            }
            if pos < r.pos as usize && m.skip {
                done.push((m.slot, 0));
            } else if pos > r.pos as usize && cancels_rest {
                done.push((m.slot, -libc::ECANCELED));
            }
        }
        for (slot, res) in done {
            let k = self.finish_res(slot as usize, res);
            if !k.is_empty() {
                dead.push(k);
            }
        }
    }

    /// Whether the live slot at `index` belongs to a recorded chain.
    #[inline]
    pub fn in_chain(&self, index: usize) -> bool {
        self.slots[index].chain.is_some()
    }

    /// Whether a chain is published and not yet wholly consumed.
    pub fn has_unconsumed_chains(&self) -> bool {
        self.unconsumed > 0
    }

    /// The SQ positions `[start, end)` of the chains not yet wholly consumed
    /// (free-running u32 positions, as `SqState` counts them), with the
    /// user_data of each one's first live op.
    pub fn unconsumed_chains(&self) -> impl Iterator<Item = (u32, u32, u64)> + '_ {
        self.chains
            .iter()
            .filter(|c| c.live > 0 && !c.consumed)
            .map(|c| {
                let first = c.members.iter().find(|m| m.slot != GONE);
                let user_data = first.map_or(0, |m| self.slots[m.slot as usize].user_data);
                (c.start, c.end, user_data)
            })
    }

    /// The kernel has consumed the SQ up to position `head` (the published
    /// tail is `tail`): chains wholly before it are marked consumed, and a
    /// chain it cuts through (the kernel stopped mid-chain, e.g. when it could
    /// not allocate a request) is split in two, since the kernel now runs
    /// the two parts as separate chains: a CQE of one must settle nothing in
    /// the other. (Skipped ops left at the end of the first part may then
    /// never be confirmed done: they are kept, never freed early.)
    pub fn split_chains(&mut self, head: u32, tail: u32) {
        if self.unconsumed == 0 {
            return;
        }
        // Ages count back from the published tail, which every unconsumed
        // chain lies at or before (within one SQ's length).
        let age = |x: u32| tail.wrapping_sub(x);
        let mut cuts = Vec::new();
        for (id, c) in self.chains.iter_mut().enumerate() {
            if c.live == 0 || c.consumed {
                continue;
            }
            if age(head) <= age(c.end) {
                c.consumed = true;
                self.unconsumed -= 1;
            } else if age(head) < age(c.start) {
                cuts.push(id);
            }
        }
        for id in cuts {
            let c = &mut self.chains[id];
            let at = head.wrapping_sub(c.start) as usize;
            let rest: Vec<Member> = c.members.split_off(at);
            c.end = head;
            c.consumed = true;
            c.live = c.members.iter().filter(|m| m.slot != GONE).count() as u32;
            if c.live == 0 {
                self.free_chains.push(id as u32);
            }
            self.unconsumed -= 1;
            let live = rest.iter().filter(|m| m.slot != GONE).count() as u32;
            if live == 0 {
                continue;
            }
            let new_id = self.new_chain();
            for (pos, m) in rest.iter().enumerate() {
                if m.slot != GONE {
                    self.slots[m.slot as usize].chain = Some(ChainRef {
                        id: new_id,
                        pos: pos as u32,
                    });
                }
            }
            let n = &mut self.chains[new_id as usize];
            n.start = head;
            n.end = head.wrapping_add(rest.len() as u32);
            n.members = rest;
            n.live = live;
            n.consumed = false;
            self.unconsumed += 1;
        }
    }

    /// A free chain record's id.
    fn new_chain(&mut self) -> u32 {
        match self.free_chains.pop() {
            Some(id) => {
                self.chains[id as usize].members.clear();
                id
            }
            None => {
                self.chains.push(Chain::default());
                (self.chains.len() - 1) as u32
            }
        }
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

    /// Tokens of every live slot.
    pub fn live_tokens(&self) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(i, s)| self.token(i as u32, s.generation))
            .collect()
    }

    /// Releases every live slot (when the kernel is known to hold none).
    pub fn release_all(&mut self) -> Vec<K> {
        let tokens = self.live_tokens();
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

    const SKIP_LINK: u8 = sys::IOSQE_CQE_SKIP_SUCCESS | sys::IOSQE_IO_LINK;
    const SKIP_HARD: u8 = sys::IOSQE_CQE_SKIP_SUCCESS | sys::IOSQE_IO_HARDLINK;

    /// Slots for a chain of ops with these flags, published at position 10.
    fn chain_of(s: &mut Slots<K>, flags: &[u8]) -> Vec<u64> {
        let tokens: Vec<u64> = (0..flags.len())
            .map(|i| s.alloc(i as u64, sys::IORING_OP_NOP, Keep::default()))
            .collect();
        let members: Vec<(u64, u8)> = tokens.iter().copied().zip(flags.iter().copied()).collect();
        s.link_chain(10, &members);
        tokens
    }

    fn consume(s: &mut Slots<K>, token: u64, res: i32) -> usize {
        let Origin::Op { index, last, .. } = s.origin(&cqe(token, res, 0)) else {
            panic!("not a live op");
        };
        let mut dead = Vec::new();
        s.settle_chain(index, last, &mut dead);
        assert!(s.finish(&cqe(token, res, 0)).is_some());
        dead.len() + 1
    }

    #[test]
    fn a_chain_tail_finishes_the_skipped_ops_before_it() {
        let mut s = Slots::<K>::default();
        let t = chain_of(&mut s, &[SKIP_LINK, SKIP_HARD, 0]);
        assert_eq!(s.live(), 3);
        consume(&mut s, t[2], 0);
        assert_eq!(s.live(), 0);
        assert!(s.chains.iter().all(|c| c.live == 0));
        assert_eq!(s.free_chains.len(), 1);
    }

    #[test]
    fn a_failed_soft_linked_skipped_op_finishes_the_rest_of_its_chain() {
        let mut s = Slots::<K>::default();
        let t = chain_of(&mut s, &[SKIP_LINK, SKIP_LINK, sys::IOSQE_IO_LINK, 0]);
        // The second fails: the first succeeded, the rest never runs.
        consume(&mut s, t[1], -libc::EBADF);
        assert_eq!(s.live(), 0);
        // A stale CQE of a silenced op (if a kernel posted one) is foreign.
        assert!(matches!(s.origin(&cqe(t[3], -125, 0)), Origin::Foreign));
    }

    #[test]
    fn a_failed_hard_linked_skipped_op_leaves_the_rest_running() {
        let mut s = Slots::<K>::default();
        let t = chain_of(&mut s, &[SKIP_LINK, SKIP_HARD, 0]);
        consume(&mut s, t[1], -libc::EBADF);
        assert_eq!(s.live(), 1, "the tail still runs");
        assert!(s.get(t[2]).is_some());
        consume(&mut s, t[2], 0);
        assert_eq!(s.live(), 0);
    }

    #[test]
    fn a_member_finished_by_its_own_cqe_is_not_released_again() {
        let mut s = Slots::<K>::default();
        let t = chain_of(&mut s, &[SKIP_LINK, SKIP_HARD, 0]);
        consume(&mut s, t[1], -libc::EIO);
        // Its slot is reused by an unrelated op before the tail completes.
        let other = s.alloc(99, sys::IORING_OP_NOP, Keep::default());
        consume(&mut s, t[2], 0);
        assert_eq!(s.live(), 1);
        assert_eq!(s.get(other).map(|x| x.user_data), Some(99));
    }

    #[test]
    fn a_split_chain_settles_each_part_alone() {
        let mut s = Slots::<K>::default();
        let t = chain_of(&mut s, &[SKIP_LINK, SKIP_LINK, 0]);
        assert!(s.has_unconsumed_chains());
        // The kernel consumed positions 10 and 11 only (published tail 13).
        s.split_chains(12, 13);
        assert!(s.has_unconsumed_chains(), "the rest is a chain of its own");
        // The rest's CQE proves nothing about the first part.
        consume(&mut s, t[2], 0);
        assert_eq!(s.live(), 2);
        assert!(s.get(t[0]).is_some() && s.get(t[1]).is_some());
        s.split_chains(13, 13);
        assert!(!s.has_unconsumed_chains());
        // A failure in the first part settles the first part only.
        consume(&mut s, t[0], -libc::ECANCELED);
        assert_eq!(s.live(), 0);
    }

    #[test]
    fn released_members_leave_their_chain() {
        let mut s = Slots::<K>::default();
        let t = chain_of(&mut s, &[SKIP_LINK, 0]);
        assert_eq!(s.release_all().len(), 2);
        assert!(!s.has_unconsumed_chains());
        assert_eq!(s.free_chains.len(), 1);
        let _ = t;
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
