//! The stall watchdog: a thread that notices, while it is still happening, that one poll
//! has held the loop's thread too long, and says which task.
//!
//! asyncio's debug mode times every callback and logs the slow ones after they return: a
//! task that never returns is never reported. Go's `sysmon` does it the other way round,
//! and so does this: the loop only counts. Each poll it makes two plain stores into a
//! [`Heartbeat`] (the task being polled, then the poll count), and a watchdog thread
//! samples them every tenth of the threshold. A count that has not moved while a task is
//! being polled means that task has not yielded; once that lasts longer than the threshold
//! the watchdog prints its name and id, again at twice and four times the threshold and so
//! on, and when the poll finally returns the loop prints the total.
//!
//! The watchdog never takes a lock the loop needs. It reads the heartbeat's atomics; it
//! learns task names from a channel the loop sends into (without locking: see
//! [`TaskNames`]); and it prints through its own [`Output`].
//!
//! The poll began between the last sample that saw an earlier count and the first that saw
//! its own; durations are measured from halfway between the two, so they are right to
//! within half the time between two samples (a twentieth of the threshold, unless the
//! machine is so loaded that the watchdog oversleeps).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::waiting::seconds;

/// `task` when no poll is running: the loop is between turns or parked.
const IDLE: u64 = u64::MAX;

/// What the loop writes and the watchdog reads: the poll count and the task being polled.
///
/// On its own line of cache (128 bytes covers the adjacent-line prefetch of x86), so the
/// loop's stores do not share a line with anything else the loop touches.
#[derive(Debug)]
#[repr(align(128))]
pub struct Heartbeat {
    /// Polls started so far. Only the loop writes it.
    polls: AtomicU64,
    /// The task being polled, or [`IDLE`].
    task: AtomicU64,
    /// The number of a poll the watchdog reported as slow and whose end nobody has printed
    /// yet; 0 when there is none.
    reported: AtomicU64,
    /// When the watchdog first saw that poll running, in nanoseconds since `base`.
    first_seen: AtomicU64,
    /// The time base of `first_seen`.
    base: Instant,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat::new()
    }
}

impl Heartbeat {
    /// A heartbeat with no poll yet.
    pub fn new() -> Heartbeat {
        Heartbeat {
            polls: AtomicU64::new(0),
            task: AtomicU64::new(IDLE),
            reported: AtomicU64::new(0),
            first_seen: AtomicU64::new(0),
            base: Instant::now(),
        }
    }

    /// The loop starts polling task `id`: two plain stores. Returns the poll's number, for
    /// [`poll_ended`](Heartbeat::poll_ended).
    #[inline]
    pub fn poll_started(&self, id: u64) -> u64 {
        // Only the loop's thread writes `polls`: a load and a store, no read-modify-write.
        // (It starts at 0 and would need centuries to wrap back to it.)
        let poll = self.polls.load(Ordering::Relaxed) + 1;
        self.task.store(id, Ordering::Relaxed);
        // Release: a watchdog that reads this count also reads the task stored above.
        self.polls.store(poll, Ordering::Release);
        poll
    }

    /// The poll numbered `poll` returned. One load; if the watchdog reported this poll as
    /// slow, the loop claims the report and gets how long the poll took, to print
    /// ([`SlowPoll`]'s `Display` is the line).
    #[inline]
    pub fn poll_ended(&self, poll: u64) -> Option<Duration> {
        if self.reported.load(Ordering::Relaxed) != poll {
            return None;
        }
        self.claim(poll)
    }

