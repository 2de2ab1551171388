//! Provided-buffer ring memory (`IORING_REGISTER_PBUF_RING`, Linux 5.19):
//! `count` buffers of `size` bytes and the ring of descriptors the kernel
//! picks them from, both anonymous mappings owned here.
//!
//! Owns: the mappings, the descriptor layout and the tail protocol. May not
//! touch: which buffers are out (the client tracks that, and must not push
//! a buffer the kernel or a reader still has), or when the memory may go
//! (the client keeps a `BufRingMem` until no op in flight can pick from it).

use std::sync::atomic::{AtomicU16, Ordering};

use super::ring::RawRing;
use super::sys;

/// `struct io_uring_buf`: one descriptor of the buffer ring. The ring's
/// tail lives in the `resv` field of descriptor 0.
#[repr(C)]
struct BufDesc {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// `struct io_uring_buf_reg`.
#[repr(C)]
#[derive(Default)]
struct BufReg {
    ring_addr: u64,
    ring_entries: u32,
    bgid: u16,
    flags: u16,
    resv: [u64; 3],
}

const _: () = {
    assert!(std::mem::size_of::<BufDesc>() == 16);
    assert!(std::mem::offset_of!(BufDesc, resv) == 14);
    assert!(std::mem::size_of::<BufReg>() == 40);
};

/// A private anonymous mapping (page-aligned, zeroed), unmapped on drop.
struct AnonMap {
    ptr: *mut u8,
    len: usize,
}

impl AnonMap {
    /// Maps `len` bytes; the errno on failure.
    fn new(len: usize) -> Result<AnonMap, i32> {
        // SAFETY: a fresh private anonymous mapping; nothing aliases it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::ENOMEM));
        }
        // Not inherited by a fork()ed child, like the ring itself.
        // SAFETY: advice on our own fresh mapping.
        unsafe { libc::madvise(ptr, len, libc::MADV_DONTFORK) };
        Ok(AnonMap {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Drop for AnonMap {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`; the owner guarantees the
        // kernel no longer uses it (see the module doc).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// The memory of one buffer ring.
pub struct BufRingMem {
    pub count: u32,
    pub size: u32,
    descs: AnonMap,
    bufs: AnonMap,
}

// SAFETY: the raw pointers are anonymous mappings owned by this object;
// descriptor writes happen under the client's lock (`push` takes the tail by
// `&mut`) and the tail is published with an atomic store; buffer bytes are
// only read by the client while the kernel does not own that buffer.
unsafe impl Send for BufRingMem {}
// SAFETY: as above.
unsafe impl Sync for BufRingMem {}

impl BufRingMem {
    /// `count` (a power of two up to 32768) buffers of `size` bytes; the
    /// errno if the memory cannot be mapped. The caller checks the sizes.
    pub fn new(count: u32, size: u32) -> Result<BufRingMem, i32> {
        debug_assert!(count.is_power_of_two() && count <= 32768 && size > 0);
        let descs = AnonMap::new(count as usize * std::mem::size_of::<BufDesc>())?;
        let bufs = AnonMap::new(count as usize * size as usize)?;
        Ok(BufRingMem {
            count,
            size,
            descs,
            bufs,
        })
    }

    /// The address of buffer `bid` (< count).
    pub fn buf_addr(&self, bid: u16) -> *mut u8 {
        assert!((bid as u32) < self.count);
        // SAFETY: bid < count, so the offset is inside `bufs`.
        unsafe { self.bufs.ptr.add(bid as usize * self.size as usize) }
    }

    /// Puts buffer `bid` at `tail` (not yet published) and advances it.
    pub fn push(&self, tail: &mut u16, bid: u16) {
        let mask = self.count - 1;
        let idx = (*tail as u32 & mask) as usize;
        let addr = self.buf_addr(bid) as u64;
        let desc = self.descs.ptr.cast::<BufDesc>();
        // SAFETY: idx < count descriptors inside `descs`. Only the addr, len
        // and bid fields are written, never descriptor 0's `resv`, which is
        // the shared tail; the kernel reads descriptors only below the tail,
        // and this one is above it until `publish`.
        unsafe {
            let d = desc.add(idx);
            std::ptr::addr_of_mut!((*d).addr).write(addr);
            std::ptr::addr_of_mut!((*d).len).write(self.size);
            std::ptr::addr_of_mut!((*d).bid).write(bid);
        }
        *tail = tail.wrapping_add(1);
    }

    /// Publishes `tail` to the kernel with a Release store, so the
    /// descriptors written before it are visible first.
    pub fn publish(&self, tail: u16) {
        // SAFETY: descriptor 0's `resv` (offset 14) is the ring's tail, a
        // naturally aligned u16 the kernel reads with acquire semantics.
        let t = unsafe { &*(self.descs.ptr.add(14) as *const AtomicU16) };
        t.store(tail, Ordering::Release);
    }

    /// `IORING_REGISTER_PBUF_RING` as group `group` of `ring`. The caller
    /// keeps `self` alive until the kernel can no longer pick from it.
    pub fn register(&self, ring: &RawRing, group: u16) -> Result<(), i32> {
        let reg = BufReg {
            ring_addr: self.descs.ptr as u64,
            ring_entries: self.count,
            bgid: group,
            ..Default::default()
        };
        // SAFETY: one io_uring_buf_reg, read during the call; it describes
        // `descs`, which the caller keeps alive (see above).
        unsafe {
            ring.register(
                sys::IORING_REGISTER_PBUF_RING,
                (&reg as *const BufReg).cast(),
                1,
            )
        }
        .map(|_| ())
    }

    /// `IORING_UNREGISTER_PBUF_RING` of group `group`.
    pub fn unregister(ring: &RawRing, group: u16) -> Result<(), i32> {
        let reg = BufReg {
            bgid: group,
            ..Default::default()
        };
        // SAFETY: one io_uring_buf_reg, read during the call.
        unsafe {
            ring.register(
                sys::IORING_UNREGISTER_PBUF_RING,
                (&reg as *const BufReg).cast(),
                1,
            )
        }
        .map(|_| ())
    }
}
