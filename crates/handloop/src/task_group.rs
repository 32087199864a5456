//! `TaskGroup`: structured concurrency (asyncio 3.11's `TaskGroup`, trio's nursery).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use handloop_executor::task::{AbortHandle, Builder, TaskId, current_task, panic_message};
use handloop_executor::{JoinHandle, call_soon, in_event_loop};

/// A scope for tasks: nothing spawned in a group outlives it.
///
/// - [`spawn`](TaskGroup::spawn) starts a child and returns its ordinary [`JoinHandle`].
/// - [`join`](TaskGroup::join) waits until every child has finished (asyncio's leaving
///   `async with TaskGroup()`). Several tasks may await `join` at once (share the group
///   through an `Rc`): every one of them wakes and gets the outcome.
/// - When a child panics, the group *fails*: it aborts all its other children, and `join`
///   returns a [`TaskGroupError`] listing every child that panicked (asyncio's
///   `ExceptionGroup`) once they are all gone. The abort is a `call_soon` callback, queued
///   behind the tasks already ready to run, as asyncio cancels the siblings from the
///   failed task's done callback: siblings woken at the same moment as the failing child
///   take that one step first, and if they panic too, their panics are listed as well.
/// - A child spawned into a failed group is aborted at once and never runs.
/// - Dropping the group aborts the children still running: each is dropped on the loop's
///   next turn and never polled again.
///
/// A child cancelled through its own handle does not fail the group. A panic the group
/// collected is the group's to report: the executor does not call it unawaited, and the
/// group reports it on stderr, once, if no `join` ever returned it.
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
    /// Who waits in `join`, in the order they started waiting, each under an id that
    /// only grows (so the list stays sorted and a joiner finds its entry by binary search).
    joiners: RefCell<Vec<(u64, Waker)>>,
    next_joiner: Cell<u64>,
    /// Every child panic, in the order they happened. Not empty once the group failed.
    failures: RefCell<Vec<ChildPanic>>,
    /// How many of `failures` a `join` has returned (those were observed).
    reported: Cell<usize>,
    /// Abort handles of the children, pruned of finished ones as it grows.
    children: RefCell<Vec<AbortHandle>>,
}

impl Inner {
    fn failed(&self) -> bool {
        !self.failures.borrow().is_empty()
    }

    fn abort_all(&self) {
        for child in self.children.borrow().iter() {
            child.abort();
        }
    }

    /// Records a child's panic, on the child's own task. The first one fails the group:
    /// its other children are aborted behind the tasks already ready to run.
    fn record_panic(self: &Rc<Self>, payload: &(dyn Any + Send)) {
        let me = current_task();
        let first = !self.failed();
        self.failures.borrow_mut().push(ChildPanic {
            id: me.as_ref().map(|task| task.id),
            name: me.map(|task| task.name).unwrap_or_default(),
            message: panic_message(payload).to_owned(),
        });
        handloop_executor::task::mark_panic_observed();
        if first {
            if in_event_loop() {
                let group = self.clone();
                call_soon(move || group.abort_all());
            } else {
                // The loop is being dropped: nothing will run again anyway.
                self.abort_all();
            }
        }
    }

    /// A child's future was dropped. Returns the panic of a joiner's waker, if one
    /// panicked (every joiner is woken all the same).
    fn child_gone(&self) -> Option<Box<dyn Any + Send>> {
        let live = self.live.get() - 1;
        self.live.set(live);
        if live > 0 {
            return None;
        }
        // Take the list first: a wake is code we do not control, and it may join again
        // or drop a join future (which looks at the list).
        let joiners = std::mem::take(&mut *self.joiners.borrow_mut());
        let mut panic = None;
        for (_, waker) in joiners {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                panic.get_or_insert(payload);
            }
        }
        panic
    }

    /// What `join` returns once no child is left; the failures it returns count as seen.
    fn outcome(&self) -> Result<(), TaskGroupError> {
        let failures = self.failures.borrow();
        if failures.is_empty() {
            return Ok(());
        }
        self.reported.set(failures.len());
        Err(TaskGroupError {
            failures: failures.clone(),
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Panics no `join` returned: nobody saw them, so say so once (as the executor does
        // for a panic nobody awaited).
        for failure in &self.failures.get_mut()[self.reported.get()..] {
            eprintln!("handloop: {failure} (its TaskGroup was never joined)");
        }
    }
}

/// One child's panic, as a [`TaskGroupError`] lists it.
#[derive(Clone, PartialEq, Eq)]
pub struct ChildPanic {
    id: Option<TaskId>,
    name: String,
    message: String,
}

impl ChildPanic {
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

impl fmt::Display for ChildPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(
                f,
                "task '{}' (id {id}) panicked: {}",
                self.name, self.message
            ),
            None => write!(f, "a task panicked: {}", self.message),
        }
    }
}

impl fmt::Debug for ChildPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildPanic")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("message", &self.message)
            .finish()
    }
}

/// Why a [`TaskGroup`] failed: one or more of its children panicked (asyncio's
/// `ExceptionGroup`). [`failures`](TaskGroupError::failures) lists them all, in the order
/// they panicked; the other accessors name the first.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskGroupError {
    /// Never empty.
    failures: Vec<ChildPanic>,
}

impl TaskGroupError {
    /// Every child that panicked, in the order they did.
    pub fn failures(&self) -> &[ChildPanic] {
        &self.failures
    }

    /// The id of the first child that panicked.
    pub fn task_id(&self) -> Option<TaskId> {
        self.first().id
    }

