//! The locks polled by hand, with no executor: each release is a hand-off (the waiter
//! is served, a running task cannot take what was released), and a waiting future
//! dropped at any point passes on what it was given (a lock, a permit, a notification).
//! Then the same primitives on tokio's and futures' executors, the holder a `Lock`
//! records, and wakers that come back to the primitive that woke them.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use common::{CountingWaker, poll_once};
use handloop_channel::locks::{Barrier, BrokenBarrier, Condition, Event, Lock, Semaphore};

fn is_pending<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> bool {
    poll_once(fut, waker).is_pending()
}

fn is_ready<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> bool {
    poll_once(fut, waker).is_ready()
}

// ---- Lock ----

#[test]
fn lock_release_hands_the_lock_to_the_waiter_and_no_one_else() {
    let lock = Lock::new(0);
    let mut guard = lock.try_acquire().expect("free");
    *guard = 1;
    let (woken, waker) = CountingWaker::new();
    let mut waiter = lock.acquire();
    assert!(is_pending(&mut waiter, &waker));
    assert!(lock.try_acquire().is_none());

    drop(guard);
    assert_eq!(woken.wakes(), 1);
    assert!(lock.locked(), "the lock now belongs to the waiter");
    assert!(
        lock.try_acquire().is_none(),
        "a running task cannot take it first"
    );
    let mut late = lock.acquire();
    assert!(
        is_pending(&mut late, Waker::noop()),
        "nor can a new acquire"
    );

    let Poll::Ready(mut guard) = poll_once(&mut waiter, &waker) else {
        panic!("the waiter was handed the lock")
    };
    assert_eq!(*guard, 1);
    *guard = 2;
    drop(guard);
    let Poll::Ready(guard) = poll_once(&mut late, Waker::noop()) else {
        panic!("then the late one")
    };
    assert_eq!(*guard, 2);
    drop(guard);
    assert!(!lock.locked());
    drop((waiter, late));
    assert_eq!(lock.into_inner(), 2);
}

/// bpo-27585: a waiter dropped after the release handed it the lock (before it ran)
/// passes the lock to the next waiter, and wakes it.
#[test]
fn lock_a_waiter_dropped_after_the_hand_off_passes_the_lock_on() {
    let lock = Lock::new(());
    let guard = lock.try_acquire().unwrap();
    let (first_woken, first_waker) = CountingWaker::new();
    let (second_woken, second_waker) = CountingWaker::new();
    let mut first = lock.acquire();
    let mut second = lock.acquire();
    assert!(is_pending(&mut first, &first_waker));
    assert!(is_pending(&mut second, &second_waker));

    drop(guard);
    assert_eq!((first_woken.wakes(), second_woken.wakes()), (1, 0));
    drop(first);
    assert_eq!(second_woken.wakes(), 1, "the second waiter was not woken");
    assert!(lock.locked());
    assert!(is_ready(&mut second, &second_waker));
    assert!(!lock.locked());
}

#[test]
fn lock_a_waiter_dropped_from_the_middle_of_the_line_is_skipped() {
    let lock = Lock::new(Vec::new());
    let guard = lock.try_acquire().unwrap();
    let mut waiters: Vec<_> = (0..4).map(|_| Some(lock.acquire())).collect();
    for waiter in waiters.iter_mut().flatten() {
        assert!(is_pending(waiter, Waker::noop()));
    }
    waiters[1] = None;
    waiters[2] = None;
    drop(guard);
    for (n, waiter) in waiters.iter_mut().enumerate() {
        if let Some(waiter) = waiter {
            let Poll::Ready(mut guard) = poll_once(waiter, Waker::noop()) else {
                panic!("waiter {n} is next")
            };
            guard.push(n);
        }
    }
    drop(waiters);
    assert_eq!(lock.into_inner(), [0, 3]);
}

#[test]
fn lock_guard_gives_the_value_and_get_mut_needs_no_lock() {
    let mut lock = Lock::new(String::from("fleet"));
    lock.get_mut().push_str("-1");
    let guard = lock.try_acquire().unwrap();
    assert_eq!(guard.len(), 7);
    assert_eq!(*guard, "fleet-1");
    drop(guard);
    assert_eq!(
        format!("{:?}", Lock::new(5)),
        "Lock { locked: false, held_by: None, waiting: 0, value: 5 }"
    );
}

