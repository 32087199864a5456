//! `hold_clock`: while work outside the loop holds the virtual clock, the clock does not
//! jump past it (tokio#5115: a timeout around a blocking job fired at once under paused
//! time). The work here is a plain thread handing its result back through a oneshot.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use handloop_executor::{EventLoop, ThreadPark, spawn};
use handloop_timer::{ClockHold, TimerDriver, hold_clock, now, outstanding_holds, sleep, timeout};
use tokio::sync::oneshot;

fn virtual_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()))
}

const WORK: Duration = Duration::from_millis(30);

/// A thread that works for `WORK` of real time, sends `value`, then drops `hold` (if any):
/// the order a job runner must keep.
fn worker(value: u32, hold: Option<ClockHold>) -> oneshot::Receiver<u32> {
    let (tx, rx) = oneshot::channel();
    thread::spawn(move || {
        thread::sleep(WORK);
        let _ = tx.send(value);
        drop(hold);
    });
    rx
}

#[test]
fn a_timeout_around_held_work_waits_for_the_work_at_the_same_virtual_instant() {
    let (result, elapsed) = virtual_loop().block_on(async {
        let start = now();
        let result = timeout(Duration::from_secs(1), worker(7, Some(hold_clock()))).await;
        (result, now() - start)
    });
    assert_eq!(result.expect("the timeout must not fire").unwrap(), 7);
    assert_eq!(
        elapsed,
        Duration::ZERO,
        "the clock stood still during the work"
    );
}

#[test]
fn without_a_hold_the_clock_jumps_past_the_work_which_is_the_bug() {
    let result =
        virtual_loop().block_on(async { timeout(Duration::from_secs(1), worker(7, None)).await });
    assert!(result.is_err(), "without a hold the timeout fires at once");
}

#[test]
fn a_sleeping_task_fires_only_after_the_hold_is_released_and_the_woken_task_ran_first() {
    let order = virtual_loop().block_on(async {
        let start = now();
        let sleeper = spawn(async move {
            sleep(Duration::from_secs(10)).await;
            now() - start
        });
        let got = worker(1, Some(hold_clock())).await.unwrap();
        // The task the work woke ran before the clock moved.
        let at_result = now() - start;
        let slept = sleeper.await.unwrap();
        (got, at_result, slept)
    });
    assert_eq!(
        order,
        (1, Duration::ZERO, Duration::from_secs(10)),
        "result at 0 s, the sleep at exactly 10 s"
    );
}

#[test]
fn a_detached_holder_still_keeps_the_clock_until_it_is_done() {
    // Nobody awaits the work: the clock still waits for it before jumping.
    let done = Arc::new(AtomicBool::new(false));
    let elapsed = virtual_loop().block_on({
        let done = done.clone();
        async move {
            let start = now();
            let hold = hold_clock();
            let finished = done.clone();
            thread::spawn(move || {
                thread::sleep(WORK);
                finished.store(true, Ordering::SeqCst);
                drop(hold);
            });
            sleep(Duration::from_secs(60)).await;
            assert!(
                done.load(Ordering::SeqCst),
                "the sleep fired before the work ended"
            );
            now() - start
        }
    });
    assert_eq!(elapsed, Duration::from_secs(60));
}

#[test]
fn the_clock_waits_for_every_hold() {
    let (first, second, elapsed) = virtual_loop().block_on(async {
        let start = now();
        let quick = worker(1, Some(hold_clock()));
        let slow_hold = hold_clock();
        let (tx, slow) = oneshot::channel();
        thread::spawn(move || {
            thread::sleep(3 * WORK);
            let _ = tx.send(2);
            drop(slow_hold);
        });
        let first = timeout(Duration::from_secs(1), quick).await;
        let second = timeout(Duration::from_secs(1), slow).await;
        (first, second, now() - start)
    });
    assert_eq!(first.unwrap().unwrap(), 1);
    assert_eq!(second.unwrap().unwrap(), 2);
    assert_eq!(elapsed, Duration::ZERO);
}

#[test]
fn a_hold_dropped_on_the_loop_lets_the_clock_jump_again() {
    let elapsed = virtual_loop().block_on(async {
        let start = now();
        let hold = hold_clock();
        assert!(hold.is_holding());
        drop(hold);
        sleep(Duration::from_secs(5)).await;
        now() - start
    });
    assert_eq!(elapsed, Duration::from_secs(5));
}

#[test]
fn on_the_real_clock_a_hold_holds_nothing_and_is_only_counted() {
    let event_loop = EventLoop::with_driver(TimerDriver::new(ThreadPark::new()));
    let (holding, counted, after) = event_loop.block_on(async {
        let hold = hold_clock();
        let counted = outstanding_holds();
        let holding = hold.is_holding();
        drop(hold);
        (holding, counted, outstanding_holds())
    });
    assert!(!holding);
    assert_eq!((counted, after), (1, 0));
}

#[test]
fn holds_are_counted_until_dropped_on_whichever_thread() {
    let event_loop = virtual_loop();
    event_loop.block_on(async {
        let holds: Vec<_> = (0..3).map(|_| hold_clock()).collect();
        assert_eq!(outstanding_holds(), 3);
        std::thread::spawn(move || drop(holds)).join().unwrap();
        assert_eq!(outstanding_holds(), 0);
    });
}

#[test]
fn hold_clock_outside_a_loop_panics_saying_where_to_call_it() {
    let payload = catch_unwind(AssertUnwindSafe(hold_clock)).unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("hold_clock() called with no running event loop with a timer"),
        "{message}"
    );
}
