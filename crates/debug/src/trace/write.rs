//! Writing recordings as Chrome trace-event JSON, by hand (the format is small, and a
//! dependency for it would be larger than this file).

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use super::{Event, ThreadTrace};

/// Writes `threads` as one Chrome trace-event JSON document (the object form, with
/// `traceEvents`), which Perfetto and chrome://tracing open.
///
/// Each thread's events are written in time order. A flow arrow is written only when both
/// of its ends are still in the ring buffer and its start lies inside a slice (where the
/// viewers can attach it); half arrows are left out.
///
/// # Errors
/// Whatever `out` returns.
pub fn write_chrome_trace(out: &mut impl Write, threads: &[ThreadTrace]) -> io::Result<()> {
    let pid = std::process::id();
    let mut w = io::BufWriter::new(out);
    w.write_all(b"{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n")?;
    let mut first = true;
    let mut line = |w: &mut io::BufWriter<&mut _>, text: String| -> io::Result<()> {
        if !first {
            w.write_all(b",\n")?;
        }
        first = false;
        w.write_all(text.as_bytes())
    };
    line(
        &mut w,
        format!(
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":\"handloop\"}}}}"
        ),
    )?;
    for thread in threads {
        let tid = thread.track;
        line(
            &mut w,
            format!(
                "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"name\":{}}}}}",
                string(&thread.label)
            ),
        )?;
        line(
            &mut w,
            format!(
                "{{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"sort_index\":{tid}}}}}"
            ),
        )?;
        for text in thread_events(thread, pid) {
            line(&mut w, text)?;
        }
    }
    w.write_all(b"\n]}\n")?;
    w.flush()
}

/// One thread's events as JSON objects, in time order.
fn thread_events(thread: &ThreadTrace, pid: u32) -> Vec<String> {
    let tid = thread.track;
    let flows = complete_flows(&thread.events);
    // Time order; at equal times a slice comes before what happens inside it, and an
    // enclosing slice before the slices it encloses.
    let mut events: Vec<&Event> = thread.events.iter().collect();
    events.sort_by_key(|event| {
        let rank = match event {
            Event::Poll { .. } | Event::Loop { .. } => 0,
            _ => 1,
        };
        let longer_first = match **event {
            Event::Poll { start, end, .. } | Event::Loop { start, end, .. } => {
                u64::MAX - (end - start)
            }
            _ => 0,
        };
        (event.at(), rank, longer_first)
    });
    let mut out = Vec::with_capacity(events.len() + 1);
    if thread.dropped > 0 {
        let at = events.first().map_or(0, |event| event.at());
        out.push(format!(
            "{{\"name\":{},\"ph\":\"i\",\"s\":\"t\",\"pid\":{pid},\"tid\":{tid},\"ts\":{}}}",
            string(&format!(
                "trace starts here: {} older events did not fit in the ring buffer of {}",
                thread.dropped, thread.capacity
            )),
            micros(at)
        ));
    }
    for event in events {
        match event {
            Event::Poll {
                start,
                end,
                task,
                name,
                outcome,
                flow_in,
            } => {
                out.push(format!(
                    "{{\"name\":{},\"cat\":\"poll\",\"ph\":\"X\",\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{},\"args\":{{\"task\":{task},\"outcome\":\"{}\"}}}}",
                    string(name),
                    micros(*start),
                    micros(end - start),
                    outcome.as_str()
                ));
                if let Some(flow) = flow_in.filter(|flow| flows.contains_key(flow)) {
                    out.push(format!(
                        "{{\"name\":\"{}\",\"cat\":\"flow\",\"ph\":\"f\",\"bp\":\"e\",\"id\":{flow},\"pid\":{pid},\"tid\":{tid},\"ts\":{}}}",
                        flow_name(flows[&flow]),
                        micros(*start)
                    ));
                }
            }
            Event::Loop { start, end, what } => out.push(format!(
                "{{\"name\":\"{what}\",\"cat\":\"loop\",\"ph\":\"X\",\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{}}}",
                micros(*start),
                micros(end - start)
            )),
            Event::Wake { at, flow, spawn } => {
                if flows.contains_key(flow) {
                    out.push(format!(
                        "{{\"name\":\"{}\",\"cat\":\"flow\",\"ph\":\"s\",\"id\":{flow},\"pid\":{pid},\"tid\":{tid},\"ts\":{}}}",
                        flow_name(*spawn),
                        micros(*at)
                    ));
                }
            }
            Event::Counter { at, which, value } => {
                let (name, series) = which.names();
                out.push(format!(
                    "{{\"name\":\"{name}\",\"ph\":\"C\",\"id\":{tid},\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"args\":{{\"{series}\":{value}}}}}",
                    micros(*at)
                ));
            }
            Event::Instant { at, what } => out.push(format!(
                "{{\"name\":{},\"cat\":\"event\",\"ph\":\"i\",\"s\":\"t\",\"pid\":{pid},\"tid\":{tid},\"ts\":{}}}",
                string(what),
                micros(*at)
            )),
        }
    }
    out
}

fn flow_name(spawn: bool) -> &'static str {
    if spawn { "spawn" } else { "wake" }
}

/// The flows whose two ends are both recorded and whose start lies inside a slice, with
/// whether each is a spawn.
fn complete_flows(events: &[Event]) -> HashMap<u64, bool> {
    let mut slices: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|event| match *event {
            Event::Poll { start, end, .. } | Event::Loop { start, end, .. } => Some((start, end)),
            _ => None,
        })
        .collect();
    slices.sort_unstable();
    let inside_a_slice = |at: u64| {
        // The loop's slices never overlap: the last one starting at or before `at` is the
        // only one that can hold it.
        let i = slices.partition_point(|&(start, _)| start <= at);
        i > 0 && slices[i - 1].1 >= at
    };
    let ends: HashSet<u64> = events
        .iter()
        .filter_map(|event| match *event {
            Event::Poll { flow_in, .. } => flow_in,
            _ => None,
        })
        .collect();
    events
        .iter()
        .filter_map(|event| match *event {
            Event::Wake { at, flow, spawn } if ends.contains(&flow) && inside_a_slice(at) => {
                Some((flow, spawn))
            }
            _ => None,
        })
        .collect()
}

/// A timestamp in nanoseconds as microseconds with three decimals (exact).
fn micros(nanos: u64) -> String {
    format!("{}.{:03}", nanos / 1000, nanos % 1000)
}

/// A JSON string literal.
pub(crate) fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_are_exact() {
        assert_eq!(micros(0), "0.000");
        assert_eq!(micros(1), "0.001");
        assert_eq!(micros(1_234_567), "1234.567");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }
}
