//! `Queue<T>`: the handle, the state behind its lock, and the non-waiting operations.
//!
//! The waiting operations (`put`, `get`, `join`) are futures in `queue/futures.rs`;
//! the lines of waiting tasks are in `queue/waiters.rs`.

mod futures;
mod waiters;

use std::collections::VecDeque;
use std::fmt;
use std::task::Waker;

use crate::errors::{TryGetError, TryPutError};
use crate::sync::{Arc, Lock, LockGuard};
pub use futures::{Get, Join, Put};
use waiters::{Waiters, Wake2, WakeList};

/// A multi-producer, multi-consumer FIFO queue for async tasks: asyncio's `Queue`,
/// with fair hand-off.
///
/// A `Queue` is a handle: [`Clone`] gives another handle to the same queue (an `Arc`
/// clone), so each task can own one. It only talks to executors through
/// [`std::task::Waker`], so it works on handloop's loop, on tokio, or on any other.
///
/// * [`put`](Queue::put) waits while the queue is full, [`get`](Queue::get) while it is
///   empty; [`try_put`](Queue::try_put) and [`try_get`](Queue::try_get) never wait.
/// * **Hand-off.** An item put while a getter waits goes straight to the getter that has
///   waited longest; a running task calling `try_get` cannot take it first. A freed slot
///   goes to the putter that has waited longest, so items enter in the order their
///   putters arrived.
/// * [`close`](Queue::close) rejects further puts and lets getters drain what is left;
///   [`close_and_drain`](Queue::close_and_drain) also takes every item out at once.
/// * [`task_done`](Queue::task_done) and [`join`](Queue::join) count unfinished items,
///   as in asyncio.
///
/// An item handed to a waiting getter keeps its slot until that getter collects it, so a
/// bounded queue never holds more than its capacity, counting those items.
pub struct Queue<T> {
    shared: Arc<Lock<State<T>>>,
}

/// Everything behind the queue's one lock.
///
/// Invariants, true whenever the lock is free:
/// * a getter is in line only while `items` is empty (an item never waits while a
///   getter does);
/// * a putter is in line only while there is no room (`items.len() + handed >= capacity`);
/// * `handed` is the number of answered getters that hold an item they have not collected.
///
/// The fast paths lean on the first two: a put that finds no getter in line just stores
/// its item, a get that finds no putter in line just takes one, and neither has anyone
/// to wake.
pub(crate) struct State<T> {
    /// Items ready for the next `get`, oldest first.
    items: VecDeque<T>,
    /// Items handed to getters that have not collected them yet; they keep their slot.
    handed: usize,
    /// `usize::MAX` for an unbounded queue.
    capacity: usize,
    closed: bool,
    /// Items put and not yet marked done with `task_done` (asyncio's `_unfinished_tasks`).
    unfinished: usize,
    /// Getters waiting for an item. Payload: the item handed to them.
    getters: Waiters<Option<T>>,
    /// Putters waiting for a slot. Payload: their item, until it enters.
    putters: Waiters<Option<T>>,
    /// Tasks waiting in `join`.
    joiners: Waiters<()>,
}

