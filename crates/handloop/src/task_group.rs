//! `TaskGroup`: structured concurrency (asyncio 3.11's `TaskGroup`, trio's nursery).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use handloop_executor::JoinHandle;
use handloop_executor::task::{AbortHandle, Builder, TaskId, current_task, panic_message};

/// A scope for tasks: nothing spawned in a group outlives it.
///
/// - [`spawn`](TaskGroup::spawn) starts a child and returns its ordinary [`JoinHandle`].
/// - [`join`](TaskGroup::join) waits until every child has finished (asyncio's leaving
///   `async with TaskGroup()`).
/// - When a child panics, the group aborts all its other children at once, and `join`
///   reports that first panic as a [`TaskGroupError`] once they are all gone.
/// - Dropping the group aborts the children still running: each is dropped on the loop's
///   next turn and never polled again.
///
/// A child cancelled through its own handle does not fail the group.
///
/// ```
/// use std::time::Duration;
/// use handloop::TaskGroup;
///
/// # let runtime = handloop::Runtime::builder().virtual_time().build().unwrap();
/// # runtime.block_on(async {
/// let group = TaskGroup::new();
/// let fast = group.spawn(async { handloop::sleep(Duration::from_secs(1)).await; "fast" });
/// let slow = group.spawn(async { handloop::sleep(Duration::from_secs(2)).await; "slow" });
/// group.join().await.unwrap(); // both are done here
/// assert_eq!(fast.await.unwrap(), "fast");
/// assert_eq!(slow.await.unwrap(), "slow");
/// # });
/// ```
pub struct TaskGroup {
    inner: Rc<Inner>,
}

struct Inner {
    /// Children not yet dropped (each child's future decrements this when it is dropped:
    /// after finishing, panicking or being cancelled).
    live: Cell<usize>,
    /// Who waits in `join`.
    waiter: Cell<Option<Waker>>,
    /// The first child panic.
    error: RefCell<Option<TaskGroupError>>,
    /// Abort handles of the children, pruned of finished ones as it grows.
    children: RefCell<Vec<AbortHandle>>,
    /// Set once a child panicked: later spawns are aborted at once.
    failed: Cell<bool>,
}

impl Inner {
    fn abort_all(&self) {
        for child in self.children.borrow().iter() {
            child.abort();
        }
    }

    fn child_gone(&self) {
        self.live.set(self.live.get() - 1);
        if self.live.get() == 0
            && let Some(waker) = self.waiter.take()
        {
            waker.wake();
        }
    }
}

/// Why a [`TaskGroup`] failed: one of its children panicked. Names the child.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskGroupError {
    id: Option<TaskId>,
    name: String,
    message: String,
}

impl TaskGroupError {
    /// The id of the child that panicked.
    pub fn task_id(&self) -> Option<TaskId> {
        self.id
    }

    /// The name of the child that panicked.
    pub fn task_name(&self) -> &str {
        &self.name
    }

    /// Its panic message. The payload itself stays with the child's `JoinHandle`.
    pub fn panic_message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(
                f,
                "task '{}' (id {id}) of the task group panicked: {}",
                self.name, self.message
            ),
            None => write!(f, "a task of the task group panicked: {}", self.message),
        }
    }
}

impl fmt::Debug for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupError")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("message", &self.message)
            .finish()
    }
}

impl std::error::Error for TaskGroupError {}

impl TaskGroup {
    /// An empty group.
    pub fn new() -> TaskGroup {
        TaskGroup {
            inner: Rc::new(Inner {
                live: Cell::new(0),
                waiter: Cell::new(None),
                error: RefCell::new(None),
                children: RefCell::new(Vec::new()),
                failed: Cell::new(false),
            }),
        }
    }

    /// Spawns a child on this thread's loop (as [`spawn`](crate::spawn) does) and returns its
    /// handle. In a group that already failed, the child is aborted at once.
    ///
    /// # Panics
    /// With no loop running on this thread.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_with(Builder::new(), future)
    }

    /// Spawns a named child (its name shows in `all_tasks()`, in its `JoinError` and in
    /// the group's error).
    pub fn spawn_named<F>(&self, name: &str, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_with(Builder::new().name(name), future)
    }

    fn spawn_with<F>(&self, builder: Builder<'_>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.inner.live.set(self.inner.live.get() + 1);
        let handle = builder.spawn(Child {
            future: Box::pin(future),
            group: Some(self.inner.clone()),
        });
        let mut children = self.inner.children.borrow_mut();
        if children.len() >= 64 && children.len() == children.capacity() {
            children.retain(|child| !child.is_finished());
        }
        children.push(handle.abort_handle());
        if self.inner.failed.get() {
            handle.abort();
        }
        handle
    }

    /// Waits until every child has finished. `Err` names the first child that panicked
    /// (its siblings were aborted when it did).
    ///
    /// Children may spawn more children into the group while it waits; `join` waits for
    /// them too.
    pub async fn join(&self) -> Result<(), TaskGroupError> {
        poll_fn(|cx| {
            if self.inner.live.get() == 0 {
                return Poll::Ready(match self.inner.error.borrow_mut().take() {
                    Some(error) => Err(error),
                    None => Ok(()),
                });
            }
            self.inner.waiter.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }

    /// How many children are still alive.
    pub fn len(&self) -> usize {
        self.inner.live.get()
    }

    /// Whether no child is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Aborts every child still running (asyncio: cancelling the group's tasks).
    pub fn abort_all(&self) {
        self.inner.abort_all();
    }
}

impl Default for TaskGroup {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl Drop for TaskGroup {
    fn drop(&mut self) {
        self.inner.abort_all();
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("live", &self.inner.live.get())
            .field("failed", &self.inner.failed.get())
            .finish()
    }
}

/// A child's future: reports a panic to the group (and lets it go on to the child's handle),
/// and tells the group when it is dropped.
struct Child<F> {
    future: Pin<Box<F>>,
    group: Option<Rc<Inner>>,
}

impl<F: Future> Future for Child<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match catch_unwind(AssertUnwindSafe(|| self.future.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                if let Some(group) = &self.group {
                    let mut error = group.error.borrow_mut();
                    if error.is_none() {
                        let me = current_task();
                        *error = Some(TaskGroupError {
                            id: me.as_ref().map(|t| t.id),
                            name: me.map(|t| t.name).unwrap_or_default(),
                            message: panic_message(&*payload).to_owned(),
                        });
                        drop(error);
                        group.failed.set(true);
                        group.abort_all();
                    }
                }
                resume_unwind(payload)
            }
        }
    }
}

impl<F> Drop for Child<F> {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            group.child_gone();
        }
    }
}
