//! The cases of CPython's `Lib/test/test_asyncio/test_locks.py` that apply to handloop's
//! `Lock`, `Event`, `Condition`, `Semaphore` and `Barrier`, ported to handloop's loop on
//! the virtual clock, with exact orders (and exact times where the test sleeps).
//!
//! How the port reads:
//! * `await asyncio.sleep(0)` is `yield_now().await`: every task that was ready runs once
//!   (the ready queue is FIFO, and `spawn` does not poll). Where a step needs several
//!   turns, `settle()` yields eight times.
//! * `task.cancel()` is `handle.abort()`: the task's future is dropped on its next turn,
//!   which is how a Rust future is cancelled. asyncio's "no cancellation point, so the
//!   cancel is ignored" has no counterpart: an aborted task never resumes.
//! * asyncio's `release()` called by one task for another has no counterpart (a guard or
//!   a permit belongs to whoever holds it), so the tasks here hold theirs until the test
//!   says, through a `oneshot`; misuse such as releasing twice or waiting on a condition
//!   without the lock does not compile.
//! * Where handloop's hand-off gives a stronger or a different answer than asyncio's,
//!   the test says so in its comment.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::settle;
use handloop_channel::locks::{Barrier, BrokenBarrier, Condition, Event, Lock, Semaphore};
use handloop_channel::oneshot;
use handloop_executor::{EventLoop, JoinHandle, ThreadPark, spawn, yield_now};
use handloop_timer::{TimerDriver, now, sleep, timeout};

const MS: Duration = Duration::from_millis(1);

/// Runs `main` on a loop with the virtual clock.
fn run<F: Future>(main: F) -> F::Output {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new())).block_on(main)
}

type Log<T> = Rc<RefCell<Vec<T>>>;

fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

fn seen<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.borrow().clone()
}

/// What a finished task's handle says: `Ok` or cancelled.
async fn cancelled<T>(task: JoinHandle<T>) -> bool {
    match task.await {
        Ok(_) => false,
        Err(error) => error.is_cancelled(),
    }
}

// ---- LockTests ----

/// A task that takes `lock`, records `n`, and holds the lock until `release` fires.
fn lock_holder(
    lock: &Rc<Lock<()>>,
    result: &Log<u32>,
    n: u32,
) -> (JoinHandle<()>, oneshot::Sender<()>) {
    let (release, released) = oneshot::channel();
    let (lock, result) = (lock.clone(), result.clone());
    let task = spawn(async move {
        let _guard = lock.acquire().await;
        result.borrow_mut().push(n);
        let _ = released.await;
    });
    (task, release)
}

/// `test_acquire`: each release goes to the longest-waiting task, and a task that comes
/// later (t3) waits behind those already waiting.
#[test]
fn lock_acquire() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let result = log();
        let guard = lock.acquire().await;

        let (t1, release1) = lock_holder(&lock, &result, 1);
        let (t2, release2) = lock_holder(&lock, &result, 2);
        settle().await;
        assert_eq!(seen(&result), []);

        drop(guard);
        settle().await;
        assert_eq!(seen(&result), [1]);
        settle().await;
        assert_eq!(seen(&result), [1]);

        let (t3, release3) = lock_holder(&lock, &result, 3);
        release1.send(()).unwrap();
        settle().await;
        assert_eq!(seen(&result), [1, 2]);

        release2.send(()).unwrap();
        settle().await;
        assert_eq!(seen(&result), [1, 2, 3]);

        release3.send(()).unwrap();
        for task in [t1, t2, t3] {
            task.await.unwrap();
        }
        assert!(!lock.locked());
    });
}

/// `test_acquire_cancel`: a cancelled waiter leaves the line, so the release finds no one
/// to hand the lock to.
#[test]
fn lock_acquire_cancel() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let guard = lock.acquire().await;
        let waiter = spawn({
            let lock = lock.clone();
            async move {
                drop(lock.acquire().await);
            }
        });
        settle().await;
        waiter.abort();
        assert!(cancelled(waiter).await);
        drop(guard);
        assert!(!lock.locked(), "handed to the cancelled waiter");
    });
}

/// The task body of `test_cancel_race`: take the lock, wait for `blocker` if any, release.
async fn lockit(lock: Rc<Lock<()>>, blocker: Option<oneshot::Receiver<()>>) {
    let _guard = lock.acquire().await;
    if let Some(blocker) = blocker {
        let _ = blocker.await;
    }
}

/// `test_cancel_race`: A holds the lock, B and C wait. In one turn, A is told to release
/// and B is cancelled. The release hands the lock to B (still in line when A runs), and
/// B, dropped before it ran, passes it on to C.
#[test]
fn lock_cancel_race() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let (unblock, blocker) = oneshot::channel();
        let ta = spawn(lockit(lock.clone(), Some(blocker)));
        yield_now().await;
        assert!(lock.locked());
        let tb = spawn(lockit(lock.clone(), None));
        yield_now().await;
        let tc = spawn(lockit(lock.clone(), None));
        yield_now().await;

        unblock.send(()).unwrap();
        tb.abort();
        settle().await;
        assert!(!lock.locked());
        assert!(ta.is_finished());
        assert!(cancelled(tb).await);
        tc.await.unwrap();
    });
}

