//! The examples in `examples/`, checked: each test calls an example's `demo()` (the file
//! is included as a module, as `examples/tour.rs` does) and checks what it printed or
//! measured. `cargo test` also builds every example, so none can rot.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

#[allow(dead_code)]
#[path = "../examples/blocking.rs"]
mod blocking;
#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;
#[allow(dead_code)]
#[path = "../examples/fleet.rs"]
mod fleet;
#[allow(dead_code)]
#[path = "../examples/fleet_moves.rs"]
mod fleet_moves;
#[allow(dead_code)]
#[path = "../examples/gather_workers.rs"]
mod gather_workers;
#[allow(dead_code)]
#[path = "../examples/in_order.rs"]
mod in_order;
#[allow(dead_code)]
#[path = "../examples/producer_consumer.rs"]
mod producer_consumer;
#[allow(dead_code)]
#[path = "../examples/say_after.rs"]
mod say_after;
#[allow(dead_code)]
#[path = "../examples/see_the_loop.rs"]
mod see_the_loop;
#[allow(dead_code)]
#[path = "../examples/threads.rs"]
mod threads;

#[test]
fn fleet_takes_the_rounds_minutes_on_the_virtual_clock_and_no_real_time() {
    let report = fleet::demo();
    assert_eq!(report.tasks_spawned, 100);
    assert_eq!(report.moves, 300);
    // Three rounds of a 60 s wait, all 100 fleets waiting at once: exactly 3 minutes.
    assert_eq!(report.virtual_elapsed, Duration::from_secs(180));
    // One after another, with time.sleep: 5 hours.
    assert_eq!(report.sequential, Duration::from_secs(5 * 3600));
    assert!(
        report.real_elapsed < Duration::from_secs(3),
        "the virtual clock should make this instant, took {:?}",
        report.real_elapsed
    );
}

#[test]
fn fleet_moves_five_at_a_time_in_the_order_they_asked() {
    let report = fleet_moves::demo();
    assert_eq!(report.most_at_once, 5);
    // Waves of 5, 5 and 2, one second apart; within a wave, in the order they asked.
    let expected: Vec<(u32, Duration)> = (1..=12)
        .map(|id| (id, Duration::from_secs(u64::from((id - 1) / 5))))
        .collect();
    assert_eq!(report.started, expected);
    assert_eq!(report.virtual_elapsed, Duration::from_secs(3));
    assert_eq!(
        report.lines[0],
        "0.000s  fleet  1 moves (1 moving, 4 permits left)"
    );
    // At 1 s, fleet 1 finishes first and hands its permit to fleet 6, which runs after
    // fleets 2 to 5 have finished (they woke first): one moving, no permit free.
    assert_eq!(
        report.lines[5],
        "1.000s  fleet  6 moves (1 moving, 0 permits left)"
    );
    assert_eq!(
        report.lines[9],
        "1.000s  fleet 10 moves (5 moving, 0 permits left)"
    );
    // At 2 s, only two fleets wait: the three other permits given back stay free.
    assert_eq!(
        report.lines[11],
        "2.000s  fleet 12 moves (2 moving, 3 permits left)"
    );
    assert!(
        report.real_elapsed < Duration::from_secs(3),
        "the virtual clock should make this instant, took {:?}",
        report.real_elapsed
    );
}

#[test]
fn say_after_takes_3_s_in_turn_and_2_s_when_both_tasks_exist_first() {
    let report = say_after::demo();
    assert_eq!(report.in_turn, Duration::from_secs(3));
    assert_eq!(report.together, Duration::from_secs(2));
    assert_eq!(
        report.lines,
        [
            "each task awaited before the next is created:",
            "  started at 0.000s",
            "  hello at 1.000s",
            "  world at 3.000s",
            "  finished at 3.000s",
            "both tasks created, then awaited:",
            "  started at 0.000s",
            "  hello at 1.000s",
            "  world at 2.000s",
            "  finished at 2.000s",
        ]
    );
}

#[test]
fn gather_workers_prints_one_one_one_two_two_two() {
    let report = gather_workers::demo();
    let words: Vec<&str> = report
        .lines
        .iter()
        .take(6)
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(words, ["One", "One", "One", "Two", "Two", "Two"]);
    // And in argument order each time: the ready queue is FIFO and equal deadlines fire
    // in the order they were registered.
    assert_eq!(
        report.lines[..6],
        [
            "One   (worker 1)",
            "One   (worker 2)",
            "One   (worker 3)",
            "Two   (worker 1)",
            "Two   (worker 2)",
            "Two   (worker 3)",
        ]
    );
    assert_eq!(report.outputs, (1, 2, 3));
    assert_eq!(report.elapsed, Duration::from_secs(1));
}

