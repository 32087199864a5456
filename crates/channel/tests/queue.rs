//! The queue polled by hand, one step at a time: exact errors, exact messages, exact wakes,
//! and what dropping a waiting future does.

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Waker};

use common::{CountingWaker, poll_once};
use handloop_channel::{Closed, Get, Join, Put, Queue, TryGetError, TryPutError};

#[test]
#[should_panic(
    expected = "Queue::bounded(0): a queue needs room for at least one item; \
                use Queue::unbounded() for a queue without a limit (asyncio's maxsize=0)"
)]
fn bounded_zero_panics_and_points_to_unbounded() {
    let _ = Queue::<u8>::bounded(0);
}

#[test]
fn try_put_and_try_get_report_full_empty_and_closed_with_the_item() {
    let queue = Queue::bounded(2);
    assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    assert_eq!(queue.try_put(1), Ok(()));
    assert_eq!(queue.try_put(2), Ok(()));
    assert_eq!(queue.try_put(3), Err(TryPutError::Full(3)));
    assert!(queue.is_full());
    assert_eq!((queue.len(), queue.capacity()), (2, Some(2)));
    queue.close();
    assert!(queue.is_closed());
    assert_eq!(queue.try_put(4), Err(TryPutError::Closed(4)));
    assert_eq!(queue.try_get(), Ok(1));
    assert_eq!(queue.try_get(), Ok(2));
    assert_eq!(queue.try_get(), Err(TryGetError::Closed));
    assert!(queue.is_empty());
}

#[test]
fn unbounded_is_never_full() {
    let queue = Queue::unbounded();
    for item in 0..10_000 {
        queue.try_put(item).unwrap();
    }
    assert!(!queue.is_full());
    assert_eq!((queue.len(), queue.capacity()), (10_000, None));
}

#[test]
fn errors_say_what_happened_and_give_items_back() {
    assert_eq!(Closed(5).to_string(), "the queue is closed");
    assert_eq!(Closed(5).into_inner(), 5);
    assert_eq!(format!("{:?}", Closed(vec![1])), "Closed(..)");
    assert_eq!(TryPutError::Full(1).to_string(), "the queue is full");
    assert_eq!(TryPutError::Closed(1).to_string(), "the queue is closed");
    assert_eq!(TryPutError::Full(7).into_inner(), 7);
    assert!(TryPutError::Closed(7).is_closed() && !TryPutError::Full(7).is_closed());
    assert_eq!(format!("{:?}", TryPutError::Full(1)), "Full(..)");
    assert_eq!(TryGetError::Empty.to_string(), "the queue is empty");
    assert_eq!(
        TryGetError::Closed.to_string(),
        "the queue is closed and empty"
    );
    // Items need not be `Debug` for the errors to be `std::error::Error`s.
    struct Opaque;
    let boxed: Box<dyn std::error::Error> = Box::new(Closed(Opaque));
    assert_eq!(boxed.to_string(), "the queue is closed");
    let _: Box<dyn std::error::Error> = Box::new(TryPutError::Full(Opaque));
}

#[test]
fn debug_shows_the_counts() {
    let queue = Queue::bounded(3);
    queue.try_put('a').unwrap();
    assert_eq!(
        format!("{queue:?}"),
        "Queue { len: 1, capacity: Some(3), is_full: false, closed: false, unfinished: 1, \
         waiting_getters: 0, waiting_putters: 0 }"
    );
    let get = queue.get();
    assert_eq!(format!("{get:?}"), "Get { waiting: false, .. }");
}

#[test]
fn an_item_put_while_a_getter_waits_is_handed_to_it() {
    let queue = Queue::bounded(1);
    let (wakes, waker) = CountingWaker::new();
    let mut get = Box::pin(queue.get());
    assert_eq!(poll_once(&mut get, &waker), Poll::Pending);
    queue.try_put(1).unwrap();
    assert_eq!(wakes.wakes(), 1, "the put woke the getter");
    // The item is the getter's: nobody else can take it, and it has left the queue, so
    // its slot is free for the next item.
    assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    assert_eq!((queue.len(), queue.is_full()), (0, false));
    assert_eq!(queue.try_put(2), Ok(()));
    assert!(queue.is_full());
    // The getter collects its item (without the queue's lock), whatever came after.
    assert_eq!(poll_once(&mut get, &waker), Poll::Ready(Ok(1)));
    assert_eq!(queue.try_get(), Ok(2));
}

#[test]
fn a_getter_dropped_after_the_queue_filled_up_gives_its_item_back_over_capacity() {
    let queue = Queue::bounded(1);
    let mut get = Box::pin(queue.get());
    assert!(poll_once(&mut get, Waker::noop()).is_pending());
    queue.try_put(1).unwrap(); // handed to `get`
    queue.try_put(2).unwrap(); // fills the queue
    drop(get);
    // Nothing is lost: 1 is back, ahead of 2, though that is one more than the capacity.
    assert_eq!(queue.len(), 2);
    assert_eq!(queue.try_put(3), Err(TryPutError::Full(3)));
    let mut put = Box::pin(queue.put(3));
    assert!(poll_once(&mut put, Waker::noop()).is_pending());
    assert_eq!(queue.try_get(), Ok(1));
    assert!(
        poll_once(&mut put, Waker::noop()).is_pending(),
        "still full: the putter waits until the queue is below its capacity"
    );
    assert_eq!(queue.try_get(), Ok(2));
    assert_eq!(poll_once(&mut put, Waker::noop()), Poll::Ready(Ok(())));
    assert_eq!(queue.try_get(), Ok(3));
}

