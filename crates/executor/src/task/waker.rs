//! A task's `Waker`: step 1's hand-written vtable, over the task header.
//!
//! The data pointer of every task waker is the header's address. There are two vtables,
//! which differ only in where the waker's reference is counted (see `header.rs`):
//!
//! - [`LOCAL`]: in the plain `local` count of the loop's thread. A waker made on the loop's
//!   thread while the loop runs there, for a task that is not complete, is local: cloning,
//!   waking and dropping it there is a few plain writes.
//! - [`SHARED`]: in the atomic `refs`. A clone made anywhere else (another thread, or
//!   after the task completed) is shared.
//!
//! A local waker that leaves the thread still works. Off the loop, cloning it makes a
//! shared clone; waking it goes through the remote queue like any remote wake; dropping
//! it sends its reference to the loop in a release entry, unless the task completed and
//! its wakers already count atomically.
//!
//! Every function below receives the data pointer of a waker made by this module. A waker
//! that exists (lent for a poll, or owning a reference) keeps the task alive while its
//! functions run. That is their shared `# Safety` contract, the one `RawWakerVTable`
//! states: `ptr` comes from this module and its waker is alive.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::task::{RawWaker, RawWakerVTable, Waker};

use crate::context;
use crate::remote::Remote;
use crate::task::header::{CrossThread, TaskPtr};
use crate::task::refs::{LocalRef, RemoteRef, WakerRelease};

/// Wakers whose reference counts on the loop's thread.
static LOCAL: RawWakerVTable =
    RawWakerVTable::new(local_clone, local_wake, local_wake_by_ref, local_drop);

/// Wakers whose reference counts atomically.
static SHARED: RawWakerVTable =
    RawWakerVTable::new(shared_clone, shared_wake, shared_wake_by_ref, shared_drop);

/// The task behind a waker, if it is one of handloop's task wakers (of any loop). The
/// pointer owns nothing: the waker keeps the task alive while it is borrowed.
#[inline]
pub(crate) fn task_of(waker: &Waker) -> Option<TaskPtr> {
    let vtable = waker.vtable();
    if std::ptr::eq(vtable, &LOCAL) || std::ptr::eq(vtable, &SHARED) {
        // SAFETY: the data pointer of a waker with one of our vtables is a task header.
        Some(unsafe { TaskPtr::from_raw(waker.data()) })
    } else {
        None
    }
}

/// Whether `waker` is a loop-thread waker of `task` (what the loop lends a poll of it, or
/// a clone that counts locally). Only compares pointers.
#[inline]
pub(crate) fn is_local_waker_of(waker: &Waker, task: TaskPtr) -> bool {
    std::ptr::eq(waker.vtable(), &LOCAL) && std::ptr::eq(waker.data(), task.as_ptr())
}

/// The waker the loop lends to one poll: it owns no reference (it borrows the running
/// one, which the `'a` ties it to) and is never dropped; only its clones count.
pub(crate) struct LentWaker<'a> {
    waker: ManuallyDrop<Waker>,
    _task: PhantomData<&'a LocalRef>,
}

impl<'a> LentWaker<'a> {
    /// Lends a waker for the task `task` refers to.
    pub(crate) fn new(task: &'a LocalRef) -> LentWaker<'a> {
        let raw = RawWaker::new(task.ptr().as_ptr(), &LOCAL);
        // SAFETY: the LOCAL vtable's contract holds for a live task pointer: `task` keeps
        // the task alive for `'a`, and the waker is never dropped (it owns nothing), only
        // cloned, woken by reference, or compared.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        LentWaker {
            waker,
            _task: PhantomData,
        }
    }

    /// The waker, to build a `Context` from.
    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }
}

