//! What happens around the loop's life: pending callbacks are freed with the loop (the
//! timer → callback → sleep → timer cycle is broken), handles outliving the loop are
//! harmless, and a tick that is already due needs no extra turn.

use std::cell::Cell;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use handloop_executor::{EventLoop, ThreadPark};
use handloop_timer::{TimerDriver, call_later, interval, sleep};

const SEC: Duration = Duration::from_secs(1);

fn virtual_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()))
}

/// Counts its drops.
struct DropCount(Rc<Cell<u32>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn dropping_the_loop_frees_pending_callbacks_even_those_owning_a_sleep() {
    let drops = Rc::new(Cell::new(0));
    let event_loop = virtual_loop();
    let handle = event_loop.block_on({
        let drops = drops.clone();
        async move {
            // A callback owning a registered sleep: the sleep holds the timer, the timer
            // holds the callback. Only the driver's drop breaks that cycle.
            let mut owned = Box::pin(sleep(SEC));
            assert!(
                owned
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                    .is_pending()
            );
            let guard = DropCount(drops.clone());
            call_later(SEC * 60, move || {
                drop(owned);
                drop(guard);
            })
        }
    });
    assert!(handle.is_pending());
    assert_eq!(drops.get(), 0);
    drop(event_loop);
    assert_eq!(
        drops.get(),
        1,
        "the pending callback was dropped, not leaked"
    );
    // The handle outlives its loop: harmless.
    assert!(!handle.is_pending());
    handle.cancel();
}

#[test]
fn a_tick_that_is_already_due_completes_on_its_first_poll() {
    virtual_loop().block_on(async {
        let mut ticks = interval(SEC);
        let mut cx = Context::from_waker(Waker::noop());
        // The first tick is due at once: ready on the first poll, no yield.
        assert!(matches!(ticks.poll_tick(&mut cx), Poll::Ready(_)));
        // The next one is a period away.
        assert!(ticks.poll_tick(&mut cx).is_pending());
        sleep(SEC * 3).await;
        // Late: due already, so again ready at once.
        assert!(matches!(ticks.poll_tick(&mut cx), Poll::Ready(_)));
    });
}
