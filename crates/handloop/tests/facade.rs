//! The facade's promises: `run` and `Runtime`, gather / gather! / try_gather / select,
//! `TaskGroup`, and the asyncio vocabulary wired to the lower crates.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use handloop::task::{Builder, TaskState};
use handloop::{
    Runtime, TaskGroup, gather, oneshot, select, sleep, spawn, time, try_gather, yield_now,
};

fn virtual_runtime() -> Runtime {
    Runtime::builder().virtual_time().build().unwrap()
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Drops set a shared flag.
struct OnDrop(Rc<Cell<u32>>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn run_returns_the_output_and_drops_pending_tasks() {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    let out = handloop::run(async move {
        let guard = OnDrop(d);
        spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        yield_now().await;
        "done"
    });
    assert_eq!(out, "done");
    assert_eq!(
        dropped.get(),
        1,
        "pending tasks are dropped at the end of run"
    );
}

#[test]
fn nested_run_panics_with_a_clear_message() {
    let message =
        handloop::run(async { panic_text(catch_unwind(|| handloop::run(async {})).unwrap_err()) });
    assert!(
        message.starts_with("handloop::run() called while an event loop is already running"),
        "{message}"
    );
}

#[test]
fn any_thread_can_run_its_own_loop() {
    let threads: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || {
                handloop::run(async move { spawn(async move { i * 10 }).await.unwrap() })
            })
        })
        .collect();
    let outs: Vec<i32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(outs, [0, 10, 20]);
}

#[test]
fn the_virtual_clock_is_exact_and_instant() {
    let runtime = virtual_runtime();
    assert!(runtime.is_virtual_time());
    let real = std::time::Instant::now();
    let elapsed = runtime.block_on(async {
        let start = time::now();
        // say_after(1) and say_after(2) as concurrent tasks: exactly 2 s.
        let a = spawn(sleep(Duration::from_secs(1)));
        let b = spawn(sleep(Duration::from_secs(2)));
        a.await.unwrap();
        b.await.unwrap();
        let concurrent = time::now() - start;
        // One after the other: exactly 3 s more.
        sleep(Duration::from_secs(1)).await;
        sleep(Duration::from_secs(2)).await;
        (concurrent, time::now() - start)
    });
    assert_eq!(elapsed, (Duration::from_secs(2), Duration::from_secs(5)));
    assert!(real.elapsed() < Duration::from_secs(2));
}

#[test]
#[allow(
    clippy::async_yields_async,
    reason = "the handle is returned to the next block_on on purpose"
)]
fn a_runtime_runs_several_futures_in_turn() {
    let runtime = virtual_runtime();
    let handle = runtime.block_on(async {
        let handle = spawn(async { 5 });
        yield_now().await;
        handle
    });
    assert_eq!(runtime.block_on(handle).unwrap(), 5);
}

#[test]
fn gather_returns_outputs_in_argument_order() {
    let runtime = virtual_runtime();
    let out = runtime.block_on(async {
        gather([3u64, 1, 2].map(|s| async move {
            sleep(Duration::from_secs(s)).await;
            s * 10
        }))
        .await
    });
    assert_eq!(out, [30, 10, 20]);
}

#[test]
fn gather_of_nothing_is_empty() {
    let out: Vec<()> = handloop::run(gather(Vec::<std::future::Ready<()>>::new()));
    assert!(out.is_empty());
}

#[test]
fn gather_borrows_locals_no_static_needed() {
    let names = ["a".to_string(), "b".to_string()];
    let out = handloop::run(gather(names.iter().map(|n| async move { n.len() })));
    assert_eq!(out, [1, 1]);
}

#[test]
fn gather_polls_only_the_woken_futures() {
    // 10,000 futures, each waiting on its own slot; waking one must poll one.
    const N: usize = 10_000;
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
                yield_now().await; // gather has polled everything once
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
        let out = gather(futures).await;
        assert_eq!(out, (0..N).collect::<Vec<_>>());
        driver.await.unwrap();
    });
    assert_eq!(polls.get(), 2 * N);
}

#[test]
fn gather_macro_gives_a_tuple_of_mixed_types() {
    let runtime = virtual_runtime();
    let out = runtime.block_on(async {
        handloop::gather!(
            async {
                sleep(Duration::from_secs(2)).await;
                1u8
            },
            async { "two" },
            async {
                sleep(Duration::from_secs(1)).await;
                3.0f64
            },
        )
        .await
    });
    assert_eq!(out, (1u8, "two", 3.0f64));
}

