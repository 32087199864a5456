//! `WaitLine`: a line of waiting tasks, served strictly in arrival order, that any waiter
//! may leave at any time in O(1). Every waiting operation of the crate stands in one.
//!
//! The line is plain data (no lock, no atomics, no `unsafe`): whoever owns it decides how
//! it is shared. The queue keeps its lines behind its lock (so they work across threads);
//! a loop-local primitive can keep one in a `RefCell`. Either way the owner follows two
//! rules, which are the whole contract:
//!
//! * **Wake after letting go.** [`pop_front`](WaitLine::pop_front),
//!   [`answer_front`](WaitLine::answer_front) and [`remove`](WaitLine::remove) hand back
//!   the waiter's `Waker` instead of calling it, and [`set_waker`](WaitLine::set_waker)
//!   hands back the one it replaced: call (or drop) them only after releasing the lock
//!   or the `RefCell` borrow, since a waker runs its owner's code, which may come back to
//!   the same line. [`WakeList`] collects them until then.
//! * **One key per waiter.** [`push_back`](WaitLine::push_back) returns a [`Key`], which
//!   is not `Copy`: the waiting future keeps it, and gives it back to
//!   [`remove`](WaitLine::remove) when it finishes or is dropped. A key answered with
//!   [`pop_front`](WaitLine::pop_front) is dead (its slot is reused); the owner must learn
//!   that from the answer it left the waiter, and forget the key.
//!
//! # How it is built
//!
//! A slab (a `Vec` of slots, free ones chained into a free list) holds the waiters, and
//! each waiting slot links to the one before and after it: a doubly linked list whose
//! links are indices, not pointers. So joining, answering the front and leaving from the
//! middle each touch a few slots, and waiting allocates nothing once the slab has grown
//! to the largest number of simultaneous waiters it has seen.
//!
//! ```text
//!   head                                 tail
//!    │                                    │
//!    ▼                                    ▼
//!  [2: Waiting] ⇄ [0: Waiting] ⇄ [3: Waiting]      [1: Answered]   [4: Free]
//! ```
//!
//! A waiter can be answered two ways:
//!
//! * [`answer_front`](WaitLine::answer_front) takes it out of the line but keeps its slot
//!   (`Answered`), with a payload the owner may fill in (the lock or permit handed to it,
//!   say). The waiter reads it on its next poll and frees the slot with
//!   [`remove`](WaitLine::remove). Use this when the waiter can only read its answer
//!   through the line.
//! * [`pop_front`](WaitLine::pop_front) frees the slot at once and gives the payload to
//!   the caller. The queue uses this: its payload says where, in the waiting future
//!   itself, to leave the answer, so the future reads it without coming back.
//!
//! A waiter dropped before it is answered leaves with [`remove`](WaitLine::remove), in O(1)
//! wherever it stands; the waiters behind it move up. A waiter dropped after
//! `answer_front` answered it gets its payload back from `remove`, to pass on what it was
//! given (an item, a permit) to the next in line.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::task::Waker;

/// No slot: the end of a list.
const NONE: usize = usize::MAX;

/// A waiter's place in a [`WaitLine`], returned by [`WaitLine::push_back`].
///
/// Deliberately neither `Copy` nor `Clone`: one waiter, one key, given back exactly once
/// to [`WaitLine::remove`] (or forgotten once [`WaitLine::pop_front`] answered it).
#[must_use = "a waiter's key must be kept, and given back to `WaitLine::remove`"]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Key(usize);

/// What [`WaitLine::remove`] found.
#[derive(Debug)]
pub(crate) enum Removed<P> {
    /// The waiter was still in line; it has left. Its waker is for the caller to drop
    /// after letting go of the line.
    Waiting { waker: Waker, payload: P },
    /// [`WaitLine::answer_front`] had answered it: here is its answer.
    Answered(P),
}

/// Waiting tasks in arrival order; see the module documentation.
pub(crate) struct WaitLine<P> {
    slots: Vec<Slot<P>>,
    /// The first free slot; each free slot names the next one.
    free: usize,
    /// The longest-waiting waiter, or `NONE`.
    head: usize,
    /// The latest to arrive, or `NONE`.
    tail: usize,
    /// How many waiters are in line (answered ones not counted).
    len: usize,
}

