//! Per-op ownership: everything an in-flight op needs stays here until its
//! final CQE has been consumed.
//!
//! The kernel's `user_data` of every SQE is a *token* naming a slot of
//! [`Slots`] (index + generation), never the caller's value: callers may
//! repeat user_data freely, and a stale token (an op that already finished)
//! matches nothing, so a late cancel can never hit an unrelated op. The slot
//! carries the caller's user_data, the Python objects to keep alive, and a
//! scratch area of plain memory the kernel reads or writes (timespecs,
//! socket addresses, paths, iovecs).

use pyo3::ffi;
use pyo3::prelude::*;

/// Tokens with the top bit set are the library's own (cancel-on-close,
/// wake-ups); slot tokens never have it.
pub const INTERNAL: u64 = 1 << 63;
/// A token that names no slot: targets that are not found use it, so the
/// kernel answers -ENOENT as it would for an unknown user_data.
pub const NO_TARGET: u64 = INTERNAL | 1;

/// A buffer-protocol export held open: the exporter may not move or free
/// the memory (a bytearray cannot resize, an mmap cannot close) until it is
/// released, which [`Drop`] does.
pub struct PinnedBuf {
    view: ffi::Py_buffer,
}

// SAFETY: a PinnedBuf is created and released only while attached to the
// interpreter (all Ring methods run attached, and Ring's own Drop runs from
// the Python finalizer); the pointer inside is plain memory owned by the
// exporting object, which the view keeps alive.
unsafe impl Send for PinnedBuf {}
// SAFETY: shared access only reads the view's pointer and length.
unsafe impl Sync for PinnedBuf {}

impl PinnedBuf {
    /// Exports `obj`'s buffer as one C-contiguous byte range. `writable`
    /// asks for write access (for ops the kernel writes into).
    ///
    /// Only PyBUF_SIMPLE/PyBUF_WRITABLE is requested, so the exporter leaves
    /// `shape`, `strides` and `suboffsets` null and the view is a flat range
    /// that may be moved by value (CPython itself copies Py_buffer structs).
    pub fn get(obj: &Bound<'_, PyAny>, writable: bool) -> PyResult<PinnedBuf> {
        let flags = if writable {
            ffi::PyBUF_WRITABLE
        } else {
            ffi::PyBUF_SIMPLE
        };
        let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::uninit();
        // SAFETY: obj is a live object; on success the view is initialised
        // and owns a reference to the exporter until PyBuffer_Release.
        let rc = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), flags) };
        if rc != 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        // SAFETY: initialised by the successful call above.
        Ok(PinnedBuf {
            view: unsafe { view.assume_init() },
        })
    }

    pub fn ptr(&self) -> *mut u8 {
        self.view.buf.cast()
    }

    pub fn len(&self) -> usize {
        self.view.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for PinnedBuf {
    fn drop(&mut self) {
        // SAFETY: the view came from a successful PyObject_GetBuffer and is
        // released exactly once; we are attached to the interpreter (see the
        // Send impl above).
        unsafe { ffi::PyBuffer_Release(&mut self.view) };
    }
}

/// What a slot keeps alive for the kernel. Taken out of the slot under the
/// state lock and dropped after it is released, because releasing a buffer
/// or dropping an object can run arbitrary Python code.
#[derive(Default)]
pub struct Keep {
    pub buf: Option<PinnedBuf>,
    pub obj: Option<Py<PyAny>>,
    pub bufs: Vec<PinnedBuf>,
}

impl Keep {
    pub fn buf(b: PinnedBuf) -> Keep {
        Keep {
            buf: Some(b),
            ..Default::default()
        }
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_none() && self.obj.is_none() && self.bufs.is_empty()
    }
}

/// One in-flight op.
#[derive(Default)]
pub struct Slot {
    pub user_data: u64,
    pub generation: u32,
    pub opcode: u8,
    pub live: bool,
    pub keep: Keep,
    /// Plain memory the kernel uses through pointers in the SQE. Its heap
    /// buffer is stable while the slot is live (it is only resized when the
    /// slot is being prepared), and its capacity is reused across ops.
    pub scratch: Vec<u64>,
    /// Whether `scratch` was handed out for the current op.
    scratch_taken: bool,
}

impl Slot {
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
}

/// The slab of slots, with a free list so steady-state queueing allocates
/// nothing.
#[derive(Default)]
pub struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

impl Slots {
    pub fn token(index: u32, generation: u32) -> u64 {
        ((generation as u64) << 32) | index as u64
    }

    fn split(token: u64) -> (u32, u32) {
        (
            (token & 0xffff_ffff) as u32,
            ((token >> 32) & 0x7fff_ffff) as u32,
        )
    }

    /// Takes a free slot for an op with `user_data`; returns its token.
    pub fn alloc(&mut self, user_data: u64, opcode: u8, keep: Keep) -> u64 {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        debug_assert!(!slot.live);
        slot.generation = (slot.generation + 1) & 0x7fff_ffff;
        slot.user_data = user_data;
        slot.opcode = opcode;
        slot.live = true;
        slot.keep = keep;
        slot.scratch_taken = false;
        self.live += 1;
        Self::token(index, slot.generation)
    }

    /// The live slot a token names, if any.
    pub fn get_mut(&mut self, token: u64) -> Option<&mut Slot> {
        if token & INTERNAL != 0 {
            return None;
        }
        let (index, generation) = Self::split(token);
        self.slots
            .get_mut(index as usize)
            .filter(|s| s.live && s.generation == generation)
    }

    /// Frees a live slot; returns what it kept, for the caller to drop once
    /// the state lock is released.
    pub fn release(&mut self, token: u64) -> Option<Keep> {
        let slot = self.get_mut(token)?;
        slot.live = false;
        let keep = std::mem::take(&mut slot.keep);
        let (index, _) = Self::split(token);
        self.free.push(index);
        self.live -= 1;
        Some(keep)
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
            .map(|(i, s)| Self::token(i as u32, s.generation))
            .collect()
    }

    /// Releases every live slot with `opcode` (slots no kernel op uses).
    pub fn release_opcode(&mut self, opcode: u8) -> Vec<Keep> {
        let tokens: Vec<u64> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live && s.opcode == opcode)
            .map(|(i, s)| Self::token(i as u32, s.generation))
            .collect();
        tokens.into_iter().filter_map(|t| self.release(t)).collect()
    }

    /// Everything still live, for a close that could not confirm the kernel
    /// is done: the caller leaks it rather than free memory in use.
    pub fn take_all(&mut self) -> Slots {
        std::mem::take(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_across_reuse_and_stale_ones_miss() {
        let mut s = Slots::default();
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
        assert!(s.get_mut(NO_TARGET).is_none());
        assert_eq!(a & INTERNAL, 0);
    }
}
