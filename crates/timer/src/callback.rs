//! `call_later` and `call_at`: Beazley's step 2, plain callbacks on a deadline.

use std::fmt;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::clock::deadline_after;
use crate::heap::TimerKey;
use crate::panics::report_panic_in;
use crate::shared::{self, Action, Timer};

/// Runs `callback` on the loop once `delay` has passed (asyncio's `loop.call_later`).
///
/// When the deadline passes, the callback goes to the back of the ready queue (through
/// [`call_soon`](handloop_executor::call_soon)), so it runs after the tasks already ready,
/// and callbacks and sleeps due at the same instant run in the order they were registered.
/// A panic in the callback is caught and reported on stderr as `handloop: a call_later
/// callback panicked: ...`; the loop goes on. A callback still waiting when the loop is
/// dropped is dropped with it, without running; a panic in that drop is reported the same
/// way.
///
/// Dropping the returned handle does not cancel the callback; [`TimerHandle::cancel`] does.
///
/// # Panics
/// With no event loop with a timer running on this thread.
pub fn call_later<F: FnOnce() + 'static>(delay: Duration, callback: F) -> TimerHandle {
    let timer = shared::current("call_later");
    let deadline = deadline_after(timer.now(), delay);
    TimerHandle::register(&timer, deadline, Box::new(Scheduled::<F, false>(callback)))
}

/// Runs `callback` on the loop once its clock reaches `deadline` (asyncio's
/// `loop.call_at`); see [`call_later`].
///
/// # Panics
/// With no event loop with a timer running on this thread.
pub fn call_at<F: FnOnce() + 'static>(deadline: Instant, callback: F) -> TimerHandle {
    let timer = shared::current("call_at");
    TimerHandle::register(&timer, deadline, Box::new(Scheduled::<F, true>(callback)))
}

/// A callback waiting in the heap. Its reports name the function that scheduled it, so
/// the callback is boxed together with that name (in its type: the box stays the size of
/// the closure, and a closure that captures nothing still allocates nothing).
pub(crate) trait TimerCallback {
    /// Runs the callback; a panic in it is reported here, where its name is known.
    fn run(self: Box<Self>);

    /// `"call_later"` or `"call_at"`.
    fn scheduled_by(&self) -> &'static str;
}

/// The callback `F`, scheduled by `call_at` if `CALL_AT`, else by `call_later`.
struct Scheduled<F, const CALL_AT: bool>(F);

impl<F: FnOnce(), const CALL_AT: bool> TimerCallback for Scheduled<F, CALL_AT> {
    fn run(self: Box<Self>) {
        let name = self.scheduled_by();
        let Scheduled(callback) = *self;
        report_panic_in(format_args!("a {name} callback"), callback);
    }

    fn scheduled_by(&self) -> &'static str {
        if CALL_AT { "call_at" } else { "call_later" }
    }
}

/// A scheduled callback (asyncio's `TimerHandle`): [`cancel`](TimerHandle::cancel) it, or
/// drop it and let the callback run.
#[derive(Clone)]
pub struct TimerHandle {
    // Weak: a callback that captures its own handle must not keep the timer alive.
    timer: Weak<Timer>,
    key: TimerKey,
    deadline: Instant,
}

impl TimerHandle {
    fn register(timer: &Rc<Timer>, deadline: Instant, callback: Box<dyn TimerCallback>) -> Self {
        let key = timer.register(deadline, Action::Call(callback));
        TimerHandle {
            timer: Rc::downgrade(timer),
            key,
            deadline,
        }
    }

    /// Stops the callback from running, and drops it. Cancelling twice, after the callback
    /// ran, or after the loop is gone does nothing.
    ///
    /// A callback whose deadline passed is already on the ready queue: cancelling it then
    /// is too late (as in asyncio once the callback is running).
    pub fn cancel(&self) {
        if let Some(timer) = self.timer.upgrade() {
            timer.cancel(self.key);
        }
    }

    /// Whether the callback is still waiting for its deadline (not cancelled, not fired).
    pub fn is_pending(&self) -> bool {
        self.timer
            .upgrade()
            .is_some_and(|timer| timer.heap.borrow().contains(self.key))
    }

    /// When the callback is scheduled to run (asyncio's `TimerHandle.when()`).
    pub fn when(&self) -> Instant {
        self.deadline
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("when", &self.deadline)
            .field("pending", &self.is_pending())
            .finish()
    }
}