enum Slot<P> {
    Free {
        next: usize,
    },
    Waiting {
        waker: Waker,
        payload: P,
        prev: usize,
        next: usize,
    },
    Answered(P),
}

impl<P> WaitLine<P> {
    /// An empty line. Allocates nothing until the first waiter arrives.
    pub(crate) const fn new() -> Self {
        WaitLine {
            slots: Vec::new(),
            free: NONE,
            head: NONE,
            tail: NONE,
            len: 0,
        }
    }

    /// How many waiters are in line (answered ones not counted).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no one is in line: the question every fast path asks.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NONE
    }

    /// Puts a new waiter at the back of the line (with a clone of `waker`) and returns
    /// its key.
    ///
    /// Always inlined: every wait on a queue or a barrier starts here, and a call with
    /// its register saves would cost as much as the push itself.
    #[inline(always)]
    pub(crate) fn push_back(&mut self, waker: &Waker, payload: P) -> Key {
        self.push_back_with(waker.clone(), payload)
    }

    /// [`push_back`](WaitLine::push_back) with a waker the caller already cloned: an
    /// owner that must not run a waker's code while it holds the line (a `RefCell`
    /// borrow) clones it before.
    #[inline(always)]
    pub(crate) fn push_back_with(&mut self, waker: Waker, payload: P) -> Key {
        let slot = Slot::Waiting {
            waker,
            payload,
            prev: self.tail,
            next: NONE,
        };
        let key = if self.free == NONE {
            self.slots.push(slot);
            self.slots.len() - 1
        } else {
            let key = self.free;
            let Slot::Free { next } = std::mem::replace(&mut self.slots[key], slot) else {
                unreachable!("the free list names only free slots")
            };
            self.free = next;
            key
        };
        match self.tail {
            NONE => self.head = key,
            tail => *self.next_mut(tail) = key,
        }
        self.tail = key;
        self.len += 1;
        Key(key)
    }

    /// Whether the waiter behind `key` is still in line (not yet answered).
    #[inline]
    pub(crate) fn is_waiting(&self, key: &Key) -> bool {
        match &self.slots[key.0] {
            Slot::Waiting { .. } => true,
            Slot::Answered(_) => false,
            Slot::Free { .. } => panic!("WaitLine: a dead key (its slot is free)"),
        }
    }

    /// Remembers the waker of the waiter's latest poll, cloning it only if it changed
    /// (a task that moved to another executor, or a combinator's waker).
    ///
    /// Returns the waker it replaced, for the caller to drop after letting go of the line.
    ///
    /// # Panics
    ///
    /// If the waiter is no longer in line.
    #[must_use = "drop the replaced waker after letting go of the line"]
    pub(crate) fn set_waker(&mut self, key: &Key, waker: &Waker) -> Option<Waker> {
        let Slot::Waiting { waker: current, .. } = &mut self.slots[key.0] else {
            panic!("WaitLine::set_waker: the waiter is not in line")
        };
        if current.will_wake(waker) {
            None
        } else {
            Some(std::mem::replace(current, waker.clone()))
        }
    }

    /// Whether the waiter behind `key`, still in line, keeps a waker that wakes the same
    /// task as `waker` (no waker code runs).
    ///
    /// # Panics
    ///
    /// If the waiter is no longer in line.
    pub(crate) fn will_wake(&self, key: &Key, waker: &Waker) -> bool {
        let Slot::Waiting { waker: current, .. } = &self.slots[key.0] else {
            panic!("WaitLine::will_wake: the waiter is not in line")
        };
        current.will_wake(waker)
    }

    /// [`set_waker`](WaitLine::set_waker) with a waker the caller already cloned (see
    /// [`push_back_with`](WaitLine::push_back_with)): stores it, and returns the one it
    /// replaced, for the caller to drop after letting go of the line.
    ///
    /// # Panics
    ///
    /// If the waiter is no longer in line.
    #[must_use = "drop the replaced waker after letting go of the line"]
    pub(crate) fn replace_waker(&mut self, key: &Key, waker: Waker) -> Waker {
        let Slot::Waiting { waker: current, .. } = &mut self.slots[key.0] else {
            panic!("WaitLine::replace_waker: the waiter is not in line")
        };
        std::mem::replace(current, waker)
    }

    /// Answers the longest-waiting waiter and frees its slot: its key is dead from now
    /// on. Returns its waker and payload.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<(Waker, P)> {
        let key = self.head;
        if key == NONE {
            return None;
        }
        let free = Slot::Free { next: self.free };
        let Slot::Waiting {
            waker,
            payload,
            next,
            ..
        } = std::mem::replace(&mut self.slots[key], free)
        else {
            unreachable!("the line links only waiting slots")
        };
        self.free = key;
        self.unlink_front(next);
        Some((waker, payload))
    }

    /// Answers the longest-waiting waiter but keeps its slot, for it to read its answer
    /// (the payload, which the caller may change through the reference) on its next
    /// poll. Returns its waker and payload.
    pub(crate) fn answer_front(&mut self) -> Option<(Waker, &mut P)> {
        let key = self.head;
        if key == NONE {
            return None;
        }
        let slot = &mut self.slots[key];
        let Slot::Waiting { next, .. } = *slot else {
            unreachable!("the line links only waiting slots")
        };
        // Swap a placeholder in, to move the waker and payload out of the old variant.
        let Slot::Waiting { waker, payload, .. } = std::mem::replace(slot, Slot::Free { next })
        else {
            unreachable!("just matched")
        };
        *slot = Slot::Answered(payload);
        self.unlink_front(next);
        let Slot::Answered(payload) = &mut self.slots[key] else {
            unreachable!("just answered")
        };
        Some((waker, payload))
    }

    /// Takes the waiter behind `key` out of the slab for good (its future finished or was
    /// dropped), leaving the line in O(1) if it was still in it.
    pub(crate) fn remove(&mut self, key: Key) -> Removed<P> {
        let key = key.0;
        let free = Slot::Free { next: self.free };
        let removed = match std::mem::replace(&mut self.slots[key], free) {
            Slot::Waiting {
                waker,
                payload,
                prev,
                next,
            } => {
                match prev {
                    NONE => self.head = next,
                    prev => *self.next_mut(prev) = next,
                }
                match next {
                    NONE => self.tail = prev,
                    next => *self.prev_mut(next) = prev,
                }
                self.len -= 1;
                Removed::Waiting { waker, payload }
            }
            Slot::Answered(payload) => Removed::Answered(payload),
            Slot::Free { .. } => panic!("WaitLine::remove: a dead key (its slot is free)"),
        };
        self.free = key;
        removed
    }

    /// The front waiter (whose successor is `next`) has just left its slot.
    #[inline]
    fn unlink_front(&mut self, next: usize) {
        self.head = next;
        match next {
            NONE => self.tail = NONE,
            next => *self.prev_mut(next) = NONE,
        }
        self.len -= 1;
    }

    fn next_mut(&mut self, key: usize) -> &mut usize {
        match &mut self.slots[key] {
            Slot::Waiting { next, .. } => next,
            _ => unreachable!("the line links only waiting slots"),
        }
    }

    fn prev_mut(&mut self, key: usize) -> &mut usize {
        match &mut self.slots[key] {
            Slot::Waiting { prev, .. } => prev,
            _ => unreachable!("the line links only waiting slots"),
        }
    }
}

