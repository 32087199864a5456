//! Misuse gets a panic whose message says what to do.

use std::panic::catch_unwind;

use handloop_executor::{EventLoop, call_soon, spawn};

fn panic_message(result: std::thread::Result<()>) -> String {
    let payload = result.unwrap_err();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn spawn_without_a_running_loop_says_so() {
    let message = panic_message(catch_unwind(|| drop(spawn(async {}))));
    assert!(message.contains("no running event loop"), "{message}");
    assert!(message.starts_with("spawn()"), "{message}");
}

#[test]
fn call_soon_without_a_running_loop_says_so() {
    let message = panic_message(catch_unwind(|| call_soon(|| {})));
    assert!(
        message.starts_with("call_soon() called with no running event loop"),
        "{message}"
    );
}

#[test]
fn nested_block_on_panics_with_a_clear_message() {
    let outer = EventLoop::new();
    let message = outer.block_on(async {
        let inner = EventLoop::new();
        panic_message(catch_unwind(std::panic::AssertUnwindSafe(|| {
            inner.block_on(async {});
        })))
    });
    assert!(
        message.contains("already running on this thread"),
        "{message}"
    );
    // And the outer loop was not disturbed.
    assert_eq!(
        outer.block_on(async { spawn(async { 1 }).await.unwrap() }),
        1
    );
}

#[test]
#[allow(
    clippy::async_yields_async,
    reason = "the handles are returned on purpose"
)]
fn a_join_handle_awaited_inside_another_loop_panics_instead_of_hanging() {
    // Two loops on one thread: the task's loop is not running while the other one awaits
    // the handle, so the task could never run. That is a mistake to report, not a hang.
    let home = EventLoop::new();
    let handle = home.block_on(async {
        handloop_executor::task::Builder::new()
            .name("stuck")
            .spawn(std::future::pending::<()>())
    });
    let elsewhere = EventLoop::new();
    let message = panic_message(catch_unwind(std::panic::AssertUnwindSafe(|| {
        elsewhere.block_on(async {
            let _ = handle.await;
        })
    })));
    assert!(
        message.starts_with(
            "the JoinHandle of task 'stuck' (id 1) was awaited inside another event loop"
        ),
        "{message}"
    );
    assert!(
        message.contains("await the handle inside the loop that spawned the task"),
        "{message}"
    );
    // A finished task's output can be taken anywhere on the thread, with any loop.
    let done = home.block_on(async { spawn(async { 5 }) });
    home.block_on(async {}); // its loop runs it
    assert_eq!(elsewhere.block_on(done).unwrap(), 5);
}

/// Asserts nothing beyond "no crash": it exists to run under Miri (`.ci/run`), which would
/// report a task freed or leaked by the loop's drop.
#[test]
fn spawn_inside_a_task_of_a_loop_dropped_later_is_fine() {
    let event_loop = EventLoop::new();
    event_loop.block_on(async {
        spawn(async {
            spawn(async {});
        });
    });
    drop(event_loop);
}
