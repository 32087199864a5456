#![doc = include_str!("../../../docs/03-timer.md")]
#![forbid(unsafe_code)]

mod callback;
mod clock;
mod driver;
pub mod heap;
mod hold;
mod interval;
mod panics;
mod shared;
mod sleep;
mod sync;
mod timeout;

#[cfg(all(test, loom))]
mod loom_tests;

use std::time::Instant;

pub use callback::{TimerHandle, call_at, call_later};
pub use driver::TimerDriver;
pub use hold::{ClockHold, hold_clock, outstanding_holds};
pub use interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout, timeout_at};

/// The loop's clock (asyncio's `loop.time()`): the real time read once at the start of
/// each loop turn, or the virtual time of a [`TimerDriver::new_virtual`] loop.
///
/// # Panics
/// With no event loop with a timer running on this thread.
pub fn now() -> Instant {
    shared::with_current("now", |timer| timer.now())
}

/// The loop's clock, if an event loop with a timer runs on this thread: [`now`] without
/// the panic (the task dump uses it to show sleeps against the loop's own time).
pub fn try_now() -> Option<Instant> {
    shared::try_with_current(|timer| timer.now())
}

/// The memory held by the current loop's timer heap (for tests that check it stays flat).
///
/// # Panics
/// With no event loop with a timer running on this thread.
#[doc(hidden)]
pub fn heap_footprint() -> heap::Footprint {
    shared::with_current("heap_footprint", |timer| timer.heap.borrow().footprint())
}
