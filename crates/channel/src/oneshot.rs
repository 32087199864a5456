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
//! allocation they live in. Three flag bits and a count:
//!
//! * `COMPLETE`: the sender is done (`send` wrote the value first; a dropped sender did
//!   not). Before it is set, the value cell is the sender's; after, the receiver's.
//! * `RX_WAKER`: the receiver's waker is in its cell, for the sender to wake. While it is
//!   clear the waker cell is the receiver's alone. While it is set the receiver does not
//!   touch the cell (it remembers which waker it left there, to tell whether a later poll
//!   comes from the same task), and the sender that sets `COMPLETE` over it owns the cell
//!   from then on: it takes the waker out and wakes it. To change its waker the receiver
//!   first clears the bit, and if `COMPLETE` was already set it leaves the cell alone,
//!   since the sender is taking the waker.
//! * `CLOSED`: the receiver was dropped before it had its answer. A `send` that finds it
//!   set takes its value back.
//! * the count, in the bits above the flags: how many halves still hold the allocation.
//!   It starts at 2, and each half takes 1 off once, as the last thing it does. The half
//!   that takes it to 0 frees the allocation.
//!
//! Each flag has one writer (the sender sets `COMPLETE`, the receiver sets `CLOSED` and
//! sets and clears `RX_WAKER`), which always knows the bit's value before it changes it.
//! So a flag is set by adding it and cleared by subtracting it: a `fetch_add` is one
//! instruction on x86, where a `fetch_or` whose result is read is a compare-exchange loop.
//!
//! ## A release that usually costs no atomic read-modify-write
//!
//! An atomic read-modify-write (a `fetch_or`, a `compare_exchange`) costs several
//! nanoseconds even with no other thread around, which is more than the rest of a
//! oneshot's work. So each half avoids them where it can:
//!
//! * **Load first.** A half about to let go first *loads* the word. A count of 1 can
//!   only be its own (the other half has already let go, for good), so it frees the
//!   allocation with no read-modify-write. Only when the count is 2 does it subtract,
//!   and then whichever half's subtraction leaves 0 frees.
//! * **Send and let go at once.** When the receiver is not waiting (no waker to wake),
//!   `send` sets `COMPLETE` and takes the sender's 1 off the count in a single
//!   `compare_exchange`: after that, the sender never touches the allocation again.
//!   When the receiver does wait, the sender must take its waker out after setting
//!   `COMPLETE`, so it lets go only after that (and wakes it last, with the waker it
//!   took: a wake by value, which costs the executor less than a wake by reference and
//!   a drop).
//!
//! A send to a receiver that is not yet waiting costs one read-modify-write in all (the
//! receiver's read and its release are loads). A send to a waiting receiver costs three:
//! the receiver storing its waker, the sender completing, the sender letting go. (An
//! `Arc` would add four: a clone, two drops and the weak count.) `tests/loom.rs` checks
//! every interleaving of the two halves, including who frees; Miri checks that the
//! allocation is freed exactly once.
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
use crate::sync::{AtomicUsize, RawCell};
use crate::waiting::{WaitingOn, waiting_on};

/// The sender is done: it sent a value (in the value cell) or was dropped without one.
const COMPLETE: usize = 0b001;
/// The receiver's waker is in its cell, for the sender to wake.
const RX_WAKER: usize = 0b010;
/// The receiver was dropped before it had its answer.
const CLOSED: usize = 0b100;
/// One half holding the allocation; the count lives in the bits above the flags.
const REF_ONE: usize = 0b1000;
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
            waker: RawCell::new(None),
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
            registered: None,
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
    waker: RawCell<Option<Waker>>,
    /// Under loom, reports the allocation if no half frees it.
    #[cfg(loom)]
    _leak_check: loom::alloc::Track<()>,
}

