//! Many waiters giving up at once, in the worst order for a line (newest first, as when
//! consumers each wrapped `get` in a timeout): the line stays consistent, the waiters
//! left are served in arrival order, and every item is delivered exactly once.
//! (Leaving the line costs O(1) wherever the waiter stands; `benches/` measures that.)

mod common;

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use common::{poll_once, settle};
use handloop_channel::{Get, Put, Queue, TryGetError};

/// Enough waiters to matter, few enough for Miri.
const WAITERS: usize = if cfg!(miri) { 40 } else { 10_000 };

#[test]
fn getters_dropped_newest_first_leave_the_rest_served_in_arrival_order() {
    let queue = Queue::unbounded();
    let mut getters: Vec<Pin<Box<Get<'_, usize>>>> =
        (0..WAITERS).map(|_| Box::pin(queue.get())).collect();
    for getter in &mut getters {
        assert!(poll_once(getter, Waker::noop()).is_pending());
    }
    // Every odd getter gives up, newest first.
    let mut kept = Vec::new();
    while let Some(getter) = getters.pop() {
        if getters.len() % 2 == 1 {
            drop(getter);
        } else {
            kept.push(getter);
        }
    }
    kept.reverse(); // arrival order
    for item in 0..kept.len() {
        queue.try_put(item).unwrap();
    }
    for (expected, getter) in kept.iter_mut().enumerate() {
        assert_eq!(poll_once(getter, Waker::noop()), Poll::Ready(Ok(expected)));
    }
    assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    assert_eq!(queue.unfinished(), kept.len());
}

#[test]
fn getters_dropped_newest_first_after_being_handed_items_give_every_item_back_in_order() {
    let queue = Queue::bounded(WAITERS);
    let mut getters: Vec<Pin<Box<Get<'_, usize>>>> =
        (0..WAITERS).map(|_| Box::pin(queue.get())).collect();
    for getter in &mut getters {
        assert!(poll_once(getter, Waker::noop()).is_pending());
    }
    for item in 0..WAITERS {
        queue.try_put(item).unwrap(); // each handed to the getter in line
    }
    assert_eq!(queue.len(), 0);
    while let Some(getter) = getters.pop() {
        drop(getter); // newest first: each item goes back ahead of the later ones
    }
    let back: Vec<usize> = std::iter::from_fn(|| queue.try_get().ok()).collect();
    assert_eq!(back, (0..WAITERS).collect::<Vec<_>>());
}

#[test]
fn putters_dropped_newest_first_leave_the_rest_entering_in_arrival_order() {
    let queue = Queue::bounded(1);
    queue.try_put(usize::MAX).unwrap();
    let mut putters: Vec<Pin<Box<Put<'_, usize>>>> =
        (0..WAITERS).map(|item| Box::pin(queue.put(item))).collect();
    for putter in &mut putters {
        assert!(poll_once(putter, Waker::noop()).is_pending());
    }
    let mut kept = Vec::new();
    while let Some(putter) = putters.pop() {
        if putters.len() % 2 == 1 {
            drop(putter); // its item never entered: dropped with it
        } else {
            kept.push(putter);
        }
    }
    kept.reverse();
    assert_eq!(queue.try_get(), Ok(usize::MAX));
    for (n, putter) in kept.iter_mut().enumerate() {
        // Each freed slot went to the next putter still in line.
        assert_eq!(poll_once(putter, Waker::noop()), Poll::Ready(Ok(())));
        assert_eq!(queue.try_get(), Ok(2 * n));
    }
    assert_eq!(queue.try_get(), Err(TryGetError::Empty));
}

/// The same on a running loop: tasks waiting in `get`, every odd one aborted, newest
/// first; the rest receive the items in the order they started waiting.
#[test]
fn aborted_getter_tasks_on_a_loop_lose_nothing() {
    let tasks = if cfg!(miri) { 20 } else { 2_000 };
    let event_loop = handloop_executor::EventLoop::new();
    let got = event_loop.block_on(async move {
        let queue = Queue::unbounded();
        let got = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..tasks)
            .map(|task| {
                let (queue, got) = (queue.clone(), Rc::clone(&got));
                handloop_executor::spawn(async move {
                    let item = queue.get().await.unwrap();
                    got.borrow_mut().push((task, item));
                })
            })
            .collect();
        settle().await; // every task waits in line
        let mut aborted = Vec::new();
        for (task, handle) in handles.iter().enumerate().rev() {
            if task % 2 == 1 {
                handle.abort();
                aborted.push(task);
            }
        }
        settle().await; // the aborted tasks' futures are dropped
        for item in 0..tasks / 2 {
            queue.try_put(item).unwrap();
        }
        for handle in handles {
            let _ = handle.await;
        }
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
        Rc::try_unwrap(got).unwrap().into_inner()
    });
    let expected: Vec<(usize, usize)> = (0..tasks / 2).map(|n| (2 * n, n)).collect();
    assert_eq!(got, expected);
}
