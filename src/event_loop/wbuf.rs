//! A stream's write buffer: what `write()` accepted and no send has taken
//! yet, as a queue of chunks (small or mutable data copied, immutable
//! `bytes` objects held as they are, so a large write is never copied), and
//! `Outgoing`, what one send takes from it and keeps alive until its
//! completion (with the iovecs of a `sendmsg` when it takes several chunks).
//!
//! Owns: buffer layout, coalescing, partial-send bookkeeping. May not touch:
//! the ring (stream.rs queues the sends) or Python code (holding and
//! dropping an exact `bytes` runs none).

use std::collections::VecDeque;

use pyo3::prelude::*;

/// Writes of at least this many bytes of an exact `bytes` object are held,
/// not copied; smaller ones are appended to the buffer's last copied chunk.
pub const HOLD_MIN: usize = 2048;
/// The most chunks one send takes (a `sendmsg` of that many iovecs).
pub const MAX_IOV: usize = 64;
/// A copied chunk's memory is kept for the next writes when no larger.
const SPARE_MAX: usize = 256 * 1024;

/// One piece of the buffer.
pub enum Chunk {
    /// Bytes copied from the caller.
    Copied(Vec<u8>),
    /// An exact `bytes` object (immutable while held), its data's address
    /// and length.
    Held(Py<PyAny>, usize, usize),
}

impl Chunk {
    /// The chunk's bytes, as address and length.
    fn span(&self) -> (usize, usize) {
        match self {
            Chunk::Copied(v) => (v.as_ptr() as usize, v.len()),
            Chunk::Held(_, addr, len) => (*addr, *len),
        }
    }
}

/// The write buffer.
#[derive(Default)]
pub struct WBuf {
    chunks: VecDeque<Chunk>,
    /// Bytes at the front of the first chunk that a send already took.
    head: usize,
    len: usize,
    /// A copied chunk's memory, emptied, for the next copy.
    spare: Option<Vec<u8>>,
}

impl WBuf {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops everything buffered.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.head = 0;
        self.len = 0;
    }

    /// Appends a copy of `data`.
    pub fn push_copy(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        if let Some(Chunk::Copied(v)) = self.chunks.back_mut() {
            v.extend_from_slice(data);
            return;
        }
        let mut v = self.spare.take().unwrap_or_default();
        v.extend_from_slice(data);
        self.chunks.push_back(Chunk::Copied(v));
    }

    /// Appends `len` bytes at `addr`, which `obj` (an exact `bytes`) owns
    /// and keeps unchanged while held.
    pub fn push_held(&mut self, obj: Py<PyAny>, addr: usize, len: usize) {
        if len == 0 {
            return;
        }
        self.len += len;
        self.chunks.push_back(Chunk::Held(obj, addr, len));
    }

    /// Takes up to `MAX_IOV` chunks for one send.
    pub fn take(&mut self) -> Outgoing {
        let n = self.chunks.len().min(MAX_IOV);
        let first = self.chunks.pop_front().expect("take() of an empty buffer");
        // Empty (no allocation) for the usual one-chunk send.
        let more: Vec<Chunk> = self.chunks.drain(..n - 1).collect();
        let head = std::mem::take(&mut self.head);
        let len = first.span().1 + more.iter().map(|c| c.span().1).sum::<usize>() - head;
        self.len -= len;
        Outgoing::new(first, more, head, len)
    }

    /// Gives back what a send of `out` did not take (`sent` of its bytes
    /// went), in front of what was written since; keeps one copied chunk's
    /// memory for reuse.
    pub fn requeue(&mut self, out: Outgoing, sent: usize) {
        // Bytes to drop from the front of the chunks.
        let mut skip = out.head + sent;
        let mut rest: Vec<Chunk> = Vec::new();
        for c in std::iter::once(out.first).chain(out.more) {
            let len = c.span().1;
            if rest.is_empty() && skip >= len {
                skip -= len;
                if let Chunk::Copied(mut v) = c {
                    if v.capacity() <= SPARE_MAX {
                        v.clear();
                        self.spare = Some(v);
                    }
                }
                continue;
            }
            if rest.is_empty() {
                self.head = skip;
                self.len += len - skip;
            } else {
                self.len += len;
            }
            rest.push(c);
        }
        for c in rest.into_iter().rev() {
            self.chunks.push_front(c);
        }
    }
}

