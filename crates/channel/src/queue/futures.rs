//! The waiting operations as futures: `Put`, `Get` and `Join`.
//!
//! Each future does its work on the first poll if it can. Otherwise it joins a line of
//! waiters with a clone of its task's `Waker`, and keeps only its key in that line. The
//! queue answers waiters in line order (hand-off) and wakes them (Beazley's step 10:
//! waiters are tasks put back on the ready queue, by whoever holds their waker).
//!
//! A `Get` or `Put` receives its answer in its own [`Handoff`]: the item handed to it,
//! or word that its item entered (or that the queue closed). So the woken future reads
//! its answer without taking the lock. That is why both are `!Unpin`: while they wait,
//! the line points into them. (`.await` pins them for you; to poll one by hand, pin it
//! first with `std::pin::pin!`.)

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::handoff::Handoff;
use super::order::Order;
use super::state::{State, leave_line};
use super::{QueueOf, order::Fifo};
use crate::errors::Closed;
use crate::line::Key;
use crate::sync::LockGuard;
use crate::waiting::{WaitingOn, waiting_on};

/// The future returned by [`QueueOf::put`]. Resolves to `Ok(())` once the item entered
/// the queue, or `Err(Closed(item))` if the queue was closed first.
///
/// **Cancel safety.** Dropping it before it completes either leaves the put done (the
/// item had already entered the queue: a freed slot goes straight to the waiting putter's
/// item) or drops the item with the future (it never entered). Nothing else is lost, and
/// the putters behind it in line move up.
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, O: Order<T> = Fifo<T>> {
    queue: &'a QueueOf<T, O>,
    /// Our place in the putters' line while we wait.
    key: Option<Key>,
    /// Our item: ours until the first poll puts it in; while we wait, lent to the line
    /// (with the item in it) until the item enters the queue.
    handoff: Handoff<T>,
}

/// The future returned by [`QueueOf::get`]. Resolves to the next item, or `Err(Closed)`
/// once the queue is closed and empty.
///
/// **Cancel safety.** Dropping it never loses an item: if an item was already handed to
/// it, the item goes to the next waiting getter, or back into the queue, ahead of the
/// items put after it.
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T, O: Order<T> = Fifo<T>> {
    queue: &'a QueueOf<T, O>,
    /// Our place in the getters' line while we wait.
    key: Option<Key>,
    /// Where a putter leaves the item it hands us; lent to the line while we wait.
    handoff: Handoff<T>,
}

/// The future returned by [`QueueOf::join`]. Resolves once the unfinished count reaches
/// zero. Dropping it is always safe.
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T, O = Fifo<T>> {
    queue: &'a QueueOf<T, O>,
    key: Option<Key>,
    _items: PhantomData<fn() -> T>,
}

// SAFETY: through a shared `&Put` or `&Get` nothing can be done but `Debug`, which reads
// only `key`: the item and the handoff (which are not `Sync` for every `T`) are touched
// only through `Pin<&mut Self>` or `&mut self`. So sharing the future between threads
// shares nothing that is not `Sync`, provided the queue reference may be shared
// (`T: Send`, as for the queue itself).
#[allow(unsafe_code)]
unsafe impl<T: Send, O: Order<T> + Send> Sync for Put<'_, T, O> {}
// SAFETY: as for `Put`.
#[allow(unsafe_code)]
unsafe impl<T: Send, O: Order<T> + Send> Sync for Get<'_, T, O> {}

impl<'a, T, O: Order<T>> Put<'a, T, O> {
    #[inline]
    pub(super) fn new(queue: &'a QueueOf<T, O>, item: T) -> Self {
        Put {
            queue,
            key: None,
            handoff: Handoff::holding(item),
        }
    }
}

impl<T, O: Order<T>> Put<'_, T, O> {
    /// No room (or earlier putters wait for it): join the putters' line, lending our
    /// handoff with the item in it. Kept out of line so that the fast path of `poll`
    /// stays small enough to inline. (It returns nothing, and `poll` says `Pending`: a
    /// `Poll` returned from out of line comes back through memory, and so did every
    /// answer of `poll` then: about 10 instructions per put, callgrind, `crosscheck
    /// --profile rr_four_clients`. The same goes for `still_waiting`.)
    #[inline(never)]
    fn wait_to_put(
        &mut self,
        mut state: LockGuard<'_, State<T, O>>,
        item: T,
        cx: &mut Context<'_>,
    ) {
        #[allow(unsafe_code)]
        // SAFETY: we hold no key (this is our first poll), so the handoff is ours; we are
        // pinned (we came from `poll`), and our `Drop` takes the handoff out of the line
        // before it is freed.
        let mailbox = unsafe { self.handoff.lend(Some(item)) };
        self.key = Some(state.putters.push_back(cx.waker(), mailbox));
        waiting_on(cx, WaitingOn::QueuePut { queue: O::KIND });
    }

    /// A later poll of a waiting put: read the answer, or keep waiting.
    #[inline]
    fn poll_putter(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Closed<T>>> {
        // Without the lock: an answered putter needs none.
        if self.handoff.is_lent() && self.still_waiting(cx) {
            return Poll::Pending;
        }
        self.key = None; // answered with `pop_front`: the key is dead
        #[allow(unsafe_code)]
        // SAFETY: answered, and we loaded the flag that says so (Acquire): the handoff is
        // ours again.
        let answer = unsafe { self.handoff.take_unlent() };
        Poll::Ready(put_result(answer))
    }

    /// No answer at our look without the lock: look again under it, where no one can
    /// answer us meanwhile, and either keep waiting (`true`), with this poll's waker, or
    /// find the answer there (`false`).
    #[inline(never)]
    fn still_waiting(&mut self, cx: &mut Context<'_>) -> bool {
        let mut state = self.queue.state();
        if !self.handoff.is_lent() {
            return false;
        }
        let key = self.key.as_ref().expect("a waiting put has its key");
        let replaced = state.putters.set_waker(key, cx.waker());
        drop(state);
        drop(replaced); // after unlocking: a waker's drop runs its owner's code
        waiting_on(cx, WaitingOn::QueuePut { queue: O::KIND });
        true
    }
}

