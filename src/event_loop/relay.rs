//! Relay rings: how `uring_rs.aio` on a `uring_rs.Loop` uses the loop's
//! own ring. A relay is a Python `Ring` over private memory
//! (`RawRing::relay`): its client (an `AioRing`) queues ops on it with the
//! ordinary op functions, which pin what each op uses in the relay's slots.
//! Each iteration the loop moves the relay's flushed SQEs into its own SQ
//! (whole chains, in order) and submits them with its own in its one
//! `io_uring_enter`; completions whose tokens the loop does not know are
//! handed to the relays, whose slots release what the op kept, and each
//! relay's batch of `(user_data, res, flags)` goes to its `deliver`
//! callback from the ready queue. No eventfd, no second ring, no extra
//! syscall.
//!
//! Owns: attaching relays, the transfer, the routing, a relay's close-time
//! drain. May not touch: what the relay's ops are (the op functions and
//! `AioRing` decide), the loop's own ops.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::engine::{prep, sys, Engine};
use crate::event_loop::state::{submit_now, Op, Ready, Relay, State};
use crate::py::keep::Keep;
use crate::py::ring::Ring;

/// What routed completions released: dropped once no lock is held (a
/// decref may run Python code that calls back into the loop).
pub type Released = Vec<Keep>;

/// Whether `sqe` continues its chain into the next SQE.
fn links(sqe: &sys::Sqe) -> bool {
    sqe.flags & (sys::IOSQE_IO_LINK | sys::IOSQE_IO_HARDLINK) != 0
}

/// Moves every relay's flushed SQEs into the loop's SQ, a chain at a time
/// (a chain split between two submits would not be linked), submitting
/// what the loop has queued when a chain does not fit. Relays whose ring
/// was closed are detached.
pub fn transfer(st: &mut State) {
    let State { engine, relays, .. } = st;
    let Some(host) = engine.as_mut() else {
        return;
    };
    relays.retain(|r| {
        let ring = r.ring.get();
        let mut g = ring.lock();
        let Some(re) = g.engine.as_mut() else {
            return false; // closed: its ops were drained (or leaked) by its close
        };
        // A chain with IOSQE_CQE_SKIP_SUCCESS that the engine refuses stays
        // unflushed (AioRing never queues one).
        if re.flush_checked().is_err() {
            return true;
        }
        take_all(host, re);
        true
    });
}

/// Moves `re`'s flushed SQEs into `host`'s SQ.
fn take_all(host: &mut Engine<Op>, re: &mut Engine<Keep>) {
    let raw = re.raw.clone();
    let mut pos = raw.sq_head();
    let mut in_chain = false;
    raw.relay_take(|sqe| {
        if !in_chain {
            // The chain starting here: its length, as far as it is flushed.
            let mut len = 1u32;
            let mut last = *sqe;
            while links(&last) {
                match raw.relay_peek(pos.wrapping_add(len)) {
                    Some(next) => {
                        last = *next;
                        len += 1;
                    }
                    None => break,
                }
            }
            if host.space_left() < len {
                submit_now(host);
                if host.space_left() < len {
                    return false; // the rest goes next time
                }
            }
        }
        let Some((_, slot)) = host.raw.get_sqe(&mut host.sq) else {
            return false; // not reached: the chain's room was made above
        };
        *slot = *sqe;
        in_chain = links(sqe);
        pos = pos.wrapping_add(1);
        true
    });
    re.note_consumed();
}

/// Hands completions the loop's slots did not know (`foreign`) to the
/// relays they belong to; what their ops kept goes to `released`. Each
/// relay's batch is queued for its `deliver` (or collected, if draining).
pub fn route(py: Python<'_>, st: &mut State, mut foreign: Vec<sys::Cqe>, released: &mut Released) {
    let State { relays, ready, .. } = st;
    for r in relays.iter_mut() {
        if foreign.is_empty() {
            return;
        }
        let done = claim(r, &mut foreign, released);
        if done.is_empty() {
            continue;
        }
        match r.draining.as_mut() {
            Some(d) => d.extend(done),
            None => ready.push_back(Ready::Relay {
                deliver: r.deliver.clone_ref(py),
                done,
            }),
        }
    }
}

/// Takes out of `foreign` the completions of relay `r`'s ops (releasing
/// what they kept into `released`) and of its internal ops; returns its
/// own as `(user_data, res, flags)`. Other relays' completions stay.
pub fn claim(
    r: &Relay,
    foreign: &mut Vec<sys::Cqe>,
    released: &mut Released,
) -> Vec<(u64, i32, u32)> {
    let mut done = Vec::new();
    let mut g = r.ring.get().lock();
    let Some(re) = g.engine.as_mut() else {
        return done;
    };
    foreign.retain(|c| {
        match Engine::translate(&mut re.slots, c, true, released) {
            None => false, // the relay's internal op
            Some(x) if x.own => {
                done.push((x.user_data, x.res, x.flags));
                false
            }
            Some(_) => true, // another relay's
        }
    });
    done
}

/// Runs a `Ready::Relay`: `deliver([(user_data, res, flags), ...])`.
pub fn deliver(py: Python<'_>, deliver: &Py<PyAny>, done: &[(u64, i32, u32)]) -> PyResult<()> {
    let items = done
        .iter()
        .map(|&(u, r, f)| {
            PyTuple::new(
                py,
                [
                    u.into_pyobject(py)?.into_any(),
                    r.into_pyobject(py)?.into_any(),
                    f.into_pyobject(py)?.into_any(),
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    deliver.bind(py).call1((PyList::new(py, items)?,))?;
    Ok(())
}

/// Live ops of the relays (for the loop's close-time drain).
pub fn live(relays: &[Relay]) -> usize {
    relays
        .iter()
        .map(|r| {
            r.ring
                .get()
                .lock()
                .engine
                .as_ref()
                .map_or(0, |e| e.slots.live())
        })
        .sum()
}

/// Queues, on the loop's ring, a cancel of every op of relay `ring` in
/// flight (after moving its queued SQEs over, so each cancel follows its
/// target into the kernel). Returns how many ops are live.
pub fn cancel_all(st: &mut State, ring: &Ring) -> usize {
    transfer(st);
    let tokens = {
        let g = ring.lock();
        match g.engine.as_ref() {
            Some(e) => e.slots.live_tokens(),
            None => return 0,
        }
    };
    let Some(host) = st.engine.as_mut() else {
        return tokens.len();
    };
    for t in &tokens {
        if host.space_left() == 0 {
            submit_now(host);
        }
        let _ = host.queue(0, sys::IORING_OP_ASYNC_CANCEL, Op::None, |sqe, _| {
            prep::cancel(sqe, *t, 0)
        });
    }
    submit_now(host);
    tokens.len()
}
