//! The event loop: `uring_rs.Loop`'s native half, a second client of the
//! engine (beside the Python `Ring` API). Its hot path is here: the ready
//! queue, timers, the iteration, completion dispatch; Python runs only the
//! user's callbacks and asyncio's cold paths.
//!
//! - `handle`: `Handle`, `TimerHandle`;
//! - `core`: `LoopCore`, the loop state and `_run_once`.

pub mod core;
pub mod handle;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<core::LoopCore>()?;
    m.add_class::<handle::Handle>()?;
    m.add_class::<handle::TimerHandle>()?;
    Ok(())
}
