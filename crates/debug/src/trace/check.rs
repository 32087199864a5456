//! The trace checker: reads any Chrome trace-event JSON file and checks what a viewer
//! needs to draw it right.
//!
//! - Every event is an object with a phase, a process and a thread, a timestamp (except
//!   metadata), a name where the phase needs one, and a duration for a complete slice.
//! - Timestamps never go backwards on a track (a thread's track, or a counter's), in file
//!   order.
//! - Slices nest on each thread: two slices either do not overlap or one holds the other
//!   (`X` slices, and `B`/`E` pairs, which must match).
//! - Every flow arrow has both ends: one `s` and one `f` per id, the start no later than
//!   the end, the start inside a slice of its thread and the end inside (`bp: "e"`) or
//!   before a slice of its own.
//! - Every thread with slices is named (an `M` `thread_name` event).
//!
//! [`TraceSummary::expect_names`] then checks that the slices you expect (your tasks'
//! names) are there.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::json::{self, Value};

/// One problem found in a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// The index of the event in `traceEvents`, when one event is at fault.
    pub event: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event {
            Some(i) => write!(f, "event {i}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TraceError {}

/// What a valid trace holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceSummary {
    /// Events in the file.
    pub events: usize,
    /// Threads that have slices.
    pub threads: usize,
    /// Slices (`X` events and `B`/`E` pairs).
    pub slices: usize,
    /// Complete flow arrows.
    pub flows: usize,
    /// Counter events.
    pub counters: usize,
    /// Instant events.
    pub instants: usize,
    /// Every slice name, once.
    pub slice_names: BTreeSet<String>,
    /// Every thread's name.
    pub thread_names: BTreeSet<String>,
}

impl TraceSummary {
    /// Checks that a slice with each of `names` appears (your tasks' names, say).
    ///
    /// # Errors
    /// Names every missing one, and the names that are there.
    pub fn expect_names<I>(&self, names: I) -> Result<(), TraceError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let missing: Vec<String> = names
            .into_iter()
            .filter(|name| !self.slice_names.contains(name.as_ref()))
            .map(|name| format!("'{}'", name.as_ref()))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let present: Vec<&str> = self.slice_names.iter().map(String::as_str).collect();
        Err(TraceError {
            event: None,
            message: format!(
                "no slice named {} (the slices are named: {})",
                missing.join(", "),
                present.join(", ")
            ),
        })
    }
}

impl fmt::Display for TraceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "{}: {}, {}, {}, {}, {}",
            count(self.events, "event", "events"),
            count(self.threads, "thread", "threads"),
            count(self.slices, "slice", "slices"),
            count(self.flows, "flow arrow", "flow arrows"),
            count(self.counters, "counter value", "counter values"),
            count(self.instants, "instant", "instants"),
        )
    }
}

/// A slice on a thread, in integer nanoseconds.
#[derive(Clone, Debug)]
struct Slice {
    start: i64,
    end: i64,
    name: String,
    event: usize,
}

/// A `B` event waiting for its `E`: when, its name, its index.
type Open = (i64, String, usize);

/// One end (or step) of a flow arrow.
#[derive(Clone, Debug)]
struct FlowPoint {
    phase: char,
    at: i64,
    thread: (i64, i64),
    enclosing: bool,
    event: usize,
}

/// A track's identity: a thread, or a counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Track {
    Thread(i64, i64),
    Counter(i64, String, String),
}

/// Checks a trace (see the module documentation).
///
/// # Errors
/// Every problem found (after a JSON syntax error, only that one).
pub fn check_trace(text: &str) -> Result<TraceSummary, Vec<TraceError>> {
    let document = json::parse(text).map_err(|e| {
        vec![TraceError {
            event: None,
            message: e.to_string(),
        }]
    })?;
    let events = match &document {
        Value::Array(events) => events,
        Value::Object(_) => match document.get("traceEvents") {
            Some(Value::Array(events)) => events,
            _ => {
                return Err(vec![TraceError {
                    event: None,
                    message: "the object has no \"traceEvents\" array".into(),
                }]);
            }
        },
        _ => {
            return Err(vec![TraceError {
                event: None,
                message: "a trace is an array of events or an object with \"traceEvents\"".into(),
            }]);
        }
    };
    let mut checker = Checker::default();
    checker.summary.events = events.len();
    for (i, event) in events.iter().enumerate() {
        checker.event(i, event);
    }
    checker.finish()
}

