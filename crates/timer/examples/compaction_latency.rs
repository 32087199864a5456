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
//!
//! A cycle in which one of the heap's buffers grew past its old capacity (the `Vec`
//! reallocates and copies: a one-time cost of growing to a new peak, not of churn) is
//! reported on its own line.

use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use handloop_executor::{EventLoop, ThreadPark, spawn, yield_now};
use handloop_timer::heap::{Footprint, TimerHeap};
use handloop_timer::{TimerDriver, heap_footprint, sleep, timeout};

/// Cancels per live timer: enough for a few compactions.
const CYCLES_PER_LIVE: usize = 4;

/// Runs of each part; each cycle's fastest run counts.
const RUNS: usize = 3;

/// One run: each cycle's time in nanoseconds, and whether a buffer grew during it.
struct Run {
    times: Vec<u64>,
    grew: Vec<bool>,
}

impl Run {
    /// Buffers for `cycles` cycles, their pages touched now rather than during the run (a
    /// first touch is a page fault: microseconds, in the middle of the measurement).
    fn new(cycles: usize) -> Run {
        Run {
            times: vec![u64::MAX; cycles],
            grew: vec![true; cycles],
        }
    }

    fn record(&mut self, cycle: usize, start: Instant, before: Footprint, after: Footprint) {
        self.times[cycle] = start.elapsed().as_nanos() as u64;
        self.grew[cycle] = after.heap_capacity > before.heap_capacity
            || after.slots_capacity > before.slots_capacity;
    }
}

/// Runs `run` `RUNS` times and keeps each cycle's fastest time.
fn fastest_of_runs(run: impl Fn() -> Run) -> Run {
    let mut best = run();
    for _ in 1..RUNS {
        for (best, time) in best.times.iter_mut().zip(run().times) {
            *best = (*best).min(time);
        }
    }
    best
}

/// The worst cycle and the shape of the tail.
fn report(what: &str, live: usize, run: Run) {
    // (time, cycle) pairs.
    let mut churn: Vec<(u64, usize)> = Vec::new();
    let mut growth: Vec<(u64, usize)> = Vec::new();
    for (cycle, (&time, &grew)) in run.times.iter().zip(&run.grew).enumerate() {
        if grew { &mut growth } else { &mut churn }.push((time, cycle));
    }
    let mean = churn.iter().map(|&(t, _)| t).sum::<u64>() as f64 / churn.len() as f64;
    churn.sort_unstable();
    let pct = |p: f64| churn[((churn.len() - 1) as f64 * p) as usize].0;
    let (max, worst_at) = churn.last().copied().unwrap();
    let over = churn.iter().filter(|&&(t, _)| t > 100_000).count();
    println!(
        "{what:4} live {live:>9}  cycles {:>9}  mean {mean:>5.1} ns  median {:>4} ns  p99.9 {:>5} ns  \
         p99.99 {:>5} ns  max {:>8} ns (cycle {worst_at:>7})  over 100 µs: {over}",
        churn.len(),
        pct(0.5),
        pct(0.999),
        pct(0.9999),
        max,
    );
    if let Some(&(time, cycle)) = growth.iter().max() {
        println!(
            "{what:4} live {live:>9}  cycles in which a buffer grew: {}, the worst {time} ns \
             (cycle {cycle})",
            growth.len()
        );
    }
}

fn probe_heap(live: usize) -> Run {
    let t0 = Instant::now();
    let hour = Duration::from_secs(3600);
    let mut heap = TimerHeap::new();
    // Live timers within the first hour; the cancelled ones are due later, so never on top.
    for i in 0..live {
        heap.insert(t0 + hour.mul_f64(i as f64 / live as f64), i);
    }
    let cycles = CYCLES_PER_LIVE * live;
    let mut run = Run::new(cycles);
    for cycle in 0..cycles {
        let before = heap.footprint();
        let start = Instant::now();
        let key = heap.insert(
            t0 + 2 * hour + Duration::from_micros(cycle as u64 % 1000),
            cycle,
        );
        black_box(heap.remove(key));
        run.record(cycle, start, before, heap.footprint());
    }
    assert_eq!(heap.len(), live);
    run
}

fn probe_loop(live: usize) -> Run {
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
        let run = spawn(async move {
            let mut run = Run::new(cycles);
            for cycle in 0..cycles {
                let before = heap_footprint();
                let start = Instant::now();
                // Registered on the first poll, cancelled on the second (one turn later).
                let result = timeout(2 * hour, yield_now()).await;
                run.record(cycle, start, before, heap_footprint());
                assert!(black_box(result).is_ok());
            }
            run
        })
        .await
        .unwrap();
        assert_eq!(heap_footprint().live, live);
        drop(sleeps);
        run
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
