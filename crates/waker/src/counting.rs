//! [`CountingWaker`]: a waker that counts what is done to it.
//!
//! Its table does what [`crate::waker`]'s does for an `Arc` (see `arc_wake.rs`), and
//! also counts each call, so tests and the chapter can watch an executor or a future
//! clone, wake and drop wakers. Waking it does nothing else.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{RawWaker, RawWakerVTable, Waker};

/// The shared value behind counting wakers: create it with [`CountingWaker::new`], make
/// wakers with [`waker`](CountingWaker::waker), read the numbers with
/// [`counts`](CountingWaker::counts).
///
/// ```
/// use handloop_waker::{CountingWaker, Counts};
///
/// let counting = CountingWaker::new();
/// let w = counting.waker();
/// let w2 = w.clone();
/// w2.wake();
/// w.wake_by_ref();
/// drop(w);
/// assert_eq!(
///     counting.counts(),
///     Counts { clones: 1, wakes: 1, wake_by_refs: 1, drops: 1, strong_count: 1 },
/// );
/// ```
#[derive(Debug, Default)]
pub struct CountingWaker {
    clones: AtomicUsize,
    wakes: AtomicUsize,
    wake_by_refs: AtomicUsize,
    drops: AtomicUsize,
}

/// What happened to the wakers of one [`CountingWaker`] so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Calls to `Waker::clone` (each added one reference).
    pub clones: usize,
    /// Calls to `Waker::wake` (each consumed a `Waker` and its reference).
    pub wakes: usize,
    /// Calls to `Waker::wake_by_ref` (no reference changed hands).
    pub wake_by_refs: usize,
    /// `Waker`s dropped without being woken (each gave back one reference).
    pub drops: usize,
    /// The `Arc`'s strong count right now: your `Arc<CountingWaker>` handle(s) plus one
    /// per live `Waker`.
    pub strong_count: usize,
}

impl CountingWaker {
    /// A fresh counter with every count at zero, behind an `Arc` you keep as a handle.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A new `Waker` holding one more reference to this counter. Making it is not
    /// counted as a clone (it is the first of its line); the strong count shows it.
    pub fn waker(self: &Arc<Self>) -> Waker {
        let data = Arc::into_raw(Arc::clone(self)).cast::<()>();
        // SAFETY: `data` is an `Arc<CountingWaker>` pointer owning one reference, now
        // the Waker's. `COUNTING_VTABLE`'s functions keep the count exact (see each
        // one), `CountingWaker` is `Send + Sync` (atomics only) and the table is static.
        unsafe { Waker::from_raw(RawWaker::new(data, &COUNTING_VTABLE)) }
    }

    /// A snapshot of the counts.
    pub fn counts(self: &Arc<Self>) -> Counts {
        Counts {
            clones: self.clones.load(Relaxed),
            wakes: self.wakes.load(Relaxed),
            wake_by_refs: self.wake_by_refs.load(Relaxed),
            drops: self.drops.load(Relaxed),
            strong_count: Arc::strong_count(self),
        }
    }
}

static COUNTING_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

/// Borrows the counter behind `data` for the length of one call.
///
/// # Safety
/// `data` must come from `Arc::<CountingWaker>::into_raw` with a reference owned by a
/// `Waker` that is alive for the whole call. All four functions below are only called
/// by std with the `data` of a live Waker made by [`CountingWaker::waker`].
unsafe fn borrow_counter(data: *const ()) -> ManuallyDrop<Arc<CountingWaker>> {
    // SAFETY: per this function's contract `data` is a live `Arc<CountingWaker>`
    // pointer. `ManuallyDrop` keeps this temporary Arc from giving back a reference it
    // does not own: the count is unchanged.
    ManuallyDrop::new(unsafe { Arc::from_raw(data.cast::<CountingWaker>()) })
}

/// `Waker::clone`: count it, then add the new Waker's reference.
///
/// # Safety
/// As for [`borrow_counter`].
unsafe fn clone_raw(data: *const ()) -> RawWaker {
    // SAFETY: `data` is the data of the live Waker being cloned (`borrow_counter`'s contract).
    let counter = unsafe { borrow_counter(data) };
    counter.clones.fetch_add(1, Relaxed);
    // One more reference, owned by the returned RawWaker: count +1.
    let _new_ref = ManuallyDrop::new(Arc::clone(&counter));
    RawWaker::new(data, &COUNTING_VTABLE)
}

/// `Waker::wake`: count it, then give back the consumed Waker's reference.
///
/// # Safety
/// As for [`borrow_counter`]; std forgets the consumed Waker, so its reference is ours to give.
unsafe fn wake_raw(data: *const ()) {
    // SAFETY: the consumed Waker owned one reference to this live `Arc`; `from_raw`
    // takes it over and dropping `counter` at the end gives it back: count −1.
    let counter = unsafe { Arc::from_raw(data.cast::<CountingWaker>()) };
    counter.wakes.fetch_add(1, Relaxed);
}

/// `Waker::wake_by_ref`: count it; no reference changes hands.
///
/// # Safety
/// As for [`borrow_counter`].
unsafe fn wake_by_ref_raw(data: *const ()) {
    // SAFETY: `data` is the data of the live, borrowed Waker (`borrow_counter`'s contract).
    let counter = unsafe { borrow_counter(data) };
    counter.wake_by_refs.fetch_add(1, Relaxed);
}

/// `drop(waker)`: count it, then give back the dropped Waker's reference.
///
/// # Safety
/// As for [`borrow_counter`]; std calls this once per Waker not consumed by `wake`.
unsafe fn drop_raw(data: *const ()) {
    // SAFETY: the dropped Waker owned one reference to this live `Arc`; `from_raw`
    // takes it over and dropping `counter` at the end gives it back: count −1. We count
    // before that, while the reference still keeps the counter alive.
    let counter = unsafe { Arc::from_raw(data.cast::<CountingWaker>()) };
    counter.drops.fetch_add(1, Relaxed);
}
