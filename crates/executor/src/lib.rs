#![doc = include_str!("../../../docs/02-executor.md")]

// The files, in reading order. The first group is what a user calls; the second is how
// the loop keeps its tasks; the third is how other threads reach it. The last two files
// are performance machinery: read them last, once the rest makes sense.
//
//   event_loop.rs    `EventLoop`: `block_on` and the turn, dropping the loop (start here)
//   soon.rs          `call_soon` and `yield_now`: Beazley's callback queue, inside the loop
//   task/mod.rs      `spawn`, task names and ids, `current_task`, `all_tasks`
//   task/join.rs     `JoinHandle` and `AbortHandle`: awaiting and cancelling a task
//   task/error.rs    `JoinError`: a panic or a cancellation, named
//   debug.rs         seeing the loop: debug mode, the trace, the dump, the deadlock check
//                    (the tools themselves are in the `handloop-debug` crate)
//
//   core.rs          the loop's bookkeeping: spawn, the local wake, one poll, completion,
//                    the remote queue's drain, shutdown
//   ready.rs         the ready queue, a FIFO linked through the task headers
//   live.rs          the live-task list that `all_tasks` walks and shutdown empties
//   task/header.rs   the task header: state bits, who touches which field from which
//                    thread, how references are counted
//   task/refs.rs     owned references to a task: what keeps it alive, in the types
//   task/raw.rs      one allocation per task: the future, then its output; the vtable
//   task/waker.rs    a task's `Waker`: step 1's vtable over the header
//
//   handle.rs        `Handle`: `call_soon_threadsafe`, spawning from other threads
//   task/remote.rs   the task a `Handle` spawns, and its `Send` `RemoteJoinHandle`
//   driver.rs        `Driver`: what the loop does between turns (the timer and I/O hook in)
//   turns.rs         the turn count a driver shares, and when busy turns may skip it
//   park.rs          the parking token under `ThreadPark`
//   context.rs       which loop runs on this thread
//   remote.rs        the remote queue: what other threads hand the loop
//   sync.rs          std's atomics and locks, or loom's models of them
//   loom_tests.rs    the loom models of the cross-thread paths
//
//   task/blocks.rs   (read last) recycling finished tasks' memory
//   shared.rs        (read last) tickets: how headers keep the loop's thread-safe half
//                    alive without an atomic per task

pub mod debug;
mod event_loop;
mod soon;
pub mod task;

mod core;
mod live;
mod ready;

mod context;
mod driver;
mod handle;
mod park;
mod remote;
mod sync;
mod turns;

#[cfg(all(test, loom))]
mod loom_tests;

mod shared;

pub use context::in_event_loop;
pub use driver::{Driver, ThreadPark, Unpark, Unparker, Watching};
pub use event_loop::EventLoop;
pub use handle::{Handle, LoopClosed};
pub use soon::{YieldNow, call_soon, yield_now};
pub use task::{JoinError, JoinHandle, RemoteJoinHandle, spawn};
pub use turns::{BusyPark, Turns};
