//! The loop's receive buffers: the provided-buffer ring its streams'
//! multishot recvs pick from, and how many of its buffers the kernel holds
//! at a time.
//!
//! The kernel takes buffers from the ring's head and we give them back at
//! its tail, so every buffer the ring holds is cycled through: the more it
//! holds, the more memory a stream of large messages sweeps (64 buffers of
//! 64 KiB fit in a big cache; 512 do not). So the kernel is given a working
//! set (`target` buffers): two per open stream (at least 64, at most the
//! ring's size), raised further (doubled) each time a recv runs out
//! (`ENOBUFS`, after which the stream re-arms), that raise halving again
//! once 16 working sets' worth of buffers came back without one. The
//! buffers beyond it wait, unused and untouched, in `spare`; when the
//! working set shrinks, buffers the kernel hands back go there.
//!
//! Owns: the ring's memory, its tail, the working set. May not touch: the
//! streams (stream.rs says when a buffer comes back and when a recv ran out).

use crate::engine::bufring::BufRingMem;
use crate::engine::ring::RawRing;

/// The provided-buffer group the loop's recvs pick from.
pub const RECV_GROUP: u16 = 0;
/// Buffers in the loop's ring, and their size.
pub const RECV_BUFS: u32 = 512;
pub const RECV_BUF_SIZE: u32 = 64 * 1024;
/// The working set to start with.
const START: u32 = 64;

pub struct RecvBufs {
    mem: BufRingMem,
    tail: u16,
    /// Buffers the kernel holds (in the ring, not yet handed back in a CQE).
    given: u32,
    target: u32,
    /// Two per open stream (within START..=RECV_BUFS).
    want: u32,
    /// What ENOBUFS raised the working set to (0: nothing).
    boost: u32,
    /// Buffers handed back since the last ENOBUFS or decay.
    quiet: u32,
    /// Buffers outside the working set, most recently used last.
    spare: Vec<u16>,
}

impl RecvBufs {
    /// Maps the ring, gives the kernel the first `START` buffers and
    /// registers it as `RECV_GROUP` on `ring`.
    pub fn new(ring: &RawRing) -> Result<RecvBufs, (&'static str, i32)> {
        let mem = BufRingMem::new(RECV_BUFS, RECV_BUF_SIZE).map_err(|e| ("map", e))?;
        let mut bufs = RecvBufs {
            mem,
            tail: 0,
            given: 0,
            target: START,
            want: START,
            boost: 0,
            quiet: 0,
            spare: (0..RECV_BUFS as u16).rev().collect(),
        };
        bufs.fill();
        bufs.mem
            .register(ring, RECV_GROUP)
            .map_err(|e| ("register", e))?;
        Ok(bufs)
    }

    /// Gives the kernel spare buffers until it holds `target`.
    fn fill(&mut self) {
        let mut pushed = false;
        while self.given < self.target {
            let Some(bid) = self.spare.pop() else { break };
            self.mem.push(&mut self.tail, bid);
            self.given += 1;
            pushed = true;
        }
        if pushed {
            self.mem.publish(self.tail);
        }
    }

    /// Buffer `bid`'s memory; `len` bytes of it were written by the recv
    /// whose CQE named it.
    pub fn addr(&self, bid: u16) -> *mut u8 {
        self.mem.buf_addr(bid)
    }

    /// A CQE handed buffer `bid` to us: the kernel holds one fewer.
    pub fn taken(&mut self) {
        self.given = self.given.saturating_sub(1);
    }

    /// We are done with buffer `bid`: back to the kernel, or to the spares
    /// when the kernel holds its working set.
    pub fn recycle(&mut self, bid: u16) {
        self.quiet += 1;
        if self.boost > 0 && self.quiet > 16 * self.target {
            self.quiet = 0;
            self.boost /= 2;
            if self.boost <= self.want {
                self.boost = 0;
            }
            self.target = self.want.max(self.boost);
        }
        if self.given < self.target {
            self.mem.push(&mut self.tail, bid);
            self.mem.publish(self.tail);
            self.given += 1;
        } else {
            self.spare.push(bid);
        }
    }

    /// A recv found no buffer: double the working set.
    pub fn ran_out(&mut self) {
        self.boost = (self.target * 2).min(RECV_BUFS);
        self.quiet = 0;
        self.target = self.want.max(self.boost);
        self.fill();
    }

    /// `n` streams are open now: the working set follows (two each).
    pub fn set_streams(&mut self, n: usize) {
        let two_each = u32::try_from(n.saturating_mul(2)).unwrap_or(u32::MAX);
        self.want = two_each.clamp(START, RECV_BUFS);
        self.target = self.want.max(self.boost);
        self.fill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sys::Params;

    #[test]
    fn the_working_set_starts_small_and_doubles_when_a_recv_runs_out() {
        let mut p = Params::default();
        let ring = match RawRing::setup(8, &mut p) {
            Ok(r) => r,
            Err(e) => panic!("io_uring_setup failed (the loop's tests need io_uring): {e:?}"),
        };
        let mut b = RecvBufs::new(&ring).expect("a provided-buffer ring (Linux 5.19)");
        assert_eq!((b.given, b.target, b.spare.len()), (START, START, 448));
        // The kernel hands two buffers back; recycled, they go back to it.
        b.taken();
        b.taken();
        b.recycle(0);
        assert_eq!((b.given, b.spare.len()), (START - 1, 448));
        b.recycle(1);
        assert_eq!(b.given, START);
        // A buffer beyond the working set waits with the spares.
        let extra = b.spare.pop().expect("spare");
        b.recycle(extra);
        assert_eq!((b.given, b.spare.len()), (START, 448));
        b.ran_out();
        assert_eq!((b.given, b.target, b.spare.len()), (128, 128, 384));
        for _ in 0..5 {
            b.ran_out();
        }
        assert_eq!(
            (b.given, b.target, b.spare.len()),
            (RECV_BUFS, RECV_BUFS, 0)
        );
        // Quiet for 16 working sets: the raise halves, and buffers coming
        // back beyond the new working set go to the spares.
        let mut back = (0..RECV_BUFS as u16).cycle();
        for _ in 0..=16 * RECV_BUFS {
            b.taken();
            b.recycle(back.next().expect("cycle"));
        }
        assert_eq!(b.target, RECV_BUFS / 2);
        // As the kernel hands buffers back, the ones past it stay spare.
        for _ in 0..RECV_BUFS {
            b.taken();
            b.recycle(back.next().expect("cycle"));
        }
        assert_eq!(b.given, RECV_BUFS / 2);
        // The stream count sets the floor: 100 streams, 200 buffers.
        b.set_streams(100);
        assert_eq!((b.want, b.target), (200, 256));
        b.set_streams(1);
        assert_eq!(b.want, START);
    }
}