// As with the queue's lock: a panic (in a waker's `clone` or `will_wake`) can happen only
// before a cell is written or after the state word is updated, so no one can observe a
// half-made change.
impl<T> std::panic::RefUnwindSafe for Shared<T> {}
impl<T> std::panic::UnwindSafe for Shared<T> {}

/// Lets go of the allocation: the last thing a half does with it (see "A release that
/// usually costs no atomic read-modify-write" in the module documentation).
///
/// # Safety
///
/// `shared` came from [`channel`], and the caller is a half that has not let go yet and
/// never touches the allocation again.
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
    done: bool,
    /// Which waker we left in the waker cell, while `RX_WAKER` is set (only we set and
    /// clear it): a later poll compares its own waker with this, not with the cell, which
    /// the sender may be emptying.
    registered: Option<WakerId>,
    _owns: PhantomData<T>,
}

/// What `Waker::will_wake` compares: the data and the vtable pointers. Only compared,
/// never followed (the vtable is a reference only so that `Option<WakerId>` needs no
/// extra word).
#[derive(Clone, Copy)]
struct WakerId(*const (), &'static RawWakerVTable);

impl WakerId {
    fn of(waker: &Waker) -> WakerId {
        WakerId(waker.data(), waker.vtable())
    }
}

impl PartialEq for WakerId {
    fn eq(&self, other: &WakerId) -> bool {
        ptr::eq(self.0, other.0) && ptr::eq(self.1, other.1)
    }
}

// Neither half is ever pinned in place (the shared state is behind a pointer).
impl<T> Unpin for Sender<T> {}
impl<T> Unpin for Receiver<T> {}

// SAFETY: the two halves only ever move the value and the waker from one thread to
// another (the state word gives each cell to one side at a time, with release/acquire
// ordering at every hand-over; a `Waker` is `Send + Sync`): `T: Send` is what that needs,
// as for `std::sync::Mutex<T>`. The allocation is freed by whichever half lets go last, on
// whatever thread, which again only needs `T: Send`. (The receiver's `registered` holds
// two pointers that are only ever compared.)
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
        let this = std::mem::ManuallyDrop::new(self); // `send` lets go itself, below
        let shared = this.shared();
        // SAFETY: `COMPLETE` is not set (only we set it, and we are here once), so the
        // value cell is ours.
        shared.value.with_mut(|cell| unsafe { *cell = Some(value) });
        let mut state = shared.state.load(Relaxed);
        // The receiver is not waiting: complete and let go in one step (Release: the
        // receiver that sees `COMPLETE` sees the value).
        while state & (RX_WAKER | CLOSED) == 0 {
            match shared.state.compare_exchange_weak(
                state,
                (state | COMPLETE) - REF_ONE,
                AcqRel,
                Relaxed,
            ) {
                // We let go: the allocation may already be freed by the receiver.
                Ok(_) => return Ok(()),
                Err(now) => state = now,
            }
        }
        // The receiver is waiting, or gone.
        // (An addition sets the bit: it is clear, since only we set it. Unlike a `fetch_or`
        // whose result is read, `fetch_add` is one instruction on x86, not a loop.)
        let state = shared.state.fetch_add(COMPLETE, AcqRel);
        let result = if state & CLOSED != 0 {
            // The receiver went away first; it saw no `COMPLETE`, so it did not touch the
            // value cell and never will: the value is still ours to give back.
            // SAFETY: as just said, no one else touches the value cell any more.
            let value = shared.value.with_mut(|cell| unsafe { (*cell).take() });
            Err(value.expect("the value we just stored"))
        } else {
            // `RX_WAKER` may have been cleared since our load: the receiver is changing
            // its waker, and will see `COMPLETE` when it sets the bit again.
            if state & RX_WAKER != 0 {
                let waker = take_receivers_waker(shared);
                // SAFETY: we are the sender, we have not let go, and we are done.
                unsafe { release(this.shared) };
                wake(waker);
                return Ok(());
            }
            Ok(())
        };
        // SAFETY: we are the sender, we have not let go, and we are done.
        unsafe { release(this.shared) };
        result
    }

    /// Whether the receiver was dropped: a `send` would fail.
    pub fn is_closed(&self) -> bool {
        self.shared().state.load(Acquire) & CLOSED != 0
    }
}

