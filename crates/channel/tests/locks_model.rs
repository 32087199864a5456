//! `Semaphore` checked against a reference model under random sequences of operations:
//! waiters that join, are polled, are dropped (before or after they were served),
//! permits given back, added, taken without waiting. The reference is a count of free
//! permits, a FIFO line of waiter ids and the set of waiters served but not yet polled.
//! After every step the semaphore must agree: which poll is ready, how many permits are
//! free, how many wait, and which wakers were called (each served waiter's once, no one
//! else's).
//!
//! `Lock`, `Condition` and `Event` serve their waiters with the same line and the same
//! tickets; the semaphore is the one with a count, so it exercises the most paths.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use common::{CountingWaker, poll_once};
use handloop_channel::locks::{Semaphore, SemaphoreAcquire, SemaphorePermit};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// A new `acquire`, polled once.
    Acquire,
    /// Poll the `n`-th waiting `acquire` (modulo how many there are).
    Poll(usize),
    /// Drop the `n`-th waiting `acquire`.
    DropWaiter(usize),
    /// Drop the `n`-th permit held.
    Release(usize),
    /// `add_permits(k)`.
    Add(usize),
    /// `try_acquire()`.
    TryAcquire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Acquire),
        3 => any::<usize>().prop_map(Op::Poll),
        1 => any::<usize>().prop_map(Op::DropWaiter),
        3 => any::<usize>().prop_map(Op::Release),
        1 => (0..4usize).prop_map(Op::Add),
        1 => Just(Op::TryAcquire),
    ]
}

/// The reference: what a FIFO semaphore with hand-off must do.
#[derive(Default)]
struct Model {
    permits: usize,
    /// Waiters not yet served, oldest first.
    line: VecDeque<u32>,
    /// Waiters served (handed a permit) whose future has not collected it.
    served: BTreeSet<u32>,
}

impl Model {
    /// A permit comes back: to the longest waiter, or to the free count.
    fn release(&mut self) {
        match self.line.pop_front() {
            Some(waiter) => {
                self.served.insert(waiter);
            }
            None => self.permits += 1,
        }
    }
}

/// A waiting `acquire` of the real semaphore, with its id and its waker's counter.
struct Waiter<'a> {
    id: u32,
    future: SemaphoreAcquire<'a>,
    woken: Arc<CountingWaker>,
    waker: std::task::Waker,
}

fn run(initial: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let sem = Semaphore::new(initial);
    let mut model = Model {
        permits: initial,
        ..Model::default()
    };
    let mut waiting: Vec<Waiter<'_>> = Vec::new();
    let mut held: Vec<SemaphorePermit<'_>> = Vec::new();
    let mut next_id = 0;

    for op in ops {
        match op {
            Op::Acquire => {
                let (woken, waker) = CountingWaker::new();
                let mut future = sem.acquire();
                let ready = poll_once(&mut future, &waker);
                if model.permits > 0 {
                    prop_assert!(model.line.is_empty(), "free permits while tasks wait");
                    model.permits -= 1;
                    let std::task::Poll::Ready(permit) = ready else {
                        return Err(TestCaseError::fail("a free permit, yet acquire waits"));
                    };
                    held.push(permit);
                } else {
                    prop_assert!(ready.is_pending(), "no free permit, yet acquire is ready");
                    model.line.push_back(next_id);
                    waiting.push(Waiter {
                        id: next_id,
                        future,
                        woken,
                        waker,
                    });
                    next_id += 1;
                }
            }
            Op::Poll(n) if !waiting.is_empty() => {
                let i = n % waiting.len();
                let waiter = &mut waiting[i];
                let id = waiter.id;
                match poll_once(&mut waiter.future, &waiter.waker) {
                    std::task::Poll::Ready(permit) => {
                        prop_assert!(model.served.remove(&id), "waiter {id} ready unserved");
                        held.push(permit);
                        waiting.remove(i);
                    }
                    std::task::Poll::Pending => {
                        prop_assert!(!model.served.contains(&id), "served {id} still pending");
                    }
                }
            }
            Op::DropWaiter(n) if !waiting.is_empty() => {
                let waiter = waiting.remove(n % waiting.len());
                if model.served.remove(&waiter.id) {
                    model.release(); // it passes its permit on
                } else {
                    model.line.retain(|&id| id != waiter.id);
                }
                drop(waiter);
            }
            Op::Release(n) if !held.is_empty() => {
                drop(held.remove(n % held.len()));
                model.release();
            }
            Op::Add(k) => {
                sem.add_permits(k);
                for _ in 0..k {
                    model.release();
                }
            }
            Op::TryAcquire => match sem.try_acquire() {
                Some(permit) => {
                    prop_assert!(model.permits > 0, "try_acquire took a permit not free");
                    model.permits -= 1;
                    held.push(permit);
                }
                None => prop_assert_eq!(model.permits, 0, "try_acquire refused a free permit"),
            },
            Op::Poll(_) | Op::DropWaiter(_) | Op::Release(_) => {} // nothing to act on
        }
        prop_assert_eq!(sem.available_permits(), model.permits);
        let debug = format!("{sem:?}");
        prop_assert!(
            debug.ends_with(&format!("waiting: {} }}", model.line.len())),
            "{debug} but {} in line",
            model.line.len()
        );
        for waiter in &waiting {
            let expected = usize::from(model.served.contains(&waiter.id));
            prop_assert_eq!(
                waiter.woken.wakes(),
                expected,
                "waiter {}'s wakes",
                waiter.id
            );
        }
    }
    // Everyone goes home: every permit comes back.
    let total = model.permits + held.len() + model.served.len();
    drop(waiting);
    drop(held);
    prop_assert_eq!(sem.available_permits(), total);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 512 },
        // Under Miri there is no file system to keep failing cases in.
        failure_persistence: if cfg!(miri) { None } else { ProptestConfig::default().failure_persistence },
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_semaphore_behaves_like_its_model(
        initial in 0..4usize,
        ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 40 } else { 200 }),
    ) {
        run(initial, ops)?;
    }
}