/// Runs `f` if the loop that owns the task is running on this thread (so this thread may
/// touch the task's loop-thread fields), and says whether it did. `f` may give the
/// caller's reference back: no reference into the task is held across it.
///
/// # Safety
/// The caller holds a reference to the task until `f` runs (or this returns).
#[inline]
unsafe fn on_own_loop(task: TaskPtr, f: impl FnOnce(&crate::core::Core)) -> bool {
    // SAFETY: the caller's reference keeps the task alive; the pointer is read, not kept.
    let shared = unsafe { task.cross() }.shared_ptr();
    context::with_core(|core| {
        if core.is(shared) {
            f(core);
            true
        } else {
            false
        }
    })
    .unwrap_or(false)
}

/// The wake itself, from any thread: on the task's own running loop, the local schedule;
/// anywhere else, the remote queue.
///
/// # Safety
/// The caller holds a reference to the task (any kind) for the duration of the call.
#[inline]
unsafe fn wake_by_ref(task: TaskPtr) {
    // SAFETY: the caller's reference keeps the task alive; `core` owns it.
    let woken = unsafe { on_own_loop(task, |core| core.schedule(task)) };
    if !woken {
        // SAFETY: as above.
        unsafe { wake_remote(task, task.cross()) };
    }
}

/// The cross-thread wake: an entry (with its own reference) on the loop's remote queue,
/// then an unpark. The caller's reference keeps the task, hence its ticket on `Shared`,
/// alive until both are done.
///
/// # Safety
/// The caller holds a reference to the task for the duration of the call.
#[cold]
unsafe fn wake_remote(task: TaskPtr, cross: CrossThread<'_>) {
    if cross
        .remote_notified()
        .swap(true, crate::sync::Ordering::AcqRel)
    {
        return; // already waiting in the remote queue
    }
    // SAFETY: the caller holds a reference.
    let entry = unsafe { RemoteRef::new(task) };
    let shared = cross.shared();
    match shared.remote.push(Remote::Wake(entry)) {
        Ok(()) => shared.unparker.unpark(),
        // The loop is gone: its tasks are all complete. The entry gives its reference back
        // (not the last: ours is still held).
        Err(entry) => drop(entry),
    }
}

/// Gives back a local waker reference on the loop's thread.
///
/// # Safety
/// On the task's loop thread; the caller owns one local waker reference and does not use
/// the task afterwards.
#[inline]
pub(crate) unsafe fn release_on_loop(task: TaskPtr) {
    // SAFETY: on the loop's thread; our reference keeps the task alive.
    let header = unsafe { task.header() };
    if header.is_complete() {
        // Completion moved the local wakers into `refs`.
        // SAFETY: our reference counts in `refs` now.
        unsafe { task.release_ref() };
    } else {
        header.wakers.set(header.wakers.get() - 1);
        // SAFETY: we own one local reference.
        unsafe { task.release_local() };
    }
}

/// Gives back a local waker reference off the loop's thread, waking the task first if
/// `wake`: the reference travels to the loop in an entry of its remote queue, unless the
/// task's wakers count atomically already.
///
/// # Safety
/// The caller owns one local waker reference and does not use the task afterwards.
#[cold]
unsafe fn release_off_loop(task: TaskPtr, wake: bool) {
    // SAFETY: our reference keeps the task alive.
    let cross = unsafe { task.cross() };
    if cross.wakers_in_refs().load(crate::sync::Ordering::Acquire) {
        if wake {
            // SAFETY: we hold a reference.
            unsafe { wake_remote(task, cross) };
        }
        // SAFETY: our reference counts in `refs`.
        unsafe { task.release_ref() };
        return;
    }
    // Our reference goes into the entry; this one keeps the task (and `Shared`) alive
    // until we are done with the queue and the unpark.
    // SAFETY: we hold a reference.
    let keep = unsafe { RemoteRef::new(task) };
    let wake = wake
        && !cross
            .remote_notified()
            .swap(true, crate::sync::Ordering::AcqRel);
    // SAFETY: we hand over our local waker reference.
    let release = unsafe { WakerRelease::new(task) };
    let shared = cross.shared();
    match shared.remote.push(Remote::Waker { release, wake }) {
        Ok(()) if wake => shared.unparker.unpark(),
        Ok(()) => {} // nothing to run: the loop applies it on its next turn
        // The loop is gone (and completed the task first): the entry gives the reference
        // back atomically as it is dropped.
        Err(entry) => drop(entry),
    }
    drop(keep);
}

