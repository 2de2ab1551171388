//! Closing a `Ring`: cancel, drain, then unmap, without ever freeing memory
//! the kernel may still write; and the SINGLE_ISSUER rings collected on a
//! thread the kernel refuses, handed to their issuer (orphans).
//!
//! Owns: the teardown order and the close-time fd cleanup. May not touch:
//! op preparation or the Python-visible methods (`ring_api.rs` calls in).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::engine::{Completion, Engine};
use crate::py::keep::Keep;
use crate::py::ring::{Held, Issuer, Ring, MESSAGE_SLOT};

/// How long `close()` waits for cancelled ops to finish before it gives up
/// and keeps (leaks) their memory rather than free what the kernel may use.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A SINGLE_ISSUER ring dropped by the garbage collector on a thread the
/// kernel refuses, with ops in flight: its memory waits here until its
/// issuer thread touches uring_rs again and tears it down. (If the issuer
/// exits first, the kernel neither cancels the ops nor lets another thread
/// do so: the next sweep closes the ring and keeps the memory for good.)
struct Orphan {
    engine: Engine<Keep>,
    held: Held,
    issuer: Issuer,
}

static ORPHANS: Mutex<Vec<Orphan>> = Mutex::new(Vec::new());
static ORPHAN_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Finishes the orphans that can be finished from this thread: those whose
/// issuer is this thread (cancel and drain) or has exited. Cheap when there
/// are none: one relaxed load.
pub fn sweep_orphans(py: Python<'_>) {
    if ORPHAN_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mine: Vec<Orphan> = {
        let mut all = ORPHANS.lock().unwrap_or_else(|p| p.into_inner());
        let (take, keep): (Vec<Orphan>, Vec<Orphan>) = all
            .drain(..)
            .partition(|o| o.issuer.is_current() || !o.issuer.alive());
        *all = keep;
        ORPHAN_COUNT.store(all.len(), Ordering::Relaxed);
        take
    };
    for o in mine {
        drain_and_close(py, o.engine, o.held);
    }
}

impl Ring {
    /// Cancels and drains everything in flight, then unmaps and closes.
    /// Memory the kernel may still use is never freed: if the ops cannot be
    /// confirmed finished within `CLOSE_GRACE`, their slots are leaked.
    ///
    /// `explicit` is a call to `close()` (which may raise) rather than
    /// garbage collection: a SINGLE_ISSUER ring with ops in flight closed
    /// from a thread the kernel refuses raises then; collected there, it is
    /// handed to its issuer thread (see [`Orphan`]).
    pub fn shutdown(&self, py: Python<'_>, explicit: bool) -> PyResult<()> {
        sweep_orphans(py);
        let mut g = self.lock();
        let Some(mut engine) = g.engine.take() else {
            return Ok(());
        };
        let held = std::mem::take(&mut g.held);
        let issuer = g.issuer.clone();
        if let Some(issuer) = issuer.filter(|i| !i.is_current() && !self.forked()) {
            // Whatever the kernel already completed can be reaped from any
            // thread; only the rest needs the issuer.
            let (mut out, mut dead) = (Vec::new(), Vec::new());
            engine.reap(usize::MAX, true, &mut out, &mut dead);
            let live = engine.slots.live();
            if live > 0 && issuer.alive() {
                if explicit {
                    // Put it back: the caller may close it from the issuer.
                    g.engine = Some(engine);
                    g.held = held;
                    drop(g);
                    close_fds(&out);
                    drop(dead);
                    return Err(PyRuntimeError::new_err(format!(
                        "this Ring was set up with IORING_SETUP_SINGLE_ISSUER and has {live} ops \
                         in flight: the kernel only lets the thread that submits to it cancel \
                         them, so close it from that thread"
                    )));
                }
                drop(g);
                let mut all = ORPHANS.lock().unwrap_or_else(|p| p.into_inner());
                all.push(Orphan {
                    engine,
                    held,
                    issuer,
                });
                ORPHAN_COUNT.store(all.len(), Ordering::Relaxed);
                drop(all);
                close_fds(&out);
                drop(dead);
                return Ok(());
            }
            drop(g);
            close_fds(&out);
            drop(dead);
        } else {
            drop(g);
        }
        if self.forked() {
            // The child has no ring memory (MADV_DONTFORK) and its buffers
            // are private copies the kernel never writes: drop our references
            // and close the child's copy of the fd.
            drop((engine, held));
            return Ok(());
        }
        if self.is_disabled() {
            // A ring never enabled has consumed no SQE: nothing queued ever
            // reached the kernel.
            let dead = engine.slots.release_all();
            drop(dead);
            drop((engine, held));
            return Ok(());
        }
        drain_and_close(py, engine, held);
        Ok(())
    }
}

/// Closes the fds that successful completions of fd-making ops carried,
/// which nobody will ever see (completions discarded by a close).
fn close_fds(cqes: &[Completion]) {
    for c in cqes.iter().filter(|c| c.makes_fd && c.res >= 0) {
        // SAFETY: the fd came from a completion of an op that creates an
        // fd, which nobody consumed: this process owns it and nothing else
        // knows it.
        unsafe { libc::close(c.res) };
    }
}

/// The common teardown, on an engine no other thread can reach any more:
/// releases what never reached the kernel, cancels the rest and reaps until
/// nothing is in flight or `CLOSE_GRACE` runs out (then leaks what is left,
/// never freeing memory the kernel may write), closing fds that discarded
/// completions carried; then unmaps and closes.
fn drain_and_close(py: Python<'_>, mut engine: Engine<Keep>, held: Held) {
    // Messages other rings may still post here hold no memory.
    drop(engine.slots.release_opcode(MESSAGE_SLOT));
    let done = engine.drain(
        CLOSE_GRACE,
        |out, dead| {
            close_fds(&out);
            drop(dead);
        },
        // Signals are not acted on here: a half-closed ring would be worse
        // than a close that finishes within its grace period.
        |raw, pending, flags, ts| py.detach(|| raw.enter(pending, 1, flags, ts)),
        || 0,
    );
    if !done {
        // Could not confirm the kernel is done: keep every registered
        // buffer forever too (drain kept the ops' memory) rather than free
        // memory the kernel may still write.
        std::mem::forget(held);
        return;
    }
    drop(engine);
    drop(held);
}
