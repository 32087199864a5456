//! One allocation per task: the header followed by the future, later its output.

use std::alloc::Layout;
use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::mem::needs_drop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use crate::context;
use crate::shared::Shared;
use crate::task::JoinError;
use crate::task::blocks::{BlockCache, release};
use crate::task::header::{
    CANCELLED, Header, JOIN_INTEREST, Kind, PANIC_OBSERVED, PANICKED, Polled, TaskPtr, Vtable,
};
use crate::task::refs::LocalRef;
use crate::task::waker::LentWaker;

/// A task: header first (`#[repr(C)]`), then what the task holds at this stage of its life.
#[repr(C)]
pub(crate) struct Task<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// The future while it runs, its result once it finished, nothing once the result was taken.
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

impl<F: Future + 'static> Task<F> {
    const VTABLE: Vtable = Vtable {
        poll: poll::<F>,
        take_output: take_output::<F>,
        drop_output: drop_output::<F>,
        dealloc: dealloc::<F>,
    };

    /// Allocates a task (its one allocation, often a recycled block) and returns a pointer
    /// to its header. The header's initial counts are the caller's references.
    pub(crate) fn allocate(
        blocks: &BlockCache,
        future: F,
        make_header: impl FnOnce(&'static Vtable) -> Header,
    ) -> TaskPtr {
        let block = blocks.allocate(Layout::new::<Task<F>>()).cast::<Task<F>>();
        // SAFETY: the block is allocated for `Task<F>`'s layout and unused, and `VTABLE`'s
        // `dealloc` gives it back to the loop's cache or the allocator, as it came.
        unsafe { Self::write(block, future, make_header(&Self::VTABLE)) }
    }

    /// Writes a task into `task` and returns a pointer to its header.
    ///
    /// # Safety
    /// `task` is valid for writes of a `Task<F>` and unused; the header's vtable is one of
    /// `Task<F>`'s and its `dealloc` disposes of that memory the way it was obtained.
    #[inline(always)]
    unsafe fn write(task: NonNull<Task<F>>, future: F, header: Header) -> TaskPtr {
        let task = task.as_ptr();
        // SAFETY: the caller's promise; writing each field straight into the block spares
        // copying the task (future included) through the stack.
        unsafe {
            ptr::addr_of_mut!((*task).header).write(header);
            ptr::addr_of_mut!((*task).stage).write(UnsafeCell::new(Stage::Running(future)));
        }
        // SAFETY: the block is non-null, initialised above, and the header is at offset 0.
        unsafe { TaskPtr::from_raw(task as *const ()) }
    }

    /// The vtable of a task in a [`Place`]: `Task<F>`'s own functions, but `dealloc`, which
    /// is the place owner's (it calls [`Task::drop_placed`], then gives the memory back).
    pub(crate) const fn placed_vtable(dealloc: unsafe fn(TaskPtr)) -> Vtable {
        Vtable {
            poll: poll::<F>,
            take_output: take_output::<F>,
            drop_output: drop_output::<F>,
            dealloc,
        }
    }

    /// The first half of a placed task's `dealloc`: drops the task in place and gives back
    /// its header's ticket, leaving the memory to the caller.
    ///
    /// # Safety
    /// As for `Vtable::dealloc`: `task` is a `Task<F>` in a [`Place`], whose every
    /// reference was given back.
    pub(crate) unsafe fn drop_placed(task: TaskPtr) {
        // SAFETY: the caller's promise.
        let shared = unsafe { task.cross() }.shared_ptr();
        // SAFETY: as in `dealloc`: nobody else can reach the task.
        unsafe { ptr::drop_in_place(task.as_ptr() as *mut Task<F>) };
        give_back_ticket(shared);
    }
}

/// Memory for a `Task<F>` that the loop did not allocate (a remote spawn's, made on the
/// sending thread), with the vtable whose `dealloc` gives it back to its owner.
pub(crate) struct Place<F: Future> {
    task: NonNull<Task<F>>,
    vtable: &'static Vtable,
}

impl<F: Future + 'static> Place<F> {
    /// # Safety
    /// `task` is valid for writes of a `Task<F>`, unused, and stays allocated until
    /// `vtable.dealloc` is called with the task written there; `vtable` was made by
    /// [`Task::placed_vtable`] for this `F`, and its `dealloc` calls [`Task::drop_placed`].
    pub(crate) unsafe fn new(task: NonNull<Task<F>>, vtable: &'static Vtable) -> Place<F> {
        Place { task, vtable }
    }

    /// Writes the task, with the header `make_header` makes, and returns its pointer.
    #[inline(always)]
    pub(crate) fn write(
        self,
        future: F,
        make_header: impl FnOnce(&'static Vtable) -> Header,
    ) -> TaskPtr {
        // SAFETY: `Place::new`'s promise.
        unsafe { Task::write(self.task, future, make_header(self.vtable)) }
    }
}