#[test]
fn producer_consumer_loses_nothing_and_stops_when_the_queue_is_closed() {
    let report = producer_consumer::demo();
    let put: Vec<char> = report.produced.iter().flatten().copied().collect();
    let taken: Vec<char> = report.consumed.iter().flatten().copied().collect();
    assert_eq!(put.len(), 12, "3 producers × 4 letters");
    assert_eq!(taken.len(), put.len(), "count in = count out");
    // Every letter accounted for: the same multiset in and out.
    let count = |letters: &[char]| {
        let mut counts = BTreeMap::new();
        for &letter in letters {
            *counts.entry(letter).or_insert(0) += 1;
        }
        counts
    };
    assert_eq!(count(&taken), count(&put));
    // Both consumers did some of the work, and the bound held (and was reached).
    assert!(report.consumed.iter().all(|taken| !taken.is_empty()));
    assert_eq!(report.max_len, report.capacity);
    // Each consumer said it saw the queue closed, after the producers were done.
    let closing = report
        .lines
        .iter()
        .position(|line| line.ends_with("producers done: closing the queue"))
        .unwrap();
    let done: Vec<usize> = (0..report.lines.len())
        .filter(|&i| report.lines[i].ends_with("sees the queue closed: done"))
        .collect();
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|&i| i > closing));
    // The PRNG is seeded by a constant: the run is the same every time.
    assert_eq!(report.lines, producer_consumer::demo().lines);
}

#[test]
fn in_order_one_task_turns_the_tv_on_before_setting_the_channel() {
    let report = in_order::demo();
    let at = |what: &str| {
        report
            .one_task
            .iter()
            .position(|line| line.ends_with(what))
            .unwrap_or_else(|| panic!("no line ending with {what:?}"))
    };
    assert!(at("the TV is on") < at("channel set to 7"));
    assert_eq!(report.one_task_channel, Some(7));
    // Two separate tasks: the channel arrives first and is lost.
    assert_eq!(report.two_tasks_channel, None);
    assert!(
        report
            .lines
            .contains(&"  1.000s  channel 7 ignored: the TV is off".to_owned())
    );
}

#[test]
fn blocking_the_thread_delays_every_task_and_awaiting_or_to_thread_does_not() {
    let report = blocking::demo();
    assert_eq!(report.blocked.len(), 3);
    assert_eq!(report.fixed.len(), 3);
    assert_eq!(report.to_thread.len(), 3);
    for &waited in &report.blocked {
        // Certain, not just likely: the workers start their sleep before the blocking
        // call and cannot wake until the loop gets the thread back.
        assert!(waited >= report.block, "blocked run: woke after {waited:?}");
    }
    for &waited in report.fixed.iter().chain(&report.to_thread) {
        assert!(
            waited >= report.asked,
            "a sleep never ends early: {waited:?}"
        );
        // Wide margin: a loaded machine may be late, but not by a blocked 300 ms.
        assert!(
            waited < report.asked + Duration::from_millis(150),
            "fixed run: woke after {waited:?}"
        );
    }
}

#[test]
fn threads_hand_values_through_a_queue_and_reach_a_loop_through_its_handle() {
    let report = threads::demo();
    assert_eq!(report.sent, (1..=10).collect::<Vec<_>>());
    assert_eq!(report.received, report.sent, "all of them, in order");
    assert_eq!(report.reply, 55);
    // And from a thread with no loop, through loop C's handle.
    assert_eq!(report.callback_ran_on, "loop-c");
    assert_eq!(
        report.spawned,
        ("slept 10 ms".to_owned(), "loop-c".to_owned())
    );
    assert_eq!(report.after_close, Err(handloop::LoopClosed));
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no sockets")]
fn echo_server_sends_back_what_the_client_wrote() {
    assert_eq!(echo_server::demo(), "hello, event loop");
}

/// Runs the ignored test `name` of this binary in a child process with `env` set, and
/// returns its stderr.
fn child_stderr(name: &str, env: &[(&str, &str)]) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--nocapture"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "the child failed:\n{stderr}");
    stderr
}

