//! Telling handloop's task dump what a task waits on. On handloop's executor this records
//! `Queue.get`, `LifoQueue.put`, `Queue.join`, `oneshot.recv`, `Lock`, `Semaphore.acquire`,
//! `Event.wait`, `Condition.wait` or `Barrier.wait` in the waiting task's header (found
//! through the waker the future was polled with: two comparisons and a store); on any other
//! executor it does nothing.

use std::task::Context;

pub(crate) use handloop_executor::debug::{LockRecord, QueueKind, WaitingOn};

/// Records `what` for the task polled with `cx`, if it is a handloop task.
#[inline]
pub(crate) fn waiting_on(cx: &Context<'_>, what: WaitingOn) {
    // Under loom the executor's thread-locals are loom's, which only exist inside a model.
    #[cfg(not(loom))]
    handloop_executor::debug::record_waiting_in(cx, what);
    #[cfg(loom)]
    let _ = (cx, what);
}
