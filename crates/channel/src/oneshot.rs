//! `oneshot`: one value, sent once, awaited once.
//!
//! This is the "container waiting to be filled" of the asyncio tutorials: asyncio's
//! `Future`, split in two. The [`Sender`] fills it (`fut.set_result(v)`); the
//! [`Receiver`] is awaited (`await fut`). If the sender goes away without sending, the
//! receiver wakes with [`RecvError`], as an awaiting task would get an exception.
//!
//! ```
//! use handloop_channel::oneshot;
//!
//! let (tx, rx) = oneshot::channel();
//! std::thread::spawn(move || tx.send("done").unwrap());
//! assert_eq!(futures::executor::block_on(rx), Ok("done"));
//! ```
//!
//! # No lock, no `Arc`: one allocation and one atomic state word
//!
//! The queue needs a lock because any number of tasks touch its state. A oneshot has
//! exactly two parties and each does one thing once, so one atomic word is enough to say
//! who may touch the two cells (the value, the receiver's waker) and who frees the
//! allocation they live in. Five flag bits and a count:
//!
//! * `COMPLETE`: the sender is done (`send` wrote the value first; a dropped sender did
//!   not). Before it is set, the value cell is the sender's; after, the receiver's.
//! * `RX_WAKER`: the receiver's waker is in its cell, for the sender to wake. While it is
//!   clear the waker cell is the receiver's alone. While it is set the receiver only
//!   reads the cell (to tell whether a later poll comes from the same task: a read the
//!   sender has made stale just looks like another task), and the sender that sets
//!   `COMPLETE` over it owns the waker from then on: it takes it and wakes it. To change
//!   its waker the receiver first clears the bit, and if `COMPLETE` was already set it
//!   leaves the cell alone, since the sender has taken (or is taking) the waker.
//! * `WAKER_TAKEN`: the sender took the waker with the same step that set `COMPLETE` (see
//!   below): the cell still shows it, but it is the sender's, not the cell's.
//! * `REPLACED`: the receiver has taken its waker back at least once, to leave another.
//!   It is never cleared again.
//! * `CLOSED`: the receiver was dropped before it had its answer. A `send` that finds it
//!   set takes its value back.
//! * the count, in the bits above the flags: how many halves still hold the allocation.
//!   It starts at 2, and each half takes 1 off once, as the last thing it does. The half
//!   that takes it to 0 frees the allocation.
//!
//! Each flag has one writer (the sender sets `COMPLETE` and `WAKER_TAKEN`, the receiver
//! sets `CLOSED` and `REPLACED` and sets and clears `RX_WAKER`), which always knows the
//! bit's value before it changes it. So a flag is set by adding it and cleared by
//! subtracting it: a `fetch_add` is one instruction on x86, where a `fetch_or` whose result
//! is read is a compare-exchange loop.
//!
//! ## Sending costs one atomic read-modify-write, and letting go usually none
//!
//! An atomic read-modify-write (a `fetch_add`, a `compare_exchange`) costs several
//! nanoseconds even with no other thread around, which is more than the rest of a
//! oneshot's work. So each half avoids them where it can:
//!
//! * **Send and let go at once.** `send` sets `COMPLETE` and takes the sender's 1 off the
//!   count in a single `compare_exchange`: after that, the sender never touches the
//!   allocation again. If the receiver is waiting, the sender needs its waker, and
//!   cannot read it after letting go; so it reads the waker's two words *before* that
//!   step (the cell is made of two atomics, so reading while the receiver might write is
//!   no data race), and sets `WAKER_TAKEN` in the same step. The step only succeeds if the
//!   state word is still the one the sender read: the receiver has not taken its waker
//!   back meanwhile, so the waker read is the one the receiver left, and it is now the
//!   sender's. A state word with `RX_WAKER` set could come back after the receiver took
//!   its waker back and left another (the same word, another waker), but not with
//!   `REPLACED` clear: the sender takes this path only while `REPLACED` is clear. A
//!   receiver that changes tasks is rare; then the sender sets `COMPLETE`, takes the
//!   waker out, and lets go in a second step.
//! * **Load first.** A half about to let go first *loads* the word. A count of 1 can
//!   only be its own (the other half has already let go, for good), so it frees the
//!   allocation with no read-modify-write. Only when the count is 2 does it subtract,
//!   and then whichever half's subtraction leaves 0 frees.
//!
//! A request answered through a oneshot costs two read-modify-writes in all when the
//! receiver waits (the receiver leaving its waker, the sender's one step; the receiver's
//! read and its release are loads), and one when the answer comes first. (An `Arc` would
//! add four: a clone, two drops and the weak count.) The sender wakes the receiver last,
//! with the waker it took: a wake by value, which costs the executor less than a wake by
//! reference and a drop. `tests/loom.rs` checks every interleaving of the two halves,
//! including who frees and who drops the waker; Miri checks that the allocation is freed
//! exactly once.
//!
//! The half that frees the allocation gives its memory to the thread it runs on, which
//! keeps a few thousand such blocks per size for its next `channel()` (`recycle.rs`):
//! code that makes a oneshot per request then reuses the same blocks instead of calling
//! the allocator twice per request.
#![allow(unsafe_code)] // the cells and the allocation, whose accesses the state word orders

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::task::{Context, Poll, RawWakerVTable, Waker};

