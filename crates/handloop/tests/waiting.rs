//! `as_completed` (outputs in finishing order, O(woken) per wake, a `Stream` too) and
//! `wait` (handles split into finished and pending, each `ReturnWhen` at its exact time).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use handloop::task::Builder;
use handloop::{
    JoinHandle, ReturnWhen, Runtime, as_completed, sleep, spawn, time, timeout, wait, yield_now,
};

fn virtual_runtime() -> Runtime {
    Runtime::builder().virtual_time().build().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Counts its drops.
struct OnDrop(Rc<Cell<u32>>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

// --- as_completed ---

#[test]
fn as_completed_hands_out_outputs_in_finishing_order_at_their_times() {
    let runtime = virtual_runtime();
    let seen = runtime.block_on(async {
        let start = time::now();
        let mut finished = as_completed([300, 100, 200, 100].map(|n| async move {
            sleep(ms(n)).await;
            n
        }));
        assert_eq!(finished.remaining(), 4);
        let mut seen = Vec::new();
        while let Some(n) = finished.next().await {
            seen.push((n, time::now() - start));
        }
        assert_eq!(finished.remaining(), 0);
        assert_eq!(finished.next().await, None, "and None again");
        seen
    });
    // Equal deadlines: argument order.
    assert_eq!(
        seen,
        [
            (100, ms(100)),
            (100, ms(100)),
            (200, ms(200)),
            (300, ms(300))
        ]
    );
}

#[test]
fn as_completed_of_nothing_ends_at_once() {
    handloop::run(async {
        let mut none = as_completed(Vec::<std::future::Ready<()>>::new());
        assert!(none.is_terminated());
        assert_eq!(none.next().await, None);
    });
}

#[test]
fn as_completed_borrows_locals_and_drops_the_rest_when_dropped() {
    let runtime = virtual_runtime();
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    runtime.block_on(async move {
        let names = ["slow".to_string(), "fast".to_string()];
        let mut finished = as_completed(names.iter().zip([ms(500), ms(10)]).map(|(name, t)| {
            let guard = OnDrop(d.clone());
            async move {
                let _guard = guard;
                sleep(t).await;
                name.as_str()
            }
        }));
        assert_eq!(finished.next().await, Some("fast"));
        assert_eq!(d.get(), 1);
        drop(finished);
        assert_eq!(d.get(), 2, "the slow one is dropped with the iterator");
    });
    assert_eq!(dropped.get(), 2);
}

#[test]
fn as_completed_keeps_a_wake_that_comes_between_two_nexts() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let mut finished = as_completed([ms(100), ms(200)].map(|t| async move {
            sleep(t).await;
            t
        }));
        assert_eq!(finished.next().await, Some(ms(100)));
        // Busy elsewhere while the second finishes: its wake waits for the next call.
        sleep(ms(1000)).await;
        assert_eq!(finished.next().await, Some(ms(200)));
        assert_eq!(time::now() - start, ms(1100), "no extra wait");
    });
}

#[test]
fn as_completed_is_a_stream() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let mut finished = as_completed([ms(20), ms(10), ms(30)].map(|t| async move {
            sleep(t).await;
            t
        }));
        assert_eq!(finished.size_hint(), (3, Some(3)));
        let mut out = Vec::new();
        while let Some(t) = poll_fn(|cx| Pin::new(&mut finished).poll_next(cx)).await {
            out.push(t);
            assert_eq!(finished.size_hint(), (3 - out.len(), Some(3 - out.len())));
        }
        assert_eq!(out, [ms(10), ms(20), ms(30)]);
        assert!(finished.is_terminated());
    });
}

#[test]
fn as_completed_over_join_handles_gives_their_results_as_tasks_finish() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let handles = [("a", 30), ("b", 10), ("c", 20)].map(|(name, t)| {
            handloop::task::Builder::new().name(name).spawn(async move {
                sleep(ms(t)).await;
                if name == "c" {
                    panic!("c failed");
                }
                name
            })
        });
        let mut finished = as_completed(handles);
        assert_eq!(finished.next().await.unwrap().unwrap(), "b");
        let c = finished.next().await.unwrap().unwrap_err();
        assert_eq!((c.name(), c.panic_message()), ("c", Some("c failed")));
        assert_eq!(finished.next().await.unwrap().unwrap(), "a");
    });
}

