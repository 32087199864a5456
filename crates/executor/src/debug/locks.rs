//! Who holds the locks that tasks wait for, for the task dump's `Lock held by #4`.
//!
//! A task waiting for a lock records only the lock's number in its header: the holder can
//! change while it waits (a release hands the lock to the task first in line, and the
//! others wait on, unpolled), so a holder recorded at the time of the wait could be stale.
//! Instead a lock that tasks have waited for keeps a [`LockRecord`], a cell this thread's
//! table also points to, and stores its holder there when a task starts waiting and at
//! each hand-off: one plain store, no lookup. The dump looks the holder up by number.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use crate::task::TaskId;

std::thread_local! {
    /// The holder cell of each lock of this thread that has a record.
    static HOLDERS: RefCell<HashMap<u64, Rc<Cell<Option<u64>>>>> =
        RefCell::new(HashMap::new());
    /// The next lock number on this thread.
    static NEXT: Cell<u64> = const { Cell::new(1) };
}

/// The task dump's view of one lock: its number, and who holds it while tasks wait for it.
/// Made by the lock the first time a task waits for it (most locks never need one), and
/// dropped with the lock. Locks are loop-local, so a record belongs to its thread (it is
/// neither `Send` nor `Sync`).
///
/// ```
/// use handloop_executor::debug::LockRecord;
///
/// let a = LockRecord::new();
/// let b = LockRecord::new();
/// assert_ne!(a.number(), b.number());
/// a.set_holder(None); // held, but not by a handloop task
/// ```
pub struct LockRecord {
    number: u64,
    holder: Rc<Cell<Option<u64>>>,
}

impl LockRecord {
    /// A record with a new number, entered in this thread's table.
    pub fn new() -> LockRecord {
        let number = NEXT.with(|next| {
            let number = next.get();
            next.set(number + 1);
            number
        });
        let holder = Rc::new(Cell::new(None));
        // `try_with`: while the thread's locals are being destroyed, the record just goes
        // unlisted (no dump can run then).
        let _ = HOLDERS.try_with(|holders| holders.borrow_mut().insert(number, holder.clone()));
        LockRecord { number, holder }
    }

    /// The lock's number, which a waiting task records
    /// ([`WaitingOn::Lock`](super::WaitingOn::Lock)).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// `holder` holds the lock (`None`: not a handloop task). Call it when a task starts
    /// waiting and when the lock is handed over while tasks wait.
    #[inline]
    pub fn set_holder(&self, holder: Option<TaskId>) {
        self.holder.set(holder.map(TaskId::as_u64));
    }
}

impl Default for LockRecord {
    fn default() -> Self {
        LockRecord::new()
    }
}

impl Drop for LockRecord {
    fn drop(&mut self) {
        let _ = HOLDERS.try_with(|holders| holders.borrow_mut().remove(&self.number));
    }
}

impl fmt::Debug for LockRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockRecord")
            .field("number", &self.number)
            .field("holder", &self.holder.get())
            .finish()
    }
}

/// The holder of lock `number`, as its record last said.
pub(crate) fn lock_holder(number: u64) -> Option<u64> {
    HOLDERS
        .try_with(|holders| {
            holders
                .borrow()
                .get(&number)
                .and_then(|holder| holder.get())
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_listed_until_dropped() {
        let record = LockRecord::new();
        let number = record.number();
        assert_eq!(lock_holder(number), None);
        record.holder.set(Some(4));
        assert_eq!(lock_holder(number), Some(4));
        drop(record);
        assert_eq!(lock_holder(number), None, "unlisted with its lock");
    }
}
