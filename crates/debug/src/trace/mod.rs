//! The timeline: what a loop did and when, for Perfetto (ui.perfetto.dev) and
//! chrome://tracing.
//!
//! While tracing, the loop tells a [`Recorder`] about each poll (start, end, task, how it
//! ended), each wake and spawn, the time it spends waiting for events, its counters (ready
//! tasks, timers, I/O sources) and instants (a timer fired, a socket became readable). The
//! recorder keeps the newest events in a ring buffer of fixed capacity, so memory stays
//! bounded however long the program runs. When the loop is dropped, its [`ThreadTrace`]
//! goes to a trace file ([`save`]), written as the Chrome trace-event JSON ([`write_chrome_trace`]):
//!
//! - a track per loop, named after the loop and its thread (`M` events);
//! - an `X` slice per poll, named after the task, with its id and outcome as arguments;
//!   `X` slices for the loop's own work too (`waiting for events`, `remote wakes`);
//! - a flow arrow (`s` at the wake, `f` at the woken task's next poll) from each wake, and
//!   from each spawn to the new task's first poll;
//! - `C` counters for ready tasks, timers and I/O sources, and `i` instants.
//!
//! [`check_trace`] (and the `trace-check` binary) validates such a file: slices nest per
//! thread, timestamps never go backwards per track, every flow arrow has both ends, and the
//! names you expect appear.

mod check;
mod file;
mod write;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

pub use check::{TraceError, TraceSummary, check_trace};
pub use file::save;
pub use write::write_chrome_trace;

/// The number of events a recorder keeps by default: about 40 MB at most.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// Nanoseconds since the process's trace epoch (shared by every loop, so their tracks line
/// up in time).
pub fn timestamp() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos() as u64
}

/// How a poll ended, as its slice's `outcome` argument says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollOutcome {
    /// The future returned `Pending`.
    Pending,
    /// The future finished (returned, or panicked).
    Finished,
    /// The future was dropped because the task was cancelled.
    Cancelled,
}

impl PollOutcome {
    fn as_str(self) -> &'static str {
        match self {
            PollOutcome::Pending => "pending",
            PollOutcome::Finished => "finished",
            PollOutcome::Cancelled => "cancelled",
        }
    }
}

/// The counters a loop reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Tasks in the ready queue.
    Ready,
    /// Timers in the heap.
    Timers,
    /// I/O sources registered.
    IoSources,
}

impl Counter {
    /// The counter's name and its series' name.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Counter::Ready => ("tasks", "ready"),
            Counter::Timers => ("timers", "pending"),
            Counter::IoSources => ("I/O sources", "registered"),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One recorded event. Timestamps are [`timestamp`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// One poll of a task.
    Poll {
        start: u64,
        end: u64,
        task: u64,
        name: Arc<str>,
        outcome: PollOutcome,
        /// The flow (wake or spawn) that led to this poll.
        flow_in: Option<u64>,
    },
    /// The loop's own work: waiting for events, taking in wakes from other threads.
    Loop {
        start: u64,
        end: u64,
        what: &'static str,
    },
    /// A wake (or a spawn): the start of flow `flow`.
    Wake { at: u64, flow: u64, spawn: bool },
    /// A counter's new value.
    Counter { at: u64, which: Counter, value: u64 },
    /// Something that happened at one instant.
    Instant { at: u64, what: Arc<str> },
}

impl Event {
    pub(crate) fn at(&self) -> u64 {
        match *self {
            Event::Poll { start, .. } | Event::Loop { start, .. } => start,
            Event::Wake { at, .. } | Event::Counter { at, .. } | Event::Instant { at, .. } => at,
        }
    }
}

/// Where a poll started, returned by [`Recorder::begin_poll`].
#[derive(Debug)]
#[must_use = "pass it to end_poll"]
pub struct PollMark {
    start: u64,
    task: u64,
    flow_in: Option<u64>,
}

/// Where a stretch of the loop's own work started, returned by [`Recorder::begin_loop`].
#[derive(Debug)]
#[must_use = "pass it to end_loop"]
pub struct LoopMark {
    start: u64,
}

/// Flow ids, unique in the process (several loops may share a trace file).
fn next_flow() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Track ids, one per recorder, unique in the process.
fn next_track() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One loop's recorder: a ring buffer of its newest events.
///
/// ```
/// use handloop_debug::trace::{PollOutcome, Recorder, check_trace, write_chrome_trace};
///
/// let mut recorder = Recorder::new(1000, "loop on thread 'main'");
/// let main = recorder.begin_poll(0);
/// recorder.spawn(1); // main spawns task 1...
/// recorder.end_poll(main, "main", PollOutcome::Pending);
/// let mark = recorder.begin_poll(1); // ...which the loop polls next
/// recorder.wake(1); // it wakes itself (a yield)
/// recorder.end_poll(mark, "fetch", PollOutcome::Pending);
/// let mark = recorder.begin_poll(1);
/// recorder.end_poll(mark, "fetch", PollOutcome::Finished);
///
/// let mut json = Vec::new();
/// write_chrome_trace(&mut json, &[recorder.finish()])?;
/// let summary = check_trace(std::str::from_utf8(&json).unwrap()).unwrap();
/// assert_eq!(summary.slices, 3); // one per poll
/// assert_eq!(summary.flows, 2); // the spawn, then the wake
/// summary.expect_names(["main", "fetch"]).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Recorder {
    events: VecDeque<Event>,
    capacity: usize,
    /// Events pushed out of the ring.
    dropped: u64,
    track: u64,
    label: String,
    /// The flow of the last wake of each task not polled since.
    pending_flows: HashMap<u64, u64>,
    /// Names of live tasks, shared by their slices.
    names: HashMap<u64, Arc<str>>,
    /// Whether a poll or loop slice is open (a wake outside one gets a slice of its own).
    open: bool,
    /// The last value written of each counter.
    counters: [Option<u64>; 3],
}