#[test]
fn try_gather_returns_the_first_error_and_drops_the_rest() {
    let runtime = virtual_runtime();
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    let out = runtime.block_on(async move {
        let slow = |secs: u64, result: Result<u64, String>, guard: OnDrop| async move {
            let _guard = guard;
            sleep(Duration::from_secs(secs)).await;
            result
        };
        try_gather([
            slow(3, Ok(3), OnDrop(d.clone())),
            slow(1, Err("first failure".to_string()), OnDrop(d.clone())),
            slow(2, Err("second failure".to_string()), OnDrop(d.clone())),
        ])
        .await
    });
    assert_eq!(out, Err("first failure".to_string()));
    assert_eq!(
        dropped.get(),
        3,
        "the failed one and both still running are dropped"
    );
    let all = runtime.block_on(try_gather([
        std::future::ready(Ok::<_, ()>(1)),
        std::future::ready(Ok(2)),
    ]));
    assert_eq!(all, Ok(vec![1, 2]));
}

#[test]
fn select_gives_the_first_and_drops_the_others() {
    let runtime = virtual_runtime();
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    let (winner, at) = runtime.block_on(async move {
        let start = time::now();
        let after = |secs: u64, guard: OnDrop| async move {
            let _guard = guard;
            sleep(Duration::from_secs(secs)).await;
            secs
        };
        let winner = select([
            after(3, OnDrop(d.clone())),
            after(1, OnDrop(d.clone())),
            after(2, OnDrop(d.clone())),
        ])
        .await;
        (winner, time::now() - start)
    });
    assert_eq!(winner, (1, 1));
    assert_eq!(at, Duration::from_secs(1));
    assert_eq!(dropped.get(), 3);
    // Among futures ready at once, the first in argument order wins.
    assert_eq!(
        runtime.block_on(select([std::future::ready('a'), std::future::ready('b')])),
        (0, 'a')
    );
}

#[test]
fn a_task_group_waits_for_all_its_children() {
    let runtime = virtual_runtime();
    let (out, at) = runtime.block_on(async {
        let start = time::now();
        let group = TaskGroup::new();
        let a = group.spawn(async {
            sleep(Duration::from_secs(1)).await;
            "a"
        });
        let b = group.spawn(async {
            sleep(Duration::from_secs(3)).await;
            "b"
        });
        assert_eq!(group.len(), 2);
        group.join().await.unwrap();
        let at = time::now() - start;
        assert!(a.is_finished() && b.is_finished());
        ((a.await.unwrap(), b.await.unwrap()), at)
    });
    assert_eq!(out, ("a", "b"));
    assert_eq!(at, Duration::from_secs(3));
}

#[test]
fn an_empty_group_joins_at_once() {
    handloop::run(async { TaskGroup::new().join().await.unwrap() });
}

#[test]
fn a_child_panic_aborts_the_others_and_the_group_reports_it() {
    let runtime = virtual_runtime();
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    runtime.block_on(async move {
        let start = time::now();
        let group = TaskGroup::new();
        let guard = OnDrop(d.clone());
        let sibling = group.spawn(async move {
            let _guard = guard;
            sleep(Duration::from_secs(60)).await;
        });
        let bad = group.spawn_named("fleet-7", async {
            sleep(Duration::from_secs(1)).await;
            panic!("engine failure");
        });
        let err = group.join().await.unwrap_err();
        assert_eq!(
            time::now() - start,
            Duration::from_secs(1),
            "the sibling did not run its 60 s"
        );
        assert_eq!(err.task_name(), "fleet-7");
        assert_eq!(err.panic_message(), "engine failure");
        assert_eq!(err.task_id(), Some(bad.id()));
        assert_eq!(
            err.to_string(),
            format!(
                "task 'fleet-7' (id {}) of the task group panicked: engine failure",
                bad.id()
            )
        );
        assert!(sibling.await.unwrap_err().is_cancelled());
        let bad = bad.await.unwrap_err();
        assert!(bad.is_panic());
        assert_eq!(bad.panic_message(), Some("engine failure"));
        // Spawning into a failed group aborts the newcomer at once.
        let late = group.spawn(async { 1 });
        assert!(late.await.unwrap_err().is_cancelled());
    });
    assert_eq!(dropped.get(), 1);
}

