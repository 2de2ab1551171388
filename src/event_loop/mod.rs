//! The event loop: `uring_rs.Loop`'s native half, a second client of the
//! engine (beside the Python `Ring` API). Its hot path is here: the ready
//! queue, timers, the iteration, completion dispatch; Python runs only the
//! user's callbacks and asyncio's cold paths.
//!
//! - `handle`: `Handle`, `TimerHandle`;
//! - `state`: the loop's state (ops, ready entries, timers, watches);
//! - `core`: `LoopCore`'s iteration and Python-visible methods;
//! - `recvbufs`: the provided-buffer ring stream recvs read into;
//! - `stream`: stream transports' native half and servers' accepts;
//! - `wbuf`: a stream's write buffer and what one send takes from it;
//! - `sock`: the `sock_*` coroutines' ring ops;
//! - `relay`: relay rings, through which `uring_rs.aio` uses the loop's ring.

pub mod core;
pub mod handle;
pub mod recvbufs;
pub mod relay;
pub mod sock;
pub mod state;
pub mod stream;
pub mod wbuf;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<state::LoopCore>()?;
    m.add_class::<handle::Handle>()?;
    m.add_class::<handle::TimerHandle>()?;
    m.add_class::<stream::StreamCore>()?;
    Ok(())
}