impl<T> Queue<T> {
    /// A queue that holds at most `capacity` items; `put` waits while it is full.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero: a queue with no room could never accept an item.
    /// (asyncio reads `maxsize=0` as "no limit"; here that is [`Queue::unbounded`].)
    #[track_caller]
    pub fn bounded(capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "Queue::bounded(0): a queue needs room for at least one item; \
             use Queue::unbounded() for a queue without a limit (asyncio's maxsize=0)"
        );
        Queue::with_capacity(capacity, VecDeque::with_capacity(capacity.min(1024)))
    }

    /// A queue without a limit: `put` never waits (asyncio's `Queue()`).
    pub fn unbounded() -> Self {
        Queue::with_capacity(usize::MAX, VecDeque::new())
    }

    fn with_capacity(capacity: usize, items: VecDeque<T>) -> Self {
        let state = State {
            items,
            handed: 0,
            capacity,
            closed: false,
            unfinished: 0,
            getters: Waiters::new(),
            putters: Waiters::new(),
            joiners: Waiters::new(),
        };
        Queue {
            shared: Arc::new(Lock::new(state)),
        }
    }

    #[inline]
    pub(crate) fn state(&self) -> LockGuard<'_, State<T>> {
        self.shared.lock()
    }

    /// Puts `item` at the back of the queue, waiting while the queue is full.
    ///
    /// Fails with [`Closed`](crate::Closed) holding the item if the queue is closed before the item
    /// entered. See [`Put`] for what dropping the future does.
    #[inline]
    pub fn put(&self, item: T) -> Put<'_, T> {
        Put::new(self, item)
    }

    /// Takes the item at the front of the queue, waiting while the queue is empty.
    ///
    /// After [`close`](Queue::close), `get` still returns the items left in the queue, and
    /// fails with [`Closed`](crate::Closed) only once it is empty. See [`Get`] for what dropping the
    /// future does.
    #[inline]
    pub fn get(&self) -> Get<'_, T> {
        Get::new(self)
    }

    /// Waits until every item put so far has been marked done with
    /// [`task_done`](Queue::task_done). Returns at once if nothing is unfinished.
    pub fn join(&self) -> Join<'_, T> {
        Join::new(self)
    }

    /// Puts `item` without waiting: `Full(item)` if there is no free slot (or putters
    /// are already waiting for one: `try_put` never jumps their line), `Closed(item)` if
    /// the queue is closed.
    #[inline]
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut state = self.state();
        if state.closed {
            return Err(TryPutError::Closed(item));
        }
        if !state.may_enter() {
            return Err(TryPutError::Full(item));
        }
        let getter = state.enter(item);
        drop(state);
        if let Some(getter) = getter {
            getter.wake();
        }
        Ok(())
    }

    /// Takes the front item without waiting: `Empty` if no item is ready,
    /// `Closed` if the queue is closed and drained.
    ///
    /// An item put while a getter waits belongs to that getter, so `try_get` sees `Empty`
    /// even just after a `put` in that case.
    #[inline]
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let mut state = self.state();
        let (result, wake) = state.take();
        drop(state);
        wake.wake_all();
        result
    }

    /// Closes the queue, like asyncio's `shutdown(immediate=False)`.
    ///
    /// Further puts fail with their item; waiting putters wake with `Err(Closed(item))`;
    /// getters take the items left, then fail with `Closed`. Items already handed to
    /// waiting getters are theirs. Closing twice does nothing more.
    pub fn close(&self) {
        let mut wake = WakeList::new();
        self.state().close(&mut wake);
        wake.wake_all();
    }

    /// Closes the queue and takes every item left in it, like asyncio's
    /// `shutdown(immediate=True)`, but returning the items instead of dropping them.
    ///
    /// Getters then fail at once. The unfinished count (see [`join`](Queue::join)) drops by
    /// the number of items taken, which may release `join`. Items already handed to
    /// waiting getters are not taken: those getters still receive them, and if such a
    /// getter is dropped instead, its item goes back into the queue (nothing is lost), where
    /// the next get finds it.
    pub fn close_and_drain(&self) -> Vec<T> {
        let mut wake = WakeList::new();
        let mut state = self.state();
        state.close(&mut wake);
        let drained = std::mem::take(&mut state.items);
        state.unfinished = state.unfinished.saturating_sub(drained.len());
        if state.unfinished == 0 {
            state.release_joiners(&mut wake);
        }
        drop(state);
        wake.wake_all();
        Vec::from(drained)
    }

    /// Marks one item taken from the queue as processed (asyncio's `task_done`).
    ///
    /// Every successful put adds one to the queue's unfinished count; `task_done` takes one
    /// off; [`join`](Queue::join) waits for zero.
    ///
    /// # Panics
    ///
    /// If the unfinished count is already zero: `task_done` was called more times than
    /// items were put. That is a bug in the caller, as in asyncio (`ValueError`).
    #[track_caller]
    pub fn task_done(&self) {
        let mut state = self.state();
        if state.unfinished == 0 {
            drop(state);
            panic!(
                "Queue::task_done() called more times than items were put: \
                 call it exactly once for each item taken with get() or try_get()"
            );
        }
        state.unfinished -= 1;
        if state.unfinished == 0 && !state.joiners.is_empty() {
            let mut wake = WakeList::new();
            state.release_joiners(&mut wake);
            drop(state);
            wake.wake_all();
        }
    }

    /// The number of items ready to be taken (not counting items already handed to
    /// waiting getters).
    pub fn len(&self) -> usize {
        self.state().items.len()
    }

    /// Whether no item is ready to be taken.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a put would wait now: every slot holds an item (ready, or handed to a getter
    /// that has not collected it yet). Always `false` for an unbounded queue.
    pub fn is_full(&self) -> bool {
        !self.state().has_room()
    }

    /// The most items the queue holds, or `None` if it is unbounded.
    pub fn capacity(&self) -> Option<usize> {
        let capacity = self.state().capacity;
        (capacity != usize::MAX).then_some(capacity)
    }

    /// Whether [`close`](Queue::close) or [`close_and_drain`](Queue::close_and_drain) was
    /// called.
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Items put and not yet marked done with [`task_done`](Queue::task_done).
    pub fn unfinished(&self) -> usize {
        self.state().unfinished
    }
}

