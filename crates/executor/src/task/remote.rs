//! The task a [`Handle`](crate::Handle) spawns, and its `Send` handle.
//!
//! A task's own `JoinHandle` reads the task's state through plain cells, so it must stay
//! on the loop's thread. A handle that any thread may await needs a meeting point they can
//! all touch: a [`Slot`], holding the outcome and two wakers (whoever awaits the handle,
//! and the task itself, for `abort`), shared by the task on its loop and by the
//! [`RemoteJoinHandle`] anywhere.
//!
//! A remote spawn allocates once, on the sending thread: a [`Spawn`] holds the slot, the
//! user's closure and room for the task. The remote queue carries it as a [`Launch`] (the
//! one owner allowed to take the closure out); the loop writes an ordinary task of its own
//! into that room (its `JoinHandle` dropped at once) whose future, a [`RemoteTask`], wraps
//! the user's: on its first poll it calls the closure that builds the user's future, so a
//! future that is not `Send` is made, polled and dropped on the loop's thread only; it
//! catches the future's panic, checks the abort bit at each poll, and hands the outcome to
//! the slot once the future is gone. A `Launch` dropped unstarted (its loop was closed) drops the
//! closure and resolves the handle as cancelled.
//!
//! # The slot's one atomic word
//!
//! Two sides own the allocation: the handle, and the task side (the launch, then the
//! task). Each holds one bit of `state` while it lives; whoever clears the last one frees
//! it. The other bits say who may touch which cell:
//!
//! | bit | set by | meaning |
//! |---|---|---|
//! | `HANDLE` | made with it; cleared by the handle's drop | the handle is alive |
//! | `TASK` | made with it; cleared by the task's `dealloc` (or an unstarted launch's drop) | the launch or task is alive |
//! | `COMPLETE` | the task side, after writing the outcome | the outcome is the handle's |
//! | `JOIN_WAKER` | the handle, after writing its waker | the task side may *read* that waker |
//! | `TASK_WAKER` | the task, after writing its waker | whoever clears the bit takes that waker |
//! | `ABORTED` | `abort()` | the task drops its future at its next poll |
//!
//! So a remote task that finishes before anyone awaits it costs two read-modify-writes,
//! both on the loop (completion, and the task's `dealloc` giving its claim back); the
//! handle then takes the outcome and frees the block with plain loads. A mutex and a
//! reference count would cost several more.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::panic::{AssertUnwindSafe, RefUnwindSafe, UnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll, Waker};

use crate::core::Core;
use crate::debug::{WaitingOn, record_waiting_in};
use crate::sync::{AtomicUsize, Ordering};
use crate::task::header::{Kind, TaskPtr, Vtable};
use crate::task::raw::{Place, Task};
use crate::task::{JoinError, TaskId, current_task};

/// The handle is alive (its claim on the allocation).
const HANDLE: usize = 1 << 0;
/// The launch, then the task, is alive (the task side's claim on the allocation).
const TASK: usize = 1 << 1;
/// The outcome is written: it belongs to the handle now.
const COMPLETE: usize = 1 << 2;
/// The join waker is written; until `COMPLETE`, only the handle clears this bit.
const JOIN_WAKER: usize = 1 << 3;
/// The task's own waker is written; whoever clears this bit takes the waker.
const TASK_WAKER: usize = 1 << 4;
/// `abort()` was called.
const ABORTED: usize = 1 << 5;

/// The part of every spawn that does not depend on its types: what the remote queue's
/// [`Launch`] reaches. First in [`Slot`] (`repr(C)`), itself first in [`Spawn`].
#[repr(C)]
struct Head {
    state: AtomicUsize,
    vtable: &'static SpawnVtable,
}

/// The operations that need the closure's type, written once per spawn type.
///
/// Each takes the pointer of a live `Spawn<F, Fut>` of the vtable's own types.
struct SpawnVtable {
    /// Moves the closure into a new task on the loop; the task side's claim goes with it.
    /// Called by the launch, once, instead of `cancel`.
    start: unsafe fn(NonNull<Head>, &Core),
    /// Drops the closure unrun, then resolves the handle as cancelled and gives up the
    /// task side's claim. Called by the launch, once, instead of `start`.
    cancel: unsafe fn(NonNull<Head>),
    /// Frees the allocation, once no claim is left, reporting an outcome nobody took.
    free: unsafe fn(NonNull<Head>),
}

