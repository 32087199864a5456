//! Wakers whose `clone` comes back to the primitive that clones them. A waker's `clone` is
//! its owner's code, like its `wake` and its `drop`: the line must be whole, and its
//! decisions made afresh, once the clone returns.
//!
//! The primitives and wakers here are leaked (`Box::leak`), so that a waker's `'static`
//! clone hook can reach them; Miri would report those leaks, and the code under test
//! (`TicketLine`, `Barrier`) has no `unsafe`, so this file is not built under Miri.
#![cfg(not(miri))]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use handloop_channel::locks::{
    Barrier, Event, Lock, LockGuard, Semaphore, SemaphoreAcquire, SemaphorePermit,
};

/// A waker's owner: counts its wakes, and runs `on_clone` (once) the first time the waker
/// is cloned.
struct Hook {
    wakes: Cell<usize>,
    on_clone: Cell<Option<Box<dyn FnOnce()>>>,
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);

fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a leaked, never freed `Hook` (see `hook`), used on this thread only.
    let hook = unsafe { &*data.cast::<Hook>() };
    if let Some(action) = hook.on_clone.take() {
        action();
    }
    RawWaker::new(data, &VTABLE)
}

fn wake(data: *const ()) {
    // SAFETY: as in `clone`.
    let hook = unsafe { &*data.cast::<Hook>() };
    hook.wakes.set(hook.wakes.get() + 1);
}

fn drop(_: *const ()) {}

/// A hook that lives for the rest of the test (leaked), and a waker for it.
fn hook(on_clone: Option<Box<dyn FnOnce()>>) -> (&'static Hook, Waker) {
    let hook: &'static Hook = Box::leak(Box::new(Hook {
        wakes: Cell::new(0),
        on_clone: Cell::new(on_clone),
    }));
    // SAFETY: the vtable's functions treat the data as the `Hook` it is; the tests poll on
    // one thread only.
    let waker = unsafe { Waker::from_raw(RawWaker::new((hook as *const Hook).cast(), &VTABLE)) };
    (hook, waker)
}

fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// `TicketLine::set_waker` decides whether the waiter stands in front before it clones
/// the new waker; a clone that gives a permit back serves that waiter meanwhile, and the
/// clone then replaced the waker of the next waiter, which is never woken.
#[test]
fn a_clone_that_serves_the_waiter_does_not_take_the_next_waiters_wake() {
    let sem: &'static Semaphore = Box::leak(Box::new(Semaphore::new(0)));
    let (first, first_waker) = hook(None);
    let (second, second_waker) = hook(None);
    let mut a = sem.acquire();
    let mut b = sem.acquire();
    assert!(poll(&mut a, &first_waker).is_pending());
    assert!(poll(&mut b, &second_waker).is_pending());
    // A is polled again through a new waker, whose clone gives a permit back: A is served
    // (and woken through its first waker) while its new waker is being cloned.
    let (_, releasing) = hook(Some(Box::new(move || sem.add_permits(1))));
    assert!(poll(&mut a, &releasing).is_pending());
    assert_eq!(first.wakes.get(), 1, "A was served and woken");
    let Poll::Ready(permit) = poll(&mut a, &first_waker) else {
        panic!("A was handed the permit")
    };
    std::mem::drop(permit); // hands it to B
    assert_eq!(
        second.wakes.get(),
        1,
        "B, handed the permit, is woken through its own waker"
    );
    assert!(poll(&mut b, &second_waker).is_ready());
}