/// The `Lock` records the task that holds it (for a task dump, "Lock held by #4"): the
/// task that took it, or, after a hand-off, the waiter it was handed to. Off handloop's
/// loop there is no task id to record.
#[test]
fn a_lock_records_the_task_that_holds_it() {
    use handloop_executor::{EventLoop, spawn, yield_now};

    let lock = Lock::new(());
    let guard = lock.try_acquire().unwrap();
    assert!(format!("{lock:?}").contains("held_by: None"), "{lock:?}");
    drop(guard);

    EventLoop::new().block_on(async {
        let lock = Rc::new(Lock::new(()));
        let guard = lock.acquire().await;
        assert!(
            format!("{lock:?}").contains("held_by: Some(TaskId(0))"),
            "{lock:?}"
        );
        let waiter = spawn({
            let lock = lock.clone();
            async move {
                let _guard = lock.acquire().await;
                yield_now().await;
            }
        });
        let id = waiter.id().as_u64();
        yield_now().await;
        drop(guard);
        let held_by = format!("held_by: Some(TaskId({id}))");
        assert!(format!("{lock:?}").contains(&held_by), "{lock:?}");
        yield_now().await;
        assert!(format!("{lock:?}").contains(&held_by), "{lock:?}");
        waiter.await.unwrap();
        assert!(
            format!("{lock:?}").contains("locked: false, held_by: None"),
            "{lock:?}"
        );
    });
}

// ---- Semaphore ----

#[test]
fn semaphore_add_permits_serves_the_waiters_in_order_and_keeps_the_rest() {
    let sem = Semaphore::new(0);
    let (woken, waker) = CountingWaker::new();
    let mut waiters: Vec<_> = (0..3).map(|_| sem.acquire()).collect();
    for waiter in &mut waiters {
        assert!(is_pending(waiter, &waker));
    }
    sem.add_permits(2);
    assert_eq!(woken.wakes(), 2);
    assert_eq!(sem.available_permits(), 0);
    assert!(
        sem.try_acquire().is_none(),
        "the two permits belong to the first two"
    );
    assert!(is_pending(&mut waiters[2], &waker));
    let first = poll_once(&mut waiters[0], &waker);
    let second = poll_once(&mut waiters[1], &waker);
    assert!(first.is_ready() && second.is_ready());

    sem.add_permits(3);
    assert_eq!(woken.wakes(), 3);
    assert_eq!(sem.available_permits(), 2);
    let third = poll_once(&mut waiters[2], &waker);
    assert!(third.is_ready());
    drop((first, second, third));
    assert_eq!(sem.available_permits(), 5);
}

/// gh-90155: a waiter dropped after it was handed a permit passes it on.
#[test]
fn semaphore_a_waiter_dropped_after_the_hand_off_passes_the_permit_on() {
    let sem = Semaphore::new(1);
    let permit = sem.try_acquire().unwrap();
    let (second_woken, second_waker) = CountingWaker::new();
    let mut first = sem.acquire();
    let mut second = sem.acquire();
    assert!(is_pending(&mut first, Waker::noop()));
    assert!(is_pending(&mut second, &second_waker));
    drop(permit);
    drop(first);
    assert_eq!(second_woken.wakes(), 1);
    assert_eq!(sem.available_permits(), 0);
    let Poll::Ready(permit) = poll_once(&mut second, &second_waker) else {
        panic!("the permit was passed on")
    };
    drop(permit);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn semaphore_a_waiter_dropped_with_no_one_behind_gives_the_permit_back() {
    let sem = Semaphore::new(0);
    let mut waiter = sem.acquire();
    assert!(is_pending(&mut waiter, Waker::noop()));
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 0);
    drop(waiter);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 1, waiting: 0 }"
    );
}

#[test]
#[should_panic(
    expected = "Semaphore::add_permits(1): the permits would number more than \
                           usize::MAX (18446744073709551615 exist, 18446744073709551614 of \
                           them available)"
)]
fn semaphore_add_permits_past_usize_max_panics() {
    let sem = Semaphore::new(usize::MAX);
    let _held = sem.try_acquire().unwrap();
    sem.add_permits(1);
}

/// Permits that are held count too: adding one while every other permit is out would let
/// the releases overflow the free count (a wrap to zero in a release build).
#[test]
fn semaphore_add_permits_counts_the_permits_held() {
    let sem = Semaphore::new(usize::MAX - 1);
    let held = sem.try_acquire().unwrap();
    sem.add_permits(1); // usize::MAX permits in all: fine
    assert_eq!(sem.available_permits(), usize::MAX - 1);
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.add_permits(1)));
    assert!(refused.is_err(), "one more would exist than a usize counts");
    assert_eq!(sem.available_permits(), usize::MAX - 1, "nothing changed");
    drop(held);
    assert_eq!(sem.available_permits(), usize::MAX);
}