/// What a remote task and its handle share (see the module's table for who touches what).
#[repr(C)]
struct Slot<T> {
    head: Head,
    /// The task side's until `COMPLETE`, the handle's after.
    outcome: UnsafeCell<Option<Result<T, JoinError>>>,
    /// Who awaits the handle: written by the handle while `JOIN_WAKER` is clear.
    join_waker: UnsafeCell<Option<Waker>>,
    /// The task's own waker, for `abort()`: written by the task once, before `TASK_WAKER`.
    task_waker: UnsafeCell<Option<Waker>>,
}

impl<T> Slot<T> {
    fn new(vtable: &'static SpawnVtable) -> Slot<T> {
        Slot {
            head: Head {
                state: AtomicUsize::new(HANDLE | TASK),
                vtable,
            },
            outcome: UnsafeCell::new(None),
            join_waker: UnsafeCell::new(None),
            task_waker: UnsafeCell::new(None),
        }
    }
}

/// Gives up `claim` (`HANDLE` or `TASK`) and frees the allocation if it was the last one.
///
/// # Safety
/// The caller holds `claim` on the live spawn at `head`, and does not touch it afterwards.
unsafe fn release(head: NonNull<Head>, claim: usize) {
    // SAFETY: our claim keeps the allocation alive up to this read-modify-write.
    let previous = unsafe { head.as_ref() }
        .state
        .fetch_and(!claim, Ordering::AcqRel);
    if previous & (HANDLE | TASK) & !claim == 0 {
        // SAFETY: the other claim was gone already: nobody else can reach the spawn.
        unsafe { free(head) };
    }
}

/// Frees the spawn at `head`.
///
/// # Safety
/// No claim on it is left, and the caller does not touch it afterwards.
unsafe fn free(head: NonNull<Head>) {
    // SAFETY: the spawn is alive until the call below frees it.
    let free = unsafe { head.as_ref() }.vtable.free;
    // SAFETY: the caller's promise; the vtable is the spawn's own.
    unsafe { free(head) };
}

/// The task side's right to hand the outcome over, once ([`SlotRef::complete`]). It owns
/// no claim: the task it belongs to lives in the same allocation, whose claim the task's
/// `dealloc` gives back ([`Spawn::dealloc_task`]).
struct SlotRef<T> {
    slot: NonNull<Slot<T>>,
}

impl<T> SlotRef<T> {
    #[inline]
    fn slot(&self) -> &Slot<T> {
        // SAFETY: the task side's claim (held until the task that holds this is gone, or
        // by `cancel` around its use) keeps the allocation alive.
        unsafe { self.slot.as_ref() }
    }

    /// Whether `abort()` was called (one load).
    #[inline]
    fn aborted(&self) -> bool {
        self.slot().head.state.load(Ordering::Acquire) & ABORTED != 0
    }

    /// Stores the task's waker for `abort()`; `false` if `abort()` came first (it found no
    /// waker to wake: the caller ends the task now).
    fn store_task_waker(&self, waker: Waker) -> bool {
        let slot = self.slot();
        // SAFETY: until `TASK_WAKER` is set, the task waker's cell is the task side's
        // alone, and it is set once.
        unsafe { *slot.task_waker.get() = Some(waker) };
        let previous = slot.head.state.fetch_or(TASK_WAKER, Ordering::AcqRel);
        previous & ABORTED == 0
    }