#[test]
fn dropping_a_group_aborts_its_children() {
    let runtime = virtual_runtime();
    let ran_after = Rc::new(Cell::new(false));
    let r = ran_after.clone();
    runtime.block_on(async move {
        let group = TaskGroup::new();
        let child = group.spawn(async move {
            sleep(Duration::from_secs(1)).await;
            r.set(true);
        });
        yield_now().await;
        drop(group);
        assert!(child.await.unwrap_err().is_cancelled());
        sleep(Duration::from_secs(5)).await;
    });
    assert!(!ran_after.get(), "nothing spawned in a group outlives it");
}

#[test]
fn cancelling_one_child_does_not_fail_the_group() {
    handloop::run(async {
        let group = TaskGroup::new();
        let child = group.spawn(std::future::pending::<()>());
        let other = group.spawn(async { 2 });
        child.abort();
        group.join().await.unwrap();
        assert_eq!(other.await.unwrap(), 2);
    });
}

#[test]
fn children_may_spawn_into_their_group() {
    let runtime = virtual_runtime();
    let count = runtime.block_on(async {
        let group = Rc::new(TaskGroup::new());
        let g = group.clone();
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        group.spawn(async move {
            sleep(Duration::from_secs(1)).await;
            let c2 = c.clone();
            g.spawn(async move {
                sleep(Duration::from_secs(1)).await;
                c2.set(c2.get() + 1);
            });
            c.set(c.get() + 1);
        });
        group.join().await.unwrap();
        count.get()
    });
    assert_eq!(count, 2);
}

#[test]
fn current_task_and_all_tasks_list_the_live_tasks() {
    handloop::run(async {
        let (tx, rx) = oneshot::channel::<()>();
        let waiter = Builder::new()
            .name("waiter")
            .spawn(async move { rx.await.unwrap() });
        let me = Builder::new()
            .name("me")
            .spawn(async { handloop::current_task().unwrap().name });
        assert_eq!(me.await.unwrap(), "me");
        // asyncio.run's coroutine is a task; so is run's future: id 0, "main".
        let main = handloop::current_task().unwrap();
        assert_eq!((main.id.as_u64(), main.name.as_str()), (0, "main"));
        let all = handloop::all_tasks();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name, "main");
        assert_eq!(
            (all[1].id, all[1].name.as_str(), all[1].state),
            (waiter.id(), "waiter", TaskState::Pending)
        );
        tx.send(()).unwrap();
        waiter.await.unwrap();
        assert_eq!(handloop::all_tasks().len(), 1);
    });
    assert!(handloop::all_tasks().is_empty(), "no loop running");
}

#[test]
fn timeouts_and_callbacks_through_the_facade() {
    let runtime = virtual_runtime();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    runtime.block_on(async move {
        let start = time::now();
        assert!(
            handloop::timeout(Duration::from_secs(1), sleep(Duration::from_secs(2)))
                .await
                .is_err()
        );
        assert_eq!(handloop::timeout(Duration::ZERO, async { 7 }).await, Ok(7));
        let (l1, l2, l3) = (l.clone(), l.clone(), l.clone());
        handloop::call_later(Duration::from_secs(2), move || {
            l1.borrow_mut().push("later")
        });
        handloop::call_soon(move || l2.borrow_mut().push("soon"));
        let cancelled = handloop::call_later(Duration::from_secs(1), move || {
            l3.borrow_mut().push("cancelled")
        });
        cancelled.cancel();
        sleep(Duration::from_secs(3)).await;
        assert_eq!(time::now() - start, Duration::from_secs(4));
    });
    assert_eq!(*log.borrow(), ["soon", "later"]);
}

#[test]
fn a_panicking_task_never_takes_the_loop_down() {
    let out = handloop::run(async {
        let bad = spawn(async { panic!("boom") });
        let good = spawn(async { 1 });
        (bad.await.unwrap_err().is_panic(), good.await.unwrap())
    });
    assert_eq!(out, (true, 1));
}

#[test]
fn a_panic_in_main_propagates_out_of_run() {
    let result = catch_unwind(AssertUnwindSafe(|| {
        handloop::run(async { panic!("main failed") })
    }));
    assert_eq!(panic_text(result.unwrap_err()), "main failed");
}

#[test]
fn now_stands_still_within_a_step_and_a_sleep_counts_from_it() {
    // The README's asyncio table says so: unlike asyncio's `loop.time()`, `now()` is read
    // once per loop turn (real clock).
    handloop::run(async {
        let turn = time::now();
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(5) {}
        assert_eq!(time::now(), turn, "CPU work in one step does not move it");
        let nap = sleep(Duration::from_secs(1));
        assert_eq!(nap.deadline(), turn + Duration::from_secs(1));
    });
}
