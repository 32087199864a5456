//! The waiting operations as futures: `Put`, `Get` and `Join`.
//!
//! Each future does its work on the first poll if it can. Otherwise it joins a line of
//! waiters with a clone of its task's `Waker`, and keeps only its key in that line. The
//! queue answers waiters in line order (hand-off) and wakes them; a woken future reads
//! its answer on its next poll (Beazley's step 10: waiters are tasks put back on the
//! ready queue, by whoever holds their waker).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Queue, State};
use crate::errors::{Closed, TryGetError};
use crate::sync::LockGuard;
use crate::waiting::{WaitingOn, waiting_on};

/// The future returned by [`Queue::put`]. Resolves to `Ok(())` once the item entered the
/// queue, or `Err(Closed(item))` if the queue was closed first.
///
/// **Cancel safety.** Dropping it before it completes either leaves the put done (the
/// item had already entered the queue: a freed slot goes straight to the waiting putter's
/// item) or drops the item with the future (it never entered). Nothing else is lost, and
/// the putters behind it in line move up.
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T> {
    queue: &'a Queue<T>,
    /// The item, until it is handed over to the queue (or into the waiting line).
    item: Option<T>,
    /// Our place in the putters' line, once we wait.
    key: Option<usize>,
}

/// The future returned by [`Queue::get`]. Resolves to the front item, or `Err(Closed)`
/// once the queue is closed and empty.
///
/// **Cancel safety.** Dropping it never loses an item: if an item was already handed to
/// it, the item goes back to the front of the queue (or to the next waiting getter).
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T> {
    queue: &'a Queue<T>,
    /// Our place in the getters' line, once we wait.
    key: Option<usize>,
}

/// The future returned by [`Queue::join`]. Resolves once the unfinished count reaches
/// zero. Dropping it is always safe.
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T> {
    queue: &'a Queue<T>,
    key: Option<usize>,
}

// `Put` holds its item but never pins it: moving it is fine. (`Get` and `Join` hold only a
// reference and a key, so they are `Unpin` on their own.)
impl<T> Unpin for Put<'_, T> {}

impl<'a, T> Put<'a, T> {
    #[inline]
    pub(super) fn new(queue: &'a Queue<T>, item: T) -> Self {
        Put {
            queue,
            item: Some(item),
            key: None,
        }
    }

    /// No room (or earlier putters wait for it): join the putters' line. Kept out of
    /// line so that the fast path of `poll` stays small enough to inline.
    #[inline(never)]
    fn wait(
        &mut self,
        mut state: LockGuard<'_, State<T>>,
        item: T,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed<T>>> {
        self.key = Some(state.putters.join(cx.waker(), Some(item)));
        waiting_on(WaitingOn::QueuePut);
        Poll::Pending
    }

    /// A later poll while we wait in line: still waiting, or read the answer.
    #[inline(never)]
    fn poll_waiting(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Result<(), Closed<T>>> {
        let mut state = self.queue.state();
        let entry = state.putters.entry(key);
        if entry.in_line {
            let replaced = entry.set_waker(cx.waker());
            drop(state);
            drop(replaced); // after unlocking: a waker's drop runs its owner's code
            waiting_on(WaitingOn::QueuePut);
            return Poll::Pending;
        }
        // Answered: either our item entered (the payload is gone) or the queue closed
        // first and the item is still ours.
        self.key = None;
        let entry = state.putters.remove(key);
        drop(state);
        Poll::Ready(match entry.payload {
            None => Ok(()),
            Some(item) => Err(Closed(item)),
        })
    }

    /// Dropped while waiting: leave the line (or the answered entry).
    #[cold]
    fn leave(&mut self, key: usize) {
        let entry = self.queue.state().putters.remove(key);
        // The item (if it never entered) is dropped here, after the lock is released.
        drop(entry);
    }
}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), Closed<T>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(key) = this.key {
            return this.poll_waiting(key, cx);
        }
        // First poll: put now if we may, otherwise join the putters' line.
        let item = this.item.take().expect("Put polled after it completed");
        let mut state = this.queue.state();
        if state.closed {
            drop(state);
            return Poll::Ready(Err(Closed(item)));
        }
        if !state.may_enter() {
            return this.wait(state, item, cx);
        }
        let getter = state.enter(item);
        drop(state);
        if let Some(getter) = getter {
            getter.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for Put<'_, T> {
    /// Cheap when the put completed (or never waited): no key, nothing to do, no lock.
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.leave(key);
        }
    }
}