/// `test_cancel_release_race` (bpo-32734): three waiters; the first is cancelled and the
/// lock released in the same turn. Only one task gets the lock.
#[test]
fn lock_cancel_release_race() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let (calls, locks) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let guard = lock.acquire().await;
        let [t1, t2, t3] = [(); 3].map(|()| {
            let (lock, calls, locks) = (lock.clone(), calls.clone(), locks.clone());
            spawn(async move {
                calls.set(calls.get() + 1);
                let _guard = lock.acquire().await;
                locks.set(locks.get() + 1);
                pending::<()>().await; // holds the lock until aborted
            })
        });
        yield_now().await;

        t1.abort();
        drop(guard);
        settle().await;
        assert_eq!(locks.get(), 1, "only one lock was taken");
        assert_eq!(calls.get(), 3);
        assert!(!t2.is_finished(), "t2 holds the lock");
        assert!(cancelled(t1).await);

        t3.abort();
        t2.abort();
        assert!(cancelled(t3).await);
        assert!(cancelled(t2).await);
        assert!(!lock.locked());
        assert_eq!(locks.get(), 1);
    });
}

/// `test_finished_waiter_cancelled` (bpo-27585): the release hands the lock to a waiter
/// that was cancelled in the same turn; that waiter passes it on to the next one.
/// Without that, the second waiter would never wake.
#[test]
fn lock_finished_waiter_cancelled() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let guard = lock.acquire().await;
        let holds = |lock: &Rc<Lock<()>>, got: &Rc<Cell<bool>>| {
            let (lock, got) = (lock.clone(), got.clone());
            spawn(async move {
                let _guard = lock.acquire().await;
                got.set(true);
                pending::<()>().await;
            })
        };
        let (b_got, c_got) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
        let tb = holds(&lock, &b_got);
        yield_now().await;

        let tc = holds(&lock, &c_got);
        tb.abort();
        drop(guard);
        yield_now().await;
        assert!(lock.locked());
        assert!(cancelled(tb).await);
        assert!(!b_got.get());
        settle().await;
        assert!(c_got.get(), "the second waiter was not woken");
        tc.abort();
        assert!(cancelled(tc).await);
        assert!(!lock.locked());
    });
}

/// `test_release_no_waiters` and `test_context_manager`: dropping the guard releases.
#[test]
fn lock_release_no_waiters() {
    run(async {
        let lock = Lock::new(());
        {
            let _guard = lock.acquire().await;
            assert!(lock.locked());
        }
        assert!(!lock.locked());
    });
}

// ---- EventTests ----

/// `test_wait`: `set` wakes every waiter; a task that calls `wait` after the `set` (t3,
/// created before it but not yet run) does not wait at all, so it finishes first.
#[test]
fn event_wait() {
    run(async {
        let event = Rc::new(Event::new());
        assert!(!event.is_set());
        let result = log();
        let waiter = |n: u32| {
            let (event, result) = (event.clone(), result.clone());
            spawn(async move {
                event.wait().await;
                result.borrow_mut().push(n);
            })
        };
        let t1 = waiter(1);
        let t2 = waiter(2);
        yield_now().await;
        assert_eq!(seen(&result), []);

        let t3 = waiter(3);
        event.set();
        yield_now().await;
        assert_eq!(seen(&result), [3, 1, 2]);
        for task in [t1, t2, t3] {
            assert!(task.is_finished());
            task.await.unwrap();
        }
    });
}

/// `test_wait_on_set`.
#[test]
fn event_wait_on_set() {
    run(async {
        let event = Event::new();
        event.set();
        event.wait().await;
        assert!(event.is_set());
    });
}

/// `test_wait_cancel`: a cancelled wait leaves no waiter behind.
#[test]
fn event_wait_cancel() {
    run(async {
        let event = Rc::new(Event::new());
        let waiter = spawn({
            let event = event.clone();
            async move { event.wait().await }
        });
        yield_now().await;
        assert!(format!("{event:?}").contains("waiting: 1"), "{event:?}");
        waiter.abort();
        assert!(cancelled(waiter).await);
        assert!(format!("{event:?}").contains("waiting: 0"), "{event:?}");
    });
}

/// `test_clear`.
#[test]
fn event_clear() {
    let event = Event::new();
    assert!(!event.is_set());
    event.set();
    assert!(event.is_set());
    event.clear();
    assert!(!event.is_set());
}

/// `test_clear_with_waiters`: a waiter woken by `set` returns even if `clear` came before
/// it ran; setting again changes nothing for it.
#[test]
fn event_clear_with_waiters() {
    run(async {
        let event = Rc::new(Event::new());
        let result = log();
        let task = spawn({
            let (event, result) = (event.clone(), result.clone());
            async move {
                event.wait().await;
                result.borrow_mut().push(1);
                true
            }
        });
        yield_now().await;
        assert_eq!(seen(&result), []);

        event.set();
        event.clear();
        assert!(!event.is_set());
        event.set();
        event.set();
        assert!(event.is_set());

        yield_now().await;
        assert_eq!(seen(&result), [1]);
        assert!(format!("{event:?}").contains("waiting: 0"), "{event:?}");
        assert!(task.await.unwrap());
    });
}

// ---- ConditionTests ----

/// A task that takes `lock`, waits on `cond`, records `n`, and holds the lock until
/// `release` fires.
fn cond_waiter(
    lock: &Rc<Lock<()>>,
    cond: &Rc<Condition>,
    result: &Log<u32>,
    n: u32,
) -> (JoinHandle<()>, oneshot::Sender<()>) {
    let (release, released) = oneshot::channel();
    let (lock, cond, result) = (lock.clone(), cond.clone(), result.clone());
    let task = spawn(async move {
        let guard = lock.acquire().await;
        let _guard = cond.wait(guard).await;
        result.borrow_mut().push(n);
        let _ = released.await;
    });
    (task, release)
}

