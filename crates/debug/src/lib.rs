//! Seeing the loop: the tools that make an event loop visible, in one crate the executor
//! feeds.
//!
//! An event loop is invisible by design: it runs your tasks and gets out of the way. When a
//! task blocks the thread, or every task waits for another, nothing says so. This crate
//! holds the data and the reasoning of four tools, each usable and tested on its own (with
//! hand-built data and a fake loop); the executor fills them in, and costs nothing while
//! they are off.
//!
//! | file | holds |
//! |---|---|
//! | `src/waiting.rs` | [`WaitingOn`] and [`WaitCell`]: what a pending task waits on, recorded by the future that returned `Pending` |
//! | `src/dump.rs` | [`TaskDump`]: the table of live tasks (asyncio's `ps`) and the tree of who awaits whom (`pstree`), cycles named |
//! | `src/deadlock.rs` | [`Evidence`] and [`Verdict`]: when a loop may say "deadlock", and why it is never wrong |
//! | `src/watchdog.rs` | [`Heartbeat`] and [`Watchdog`]: the stall detector (Go's `sysmon`: a poll count that does not move) |
//! | `src/trace/` | the timeline: a [`Recorder`](trace::Recorder) ring buffer, the Chrome trace-event JSON writer, and the checker |
//! | `src/json.rs` | a small JSON reader, for the checker |
//! | `src/bin/trace_check.rs` | `trace-check`: validate a trace file from the command line |
//!
//! Validate a trace written by a handloop program (or any Chrome trace) with
//!
//! ```sh
//! cargo run -p handloop-debug --bin trace-check -- trace.json --expect fetch --expect main
//! ```
//!
//! and open it in ui.perfetto.dev or chrome://tracing.

#![forbid(unsafe_code)]

mod deadlock;
mod dump;
mod json;
pub mod trace;
mod waiting;
mod watchdog;

pub use deadlock::{DeadlockCause, DeadlockReport, Evidence, NoProgress, Verdict, WakeSource};
pub use dump::{PollNow, TaskDump, TaskRow, TaskStatus, Unanswered};
pub use waiting::{PackedWait, QueueKind, SavedWait, WaitCell, WaitingOn, epoch};
pub use watchdog::{Heartbeat, Output, PollWatch, SlowPoll, TaskNames, Watchdog};