/// Takes the receiver's waker out of its cell, after setting `COMPLETE` over a set
/// `RX_WAKER` and before letting go.
fn take_receivers_waker<T>(shared: &Shared<T>) -> Option<Waker> {
    // SAFETY: `RX_WAKER` was set when we set `COMPLETE`, so the cell is ours: the receiver
    // does not touch it while the bit is set, and one that clears the bit to change its
    // waker sees `COMPLETE` and leaves the cell alone.
    shared.waker.with_mut(|waker| unsafe { (*waker).take() })
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
        let shared = self.shared();
        // Sets the bit, which only the sender sets (see `send`).
        let state = shared.state.fetch_add(COMPLETE, AcqRel);
        let waker = if state & (RX_WAKER | CLOSED) == RX_WAKER {
            take_receivers_waker(shared)
        } else {
            None
        };
        // SAFETY: we are the sender, we have not let go (`send` does not run `Drop`),
        // and we are done.
        unsafe { release(self.shared) };
        wake(waker);
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

    /// The answer is there (the common case for a woken receiver): one load, inlined into
    /// the awaiting task. Waiting is out of line.
    #[inline]
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
    /// a task polling us again finds its waker already there).
    #[inline(never)]
    fn poll_waiting(&mut self, state: usize, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let mut state = state;
        if let Some(registered) = self.registered {
            debug_assert!(state & RX_WAKER != 0, "only we clear RX_WAKER");
            // Polled again while waiting. The same task: nothing to do.
            if registered == WakerId::of(cx.waker()) {
                waiting_on(WaitingOn::Oneshot);
                return Poll::Pending;
            }
            // Another waker: take the cell back first, unless the sender completes before
            // (then the cell is the sender's, which is taking the old waker out).
            // (Clears the bit, which is set: only we set and clear it. See `send` for why
            // an addition or subtraction rather than `fetch_and`/`fetch_or`.)
            state = self.shared().state.fetch_sub(RX_WAKER, AcqRel);
            self.registered = None;
        }
        if state & COMPLETE == 0 {
            let waker = cx.waker().clone();
            let id = WakerId::of(&waker);
            let shared = self.shared();
            // SAFETY: `RX_WAKER` is clear (never set, or cleared just above before the
            // sender completed), so the waker cell is ours alone. The waker it replaces
            // is dropped here: we run the task that owns it, and no one waits on us.
            shared.waker.with_mut(|cell| unsafe { *cell = Some(waker) });
            // Release: the sender that sees `RX_WAKER` sees the waker.
            // (Sets the bit, which is clear.)
            state = shared.state.fetch_add(RX_WAKER, AcqRel);
            self.registered = Some(id);
            if state & COMPLETE == 0 {
                waiting_on(WaitingOn::Oneshot);
                return Poll::Pending;
            }
            // The sender completed meanwhile, without seeing our waker (it stays in the
            // cell, dropped with the allocation): read its answer.
        }
        Poll::Ready(self.take_answer())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if !self.done {
            let shared = self.shared();
            // Sets the bit, which only this drop sets (see `send` for why an addition).
            let state = shared.state.fetch_add(CLOSED, AcqRel);
            if state & COMPLETE != 0 {
                // A value already sent is dropped with the receiver, not left to whichever
                // half happens to free the allocation.
                // SAFETY: we saw `COMPLETE` before setting `CLOSED`: the cell is ours.
                drop(shared.value.with_mut(|value| unsafe { (*value).take() }));
            }
        }
        // SAFETY: we are the receiver, we have not let go, and we are done.
        unsafe { release(self.shared) };
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