/// `TicketLine::join` draws its ticket before it clones the waker; a clone that makes
/// another task join in the meantime stands in line before a smaller ticket, and serving
/// it "serves" the smaller one too: one permit, two holders.
#[test]
fn a_clone_that_joins_the_same_line_does_not_break_the_ticket_order() {
    let sem: &'static Semaphore = Box::leak(Box::new(Semaphore::new(0)));
    let b: &'static RefCell<SemaphoreAcquire<'static>> =
        Box::leak(Box::new(RefCell::new(sem.acquire())));
    let (_, b_waker) = hook(None);
    let b_waker: &'static Waker = Box::leak(Box::new(b_waker));
    // A's waker, when cloned, polls B (as an executor's code might): B joins the line
    // while A is joining it.
    let (_, joining) = hook(Some(Box::new(move || {
        assert!(poll(&mut *b.borrow_mut(), b_waker).is_pending());
    })));
    let mut a = sem.acquire();
    assert!(poll(&mut a, &joining).is_pending());
    sem.add_permits(1);
    let a_permit = match poll(&mut a, &joining) {
        Poll::Ready(permit) => Some(permit),
        Poll::Pending => None,
    };
    let b_permit = match poll(&mut *b.borrow_mut(), b_waker) {
        Poll::Ready(permit) => Some(permit),
        Poll::Pending => None,
    };
    assert!(
        !(a_permit.is_some() && b_permit.is_some()),
        "one permit was added, and both A and B hold one"
    );
    assert!(
        a_permit.is_some() || b_permit.is_some(),
        "the permit went to one of them"
    );
}
/// `Barrier::wait` cloned the waker while it held the line's `RefCell` borrow: a clone
/// that looks at the barrier (`n_waiting`) found it borrowed and panicked, and so did one
/// that breaks it (`abort`) when a waiting party is polled through a new waker.
#[test]
fn a_clone_may_use_the_barrier_that_clones_it() {
    let barrier: &'static Barrier = Box::leak(Box::new(Barrier::new(3)));
    let seen: &'static Cell<usize> = Box::leak(Box::new(Cell::new(usize::MAX)));
    let (_, looking) = hook(Some(Box::new(|| seen.set(barrier.n_waiting()))));
    let mut party = barrier.wait();
    assert!(poll(&mut party, &looking).is_pending());
    assert_eq!(
        seen.get(),
        0,
        "the clone saw the barrier before the party joined"
    );
    assert_eq!(barrier.n_waiting(), 1);
    // Polled again through a new waker, whose clone breaks the barrier: the party is
    // answered while its waker is cloned, and returns the error at once.
    let (_, aborting) = hook(Some(Box::new(|| barrier.abort())));
    assert_eq!(
        poll(&mut party, &aborting).map(|result| result.map(|r| r.is_leader())),
        Poll::Ready(Err(handloop_channel::locks::BrokenBarrier))
    );
}

/// A party whose waker's clone brings in the party it was missing leads the round
/// instead of waiting for a party that already came.
#[test]
fn a_clone_that_brings_the_last_party_in_makes_this_one_the_leader() {
    let barrier: &'static Barrier = Box::leak(Box::new(Barrier::new(2)));
    let other: &'static RefCell<_> = Box::leak(Box::new(RefCell::new(barrier.wait())));
    let (other_hook, other_waker) = hook(None);
    let other_waker: &'static Waker = Box::leak(Box::new(other_waker));
    let (_, bringing) = hook(Some(Box::new(move || {
        assert!(poll(&mut *other.borrow_mut(), other_waker).is_pending());
    })));
    let mut party = barrier.wait();
    assert_eq!(
        poll(&mut party, &bringing).map(|result| result.map(|r| r.is_leader())),
        Poll::Ready(Ok(true)),
        "the round is complete"
    );
    assert_eq!(other_hook.wakes.get(), 1);
    assert_eq!(
        poll(&mut *other.borrow_mut(), other_waker).map(|result| result.map(|r| r.is_leader())),
        Poll::Ready(Ok(false))
    );
    assert_eq!(barrier.n_waiting(), 0);
}

/// A task that finds the lock held, no permit free or the event not set goes to wait,
/// and joining the line clones its waker; a clone that releases the lock, gives the
/// permit back or sets the event, meanwhile, must not leave the task waiting for what is
/// already free (no one would ever wake it).
#[test]
fn a_clone_that_frees_what_the_task_waits_for_lets_it_through() {
    let lock: &'static Lock<()> = Box::leak(Box::new(Lock::new(())));
    let guard: &'static RefCell<Option<LockGuard<'static, ()>>> =
        Box::leak(Box::new(RefCell::new(lock.try_acquire())));
    let (_, unlocking) = hook(Some(Box::new(|| std::mem::drop(guard.take()))));
    let mut acquire = lock.acquire();
    assert!(
        poll(&mut acquire, &unlocking).is_ready(),
        "the lock was released while the waker was cloned"
    );

    let sem: &'static Semaphore = Box::leak(Box::new(Semaphore::new(1)));
    let permit: &'static RefCell<Option<SemaphorePermit<'static>>> =
        Box::leak(Box::new(RefCell::new(sem.try_acquire())));
    let (_, giving_back) = hook(Some(Box::new(|| std::mem::drop(permit.take()))));
    let mut acquire = sem.acquire();
    assert!(
        poll(&mut acquire, &giving_back).is_ready(),
        "the permit came back while the waker was cloned"
    );

    let event: &'static Event = Box::leak(Box::new(Event::new()));
    let (_, setting) = hook(Some(Box::new(|| event.set())));
    let mut wait = event.wait();
    assert!(
        poll(&mut wait, &setting).is_ready(),
        "the event was set while the waker was cloned"
    );
}
