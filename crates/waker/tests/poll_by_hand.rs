//! `noop_waker`, `poll_once` and `poll_with`: driving futures by hand, step by step.

use std::cell::RefCell;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use handloop_waker::{CountingWaker, Counts, noop_waker, poll_once, poll_with};

/// Returns `Pending` once (after asking to be polled again), then `Ready(())`.
/// Like `asyncio.sleep(0)`: "let the others run, then resume me".
#[derive(Default)]
struct YieldOnce {
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref(); // "resume me": ready again right away
        Poll::Pending
    }
}

#[test]
fn a_ready_future_completes_on_the_first_poll() {
    let mut fut = pin!(async { "done" });
    assert_eq!(poll_once(fut.as_mut()), Poll::Ready("done"));
}

#[test]
fn each_poll_runs_to_the_next_await_that_waits() {
    // A RefCell so we can look at the steps between polls while the future holds `&steps`.
    let steps = RefCell::new(Vec::new());
    let mut fut = pin!(async {
        steps.borrow_mut().push("start");
        YieldOnce::default().await;
        steps.borrow_mut().push("after first yield");
        YieldOnce::default().await;
        steps.borrow_mut().push("after second yield");
        7
    });
    assert_eq!(poll_once(fut.as_mut()), Poll::Pending);
    assert_eq!(*steps.borrow(), ["start"]);
    assert_eq!(poll_once(fut.as_mut()), Poll::Pending);
    assert_eq!(*steps.borrow(), ["start", "after first yield"]);
    assert_eq!(poll_once(fut.as_mut()), Poll::Ready(7));
    assert_eq!(
        *steps.borrow(),
        ["start", "after first yield", "after second yield"]
    );
}

#[test]
#[should_panic(expected = "resumed after completion")]
fn polling_a_finished_async_block_panics() {
    let mut fut = pin!(async {});
    assert_eq!(poll_once(fut.as_mut()), Poll::Ready(()));
    let _ = poll_once(fut.as_mut()); // like `send` on a finished coroutine
}

#[test]
fn poll_with_passes_our_waker_to_the_future() {
    let counting = CountingWaker::new();
    let waker = counting.waker();
    let mut fut = pin!(YieldOnce::default());
    assert_eq!(poll_with(fut.as_mut(), &waker), Poll::Pending);
    // The future woke the waker it was lent, without cloning it.
    assert_eq!(
        counting.counts(),
        Counts {
            wake_by_refs: 1,
            strong_count: 2,
            ..Counts::default()
        }
    );
    assert_eq!(poll_with(fut.as_mut(), &waker), Poll::Ready(()));
    assert_eq!(
        counting.counts(),
        Counts {
            wake_by_refs: 1,
            strong_count: 2,
            ..Counts::default()
        }
    );
}

#[test]
fn the_noop_waker_does_nothing_and_owns_nothing() {
    let w = noop_waker();
    let w2 = w.clone();
    assert!(
        w.will_wake(&w2),
        "every no-op waker has the same data and table"
    );
    assert!(w.will_wake(&noop_waker()));
    w.wake_by_ref();
    w.wake();
    drop(w2);
}
