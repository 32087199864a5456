#![doc = include_str!("../../../docs/02-executor.md")]

mod context;
mod core;
mod driver;
mod event_loop;
mod live;
mod park;
mod ready;
mod remote;
mod shared;
mod soon;
mod sync;
pub mod task;

#[cfg(all(test, loom))]
mod loom_tests;

pub use context::in_event_loop;
pub use driver::{Driver, ThreadPark, Unpark, Unparker};
pub use event_loop::EventLoop;
pub use soon::{YieldNow, call_soon, yield_now};
pub use task::{JoinError, JoinHandle, spawn};
