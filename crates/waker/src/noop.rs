//! [`noop_waker`]: a [`Waker`] whose wake does nothing.
//!
//! Useful when you drive a future by hand and will poll it again anyway (see
//! [`crate::poll_once`]). It owns nothing, so its table is four functions that do
//! nothing, in one `static`. std has the same thing as `Waker::noop()` (Rust 1.85); this
//! one is built by hand to show there is no magic.

use std::ptr;
use std::task::{RawWaker, RawWakerVTable, Waker};

/// The no-op table: cloning returns another no-op `RawWaker`, everything else does nothing.
/// Plain (safe) functions coerce to the `unsafe fn` pointers the table stores.
static NOOP_VTABLE: RawWakerVTable = RawWakerVTable::new(noop_clone, noop, noop, noop);

/// Nothing to count: the clone is another null pointer with the same table.
fn noop_clone(_data: *const ()) -> RawWaker {
    RawWaker::new(ptr::null(), &NOOP_VTABLE)
}

/// `wake`, `wake_by_ref` and `drop`: nothing to wake, nothing to free.
fn noop(_data: *const ()) {}

/// A [`Waker`] that does nothing when woken, cloned or dropped.
///
/// ```
/// let w = handloop_waker::noop_waker();
/// w.wake_by_ref(); // nothing happens
/// let w2 = w.clone();
/// assert!(w.will_wake(&w2)); // same data pointer, same table
/// ```
pub fn noop_waker() -> Waker {
    // SAFETY: no function in `NOOP_VTABLE` reads `data` (a null pointer), so there is
    // nothing for them to misuse; they are thread-safe because they do nothing; and the
    // table is a `static`, so it outlives every Waker.
    unsafe { Waker::from_raw(RawWaker::new(ptr::null(), &NOOP_VTABLE)) }
}