    /// Stores the outcome and wakes whoever awaits the handle. If the handle is gone, the
    /// outcome is dropped instead (an unobserved panic is reported once on stderr).
    fn complete(self, outcome: Result<T, JoinError>) {
        let slot = self.slot();
        // SAFETY: until `COMPLETE`, the outcome's cell is the task side's alone.
        unsafe { *slot.outcome.get() = Some(outcome) };
        let previous = slot.head.state.fetch_or(COMPLETE, Ordering::AcqRel);
        let task_waker = if previous & TASK_WAKER != 0 {
            // SAFETY: `abort()` takes the waker only by clearing `TASK_WAKER` before
            // `COMPLETE` is set; it did not, and now never will. The task wrote it before
            // setting the bit.
            unsafe { (*slot.task_waker.get()).take() }
        } else {
            None
        };
        if previous & HANDLE == 0 {
            // SAFETY: the handle was dropped before `COMPLETE`: it never reads the outcome.
            let outcome = unsafe { (*slot.outcome.get()).take() };
            drop(task_waker);
            if let Some(outcome) = outcome {
                discard(outcome);
            }
            return;
        }
        if previous & JOIN_WAKER != 0 {
            // SAFETY: the handle set `JOIN_WAKER` after writing the waker, and no longer
            // changes it once `COMPLETE` is set: reading it is shared.
            if let Some(waker) = unsafe { &*slot.join_waker.get() } {
                waker.wake_by_ref();
            }
        }
        drop(task_waker);
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

/// The one allocation of a remote spawn: the slot, the closure that builds the task's
/// future until the loop takes it out, and room for the task itself, which the loop writes
/// there (a [`Place`]) instead of allocating it. The slot comes first (`repr(C)`): the
/// handle finds it at the start of the allocation whatever the closure's type.
#[repr(C)]
struct Spawn<F: FnOnce() -> Fut, Fut: Future> {
    slot: Slot<Fut::Output>,
    /// Written by [`Launch::new`], moved out exactly once by the launch's `start` or
    /// `cancel`; never dropped in place.
    build: UnsafeCell<MaybeUninit<F>>,
    /// The task, written by `start` and dropped in place by its `dealloc`
    /// ([`Spawn::dealloc_task`]); never written if the launch is cancelled.
    task: UnsafeCell<MaybeUninit<Task<RemoteTask<F, Fut>>>>,
    /// The future is made on the loop's thread, in the task: never stored here.
    _future: PhantomData<fn() -> Fut>,
    /// Under loom, a value whose leak loom reports: a spawn never freed fails the model.
    #[cfg(loom)]
    _leak_check: crate::sync::Arc<()>,
}

impl<F, Fut> Spawn<F, Fut>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    const VTABLE: SpawnVtable = SpawnVtable {
        start: Self::start,
        cancel: Self::cancel,
        free: Self::free,
    };

    /// The task's vtable: a placed task's, whose `dealloc` gives back the task side's claim.
    const TASK_VTABLE: Vtable = Task::<RemoteTask<F, Fut>>::placed_vtable(Self::dealloc_task);

    /// Moves the closure out, with the right to complete the slot.
    ///
    /// # Safety
    /// `head` is a live `Spawn<F, Fut>` whose closure is still in it, and the caller holds
    /// its task side's claim (the launch's).
    unsafe fn take(head: NonNull<Head>) -> (F, SlotRef<Fut::Output>) {
        let spawn = head.cast::<Spawn<F, Fut>>();
        // SAFETY: the caller's promise: the claim keeps the spawn alive, the closure is
        // there, and only the launch (consumed by this call's caller) reads it, once.
        let build = unsafe { (*spawn.as_ref().build.get()).assume_init_read() };
        (build, SlotRef { slot: head.cast() })
    }

    /// `SpawnVtable::start`.
    ///
    /// # Safety
    /// As for [`Spawn::take`].
    unsafe fn start(head: NonNull<Head>, core: &Core) {
        // SAFETY: the caller's promise.
        let (build, slot) = unsafe { Self::take(head) };
        let spawn = head.cast::<Spawn<F, Fut>>().as_ptr();
        // SAFETY: `spawn` is live (the claim); a pointer to its field, made without a
        // reference, keeps the allocation's provenance.
        let task = unsafe { UnsafeCell::raw_get(ptr::addr_of!((*spawn).task)) };
        // SAFETY: the room for the task is unused (a launch starts once) and stays
        // allocated while the task side's claim is held, which the launch hands to the
        // task: `TASK_VTABLE`'s `dealloc` drops the task and gives the claim back.
        let place = unsafe {
            Place::new(
                NonNull::new_unchecked(task.cast::<Task<RemoteTask<F, Fut>>>()),
                &Self::TASK_VTABLE,
            )
        };
        // Detached (a placed task has no `JoinHandle`): the remote handle is how the
        // output leaves.
        let handle = core.spawn_in(Some(place), RemoteTask::new(build, slot), Kind::Task, None);
        debug_assert!(handle.is_none());
    }

    /// `SpawnVtable::cancel`.
    ///
    /// # Safety
    /// As for [`Spawn::take`].
    unsafe fn cancel(head: NonNull<Head>) {
        // SAFETY: the caller's promise.
        let (build, slot) = unsafe { Self::take(head) };
        // The closure (and the future it owns, if any) goes first: by the time the handle
        // says "cancelled", it is gone. A panic in its destructor goes on unwinding once
        // the handle is resolved.
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(build)));
        slot.complete(Err(JoinError::cancelled_task(
            TaskId(0),
            "sent to a closed loop".to_owned(),
        )));
        // SAFETY: the launch's claim, given back once; no task was written.
        unsafe { release(head, TASK) };
        if let Err(payload) = dropped {
            resume_unwind(payload);
        }
    }

    /// `Vtable::dealloc` of the task: drops it in place, then gives back the task side's
    /// claim (freeing the spawn if the handle is gone too).
    ///
    /// # Safety
    /// `Vtable::dealloc`'s contract, for a task written by `start` into a `Spawn<F, Fut>`.
    unsafe fn dealloc_task(task: TaskPtr) {
        let offset = mem::offset_of!(Spawn<F, Fut>, task);
        // SAFETY: the task sits `offset` bytes into its spawn (`start` put it there), and
        // its pointer carries the whole allocation's provenance.
        let head =
            unsafe { NonNull::new_unchecked(task.as_ptr().cast::<u8>().cast_mut().sub(offset)) };
        // SAFETY: the caller's promise.
        unsafe { Task::<RemoteTask<F, Fut>>::drop_placed(task) };
        // SAFETY: the task held the task side's claim, and is gone now.
        unsafe { release(head.cast(), TASK) };
    }

    /// `SpawnVtable::free`.
    ///
    /// # Safety
    /// `head` is a `Spawn<F, Fut>` made by [`Launch::new`], with no claim left on it; its
    /// closure was moved out.
    unsafe fn free(head: NonNull<Head>) {
        // SAFETY: made by `Box::into_raw` in `Launch::new`; nobody else can reach it.
        let mut spawn = unsafe { Box::from_raw(head.cast::<Spawn<F, Fut>>().as_ptr()) };
        let outcome = spawn.slot.outcome.get_mut().take();
        // The wakers' destructors run here; `build` is `MaybeUninit`, so nothing of the
        // closure is dropped again.
        drop(spawn);
        if let Some(outcome) = outcome {
            discard(outcome);
        }
    }
}