    #[cold]
    fn claim(&self, poll: u64) -> Option<Duration> {
        self.reported
            .compare_exchange(poll, 0, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        let first_seen = Duration::from_nanos(self.first_seen.load(Ordering::Relaxed));
        Some(self.base.elapsed().saturating_sub(first_seen))
    }

    /// The loop is done polling for this turn (it is about to look for events, maybe park):
    /// one plain store per turn.
    #[inline]
    pub fn idle(&self) {
        self.task.store(IDLE, Ordering::Relaxed);
    }

    /// A consistent reading: the poll count and, if a poll is running, its task.
    fn sample(&self) -> (u64, Option<u64>) {
        loop {
            let polls = self.polls.load(Ordering::Acquire);
            let task = self.task.load(Ordering::Relaxed);
            // The task read belongs to poll `polls` if the count has not moved since.
            if self.polls.load(Ordering::Acquire) == polls {
                return (polls, (task != IDLE).then_some(task));
            }
        }
    }
}

/// The loop's half of the name channel: named tasks (and `call_soon` callbacks) are
/// announced when spawned and when gone, so the watchdog can name a stalled task without
/// touching the loop's memory. (Unnamed tasks need nothing: their names, `task-<id>`,
/// follow from the id.)
///
/// Sending never takes a lock: std's unbounded channel pushes onto a lock-free list, and
/// only locks to wake a receiver blocked in `recv`, which the watchdog never calls (it only
/// calls `try_recv`).
#[derive(Debug, Clone)]
pub struct TaskNames(Sender<NameNote>);

#[derive(Debug)]
enum NameNote {
    Named(u64, Box<str>),
    Gone(u64),
}

impl TaskNames {
    /// Announces a task spawned with a name.
    pub fn named(&self, id: u64, name: &str) {
        // A closed channel means the watchdog is gone: nobody needs the name.
        let _ = self.0.send(NameNote::Named(id, name.into()));
    }

    /// Announces that a named task is gone.
    pub fn gone(&self, id: u64) {
        let _ = self.0.send(NameNote::Gone(id));
    }
}

/// The watchdog's half of the name channel.
#[derive(Debug)]
struct NameBook {
    notes: Receiver<NameNote>,
    names: HashMap<u64, Box<str>>,
}

impl NameBook {
    fn read_notes(&mut self) {
        loop {
            match self.notes.try_recv() {
                Ok(NameNote::Named(id, name)) => {
                    self.names.insert(id, name);
                }
                Ok(NameNote::Gone(id)) => {
                    self.names.remove(&id);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    /// The id and name of task `id` (as the executor would name it).
    fn name(&self, id: u64) -> (u64, String) {
        let name = match self.names.get(&id) {
            Some(name) => name.to_string(),
            None => format!("task-{id}"),
        };
        (id, name)
    }
}

/// Where the watchdog and the loop print: stderr, or a buffer a test reads.
#[derive(Clone)]
pub struct Output(Arc<dyn Fn(&str) + Send + Sync>);

impl Output {
    /// Standard error, one write per message.
    pub fn stderr() -> Output {
        Output(Arc::new(|text: &str| {
            let _ = io::stderr().write_all(text.as_bytes());
        }))
    }

    /// Appends every message to `buffer` (for tests).
    pub fn buffer(buffer: Arc<Mutex<String>>) -> Output {
        Output(Arc::new(move |text: &str| {
            buffer
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .push_str(text);
        }))
    }

    /// Prints `text`, which ends with a newline.
    pub fn print(&self, text: &str) {
        (self.0)(text)
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Output")
    }
}

/// The line the loop prints when a poll the watchdog reported finally returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowPoll {
    /// The task's id.
    pub id: u64,
    /// The task's name.
    pub name: String,
    /// How long the poll took (at least).
    pub took: Duration,
    /// The threshold it crossed.
    pub threshold: Duration,
}

impl fmt::Display for SlowPoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "handloop: task '{}' (id {}) returned to the loop after {} (slow_poll_threshold \
             {}): every other task waited that long",
            self.name,
            self.id,
            seconds(self.took),
            seconds(self.threshold)
        )
    }
}

/// What the watchdog says during a stall.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stalled {
    id: u64,
    name: String,
    running_for: Duration,
    threshold: Duration,
    again: bool,
}

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, how) = if self.again {
            ("is still running", "after")
        } else {
            ("has been running", "for")
        };
        writeln!(
            f,
            "handloop: task '{}' (id {}) {what} {how} {} without yielding to the loop \
             (slow_poll_threshold {}): no other task can run meanwhile",
            self.name,
            self.id,
            seconds(self.running_for),
            seconds(self.threshold)
        )
    }
}

