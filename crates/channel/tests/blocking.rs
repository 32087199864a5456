//! `put_blocking` and `get_blocking`: plain threads feeding and draining a loop.

use std::thread;

use handloop_channel::{Closed, LifoQueue, PriorityQueue, Queue};
use handloop_executor::{EventLoop, spawn};

/// Items per producer thread; fewer under Miri.
const ITEMS: u32 = if cfg!(miri) { 20 } else { 2_000 };

/// Spins (yielding the CPU) until `ready` holds: how a test waits for another thread to
/// be blocked inside the queue, without timing anything.
fn wait_until(ready: impl Fn() -> bool) {
    while !ready() {
        thread::yield_now();
    }
}

fn waiting_getters<T>(queue: &Queue<T>) -> bool {
    format!("{queue:?}").contains("waiting_getters: 1")
}

fn waiting_putters<T>(queue: &Queue<T>) -> bool {
    format!("{queue:?}").contains("waiting_putters: 1")
}

#[test]
fn three_producer_threads_feed_one_loop_and_every_item_arrives_once() {
    let queue = Queue::bounded(8); // small: the producers block often
    let producers: Vec<_> = (0..3)
        .map(|producer| {
            let queue = queue.clone();
            thread::spawn(move || {
                for n in 0..ITEMS {
                    queue.put_blocking((producer, n)).unwrap();
                }
            })
        })
        .collect();
    let got = EventLoop::new().block_on(async {
        let consumer = spawn({
            let queue = queue.clone();
            async move {
                let mut got = Vec::new();
                for _ in 0..3 * ITEMS {
                    got.push(queue.get().await.unwrap());
                }
                got
            }
        });
        consumer.await.unwrap()
    });
    for producer in producers {
        producer.join().unwrap();
    }
    // Every item once, and each producer's items in the order it put them.
    for producer in 0..3 {
        let mine: Vec<u32> = got
            .iter()
            .filter(|(p, _)| *p == producer)
            .map(|&(_, n)| n)
            .collect();
        assert_eq!(mine, (0..ITEMS).collect::<Vec<_>>());
    }
    assert_eq!(got.len(), 3 * ITEMS as usize);
    assert!(queue.is_empty());
}

#[test]
fn a_thread_drains_what_a_loop_produces() {
    let queue = Queue::bounded(4);
    let consumer = thread::spawn({
        let queue = queue.clone();
        move || {
            let mut got = Vec::new();
            while let Ok(n) = queue.get_blocking() {
                got.push(n);
            }
            got
        }
    });
    EventLoop::new().block_on(async {
        let producer = spawn({
            let queue = queue.clone();
            async move {
                for n in 0..ITEMS {
                    queue.put(n).await.unwrap();
                }
                queue.close();
            }
        });
        producer.await.unwrap();
    });
    assert_eq!(consumer.join().unwrap(), (0..ITEMS).collect::<Vec<_>>());
}

#[test]
fn the_new_queues_block_too_in_their_own_order() {
    let priority = PriorityQueue::unbounded();
    let lifo = LifoQueue::unbounded();
    for n in [2, 3, 1] {
        priority.put_blocking(n).unwrap();
        lifo.put_blocking(n).unwrap();
    }
    assert_eq!(priority.get_blocking(), Ok(1));
    assert_eq!(lifo.get_blocking(), Ok(1));
    assert_eq!(lifo.get_blocking(), Ok(3));
}

#[test]
#[should_panic(
    expected = "Queue::get_blocking() called on a thread that is running a \
                           handloop event loop: it would block the loop, and every task on \
                           it, while it waits. Await `queue.get().await` instead \
                           (get_blocking is for plain threads)"
)]
fn get_blocking_on_a_loop_thread_panics_and_says_to_await_get() {
    let queue = Queue::<u8>::unbounded();
    EventLoop::new()
        .block_on(async { queue.get_blocking() })
        .ok();
}

#[test]
fn put_blocking_in_a_task_panics_and_says_to_await_put() {
    let queue = Queue::bounded(1);
    let error = EventLoop::new().block_on(async move {
        spawn(async move { queue.put_blocking(1) })
            .await
            .unwrap_err()
    });
    assert_eq!(
        error.panic_message(),
        Some(
            "Queue::put_blocking() called on a thread that is running a handloop event loop: \
             it would block the loop, and every task on it, while it waits. \
             Await `queue.put(item).await` instead (put_blocking is for plain threads)"
        )
    );
}

#[test]
fn closing_wakes_a_thread_blocked_in_get_blocking() {
    let queue = Queue::<u8>::unbounded();
    let getter = thread::spawn({
        let queue = queue.clone();
        move || queue.get_blocking()
    });
    wait_until(|| waiting_getters(&queue));
    queue.close();
    assert_eq!(getter.join().unwrap(), Err(Closed(())));
}

#[test]
fn closing_gives_a_thread_blocked_in_put_blocking_its_item_back() {
    let queue = Queue::bounded(1);
    queue.try_put("first").unwrap();
    let putter = thread::spawn({
        let queue = queue.clone();
        move || queue.put_blocking("second")
    });
    wait_until(|| waiting_putters(&queue));
    queue.close();
    assert_eq!(putter.join().unwrap(), Err(Closed("second")));
    assert_eq!(queue.get_blocking(), Ok("first"));
    assert_eq!(queue.get_blocking(), Err(Closed(())));
}
