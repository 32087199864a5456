//! What a loop shares with its driver: the count of its turns, and whether the driver
//! needs to be called on a busy turn at all.
//!
//! On a busy turn (tasks are ready) the loop would call `park(Some(Duration::ZERO))` so
//! the driver can fire due timers and, now and then, collect I/O events. With no timer
//! in the heap and no task waiting on I/O there is nothing for it to do, and a loop of
//! tasks handing work to each other takes such turns back to back. So a driver that
//! [attaches](crate::Driver::attach) says, through a [`BusyPark`], when it has work for
//! busy turns; while no driver has, the loop skips the call. Drivers that read the time
//! once per turn, or give each task a budget per turn, read the turn count instead of
//! counting their own parks.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

/// A loop's turn count and its drivers' wishes for busy turns, shared between the loop
/// and its driver (a cheap clone: an `Rc`). Loop-local: neither `Send` nor `Sync`.
///
/// ```
/// use handloop_executor::Turns;
///
/// let turns = Turns::new();
/// let timer = turns.busy_park();
/// assert!(!turns.busy_park_wanted());
/// timer.want(true); // a timer was registered: check the heap on busy turns
/// assert!(turns.busy_park_wanted());
/// timer.want(false); // the heap is empty again
/// assert!(!turns.busy_park_wanted());
/// ```
#[derive(Clone, Default)]
pub struct Turns(Rc<Shared>);

#[derive(Default)]
struct Shared {
    /// Turns begun so far (wrapping).
    turn: Cell<u64>,
    /// How many [`BusyPark`]s want the busy turn's park now.
    wanted: Cell<u32>,
}

impl Turns {
    /// A count at turn 0 that no driver wants busy turns from (what
    /// [`EventLoop`](crate::EventLoop) makes for itself; for a driver's own tests).
    pub fn new() -> Turns {
        Turns::default()
    }

    /// The current turn's number. It moves on when a turn ends, before the driver is
    /// parked: what a driver does in `park` belongs to the turn that follows.
    #[inline]
    pub fn current(&self) -> u64 {
        self.0.turn.get()
    }

    /// Ends a turn (the loop calls this; a driver's test may too).
    #[inline]
    pub fn advance(&self) {
        self.0.turn.set(self.0.turn.get().wrapping_add(1));
    }

    /// Whether any driver wants `park(Some(Duration::ZERO))` on busy turns now.
    #[inline]
    pub fn busy_park_wanted(&self) -> bool {
        self.0.wanted.get() != 0
    }

    /// One driver's say in whether busy turns park it (each driver of a stack takes its
    /// own). It starts by not wanting them.
    pub fn busy_park(&self) -> BusyPark {
        BusyPark {
            turns: self.clone(),
            wanted: Cell::new(false),
        }
    }
}

impl fmt::Debug for Turns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turns")
            .field("current", &self.current())
            .field("busy_park_wanted", &self.0.wanted.get())
            .finish()
    }
}

/// One driver's wish to be parked on busy turns: see [`Turns`]. Dropping it withdraws
/// the wish.
pub struct BusyPark {
    turns: Turns,
    wanted: Cell<bool>,
}

impl BusyPark {
    /// Says whether this driver has work for busy turns from now on: `true` as soon as it
    /// has (a timer was registered, a task waits on a socket), before the loop's next busy
    /// turn; `false` once it has none, which may be later (on its next park).
    #[inline]
    pub fn want(&self, wanted: bool) {
        if self.wanted.get() != wanted {
            self.wanted.set(wanted);
            let count = &self.turns.0.wanted;
            count.set(if wanted {
                count.get() + 1
            } else {
                count.get() - 1
            });
        }
    }
}

impl Drop for BusyPark {
    fn drop(&mut self) {
        self.want(false);
    }
}

impl fmt::Debug for BusyPark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusyPark")
            .field("wanted", &self.wanted.get())
            .finish()
    }
}
