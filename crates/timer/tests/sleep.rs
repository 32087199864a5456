//! `sleep` and `sleep_until`: zero sleeps yield once without a heap entry, sleeps never
//! end early, one heap entry per sleep however often it is polled, cleanup on drop, reset.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use handloop_executor::{EventLoop, ThreadPark, spawn, yield_now};
use handloop_timer::{TimerDriver, heap_footprint, now, sleep, sleep_until};

fn virtual_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()))
}

const SEC: Duration = Duration::from_secs(1);

/// Polls `fut` once with the task's own waker and returns the result.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

#[test]
fn a_zero_sleep_goes_to_the_back_of_the_ready_queue() {
    let order = Rc::new(RefCell::new(Vec::new()));
    virtual_loop().block_on({
        let order = order.clone();
        async move {
            let start = now();
            let a = {
                let order = order.clone();
                spawn(async move {
                    order.borrow_mut().push("a1");
                    sleep(Duration::ZERO).await;
                    order.borrow_mut().push("a2");
                })
            };
            let b = {
                let order = order.clone();
                spawn(async move {
                    order.borrow_mut().push("b1");
                    yield_now().await;
                    order.borrow_mut().push("b2");
                })
            };
            a.await.unwrap();
            b.await.unwrap();
            assert_eq!(now(), start);
        }
    });
    assert_eq!(*order.borrow(), ["a1", "b1", "a2", "b2"]);
}

#[test]
fn zero_and_past_sleeps_yield_exactly_once_without_a_heap_entry() {
    virtual_loop().block_on(async {
        sleep(SEC).await; // so that `now() - SEC` is a past instant after the start
        for mut zero in [
            sleep(Duration::ZERO),
            sleep_until(now() - SEC),
            sleep_until(now()),
        ] {
            assert!(poll_once(&mut zero).await.is_pending());
            assert_eq!(heap_footprint().heap_len, 0);
            assert!(poll_once(&mut zero).await.is_ready());
        }
    });
}

#[test]
fn sleeps_end_exactly_at_their_deadline_never_before() {
    virtual_loop().block_on(async {
        for millis in [1u64, 7, 500, 1000, 60_000] {
            let d = Duration::from_millis(millis);
            let start = now();
            let mut s = sleep(d);
            assert_eq!(s.deadline(), start + d);
            assert!(!s.is_elapsed());
            (&mut s).await;
            assert!(s.is_elapsed());
            assert_eq!(now() - start, d);
        }
        let target = now() + 3 * SEC;
        sleep_until(target).await;
        assert_eq!(now(), target);
    });
}

#[test]
fn repolling_keeps_one_heap_entry_and_follows_the_newest_waker() {
    virtual_loop().block_on(async {
        let start = now();
        let mut s = pin!(sleep(SEC));
        // First poll with a waker that wakes nobody...
        let noop = Waker::noop();
        assert!(
            s.as_mut()
                .poll(&mut std::task::Context::from_waker(noop))
                .is_pending()
        );
        // ...then many polls with the task's waker: still one entry.
        for _ in 0..100 {
            assert!(poll_once(&mut s).await.is_pending());
        }
        let footprint = heap_footprint();
        assert_eq!((footprint.live, footprint.heap_len), (1, 1));
        // The stored waker was replaced, so the task is woken at the deadline.
        s.await;
        assert_eq!(now() - start, SEC);
        assert_eq!(heap_footprint().heap_len, 0);
    });
}

#[test]
fn registration_happens_on_first_poll_and_drop_deregisters() {
    virtual_loop().block_on(async {
        let mut s = sleep(SEC);
        assert_eq!(heap_footprint().live, 0, "created but not polled: no entry");
        assert!(poll_once(&mut s).await.is_pending());
        assert_eq!(heap_footprint().live, 1);
        drop(s);
        assert_eq!(heap_footprint().live, 0);
    });
}

#[test]
fn a_sleeping_task_aborted_leaves_no_timer_behind() {
    virtual_loop().block_on(async {
        let task = spawn(async { sleep(SEC).await });
        yield_now().await;
        assert_eq!(heap_footprint().live, 1);
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(heap_footprint().live, 0);
    });
}

#[test]
fn reset_moves_the_deadline_both_ways() {
    virtual_loop().block_on(async {
        let start = now();
        let mut s = sleep(10 * SEC);
        assert!(poll_once(&mut s).await.is_pending());
        s.reset(start + 2 * SEC);
        assert_eq!(s.deadline(), start + 2 * SEC);
        assert_eq!(heap_footprint().live, 1, "the entry moved: still one");
        (&mut s).await;
        assert_eq!(now() - start, 2 * SEC);
        // After it ended: a new wait, registered on the next poll.
        s.reset(now() + 5 * SEC);
        assert_eq!(heap_footprint().live, 0);
        s.await;
        assert_eq!(now() - start, 7 * SEC);
    });
}

#[test]
fn a_reset_sleep_wakes_its_task_at_the_new_deadline_without_another_poll() {
    virtual_loop().block_on(async {
        let start = now();
        let mut s = sleep(10 * SEC);
        let mut polls = 0;
        // Polls the sleep once, moves it, and then only waits for a wake: the moved entry
        // must still hold this task's waker.
        poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                assert!(std::pin::Pin::new(&mut s).poll(cx).is_pending());
                s.reset(start + 3 * SEC);
                return Poll::Pending;
            }
            Poll::Ready(())
        })
        .await;
        assert_eq!(polls, 2);
        assert_eq!(now() - start, 3 * SEC);
        // And a deadline already past wakes it on the next turn.
        let mut s = sleep(10 * SEC);
        let mut polls = 0;
        poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                assert!(std::pin::Pin::new(&mut s).poll(cx).is_pending());
                s.reset(start);
                return Poll::Pending;
            }
            Poll::Ready(())
        })
        .await;
        assert_eq!(now() - start, 3 * SEC, "no time passed");
        assert!(s.is_elapsed());
    });
}

#[test]
fn a_huge_sleep_does_not_overflow() {
    virtual_loop().block_on(async {
        let mut s = sleep(Duration::MAX);
        assert!(poll_once(&mut s).await.is_pending());
        assert!(s.deadline() > now() + Duration::from_secs(60 * 60 * 24 * 365));
    });
}

#[test]
#[should_panic(expected = "used after its event loop was dropped")]
fn polling_a_sleep_after_its_loop_is_gone_panics() {
    let event_loop = virtual_loop();
    let mut s = None;
    event_loop.block_on(async {
        let mut registered = Box::pin(sleep(SEC));
        assert!(poll_once(&mut registered).await.is_pending());
        s = Some(registered); // keep it past the loop
    });
    let s = s.unwrap();
    drop(event_loop);
    handloop_executor::EventLoop::new().block_on(s);
}

#[test]
fn sleep_is_debug() {
    virtual_loop().block_on(async {
        let s = sleep(SEC);
        assert!(format!("{s:?}").starts_with("Sleep"));
    });
}
