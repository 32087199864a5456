//! The sync rows: handloop's `Semaphore`, `Lock`, `Event` and `Barrier` beside
//! `tokio::sync` (on tokio's current-thread runtime) and smol's `async-lock` (on
//! async-executor's `LocalExecutor` and on futures' `LocalPool`), on the shapes of tokio's
//! `sync_semaphore.rs` and `sync_notify.rs`.
//!
//! * `sync_semaphore_5` / `sync_semaphore_10`: tokio's six tasks sharing 5 permits (so one
//!   always waits) and 10 (none ever waits), each task 1000 times: acquire, hold the
//!   permit across a `yield_now` (so that the other tasks run meanwhile and five permits
//!   really are contended), release.
//! * `sync_lock`: six tasks, each 1000 times: lock, add one, hold the lock across a
//!   `yield_now`, unlock. Every acquire but the first waits, and each release hands the
//!   lock to the next task in line.
//! * `sync_event`: ten tasks wait on one event; the main task wakes them all, 100 times
//!   (tokio's `notify_waiters` shape). handloop: `set()` then `clear()`; tokio:
//!   `Notify::notify_waiters()`; smol: event-listener's `Event::notify(usize::MAX)` (async-lock
//!   has no event of its own; event-listener is what it is built on). Before each wake-up
//!   the main task yields until every waiter has come back to wait.
//! * `sync_barrier`: ten tasks meet at a barrier of ten, 100 rounds.
#![forbid(unsafe_code)]

/// `sync_semaphore_*`, `sync_lock`: tasks.
pub const TASKS: usize = 6;
/// `sync_semaphore_*`, `sync_lock`: acquisitions per task.
pub const ROUNDS: usize = 1000;
/// `sync_event`, `sync_barrier`: waiting tasks.
pub const WAITERS: usize = 10;
/// `sync_event`: wake-ups; `sync_barrier`: rounds.
pub const WAVES: usize = 100;

/// On handloop, with `handloop::sync`.
pub mod on_handloop {
    use std::cell::Cell;
    use std::rc::Rc;

    use handloop::sync::{Barrier, Event, Lock, Semaphore};
    use handloop::{Runtime, spawn, yield_now};

    use super::*;

