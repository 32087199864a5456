//! Holding the virtual clock while work the loop waits for runs somewhere else.
//!
//! The virtual clock jumps to the next deadline whenever the loop has nothing to do. That
//! is only right if nothing outside the loop is about to give it something to do. A job
//! running on another thread (the facade's `to_thread`) will wake a task when it finishes,
//! but the loop cannot see it coming: without a hold, a task awaiting the job under a
//! `timeout` sees the timeout fire at once, however short the job (tokio#5115). A
//! [`ClockHold`] says "wait for me, for real": while one is held, the loop sleeps until an
//! unpark instead of jumping.
//!
//! # The handshake
//!
//! One word, shared with the threads that drop holds: its low half counts the holds, its
//! high half counts releases. Dropping a hold does one read-modify-write (one release more,
//! one hold less) and then unparks the loop. The loop, about to jump, loads the word:
//!
//! - holds left: sleep until unparked (the last release unparks it);
//! - none left, but releases it has not seen yet: do not jump now; take one more turn
//!   first. A job's owner drops its hold *after* handing over its result, so the wake that
//!   carries the result is already in the loop's remote queue, and that turn runs the
//!   woken task before the clock moves;
//! - none left and nothing new: jump.
//!
//! A release that lands between the loop's load and its sleep is not lost: the unpark
//! leaves a token that makes the sleep return at once.

use handloop_executor::Unparker;
use std::cell::Cell;
use std::fmt;

use crate::shared;
use crate::sync::{Arc, AtomicU64, Ordering};

/// The low half of the word: holds outstanding.
const HOLDS: u64 = u32::MAX as u64;
/// Added by a release: one more in the high half, one less in the low half (the low half
/// is at least 1, so the subtraction never borrows).
const RELEASE: u64 = (1 << 32) - 1;

/// What the threads holding the clock share with the loop.
struct HoldState {
    word: AtomicU64,
    unparker: Unparker,
    /// The loop's clock is virtual: a release must wake the loop, which may be sleeping
    /// for it. On the real clock holds are only counted.
    virtual_clock: bool,
}

/// A virtual clock's holds, on the loop's side.
pub(crate) struct Holds {
    state: Arc<HoldState>,
    /// The release count the loop last saw (the word's high half).
    seen_releases: Cell<u64>,
}

/// What the loop may do with its virtual clock right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoldCheck {
    /// Work outside the loop holds the clock: sleep until unparked, do not jump.
    Held,
    /// The last hold was just released: take one more turn (to run what its owner woke)
    /// before jumping.
    Released,
    /// Nothing holds the clock: it may jump.
    Free,
}

impl Holds {
    /// Holds of `unparker`'s loop, whose clock is virtual or not.
    pub(crate) fn new(unparker: Unparker, virtual_clock: bool) -> Holds {
        Holds {
            state: Arc::new(HoldState {
                word: AtomicU64::new(0),
                unparker,
                virtual_clock,
            }),
            seen_releases: Cell::new(0),
        }
    }

    /// Takes one hold (on the loop's thread).
    pub(crate) fn hold(&self) -> ClockHold {
        let before = self.state.word.fetch_add(1, Ordering::Relaxed);
        assert!(
            before & HOLDS != HOLDS,
            "more than u32::MAX clock holds at once"
        );
        ClockHold {
            state: self.state.clone(),
        }
    }

    /// How many holds are alive (on any thread).
    pub(crate) fn outstanding(&self) -> usize {
        (self.state.word.load(Ordering::Relaxed) & HOLDS) as usize
    }

    /// Looks at the holds, the loop being about to jump its clock.
    pub(crate) fn check(&self) -> HoldCheck {
        // Acquire: pairs with a release's read-modify-write, so the wake its owner pushed
        // before it is visible to the turn that follows.
        let word = self.state.word.load(Ordering::Acquire);
        let releases = word >> 32;
        let unseen = self.seen_releases.replace(releases) != releases;
        if word & HOLDS != 0 {
            HoldCheck::Held
        } else if unseen {
            HoldCheck::Released
        } else {
            HoldCheck::Free
        }
    }
}

