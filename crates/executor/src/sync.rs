//! Every synchronisation primitive of the crate, switchable to loom's models with
//! `RUSTFLAGS="--cfg loom"`: the task header's atomics, the tickets of `Shared`, the remote
//! queue, the parker and the `Arc`s of the unparkers (loom reports any of those leaked).
//! The thread-local that says which loop runs on this thread switches too (`context.rs`):
//! loom runs its threads on one OS thread, so a std thread-local would be shared by them.
//!
//! Nothing else in the crate is shared between threads: the rest of a loop and its tasks'
//! bookkeeping live in plain `Cell`s on the loop's own thread.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicUsize, Ordering, fence},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicUsize, Ordering, fence},
};

/// Locks a mutex, ignoring poisoning: the data behind our locks (a list of remote entries,
/// a unit) is valid whatever a panicking holder was doing.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(loom)]
    {
        mutex.lock().unwrap()
    }
    #[cfg(not(loom))]
    {
        mutex.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}
