//! The stall watchdog: a thread that notices, while it is still happening, that one poll
//! has held the loop's thread too long, and says which task.
//!
//! asyncio's debug mode times every callback and logs the slow ones after they return: a
//! task that never returns is never reported. Go's `sysmon` does it the other way round,
//! and so does this: the loop only counts. Each poll it makes one plain store into a
//! [`Heartbeat`] (a word naming the poll: the task's id and its own poll count), and one
//! more per turn before it looks for events (no poll running); it reads no clock and checks
//! nothing. A watchdog thread samples the heartbeat every tenth of the threshold. A word
//! that has not changed while a task is being polled means that task has not yielded; once
//! that lasts longer than the threshold the watchdog prints its name and id, again at twice and four times
//! the threshold and so on, and at the first sample after the poll finally returned it
//! prints the total ([`SlowPoll`]).
//!
//! The watchdog never takes a lock the loop needs. It reads the heartbeat's atomic; it
//! learns task names from a channel the loop sends into (without locking: see
//! [`TaskNames`]); and it prints through its own [`Output`].
//!
//! The poll began between the last sample that saw an earlier word and the first that saw
//! its own, and ended between the last sample that saw it running and the next: durations
//! are measured between the halfway points, so they are right to within the time between
//! two samples (a tenth of the threshold, unless the machine is so loaded that the watchdog
//! oversleeps).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::dump::PollNow;
use crate::waiting::seconds;

/// The heartbeat's word when no poll is running: the loop is between turns or parked.
const IDLE: u64 = 0;

/// What the loop writes and the watchdog reads: which poll is running, in one word.
///
/// The word is the task's id shifted above that task's own poll count (`id << 24 ^ polls`),
/// which together name one poll: every poll writes a different word, and the loop already
/// has both numbers at hand (a shift and an exclusive or). A word that has not changed
/// between two samples is one poll that has not returned. Two polls share a word only if a
/// task is polled 2^24 times, or ids pass 2^40, between two samples a tenth of the threshold
/// apart; a poll whose word is 0, the word for "no poll" (a task with an id under 256
/// polled exactly `id << 24` times), goes unwatched. Neither can make the watchdog name a
/// task that is not stalled for long.
///
/// On its own line of cache (128 bytes covers the adjacent-line prefetch of x86), so the
/// loop's store does not share a line with anything else the loop touches.
#[derive(Debug)]
#[repr(align(128))]
pub struct Heartbeat {
    /// The running poll's word, or [`IDLE`].
    beat: AtomicU64,
}

/// How far the task's id is shifted above its poll count in the word.
const POLL_BITS: u32 = 24;

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat::new()
    }
}

impl Heartbeat {
    /// A heartbeat with no poll yet.
    pub fn new() -> Heartbeat {
        Heartbeat {
            beat: AtomicU64::new(IDLE),
        }
    }

    /// The loop starts the `poll`-th poll of task `id`: one plain store.
    #[inline]
    pub fn poll_started(&self, id: u64, poll: u32) {
        self.beat
            .store((id << POLL_BITS) ^ u64::from(poll), Ordering::Relaxed);
    }

    /// The loop is done polling for this turn (it is about to look for events, maybe park):
    /// one plain store per turn.
    #[inline]
    pub fn idle(&self) {
        self.beat.store(IDLE, Ordering::Relaxed);
    }

    /// A reading: the running poll's word, and its task if a poll is running.
    fn sample(&self) -> (u64, Option<u64>) {
        let word = self.beat.load(Ordering::Relaxed);
        (word, (word != IDLE).then_some(word >> POLL_BITS))
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

/// The line the watchdog prints once a poll it reported has returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowPoll {
    /// The task's id.
    pub id: u64,
    /// The task's name.
    pub name: String,
    /// How long the poll took.
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
    /// The heartbeat's word at the last sample.
    polls: u64,
    /// When the poll with that word began, as well as the samples can tell: halfway
    /// between the last sample that saw an earlier word and the first that saw this one.
    since: Instant,
    /// When the last sample was taken.
    sampled: Instant,
    /// The running time at which to report next: the threshold, then doubling.
    next_report: Duration,
    /// The poll reported as slow, not yet seen to end: its word and task.
    reported: Option<(u64, u64)>,
}

/// What one sample leads to.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Nothing to say.
    Fine,
    /// Task `task` has been running for `running_for` without yielding.
    Slow {
        task: u64,
        running_for: Duration,
        again: bool,
    },
    /// The slow poll of task `task` returned, after `took`.
    Ended { task: u64, took: Duration },
}

