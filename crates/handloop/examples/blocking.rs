//! What a blocking call does to a loop, and the two ways out. Three workers each ask to
//! sleep 100 ms. A fourth task calls `std::thread::sleep(300 ms)`: it blocks the thread,
//! and with it the loop, so no other task runs and no timer fires until it returns: the
//! workers wake about 200 ms late. Run it with `HANDLOOP_DEBUG=1` and debug mode names the
//! culprit on stderr while it blocks: `handloop: task 'blocker' (id 4) has been running for
//! 0.110s without yielding to the loop`, then how long it took.
//!
//! The fixes: when the wait is only a wait, await `handloop::sleep` instead, which hands
//! the thread back to the loop while waiting. When the call really must block (a file read,
//! a library with no async API, a long computation), hand it to `handloop::to_thread`: it
//! runs on a pool thread and the task awaits its result, while the loop runs the workers.
//! This example runs on the real clock: blocking the thread is what it is about.
//!
//! ```python
//! async def worker(n):
//!     t0 = loop.time()
//!     await asyncio.sleep(0.1)
//!     print(f"worker {n} asked for 100 ms, woke after {loop.time() - t0:.3f} s")
//!
//! async def blocker():
//!     time.sleep(0.3)                          # the mistake: blocks the thread, so the loop too
//!     # await asyncio.sleep(0.3)               # fix 1: a wait that is only a wait
//!     # await asyncio.to_thread(time.sleep, 0.3)  # fix 2: a call that must block
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

/// How the fourth task waits for `BLOCK`.
#[derive(Clone, Copy, Debug)]
enum Wait {
    /// `std::thread::sleep` on the loop's thread: the mistake.
    BlockTheThread,
    /// `handloop::sleep(..).await`: the loop runs the others meanwhile.
    AwaitSleep,
    /// The blocking call, moved to a pool thread with `handloop::to_thread`.
    ToThread,
}

/// Spawns the workers, then a task that waits for `BLOCK` in the given way; returns how
/// long each worker's 100 ms sleep really took.
fn run(wait: Wait) -> Vec<Duration> {
    // handloop::run: a loop on the real clock, as asyncio.run.
    handloop::run(async move {
        let workers: Vec<_> = (0..3).map(|_| handloop::spawn(worker())).collect();
        // Named, so that debug mode can say who blocks: run this example with
        // HANDLOOP_DEBUG=1 and the loop's watchdog names 'blocker' while it blocks.
        handloop::task::Builder::new()
            .name("blocker")
            .spawn(async move {
                match wait {
                    // Nothing else on this thread runs meanwhile.
                    Wait::BlockTheThread => std::thread::sleep(BLOCK),
                    // The loop runs the workers meanwhile.
                    Wait::AwaitSleep => handloop::sleep(BLOCK).await,
                    // The same blocking call, on a pool thread; the task awaits its result.
                    Wait::ToThread => handloop::to_thread(|| std::thread::sleep(BLOCK))
                        .await
                        .expect("the blocking call does not panic"),
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
    /// Each worker's real wait when that task ran its blocking call through `to_thread`.
    pub to_thread: Vec<Duration>,
}

fn print_waits(waits: &[Duration]) {
    for (n, waited) in waits.iter().enumerate() {
        println!(
            "  worker {} asked for 100 ms, woke after ~{} ms",
            n + 1,
            about(*waited)
        );
    }
}

/// Runs the example, printing as it goes, and returns what `tests/examples.rs` checks.
pub fn demo() -> BlockingReport {
    println!("a task calls std::thread::sleep(300 ms): it blocks the whole loop");
    let blocked = run(Wait::BlockTheThread);
    print_waits(&blocked);
    println!("the same task awaits handloop::sleep(300 ms) instead");
    let fixed = run(Wait::AwaitSleep);
    print_waits(&fixed);
    println!("the same blocking call, handed to handloop::to_thread");
    let to_thread = run(Wait::ToThread);
    print_waits(&to_thread);
    BlockingReport {
        asked: ASKED,
        block: BLOCK,
        blocked,
        fixed,
        to_thread,
    }
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
