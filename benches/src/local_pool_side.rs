//! The workloads on futures' `LocalPool` (`run_until`, `LocalSpawner`), with
//! `futures::channel::{oneshot, mpsc}`; awaited tasks use `spawn_local_with_handle`.
//!
//! `LocalPool` has no timer, so `timer_cancel` and `timers_fired` do not run here.
//! futures' bounded `mpsc::channel(buffer)` holds `buffer + senders` messages, so a
//! queue of capacity `n` with one sender is `channel(n - 1)`.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;

use futures::channel::{mpsc, oneshot};
use futures::executor::{LocalPool, LocalSpawner};
use futures::future::RemoteHandle;
use futures::task::LocalSpawnExt;
use futures::{SinkExt, StreamExt};

use crate::*;

/// A `LocalPool` and its spawner.
pub struct Pool {
    pool: RefCell<LocalPool>,
    spawner: Spawner,
}

/// A `LocalSpawner`, shared with the tasks that spawn more tasks.
#[derive(Clone)]
pub struct Spawner {
    spawner: LocalSpawner,
}

/// A task whose output is awaited: dropping it cancels the task, `detach` keeps it running.
#[must_use = "dropping a Task cancels it"]
pub struct Task<T>(RemoteHandle<T>);

impl<T: 'static> Task<T> {
    /// Lets the task run to completion unobserved.
    pub fn detach(self) {
        self.0.forget();
    }
}

impl<T: 'static> Future for Task<T> {
    type Output = T;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl Pool {
    /// A new pool.
    pub fn new() -> Pool {
        let pool = LocalPool::new();
        let spawner = Spawner {
            spawner: pool.spawner(),
        };
        Pool {
            pool: RefCell::new(pool),
            spawner,
        }
    }

    /// Runs `future` to completion, running the pool's tasks meanwhile.
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.pool.borrow_mut().run_until(future)
    }

    /// Spawns a task (see [`Spawner::spawn`]).
    pub fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> Task<T> {
        self.spawner.spawn(future)
    }

    /// A spawner for tasks to move.
    pub fn spawner(&self) -> Spawner {
        self.spawner.clone()
    }
}

impl Spawner {
    /// Spawns a task with a handle (`spawn_local_with_handle`).
    pub fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> Task<T> {
        Task(
            self.spawner
                .spawn_local_with_handle(future)
                .expect("pool alive"),
        )
    }

    /// Spawns a task without a handle (`spawn_local`): cheaper than `spawn(..).detach()`.
    pub fn spawn_detached(&self, future: impl Future<Output = ()> + 'static) {
        self.spawner.spawn_local(future).expect("pool alive");
    }
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").finish_non_exhaustive()
    }
}

/// 1000 empty tasks spawned, then all awaited.
pub fn spawn_many_local(ex: &Pool) {
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

fn chain(ex: Spawner, done: oneshot::Sender<()>, n: usize) {
    if n == 0 {
        done.send(()).unwrap();
    } else {
        ex.clone()
            .spawn_detached(async move { chain(ex, done, n - 1) });
    }
}

/// Each task spawns the next, 1000 deep; the last signals a oneshot.
pub fn chained_spawn(ex: &Pool) {
    ex.block_on(async {
        let (done, finished) = oneshot::channel();
        let chained = ex.spawner();
        ex.spawner()
            .spawn_detached(async move { chain(chained, done, CHAIN) });
        finished.await.unwrap();
    });
}

/// 300 tasks × 300 `yield_now`.
pub fn yield_many(ex: &Pool) {
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
pub fn ping_pong(ex: &Pool) {
    ex.block_on(async {
        let (done, finished) = oneshot::channel();
        let countdown = Arc::new(Countdown::new(PINGS, done));
        let outer = ex.spawner();
        ex.spawner().spawn_detached(async move {
            for _ in 0..PINGS {
                let countdown = countdown.clone();
                let inner = outer.clone();
                outer.spawn_detached(async move {
                    let (tx1, rx1) = oneshot::channel();
                    let (tx2, rx2) = oneshot::channel();
                    inner.spawn_detached(async move {
                        rx1.await.unwrap();
                        tx2.send(()).unwrap();
                    });
                    tx1.send(()).unwrap();
                    rx2.await.unwrap();
                    if let Some(done) = countdown.tick() {
                        done.send(()).unwrap();
                    }
                });
            }
        });
        finished.await.unwrap();
    });
}

/// 1000 requests over a bounded(10) queue, each answered through a oneshot.
pub fn request_reply(ex: &Pool) {
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
pub fn queue_uncontended(ex: &Pool) {
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
pub fn queue_bounded1(ex: &Pool) {
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
pub fn queue_contention(ex: &Pool) {
    ex.block_on(async {
        // 95 + one slot per sender (5) = 100.
        let (tx, mut rx) = mpsc::channel(CONTENTION_CAPACITY - PRODUCERS);
        for _ in 0..PRODUCERS {
            let mut tx = tx.clone();
            ex.spawner().spawn_detached(async move {
                for n in 0..PER_PRODUCER {
                    tx.send(n).await.unwrap();
                }
            });
        }
        drop(tx);
        for _ in 0..PRODUCERS * PER_PRODUCER {
            black_box(rx.next().await.unwrap());
        }
    });
}

/// `futures::future::join_all` over 10,000 oneshot receivers; a task sends them one at a
/// time with a `yield_now` between sends.
pub fn gather_10k(ex: &Pool) {
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
