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

use super::Queue;
use super::waiters::WakeList;
use crate::errors::{Closed, TryGetError};

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

// None of the futures is self-referential or pins its item: moving them is fine.
impl<T> Unpin for Put<'_, T> {}
impl<T> Unpin for Get<'_, T> {}
impl<T> Unpin for Join<'_, T> {}

impl<'a, T> Put<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>, item: T) -> Self {
        Put {
            queue,
            item: Some(item),
            key: None,
        }
    }
}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), Closed<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut wake = WakeList::new();
        let mut state = this.queue.state();
        let result = match this.key {
            // First poll: put now if we may, otherwise join the putters' line.
            None => {
                let item = this.item.take().expect("Put polled after it completed");
                if state.closed {
                    Err(Closed(item))
                } else if state.putters.in_line() == 0 && state.has_room() {
                    state.enter(item, &mut wake);
                    Ok(())
                } else {
                    this.key = Some(state.putters.join(cx.waker(), Some(item)));
                    return Poll::Pending;
                }
            }
            Some(key) => {
                let entry = state.putters.entry(key);
                if entry.in_line {
                    entry.set_waker(cx.waker());
                    return Poll::Pending;
                }
                // Answered: either our item entered (the payload is gone) or the queue
                // closed first and the item is still ours.
                this.key = None;
                match state.putters.remove(key).payload {
                    None => Ok(()),
                    Some(item) => Err(Closed(item)),
                }
            }
        };
        drop(state);
        wake.wake_all();
        Poll::Ready(result)
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let entry = self.queue.state().putters.remove(key);
            // The item (if it never entered) is dropped here, after the lock is released.
            drop(entry);
        }
    }
}

impl<'a, T> Get<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>) -> Self {
        Get { queue, key: None }
    }
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut wake = WakeList::new();
        let mut state = this.queue.state();
        if let Some(key) = this.key {
            let entry = state.getters.entry(key);
            if entry.in_line {
                entry.set_waker(cx.waker());
                return Poll::Pending;
            }
            this.key = None;
            if let Some(item) = state.getters.remove(key).payload {
                // An item was handed to us: collecting it frees its slot.
                state.handed -= 1;
                state.slot_freed(&mut wake);
                drop(state);
                wake.wake_all();
                return Poll::Ready(Ok(item));
            }
            // Answered without an item: the queue closed. Fall through and look again,
            // since an item may have come back to the front since then.
        }
        let result = match state.take(&mut wake) {
            Ok(item) => Ok(item),
            Err(TryGetError::Closed) => Err(Closed(())),
            Err(TryGetError::Empty) => {
                this.key = Some(state.getters.join(cx.waker(), None));
                return Poll::Pending;
            }
        };
        drop(state);
        wake.wake_all();
        Poll::Ready(result)
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut wake = WakeList::new();
            let mut state = self.queue.state();
            if let Some(item) = state.getters.remove(key).payload {
                state.give_back(item, &mut wake);
            }
            drop(state);
            wake.wake_all();
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
                    entry.set_waker(cx.waker());
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
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.queue.state().joiners.remove(key);
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