impl<P> Default for WaitLine<P> {
    fn default() -> Self {
        WaitLine::new()
    }
}

impl<P> fmt::Debug for WaitLine<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitLine")
            .field("waiting", &self.len)
            .field("slots", &self.slots.len())
            .finish()
    }
}

/// Wakers collected while the line is held, and called after it is released, so that a
/// waker which comes back to the line (or runs its task on the spot) cannot deadlock or
/// find it borrowed.
///
/// For operations that may wake any number of waiters (closing, releasing `join`); one
/// that wakes at most one or two keeps them in `Option<Waker>`s, which cost nothing when
/// no one was woken.
#[derive(Debug, Default)]
pub(crate) struct WakeList {
    wakers: Vec<Waker>,
}

impl WakeList {
    #[inline]
    pub(crate) fn new() -> Self {
        WakeList { wakers: Vec::new() }
    }

    pub(crate) fn push(&mut self, waker: Waker) {
        self.wakers.push(waker);
    }

    /// Wakes everyone collected, in the order they were collected. A wake that panics (an
    /// executor's queue is full, say) does not cost the others theirs: every waker is woken,
    /// then the first panic goes on to the caller.
    pub(crate) fn wake_all(self) {
        let mut panicked = None;
        for waker in self.wakers {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                panicked.get_or_insert(payload);
            }
        }
        if let Some(payload) = panicked {
            resume_unwind(payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_wake_does_not_cost_the_others_their_wake() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::Wake;

        struct Count(AtomicUsize, bool);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
                assert!(!self.1, "this executor's queue is full");
            }
        }
        let (first, second, third) = (
            Arc::new(Count(AtomicUsize::new(0), false)),
            Arc::new(Count(AtomicUsize::new(0), true)),
            Arc::new(Count(AtomicUsize::new(0), false)),
        );
        let mut list = WakeList::new();
        for count in [&first, &second, &third] {
            list.push(Waker::from(count.clone()));
        }
        let panic = catch_unwind(AssertUnwindSafe(|| list.wake_all()));
        assert!(panic.is_err(), "the panic goes on to the caller");
        for count in [&first, &second, &third] {
            assert_eq!(count.0.load(Ordering::Relaxed), 1);
        }
    }

    fn noop() -> &'static Waker {
        Waker::noop()
    }

    /// Drains the line with `pop_front`, returning the payloads in order.
    fn drain(line: &mut WaitLine<u32>) -> Vec<u32> {
        std::iter::from_fn(|| line.pop_front().map(|(_, p)| p)).collect()
    }

    #[test]
    fn serves_in_arrival_order_and_leaving_from_anywhere_keeps_the_order() {
        let mut line = WaitLine::new();
        let keys: Vec<Key> = (0..6).map(|n| line.push_back(noop(), n)).collect();
        let mut keys = keys.into_iter().map(Some).collect::<Vec<_>>();
        // Leave from the middle, the back and the front.
        for n in [3, 5, 0] {
            let Removed::Waiting { payload, .. } = line.remove(keys[n].take().unwrap()) else {
                panic!("still in line")
            };
            assert_eq!(payload, n as u32);
        }
        assert_eq!(line.len(), 3);
        // Slots are reused; a newcomer goes to the back.
        let _late = line.push_back(noop(), 9);
        assert_eq!(drain(&mut line), [1, 2, 4, 9]);
        assert!(line.is_empty());
        assert_eq!(line.len(), 0);
    }

    #[test]
    fn leaving_newest_first_empties_the_line_and_reuses_every_slot() {
        let mut line = WaitLine::new();
        let keys: Vec<Key> = (0..100).map(|n| line.push_back(noop(), n)).collect();
        for key in keys.into_iter().rev() {
            assert!(matches!(line.remove(key), Removed::Waiting { .. }));
        }
        assert!(line.is_empty());
        let _keys: Vec<Key> = (0..100).map(|n| line.push_back(noop(), n)).collect();
        assert_eq!(line.slots.len(), 100, "no slot was leaked");
        assert_eq!(drain(&mut line), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn an_answered_waiter_keeps_its_slot_and_its_answer() {
        let mut line = WaitLine::new();
        let first = line.push_back(noop(), 0);
        let second = line.push_back(noop(), 0);
        let (_, payload) = line.answer_front().unwrap();
        *payload = 7;
        assert!(!line.is_waiting(&first));
        assert!(line.is_waiting(&second));
        assert_eq!(line.len(), 1);
        assert!(matches!(line.remove(first), Removed::Answered(7)));
        assert!(matches!(line.remove(second), Removed::Waiting { .. }));
        assert!(line.is_empty());
    }

    #[test]
    fn set_waker_replaces_only_a_different_waker() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::Wake;
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let (one, two) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let first = Waker::from(Arc::clone(&one));
        let other = Waker::from(Arc::clone(&two));
        let mut line = WaitLine::new();
        let key = line.push_back(&first, ());
        // (A clone: Miri gives each `Waker::from` its own vtable address, which
        // `will_wake` compares, while clones share the clone function's.)
        assert!(
            line.set_waker(&key, &first.clone()).is_none(),
            "the same waker is kept"
        );
        line.set_waker(&key, &other)
            .expect("a different waker")
            .wake();
        let Removed::Waiting { waker, .. } = line.remove(key) else {
            panic!("still in line")
        };
        waker.wake();
        let counts = (one.0.load(Ordering::Relaxed), two.0.load(Ordering::Relaxed));
        assert_eq!(
            counts,
            (1, 1),
            "the old waker was handed back, the new one kept"
        );
    }

    #[test]
    #[should_panic(expected = "dead key")]
    fn a_dead_key_is_caught() {
        let mut line = WaitLine::new();
        let key = line.push_back(noop(), ());
        line.pop_front();
        let _ = line.remove(key);
    }

    /// The line inside a loop-local primitive (a `RefCell`, no lock, no atomics), as
    /// `Barrier` keeps it: a one-permit gate with strict hand-off.
    /// A release answers the first waiter with the permit (`answer_front`), so a running
    /// task cannot barge in; a waiter dropped after it was handed the permit passes it on.
    mod loop_local {
        use std::cell::RefCell;
        use std::future::Future;
        use std::pin::{Pin, pin};
        use std::task::{Context, Poll, Waker};

        use crate::line::{Key, Removed, WaitLine};

        struct Gate {
            state: RefCell<GateState>,
        }

        struct GateState {
            free: bool,
            /// Payload: whether the permit was handed to this waiter.
            line: WaitLine<bool>,
        }

        impl Gate {
            fn new() -> Self {
                Gate {
                    state: RefCell::new(GateState {
                        free: true,
                        line: WaitLine::new(),
                    }),
                }
            }

            fn enter(&self) -> Enter<'_> {
                Enter {
                    gate: self,
                    key: None,
                }
            }

            fn release(&self) {
                let mut state = self.state.borrow_mut();
                let waker = match state.line.answer_front() {
                    Some((waker, granted)) => {
                        *granted = true;
                        Some(waker)
                    }
                    None => {
                        state.free = true;
                        None
                    }
                };
                drop(state);
                if let Some(waker) = waker {
                    waker.wake(); // after the borrow ends
                }
            }
        }

        struct Enter<'a> {
            gate: &'a Gate,
            key: Option<Key>,
        }

        impl Future for Enter<'_> {
            type Output = ();

            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                let mut state = self.gate.state.borrow_mut();
                match self.key.take() {
                    None if state.free && state.line.is_empty() => {
                        state.free = false;
                        Poll::Ready(())
                    }
                    None => {
                        let key = state.line.push_back(cx.waker(), false);
                        drop(state);
                        self.key = Some(key);
                        Poll::Pending
                    }
                    Some(key) if state.line.is_waiting(&key) => {
                        let replaced = state.line.set_waker(&key, cx.waker());
                        drop(state);
                        drop(replaced);
                        self.key = Some(key);
                        Poll::Pending
                    }
                    Some(key) => {
                        let Removed::Answered(true) = state.line.remove(key) else {
                            unreachable!("answered with the permit")
                        };
                        Poll::Ready(())
                    }
                }
            }
        }

        impl Drop for Enter<'_> {
            fn drop(&mut self) {
                let Some(key) = self.key.take() else { return };
                let removed = self.gate.state.borrow_mut().line.remove(key);
                if let Removed::Answered(true) = removed {
                    self.gate.release(); // handed the permit, never used it: pass it on
                }
            }
        }

        fn poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
            future.poll(&mut Context::from_waker(Waker::noop()))
        }

        #[test]
        fn a_release_hands_the_permit_to_the_first_waiter_and_a_dropped_one_passes_it_on() {
            let gate = Gate::new();
            assert!(poll(pin!(gate.enter())).is_ready()); // taken
            let mut first = Box::pin(gate.enter());
            let mut second = Box::pin(gate.enter());
            let mut third = Box::pin(gate.enter());
            assert!(poll(first.as_mut()).is_pending());
            assert!(poll(second.as_mut()).is_pending());
            assert!(poll(third.as_mut()).is_pending());
            gate.release(); // handed to `first`
            assert!(poll(pin!(gate.enter())).is_pending(), "no barging");
            drop(first); // handed the permit, gone: it goes to `second`
            drop(third); // leaves the line from the back
            assert!(poll(second.as_mut()).is_ready());
            gate.release(); // nobody waits: free again
            assert!(poll(pin!(gate.enter())).is_ready());
        }
    }
}