/// # Safety
/// `ptr` is the data of a live waker made by this module.
unsafe fn local_clone(ptr: *const ()) -> RawWaker {
    // SAFETY: `ptr` is a live task header (see above).
    let task = unsafe { TaskPtr::from_raw(ptr) };
    let mut local = false;
    let count_locally = |_: &crate::core::Core| {
        // SAFETY: on the task's loop thread; the waker being cloned keeps the task alive.
        let header = unsafe { task.header() };
        if !header.is_complete() {
            // SAFETY: as above; the waker holds a reference (or the poll lends it one).
            unsafe { header.local_inc() };
            header.wakers.set(header.wakers.get() + 1);
            local = true;
        }
    };
    // SAFETY: the waker being cloned keeps the task alive.
    unsafe { on_own_loop(task, count_locally) };
    if local {
        RawWaker::new(ptr, &LOCAL)
    } else {
        // SAFETY: as above.
        unsafe { task.cross() }.ref_inc();
        RawWaker::new(ptr, &SHARED)
    }
}

/// # Safety
/// `ptr` is the data of a live waker made by this module, which owns a reference.
unsafe fn local_wake(ptr: *const ()) {
    // SAFETY: `ptr` is a live task header; this waker owns the reference it gives back.
    let task = unsafe { TaskPtr::from_raw(ptr) };
    // SAFETY: our reference keeps the task alive and `core` owns it; the reference goes to
    // the ready queue or is given back.
    let done = unsafe { on_own_loop(task, |core| core.schedule_by_value(task)) };
    if !done {
        // SAFETY: we own a local waker reference and give it back.
        unsafe { release_off_loop(task, true) };
    }
}

/// # Safety
/// `ptr` is the data of a live waker made by this module.
unsafe fn local_wake_by_ref(ptr: *const ()) {
    // SAFETY: `ptr` is a live task header; the waker holds it for the call.
    unsafe { wake_by_ref(TaskPtr::from_raw(ptr)) };
}

/// # Safety
/// `ptr` is the data of a live waker made by this module, which owns a reference.
unsafe fn local_drop(ptr: *const ()) {
    // SAFETY: `ptr` is a live task header; this waker owns the reference it gives back.
    let task = unsafe { TaskPtr::from_raw(ptr) };
    // SAFETY: on the loop's thread (checked), we give our reference back.
    let done = unsafe { on_own_loop(task, |_| release_on_loop(task)) };
    if !done {
        // SAFETY: we own a local waker reference and give it back.
        unsafe { release_off_loop(task, false) };
    }
}

/// # Safety
/// `ptr` is the data of a live waker made by this module.
unsafe fn shared_clone(ptr: *const ()) -> RawWaker {
    // SAFETY: `ptr` is a live task header; the waker being cloned keeps it alive.
    unsafe { TaskPtr::from_raw(ptr).cross() }.ref_inc();
    RawWaker::new(ptr, &SHARED)
}

/// # Safety
/// `ptr` is the data of a live waker made by this module, which owns an atomic reference.
unsafe fn shared_wake(ptr: *const ()) {
    // SAFETY: `ptr` is a live task header; this waker holds its reference through the
    // wake, then gives it back.
    unsafe {
        let task = TaskPtr::from_raw(ptr);
        wake_by_ref(task);
        task.release_ref();
    }
}

/// # Safety
/// `ptr` is the data of a live waker made by this module.
unsafe fn shared_wake_by_ref(ptr: *const ()) {
    // SAFETY: `ptr` is a live task header; the waker holds it for the call.
    unsafe { wake_by_ref(TaskPtr::from_raw(ptr)) };
}

/// # Safety
/// `ptr` is the data of a live waker made by this module, which owns an atomic reference.
unsafe fn shared_drop(ptr: *const ()) {
    // SAFETY: `ptr` is a live task header; this waker owns the reference it gives back.
    unsafe { TaskPtr::from_raw(ptr).release_ref() };
}
