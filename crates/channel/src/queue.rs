//! The queues: one implementation, [`QueueOf<T, O>`], and its three orders, [`Queue`]
//! (FIFO), [`LifoQueue`] and [`PriorityQueue`]. The handle and its non-waiting operations
//! are here.
//!
//! The state behind the lock and the steps of each operation are in `queue/state.rs`;
//! the waiting operations (`put`, `get`, `join`) are futures in `queue/futures.rs`, and a
//! waiting future receives its answer in its own cell (`queue/handoff.rs`); the calls for
//! plain threads are in `queue/blocking.rs`; the orders in `queue/order.rs`.

mod blocking;
mod futures;
mod handoff;
pub mod order;
mod state;

use std::fmt;

use crate::errors::{TryGetError, TryPutError};
use crate::line::WakeList;
use crate::sync::{Arc, Lock, LockGuard};
pub use futures::{Get, Join, Put};
use order::{Fifo, Lifo, Order, Priority};
use state::State;

/// A multi-producer, multi-consumer FIFO queue for async tasks: asyncio's `Queue`,
/// with fair hand-off.
///
/// A `Queue` is a handle: [`Clone`] gives another handle to the same queue (an `Arc`
/// clone), so each task can own one. It only talks to executors through
/// [`std::task::Waker`], so it works on handloop's loop, on tokio, or on any other.
///
/// * [`put`](QueueOf::put) waits while the queue is full, [`get`](QueueOf::get) while
///   it is empty; [`try_put`](QueueOf::try_put) and [`try_get`](QueueOf::try_get) never
///   wait.
/// * **Hand-off.** An item put while a getter waits goes straight to the getter that has
///   waited longest; a running task calling `try_get` cannot take it first. A freed slot
///   goes to the putter that has waited longest, so items enter in the order their
///   putters arrived.
/// * [`close`](QueueOf::close) rejects further puts and lets getters drain what is left;
///   [`close_and_drain`](QueueOf::close_and_drain) also takes every item out at once.
/// * [`task_done`](QueueOf::task_done) and [`join`](QueueOf::join) count unfinished
///   items, as in asyncio.
/// * [`put_blocking`](QueueOf::put_blocking) and [`get_blocking`](QueueOf::get_blocking)
///   let plain threads (not tasks) feed or drain it.
///
/// `Queue<T>` is [`QueueOf<T, Fifo<T>>`](QueueOf): [`LifoQueue`] and [`PriorityQueue`]
/// are the same queue with another order, and every method is documented on `QueueOf`.
///
/// ```
/// use handloop_channel::Queue;
///
/// futures::executor::block_on(async {
///     let queue = Queue::bounded(2);
///     queue.put("first").await.unwrap();
///     queue.put("second").await.unwrap();
///     assert_eq!(queue.get().await, Ok("first"));
///     assert_eq!(queue.get().await, Ok("second"));
/// });
/// ```
pub type Queue<T> = QueueOf<T, Fifo<T>>;

/// A queue that hands out the item put last first: asyncio's `LifoQueue` (a stack), with
/// [`Queue`]'s waiting, fairness and closing.
///
/// Getters still wait in line and are served in arrival order; only the order of the items
/// changes. `close_and_drain` returns the items in the order `get` would have (newest
/// first).
///
/// ```
/// use handloop_channel::LifoQueue;
///
/// let stack = LifoQueue::unbounded();
/// for page in ["home", "docs", "api"] {
///     stack.try_put(page).unwrap();
/// }
/// assert_eq!(stack.try_get(), Ok("api"));
/// assert_eq!(stack.close_and_drain(), ["docs", "home"]);
/// ```
pub type LifoQueue<T> = QueueOf<T, Lifo<T>>;

/// A queue that hands out its smallest item first: asyncio's `PriorityQueue`, with
/// [`Queue`]'s waiting, fairness and closing.
///
/// Items are compared with [`Ord`]; put `(priority, job)` pairs as in asyncio, or any
/// type whose order is its priority. Unlike asyncio's (a plain heap), the order is
/// **stable**: items that compare equal come out in the order they were put. An item
/// handed to a waiting getter is that getter's, even if a smaller one arrives before the
/// getter runs (hand-off, as in [`Queue`]).
///
/// ```
/// use handloop_channel::PriorityQueue;
///
/// let jobs = PriorityQueue::bounded(8);
/// jobs.try_put((2, "write the report")).unwrap();
/// jobs.try_put((0, "put out the fire")).unwrap();
/// jobs.try_put((1, "answer the mail")).unwrap();
/// assert_eq!(jobs.try_get(), Ok((0, "put out the fire")));
/// assert_eq!(jobs.try_get(), Ok((1, "answer the mail")));
/// ```
pub type PriorityQueue<T> = QueueOf<T, Priority<T>>;

/// The one queue implementation behind [`Queue`], [`LifoQueue`] and [`PriorityQueue`]:
/// `O` ([`order::Fifo`], [`order::Lifo`] or [`order::Priority`]) says in which order
/// ready items leave; everything else (the lines of waiting tasks, hand-off, closing,
/// `join`, the blocking calls) is shared. You normally name it through those three.
///
/// An item handed to a waiting getter leaves the queue at once (it is the getter's), so
/// it no longer takes up a slot: a bounded queue never holds more than its capacity in
/// ready items, with one exception: if a getter that was handed an item is dropped before
/// it took it, the item comes back into the queue even if the queue has filled up since
/// (nothing is lost), and puts wait until the queue is below its capacity again.
pub struct QueueOf<T, O> {
    shared: Arc<Lock<State<T, O>>>,
}

