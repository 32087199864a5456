//! The one atomic of this crate, switchable to loom's model with `RUSTFLAGS="--cfg loom"`.
//!
//! Everything else in the crate runs on the loop's own thread (the reactor is a
//! thread-local, readiness is a plain `bool`); only the park handshake in `unpark.rs` is
//! touched by other threads.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