/// The watchdog's reasoning, apart from its thread and its clock (so tests can feed it
/// samples at chosen instants).
#[derive(Debug)]
struct Observer {
    threshold: Duration,
    /// The poll count of the last sample.
    polls: u64,
    /// When the poll with that count began, as well as the samples can tell: halfway
    /// between the last sample that saw an earlier count and the first that saw this one.
    since: Instant,
    /// When the last sample was taken.
    sampled: Instant,
    /// The running time at which to report next: the threshold, then doubling.
    next_report: Duration,
}

/// What one sample leads to.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Nothing to say.
    Fine,
    /// Poll `poll` of task `task` has been running for `running_for`, since `since`.
    Slow {
        poll: u64,
        task: u64,
        running_for: Duration,
        since: Instant,
        again: bool,
    },
}

impl Observer {
    fn new(threshold: Duration, now: Instant) -> Observer {
        Observer {
            threshold,
            polls: 0,
            since: now,
            sampled: now,
            next_report: threshold,
        }
    }

    fn observe(&mut self, now: Instant, polls: u64, task: Option<u64>) -> Seen {
        let previous = std::mem::replace(&mut self.sampled, now);
        if polls != self.polls {
            // A new poll began since the last sample (or several did).
            self.polls = polls;
            self.since = previous + now.saturating_duration_since(previous) / 2;
            self.next_report = self.threshold;
            return Seen::Fine;
        }
        let Some(task) = task else {
            return Seen::Fine; // the loop is between polls or parked
        };
        let running_for = now.saturating_duration_since(self.since);
        if running_for < self.next_report {
            return Seen::Fine;
        }
        let again = self.next_report > self.threshold;
        self.next_report = self.next_report.saturating_mul(2);
        Seen::Slow {
            poll: polls,
            task,
            running_for,
            since: self.since,
            again,
        }
    }
}

/// The watchdog thread of one loop. Dropping it stops the thread.
#[derive(Debug)]
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching `heartbeat`: a poll that runs longer than `threshold` is reported
    /// to `output`. Returns the watchdog and the sender the loop announces names with.
    ///
    /// # Errors
    /// If the thread cannot be spawned.
    ///
    /// # Panics
    /// If `threshold` is zero.
    pub fn start(
        heartbeat: Arc<Heartbeat>,
        threshold: Duration,
        output: Output,
    ) -> io::Result<(Watchdog, TaskNames)> {
        assert!(
            !threshold.is_zero(),
            "the slow-poll threshold must be longer than zero"
        );
        let (sender, notes) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let book = NameBook {
                notes,
                names: HashMap::new(),
            };
            thread::Builder::new()
                .name("handloop-watchdog".to_owned())
                .spawn(move || watch(&heartbeat, threshold, &output, book, &stop))?
        };
        Ok((
            Watchdog {
                stop,
                thread: Some(thread),
            },
            TaskNames(sender),
        ))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// How often the watchdog samples: a tenth of the threshold, between 1 ms and 100 ms.
fn tick(threshold: Duration) -> Duration {
    (threshold / 10).clamp(Duration::from_millis(1), Duration::from_millis(100))
}

/// The watchdog thread's loop.
fn watch(
    heartbeat: &Heartbeat,
    threshold: Duration,
    output: &Output,
    mut book: NameBook,
    stop: &AtomicBool,
) {
    let tick = tick(threshold);
    let mut observer = Observer::new(threshold, Instant::now());
    // The task of the last poll reported, for its end if the loop does not print it.
    let mut reported_task = 0;
    while !stop.load(Ordering::Acquire) {
        thread::park_timeout(tick);
        book.read_notes();
        let now = Instant::now();
        let (polls, task) = heartbeat.sample();
        finish_unclaimed(heartbeat, polls, &book, reported_task, threshold, output);
        if let Seen::Slow {
            poll,
            task,
            running_for,
            since,
            again,
        } = observer.observe(now, polls, task)
        {
            let (id, name) = book.name(task);
            if !again {
                let since = since.saturating_duration_since(heartbeat.base);
                heartbeat
                    .first_seen
                    .store(since.as_nanos() as u64, Ordering::Relaxed);
                heartbeat.reported.store(poll, Ordering::Release);
                reported_task = task;
            }
            let stalled = Stalled {
                id,
                name,
                running_for,
                threshold,
                again,
            };
            output.print(&stalled.to_string());
        }
    }
}

