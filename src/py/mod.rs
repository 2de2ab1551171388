//! The Python API: `Ring`, `Sqe`, `Cqe`, `Probe`, the op functions of
//! `uring_rs.ops`, the batch API, registration and `BufferRing`. A thin
//! client of the engine: it converts Python arguments,
//! keeps Python objects alive for the kernel (`keep.rs`), and turns errnos
//! into Python exceptions (`error.rs`).
//!
//! Layers inside, each using only those above it:
//! - `error`, `args`, `named`, `addr`: exceptions and argument conversion;
//! - `keep`: pinned buffers and the per-op keep-alive (`Keep: Hold`);
//! - `cqe`: `Cqe` and `Probe` (plain values);
//! - `ring`: the Ring's state, lock, queueing, reaping and waits;
//! - `sqe`: the `Sqe` handle and `queue`;
//! - `teardown`: close, drain, orphans;
//! - `ops`, `ops_ext`, `batch`, `register`, `pbuf`: op functions, batch ops,
//!   registration and buffer rings;
//! - `fresh`: `_FreshBytes`, an uninitialised `bytes` for one read to fill;
//! - `ring_api`: the Python-visible `Ring` methods.

pub mod addr;
pub mod args;
pub mod batch;
pub mod cqe;
pub mod error;
pub mod fresh;
pub mod keep;
pub mod named;
pub mod ops;
pub mod ops_ext;
pub mod pbuf;
pub mod register;
pub mod ring;
pub mod ring_api;
pub mod sqe;
pub mod teardown;
