//! The cases of CPython's `Lib/test/test_asyncio/test_timeouts.py` that apply to
//! handloop's `timeout`, ported to the virtual clock with exact times; then
//! `Timeout::reset` (asyncio's `Timeout.reschedule`) and `Timeout::deadline` (`when()`).
//!
//! Where handloop differs, the test says so. asyncio's timeout is a context manager that
//! cancels the task running its block; handloop's is a future that owns the work it
//! limits, polls that work first on every poll, and drops it when the deadline passes. So
//! on a tie the work (or the innermost timeout) wins, and "the task is cancelled" becomes
//! "the inner future is dropped". asyncio's `timeout(None)` (no deadline) has no
//! counterpart: a timeout always has a deadline. Cases about the context manager's own
//! misuse (entering twice, `repr`, cancelling the task from inside) have no counterpart
//! either.

use std::cell::Cell;
use std::future::{Future, pending, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use handloop_executor::{EventLoop, ThreadPark, spawn, yield_now};
use handloop_timer::{
    Elapsed, Timeout, TimerDriver, heap_footprint, now, sleep, timeout, timeout_at,
};

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn virtual_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()))
}

/// Polls a pinned timeout once in the current task.
async fn poll_once<F: Future>(t: &mut Pin<&mut Timeout<F>>) -> Poll<Result<F::Output, Elapsed>> {
    poll_fn(|cx| Poll::Ready(t.as_mut().poll(cx))).await
}

/// Records, when dropped, the loop's time (the inner future was "cancelled").
struct DroppedAt(Rc<Cell<Option<Instant>>>);

impl Drop for DroppedAt {
    fn drop(&mut self) {
        self.0.set(Some(now()));
    }
}

// ---- test_timeouts.py ----

#[test]
fn timeout_basic() {
    virtual_loop().block_on(async {
        let start = now();
        let t = timeout(10 * MS, sleep(10 * SEC));
        assert_eq!(t.deadline(), start + 10 * MS);
        let _: Elapsed = t.await.unwrap_err();
        assert_eq!(now() - start, 10 * MS);
        assert_eq!(heap_footprint().live, 0, "the inner sleep went with it");
    });
}

#[test]
fn timeout_at_basic() {
    virtual_loop().block_on(async {
        let deadline = now() + 10 * MS;
        let t = timeout_at(deadline, sleep(10 * SEC));
        assert_eq!(t.deadline(), deadline); // `cm.when()`
        t.await.unwrap_err();
        assert_eq!(now(), deadline);
    });
}

/// asyncio: only the outermost of two timeouts with one deadline raises `TimeoutError`,
/// the inner block sees `CancelledError`. handloop: the outer timeout polls its work
/// first, so the inner timeout reports the expiry and the outer one returns its result.
#[test]
fn nested_timeouts_with_one_deadline_the_inner_one_reports() {
    virtual_loop().block_on(async {
        let deadline = now() + 10 * MS;
        let outer = timeout_at(deadline, timeout_at(deadline, sleep(10 * SEC)));
        let inner: Result<(), Elapsed> = outer.await.expect("the outer timeout lost the tie");
        inner.unwrap_err();
        assert_eq!(now(), deadline);
        assert_eq!(heap_footprint().live, 0);
    });
}

/// asyncio: the block is cancelled (`CancelledError` inside it). handloop: the inner
/// future is dropped inside the poll that returns the error.
#[test]
fn waiter_cancelled() {
    virtual_loop().block_on(async {
        let start = now();
        let dropped_at = Rc::new(Cell::new(None));
        let guard = DroppedAt(dropped_at.clone());
        let result = timeout(10 * MS, async move {
            let _guard = guard;
            sleep(10 * SEC).await;
        })
        .await;
        assert_eq!(dropped_at.get(), Some(start + 10 * MS));
        result.unwrap_err();
    });
}

#[test]
fn timeout_not_called() {
    virtual_loop().block_on(async {
        let start = now();
        let t = timeout(10 * SEC, sleep(10 * MS));
        let deadline = t.deadline();
        assert_eq!(t.await, Ok(()));
        assert_eq!(now() - start, 10 * MS);
        assert!(deadline > now());
        assert_eq!(heap_footprint().live, 0, "its timer was cancelled at once");
    });
}

#[test]
fn timeout_zero() {
    virtual_loop().block_on(async {
        let start = now();
        let t = timeout(Duration::ZERO, sleep(10 * SEC));
        assert_eq!(t.deadline(), start);
        t.await.unwrap_err();
        assert_eq!(now(), start);
        assert_eq!(heap_footprint().live, 0);
    });
}

/// `sleep(0)` is pending once, and then the zero deadline has passed: it elapses on that
/// first poll, as asyncio raises.
#[test]
fn timeout_zero_sleep_zero() {
    virtual_loop().block_on(async {
        let start = now();
        timeout(Duration::ZERO, sleep(Duration::ZERO))
            .await
            .unwrap_err();
        assert_eq!(now(), start);
    });
}