#[derive(Default)]
struct Checker {
    errors: Vec<TraceError>,
    summary: TraceSummary,
    last_ts: HashMap<Track, i64>,
    slices: BTreeMap<(i64, i64), Vec<Slice>>,
    /// Open `B` events per thread.
    open: HashMap<(i64, i64), Vec<Open>>,
    flows: BTreeMap<(String, String), Vec<FlowPoint>>,
    thread_names: HashMap<(i64, i64), String>,
}

impl Checker {
    fn error(&mut self, event: usize, message: impl Into<String>) {
        self.errors.push(TraceError {
            event: Some(event),
            message: message.into(),
        });
    }

    fn event(&mut self, i: usize, event: &Value) {
        if !matches!(event, Value::Object(_)) {
            return self.error(i, "an event must be an object");
        }
        let Some(phase) = event.get("ph").and_then(Value::as_str) else {
            return self.error(i, "no \"ph\" (phase)");
        };
        let Some(pid) = integer(event.get("pid")) else {
            return self.error(i, format!("phase {phase:?}: no numeric \"pid\""));
        };
        let tid = integer(event.get("tid"));
        let name = event.get("name").and_then(Value::as_str);
        // Counters and metadata belong to the process; so do global and process instants.
        let process_wide = matches!(phase, "C" | "M")
            || (matches!(phase, "i" | "I")
                && matches!(event.get("s").and_then(Value::as_str), Some("g" | "p")));
        let needs_thread = !process_wide;
        if needs_thread && tid.is_none() {
            return self.error(i, format!("phase {phase:?}: no numeric \"tid\""));
        }
        let thread = (pid, tid.unwrap_or(0));
        if phase == "M" {
            if name == Some("thread_name") {
                match event
                    .get("args")
                    .and_then(|args| args.get("name"))
                    .and_then(Value::as_str)
                {
                    Some(thread_name) => {
                        self.thread_names.insert(thread, thread_name.to_owned());
                    }
                    None => self.error(i, "a thread_name event without args.name"),
                }
            }
            return;
        }
        let Some(ts) = event.get("ts").and_then(Value::as_f64) else {
            return self.error(i, format!("phase {phase:?}: no numeric \"ts\""));
        };
        if !ts.is_finite() || ts < 0.0 {
            return self.error(i, format!("\"ts\" is {ts}: it must be a finite number ≥ 0"));
        }
        let at = nanos(ts);
        if matches!(phase, "X" | "B" | "C" | "i" | "I" | "s" | "t" | "f")
            && name.is_none_or(str::is_empty)
        {
            return self.error(i, format!("phase {phase:?}: no \"name\""));
        }
        let track = match phase {
            "C" => {
                let id = event.get("id").map(id_text).unwrap_or_default();
                Track::Counter(pid, name.unwrap_or_default().to_owned(), id)
            }
            _ if needs_thread => Track::Thread(pid, thread.1),
            _ => Track::Counter(pid, "global instants".to_owned(), String::new()),
        };
        if let Some(&last) = self.last_ts.get(&track)
            && at < last
        {
            let what = match &track {
                Track::Thread(p, t) => format!("thread {p}/{t}"),
                Track::Counter(_, n, _) => format!("counter '{n}'"),
            };
            self.error(
                i,
                format!(
                    "timestamp {} goes backwards on {what} (the event before is at {})",
                    micros(at),
                    micros(last)
                ),
            );
        }
        self.last_ts.insert(track, at);
        match phase {
            "X" => match event.get("dur").and_then(Value::as_f64) {
                Some(dur) if dur.is_finite() && dur >= 0.0 => {
                    self.slices.entry(thread).or_default().push(Slice {
                        start: at,
                        end: at + nanos(dur),
                        name: name.unwrap_or_default().to_owned(),
                        event: i,
                    });
                }
                _ => self.error(i, "an X slice needs a \"dur\" ≥ 0"),
            },
            "B" => self.open.entry(thread).or_default().push((
                at,
                name.unwrap_or_default().to_owned(),
                i,
            )),
            "E" => match self.open.entry(thread).or_default().pop() {
                Some((start, name, begin)) => {
                    self.slices.entry(thread).or_default().push(Slice {
                        start,
                        end: at,
                        name,
                        event: begin,
                    });
                }
                None => self.error(i, "an E event with no B open on its thread"),
            },
            "C" => self.summary.counters += 1,
            "i" | "I" => self.summary.instants += 1,
            "s" | "t" | "f" => {
                let Some(id) = event.get("id") else {
                    return self.error(i, format!("flow event {phase:?} without an \"id\""));
                };
                let category = event
                    .get("cat")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                self.flows
                    .entry((category, id_text(id)))
                    .or_default()
                    .push(FlowPoint {
                        phase: phase.chars().next().expect("non-empty"),
                        at,
                        thread,
                        enclosing: event.get("bp").and_then(Value::as_str) == Some("e"),
                        event: i,
                    });
            }
            _ => {} // other phases (async, samples, ...) are not checked
        }
    }

