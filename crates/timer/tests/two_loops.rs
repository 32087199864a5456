//! Timer futures belong to the loop they were created on. Awaited on another live loop
//! on the same thread (they are `!Send`), they would wait in a heap nobody checks and hang
//! forever; instead they panic and say what to do. Within one loop they move freely
//! between tasks.

// The tests carry timer futures out of a loop on purpose, unawaited.
#![allow(clippy::async_yields_async)]

use std::future::{Future, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use handloop_executor::{EventLoop, ThreadPark, spawn, task::panic_message};
use handloop_timer::{
    Sleep, TimerDriver, heap_footprint, interval, now, sleep, sleep_until, timeout,
};

const SEC: Duration = Duration::from_secs(1);

const OTHER_LOOP: &str = "a handloop_timer timer was polled on another event loop than the \
                          one it was created on (or with no loop running), where it would \
                          never fire: sleeps, timeouts and intervals only work on the loop \
                          they were created on (create them in a task of the loop that \
                          awaits them)";

fn virtual_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()))
}

/// Runs `f` and returns the message it panicked with.
fn panic_of<R: std::fmt::Debug>(f: impl FnOnce() -> R) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it should have panicked");
    panic_message(&*payload).to_owned()
}

/// Polls `future` once in the current task.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx: &mut Context<'_>| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

#[test]
fn a_sleep_made_on_an_idle_loop_and_awaited_on_another_panics() {
    let first = virtual_loop();
    let second = virtual_loop();
    // Made inside the first loop (which then stops running), never polled there.
    let (fresh, past) = first.block_on(async { (sleep(SEC), sleep_until(now() - SEC)) });
    assert_eq!(panic_of(|| second.block_on(fresh)), OTHER_LOOP);
    // A deadline already past would not hang, but it reads the wrong loop's clock.
    assert_eq!(panic_of(|| second.block_on(past)), OTHER_LOOP);
    // Both loops still work.
    second.block_on(async { sleep(SEC).await });
    first.block_on(async { sleep(SEC).await });
}

#[test]
fn a_sleep_registered_on_one_loop_and_moved_to_another_panics() {
    let first = virtual_loop();
    let second = virtual_loop();
    let mut moved: Sleep = first.block_on(async {
        let mut s = sleep(SEC);
        assert!(poll_once(&mut s).await.is_pending());
        assert_eq!(heap_footprint().live, 1);
        s
    });
    assert_eq!(
        panic_of(|| second.block_on(async { (&mut moved).await })),
        OTHER_LOOP
    );
    // Back on its own loop, the very same sleep still works, and ends on time (its loop's
    // virtual clock has not moved since it was registered).
    first.block_on(async {
        let start = now();
        moved.await;
        assert_eq!(now() - start, SEC);
        assert_eq!(heap_footprint().live, 0);
    });
}

#[test]
fn timeouts_and_intervals_from_another_loop_panic_too() {
    let first = virtual_loop();
    let second = virtual_loop();
    let deadline = first.block_on(async { timeout(SEC, pending::<()>()) });
    assert_eq!(panic_of(|| second.block_on(deadline)), OTHER_LOOP);
    // Even the first tick, due at once: the next one would never come.
    let mut ticks = first.block_on(async { interval(SEC) });
    assert_eq!(
        panic_of(|| second.block_on(async { ticks.tick().await })),
        OTHER_LOOP
    );
}

#[test]
fn a_sleep_polled_with_no_loop_running_panics() {
    let first = virtual_loop();
    let s = first.block_on(async { sleep(SEC) });
    // A loop without a timer: nothing here could ever fire the sleep.
    assert_eq!(panic_of(|| EventLoop::new().block_on(s)), OTHER_LOOP);
}

#[test]
fn within_one_loop_a_sleep_moves_between_tasks() {
    virtual_loop().block_on(async {
        let start = now();
        let mut s = sleep(3 * SEC);
        assert!(poll_once(&mut s).await.is_pending());
        // Registered by this task, finished by another one of the same loop.
        spawn(s).await.unwrap();
        assert_eq!(now() - start, 3 * SEC);
    });
}