#[test]
fn timeout_in_the_past_sleep_zero() {
    virtual_loop().block_on(async {
        let start = now();
        let t = timeout_at(start - 11 * SEC, sleep(Duration::ZERO));
        assert_eq!(t.deadline(), start - 11 * SEC);
        t.await.unwrap_err();
        assert_eq!(now(), start);
    });
}

/// asyncio: an exception from the block passes through. handloop: the work's own error
/// is its output, inside `Ok`.
#[test]
fn foreign_exception_passed() {
    virtual_loop().block_on(async {
        let start = now();
        let result = timeout(10 * MS, async { Err::<(), _>("KeyError") }).await;
        assert_eq!(result, Ok(Err("KeyError")));
        assert_eq!(now(), start);
    });
}

/// asyncio: a `finally` that raises while the block is cancelled replaces the
/// `TimeoutError`. handloop: a destructor that panics while the work is dropped panics
/// the task; its handle reports that panic.
#[test]
fn foreign_exception_on_timeout() {
    struct Crash;
    impl Drop for Crash {
        fn drop(&mut self) {
            panic!("division by zero");
        }
    }
    virtual_loop().block_on(async {
        let start = now();
        let task = spawn(async {
            let crash = async {
                let _finally = Crash;
                sleep(SEC).await;
            };
            let _ = timeout(10 * MS, crash).await;
            unreachable!("the panic ends the task");
        });
        let err = task.await.unwrap_err();
        assert_eq!(err.panic_message(), Some("division by zero"));
        assert_eq!(now() - start, 10 * MS);
    });
}

#[test]
fn outer_task_is_not_cancelled() {
    virtual_loop().block_on(async {
        let task = spawn(async { timeout(MS, sleep(10 * SEC)).await });
        assert!(task.await.expect("the task itself finished").is_err());
    });
}

/// asyncio's `test_nested_timeouts_loop_busy`, without the busy loop (virtual time does
/// not pass while a task computes): the inner timeout expires, then the outer one
/// interrupts the next wait.
#[test]
fn nested_timeouts_the_outer_one_interrupts_after_the_inner_one_expired() {
    virtual_loop().block_on(async {
        let start = now();
        let outer = timeout(100 * MS, async {
            timeout(10 * MS, sleep(SEC)).await.unwrap_err();
            assert_eq!(now() - start, 10 * MS);
            sleep(10 * SEC).await; // interrupted by the outer timeout
            unreachable!("the outer timeout dropped this future");
        });
        outer.await.unwrap_err();
        assert_eq!(now() - start, 100 * MS);
    });
}

/// The work completes exactly at the deadline: polled first, it wins.
#[test]
fn the_inner_future_completes_at_the_deadline() {
    virtual_loop().block_on(async {
        let start = now();
        assert_eq!(
            timeout(SEC, async {
                sleep(SEC).await;
                "done"
            })
            .await,
            Ok("done")
        );
        assert_eq!(now() - start, SEC);
        assert_eq!(heap_footprint().live, 0);
    });
}

/// A running timeout dropped (its task was aborted, it lost a race) takes its timer and
/// its work with it, at once.
#[test]
fn timeout_dropped() {
    virtual_loop().block_on(async {
        let start = now();
        let dropped_at = Rc::new(Cell::new(None));
        let guard = DroppedAt(dropped_at.clone());
        let mut t = Box::pin(timeout(10 * SEC, async move {
            let _guard = guard;
            sleep(20 * SEC).await;
        }));
        assert!(
            poll_fn(|cx| Poll::Ready(t.as_mut().poll(cx)))
                .await
                .is_pending()
        );
        assert_eq!(
            heap_footprint().live,
            2,
            "the timeout's timer and the inner sleep"
        );
        sleep(SEC).await;
        drop(t);
        assert_eq!(dropped_at.get(), Some(start + SEC));
        assert_eq!(heap_footprint().live, 0);
        // Nothing fires later: the loop has nothing left to wait for.
        sleep(30 * SEC).await;
        assert_eq!(now() - start, 31 * SEC);
    });
}

// ---- reschedule (`Timeout::reset`) ----

/// asyncio's `test_reschedule`: `when()` follows the new deadline; the work is cancelled
/// from outside before either deadline, and the timeout never expires.
#[test]
fn reschedule() {
    virtual_loop().block_on(async {
        let start = now();
        let deadline1 = start + 10 * SEC;
        let deadline2 = deadline1 + 20 * SEC;
        let mut t = Box::pin(timeout_at(deadline1, sleep(50 * SEC)));
        assert!(
            poll_fn(|cx| Poll::Ready(t.as_mut().poll(cx)))
                .await
                .is_pending()
        );
        assert_eq!(t.deadline(), deadline1);
        t.as_mut().reset(deadline2);
        assert_eq!(t.deadline(), deadline2);
        assert_eq!(
            heap_footprint().live,
            2,
            "the timer moved: still one entry each"
        );
        drop(t); // `task.cancel()`
        assert_eq!(heap_footprint().live, 0, "nothing left to expire");
        assert_eq!(now(), start);
    });
}