/// Gives back the ticket of a task's header that was just dropped: to the loop's batch on
/// its own thread while it runs, else to `Shared`.
fn give_back_ticket(shared: NonNull<Shared>) {
    let returned = context::with_core(|core| {
        if core.is(shared) {
            core.return_ticket();
        }
        core.is(shared)
    });
    if returned != Some(true) {
        // SAFETY: the header held one ticket of `shared`, which nothing uses now.
        unsafe { Shared::give_back(shared, 1) };
    }
}

/// The stage of the task behind `task`.
///
/// # Safety
/// `task` was made by `Task::<F>::allocate` and is alive.
unsafe fn stage<F: Future>(task: TaskPtr) -> *mut Stage<F> {
    let task = task.as_ptr() as *const Task<F>;
    // SAFETY: the caller promises `task` points to a live `Task<F>`.
    unsafe { (*task).stage.get() }
}

/// Drops the future in place (it is pinned: it must not move) and leaves `Consumed` behind,
/// even if the future's destructor panics (the panic then goes on unwinding).
///
/// # Safety
/// The stage is `Running` and nobody else is looking at it.
unsafe fn drop_future_in_place<F: Future>(stage: *mut Stage<F>) {
    struct LeaveConsumed<F: Future>(*mut Stage<F>);
    impl<F: Future> Drop for LeaveConsumed<F> {
        fn drop(&mut self) {
            // SAFETY: the old stage was just dropped in place (or its drop unwound);
            // writing over it without dropping it again is what we need.
            unsafe { ptr::write(self.0, Stage::Consumed) };
        }
    }
    let _leave = LeaveConsumed(stage);
    // SAFETY: the caller promises exclusive access to a live stage.
    unsafe { ptr::drop_in_place(stage) };
}

/// [`drop_future_in_place`], catching a panic of the destructor and returning it.
///
/// # Safety
/// As for [`drop_future_in_place`].
unsafe fn drop_future<F: Future>(stage: *mut Stage<F>) -> Option<Box<dyn Any + Send>> {
    // SAFETY: the caller's promise.
    catch_unwind(AssertUnwindSafe(|| unsafe { drop_future_in_place(stage) })).err()
}

/// `Vtable::poll`: one step of the task. Once the future is gone (it finished, panicked,
/// or was dropped because of `abort()`), the stage holds its outcome; the loop then
/// completes the task (`core.rs`), running no user code in here but the future's own.
///
/// # Safety
/// `task` is a live `Task<F>` on its loop's thread, not complete, with `RUNNING` set by
/// the loop, which holds a reference across the call (the `Vtable` contract).
unsafe fn poll<F: Future + 'static>(task: TaskPtr) -> Polled {
    // SAFETY: the loop's reference keeps the task alive; we are on its thread.
    let header = unsafe { task.header() };
    // SAFETY: this vtable belongs to a `Task<F>`.
    let stage = unsafe { stage::<F>(task) };

    let outcome = if header.state.get() & CANCELLED != 0 {
        // SAFETY: a task that is not complete holds its future; only the loop touches it.
        match unsafe { drop_future(stage) } {
            None => Err(JoinError::cancelled(header)),
            Some(payload) => Err(JoinError::panic(header, payload)),
        }
    } else {
        // Lend the task's waker: no reference count traffic on the poll path. The loop's
        // own reference backs it while the poll runs.
        // SAFETY: the loop's reference is one local reference, made on this thread.
        let running = std::mem::ManuallyDrop::new(unsafe { LocalRef::from_counted(task) });
        let waker = LentWaker::new(&running);
        let mut cx = Context::from_waker(waker.waker());
        // Poll and, once ready, drop the finished future in place at once: both under one
        // `catch_unwind`, since a panic in either is the task's panic. The pinned borrow
        // is made inside the closure, so it is dead (not a protected capture) by the time
        // the stage is dropped through the raw pointer.
        let polled = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: not complete, so `Running`; the future never moves out of the
            // allocation until it is dropped in place, so pinning it is sound. Nothing
            // else looks at the stage during the poll (handles look at the state bits).
            let future = unsafe {
                match &mut *stage {
                    Stage::Running(future) => Pin::new_unchecked(future),
                    _ => unreachable!("a task that is not complete holds its future"),
                }
            };
            match future.poll(&mut cx) {
                Poll::Ready(output) => {
                    // SAFETY: `poll` consumed our only borrow of the future, which is done
                    // with; the loop is the only one looking at the stage.
                    unsafe { drop_future_in_place(stage) };
                    Poll::Ready(output)
                }
                Poll::Pending => Poll::Pending,
            }
        }));
        match polled {
            Ok(Poll::Pending) => return Polled::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => {
                // The poll panicked (the future is still there: drop it; a second panic
                // is dropped), or the drop after `Ready` did (it left `Consumed` behind).
                // SAFETY: the unwinding poll no longer borrows the future.
                if matches!(unsafe { &*stage }, Stage::Running(_)) {
                    // SAFETY: as above.
                    let _ = unsafe { drop_future(stage) };
                }
                Err(JoinError::panic(header, payload))
            }
        }
    };
    let state = header.state.get();
    let cancelled = matches!(&outcome, Err(error) if error.is_cancelled());
    if !cancelled {
        // It finished (or panicked, even while being dropped) before the abort could take
        // effect: its state says what its handle will report.
        let panicked = if outcome.is_err() { PANICKED } else { 0 };
        header.state.set((state & !CANCELLED) | panicked);
    }
    if state & JOIN_INTEREST == 0 && (cancelled || (outcome.is_ok() && !needs_drop::<F::Output>()))
    {
        // Nobody wants it, and dropping it runs no user code: no need to keep it for the
        // loop's `drop_output`.
        drop(outcome);
        return Polled::Dropped;
    }
    // SAFETY: the stage is `Consumed` (the future was dropped): nothing to drop.
    unsafe { ptr::write(stage, Stage::Finished(outcome)) };
    Polled::Stored
}

