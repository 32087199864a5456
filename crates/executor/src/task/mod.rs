//! Tasks: spawning, names and ids, join handles, and a look at what is alive.

pub(crate) mod blocks;
mod error;
pub(crate) mod header;
mod join;
pub(crate) mod raw;
pub(crate) mod refs;
pub(crate) mod remote;
pub(crate) mod waker;

use std::fmt;
use std::future::Future;

pub use error::{JoinError, panic_message};
pub use join::{AbortHandle, JoinHandle};
pub use remote::RemoteJoinHandle;

use crate::context::with_core;
use crate::core::Core;
use header::{CANCELLED, COMPLETE, Header, Kind, RUNNING};

/// A task's id: unique within its loop, counting up from 1 in the order tasks are
/// created (`call_soon` callbacks are tiny tasks and take ids too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Not finished and not being polled right now (waiting, or ready to run).
    Pending,
    /// Being polled right now.
    Running,
    /// Finished: it returned a value or panicked.
    Finished,
    /// Cancelled by `abort()` (or by dropping its loop) before it finished.
    Cancelled,
}

impl TaskState {
    pub(crate) fn of(header: &Header) -> TaskState {
        let state = header.state.get();
        if state & COMPLETE != 0 {
            if state & CANCELLED != 0 {
                TaskState::Cancelled
            } else {
                TaskState::Finished
            }
        } else if state & RUNNING != 0 {
            TaskState::Running
        } else {
            TaskState::Pending
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Finished => "finished",
            TaskState::Cancelled => "cancelled",
        })
    }
}

/// A snapshot of one task: what [`current_task`] and [`all_tasks`] return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// The task's name.
    pub name: String,
    /// Its state when the snapshot was taken.
    pub state: TaskState,
    /// How many times it has been polled.
    pub polls: u32,
}

impl TaskInfo {
    pub(crate) fn of(header: &Header) -> TaskInfo {
        debug_assert!(header.kind != Kind::Callback);
        TaskInfo {
            id: header.id,
            name: header.name().to_owned(),
            state: TaskState::of(header),
            polls: header.polls.get(),
        }
    }
}

/// The task being polled right now on this thread's loop (asyncio's `current_task()`), or
/// `None` with no loop running (or inside a `call_soon` callback).
///
/// As `asyncio.run` makes its coroutine a task, the future given to
/// [`EventLoop::block_on`](crate::EventLoop::block_on) counts as one: id 0, named `main`.
pub fn current_task() -> Option<TaskInfo> {
    with_core(Core::current_task).flatten()
}

/// Marks the panic now unwinding out of the current task's poll as observed, so that the
/// loop does not also report it on stderr as "nobody awaited its JoinHandle".
///
/// For a wrapper future that catches its inner future's panic, records it somewhere a
/// user will see it, and resumes the unwind so that the task's [`JoinHandle`] still
/// reports the panic (as `handloop::TaskGroup`'s children do): call this before
/// `std::panic::resume_unwind`. It applies to the current poll only, and the handle, if
/// awaited, still gives the panic as a [`JoinError`]. Outside a task's poll (no loop
/// running, or in a `call_soon` callback) it does nothing and returns `false`.
///
/// ```
/// use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
/// use std::future::{Future, poll_fn};
/// use handloop_executor::{EventLoop, spawn, task::mark_panic_observed, yield_now};
///
/// EventLoop::new().block_on(async {
///     // A wrapper that logs its child's panic itself, then lets it go on to the handle.
///     let mut child = Box::pin(async { panic!("engine failure") });
///     let handle = spawn(poll_fn(move |cx| {
///         match catch_unwind(AssertUnwindSafe(|| child.as_mut().poll(cx))) {
///             Ok(poll) => poll,
///             Err(payload) => {
///                 eprintln!("the wrapper saw the panic");
///                 assert!(mark_panic_observed());
///                 resume_unwind(payload)
///             }
///         }
///     }));
///     yield_now().await;
///     drop(handle); // not awaited, yet not reported again: the wrapper reported it
/// });
/// assert!(!mark_panic_observed()); // no task is running
/// ```
pub fn mark_panic_observed() -> bool {
    with_core(Core::mark_panic_observed).unwrap_or(false)
}

/// The id of the task being polled right now on this thread's loop: what
/// [`current_task`] returns, without copying the task's name. `None` with no loop running
/// (or inside a `call_soon` callback).
///
/// For code that only needs to know *who* runs, on every call (a lock recording its
/// holder, say): it reads two fields and allocates nothing.
///
/// ```
/// use handloop_executor::{EventLoop, spawn, task::{current_task, current_task_id}};
///
/// assert_eq!(current_task_id(), None); // no loop running
/// EventLoop::new().block_on(async {
///     assert_eq!(current_task_id().map(|id| id.as_u64()), Some(0)); // block_on's own future
///     let task = spawn(async { current_task_id() });
///     let id = task.id();
///     assert_eq!(task.await.unwrap(), Some(id));
///     assert_eq!(current_task_id(), current_task().map(|task| task.id));
/// });
/// ```
#[inline]
pub fn current_task_id() -> Option<TaskId> {
    with_core(Core::current_task_id).flatten()
}

/// Every live task of this thread's running loop (asyncio's `all_tasks()`): `block_on`'s
/// own future first (id 0, `main`), then the spawned tasks in spawn order. Empty when no
/// loop runs. `call_soon` callbacks are not listed.
pub fn all_tasks() -> Vec<TaskInfo> {
    with_core(Core::all_tasks).unwrap_or_default()
}

/// Spawns a task on this thread's running loop; see [`crate::spawn`].
fn spawn_named<F>(future: F, name: Option<&str>) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let task = with_running_core("spawn", |core| core.spawn(future, Kind::Task, name));
    JoinHandle::new(task.expect("a task has a handle's reference"))
}

/// Runs `f` with the running loop, or panics with a message that says how to get one.
pub(crate) fn with_running_core<R>(what: &str, f: impl FnOnce(&Core) -> R) -> R {
    match with_core(f) {
        Some(out) => out,
        None => no_running_loop(what),
    }
}

#[cold]
fn no_running_loop(what: &str) -> ! {
    panic!(
        "{what}() called with no running event loop on this thread: call it from inside \
         EventLoop::block_on (or handloop::run), not before the loop starts"
    )
}

/// Spawns a task on the loop running on this thread (asyncio's `create_task`).
///
/// The future need not be `Send`. It is not polled inside this call: it goes to the back of
/// the ready queue and first runs on a later turn of the loop. Await the returned
/// [`JoinHandle`] for its output; drop the handle to let it run detached.
///
/// # Panics
/// With no loop running on this thread ("no running event loop").
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_named(future, None)
}

/// Spawns tasks with options: `task::Builder::new().name("fleet-7").spawn(fut)`.
#[derive(Debug, Default, Clone)]
pub struct Builder<'a> {
    name: Option<&'a str>,
}

impl<'a> Builder<'a> {
    /// A builder with default options (the task will be named `task-<id>`).
    pub fn new() -> Self {
        Builder { name: None }
    }

    /// Names the task: its handle's `name()`, `all_tasks()` and any `JoinError` show it.
    pub fn name(mut self, name: &'a str) -> Self {
        self.name = Some(name);
        self
    }

    /// Spawns the task on this thread's running loop, as [`spawn`] does.
    ///
    /// # Panics
    /// With no loop running on this thread.
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn_named(future, self.name)
    }
}
