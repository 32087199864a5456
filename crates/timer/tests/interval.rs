//! `interval`: ticks at exact virtual times, no drift, and the missed-tick policies
//! (`Skip`, the default, and `Delay`) after a stall: never a burst.

use std::time::{Duration, Instant};

use handloop_executor::{EventLoop, ThreadPark};
use handloop_timer::{MissedTickBehavior, TimerDriver, interval, interval_at, now, sleep};

fn virtual_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()))
}

const SEC: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn ticks_at_exact_times_the_first_at_once() {
    virtual_loop().block_on(async {
        let start = now();
        let mut ticker = interval(SEC);
        assert_eq!(ticker.period(), SEC);
        assert_eq!(ticker.missed_tick_behavior(), MissedTickBehavior::Skip);
        for k in 0..5 {
            let tick = ticker.tick().await;
            assert_eq!(tick, start + k * SEC);
            assert_eq!(now(), tick);
        }
    });
}

#[test]
fn work_shorter_than_a_period_does_not_drift() {
    virtual_loop().block_on(async {
        let start = now();
        let mut ticker = interval(SEC);
        for k in 0..5 {
            assert_eq!(ticker.tick().await, start + k * SEC);
            sleep(ms(300)).await; // "work"
        }
        assert_eq!(now() - start, 4 * SEC + ms(300));
    });
}

/// Ticks at 0 s and 1 s, then a stall until 4.5 s, then four more ticks: returns each
/// tick's scheduled instant and the time it completed, relative to the start.
fn after_a_stall(behavior: MissedTickBehavior, stall: Duration) -> Vec<(Duration, Duration)> {
    virtual_loop().block_on(async move {
        let start = now();
        let mut ticker = interval(SEC);
        ticker.set_missed_tick_behavior(behavior);
        ticker.tick().await;
        ticker.tick().await;
        sleep(stall).await; // the task is busy elsewhere; nobody polls the interval
        let mut ticks = Vec::new();
        for _ in 0..4 {
            let tick = ticker.tick().await;
            ticks.push((tick - start, now() - start));
        }
        ticks
    })
}

#[test]
fn skip_fires_one_late_tick_then_returns_to_the_grid() {
    assert_eq!(
        after_a_stall(MissedTickBehavior::Skip, ms(3500)),
        [
            (2 * SEC, ms(4500)), // the late tick, at once; 3 s and 4 s are skipped
            (5 * SEC, 5 * SEC),
            (6 * SEC, 6 * SEC),
            (7 * SEC, 7 * SEC),
        ]
    );
}

#[test]
fn skip_after_a_stall_ending_on_a_grid_point_waits_for_the_next_one() {
    assert_eq!(
        after_a_stall(MissedTickBehavior::Skip, 3 * SEC),
        [
            (2 * SEC, 4 * SEC),
            (5 * SEC, 5 * SEC),
            (6 * SEC, 6 * SEC),
            (7 * SEC, 7 * SEC),
        ]
    );
}

#[test]
fn delay_fires_one_late_tick_then_restarts_the_period() {
    assert_eq!(
        after_a_stall(MissedTickBehavior::Delay, ms(3500)),
        [
            (2 * SEC, ms(4500)),
            (ms(5500), ms(5500)),
            (ms(6500), ms(6500)),
            (ms(7500), ms(7500)),
        ]
    );
}

#[test]
fn a_short_delay_is_not_a_missed_tick() {
    // Late by less than a period: the next tick stays on the grid under both policies.
    for behavior in [MissedTickBehavior::Skip, MissedTickBehavior::Delay] {
        assert_eq!(
            after_a_stall(behavior, ms(500)),
            [
                (2 * SEC, 2 * SEC),
                (3 * SEC, 3 * SEC),
                (4 * SEC, 4 * SEC),
                (5 * SEC, 5 * SEC),
            ]
        );
    }
}

#[test]
fn interval_at_starts_later() {
    virtual_loop().block_on(async {
        let start: Instant = now();
        let mut ticker = interval_at(start + 10 * SEC, ms(250));
        assert_eq!(ticker.tick().await, start + 10 * SEC);
        assert_eq!(ticker.tick().await, start + 10 * SEC + ms(250));
        assert_eq!(now() - start, 10 * SEC + ms(250));
        assert!(format!("{ticker:?}").contains("Interval"));
    });
}

#[test]
#[should_panic(expected = "period must be non-zero")]
fn a_zero_period_panics() {
    virtual_loop().block_on(async {
        drop(interval(Duration::ZERO));
    });
}