impl Observer {
    fn new(threshold: Duration, now: Instant) -> Observer {
        Observer {
            threshold,
            polls: 0,
            since: now,
            sampled: now,
            next_report: threshold,
            reported: None,
        }
    }

    fn observe(&mut self, now: Instant, polls: u64, task: Option<u64>) -> Seen {
        let previous = std::mem::replace(&mut self.sampled, now);
        let halfway = previous + now.saturating_duration_since(previous) / 2;
        let mut seen = Seen::Fine;
        if let Some((reported, reported_task)) = self.reported
            && (polls != reported || task.is_none())
        {
            // The slow poll returned between the previous sample and this one.
            self.reported = None;
            seen = Seen::Ended {
                task: reported_task,
                took: halfway.saturating_duration_since(self.since),
            };
        }
        if polls != self.polls {
            // A new poll began since the last sample (or several did), or the loop went
            // idle.
            self.polls = polls;
            self.since = halfway;
            self.next_report = self.threshold;
            return seen;
        }
        let Some(task) = task else {
            return seen; // the loop is between polls or parked
        };
        let running_for = now.saturating_duration_since(self.since);
        if running_for < self.next_report {
            return seen;
        }
        let again = self.next_report > self.threshold;
        self.next_report = self.next_report.saturating_mul(2);
        self.reported = Some((polls, task));
        Seen::Slow {
            task,
            running_for,
            again,
        }
    }
}

/// What another thread can learn of a loop's polls without asking the loop (for a dump
/// the loop does not answer because a poll holds its thread): the heartbeat, and the
/// watchdog's note of the poll it saw running at two samples in a row. The loop never
/// touches the note's lock; the watchdog takes it only when the poll it sees running
/// changes, and a reader only when it asks.
#[derive(Clone, Debug)]
pub struct PollWatch {
    heartbeat: Arc<Heartbeat>,
    seen: Arc<Mutex<Option<SeenPoll>>>,
}

/// A poll the watchdog saw running at two samples.
#[derive(Clone, Debug)]
struct SeenPoll {
    /// The heartbeat's word for it.
    word: u64,
    id: u64,
    name: String,
    /// When it began, as well as the samples tell.
    since: Instant,
}

impl PollWatch {
    /// Whether a poll is running now, and, if the watchdog has seen it for a while, the
    /// task's name and how long it has run.
    pub fn poll_now(&self) -> PollNow {
        let (word, task) = self.heartbeat.sample();
        let Some(id) = task else {
            return PollNow::None;
        };
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone();
        match seen {
            Some(seen) if seen.word == word && seen.id == id => PollNow::Task {
                id,
                name: Some(seen.name),
                running_for: Some(seen.since.elapsed()),
            },
            _ => PollNow::Task {
                id,
                name: None,
                running_for: None,
            },
        }
    }
}

