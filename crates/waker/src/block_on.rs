//! [`block_on`]: the smallest executor. Poll; when the future waits, park the thread
//! until its waker fires; poll again.
//!
//! The waker is an `Arc<Parker>`: a "notified" flag and the blocked thread's handle.
//! Waking sets the flag, then unparks the thread. The blocked thread parks until it can
//! take the flag (`swap(false)` returns `true`), so:
//!
//! - a wake that comes before the thread parks is not lost: the flag is already set,
//!   and the unpark token (std remembers one) makes the next `park` return at once;
//! - an `unpark` from unrelated code, or a spurious return from `park`, finds the flag
//!   unset, and the thread parks again: no poll without a wake.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::thread::{self, Thread};

use crate::arc_wake::{ArcWake, waker};

/// What [`block_on`]'s waker points to: "you were woken" and whom to unpark.
#[derive(Debug)]
struct Parker {
    notified: AtomicBool,
    thread: Thread,
}

impl ArcWake for Parker {
    fn wake_by_ref(self: &Arc<Self>) {
        // Release: whatever the waking thread did before waking (e.g. store a value)
        // is visible to the blocked thread once it takes the flag with Acquire.
        self.notified.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Runs `fut` to completion on the current thread and returns its output.
///
/// Polls the future; when it returns [`Poll::Pending`], parks the thread until the
/// future's waker fires (from this thread, inside `poll`, or from any other thread),
/// then polls again. One poll per wake at most: several wakes between two polls make
/// one poll, and nothing but a wake makes one.
///
/// This runs one future. Anything it waits on must be woken by someone else (another
/// thread, or the future itself); step 2 (`handloop-executor`) adds a ready queue so
/// many tasks can wait on one another.
///
/// ```
/// let out = handloop_waker::block_on(async { 6 * 7 });
/// assert_eq!(out, 42);
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    // `poll` needs `Pin<&mut F>`: pin the future here, on this stack frame. It never
    // moves again, and it is dropped when we return.
    let mut fut = pin!(fut);
    let parker = Arc::new(Parker {
        notified: AtomicBool::new(false),
        thread: thread::current(),
    });
    let waker = waker(Arc::clone(&parker));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        // Wait for *our* wake: take the flag, or park until it might be set.
        while !parker.notified.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}