// ---- Condition ----

/// tokio#4618: a wait that was notified and dropped before it ran passes the
/// notification to the next waiter, instead of losing it.
#[test]
fn condition_a_wait_dropped_after_its_notification_passes_it_on() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    let (second_woken, second_waker) = CountingWaker::new();
    let mut first = cond.wait(lock.try_acquire().unwrap());
    assert!(is_pending(&mut first, Waker::noop()));
    let mut second = cond.wait(lock.try_acquire().unwrap());
    assert!(is_pending(&mut second, &second_waker));
    assert!(!lock.locked());

    cond.notify(1);
    assert_eq!(second_woken.wakes(), 0);
    drop(first);
    assert_eq!(second_woken.wakes(), 1, "the notification was lost");
    let Poll::Ready(guard) = poll_once(&mut second, &second_waker) else {
        panic!("the second wait has its notification and the lock is free")
    };
    assert!(lock.locked());
    drop(guard);
    assert!(format!("{cond:?}").contains("waiting: 0"), "{cond:?}");
}

/// The same, dropped later: woken, it went to take the lock back and waits for it.
#[test]
fn condition_a_wait_dropped_while_it_waits_for_the_lock_passes_its_notification_on() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    let (second_woken, second_waker) = CountingWaker::new();
    let mut first = cond.wait(lock.try_acquire().unwrap());
    assert!(is_pending(&mut first, Waker::noop()));
    let mut second = cond.wait(lock.try_acquire().unwrap());
    assert!(is_pending(&mut second, &second_waker));

    let guard = lock.try_acquire().unwrap();
    cond.notify(1);
    assert!(
        is_pending(&mut first, Waker::noop()),
        "waits for the lock now"
    );
    drop(guard); // hands the lock to `first`
    assert!(lock.locked());
    drop(first); // passes the lock on (no one waits for it) and the notification
    assert!(!lock.locked());
    assert_eq!(second_woken.wakes(), 1);
    assert!(is_ready(&mut second, &second_waker));
}

/// A wait is only for notifications that come after it (asyncio's, and a condition
/// variable's, rule): nothing is remembered when no one waits.
#[test]
fn condition_a_notification_with_no_one_waiting_is_not_kept() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    cond.notify(1);
    cond.notify_all();
    let mut wait = cond.wait(lock.try_acquire().unwrap());
    assert!(is_pending(&mut wait, Waker::noop()));
    cond.notify(5);
    assert!(is_ready(&mut wait, Waker::noop()));
}

#[test]
fn condition_notify_zero_wakes_no_one() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    let (woken, waker) = CountingWaker::new();
    let mut wait = cond.wait(lock.try_acquire().unwrap());
    assert!(is_pending(&mut wait, &waker));
    cond.notify(0);
    assert_eq!(woken.wakes(), 0);
    assert!(is_pending(&mut wait, &waker));
    assert_eq!(format!("{cond:?}"), "Condition { waiting: 1 }");
}

/// `wait` releases the lock to the task waiting for it (hand-off), and comes back in
/// line behind it.
#[test]
fn condition_wait_hands_the_lock_to_its_next_waiter() {
    let (lock, cond) = (Lock::new(0), Condition::new());
    let (woken, waker) = CountingWaker::new();
    let mut other = lock.acquire();
    let mut wait = cond.wait(lock.try_acquire().unwrap());
    assert!(is_pending(&mut other, &waker)); // the lock is held (by the guard in `wait`)
    assert!(is_pending(&mut wait, Waker::noop()));
    assert_eq!(woken.wakes(), 1);
    assert!(lock.locked(), "handed to `other`");
    cond.notify(1);
    assert!(
        is_pending(&mut wait, Waker::noop()),
        "notified, waits for the lock"
    );
    let Poll::Ready(mut guard) = poll_once(&mut other, &waker) else {
        panic!("`other` was handed the lock")
    };
    *guard += 1;
    drop(guard);
    let Poll::Ready(guard) = poll_once(&mut wait, Waker::noop()) else {
        panic!("then the wait takes it back")
    };
    assert_eq!(*guard, 1);
}

// ---- Event ----

