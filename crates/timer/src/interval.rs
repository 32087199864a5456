//! `interval`: ticks at a fixed period, and what happens when ticks are missed.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::clock::deadline_after;
use crate::shared;
use crate::sleep::{Sleep, sleep_until};

/// Ticks every `period`, the first tick at once: `loop { interval.tick().await; ... }`.
///
/// Like a [`Sleep`], an interval works only on the loop it was created on: ticking it
/// on another loop panics.
///
/// Unlike `loop { sleep(period).await; work().await }`, the schedule does not drift by
/// the time `work` takes: ticks stay on the grid `start + k × period`. Ticks missed
/// because the task was busy are not replayed; see [`MissedTickBehavior`].
///
/// # Panics
/// If `period` is zero, or with no event loop with a timer running on this thread.
pub fn interval(period: Duration) -> Interval {
    let start = shared::with_current("interval", |timer| timer.now());
    interval_at(start, period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// If `period` is zero, or with no event loop with a timer running on this thread.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval: the period must be non-zero");
    Interval {
        next: start,
        period,
        behavior: MissedTickBehavior::default(),
        sleep: sleep_until(start),
    }
}

/// What an [`Interval`] does after ticks were missed (the task came back late).
///
/// Neither policy fires a burst of catch-up ticks after a stall: a task that was busy for
/// ten periods gets one late tick, not ten ticks in a row with no time between them. A
/// burst does nothing useful for the work a tick usually paces (polling, heartbeats,
/// redrawing): the ten ticks would all see the same state, and the burst itself delays
/// every other task on the loop right after a stall, when the loop is already behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MissedTickBehavior {
    /// The default. The late tick fires at once, and the next one is the next point of the
    /// original grid `start + k × period` strictly after now: the skipped ticks are
    /// dropped and the phase is kept (a heartbeat stays on its second).
    #[default]
    Skip,
    /// The late tick fires at once, and the schedule restarts from then: the next tick is
    /// one full period after the late one (the phase shifts by the delay).
    Delay,
}

impl MissedTickBehavior {
    /// The tick after `tick`, which was scheduled for `tick` and fired at `now`.
    fn next_tick(self, tick: Instant, now: Instant, period: Duration) -> Instant {
        let on_time = deadline_after(tick, period);
        if on_time > now {
            return on_time;
        }
        match self {
            MissedTickBehavior::Delay => deadline_after(now, period),
            MissedTickBehavior::Skip => {
                // The first grid point strictly after now.
                let late = (now - tick).as_nanos();
                let periods = late / period.as_nanos() + 1;
                let offset = period.as_nanos() * periods;
                let offset = Duration::new(
                    (offset / 1_000_000_000) as u64,
                    (offset % 1_000_000_000) as u32,
                );
                deadline_after(tick, offset)
            }
        }
    }
}

/// A stream of ticks; see [`interval`].
#[must_use = "an interval does nothing unless ticked"]
pub struct Interval {
    /// When the next tick is due.
    next: Instant,
    period: Duration,
    behavior: MissedTickBehavior,
    /// Waits for `next` (reset after each tick; its heap slot is reused).
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for (which is
    /// earlier than `now()` if the tick is late).
    ///
    /// A tick that is already due completes at once, without yielding.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick: `tick` for hand-written futures.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        // Even a tick that is due at once: on another loop, the next one would never come.
        self.sleep.check_on_its_loop();
        if self.next > self.sleep.timer_now() {
            if self.sleep.deadline() != self.next {
                self.sleep.reset(self.next);
            }
            if Pin::new(&mut self.sleep).poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let tick = self.next;
        self.next = self
            .behavior
            .next_tick(tick, self.sleep.timer_now(), self.period);
        Poll::Ready(tick)
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The policy for missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.behavior
    }

    /// Sets the policy for missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.behavior = behavior;
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("next", &self.next)
            .field("period", &self.period)
            .field("behavior", &self.behavior)
            .finish()
    }
}
