//! [`poll_once`] and [`poll_with`]: drive a future by hand, one step at a time.
//!
//! asyncio's `coro.send(None)` resumes a coroutine until its next `await` that really
//! waits; `Future::poll` does the same and needs a [`Context`], which is just a borrowed
//! [`Waker`]. These helpers build the `Context` for you.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::noop::noop_waker;

/// Polls `fut` once with a [`noop_waker`]: the future runs until it is done or waits.
///
/// Nobody will be told when it can make progress, so call it again yourself.
///
/// ```
/// use std::pin::pin;
/// use std::task::Poll;
/// use handloop_waker::poll_once;
///
/// let mut fut = pin!(async { 1 + 2 });
/// assert_eq!(poll_once(fut.as_mut()), Poll::Ready(3));
/// ```
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_with(fut, &noop_waker())
}

/// Polls `fut` once with `waker` in its [`Context`]: if the future returns
/// [`Poll::Pending`], it has kept (a clone of) `waker` wherever the wake will come from.
pub fn poll_with<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    let mut cx = Context::from_waker(waker);
    fut.poll(&mut cx)
}