#[test]
fn as_completed_polls_only_the_woken_futures() {
    // 10,000 futures, each waiting on its own slot; waking one must poll one. (Fewer
    // under Miri, which is slow; the count per wake is the same.)
    const N: usize = if cfg!(miri) { 300 } else { 10_000 };
    let polls = Rc::new(Cell::new(0usize));
    let wakers: Rc<RefCell<Vec<Option<Waker>>>> = Rc::new(RefCell::new(vec![None; N]));
    let ready: Rc<RefCell<Vec<bool>>> = Rc::new(RefCell::new(vec![false; N]));
    handloop::run(async {
        let futures = (0..N).map(|i| {
            let (polls, wakers, ready) = (polls.clone(), wakers.clone(), ready.clone());
            poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                if ready.borrow()[i] {
                    Poll::Ready(i)
                } else {
                    wakers.borrow_mut()[i] = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        });
        let driver = {
            let (polls, wakers, ready) = (polls.clone(), wakers.clone(), ready.clone());
            spawn(async move {
                yield_now().await; // `next` has polled everything once
                assert_eq!(polls.get(), N);
                for i in (0..N).rev() {
                    let before = polls.get();
                    ready.borrow_mut()[i] = true;
                    wakers.borrow_mut()[i].take().unwrap().wake();
                    yield_now().await;
                    assert_eq!(polls.get() - before, 1, "one wake, one poll");
                }
            })
        };
        let mut finished = as_completed(futures);
        let mut order = Vec::with_capacity(N);
        while let Some(i) = finished.next().await {
            order.push(i);
        }
        assert_eq!(order, (0..N).rev().collect::<Vec<_>>());
        driver.await.unwrap();
    });
    assert_eq!(polls.get(), 2 * N);
}

// --- wait ---

/// Three named tasks: "a" returns at 100 ms, "b" panics at 200 ms, "c" returns at 300 ms;
/// handed to `wait` in the order c, a, b.
fn three_tasks() -> Vec<JoinHandle<&'static str>> {
    [("c", 300), ("a", 100), ("b", 200)]
        .map(|(name, t)| {
            Builder::new().name(name).spawn(async move {
                sleep(ms(t)).await;
                if name == "b" {
                    panic!("b failed");
                }
                name
            })
        })
        .into()
}

fn names(handles: &[JoinHandle<&'static str>]) -> Vec<String> {
    handles.iter().map(|h| h.name().to_string()).collect()
}

/// Runs `wait(three_tasks(), when)`: when it returned, and the names in done and pending.
fn wait_on_three(when: ReturnWhen) -> (Duration, Vec<String>, Vec<String>) {
    virtual_runtime().block_on(async move {
        let start = time::now();
        let (done, pending) = wait(three_tasks(), when).await;
        let at = time::now() - start;
        assert!(done.iter().all(JoinHandle::is_finished));
        assert!(!pending.iter().any(JoinHandle::is_finished));
        (at, names(&done), names(&pending))
    })
}

#[test]
fn wait_first_completed_returns_when_one_finishes() {
    assert_eq!(
        wait_on_three(ReturnWhen::FirstCompleted),
        (ms(100), vec!["a".into()], vec!["c".into(), "b".into()])
    );
}

#[test]
fn wait_first_exception_returns_when_one_panics() {
    assert_eq!(
        wait_on_three(ReturnWhen::FirstException),
        (ms(200), vec!["a".into(), "b".into()], vec!["c".into()])
    );
}

#[test]
fn wait_all_completed_returns_when_all_finish() {
    assert_eq!(
        wait_on_three(ReturnWhen::AllCompleted),
        (
            ms(300),
            vec!["c".into(), "a".into(), "b".into()],
            Vec::<String>::new()
        )
    );
    assert_eq!(ReturnWhen::default(), ReturnWhen::AllCompleted);
}

#[test]
fn wait_first_exception_does_not_count_a_cancellation() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let doomed = spawn(sleep(ms(1000)));
        let fine = spawn(sleep(ms(300)));
        let aborter = doomed.abort_handle();
        handloop::call_later(ms(100), move || aborter.abort());
        let (done, pending) = wait([doomed, fine], ReturnWhen::FirstException).await;
        // Cancelled at 100 ms; the wait went on until everything finished, at 300 ms.
        assert_eq!(time::now() - start, ms(300));
        assert_eq!((done.len(), pending.len()), (2, 0));
        let mut done = done.into_iter();
        assert!(done.next().unwrap().await.unwrap_err().is_cancelled());
        done.next().unwrap().await.unwrap();
    });
}

