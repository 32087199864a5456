//! A line of waiting tasks (getters, putters or joiners), and the wakers to call once
//! the lock is released.
//!
//! A waiter is an entry in a slab: a `Vec` of slots reused through a free list, so
//! waiting allocates only while the slab grows to the largest number of simultaneous
//! waiters it has seen. The key of the slot is all a waiting future keeps. The line
//! itself is a `VecDeque` of keys, oldest first. Answering takes the front of the line
//! and removing an answered entry is an index, so a wait costs O(1); only a waiting
//! future dropped while still in line (cancellation) searches the line for its key.

use std::collections::VecDeque;
use std::task::Waker;

/// One waiting task.
#[derive(Debug)]
pub(crate) struct Entry<P> {
    /// Who to wake when this entry is answered; taken when it is.
    pub(crate) waker: Option<Waker>,
    /// What the waiter and the queue exchange: a putter's item, a getter's handed item.
    pub(crate) payload: P,
    /// Still waiting for its turn. Once answered, the entry stays in the slab until its
    /// future comes back to read the answer (or is dropped).
    pub(crate) in_line: bool,
}

impl<P> Entry<P> {
    /// Remembers the waker of the latest poll, cloning it only if it changed
    /// (a task that moved to another executor, or a combinator's waker).
    ///
    /// Returns the waker it replaced: the caller drops it after unlocking, since dropping
    /// a waker runs its owner's code, which must never run under the lock.
    #[inline]
    #[must_use = "drop the replaced waker after unlocking"]
    pub(crate) fn set_waker(&mut self, waker: &Waker) -> Option<Waker> {
        match &self.waker {
            Some(old) if old.will_wake(waker) => None,
            _ => self.waker.replace(waker.clone()),
        }
    }
}

/// Waiters in arrival order, each with a stable key.
#[derive(Debug)]
pub(crate) struct Waiters<P> {
    slots: Vec<Slot<P>>,
    /// The first free slot; each free slot names the next one (the slab's free list).
    free: Option<usize>,
    line: VecDeque<usize>,
}

#[derive(Debug)]
enum Slot<P> {
    Taken(Entry<P>),
    Free { next: Option<usize> },
}

impl<P> Waiters<P> {
    pub(crate) const fn new() -> Self {
        Waiters {
            slots: Vec::new(),
            free: None,
            line: VecDeque::new(),
        }
    }

    /// How many waiters are still in line (answered ones not counted).
    #[inline]
    pub(crate) fn in_line(&self) -> usize {
        self.line.len()
    }

    /// Whether no one is in line: the question every fast path asks.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.line.is_empty()
    }

    /// Puts a new waiter at the back of the line and returns its key.
    pub(crate) fn join(&mut self, waker: &Waker, payload: P) -> usize {
        let entry = Entry {
            waker: Some(waker.clone()),
            payload,
            in_line: true,
        };
        let key = match self.free {
            Some(key) => {
                let slot = &mut self.slots[key];
                let Slot::Free { next } = *slot else {
                    unreachable!("the free list names only free slots")
                };
                self.free = next;
                *slot = Slot::Taken(entry);
                key
            }
            None => {
                self.slots.push(Slot::Taken(entry));
                self.slots.len() - 1
            }
        };
        self.line.push_back(key);
        key
    }

    /// Takes the longest-waiting waiter out of the line, so the caller can answer it.
    /// The entry stays in the slab for its future to read.
    #[inline]
    pub(crate) fn answer_first(&mut self) -> Option<&mut Entry<P>> {
        let key = self.line.pop_front()?;
        let entry = self.entry(key);
        entry.in_line = false;
        Some(entry)
    }

    /// The entry behind `key`. Keys belong to live futures, so it is always there.
    #[inline]
    pub(crate) fn entry(&mut self, key: usize) -> &mut Entry<P> {
        match &mut self.slots[key] {
            Slot::Taken(entry) => entry,
            Slot::Free { .. } => unreachable!("a waiter's key always names its own slot"),
        }
    }

    /// Removes the entry for good (its future finished or was dropped), leaving the line
    /// if it was still in it.
    #[inline]
    pub(crate) fn remove(&mut self, key: usize) -> Entry<P> {
        let free = Slot::Free { next: self.free };
        let Slot::Taken(entry) = std::mem::replace(&mut self.slots[key], free) else {
            unreachable!("a waiter's key always names its own slot")
        };
        self.free = Some(key);
        if entry.in_line {
            self.leave_line(key);
        }
        entry
    }

    /// A waiter still in line went away (its future was dropped): only cancellation
    /// pays for this search, and the waiter at the front (the usual one to give up
    /// first, e.g. a timed-out `get`) is found at once.
    #[cold]
    fn leave_line(&mut self, key: usize) {
        if self.line.front() == Some(&key) {
            self.line.pop_front();
            return;
        }
        let at = self.line.iter().position(|&k| k == key);
        self.line
            .remove(at.expect("an entry in line has its key in the line"));
    }
}

/// Wakers collected under the lock and called after it is released, so that a waker
/// which re-enters the queue (or runs its task on the spot) cannot deadlock.
///
/// For the operations that may wake any number of tasks (`close`, releasing `join`).
/// A put or a get wakes at most two and uses [`Wake2`], which has nothing to drop when
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

    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        self.wakers.extend(waker);
    }

    /// Wakes everyone collected, in the order they were collected.
    pub(crate) fn wake_all(self) {
        self.wakers.into_iter().for_each(Waker::wake);
    }
}

/// The wakers a put or a get collects under the lock, to call after releasing it: at
/// most two (a putter whose item entered, and the getter it was handed to). Two plain
/// fields, so the common case (no one to wake: both `None`) costs two tests and no
/// drop glue.
#[must_use = "the collected wakers must be woken after unlocking"]
#[derive(Debug, Default)]
pub(crate) struct Wake2 {
    first: Option<Waker>,
    second: Option<Waker>,
}

impl Wake2 {
    /// No one to wake.
    #[inline]
    pub(crate) const fn none() -> Self {
        Wake2 {
            first: None,
            second: None,
        }
    }

    /// Two tasks to wake, in this order (or fewer).
    #[inline]
    pub(crate) const fn two(first: Option<Waker>, second: Option<Waker>) -> Self {
        Wake2 { first, second }
    }

    /// Wakes what was collected, in order.
    #[inline]
    pub(crate) fn wake_all(self) {
        if let Some(first) = self.first {
            first.wake();
            if let Some(second) = self.second {
                second.wake();
            }
        }
    }
}