#[test]
fn the_latest_waker_is_the_one_woken() {
    let queue = Queue::unbounded();
    let (old_wakes, old) = CountingWaker::new();
    let (new_wakes, new) = CountingWaker::new();
    let mut get = Box::pin(queue.get());
    assert_eq!(poll_once(&mut get, &old), Poll::Pending);
    assert_eq!(poll_once(&mut get, &new), Poll::Pending);
    queue.try_put(()).unwrap();
    assert_eq!((old_wakes.wakes(), new_wakes.wakes()), (0, 1));
}

#[test]
fn a_cancelled_getter_puts_its_item_back_at_the_front() {
    let queue = Queue::bounded(2);
    let mut get = Box::pin(queue.get());
    assert!(poll_once(&mut get, Waker::noop()).is_pending());
    queue.try_put(1).unwrap(); // handed to `get`
    queue.try_put(2).unwrap(); // stored
    drop(get);
    assert_eq!(
        queue.try_get(),
        Ok(1),
        "the handed item went back to the front"
    );
    assert_eq!(queue.try_get(), Ok(2));
    assert_eq!(queue.unfinished(), 2, "nothing was counted twice");
}

#[test]
fn a_cancelled_getter_passes_its_item_to_the_next_getter() {
    let queue = Queue::unbounded();
    let (second_wakes, second_waker) = CountingWaker::new();
    let mut first = Box::pin(queue.get());
    let mut second = Box::pin(queue.get());
    assert!(poll_once(&mut first, Waker::noop()).is_pending());
    assert!(poll_once(&mut second, &second_waker).is_pending());
    queue.try_put("x").unwrap();
    assert_eq!(second_wakes.wakes(), 0);
    drop(first);
    assert_eq!(second_wakes.wakes(), 1);
    assert_eq!(poll_once(&mut second, &second_waker), Poll::Ready(Ok("x")));
}

