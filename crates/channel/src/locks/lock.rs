//! `Lock<T>`: asyncio's `Lock`, holding the value it protects, with FIFO hand-off, and
//! the task that holds it recorded.

use std::cell::{Cell, OnceCell, RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use handloop_executor::task::{TaskId, current_task_id};

use super::ticket_line::{Left, TicketLine};
use super::{LoopLocal, Ticket};
use crate::waiting::{LockRecord, WaitingOn, waiting_on};

/// A mutual-exclusion lock for the tasks of one loop: asyncio's `Lock`, holding the value
/// it protects (`Lock<()>` is asyncio's plain lock).
///
/// [`acquire`](Lock::acquire) waits for the lock and gives a [`LockGuard`], through which
/// the value is read and written; dropping the guard releases the lock.
///
/// * **FIFO, with hand-off.** A release while tasks wait hands the lock to the one that
///   has waited longest: it stays locked, and no running task can take it first, not
///   even with [`try_acquire`](Lock::try_acquire).
/// * **Cancel-safe.** A waiting `acquire` that is dropped leaves the line; if the lock
///   had already been handed to it, it passes the lock on to the next waiter.
/// * **Its holder is known.** The lock records the id of the task that holds it (the one
///   that took it, or the waiter it was handed to), shown by its `Debug` output, for a
///   task dump's "Lock held by #4".
///
/// Loop-local: neither `Send` nor `Sync` (see the [module](crate::locks) documentation);
/// share it between the loop's tasks with an `Rc` or a borrow.
///
/// ```
/// use std::rc::Rc;
/// use handloop_channel::locks::Lock;
/// use handloop_executor::{EventLoop, spawn, yield_now};
///
/// EventLoop::new().block_on(async {
///     let balance = Rc::new(Lock::new(100));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let balance = balance.clone();
///             spawn(async move {
///                 let mut guard = balance.acquire().await;
///                 let read = *guard;
///                 yield_now().await; // other tasks run, but none gets the lock
///                 *guard = read - 10;
///             })
///         })
///         .collect();
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(*balance.acquire().await, 70); // no update lost
/// });
/// ```
pub struct Lock<T> {
    /// Held by a task, or handed to a waiter that has not collected it yet. While it is
    /// `false`, no one is in line (a release with waiters hands the lock over).
    locked: Cell<bool>,
    /// The task holding the lock, if it was taken inside a handloop task.
    held_by: Cell<Option<TaskId>>,
    /// Tasks waiting for the lock, each with its ticket and its task id (recorded as the
    /// holder when it is handed the lock).
    line: TicketLine<Option<TaskId>>,
    /// The task dump's record of the lock (its number, and its holder while tasks wait),
    /// made the first time a task waits.
    record: OnceCell<LockRecord>,
    /// The protected value. The `RefCell` never refuses a borrow (only the holder of the
    /// lock borrows it); it makes a bug in that protocol a panic instead of undefined
    /// behaviour, without `unsafe`.
    value: RefCell<T>,
    _loop_local: LoopLocal,
}

/// Access to the value of a [`Lock`] while it is held: `Deref` and `DerefMut` to `T`.
/// Dropping it releases the lock (to the longest-waiting task, if any).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, T> {
    /// Dropped first: the value is free again before the release wakes anyone.
    value: RefMut<'a, T>,
    /// Then the release.
    held: Held<'a, T>,
}

/// The lock as its holder sees it; releases it when dropped.
struct Held<'a, T>(&'a Lock<T>);

/// The future returned by [`Lock::acquire`]: resolves to the [`LockGuard`].
///
/// **Cancel-safe:** dropping it before it completes leaves the line, and passes the lock
/// on to the next waiter if it had already been handed the lock.
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire<'a, T> {
    lock: &'a Lock<T>,
    /// Our place in line and our ticket, once we wait.
    waiting: Option<Ticket>,
}

impl<T> Lock<T> {
    /// An unlocked lock holding `value`.
    pub const fn new(value: T) -> Self {
        Lock {
            locked: Cell::new(false),
            held_by: Cell::new(None),
            line: TicketLine::new(),
            record: OnceCell::new(),
            value: RefCell::new(value),
            _loop_local: LoopLocal {},
        }
    }