#[test]
#[ignore = "run by blocking_under_handloop_debug_names_the_blocker, with HANDLOOP_DEBUG=1"]
fn child_blocking() {
    blocking::demo();
}

/// Seconds in `line` after `after` (`0.110s` in "... for 0.110s without ..."), if any.
fn seconds_after(line: &str, after: &str) -> Option<f64> {
    let rest = &line[line.find(after)? + after.len()..];
    rest.split('s').next()?.parse().ok()
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn blocking_under_handloop_debug_names_the_blocker() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Instant;

    // Each line of the child's stderr, with when it arrived: the blocker must be named
    // while it still blocks, not only once it returned.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_blocking", "--nocapture"])
        .env("HANDLOOP_DEBUG", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let lines: Vec<(Duration, String)> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(|line| (started.elapsed(), line.unwrap()))
        .collect();
    assert!(
        child.wait().unwrap().success(),
        "the child failed: {lines:?}"
    );
    let during = "handloop: task 'blocker' (id 4) has been running for ";
    let after = "handloop: task 'blocker' (id 4) returned to the loop after ";
    let find = |text: &str| {
        lines
            .iter()
            .find(|(_, line)| line.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} in the child's stderr: {lines:#?}"))
    };
    let (said_at, said) = find(during);
    let (ended_at, ended) = find(after);
    // The blocker sleeps 300 ms; the threshold is 100 ms. Named while it blocked: the
    // watchdog saw it running for well under its total, and said so well before the end.
    // (The watchdog samples every tenth of the threshold: its times are that precise.)
    let running_for = seconds_after(said, during).unwrap();
    let total = seconds_after(ended, after).unwrap();
    assert!(
        running_for >= 0.09 && total >= 0.28 && running_for + 0.05 <= total,
        "{said}\n{ended}"
    );
    assert!(
        *ended_at >= *said_at + Duration::from_millis(50),
        "named at {said_at:?}, its total at {ended_at:?}: {lines:#?}"
    );
    // Only the blocking run is reported: awaiting the sleep instead holds nothing up.
    let totals = lines
        .iter()
        .filter(|(_, line)| line.contains(after))
        .count();
    assert_eq!(totals, 1, "{lines:#?}");
    assert!(
        !lines.iter().any(|(_, line)| line.contains("'task-")),
        "only the blocker is slow: {lines:#?}"
    );
}

#[test]
#[ignore = "run by see_the_loop_shows_the_blocker_the_deadlock_and_a_valid_trace"]
fn child_see_the_loop() {
    let report = see_the_loop::demo();
    // The blocked ticker: it asked for 50 ms while the checksum held the thread 350 ms.
    assert!(
        report.ticker_late_by >= Duration::from_millis(200),
        "{:?}",
        report.ticker_late_by
    );
    assert!(
        report.deadlock.starts_with(
            "handloop: deadlock: every task is waiting, the virtual clock has no timer to jump to"
        ),
        "{}",
        report.deadlock
    );
    for expected in [
        "   0  main      waiting",
        "join #1 'consumer'",
        "   1  consumer  waiting",
        "Queue.get",
        "#0 main\n└── #1 consumer\n",
    ] {
        assert!(
            report.deadlock.contains(expected),
            "{expected:?} in:\n{}",
            report.deadlock
        );
    }
    assert_eq!(report.consumed, [1, 2, 3, 4, 5]);
    report
        .trace
        .expect_names(["main", "producer", "consumer", "waiting for events"])
        .unwrap();
    assert!(report.trace.flows >= 10, "{}", report.trace);
    assert!(report.trace.counters >= 2, "{}", report.trace);
    assert!(
        report.trace.instants >= 5,
        "a timer fired per pause: {}",
        report.trace
    );
    std::fs::remove_file(&report.trace_path).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn see_the_loop_shows_the_blocker_the_deadlock_and_a_valid_trace() {
    let stderr = child_stderr("child_see_the_loop", &[]);
    let during = "handloop: task 'checksum' (id 2) has been running for ";
    let after = "handloop: task 'checksum' (id 2) returned to the loop after ";
    let (Some(said), Some(ended)) = (stderr.find(during), stderr.find(after)) else {
        panic!("stderr was:\n{stderr}");
    };
    assert!(said < ended, "{stderr}");
    assert!(
        !stderr.contains("'ticker'"),
        "the ticker never blocks: {stderr}"
    );
}
