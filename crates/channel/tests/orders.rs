//! `PriorityQueue` and `LifoQueue`: their order, and `Queue`'s fairness, closing and
//! cancel safety, which they share.

mod common;

use std::task::{Poll, Waker};

use common::{Handloop, Runtime, poll_once, settle};
use handloop_channel::{Closed, LifoQueue, PriorityQueue, TryGetError, TryPutError};

#[test]
fn a_priority_queue_hands_out_the_smallest_first() {
    let queue = PriorityQueue::unbounded();
    for n in [5, 1, 4, 2, 3] {
        queue.try_put(n).unwrap();
    }
    let out: Vec<i32> = std::iter::from_fn(|| queue.try_get().ok()).collect();
    assert_eq!(out, [1, 2, 3, 4, 5]);
}

#[test]
fn equal_priorities_leave_in_arrival_order() {
    // The order is the priority only: equal jobs are told apart by their name.
    #[derive(Debug, PartialEq, Eq)]
    struct Job(u8, &'static str);
    impl Ord for Job {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.cmp(&other.0)
        }
    }
    impl PartialOrd for Job {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    let queue = PriorityQueue::unbounded();
    for job in [
        Job(1, "a"),
        Job(0, "b"),
        Job(1, "c"),
        Job(0, "d"),
        Job(1, "e"),
    ] {
        queue.try_put(job).unwrap();
    }
    let names: Vec<_> = std::iter::from_fn(|| queue.try_get().ok())
        .map(|job| job.1)
        .collect();
    assert_eq!(names, ["b", "d", "a", "c", "e"]);
}

#[test]
fn a_lifo_queue_hands_out_the_newest_first() {
    let queue = LifoQueue::bounded(3);
    for n in 1..=3 {
        queue.try_put(n).unwrap();
    }
    assert_eq!(queue.try_put(4), Err(TryPutError::Full(4)));
    assert_eq!(queue.try_get(), Ok(3));
    queue.try_put(5).unwrap();
    let out: Vec<i32> = std::iter::from_fn(|| queue.try_get().ok()).collect();
    assert_eq!(out, [5, 2, 1]);
}

/// Hand-off beats priority: an item put while getters wait goes to the first of them,
/// whatever its priority, and getters are served in arrival order.
#[test]
fn waiting_getters_are_served_in_arrival_order_whatever_the_priority() {
    let got = Handloop::block_on(async {
        let queue = PriorityQueue::unbounded();
        let getters: Vec<_> = ["first", "second", "third"]
            .into_iter()
            .map(|name| {
                let queue = queue.clone();
                Handloop::spawn(async move { (name, queue.get().await.unwrap()) })
            })
            .collect();
        settle().await;
        for n in [30, 10, 20] {
            queue.put(n).await.unwrap();
        }
        let mut got = Vec::new();
        for getter in getters {
            got.push(getter.await);
        }
        got
    });
    assert_eq!(got, [("first", 30), ("second", 10), ("third", 20)]);
}

/// A freed slot goes to the longest-waiting putter; inside the queue, the priority order
/// then applies.
#[test]
fn freed_slots_go_to_putters_in_arrival_order() {
    let got = Handloop::block_on(async {
        let queue = PriorityQueue::bounded(2);
        queue.put(50).await.unwrap();
        queue.put(40).await.unwrap();
        let putters: Vec<_> = [30, 20, 10]
            .into_iter()
            .map(|n| {
                let queue = queue.clone();
                Handloop::spawn(async move { queue.put(n).await })
            })
            .collect();
        settle().await;
        assert_eq!(queue.try_put(0), Err(TryPutError::Full(0)), "no barging");
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(queue.get().await.unwrap());
            settle().await;
        }
        for putter in putters {
            assert_eq!(putter.await, Ok(()));
        }
        got
    });
    // 40 out (smallest of 50, 40); 30 enters; 30 out; 20 enters; 20 out; 10 enters...
    assert_eq!(got, [40, 30, 20, 10, 50]);
}

#[test]
fn closing_gives_putters_their_items_and_lets_getters_drain_in_order() {
    Handloop::block_on(async {
        let queue = LifoQueue::bounded(2);
        queue.put('a').await.unwrap();
        queue.put('b').await.unwrap();
        let putter = Handloop::spawn({
            let queue = queue.clone();
            async move { queue.put('c').await }
        });
        settle().await;
        queue.close();
        assert_eq!(putter.await, Err(Closed('c')));
        assert_eq!(queue.get().await, Ok('b'));
        assert_eq!(queue.get().await, Ok('a'));
        assert_eq!(queue.get().await, Err(Closed(())));
        assert_eq!(queue.try_put('d'), Err(TryPutError::Closed('d')));
    });
}

#[test]
fn close_and_drain_returns_items_in_the_order_get_would() {
    let priority = PriorityQueue::unbounded();
    let lifo = LifoQueue::unbounded();
    for n in [2, 3, 1] {
        priority.try_put(n).unwrap();
        lifo.try_put(n).unwrap();
    }
    assert_eq!(priority.close_and_drain(), [1, 2, 3]);
    assert_eq!(lifo.close_and_drain(), [1, 3, 2]);
    assert_eq!(priority.try_get(), Err(TryGetError::Closed));
    assert_eq!((priority.unfinished(), lifo.unfinished()), (0, 0));
}

/// A getter dropped after it was handed an item gives the item back where it would have
/// been: for a stack, below the items put since (it is older than them).
#[test]
fn a_cancelled_getter_gives_its_item_back_in_its_place() {
    let lifo = LifoQueue::unbounded();
    let mut get = Box::pin(lifo.get());
    assert!(poll_once(&mut get, Waker::noop()).is_pending());
    lifo.try_put("handed").unwrap();
    lifo.try_put("later").unwrap();
    drop(get);
    assert_eq!(lifo.try_get(), Ok("later"));
    assert_eq!(lifo.try_get(), Ok("handed"));

    let priority = PriorityQueue::unbounded();
    let mut get = Box::pin(priority.get());
    assert!(poll_once(&mut get, Waker::noop()).is_pending());
    priority.try_put(5).unwrap(); // handed
    priority.try_put(9).unwrap();
    priority.try_put(1).unwrap();
    drop(get);
    let out: Vec<i32> = std::iter::from_fn(|| priority.try_get().ok()).collect();
    assert_eq!(out, [1, 5, 9]);
}

#[test]
fn task_done_and_join_count_items_as_in_queue() {
    let queue = PriorityQueue::unbounded();
    queue.try_put(1).unwrap();
    let mut join = Box::pin(queue.join());
    assert!(poll_once(&mut join, Waker::noop()).is_pending());
    assert_eq!(queue.try_get(), Ok(1));
    assert!(poll_once(&mut join, Waker::noop()).is_pending());
    queue.task_done();
    assert_eq!(poll_once(&mut join, Waker::noop()), Poll::Ready(()));
}

#[test]
fn debug_names_the_queue() {
    let priority = PriorityQueue::<u8>::bounded(2);
    let lifo = LifoQueue::<u8>::unbounded();
    assert_eq!(
        format!("{priority:?}"),
        "PriorityQueue { len: 0, capacity: Some(2), is_full: false, closed: false, \
         unfinished: 0, waiting_getters: 0, waiting_putters: 0 }"
    );
    assert!(format!("{lifo:?}").starts_with("LifoQueue { len: 0, capacity: None"));
}

#[test]
fn the_new_queues_are_send_and_sync_when_items_are_send() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PriorityQueue<String>>();
    send_sync::<LifoQueue<String>>();
    send_sync::<handloop_channel::Get<'static, String, handloop_channel::order::Lifo<String>>>();
}