#[test]
fn event_set_wakes_each_waiter_once_and_a_wait_after_clear_waits() {
    let event = Event::new();
    let (woken, waker) = CountingWaker::new();
    let mut waits: Vec<_> = (0..3).map(|_| event.wait()).collect();
    for wait in &mut waits {
        assert!(is_pending(wait, &waker));
    }
    assert!(
        is_pending(&mut waits[0], &waker),
        "polled again, still waiting"
    );
    event.set();
    event.set();
    assert_eq!(woken.wakes(), 3);
    event.clear();
    for wait in &mut waits {
        assert!(is_ready(wait, &waker), "woken by the set, cleared or not");
    }
    let mut late = event.wait();
    assert!(is_pending(&mut late, &waker));
    assert_eq!(format!("{event:?}"), "Event { is_set: false, waiting: 1 }");
}

#[test]
fn event_a_waiter_that_moves_is_woken_through_its_latest_waker() {
    let event = Event::new();
    let (old_woken, old_waker) = CountingWaker::new();
    let (new_woken, new_waker) = CountingWaker::new();
    let mut wait = event.wait();
    assert!(is_pending(&mut wait, &old_waker));
    assert!(is_pending(&mut wait, &new_waker));
    event.set();
    assert_eq!((old_woken.wakes(), new_woken.wakes()), (0, 1));
}

// ---- Barrier ----

#[test]
fn barrier_a_dropped_party_leaves_and_a_released_one_keeps_its_result() {
    let barrier = Barrier::new(2);
    let mut left = barrier.wait();
    assert!(is_pending(&mut left, Waker::noop()));
    drop(left);
    assert_eq!(barrier.n_waiting(), 0);

    let (woken, waker) = CountingWaker::new();
    let mut first = barrier.wait();
    assert!(is_pending(&mut first, &waker));
    let mut second = barrier.wait();
    let Poll::Ready(Ok(result)) = poll_once(&mut second, Waker::noop()) else {
        panic!("the second party fills the barrier")
    };
    assert!(result.is_leader());
    assert_eq!(woken.wakes(), 1);
    barrier.abort(); // after the release: does not touch `first`'s result
    let Poll::Ready(Ok(result)) = poll_once(&mut first, &waker) else {
        panic!("released before the abort")
    };
    assert!(!result.is_leader());
    assert_eq!(
        format!("{barrier:?}"),
        "Barrier { parties: 2, n_waiting: 0, broken: true }"
    );
}

#[test]
fn barrier_abort_wakes_every_party_with_the_error() {
    let barrier = Barrier::new(3);
    let (woken, waker) = CountingWaker::new();
    let mut waits: Vec<_> = (0..2).map(|_| barrier.wait()).collect();
    for wait in &mut waits {
        assert!(is_pending(wait, &waker));
    }
    barrier.abort();
    assert_eq!(woken.wakes(), 2);
    for wait in &mut waits {
        assert!(matches!(
            poll_once(wait, &waker),
            Poll::Ready(Err(BrokenBarrier))
        ));
    }
    barrier.reset();
    assert!(!barrier.is_broken());
    assert_eq!(
        BrokenBarrier.to_string(),
        "the barrier is broken (aborted, or reset while this task waited)"
    );
}

// ---- Wakers that come back ----

thread_local! {
    static SEMAPHORE: Semaphore = const { Semaphore::new(0) };
    static TAKEN: Cell<usize> = const { Cell::new(0) };
}

/// A waker that, when woken, takes a permit from the thread's `SEMAPHORE`, as an
/// executor that polls its task inside `wake` would.
struct Reentrant;

impl Wake for Reentrant {
    fn wake(self: Arc<Self>) {
        SEMAPHORE.with(|sem| {
            if let Some(permit) = sem.try_acquire() {
                TAKEN.set(TAKEN.get() + 1);
                drop(permit);
            }
            let _ = format!("{sem:?}"); // reads the state too
        });
    }
}

/// Every primitive calls wakers only after letting go of its state, so a waker that
/// comes straight back does not find it borrowed.
#[test]
fn a_woken_waker_may_use_the_primitive_that_woke_it() {
    let waker = Waker::from(Arc::new(Reentrant));
    SEMAPHORE.with(|sem| {
        let mut waiter = sem.acquire();
        assert!(is_pending(&mut waiter, &waker));
        sem.add_permits(2); // wakes the waiter, whose waker takes the second permit
        assert!(is_ready(&mut waiter, &waker));
    });
    assert_eq!(TAKEN.get(), 1);

    let event = Event::new();
    let mut wait = event.wait();
    assert!(is_pending(&mut wait, &waker));
    event.set();
    let (lock, cond) = (Lock::new(()), Condition::new());
    let mut wait = cond.wait(lock.try_acquire().unwrap());
    assert!(is_pending(&mut wait, &waker));
    cond.notify_all();
    let barrier = Barrier::new(2);
    let mut party = barrier.wait();
    assert!(is_pending(&mut party, &waker));
    barrier.abort();
}