/// Drops an outcome nobody will see, reporting an unobserved panic once on stderr
/// (asyncio's "Task exception was never retrieved").
fn discard<T>(header: &Header, outcome: Result<T, JoinError>) {
    if outcome.is_ok() && !std::mem::needs_drop::<T>() {
        return; // the common `()` output: nothing to report, nothing to drop
    }
    if let Err(error) = &outcome
        && error.is_panic()
        && header.state.get() & PANIC_OBSERVED == 0
    {
        if header.kind == Kind::Callback {
            let message = error.panic_message().unwrap_or_default();
            eprintln!("handloop: a call_soon callback panicked: {message}");
        } else {
            eprintln!("handloop: {error} (nobody awaited its JoinHandle)");
        }
    }
    if catch_unwind(AssertUnwindSafe(move || drop(outcome))).is_err() {
        eprintln!(
            "handloop: dropping the output of task '{}' (id {}) panicked",
            header.name(),
            header.id
        );
    }
}

/// `Vtable::take_output`.
///
/// # Safety
/// `task` is a live, complete `Task<F>`, on its loop's thread, and `out` points to a
/// `Poll<Result<F::Output, JoinError>>`.
unsafe fn take_output<F: Future + 'static>(task: TaskPtr, out: *mut ()) {
    // SAFETY: this vtable belongs to a `Task<F>`; the task is complete, so the loop no
    // longer touches the stage, and the handle (the only caller) is on the loop's thread.
    let stage = unsafe { &mut *stage::<F>(task) };
    match std::mem::replace(stage, Stage::Consumed) {
        // SAFETY: the handle passes a `*mut Poll<Result<F::Output, JoinError>>`.
        Stage::Finished(result) => unsafe {
            *(out as *mut Poll<Result<F::Output, JoinError>>) = Poll::Ready(result)
        },
        _ => panic!("JoinHandle polled again after it returned its output"),
    }
}

/// `Vtable::drop_output`: nobody will read the outcome (the task had no handle left when
/// it completed, or the handle is being dropped). Runs the output's destructor: the caller
/// holds a reference across the call.
///
/// # Safety
/// `task` is a live, complete `Task<F>`, on its loop's thread.
unsafe fn drop_output<F: Future + 'static>(task: TaskPtr) {
    // SAFETY: as in `take_output`; the borrow of the stage ends before user code runs.
    let outcome = std::mem::replace(unsafe { &mut *stage::<F>(task) }, Stage::Consumed);
    if let Stage::Finished(outcome) = outcome {
        // SAFETY: alive (the caller's reference), loop thread.
        discard(unsafe { task.header() }, outcome);
    }
}

/// `Vtable::dealloc`: the last reference is gone. On its own loop's thread, while the loop
/// runs, the block goes back to the loop's cache; anywhere else, to the allocator.
///
/// # Safety
/// `task` is a `Task<F>` whose every reference was given back; nothing else uses it. It is
/// complete (or it is `block_on`'s main task, whose stage holds a `Pending<()>`), so its
/// future and output were dropped on the loop's thread already and what is left to drop
/// here runs no user code and is `Send`.
unsafe fn dealloc<F: Future + 'static>(task: TaskPtr) {
    let layout = Layout::new::<Task<F>>();
    // Read before dropping the header, which holds the loop's identity and its ticket. No
    // reference into the task is kept across the drop and the free.
    // SAFETY: nobody else uses the task; its cross-thread part is still intact.
    let shared = unsafe { task.cross() }.shared_ptr();
    let ptr = task.as_ptr() as *mut Task<F>;
    // SAFETY: `ptr` came from a non-null block.
    let block = unsafe { NonNull::new_unchecked(ptr as *mut u8) };
    // SAFETY: written by `allocate`; this was the last reference, so nobody else can reach
    // it. (The header's ticket is not given back by this drop, but just below.)
    unsafe { ptr::drop_in_place(ptr) };
    let recycled = context::with_core(|core| {
        if !core.is(shared) {
            return false;
        }
        core.return_ticket();
        // SAFETY: the block was allocated for `layout` and is unused now.
        unsafe { core.blocks().recycle(block, layout) };
        true
    });
    if recycled != Some(true) {
        // SAFETY: as above.
        unsafe { release(block, layout) };
        // SAFETY: the header held one ticket of `shared`, which nothing uses now.
        unsafe { Shared::give_back(shared, 1) };
    }
}