    /// Waits for the lock, then gives the guard. Tasks get the lock in the order they
    /// asked for it. See [`LockAcquire`] for what dropping the future does.
    #[inline]
    pub fn acquire(&self) -> LockAcquire<'_, T> {
        LockAcquire {
            lock: self,
            waiting: None,
        }
    }

    /// Takes the lock if it is free, without waiting. `None` if a task holds it or it was
    /// just handed to a waiter: `try_acquire` never jumps the line.
    #[inline]
    pub fn try_acquire(&self) -> Option<LockGuard<'_, T>> {
        if self.locked.get() {
            return None;
        }
        self.take(current_task_id());
        Some(self.guard())
    }

    /// Whether the lock is held (or handed to a waiter that has not run yet).
    #[inline]
    pub fn locked(&self) -> bool {
        self.locked.get()
    }

    /// The value, taking the lock apart (no task can hold it: this needs the lock itself).
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// The value, without locking: `&mut self` proves that no task holds the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// The task that holds the lock (or was handed it), if it was taken in a handloop
    /// task.
    pub(crate) fn held_by(&self) -> Option<TaskId> {
        self.held_by.get()
    }

    #[inline]
    fn take(&self, task: Option<TaskId>) {
        self.locked.set(true);
        self.held_by.set(task);
    }

    #[inline]
    fn guard(&self) -> LockGuard<'_, T> {
        LockGuard {
            value: self.value.borrow_mut(),
            held: Held(self),
        }
    }

    /// Releases the lock: hands it to the longest-waiting task, or unlocks it.
    #[inline]
    fn release(&self) {
        match self.line.serve_front() {
            Some((waker, task)) => {
                self.held_by.set(task);
                if let Some(record) = self.record.get() {
                    record.set_holder(task); // for the dump: the others in line now wait for `task`
                }
                waker.wake(); // after the line let go: the waker may come back to this lock
            }
            None => {
                self.locked.set(false);
                self.held_by.set(None);
            }
        }
    }
}

impl<'a, T> LockGuard<'a, T> {
    /// The lock this guard holds.
    pub(crate) fn lock(&self) -> &'a Lock<T> {
        self.held.0
    }
}

impl<T> Drop for Held<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.0.release();
    }
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<'a, T> LockAcquire<'a, T> {
    /// A later poll while we wait in line: still waiting, or collect the hand-off.
    #[inline]
    fn poll_waiting(&mut self, cx: &mut Context<'_>) -> Poll<LockGuard<'a, T>> {
        let lock = self.lock;
        let ticket = self.waiting.expect("waiting");
        if lock.line.served(ticket) {
            // Handed the lock (`held_by` already names our task), and out of the line.
            self.waiting = None;
            return Poll::Ready(lock.guard());
        }
        lock.line.set_waker(ticket, cx.waker());
        waiting_on(cx, lock.waiting_on());
        Poll::Pending
    }

    /// Dropped while waiting: leave the line, or pass on a lock already handed to us.
    #[cold]
    fn leave(&mut self, ticket: Ticket) {
        let lock = self.lock;
        if let Left::Served = lock.line.leave(ticket) {
            lock.release();
        }
    }
}

impl<'a, T> Future for LockAcquire<'a, T> {
    type Output = LockGuard<'a, T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a, T>> {
        let this = self.get_mut();
        if this.waiting.is_some() {
            return this.poll_waiting(cx);
        }
        let lock = this.lock;
        let task = current_task_id();
        if !lock.locked.get() {
            lock.take(task);
            return Poll::Ready(lock.guard());
        }
        // The clone runs its owner's code, which may release the lock: look again.
        let waker = cx.waker().clone();
        if !lock.locked.get() {
            lock.take(task);
            let guard = lock.guard(); // first: if the drop panics, the lock is released
            drop(waker);
            return Poll::Ready(guard);
        }
        this.waiting = Some(lock.line.join(waker, task));
        // For the dump: who holds the lock now (updated at each hand-off while we wait).
        let record = lock.record.get_or_init(LockRecord::new);
        record.set_holder(lock.held_by());
        waiting_on(
            cx,
            WaitingOn::Lock {
                lock: record.number(),
                holder: None,
            },
        );
        Poll::Pending
    }
}

impl<T> Lock<T> {
    /// What a task waiting for this lock records (it has a record: a task waits).
    fn waiting_on(&self) -> WaitingOn {
        WaitingOn::Lock {
            lock: self.record.get().map_or(0, LockRecord::number),
            holder: None,
        }
    }
}

impl<T> Drop for LockAcquire<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.waiting.take() {
            self.leave(ticket);
        }
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Locked;
        impl fmt::Debug for Locked {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("<locked>")
            }
        }
        let mut s = f.debug_struct("Lock");
        s.field("locked", &self.locked())
            .field("held_by", &self.held_by())
            .field("waiting", &self.line.len());
        match self.value.try_borrow() {
            Ok(value) if !self.locked() => s.field("value", &*value),
            _ => s.field("value", &Locked),
        };
        s.finish()
    }
}

impl<T: fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> fmt::Debug for LockAcquire<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire")
            .field("waiting", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}
