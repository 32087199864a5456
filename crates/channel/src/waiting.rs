//! Telling handloop's task dump what a task waits on. On handloop's executor this records
//! `Queue.get`, `LifoQueue.put`, `Queue.join`, `oneshot.recv`, `Lock`, `Semaphore.acquire`,
//! `Event.wait`, `Condition.wait` or `Barrier.wait` in the waiting task's header (a few
//! plain stores); on any other executor it does nothing.

pub(crate) use handloop_executor::debug::{QueueKind, WaitingOn};
use handloop_executor::task::TaskId;

/// Records `what` for the task being polled, if it is a handloop task.
#[inline]
pub(crate) fn waiting_on(what: WaitingOn) {
    // Under loom the executor's thread-locals are loom's, which only exist inside a model.
    #[cfg(not(loom))]
    handloop_executor::debug::record_waiting(what);
    #[cfg(loom)]
    let _ = what;
}

/// A new number for a lock, for [`WaitingOn::Lock`].
pub(crate) fn lock_number() -> u64 {
    handloop_executor::debug::lock_number()
}

/// Tasks wait for lock `lock`, which `holder` holds (the dump looks the holder up).
#[cold]
pub(crate) fn note_lock_holder(lock: u64, holder: Option<TaskId>) {
    handloop_executor::debug::note_lock_holder(lock, holder);
}

/// No task waits for lock `lock` any more.
#[cold]
pub(crate) fn forget_lock_holder(lock: u64) {
    handloop_executor::debug::forget_lock_holder(lock);
}
