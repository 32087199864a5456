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
fn spawn_inside_a_task_of_a_loop_dropped_later_is_fine() {
    let event_loop = EventLoop::new();
    event_loop.block_on(async {
        spawn(async {
            spawn(async {});
        });
    });
    drop(event_loop);
}