use crate::recycle;
use crate::sync::{AtomicPtr, AtomicUsize, RawCell};
use crate::waiting::{WaitingOn, waiting_on};

/// The sender is done: it sent a value (in the value cell) or was dropped without one.
const COMPLETE: usize = 0b00001;
/// The receiver's waker is in its cell, for the sender to wake.
const RX_WAKER: usize = 0b00010;
/// The receiver was dropped before it had its answer.
const CLOSED: usize = 0b00100;
/// The sender took the waker in the step that set `COMPLETE`: what the cell shows is not
/// the cell's any more.
const WAKER_TAKEN: usize = 0b01000;
/// The receiver took its waker back at least once (to leave another); never cleared.
const REPLACED: usize = 0b10000;
/// One half holding the allocation; the count lives in the bits above the flags.
const REF_ONE: usize = 0b100000;
/// The bits of the count.
const REF_MASK: usize = !(REF_ONE - 1);

/// Creates a connected sender and receiver.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = recycle::allocate::<Shared<T>>();
    // SAFETY: fresh (or recycled, unused) memory for a `Shared<T>`.
    unsafe {
        shared.write(Shared {
            state: AtomicUsize::new(2 * REF_ONE),
            value: RawCell::new(None),
            waker: WakerCell::new(),
            #[cfg(loom)]
            _leak_check: loom::alloc::Track::new(()),
        })
    };
    (
        Sender {
            shared,
            _owns: PhantomData,
        },
        Receiver {
            shared,
            done: false,
            _owns: PhantomData,
        },
    )
}

/// What both halves share, in one allocation. Who may touch each cell when, and who
/// frees it, is the protocol described in the module documentation, and repeated at each
/// `unsafe` block.
struct Shared<T> {
    state: AtomicUsize,
    value: RawCell<Option<T>>,
    /// The receiver's task, while it waits.
    waker: WakerCell,
    /// Under loom, reports the allocation if no half frees it.
    #[cfg(loom)]
    _leak_check: loom::alloc::Track<()>,
}

impl<T> Drop for Shared<T> {
    /// The last half lets go: a waker left in the cell is the cell's to drop, unless the
    /// sender took it (the value cell drops itself).
    fn drop(&mut self) {
        // Relaxed: the half that frees saw the other's release (`release` loads or
        // subtracts with Acquire), and no one else is left.
        if self.state.load(Relaxed) & WAKER_TAKEN == 0 {
            // SAFETY: no one else holds the allocation, and the waker in the cell, if any,
            // was not taken by the sender: it is ours to drop.
            drop(unsafe { self.waker.take() });
        }
    }
}

/// The receiver's waker, as its two words (its data and vtable pointers) in two atomics,
/// so that the sender may read them while the receiver might be replacing them: a read
/// that the state word then shows to be stale is simply not used. Who owns the waker in
/// it is the state word's to say; the cell only holds the words (a null vtable: empty).
struct WakerCell {
    data: AtomicPtr<()>,
    vtable: AtomicPtr<RawWakerVTable>,
}

/// A waker's two words, read from a [`WakerCell`]: not a waker until its reader knows it
/// owns the waker they describe.
#[derive(Clone, Copy)]
struct WakerWords {
    data: *const (),
    vtable: *const RawWakerVTable,
}

