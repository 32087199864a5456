//! `as_completed`: the outputs of several futures in the order they finish (asyncio's
//! `as_completed`, as an async iterator).

use std::fmt;
use std::future::{Future, IntoFuture, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use crate::children::Children;

/// Runs the futures concurrently and hands out their outputs in the order they finish
/// (asyncio's `for aw in as_completed(aws)`, or 3.13's `async for`).
///
/// Await [`next`](AsCompleted::next) for the next output; `None` once every future has
/// finished. `AsCompleted` is also a [`Stream`](futures_core::Stream), for code written
/// against that trait.
///
/// Like [`gather`](crate::gather()), it polls the futures in place, inside the task that
/// awaits `next`: nothing is spawned, so they may borrow locals; they make progress only
/// while `next` is awaited (a wake that comes in between is kept for the next call), and
/// dropping the `AsCompleted` drops those not finished. Each has its own waker, so a wake
/// costs O(woken), not O(all). Futures that finish during one poll come out in argument
/// order. To learn which one finished, have each return its index (or pass `JoinHandle`s,
/// whose errors name their task).
///
/// ```
/// use std::time::Duration;
///
/// async fn after(seconds: u64) -> u64 {
///     handloop::sleep(Duration::from_secs(seconds)).await;
///     seconds
/// }
/// # let runtime = handloop::Runtime::builder().virtual_time().build().unwrap();
/// # runtime.block_on(async {
/// let mut finished = handloop::as_completed([after(3), after(1), after(2)]);
/// let mut order = Vec::new();
/// while let Some(seconds) = finished.next().await {
///     order.push(seconds); // at 1 s, then 2 s, then 3 s
/// }
/// assert_eq!(order, [1, 2, 3]);
/// # });
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    AsCompleted {
        children: Children::new(futures.into_iter().map(IntoFuture::into_future)),
    }
}

/// The async iterator returned by [`as_completed`].
#[must_use = "the futures make progress only while `next` is awaited"]
pub struct AsCompleted<F: Future> {
    children: Children<F>,
}

impl<F: Future> Unpin for AsCompleted<F> {}

impl<F: Future> AsCompleted<F> {
    /// The output of the next future to finish; `None` once all have.
    pub async fn next(&mut self) -> Option<F::Output> {
        poll_fn(|cx| self.poll_next_output(cx)).await
    }

    /// How many futures have not finished yet.
    pub fn remaining(&self) -> usize {
        self.children.remaining()
    }

    fn poll_next_output(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.children
            .poll_next(cx)
            .map(|next| next.map(|(_, output)| output))
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.get_mut().poll_next_output(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl<F: Future> FusedStream for AsCompleted<F> {
    fn is_terminated(&self) -> bool {
        self.remaining() == 0
    }
}

impl<F: Future> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("futures", &self.children.len())
            .field("remaining", &self.children.remaining())
            .finish()
    }
}
