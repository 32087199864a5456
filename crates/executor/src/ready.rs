//! The ready queue: an intrusive FIFO linked through the task headers.
//!
//! A task is in the ready queue at most once (its `NOTIFIED` bit says so), so each header
//! can carry its own `next` link: pushing and popping touch two pointers and never
//! allocate. Each entry owns a reference to its task (a [`Notified`]), so a queued task
//! stays allocated whatever happens to its other references.

use std::cell::Cell;

use crate::task::header::{Header, TaskPtr};
use crate::task::refs::Notified;

#[derive(Default)]
pub(crate) struct ReadyQueue {
    head: Cell<Option<TaskPtr>>,
    tail: Cell<Option<TaskPtr>>,
}

impl ReadyQueue {
    /// Appends a task that is not in the queue.
    #[inline]
    pub(crate) fn push_back(&self, task: Notified) {
        task.header().ready_next.set(None);
        let task = task.into_counted();
        match self.tail.replace(Some(task)) {
            // SAFETY: the tail is in the queue, whose entry keeps it alive; we are on the
            // loop's thread (the queue is not `Sync`, and `Notified`s are made there).
            Some(tail) => unsafe { tail.header() }.ready_next.set(Some(task)),
            None => self.head.set(Some(task)),
        }
    }

    /// Removes the oldest task.
    #[inline]
    pub(crate) fn pop_front(&self) -> Option<Notified> {
        let task = self.head.get()?;
        // SAFETY: `task` was the head: the queue owned a reference for it, which we take.
        let task = unsafe { Notified::from_counted(task) };
        let next = task.header().ready_next.take();
        self.head.set(next);
        if next.is_none() {
            self.tail.set(None);
        }
        Some(task)
    }

    /// The newest task: where the current turn ends (compared by address only).
    pub(crate) fn back(&self) -> Option<TaskPtr> {
        self.tail.get()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.get().is_none()
    }

    /// Calls `f` on every task queued after `tail` (a task still in the queue), or on
    /// every task if `tail` is `None`: what arrived since the caller noted the tail (debug
    /// mode learns of wakes and spawns this way, without a hook on their paths). `f` must
    /// not run user code.
    pub(crate) fn for_each_after(&self, tail: Option<TaskPtr>, mut f: impl FnMut(&Header)) {
        let mut next = match tail {
            // SAFETY: the caller's `tail` is still in the queue, whose entry keeps it alive.
            Some(tail) => unsafe { tail.header() }.ready_next.get(),
            None => self.head.get(),
        };
        while let Some(task) = next {
            // SAFETY: every task in the queue is kept alive by its entry.
            let header = unsafe { task.header() };
            next = header.ready_next.get();
            f(header);
        }
    }

    pub(crate) fn len(&self) -> usize {
        let mut len = 0;
        let mut next = self.head.get();
        while let Some(task) = next {
            len += 1;
            // SAFETY: every task in the queue is kept alive by its entry.
            next = unsafe { task.header() }.ready_next.get();
        }
        len
    }

    /// Removes `target` wherever it is, and returns its entry (a walk: only used when
    /// `block_on` returns or unwinds with its main task still queued).
    pub(crate) fn remove(&self, target: TaskPtr) -> Option<Notified> {
        let mut prev: Option<TaskPtr> = None;
        let mut next = self.head.get();
        while let Some(task) = next {
            // SAFETY: every task in the queue is kept alive by its entry.
            next = unsafe { task.header() }.ready_next.get();
            if task == target {
                match prev {
                    // SAFETY: as above.
                    Some(prev) => unsafe { prev.header() }.ready_next.set(next),
                    None => self.head.set(next),
                }
                if next.is_none() {
                    self.tail.set(prev);
                }
                // SAFETY: unlinked just above; its entry's reference is ours now.
                return Some(unsafe { Notified::from_counted(task) });
            }
            prev = Some(task);
        }
        None
    }
}

impl Drop for ReadyQueue {
    fn drop(&mut self) {
        // The loop's shutdown empties the queue; entries left here would leak.
        debug_assert!(self.is_empty(), "the ready queue is drained at shutdown");
    }
}
