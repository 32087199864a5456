//! The queue's stories, each an `async` scenario run on every executor we have (see
//! `common::Runtime`: handloop's event loop, tokio's current-thread runtime, futures'
//! `LocalPool`): the queue only talks to executors through `std::task::Waker`, so
//! every scenario must give exactly the same results on each.

mod common;

use std::sync::{Arc, Mutex};
use std::task::Waker;

use common::{Runtime, settle};
use futures::future::{Either, select};
use handloop_channel::{Closed, Queue, TryGetError, TryPutError, oneshot};

/// Messages in the long scenarios (fewer under Miri, which interprets every instruction).
const MESSAGES: u32 = if cfg!(miri) { 50 } else { 10_000 };

on_every_runtime!(
    waiting_getters_are_served_in_arrival_order,
    freed_slots_go_to_putters_in_arrival_order,
    close_with_waiters_on_both_sides,
    close_wakes_putters_with_their_items_and_lets_getters_drain,
    three_workers_task_done_join,
    cancelled_getter_gives_its_item_back,
    bounded_one_ping_pong_keeps_order,
    request_reply_with_oneshot,
);

/// Three getters wait; three puts go to them in the order they started waiting, and the
/// running task cannot barge in and take an item meant for a waiter.
fn waiting_getters_are_served_in_arrival_order<R: Runtime>() {
    R::block_on(async {
        let queue = Queue::unbounded();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut getters = Vec::new();
        for id in 0..3 {
            let (queue, log) = (queue.clone(), Arc::clone(&log));
            getters.push(R::spawn(async move {
                let item = queue.get().await.unwrap();
                log.lock().unwrap().push((id, item));
            }));
            settle().await; // getter `id` is now waiting, behind the earlier ones
        }
        queue.try_put(10).unwrap();
        // 10 belongs to getter 0 now: we cannot take it, though we are running.
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
        queue.put(11).await.unwrap();
        queue.put(12).await.unwrap();
        for getter in getters {
            getter.await;
        }
        assert_eq!(*log.lock().unwrap(), [(0, 10), (1, 11), (2, 12)]);
        assert!(queue.is_empty());
    });
}

/// Three putters wait on a full bounded(1) queue; each slot freed by a get goes to the
/// putter that waited longest, at once, so items come out in their putters' order.
fn freed_slots_go_to_putters_in_arrival_order<R: Runtime>() {
    R::block_on(async {
        let queue = Queue::bounded(1);
        queue.put(0).await.unwrap();
        let mut putters = Vec::new();
        for item in 1..=3 {
            let queue = queue.clone();
            putters.push(R::spawn(async move { queue.put(item).await }));
            settle().await;
        }
        assert_eq!(queue.try_put(99), Err(TryPutError::Full(99)));
        // No yield between the gets: each get lets the next putter's item in at once.
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(queue.try_get().unwrap());
        }
        assert_eq!(got, [0, 1, 2, 3]);
        for putter in putters {
            assert_eq!(putter.await, Ok(()));
        }
        assert_eq!(queue.unfinished(), 4);
    });
}

/// bounded(1): getter A is handed an item (which leaves the queue: it is A's), then
/// another item fills the queue and putter P waits for a slot. `close` leaves A its item,
/// gives P its item back, and lets getters take the stored item before they fail.
fn close_with_waiters_on_both_sides<R: Runtime>() {
    R::block_on(async {
        let queue = Queue::bounded(1);
        // A is polled by hand, so it cannot run (and collect) before we close.
        let mut a = Box::pin(queue.get());
        assert!(common::poll_once(&mut a, Waker::noop()).is_pending());
        queue.put("for A").await.unwrap(); // handed to A
        queue.put("stored").await.unwrap(); // fills the queue
        let p = R::spawn({
            let queue = queue.clone();
            async move { queue.put("from P").await }
        });
        settle().await;
        assert_eq!(
            format!("{queue:?}"),
            "Queue { len: 1, capacity: Some(1), is_full: true, closed: false, unfinished: 2, \
             waiting_getters: 0, waiting_putters: 1 }"
        );
        queue.close();
        assert_eq!(p.await, Err(Closed("from P")));
        assert_eq!(queue.get().await, Ok("stored"));
        assert_eq!(queue.get().await, Err(Closed(())));
        assert_eq!(a.await, Ok("for A"));
        assert_eq!(queue.try_put("late"), Err(TryPutError::Closed("late")));
        assert_eq!(queue.put("late").await, Err(Closed("late")));
        assert_eq!(queue.try_get(), Err(TryGetError::Closed));
    });
}

/// Closing a full queue with putters waiting: the putters get their items back, getters
/// take the items left in order, then fail.
fn close_wakes_putters_with_their_items_and_lets_getters_drain<R: Runtime>() {
    R::block_on(async {
        let queue = Queue::bounded(2);
        queue.put(1).await.unwrap();
        queue.put(2).await.unwrap();
        let putters: Vec<_> = (3..=4)
            .map(|item| {
                let queue = queue.clone();
                R::spawn(async move { queue.put(item).await })
            })
            .collect();
        settle().await;
        queue.close();
        let mut results = Vec::new();
        for putter in putters {
            results.push(putter.await);
        }
        assert_eq!(results, [Err(Closed(3)), Err(Closed(4))]);
        assert_eq!(queue.get().await, Ok(1));
        assert_eq!(queue.get().await, Ok(2));
        assert_eq!(queue.get().await, Err(Closed(())));
        assert_eq!(queue.unfinished(), 2);
    });
}

