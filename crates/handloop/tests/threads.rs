//! The facade across threads: a runtime's `Handle` (through the I/O poller's wake-up, as
//! `run` builds it), and `LoopPool`: a task on each loop, placement, a panicking task that
//! leaves its loop running, `run_on_each`, and what dropping the pool does.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use handloop::{Handle, LoopClosed, LoopPool, Runtime, oneshot, sleep, to_thread};

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn thread_name() -> String {
    thread::current().name().unwrap_or("unnamed").to_owned()
}

#[test]
fn call_soon_threadsafe_wakes_a_runtime_sleeping_in_its_poller() {
    let runtime = Runtime::new().unwrap();
    let handle = runtime.handle();
    let (tx, rx) = oneshot::channel();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20)); // the loop is asleep in epoll by now
        handle
            .call_soon_threadsafe(move || tx.send(thread_name()).unwrap())
            .unwrap();
    });
    let ran_on = runtime.block_on(rx).unwrap();
    sender.join().unwrap();
    assert_eq!(
        ran_on,
        thread_name(),
        "the callback ran on the loop's thread"
    );
}

#[test]
fn a_future_that_sleeps_goes_through_spawn_with_and_uses_that_loops_timer() {
    let runtime = Runtime::builder().virtual_time().build().unwrap();
    let handle = runtime.handle();
    let task = thread::spawn(move || {
        handle.spawn_with(|| async {
            let start = handloop::time::now();
            sleep(Duration::from_secs(30)).await;
            handloop::time::now() - start
        })
    })
    .join()
    .unwrap();
    assert_eq!(runtime.block_on(task).unwrap(), Duration::from_secs(30));
}

#[test]
fn a_pool_of_two_loops_runs_a_task_on_each() {
    let pool = LoopPool::new(2).unwrap();
    assert_eq!(pool.len(), 2);
    assert!(!pool.is_empty());
    let names = pool.run_on_each(|i| async move {
        sleep(Duration::from_millis(5)).await;
        (i, thread_name())
    });
    assert_eq!(
        names,
        [
            (0, "handloop-loop-0".to_owned()),
            (1, "handloop-loop-1".to_owned())
        ]
    );
}

#[test]
fn a_panicking_task_does_not_stop_its_loop() {
    let pool = LoopPool::new(2).unwrap();
    let error = handloop_waker::block_on(pool.handle(0).spawn(async {
        panic!("one bad request");
    }))
    .unwrap_err();
    assert!(error.is_panic());
    assert_eq!(error.panic_message(), Some("one bad request"));
    // The same loop serves the next task.
    let next = handloop_waker::block_on(pool.handle(0).spawn_with(|| async {
        sleep(Duration::from_millis(1)).await;
        thread_name()
    }))
    .unwrap();
    assert_eq!(next, "handloop-loop-0");
}

/// Waits (up to 10 s) until the pool's `Debug` shows these live-task counts.
fn wait_for_live(pool: &LoopPool, live: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !format!("{pool:?}").contains(live) {
        assert!(std::time::Instant::now() < deadline, "{pool:?}, not {live}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn spawn_with_places_each_task_on_the_loop_with_the_fewest_live_tasks() {
    let pool = LoopPool::new(2).unwrap();
    // Three tasks sent straight to loop 0 through its handle: the pool counts them too.
    let (release_tx, release_rx) = mpsc::channel::<oneshot::Sender<()>>();
    let waiter = |release_tx: mpsc::Sender<oneshot::Sender<()>>| {
        move || {
            let (tx, rx) = oneshot::channel::<()>();
            release_tx.send(tx).unwrap();
            async move {
                let _ = rx.await; // live until released
                thread_name()
            }
        }
    };
    let mut tasks: Vec<_> = (0..3)
        .map(|_| pool.handle(0).spawn_with(waiter(release_tx.clone())))
        .collect();
    wait_for_live(&pool, "live_tasks: [3, 0]");
    // Both loops stay busy in a callback (which counts as live while it runs) while the
    // pool places four more, so that the counts cannot move meanwhile: the first three go
    // to loop 1, counted as they are sent; the fourth ties, and ties go to loop 0.
    let (busy_tx, busy_rx) = mpsc::channel::<()>();
    let gates: Vec<_> = (0..2)
        .map(|i| {
            let (gate_tx, gate_rx) = mpsc::channel::<()>();
            let busy_tx = busy_tx.clone();
            pool.handle(i)
                .call_soon_threadsafe(move || {
                    busy_tx.send(()).unwrap();
                    gate_rx.recv().unwrap();
                })
                .unwrap();
            gate_tx
        })
        .collect();
    busy_rx.recv().unwrap();
    busy_rx.recv().unwrap();
    tasks.extend((0..4).map(|_| pool.spawn_with(waiter(release_tx.clone()))));
    assert!(
        format!("{pool:?}").contains("live_tasks: [5, 4]"),
        "{pool:?}"
    );
    for gate in gates {
        gate.send(()).unwrap();
    }
    let releases: Vec<_> = (0..7).map(|_| release_rx.recv().unwrap()).collect();
    wait_for_live(&pool, "live_tasks: [4, 3]");
    for release in releases {
        release.send(()).unwrap();
    }
    let ran_on: Vec<String> = tasks
        .into_iter()
        .map(|task| handloop_waker::block_on(task).unwrap())
        .collect();
    assert_eq!(
        ran_on,
        [
            "handloop-loop-0",
            "handloop-loop-0",
            "handloop-loop-0",
            "handloop-loop-1",
            "handloop-loop-1",
            "handloop-loop-1",
            "handloop-loop-0",
        ]
    );
    // Finished tasks no longer count (a task leaves the count as it completes on its
    // loop, which may be just after its handle resolves).
    wait_for_live(&pool, "live_tasks: [0, 0]");
}

#[test]
fn run_on_each_resumes_a_panic_once_every_loop_finished() {
    let pool = LoopPool::new(2).unwrap();
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        pool.run_on_each(move |i| {
            let f = f.clone();
            async move {
                if i == 0 {
                    panic!("loop 0 failed");
                }
                sleep(Duration::from_millis(20)).await;
                f.fetch_add(1, Ordering::SeqCst);
            }
        })
    }))
    .unwrap_err();
    assert_eq!(panic_text(payload), "loop 0 failed");
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "loop 1's future ran to the end"
    );
}