/// What a waiting putter's handoff holds once answered: nothing if its item entered the
/// queue, the item if the queue closed first.
fn put_result<T>(answer: Option<T>) -> Result<(), Closed<T>> {
    match answer {
        None => Ok(()),
        Some(item) => Err(Closed(item)),
    }
}

impl<T, O: Order<T>> Future for Put<'_, T, O> {
    type Output = Result<(), Closed<T>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        #[allow(unsafe_code)]
        // SAFETY: we never move out of a pinned `Put`: its handoff (which the line points
        // into while we wait) is only ever reached through `&`, and `Drop` takes it out of
        // the line before the memory is freed. The other fields are never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if this.key.is_some() {
            return this.poll_putter(cx);
        }
        // First poll: put now if we may, otherwise join the putters' line.
        #[allow(unsafe_code)]
        // SAFETY: we hold no key, so the handoff is not lent (we lend it only as we take a
        // key, and forget the key only once answered): it is ours.
        let item = unsafe { this.handoff.take_unlent() }.expect("Put polled after it completed");
        let mut state = this.queue.state();
        if state.closed {
            drop(state);
            return Poll::Ready(Err(Closed(item)));
        }
        if !state.may_enter() {
            this.wait_to_put(state, item, cx);
            return Poll::Pending;
        }
        let getter = state.enter(item);
        drop(state);
        if let Some(getter) = getter {
            getter.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T, O: Order<T>> Drop for Put<'_, T, O> {
    /// Cheap when the put completed (or never waited): no key, nothing to do, no lock.
    #[inline]
    fn drop(&mut self) {
        if self.key.is_some() {
            self.leave();
        }
    }
}

impl<T, O: Order<T>> Put<'_, T, O> {
    /// Dropped while waiting: leave the line, unless we were answered meanwhile. Our item
    /// (if it never entered) stays in the handoff, and is dropped with it after the lock
    /// is released.
    #[cold]
    fn leave(&mut self) {
        let key = self.key.take().expect("a waiting put has its key");
        let mut state = self.queue.state();
        if !self.handoff.is_lent() {
            return; // answered (the key is dead): our item entered, or is still ours
        }
        let waker = leave_line(&mut state.putters, key);
        drop(state);
        drop(waker); // after unlocking: a waker's drop runs its owner's code
    }
}

impl<'a, T, O: Order<T>> Get<'a, T, O> {
    #[inline]
    pub(super) fn new(queue: &'a QueueOf<T, O>) -> Self {
        Get {
            queue,
            key: None,
            handoff: Handoff::new(),
        }
    }
}