impl WakerWords {
    /// Whether these are the words of `waker` (what `Waker::will_wake` compares). Only
    /// compares pointers: safe on any words, stale or not.
    #[inline]
    fn are(&self, waker: &Waker) -> bool {
        ptr::eq(self.data, waker.data()) && ptr::eq(self.vtable, waker.vtable())
    }

    /// The waker these words describe.
    ///
    /// # Safety
    /// They were read from a cell that held a waker (not empty), and the caller owns that
    /// waker now (no one else will use or drop it).
    unsafe fn into_waker(self) -> Waker {
        // SAFETY: the words of a `Waker` that was put in the cell with `put` and forgotten
        // there (its vtable is a `&'static`); the caller owns it, so it is rebuilt once.
        unsafe { Waker::new(self.data, &*self.vtable) }
    }
}

impl WakerCell {
    fn new() -> WakerCell {
        WakerCell {
            data: AtomicPtr::new(ptr::null_mut()),
            vtable: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The words in the cell (an empty cell reads a null vtable). Relaxed: whoever uses
    /// them learned from the state word, with Acquire, that the receiver left them.
    #[inline]
    fn read(&self) -> WakerWords {
        WakerWords {
            data: self.data.load(Relaxed),
            vtable: self.vtable.load(Relaxed),
        }
    }

    /// Puts `waker` in an empty cell.
    ///
    /// # Safety
    /// The cell is the caller's (the receiver's, while `RX_WAKER` is clear and the sender
    /// has not completed), and empty (or the waker in it would never be dropped).
    #[inline]
    unsafe fn fill(&self, waker: Waker) {
        let waker = std::mem::ManuallyDrop::new(waker);
        // Relaxed: the receiver publishes them with the Release of setting `RX_WAKER`.
        self.data.store(waker.data().cast_mut(), Relaxed);
        self.vtable
            .store(ptr::from_ref(waker.vtable()).cast_mut(), Relaxed);
    }

    /// Takes the waker out, leaving the cell empty.
    ///
    /// # Safety
    /// The cell is the caller's, and so is any waker in it.
    #[inline]
    unsafe fn take(&self) -> Option<Waker> {
        let words = self.read();
        if words.vtable.is_null() {
            return None;
        }
        self.vtable.store(ptr::null_mut(), Relaxed);
        // SAFETY: not empty, and the waker is the caller's.
        Some(unsafe { words.into_waker() })
    }
}

// As with the queue's lock: a panic (in a waker's `clone` or `will_wake`) can happen only
// before a cell is written or after the state word is updated, so no one can observe a
// half-made change.
impl<T> std::panic::RefUnwindSafe for Shared<T> {}
impl<T> std::panic::UnwindSafe for Shared<T> {}

/// Lets go of the allocation: the last thing a half does with it (see "Load first" in the
/// module documentation). Inlined: the receiver lets go once per answer.
///
/// # Safety
///
/// `shared` came from [`channel`], and the caller is a half that has not let go yet and
/// never touches the allocation again.
#[inline]
unsafe fn release<T>(shared: NonNull<Shared<T>>) {
    // SAFETY: we still hold our count, so the allocation is alive.
    let state = unsafe { shared.as_ref() }.state.load(Acquire);
    let last = if state & REF_MASK == REF_ONE {
        // Only our own count is left: the other half has let go for good (Acquire: after
        // everything it did), and no one can take a count again. Nothing to subtract.
        true
    } else {
        // SAFETY: as above.
        let state = unsafe { shared.as_ref() }.state.fetch_sub(REF_ONE, AcqRel);
        state & REF_MASK == REF_ONE
    };
    if last {
        // The memory goes back even if dropping what is left in it panics.
        struct Free<T>(NonNull<Shared<T>>);
        impl<T> Drop for Free<T> {
            fn drop(&mut self) {
                // SAFETY: from `recycle::allocate` in `channel`; its contents were just
                // dropped (or their drop unwound), and no one else holds it.
                unsafe { recycle::free(self.0) };
            }
        }
        let _free = Free(shared);
        // SAFETY: the count reached zero with us: no one else holds the allocation, and
        // `channel` initialised it. Whatever is left in the cells (a value sent and never
        // received, a waker) is dropped here.
        unsafe { ptr::drop_in_place(shared.as_ptr()) };
    }
}

/// Sends the one value. Dropping it without sending wakes the receiver with
/// [`RecvError`].
pub struct Sender<T> {
    shared: NonNull<Shared<T>>,
    /// Owns a `T` (the value it may hand over), for the drop checker.
    _owns: PhantomData<T>,
}

/// A future of the one value: `Ok(value)`, or `Err(RecvError)` if the sender was dropped
/// without sending.
///
/// **Cancel safety.** Dropping it drops a value already sent, if any; a later
/// [`Sender::send`] then fails and gives its value back.
pub struct Receiver<T> {
    shared: NonNull<Shared<T>>,
    /// Already returned its result: polling again is a bug, and the sender is done.
    /// (Whether we left a waker is the state word's `RX_WAKER`, which only we write.)
    done: bool,
    _owns: PhantomData<T>,
}

// Neither half is ever pinned in place (the shared state is behind a pointer).
impl<T> Unpin for Sender<T> {}
impl<T> Unpin for Receiver<T> {}

// SAFETY: the two halves only ever move the value and the waker from one thread to
// another (the state word gives each cell to one side at a time, with release/acquire
// ordering at every hand-over; a `Waker` is `Send + Sync`): `T: Send` is what that needs,
// as for `std::sync::Mutex<T>`. The allocation is freed by whichever half lets go last, on
// whatever thread, which again only needs `T: Send`.
unsafe impl<T: Send> Send for Sender<T> {}
// SAFETY: through `&Sender` one can only load the state word (`is_closed`, `Debug`).
unsafe impl<T: Send> Sync for Sender<T> {}
// SAFETY: as for `Sender`.
unsafe impl<T: Send> Send for Receiver<T> {}
// SAFETY: through `&Receiver` one can only load the state word and, once `COMPLETE` is
// seen, read whether the value cell is empty (`Debug`); every write to that cell needs
// `&mut Receiver` (or the sender, before `COMPLETE`).
unsafe impl<T: Send> Sync for Receiver<T> {}

impl<T> Sender<T> {
    fn shared(&self) -> &Shared<T> {
        // SAFETY: a sender holds its count until it is consumed or dropped.
        unsafe { self.shared.as_ref() }
    }

    /// Sends `value`, waking the receiver. Fails with `Err(value)` if the receiver was
    /// already dropped, so the value is never lost silently.
    ///
    /// ```
    /// use handloop_channel::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(7), Err(7)); // nobody to receive it: you get it back
    /// ```
    #[inline]
    pub fn send(self, value: T) -> Result<(), T> {
        let this = std::mem::ManuallyDrop::new(self); // `complete` lets go itself, below
        let shared = this.shared();
        // SAFETY: `COMPLETE` is not set (only we set it, and we are here once), so the
        // value cell is ours.
        shared.value.with_mut(|cell| unsafe { *cell = Some(value) });
        // SAFETY: we are the sender, we have not let go, and we are done.
        match unsafe { complete(this.shared) } {
            Ok(()) => Ok(()),
            // SAFETY: we are the sender, and `complete` did not let go.
            Err(ReceiverGone) => Err(unsafe { take_back(this.shared) }),
        }
    }

    /// Whether the receiver was dropped: a `send` would fail.
    pub fn is_closed(&self) -> bool {
        self.shared().state.load(Acquire) & CLOSED != 0
    }
}

/// `complete` found the receiver gone: the sender still holds the allocation, and the
/// value cell is its own again.
struct ReceiverGone;

/// The sender is done (it sent, or it is dropped): sets `COMPLETE` and lets go of the
/// allocation in one step, then wakes the waiting receiver with the waker it took (see
/// "Sending costs one atomic read-modify-write" in the module documentation). If the
/// receiver was dropped first, it does none of this: the caller gives back the value and
/// lets go.
///
/// (It wakes, rather than return the waker for its caller to wake: the waker would come
/// back through memory from `complete_slowly`, and so would the fast path's.)
///
/// # Safety
/// `shared` came from [`channel`], and the caller is the sender, has not let go, and only
/// touches the allocation again (the value cell, then [`release`]) if this returns
/// `Err(ReceiverGone)`.
#[inline(always)]
unsafe fn complete<T>(shared: NonNull<Shared<T>>) -> Result<(), ReceiverGone> {
    // SAFETY: we still hold our count, so the allocation is alive (until the step below).
    let cell = unsafe { shared.as_ref() };
    // Acquire: if `RX_WAKER` is set, we see the waker the receiver left in its cell.
    let state = cell.state.load(Acquire);
    // The two common cases, each one step straight on; anything else (the receiver gone,
    // or one that replaced its waker, or a step that lost a race) takes the loop in
    // `complete_slowly`. `COMPLETE` and `WAKER_TAKEN` are clear (only we set them, once),
    // so adding sets them (see `complete_then_let_go` for why an addition).
    // Release (both steps): the receiver that sees `COMPLETE` sees the value, and a half
    // that sees our count gone sees that we are done with the allocation.
    if state & (CLOSED | RX_WAKER | REPLACED) == RX_WAKER {
        // It waits with the one waker it ever left: read it now, ours if the step below
        // finds the word unchanged (then the receiver has not taken it back).
        let words = cell.waker.read();
        let next = state.wrapping_add((COMPLETE | WAKER_TAKEN).wrapping_sub(REF_ONE));
        if cell
            .state
            .compare_exchange(state, next, AcqRel, Acquire)
            .is_ok()
        {
            // We let go: the allocation may already be freed by the receiver.
            // SAFETY: the state word was unchanged since we read the words, with
            // `RX_WAKER` set and `REPLACED` clear: they are the waker the receiver left,
            // which it cannot take back now that `COMPLETE` is set (`WAKER_TAKEN` tells the
            // half that frees not to drop it). It is ours.
            wake(Some(unsafe { words.into_waker() }));
            return Ok(());
        }
    } else if state & (CLOSED | RX_WAKER) == 0 {
        // The receiver is not waiting: nothing to take.
        let next = state.wrapping_add(COMPLETE.wrapping_sub(REF_ONE));
        if cell
            .state
            .compare_exchange(state, next, AcqRel, Acquire)
            .is_ok()
        {
            return Ok(());
        }
    }
    // SAFETY: the caller's promise, passed on; we have not let go.
    unsafe { complete_slowly(shared) }
}

/// [`complete`], for every case: the receiver gone, one that replaced its waker, and a
/// step that found the state word changed since it was read (the receiver left or
/// replaced its waker, or was dropped, meanwhile).
///
/// # Safety
/// As for [`complete`].
#[inline(never)]
unsafe fn complete_slowly<T>(shared: NonNull<Shared<T>>) -> Result<(), ReceiverGone> {
    // SAFETY: we still hold our count, so the allocation is alive (until the step below).
    let cell = unsafe { shared.as_ref() };
    // Acquire: if `RX_WAKER` is set, we see the waker the receiver left in its cell.
    let mut state = cell.state.load(Acquire);
    loop {
        if state & CLOSED != 0 {
            return Err(ReceiverGone);
        }
        let (next, words) = if state & RX_WAKER == 0 {
            // The receiver is not waiting: nothing to take.
            ((state | COMPLETE) - REF_ONE, None)
        } else if state & REPLACED == 0 {
            // As in `complete`.
            (
                (state | COMPLETE | WAKER_TAKEN) - REF_ONE,
                Some(cell.waker.read()),
            )
        } else {
            // SAFETY: the caller's promise, passed on.
            return unsafe { complete_then_let_go(shared) }.map(wake);
        };
        // Release: as in `complete`.
        match cell
            .state
            .compare_exchange_weak(state, next, AcqRel, Acquire)
        {
            // We let go: the allocation may already be freed by the receiver.
            Ok(_) => {
                // SAFETY: as in `complete`: the words are the waker the receiver left, now
                // ours.
                wake(words.map(|words| unsafe { words.into_waker() }));
                return Ok(());
            }
            Err(now) => state = now,
        }
    }
}

/// `send` found the receiver gone: takes the value back and lets go. Out of line, to keep
/// `send` small enough to inline.
///
/// # Safety
/// The caller is the sender, which stored its value and has not let go, and `complete`
/// returned `Err(ReceiverGone)`.
#[cold]
#[inline(never)]
unsafe fn take_back<T>(shared: NonNull<Shared<T>>) -> T {
    // The receiver went away first; it saw no `COMPLETE`, so it did not touch the value
    // cell and never will: the value is still ours to give back.
    // SAFETY: as just said, no one else touches the value cell any more; we still hold our
    // count.
    let value = unsafe { shared.as_ref() }
        .value
        .with_mut(|cell| unsafe { (*cell).take() });
    // SAFETY: we are the sender, we have not let go, and we are done.
    unsafe { release(shared) };
    value.expect("the value we just stored")
}

/// `complete` for a receiver that replaced its waker: set `COMPLETE`, take the waker if it
/// is in its cell, then let go (two read-modify-writes). Returns the waker, for the caller
/// to wake.
///
/// # Safety
/// As for [`complete`].
#[cold]
#[inline(never)]
unsafe fn complete_then_let_go<T>(
    shared: NonNull<Shared<T>>,
) -> Result<Option<Waker>, ReceiverGone> {
    // SAFETY: we still hold our count.
    let cell = unsafe { shared.as_ref() };
    // (Sets the bit, which is clear: only we set it. Unlike a `fetch_or` whose result is
    // read, `fetch_add` is one instruction on x86, not a loop.)
    let state = cell.state.fetch_add(COMPLETE, AcqRel);
    if state & CLOSED != 0 {
        return Err(ReceiverGone);
    }
    let waker = if state & RX_WAKER != 0 {
        // SAFETY: `RX_WAKER` was set when we set `COMPLETE`, so the waker is ours: the
        // receiver does not touch the cell while the bit is set, and one that clears the
        // bit to change its waker sees `COMPLETE` and leaves the cell alone.
        unsafe { cell.waker.take() }
    } else {
        // The receiver is changing its waker: it will see `COMPLETE` when it sets
        // `RX_WAKER` again, and leave that waker in the cell, to be dropped with it.
        None
    };
    // SAFETY: we are the sender, we have not let go, and we are done.
    unsafe { release(shared) };
    Ok(waker)
}

/// Wakes the receiver with the waker taken from its cell, once the sender has let go:
/// waking runs the executor's code, and nothing is left that it could disturb.
#[inline]
fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl<T> Drop for Sender<T> {
    /// Dropped without sending: complete with no value, waking a waiting receiver.
    fn drop(&mut self) {
        // SAFETY: we are the sender, we have not let go (`send` does not run `Drop`), and
        // we are done.
        if let Err(ReceiverGone) = unsafe { complete(self.shared) } {
            // SAFETY: as above; `complete` did not let go.
            unsafe { release(self.shared) }
        }
    }
}

impl<T> Receiver<T> {
    fn shared(&self) -> &Shared<T> {
        // SAFETY: a receiver holds its count until it is dropped.
        unsafe { self.shared.as_ref() }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    /// The answer is there (the common case for a woken receiver): one load. Always
    /// inlined into the awaiting task, with `poll_waiting` (see there).
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "oneshot::Receiver polled after it completed");
        // Acquire: if the sender is done, we see the value it wrote.
        let state = this.shared().state.load(Acquire);
        if state & COMPLETE != 0 {
            return Poll::Ready(this.take_answer());
        }
        this.poll_waiting(state, cx)
    }
}

impl<T> Receiver<T> {
    /// The sender is done (we saw `COMPLETE`): its value, or the error if it sent none.
    #[inline]
    fn take_answer(&mut self) -> Result<T, RecvError> {
        // SAFETY: we saw `COMPLETE`, so the sender is done with the value cell for good,
        // and `CLOSED` is not set (only our `Drop` sets it): the cell is ours.
        let value = self
            .shared()
            .value
            .with_mut(|value| unsafe { (*value).take() });
        self.done = true;
        value.ok_or(RecvError)
    }

