//! Owned references to a task: values that keep it alive and give their reference back when
//! dropped. Who owns what is in these types, not in comments (as async-task's `Runnable`
//! and `Task`, and tokio's `Notified` and `UnownedTask`, do it):
//!
//! | type | owned by | counted in | thread |
//! |---|---|---|---|
//! | [`LocalRef`] | the live-task list, a `JoinHandle`, an `AbortHandle`, `block_on`'s main task | `local` | the loop's |
//! | [`Notified`] | the ready queue, then the loop while it polls the task | `local` | the loop's |
//! | [`RemoteRef`] | a wake entry in the remote queue | `refs` | any |
//! | [`WakerRelease`] | a release entry: a local waker dropped off the loop | `local` (its waker's) | any, applied on the loop's |
//!
//! Wakers own references too, through the raw pointer of a `RawWaker` (`waker.rs`).

use std::fmt;
use std::marker::PhantomData;

use crate::core::Core;
use crate::sync::Ordering;
use crate::task::header::{Header, TaskPtr};

/// A reference counted on the loop's thread. Neither `Send` nor `Sync`: it is made on the
/// loop's thread and stays there, so touching the plain `local` count is sound whether or
/// not the loop is running.
pub(crate) struct LocalRef {
    ptr: TaskPtr,
    _loop_thread: PhantomData<*const ()>,
}

impl LocalRef {
    /// Takes a new local reference to a task of the running loop `core`.
    ///
    /// # Safety
    /// The caller holds a reference to the task (so it is alive) and `core` owns it.
    #[inline]
    pub(crate) unsafe fn new(core: &Core, ptr: TaskPtr) -> LocalRef {
        // SAFETY: the caller's reference keeps the task alive; `core` is borrowed on its
        // own thread (it is not `Sync`) and owns the task, so this is the loop's thread.
        let header = unsafe { ptr.header() };
        debug_assert!(
            core.owns(header),
            "a local reference is taken on the task's loop"
        );
        // SAFETY: as above.
        unsafe { header.local_inc() };
        LocalRef {
            ptr,
            _loop_thread: PhantomData,
        }
    }

    /// Adopts a local reference already counted (a new task's, or one parked in a list).
    ///
    /// # Safety
    /// The caller owns one local reference to the task, on its loop's thread, and hands it
    /// over.
    #[inline]
    pub(crate) unsafe fn from_counted(ptr: TaskPtr) -> LocalRef {
        LocalRef {
            ptr,
            _loop_thread: PhantomData,
        }
    }

    /// Gives up the value without giving the reference back: whoever stores the pointer
    /// (an intrusive list) now owns it.
    #[inline]
    pub(crate) fn into_counted(self) -> TaskPtr {
        let ptr = self.ptr;
        std::mem::forget(self);
        ptr
    }

    /// The task's header, for as long as this reference is borrowed.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: this reference keeps the task alive, and it lives on the loop's thread.
        unsafe { self.ptr.header() }
    }

    /// The task's pointer (to compare, or to make a waker from).
    #[inline]
    pub(crate) fn ptr(&self) -> TaskPtr {
        self.ptr
    }

    /// Another local reference to the same task.
    #[inline]
    pub(crate) fn clone_ref(&self) -> LocalRef {
        // SAFETY: on the loop's thread (a `LocalRef` never leaves it), and we hold one.
        unsafe { self.header().local_inc() };
        LocalRef {
            ptr: self.ptr,
            _loop_thread: PhantomData,
        }
    }
}

impl Drop for LocalRef {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: on the loop's thread; we own one local reference and give it back.
        unsafe { self.ptr.release_local() };
    }
}

impl fmt::Debug for LocalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LocalRef").field(&self.ptr).finish()
    }
}

/// The ready queue's reference to a task: a task is in the queue at most once (its
/// `NOTIFIED` bit says so), and the entry keeps it alive until the loop has popped and
/// polled it (or dropped the entry at shutdown). Only the loop makes one.
pub(crate) struct Notified(LocalRef);

impl Notified {
    /// Takes a new reference for the ready queue.
    ///
    /// # Safety
    /// As for [`LocalRef::new`].
    #[inline]
    pub(crate) unsafe fn new(core: &Core, ptr: TaskPtr) -> Notified {
        // SAFETY: the caller's promise.
        Notified(unsafe { LocalRef::new(core, ptr) })
    }

    /// Wraps a local reference the caller hands over (a new task's first entry).
    #[inline]
    pub(crate) fn from_local(local: LocalRef) -> Notified {
        Notified(local)
    }

