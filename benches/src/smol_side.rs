//! The workloads on async-executor's `LocalExecutor` (smol's executor), driven by
//! `futures::executor::block_on(ex.run(...))`, with `futures::channel::{oneshot, mpsc}`.
//!
//! `LocalExecutor` has no timer, so `timer_cancel` and `timers_fired` do not run here.
//! futures' bounded `mpsc::channel(buffer)` holds `buffer + senders` messages, so a
//! queue of capacity `n` with one sender is `channel(n - 1)`.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

use async_executor::{LocalExecutor, Task};
use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};

use crate::*;

/// A `LocalExecutor`, shared with the tasks that spawn more tasks.
#[derive(Clone)]
pub struct Executor {
    ex: Rc<LocalExecutor<'static>>,
}

impl Executor {
    /// A new executor.
    pub fn new() -> Executor {
        Executor {
            ex: Rc::new(LocalExecutor::new()),
        }
    }

    /// Runs `future` to completion, running the executor's tasks meanwhile.
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        futures::executor::block_on(self.ex.run(future))
    }

    /// Spawns a task; dropping the [`Task`] cancels it, `detach` keeps it running.
    pub fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> Task<T> {
        self.ex.spawn(future)
    }
}

impl Default for Executor {
    fn default() -> Self {
        Executor::new()
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor").finish_non_exhaustive()
    }
}

/// 1000 empty tasks spawned, then all awaited.
pub fn spawn_many_local(ex: &Executor) {
    ex.block_on(async {
        let mut handles = Vec::with_capacity(SPAWN_MANY);
        for _ in 0..SPAWN_MANY {
            handles.push(ex.spawn(async {}));
        }
        for handle in handles {
            handle.await;
        }
    });
}

fn chain(ex: Executor, done: oneshot::Sender<()>, n: usize) {
    if n == 0 {
        done.send(()).unwrap();
    } else {
        ex.clone()
            .spawn(async move { chain(ex, done, n - 1) })
            .detach();
    }
}

/// Each task spawns the next, 1000 deep; the last signals a oneshot.
pub fn chained_spawn(ex: &Executor) {
    ex.block_on(async {
        let (done, finished) = oneshot::channel();
        let chained = ex.clone();
        ex.spawn(async move { chain(chained, done, CHAIN) })
            .detach();
        finished.await.unwrap();
    });
}

/// 300 tasks × 300 `yield_now`.
pub fn yield_many(ex: &Executor) {
    ex.block_on(async {
        let mut handles = Vec::with_capacity(YIELD_TASKS);
        for _ in 0..YIELD_TASKS {
            handles.push(ex.spawn(async {
                for _ in 0..YIELDS_PER_TASK {
                    yield_now().await;
                }
            }));
        }
        for handle in handles {
            handle.await;
        }
    });
}

/// 1000 pings, each 2 spawns and 2 oneshots (tokio's `ping_pong`).
pub fn ping_pong(ex: &Executor) {
    ex.block_on(async {
        let (done, finished) = oneshot::channel();
        let countdown = Arc::new(Countdown::new(PINGS, done));
        let outer = ex.clone();
        ex.spawn(async move {
            for _ in 0..PINGS {
                let countdown = countdown.clone();
                let inner = outer.clone();
                outer
                    .spawn(async move {
                        let (tx1, rx1) = oneshot::channel();
                        let (tx2, rx2) = oneshot::channel();
                        inner
                            .spawn(async move {
                                rx1.await.unwrap();
                                tx2.send(()).unwrap();
                            })
                            .detach();
                        tx1.send(()).unwrap();
                        rx2.await.unwrap();
                        if let Some(done) = countdown.tick() {
                            done.send(()).unwrap();
                        }
                    })
                    .detach();
            }
        })
        .detach();
        finished.await.unwrap();
    });
}

/// 1000 requests over a bounded(10) queue, each answered through a oneshot.
pub fn request_reply(ex: &Executor) {
    ex.block_on(async {
        let (mut requests, mut server_requests) =
            mpsc::channel::<(usize, oneshot::Sender<usize>)>(REQUEST_QUEUE - 1);
        let server = ex.spawn(async move {
            while let Some((n, reply)) = server_requests.next().await {
                reply.send(n + 1).unwrap();
            }
        });
        for n in 0..REQUESTS {
            let (reply, answer) = oneshot::channel();
            requests.send((n, reply)).await.unwrap();
            assert_eq!(answer.await.unwrap(), n + 1);
        }
        drop(requests);
        server.await;
    });
}

/// One task: 5000 puts into a large bounded queue, then 5000 gets.
pub fn queue_uncontended(ex: &Executor) {
    ex.block_on(async {
        let (mut tx, mut rx) = mpsc::channel(UNCONTENDED_CAPACITY - 1);
        for n in 0..UNCONTENDED {
            tx.send(n).await.unwrap();
        }
        for _ in 0..UNCONTENDED {
            black_box(rx.next().await.unwrap());
        }
    });
}

/// A bounded(1) queue between two tasks, 5000 messages.
pub fn queue_bounded1(ex: &Executor) {
    ex.block_on(async {
        let (mut tx, mut rx) = mpsc::channel(0);
        let producer = ex.spawn(async move {
            for n in 0..BOUNDED1 {
                tx.send(n).await.unwrap();
            }
        });
        let consumer = ex.spawn(async move {
            for _ in 0..BOUNDED1 {
                black_box(rx.next().await.unwrap());
            }
        });
        producer.await;
        consumer.await;
    });
}

/// 5 producers × 1000 messages into bounded(100), one consumer.
pub fn queue_contention(ex: &Executor) {
    ex.block_on(async {
        // 95 + one slot per sender (5) = 100.
        let (tx, mut rx) = mpsc::channel(CONTENTION_CAPACITY - PRODUCERS);
        for _ in 0..PRODUCERS {
            let mut tx = tx.clone();
            ex.spawn(async move {
                for n in 0..PER_PRODUCER {
                    tx.send(n).await.unwrap();
                }
            })
            .detach();
        }
        drop(tx);
        for _ in 0..PRODUCERS * PER_PRODUCER {
            black_box(rx.next().await.unwrap());
        }
    });
}

/// `futures::future::join_all` over 10,000 oneshot receivers; a task sends them one at a
/// time with a `yield_now` between sends.
pub fn gather_10k(ex: &Executor) {
    ex.block_on(async {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..GATHER).map(|_| oneshot::channel::<usize>()).unzip();
        let sender = ex.spawn(async move {
            for (n, tx) in senders.into_iter().enumerate() {
                tx.send(n).unwrap();
                yield_now().await;
            }
        });
        let outputs = futures::future::join_all(receivers).await;
        assert_eq!(outputs.len(), GATHER);
        sender.await;
    });
}