    /// No answer at our load of `state`: leave our waker for the sender (once per task:
    /// a task polling us again finds its waker already there). Inlined with `poll`: a
    /// receiver that is awaited before its answer comes (a request's reply) waits once per
    /// answer, and a call would save and restore the task's registers around it.
    #[inline]
    fn poll_waiting(&mut self, state: usize, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        if state & RX_WAKER != 0 {
            return self.poll_again(state, cx);
        }
        // The first wait: `RX_WAKER` has never been set (we set it below, and clear it only
        // in `poll_again`, which then leaves a waker again or returns the answer), so the
        // waker cell is empty.
        let shared = self.shared();
        debug_assert!(shared.waker.read().vtable.is_null(), "an empty waker cell");
        // SAFETY: `RX_WAKER` is clear, so the cell is ours alone; it is empty (just said).
        unsafe { shared.waker.fill(cx.waker().clone()) };
        // Release: the sender that sees `RX_WAKER` sees the waker.
        // (Sets the bit, which is clear: only we write it. See `complete_then_let_go` for
        // why an addition.)
        let state = shared.state.fetch_add(RX_WAKER, AcqRel);
        if state & COMPLETE == 0 {
            waiting_on(cx, WaitingOn::Oneshot);
            return Poll::Pending;
        }
        // The sender completed meanwhile, without seeing our waker (it stays in the cell,
        // dropped with the allocation): read its answer.
        Poll::Ready(self.take_answer())
    }

