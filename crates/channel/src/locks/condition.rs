//! `Condition`: asyncio's `Condition`, a line of tasks waiting, lock released, for a
//! notification.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::lock::{Lock, LockAcquire, LockGuard};
use super::ticket_line::{Left, TicketLine};
use super::{LoopLocal, Ticket, WakeBuffer};
use crate::waiting::{WaitingOn, waiting_on};

/// Tasks of one loop waiting, with a [`Lock`] released, until another task notifies them:
/// asyncio's `Condition`.
///
/// [`wait(guard)`](Condition::wait) takes the guard of a held lock, releases the lock,
/// waits for [`notify`](Condition::notify) or [`notify_all`](Condition::notify_all),
/// takes the lock back and returns its guard. [`wait_for`](Condition::wait_for) waits
/// until a predicate on the guarded value holds.
///
/// Unlike asyncio's, a `Condition` does not own its lock: the guard given to `wait` says
/// which lock to release and take back (as with `std::sync::Condvar`). Use one lock per
/// condition.
///
/// * **FIFO.** `notify(n)` wakes the `n` tasks that have waited longest; each then takes
///   the lock back in turn.
/// * **Nothing is kept for later.** A notification with no task waiting does nothing: a
///   task waits only for notifications that come after it started waiting, so check the
///   state under the lock first (`wait_for` does).
/// * **A dropped wait passes its notification on.** If a `wait` future is dropped after
///   it was notified (before it returned), it notifies the next waiting task instead, so
///   the notification is not lost (tokio#4618 is that bug). That task may then find
///   nothing to do, a spurious wake-up, which every condition variable allows: loop on
///   the state, or use `wait_for`.
///
/// Loop-local: neither `Send` nor `Sync` (see the [module](crate::locks) documentation).
///
/// ```
/// use std::rc::Rc;
/// use handloop_channel::locks::{Condition, Lock};
/// use handloop_executor::{EventLoop, spawn, yield_now};
///
/// EventLoop::new().block_on(async {
///     let (jobs, changed) = (Rc::new(Lock::new(Vec::new())), Rc::new(Condition::new()));
///     let worker = spawn({
///         let (jobs, changed) = (jobs.clone(), changed.clone());
///         async move {
///             let guard = jobs.acquire().await;
///             let mut guard = changed.wait_for(guard, |jobs: &Vec<&str>| !jobs.is_empty()).await;
///             guard.pop().unwrap()
///         }
///     });
///     yield_now().await; // the worker waits, the lock released
///     jobs.acquire().await.push("move fleet 7");
///     changed.notify(1);
///     assert_eq!(worker.await.unwrap(), "move fleet 7");
/// });
/// ```
pub struct Condition {
    /// Tasks waiting for a notification (their lock released), each with its ticket.
    line: TicketLine<()>,
    wake: WakeBuffer,
    _loop_local: LoopLocal,
}

/// The future returned by [`Condition::wait`]: resolves to the guard, the lock held again.
///
/// **Dropping it** (a timeout, an abort) drops the guard with it: the caller no longer
/// holds the lock, and has no guard that says otherwise. (asyncio's `wait` takes the lock
/// back even when cancelled, because the caller's `async with` block still believes it
/// holds the lock; in Rust that belief lives in the guard, which went into the future.)
/// A notification the future had received is passed on to the next waiting task; a lock
/// already handed back to it is passed on to the next task waiting for the lock.
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'c, 'a, T> {
    condition: &'c Condition,
    step: Step<'a, T>,
}

