//! Issue 12's API, named exactly as the issue names it and reached through the facade
//! (`handloop::sync::*`, the same items at the crate root, `handloop::as_completed`,
//! `handloop::wait`, `handloop::PriorityQueue`, `handloop::LifoQueue`, `Timeout::reset`),
//! each used once with its exact result. The behaviour in depth is tested where each is
//! built (`crates/channel/tests/locks*.rs`, `tests/waiting.rs`, `tests/task_group.rs`,
//! `crates/timer/tests/timeouts_asyncio.rs`); this file pins down the names and types a
//! user of the facade writes.

use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use handloop::sync::{
    Barrier, BarrierWaitResult, BrokenBarrier, Condition, Event, Lock, LockGuard, Semaphore,
    SemaphorePermit,
};
use handloop::{
    Closed, LifoQueue, PriorityQueue, Queue, ReturnWhen, Runtime, TaskGroup, as_completed, sleep,
    spawn, time, timeout, yield_now,
};

fn virtual_runtime() -> Runtime {
    Runtime::builder().virtual_time().build().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The root re-exports are the `sync` module's items, not look-alikes.
#[test]
fn the_sync_items_are_also_at_the_crate_root() {
    fn same<T>(_: fn() -> T, _: fn() -> T) {}
    same::<handloop::Event>(Event::new, handloop::Event::new);
    same::<handloop::Lock<u8>>(|| Lock::new(0), || handloop::Lock::new(0));
    same::<handloop::Semaphore>(|| Semaphore::new(1), || handloop::Semaphore::new(1));
    same::<handloop::Condition>(Condition::new, handloop::Condition::new);
    same::<handloop::Barrier>(|| Barrier::new(1), || handloop::Barrier::new(1));
    let _: fn(&handloop::BarrierWaitResult) -> bool = BarrierWaitResult::is_leader;
    let _: handloop::BrokenBarrier = BrokenBarrier;
    let _: Option<handloop::LockGuard<'_, ()>> = None::<LockGuard<'_, ()>>;
    let _: Option<handloop::SemaphorePermit<'_>> = None::<SemaphorePermit<'_>>;
}

#[test]
fn event_new_set_clear_is_set_wait() {
    virtual_runtime().block_on(async {
        let event = Rc::new(Event::new());
        let waiter = spawn({
            let event = event.clone();
            async move {
                event.wait().await;
                time::now()
            }
        });
        let start = time::now();
        sleep(secs(1)).await;
        assert!(!event.is_set());
        event.set();
        assert!(event.is_set());
        event.clear(); // the waiter was answered by `set`: it still returns
        assert!(!event.is_set());
        assert_eq!(waiter.await.unwrap() - start, secs(1));
    });
}

#[test]
fn lock_new_acquire_try_acquire_locked_and_the_plain_lock() {
    virtual_runtime().block_on(async {
        let lock: Lock<Vec<u32>> = Lock::new(Vec::new());
        let mut guard: LockGuard<'_, Vec<u32>> = lock.acquire().await;
        guard.push(1); // DerefMut
        assert_eq!(guard.len(), 1); // Deref
        assert!(lock.locked());
        assert!(lock.try_acquire().is_none());
        drop(guard);
        assert!(!lock.locked());
        lock.try_acquire().expect("free again").push(2);
        assert_eq!(*lock.acquire().await, [1, 2]);

        let plain: Lock<()> = Lock::new(()); // asyncio's `Lock()`
        let held = plain.acquire().await;
        assert!(plain.locked());
        drop(held);
        assert!(!plain.locked());
    });
}

#[test]
fn semaphore_new_acquire_try_acquire_available_permits_add_permits() {
    virtual_runtime().block_on(async {
        let sem = Semaphore::new(1);
        let permit: SemaphorePermit<'_> = sem.acquire().await;
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire().is_none());
        sem.add_permits(2);
        assert_eq!(sem.available_permits(), 2);
        let second = sem.try_acquire().expect("added");
        drop((permit, second));
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn condition_wait_returns_the_guard_and_wait_for_sees_the_value() {
    virtual_runtime().block_on(async {
        let (lock, cond) = (Rc::new(Lock::new(0)), Rc::new(Condition::new()));
        let waiters: Vec<_> = (0..3)
            .map(|n| {
                let (lock, cond) = (lock.clone(), cond.clone());
                spawn(async move {
                    let guard = lock.acquire().await;
                    let guard: LockGuard<'_, i32> = if n == 0 {
                        cond.wait(guard).await
                    } else {
                        cond.wait_for(guard, |value: &i32| *value >= n).await
                    };
                    assert!(lock.locked(), "wait returns with the lock held");
                    (*guard, time::now())
                })
            })
            .collect();
        let start = time::now();
        yield_now().await; // all three wait, the lock released
        assert!(!lock.locked());
        for step in 1..=2 {
            sleep(secs(1)).await;
            *lock.acquire().await = step;
            if step == 1 {
                cond.notify(1); // the first waiter (plain `wait`) and only it
            } else {
                cond.notify_all();
            }
        }
        let mut seen = Vec::new();
        for waiter in waiters {
            let (value, at) = waiter.await.unwrap();
            seen.push((value, at - start));
        }
        // Waiter 0 returned at 1 s; waiter 1 (needs >= 1) was not notified at 1 s, so it
        // saw the value only with `notify_all` at 2 s, as did waiter 2 (needs >= 2).
        assert_eq!(seen, [(1, secs(1)), (2, secs(2)), (2, secs(2))]);
    });
}

#[test]
fn a_condition_wait_cut_short_by_a_timeout_leaves_the_lock_free() {
    virtual_runtime().block_on(async {
        let (lock, cond) = (Lock::new(()), Condition::new());
        let guard = lock.acquire().await;
        let result = timeout(secs(1), cond.wait(guard)).await;
        assert!(result.is_err());
        assert!(
            !lock.locked(),
            "the guard went down with the dropped wait: nothing holds the lock"
        );
        drop(lock.try_acquire().expect("free"));
    });
}

#[test]
fn barrier_wait_is_leader_abort_reset() {
    virtual_runtime().block_on(async {
        let barrier = Rc::new(Barrier::new(2));
        let first = spawn({
            let barrier = barrier.clone();
            async move { barrier.wait().await }
        });
        yield_now().await;
        let second: Result<BarrierWaitResult, BrokenBarrier> = barrier.wait().await;
        assert!(second.unwrap().is_leader(), "the last to arrive leads");
        assert!(!first.await.unwrap().unwrap().is_leader());

        let waiting = spawn({
            let barrier = barrier.clone();
            async move { barrier.wait().await }
        });
        yield_now().await;
        barrier.abort();
        assert_eq!(waiting.await.unwrap(), Err(BrokenBarrier));
        assert_eq!(
            barrier.wait().await,
            Err(BrokenBarrier),
            "and every later wait"
        );
        barrier.reset();
        assert!(!barrier.is_broken());
        let again = spawn({
            let barrier = barrier.clone();
            async move { barrier.wait().await }
        });
        yield_now().await;
        assert!(
            barrier.wait().await.unwrap().is_leader(),
            "whole again after reset"
        );
        assert!(!again.await.unwrap().unwrap().is_leader());
    });
}

#[test]
fn as_completed_is_an_async_iterator_and_a_stream() {
    virtual_runtime().block_on(async {
        let after = |n: u64| async move {
            sleep(secs(n)).await;
            n
        };
        let mut finished = as_completed([after(3), after(1), after(2)]);
        assert_eq!(finished.next().await, Some(1));
        let mut rest = Vec::new();
        let mut stream = pin!(finished);
        while let Some(n) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx)).await
        {
            rest.push(n);
        }
        assert_eq!(rest, [2, 3]);
    });
}

