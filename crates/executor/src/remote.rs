//! The remote queue: what other threads hand the loop, waiting for the loop's next turn.
//!
//! A mutex-protected list plus an atomic "something is waiting" flag, so that the loop's
//! check on every turn is one load, and the lock is only taken when there is work. Entries
//! are applied in the order they were pushed, at the start of a turn, before the ready
//! queue's tasks run.
//!
//! Closing it (at the end of the loop's shutdown) hands back what was waiting and refuses
//! later pushes, so a waker that outlives its loop never enqueues into nothing.

use std::fmt;

use crate::core::Core;
use crate::sync::{AtomicBool, Mutex, Ordering, lock};
use crate::task::refs::{RemoteRef, WakerRelease};
use crate::task::remote::Launch;

/// What `call_soon_threadsafe` sends: a closure the loop calls with its core, on its
/// thread, to put a callback on the ready queue. It runs no user code: the user's closure
/// is moved into a callback task and runs when that task is polled.
pub(crate) type Schedule = Box<dyn FnOnce(&Core) + Send>;

/// One thing another thread handed the loop. Each variant owns what it carries: dropping an
/// entry anywhere gives its reference back.
pub(crate) enum Remote {
    /// Schedule the task (a wake from another thread), with a reference of its own.
    Wake(RemoteRef),
    /// A local waker was dropped (or woken by value, if `wake`) off the loop's thread: its
    /// reference comes back to the loop.
    Waker { release: WakerRelease, wake: bool },
    /// A callback sent by a `Handle` (`call_soon_threadsafe`).
    Schedule(Schedule),
    /// A task sent by a `Handle` (`spawn`, `spawn_with`).
    Spawn(Launch),
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Wake(task) => f.debug_tuple("Wake").field(task).finish(),
            Remote::Waker { release, wake } => f
                .debug_struct("Waker")
                .field("release", release)
                .field("wake", wake)
                .finish(),
            Remote::Schedule(_) => f.write_str("Schedule"),
            Remote::Spawn(launch) => f.debug_tuple("Spawn").field(launch).finish(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct RemoteQueue<T> {
    pending: AtomicBool,
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    items: Vec<T>,
    closed: bool,
}

impl<T> RemoteQueue<T> {
    pub(crate) fn new() -> Self {
        RemoteQueue {
            pending: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                items: Vec::new(),
                closed: false,
            }),
        }
    }

    /// Adds an item from any thread; gives it back if the queue is closed.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut inner = lock(&self.inner);
        if inner.closed {
            return Err(item);
        }
        inner.items.push(item);
        self.pending.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether a push may be waiting (one load; the loop asks on every turn).
    #[inline]
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Moves everything waiting into `into` (the loop's thread, once per turn).
    pub(crate) fn drain_into(&self, into: &mut Vec<T>) {
        if !self.is_pending() {
            return;
        }
        let mut inner = lock(&self.inner);
        self.pending.store(false, Ordering::Relaxed);
        if into.is_empty() {
            // The usual case: trade buffers, so the lock is held for no copy, however
            // many entries wait (the senders keep the loop's empty buffer, and its room).
            std::mem::swap(into, &mut inner.items);
        } else {
            into.append(&mut inner.items);
        }
    }

    /// Whether the queue was closed (its loop dropped).
    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.inner).closed
    }

    /// Refuses every later push and returns what was waiting.
    pub(crate) fn close(&self) -> Vec<T> {
        let mut inner = lock(&self.inner);
        inner.closed = true;
        self.pending.store(false, Ordering::Relaxed);
        std::mem::take(&mut inner.items)
    }
}
