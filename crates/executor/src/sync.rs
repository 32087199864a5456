//! The synchronisation primitives of the cross-thread paths (the remote queue and the
//! parker), switchable to loom's models with `RUSTFLAGS="--cfg loom"`.
//!
//! Everything else in the crate runs on the loop's own thread and needs no atomics beyond
//! the task reference count.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

/// Locks a mutex, ignoring poisoning: the data behind our locks (a list of woken tasks, a
/// unit) is valid whatever a panicking holder was doing.
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
