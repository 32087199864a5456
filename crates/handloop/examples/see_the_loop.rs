//! Seeing the loop. An event loop is invisible by design, which is why two mistakes are so
//! hard to find in asyncio programs: a task that blocks the thread (everything else just
//! gets slow), and tasks that wait for each other (the program just hangs). handloop's
//! tools show both, and draw the loop's schedule as a timeline:
//!
//! 1. The blocking mistake, in debug mode (`Runtime::builder().debug(true)`, or
//!    `HANDLOOP_DEBUG=1`): a watchdog thread sees that one poll has held the thread past
//!    the slow-poll threshold and names the task on stderr while it is still blocking;
//!    once it finally yields, how long it took.
//! 2. The deadlock mistake: a consumer waits for an item that nobody will ever put (the
//!    producer finished without closing the queue). Instead of hanging, the loop panics
//!    with `handloop: deadlock` and a dump of every task and what it waits on (Go's "all
//!    goroutines are asleep - deadlock!"). We catch the panic and print the report.
//! 3. A trace: the same producer and consumer, fixed, with `.trace(path)`: the loop writes
//!    its schedule as Chrome trace-event JSON, with a slice per poll named after the task
//!    and an arrow from each wake to the poll it caused. Open the file in ui.perfetto.dev.
//!
//! ```python
//! asyncio.run(main(), debug=True)   # 1: asyncio logs a slow callback only after it returns
//! python -m asyncio ps PID          # 2: Python 3.14 lists tasks and what they await
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use handloop::debug::{TraceSummary, check_trace};
use handloop::{Queue, Runtime};

/// What the example saw, for `tests/examples.rs`.
#[derive(Debug)]
#[allow(dead_code)] // read by the tests
pub struct SeeTheLoopReport {
    /// How late the ticker's worst tick was while `checksum` held the thread.
    pub ticker_late_by: Duration,
    /// The deadlock panic's message.
    pub deadlock: String,
    /// What the fixed consumer received.
    pub consumed: Vec<u32>,
    /// Where the trace was written.
    pub trace_path: PathBuf,
    /// What the trace checker found in it.
    pub trace: TraceSummary,
}

/// The blocking mistake: `checksum` does 350 ms of blocking work without an await, while
/// `ticker` wants to run every 50 ms.
fn blocking_mistake() -> Duration {
    let runtime = Runtime::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(100))
        .build()
        .expect("a runtime in debug mode");
    runtime.block_on(async {
        let ticker = handloop::task::Builder::new().name("ticker").spawn(async {
            let mut worst = Duration::ZERO;
            for _ in 0..8 {
                let asked = Instant::now();
                handloop::sleep(Duration::from_millis(50)).await;
                worst = worst.max(asked.elapsed().saturating_sub(Duration::from_millis(50)));
            }
            worst
        });
        handloop::sleep(Duration::from_millis(60)).await;
        handloop::task::Builder::new()
            .name("checksum")
            .spawn(async {
                // The mistake: blocking work on the loop's thread, with no await in it.
                // (The fix: move it to a thread, or await between pieces of it.)
                std::thread::sleep(Duration::from_millis(350));
            })
            .await
            .unwrap();
        ticker.await.unwrap()
    })
}

/// A producer that puts `items` and, if `close`, closes the queue; a consumer that sums
/// what it gets until the queue is closed and drained.
async fn produce_and_consume(items: u32, close: bool, pause: Duration) -> Vec<u32> {
    let queue = Queue::bounded(2);
    let consumer = {
        let queue = queue.clone();
        handloop::task::Builder::new()
            .name("consumer")
            .spawn(async move {
                let mut got = Vec::new();
                // Ends when the queue is closed and empty; waits forever if nobody closes it.
                while let Ok(item) = queue.get().await {
                    got.push(item);
                }
                got
            })
    };
    let producer = handloop::task::Builder::new()
        .name("producer")
        .spawn(async move {
            for item in 1..=items {
                queue.put(item).await.unwrap();
                handloop::sleep(pause).await;
            }
            if close {
                queue.close();
            }
        });
    producer.await.unwrap();
    consumer.await.unwrap()
}

/// The deadlock mistake, on the virtual clock: caught, and its report returned.
fn deadlock_mistake() -> String {
    let runtime = Runtime::builder().virtual_time().build().unwrap();
    // The report is the panic's message: print it ourselves instead of the panic hook.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(produce_and_consume(3, false, Duration::from_secs(1)))
    }));
    std::panic::set_hook(hook);
    let payload = caught.expect_err("nobody closes the queue: the consumer waits forever");
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The fixed program, traced.
fn traced() -> (Vec<u32>, PathBuf, TraceSummary) {
    let path =
        std::env::temp_dir().join(format!("handloop-see-the-loop-{}.json", std::process::id()));
    let runtime = Runtime::builder().trace(&path).build().unwrap();
    let consumed = runtime.block_on(produce_and_consume(5, true, Duration::from_millis(5)));
    drop(runtime); // the trace is written when the runtime is dropped
    let json = std::fs::read_to_string(&path).expect("the trace was written");
    let summary = check_trace(&json).expect("a valid trace");
    (consumed, path, summary)
}

/// Runs the three parts, printing as it goes.
pub fn demo() -> SeeTheLoopReport {
    println!("1. The blocking mistake, in debug mode (the watchdog speaks on stderr):");
    let ticker_late_by = blocking_mistake();
    println!(
        "   the ticker asked for 50 ms and its worst tick came ~{} ms late",
        ticker_late_by.as_millis() / 50 * 50
    );

    println!("\n2. The deadlock mistake: the producer never closes the queue.");
    let deadlock = deadlock_mistake();
    for line in deadlock.lines() {
        println!("   {line}");
    }
    println!("   (the fix: queue.close() after the last put, so the consumer's get ends)");

    println!("\n3. The fixed program, traced:");
    let (consumed, trace_path, trace) = traced();
    println!("   the consumer got {consumed:?}");
    println!("   {}: {trace}", trace_path.display());
    println!("   open it in https://ui.perfetto.dev or chrome://tracing");
    SeeTheLoopReport {
        ticker_late_by,
        deadlock,
        consumed,
        trace_path,
        trace,
    }
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
