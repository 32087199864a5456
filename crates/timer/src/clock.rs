//! The loop's clock: real time read once per turn, or virtual time that only jumps.

use std::cell::Cell;
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
    /// The turn count: the loop's once the driver is attached to it, else the clock's own,
    /// which the driver moves on at each park.
    turns: Turns,
    /// The turn `now` was read in: a real-clock reading from an earlier turn is stale and
    /// read again.
    read_in: Cell<u64>,
}

impl Clock {
    pub(crate) fn new(kind: ClockKind) -> Clock {
        let turns = Turns::new();
        Clock {
            kind,
            now: Cell::new(Instant::now()),
            // From no turn: the first `now()` reads.
            read_in: Cell::new(turns.current().wrapping_sub(1)),
            turns,
        }
    }

    pub(crate) fn kind(&self) -> ClockKind {
        self.kind
    }

    /// Counts turns with the loop's turn count from now on.
    pub(crate) fn attach(&mut self, turns: Turns) {
        self.read_in.set(turns.current().wrapping_sub(1));
        self.turns = turns;
    }

    /// A driver that is not attached parks: a new turn begins.
    pub(crate) fn next_turn_unattached(&self) {
        self.turns.advance();
    }

    /// The loop's current time: the first call in a turn reads the real clock, later calls
    /// in the same turn return the same instant. Virtual time is just returned.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        if self.read_in.get() == self.turns.current() {
            self.now.get()
        } else {
            self.first_in_turn()
        }
    }

    /// The first `now()` of a turn: reads the real clock (virtual time only moves when the
    /// driver jumps it).
    #[inline]
    fn first_in_turn(&self) -> Instant {
        match self.kind {
            ClockKind::Real => self.read(),
            ClockKind::Virtual => {
                self.read_in.set(self.turns.current());
                self.now.get()
            }
        }
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
        self.read_in.set(self.turns.current());
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
