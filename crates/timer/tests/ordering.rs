//! Firing order: by deadline, ties in registration order (sleeps and callbacks alike),
//! callbacks FIFO on the ready queue; `TimerHandle::cancel`; calls with no timer.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use handloop_executor::{EventLoop, ThreadPark, spawn, yield_now};
use handloop_timer::{TimerDriver, call_at, call_later, now, sleep, sleep_until};

fn virtual_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()))
}

type Log<T> = Rc<RefCell<Vec<T>>>;

fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

const SEC: Duration = Duration::from_secs(1);

#[test]
fn equal_deadline_sleeps_wake_in_registration_order() {
    let order = log();
    virtual_loop().block_on({
        let order = order.clone();
        async move {
            let handles: Vec<_> = (0..5)
                .map(|id| {
                    let order = order.clone();
                    spawn(async move {
                        sleep(SEC).await;
                        order.borrow_mut().push(id);
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }
    });
    assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
}

#[test]
fn ties_follow_registration_not_spawn_order() {
    // Task `id` yields (4 - id) times before registering, so task 4 registers first.
    let order = log();
    virtual_loop().block_on({
        let order = order.clone();
        async move {
            let deadline = now() + SEC;
            let handles: Vec<_> = (0..5)
                .map(|id| {
                    let order = order.clone();
                    spawn(async move {
                        for _ in id..4 {
                            yield_now().await;
                        }
                        sleep_until(deadline).await;
                        order.borrow_mut().push(id);
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }
    });
    assert_eq!(*order.borrow(), [4, 3, 2, 1, 0]);
}

#[test]
fn equal_delay_callbacks_run_in_registration_order() {
    let order = log();
    virtual_loop().block_on({
        let order = order.clone();
        async move {
            for id in 0..10 {
                let order = order.clone();
                call_later(SEC, move || order.borrow_mut().push(id));
            }
            sleep(2 * SEC).await;
        }
    });
    assert_eq!(*order.borrow(), (0..10).collect::<Vec<_>>());
}

#[test]
fn sleeps_and_callbacks_with_one_deadline_interleave_in_registration_order() {
    let order = log();
    virtual_loop().block_on({
        let order = order.clone();
        async move {
            let deadline = now() + SEC;
            let mut handles = Vec::new();
            for id in 0..6 {
                let order = order.clone();
                if id % 2 == 0 {
                    call_at(deadline, move || order.borrow_mut().push(format!("cb{id}")));
                } else {
                    handles.push(spawn(async move {
                        sleep_until(deadline).await;
                        order.borrow_mut().push(format!("task{id}"));
                    }));
                    // Let the task register before the next callback does.
                    yield_now().await;
                }
            }
            for handle in handles {
                handle.await.unwrap();
            }
        }
    });
    assert_eq!(
        *order.borrow(),
        ["cb0", "task1", "cb2", "task3", "cb4", "task5"]
    );
}

#[test]
fn earlier_deadlines_fire_first_whatever_the_registration_order() {
    let order = log();
    virtual_loop().block_on({
        let order = order.clone();
        async move {
            let start = now();
            for secs in [5u64, 1, 4, 2, 3, 2] {
                let order = order.clone();
                call_later(Duration::from_secs(secs), move || {
                    order.borrow_mut().push((secs, now() - start));
                });
            }
            sleep(10 * SEC).await;
        }
    });
    let expected: Vec<_> = [1u64, 2, 2, 3, 4, 5]
        .into_iter()
        .map(|s| (s, Duration::from_secs(s)))
        .collect();
    assert_eq!(*order.borrow(), expected);
}

#[test]
fn a_fired_callback_runs_after_the_tasks_already_ready() {
    let order = log();
    virtual_loop().block_on({
        let order = order.clone();
        async move {
            let o = order.clone();
            call_later(Duration::ZERO, move || o.borrow_mut().push("callback"));
            let o = order.clone();
            let task = spawn(async move { o.borrow_mut().push("task") });
            // End of this turn: the task is ready, the callback fires and queues behind it.
            task.await.unwrap();
            yield_now().await;
        }
    });
    assert_eq!(*order.borrow(), ["task", "callback"]);
}

#[test]
fn cancel_stops_a_callback_and_is_idempotent() {
    let ran = log();
    virtual_loop().block_on({
        let ran = ran.clone();
        async move {
            let r = ran.clone();
            let cancelled = call_later(SEC, move || r.borrow_mut().push("cancelled"));
            let r = ran.clone();
            let kept = call_later(SEC, move || r.borrow_mut().push("kept"));
            assert!(cancelled.is_pending());
            cancelled.cancel();
            cancelled.cancel();
            assert!(!cancelled.is_pending());
            drop(kept); // dropping the handle does not cancel
            sleep(2 * SEC).await;
            cancelled.cancel();
        }
    });
    assert_eq!(*ran.borrow(), ["kept"]);
}

#[test]
fn cancelling_after_the_callback_ran_does_nothing() {
    virtual_loop().block_on(async {
        let start = now();
        let count = Rc::new(RefCell::new(0));
        let c = count.clone();
        let handle = call_later(SEC, move || *c.borrow_mut() += 1);
        assert_eq!(handle.when(), start + SEC);
        sleep(2 * SEC).await;
        assert!(!handle.is_pending());
        handle.cancel();
        handle.cancel();
        assert_eq!(*count.borrow(), 1);
        // The slot was reused by a new timer: the old handle must not cancel it.
        let c = count.clone();
        let _new = call_later(SEC, move || *c.borrow_mut() += 10);
        handle.cancel();
        sleep(2 * SEC).await;
        assert_eq!(*count.borrow(), 11);
        assert!(format!("{handle:?}").contains("pending: false"));
    });
}

#[test]
fn callbacks_may_register_and_cancel_timers() {
    let order = log();
    virtual_loop().block_on({
        let order = order.clone();
        async move {
            let o = order.clone();
            call_later(SEC, move || {
                o.borrow_mut().push("outer");
                let o2 = o.clone();
                call_later(SEC, move || o2.borrow_mut().push("inner"));
                call_later(SEC, || unreachable!()).cancel();
                let o3 = o.clone();
                spawn(async move {
                    sleep(SEC).await;
                    o3.borrow_mut().push("task");
                });
            });
            sleep(3 * SEC).await;
        }
    });
    assert_eq!(*order.borrow(), ["outer", "inner", "task"]);
}

#[test]
fn cancelling_a_callback_that_owns_a_sleep_does_not_double_borrow() {
    virtual_loop().block_on(async {
        let mut owned = Box::pin(sleep(SEC));
        // Register the sleep, so dropping it must deregister it.
        std::future::poll_fn(|cx| {
            assert!(owned.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        let handle = call_later(SEC, move || drop(owned));
        handle.cancel(); // drops the closure, which drops the sleep, which cancels its timer
        assert_eq!(handle_footprint(), 0);
    });

    fn handle_footprint() -> usize {
        handloop_timer::heap_footprint().live
    }
}

#[test]
fn a_panicking_callback_does_not_stop_the_loop() {
    let ran = log();
    virtual_loop().block_on({
        let ran = ran.clone();
        async move {
            call_later(SEC, || panic!("callback panics on purpose"));
            let r = ran.clone();
            call_later(SEC, move || r.borrow_mut().push("after"));
            sleep(2 * SEC).await;
        }
    });
    assert_eq!(*ran.borrow(), ["after"]);
}

#[test]
#[should_panic(expected = "handloop_timer::sleep() called with no running event loop with a timer")]
fn sleep_outside_a_loop_panics_with_advice() {
    drop(sleep(SEC));
}

#[test]
#[should_panic(expected = "handloop_timer::now() called with no running event loop with a timer")]
fn now_in_a_loop_without_a_timer_panics_with_advice() {
    EventLoop::new().block_on(async {
        now();
    });
}

#[test]
fn the_timer_is_installed_only_while_the_loop_runs() {
    let event_loop = virtual_loop();
    let start = event_loop.block_on(async { now() });
    assert!(std::panic::catch_unwind(now).is_err());
    let other = virtual_loop();
    other.block_on(async { sleep(SEC).await });
    // Each loop keeps its own clock.
    assert_eq!(event_loop.block_on(async { now() }), start);
    assert!(std::panic::catch_unwind(now).is_err());
}

#[test]
fn dropping_a_loop_with_sleeping_tasks_and_pending_callbacks_is_clean() {
    let event_loop = virtual_loop();
    event_loop.block_on(async {
        for _ in 0..10 {
            spawn(async { sleep(SEC).await });
        }
        let mut owned = Box::pin(sleep(SEC));
        std::future::poll_fn(|cx| {
            let _ = owned.as_mut().poll(cx);
            std::task::Poll::Ready(())
        })
        .await;
        // A pending callback that owns a registered sleep.
        call_later(SEC, move || drop(owned));
        yield_now().await;
    });
    drop(event_loop);
}