#[test]
fn wait_returns_done_and_pending_for_each_return_when() {
    virtual_runtime().block_on(async {
        let start = time::now();
        let tasks = || {
            [2, 1, 3].map(|n| {
                spawn(async move {
                    sleep(secs(n)).await;
                    assert_ne!(n, 3, "task 3 fails");
                    n
                })
            })
        };
        for (when, at, done) in [
            (ReturnWhen::FirstCompleted, 1, 1),
            (ReturnWhen::FirstException, 3, 3),
            (ReturnWhen::AllCompleted, 3, 3),
        ] {
            let begun = time::now();
            let (finished, pending) = handloop::wait(tasks(), when).await;
            assert_eq!(time::now() - begun, secs(at), "{when:?}");
            assert_eq!(
                (finished.len(), pending.len()),
                (done, 3 - done),
                "{when:?}"
            );
            for handle in pending {
                handle.abort();
            }
        }
        assert_eq!(time::now() - start, secs(7));
    });
}

#[test]
fn a_task_group_lists_every_failure_and_wakes_every_joiner() {
    virtual_runtime().block_on(async {
        let group = Rc::new(TaskGroup::new());
        for n in 0..2 {
            group.spawn(async move {
                yield_now().await;
                panic!("child {n} failed");
            });
        }
        let joiners: Vec<_> = (0..2)
            .map(|_| {
                let group = group.clone();
                spawn(async move { group.join().await.map_err(|e| e.failures().len()) })
            })
            .collect();
        assert_eq!(group.join().await.map_err(|e| e.failures().len()), Err(2));
        for joiner in joiners {
            assert_eq!(joiner.await.unwrap(), Err(2));
        }
    });
}

#[test]
fn timeout_reset_moves_the_deadline() {
    virtual_runtime().block_on(async {
        let start = time::now();
        let mut limited = pin!(timeout(secs(1), sleep(secs(5))));
        limited.as_mut().reset(start + secs(10));
        assert_eq!(limited.deadline(), start + secs(10));
        assert!(limited.as_mut().await.is_ok(), "the sleep ends first now");
        assert_eq!(time::now() - start, secs(5));
    });
}

#[test]
fn priority_and_lifo_queues_at_the_root_with_the_queue_api() {
    virtual_runtime().block_on(async {
        let jobs: PriorityQueue<(u8, &str)> = PriorityQueue::bounded(2);
        jobs.put((2, "later")).await.unwrap();
        jobs.put((1, "sooner")).await.unwrap();
        let blocked = spawn({
            let jobs = jobs.clone();
            async move { jobs.put((0, "urgent")).await }
        });
        yield_now().await; // full: the put waits in line
        assert_eq!(jobs.get().await, Ok((1, "sooner")));
        blocked.await.unwrap().unwrap(); // handed the freed slot
        assert_eq!(jobs.get().await, Ok((0, "urgent")));
        jobs.close();
        assert_eq!(jobs.put((9, "late")).await, Err(Closed((9, "late"))));
        assert_eq!(jobs.get().await, Ok((2, "later")));
        assert_eq!(jobs.get().await, Err(Closed(())));

        let stack: LifoQueue<u32> = LifoQueue::unbounded();
        for n in 1..=3 {
            stack.put(n).await.unwrap();
        }
        assert_eq!(stack.get().await, Ok(3));
        let fifo: Queue<u32> = Queue::unbounded();
        fifo.put(1).await.unwrap();
        assert_eq!(fifo.get().await, Ok(1));
    });
}
