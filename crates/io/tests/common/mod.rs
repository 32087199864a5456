//! What the tests share: a real-clock loop with I/O, and a few helpers.
#![allow(dead_code)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use handloop_executor::EventLoop;
use handloop_io::IoDriver;
use handloop_timer::TimerDriver;

/// A loop as `handloop::run` builds it: the poller under a real-clock timer.
pub fn event_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new(IoDriver::new().expect("a poller")))
}

/// Runs `future` on a fresh loop.
pub fn run<F: Future>(future: F) -> F::Output {
    event_loop().block_on(future)
}

/// The text of a caught panic.
pub fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Counts how often the inner future is polled.
pub struct CountPolls<'a, F> {
    pub inner: Pin<Box<F>>,
    pub polls: &'a std::cell::Cell<u32>,
}

impl<F: Future> Future for CountPolls<'_, F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

/// A pattern of `len` bytes that changes with the offset, so a lost or repeated chunk
/// shows up.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}
