//! The driver: what the loop does between turns, and how it sleeps when nothing is ready.
//!
//! The executor knows nothing of timers or sockets. Once per turn it hands control to a
//! [`Driver`], saying how long it may block: not at all when tasks are ready, forever when
//! none are. The driver uses that moment to look at the outside world (a timer heap, an
//! epoll set) and wake the tasks whose events arrived. Step 3's timer and step 5's I/O
//! poller are drivers that wrap an inner one, ending with [`ThreadPark`], which only knows
//! how to sleep until another thread calls [`Unparker::unpark`].

use std::fmt;
use std::time::{Duration, Instant};

use crate::park::ParkState;
use crate::sync::Arc;
use crate::turns::Turns;

/// What the loop calls between turns to wait for the outside world.
///
/// The contract, from the loop's side:
///
/// - `park(Some(Duration::ZERO))` is called on every turn on which tasks are ready: look
///   for events (expired timers, readable sockets), wake their tasks, and return without
///   blocking. (A driver that [attaches](Driver::attach) is spared the call while it says
///   it has nothing to do on busy turns.)
/// - `park(None)` is called when nothing is ready: block until an event arrives or
///   [`Unparker::unpark`] is called, then wake whatever is due.
/// - `park(Some(d))` blocks for at most `d`.
///
/// `park` may return early and spuriously: the loop simply takes another turn. It must not
/// miss an `unpark` that happened before it was called (the unpark is remembered).
///
/// Wakes issued inside `park` reach the ready queue: `park` runs on the loop's thread with
/// the loop entered, so a waker woken there (or [`call_soon`](crate::call_soon) called
/// there) schedules work for the next turn.
pub trait Driver: 'static {
    /// Waits for events for at most `timeout` (`None`: until an event or an unpark).
    fn park(&mut self, timeout: Option<Duration>);

    /// A handle that wakes this driver from any thread.
    fn unparker(&self) -> Unparker;

    /// Called once, when the loop is built, before any other call: the loop's [`Turns`],
    /// for a driver that reads the time once per turn or renews a budget per turn (read
    /// [`Turns::current`] rather than counting parks, which the loop may skip).
    ///
    /// Returns whether the loop may skip this driver's `park(Some(Duration::ZERO))` on
    /// busy turns while no [`BusyPark`](crate::BusyPark) of `turns` wants them. A driver
    /// that returns `true` takes a `BusyPark` ([`Turns::busy_park`]) and sets it whenever
    /// it has work for a busy turn, before the loop's next one. The default returns
    /// `false`: parked on every busy turn. A driver that wraps another passes `attach` on
    /// to it, and returns `true` only if the inner one does.
    fn attach(&mut self, turns: &Turns) -> bool {
        let _ = turns;
        false
    }

    /// Called when [`EventLoop::block_on`](crate::EventLoop::block_on) starts running on
    /// this thread, and when the loop drops its tasks: install any thread-local context
    /// your futures need (the timer uses it so `sleep` finds its heap).
    fn enter(&self) {}

    /// Called when the loop stops running on this thread; undoes [`Driver::enter`].
    fn exit(&self) {}

    /// What this driver watches that could still wake the loop, and its clock: the loop
    /// asks when nothing is ready (may it call a deadlock?), for the task dump (sleeps are
    /// shown against this clock) and for the trace's counters.
    ///
    /// The default answers "something, I cannot tell what", which keeps the loop from ever
    /// calling a deadlock. A driver that wraps another adds what it watches to the inner
    /// driver's answer.
    fn watching(&self) -> Watching {
        Watching {
            other: true,
            ..Watching::default()
        }
    }

    /// How a task dump made on the loop's thread reads the loop's clock, to show sleeps
    /// against it: a function the dump calls while the loop runs (after [`enter`]), for a
    /// driver that keeps a clock of its own (the timer). `None`, the default: the dump
    /// uses the real time.
    ///
    /// [`enter`]: Driver::enter
    fn dump_clock(&self) -> Option<fn() -> Option<Instant>> {
        None
    }
}