#[test]
fn wait_first_exception_with_no_panic_waits_for_all() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let tasks = [200, 100].map(|t| spawn(sleep(ms(t))));
        let (done, pending) = wait(tasks, ReturnWhen::FirstException).await;
        assert_eq!(time::now() - start, ms(200));
        assert_eq!((done.len(), pending.len()), (2, 0));
    });
}

#[test]
fn wait_hands_every_handle_back_nothing_detached_or_taken() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let (done, pending) = wait(three_tasks(), ReturnWhen::FirstCompleted).await;
        // The finished one's output is still in its handle, at once.
        let [a]: [_; 1] = done.try_into().unwrap();
        assert_eq!(a.await.unwrap(), "a");
        assert_eq!(time::now() - start, ms(100));
        // The pending ones still run and can be awaited (or aborted) as usual.
        let [c, b]: [_; 2] = pending.try_into().unwrap();
        assert_eq!(b.await.unwrap_err().panic_message(), Some("b failed"));
        assert_eq!(time::now() - start, ms(200));
        c.abort();
        assert!(c.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn wait_first_completed_lists_every_task_finished_by_then() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let tasks = [500, 100, 100].map(|t| spawn(sleep(ms(t))));
        let (done, pending) = wait(tasks, ReturnWhen::FirstCompleted).await;
        assert_eq!(time::now() - start, ms(100));
        assert_eq!((done.len(), pending.len()), (2, 1));
    });
}

#[test]
fn wait_on_finished_handles_returns_without_waiting() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let quick = spawn(async { 1 });
        let slow = spawn(async {
            sleep(ms(100)).await;
            2
        });
        yield_now().await;
        assert!(quick.is_finished());
        let (done, pending) = wait([slow, quick], ReturnWhen::FirstCompleted).await;
        assert_eq!(time::now(), start);
        assert_eq!(done.into_iter().next().unwrap().await.unwrap(), 1);
        assert_eq!(pending.into_iter().next().unwrap().await.unwrap(), 2);
    });
}

#[test]
fn wait_cut_short_by_a_timeout_gives_the_handles_back() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let tasks = [100, 60_000].map(|t| {
            spawn(async move {
                sleep(ms(t)).await;
                t
            })
        });
        let mut waiting = wait(tasks, ReturnWhen::AllCompleted);
        assert!(timeout(ms(5000), &mut waiting).await.is_err());
        let (done, pending) = waiting.into_parts();
        assert_eq!(time::now() - start, ms(5000));
        assert_eq!(done.into_iter().next().unwrap().await.unwrap(), 100);
        assert_eq!(pending.into_iter().next().unwrap().await.unwrap(), 60_000);
        assert_eq!(time::now() - start, ms(60_000));
    });
}

#[test]
fn a_wait_that_returned_has_no_parts_left() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let mut waiting = wait([spawn(async {})], ReturnWhen::AllCompleted);
        let (done, _) = (&mut waiting).await;
        assert_eq!(done.len(), 1);
        let (done, pending) = waiting.into_parts();
        assert!(done.is_empty() && pending.is_empty());
    });
}

#[test]
fn dropping_a_wait_detaches_its_tasks() {
    let runtime = virtual_runtime();
    let finished = Rc::new(Cell::new(false));
    let f = finished.clone();
    runtime.block_on(async move {
        let task = spawn(async move {
            sleep(ms(100)).await;
            f.set(true);
        });
        let mut waiting = wait([task], ReturnWhen::AllCompleted);
        assert!(timeout(ms(10), &mut waiting).await.is_err());
        drop(waiting);
        sleep(ms(200)).await;
    });
    assert!(finished.get(), "the task ran on, detached");
}

#[test]
fn wait_with_no_handles_panics_with_a_clear_message() {
    let runtime = virtual_runtime();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(wait(Vec::<JoinHandle<()>>::new(), ReturnWhen::AllCompleted))
    }));
    let payload = result.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"wait() needs at least one JoinHandle to wait for")
    );
}

#[test]
fn wait_on_ten_thousand_tasks_returns_when_the_last_finishes() {
    // Each task finishing wakes its own handle's waker: one step of `wait`, O(woken).
    const N: u64 = if cfg!(miri) { 300 } else { 10_000 };
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let tasks: Vec<_> = (1..=N).map(|i| spawn(sleep(ms(i)))).collect();
        let (done, pending) = wait(tasks, ReturnWhen::AllCompleted).await;
        assert_eq!(time::now() - start, ms(N));
        assert_eq!((done.len(), pending.len()), (N as usize, 0));
    });
}