    /// Polled again while our waker is in the cell (`RX_WAKER` set at our load of
    /// `state`, with no answer): nothing to do if it is the same task's; otherwise swap in
    /// the new one. Out of line: a task is normally polled once per wake.
    #[inline(never)]
    fn poll_again(&mut self, state: usize, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let shared = self.shared();
        // Only compared (they are atomics: reading them while the sender does is no race).
        // Only we write them while `RX_WAKER` is set, except a sender completing after
        // our load of `state`: one that takes them as they are wakes this same waker, so
        // a match may wait for that wake; one that empties the cell makes them differ, and
        // the long way below then finds `COMPLETE`.
        if shared.waker.read().are(cx.waker()) {
            waiting_on(cx, WaitingOn::Oneshot);
            return Poll::Pending;
        }
        // Another waker: take the cell back first, unless the sender completes before
        // (then the waker is the sender's). Marks `REPLACED`, which tells the sender to
        // take the waker in a step of its own from now on (see `complete`).
        // (Clears `RX_WAKER`, which is set, and sets `REPLACED` unless it already is:
        // only we write both. See `complete_then_let_go` for why an addition.)
        let replaced = if state & REPLACED == 0 { REPLACED } else { 0 };
        let state = shared
            .state
            .fetch_add(replaced.wrapping_sub(RX_WAKER), AcqRel);
        if state & COMPLETE != 0 {
            // The sender completed first: the waker in the cell is its own (taken, or
            // left for whoever frees the allocation). Read its answer.
            return Poll::Ready(self.take_answer());
        }
        // SAFETY: `RX_WAKER` is clear and the sender has not completed, so the cell is
        // ours alone, with our old waker in it.
        let old = unsafe { shared.waker.take() };
        // SAFETY: as above; just emptied.
        unsafe { shared.waker.fill(cx.waker().clone()) };
        // Release: the sender that sees `RX_WAKER` sees the new waker. (Sets the bit.)
        let state = shared.state.fetch_add(RX_WAKER, AcqRel);
        // Dropped once the new waker is published: a drop runs its owner's code, and one
        // that panics leaves the cell and `RX_WAKER` agreeing (a later poll finds its
        // waker there, not a filled cell it takes for empty).
        drop(old);
        if state & COMPLETE == 0 {
            waiting_on(cx, WaitingOn::Oneshot);
            return Poll::Pending;
        }
        Poll::Ready(self.take_answer())
    }
}

impl<T> Drop for Receiver<T> {
    /// Inlined: a receiver that has its answer only lets go (usually a load and the free).
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.close();
        }
        // SAFETY: we are the receiver, we have not let go, and we are done.
        unsafe { release(self.shared) };
    }
}