    /// The name of the first child that panicked.
    pub fn task_name(&self) -> &str {
        &self.first().name
    }

    /// The first panic's message. The payload itself stays with the child's `JoinHandle`.
    pub fn panic_message(&self) -> &str {
        &self.first().message
    }

    fn first(&self) -> &ChildPanic {
        &self.failures[0]
    }
}

impl fmt::Display for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = &self.failures[..] {
            return match only.id {
                Some(id) => write!(
                    f,
                    "task '{}' (id {id}) of the task group panicked: {}",
                    only.name, only.message
                ),
                None => write!(f, "a task of the task group panicked: {}", only.message),
            };
        }
        write!(
            f,
            "{} tasks of the task group panicked",
            self.failures.len()
        )?;
        for (n, failure) in self.failures.iter().enumerate() {
            f.write_str(if n == 0 { ": " } else { "; " })?;
            match failure.id {
                Some(id) => write!(f, "'{}' (id {id}): {}", failure.name, failure.message)?,
                None => f.write_str(&failure.message)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupError")
            .field("failures", &self.failures)
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
                joiners: RefCell::new(Vec::new()),
                next_joiner: Cell::new(0),
                failures: RefCell::new(Vec::new()),
                reported: Cell::new(0),
                children: RefCell::new(Vec::new()),
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
            future: Some(Box::pin(future)),
            group: self.inner.clone(),
            panicked: false,
        });
        let mut children = self.inner.children.borrow_mut();
        if children.len() >= 64 && children.len() == children.capacity() {
            children.retain(|child| !child.is_finished());
        }
        children.push(handle.abort_handle());
        drop(children);
        if self.inner.failed() {
            handle.abort();
        }
        handle
    }

    /// Waits until every child has finished. `Err` lists every child that panicked (the
    /// first one's siblings were aborted when it did).
    ///
    /// Children may spawn more children into the group while it waits; `join` waits for
    /// them too. Several tasks may await `join` at the same time: all of them wake when
    /// the last child is gone, in the order they started waiting, and each gets the same
    /// outcome; so does every later `join`.
    pub async fn join(&self) -> Result<(), TaskGroupError> {
        let mut joiner = Joiner {
            inner: &self.inner,
            id: None,
        };
        poll_fn(|cx| joiner.poll(cx)).await
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
            .field("failures", &self.inner.failures.borrow().len())
            .field("joiners", &self.inner.joiners.borrow().len())
            .finish()
    }
}

/// One task waiting in `join`: its entry in the group's list of joiners, removed when the
/// join completes or is dropped.
struct Joiner<'a> {
    inner: &'a Inner,
    /// Its id in `inner.joiners`, once it waited (the entry is gone once it was woken).
    id: Option<u64>,
}

impl Joiner<'_> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TaskGroupError>> {
        if self.inner.live.get() == 0 {
            self.leave();
            return Poll::Ready(self.inner.outcome());
        }
        let mut joiners = self.inner.joiners.borrow_mut();
        let entry = self
            .id
            .and_then(|id| joiners.binary_search_by_key(&id, |&(id, _)| id).ok());
        let replaced = match entry {
            Some(at) if joiners[at].1.will_wake(cx.waker()) => None,
            Some(at) => Some(std::mem::replace(&mut joiners[at].1, cx.waker().clone())),
            None => {
                // First wait, or woken earlier and waiting again (children were spawned
                // after the last one left): a new entry at the back.
                let id = self.inner.next_joiner.get();
                self.inner.next_joiner.set(id + 1);
                joiners.push((id, cx.waker().clone()));
                self.id = Some(id);
                None
            }
        };
        drop(joiners);
        drop(replaced); // a waker's drop is not ours to run under the borrow
        handloop_executor::debug::record_waiting_in(
            cx,
            handloop_executor::debug::WaitingOn::TaskGroup {
                tasks: self.inner.live.get() as u64,
            },
        );
        Poll::Pending
    }

    fn leave(&mut self) {
        if let Some(id) = self.id.take() {
            let mut joiners = self.inner.joiners.borrow_mut();
            let removed = joiners
                .binary_search_by_key(&id, |&(id, _)| id)
                .ok()
                .map(|at| joiners.remove(at));
            drop(joiners);
            drop(removed);
        }
    }
}

impl Drop for Joiner<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// A child's future: records a panic in the group (and lets it go on to the child's
/// handle), and tells the group when it is dropped.
struct Child<F> {
    /// `None` only while `drop` runs.
    future: Option<Pin<Box<F>>>,
    group: Rc<Inner>,
    /// Its panic is already recorded (a second one, from dropping the future after a
    /// panicking poll, is not the group's news).
    panicked: bool,
}

impl<F: Future> Future for Child<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let future = this
            .future
            .as_mut()
            .expect("a child's future is there until the child is dropped");
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                this.panicked = true;
                this.group.record_panic(&*payload);
                resume_unwind(payload)
            }
        }
    }
}

impl<F> Drop for Child<F> {
    fn drop(&mut self) {
        // Dropping the future runs its destructors: the cleanup of a cancelled child
        // (asyncio's `except CancelledError:`), whose panic is a failure of the group too.
        let future = self.future.take();
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(future)));
        if let Err(payload) = &dropped
            && !self.panicked
        {
            self.group.record_panic(&**payload);
        }
        let waker_panic = self.group.child_gone();
        if let Some(payload) = dropped.err().or(waker_panic)
            && !std::thread::panicking()
        {
            resume_unwind(payload);
        }
    }
}