enum Step<'a, T> {
    /// Not polled yet: still holding the lock.
    Start(LockGuard<'a, T>),
    /// In the condition's line, the lock released.
    Waiting { lock: &'a Lock<T>, ticket: Ticket },
    /// Notified: taking the lock back.
    Relocking(LockAcquire<'a, T>),
    /// Returned the guard.
    Done,
}

impl Condition {
    /// A condition with no task waiting.
    pub const fn new() -> Self {
        Condition {
            line: TicketLine::new(),
            wake: WakeBuffer::new(),
            _loop_local: LoopLocal {},
        }
    }

    /// Releases the lock held by `guard`, waits to be notified, takes the lock back and
    /// returns its guard.
    ///
    /// The task joins the line of waiters before the lock is released, so a notification
    /// sent by the next holder of the lock reaches it. See [`ConditionWait`] for what
    /// dropping the future does.
    pub fn wait<'a, T>(&self, guard: LockGuard<'a, T>) -> ConditionWait<'_, 'a, T> {
        ConditionWait {
            condition: self,
            step: Step::Start(guard),
        }
    }

    /// Waits until `predicate` holds for the value behind the lock, and returns the guard.
    ///
    /// Checks the predicate first, with the lock held (returning at once if it holds),
    /// then after each notification, with the lock held again: asyncio's `wait_for`,
    /// except that the predicate sees the guarded value. Dropping the future is as for
    /// [`wait`](Condition::wait).
    pub async fn wait_for<'a, T, F>(
        &self,
        mut guard: LockGuard<'a, T>,
        mut predicate: F,
    ) -> LockGuard<'a, T>
    where
        F: FnMut(&T) -> bool,
    {
        while !predicate(&guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes at most `n` waiting tasks, the longest-waiting first. Each returns from
    /// `wait` once it has taken the lock back, so call this while holding the lock, then
    /// release it (as asyncio requires).
    pub fn notify(&self, n: usize) {
        if n == 0 {
            return;
        }
        if n == 1 || self.line.len() <= 1 {
            // The common case wakes at most one: no buffer.
            if let Some((waker, ())) = self.line.serve_front() {
                waker.wake(); // after the line let go: a waker may come back here
            }
            return;
        }
        let mut wake = self.wake.take();
        self.line.serve_many(n, &mut wake);
        self.wake.wake_all(wake); // once all are served
    }

    /// Wakes every waiting task.
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl<'a, T> Future for ConditionWait<'_, 'a, T> {
    type Output = LockGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a, T>> {
        let this = self.get_mut();
        loop {
            match &mut this.step {
                Step::Start(_) => {
                    let Step::Start(guard) = std::mem::replace(&mut this.step, Step::Done) else {
                        unreachable!("just matched")
                    };
                    let lock = guard.lock();
                    let condition = this.condition;
                    let ticket = condition.line.join(cx.waker().clone(), ());
                    this.step = Step::Waiting { lock, ticket };
                    drop(guard); // releases the lock, once we are in line
                    waiting_on(cx, WaitingOn::Condition);
                    return Poll::Pending;
                }
                Step::Waiting { lock, ticket } => {
                    if !this.condition.line.served(*ticket) {
                        this.condition.line.set_waker(*ticket, cx.waker());
                        waiting_on(cx, WaitingOn::Condition);
                        return Poll::Pending;
                    }
                    // Notified (and out of the line): take the lock back.
                    this.step = Step::Relocking(lock.acquire());
                }
                Step::Relocking(acquire) => {
                    let guard = std::task::ready!(Pin::new(acquire).poll(cx));
                    this.step = Step::Done;
                    return Poll::Ready(guard);
                }
                Step::Done => panic!("ConditionWait polled after it returned the guard"),
            }
        }
    }
}

impl<T> Drop for ConditionWait<'_, '_, T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.step, Step::Done) {
            // Never polled: dropping the guard releases the lock as usual.
            Step::Start(_) | Step::Done => {}
            Step::Waiting { ticket, .. } => {
                if let Left::Served = self.condition.line.leave(ticket) {
                    // Notified, and gone before it used the notification: pass it on.
                    self.condition.notify(1);
                }
            }
            Step::Relocking(acquire) => {
                // Notified, but never returned: the notification goes to the next
                // waiter; the lock, if handed back to us already, to the next task
                // waiting for it (dropping `acquire` does that).
                self.condition.notify(1);
                drop(acquire);
            }
        }
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiting", &self.line.len())
            .finish()
    }
}

impl<T> fmt::Debug for ConditionWait<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            Step::Start(_) => "not started",
            Step::Waiting { .. } => "waiting for a notification",
            Step::Relocking(_) => "taking the lock back",
            Step::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("step", &step)
            .finish_non_exhaustive()
    }
}
