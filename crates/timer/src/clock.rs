//! The loop's clock: real time read once per turn, or virtual time that only jumps.

use std::cell::{Cell, OnceCell};
use std::time::{Duration, Instant};

use handloop_executor::Turns;

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
    /// Real clock only: the loop turn `now` was read in. A reading from an earlier turn is
    /// stale and read again.
    read_in: Cell<u64>,
    /// The loop's turn count, once the driver is attached to a loop (before that, every
    /// `now()` reads the real clock).
    turns: OnceCell<Turns>,
}

impl Clock {
    pub(crate) fn new(kind: ClockKind) -> Clock {
        Clock {
            kind,
            now: Cell::new(Instant::now()),
            read_in: Cell::new(0),
            turns: OnceCell::new(),
        }
    }

    pub(crate) fn kind(&self) -> ClockKind {
        self.kind
    }

    /// Counts turns with the loop's turn count from now on.
    pub(crate) fn attach(&self, turns: Turns) {
        // The cache is from no turn of this loop: the next `now()` reads.
        self.read_in.set(turns.current().wrapping_sub(1));
        // (Attached once: a driver belongs to one loop.)
        let _ = self.turns.set(turns);
    }

    /// The loop's current time: the first call in a turn reads the real clock, later calls
    /// in the same turn return the same instant. Virtual time is just returned.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        if self.kind == ClockKind::Real && !self.read_this_turn() {
            self.read()
        } else {
            self.now.get()
        }
    }

    /// Whether the cached real time was read in the loop's current turn.
    #[inline]
    fn read_this_turn(&self) -> bool {
        self.turns
            .get()
            .is_some_and(|turns| turns.current() == self.read_in.get())
    }

    /// Real clock only: the driver needs the time at once (to check the heap, in the
    /// park that begins a turn). Reads the clock now, as the turn's first `now()` would.
    #[inline]
    pub(crate) fn refresh(&self) -> Instant {
        debug_assert_eq!(self.kind, ClockKind::Real);
        self.read()
    }

    /// Reads the real clock into the cache.
    #[inline]
    fn read(&self) -> Instant {
        if let Some(turns) = self.turns.get() {
            self.read_in.set(turns.current());
        }
        // `Instant` is monotonic; `max` only guards against platform quirks.
        let now = Instant::now().max(self.now.get());
        self.now.set(now);
        now
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