/// `test_wait`: waiting releases the lock; a notified waiter runs only once it has the
/// lock back, in the order the waiters came.
#[test]
fn condition_wait() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let result = log();
        let (t1, r1) = cond_waiter(&lock, &cond, &result, 1);
        let (t2, r2) = cond_waiter(&lock, &cond, &result, 2);
        let (t3, r3) = cond_waiter(&lock, &cond, &result, 3);
        settle().await;
        assert_eq!(seen(&result), []);
        assert!(!lock.locked(), "every waiter released the lock");

        let guard = lock.acquire().await;
        cond.notify(1);
        settle().await;
        assert_eq!(seen(&result), [], "notified, but the lock is still ours");
        assert!(lock.locked());

        drop(guard);
        settle().await;
        assert_eq!(seen(&result), [1]);
        assert!(lock.locked(), "t1 holds it now");

        cond.notify(2);
        settle().await;
        assert_eq!(seen(&result), [1]);

        r1.send(()).unwrap();
        settle().await;
        assert_eq!(seen(&result), [1, 2]);
        assert!(lock.locked());

        r2.send(()).unwrap();
        settle().await;
        assert_eq!(seen(&result), [1, 2, 3]);
        assert!(lock.locked());

        r3.send(()).unwrap();
        for task in [t1, t2, t3] {
            task.await.unwrap();
        }
        assert!(!lock.locked());
    });
}

/// `test_wait_cancel`: a cancelled wait leaves the condition's line. asyncio then holds
/// the lock again (its `wait` re-acquires even when cancelled, for the `async with`
/// block around it); in Rust the guard went into the `wait` future and is dropped with
/// it, so the lock is free and no code is left believing it holds the lock.
#[test]
fn condition_wait_cancel() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let waiter = spawn({
            let (lock, cond) = (lock.clone(), cond.clone());
            async move {
                let guard = lock.acquire().await;
                drop(cond.wait(guard).await);
            }
        });
        settle().await;
        assert!(format!("{cond:?}").contains("waiting: 1"), "{cond:?}");
        waiter.abort();
        assert!(cancelled(waiter).await);
        assert!(format!("{cond:?}").contains("waiting: 0"), "{cond:?}");
        assert!(!lock.locked());
        assert!(lock.try_acquire().is_some());
    });
}

/// `test_wait_cancel_contested`: the waiter is notified while the lock is contested,
/// then cancelled as the lock is released. The lock is not lost: it is free afterwards,
/// and nobody holds a guard it does not know of.
#[test]
fn condition_wait_cancel_contested() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let returned = Rc::new(Cell::new(false));
        let waiter = spawn({
            let (lock, cond, returned) = (lock.clone(), cond.clone(), returned.clone());
            async move {
                let guard = lock.acquire().await;
                let _guard = cond.wait(guard).await;
                returned.set(true);
            }
        });
        yield_now().await;
        assert!(!lock.locked());

        let guard = lock.acquire().await;
        assert!(lock.locked());
        cond.notify(1);
        waiter.abort();
        drop(guard);
        assert!(cancelled(waiter).await);
        assert!(!returned.get());
        assert!(!lock.locked());
        assert!(format!("{cond:?}").contains("waiting: 0"), "{cond:?}");
    });
}

/// `test_wait_cancel_after_notify` (bpo-32841): the waiter, notified, is waiting for the
/// lock when it is cancelled. It leaves the lock's line, so the release that follows
/// leaves the lock free instead of handing it to a task that is gone.
#[test]
fn condition_wait_cancel_after_notify() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let waited = Rc::new(Cell::new(false));
        let waiter = spawn({
            let (lock, cond, waited) = (lock.clone(), cond.clone(), waited.clone());
            async move {
                let guard = lock.acquire().await;
                waited.set(true);
                drop(cond.wait(guard).await);
            }
        });
        yield_now().await; // start waiting

        let guard = lock.acquire().await;
        cond.notify(1);
        yield_now().await; // the waiter now waits for the lock
        assert!(format!("{lock:?}").contains("waiting: 1"), "{lock:?}");
        waiter.abort();
        yield_now().await; // the cancellation happens
        assert!(format!("{lock:?}").contains("waiting: 0"), "{lock:?}");
        drop(guard);
        yield_now().await;

        assert!(cancelled(waiter).await);
        assert!(waited.get());
        assert!(!lock.locked());
    });
}

/// `test_wait_for`: the predicate sees the guarded value, and is checked again after
/// every notification, with the lock held.
#[test]
fn condition_wait_for() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(false)), Rc::new(Condition::new()));
        let result = log();
        let task = spawn({
            let (lock, cond, result) = (lock.clone(), cond.clone(), result.clone());
            async move {
                let guard = lock.acquire().await;
                let guard = cond.wait_for(guard, |ready: &bool| *ready).await;
                assert!(*guard);
                result.borrow_mut().push(1);
                true
            }
        });
        settle().await;
        assert_eq!(seen(&result), []);

        let guard = lock.acquire().await;
        cond.notify(1);
        drop(guard);
        settle().await;
        assert_eq!(
            seen(&result),
            [],
            "woken, the predicate still false: waits again"
        );

        let mut guard = lock.acquire().await;
        *guard = true;
        cond.notify(1);
        drop(guard);
        settle().await;
        assert_eq!(seen(&result), [1]);
        assert!(task.await.unwrap());
    });
}