#[test]
fn reset_later_expires_at_the_new_deadline_only() {
    virtual_loop().block_on(async {
        let start = now();
        let mut t = pin!(timeout(10 * SEC, pending::<()>()));
        assert!(poll_once(&mut t).await.is_pending());
        sleep(5 * SEC).await;
        t.as_mut().reset(start + 30 * SEC);
        t.await.unwrap_err();
        assert_eq!(now() - start, 30 * SEC, "not at the old deadline");
    });
}

#[test]
fn reset_earlier_expires_at_the_new_deadline() {
    virtual_loop().block_on(async {
        let start = now();
        let mut t = pin!(timeout(10 * SEC, sleep(20 * SEC)));
        assert!(poll_once(&mut t).await.is_pending());
        t.as_mut().reset(start + 3 * SEC);
        t.await.unwrap_err();
        assert_eq!(now() - start, 3 * SEC);
        assert_eq!(heap_footprint().live, 0);
    });
}

#[test]
fn reset_into_the_past_fires_on_the_next_poll() {
    virtual_loop().block_on(async {
        let start = now();
        let mut t = pin!(timeout(10 * SEC, pending::<()>()));
        assert!(poll_once(&mut t).await.is_pending());
        sleep(2 * SEC).await;
        t.as_mut().reset(start + SEC);
        assert!(matches!(poll_once(&mut t).await, Poll::Ready(Err(_))));
        assert_eq!(now() - start, 2 * SEC, "no time passed");
        assert_eq!(heap_footprint().live, 0);
        // `now()` itself is not in the future: the same.
        let mut t = pin!(timeout(10 * SEC, pending::<()>()));
        assert!(poll_once(&mut t).await.is_pending());
        t.as_mut().reset(now());
        assert!(matches!(poll_once(&mut t).await, Poll::Ready(Err(_))));
    });
}

#[test]
fn reset_into_the_past_still_lets_ready_work_win() {
    virtual_loop().block_on(async {
        let mut t = pin!(timeout(10 * SEC, yield_now()));
        assert!(poll_once(&mut t).await.is_pending());
        t.as_mut().reset(now() - SEC);
        // `yield_now` is ready on its second poll, which comes first.
        assert_eq!(poll_once(&mut t).await, Poll::Ready(Ok(())));
    });
}

/// The task is woken at the new deadline even if it does not poll the timeout between
/// the reset and then (the timer moved together with the task's waker).
#[test]
fn reset_wakes_the_task_at_the_new_deadline_without_another_poll() {
    virtual_loop().block_on(async {
        let start = now();
        let mut t = pin!(timeout(10 * SEC, pending::<()>()));
        let mut polls = 0;
        poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                assert!(t.as_mut().poll(cx).is_pending());
                t.as_mut().reset(start + 4 * SEC);
                return Poll::Pending; // wait for a wake, without polling `t`
            }
            Poll::Ready(())
        })
        .await;
        assert_eq!((polls, now() - start), (2, 4 * SEC));
        t.await.unwrap_err();
        assert_eq!(now() - start, 4 * SEC);
    });
}

/// asyncio's `test_timeout_not_entered` raises; here a timeout that was not polled yet
/// simply starts with the new deadline.
#[test]
fn reset_before_the_first_poll() {
    virtual_loop().block_on(async {
        let start = now();
        let mut t = pin!(timeout(10 * SEC, pending::<()>()));
        t.as_mut().reset(start + 2 * SEC);
        t.await.unwrap_err();
        assert_eq!(now() - start, 2 * SEC);
    });
}

/// asyncio's `test_timeout_finished` raises; here resetting a finished timeout changes
/// only its deadline: nothing is registered and nothing fires.
#[test]
fn reset_after_it_finished() {
    virtual_loop().block_on(async {
        let start = now();
        let mut t = pin!(timeout(10 * SEC, sleep(SEC)));
        assert_eq!(t.as_mut().await, Ok(()));
        t.as_mut().reset(start + 20 * SEC);
        assert_eq!(t.deadline(), start + 20 * SEC);
        assert_eq!(heap_footprint().live, 0);
    });
}

#[test]
fn reset_when_the_work_finishes_first_returns_ok() {
    virtual_loop().block_on(async {
        let start = now();
        let mut t = pin!(timeout(SEC, sleep(3 * SEC)));
        assert!(poll_once(&mut t).await.is_pending());
        t.as_mut().reset(start + 5 * SEC);
        assert_eq!(t.await, Ok(()));
        assert_eq!(now() - start, 3 * SEC);
        assert_eq!(heap_footprint().live, 0);
    });
}