impl Recorder {
    /// A recorder that keeps the newest `capacity` events, for the loop described by
    /// `label` (the track's name: `loop on thread 'main'`).
    ///
    /// # Panics
    /// If `capacity` is zero.
    pub fn new(capacity: usize, label: impl Into<String>) -> Recorder {
        assert!(capacity > 0, "a trace needs room for at least one event");
        Recorder {
            events: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            dropped: 0,
            track: next_track(),
            label: label.into(),
            pending_flows: HashMap::new(),
            names: HashMap::new(),
            open: false,
            counters: [None; 3],
        }
    }

    fn push(&mut self, event: Event) {
        if self.events.len() == self.capacity {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(event);
    }

    /// A poll of `task` begins.
    pub fn begin_poll(&mut self, task: u64) -> PollMark {
        self.open = true;
        PollMark {
            start: timestamp(),
            task,
            flow_in: self.pending_flows.remove(&task),
        }
    }

    /// The poll begun at `mark` ended; `name` is the task's. Call it after the loop's
    /// bookkeeping for a finished task (waking its `JoinHandle`), so that the wake falls
    /// inside the slice.
    pub fn end_poll(&mut self, mark: PollMark, name: &str, outcome: PollOutcome) {
        self.open = false;
        let end = timestamp().max(mark.start);
        let name = match self.names.get(&mark.task) {
            Some(known) if &**known == name => known.clone(),
            _ => {
                let name: Arc<str> = name.into();
                self.names.insert(mark.task, name.clone());
                name
            }
        };
        if outcome != PollOutcome::Pending {
            self.names.remove(&mark.task);
            self.pending_flows.remove(&mark.task);
        }
        self.push(Event::Poll {
            start: mark.start,
            end,
            task: mark.task,
            name,
            outcome,
            flow_in: mark.flow_in,
        });
    }

    /// The loop begins some work of its own (waiting for events, taking in remote wakes).
    pub fn begin_loop(&mut self) -> LoopMark {
        self.open = true;
        LoopMark { start: timestamp() }
    }

    /// The loop's work begun at `mark` ended; `what` names it.
    pub fn end_loop(&mut self, mark: LoopMark, what: &'static str) {
        self.open = false;
        let end = timestamp().max(mark.start);
        self.push(Event::Loop {
            start: mark.start,
            end,
            what,
        });
    }

    /// `task` was woken: an arrow from here to its next poll. A second wake before that
    /// poll draws nothing (one poll per wake, however many wakes).
    pub fn wake(&mut self, task: u64) {
        self.flow_from_here(task, false);
    }

    /// `task` was spawned: an arrow from here to its first poll.
    pub fn spawn(&mut self, task: u64) {
        self.flow_from_here(task, true);
    }

    fn flow_from_here(&mut self, task: u64, spawn: bool) {
        if self.pending_flows.contains_key(&task) {
            return;
        }
        let flow = next_flow();
        self.pending_flows.insert(task, flow);
        let at = timestamp();
        if !self.open {
            // Outside any slice: give the arrow a slice to start from.
            self.push(Event::Loop {
                start: at,
                end: at,
                what: if spawn { "spawn" } else { "wake" },
            });
        }
        self.push(Event::Wake { at, flow, spawn });
    }

    /// A counter's value now; written only when it changed.
    pub fn counter(&mut self, which: Counter, value: u64) {
        if self.counters[which.index()] == Some(value) {
            return;
        }
        self.counters[which.index()] = Some(value);
        self.push(Event::Counter {
            at: timestamp(),
            which,
            value,
        });
    }

    /// Something that happened now: `timer fired`, `readable fd 7`.
    pub fn instant(&mut self, what: &str) {
        self.push(Event::Instant {
            at: timestamp(),
            what: what.into(),
        });
    }

    /// How many events the ring holds now.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The recording, ready to be written.
    pub fn finish(self) -> ThreadTrace {
        ThreadTrace {
            track: self.track,
            label: self.label,
            capacity: self.capacity,
            dropped: self.dropped,
            events: self.events.into(),
        }
    }
}

/// One loop's finished recording.
#[derive(Clone, Debug)]
pub struct ThreadTrace {
    pub(crate) track: u64,
    pub(crate) label: String,
    pub(crate) capacity: usize,
    pub(crate) dropped: u64,
    pub(crate) events: Vec<Event>,
}

impl ThreadTrace {
    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether it holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// How many older events the ring buffer dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_events() {
        let mut recorder = Recorder::new(3, "loop");
        for i in 0..5 {
            recorder.instant(&format!("event {i}"));
        }
        let trace = recorder.finish();
        assert_eq!(trace.dropped(), 2);
        let kept: Vec<String> = trace
            .events
            .iter()
            .map(|e| match e {
                Event::Instant { what, .. } => what.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(kept, ["event 2", "event 3", "event 4"]);
    }

    #[test]
    #[should_panic(expected = "a trace needs room for at least one event")]
    fn a_zero_capacity_is_refused() {
        let _ = Recorder::new(0, "loop");
    }

    #[test]
    fn one_flow_per_poll_however_many_wakes() {
        let mut recorder = Recorder::new(100, "loop");
        let waker = recorder.begin_poll(1);
        recorder.wake(2);
        recorder.wake(2);
        recorder.end_poll(waker, "waker", PollOutcome::Pending);
        let woken = recorder.begin_poll(2);
        // A wake during its own poll leads to the next poll, not this one.
        recorder.wake(2);
        recorder.end_poll(woken, "woken", PollOutcome::Pending);
        let again = recorder.begin_poll(2);
        recorder.end_poll(again, "woken", PollOutcome::Finished);
        let trace = recorder.finish();
        let wakes: Vec<u64> = trace
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Wake { flow, .. } => Some(*flow),
                _ => None,
            })
            .collect();
        let flows_in: Vec<Option<u64>> = trace
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Poll { flow_in, .. } => Some(*flow_in),
                _ => None,
            })
            .collect();
        assert_eq!(wakes.len(), 2);
        assert_eq!(flows_in, [None, Some(wakes[0]), Some(wakes[1])]);
    }

    #[test]
    fn counters_are_written_when_they_change() {
        let mut recorder = Recorder::new(100, "loop");
        for value in [0, 0, 3, 3, 3, 1] {
            recorder.counter(Counter::Ready, value);
        }
        recorder.counter(Counter::Timers, 0);
        assert_eq!(recorder.len(), 4);
    }

    #[test]
    fn a_finished_task_forgets_its_name_and_flow() {
        let mut recorder = Recorder::new(100, "loop");
        let mark = recorder.begin_poll(7);
        recorder.end_poll(mark, "seven", PollOutcome::Pending);
        assert!(recorder.names.contains_key(&7));
        let mark = recorder.begin_poll(7);
        recorder.wake(7);
        recorder.end_poll(mark, "seven", PollOutcome::Cancelled);
        assert!(recorder.names.is_empty());
        assert!(recorder.pending_flows.is_empty());
    }
}
