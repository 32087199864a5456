//! `JoinHandle`: the awaitable result of a spawned task (asyncio's `Task` object).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context::with_core;
use crate::task::header::{CANCELLED, COMPLETE, Header, JOIN_INTEREST, PANICKED};
use crate::task::refs::LocalRef;
use crate::task::waker::LentWaker;
use crate::task::{JoinError, TaskId, TaskState};

/// A handle to a spawned task: await it for the task's output.
///
/// Awaiting gives `Ok(output)`, or a [`JoinError`] if the task panicked or was cancelled.
/// Dropping the handle *detaches* the task: it keeps running to completion, as in asyncio
/// and tokio. [`abort`](JoinHandle::abort) cancels it.
///
/// A handle stays on its loop's thread (it is neither `Send` nor `Sync`), like the task's
/// future itself, and is awaited on that loop. Once the task is complete its output can be
/// taken anywhere on that thread, with any executor, even after the loop was dropped.
/// Sending it to another thread does not compile:
///
/// ```compile_fail
/// # use handloop_executor::{EventLoop, spawn};
/// EventLoop::new().block_on(async {
///     let handle = spawn(async { 1 });
///     std::thread::spawn(move || drop(handle)); // `JoinHandle` is not `Send`
/// });
/// ```
///
/// When the task completes, the loop wakes whoever awaits the handle. If that waker's
/// `wake` panics, the loop reports it on stderr and goes on, as for a task's own panic.
///
/// # Panics
/// Awaiting it inside another running loop (a second `EventLoop` on the same thread) while
/// the task is not complete panics, since the task could never run there.
pub struct JoinHandle<T> {
    task: LocalRef,
    _marker: PhantomData<T>,
}

impl<T> JoinHandle<T> {
    /// Wraps the handle's reference to a task whose `JOIN_INTEREST` bit is set.
    pub(crate) fn new(task: LocalRef) -> Self {
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
        abort(&self.task);
    }

    /// A second handle that can only cancel the task and ask whether it finished; the
    /// `JoinHandle` keeps the right to the output. (A task group holds these.)
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle {
            task: self.task.clone_ref(),
        }
    }

    /// Whether the task has finished, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.task.header().state.get() & COMPLETE != 0
    }

    /// Whether the task finished by panicking: awaiting the handle will give a
    /// [`JoinError`] with [`is_panic`](JoinError::is_panic). `false` while the task runs,
    /// and after it returned a value or was cancelled. It leaves the output where it is
    /// (asyncio: `task.done() and task.exception() is not None`, without retrieving it).
    pub fn is_panicked(&self) -> bool {
        self.task.header().state.get() & PANICKED != 0
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
            // type, we are on the loop's thread (the handle is `!Send`), and the handle's
            // reference keeps the task alive.
            unsafe {
                (header.vtable.take_output)(self.task.ptr(), &mut output as *mut _ as *mut ());
            }
            return output;
        }
        if with_core(|core| core.owns(header)) == Some(false) {
            awaited_on_another_loop(header);
        }
        // Remember who to wake, keeping the stored waker if it would wake the same task.
        // The old waker is dropped last: its destructor is user code.
        if let Some(old) = header.join_waker.take() {
            if old.will_wake(cx.waker()) {
                header.join_waker.set(Some(old));
            } else {
                header.join_waker.set(Some(cx.waker().clone()));
                drop(old);
            }
        } else {
            header.join_waker.set(Some(cx.waker().clone()));
        }
        crate::debug::record_waiting_in(
            cx,
            handloop_debug::WaitingOn::Join {
                task: header.id.as_u64(),
            },
        );
        Poll::Pending
    }
}

#[cold]
#[track_caller]
fn awaited_on_another_loop(header: &Header) -> ! {
    panic!(
        "the JoinHandle of task '{}' (id {}) was awaited inside another event loop than the \
         one that spawned it: a task only runs on its own loop, so this would wait forever; \
         await the handle inside the loop that spawned the task",
        header.name(),
        header.id
    )
}

// The handle never pins its output: the output is moved out of the task when it is taken,
// so a handle may move between polls whatever `T` is (as tokio's `JoinHandle`).
impl<T> Unpin for JoinHandle<T> {}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let header = self.task.header();
        let state = header.state.get();
        header.state.set(state & !JOIN_INTEREST);
        let waker = header.join_waker.take();
        if state & COMPLETE != 0 {
            // SAFETY: complete, on the loop's thread, kept alive by our reference; the
            // output will never be read.
            unsafe { (header.vtable.drop_output)(self.task.ptr()) };
        }
        drop(waker);
        // The handle's reference is given back as `self.task` is dropped.
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
fn abort(task: &LocalRef) {
    let header = task.header();
    let state = header.state.get();
    if state & (COMPLETE | CANCELLED) != 0 {
        return;
    }
    header.state.set(state | CANCELLED);
    // The ordinary wake, as the task's own waker does it (remote if the loop is not
    // running here right now).
    LentWaker::new(task).waker().wake_by_ref();
}

/// Cancels a task without owning its output: made by [`JoinHandle::abort_handle`].
///
/// Like the `JoinHandle`, it stays on the loop's thread.
pub struct AbortHandle {
    task: LocalRef,
}

impl AbortHandle {
    /// Cancels the task, exactly as [`JoinHandle::abort`] does.
    pub fn abort(&self) {
        abort(&self.task);
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

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .field("state", &TaskState::of(self.task.header()))
            .finish()
    }
}
