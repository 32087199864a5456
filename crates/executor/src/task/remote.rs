//! The task a [`Handle`](crate::Handle) spawns, and its `Send` handle.
//!
//! A task's own `JoinHandle` reads the task's state through plain cells, so it must stay
//! on the loop's thread. A handle that any thread may await needs a meeting point they can
//! all touch: a [`Slot`], a mutex around the outcome and the two wakers (whoever awaits the
//! handle, and the task itself, for `abort`), shared by the task on its loop and by the
//! [`RemoteJoinHandle`] anywhere.
//!
//! A remote spawn allocates once on the sending thread: a [`Spawn`] holds the slot and the
//! user's closure side by side, behind one `Arc`. The remote queue carries it as a
//! [`Launch`] (the one owner allowed to take the closure out); the loop turns it into an
//! ordinary task of its own (its `JoinHandle` dropped at once) whose future, a
//! [`RemoteTask`], wraps the user's: on its first poll it calls the closure that builds the
//! user's future, so a future that is not `Send` is made, polled and dropped on the loop's
//! thread only; it catches the future's panic, checks the abort flag at each poll, and hands
//! the outcome to the slot once the future is gone. A `Launch` dropped unstarted (its loop
//! was closed) drops the closure and resolves the handle as cancelled.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, RefUnwindSafe, UnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::core::Core;
use crate::sync::{Arc, AtomicBool, Mutex, Ordering, lock};
use crate::task::header::Kind;
use crate::task::{JoinError, JoinHandle, TaskId, current_task};

/// What a remote task and its handle share.
pub(crate) struct Slot<T> {
    /// Set by `abort()`; the task reads it at each poll (a load, no lock).
    aborted: AtomicBool,
    /// The handle took the output (written and read by the handle only, wherever it is:
    /// moving the handle to another thread carries the write along). After that the task
    /// is done with the slot, and so is the handle: its drop need not lock. A flag here
    /// rather than in the handle keeps the handle two words.
    taken: AtomicBool,
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    outcome: Outcome<T>,
    /// The handle was dropped: nobody will take the outcome.
    detached: bool,
    /// Who awaits the handle.
    join_waker: Option<Waker>,
    /// The task's own waker, for `abort()` (set once its future first returns `Pending`,
    /// dropped when it is done).
    task_waker: Option<Waker>,
}

enum Outcome<T> {
    Pending,
    Ready(Result<T, JoinError>),
    /// The handle took it.
    Taken,
}

impl<T> Slot<T> {
    fn new() -> Slot<T> {
        Slot {
            aborted: AtomicBool::new(false),
            taken: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                outcome: Outcome::Pending,
                detached: false,
                join_waker: None,
                task_waker: None,
            }),
        }
    }

    /// Stores the task's outcome and wakes whoever awaits it. If the handle is gone, the
    /// outcome is dropped here instead (an unobserved panic is reported once on stderr).
    fn complete(&self, outcome: Result<T, JoinError>) {
        let mut inner = lock(&self.inner);
        debug_assert!(matches!(inner.outcome, Outcome::Pending));
        let task_waker = inner.task_waker.take();
        if inner.detached {
            inner.outcome = Outcome::Taken;
            drop(inner);
            drop(task_waker);
            discard(outcome);
            return;
        }
        inner.outcome = Outcome::Ready(outcome);
        let join_waker = inner.join_waker.take();
        drop(inner);
        drop(task_waker);
        if let Some(waker) = join_waker {
            waker.wake();
        }
    }
}

/// Drops an outcome nobody will see, reporting a panic (asyncio's "Task exception was
/// never retrieved").
fn discard<T>(outcome: Result<T, JoinError>) {
    if let Err(error) = &outcome
        && error.is_panic()
    {
        eprintln!("handloop: {error} (nobody awaited its RemoteJoinHandle)");
    }
    if catch_unwind(AssertUnwindSafe(move || drop(outcome))).is_err() {
        eprintln!("handloop: dropping the output of a task spawned through a Handle panicked");
    }
}