impl<'a, T> Get<'a, T> {
    #[inline]
    pub(super) fn new(queue: &'a Queue<T>) -> Self {
        Get { queue, key: None }
    }

    /// Takes the front item, or joins the getters' line if there is none.
    #[inline]
    fn take_or_wait(
        &mut self,
        mut state: LockGuard<'_, State<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Closed>> {
        let (result, wake) = state.take();
        let result = match result {
            Ok(item) => Ok(item),
            Err(TryGetError::Closed) => Err(Closed(())),
            Err(TryGetError::Empty) => return self.wait(state, cx),
        };
        drop(state);
        wake.wake_all();
        Poll::Ready(result)
    }

    /// No item: join the getters' line. Kept out of line so that the fast path above
    /// stays small enough to inline into the awaiting task.
    #[inline(never)]
    fn wait(
        &mut self,
        mut state: LockGuard<'_, State<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Closed>> {
        self.key = Some(state.getters.join(cx.waker(), None));
        waiting_on(WaitingOn::QueueGet);
        Poll::Pending
    }

    /// A later poll while we wait in line: still waiting, or read the answer.
    #[inline(never)]
    fn poll_waiting(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Result<T, Closed>> {
        let mut state = self.queue.state();
        let entry = state.getters.entry(key);
        if entry.in_line {
            let replaced = entry.set_waker(cx.waker());
            drop(state);
            drop(replaced); // after unlocking: a waker's drop runs its owner's code
            waiting_on(WaitingOn::QueueGet);
            return Poll::Pending;
        }
        self.key = None;
        if let Some(item) = state.getters.remove(key).payload {
            // An item was handed to us: collecting it frees its slot.
            state.handed -= 1;
            let wake = state.slot_freed();
            drop(state);
            wake.wake_all();
            return Poll::Ready(Ok(item));
        }
        // Answered without an item: the queue closed. Look again, since an item may
        // have come back to the front since then.
        self.take_or_wait(state, cx)
    }

    /// Dropped while waiting: leave the line, and give back an item handed to us.
    #[cold]
    fn leave(&mut self, key: usize) {
        let mut state = self.queue.state();
        let mut entry = state.getters.remove(key);
        let getter = entry.payload.take().and_then(|item| state.give_back(item));
        drop(state);
        // Our own waker (if we were still in line) is dropped after unlocking too.
        drop(entry);
        if let Some(getter) = getter {
            getter.wake();
        }
    }
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, Closed>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(key) = this.key {
            return this.poll_waiting(key, cx);
        }
        let state = this.queue.state();
        this.take_or_wait(state, cx)
    }
}

impl<T> Drop for Get<'_, T> {
    /// Cheap when the get completed (or never waited): no key, nothing to do, no lock.
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.leave(key);
        }
    }
}

impl<'a, T> Join<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>) -> Self {
        Join { queue, key: None }
    }
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.queue.state();
        match this.key {
            Some(key) => {
                let entry = state.joiners.entry(key);
                if entry.in_line {
                    let replaced = entry.set_waker(cx.waker());
                    drop(state);
                    drop(replaced); // after unlocking: a waker's drop runs its owner's code
                    waiting_on(WaitingOn::QueueJoin);
                    return Poll::Pending;
                }
                // Released: the count reached zero after we started waiting (it may have
                // risen again since; like asyncio, we still return).
                state.joiners.remove(key);
                this.key = None;
                Poll::Ready(())
            }
            None if state.unfinished == 0 => Poll::Ready(()),
            None => {
                this.key = Some(state.joiners.join(cx.waker(), ()));
                waiting_on(WaitingOn::QueueJoin);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let entry = self.queue.state().joiners.remove(key);
            drop(entry); // its waker, after the lock is released
        }
    }
}

impl<T> std::fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Put")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Get")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Join<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Join")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
