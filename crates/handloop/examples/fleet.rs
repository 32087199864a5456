//! The tutorials' fleet bot: 100 fleet managers, each making a move then waiting a
//! minute, for several rounds. One event loop interleaves all the waits, so the whole
//! game takes the rounds' minutes, not hours. On the virtual clock it also takes no real
//! time: the loop jumps straight to the next deadline.
//!
//! ```python
//! async def manage_fleet(fleet_id):
//!     for _ in range(ROUNDS):
//!         make_move(fleet_id)        # the work: quick
//!         await asyncio.sleep(60)    # the wait: the loop runs other fleets meanwhile
//!
//! async def main():
//!     tasks = [asyncio.create_task(manage_fleet(i), name=f"fleet-{i}")
//!              for i in range(1, 101)]
//!     await asyncio.gather(*tasks)
//! ```
//!
//! Written with `time.sleep(60)` instead, each fleet would block the whole program for
//! its minute, one fleet after another: 100 × 3 minutes = 5 hours.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

const FLEETS: u32 = 100;
const ROUNDS: u32 = 3;
const WAIT: Duration = Duration::from_secs(60);

/// What the run measured (the tests check it).
#[derive(Debug)]
#[allow(dead_code)] // not every field is printed
pub struct FleetReport {
    /// Moves made by all fleets together.
    pub moves: u32,
    /// Tasks alive right after spawning the fleets.
    pub tasks_spawned: usize,
    /// Time on the loop's (virtual) clock from start to finish.
    pub virtual_elapsed: Duration,
    /// Time on the wall clock.
    pub real_elapsed: Duration,
    /// What `time.sleep` would have cost: every wait, one after another.
    pub sequential: Duration,
}

async fn manage_fleet(moves: Rc<Cell<u32>>) {
    for _ in 0..ROUNDS {
        moves.set(moves.get() + 1); // the work: decide and send this fleet's move
        handloop::sleep(WAIT).await; // the wait: gives the loop back to the other fleets
    }
}

/// Runs the example, printing as it goes, and returns what `tests/examples.rs` checks.
pub fn demo() -> FleetReport {
    let real_start = Instant::now();
    // The virtual clock: sleeping 60 s takes no real time, and times come out exact.
    let runtime = handloop::Runtime::builder()
        .virtual_time()
        .build()
        .expect("building a runtime");
    let moves = Rc::new(Cell::new(0));
    let (tasks_spawned, virtual_elapsed) = runtime.block_on(async {
        let start = handloop::time::now();
        let fleets: Vec<_> = (1..=FLEETS)
            .map(|id| {
                handloop::task::Builder::new()
                    .name(&format!("fleet-{id}"))
                    .spawn(manage_fleet(moves.clone()))
            })
            .collect();
        // spawn() only queues the tasks: none has run yet (asyncio's create_task too).
        // all_tasks() lists them after this main future, which counts as a task too.
        let tasks_spawned = handloop::all_tasks()
            .iter()
            .filter(|task| task.name.starts_with("fleet-"))
            .count();
        println!(
            "spawned {tasks_spawned} tasks, {} to {}",
            fleets[0].name(),
            fleets[fleets.len() - 1].name()
        );
        for result in handloop::gather(fleets).await {
            result.expect("a fleet task failed");
        }
        (tasks_spawned, handloop::time::now() - start)
    });
    let report = FleetReport {
        moves: moves.get(),
        tasks_spawned,
        virtual_elapsed,
        real_elapsed: real_start.elapsed(),
        sequential: WAIT * FLEETS * ROUNDS,
    };
    println!(
        "each fleet: {ROUNDS} rounds of a move then a {}-second wait",
        WAIT.as_secs()
    );
    println!(
        "on the loop: {} moves in {:.3}s of virtual time ({} minutes), {:.1} ms of real time",
        report.moves,
        report.virtual_elapsed.as_secs_f64(),
        report.virtual_elapsed.as_secs() / 60,
        report.real_elapsed.as_secs_f64() * 1000.0
    );
    println!(
        "with time.sleep, one fleet after another: {} s ({} hours)",
        report.sequential.as_secs(),
        report.sequential.as_secs() / 3600
    );
    report
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
