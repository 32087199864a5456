//! `ArcWake` and [`waker`]: a [`Waker`] built by hand from a [`RawWakerVTable`].
//!
//! A `Waker` is two pointers: `data` (here: an `Arc<W>` turned into a raw pointer with
//! [`Arc::into_raw`]) and a table of four functions that say what `clone`, `wake`,
//! `wake_by_ref` and `drop` do with that pointer. Each `Waker` value owns exactly one
//! strong reference of the `Arc`, so the four functions must keep the count exact:
//!
//! | operation            | who gives up what                       | strong count |
//! |----------------------|-----------------------------------------|--------------|
//! | `waker.clone()`      | nothing; the new `Waker` owns a new ref | +1           |
//! | `waker.wake()`       | the `Waker` (and its ref) is consumed   | −1           |
//! | `waker.wake_by_ref()`| nothing; it only borrows                | 0            |
//! | `drop(waker)`        | the `Waker`'s ref                       | −1           |
//!
//! This is the only module (with [`crate::counting`]'s and [`crate::noop`]'s tables)
//! that needs `unsafe`. The idea and the shape come from `futures-task`'s `ArcWake`;
//! std has the same thing as `std::task::Wake` with `Waker::from(Arc<W>)`.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

/// A value that knows how to wake a task, shared through an [`Arc`].
///
/// Implement [`wake_by_ref`](ArcWake::wake_by_ref) (and optionally
/// [`wake`](ArcWake::wake)), then turn an `Arc` of your value into a [`Waker`] with
/// [`waker`]. In asyncio terms, this is whatever puts a paused task back on the ready
/// queue: the waker's job is to say "poll this again".
pub trait ArcWake: Send + Sync + 'static {
    /// Wake without giving up a reference: called by [`Waker::wake_by_ref`].
    fn wake_by_ref(self: &Arc<Self>);

    /// Wake and give up this reference: called by [`Waker::wake`], which consumes the
    /// `Waker`. The default wakes by reference, then drops `self` (one reference).
    /// Override it when owning the `Arc` saves work, e.g. to move it into a queue
    /// without cloning.
    fn wake(self: Arc<Self>) {
        Self::wake_by_ref(&self)
    }
}

/// Turns an `Arc<W>` into a [`Waker`]. The `Waker` takes over the `Arc`'s reference:
/// the strong count does not change, and dropping the `Waker` gives the reference back.
///
/// ```
/// use std::sync::Arc;
/// use handloop_waker::{ArcWake, waker};
///
/// struct Hello;
/// impl ArcWake for Hello {
///     fn wake_by_ref(self: &Arc<Self>) {
///         println!("hello from wake");
///     }
/// }
///
/// let hello = Arc::new(Hello);
/// let w = waker(hello.clone());
/// assert_eq!(Arc::strong_count(&hello), 2); // `hello` and the Waker
/// w.wake(); // prints, and gives the Waker's reference back
/// assert_eq!(Arc::strong_count(&hello), 1);
/// ```
pub fn waker<W: ArcWake>(w: Arc<W>) -> Waker {
    let data = Arc::into_raw(w).cast::<()>();
    // SAFETY: `data` comes from `Arc::<W>::into_raw` and carries one strong reference,
    // which this Waker now owns. The table for `W` (see each function below) treats
    // `data` as exactly that: clone adds a reference, wake and drop give this one back,
    // wake_by_ref borrows it. `W: Send + Sync + 'static`, so the Waker may be sent,
    // shared and kept as long as anyone likes, as `Waker` allows.
    unsafe { Waker::from_raw(RawWaker::new(data, vtable::<W>())) }
}

/// The four functions for `Arc<W>`, one table per type `W`.
fn vtable<W: ArcWake>() -> &'static RawWakerVTable {
    // `&` of a constant expression: the compiler puts one table per `W` in static memory
    // (constant promotion), so the reference lives for `'static`.
    &RawWakerVTable::new(
        clone_raw::<W>,
        wake_raw::<W>,
        wake_by_ref_raw::<W>,
        drop_raw::<W>,
    )
}

/// `Waker::clone`: one more `Waker`, so one more reference.
///
/// # Safety
/// `data` must come from `Arc::<W>::into_raw`, and the `Waker` being cloned (which owns
/// one reference) must be alive during the call. Both hold for every `Waker` made by
/// [`waker`], because `clone` borrows that `Waker`.
unsafe fn clone_raw<W: ArcWake>(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live `Arc<W>` pointer (see above) and its count is at least
    // 1 (the borrowed Waker's reference), so adding one is allowed. The new reference
    // belongs to the returned RawWaker: count +1, matching one more Waker.
    unsafe { Arc::increment_strong_count(data.cast::<W>()) };
    RawWaker::new(data, vtable::<W>())
}

/// `Waker::wake`: the `Waker` is consumed, so its reference goes with it.
///
/// # Safety
/// As for [`clone_raw`]; in addition the caller gives up the `Waker`, which std guarantees:
/// `Waker::wake(self)` forgets `self` instead of also running `drop`.
unsafe fn wake_raw<W: ArcWake>(data: *const ()) {
    // SAFETY: the consumed Waker owned one reference; `from_raw` takes it over, so the
    // count is unchanged here. `ArcWake::wake` then owns the Arc and drops it (or
    // moves it somewhere) when done: count −1 in total, matching one Waker fewer.
    let arc = unsafe { Arc::<W>::from_raw(data.cast::<W>()) };
    W::wake(arc);
}

/// `Waker::wake_by_ref`: the `Waker` lives on, so its reference must stay.
///
/// # Safety
/// As for [`clone_raw`].
unsafe fn wake_by_ref_raw<W: ArcWake>(data: *const ()) {
    // SAFETY: `data` is a live `Arc<W>` pointer whose reference belongs to the borrowed
    // Waker. We borrow it for the call: `ManuallyDrop` keeps this temporary Arc from
    // running its destructor, so the count is unchanged (even if `wake_by_ref` panics).
    let arc = ManuallyDrop::new(unsafe { Arc::<W>::from_raw(data.cast::<W>()) });
    W::wake_by_ref(&arc);
}

/// `drop(waker)`: one `Waker` fewer, so one reference fewer.
///
/// # Safety
/// As for [`clone_raw`]; std calls this exactly once per `Waker` that was not consumed by
/// `wake`, so this reference is released once.
unsafe fn drop_raw<W: ArcWake>(data: *const ()) {
    // SAFETY: the dropped Waker owned one reference to this live `Arc<W>`; releasing it
    // here is the last use of that reference: count −1. If it was the last one, `W` is
    // dropped and freed, as with any `Arc`.
    unsafe { Arc::decrement_strong_count(data.cast::<W>()) };
}
