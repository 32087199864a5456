//! The tutorials' `say_after`, twice. Awaiting each task before creating the next runs
//! them one after the other (1 s + 2 s = 3 s); creating both before awaiting either lets
//! their waits overlap (2 s). Times are on the virtual clock, so they are exact.
//!
//! ```python
//! async def say_after(delay, what):
//!     await asyncio.sleep(delay)
//!     print(what)
//!
//! async def in_turn():                  # 3 seconds
//!     print(f"started at {time.strftime('%X')}")
//!     await asyncio.create_task(say_after(1, 'hello'))
//!     await asyncio.create_task(say_after(2, 'world'))
//!     print(f"finished at {time.strftime('%X')}")
//!
//! async def together():                 # 2 seconds
//!     task1 = asyncio.create_task(say_after(1, 'hello'))
//!     task2 = asyncio.create_task(say_after(2, 'world'))
//!     print(f"started at {time.strftime('%X')}")
//!     await task1
//!     await task2
//!     print(f"finished at {time.strftime('%X')}")
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use handloop::{Runtime, sleep, spawn};

/// Prints each line and keeps it, so the test can check exactly what was printed.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn say(&self, line: String) {
        println!("{line}");
        self.0.borrow_mut().push(line);
    }
}

/// Seconds since `start` on the loop's clock, like `1.000s`.
fn since(start: Instant) -> String {
    format!("{:.3}s", (handloop::time::now() - start).as_secs_f64())
}

async fn say_after(delay: Duration, what: &'static str, log: Log, start: Instant) {
    sleep(delay).await;
    log.say(format!("  {what} at {}", since(start)));
}

/// What the two runs printed and how long each took.
#[derive(Debug)]
#[allow(dead_code)] // read by the tests
pub struct SayAfterReport {
    /// The lines printed, in order.
    pub lines: Vec<String>,
    /// Virtual time taken awaiting each task before creating the next.
    pub in_turn: Duration,
    /// Virtual time taken creating both tasks before awaiting.
    pub together: Duration,
}

/// Runs the example, printing as it goes, and returns what `tests/examples.rs` checks.
pub fn demo() -> SayAfterReport {
    let log = Log::default();
    let secs = Duration::from_secs;

    log.say("each task awaited before the next is created:".to_owned());
    // A fresh runtime per version, so each starts at 0.000s.
    let runtime = Runtime::builder().virtual_time().build().expect("runtime");
    let in_turn = runtime.block_on(async {
        let start = handloop::time::now();
        log.say(format!("  started at {}", since(start)));
        spawn(say_after(secs(1), "hello", log.clone(), start))
            .await
            .unwrap();
        spawn(say_after(secs(2), "world", log.clone(), start))
            .await
            .unwrap();
        log.say(format!("  finished at {}", since(start)));
        handloop::time::now() - start
    });

    log.say("both tasks created, then awaited:".to_owned());
    let runtime = Runtime::builder().virtual_time().build().expect("runtime");
    let together = runtime.block_on(async {
        let start = handloop::time::now();
        let task1 = spawn(say_after(secs(1), "hello", log.clone(), start));
        let task2 = spawn(say_after(secs(2), "world", log.clone(), start));
        log.say(format!("  started at {}", since(start)));
        task1.await.unwrap(); // both tasks are waiting on their sleeps at once
        task2.await.unwrap();
        log.say(format!("  finished at {}", since(start)));
        handloop::time::now() - start
    });

    let lines = log.0.borrow().clone();
    SayAfterReport {
        lines,
        in_turn,
        together,
    }
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
