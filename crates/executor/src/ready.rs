//! The ready queue: an intrusive FIFO linked through the task headers.
//!
//! A task is in the ready queue at most once (its `NOTIFIED` bit says so), so each header
//! can carry its own `next` link: pushing and popping touch two pointers and never
//! allocate. The queue owns no references: the loop's own reference keeps every queued
//! task alive, because a queued task is never complete.

use std::cell::Cell;

use crate::task::header::TaskRef;

#[derive(Default)]
pub(crate) struct ReadyQueue {
    head: Cell<Option<TaskRef>>,
    tail: Cell<Option<TaskRef>>,
}

impl ReadyQueue {
    /// Appends a task that is not in the queue.
    pub(crate) fn push_back(&self, task: TaskRef) {
        task.header().ready_next.set(None);
        match self.tail.replace(Some(task)) {
            Some(tail) => tail.header().ready_next.set(Some(task)),
            None => self.head.set(Some(task)),
        }
    }

    /// Removes the oldest task.
    pub(crate) fn pop_front(&self) -> Option<TaskRef> {
        let task = self.head.get()?;
        let next = task.header().ready_next.take();
        self.head.set(next);
        if next.is_none() {
            self.tail.set(None);
        }
        Some(task)
    }

    /// The newest task: where the current turn ends.
    pub(crate) fn back(&self) -> Option<TaskRef> {
        self.tail.get()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.get().is_none()
    }

    pub(crate) fn len(&self) -> usize {
        let mut len = 0;
        let mut next = self.head.get();
        while let Some(task) = next {
            len += 1;
            next = task.header().ready_next.get();
        }
        len
    }

    /// Removes `target` wherever it is (a walk: only used when `block_on` unwinds).
    pub(crate) fn remove(&self, target: TaskRef) {
        let mut prev: Option<TaskRef> = None;
        let mut next = self.head.get();
        while let Some(task) = next {
            next = task.header().ready_next.get();
            if task == target {
                match prev {
                    Some(prev) => prev.header().ready_next.set(next),
                    None => self.head.set(next),
                }
                if next.is_none() {
                    self.tail.set(prev);
                }
                return;
            }
            prev = Some(task);
        }
    }

    /// Forgets every entry (the tasks are being completed by the loop's shutdown).
    pub(crate) fn clear(&self) {
        self.head.set(None);
        self.tail.set(None);
    }
}
