//! The same workloads on tokio's current-thread runtime (time enabled), with tokio's own
//! `spawn`, `sync::{oneshot, mpsc}`, `time::{timeout, sleep}` and `task::yield_now`.
#![forbid(unsafe_code)]

use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{spawn, yield_now};

use crate::*;

/// `Builder::new_current_thread().enable_time().build()`.
///
/// # Panics
/// If the runtime cannot be built.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// 1000 empty tasks spawned, then all awaited.
pub fn spawn_many_local(rt: &Runtime) {
    rt.block_on(async {
        let mut handles = Vec::with_capacity(SPAWN_MANY);
        for _ in 0..SPAWN_MANY {
            handles.push(spawn(async {}));
        }
        for handle in handles {
            handle.await.unwrap();
        }
    });
}

fn chain(done: oneshot::Sender<()>, n: usize) {
    if n == 0 {
        done.send(()).unwrap();
    } else {
        drop(spawn(async move { chain(done, n - 1) }));
    }
}

/// Each task spawns the next, 1000 deep; the last signals a oneshot.
pub fn chained_spawn(rt: &Runtime) {
    rt.block_on(async {
        let (done, finished) = oneshot::channel();
        drop(spawn(async move { chain(done, CHAIN) }));
        finished.await.unwrap();
    });
}

/// 300 tasks × 300 `yield_now`.
pub fn yield_many(rt: &Runtime) {
    rt.block_on(async {
        let mut handles = Vec::with_capacity(YIELD_TASKS);
        for _ in 0..YIELD_TASKS {
            handles.push(spawn(async {
                for _ in 0..YIELDS_PER_TASK {
                    yield_now().await;
                }
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
    });
}

/// 1000 pings, each 2 spawns and 2 oneshots (tokio's `ping_pong`).
pub fn ping_pong(rt: &Runtime) {
    rt.block_on(async {
        let (done, finished) = oneshot::channel();
        let countdown = Arc::new(Countdown::new(PINGS, done));
        drop(spawn(async move {
            for _ in 0..PINGS {
                let countdown = countdown.clone();
                drop(spawn(async move {
                    let (tx1, rx1) = oneshot::channel();
                    let (tx2, rx2) = oneshot::channel();
                    drop(spawn(async move {
                        rx1.await.unwrap();
                        tx2.send(()).unwrap();
                    }));
                    tx1.send(()).unwrap();
                    rx2.await.unwrap();
                    if let Some(done) = countdown.tick() {
                        done.send(()).unwrap();
                    }
                }));
            }
        }));
        finished.await.unwrap();
    });
}

/// 1000 requests over a bounded(10) queue, each answered through a oneshot.
pub fn request_reply(rt: &Runtime) {
    rt.block_on(async {
        let (requests, mut server_requests) =
            mpsc::channel::<(usize, oneshot::Sender<usize>)>(REQUEST_QUEUE);
        let server = spawn(async move {
            while let Some((n, reply)) = server_requests.recv().await {
                reply.send(n + 1).unwrap();
            }
        });
        for n in 0..REQUESTS {
            let (reply, answer) = oneshot::channel();
            requests.send((n, reply)).await.unwrap();
            assert_eq!(answer.await.unwrap(), n + 1);
        }
        drop(requests);
        server.await.unwrap();
    });
}

/// One task: 5000 puts into a large bounded queue, then 5000 gets.
pub fn queue_uncontended(rt: &Runtime) {
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(UNCONTENDED_CAPACITY);
        for n in 0..UNCONTENDED {
            tx.send(n).await.unwrap();
        }
        for _ in 0..UNCONTENDED {
            black_box(rx.recv().await.unwrap());
        }
    });
}

/// A bounded(1) queue between two tasks, 5000 messages.
pub fn queue_bounded1(rt: &Runtime) {
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        let producer = spawn(async move {
            for n in 0..BOUNDED1 {
                tx.send(n).await.unwrap();
            }
        });
        let consumer = spawn(async move {
            for _ in 0..BOUNDED1 {
                black_box(rx.recv().await.unwrap());
            }
        });
        producer.await.unwrap();
        consumer.await.unwrap();
    });
}

/// 5 producers × 1000 messages into bounded(100), one consumer (tokio's
/// `contention/bounded_full`).
pub fn queue_contention(rt: &Runtime) {
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(CONTENTION_CAPACITY);
        for _ in 0..PRODUCERS {
            let tx = tx.clone();
            drop(spawn(async move {
                for n in 0..PER_PRODUCER {
                    tx.send(n).await.unwrap();
                }
            }));
        }
        for _ in 0..PRODUCERS * PER_PRODUCER {
            black_box(rx.recv().await.unwrap());
        }
    });
}

/// `CANCEL_STORM` senders wait on a full `mpsc::channel(1)` (each `send` future boxed and
/// polled once: it waits in the channel's semaphore), then are dropped newest first
/// (`oldest_first: false`) or oldest first.
fn queue_cancel(rt: &Runtime, oldest_first: bool) {
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(usize::MAX).unwrap();
        let mut waiting = Vec::with_capacity(CANCEL_STORM);
        poll_fn(|cx| {
            for n in 0..CANCEL_STORM {
                let mut send = Box::pin(tx.send(n));
                assert!(send.as_mut().poll(cx).is_pending());
                waiting.push(send);
            }
            Poll::Ready(())
        })
        .await;
        if oldest_first {
            waiting.reverse();
        }
        while let Some(send) = waiting.pop() {
            drop(send);
        }
        assert_eq!(black_box(rx.try_recv()), Ok(usize::MAX));
    });
}

/// 10,000 senders wait on a full `mpsc::channel(1)`, then give up newest first.
pub fn queue_cancel_storm(rt: &Runtime) {
    queue_cancel(rt, false);
}

/// 10,000 senders wait on a full `mpsc::channel(1)`, then give up oldest first.
pub fn queue_cancel_in_order(rt: &Runtime) {
    queue_cancel(rt, true);
}

/// 1000 × `timeout(1 s, yield_now())` in one task: a timer registered and cancelled.
pub fn timer_cancel(rt: &Runtime) {
    rt.block_on(async {
        spawn(async {
            for _ in 0..TIMEOUTS {
                let result = tokio::time::timeout(Duration::from_secs(1), yield_now()).await;
                assert!(black_box(result).is_ok());
            }
        })
        .await
        .unwrap();
    });
}

/// 10,000 tasks sleeping spread deadlines of 1–10 ms, all awaited.
pub fn timers_fired(rt: &Runtime) {
    rt.block_on(async {
        let mut handles = Vec::with_capacity(TIMERS);
        for i in 0..TIMERS {
            handles.push(spawn(tokio::time::sleep(timer_delay(i))));
        }
        for handle in handles {
            handle.await.unwrap();
        }
    });
}

/// `futures::future::join_all` (what tokio users reach for: tokio has no `gather`) over
/// 10,000 oneshot receivers; a task sends them one at a time with a `yield_now` between
/// sends. For this many futures `join_all` is built on `FuturesOrdered`, which polls only
/// the woken ones.
pub fn gather_10k(rt: &Runtime) {
    rt.block_on(async {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..GATHER).map(|_| oneshot::channel::<usize>()).unzip();
        let sender = spawn(async move {
            for (n, tx) in senders.into_iter().enumerate() {
                tx.send(n).unwrap();
                yield_now().await;
            }
        });
        let outputs = futures::future::join_all(receivers).await;
        assert_eq!(outputs.len(), GATHER);
        sender.await.unwrap();
    });
}