/// The one allocation of a remote spawn: the slot, and the closure that builds the task's
/// future until the loop takes it out. The slot comes first (`repr(C)`): a [`SlotRef`]
/// finds it at the start of the allocation whatever the closure's type.
#[repr(C)]
struct Spawn<F, Fut: Future> {
    slot: Slot<Fut::Output>,
    /// Taken out exactly once, by the spawn's [`Launch`] (when the loop starts the task, or
    /// when the launch is dropped unstarted); nothing else ever looks at it.
    build: UnsafeCell<Option<F>>,
    /// The future is made on the loop's thread, in the task: never stored here.
    _future: PhantomData<fn() -> Fut>,
}

// SAFETY: `slot` is `Sync` on its own (atomics and a mutex around `Send` data). `build` is
// read and written only through the spawn's one `Launch` (`take_build` is called only by
// `Start`'s methods, and those only by `Launch::start` and `Launch::drop`: the trait is
// private to this module), which is neither `Clone` nor shared and is consumed by doing
// so, so no two threads ever touch it at once; `F: Send` lets it be taken out, or dropped
// with the allocation, on any thread.
unsafe impl<F: Send, Fut: Future> Sync for Spawn<F, Fut> where Fut::Output: Send {}

// Through a shared `Spawn` (a handle, a task), only the slot is reached: a flag and a
// mutex, which poisons (and which we read whatever a panicking holder left, since each of
// its states is valid). The closure is only ever touched by the launch that owns it.
impl<F, Fut: Future> UnwindSafe for Spawn<F, Fut> {}
impl<F, Fut: Future> RefUnwindSafe for Spawn<F, Fut> {}

/// A [`Spawn`], type-erased so that the remote queue and the handles can carry any of them.
/// Only [`Launch`] calls these methods. (Unwind-safe, so that a `RemoteJoinHandle` is.)
trait Start: Any + Send + Sync + UnwindSafe + RefUnwindSafe {
    /// The function that moves the closure into a new task on `core`'s loop; it takes the
    /// `Arc` this `Spawn` lives in (a function, not a method: the `Arc` is moved into the
    /// task while the call runs).
    fn starter(&self) -> fn(Arc<dyn Start>, &Core);

    /// Drops the closure unrun, then resolves the handle as cancelled.
    fn cancel(&self);
}

impl<F, Fut> Spawn<F, Fut>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    /// Takes the closure out.
    ///
    /// # Safety
    /// Called only by the spawn's `Launch` (once: it is consumed by the call's caller).
    unsafe fn take_build(&self) -> Option<F> {
        // SAFETY: the caller is the `Launch`, the only one to touch `build` (see `Sync`).
        unsafe { (*self.build.get()).take() }
    }

    /// `Start::starter`'s function.
    fn start(spawn: Arc<dyn Start>, core: &Core) {
        let this = (&*spawn as &dyn Any)
            .downcast_ref::<Spawn<F, Fut>>()
            .expect("a spawn's starter is its own");
        // SAFETY: called through `Launch::start`, which consumes the launch.
        let build = unsafe { this.take_build() }.expect("a spawn starts once");
        // SAFETY: `spawn` is the `Spawn<F, Fut>` `this` was just checked to be.
        let slot = unsafe { SlotRef::of::<F, Fut>(spawn) };
        let task = core.spawn(RemoteTask::new(build, slot), Kind::Task, None);
        // Detached: the remote handle, not a `JoinHandle`, is how the output leaves.
        drop(JoinHandle::<()>::new(
            task.expect("a task has a handle's reference"),
        ));
    }
}

