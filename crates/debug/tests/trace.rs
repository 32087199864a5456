//! The timeline's writer and checker together: whatever a loop records, in whatever order
//! and however small the ring buffer, the file written is one the checker (and so a
//! viewer) accepts, and with room enough every wake becomes an arrow.

use std::process::Command;

use handloop_debug::trace::{Counter, PollOutcome, Recorder, check_trace, write_chrome_trace};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// A poll of `task` that wakes and spawns these tasks, then ends so.
    Poll {
        task: u64,
        wakes: Vec<u64>,
        spawns: Vec<u64>,
        outcome: PollOutcome,
    },
    /// The loop's own work (waiting for events) that wakes these tasks.
    Park {
        wakes: Vec<u64>,
    },
    /// A wake outside any slice.
    Wake(u64),
    Counter(u8, u64),
    Instant,
}

fn op() -> impl Strategy<Value = Op> {
    let task = 0..6u64;
    let tasks = prop::collection::vec(0..6u64, 0..3);
    let outcome = prop_oneof![
        3 => Just(PollOutcome::Pending),
        1 => Just(PollOutcome::Finished),
        1 => Just(PollOutcome::Cancelled),
    ];
    prop_oneof![
        4 => (task.clone(), tasks.clone(), tasks.clone(), outcome).prop_map(
            |(task, wakes, spawns, outcome)| Op::Poll { task, wakes, spawns, outcome }
        ),
        1 => tasks.prop_map(|wakes| Op::Park { wakes }),
        1 => task.prop_map(Op::Wake),
        1 => (0..3u8, 0..4u64).prop_map(|(c, v)| Op::Counter(c, v)),
        1 => Just(Op::Instant),
    ]
}

/// Runs the ops through a recorder and, alongside, counts the arrows a perfect recorder
/// would draw (each poll ends the arrow of the first wake since the task's last poll).
fn record(ops: &[Op], capacity: usize) -> (Recorder, usize) {
    let mut recorder = Recorder::new(capacity, "loop on thread 'test'");
    let mut pending = std::collections::HashSet::new();
    let mut flows = 0;
    for op in ops {
        match op {
            Op::Poll {
                task,
                wakes,
                spawns,
                outcome,
            } => {
                let mark = recorder.begin_poll(*task);
                if pending.remove(task) {
                    flows += 1;
                }
                for woken in wakes {
                    recorder.wake(*woken);
                    pending.insert(*woken);
                }
                for spawned in spawns {
                    recorder.spawn(*spawned);
                    pending.insert(*spawned);
                }
                recorder.end_poll(mark, &format!("task {task}"), *outcome);
                if *outcome != PollOutcome::Pending {
                    pending.remove(task);
                }
            }
            Op::Park { wakes } => {
                let mark = recorder.begin_loop();
                for woken in wakes {
                    recorder.wake(*woken);
                    pending.insert(*woken);
                }
                recorder.end_loop(mark, "waiting for events");
            }
            Op::Wake(task) => {
                recorder.wake(*task);
                pending.insert(*task);
            }
            Op::Counter(which, value) => {
                let which = [Counter::Ready, Counter::Timers, Counter::IoSources][*which as usize];
                recorder.counter(which, *value);
            }
            Op::Instant => recorder.instant("timer fired"),
        }
    }
    (recorder, flows)
}

fn written(recorders: Vec<Recorder>) -> String {
    let traces: Vec<_> = recorders.into_iter().map(Recorder::finish).collect();
    let mut json = Vec::new();
    write_chrome_trace(&mut json, &traces).unwrap();
    String::from_utf8(json).unwrap()
}

proptest! {
    #[test]
    fn every_recording_writes_a_valid_trace(
        ops in prop::collection::vec(op(), 0..120),
        more in prop::collection::vec(op(), 0..40),
        capacity in 1..80usize,
    ) {
        let (first, _) = record(&ops, capacity);
        let (second, _) = record(&more, capacity);
        let json = written(vec![first, second]);
        if let Err(errors) = check_trace(&json) {
            panic!("{errors:#?}\n{json}");
        }
    }

    #[test]
    fn with_room_enough_every_wake_is_an_arrow(ops in prop::collection::vec(op(), 0..120)) {
        let (recorder, flows) = record(&ops, 10_000);
        let json = written(vec![recorder]);
        let summary = check_trace(&json).unwrap();
        prop_assert_eq!(summary.flows, flows);
        let polls = ops.iter().filter(|op| matches!(op, Op::Poll { .. })).count();
        let parks = ops.iter().filter(|op| matches!(op, Op::Park { .. })).count();
        prop_assert!(summary.slices >= polls + parks);
        for op in &ops {
            if let Op::Poll { task, .. } = op {
                summary.expect_names([format!("task {task}")]).unwrap();
            }
        }
    }
}

#[test]
fn a_small_program_by_hand() {
    // main spawns 'fetch' and awaits it; fetch sleeps; the timer fires while the loop
    // waits; fetch finishes and wakes main.
    let mut recorder = Recorder::new(100, "loop on thread 'main'");
    recorder.counter(Counter::Ready, 1);
    let main = recorder.begin_poll(0);
    recorder.spawn(1);
    recorder.end_poll(main, "main", PollOutcome::Pending);
    let fetch = recorder.begin_poll(1);
    recorder.end_poll(fetch, "fetch", PollOutcome::Pending);
    recorder.counter(Counter::Timers, 1);
    let park = recorder.begin_loop();
    recorder.instant("timer fired");
    recorder.wake(1);
    recorder.end_loop(park, "waiting for events");
    recorder.counter(Counter::Timers, 0);
    let fetch = recorder.begin_poll(1);
    recorder.wake(0);
    recorder.end_poll(fetch, "fetch", PollOutcome::Finished);
    let main = recorder.begin_poll(0);
    recorder.end_poll(main, "main", PollOutcome::Finished);
    let json = written(vec![recorder]);
    let summary = check_trace(&json).unwrap();
    assert_eq!(summary.threads, 1);
    assert_eq!(summary.slices, 5);
    assert_eq!(summary.flows, 3, "spawn, timer wake, join wake");
    assert_eq!(summary.counters, 3);
    assert_eq!(summary.instants, 1);
    summary
        .expect_names(["main", "fetch", "waiting for events"])
        .unwrap();
    assert!(json.contains("\"name\":\"thread_name\""));
    assert!(json.contains("loop on thread 'main'"));
    assert!(json.contains("\"outcome\":\"finished\""));
}

#[test]
fn the_checker_binary() {
    let dir = std::env::temp_dir().join(format!("handloop-trace-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    let mut recorder = Recorder::new(10, "loop");
    let mark = recorder.begin_poll(3);
    recorder.end_poll(mark, "fetch", PollOutcome::Finished);
    std::fs::write(&good, written(vec![recorder])).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"[{"name":"a","ph":"X","pid":1,"tid":1,"ts":5}]"#).unwrap();

    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_trace-check"))
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let good = good.to_str().unwrap();
    let (code, out, _) = run(&[good, "--expect", "fetch"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("valid: "), "{out}");
    let (code, _, err) = run(&[good, "--expect", "missing"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no slice named 'missing'"), "{err}");
    let (code, _, err) = run(&[bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("an X slice needs a \"dur\""), "{err}");
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("usage: trace-check FILE"), "{err}");
    let (code, _, err) = run(&["/nonexistent/trace.json"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot read"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
