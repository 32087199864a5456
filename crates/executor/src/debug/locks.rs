//! Who holds the locks that tasks wait for, for the task dump's `Lock held by #4`.
//!
//! A task waiting for a lock records only the lock's number in its header: the holder can
//! change while it waits (a release hands the lock to the task first in line, and the
//! others wait on, unpolled), so a holder recorded at the time of the wait could be stale.
//! Instead the lock reports its holder here while tasks wait for it, and the dump looks it
//! up. A lock that no task waits for has no entry: the cost is one table write when the
//! first task starts waiting, one per hand-off, and one when the line empties.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::task::TaskId;

std::thread_local! {
    /// The holder of each lock of this thread that tasks wait for (`None`: held, but not
    /// by a handloop task).
    static HOLDERS: RefCell<HashMap<u64, Option<u64>, BuildHasherDefault<NumberHasher>>> =
        RefCell::new(HashMap::default());
    /// The next lock number on this thread.
    static NEXT: Cell<u64> = const { Cell::new(1) };
}

/// A new number for a lock of this thread, to record in a waiting task's header
/// ([`WaitingOn::Lock`](super::WaitingOn::Lock)). Locks are loop-local (they never leave
/// their thread), so numbers are per thread.
pub fn lock_number() -> u64 {
    NEXT.with(|next| {
        let number = next.get();
        next.set(number + 1);
        number
    })
}

/// Lock `lock` (a [`lock_number`]) has tasks waiting for it, and `holder` holds it: called
/// when the first task starts waiting and at each hand-off while tasks still wait.
pub fn note_lock_holder(lock: u64, holder: Option<TaskId>) {
    // `try_with`: nothing to note while the thread's locals are being destroyed.
    let _ = HOLDERS.try_with(|holders| {
        holders
            .borrow_mut()
            .insert(lock, holder.map(TaskId::as_u64));
    });
}

/// No task waits for lock `lock` any more.
pub fn forget_lock_holder(lock: u64) {
    let _ = HOLDERS.try_with(|holders| holders.borrow_mut().remove(&lock));
}

/// The holder of lock `lock`, if tasks wait for it and a task holds it.
pub(crate) fn lock_holder(lock: u64) -> Option<u64> {
    HOLDERS
        .try_with(|holders| holders.borrow().get(&lock).copied().flatten())
        .ok()
        .flatten()
}

/// Lock numbers are small and distinct: one multiplication spreads them over the table
/// (SipHash, `HashMap`'s default, would cost more than the rest of a hand-off).
#[derive(Default)]
struct NumberHasher(u64);

impl Hasher for NumberHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, number: u64) {
        self.0 = number.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_noted_and_forgotten() {
        let (a, b) = (lock_number(), lock_number());
        assert_ne!(a, b);
        assert_eq!(lock_holder(a), None);
        note_lock_holder(a, None);
        assert_eq!(lock_holder(a), None, "held outside a task");
        forget_lock_holder(a);
        assert_eq!(lock_holder(b), None);
    }
}