impl<F, Fut> Start for Spawn<F, Fut>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    fn starter(&self) -> fn(Arc<dyn Start>, &Core) {
        Spawn::<F, Fut>::start
    }

    fn cancel(&self) {
        // SAFETY: called by `Launch::drop`, for a launch that never started.
        let build = unsafe { self.take_build() };
        // The closure (and the future it owns, if any) goes first: by the time the handle
        // says "cancelled", it is gone. A panic in its destructor goes on unwinding once
        // the handle is resolved.
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(build)));
        self.slot.complete(Err(JoinError::cancelled_task(
            TaskId(0),
            "sent to a closed loop".to_owned(),
        )));
        if let Err(payload) = dropped {
            resume_unwind(payload);
        }
    }
}

/// An owning reference to the `Slot<T>` of a spawn whose closure's type it forgets: the
/// `Arc` of a [`Spawn`] whose future's output is `T`.
struct SlotRef<T> {
    /// A `Spawn<F, Fut>` with `Fut::Output = T` (the promise of [`SlotRef::of`], the only
    /// way to make one), so a `Slot<T>` sits at the start of its value.
    owner: Arc<dyn Start>,
    _output: PhantomData<Slot<T>>,
}

impl<T> SlotRef<T> {
    /// The slot of `owner`.
    ///
    /// # Safety
    /// `owner` is a `Spawn<F, Fut>`.
    unsafe fn of<F, Fut>(owner: Arc<dyn Start>) -> SlotRef<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        debug_assert!((&*owner as &dyn Any).is::<Spawn<F, Fut>>());
        SlotRef {
            owner,
            _output: PhantomData,
        }
    }
}

// A pointer: pinning a handle does not pin the slot.
impl<T> Unpin for SlotRef<T> {}

impl<T> Deref for SlotRef<T> {
    type Target = Slot<T>;

    #[inline]
    fn deref(&self) -> &Slot<T> {
        let spawn = Arc::as_ptr(&self.owner).cast::<Slot<T>>();
        // SAFETY: `owner` is a `Spawn<F, Fut>` with `Fut::Output = T` (`SlotRef::of`'s
        // promise), `repr(C)` with its `Slot<T>` first: the value's address is the
        // slot's. The `Arc` keeps it alive and only ever shares it.
        unsafe { &*spawn }
    }
}

/// What the remote queue carries for a remote spawn: the spawn, waiting for its loop.
/// Started, it becomes a task; dropped before that (the loop was gone when it was sent, or
/// closed before applying it), it resolves the handle as cancelled.
pub(crate) struct Launch {
    /// `None` once started.
    spawn: Option<Arc<dyn Start>>,
}

impl Launch {
    /// One allocation holding the slot and `build`: the launch to send, and the handle.
    pub(crate) fn new<F, Fut>(build: F) -> (Launch, RemoteJoinHandle<Fut::Output>)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let spawn: Spawn<F, Fut> = Spawn {
            slot: Slot::new(),
            build: UnsafeCell::new(Some(build)),
            _future: PhantomData,
        };
        let spawn: std::sync::Arc<dyn Start> = std::sync::Arc::new(spawn);
        // loom's `Arc` cannot coerce to `dyn`: it adopts a std one (see `sync.rs`).
        #[cfg(loom)]
        let spawn = Arc::from_std(spawn);
        // SAFETY: `spawn` was made from a `Spawn<F, Fut>` just above.
        let slot = unsafe { SlotRef::of::<F, Fut>(spawn.clone()) };
        let handle = RemoteJoinHandle::new(slot);
        (Launch { spawn: Some(spawn) }, handle)
    }

    /// Spawns the task on `core`'s loop (on its thread).
    pub(crate) fn start(mut self, core: &Core) {
        let spawn = self.spawn.take().expect("a launch starts once");
        let start = spawn.starter();
        start(spawn, core);
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        if let Some(spawn) = self.spawn.take() {
            spawn.cancel();
        }
    }
}

impl fmt::Debug for Launch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Launch")
            .field("started", &self.spawn.is_none())
            .finish()
    }
}

/// What the task holds: the closure that builds the future, then the future.
enum Stage<F, Fut> {
    Build(F),
    Run(Fut),
    Gone,
}