impl<T, O: Order<T>> Get<'_, T, O> {
    /// Takes the next item, or joins the getters' line if there is none. Always inlined:
    /// it is a few checks in front of `wait_to_get`, and the awaiting task's poll already
    /// saved the registers a call would save again.
    #[inline(always)]
    fn take_or_wait(
        &mut self,
        mut state: LockGuard<'_, State<T, O>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Closed>> {
        // (As `State::take`, without turning its answer into another.)
        match state.items.pop() {
            Some(item) => {
                let putter = state.slot_freed();
                drop(state);
                if let Some(putter) = putter {
                    putter.wake();
                }
                Poll::Ready(Ok(item))
            }
            None if state.closed => Poll::Ready(Err(Closed(()))),
            None => self.wait_to_get(state, cx),
        }
    }

    /// No item: join the getters' line, lending our (empty) handoff for a putter to fill.
    /// Always inlined too: a consumer that keeps up with its producers waits on nearly
    /// every get, so this is its hot path, and out of line it paid a second set of
    /// register saves (callgrind, `crosscheck --profile rr_one_client`: 30 instructions
    /// per round trip).
    #[inline(always)]
    fn wait_to_get(
        &mut self,
        mut state: LockGuard<'_, State<T, O>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Closed>> {
        #[allow(unsafe_code)]
        // SAFETY: we hold no key (a first poll, or one that just found its answer and
        // forgot the key), so the handoff is ours; we are pinned (we came from `poll`),
        // and our `Drop` takes the handoff out of the line before it is freed.
        let mailbox = unsafe { self.handoff.lend(None) };
        self.key = Some(state.getters.push_back(cx.waker(), mailbox));
        waiting_on(cx, WaitingOn::QueueGet { queue: O::KIND });
        Poll::Pending
    }

    /// A later poll of a waiting get: take the item handed to us, or keep waiting.
    #[inline]
    fn poll_getter(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Closed>> {
        // Without the lock: the common case, an item was handed to us.
        if self.handoff.is_lent() && self.still_waiting(cx) {
            return Poll::Pending;
        }
        self.key = None; // answered with `pop_front`: the key is dead
        #[allow(unsafe_code)]
        // SAFETY: answered, and we loaded the flag that says so (Acquire): the handoff is
        // ours again.
        if let Some(item) = unsafe { self.handoff.take_unlent() } {
            return Poll::Ready(Ok(item));
        }
        // Answered without an item: the queue closed. Look again, since an item may have
        // come back into the queue since then.
        let state = self.queue.state();
        self.take_or_wait(state, cx)
    }

    /// As `Put::still_waiting`: look again under the lock, and keep waiting (`true`) or
    /// find the answer (`false`).
    #[inline(never)]
    fn still_waiting(&mut self, cx: &mut Context<'_>) -> bool {
        let mut state = self.queue.state();
        if !self.handoff.is_lent() {
            return false;
        }
        let key = self.key.as_ref().expect("a waiting get has its key");
        let replaced = state.getters.set_waker(key, cx.waker());
        drop(state);
        drop(replaced); // after unlocking: a waker's drop runs its owner's code
        waiting_on(cx, WaitingOn::QueueGet { queue: O::KIND });
        true
    }
}

impl<T, O: Order<T>> Future for Get<'_, T, O> {
    type Output = Result<T, Closed>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        #[allow(unsafe_code)]
        // SAFETY: as in `Put::poll`: the handoff is only reached through `&`, and `Drop`
        // takes it out of the line before the memory is freed.
        let this = unsafe { self.get_unchecked_mut() };
        if this.key.is_some() {
            return this.poll_getter(cx);
        }
        let state = this.queue.state();
        this.take_or_wait(state, cx)
    }
}

impl<T, O: Order<T>> Drop for Get<'_, T, O> {
    /// Cheap when the get completed (or never waited): no key, nothing to do, no lock.
    #[inline]
    fn drop(&mut self) {
        if self.key.is_some() {
            self.leave();
        }
    }
}

impl<T, O: Order<T>> Get<'_, T, O> {
    /// Dropped while waiting: leave the line, or give back an item handed to us.
    #[cold]
    fn leave(&mut self) {
        let key = self.key.take().expect("a waiting get has its key");
        let mut state = self.queue.state();
        // Under the lock, the answer (or its absence) is final.
        match self.handoff.take() {
            // Answered (the key is dead): an item handed to us goes back.
            Some(answer) => {
                let getter = answer.and_then(|item| state.give_back(item));
                drop(state);
                if let Some(getter) = getter {
                    getter.wake();
                }
            }
            None => {
                let waker = leave_line(&mut state.getters, key);
                drop(state);
                drop(waker); // after unlocking: a waker's drop runs its owner's code
            }
        }
    }
}

impl<'a, T, O> Join<'a, T, O> {
    pub(super) fn new(queue: &'a QueueOf<T, O>) -> Self {
        Join {
            queue,
            key: None,
            _items: PhantomData,
        }
    }
}

impl<T, O: Order<T>> Future for Join<'_, T, O> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.queue.state();
        match &this.key {
            Some(key) if state.joiners.is_waiting(key) => {
                let replaced = state.joiners.set_waker(key, cx.waker());
                drop(state);
                drop(replaced); // after unlocking: a waker's drop runs its owner's code
                waiting_on(cx, WaitingOn::QueueJoin { queue: O::KIND });
                Poll::Pending
            }
            Some(_) => {
                // Released: the count reached zero after we started waiting (it may have
                // risen again since; like asyncio, we still return).
                let key = this.key.take().expect("matched Some");
                let _ = state.joiners.remove(key);
                Poll::Ready(())
            }
            None if state.unfinished == 0 => Poll::Ready(()),
            None => {
                this.key = Some(state.joiners.push_back(cx.waker(), ()));
                waiting_on(cx, WaitingOn::QueueJoin { queue: O::KIND });
                Poll::Pending
            }
        }
    }
}

impl<T, O> Drop for Join<'_, T, O> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let removed = self.queue.shared.lock().joiners.remove(key);
            drop(removed); // its waker, after the lock is released
        }
    }
}

impl<T, O: Order<T>> std::fmt::Debug for Put<'_, T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Put")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl<T, O: Order<T>> std::fmt::Debug for Get<'_, T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Get")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl<T, O> std::fmt::Debug for Join<'_, T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Join")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
