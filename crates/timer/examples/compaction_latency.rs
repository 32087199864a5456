//! A latency probe for the timer's bookkeeping under a cancel storm: with many live timers,
//! how long does the worst single loop turn (or the worst single cancel) take?
//!
//! Each cycle registers a `timeout` that is *not* the nearest deadline and cancels it, so
//! every cancel leaves a stale entry in the heap that only a compaction removes. The probe
//! times every cycle and prints the worst one, a few percentiles, and how many went over
//! 100 µs. Two parts, for 100,000 and 1,000,000 live timers:
//!
//! - **heap**: the bare `TimerHeap`, one insert + remove per cycle (pure bookkeeping);
//! - **loop**: `timeout(2 h, yield_now())` in a task on a loop: one loop turn per cycle.
//!
//! `cargo run --release -p handloop-timer --example compaction_latency [-- N...]`
//!
//! It measures wall time on a possibly shared machine, where a single slow cycle can be the
//! OS preempting the thread. The operations are deterministic, so every run stalls at the
//! same cycles if the timer is the cause: the probe runs each part three times and keeps,
//! for each cycle, its fastest time. A preemption is gone from that minimum (it would have
//! to hit the same cycle in all three runs); a stall the bookkeeping causes stays.

use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use handloop_executor::{EventLoop, ThreadPark, spawn, yield_now};
use handloop_timer::heap::TimerHeap;
use handloop_timer::{TimerDriver, heap_footprint, sleep, timeout};

/// Cancels per live timer: enough for a few compactions.
const CYCLES_PER_LIVE: usize = 4;

/// Runs of each part; each cycle's fastest run counts.
const RUNS: usize = 3;

/// A buffer for one run's per-cycle times, its pages touched now rather than during the
/// run (a first touch is a page fault: microseconds, in the middle of the measurement).
fn times_buffer(cycles: usize) -> Vec<u64> {
    vec![u64::MAX; cycles]
}

/// Runs `run` `RUNS` times and keeps each cycle's fastest time.
fn fastest_of_runs(run: impl Fn() -> Vec<u64>) -> Vec<u64> {
    let mut best = run();
    for _ in 1..RUNS {
        for (best, time) in best.iter_mut().zip(run()) {
            *best = (*best).min(time);
        }
    }
    best
}

/// The worst cycle and the shape of the tail, from per-cycle times in nanoseconds.
fn report(what: &str, live: usize, mut times: Vec<u64>) {
    let worst_at = (0..times.len()).max_by_key(|&i| times[i]).unwrap();
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    let over = times.iter().filter(|&&t| t > 100_000).count();
    println!(
        "{what:5} live {live:>9}  cycles {:>9}  median {:>6} ns  p99.9 {:>7} ns  \
         p99.99 {:>8} ns  max {:>9} ns (cycle {worst_at})  over 100 µs: {over}",
        times.len(),
        pct(0.5),
        pct(0.999),
        pct(0.9999),
        times.last().unwrap(),
    );
}

fn probe_heap(live: usize) -> Vec<u64> {
    let t0 = Instant::now();
    let hour = Duration::from_secs(3600);
    let mut heap = TimerHeap::new();
    // Live timers within the first hour; the cancelled ones are due later, so never on top.
    for i in 0..live {
        heap.insert(t0 + hour.mul_f64(i as f64 / live as f64), i);
    }
    let cycles = CYCLES_PER_LIVE * live;
    let mut times = times_buffer(cycles);
    for (i, time) in times.iter_mut().enumerate() {
        let start = Instant::now();
        let key = heap.insert(t0 + 2 * hour + Duration::from_micros(i as u64 % 1000), i);
        black_box(heap.remove(key));
        *time = start.elapsed().as_nanos() as u64;
    }
    assert_eq!(heap.len(), live);
    times
}

fn probe_loop(live: usize) -> Vec<u64> {
    let event_loop = EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()));
    event_loop.block_on(async move {
        let hour = Duration::from_secs(3600);
        // Live sleeps, registered by polling them once (they never fire: virtual time
        // only moves when the loop would wait, and the probe's task never waits).
        let mut sleeps: Vec<_> = (0..live)
            .map(|i| Box::pin(sleep(hour.mul_f64(i as f64 / live as f64) + hour / 2)))
            .collect();
        let mut cx = Context::from_waker(Waker::noop());
        for s in &mut sleeps {
            assert!(s.as_mut().poll(&mut cx).is_pending());
        }
        let cycles = CYCLES_PER_LIVE * live;
        let times = spawn(async move {
            let mut times = times_buffer(cycles);
            for time in &mut times {
                let start = Instant::now();
                // Registered on the first poll, cancelled on the second (one turn later).
                let result = timeout(2 * hour, yield_now()).await;
                *time = start.elapsed().as_nanos() as u64;
                assert!(black_box(result).is_ok());
            }
            times
        })
        .await
        .unwrap();
        assert_eq!(heap_footprint().live, live);
        drop(sleeps);
        times
    })
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|n| n.replace('_', "").parse().expect("sizes are numbers"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        sizes
    };
    for &live in &sizes {
        report("heap", live, fastest_of_runs(|| probe_heap(live)));
        report("loop", live, fastest_of_runs(|| probe_loop(live)));
    }
}
