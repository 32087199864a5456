//! Everything behind a queue's one lock, and the steps every operation is made of.
//!
//! The `unsafe` here is the mailboxes' (see `handoff.rs`): each call is made under the
//! lock, on a mailbox just taken out of one of these lines.
#![allow(unsafe_code)]

use std::task::Waker;

use super::handoff::Mailbox;
use super::order::Order;
use crate::errors::TryGetError;
use crate::line::{Key, Removed, WaitLine, WakeList};

/// Everything behind a queue's lock.
///
/// Invariants, true whenever the lock is free:
/// * a getter is in line only while `items` is empty (an item never waits while a
///   getter does);
/// * a putter is in line only while there is no room (`items.len() >= capacity`).
///
/// So getters and putters never wait at the same time, and the fast paths lean on that: a
/// put that finds no getter in line just stores its item, a get that finds no putter in
/// line just takes one, and neither has anyone to wake.
///
/// An item handed to a waiting getter leaves the queue at once: it is written into the
/// getter's own future (see `handoff.rs`), which collects it without this lock.
pub(crate) struct State<T, O> {
    /// Items ready for the next `get`, in the queue's order.
    pub(super) items: O,
    /// `usize::MAX` for an unbounded queue.
    pub(super) capacity: usize,
    pub(super) closed: bool,
    /// Items put and not yet marked done with `task_done` (asyncio's `_unfinished_tasks`).
    pub(super) unfinished: usize,
    /// Getters waiting for an item, each with the mailbox the item goes into.
    pub(super) getters: WaitLine<Mailbox<T>>,
    /// Putters waiting for room, each with the mailbox that holds its item.
    pub(super) putters: WaitLine<Mailbox<T>>,
    /// Tasks waiting in `join`.
    pub(super) joiners: WaitLine<()>,
}

impl<T, O: Order<T>> State<T, O> {
    pub(super) fn new(capacity: usize, items: O) -> Self {
        State {
            items,
            capacity,
            closed: false,
            unfinished: 0,
            getters: WaitLine::new(),
            putters: WaitLine::new(),
            joiners: WaitLine::new(),
        }
    }

    #[inline]
    pub(super) fn has_room(&self) -> bool {
        self.items.len() < self.capacity
    }

    /// Whether a new put may enter now: there is room, and so no earlier putter is waiting
    /// for it (a freed slot goes to a waiting putter at once, so putters wait only while
    /// the queue is full): a new put never jumps their line.
    #[inline]
    pub(super) fn may_enter(&self) -> bool {
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
    pub(super) fn enter(&mut self, item: T) -> Option<Waker> {
        self.unfinished += 1;
        if self.getters.is_empty() {
            // The common case: no one is waiting for it, so there is no one to wake.
            self.items.push(item);
            None
        } else {
            self.hand_to_getter(item).err()
        }
    }

    /// Hands `item` to the longest-waiting getter (Beazley's step 5: the getter is woken,
    /// put back on its ready queue, not called), returning the getter to wake; or gives
    /// the item back if no getter waits. Inlined: a put to a waiting getter is the hot
    /// path of every request/reply exchange, and a call costs it a dozen register saves.
    #[inline]
    fn hand_to_getter(&mut self, item: T) -> Result<T, Waker> {
        match self.getters.pop_front() {
            Some((waker, mailbox)) => {
                // SAFETY: we hold the lock (`&mut self` is only reachable through the
                // lock's guard) and just took the mailbox out of our line.
                unsafe { mailbox.give(item) };
                Err(waker)
            }
            None => Ok(item),
        }
    }

    /// Takes the next item if there is one, passing the freed slot on. Returns the
    /// result and the putter to wake.
    #[inline]
    pub(super) fn take(&mut self) -> (Result<T, TryGetError>, Option<Waker>) {
        match self.items.pop() {
            Some(item) => (Ok(item), self.slot_freed()),
            None if self.closed => (Err(TryGetError::Closed), None),
            None => (Err(TryGetError::Empty), None),
        }
    }

    /// A slot was freed: it goes to the longest-waiting putter, whose item enters now, in
    /// the order the putters arrived. Returns that putter, to wake.
    #[inline]
    pub(super) fn slot_freed(&mut self) -> Option<Waker> {
        if self.putters.is_empty() {
            return None; // the common case: no one waits for room
        }
        self.admit_first_putter()
    }

    #[cold]
    fn admit_first_putter(&mut self) -> Option<Waker> {
        if !self.has_room() {
            // Items given back by dropped getters can fill the queue past its capacity.
            return None;
        }
        let (waker, mut mailbox) = self.putters.pop_front()?;
        // SAFETY: we hold the lock and just took the mailbox out of our line.
        let item = unsafe { mailbox.take_item() };
        // SAFETY: as above; the putter finds its handoff empty: its item entered.
        unsafe { mailbox.answer() };
        let item = item.expect("a waiting putter holds its item");
        // Putters wait only while the queue is full, so no getter waits: the item is
        // stored, with no one else to wake.
        let getter = self.enter(item);
        debug_assert!(getter.is_none(), "getters and putters never wait together");
        Some(waker)
    }

    /// A getter handed `item` went away without taking it: the item goes to the next
    /// waiting getter, or back into the queue as its oldest item (nothing is lost). Returns
    /// the getter to wake.
    pub(super) fn give_back(&mut self, item: T) -> Option<Waker> {
        match self.hand_to_getter(item) {
            Ok(item) => {
                self.items.push_oldest(item);
                None
            }
            Err(getter) => Some(getter),
        }
    }

    pub(super) fn close(&mut self, wake: &mut WakeList) {
        self.closed = true;
        // Putters keep their item in their handoff: their future returns it in `Closed`.
        while let Some((waker, mailbox)) = self.putters.pop_front() {
            // SAFETY: we hold the lock and just took the mailbox out of our line.
            unsafe { mailbox.answer() };
            wake.push(waker);
        }
        // Getters in line means no item is ready: they find their handoff empty, and
        // then the queue closed.
        while let Some((waker, mailbox)) = self.getters.pop_front() {
            // SAFETY: as above.
            unsafe { mailbox.answer() };
            wake.push(waker);
        }
    }

    pub(super) fn release_joiners(&mut self, wake: &mut WakeList) {
        while let Some((waker, _)) = self.joiners.answer_front() {
            wake.push(waker);
        }
    }
}

/// A getter or putter left its line before it was answered (its future was dropped):
/// its handoff is its own again. Returns its waker, to drop after unlocking.
pub(super) fn leave_line<T>(line: &mut WaitLine<Mailbox<T>>, key: Key) -> Waker {
    match line.remove(key) {
        Removed::Waiting { waker, payload } => {
            // SAFETY: we hold the lock (the line is only reachable through its guard)
            // and just took the mailbox out of the line.
            unsafe { payload.answer() };
            waker
        }
        Removed::Answered(_) => unreachable!("queue waiters are answered with pop_front"),
    }
}