/// The watchdog thread of one loop. Dropping it stops the thread.
#[derive(Debug)]
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    watch: PollWatch,
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
        let poll_watch = PollWatch {
            heartbeat: heartbeat.clone(),
            seen: Arc::new(Mutex::new(None)),
        };
        let thread = {
            let stop = stop.clone();
            let book = NameBook {
                notes,
                names: HashMap::new(),
            };
            let seen = poll_watch.seen.clone();
            thread::Builder::new()
                .name("handloop-watchdog".to_owned())
                .spawn(move || watch(&heartbeat, threshold, &output, book, &seen, &stop))?
        };
        Ok((
            Watchdog {
                stop,
                thread: Some(thread),
                watch: poll_watch,
            },
            TaskNames(sender),
        ))
    }

    /// What other threads may read of the loop's running poll.
    pub fn poll_watch(&self) -> PollWatch {
        self.watch.clone()
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

/// The watchdog thread's loop. When stopped (the loop is being dropped), it takes one last
/// sample, so that the end of a slow poll is always printed.
fn watch(
    heartbeat: &Heartbeat,
    threshold: Duration,
    output: &Output,
    mut book: NameBook,
    seen: &Mutex<Option<SeenPoll>>,
    stop: &AtomicBool,
) {
    let tick = tick(threshold);
    let mut observer = Observer::new(threshold, Instant::now());
    // The name of the task last reported: by the time its poll is seen to end, the task may
    // have finished and its name be gone from the book.
    let mut reported = (0, String::new());
    // The word of the poll noted in `seen` (0: none).
    let mut noted = IDLE;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        if !stopping {
            thread::park_timeout(tick);
        }
        book.read_notes();
        let (polls, task) = heartbeat.sample();
        let task = if stopping { None } else { task };
        let same_poll = polls == observer.polls;
        let seen_now = observer.observe(Instant::now(), polls, task);
        // Note the poll seen running at two samples for `PollWatch`, and forget it once it
        // is over: a lock taken only when the poll seen changes, never by the loop.
        let note = match task {
            Some(task) if same_poll => Some((polls, task)),
            _ => None,
        };
        if note.map_or(IDLE, |(word, _)| word) != noted {
            let mut seen = seen.lock().unwrap_or_else(|poison| poison.into_inner());
            *seen = note.map(|(word, id)| SeenPoll {
                word,
                id,
                name: book.name(id).1,
                since: observer.since,
            });
            noted = note.map_or(IDLE, |(word, _)| word);
        }
        match seen_now {
            Seen::Fine => {}
            Seen::Slow {
                task,
                running_for,
                again,
            } => {
                reported = book.name(task);
                let stalled = Stalled {
                    id: reported.0,
                    name: reported.1.clone(),
                    running_for,
                    threshold,
                    again,
                };
                output.print(&stalled.to_string());
            }
            Seen::Ended { task, took } => {
                let (id, name) = if reported.0 == task {
                    std::mem::take(&mut reported)
                } else {
                    book.name(task)
                };
                let slow = SlowPoll {
                    id,
                    name,
                    took,
                    threshold,
                };
                output.print(&slow.to_string());
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_observer_reports_at_the_threshold_then_at_each_doubling_then_the_end() {
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
            task: 4,
            running_for: ms(at),
            again,
        };
        assert_eq!(observer.observe(t0 + ms(100), 1, Some(4)), slow(100, false));
        assert_eq!(observer.observe(t0 + ms(150), 1, Some(4)), Seen::Fine);
        assert_eq!(observer.observe(t0 + ms(210), 1, Some(4)), slow(210, true));
        assert_eq!(observer.observe(t0 + ms(390), 1, Some(4)), Seen::Fine);
        assert_eq!(observer.observe(t0 + ms(400), 1, Some(4)), slow(400, true));
        // The poll ends and another begins between the samples at 400 and 410 ms: the end
        // is halfway, and the new poll's count starts from there.
        assert_eq!(
            observer.observe(t0 + ms(410), 2, Some(5)),
            Seen::Ended {
                task: 4,
                took: ms(405)
            }
        );
        assert_eq!(observer.observe(t0 + ms(500), 2, Some(5)), Seen::Fine);
        assert!(matches!(
            observer.observe(t0 + ms(505), 2, Some(5)),
            Seen::Slow {
                task: 5,
                again: false,
                ..
            }
        ));
        // This one ends with the loop going idle (parked), the count unchanged.
        assert_eq!(
            observer.observe(t0 + ms(515), 2, None),
            Seen::Ended {
                task: 5,
                took: ms(105)
            }
        );
        assert_eq!(observer.observe(t0 + ms(900), 2, None), Seen::Fine, "once");
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
    fn the_heartbeat_names_each_poll_with_one_word() {
        let heartbeat = Heartbeat::new();
        assert_eq!(heartbeat.sample(), (IDLE, None));
        heartbeat.poll_started(4, 1);
        let first = heartbeat.sample();
        assert_eq!(first.1, Some(4));
        heartbeat.poll_started(4, 2);
        let second = heartbeat.sample();
        assert_eq!(second.1, Some(4));
        assert_ne!(
            first.0, second.0,
            "the same task's next poll is another word"
        );
        heartbeat.poll_started(5, 2);
        assert_ne!(
            heartbeat.sample().0,
            second.0,
            "another task, the same count"
        );
        assert_eq!(heartbeat.sample().1, Some(5));
        heartbeat.idle();
        assert_eq!(heartbeat.sample(), (IDLE, None));
        // Ids are read back from the word (exactly, for counts under 2^24).
        heartbeat.poll_started((1 << 40) - 1, 3);
        assert_eq!(heartbeat.sample().1, Some((1 << 40) - 1));
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
