//! What a blocking call does to a loop. Three workers each ask to sleep 100 ms. A fourth
//! task calls `std::thread::sleep(300 ms)`: it blocks the thread, and with it the loop,
//! so no other task runs and no timer fires until it returns: the workers wake about
//! 200 ms late. The fix is to await `handloop::sleep` instead, which hands the thread back
//! to the loop while waiting. This one runs on the real clock: blocking the thread is
//! what it is about. Run it with `HANDLOOP_DEBUG=1` and debug mode names the culprit on
//! stderr while it blocks: `handloop: task 'blocker' (id 4) has been running for 0.110s
//! without yielding to the loop`, then how long it took.
//!
//! ```python
//! async def worker(n):
//!     t0 = loop.time()
//!     await asyncio.sleep(0.1)
//!     print(f"worker {n} asked for 100 ms, woke after {loop.time() - t0:.3f} s")
//!
//! async def blocker():
//!     time.sleep(0.3)              # the mistake: blocks the thread, so the loop too
//!     # await asyncio.sleep(0.3)   # the fix
//! ```

use std::time::Duration;

const ASKED: Duration = Duration::from_millis(100);
const BLOCK: Duration = Duration::from_millis(300);

async fn worker() -> Duration {
    // The loop's clock (asyncio's loop.time()): read once per turn of the loop.
    let t0 = handloop::time::now();
    handloop::sleep(ASKED).await;
    handloop::time::now() - t0
}

/// Spawns the workers, then a task that waits for `BLOCK`, blocking or not; returns how
/// long each worker's 100 ms sleep really took.
fn run(block_the_thread: bool) -> Vec<Duration> {
    // handloop::run: a loop on the real clock, as asyncio.run.
    handloop::run(async move {
        let workers: Vec<_> = (0..3).map(|_| handloop::spawn(worker())).collect();
        // Named, so that debug mode can say who blocks: run this example with
        // HANDLOOP_DEBUG=1 and the loop's watchdog names 'blocker' while it blocks.
        handloop::task::Builder::new()
            .name("blocker")
            .spawn(async move {
                if block_the_thread {
                    std::thread::sleep(BLOCK); // nothing else on this thread runs meanwhile
                } else {
                    handloop::sleep(BLOCK).await; // the loop runs the workers meanwhile
                }
            });
        let mut waited = Vec::new();
        for worker in workers {
            waited.push(worker.await.unwrap());
        }
        waited
    })
}

/// Rounded to 50 ms, for printing: real timings wobble.
fn about(d: Duration) -> u128 {
    (d.as_millis() + 25) / 50 * 50
}

/// How long the workers' 100 ms sleeps really took, in each run.
#[derive(Debug)]
#[allow(dead_code)] // read by the tests
pub struct BlockingReport {
    /// What each worker asked for.
    pub asked: Duration,
    /// How long the blocking call held the thread.
    pub block: Duration,
    /// Each worker's real wait while another task blocked the thread.
    pub blocked: Vec<Duration>,
    /// Each worker's real wait when that task awaited `sleep` instead.
    pub fixed: Vec<Duration>,
}

/// Runs the example, printing as it goes, and returns what `tests/examples.rs` checks.
pub fn demo() -> BlockingReport {
    println!("a task calls std::thread::sleep(300 ms): it blocks the whole loop");
    let blocked = run(true);
    for (n, waited) in blocked.iter().enumerate() {
        println!(
            "  worker {} asked for 100 ms, woke after ~{} ms",
            n + 1,
            about(*waited)
        );
    }
    println!("the same task awaits handloop::sleep(300 ms) instead");
    let fixed = run(false);
    for (n, waited) in fixed.iter().enumerate() {
        println!(
            "  worker {} asked for 100 ms, woke after ~{} ms",
            n + 1,
            about(*waited)
        );
    }
    BlockingReport {
        asked: ASKED,
        block: BLOCK,
        blocked,
        fixed,
    }
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