/// What the remote queue carries for a remote spawn: the spawn, waiting for its loop,
/// with the task side's claim. Started, it becomes a task; dropped before that (the loop
/// was gone when it was sent, or closed before applying it), it resolves the handle as
/// cancelled.
pub(crate) struct Launch {
    head: NonNull<Head>,
}

// SAFETY: a launch owns the spawn's closure (`F: Send`, required by `Launch::new`) and the
// task side's claim, whose operations (`release`, writing the outcome `T: Send`) are safe
// from any thread; it is never shared.
unsafe impl Send for Launch {}

impl Launch {
    /// One allocation holding the slot and `build`: the launch to send, and the handle.
    pub(crate) fn new<F, Fut>(build: F) -> (Launch, RemoteJoinHandle<Fut::Output>)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        // Written field by field: the room for the task (most of the block) is left as
        // it is, not copied in from the stack.
        let spawn = Box::into_raw(Box::<Spawn<F, Fut>>::new_uninit()).cast::<Spawn<F, Fut>>();
        // SAFETY: `spawn` is a fresh allocation for a `Spawn<F, Fut>`; every field but the
        // `MaybeUninit` task (which needs none) is written before it is used or freed.
        unsafe {
            ptr::addr_of_mut!((*spawn).slot).write(Slot::new(&Spawn::<F, Fut>::VTABLE));
            ptr::addr_of_mut!((*spawn).build).write(UnsafeCell::new(MaybeUninit::new(build)));
            #[cfg(loom)]
            ptr::addr_of_mut!((*spawn)._leak_check).write(crate::sync::Arc::new(()));
        }
        // SAFETY: `Box::into_raw` never returns null.
        let spawn = unsafe { NonNull::new_unchecked(spawn) };
        let handle = RemoteJoinHandle {
            slot: spawn.cast(),
            taken: false,
        };
        (Launch { head: spawn.cast() }, handle)
    }

    /// Spawns the task on `core`'s loop (on its thread).
    pub(crate) fn start(self, core: &Core) {
        let head = ManuallyDrop::new(self).head;
        // SAFETY: the launch holds the task side's claim and the closure, and is consumed:
        // both move into the task. The vtable is the spawn's own.
        unsafe { (head.as_ref().vtable.start)(head, core) };
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        // SAFETY: as in `start`: the launch is being dropped, unstarted.
        unsafe { (self.head.as_ref().vtable.cancel)(self.head) };
    }
}

