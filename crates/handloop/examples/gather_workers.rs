//! The tutorials' `gather`: three workers each print "One", wait a second, then print
//! "Two". They run concurrently, so all three "One"s come before any "Two", and the
//! whole thing takes one second, not three.
//!
//! ```python
//! async def worker():
//!     print('One')
//!     await asyncio.sleep(1)
//!     print('Two')
//!
//! async def main():
//!     await asyncio.gather(worker(), worker(), worker())
//! ```
//!
//! `gather!` polls the three futures in place, inside the awaiting task: nothing is
//! spawned. They share that task's waker, so a wake polls every worker not yet done
//! (here all three sleeps end at the same instant anyway); `gather(iter)` gives each
//! future a waker of its own instead (`docs/01a-rust-questions.md` counts the polls).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use handloop::{Runtime, gather, sleep};

/// Prints each line and keeps it, so the test can check exactly what was printed.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn say(&self, line: String) {
        println!("{line}");
        self.0.borrow_mut().push(line);
    }
}

async fn worker(n: u32, log: &Log) -> u32 {
    log.say(format!("One   (worker {n})"));
    sleep(Duration::from_secs(1)).await; // all three wait at the same time
    log.say(format!("Two   (worker {n})"));
    n
}

/// What the run printed, returned and took.
#[derive(Debug)]
#[allow(dead_code)] // read by the tests
pub struct GatherReport {
    /// The lines printed, in order.
    pub lines: Vec<String>,
    /// What `gather!` returned: the workers' outputs, in argument order.
    pub outputs: (u32, u32, u32),
    /// Virtual time taken.
    pub elapsed: Duration,
}

/// Runs the example, printing as it goes, and returns what `tests/examples.rs` checks.
pub fn demo() -> GatherReport {
    let log = Log::default();
    let runtime = Runtime::builder().virtual_time().build().expect("runtime");
    let (outputs, elapsed) = runtime.block_on(async {
        let start = handloop::time::now();
        // The workers borrow `log`: gather! does not spawn, so they need not be 'static.
        let outputs = gather!(worker(1, &log), worker(2, &log), worker(3, &log)).await;
        (outputs, handloop::time::now() - start)
    });
    log.say(format!(
        "gather! returned {outputs:?} after {:.3}s",
        elapsed.as_secs_f64()
    ));
    let lines = log.0.borrow().clone();
    GatherReport {
        lines,
        outputs,
        elapsed,
    }
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