/// Counts drops, to see which items were dropped.
#[derive(Debug)]
struct Tracked(u32, Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_cancelled_waiting_putter_drops_only_its_item_and_leaves_the_line() {
    let drops = Arc::new(AtomicUsize::new(0));
    let item = |n| Tracked(n, Arc::clone(&drops));
    let queue = Queue::bounded(1);
    queue.try_put(item(0)).unwrap();
    let mut first: Pin<Box<Put<'_, Tracked>>> = Box::pin(queue.put(item(1)));
    let mut second = Box::pin(queue.put(item(2)));
    assert!(poll_once(&mut first, Waker::noop()).is_pending());
    assert!(poll_once(&mut second, Waker::noop()).is_pending());
    drop(first);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "only the cancelled item was dropped"
    );
    assert_eq!(queue.try_get().unwrap().0, 0);
    // The freed slot went to the next putter in line.
    assert_eq!(queue.try_get().unwrap().0, 2);
    assert!(matches!(
        poll_once(&mut second, Waker::noop()),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn a_putter_dropped_after_its_item_entered_has_still_put_it() {
    let queue = Queue::bounded(1);
    queue.try_put(0).unwrap();
    let (wakes, waker) = CountingWaker::new();
    let mut put = Box::pin(queue.put(1));
    assert!(poll_once(&mut put, &waker).is_pending());
    assert_eq!(queue.try_get(), Ok(0));
    assert_eq!(wakes.wakes(), 1, "the putter is told its item entered");
    drop(put);
    assert_eq!(queue.try_get(), Ok(1));
}

#[test]
fn try_put_does_not_jump_the_putters_line() {
    let queue = Queue::bounded(1);
    queue.try_put(0).unwrap();
    let mut put = Box::pin(queue.put(1));
    assert!(poll_once(&mut put, Waker::noop()).is_pending());
    assert_eq!(queue.try_get(), Ok(0)); // the slot goes to `put` at once
    assert_eq!(queue.try_put(2), Err(TryPutError::Full(2)));
    assert_eq!(poll_once(&mut put, Waker::noop()), Poll::Ready(Ok(())));
}

#[test]
fn close_and_drain_returns_the_items_and_lowers_the_unfinished_count() {
    let queue = Queue::bounded(3);
    for item in 1..=3 {
        queue.try_put(item).unwrap();
    }
    assert_eq!(queue.try_get(), Ok(1));
    queue.try_put(4).unwrap(); // full again
    let (join_wakes, join_waker) = CountingWaker::new();
    let mut join: Join<'_, i32> = queue.join();
    assert!(poll_once(&mut join, &join_waker).is_pending());
    let mut put = Box::pin(queue.put(5));
    let mut put_again = Box::pin(queue.put(6));
    assert!(poll_once(&mut put, Waker::noop()).is_pending());
    assert!(poll_once(&mut put_again, Waker::noop()).is_pending());
    assert_eq!(queue.close_and_drain(), [2, 3, 4]);
    // One item (1) was taken and never marked done: join still waits for it.
    assert_eq!((queue.unfinished(), join_wakes.wakes()), (1, 0));
    assert_eq!(
        poll_once(&mut put, Waker::noop()),
        Poll::Ready(Err(Closed(5)))
    );
    let mut get: Pin<Box<Get<'_, i32>>> = Box::pin(queue.get());
    assert_eq!(
        poll_once(&mut get, Waker::noop()),
        Poll::Ready(Err(Closed(())))
    );
    queue.task_done();
    assert_eq!(join_wakes.wakes(), 1);
    assert_eq!(poll_once(&mut join, &join_waker), Poll::Ready(()));
    drop(put_again);
}

#[test]
fn close_and_drain_can_release_join() {
    let queue = Queue::unbounded();
    queue.try_put('a').unwrap();
    let (wakes, waker) = CountingWaker::new();
    let mut join = queue.join();
    assert!(poll_once(&mut join, &waker).is_pending());
    assert_eq!(queue.close_and_drain(), ['a']);
    assert_eq!((queue.unfinished(), wakes.wakes()), (0, 1));
    assert_eq!(poll_once(&mut join, &waker), Poll::Ready(()));
}

#[test]
fn join_returns_at_once_when_nothing_is_unfinished() {
    let queue = Queue::<u8>::bounded(1);
    assert_eq!(poll_once(&mut queue.join(), Waker::noop()), Poll::Ready(()));
    queue.try_put(1).unwrap();
    let mut join = queue.join();
    assert!(poll_once(&mut join, Waker::noop()).is_pending());
    queue.try_get().unwrap();
    assert!(
        poll_once(&mut join, Waker::noop()).is_pending(),
        "taken is not done"
    );
    queue.task_done();
    assert_eq!(poll_once(&mut join, Waker::noop()), Poll::Ready(()));
}

#[test]
fn join_released_at_zero_returns_even_if_new_items_arrive_first() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    let mut join = queue.join();
    assert!(poll_once(&mut join, Waker::noop()).is_pending());
    queue.try_get().unwrap();
    queue.task_done(); // zero: join is released...
    queue.try_put(2).unwrap(); // ...and stays released, as asyncio's does
    assert_eq!(poll_once(&mut join, Waker::noop()), Poll::Ready(()));
}

#[test]
#[should_panic(
    expected = "Queue::task_done() called more times than items were put: \
                call it exactly once for each item taken with get() or try_get()"
)]
fn task_done_too_often_panics_with_what_to_do() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    queue.try_get().unwrap();
    queue.task_done();
    queue.task_done();
}

#[test]
fn the_queue_still_works_after_a_task_done_panic() {
    let queue = Queue::unbounded();
    let caught = std::panic::catch_unwind(|| queue.task_done());
    assert!(caught.is_err());
    queue.try_put(1).unwrap();
    assert_eq!(queue.try_get(), Ok(1));
}

#[test]
#[should_panic(expected = "Put polled after it completed")]
fn polling_a_finished_put_panics() {
    let queue = Queue::unbounded();
    let mut put = Box::pin(queue.put(1));
    assert_eq!(poll_once(&mut put, Waker::noop()), Poll::Ready(Ok(())));
    let _ = poll_once(&mut put, Waker::noop());
}

#[test]
fn handles_and_futures_are_send_and_sync_when_items_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Queue<String>>();
    send::<Put<'static, String>>();
    send::<Get<'static, String>>();
    send::<Join<'static, String>>();
}

#[test]
fn close_and_drain_leaves_handed_items_to_their_getters() {
    let queue = Queue::bounded(4);
    let mut kept = Box::pin(queue.get());
    let mut dropped = Box::pin(queue.get());
    assert!(poll_once(&mut kept, Waker::noop()).is_pending());
    assert!(poll_once(&mut dropped, Waker::noop()).is_pending());
    queue.try_put(1).unwrap(); // handed to `kept`
    queue.try_put(2).unwrap(); // handed to `dropped`
    queue.try_put(3).unwrap(); // stored
    assert_eq!(
        queue.close_and_drain(),
        [3],
        "only the stored item is drained"
    );
    assert_eq!(poll_once(&mut kept, Waker::noop()), Poll::Ready(Ok(1)));
    assert_eq!(queue.try_get(), Err(TryGetError::Closed));
    // A getter dropped with its handed item gives it back: nothing is lost.
    drop(dropped);
    assert_eq!(queue.try_get(), Ok(2));
    assert_eq!(queue.try_get(), Err(TryGetError::Closed));
}

#[test]
fn dropping_a_waiting_join_is_harmless() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    let mut join = queue.join();
    assert!(poll_once(&mut join, Waker::noop()).is_pending());
    drop(join);
    queue.try_get().unwrap();
    queue.task_done();
    let mut again = queue.join();
    assert_eq!(poll_once(&mut again, Waker::noop()), Poll::Ready(()));
}