    fn finish(mut self) -> Result<TraceSummary, Vec<TraceError>> {
        for (_, open) in std::mem::take(&mut self.open) {
            for (_, name, event) in open {
                self.error(
                    event,
                    format!("slice '{name}' begins (B) and never ends (E)"),
                );
            }
        }
        let mut slices = std::mem::take(&mut self.slices);
        for (&thread, list) in slices.iter_mut() {
            list.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
            self.check_nesting(list);
            if !self.thread_names.contains_key(&thread) {
                self.errors.push(TraceError {
                    event: None,
                    message: format!(
                        "thread {}/{} has slices but no thread_name metadata event",
                        thread.0, thread.1
                    ),
                });
            }
            self.summary.slices += list.len();
            self.summary
                .slice_names
                .extend(list.iter().map(|s| s.name.clone()));
        }
        self.summary.threads = slices.len();
        let flows = std::mem::take(&mut self.flows);
        for ((category, id), points) in flows {
            self.check_flow(&category, &id, &points, &slices);
        }
        self.summary.thread_names = self.thread_names.values().cloned().collect();
        if self.errors.is_empty() {
            Ok(self.summary)
        } else {
            Err(self.errors)
        }
    }

    /// Slices sorted by start (longer first at equal starts) nest if each one ends by the
    /// end of every slice still open when it starts.
    fn check_nesting(&mut self, list: &[Slice]) {
        let mut stack: Vec<&Slice> = Vec::new();
        for slice in list {
            while stack.last().is_some_and(|top| top.end <= slice.start) {
                stack.pop();
            }
            if let Some(top) = stack.last()
                && slice.end > top.end
            {
                let message = format!(
                    "slice '{}' ({}..{} µs) overlaps slice '{}' ({}..{} µs) without nesting in it",
                    slice.name,
                    micros(slice.start),
                    micros(slice.end),
                    top.name,
                    micros(top.start),
                    micros(top.end)
                );
                self.error(slice.event, message);
                continue;
            }
            stack.push(slice);
        }
    }

    fn check_flow(
        &mut self,
        category: &str,
        id: &str,
        points: &[FlowPoint],
        slices: &BTreeMap<(i64, i64), Vec<Slice>>,
    ) {
        let name = format!("flow {id} (category '{category}')");
        let starts: Vec<&FlowPoint> = points.iter().filter(|p| p.phase == 's').collect();
        let ends: Vec<&FlowPoint> = points.iter().filter(|p| p.phase == 'f').collect();
        let first = points[0].event;
        match (starts.as_slice(), ends.as_slice()) {
            ([], _) => return self.error(first, format!("{name} has no start (s)")),
            (_, []) => return self.error(first, format!("{name} has no end (f)")),
            ([_], [_]) => {}
            _ => {
                return self.error(
                    first,
                    format!(
                        "{name} has {} starts and {} ends: one of each",
                        starts.len(),
                        ends.len()
                    ),
                );
            }
        }
        let (start, end) = (starts[0], ends[0]);
        if start.at > end.at {
            return self.error(end.event, format!("{name} ends before it starts"));
        }
        for step in points.iter().filter(|p| p.phase == 't') {
            if step.at < start.at || step.at > end.at {
                return self.error(step.event, format!("{name} has a step outside its span"));
            }
        }
        let on_thread = |thread| slices.get(&thread).map_or(&[][..], Vec::as_slice);
        let encloses = |thread, at| {
            on_thread(thread)
                .iter()
                .any(|s: &Slice| s.start <= at && at <= s.end)
        };
        if !encloses(start.thread, start.at) {
            return self.error(
                start.event,
                format!("{name} starts outside every slice of its thread: a viewer drops it"),
            );
        }
        let end_bound = if end.enclosing {
            encloses(end.thread, end.at)
        } else {
            on_thread(end.thread).iter().any(|s| s.start >= end.at)
        };
        if !end_bound {
            return self.error(
                end.event,
                format!("{name} ends where no slice of its thread can take it"),
            );
        }
        self.summary.flows += 1;
    }
}

/// An integer `pid`/`tid`.
fn integer(value: Option<&Value>) -> Option<i64> {
    let n = value?.as_f64()?;
    (n.fract() == 0.0 && n.abs() < 9.0e15).then_some(n as i64)
}

