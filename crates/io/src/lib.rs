#![doc = include_str!("../../../docs/06-io.md")]
#![forbid(unsafe_code)]

mod async_fd;
mod driver;
pub mod net;
mod reactor;
pub mod signal;
mod sources;
mod sync;
mod unpark;

#[cfg(all(test, loom))]
mod loom_tests;

pub use async_fd::Async;
pub use driver::{DEFAULT_EVENT_INTERVAL, IoDriver};

/// Runs a doctest's body on a loop with I/O and a timer (the chapter's snippets use it).
#[doc(hidden)]
pub fn doc_loop<F: std::future::Future<Output = std::io::Result<()>>>(future: F) {
    let driver = IoDriver::new().expect("a poller");
    let event_loop = handloop_executor::EventLoop::with_driver(driver);
    event_loop.block_on(future).expect("the snippet failed");
}

/// How many events the running loop's poller reported for sources that were gone by the
/// time they were dispatched (freed, their slot perhaps reused): ignored, and counted here
/// for the test that makes it happen.
///
/// # Panics
/// Outside an event loop with I/O.
#[doc(hidden)]
pub fn stale_events_ignored() -> u64 {
    reactor::current("stale_events_ignored").stale_events()
}

/// How many times the running loop has asked the OS poller for events (`epoll_wait`), for
/// the test that checks busy turns make no syscall while no task waits on I/O.
///
/// # Panics
/// Outside an event loop with I/O.
#[doc(hidden)]
pub fn polls() -> u64 {
    reactor::current("polls").polls()
}