/// What a [`Driver`] watches: see [`Driver::watching`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watching {
    /// Timers waiting in a heap (each will wake a task or run a callback).
    pub timers: usize,
    /// I/O sources registered (what the trace counts).
    pub io_sources: usize,
    /// Tasks waiting for an I/O source to become ready (each will be woken by an event).
    pub io_waiting: usize,
    /// Jobs on other threads that a task of the loop waits for and that will wake it when
    /// done (the timer counts the clock holds of the facade's `to_thread` jobs).
    pub jobs_out: usize,
    /// Something else that may wake the loop, or a driver that cannot tell.
    pub other: bool,
    /// The loop's clock, if the driver keeps one (the timer does).
    pub clock: Option<Instant>,
    /// That clock is virtual: it jumps to the next deadline instead of waiting, so with no
    /// deadline to jump to, only another thread can wake the loop.
    pub virtual_clock: bool,
}

impl Watching {
    /// Whether anything watched may wake the loop later.
    pub fn may_wake(&self) -> bool {
        self.timers > 0 || self.io_waiting > 0 || self.jobs_out > 0 || self.other
    }
}

/// Something that wakes a parked driver from any thread.
pub trait Unpark: Send + Sync + 'static {
    /// Wakes the driver if it is parked, or makes its next `park` return at once.
    fn unpark(&self);
}

/// A cloneable, thread-safe handle that wakes a parked loop.
#[derive(Clone)]
pub struct Unparker(Inner);

/// [`ThreadPark`]'s own parker is called directly; other drivers' through `dyn Unpark`.
#[derive(Clone)]
enum Inner {
    Park(Arc<ParkState>),
    Custom(Arc<dyn Unpark>),
}

impl Unparker {
    /// Wraps anything that can unpark a driver.
    pub fn new(unpark: impl Unpark) -> Self {
        let unpark: std::sync::Arc<dyn Unpark> = std::sync::Arc::new(unpark);
        // loom's `Arc` cannot coerce to `dyn`: it adopts a std one (see `sync.rs`).
        #[cfg(loom)]
        let unpark = Arc::from_std(unpark);
        Unparker(Inner::Custom(unpark))
    }

    /// Wakes the parked loop (or makes its next park return at once).
    pub fn unpark(&self) {
        match &self.0 {
            Inner::Park(park) => park.unpark(),
            Inner::Custom(custom) => custom.unpark(),
        }
    }
}

impl fmt::Debug for Unparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unparker")
    }
}

/// The innermost driver: nothing to watch, it only puts the thread to sleep until
/// unparked or until the timeout passes.
///
/// A wake that arrives before the park is never lost: `unpark` leaves a token that the
/// next `park` consumes and returns at once (the same token idea as `std::thread::park`,
/// built from a mutex and a condition variable so that loom can check it).
#[derive(Debug)]
pub struct ThreadPark {
    state: Arc<ParkState>,
}

impl ThreadPark {
    /// A new parker with no token.
    pub fn new() -> Self {
        ThreadPark {
            state: Arc::new(ParkState::default()),
        }
    }
}

impl Default for ThreadPark {
    fn default() -> Self {
        ThreadPark::new()
    }
}

impl Driver for ThreadPark {
    #[inline]
    fn park(&mut self, timeout: Option<Duration>) {
        self.state.park(timeout);
    }

    fn unparker(&self) -> Unparker {
        Unparker(Inner::Park(self.state.clone()))
    }

    /// Busy turns may skip it: its busy park only takes an unpark's token, and a token left
    /// in place only makes the next real park return at once (a spurious wake).
    fn attach(&mut self, _turns: &Turns) -> bool {
        true
    }

    /// Nothing: only another thread's unpark ends its park.
    fn watching(&self) -> Watching {
        Watching::default()
    }
}