/// An id as text (ids may be numbers or strings).
fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => format!("{n}"),
        other => format!("{other:?}"),
    }
}

/// Microseconds (the format's unit) to whole nanoseconds.
fn nanos(micros: f64) -> i64 {
    (micros * 1000.0).round() as i64
}

fn micros(nanos: i64) -> String {
    format!("{:.3}", nanos as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(events: &str) -> String {
        format!(
            "{{\"traceEvents\":[{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{{\"name\":\"loop\"}}}}{}]}}",
            events
        )
    }

    fn errors(events: &str) -> Vec<String> {
        match check_trace(&trace(events)) {
            Ok(summary) => panic!("expected errors, got {summary:?}"),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    const X: &str = r#","ph":"X","pid":1,"tid":1"#;

    #[test]
    fn a_good_trace() {
        let summary = check_trace(&trace(&format!(
            r#",{{"name":"main"{X},"ts":0,"dur":10}},
               {{"name":"inner"{X},"ts":2,"dur":3}},
               {{"name":"wake","cat":"flow","ph":"s","id":1,"pid":1,"tid":1,"ts":4}},
               {{"name":"fetch"{X},"ts":10,"dur":5}},
               {{"name":"wake","cat":"flow","ph":"f","bp":"e","id":1,"pid":1,"tid":1,"ts":10}},
               {{"name":"tasks","ph":"C","pid":1,"id":1,"ts":11,"args":{{"ready":2}}}},
               {{"name":"timer fired","ph":"i","s":"t","pid":1,"tid":1,"ts":12}},
               {{"name":"b","ph":"B","pid":1,"tid":1,"ts":20}},
               {{"ph":"E","pid":1,"tid":1,"ts":21}}"#
        )))
        .unwrap();
        assert_eq!(summary.slices, 4);
        assert_eq!(summary.flows, 1);
        assert_eq!(summary.counters, 1);
        assert_eq!(summary.instants, 1);
        assert_eq!(summary.threads, 1);
        summary.expect_names(["main", "fetch", "b"]).unwrap();
        assert_eq!(
            summary.expect_names(["fetch", "nope"]).unwrap_err().message,
            "no slice named 'nope' (the slices are named: b, fetch, inner, main)"
        );
    }

    #[test]
    fn the_array_form_is_read_too() {
        let summary = check_trace(
            r#"[{"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"t"}},
                {"name":"a","ph":"X","pid":1,"tid":1,"ts":1,"dur":1}]"#,
        )
        .unwrap();
        assert_eq!(summary.slices, 1);
        assert_eq!(summary.thread_names, BTreeSet::from(["t".to_owned()]));
    }

    #[test]
    fn overlapping_slices() {
        let found = errors(&format!(
            r#",{{"name":"a"{X},"ts":0,"dur":10}},{{"name":"b"{X},"ts":5,"dur":10}}"#
        ));
        assert_eq!(
            found,
            [
                "event 2: slice 'b' (5.000..15.000 µs) overlaps slice 'a' (0.000..10.000 µs) without nesting in it"
            ]
        );
        // Touching is not overlapping; equal slices nest.
        check_trace(&trace(&format!(
            r#",{{"name":"a"{X},"ts":0,"dur":10}},{{"name":"b"{X},"ts":10,"dur":10}},{{"name":"c"{X},"ts":10,"dur":10}}"#
        )))
        .unwrap();
    }

    #[test]
    fn time_going_backwards() {
        let found = errors(&format!(
            r#",{{"name":"a"{X},"ts":5,"dur":1}},{{"name":"b"{X},"ts":4,"dur":1}}"#
        ));
        assert_eq!(
            found,
            [
                "event 2: timestamp 4.000 goes backwards on thread 1/1 (the event before is at 5.000)"
            ]
        );
        let found = errors(
            r#",{"name":"n","ph":"C","pid":1,"ts":5,"args":{"v":1}},{"name":"n","ph":"C","pid":1,"ts":4,"args":{"v":1}}"#,
        );
        assert_eq!(
            found,
            [
                "event 2: timestamp 4.000 goes backwards on counter 'n' (the event before is at 5.000)"
            ]
        );
        // Different counters and threads are different tracks.
        check_trace(&trace(
            r#",{"name":"n","ph":"C","pid":1,"ts":5,"args":{"v":1}},{"name":"m","ph":"C","pid":1,"ts":4,"args":{"v":1}}"#,
        ))
        .unwrap();
    }

    #[test]
    fn half_arrows() {
        let slice = format!(r#",{{"name":"a"{X},"ts":0,"dur":10}}"#);
        let s = r#",{"name":"w","cat":"flow","ph":"s","id":7,"pid":1,"tid":1,"ts":1}"#;
        let f = r#",{"name":"w","cat":"flow","ph":"f","bp":"e","id":7,"pid":1,"tid":1,"ts":5}"#;
        assert_eq!(
            errors(&format!("{slice}{s}")),
            ["event 2: flow 7 (category 'flow') has no end (f)"]
        );
        assert_eq!(
            errors(&format!("{slice}{f}")),
            ["event 2: flow 7 (category 'flow') has no start (s)"]
        );
        assert_eq!(
            errors(&format!("{slice}{s}{s}{f}")),
            ["event 2: flow 7 (category 'flow') has 2 starts and 1 ends: one of each"]
        );
        check_trace(&trace(&format!("{slice}{s}{f}"))).unwrap();
    }

    #[test]
    fn unbound_arrows() {
        let outside = r#",{"name":"w","cat":"flow","ph":"s","id":7,"pid":1,"tid":1,"ts":20}"#;
        let end = r#",{"name":"w","cat":"flow","ph":"f","bp":"e","id":7,"pid":1,"tid":1,"ts":30}"#;
        let slice = format!(r#",{{"name":"a"{X},"ts":0,"dur":10}}"#);
        let later = format!(r#",{{"name":"b"{X},"ts":30,"dur":1}}"#);
        assert_eq!(
            errors(&format!("{slice}{outside}{later}{end}")),
            [
                "event 2: flow 7 (category 'flow') starts outside every slice of its thread: a viewer drops it"
            ]
        );
        let inside = r#",{"name":"w","cat":"flow","ph":"s","id":7,"pid":1,"tid":1,"ts":5}"#;
        assert_eq!(
            errors(&format!("{slice}{inside}{end}")),
            ["event 3: flow 7 (category 'flow') ends where no slice of its thread can take it"]
        );
        let backwards_end =
            r#",{"name":"w","cat":"flow","ph":"f","bp":"e","id":7,"pid":1,"tid":2,"ts":1}"#;
        let found = errors(&format!("{slice}{inside}{backwards_end}"));
        assert_eq!(
            found,
            ["event 3: flow 7 (category 'flow') ends before it starts"]
        );
    }

    #[test]
    fn malformed_events() {
        let found = errors(
            r#",1,{"pid":1},{"ph":"X","pid":1},{"ph":"X","tid":1,"ts":1},{"ph":"X","pid":1,"tid":1,"ts":1,"dur":1},
               {"name":"a","ph":"X","pid":1,"tid":1,"ts":-1,"dur":1},{"name":"a","ph":"X","pid":1,"tid":1,"ts":1},
               {"ph":"E","pid":1,"tid":1,"ts":2},{"name":"b","ph":"B","pid":1,"tid":1,"ts":3},
               {"name":"s","ph":"s","pid":1,"tid":1,"ts":3},{"name":"thread_name","ph":"M","pid":1,"tid":3}"#,
        );
        assert_eq!(
            found,
            [
                "event 1: an event must be an object",
                "event 2: no \"ph\" (phase)",
                "event 3: phase \"X\": no numeric \"tid\"",
                "event 4: phase \"X\": no numeric \"pid\"",
                "event 5: phase \"X\": no \"name\"",
                "event 6: \"ts\" is -1: it must be a finite number ≥ 0",
                "event 7: an X slice needs a \"dur\" ≥ 0",
                "event 8: an E event with no B open on its thread",
                "event 10: flow event \"s\" without an \"id\"",
                "event 11: a thread_name event without args.name",
                "event 9: slice 'b' begins (B) and never ends (E)",
            ]
        );
    }

    #[test]
    fn an_unnamed_thread() {
        let found = errors(r#",{"name":"a","ph":"X","pid":1,"tid":2,"ts":1,"dur":1}"#);
        assert_eq!(
            found,
            ["thread 1/2 has slices but no thread_name metadata event"]
        );
    }

    #[test]
    fn not_a_trace() {
        let message = |text: &str| check_trace(text).unwrap_err()[0].message.clone();
        assert_eq!(
            message("{\"events\":[]}"),
            "the object has no \"traceEvents\" array"
        );
        assert_eq!(
            message("3"),
            "a trace is an array of events or an object with \"traceEvents\""
        );
        assert_eq!(
            message("[1,"),
            "invalid JSON at byte 3: unexpected end of input"
        );
    }
}