/// `test_wait_for_unacquired`, the half that applies: a predicate already true returns
/// at once, without waiting or releasing the lock.
#[test]
fn condition_wait_for_true_at_once() {
    run(async {
        let (lock, cond) = (Lock::new(vec![1, 2, 3]), Condition::new());
        let guard = cond
            .wait_for(lock.acquire().await, |v: &Vec<i32>| !v.is_empty())
            .await;
        assert_eq!(*guard, [1, 2, 3]);
        assert!(lock.locked());
    });
}

/// A task that takes `lock`, waits on `cond`, records `n` and releases.
fn notified(
    lock: &Rc<Lock<()>>,
    cond: &Rc<Condition>,
    result: &Log<u32>,
    n: u32,
) -> JoinHandle<()> {
    let (lock, cond, result) = (lock.clone(), cond.clone(), result.clone());
    spawn(async move {
        let guard = lock.acquire().await;
        let _guard = cond.wait(guard).await;
        result.borrow_mut().push(n);
    })
}

/// `test_notify`: `notify(n)` wakes at most `n`, the longest-waiting first.
#[test]
fn condition_notify() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let result = log();
        let tasks = [1, 2, 3].map(|n| notified(&lock, &cond, &result, n));
        settle().await;
        assert_eq!(seen(&result), []);

        let guard = lock.acquire().await;
        cond.notify(1);
        drop(guard);
        settle().await;
        assert_eq!(seen(&result), [1]);

        let guard = lock.acquire().await;
        cond.notify(1);
        cond.notify(2048);
        drop(guard);
        settle().await;
        assert_eq!(seen(&result), [1, 2, 3]);
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// `test_notify_all`.
#[test]
fn condition_notify_all() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let result = log();
        let tasks = [1, 2].map(|n| notified(&lock, &cond, &result, n));
        settle().await;
        assert_eq!(seen(&result), []);

        let guard = lock.acquire().await;
        cond.notify_all();
        drop(guard);
        settle().await;
        assert_eq!(seen(&result), [1, 2]);
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// `test_timeout_in_block`: a wait under a timeout ends at the deadline, exactly; the
/// guard goes with the dropped wait, so the lock is free.
#[test]
fn condition_timeout_in_block() {
    run(async {
        let (lock, cond) = (Lock::new(()), Condition::new());
        let start = now();
        let guard = lock.acquire().await;
        assert!(timeout(500 * MS, cond.wait(guard)).await.is_err());
        assert_eq!(now() - start, 500 * MS);
        assert!(!lock.locked());
        assert!(format!("{cond:?}").contains("waiting: 0"), "{cond:?}");
    });
}

/// The consumers of `test_cancelled_wakeup` and `test_cancelled_wakeup_relock`: wait for
/// `state != 0`, take one, stop when `state < 0`.
fn consumer(lock: &Rc<Lock<i32>>, cond: &Rc<Condition>) -> JoinHandle<()> {
    let (lock, cond) = (lock.clone(), cond.clone());
    spawn(async move {
        let mut state = lock.acquire().await;
        loop {
            state = cond.wait_for(state, |s: &i32| *s != 0).await;
            if *state < 0 {
                return;
            }
            *state -= 1;
        }
    })
}

/// `test_cancelled_wakeup` (gh-112202): the consumer given the one notification is
/// cancelled before it runs. Its wait passes the notification on, so the other consumer
/// takes the item.
#[test]
fn condition_cancelled_wakeup() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(0)), Rc::new(Condition::new()));
        let c = [consumer(&lock, &cond), consumer(&lock, &cond)];
        yield_now().await;

        let mut state = lock.acquire().await;
        *state += 1;
        cond.notify(1);
        c[0].abort(); // before it runs
        drop(state);
        sleep(10 * MS).await;
        let mut state = lock
            .try_acquire()
            .expect("the lock was lost with the cancelled task");
        assert_eq!(
            *state, 0,
            "the notification was lost with the cancelled task"
        );

        *state = -1;
        cond.notify_all();
        drop(state);
        let [c0, c1] = c;
        assert!(cancelled(c0).await);
        c1.await.unwrap();
    });
}

/// `test_cancelled_wakeup_relock`: the same, but the consumer is cancelled while it waits
/// to take the lock back (the notification already used to wake it).
#[test]
fn condition_cancelled_wakeup_relock() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(0)), Rc::new(Condition::new()));
        let c = [consumer(&lock, &cond), consumer(&lock, &cond)];
        yield_now().await;

        let mut state = lock.acquire().await;
        *state += 1;
        cond.notify(1);
        yield_now().await; // c[0] wakes and waits for the lock
        assert!(format!("{lock:?}").contains("waiting: 1"), "{lock:?}");
        c[0].abort();
        drop(state);
        sleep(10 * MS).await;
        let mut state = lock
            .try_acquire()
            .expect("the lock was lost with the cancelled task");
        assert_eq!(
            *state, 0,
            "the notification was lost with the cancelled task"
        );

        *state = -1;
        cond.notify_all();
        drop(state);
        let [c0, c1] = c;
        assert!(cancelled(c0).await);
        c1.await.unwrap();
    });
}

// ---- SemaphoreTests ----

