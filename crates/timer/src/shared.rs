//! The per-loop timer state, shared by the driver and every `Sleep` and `TimerHandle`,
//! and the thread-local through which `sleep()` and friends find it.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::task::Waker;
use std::time::Instant;

use handloop_executor::BusyPark;

use crate::callback::TimerCallback;
use crate::clock::Clock;
use crate::heap::{TimerHeap, TimerKey};
use crate::hold::Holds;

/// What a registered timer does when its deadline passes.
pub(crate) enum Action {
    /// A sleeping task: put it back on the ready queue (Beazley's step 9).
    Wake(Waker),
    /// A `call_later` or `call_at` callback: hand it to `call_soon`.
    Call(Box<dyn TimerCallback>),
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Wake(_) => f.write_str("Wake"),
            Action::Call(callback) => write!(f, "Call({})", callback.scheduled_by()),
        }
    }
}

impl Action {
    /// What this timer is, for a report.
    pub(crate) fn what(&self) -> What {
        match self {
            Action::Wake(_) => What::Waker,
            Action::Call(callback) => What::Callback(callback.scheduled_by()),
        }
    }
}

/// What a timer is, said in a report: "a call_later callback", "the waker of a sleeping
/// task". Cheap to keep at hand (no allocation) in case a drop panics.
#[derive(Clone, Copy, Debug)]
pub(crate) enum What {
    /// A sleep's (or a timeout's or an interval's) waker.
    Waker,
    /// A callback, and the function that scheduled it.
    Callback(&'static str),
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Waker => f.write_str("the waker of a sleeping task"),
            What::Callback(scheduled_by) => write!(f, "a {scheduled_by} callback"),
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
    /// What keeps a virtual clock from jumping; on the real clock, only counted.
    pub(crate) holds: Holds,
    /// The timer's wish to be parked on busy turns (once attached to a loop): set when a
    /// timer is registered, cleared by the driver when the heap is empty.
    pub(crate) busy: Option<BusyPark>,
}

impl Timer {
    pub(crate) fn new(clock: Clock, holds: Holds) -> Timer {
        Timer {
            clock,
            heap: RefCell::new(TimerHeap::new()),
            gone: Cell::new(false),
            holds,
            busy: None,
        }
    }

    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    #[inline(always)]
    pub(crate) fn register(&self, deadline: Instant, action: Action) -> TimerKey {
        self.check_alive();
        let key = self.heap.borrow_mut().insert(deadline, action);
        // The heap is not empty: busy turns must look at it.
        if let Some(busy) = &self.busy {
            busy.want(true);
        }
        key
    }

    /// A park of the driver: a new turn for the clock, if the driver was not attached (an
    /// attached timer has a wish, and the clock the loop's count).
    #[inline]
    pub(crate) fn count_park_if_unattached(&self) {
        if self.busy.is_none() {
            self.clock.next_turn_unattached();
        }
    }

    /// Panics if the loop this timer belonged to was dropped.
    #[inline]
    pub(crate) fn check_alive(&self) {
        if self.gone.get() {
            loop_gone();
        }
    }

    /// Panics unless this timer belongs to the loop running on this thread now. A timer
    /// future polled anywhere else (another live loop, or no loop) would wait in a heap
    /// that nobody is checking, and hang forever. Called where a timer future starts
    /// waiting or changes hands (a new waker), not on every poll.
    #[inline]
    pub(crate) fn check_on_its_loop(&self) {
        if RUNNING.get() != std::ptr::from_ref(self) {
            self.not_on_its_loop();
        }
    }

    #[cold]
    fn not_on_its_loop(&self) -> ! {
        if self.gone.get() {
            loop_gone();
        }
        panic!(
            "a handloop_timer timer was polled on another event loop than the one it was \
             created on (or with no loop running), where it would never fire: {SAME_LOOP}"
        )
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
    /// The same timer's address, only ever compared (never dereferenced): the check that
    /// a timer future is on its own loop is then one load and one comparison.
    static RUNNING: Cell<*const Timer> = const { Cell::new(std::ptr::null()) };
}

/// Makes `timer` this thread's current timer and returns the previous one.
pub(crate) fn set_current(timer: Option<Rc<Timer>>) -> Option<Rc<Timer>> {
    RUNNING.set(timer.as_ref().map_or(std::ptr::null(), Rc::as_ptr));
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

/// Runs `f` with the current timer, if there is one.
pub(crate) fn try_with_current<R>(f: impl FnOnce(&Timer) -> R) -> Option<R> {
    CURRENT.with(|current| current.borrow().as_deref().map(f))
}

/// The end of the two messages above: what to do instead.
const SAME_LOOP: &str = "sleeps, timeouts and intervals only work on the loop they were \
                         created on (create them in a task of the loop that awaits them)";

#[cold]
fn loop_gone() -> ! {
    panic!("a handloop_timer timer was used after its event loop was dropped: {SAME_LOOP}")
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