impl<T> State<T> {
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.items.len() + self.handed < self.capacity
    }

    /// Whether a new put may enter now: there is room, and so no earlier putter is waiting
    /// for it (a freed slot goes to a waiting putter at once, so putters wait only while
    /// the queue is full): a new put never jumps their line.
    #[inline]
    fn may_enter(&self) -> bool {
        let room = self.has_room();
        debug_assert!(
            !room || self.putters.is_empty(),
            "putters wait while there is room"
        );
        room
    }

    /// A put succeeded: the item enters the queue and counts as unfinished. Returns the
    /// getter to wake if the item was handed to one.
    #[inline]
    fn enter(&mut self, item: T) -> Option<Waker> {
        self.unfinished += 1;
        if self.getters.is_empty() {
            // The common case: no one is waiting for it, so there is no one to wake.
            self.items.push_back(item);
            None
        } else {
            self.hand_or_store(item, Place::Back)
        }
    }

    /// Hands `item` to the longest-waiting getter if there is one (Beazley's step 5: the
    /// getter is woken, put back on its ready queue, not called); otherwise stores it.
    /// Returns the getter to wake.
    fn hand_or_store(&mut self, item: T, place: Place) -> Option<Waker> {
        if let Some(getter) = self.getters.answer_first() {
            getter.payload = Some(item);
            let waker = getter.waker.take();
            self.handed += 1;
            waker
        } else {
            match place {
                Place::Back => self.items.push_back(item),
                Place::Front => self.items.push_front(item),
            }
            None
        }
    }

    /// Takes the front item if there is one, passing the freed slot on. Returns the
    /// result and the tasks to wake.
    #[inline]
    fn take(&mut self) -> (Result<T, TryGetError>, Wake2) {
        match self.items.pop_front() {
            Some(item) => (Ok(item), self.slot_freed()),
            None if self.closed => (Err(TryGetError::Closed), Wake2::none()),
            None => (Err(TryGetError::Empty), Wake2::none()),
        }
    }

    /// A slot was freed: it goes to the longest-waiting putter, whose item enters now,
    /// in the order the putters arrived. Returns the tasks to wake: that putter, and the
    /// getter its item was handed to, if any.
    #[inline]
    fn slot_freed(&mut self) -> Wake2 {
        if self.putters.is_empty() {
            return Wake2::none(); // the common case: no one waits for room
        }
        self.admit_first_putter()
    }

    fn admit_first_putter(&mut self) -> Wake2 {
        debug_assert!(self.has_room(), "a slot was just freed");
        let putter = self
            .putters
            .answer_first()
            .expect("slot_freed checked that a putter waits");
        let item = putter
            .payload
            .take()
            .expect("a putter in line holds its item");
        let putter = putter.waker.take();
        let getter = self.enter(item);
        Wake2::two(putter, getter)
    }

    /// A getter handed `item` went away without collecting it: the item goes back to the
    /// front of the queue (or to the next waiting getter), keeping its slot. Returns the
    /// getter to wake.
    fn give_back(&mut self, item: T) -> Option<Waker> {
        self.handed -= 1;
        self.hand_or_store(item, Place::Front)
    }

    fn close(&mut self, wake: &mut WakeList) {
        self.closed = true;
        // Putters keep their item in their entry: their future returns it in `Closed`.
        while let Some(putter) = self.putters.answer_first() {
            wake.push(putter.waker.take());
        }
        // Getters in line means no item is ready: they will find the queue closed.
        while let Some(getter) = self.getters.answer_first() {
            wake.push(getter.waker.take());
        }
    }

    fn release_joiners(&mut self, wake: &mut WakeList) {
        while let Some(joiner) = self.joiners.answer_first() {
            wake.push(joiner.waker.take());
        }
    }
}

#[derive(Clone, Copy)]
enum Place {
    Front,
    Back,
}

impl<T> Clone for Queue<T> {
    /// Another handle to the same queue.
    fn clone(&self) -> Self {
        Queue {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        let capacity = (state.capacity != usize::MAX).then_some(state.capacity);
        f.debug_struct("Queue")
            .field("len", &state.items.len())
            .field("is_empty", &state.items.is_empty())
            .field("handed", &state.handed)
            .field("capacity", &capacity)
            .field("is_full", &!state.has_room())
            .field("closed", &state.closed)
            .field("unfinished", &state.unfinished)
            .field("waiting_getters", &state.getters.in_line())
            .field("waiting_putters", &state.putters.in_line())
            .finish()
    }
}
