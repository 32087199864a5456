//! `sleep` and `sleep_until`: a task leaves the ready queue, and the heap entry holding its
//! waker puts it back when the deadline passes (Beazley's step 9).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::clock::deadline_after;
use crate::heap::TimerKey;
use crate::shared::{self, Action, Timer};

/// Waits until `duration` has passed on the loop's clock (asyncio's `asyncio.sleep`).
///
/// The deadline is the loop's [`now()`](crate::now) plus `duration`, computed here, when
/// the future is created. `now()` is read once per loop turn, like libuv's loop time, so a
/// task that computed for a while in this turn before calling `sleep` measures from the
/// start of that stretch, not from the call.
///
/// A zero duration does not touch the heap: the task goes once to the back of the ready
/// queue, like [`yield_now`](handloop_executor::yield_now) (and `asyncio.sleep(0)`).
///
/// # Panics
/// With no event loop with a timer running on this thread.
// `always`: inlined into the caller (`timeout`), the `Sleep` is built in place instead of
// being returned through the stack; measured ~8 ns of a `timeout` that completes at once.
#[inline(always)]
pub fn sleep(duration: Duration) -> Sleep {
    let timer = shared::current("sleep");
    let deadline = deadline_after(timer.now(), duration);
    Sleep::new(timer, deadline)
}

/// Waits until the loop's clock reaches `deadline`. A deadline already past yields once, as
/// `sleep(Duration::ZERO)` does.
///
/// # Panics
/// With no event loop with a timer running on this thread.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(shared::current("sleep_until"), deadline)
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It registers in the timer heap on its first poll (not when created), keeps one heap
/// entry however often it is polled, and removes that entry when dropped early, so an
/// abandoned sleep costs nothing afterwards. It never completes before its deadline.
///
/// A sleep belongs to the loop it was created on: it can move between that loop's tasks,
/// but awaiting it on another loop (or after its loop was dropped) panics with a message
/// that says so, rather than waiting forever in a heap that nobody checks.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    timer: Rc<Timer>,
    deadline: Instant,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not polled yet (or just reset).
    Unregistered,
    /// The deadline had already passed: we yielded once instead of registering.
    Yielded,
    /// In the heap; the entry holds the task's waker.
    Registered(TimerKey),
    /// Finished.
    Done,
}

impl Sleep {
    #[inline]
    fn new(timer: Rc<Timer>, deadline: Instant) -> Sleep {
        Sleep {
            timer,
            deadline,
            state: State::Unregistered,
        }
    }

    /// The instant this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether this sleep has finished, or its deadline has passed on the loop's clock.
    pub fn is_elapsed(&self) -> bool {
        self.state == State::Done || self.deadline <= self.timer.now()
    }

    /// Makes this sleep end at `deadline` instead, earlier or later, even after it ended.
    ///
    /// A sleep that is waiting moves its heap entry, waker and all: the task waiting on it
    /// is woken at the new deadline even if nothing polls the sleep in between. Moved to a
    /// deadline already past, it wakes that task at once and ends on its next poll.
    /// Otherwise the sleep registers on its next poll, as a new [`sleep_until`] would.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        let State::Registered(key) = self.state else {
            self.state = State::Unregistered;
            return;
        };
        let moved = self.timer.heap.borrow_mut().remove(key);
        self.state = match moved {
            // Fired already (its task is woken), or the loop is gone: start over.
            None => State::Unregistered,
            Some(Action::Wake(waker)) if deadline <= self.timer.now() => {
                waker.wake(); // outside the heap's borrow: a wake may run arbitrary code
                State::Yielded
            }
            Some(action) => State::Registered(self.timer.register(deadline, action)),
        };
    }

    /// Panics unless this sleep's loop is the one running (see `Timer::check_on_its_loop`).
    pub(crate) fn check_on_its_loop(&self) {
        self.timer.check_on_its_loop();
    }

    /// The loop's clock, as this sleep's timer sees it.
    pub(crate) fn timer_now(&self) -> Instant {
        self.timer.now()
    }

    /// `poll` for a deadline rather than a pause (a `Timeout`'s): a deadline that has
    /// passed is over at once, on this poll, where a sleep would first yield once.
    #[inline]
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_until(cx, false)
    }

    /// `poll`, and `poll_expired` if not `yield_if_due`.
    #[inline(always)]
    fn poll_until(&mut self, cx: &mut Context<'_>, yield_if_due: bool) -> Poll<()> {
        match self.state {
            State::Registered(key) => self.poll_registered(key, cx),
            State::Unregistered => {
                self.timer.check_on_its_loop();
                if self.deadline > self.timer.now() {
                    let action = Action::Wake(cx.waker().clone());
                    let key = self.timer.register(self.deadline, action);
                    self.state = State::Registered(key);
                    Poll::Pending
                } else if yield_if_due {
                    // Already due: no heap entry, just go to the back of the ready queue.
                    self.state = State::Yielded;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                } else {
                    self.state = State::Done;
                    Poll::Ready(())
                }
            }
            State::Yielded | State::Done => {
                self.state = State::Done;
                Poll::Ready(())
            }
        }
    }

    /// Cancels the heap entry, if any, and marks the sleep finished.
    #[inline]
    pub(crate) fn stop(&mut self) {
        self.deregister();
        self.state = State::Done;
    }

    #[inline]
    fn deregister(&mut self) {
        if let State::Registered(key) = self.state {
            self.state = State::Unregistered;
            self.timer.cancel(key);
        }
    }

    /// Polled again while in the heap: done if the driver popped our entry, otherwise keep
    /// the one entry and refresh its waker if needed.
    fn poll_registered(&mut self, key: TimerKey, cx: &mut Context<'_>) -> Poll<()> {
        let mut heap = self.timer.heap.borrow_mut();
        let Some(action) = heap.get_mut(key) else {
            // The driver popped our entry and woke us: the deadline has passed.
            drop(heap);
            self.timer.check_alive();
            self.state = State::Done;
            return Poll::Ready(());
        };
        let Action::Wake(waker) = action else {
            unreachable!("a sleep's timer holds a waker")
        };
        // Polled again before the deadline (by a spurious wake, or by another task after
        // being moved): keep one entry, only refresh the waker if it changed.
        if !waker.will_wake(cx.waker()) {
            // Another task: it must run on this sleep's loop (or it would never be woken).
            self.timer.check_on_its_loop();
            let old = std::mem::replace(waker, cx.waker().clone());
            drop(heap);
            drop(old); // outside the borrow: a waker's drop may run arbitrary code
        }
        Poll::Pending
    }
}

impl Future for Sleep {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let polled = self.poll_until(cx, true);
        // The task dump shows what a sleeping task waits for. (Not `poll_expired`: a
        // timeout's task waits on the future inside it; its deadline is only a limit.)
        if polled.is_pending() && matches!(self.state, State::Registered(_)) {
            waiting_for(cx, self.deadline);
        }
        polled
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        self.deregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("state", &self.state)
            .finish()
    }
}

/// Tells the task dump that the task polled with `cx` sleeps until `deadline`.
#[inline]
fn waiting_for(cx: &Context<'_>, deadline: Instant) {
    handloop_executor::debug::record_waiting_in(
        cx,
        handloop_executor::debug::WaitingOn::Sleep { until: deadline },
    );
}