/// A task that takes a permit, records `n` and keeps the permit until aborted.
fn permit_holder(sem: &Rc<Semaphore>, result: &Log<u32>, n: u32) -> JoinHandle<()> {
    let (sem, result) = (sem.clone(), result.clone());
    spawn(async move {
        let _permit = sem.acquire().await;
        result.borrow_mut().push(n);
        pending::<()>().await;
    })
}

/// `test_initial_value_zero`.
#[test]
fn semaphore_initial_value_zero() {
    let sem = Semaphore::new(0);
    assert_eq!(sem.available_permits(), 0);
    assert!(sem.try_acquire().is_none());
}

/// `test_acquire`: two permits released while two tasks wait and a third (t4) is about
/// to ask go to the two that wait. asyncio's test only checks that two of the three got
/// one; with hand-off it is exactly t2 and t3, and t4 waits.
#[test]
fn semaphore_acquire() {
    run(async {
        let sem = Rc::new(Semaphore::new(3));
        let result = log();
        let first = sem.acquire().await;
        let second = sem.acquire().await;
        assert_eq!(sem.available_permits(), 1);

        let mut tasks = vec![
            permit_holder(&sem, &result, 1),
            permit_holder(&sem, &result, 2),
            permit_holder(&sem, &result, 3),
        ];
        yield_now().await;
        assert_eq!(seen(&result), [1]);
        assert_eq!(sem.available_permits(), 0);
        assert!(format!("{sem:?}").contains("waiting: 2"), "{sem:?}");

        tasks.push(permit_holder(&sem, &result, 4));
        drop(first);
        drop(second);
        assert_eq!(sem.available_permits(), 0, "both handed to the waiters");

        yield_now().await;
        assert_eq!(seen(&result), [1, 2, 3]);
        assert_eq!(sem.available_permits(), 0);
        assert!(format!("{sem:?}").contains("waiting: 1"), "{sem:?}");

        for task in tasks {
            task.abort();
            assert!(cancelled(task).await);
        }
        assert_eq!(sem.available_permits(), 3);
    });
}

/// `test_acquire_cancel`.
#[test]
fn semaphore_acquire_cancel() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let permit = sem.acquire().await;
        let waiter = spawn({
            let sem = sem.clone();
            async move { drop(sem.acquire().await) }
        });
        yield_now().await;
        waiter.abort();
        assert!(cancelled(waiter).await);
        assert!(format!("{sem:?}").contains("waiting: 0"), "{sem:?}");
        drop(permit);
        assert_eq!(sem.available_permits(), 1);
    });
}

/// `test_acquire_cancel_before_awoken` (gh-90155): the permit goes to t1, cancelled in
/// the same turn; t1 passes it to t2, cancelled too, which passes it to t3.
#[test]
fn semaphore_acquire_cancel_before_awoken() {
    run(async {
        let sem = Rc::new(Semaphore::new(0));
        let result = log();
        let [t1, t2, t3, t4] = [1, 2, 3, 4].map(|n| permit_holder(&sem, &result, n));
        yield_now().await;

        t1.abort();
        t2.abort();
        sem.add_permits(1);
        yield_now().await;
        yield_now().await;
        assert_eq!(seen(&result), [3]);
        assert!(!t4.is_finished());

        for task in [t1, t2, t3, t4] {
            task.abort();
            assert!(cancelled(task).await);
        }
        assert_eq!(sem.available_permits(), 1);
    });
}

/// `test_acquire_hang` (gh-90155): the permit handed to a cancelled waiter is not lost.
#[test]
fn semaphore_acquire_hang() {
    run(async {
        let sem = Rc::new(Semaphore::new(0));
        let result = log();
        let t1 = permit_holder(&sem, &result, 1);
        let t2 = permit_holder(&sem, &result, 2);
        yield_now().await;

        t1.abort();
        sem.add_permits(1);
        yield_now().await;
        yield_now().await;
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(seen(&result), [2]);
        assert!(cancelled(t1).await);
        t2.abort();
        assert!(cancelled(t2).await);
    });
}

/// `test_acquire_no_hang`: t1 releases its permit to t2 and cancels t2 before t2 runs;
/// the permit comes back, and a later acquire does not wait.
#[test]
fn semaphore_acquire_no_hang() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let t2_slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let t1 = spawn({
            let (sem, t2_slot) = (sem.clone(), t2_slot.clone());
            async move {
                {
                    let _permit = sem.acquire().await;
                    yield_now().await;
                }
                t2_slot.borrow().as_ref().unwrap().abort();
            }
        });
        let t2 = spawn({
            let sem = sem.clone();
            async move {
                let _permit = sem.acquire().await;
                unreachable!("t2 was cancelled before it ran");
            }
        });
        *t2_slot.borrow_mut() = Some(t2);
        t1.await.unwrap();
        let t2 = t2_slot.borrow_mut().take().unwrap();
        assert!(cancelled(t2).await);
        let start = now();
        assert!(timeout(Duration::from_secs(1), sem.acquire()).await.is_ok());
        assert_eq!(now(), start, "no wait");
    });
}

