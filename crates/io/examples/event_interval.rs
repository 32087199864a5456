//! How often should a busy loop ask the poller? Measures, for several intervals N, what a
//! turn of the cheapest busy loop (one task that only yields) costs while another task
//! waits on a socket, beside the same loop with no task waiting (no syscall at all).
//! `cargo run --release -p handloop-io --example event_interval`
//!
//! A zero-timeout `epoll_wait` every N turns costs about (its price) / N per turn; a
//! socket that became ready waits at most N turns. The chapter quotes a run.

use std::hint::black_box;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use handloop_executor::{EventLoop, spawn, yield_now};
use handloop_io::{Async, IoDriver};

const TURNS: u32 = 2_000_000;

/// ns per turn of a loop whose only ready task yields `TURNS` times; if `waiter`, another
/// task waits on a socket meanwhile.
fn ns_per_turn(interval: u32, waiter: bool) -> f64 {
    let driver = IoDriver::new().unwrap().with_event_interval(interval);
    let event_loop = EventLoop::with_driver(driver);
    event_loop.block_on(async {
        let (a, _b) = UnixStream::pair().unwrap();
        let a = Async::new(a).unwrap();
        let _reader = waiter.then(|| {
            spawn(async move {
                let mut buf = [0; 1];
                let _ = a.read_with(|mut s| s.read(&mut buf)).await;
            })
        });
        yield_now().await; // the reader is waiting now
        let start = Instant::now();
        for _ in 0..TURNS {
            yield_now().await;
        }
        black_box(start.elapsed().as_nanos() as f64 / TURNS as f64)
    })
}

fn main() {
    let best = |interval, waiter| {
        (0..5)
            .map(|_| ns_per_turn(interval, waiter))
            .fold(f64::INFINITY, f64::min)
    };
    let baseline = best(61, false);
    println!("one task yielding, no task waiting on I/O: {baseline:.1} ns/turn (no syscall)");
    println!("| N | ns/turn with a task waiting on a socket | extra per turn |");
    println!("|--:|--:|--:|");
    for interval in [1, 4, 16, 31, 61, 127, 255] {
        let ns = best(interval, true);
        println!(
            "| {interval} | {ns:.1} | {:+.1} ns ({:+.0}%) |",
            ns - baseline,
            (ns / baseline - 1.0) * 100.0
        );
    }
}
