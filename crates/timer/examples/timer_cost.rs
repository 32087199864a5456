//! Rough per-operation costs of the timer, side by side with tokio's current-thread
//! runtime (time enabled). Not the project's benches (those use criterion); a quick check:
//!
//! `cargo run --release -p handloop-timer --example timer_cost`

use std::time::{Duration, Instant};

use handloop_executor::{EventLoop, ThreadPark, spawn, yield_now};
use handloop_timer::{TimerDriver, sleep, timeout};

const ITERS: u32 = 1_000_000;
const TASKS: u64 = 10_000;

fn per_op(total: Duration, ops: u32) -> f64 {
    total.as_nanos() as f64 / f64::from(ops)
}

fn main() {
    let real = || EventLoop::with_driver(TimerDriver::new(ThreadPark::new()));
    let tokio = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    };

    for round in 0..3 {
        println!("round {round}");
        // yield_now alone, as the baseline inside each runtime.
        let t = real().block_on(async {
            let start = Instant::now();
            for _ in 0..ITERS {
                yield_now().await;
            }
            start.elapsed()
        });
        println!(
            "  handloop yield_now                  {:7.1} ns",
            per_op(t, ITERS)
        );
        let t = tokio().block_on(async {
            let start = Instant::now();
            for _ in 0..ITERS {
                tokio::task::yield_now().await;
            }
            start.elapsed()
        });
        println!(
            "  tokio    yield_now                  {:7.1} ns",
            per_op(t, ITERS)
        );

        // timeout(1 s) around a yield_now: a timer registered, then cancelled. Inside a
        // spawned task in both runtimes (block_on's own future takes shortcuts in both).
        let t = real().block_on(async {
            spawn(async {
                let start = Instant::now();
                for _ in 0..ITERS {
                    timeout(Duration::from_secs(1), yield_now()).await.unwrap();
                }
                start.elapsed()
            })
            .await
            .unwrap()
        });
        println!(
            "  handloop timeout(1 s, yield_now())  {:7.1} ns",
            per_op(t, ITERS)
        );
        let t = tokio().block_on(async {
            tokio::spawn(async {
                let start = Instant::now();
                for _ in 0..ITERS {
                    tokio::time::timeout(Duration::from_secs(1), tokio::task::yield_now())
                        .await
                        .unwrap();
                }
                start.elapsed()
            })
            .await
            .unwrap()
        });
        println!(
            "  tokio    timeout(1 s, yield_now())  {:7.1} ns",
            per_op(t, ITERS)
        );

        // 10k tasks sleeping 1..=50 ms (spread), spawned then all awaited: total wall time.
        let t = real().block_on(async {
            let start = Instant::now();
            let handles: Vec<_> = (0..TASKS)
                .map(|i| spawn(async move { sleep(Duration::from_millis(1 + i % 50)).await }))
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            start.elapsed()
        });
        println!(
            "  handloop 10k spread sleeps (50 ms)  {:7.2} ms",
            t.as_secs_f64() * 1e3
        );
        let t = tokio().block_on(async {
            let start = Instant::now();
            let handles: Vec<_> = (0..TASKS)
                .map(|i| {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(1 + i % 50)).await
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            start.elapsed()
        });
        println!(
            "  tokio    10k spread sleeps (50 ms)  {:7.2} ms",
            t.as_secs_f64() * 1e3
        );
    }
}