/// `test_acquire_fifo_order`, with its sleeps on the virtual clock: exact order and
/// exact times.
#[test]
fn semaphore_acquire_fifo_order() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let result: Log<(String, Duration)> = log();
        let start = now();
        let tasks = ["c1", "c2", "c3"].map(|tag| {
            let (sem, result) = (sem.clone(), result.clone());
            spawn(async move {
                for round in 1..=2 {
                    let permit = sem.acquire().await;
                    result
                        .borrow_mut()
                        .push((format!("{tag}_{round}"), now() - start));
                    sleep(10 * MS).await;
                    drop(permit);
                }
            })
        });
        for task in tasks {
            task.await.unwrap();
        }
        let expected = ["c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"]
            .iter()
            .enumerate()
            .map(|(i, tag)| (tag.to_string(), 10 * MS * i as u32))
            .collect::<Vec<_>>();
        assert_eq!(seen(&result), expected);
    });
}

/// `test_acquire_fifo_order_2`. asyncio makes t2's second acquire wait until t3 has run,
/// though t3 already has its permit; with hand-off, t3's permit is t3's, and the one t2
/// gives back is free, so t2 takes it again at once. Nobody is passed over: t3 never
/// waited for that permit. (asyncio: `[1, 2, 3, 4]`.)
#[test]
fn semaphore_acquire_fifo_order_2() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let result = log();
        let t1 = permit_holder(&sem, &result, 1);
        let t2 = spawn({
            let (sem, result) = (sem.clone(), result.clone());
            async move {
                let permit = sem.acquire().await;
                result.borrow_mut().push(2);
                drop(permit);
                let _permit = sem.acquire().await;
                result.borrow_mut().push(4);
            }
        });
        let t3 = permit_holder(&sem, &result, 3);
        yield_now().await;

        sem.add_permits(2); // asyncio's two `release()` calls
        settle().await;
        assert_eq!(seen(&result), [1, 2, 4, 3]);
        t2.await.unwrap();
        for task in [t1, t3] {
            task.abort();
            assert!(cancelled(task).await);
        }
        assert_eq!(sem.available_permits(), 3);
    });
}

/// `test_acquire_fifo_order_3`: a cancelled waiter is skipped.
#[test]
fn semaphore_acquire_fifo_order_3() {
    run(async {
        let sem = Rc::new(Semaphore::new(0));
        let result = log();
        let [t1, t2, t3] = [1, 2, 3].map(|n| permit_holder(&sem, &result, n));
        yield_now().await;
        t1.abort();
        yield_now().await;
        sem.add_permits(2);
        settle().await;
        assert_eq!(seen(&result), [2, 3]);
        assert!(cancelled(t1).await);
        for task in [t2, t3] {
            task.abort();
            assert!(cancelled(task).await);
        }
    });
}

/// `test_acquire_fifo_order_4`. asyncio makes c2 and c3 wait until c1, which was handed
/// a permit, has run. Here c1's permit is c1's from the moment of the release, and the
/// two other permits are free for c2 and c3 at once. (asyncio: `[1, 2, 3, 4]`.)
#[test]
fn semaphore_acquire_fifo_order_4() {
    run(async {
        let sem = Rc::new(Semaphore::new(0));
        let result = log();
        let t4_slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let c1 = spawn({
            let (sem, result, t4_slot) = (sem.clone(), result.clone(), t4_slot.clone());
            async move {
                assert_eq!(sem.available_permits(), 0);
                let _permit = sem.acquire().await;
                assert_eq!(
                    sem.available_permits(),
                    2,
                    "c2 and c3 came and went meanwhile"
                );
                let result4 = result.clone();
                *t4_slot.borrow_mut() = Some(spawn(async move { result4.borrow_mut().push(4) }));
                result.borrow_mut().push(1);
            }
        });
        let c2 = spawn({
            let (sem, result) = (sem.clone(), result.clone());
            async move {
                sem.add_permits(3);
                assert_eq!(sem.available_permits(), 2, "one was handed to c1");
                let _permit = sem.acquire().await;
                result.borrow_mut().push(2);
            }
        });
        let c3 = spawn({
            let (sem, result) = (sem.clone(), result.clone());
            async move {
                let _permit = sem.acquire().await;
                result.borrow_mut().push(3);
            }
        });
        for task in [c1, c2, c3] {
            task.await.unwrap();
        }
        let t4 = t4_slot.borrow_mut().take().unwrap();
        t4.await.unwrap();
        assert_eq!(seen(&result), [2, 3, 1, 4]);
        assert_eq!(sem.available_permits(), 3);
    });
}

// ---- BarrierTests ----

const N: usize = 5;

/// Runs `n` tasks of `body` and returns their outputs in spawn order.
async fn gather_tasks<T: 'static, F: Future<Output = T> + 'static>(
    n: usize,
    mut body: impl FnMut() -> F,
) -> Vec<T> {
    let tasks: Vec<_> = (0..n).map(|_| spawn(body())).collect();
    let mut outputs = Vec::new();
    for task in tasks {
        outputs.push(task.await.unwrap());
    }
    outputs
}

/// `test_barrier_parties`.
#[test]
#[should_panic(expected = "Barrier::new(0)")]
fn barrier_parties() {
    let _ = Barrier::new(0);
}