/// The future of a task spawned through a `Handle`.
pub(crate) struct RemoteTask<F, Fut: Future> {
    /// The user's future is pinned inside `Run`: it is never moved out, only polled in
    /// place and dropped in place (by overwriting the stage).
    stage: Stage<F, Fut>,
    slot: SlotRef<Fut::Output>,
    /// The task's waker is in the slot, for `abort()`.
    waker_stored: bool,
    /// The outcome was handed to the slot.
    finished: bool,
}

impl<F, Fut: Future> RemoteTask<F, Fut> {
    fn new(build: F, slot: SlotRef<Fut::Output>) -> Self {
        RemoteTask {
            stage: Stage::Build(build),
            slot,
            waker_stored: false,
            finished: false,
        }
    }

    /// Drops the closure or the future, in place, here on the loop's thread; a panicking
    /// destructor is caught and returned.
    fn drop_stage(&mut self) -> Result<(), Box<dyn Any + Send>> {
        catch_unwind(AssertUnwindSafe(|| self.stage = Stage::Gone))
    }

    /// Hands the outcome over; the future is already gone.
    fn finish(&mut self, outcome: Result<Fut::Output, JoinError>) -> Poll<()> {
        debug_assert!(matches!(self.stage, Stage::Gone));
        self.finished = true;
        self.slot.complete(outcome);
        Poll::Ready(())
    }

    /// Drops the future, then hands over `outcome`, or the destructor's panic instead.
    fn end(&mut self, outcome: Result<Fut::Output, JoinError>) -> Poll<()> {
        match self.drop_stage() {
            Ok(()) => self.finish(outcome),
            Err(payload) => self.finish(Err(panicked(payload))),
        }
    }
}

/// This task's id and name (it is the one being polled, or cancelled at shutdown).
fn this_task() -> (TaskId, String) {
    current_task().map_or_else(
        || (TaskId(0), "spawned through a Handle".to_owned()),
        |task| (task.id, task.name),
    )
}

fn cancelled() -> JoinError {
    let (id, name) = this_task();
    JoinError::cancelled_task(id, name)
}

fn panicked(payload: Box<dyn Any + Send>) -> JoinError {
    let (id, name) = this_task();
    JoinError::panicked_task(id, name, payload)
}

impl<F, Fut> Future for RemoteTask<F, Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: nothing below moves the user's future out of `stage`: it is polled
        // through `Pin::new_unchecked` in place and dropped in place (`drop_stage`).
        let this = unsafe { self.get_unchecked_mut() };
        if let Stage::Build(_) = this.stage {
            // First poll.
            if this.slot.aborted.load(Ordering::Acquire) {
                return this.end(Err(cancelled())); // never built
            }
            let Stage::Build(build) = mem::replace(&mut this.stage, Stage::Gone) else {
                unreachable!("checked above");
            };
            match catch_unwind(AssertUnwindSafe(build)) {
                Ok(future) => this.stage = Stage::Run(future),
                Err(payload) => return this.finish(Err(panicked(payload))),
            }
        } else if this.slot.aborted.load(Ordering::Acquire) {
            return this.end(Err(cancelled()));
        }
        let Stage::Run(future) = &mut this.stage else {
            unreachable!("a finished task is not polled again");
        };
        // SAFETY: see above; `stage` lives inside the pinned task and is never moved.
        let future = unsafe { Pin::new_unchecked(future) };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) if this.waker_stored => Poll::Pending,
            Ok(Poll::Pending) => {
                // It waits for the first time: from now on `abort()` needs its waker (a
                // task done in one poll never stores it). The waker first, then the flag:
                // an `abort()` that sets the flag after our load takes the lock after us
                // and finds the waker; one that set it before, we see here.
                let waker = cx.waker().clone();
                lock(&this.slot.inner).task_waker = Some(waker);
                this.waker_stored = true;
                if this.slot.aborted.load(Ordering::Acquire) {
                    return this.end(Err(cancelled()));
                }
                Poll::Pending
            }
            Ok(Poll::Ready(output)) => this.end(Ok(output)),
            Err(payload) => this.end(Err(panicked(payload))),
        }
    }
}

