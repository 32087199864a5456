//! `wait`: waiting on spawned tasks until the first finishes, the first panics, or all
//! finish, and getting every handle back (asyncio's `asyncio.wait`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use handloop_executor::JoinHandle;

use crate::children::Children;

/// When [`wait`] returns (asyncio's `return_when`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as one task has finished, however it finished (`FIRST_COMPLETED`).
    FirstCompleted,
    /// As soon as one task has panicked, or when all have finished if none panics
    /// (`FIRST_EXCEPTION`). A cancelled task is not a panic: it does not end the wait, as
    /// a cancelled task does not end asyncio's.
    FirstException,
    /// When every task has finished (`ALL_COMPLETED`, the default).
    #[default]
    AllCompleted,
}

/// Waits on spawned tasks until `return_when` says, then returns every handle:
/// `(done, pending)`, the finished ones and the others, each in the order they were given
/// (asyncio's `done, pending = await asyncio.wait(tasks, return_when=...)`).
///
/// Nothing is taken, dropped or detached: a handle in `done` gives its result at once when
/// awaited (`Ok(output)`, or the `JoinError` of a panic or a cancellation); the tasks
/// behind `pending` keep running, and their handles can be awaited, aborted or passed to
/// `wait` again. (Compare [`select`](crate::select), which keeps only the winner's output
/// and drops the other futures.) `done` holds every task finished when `wait` returns, so
/// it may hold more than one even with [`ReturnWhen::FirstCompleted`].
///
/// Dropping the [`Wait`] future before it returns drops the handles it holds, which
/// detaches their tasks; to stop waiting early and keep them (asyncio's `timeout=`),
/// wait through `&mut` and take them back with [`Wait::into_parts`].
///
/// ```
/// use std::time::Duration;
/// use handloop::{ReturnWhen, sleep, spawn};
///
/// # let runtime = handloop::Runtime::builder().virtual_time().build().unwrap();
/// # runtime.block_on(async {
/// let tasks = [3, 1, 2].map(|seconds| spawn(async move {
///     sleep(Duration::from_secs(seconds)).await;
///     seconds
/// }));
/// let (done, pending) = handloop::wait(tasks, ReturnWhen::FirstCompleted).await;
/// assert_eq!(done.len(), 1);
/// assert_eq!(done.into_iter().next().unwrap().await.unwrap(), 1); // at 1 s
/// let (done, pending) = handloop::wait(pending, ReturnWhen::AllCompleted).await;
/// assert!(pending.is_empty()); // at 3 s
/// assert_eq!(done.len(), 2);
/// # });
/// ```
///
/// # Panics
/// When awaited with no handles (as asyncio raises `ValueError`): there is nothing to
/// wait for.
pub fn wait<T, I>(handles: I, return_when: ReturnWhen) -> Wait<T>
where
    I: IntoIterator<Item = JoinHandle<T>>,
{
    let children = Children::new(handles.into_iter().map(|handle| Finished {
        handle: Some(handle),
    }));
    let done = (0..children.len()).map(|_| None).collect();
    Wait {
        children,
        done,
        return_when,
        returned: false,
    }
}

/// The future returned by [`wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<T> {
    /// The handles not seen finished yet, each inside a `Finished`.
    children: Children<Finished<T>>,
    /// The handles seen finished, at their argument positions.
    done: Vec<Option<JoinHandle<T>>>,
    return_when: ReturnWhen,
    returned: bool,
}

impl<T> Wait<T> {
    /// Stops waiting and returns every handle as `wait` would now: `(done, pending)`,
    /// each in argument order. For a wait cut short, by a timeout for instance:
    ///
    /// ```
    /// use std::time::Duration;
    /// use handloop::{ReturnWhen, sleep, spawn, timeout};
    ///
    /// # let runtime = handloop::Runtime::builder().virtual_time().build().unwrap();
    /// # runtime.block_on(async {
    /// let tasks = [1, 60].map(|s| spawn(sleep(Duration::from_secs(s))));
    /// let mut waiting = handloop::wait(tasks, ReturnWhen::AllCompleted);
    /// assert!(timeout(Duration::from_secs(5), &mut waiting).await.is_err());
    /// let (done, pending) = waiting.into_parts(); // asyncio.wait(tasks, timeout=5)
    /// assert_eq!((done.len(), pending.len()), (1, 1));
    /// # });
    /// ```
    ///
    /// After the `Wait` has returned, the handles are gone with its output: both are
    /// empty.
    pub fn into_parts(mut self) -> (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>) {
        if self.returned {
            return (Vec::new(), Vec::new());
        }
        self.split()
    }

    /// Every handle, finished ones first: `(done, pending)` in argument order.
    fn split(&mut self) -> (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>) {
        self.returned = true;
        for (index, still) in self.children.take_remaining() {
            self.done[index] = still.handle;
        }
        std::mem::take(&mut self.done)
            .into_iter()
            .flatten()
            .partition(JoinHandle::is_finished)
    }
}

impl<T> Future for Wait<T> {
    type Output = (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.returned, "Wait polled again after it returned");
        assert!(
            this.children.len() > 0,
            "wait() needs at least one JoinHandle to wait for"
        );
        loop {
            match this.children.poll_next(cx) {
                Poll::Ready(Some((index, handle))) => {
                    let enough = match this.return_when {
                        ReturnWhen::FirstCompleted => true,
                        ReturnWhen::FirstException => handle.is_panicked(),
                        ReturnWhen::AllCompleted => false,
                    };
                    this.done[index] = Some(handle);
                    if enough {
                        return Poll::Ready(this.split());
                    }
                }
                Poll::Ready(None) => return Poll::Ready(this.split()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T> fmt::Debug for Wait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("return_when", &self.return_when)
            .field("handles", &self.children.len())
            .field("pending", &self.children.remaining())
            .finish()
    }
}

/// One handle inside a `Wait`: completes with the handle itself once its task finished,
/// without taking the task's output.
struct Finished<T> {
    handle: Option<JoinHandle<T>>,
}

impl<T> Future for Finished<T> {
    type Output = JoinHandle<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JoinHandle<T>> {
        let handle = self
            .handle
            .as_mut()
            .expect("Finished polled again after it completed");
        if handle.is_finished() {
            return Poll::Ready(self.handle.take().expect("checked just above"));
        }
        // Not finished (and it cannot finish during this call: the task runs on this
        // thread), so polling the handle only leaves our waker with it.
        match Pin::new(handle).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => unreachable!("a task that has not finished has no output"),
        }
    }
}