    fn semaphore(rt: &Runtime, permits: usize) {
        rt.block_on(async {
            let sem = Rc::new(Semaphore::new(permits));
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    spawn(async move {
                        for _ in 0..ROUNDS {
                            let permit = sem.acquire().await;
                            yield_now().await;
                            drop(permit);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            assert_eq!(sem.available_permits(), permits);
        });
    }

    /// Six tasks share 5 permits.
    pub fn sync_semaphore_5(rt: &Runtime) {
        semaphore(rt, 5);
    }

    /// Six tasks share 10 permits.
    pub fn sync_semaphore_10(rt: &Runtime) {
        semaphore(rt, 10);
    }

    /// Six tasks take turns with one lock.
    pub fn sync_lock(rt: &Runtime) {
        rt.block_on(async {
            let lock = Rc::new(Lock::new(0));
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let lock = lock.clone();
                    spawn(async move {
                        for _ in 0..ROUNDS {
                            let mut count = lock.acquire().await;
                            *count += 1;
                            yield_now().await;
                            drop(count);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            assert_eq!(*lock.acquire().await, TASKS * ROUNDS);
        });
    }

    /// Ten waiters woken at once, 100 times.
    pub fn sync_event(rt: &Runtime) {
        rt.block_on(async {
            let event = Rc::new(Event::new());
            let arrived = Rc::new(Cell::new(0));
            let waiters: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let (event, arrived) = (event.clone(), arrived.clone());
                    spawn(async move {
                        for _ in 0..WAVES {
                            arrived.set(arrived.get() + 1);
                            event.wait().await;
                        }
                    })
                })
                .collect();
            for wave in 1..=WAVES {
                while arrived.get() < wave * WAITERS {
                    yield_now().await;
                }
                event.set();
                event.clear();
            }
            for waiter in waiters {
                waiter.await.unwrap();
            }
        });
    }

    /// Ten tasks meet at a barrier, 100 rounds.
    pub fn sync_barrier(rt: &Runtime) {
        rt.block_on(async {
            let barrier = Rc::new(Barrier::new(WAITERS));
            let tasks: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let barrier = barrier.clone();
                    spawn(async move {
                        let mut leads = 0;
                        for _ in 0..WAVES {
                            leads += usize::from(barrier.wait().await.unwrap().is_leader());
                        }
                        leads
                    })
                })
                .collect();
            let mut leads = 0;
            for task in tasks {
                leads += task.await.unwrap();
            }
            assert_eq!(leads, WAVES);
        });
    }
}

/// On tokio's current-thread runtime, with `tokio::sync`.
pub mod on_tokio {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::runtime::Runtime;
    use tokio::sync::{Barrier, Mutex, Notify, Semaphore};
    use tokio::task::{spawn, yield_now};

    use super::*;

    fn semaphore(rt: &Runtime, permits: usize) {
        rt.block_on(async {
            let sem = Arc::new(Semaphore::new(permits));
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    spawn(async move {
                        for _ in 0..ROUNDS {
                            let permit = sem.acquire().await.unwrap();
                            yield_now().await;
                            drop(permit);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            assert_eq!(sem.available_permits(), permits);
        });
    }

    /// Six tasks share 5 permits.
    pub fn sync_semaphore_5(rt: &Runtime) {
        semaphore(rt, 5);
    }

    /// Six tasks share 10 permits.
    pub fn sync_semaphore_10(rt: &Runtime) {
        semaphore(rt, 10);
    }

    /// Six tasks take turns with one mutex.
    pub fn sync_lock(rt: &Runtime) {
        rt.block_on(async {
            let lock = Arc::new(Mutex::new(0));
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let lock = lock.clone();
                    spawn(async move {
                        for _ in 0..ROUNDS {
                            let mut count = lock.lock().await;
                            *count += 1;
                            yield_now().await;
                            drop(count);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            assert_eq!(*lock.lock().await, TASKS * ROUNDS);
        });
    }

    /// Ten waiters woken at once (`notify_waiters`), 100 times.
    pub fn sync_event(rt: &Runtime) {
        rt.block_on(async {
            let notify = Arc::new(Notify::new());
            let arrived = Arc::new(AtomicUsize::new(0));
            let waiters: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let (notify, arrived) = (notify.clone(), arrived.clone());
                    spawn(async move {
                        for _ in 0..WAVES {
                            let notified = notify.notified();
                            let mut notified = std::pin::pin!(notified);
                            notified.as_mut().enable(); // waiting from now on
                            arrived.fetch_add(1, Ordering::Relaxed);
                            notified.await;
                        }
                    })
                })
                .collect();
            for wave in 1..=WAVES {
                while arrived.load(Ordering::Relaxed) < wave * WAITERS {
                    yield_now().await;
                }
                notify.notify_waiters();
            }
            for waiter in waiters {
                waiter.await.unwrap();
            }
        });
    }

    /// Ten tasks meet at a barrier, 100 rounds.
    pub fn sync_barrier(rt: &Runtime) {
        rt.block_on(async {
            let barrier = Arc::new(Barrier::new(WAITERS));
            let tasks: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let barrier = barrier.clone();
                    spawn(async move {
                        let mut leads = 0;
                        for _ in 0..WAVES {
                            leads += usize::from(barrier.wait().await.is_leader());
                        }
                        leads
                    })
                })
                .collect();
            let mut leads = 0;
            for task in tasks {
                leads += task.await.unwrap();
            }
            assert_eq!(leads, WAVES);
        });
    }
}

/// The smol side's workloads, written once over a spawner so that they run on
/// async-executor's `LocalExecutor` and on futures' `LocalPool` alike.
macro_rules! async_lock_side {
    ($executor:ty) => {
        use std::cell::Cell;
        use std::rc::Rc;

        use async_lock::{Barrier, Mutex, Semaphore};
        use event_listener::Event;

        use super::*;
        use crate::yield_now;

        fn semaphore(ex: &$executor, permits: usize) {
            ex.block_on(async {
                let sem = Rc::new(Semaphore::new(permits));
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let sem = sem.clone();
                        ex.spawn(async move {
                            for _ in 0..ROUNDS {
                                let permit = sem.acquire().await;
                                yield_now().await;
                                drop(permit);
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await;
                }
                assert!(sem.try_acquire().is_some());
            });
        }

        /// Six tasks share 5 permits.
        pub fn sync_semaphore_5(ex: &$executor) {
            semaphore(ex, 5);
        }

        /// Six tasks share 10 permits.
        pub fn sync_semaphore_10(ex: &$executor) {
            semaphore(ex, 10);
        }

        /// Six tasks take turns with one mutex.
        pub fn sync_lock(ex: &$executor) {
            ex.block_on(async {
                let lock = Rc::new(Mutex::new(0));
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let lock = lock.clone();
                        ex.spawn(async move {
                            for _ in 0..ROUNDS {
                                let mut count = lock.lock().await;
                                *count += 1;
                                yield_now().await;
                                drop(count);
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await;
                }
                assert_eq!(*lock.lock().await, TASKS * ROUNDS);
            });
        }

        /// Ten waiters woken at once (`notify(usize::MAX)`), 100 times.
        pub fn sync_event(ex: &$executor) {
            ex.block_on(async {
                let event = Rc::new(Event::new());
                let arrived = Rc::new(Cell::new(0));
                let waiters: Vec<_> = (0..WAITERS)
                    .map(|_| {
                        let (event, arrived) = (event.clone(), arrived.clone());
                        ex.spawn(async move {
                            for _ in 0..WAVES {
                                let listener = event.listen(); // waiting from now on
                                arrived.set(arrived.get() + 1);
                                listener.await;
                            }
                        })
                    })
                    .collect();
                for wave in 1..=WAVES {
                    while arrived.get() < wave * WAITERS {
                        yield_now().await;
                    }
                    event.notify(usize::MAX);
                }
                for waiter in waiters {
                    waiter.await;
                }
            });
        }

        /// Ten tasks meet at a barrier, 100 rounds.
        pub fn sync_barrier(ex: &$executor) {
            ex.block_on(async {
                let barrier = Rc::new(Barrier::new(WAITERS));
                let tasks: Vec<_> = (0..WAITERS)
                    .map(|_| {
                        let barrier = barrier.clone();
                        ex.spawn(async move {
                            let mut leads = 0;
                            for _ in 0..WAVES {
                                leads += usize::from(barrier.wait().await.is_leader());
                            }
                            leads
                        })
                    })
                    .collect();
                let mut leads = 0;
                for task in tasks {
                    leads += task.await;
                }
                assert_eq!(leads, WAVES);
            });
        }
    };
}

/// On async-executor's `LocalExecutor`, with `async-lock` (and `event-listener`).
pub mod on_async_executor {
    async_lock_side!(crate::smol_side::Executor);
}

/// On futures' `LocalPool`, with `async-lock` (and `event-listener`).
pub mod on_local_pool {
    async_lock_side!(crate::local_pool_side::Pool);
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::local_pool_side::Pool;
    use crate::yield_now;

    /// Who got each permit, in order, in the `sync_semaphore_5` shape.
    fn order(run: impl FnOnce(Rc<RefCell<Vec<usize>>>)) -> Vec<usize> {
        let log = Rc::new(RefCell::new(Vec::new()));
        run(log.clone());
        Rc::try_unwrap(log).unwrap().into_inner()
    }

    /// The first and last permit of each task.
    fn spans(order: &[usize]) -> Vec<(usize, usize)> {
        (0..TASKS)
            .map(|task| {
                let first = order.iter().position(|&t| t == task).unwrap();
                let last = order.iter().rposition(|&t| t == task).unwrap();
                (first, last)
            })
            .collect()
    }

    /// What the `sync_semaphore_5` row compares, besides speed: handloop hands each
    /// released permit to the task that has waited longest, so the six tasks take turns
    /// (each waits about once per round, which costs an extra poll per acquire);
    /// async-lock's semaphore lets the task that releases a permit take it straight back,
    /// so one task gets nothing until the five others have finished.
    #[test]
    fn in_the_sync_semaphore_5_shape_handloop_takes_turns_and_async_lock_starves_a_task() {
        let handloop_order = order(|log| {
            let runtime = handloop::Runtime::builder().build().unwrap();
            runtime.block_on(async {
                let sem = Rc::new(handloop::sync::Semaphore::new(5));
                let tasks: Vec<_> = (0..TASKS)
                    .map(|task| {
                        let (sem, log) = (sem.clone(), log.clone());
                        handloop::spawn(async move {
                            for _ in 0..ROUNDS {
                                let permit = sem.acquire().await;
                                log.borrow_mut().push(task);
                                yield_now().await;
                                drop(permit);
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            });
        });
        let async_lock_order = order(|log| {
            let pool = Pool::new();
            pool.block_on(async {
                let sem = Rc::new(async_lock::Semaphore::new(5));
                let tasks: Vec<_> = (0..TASKS)
                    .map(|task| {
                        let (sem, log) = (sem.clone(), log.clone());
                        pool.spawn(async move {
                            for _ in 0..ROUNDS {
                                let permit = sem.acquire().await;
                                log.borrow_mut().push(task);
                                yield_now().await;
                                drop(permit);
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await;
                }
            });
        });
        let n = TASKS * ROUNDS;
        // handloop: every task starts in the first round and ends in the last.
        for (first, last) in spans(&handloop_order) {
            assert!(first < TASKS && last >= n - TASKS, "{first}..{last}");
        }
        // async-lock: the sixth task waits until the five others are done.
        let spans = spans(&async_lock_order);
        assert_eq!(spans[TASKS - 1], (n - ROUNDS, n - 1), "{spans:?}");
    }
}