/// A reported poll that ended before the loop looked (the report came just as the poll
/// returned): the loop will not print its end, so the watchdog does.
fn finish_unclaimed(
    heartbeat: &Heartbeat,
    polls: u64,
    book: &NameBook,
    task: u64,
    threshold: Duration,
    output: &Output,
) {
    let reported = heartbeat.reported.load(Ordering::Acquire);
    if reported == 0 || reported == polls {
        return;
    }
    if heartbeat
        .reported
        .compare_exchange(reported, 0, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return; // the loop claimed it after all
    }
    let first_seen = Duration::from_nanos(heartbeat.first_seen.load(Ordering::Relaxed));
    let (id, name) = book.name(task);
    let slow = SlowPoll {
        id,
        name,
        took: heartbeat.base.elapsed().saturating_sub(first_seen),
        threshold,
    };
    output.print(&slow.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_observer_reports_at_the_threshold_then_at_each_doubling() {
        let start = Instant::now();
        let mut observer = Observer::new(ms(100), start);
        // The poll began between the samples at `start` and at `start + 10 ms`.
        let t0 = start + ms(5);
        assert_eq!(
            observer.observe(start + ms(10), 1, Some(4)),
            Seen::Fine,
            "a new poll"
        );
        assert_eq!(observer.observe(t0 + ms(99), 1, Some(4)), Seen::Fine);
        let slow = |at, again| Seen::Slow {
            poll: 1,
            task: 4,
            running_for: ms(at),
            since: t0,
            again,
        };
        assert_eq!(observer.observe(t0 + ms(100), 1, Some(4)), slow(100, false));
        assert_eq!(observer.observe(t0 + ms(150), 1, Some(4)), Seen::Fine);
        assert_eq!(observer.observe(t0 + ms(210), 1, Some(4)), slow(210, true));
        assert_eq!(observer.observe(t0 + ms(390), 1, Some(4)), Seen::Fine);
        assert_eq!(observer.observe(t0 + ms(400), 1, Some(4)), slow(400, true));
        // The poll ends and another begins: the count starts again, from halfway between
        // the samples at 400 and 410 ms.
        assert_eq!(observer.observe(t0 + ms(410), 2, Some(5)), Seen::Fine);
        assert_eq!(observer.observe(t0 + ms(500), 2, Some(5)), Seen::Fine);
        assert!(matches!(
            observer.observe(t0 + ms(505), 2, Some(5)),
            Seen::Slow {
                poll: 2,
                task: 5,
                again: false,
                ..
            }
        ));
    }

    #[test]
    fn an_idle_loop_and_a_busy_loop_are_fine() {
        let t0 = Instant::now();
        let mut observer = Observer::new(ms(100), t0);
        // Parked for a long time after poll 7: no task is running.
        assert_eq!(observer.observe(t0, 7, Some(1)), Seen::Fine);
        for later in [ms(50), ms(500), ms(5000)] {
            assert_eq!(observer.observe(t0 + later, 7, None), Seen::Fine);
        }
        // Many short polls: the count moves on every sample.
        for i in 0..100 {
            assert_eq!(
                observer.observe(t0 + ms(10 * i), 8 + i, Some(1)),
                Seen::Fine
            );
        }
    }

    #[test]
    fn names_come_from_the_loop_or_follow_from_the_id() {
        let (sender, notes) = mpsc::channel();
        let names = TaskNames(sender);
        let mut book = NameBook {
            notes,
            names: HashMap::new(),
        };
        names.named(4, "blocker");
        names.named(5, "other");
        names.gone(5);
        book.read_notes();
        assert_eq!(book.name(4), (4, "blocker".to_owned()));
        assert_eq!(book.name(5), (5, "task-5".to_owned()));
    }

    #[test]
    fn the_heartbeat_numbers_polls_and_reads_consistently() {
        let heartbeat = Heartbeat::new();
        assert_eq!(heartbeat.sample(), (0, None));
        assert_eq!(heartbeat.poll_started(4), 1);
        assert_eq!(heartbeat.sample(), (1, Some(4)));
        assert_eq!(heartbeat.poll_ended(1), None, "not reported");
        heartbeat.idle();
        assert_eq!(heartbeat.sample(), (1, None));
        assert_eq!(heartbeat.poll_started(9), 2);
        assert_eq!(heartbeat.sample(), (2, Some(9)));
    }

    #[test]
    fn a_report_is_claimed_once() {
        let heartbeat = Heartbeat::new();
        let poll = heartbeat.poll_started(4);
        heartbeat.reported.store(poll, Ordering::Release);
        assert!(heartbeat.poll_ended(poll).is_some());
        assert_eq!(heartbeat.poll_ended(poll), None, "claimed already");
    }

    #[test]
    fn the_watchdog_prints_the_end_of_a_report_the_loop_missed() {
        let heartbeat = Heartbeat::new();
        let buffer = Arc::new(Mutex::new(String::new()));
        let output = Output::buffer(buffer.clone());
        let (sender, notes) = mpsc::channel();
        let book = NameBook {
            notes,
            names: HashMap::new(),
        };
        TaskNames(sender).named(4, "late");
        let mut book = book;
        book.read_notes();
        let poll = heartbeat.poll_started(4);
        // The loop ends the poll and looks before the watchdog stores its report.
        assert_eq!(heartbeat.poll_ended(poll), None);
        heartbeat.poll_started(5);
        heartbeat.reported.store(poll, Ordering::Release);
        // While the reported poll is the current one, nothing happens.
        finish_unclaimed(&heartbeat, poll, &book, 4, ms(100), &output);
        assert!(buffer.lock().unwrap().is_empty());
        finish_unclaimed(&heartbeat, poll + 1, &book, 4, ms(100), &output);
        assert!(
            buffer
                .lock()
                .unwrap()
                .starts_with("handloop: task 'late' (id 4) returned to the loop after "),
            "{}",
            buffer.lock().unwrap()
        );
        assert_eq!(heartbeat.reported.load(Ordering::Relaxed), 0, "claimed");
    }

    #[test]
    fn the_sampling_interval() {
        assert_eq!(tick(ms(100)), ms(10));
        assert_eq!(tick(ms(1)), ms(1));
        assert_eq!(tick(Duration::from_secs(10)), ms(100));
    }

    #[test]
    fn messages() {
        let stalled = Stalled {
            id: 4,
            name: "blocker".into(),
            running_for: ms(120),
            threshold: ms(100),
            again: false,
        };
        assert_eq!(
            stalled.to_string(),
            "handloop: task 'blocker' (id 4) has been running for 0.120s without yielding to \
             the loop (slow_poll_threshold 0.100s): no other task can run meanwhile\n"
        );
        let again = Stalled {
            again: true,
            running_for: ms(240),
            ..stalled
        };
        assert!(again.to_string().contains("is still running after 0.240s"));
        let slow = SlowPoll {
            id: 4,
            name: "blocker".into(),
            took: ms(300),
            threshold: ms(100),
        };
        assert_eq!(
            slow.to_string(),
            "handloop: task 'blocker' (id 4) returned to the loop after 0.300s \
             (slow_poll_threshold 0.100s): every other task waited that long\n"
        );
    }

    #[test]
    #[should_panic(expected = "the slow-poll threshold must be longer than zero")]
    fn a_zero_threshold_is_refused() {
        let _ = Watchdog::start(Arc::new(Heartbeat::new()), Duration::ZERO, Output::stderr());
    }
}
