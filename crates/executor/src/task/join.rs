//! `JoinHandle`: the awaitable result of a spawned task (asyncio's `Task` object).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::task::header::{CANCELLED, COMPLETE, JOIN_INTEREST, TaskRef};
use crate::task::{JoinError, TaskId, TaskState};

/// A handle to a spawned task: await it for the task's output.
///
/// Awaiting gives `Ok(output)`, or a [`JoinError`] if the task panicked or was cancelled.
/// Dropping the handle *detaches* the task: it keeps running to completion, as in asyncio
/// and tokio. [`abort`](JoinHandle::abort) cancels it.
///
/// A handle stays on its loop's thread (it is neither `Send` nor `Sync`), like the task's
/// future itself.
pub struct JoinHandle<T> {
    task: TaskRef,
    _marker: PhantomData<(T, *const ())>,
}

impl<T> JoinHandle<T> {
    /// Wraps a task whose `JOIN_INTEREST` bit is set: the handle shares the owner
    /// reference with the loop.
    pub(crate) fn new(task: TaskRef) -> Self {
        JoinHandle {
            task,
            _marker: PhantomData,
        }
    }

    /// Cancels the task (asyncio's `task.cancel()`).
    ///
    /// The future is dropped on the loop's thread no later than the loop's next turn; a task
    /// aborted before its first poll never runs. Awaiting the handle then gives a cancelled
    /// [`JoinError`], and by the time it does the future has been dropped. Aborting a task
    /// that already finished does nothing: its output stays available.
    pub fn abort(&self) {
        abort(self.task);
    }

    /// A second handle that can only cancel the task and ask whether it finished; the
    /// `JoinHandle` keeps the right to the output. (A task group holds these.)
    pub fn abort_handle(&self) -> AbortHandle {
        self.task.ref_inc();
        AbortHandle {
            task: self.task,
            _not_send: PhantomData,
        }
    }

    /// Whether the task has finished, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.task.header().state.get() & COMPLETE != 0
    }

    /// The task's id, unique within its loop.
    pub fn id(&self) -> TaskId {
        self.task.header().id
    }

    /// The task's name: the one given to [`Builder::name`](crate::task::Builder::name), or
    /// `task-<id>`.
    pub fn name(&self) -> &str {
        self.task.header().name()
    }

    /// Whether the task is pending, running, finished or cancelled.
    pub fn state(&self) -> TaskState {
        TaskState::of(self.task.header())
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let header = self.task.header();
        if header.state.get() & COMPLETE != 0 {
            let mut output: Poll<Result<T, JoinError>> = Poll::Pending;
            // SAFETY: the task is complete, this handle's type matches the task's output
            // type, and we are on the loop's thread (the handle is `!Send`).
            unsafe {
                (header.vtable.take_output)(self.task, &mut output as *mut _ as *mut ());
            }
            return output;
        }
        // Remember who to wake, keeping the stored waker if it would wake the same task.
        let waker = match header.join_waker.take() {
            Some(old) if old.will_wake(cx.waker()) => old,
            _ => cx.waker().clone(),
        };
        header.join_waker.set(Some(waker));
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let header = self.task.header();
        let state = header.state.get();
        header.state.set(state & !JOIN_INTEREST);
        drop(header.join_waker.take());
        if state & COMPLETE != 0 {
            // SAFETY: complete, on the loop's thread; the output will never be read.
            unsafe { (header.vtable.drop_output)(self.task) };
            // The owner reference: the loop already let go of it at completion.
            self.task.ref_dec();
        }
        // Otherwise the loop gives the owner reference back when the task completes.
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}

/// Cancels a task: mark it and wake it, so the loop drops its future on its next turn.
fn abort(task: TaskRef) {
    let header = task.header();
    let state = header.state.get();
    if state & (COMPLETE | CANCELLED) != 0 {
        return;
    }
    header.state.set(state | CANCELLED);
    task.wake_by_ref();
}

/// Cancels a task without owning its output: made by [`JoinHandle::abort_handle`].
///
/// Like the `JoinHandle`, it stays on the loop's thread.
pub struct AbortHandle {
    task: TaskRef,
    _not_send: PhantomData<*const ()>,
}

impl AbortHandle {
    /// Cancels the task, exactly as [`JoinHandle::abort`] does.
    pub fn abort(&self) {
        abort(self.task);
    }

    /// Whether the task has finished, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.task.header().state.get() & COMPLETE != 0
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.task.header().id
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        self.task.ref_dec();
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .field("state", &TaskState::of(self.task.header()))
            .finish()
    }
}
