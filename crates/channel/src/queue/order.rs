//! The order in which a queue hands its items out: the one thing that differs between
//! [`Queue`](crate::Queue) (first in, first out), [`LifoQueue`](crate::LifoQueue) (last
//! in, first out) and [`PriorityQueue`](crate::PriorityQueue) (smallest first).
//!
//! All three are [`QueueOf<T, O>`](crate::QueueOf) with a different `O`: one
//! implementation, with one set of waiting lines, one hand-off and one way of closing.
//! Only where the ready items are kept changes. The types here name that storage; you
//! only meet them in type signatures (`Get<'_, T, Lifo<T>>`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// How a queue keeps its ready items. Implemented by [`Fifo`], [`Lifo`] and
/// [`Priority`]; sealed (its methods are the crate's own).
pub trait Order<T>: sealed::Items<T> {}

impl<T> Order<T> for Fifo<T> {}
impl<T> Order<T> for Lifo<T> {}
impl<T: Ord> Order<T> for Priority<T> {}

pub(crate) mod sealed {
    /// The storage operations a queue needs. Public in a private module: nameable only
    /// inside the crate, so no one else can implement [`Order`](super::Order).
    pub trait Items<T> {
        /// What `Debug` calls the queue.
        const NAME: &'static str;
        /// Empty storage with room for `n` items before it reallocates.
        fn with_capacity(n: usize) -> Self;
        fn len(&self) -> usize;
        /// A new item, put now.
        fn push(&mut self, item: T);
        /// An item older than every item stored: one that was handed to a waiting getter
        /// (so it arrived while the storage was empty) and comes back because that getter
        /// was dropped. It goes where it would be had it never left.
        fn push_oldest(&mut self, item: T);
        /// The next item `get` returns.
        fn pop(&mut self) -> Option<T>;
        /// Every item, in the order `get` would return them.
        fn drain(&mut self) -> Vec<T>;
    }
}

/// First in, first out: [`Queue`](crate::Queue)'s order (asyncio's `Queue`).
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out: [`LifoQueue`](crate::LifoQueue)'s order (asyncio's `LifoQueue`).
#[derive(Debug)]
pub struct Lifo<T>(VecDeque<T>);

/// Smallest first, and items that compare equal in the order they were put:
/// [`PriorityQueue`](crate::PriorityQueue)'s order (asyncio's `PriorityQueue`, made
/// stable).
#[derive(Debug)]
pub struct Priority<T> {
    heap: BinaryHeap<Ranked<T>>,
    /// The rank of the next item put: ranks grow, so equal items leave in arrival order.
    next: i64,
    /// The rank of the next item given back: ranks shrink, so it goes before every item
    /// equal to it.
    oldest: i64,
}

impl<T> sealed::Items<T> for Fifo<T> {
    const NAME: &'static str = "Queue";

    fn with_capacity(n: usize) -> Self {
        Fifo(VecDeque::with_capacity(n))
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }

    fn push_oldest(&mut self, item: T) {
        self.0.push_front(item);
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }

    fn drain(&mut self) -> Vec<T> {
        Vec::from(std::mem::take(&mut self.0))
    }
}

impl<T> sealed::Items<T> for Lifo<T> {
    const NAME: &'static str = "LifoQueue";

    fn with_capacity(n: usize) -> Self {
        Lifo(VecDeque::with_capacity(n))
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }

    /// The oldest item is at the bottom of the stack: taken last.
    fn push_oldest(&mut self, item: T) {
        self.0.push_front(item);
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop_back()
    }

    fn drain(&mut self) -> Vec<T> {
        std::mem::take(&mut self.0).into_iter().rev().collect()
    }
}

impl<T: Ord> sealed::Items<T> for Priority<T> {
    const NAME: &'static str = "PriorityQueue";

    fn with_capacity(n: usize) -> Self {
        Priority {
            heap: BinaryHeap::with_capacity(n),
            next: 0,
            oldest: -1,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.heap.len()
    }

    #[inline]
    fn push(&mut self, item: T) {
        let rank = self.next;
        self.next += 1;
        self.heap.push(Ranked { item, rank });
    }

    fn push_oldest(&mut self, item: T) {
        let rank = self.oldest;
        self.oldest -= 1;
        self.heap.push(Ranked { item, rank });
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|ranked| ranked.item)
    }

    fn drain(&mut self) -> Vec<T> {
        std::iter::from_fn(|| self.pop()).collect()
    }
}

/// An item in the priority queue's heap with its arrival rank. `BinaryHeap` pops the
/// greatest, so the order is reversed: the greatest `Ranked` is the smallest item, and
/// among equal items the one with the smallest rank.
#[derive(Debug)]
struct Ranked<T> {
    item: T,
    rank: i64,
}

impl<T: Ord> Ord for Ranked<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .item
            .cmp(&self.item)
            .then_with(|| other.rank.cmp(&self.rank))
    }
}

impl<T: Ord> PartialOrd for Ranked<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> PartialEq for Ranked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: Ord> Eq for Ranked<T> {}

#[cfg(test)]
mod tests {
    use super::sealed::Items;
    use super::*;

    #[test]
    fn each_order_pops_and_drains_as_documented() {
        let mut fifo = Fifo::with_capacity(0);
        let mut lifo = Lifo::with_capacity(0);
        let mut priority = Priority::with_capacity(0);
        for n in [3, 1, 2] {
            fifo.push(n);
            lifo.push(n);
            priority.push(n);
        }
        assert_eq!(fifo.pop(), Some(3));
        assert_eq!(lifo.pop(), Some(2));
        assert_eq!(priority.pop(), Some(1));
        assert_eq!(fifo.drain(), [1, 2]);
        assert_eq!(lifo.drain(), [1, 3]);
        assert_eq!(priority.drain(), [2, 3]);
    }

    #[test]
    fn an_item_given_back_goes_where_it_would_have_stayed() {
        let mut fifo = Fifo::with_capacity(0);
        let mut lifo = Lifo::with_capacity(0);
        for n in [2, 3] {
            fifo.push(n);
            lifo.push(n);
        }
        fifo.push_oldest(1);
        lifo.push_oldest(1);
        assert_eq!(fifo.drain(), [1, 2, 3]);
        assert_eq!(lifo.drain(), [3, 2, 1]);
    }

    /// Equal items keep their arrival order; one given back goes before its equals.
    #[derive(Debug, PartialEq, Eq)]
    struct Job(u8, &'static str);
    impl Ord for Job {
        fn cmp(&self, other: &Self) -> Ordering {
            self.0.cmp(&other.0)
        }
    }
    impl PartialOrd for Job {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }

    #[test]
    fn the_priority_order_is_stable() {
        let mut priority = Priority::with_capacity(0);
        priority.push(Job(1, "b"));
        priority.push(Job(0, "x"));
        priority.push(Job(1, "c"));
        priority.push_oldest(Job(1, "a"));
        let names: Vec<_> = priority.drain().into_iter().map(|job| job.1).collect();
        assert_eq!(names, ["x", "a", "b", "c"]);
    }
}
