//! loom models of the virtual clock's hold handshake (`hold.rs`), on the real `Holds`,
//! `ClockHold` and the executor's real `ThreadPark` (both built on loom's primitives under
//! `--cfg loom`).
//!
//! The loop side is `TimerDriver::park_virtual`'s decision, applied the way the event loop
//! applies it: a turn drains what other threads handed over, then, with nothing ready,
//! the driver checks the holds and parks, re-turns, or jumps. The job side is what a job
//! runner does: hand the result over (push it and unpark, as a task's remote wake does),
//! then drop the hold. The models check that the clock never jumps before the result was
//! taken, and that the loop never sleeps forever (loom reports a deadlock).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p handloop-timer --lib --release loom`.

use std::time::Duration;

use handloop_executor::{Driver, ThreadPark, Unparker};
use loom::sync::Mutex;
use loom::thread;

use crate::hold::{HoldCheck, Holds};
use crate::sync::Arc;

/// What a remote wake carries in this model: the job's result.
type Remote = Arc<Mutex<Option<u32>>>;

/// The job's side: hand the result over as a remote wake would (push, then unpark), unless
/// nobody awaits it any more, then release the hold.
fn job(remote: Remote, unparker: Unparker, hold: crate::ClockHold, awaited: bool) {
    if awaited {
        *remote.lock().unwrap() = Some(7);
        unparker.unpark();
    }
    drop(hold);
}

/// The loop's side, until the clock jumps; returns what the turns took from `remote`.
fn run_until_jump(park: &mut ThreadPark, holds: &Holds, remote: &Remote) -> Option<u32> {
    let mut taken = None;
    loop {
        // A turn: take what other threads handed over (the woken task runs).
        if let Some(value) = remote.lock().unwrap().take() {
            taken = Some(value);
        }
        // Nothing ready: the driver would jump the clock now, unless held.
        match holds.check() {
            HoldCheck::Held => park.park(None),
            HoldCheck::Released => park.park(Some(Duration::ZERO)),
            HoldCheck::Free => return taken,
        }
    }
}

#[test]
fn loom_the_clock_jumps_only_after_the_result_was_taken() {
    loom::model(|| {
        let mut park = ThreadPark::new();
        let holds = Holds::new(park.unparker(), true);
        let remote: Remote = Arc::new(Mutex::new(None));
        let hold = holds.hold();
        let worker = {
            let (remote, unparker) = (remote.clone(), park.unparker());
            thread::spawn(move || job(remote, unparker, hold, true))
        };
        let taken = run_until_jump(&mut park, &holds, &remote);
        assert_eq!(
            taken,
            Some(7),
            "the clock jumped before the job's result was taken"
        );
        worker.join().unwrap();
    });
}

#[test]
fn loom_a_detached_job_releasing_its_hold_wakes_the_loop() {
    // Nobody awaits the result: only the release wakes the loop. Losing it deadlocks.
    loom::model(|| {
        let mut park = ThreadPark::new();
        let holds = Holds::new(park.unparker(), true);
        let remote: Remote = Arc::new(Mutex::new(None));
        let hold = holds.hold();
        let worker = {
            let (remote, unparker) = (remote.clone(), park.unparker());
            thread::spawn(move || job(remote, unparker, hold, false))
        };
        assert_eq!(run_until_jump(&mut park, &holds, &remote), None);
        worker.join().unwrap();
    });
}

#[test]
fn loom_two_jobs_the_clock_waits_for_both() {
    // Three threads explode the schedule space; three preemptions cover the races above
    // (each needs at most two) in a few seconds.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let mut park = ThreadPark::new();
        let holds = Holds::new(park.unparker(), true);
        let first: Remote = Arc::new(Mutex::new(None));
        let second: Remote = Arc::new(Mutex::new(None));
        let workers: Vec<_> = [first.clone(), second.clone()]
            .into_iter()
            .map(|remote| {
                let (hold, unparker) = (holds.hold(), park.unparker());
                thread::spawn(move || job(remote, unparker, hold, true))
            })
            .collect();
        let mut taken = Vec::new();
        loop {
            for remote in [&first, &second] {
                taken.extend(remote.lock().unwrap().take());
            }
            match holds.check() {
                HoldCheck::Held => park.park(None),
                HoldCheck::Released => park.park(Some(Duration::ZERO)),
                HoldCheck::Free => break,
            }
        }
        assert_eq!(
            taken,
            [7, 7],
            "the clock jumped before both results were taken"
        );
        for worker in workers {
            worker.join().unwrap();
        }
    });
}
