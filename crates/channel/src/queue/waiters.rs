//! A line of waiting tasks (getters, putters or joiners), and the wakers to call once
//! the lock is released.
//!
//! A waiter is an entry in a slab: a `Vec` of slots reused through a free list, so
//! waiting allocates only while the slab grows to the largest number of simultaneous
//! waiters it has seen. The key of the slot is all a waiting future keeps. The line
//! itself is a `VecDeque` of keys, oldest first; leaving the line from the middle
//! (a waiting future was dropped) is a linear search, which only cancellation pays.

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
    pub(crate) fn set_waker(&mut self, waker: &Waker) {
        match &mut self.waker {
            Some(old) if old.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }
}

/// Waiters in arrival order, each with a stable key.
#[derive(Debug)]
pub(crate) struct Waiters<P> {
    slots: Vec<Option<Entry<P>>>,
    free: Vec<usize>,
    line: VecDeque<usize>,
}

impl<P> Waiters<P> {
    pub(crate) const fn new() -> Self {
        Waiters {
            slots: Vec::new(),
            free: Vec::new(),
            line: VecDeque::new(),
        }
    }

    /// How many waiters are still in line (answered ones not counted).
    pub(crate) fn in_line(&self) -> usize {
        self.line.len()
    }

    /// Puts a new waiter at the back of the line and returns its key.
    pub(crate) fn join(&mut self, waker: &Waker, payload: P) -> usize {
        let entry = Entry {
            waker: Some(waker.clone()),
            payload,
            in_line: true,
        };
        let key = match self.free.pop() {
            Some(key) => {
                self.slots[key] = Some(entry);
                key
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        };
        self.line.push_back(key);
        key
    }

    /// Takes the longest-waiting waiter out of the line, so the caller can answer it.
    /// The entry stays in the slab for its future to read.
    pub(crate) fn answer_first(&mut self) -> Option<&mut Entry<P>> {
        let key = self.line.pop_front()?;
        let entry = self.entry(key);
        entry.in_line = false;
        Some(entry)
    }

    /// The entry behind `key`. Keys belong to live futures, so it is always there.
    pub(crate) fn entry(&mut self, key: usize) -> &mut Entry<P> {
        self.slots[key]
            .as_mut()
            .expect("a waiter's key always names its own slot")
    }

    /// Removes the entry for good (its future finished or was dropped), leaving the line
    /// if it was still in it.
    pub(crate) fn remove(&mut self, key: usize) -> Entry<P> {
        let entry = self.slots[key]
            .take()
            .expect("a waiter's key always names its own slot");
        if entry.in_line {
            let at = self.line.iter().position(|&k| k == key);
            self.line
                .remove(at.expect("an entry in line has its key in the line"));
        }
        self.free.push(key);
        entry
    }
}

/// Wakers collected under the lock and called after it is released, so that a waker
/// which re-enters the queue (or runs its task on the spot) cannot deadlock.
///
/// The first two live inline: a put or a get wakes at most two tasks (a putter whose
/// item entered, and the getter it was handed to), so those paths never allocate.
#[derive(Debug)]
pub(crate) struct WakeList {
    inline: [Option<Waker>; 2],
    more: Vec<Waker>,
}

impl WakeList {
    #[inline]
    pub(crate) fn new() -> Self {
        WakeList {
            inline: [None, None],
            more: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        match self.inline.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(waker),
            None => self.more.push(waker),
        }
    }

    /// Wakes everyone collected, in the order they were collected.
    #[inline]
    pub(crate) fn wake_all(self) {
        // The common case, on every put and get that found no one waiting: nothing to do.
        if self.inline[0].is_some() {
            self.wake_collected();
        }
    }

    fn wake_collected(self) {
        let [first, second] = self.inline;
        first.into_iter().chain(second).for_each(Waker::wake);
        self.more.into_iter().for_each(Waker::wake);
    }
}