impl fmt::Debug for Launch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Launch").finish_non_exhaustive()
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
    /// The task side's claim on the slot; `None` once the outcome was handed over.
    slot: Option<SlotRef<Fut::Output>>,
    /// The task's waker is in the slot, for `abort()`.
    waker_stored: bool,
}

impl<F, Fut: Future> RemoteTask<F, Fut> {
    fn new(build: F, slot: SlotRef<Fut::Output>) -> Self {
        RemoteTask {
            stage: Stage::Build(build),
            slot: Some(slot),
            waker_stored: false,
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
        self.slot
            .take()
            .expect("a task hands its outcome over once")
            .complete(outcome);
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
        let aborted = this
            .slot
            .as_ref()
            .expect("a finished task is not polled again")
            .aborted();
        if let Stage::Build(_) = this.stage {
            // First poll.
            if aborted {
                return this.end(Err(cancelled())); // never built
            }
            let Stage::Build(build) = mem::replace(&mut this.stage, Stage::Gone) else {
                unreachable!("checked above");
            };
            match catch_unwind(AssertUnwindSafe(build)) {
                Ok(future) => this.stage = Stage::Run(future),
                Err(payload) => return this.finish(Err(panicked(payload))),
            }
        } else if aborted {
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
                // task done in one poll never stores it). The waker first, then its bit:
                // an `abort()` after that takes the waker; one before it, we see here.
                let waker = cx.waker().clone();
                this.waker_stored = true;
                let slot = this.slot.as_ref().expect("checked above");
                if !slot.store_task_waker(waker) {
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
        if self.slot.is_none() {
            return; // finished
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
    /// Holds the slot's `HANDLE` claim.
    slot: NonNull<Slot<T>>,
    /// The output was taken (polling again is a bug).
    taken: bool,
}

// SAFETY: the handle reaches the slot only through its atomic word and the cells that the
// word gives it (the outcome `T: Send`, its own waker, the task's waker: wakers are
// `Send`), and gives back its claim from any thread; the closure is never touched by it.
unsafe impl<T: Send> Send for RemoteJoinHandle<T> {}
// SAFETY: through `&self` (`abort`, `is_finished`) only the atomic word is used, and the
// task's waker, which `abort` takes only after clearing `TASK_WAKER` itself, so two
// aborts never take it both.
unsafe impl<T: Send> Sync for RemoteJoinHandle<T> {}

// A pointer: pinning a handle does not pin the slot.
impl<T> Unpin for RemoteJoinHandle<T> {}

// A panic while the handle is borrowed leaves the slot in one of its valid states (every
// step is a single atomic read-modify-write, or a cell write before one).
impl<T> UnwindSafe for RemoteJoinHandle<T> {}
impl<T> RefUnwindSafe for RemoteJoinHandle<T> {}

impl<T> RemoteJoinHandle<T> {
    #[inline]
    fn slot(&self) -> &Slot<T> {
        // SAFETY: our `HANDLE` claim keeps the allocation alive.
        unsafe { self.slot.as_ref() }
    }

    /// Cancels the task, from any thread (asyncio's `future.cancel()` on the result of
    /// `run_coroutine_threadsafe`).
    ///
    /// The task's loop drops its future, on the loop's thread, at the latest on its next
    /// turn (a task not yet started never runs); awaiting the handle then gives a
    /// cancelled [`JoinError`], and by then the future has been dropped. Aborting a task
    /// that already finished does nothing: its output stays available.
    pub fn abort(&self) {
        let slot = self.slot();
        let state = &slot.head.state;
        let mut current = state.load(Ordering::Relaxed);
        loop {
            if current & COMPLETE != 0 {
                return;
            }
            let next = (current | ABORTED) & !TASK_WAKER;
            match state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        if current & TASK_WAKER != 0 {
            // SAFETY: we cleared `TASK_WAKER`, so the waker is ours to take (the task's
            // completion no longer will); the task wrote it before setting the bit.
            let waker = unsafe { (*slot.task_waker.get()).take() };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Whether the task has finished, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.slot().head.state.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// The outcome, once `COMPLETE` was read with `Acquire`.
    fn take_outcome(&mut self) -> Result<T, JoinError> {
        // SAFETY: `COMPLETE` is set: the task side wrote the outcome before it and never
        // touches it again while the handle lives; `&mut self` makes us its only reader.
        let outcome = unsafe { (*self.slot().outcome.get()).take() };
        self.taken = true;
        outcome.expect("a complete slot holds the outcome until the handle takes it")
    }
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.taken {
            panic!("a RemoteJoinHandle was polled again after it returned the task's output");
        }
        let slot = this.slot();
        let state = &slot.head.state;
        let mut current = state.load(Ordering::Acquire);
        if current & COMPLETE == 0 {
            if current & JOIN_WAKER != 0 {
                // SAFETY: while `JOIN_WAKER` is set the waker does not change: the task
                // side only reads it, and only we clear the bit.
                let stored = unsafe { &*slot.join_waker.get() };
                if stored.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    record_waiting_in(cx, WaitingOn::RemoteJoin);
                    return Poll::Pending;
                }
                // Another waker: take the cell back first, unless the task completes
                // meanwhile (it may then be reading the old waker; the output is ready).
                if !reclaim_join_waker(state, current) {
                    return Poll::Ready(this.take_outcome());
                }
            }
            // `JOIN_WAKER` is clear and the task not complete: the cell is ours alone.
            // (Cloning and dropping wakers is user code: the claim keeps the slot alive.)
            let waker = cx.waker().clone();
            // SAFETY: as just said.
            let old = unsafe { (*slot.join_waker.get()).replace(waker) };
            current = state.fetch_or(JOIN_WAKER, Ordering::AcqRel);
            drop(old);
            if current & COMPLETE == 0 {
                record_waiting_in(cx, WaitingOn::RemoteJoin);
                return Poll::Pending;
            }
        }
        Poll::Ready(this.take_outcome())
    }
}

/// Clears `JOIN_WAKER` (set in `current`, as last read) unless the task completes first:
/// `true` if we cleared it (the join waker's cell is the handle's alone again), `false` if
/// `COMPLETE` came first (the task side may be reading the waker; the outcome is ready).
fn reclaim_join_waker(state: &AtomicUsize, mut current: usize) -> bool {
    loop {
        match state.compare_exchange_weak(
            current,
            current & !JOIN_WAKER,
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Ok(_) => return true,
            Err(actual) if actual & COMPLETE != 0 => return false,
            Err(actual) => current = actual,
        }
    }
}

impl<T> Drop for RemoteJoinHandle<T> {
    fn drop(&mut self) {
        let head = self.slot.cast::<Head>();
        let state = &self.slot().head.state;
        let current = state.load(Ordering::Acquire);
        if current & (COMPLETE | TASK) == COMPLETE {
            // The task completed and gave up its claim: ours is the last, no atomic write
            // needed. An outcome we did not take is reported and dropped by `free`.
            // SAFETY: no other claim is left, and we do not touch the slot again.
            return unsafe { free(head) };
        }
        let mut waker = None;
        if current & (COMPLETE | JOIN_WAKER) == JOIN_WAKER {
            // Take our waker back before giving up the claim (unless the task completes
            // meanwhile: it may then be reading it, and it goes with the slot).
            if reclaim_join_waker(state, current) {
                // SAFETY: we cleared `JOIN_WAKER` before `COMPLETE`: the task side will not
                // read the cell; it is ours.
                waker = unsafe { (*self.slot().join_waker.get()).take() };
            }
        }
        // SAFETY: our claim, given back once; we do not touch the slot afterwards. If the
        // task is still running, it will find the handle gone and drop the outcome itself.
        unsafe { release(head, HANDLE) };
        drop(waker);
    }
}

impl<T> fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
