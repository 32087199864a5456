//! Waking a loop that sleeps in the OS poller, from any thread, without a syscall while it
//! is awake.
//!
//! A loop parked in `epoll_wait` is woken by writing to an eventfd registered in the same
//! epoll set (mio's `Waker`). That write is a syscall (~0.2 µs), and most wakes from other
//! threads arrive while the loop is busy and will look at its remote queue on the next turn
//! anyway. So the waking side writes only when the loop is really parked: one atomic state,
//! three values, which both sides change with read-modify-writes (so each sees the other's
//! latest move, and nothing is lost in between):
//!
//! ```text
//!            loop: begin_park            unpark (any thread)
//!  RUNNING ──────────────────▶ PARKED ──────────────────────▶ NOTIFIED
//!     ▲  ◀── loop: end_park ────┘  └─ the unparker writes the eventfd ─┘
//!     │                                                          │
//!     └───────────────── loop: end_park / begin_park ────────────┘
//! ```
//!
//! - `unpark` swaps in `NOTIFIED`; only if it took the place of `PARKED` does it write.
//! - `begin_park` moves `RUNNING` to `PARKED`; if it finds `NOTIFIED`, a wake came after
//!   the loop last looked at its queues: it takes the token and does not sleep.
//! - `end_park` swaps `RUNNING` back; a `NOTIFIED` it finds needs nothing more (the loop is
//!   about to look at its queues), and an eventfd write that lands later only makes one
//!   future poll return early.
//!
//! `loom_tests.rs` checks this code (not a copy) under every interleaving loom explores.

use std::fmt;

use crate::sync::{AtomicU8, Ordering};

/// The loop is running (or about to look at its queues): wakes need no syscall.
const RUNNING: u8 = 0;
/// The loop sleeps in the poller, or is about to: a wake must write the eventfd.
const PARKED: u8 = 1;
/// A wake arrived since the loop last parked: its next `begin_park` returns `false`.
const NOTIFIED: u8 = 2;

/// The park handshake between the loop and the threads that wake it.
pub(crate) struct ParkState {
    state: AtomicU8,
}

impl ParkState {
    pub(crate) fn new() -> Self {
        ParkState {
            state: AtomicU8::new(RUNNING),
        }
    }

    /// The loop is about to sleep in the poller. Returns `false` if a wake is already
    /// waiting (then the loop must not sleep; the token is consumed).
    fn begin_park(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, PARKED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED: take the token with a swap, not a store, so that a second
                // unpark racing with us is read (and its queue push made visible) too.
                let previous = self.state.swap(RUNNING, Ordering::SeqCst);
                debug_assert_eq!(previous, NOTIFIED);
                false
            }
        }
    }

    /// The loop is back from the poller.
    fn end_park(&self) {
        let previous = self.state.swap(RUNNING, Ordering::SeqCst);
        debug_assert_ne!(previous, RUNNING);
    }

    /// The loop's idle park: `poll(true)` may sleep in the poller (a wake from now on
    /// writes the eventfd); if a wake already came, `poll(false)` must not block.
    pub(crate) fn park_with(&self, poll: impl FnOnce(bool)) {
        if self.begin_park() {
            poll(true);
            self.end_park();
        } else {
            poll(false);
        }
    }

    /// Leaves a wake token; returns `true` if the loop is parked, so the caller must wake
    /// the poller.
    pub(crate) fn unpark(&self) -> bool {
        self.state.swap(NOTIFIED, Ordering::SeqCst) == PARKED
    }
}

impl fmt::Debug for ParkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state.load(Ordering::Relaxed) {
            RUNNING => "running",
            PARKED => "parked",
            _ => "notified",
        };
        f.debug_tuple("ParkState").field(&state).finish()
    }
}

/// What an [`Unparker`](handloop_executor::Unparker) of an I/O loop holds: the handshake
/// and the poller's waker (an eventfd on Linux, a user event on kqueue).
pub(crate) struct IoUnpark {
    pub(crate) park: ParkState,
    pub(crate) waker: mio::Waker,
}

impl IoUnpark {
    pub(crate) fn unpark(&self) {
        if self.park.unpark() {
            // The eventfd write only fails for a closed fd, which this Arc keeps open.
            self.waker
                .wake()
                .expect("handloop-io: writing the poller's wake eventfd failed");
        }
    }
}
