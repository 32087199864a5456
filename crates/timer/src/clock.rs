//! The loop's clock: real time read once per turn, or virtual time that only jumps.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Where `now()` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClockKind {
    /// `Instant::now()`, read at most once per loop turn and cached.
    Real,
    /// Starts at the instant the driver was built and moves only when the loop jumps it to
    /// the next deadline.
    Virtual,
}

/// The clock of one timer driver. Cells, not a `RefCell`: reading the time never conflicts
/// with anything else the timer does.
#[derive(Debug)]
pub(crate) struct Clock {
    kind: ClockKind,
    /// The cached time (real clock) or the current virtual time.
    now: Cell<Instant>,
    /// Real clock only: the cache is from an earlier turn and must be read again.
    stale: Cell<bool>,
}

impl Clock {
    pub(crate) fn new(kind: ClockKind) -> Clock {
        Clock {
            kind,
            now: Cell::new(Instant::now()),
            stale: Cell::new(kind == ClockKind::Real),
        }
    }

    pub(crate) fn kind(&self) -> ClockKind {
        self.kind
    }

    /// The loop's current time: the first call in a turn reads the real clock, later calls
    /// in the same turn return the same instant. Virtual time is just returned.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        if self.stale.get() {
            self.read()
        } else {
            self.now.get()
        }
    }

    /// Real clock only: a new turn begins and the driver needs the time at once (to check
    /// the heap). Reads the clock now, as the turn's first `now()` would.
    #[inline]
    pub(crate) fn refresh(&self) -> Instant {
        debug_assert_eq!(self.kind, ClockKind::Real);
        self.read()
    }

    /// Reads the real clock into the cache.
    #[inline]
    fn read(&self) -> Instant {
        self.stale.set(false);
        // `Instant` is monotonic; `max` only guards against platform quirks.
        let now = Instant::now().max(self.now.get());
        self.now.set(now);
        now
    }

    /// A new turn begins: the real clock will be read again on the next `now()`.
    #[inline]
    pub(crate) fn invalidate(&self) {
        if self.kind == ClockKind::Real {
            self.stale.set(true);
        }
    }

    /// Virtual clock only: moves time forward to `deadline` (never backwards).
    pub(crate) fn jump_to(&self, deadline: Instant) {
        debug_assert_eq!(self.kind, ClockKind::Virtual);
        if deadline > self.now.get() {
            self.now.set(deadline);
        }
    }
}

/// `now + delay`, saturating at a far-away instant instead of overflowing (a sleep of
/// `Duration::MAX` simply never fires).
#[inline]
pub(crate) fn deadline_after(now: Instant, delay: Duration) -> Instant {
    /// About thirty years: later than any program runs.
    const FAR_FUTURE: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);
    now.checked_add(delay)
        .unwrap_or_else(|| now + FAR_FUTURE.min(delay))
}