/// asyncio's worker pattern: three workers over 100 items with `task_done`, `join` waits for
/// all of them, then `close` stops the workers.
fn three_workers_task_done_join<R: Runtime>() {
    R::block_on(async {
        let queue = Queue::bounded(10);
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let queue = queue.clone();
                R::spawn(async move {
                    let (mut sum, mut count) = (0u64, 0usize);
                    while let Ok(item) = queue.get().await {
                        sum += item;
                        count += 1;
                        common::yield_now().await; // "process" it
                        queue.task_done();
                    }
                    (sum, count)
                })
            })
            .collect();
        for item in 0..100u64 {
            queue.put(item).await.unwrap();
        }
        queue.join().await;
        assert_eq!(queue.unfinished(), 0);
        assert!(queue.is_empty());
        queue.close();
        let (mut sum, mut count) = (0, 0);
        for worker in workers {
            let (s, c) = worker.await;
            sum += s;
            count += c;
        }
        assert_eq!((sum, count), (4950, 100));
    });
}

/// A getter cancelled (its future dropped) right after an item was handed to it: the item
/// goes to the next waiting getter, and nothing is lost.
fn cancelled_getter_gives_its_item_back<R: Runtime>() {
    R::block_on(async {
        let queue = Queue::unbounded();
        let (cancel, cancelled) = oneshot::channel::<()>();
        let first = R::spawn({
            let queue = queue.clone();
            async move {
                // The cancel signal is polled first, so once it fired the get is dropped
                // unfinished, whatever it holds.
                match select(cancelled, Box::pin(queue.get())).await {
                    Either::Left(_) => None,
                    Either::Right((item, _)) => Some(item),
                }
            }
        });
        settle().await;
        let second = R::spawn({
            let queue = queue.clone();
            async move { queue.get().await }
        });
        settle().await;
        queue.put("item").await.unwrap(); // handed to the first getter...
        cancel.send(()).unwrap(); // ...which is cancelled before it collects it
        assert_eq!(first.await, None);
        assert_eq!(second.await, Ok("item"));
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    });
}

/// bounded(1) between two tasks: every message crosses with a task switch, in order.
fn bounded_one_ping_pong_keeps_order<R: Runtime>() {
    R::block_on(async {
        let queue = Queue::bounded(1);
        let producer = R::spawn({
            let queue = queue.clone();
            async move {
                for item in 0..MESSAGES {
                    queue.put(item).await.unwrap();
                }
                queue.close();
            }
        });
        let mut expected = 0;
        while let Ok(item) = queue.get().await {
            assert_eq!(item, expected);
            expected += 1;
        }
        assert_eq!(expected, MESSAGES);
        producer.await;
    });
}

/// Request/reply: requests carry a oneshot sender for the reply (asyncio: a Future).
fn request_reply_with_oneshot<R: Runtime>() {
    R::block_on(async {
        let requests: Queue<(u32, oneshot::Sender<u32>)> = Queue::bounded(10);
        let server = R::spawn({
            let requests = requests.clone();
            async move {
                let mut served = 0;
                while let Ok((n, reply)) = requests.get().await {
                    reply.send(n * 2).unwrap();
                    served += 1;
                }
                served
            }
        });
        for n in 0..100 {
            let (reply, answer) = oneshot::channel();
            requests.put((n, reply)).await.unwrap();
            assert_eq!(answer.await, Ok(n * 2));
        }
        // A request whose reply sender is dropped unanswered: the asker sees the error.
        let (reply, answer) = oneshot::channel::<u32>();
        drop(reply);
        assert_eq!(answer.await, Err(oneshot::RecvError));
        requests.close();
        assert_eq!(server.await, 100);
    });
}

/// One task, no spawning: the first look of the chapter, on every `block_on` we have,
/// handloop's smallest one (step 1) included.
async fn one_task_put_get_close() {
    let queue = Queue::bounded(2);
    queue.put("job 1").await.unwrap();
    queue.put("job 2").await.unwrap();
    assert_eq!(queue.try_put("job 3"), Err(TryPutError::Full("job 3")));
    assert_eq!(queue.get().await, Ok("job 1"));
    queue.close();
    assert_eq!(queue.put("job 3").await, Err(Closed("job 3")));
    assert_eq!(queue.get().await, Ok("job 2"));
    assert_eq!(queue.get().await, Err(Closed(())));
    let (tx, rx) = oneshot::channel();
    tx.send(1).unwrap();
    assert_eq!(rx.await, Ok(1));
}

#[test]
fn one_task_on_handloop_waker_block_on() {
    handloop_waker::block_on(one_task_put_get_close());
}

#[test]
fn one_task_on_futures_block_on() {
    futures::executor::block_on(one_task_put_get_close());
}

/// Two loops on two threads share one queue (it is `Send + Sync`): order and count hold.
#[test]
fn two_threads_two_runtimes_share_one_queue() {
    let queue = Queue::bounded(4);
    let producer = std::thread::spawn({
        let queue = queue.clone();
        move || {
            common::Tokio::block_on(async move {
                for item in 0..MESSAGES {
                    queue.put(item).await.unwrap();
                }
                queue.close();
            })
        }
    });
    let received = common::Handloop::block_on(async move {
        let mut received = Vec::new();
        while let Ok(item) = queue.get().await {
            received.push(item);
        }
        received
    });
    producer.join().unwrap();
    assert_eq!(received, (0..MESSAGES).collect::<Vec<_>>());
}
