//! The only atomics of this crate (the virtual clock's holds, which other threads
//! release), switchable to loom's models with `RUSTFLAGS="--cfg loom"` so that the model in
//! `loom_tests.rs` checks this very code. Everything else in the crate is loop-local.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
