//! The per-loop timer state, shared by the driver and every `Sleep` and `TimerHandle`,
//! and the thread-local through which `sleep()` and friends find it.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::task::Waker;
use std::time::Instant;

use crate::clock::Clock;
use crate::heap::{TimerHeap, TimerKey};
use crate::hold::Holds;

/// What a registered timer does when its deadline passes.
pub(crate) enum Action {
    /// A sleeping task: put it back on the ready queue (Beazley's step 9).
    Wake(Waker),
    /// A `call_later` callback: hand it to `call_soon`.
    Call(Box<dyn FnOnce()>),
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Wake(_) => f.write_str("Wake"),
            Action::Call(_) => f.write_str("Call"),
        }
    }
}

/// One loop's timers and clock. Lives in an `Rc`: the driver holds one, and so does every
/// `Sleep`, so a sleep can deregister itself on drop without the thread-local.
#[derive(Debug)]
pub(crate) struct Timer {
    pub(crate) clock: Clock,
    pub(crate) heap: RefCell<TimerHeap<Action>>,
    /// Set when the driver is dropped: the heap was emptied and nothing will fire again.
    pub(crate) gone: Cell<bool>,
    /// What keeps a virtual clock from jumping (`None` on the real clock).
    pub(crate) holds: Option<Holds>,
}

impl Timer {
    pub(crate) fn new(clock: Clock, holds: Option<Holds>) -> Timer {
        Timer {
            clock,
            heap: RefCell::new(TimerHeap::new()),
            gone: Cell::new(false),
            holds,
        }
    }

    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    #[inline]
    pub(crate) fn register(&self, deadline: Instant, action: Action) -> TimerKey {
        self.check_alive();
        self.heap.borrow_mut().insert(deadline, action)
    }

    /// Panics if the loop this timer belonged to was dropped.
    #[inline]
    pub(crate) fn check_alive(&self) {
        if self.gone.get() {
            loop_gone();
        }
    }

    /// Cancels a timer (nothing happens if it already fired or was cancelled).
    #[inline]
    pub(crate) fn cancel(&self, key: TimerKey) {
        // Take the action out and release the borrow *before* dropping it: dropping a waker
        // or a closure may drop a future that owns a `Sleep`, which cancels its own timer.
        let action = self.heap.borrow_mut().remove(key);
        drop(action);
    }
}

thread_local! {
    /// The timer of the loop running on this thread, installed by `TimerDriver::enter`.
    static CURRENT: RefCell<Option<Rc<Timer>>> = const { RefCell::new(None) };
}

/// Makes `timer` this thread's current timer and returns the previous one.
pub(crate) fn set_current(timer: Option<Rc<Timer>>) -> Option<Rc<Timer>> {
    CURRENT.with(|current| current.replace(timer))
}

/// The current timer, or a panic that says what to do instead.
#[inline]
pub(crate) fn current(what: &str) -> Rc<Timer> {
    match CURRENT.with(|current| current.borrow().clone()) {
        Some(timer) => timer,
        None => no_timer(what),
    }
}

/// Runs `f` with the current timer without touching its reference count.
#[inline]
pub(crate) fn with_current<R>(what: &str, f: impl FnOnce(&Timer) -> R) -> R {
    CURRENT.with(|current| match &*current.borrow() {
        Some(timer) => f(timer),
        None => no_timer(what),
    })
}

#[cold]
fn loop_gone() -> ! {
    panic!(
        "a handloop_timer timer was used after its event loop was dropped: sleeps, timeouts \
         and intervals only work on the loop they were created on"
    )
}

#[cold]
#[track_caller]
fn no_timer(what: &str) -> ! {
    panic!(
        "handloop_timer::{what}() called with no running event loop with a timer: call it \
         from inside handloop::run, or from a loop built with \
         EventLoop::with_driver(TimerDriver::new(ThreadPark::new()))"
    )
}
