//! `timeout` and `timeout_at`: the inner future is polled first, expires at exactly the
//! deadline, is dropped on expiry, and a finished timeout leaves no timer behind.

use std::cell::Cell;
use std::future::{pending, ready};
use std::rc::Rc;
use std::time::Duration;

use handloop_executor::{EventLoop, ThreadPark, yield_now};
use handloop_timer::{Elapsed, TimerDriver, heap_footprint, now, sleep, timeout, timeout_at};

fn virtual_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()))
}

const SEC: Duration = Duration::from_secs(1);

#[test]
fn a_ready_future_wins_even_with_a_zero_timeout() {
    virtual_loop().block_on(async {
        assert_eq!(timeout(Duration::ZERO, ready(7)).await, Ok(7));
        assert_eq!(timeout(Duration::ZERO, async { 8 }).await, Ok(8));
        assert_eq!(heap_footprint().heap_len, 0);
        // Pending on its first poll, when the deadline has already passed: it elapses
        // there (as asyncio's `timeout(0)` around `sleep(0)` does).
        let _: Elapsed = timeout(Duration::ZERO, yield_now()).await.unwrap_err();
    });
}

#[test]
fn a_zero_timeout_on_a_pending_future_elapses_without_time_passing() {
    virtual_loop().block_on(async {
        let start = now();
        let err: Elapsed = timeout(Duration::ZERO, pending::<()>()).await.unwrap_err();
        assert_eq!(err.to_string(), "deadline has elapsed");
        assert_eq!(now(), start);
    });
}

#[test]
fn expiry_happens_exactly_at_the_deadline_and_drops_the_inner_future() {
    struct Guard(Rc<Cell<Option<std::time::Instant>>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(Some(now()));
        }
    }
    virtual_loop().block_on(async {
        let start = now();
        let dropped_at = Rc::new(Cell::new(None));
        let guard = Guard(dropped_at.clone());
        let mut fut = std::pin::pin!(timeout(5 * SEC, async move {
            let _guard = guard;
            sleep(10 * SEC).await;
        }));
        assert_eq!(fut.deadline(), start + 5 * SEC);
        assert!(fut.as_mut().await.is_err());
        // Dropped inside the poll that returned the error, while `fut` itself still exists.
        assert_eq!(dropped_at.get(), Some(start + 5 * SEC));
        assert_eq!(now() - start, 5 * SEC);
        assert_eq!(heap_footprint().live, 0, "the inner sleep was deregistered");
    });
}

#[test]
fn finishing_first_returns_ok_and_cancels_the_timer() {
    virtual_loop().block_on(async {
        let start = now();
        let mut fut = std::pin::pin!(timeout(5 * SEC, async {
            sleep(2 * SEC).await;
            "done"
        }));
        assert_eq!(fut.as_mut().await, Ok("done"));
        assert_eq!(now() - start, 2 * SEC);
        // Cancelled when the result came out, not when `fut` is dropped.
        assert_eq!(heap_footprint().live, 0);
    });
}

#[test]
fn on_a_deadline_tie_the_inner_future_wins() {
    virtual_loop().block_on(async {
        let start = now();
        assert_eq!(timeout(SEC, sleep(SEC)).await, Ok(()));
        assert_eq!(now() - start, SEC);
    });
}

#[test]
fn timeout_at_and_nesting() {
    virtual_loop().block_on(async {
        let start = now();
        let outer = timeout_at(start + 3 * SEC, async {
            timeout(SEC, pending::<()>()).await.unwrap_err();
            assert_eq!(now() - start, SEC);
            timeout(10 * SEC, pending::<()>()).await
        });
        assert!(outer.await.is_err(), "the outer deadline expired first");
        assert_eq!(now() - start, 3 * SEC);
    });
}

#[test]
fn elapsed_is_an_error_that_says_what_happened() {
    virtual_loop().block_on(async {
        let err = timeout(Duration::ZERO, pending::<()>()).await.unwrap_err();
        assert_eq!(err.to_string(), "deadline has elapsed");
        let boxed: Box<dyn std::error::Error> = Box::new(err);
        assert_eq!(boxed.to_string(), "deadline has elapsed");
        assert!(format!("{err:?}").contains("Elapsed"));
        assert!(format!("{:?}", timeout(SEC, ready(1))).contains("Timeout"));
    });
}