impl<T> Receiver<T> {
    /// Dropped before it had its answer: tell the sender, and drop a value already sent.
    #[cold]
    fn close(&mut self) {
        let shared = self.shared();
        // Sets the bit, which only this drop sets (see `complete_then_let_go` for why an
        // addition).
        let state = shared.state.fetch_add(CLOSED, AcqRel);
        if state & COMPLETE != 0 {
            // A value already sent is dropped with the receiver, not left to whichever
            // half happens to free the allocation.
            // SAFETY: we saw `COMPLETE` before setting `CLOSED`: the cell is ours.
            drop(shared.value.with_mut(|value| unsafe { (*value).take() }));
        }
    }
}

/// The [`Sender`] was dropped without sending a value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot sender was dropped without sending a value")
    }
}

impl std::error::Error for RecvError {}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("is_closed", &self.is_closed())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared();
        let state = shared.state.load(Acquire);
        let sender_gone = state & COMPLETE != 0;
        // SAFETY: once `COMPLETE` is seen the value cell is the receiver's, and `&self`
        // rules out our own `poll` taking it meanwhile: reading is fine.
        let has_value = sender_gone && shared.value.with(|value| unsafe { (*value).is_some() });
        f.debug_struct("Receiver")
            .field("has_value", &has_value)
            .field("sender_gone", &sender_gone)
            .field("done", &self.done)
            .finish()
    }
}
