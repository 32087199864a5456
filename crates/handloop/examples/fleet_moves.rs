//! The fleet bot again, with one rule from the game server: at most 5 fleets may move at
//! once. A `Semaphore` of 5 permits caps the concurrent work: each fleet takes a permit
//! before its move and gives it back after, and a fleet that finds none free waits in
//! line, to be handed the next permit given back.
//!
//! ```python
//! moving = asyncio.Semaphore(5)           # only 5 fleets move at once
//!
//! async def move(fleet_id):
//!     async with moving:                  # waits while 5 fleets are moving
//!         print(f"fleet {fleet_id} moves")
//!         await asyncio.sleep(1)          # the move
//!
//! async def main():
//!     async with asyncio.TaskGroup() as tg:
//!         for fleet_id in range(1, 13):
//!             tg.create_task(move(fleet_id))
//! ```
//!
//! Twelve fleets, five at a time, one second each: three seconds, in waves of 5, 5 and 2,
//! each fleet moving in the order it asked. On the virtual clock, no real time at all.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use handloop::Semaphore;

const FLEETS: u32 = 12;
const AT_ONCE: usize = 5;
const MOVE: Duration = Duration::from_secs(1);

/// What the run measured (the tests check it).
#[derive(Debug)]
#[allow(dead_code)] // not every field is printed
pub struct FleetMovesReport {
    /// Each fleet and when (on the loop's clock) it started its move, in start order.
    pub started: Vec<(u32, Duration)>,
    /// The most fleets moving at the same time.
    pub most_at_once: usize,
    /// Loop time from start to the last move's end.
    pub virtual_elapsed: Duration,
    /// Wall-clock time for the whole run.
    pub real_elapsed: Duration,
    /// What was printed.
    pub lines: Vec<String>,
}

/// Runs the example, printing as it goes, and returns what `tests/examples.rs` checks.
pub fn demo() -> FleetMovesReport {
    let real_start = Instant::now();
    let runtime = handloop::Runtime::builder()
        .virtual_time()
        .build()
        .expect("building a runtime");
    let (started, most_at_once, virtual_elapsed, lines) = runtime.block_on(async {
        let start = handloop::time::now();
        let moving = Rc::new(Semaphore::new(AT_ONCE));
        let busy = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        let log = Rc::new(RefCell::new((Vec::new(), Vec::new())));
        let fleets: Vec<_> = (1..=FLEETS)
            .map(|id| {
                let (moving, busy, most, log) =
                    (moving.clone(), busy.clone(), most.clone(), log.clone());
                handloop::spawn(async move {
                    let _permit = moving.acquire().await; // waits while 5 are moving
                    let at = handloop::time::now() - start;
                    busy.set(busy.get() + 1);
                    most.set(most.get().max(busy.get()));
                    let line = format!(
                        "{:.3}s  fleet {id:2} moves ({} moving, {} permits left)",
                        at.as_secs_f64(),
                        busy.get(),
                        moving.available_permits()
                    );
                    println!("{line}");
                    {
                        let mut log = log.borrow_mut();
                        log.0.push((id, at));
                        log.1.push(line);
                    }
                    handloop::sleep(MOVE).await; // the move
                    busy.set(busy.get() - 1);
                }) // the permit goes back here, to the fleet that has waited longest
            })
            .collect();
        for fleet in handloop::gather(fleets).await {
            fleet.expect("a fleet task failed");
        }
        let elapsed = handloop::time::now() - start;
        let (started, lines) = log.take();
        (started, most.get(), elapsed, lines)
    });
    println!(
        "{FLEETS} fleets, at most {most_at_once} moving at once: {:.3}s on the loop's clock",
        virtual_elapsed.as_secs_f64()
    );
    FleetMovesReport {
        started,
        most_at_once,
        virtual_elapsed,
        real_elapsed: real_start.elapsed(),
        lines,
    }
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