/// A waker whose `wake` panics, as an executor whose run queue is full may: a `wake` that
/// serves many (here `Event::set`, `Semaphore::add_permits`, `Barrier::abort`) still wakes
/// every other task it served, then lets the panic go on to its caller.
#[test]
fn a_panicking_wake_does_not_cost_the_other_waiters_their_wake() {
    struct Full;
    impl Wake for Full {
        fn wake(self: Arc<Self>) {
            panic!("the run queue is full");
        }
    }
    let full = Waker::from(Arc::new(Full));
    let (woken, waker) = CountingWaker::new();
    let caught = |f: &dyn Fn()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));

    let event = Event::new();
    let (mut first, mut second) = (event.wait(), event.wait());
    assert!(is_pending(&mut first, &full) && is_pending(&mut second, &waker));
    assert!(caught(&|| event.set()).is_err(), "the panic reaches `set`");
    assert_eq!(woken.wakes(), 1, "the second waiter was woken all the same");
    assert!(is_ready(&mut second, &waker));

    let sem = Semaphore::new(0);
    let (mut first, mut second) = (sem.acquire(), sem.acquire());
    assert!(is_pending(&mut first, &full) && is_pending(&mut second, &waker));
    assert!(caught(&|| sem.add_permits(2)).is_err());
    assert_eq!(woken.wakes(), 2, "the second waiter was woken all the same");
    assert!(is_ready(&mut second, &waker));

    let barrier = Barrier::new(3);
    let (mut first, mut second) = (barrier.wait(), barrier.wait());
    assert!(is_pending(&mut first, &full) && is_pending(&mut second, &waker));
    assert!(caught(&|| barrier.abort()).is_err());
    assert_eq!(woken.wakes(), 3, "the second party was woken all the same");
    assert!(matches!(
        poll_once(&mut second, &waker),
        Poll::Ready(Err(BrokenBarrier))
    ));
}

// ---- Other executors ----

/// Six workers share `Semaphore::new(2)` on a given executor: never more than two at
/// once, and they get in in the order they asked.
async fn six_workers_two_permits(
    yield_now: impl Fn() -> Pin<Box<dyn Future<Output = ()>>>,
) -> (usize, Vec<usize>) {
    let sem = Semaphore::new(2);
    let (inside, most) = (Cell::new(0), Cell::new(0));
    let order = RefCell::new(Vec::new());
    let workers = (0..6).map(|n| {
        let (sem, inside, most, order, yield_now) = (&sem, &inside, &most, &order, &yield_now);
        async move {
            yield_now().await;
            let _permit = sem.acquire().await;
            order.borrow_mut().push(n);
            inside.set(inside.get() + 1);
            most.set(most.get().max(inside.get()));
            for _ in 0..3 {
                yield_now().await;
            }
            inside.set(inside.get() - 1);
        }
    });
    futures::future::join_all(workers).await;
    (most.get(), order.into_inner())
}

#[test]
fn a_semaphore_caps_the_work_on_tokio() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (most, order) = runtime.block_on(six_workers_two_permits(|| {
        Box::pin(tokio::task::yield_now())
    }));
    assert_eq!(most, 2);
    assert_eq!(order, [0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_semaphore_caps_the_work_on_futures_local_pool() {
    let (most, order) = futures::executor::LocalPool::new()
        .run_until(six_workers_two_permits(|| Box::pin(common::yield_now())));
    assert_eq!(most, 2);
    assert_eq!(order, [0, 1, 2, 3, 4, 5]);
}

/// A future polled by hand through `Pin`, to check the futures are `Unpin` (they keep
/// only a key to their place in line, not a place the line points into).
#[test]
fn the_waiting_futures_are_unpin() {
    fn unpin<F: Unpin>(_: &F) {}
    let (lock, sem, event, cond, barrier) = (
        Lock::new(()),
        Semaphore::new(1),
        Event::new(),
        Condition::new(),
        Barrier::new(1),
    );
    unpin(&lock.acquire());
    unpin(&sem.acquire());
    unpin(&event.wait());
    unpin(&cond.wait(lock.try_acquire().unwrap()));
    unpin(&barrier.wait());
    let mut acquire = sem.acquire();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut acquire).poll(&mut cx).is_ready());
}
