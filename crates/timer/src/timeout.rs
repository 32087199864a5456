//! `timeout` and `timeout_at`: race a future against a sleep (asyncio's `wait_for`).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::sleep::{Sleep, sleep, sleep_until};

/// Runs `future` for at most `duration` on the loop's clock (asyncio's `wait_for`, and
/// `async with asyncio.timeout(...)`).
///
/// The inner future is polled first on every poll, so a future that is ready at once
/// returns `Ok` even with a zero timeout. Otherwise, once the deadline has passed (a zero
/// duration: on the first poll), the inner future is dropped right there (its destructors
/// run before you see the error) and the result is `Err(Elapsed)`. If it finishes first,
/// its timer is cancelled: nothing is left in the heap. [`Timeout::reset`] moves the
/// deadline while it runs.
///
/// # Panics
/// With no event loop with a timer running on this thread.
#[inline]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout::new(future, sleep(duration))
}

/// Runs `future` until the loop's clock reaches `deadline`; see [`timeout`].
///
/// # Panics
/// With no event loop with a timer running on this thread.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout::new(future, sleep_until(deadline))
}

pin_project! {
    /// The future returned by [`timeout`] and [`timeout_at`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        // `None` once finished: the inner future is dropped as soon as the race is decided.
        #[pin]
        future: Option<F>,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    #[inline]
    fn new(future: F, sleep: Sleep) -> Self {
        Timeout {
            future: Some(future),
            sleep,
        }
    }

    /// The instant the timeout expires (asyncio's `Timeout.when()`).
    pub fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }

    /// Moves the deadline to `deadline`, earlier or later (asyncio's
    /// `Timeout.reschedule()`).
    ///
    /// The timer moves with the waiting task's waker, so the task is woken at the new
    /// deadline even if it does not poll this timeout in between. A deadline already past
    /// fires on the next poll, unless the inner future is ready on that poll: it still
    /// goes first. On a timeout that has finished, only [`deadline`](Timeout::deadline)
    /// changes.
    ///
    /// A running timeout is pinned, so `reset` takes it pinned:
    ///
    /// ```
    /// use std::future::{Future, pending, poll_fn};
    /// use std::pin::pin;
    /// use std::task::Poll;
    /// use std::time::Duration;
    /// use handloop_executor::{EventLoop, ThreadPark};
    /// use handloop_timer::{TimerDriver, now, timeout};
    ///
    /// let secs = Duration::from_secs;
    /// let event_loop = EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()));
    /// event_loop.block_on(async {
    ///     let start = now();
    ///     let mut request = pin!(timeout(secs(10), pending::<()>()));
    ///     // Poll it once: it is waiting, due at 10 s.
    ///     poll_fn(|cx| {
    ///         assert!(request.as_mut().poll(cx).is_pending());
    ///         Poll::Ready(())
    ///     })
    ///     .await;
    ///     // More time is granted.
    ///     request.as_mut().reset(start + secs(30));
    ///     assert_eq!(request.deadline(), start + secs(30));
    ///     assert!(request.await.is_err());
    ///     assert_eq!(now() - start, secs(30));
    /// });
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.project().sleep.reset(deadline);
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let future = this
            .future
            .as_mut()
            .as_pin_mut()
            .expect("Timeout polled after it completed");
        // The inner future first: work that is already done wins over any deadline.
        if let Poll::Ready(output) = future.poll(cx) {
            this.future.set(None);
            this.sleep.stop(); // cancel the timer now, not when `Timeout` is dropped
            return Poll::Ready(Ok(output));
        }
        match this.sleep.poll_expired(cx) {
            Poll::Ready(()) => {
                // Drop the inner future now, in place (it is pinned).
                this.future.set(None);
                Poll::Ready(Err(Elapsed(())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error of a [`timeout`] whose deadline passed before its future finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}