    /// Gives up the value; the ready queue's link now owns the reference.
    #[inline]
    pub(crate) fn into_counted(self) -> TaskPtr {
        self.0.into_counted()
    }

    /// Adopts the reference the ready queue's link owned.
    ///
    /// # Safety
    /// `ptr` was unlinked from the ready queue, which owned one local reference for it.
    #[inline]
    pub(crate) unsafe fn from_counted(ptr: TaskPtr) -> Notified {
        // SAFETY: the caller's promise.
        Notified(unsafe { LocalRef::from_counted(ptr) })
    }

    /// The task's header, for as long as this reference is borrowed.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        self.0.header()
    }

    /// The task's pointer.
    #[inline]
    pub(crate) fn ptr(&self) -> TaskPtr {
        self.0.ptr()
    }
}

impl fmt::Debug for Notified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Notified").field(&self.0.ptr).finish()
    }
}

/// A reference counted in the atomic `refs`, held by a wake entry in the remote
/// queue. `Send`: made on a waking thread, given back on the loop's thread (or on the waking
/// thread, if the loop is gone). It reaches only the cross-thread part of the header.
pub(crate) struct RemoteRef(TaskPtr);

// SAFETY: a `RemoteRef` only ever touches the header's `CrossThread` part (atomics and
// immutable fields) from the thread that holds it; the loop's thread reaches the rest
// through `header_on_loop`, which needs the loop.
unsafe impl Send for RemoteRef {}

impl RemoteRef {
    /// Takes one more atomic reference.
    ///
    /// # Safety
    /// The caller holds a reference to the task (any kind) for the duration of the call.
    pub(crate) unsafe fn new(ptr: TaskPtr) -> RemoteRef {
        // SAFETY: the caller's reference keeps the task alive.
        unsafe { ptr.cross() }.ref_inc();
        RemoteRef(ptr)
    }

    /// The task's pointer.
    #[inline]
    pub(crate) fn ptr(&self) -> TaskPtr {
        self.0
    }
}

impl Drop for RemoteRef {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own one atomic reference and give it back.
        unsafe { self.0.release_ref() };
    }
}

impl fmt::Debug for RemoteRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RemoteRef").field(&self.0).finish()
    }
}

/// A local waker's reference, dropped off the loop's thread while its task was not
/// complete: it cannot touch `local` there, so it travels to the loop through the remote
/// queue. `Send`.
pub(crate) struct WakerRelease(TaskPtr);

// SAFETY: off the loop's thread a `WakerRelease` touches only the header's `CrossThread`
// part (in `drop`, once the task's wakers count in `refs`); the loop applies it on its own
// thread.
unsafe impl Send for WakerRelease {}

impl WakerRelease {
    /// Takes over the reference of a local waker being dropped off the loop.
    ///
    /// # Safety
    /// The caller owns one local waker reference to the task and hands it over.
    pub(crate) unsafe fn new(ptr: TaskPtr) -> WakerRelease {
        WakerRelease(ptr)
    }

    /// The task's pointer.
    #[inline]
    pub(crate) fn ptr(&self) -> TaskPtr {
        self.0
    }

    /// Gives the reference back on the loop's thread: to `local` while the task is not
    /// complete, to `refs` once completion moved the wakers there.
    pub(crate) fn apply(self, core: &Core) {
        let ptr = self.0;
        std::mem::forget(self);
        // SAFETY: the waker's reference keeps the task alive.
        let cross = unsafe { ptr.cross() };
        assert!(
            core.owns_cross(cross),
            "a release entry is applied by its own loop"
        );
        // SAFETY: `core` is borrowed on its own thread (it is not `Sync`) and owns the
        // task, so this is the task's loop thread; we own one local waker reference.
        unsafe { crate::task::waker::release_on_loop(ptr) };
    }
}

impl Drop for WakerRelease {
    /// Only reached off the loop, when the remote queue refused the entry (the loop is
    /// gone): the loop completed every task before closing its queue, so the reference
    /// counts in `refs` by now.
    fn drop(&mut self) {
        // SAFETY: the waker's reference keeps the task alive.
        let converted = unsafe { self.0.cross() }
            .wakers_in_refs()
            .load(Ordering::Acquire);
        assert!(
            converted,
            "handloop: a waker release was dropped before its task completed"
        );
        // SAFETY: the reference counts in `refs`; we give it back.
        unsafe { self.0.release_ref() };
    }
}

impl fmt::Debug for WakerRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WakerRelease").field(&self.0).finish()
    }
}
