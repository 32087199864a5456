//! The scheduling guarantees of the chapter, one test each: FIFO, one poll per wake,
//! waking a finished task does nothing, round-robin yields, no poll inside `spawn`.

mod common;

use common::{Gate, Log, count_polls};
use handloop_executor::task::{self, TaskState};
use handloop_executor::{EventLoop, call_soon, spawn, yield_now};

#[test]
fn spawn_never_polls_inside_the_call() {
    let log = Log::default();
    EventLoop::new().block_on({
        let log = log.clone();
        async move {
            let inner = log.clone();
            let handle = spawn(async move { inner.push("task runs") });
            log.push("spawn returned");
            handle.await.unwrap();
            log.push("joined");
        }
    });
    assert_eq!(log.take(), ["spawn returned", "task runs", "joined"]);
}

#[test]
fn tasks_run_in_spawn_order() {
    let log = Log::default();
    EventLoop::new().block_on({
        let log = log.clone();
        async move {
            let handles: Vec<_> = (0..5)
                .map(|i| {
                    let log = log.clone();
                    spawn(async move { log.push(format!("t{i}")) })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }
    });
    assert_eq!(log.take(), ["t0", "t1", "t2", "t3", "t4"]);
}

#[test]
fn a_woken_task_runs_after_every_task_already_ready() {
    // A waits on a gate. B opens it, then C and D are already in the queue: A must run
    // after them (strict FIFO), not jump ahead.
    let log = Log::default();
    let gate = Gate::new();
    EventLoop::new().block_on({
        let (log, gate) = (log.clone(), gate.clone());
        async move {
            let a = spawn({
                let (log, gate) = (log.clone(), gate.clone());
                async move {
                    gate.wait().await;
                    log.push("A woke");
                }
            });
            yield_now().await; // let A run up to its wait
            let b = spawn({
                let (log, gate) = (log.clone(), gate.clone());
                async move {
                    gate.open();
                    log.push("B opened");
                }
            });
            let c = spawn({
                let log = log.clone();
                async move { log.push("C") }
            });
            let d = spawn({
                let log = log.clone();
                async move { log.push("D") }
            });
            for h in [a, b, c, d] {
                h.await.unwrap();
            }
        }
    });
    assert_eq!(log.take(), ["B opened", "C", "D", "A woke"]);
}

#[test]
fn yielding_tasks_run_round_robin_in_spawn_order() {
    let log = Log::default();
    EventLoop::new().block_on({
        let log = log.clone();
        async move {
            let handles: Vec<_> = ["a", "b", "c"]
                .into_iter()
                .map(|name| {
                    let log = log.clone();
                    spawn(async move {
                        for round in 0..3 {
                            log.push(format!("{name}{round}"));
                            yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }
    });
    assert_eq!(
        log.take(),
        ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
    );
}

#[test]
fn one_poll_per_wake_however_many_wakes() {
    let gate = Gate::new();
    let (polls, counted) = count_polls(gate.wait());
    EventLoop::new().block_on({
        let gate = gate.clone();
        async move {
            let handle = spawn(counted);
            yield_now().await;
            assert_eq!(polls.get(), 1);
            // Ten wakes, by reference and by value, before the task gets its turn.
            for _ in 0..5 {
                gate.poke();
                gate.waker().unwrap().wake();
            }
            yield_now().await;
            assert_eq!(polls.get(), 2, "ten wakes, one poll");
            gate.open();
            handle.await.unwrap();
            assert_eq!(polls.get(), 3);
        }
    });
}

#[test]
fn waking_a_finished_task_does_nothing() {
    let gate = Gate::new();
    let (polls, counted) = count_polls({
        let gate = gate.clone();
        async move {
            gate.wait().await;
        }
    });
    EventLoop::new().block_on({
        let gate = gate.clone();
        async move {
            let handle = spawn(counted);
            yield_now().await;
            let waker = gate.waker().unwrap();
            gate.open();
            handle.await.unwrap();
            let after = polls.get();
            waker.wake_by_ref();
            waker.wake();
            yield_now().await;
            yield_now().await;
            assert_eq!(polls.get(), after);
        }
    });
}

#[test]
fn call_soon_shares_the_fifo_queue_with_tasks() {
    let log = Log::default();
    EventLoop::new().block_on({
        let log = log.clone();
        async move {
            let l = log.clone();
            let t1 = spawn(async move { l.push("task 1") });
            let l = log.clone();
            call_soon(move || l.push("callback"));
            let l = log.clone();
            let t2 = spawn(async move { l.push("task 2") });
            t1.await.unwrap();
            t2.await.unwrap();
        }
    });
    assert_eq!(log.take(), ["task 1", "callback", "task 2"]);
}

#[test]
fn a_panicking_callback_does_not_stop_the_loop() {
    let log = Log::default();
    EventLoop::new().block_on({
        let log = log.clone();
        async move {
            call_soon(|| panic!("callback boom"));
            let l = log.clone();
            call_soon(move || l.push("next callback"));
            yield_now().await;
            yield_now().await;
        }
    });
    assert_eq!(log.take(), ["next callback"]);
}

#[test]
#[allow(
    clippy::async_yields_async,
    reason = "the handle is returned on purpose"
)]
fn tasks_left_pending_continue_in_the_next_block_on() {
    let event_loop = EventLoop::new();
    let gate = Gate::new();
    let g = gate.clone();
    let task = async move {
        g.wait().await;
        7
    };
    // The handle is returned, not awaited, so the task outlives this block_on.
    let handle = event_loop.block_on(async move {
        let handle = spawn(task);
        yield_now().await;
        handle
    });
    assert!(!handle.is_finished());
    gate.open();
    assert_eq!(event_loop.block_on(handle).unwrap(), 7);
}

#[test]
fn block_on_returns_while_other_tasks_still_wait() {
    let event_loop = EventLoop::new();
    let gate = Gate::new();
    let (out, waiting) = event_loop.block_on({
        let gate = gate.clone();
        async move {
            let waiting = spawn(async move {
                gate.wait().await;
                "waiter done"
            });
            yield_now().await; // the task runs up to its wait
            ("main done", waiting)
        }
    });
    // block_on returned with its own output while the task still waits, neither finished
    // nor dropped.
    assert_eq!(out, "main done");
    assert_eq!(waiting.state(), TaskState::Pending);
    let (alive, polls) = event_loop.block_on(async {
        let all = task::all_tasks();
        (all.len(), all[1].polls)
    });
    assert_eq!((alive, polls), (2, 1), "main and the waiter, polled once");
    gate.open();
    assert_eq!(event_loop.block_on(waiting).unwrap(), "waiter done");
}

/// A waker that counts its wakes.
struct CountWakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Polls a `yield_now` twice with a waker of `count`'s: pending (one wake), then ready.
fn poll_yield_twice(count: &std::sync::Arc<CountWakes>) {
    use std::future::Future;
    use std::sync::atomic::Ordering::SeqCst;

    let before = count.0.load(SeqCst);
    let waker = std::task::Waker::from(count.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let mut yielding = std::pin::pin!(yield_now());
    assert!(yielding.as_mut().poll(&mut cx).is_pending());
    assert_eq!(
        count.0.load(SeqCst),
        before + 1,
        "woken once, through its vtable"
    );
    assert!(yielding.as_mut().poll(&mut cx).is_ready());
}

#[test]
fn yield_now_wakes_the_waker_it_is_polled_with_when_that_is_not_the_tasks_own() {
    use std::sync::Arc;

    let count = Arc::new(CountWakes(Default::default()));
    // Outside any loop.
    poll_yield_twice(&count);
    // Inside a task, under a combinator's waker: the combinator's is woken, and the task
    // itself is not (it is not polled again until something wakes it).
    EventLoop::new().block_on(async move {
        let (polls, counted) = count_polls(std::future::poll_fn(move |_| {
            poll_yield_twice(&count);
            std::task::Poll::<()>::Pending
        }));
        let task = spawn(counted);
        for _ in 0..3 {
            yield_now().await;
        }
        assert_eq!(polls.get(), 1, "the task's own waker was not woken");
        task.abort();
        let error = task.await.unwrap_err();
        assert!(error.is_cancelled(), "its checks passed: {error:?}");
    });
}