/// What a send took: its chunks stay here (alive, unmoved) until the
/// kernel is done with them.
pub struct Outgoing {
    first: Chunk,
    more: Vec<Chunk>,
    head: usize,
    pub len: usize,
    /// The `sendmsg` arguments when there are several chunks.
    vec: Option<Box<IoVecs>>,
}

/// A `msghdr` and its iovecs, pointing into the chunks of the same
/// `Outgoing`.
struct IoVecs {
    hdr: libc::msghdr,
    iov: Vec<libc::iovec>,
}

// SAFETY: the pointers inside point into chunks owned by the same Outgoing
// (heap memory of Vecs and bytes objects, which do not move); they are only
// read by the kernel, and the struct is only touched under the loop's lock.
unsafe impl Send for IoVecs {}
// SAFETY: as above; shared access reads nothing through the pointers.
unsafe impl Sync for IoVecs {}

/// How to send an `Outgoing`.
pub enum SendArgs {
    /// One span: `send(addr, len)`.
    Send(u64, u32),
    /// Several: `sendmsg(msghdr)`.
    SendMsg(u64),
}

impl Outgoing {
    fn new(first: Chunk, more: Vec<Chunk>, head: usize, len: usize) -> Self {
        let mut out = Outgoing {
            first,
            more,
            head,
            len,
            vec: None,
        };
        if !out.more.is_empty() {
            let iov: Vec<libc::iovec> = std::iter::once(&out.first)
                .chain(out.more.iter())
                .enumerate()
                .map(|(i, c)| {
                    let (addr, len) = c.span();
                    let skip = if i == 0 { head } else { 0 };
                    libc::iovec {
                        iov_base: (addr + skip) as *mut libc::c_void,
                        iov_len: len - skip,
                    }
                })
                .collect();
            // SAFETY: msghdr is plain data; all-zero is valid (no name, no
            // control data).
            let hdr: libc::msghdr = unsafe { std::mem::zeroed() };
            let mut v = Box::new(IoVecs { hdr, iov });
            v.hdr.msg_iov = v.iov.as_mut_ptr();
            v.hdr.msg_iovlen = v.iov.len() as _;
            out.vec = Some(v);
        }
        out
    }

    /// The op to queue for it; what it points to lives as long as `self`.
    pub fn args(&self) -> SendArgs {
        match &self.vec {
            Some(v) => SendArgs::SendMsg(&v.hdr as *const libc::msghdr as u64),
            None => {
                let (addr, _) = self.first.span();
                SendArgs::Send(
                    (addr + self.head) as u64,
                    self.len.min(u32::MAX as usize) as u32,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(w: &WBuf) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, c) in w.chunks.iter().enumerate() {
            let (addr, len) = c.span();
            let skip = if i == 0 { w.head } else { 0 };
            // SAFETY: the chunk's own live bytes.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts((addr + skip) as *const u8, len - skip)
            });
        }
        out
    }

    #[test]
    fn partial_sends_keep_order_and_length() {
        let mut w = WBuf::default();
        w.push_copy(b"abc");
        w.push_copy(b"def");
        assert_eq!(w.chunks.len(), 1);
        let out = w.take();
        assert_eq!(out.len, 6);
        w.push_copy(b"gh");
        w.requeue(out, 4);
        assert_eq!(w.len(), 4);
        assert_eq!(contents(&w), b"efgh");
        let out = w.take();
        assert_eq!(out.len, 4);
        w.requeue(out, 1);
        assert_eq!(contents(&w), b"fgh");
        let out = w.take();
        w.requeue(out, 3);
        assert!(w.is_empty());
        assert!(w.spare.is_some());
    }
}