impl<F, Fut: Future> Drop for RemoteTask<F, Fut> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The loop dropped the task before it finished (the loop is shutting down): drop
        // the future first, so that by the time the handle says "cancelled", it is gone.
        let outcome = match self.drop_stage() {
            Ok(()) => Err(cancelled()),
            Err(payload) => Err(panicked(payload)),
        };
        let _ready = self.finish(outcome);
    }
}

/// A handle to a task spawned through a [`Handle`](crate::Handle): await it, from any
/// thread, any loop or any executor, for the task's output.
///
/// Unlike a [`JoinHandle`](crate::JoinHandle) it is `Send` (when the output is): the task
/// stays on its loop, and the output travels. Awaiting gives `Ok(output)`, or a
/// [`JoinError`] if the task panicked, was aborted, or its loop was dropped first.
/// Dropping the handle detaches the task; [`abort`](RemoteJoinHandle::abort) cancels it.
pub struct RemoteJoinHandle<T> {
    slot: SlotRef<T>,
}

impl<T> RemoteJoinHandle<T> {
    fn new(slot: SlotRef<T>) -> Self {
        RemoteJoinHandle { slot }
    }

    /// Cancels the task, from any thread (asyncio's `future.cancel()` on the result of
    /// `run_coroutine_threadsafe`).
    ///
    /// The task's loop drops its future, on the loop's thread, at the latest on its next
    /// turn (a task not yet started never runs); awaiting the handle then gives a
    /// cancelled [`JoinError`], and by then the future has been dropped. Aborting a task
    /// that already finished does nothing: its output stays available.
    pub fn abort(&self) {
        self.slot.aborted.store(true, Ordering::Release);
        // Taken under the lock: the task stores it when it first waits, then reads the flag.
        let waker = lock(&self.slot.inner).task_waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the task has finished, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        !matches!(lock(&self.slot.inner).outcome, Outcome::Pending)
    }
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut new_waker = None;
        loop {
            let mut inner = lock(&self.slot.inner);
            match mem::replace(&mut inner.outcome, Outcome::Taken) {
                Outcome::Ready(outcome) => {
                    drop(inner);
                    self.slot.taken.store(true, Ordering::Relaxed);
                    return Poll::Ready(outcome);
                }
                Outcome::Taken => {
                    drop(inner);
                    panic!(
                        "a RemoteJoinHandle was polled again after it returned the task's output"
                    )
                }
                Outcome::Pending => inner.outcome = Outcome::Pending,
            }
            if let Some(waker) = new_waker.take() {
                let old = inner.join_waker.replace(waker);
                drop(inner);
                drop(old); // user code (a waker's drop), outside the lock
                return Poll::Pending;
            }
            if inner
                .join_waker
                .as_ref()
                .is_some_and(|old| old.will_wake(cx.waker()))
            {
                return Poll::Pending;
            }
            // A new waker: cloned outside the lock (a waker's clone is user code), then
            // stored if the task is still running.
            drop(inner);
            new_waker = Some(cx.waker().clone());
        }
    }
}

impl<T> Drop for RemoteJoinHandle<T> {
    fn drop(&mut self) {
        if self.slot.taken.load(Ordering::Relaxed) {
            // The task completed (and took our waker out) before we took the output:
            // nothing of ours is left in the slot.
            return;
        }
        let mut inner = lock(&self.slot.inner);
        inner.detached = true;
        let waker = inner.join_waker.take();
        let outcome = match mem::replace(&mut inner.outcome, Outcome::Taken) {
            Outcome::Ready(outcome) => Some(outcome),
            Outcome::Taken => None,
            Outcome::Pending => {
                inner.outcome = Outcome::Pending;
                None
            }
        };
        drop(inner);
        drop(waker);
        if let Some(outcome) = outcome {
            discard(outcome);
        }
    }
}

impl<T> fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
