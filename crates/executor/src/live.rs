//! The live-task list: every task of the loop that is not complete, oldest first, linked
//! through the task headers (no allocation per task). `all_tasks()` walks it, and the
//! loop's shutdown cancels what is on it. The list owns one reference to each of its tasks
//! (a [`LocalRef`]), given back when the task completes and leaves the list.

use std::cell::Cell;

use crate::task::header::{Header, TaskPtr};
use crate::task::refs::LocalRef;

#[derive(Default)]
pub(crate) struct LiveTasks {
    head: Cell<Option<TaskPtr>>,
    tail: Cell<Option<TaskPtr>>,
}

impl LiveTasks {
    /// Appends a new task; the list keeps `task`'s reference.
    pub(crate) fn push_back(&self, task: LocalRef) {
        let header = task.header();
        header.live_prev.set(self.tail.get());
        header.live_next.set(None);
        let task = task.into_counted();
        match self.tail.get() {
            // SAFETY: the tail is on the list, which keeps it alive; loop thread (the list
            // is not `Sync`, and `LocalRef`s are made there).
            Some(tail) => unsafe { tail.header() }.live_next.set(Some(task)),
            None => self.head.set(Some(task)),
        }
        self.tail.set(Some(task));
    }

    /// Removes a task and returns the list's reference to it.
    ///
    /// # Safety
    /// `task` is on this list.
    pub(crate) unsafe fn remove(&self, task: TaskPtr) -> LocalRef {
        // SAFETY: on the list: the caller's promise; the list's reference is ours now.
        let task = unsafe { LocalRef::from_counted(task) };
        let header = task.header();
        let (prev, next) = (header.live_prev.take(), header.live_next.take());
        match prev {
            // SAFETY: neighbours on the list are kept alive by it.
            Some(prev) => unsafe { prev.header() }.live_next.set(next),
            None => self.head.set(next),
        }
        match next {
            // SAFETY: as above.
            Some(next) => unsafe { next.header() }.live_prev.set(prev),
            None => self.tail.set(prev),
        }
        task
    }

    /// The oldest task, as a new reference of its own.
    pub(crate) fn front(&self) -> Option<LocalRef> {
        let head = self.head.get()?;
        // SAFETY: on the list, which keeps it alive; the list is on the loop's thread and
        // owns a local reference we clone.
        let listed = std::mem::ManuallyDrop::new(unsafe { LocalRef::from_counted(head) });
        Some(listed.clone_ref())
    }

    /// Calls `f` on every task, oldest first. `f` must not run user code (it may look).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        let mut next = self.head.get();
        while let Some(task) = next {
            // SAFETY: on the list, which keeps it alive (and `f` runs no code that could
            // change the list).
            let header = unsafe { task.header() };
            next = header.live_next.get();
            f(header);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.get().is_none()
    }
}

impl Drop for LiveTasks {
    fn drop(&mut self) {
        debug_assert!(self.is_empty(), "the loop's shutdown completes every task");
    }
}
