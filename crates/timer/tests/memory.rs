//! Cancelled timers do not pile up: a million register-then-cancel cycles (dropped sleeps,
//! cancelled callbacks, finished timeouts) leave the heap's memory flat.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use handloop_executor::{EventLoop, ThreadPark, yield_now};
use handloop_timer::{TimerDriver, call_later, heap_footprint, sleep, timeout};

const CYCLES: u32 = 1_000_000;

fn assert_flat(live: usize) {
    let f = heap_footprint();
    assert_eq!(f.live, live, "{f:?}");
    assert!(f.heap_len <= 2 * live + 64, "{f:?}");
    assert!(f.heap_capacity <= 256, "{f:?}");
    assert!(f.slots_capacity <= 16, "{f:?}");
}

fn run(clock_virtual: bool) {
    let driver = if clock_virtual {
        TimerDriver::new_virtual(ThreadPark::new())
    } else {
        TimerDriver::new(ThreadPark::new())
    };
    EventLoop::with_driver(driver).block_on(async {
        // A long timer at the top, so that cancellations below it go stale and the
        // compaction path is exercised too (without it, each cancel pops the top).
        let mut anchor = Box::pin(sleep(Duration::from_secs(3600)));
        poll_fn(|cx| {
            assert!(anchor.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        poll_fn(|cx| {
            for i in 0..CYCLES {
                let delay = Duration::from_secs(3601 + u64::from(i % 1000));
                let mut s = sleep(delay);
                assert!(Pin::new(&mut s).poll(cx).is_pending());
                drop(s);
                call_later(delay, || unreachable!()).cancel();
            }
            Poll::Ready(())
        })
        .await;
        assert_flat(1);
        drop(anchor);
        // The nearest timer cancelled: popped at once.
        for _ in 0..10_000 {
            assert!(timeout(Duration::from_secs(1), yield_now()).await.is_ok());
        }
        assert_flat(0);
    });
}

#[test]
fn a_million_cancelled_timers_leave_memory_flat_virtual_clock() {
    run(true);
}

#[test]
fn a_million_cancelled_timers_leave_memory_flat_real_clock() {
    run(false);
}

/// With thousands of live timers the heap is compacted in steps: memory stays flat too.
#[test]
fn a_million_cancels_among_many_live_timers_leave_memory_flat() {
    const LIVE: usize = 5000; // more than ONE_PASS_LIMIT entries with the stale ones
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new())).block_on(async {
        // Live timers, registered by polling their sleeps once (they never fire here).
        let mut live: Vec<_> = (0..LIVE as u64)
            .map(|i| Box::pin(sleep(Duration::from_secs(3600 + i))))
            .collect();
        poll_fn(|cx| {
            for s in &mut live {
                assert!(s.as_mut().poll(cx).is_pending());
            }
            Poll::Ready(())
        })
        .await;
        let mut warmed_up = None;
        poll_fn(|cx| {
            for i in 0..CYCLES {
                // Later than every live timer: each cancel leaves a stale entry.
                let mut s = sleep(Duration::from_secs(7200 + u64::from(i % 1000)));
                assert!(Pin::new(&mut s).poll(cx).is_pending());
                drop(s);
                let f = heap_footprint();
                assert_eq!(f.live, LIVE, "{f:?}");
                assert!(f.heap_len <= 2 * LIVE + 31, "{f:?}");
                if i == CYCLES / 10 {
                    warmed_up = Some(f);
                }
            }
            Poll::Ready(())
        })
        .await;
        let (warmed_up, end) = (warmed_up.unwrap(), heap_footprint());
        assert_eq!(end.heap_capacity, warmed_up.heap_capacity, "{end:?}");
        assert_eq!(end.slots_capacity, warmed_up.slots_capacity, "{end:?}");
        // The entries' bound, rounded up by the buffer's doubling.
        assert!(end.heap_capacity <= 2 * (2 * LIVE + 31), "{end:?}");
        assert!(end.slots_capacity <= 2 * (LIVE + 1), "{end:?}");
        drop(live);
        assert_eq!(heap_footprint().live, 0);
    });
}