/// `test_context_manager`: every party passes; exactly one is the leader.
#[test]
fn barrier_leader() {
    run(async {
        let barrier = Rc::new(Barrier::new(3));
        let results = gather_tasks(3, || {
            let barrier = barrier.clone();
            async move { barrier.wait().await.unwrap().is_leader() }
        })
        .await;
        assert_eq!(results.iter().filter(|&&leader| leader).count(), 1);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

/// Not in asyncio (whose `wait` returns an arrival index instead): the leader is the
/// task whose arrival fills the barrier, and every party leaves at that moment.
#[test]
fn barrier_the_last_to_arrive_leads_and_all_leave_when_it_arrives() {
    run(async {
        let barrier = Rc::new(Barrier::new(3));
        let start = now();
        let results = gather_tasks(3, {
            let mut arrival = 0;
            move || {
                arrival += 1;
                let (barrier, late) = (barrier.clone(), 10 * MS * (4 - arrival));
                async move {
                    sleep(late).await; // arrive at 30, 20, then 10 ms
                    let leader = barrier.wait().await.unwrap().is_leader();
                    (late, leader, now() - start)
                }
            }
        })
        .await;
        assert_eq!(
            results,
            [
                (30 * MS, true, 30 * MS),
                (20 * MS, false, 30 * MS),
                (10 * MS, false, 30 * MS)
            ]
        );
    });
}

/// `test_filling_one_task` and `test_filling_one_task_twice`.
#[test]
fn barrier_filling_one_task() {
    run(async {
        let barrier = Barrier::new(1);
        assert!(barrier.wait().await.unwrap().is_leader());
        assert!(barrier.wait().await.unwrap().is_leader());
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

/// `test_filling_task_by_task`.
#[test]
fn barrier_filling_task_by_task() {
    run(async {
        let barrier = Rc::new(Barrier::new(3));
        let waiter = || {
            let barrier = barrier.clone();
            spawn(async move { barrier.wait().await.unwrap() })
        };
        let t1 = waiter();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 1);
        let t2 = waiter();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 2);
        let t3 = waiter();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 0);
        let leaders = [t1.await, t2.await, t3.await].map(|r| r.unwrap().is_leader());
        assert_eq!(leaders, [false, false, true]);
        assert!(!barrier.is_broken());
    });
}

/// `test_filling_tasks_wait_twice` and `test_filling_tasks_check_return_value`: one
/// leader per round.
#[test]
fn barrier_filling_tasks_wait_twice() {
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        let results = gather_tasks(N, || {
            let barrier = barrier.clone();
            async move {
                let first = barrier.wait().await.unwrap().is_leader();
                let second = barrier.wait().await.unwrap().is_leader();
                (first, second)
            }
        })
        .await;
        assert_eq!(results.iter().filter(|r| r.0).count(), 1);
        assert_eq!(results.iter().filter(|r| r.1).count(), 1);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

/// `test_blocking_tasks_while_draining`: two tasks go round again at once, the three
/// others first meet at a second barrier; the five meet again.
#[test]
fn barrier_blocking_tasks_while_draining() {
    run(async {
        let rewait = 2;
        let barrier = Rc::new(Barrier::new(N));
        let barrier_nowaiting = Rc::new(Barrier::new(N - rewait));
        let rewait_n = Rc::new(Cell::new(rewait));
        gather_tasks(N, || {
            let (barrier, nowaiting, rewait_n) =
                (barrier.clone(), barrier_nowaiting.clone(), rewait_n.clone());
            async move {
                barrier.wait().await.unwrap();
                if rewait_n.get() > 0 {
                    rewait_n.set(rewait_n.get() - 1);
                    barrier.wait().await.unwrap();
                } else {
                    nowaiting.wait().await.unwrap();
                    barrier.wait().await.unwrap();
                }
            }
        })
        .await;
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// `test_filling_tasks_cancel_one`: a cancelled party leaves the barrier.
#[test]
fn barrier_filling_tasks_cancel_one() {
    run(async {
        let barrier = Rc::new(Barrier::new(3));
        let passed = Rc::new(Cell::new(0));
        let party = || {
            let (barrier, passed) = (barrier.clone(), passed.clone());
            spawn(async move {
                barrier.wait().await.unwrap();
                passed.set(passed.get() + 1);
            })
        };
        let t1 = party();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 1);
        let t2 = party();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 2);

        t1.abort();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 1);
        assert!(cancelled(t1).await);

        let t3 = party();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 2);
        let t4 = party();
        for task in [t2, t3, t4] {
            task.await.unwrap();
        }
        assert_eq!(passed.get(), 3);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

/// `test_reset_barrier`.
#[test]
fn barrier_reset_empty() {
    let barrier = Barrier::new(1);
    barrier.reset();
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
}

/// `test_reset_barrier_while_tasks_waiting`: the waiting parties get the error; the
/// barrier is then empty and whole.
#[test]
fn barrier_reset_while_tasks_waiting() {
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        let tasks: Vec<_> = (0..N - 1)
            .map(|_| {
                let barrier = barrier.clone();
                spawn(async move { barrier.wait().await })
            })
            .collect();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), N - 1);
        barrier.reset();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap_err(), BrokenBarrier);
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

/// `test_reset_barrier_while_tasks_waiting_and_waiting_again`: after the reset, the
/// parties that got the error wait again, and with one more they all pass.
#[test]
fn barrier_reset_while_tasks_waiting_and_waiting_again() {
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        let (broken, passed) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let tasks: Vec<_> = (0..N - 1)
            .map(|_| {
                let (barrier, broken, passed) = (barrier.clone(), broken.clone(), passed.clone());
                spawn(async move {
                    if barrier.wait().await.is_err() {
                        broken.set(broken.get() + 1);
                    }
                    barrier.wait().await.unwrap();
                    passed.set(passed.get() + 1);
                })
            })
            .collect();
        yield_now().await;
        barrier.reset();
        yield_now().await;
        let last = spawn({
            let (barrier, passed) = (barrier.clone(), passed.clone());
            async move {
                barrier.wait().await.unwrap();
                passed.set(passed.get() + 1);
            }
        });
        for task in tasks {
            task.await.unwrap();
        }
        last.await.unwrap();
        assert_eq!(broken.get(), N - 1);
        assert_eq!(passed.get(), N);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

/// `test_reset_barrier_when_tasks_half_draining`, where handloop differs: asyncio keeps
/// a released barrier "draining" until every party has run, and a reset then breaks the
/// parties that have not run yet. Here a release is a hand-off: every party already has
/// its result, so a reset just after the release breaks no one who passed.
#[test]
fn barrier_reset_after_the_release_breaks_no_one_who_passed() {
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        let results = gather_tasks(N, || {
            let barrier = barrier.clone();
            async move {
                let result = barrier.wait().await;
                barrier.reset(); // the first to run resets, before the others ran
                result.is_ok()
            }
        })
        .await;
        assert_eq!(results, [true; N]);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

/// `test_abort_barrier`.
#[test]
fn barrier_abort() {
    run(async {
        let barrier = Barrier::new(1);
        barrier.abort();
        assert_eq!(barrier.n_waiting(), 0);
        assert!(barrier.is_broken());
        assert_eq!(
            barrier.wait().await.unwrap_err(),
            BrokenBarrier,
            "later callers too"
        );
    });
}

/// `test_abort_barrier_when_tasks_half_draining_half_blocking`, with handloop's
/// hand-off: every party passed the first round (none is broken after its release); of
/// the second round, the two that came back before the abort get the error, and so do
/// the two that come after it.
#[test]
fn barrier_abort_in_the_second_round() {
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        let count = Rc::new(Cell::new(0));
        let results = gather_tasks(N, || {
            let (barrier, count) = (barrier.clone(), count.clone());
            async move {
                let first = barrier.wait().await.is_ok();
                count.set(count.get() + 1);
                let second = if count.get() == 3 {
                    barrier.abort();
                    None
                } else {
                    Some(barrier.wait().await)
                };
                (first, second)
            }
        })
        .await;
        assert!(results.iter().all(|(first, _)| *first));
        let second: Vec<_> = results.iter().filter_map(|(_, second)| *second).collect();
        assert_eq!(second, [Err(BrokenBarrier); 4]);
        assert!(barrier.is_broken());
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// `test_abort_barrier_when_exception`: one party fails after the first round and
/// aborts; every other party's next wait gets the error.
#[test]
fn barrier_abort_when_a_party_fails() {
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        let (passed, broken) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        gather_tasks(N, || {
            let (barrier, passed, broken) = (barrier.clone(), passed.clone(), broken.clone());
            async move {
                let first = barrier.wait().await.unwrap();
                if first.is_leader() {
                    barrier.abort(); // "raise RuntimeError", then abort
                    return;
                }
                match barrier.wait().await {
                    Ok(_) => passed.set(passed.get() + 1),
                    Err(BrokenBarrier) => broken.set(broken.get() + 1),
                }
            }
        })
        .await;
        assert!(barrier.is_broken());
        assert_eq!(passed.get(), 0);
        assert_eq!(broken.get(), N - 1);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// `test_abort_barrier_when_exception_then_resetting`: after the abort, the parties meet
/// at a second barrier, whose leader resets the first; then they all pass the first.
#[test]
fn barrier_abort_then_reset() {
    run(async {
        let barrier1 = Rc::new(Barrier::new(N));
        let barrier2 = Rc::new(Barrier::new(N));
        let (passed1, broken, passed3) = (
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(0)),
        );
        gather_tasks(N, || {
            let (barrier1, barrier2) = (barrier1.clone(), barrier2.clone());
            let (passed1, broken, passed3) = (passed1.clone(), broken.clone(), passed3.clone());
            async move {
                let first = barrier1.wait().await.unwrap();
                if first.is_leader() {
                    barrier1.abort();
                } else {
                    match barrier1.wait().await {
                        Ok(_) => passed1.set(passed1.get() + 1),
                        Err(BrokenBarrier) => broken.set(broken.get() + 1),
                    }
                }
                // Meet first, so that everyone has left barrier1 before the reset, and
                // after, so that no one enters it before.
                if barrier2.wait().await.unwrap().is_leader() {
                    barrier1.reset();
                }
                barrier2.wait().await.unwrap();
                barrier1.wait().await.unwrap();
                passed3.set(passed3.get() + 1);
            }
        })
        .await;
        assert!(!barrier1.is_broken());
        assert_eq!(passed1.get(), 0);
        assert_eq!(broken.get(), N - 1);
        assert_eq!(passed3.get(), N);
        assert_eq!(barrier1.n_waiting(), 0);
    });
}

/// The clock never moved in the tests above that do not sleep: everything happened at
/// the instant the loop started.
#[test]
fn the_ports_without_sleeps_take_no_virtual_time() {
    run(async {
        let start: Instant = now();
        let sem = Rc::new(Semaphore::new(1));
        let result = log();
        let tasks = [1, 2, 3].map(|n| {
            let (sem, result) = (sem.clone(), result.clone());
            spawn(async move {
                let _permit = sem.acquire().await;
                yield_now().await;
                result.borrow_mut().push(n);
            })
        });
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(seen(&result), [1, 2, 3]);
        assert_eq!(now(), start);
    });
}