#[test]
fn run_on_each_on_a_loops_thread_panics_saying_what_to_do() {
    let pool = Arc::new(LoopPool::new(1).unwrap());
    let inner = pool.clone();
    let message = Runtime::new().unwrap().block_on(async move {
        panic_text(catch_unwind(AssertUnwindSafe(|| inner.run_on_each(|_| async {}))).unwrap_err())
    });
    assert!(
        message.contains("run_on_each() called on a thread running an event loop"),
        "{message}"
    );
}

#[test]
fn the_pools_loops_share_one_to_thread_pool() {
    let pool = LoopPool::new(2).unwrap();
    let sums = pool.run_on_each(|i| async move { to_thread(move || i * 10).await.unwrap() });
    assert_eq!(sums, [0, 10]);
}

/// Records the thread it was dropped on.
struct DropWitness(Arc<Mutex<Option<String>>>);

impl Drop for DropWitness {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(thread_name());
    }
}

#[test]
fn dropping_the_pool_cancels_pending_tasks_on_their_loops_and_joins_the_threads() {
    let pool = LoopPool::new(2).unwrap();
    let dropped_on = Arc::new(Mutex::new(None));
    let witness = dropped_on.clone();
    let (started_tx, started_rx) = mpsc::channel();
    let task = pool.handle(1).spawn_with(move || {
        let witness = DropWitness(witness);
        started_tx.send(()).unwrap();
        async move {
            let _witness = witness;
            std::future::pending::<()>().await
        }
    });
    started_rx.recv().unwrap();
    let handle = pool.handle(1);
    drop(pool);
    // Joined: the loop's thread is done, its task dropped there.
    assert_eq!(
        dropped_on.lock().unwrap().as_deref(),
        Some("handloop-loop-1")
    );
    assert!(handloop_waker::block_on(task).unwrap_err().is_cancelled());
    assert!(handle.is_closed());
    assert_eq!(handle.call_soon_threadsafe(|| ()), Err(LoopClosed));
}

#[test]
fn a_pool_of_no_loops_is_an_error_and_handles_are_numbered_from_zero() {
    let error = LoopPool::new(0).expect_err("no loops");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    let pool = LoopPool::new(1).unwrap();
    let message = panic_text(catch_unwind(AssertUnwindSafe(|| pool.handle(1))).unwrap_err());
    assert!(
        message.contains("LoopPool::handle(1): no such loop; the pool's loops are numbered 0 to 0"),
        "{message}"
    );
}

#[test]
fn handle_current_inside_a_pool_loop_reaches_that_loop() {
    let pool = LoopPool::new(2).unwrap();
    let same = pool.run_on_each(|_| async { Handle::current() });
    assert_eq!(same[0], pool.handle(0));
    assert_eq!(same[1], pool.handle(1));
    assert_ne!(same[0], same[1]);
}