impl<T, O: Order<T>> QueueOf<T, O> {
    /// A queue that holds at most `capacity` items; `put` waits while it is full.
    ///
    /// ```
    /// use handloop_channel::{Queue, TryPutError};
    ///
    /// let queue = Queue::bounded(1);
    /// queue.try_put(1).unwrap();
    /// assert_eq!(queue.try_put(2), Err(TryPutError::Full(2)));
    /// ```
    ///
    /// # Panics
    ///
    /// If `capacity` is zero: a queue with no room could never accept an item.
    /// (asyncio reads `maxsize=0` as "no limit"; here that is [`unbounded`](Self::unbounded).)
    #[track_caller]
    pub fn bounded(capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "Queue::bounded(0): a queue needs room for at least one item; \
             use Queue::unbounded() for a queue without a limit (asyncio's maxsize=0)"
        );
        QueueOf::with_state(State::new(capacity, O::with_capacity(capacity.min(1024))))
    }

    /// A queue without a limit: `put` never waits (asyncio's `Queue()`).
    pub fn unbounded() -> Self {
        QueueOf::with_state(State::new(usize::MAX, O::with_capacity(0)))
    }

    fn with_state(state: State<T, O>) -> Self {
        QueueOf {
            shared: Arc::new(Lock::new(state)),
        }
    }

    #[inline]
    pub(crate) fn state(&self) -> LockGuard<'_, State<T, O>> {
        self.shared.lock()
    }

    /// Puts `item` into the queue, waiting while the queue is full.
    ///
    /// Fails with [`Closed`](crate::Closed) holding the item if the queue is closed before the item
    /// entered. See [`Put`] for what dropping the future does.
    #[inline]
    pub fn put(&self, item: T) -> Put<'_, T, O> {
        Put::new(self, item)
    }

    /// Takes the next item (the front one for a [`Queue`]), waiting while the queue is
    /// empty.
    ///
    /// After [`close`](Self::close), `get` still returns the items left in the queue, and
    /// fails with [`Closed`](crate::Closed) only once it is empty. See [`Get`] for what
    /// dropping the future does.
    #[inline]
    pub fn get(&self) -> Get<'_, T, O> {
        Get::new(self)
    }

    /// Waits until every item put so far has been marked done with
    /// [`task_done`](Self::task_done). Returns at once if nothing is unfinished.
    pub fn join(&self) -> Join<'_, T, O> {
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

    /// Takes the next item without waiting: `Empty` if no item is ready,
    /// `Closed` if the queue is closed and drained.
    ///
    /// An item put while a getter waits belongs to that getter, so `try_get` sees `Empty`
    /// even just after a `put` in that case.
    #[inline]
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let mut state = self.state();
        let (result, putter) = state.take();
        drop(state);
        if let Some(putter) = putter {
            putter.wake();
        }
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
    /// `shutdown(immediate=True)`, but returning the items (in the order `get` would have
    /// returned them) instead of dropping them.
    ///
    /// Getters then fail at once. The unfinished count (see [`join`](Self::join)) drops by
    /// the number of items taken, which may release `join`. Items already handed to
    /// waiting getters are not taken: those getters still receive them, and if such a
    /// getter is dropped instead, its item goes back into the queue (nothing is lost), where
    /// the next get finds it.
    pub fn close_and_drain(&self) -> Vec<T> {
        let mut wake = WakeList::new();
        let mut state = self.state();
        state.close(&mut wake);
        let drained = state.items.drain();
        state.unfinished = state.unfinished.saturating_sub(drained.len());
        if state.unfinished == 0 {
            state.release_joiners(&mut wake);
        }
        drop(state);
        wake.wake_all();
        drained
    }

    /// Marks one item taken from the queue as processed (asyncio's `task_done`).
    ///
    /// Every successful put adds one to the queue's unfinished count; `task_done` takes one
    /// off; [`join`](Self::join) waits for zero.
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

    /// The number of items ready to be taken (items already handed to waiting getters are
    /// theirs, and not counted).
    pub fn len(&self) -> usize {
        self.state().items.len()
    }

    /// Whether no item is ready to be taken.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a put would wait now: the queue holds as many items as its capacity.
    /// Always `false` for an unbounded queue.
    pub fn is_full(&self) -> bool {
        !self.state().has_room()
    }

    /// The most items the queue holds, or `None` if it is unbounded.
    pub fn capacity(&self) -> Option<usize> {
        let capacity = self.state().capacity;
        (capacity != usize::MAX).then_some(capacity)
    }

    /// Whether [`close`](Self::close) or [`close_and_drain`](Self::close_and_drain) was
    /// called.
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Items put and not yet marked done with [`task_done`](Self::task_done).
    pub fn unfinished(&self) -> usize {
        self.state().unfinished
    }
}

impl<T, O> Clone for QueueOf<T, O> {
    /// Another handle to the same queue.
    fn clone(&self) -> Self {
        QueueOf {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for QueueOf<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        let capacity = (state.capacity != usize::MAX).then_some(state.capacity);
        f.debug_struct(O::NAME)
            .field("len", &state.items.len())
            .field("capacity", &capacity)
            .field("is_full", &!state.has_room())
            .field("closed", &state.closed)
            .field("unfinished", &state.unfinished)
            .field("waiting_getters", &state.getters.len())
            .field("waiting_putters", &state.putters.len())
            .finish()
    }
}
