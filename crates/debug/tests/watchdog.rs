//! The watchdog thread against a fake loop: this test's thread plays the loop, making the
//! heartbeat's stores as the executor does, and "blocks" inside a poll by waiting for the
//! watchdog to speak. Real time, with wide margins: nothing here depends on how fast the
//! machine is, only on the watchdog noticing eventually (within ten seconds).

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use handloop_debug::{Heartbeat, Output, Watchdog};

const THRESHOLD: Duration = Duration::from_millis(50);

fn watched() -> (
    Arc<Heartbeat>,
    Arc<Mutex<String>>,
    Watchdog,
    handloop_debug::TaskNames,
) {
    let heartbeat = Arc::new(Heartbeat::new());
    let buffer = Arc::new(Mutex::new(String::new()));
    let (watchdog, names) =
        Watchdog::start(heartbeat.clone(), THRESHOLD, Output::buffer(buffer.clone())).unwrap();
    (heartbeat, buffer, watchdog, names)
}

fn text(buffer: &Mutex<String>) -> String {
    buffer.lock().unwrap().clone()
}

/// Waits until `buffer` contains `needle`, for at most ten seconds.
fn wait_for(buffer: &Mutex<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(buffer).contains(needle) {
        assert!(
            Instant::now() < deadline,
            "the watchdog never printed {needle:?}; it printed {:?}",
            text(buffer)
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// The seconds in "returned to the loop after 0.123s".
fn took(line: &str) -> Duration {
    let after = line
        .split("returned to the loop after ")
        .nth(1)
        .expect("a total");
    let seconds = after.split('s').next().expect("seconds");
    Duration::from_secs_f64(seconds.parse().expect("a number"))
}

#[test]
fn a_stalled_poll_is_named_while_it_lasts_and_its_total_follows() {
    let (heartbeat, buffer, watchdog, names) = watched();
    names.named(4, "blocker");
    // A few quick polls first.
    for id in 1..=3 {
        heartbeat.poll_started(id, 1);
    }
    let started = Instant::now();
    heartbeat.poll_started(4, 1);
    // Inside the poll: the task does not yield. The watchdog speaks during the stall...
    wait_for(
        &buffer,
        "handloop: task 'blocker' (id 4) has been running for ",
    );
    assert!(text(&buffer).contains("without yielding to the loop (slow_poll_threshold 0.050s)"));
    // ...and again once the stall has lasted twice as long.
    wait_for(
        &buffer,
        "handloop: task 'blocker' (id 4) is still running after ",
    );
    // The poll returns (the next one starts): the watchdog prints the total.
    let elapsed = started.elapsed();
    heartbeat.poll_started(5, 1);
    wait_for(
        &buffer,
        "handloop: task 'blocker' (id 4) returned to the loop after ",
    );
    let reports = text(&buffer);
    let total = took(reports.lines().last().unwrap());
    // It said "still running" once its estimate passed twice the threshold, and the
    // estimate only grows. It is measured between halfway points of samples, which a
    // loaded machine may take far apart: a wide margin above.
    assert!(total >= THRESHOLD * 2, "{total:?}");
    assert!(
        total <= elapsed + Duration::from_secs(1),
        "{total:?} against {elapsed:?}"
    );
    heartbeat.idle();
    drop(watchdog);
    // Every report is about the blocker: nothing about the quick polls.
    let reports = text(&buffer);
    assert!(
        reports
            .lines()
            .all(|line| line.contains("'blocker' (id 4)")),
        "{reports}"
    );
}

#[test]
fn a_slow_poll_that_ends_as_the_loop_is_dropped_still_gets_its_total() {
    let (heartbeat, buffer, watchdog, _names) = watched();
    heartbeat.poll_started(6, 1);
    wait_for(
        &buffer,
        "handloop: task 'task-6' (id 6) has been running for ",
    );
    // The loop is dropped right after the poll: the watchdog's last sample sees it end.
    drop(watchdog);
    assert!(
        text(&buffer).contains("handloop: task 'task-6' (id 6) returned to the loop after "),
        "{}",
        text(&buffer)
    );
    drop(heartbeat);
}

#[test]
fn unnamed_tasks_get_the_executors_names() {
    let (heartbeat, buffer, watchdog, _names) = watched();
    heartbeat.poll_started(8, 1);
    wait_for(&buffer, "handloop: task 'task-8' (id 8) has been running");
    heartbeat.idle();
    wait_for(
        &buffer,
        "handloop: task 'task-8' (id 8) returned to the loop after",
    );
    drop(watchdog);
}

#[test]
fn a_loop_that_yields_or_sleeps_is_never_reported() {
    let (heartbeat, buffer, watchdog, _names) = watched();
    let start = Instant::now();
    let mut round = 0;
    while start.elapsed() < THRESHOLD * 6 {
        // Busy: many polls that each return at once (each task's count goes up).
        round += 1;
        for id in 1..100 {
            heartbeat.poll_started(id, round);
        }
        // Parked between turns: no poll runs, however long.
        heartbeat.idle();
        thread::sleep(THRESHOLD * 2);
    }
    drop(watchdog);
    assert_eq!(text(&buffer), "");
}

#[test]
fn dropping_the_watchdog_stops_its_thread_promptly() {
    let (_heartbeat, _buffer, watchdog, names) = watched();
    let start = Instant::now();
    drop(watchdog);
    assert!(start.elapsed() < Duration::from_secs(5));
    // Announcing names afterwards is harmless.
    names.named(1, "late");
    names.gone(1);
}