impl fmt::Debug for Holds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Holds")
            .field("outstanding", &self.outstanding())
            .finish()
    }
}

/// Keeps the virtual clock of this thread's loop from jumping ahead until the returned
/// [`ClockHold`] is dropped, which may happen on any thread.
///
/// Take one before handing work to another thread when a task will wait for that work
/// (the facade's `to_thread` does), and drop it on that thread *after* handing the result
/// over (waking the task). While a hold is alive, a loop with nothing ready really sleeps
/// until woken, instead of jumping its clock to the next deadline; so a `timeout` around
/// the work, or any other timer, cannot fire just because the work was not done yet. A
/// real clock needs no hold: on such a loop the guard is only counted
/// ([`outstanding_holds`] tells how much work outside the loop is in flight).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use handloop_executor::{EventLoop, ThreadPark};
/// use handloop_timer::{TimerDriver, hold_clock, now, sleep};
///
/// let event_loop = EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()));
/// event_loop.block_on(async {
///     let start = now();
///     let done = Arc::new(AtomicBool::new(false));
///     let hold = hold_clock();
///     let worker = {
///         let done = done.clone();
///         std::thread::spawn(move || {
///             std::thread::sleep(Duration::from_millis(20)); // real work, real time
///             done.store(true, Ordering::SeqCst);
///             drop(hold); // from here on the clock may jump again
///         })
///     };
///     sleep(Duration::from_secs(3600)).await;
///     // The hour passed only once the worker let go of the clock.
///     assert!(done.load(Ordering::SeqCst));
///     assert_eq!(now() - start, Duration::from_secs(3600));
///     worker.join().unwrap();
/// });
/// ```
///
/// # Panics
/// With no event loop with a timer running on this thread.
pub fn hold_clock() -> ClockHold {
    shared::with_current("hold_clock", |timer| timer.holds.hold())
}

/// How many [`ClockHold`]s of this thread's loop are alive, on any thread: work on other
/// threads that a task of the loop waits for (the facade's `to_thread` jobs, queued or
/// running, hold one each). Counted on the real clock as on the virtual one; one relaxed
/// load.
///
/// ```
/// use handloop_executor::{EventLoop, ThreadPark};
/// use handloop_timer::{TimerDriver, hold_clock, outstanding_holds};
///
/// let event_loop = EventLoop::with_driver(TimerDriver::new(ThreadPark::new()));
/// event_loop.block_on(async {
///     let hold = hold_clock();
///     assert_eq!(outstanding_holds(), 1);
///     std::thread::spawn(move || drop(hold)).join().unwrap();
///     assert_eq!(outstanding_holds(), 0);
/// });
/// ```
///
/// # Panics
/// With no event loop with a timer running on this thread.
pub fn outstanding_holds() -> usize {
    shared::with_current("outstanding_holds", |timer| timer.holds.outstanding())
}

/// A hold on a loop's virtual clock, made by [`hold_clock`]: while it lives the clock does
/// not jump. It is `Send`: drop it on the thread that did the work, once the result is
/// handed over.
#[must_use = "the clock is held only while the ClockHold lives"]
pub struct ClockHold {
    state: Arc<HoldState>,
}

impl ClockHold {
    /// Whether this guard holds a virtual clock (`false` on a real-clock loop, where it
    /// is only counted).
    pub fn is_holding(&self) -> bool {
        self.state.virtual_clock
    }
}

impl Drop for ClockHold {
    fn drop(&mut self) {
        // Release: whatever this thread did before (waking the task that awaits the work)
        // is visible to the loop that sees the release.
        self.state.word.fetch_add(RELEASE, Ordering::Release);
        if self.state.virtual_clock {
            self.state.unparker.unpark();
        }
    }
}

impl fmt::Debug for ClockHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClockHold")
            .field("holding", &self.is_holding())
            .finish()
    }
}
