//! `oneshot`: one value, sent once, awaited once.
//!
//! This is the "container waiting to be filled" of the asyncio tutorials: asyncio's
//! `Future`, split in two. The [`Sender`] fills it (`fut.set_result(v)`); the
//! [`Receiver`] is awaited (`await fut`). If the sender goes away without sending, the
//! receiver wakes with [`RecvError`], as an awaiting task would get an exception.
//!
//! # No lock: one atomic state word
//!
//! The queue needs a lock because any number of tasks touch its state. A oneshot has
//! exactly two parties and each does one thing once, so a state word with three bits is
//! enough to say who may touch the two cells (the value, the receiver's waker), and each
//! side changes the word with a single atomic read-modify-write:
//!
//! * `COMPLETE`: the sender is done (`send` wrote the value first; a dropped sender did
//!   not). Before it is set, the value cell is the sender's; after, the receiver's.
//! * `RX_WAKER`: the receiver's waker is in its cell, for the sender to wake. While it is
//!   clear the waker cell is the receiver's alone; while it is set the cell is only read
//!   (by the receiver's `will_wake`, by the sender's `wake_by_ref`). To change its waker
//!   the receiver first clears the bit, and if `COMPLETE` was already set it leaves the
//!   cell alone, since the sender may be reading it.
//! * `CLOSED`: the receiver was dropped. A `send` that finds it set takes its value back.
//!
//! A round trip (receiver waits, sender sends, receiver reads) costs two atomic
//! read-modify-writes on the word and two loads (one per poll), where a lock costs one
//! read-modify-write per access. The `Arc` around it adds one each when the halves are
//! dropped; its last owner drops what
//! is left in the cells. `tests/loom.rs` checks the races between the two halves.
#![allow(unsafe_code)] // the cells, whose accesses the state word's protocol orders

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::task::{Context, Poll, Waker};

use crate::sync::{Arc, AtomicUsize, RawCell};
use crate::waiting::{WaitingOn, waiting_on};

/// The sender is done: it sent a value (in the value cell) or was dropped without one.
const COMPLETE: usize = 0b001;
/// The receiver's waker is in its cell, for the sender to wake.
const RX_WAKER: usize = 0b010;
/// The receiver was dropped.
const CLOSED: usize = 0b100;

/// Creates a connected sender and receiver.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: AtomicUsize::new(0),
        value: RawCell::new(None),
        waker: RawCell::new(None),
    });
    (
        Sender {
            shared: Some(Arc::clone(&shared)),
        },
        Receiver {
            shared,
            done: false,
        },
    )
}

/// What both halves share. Who may touch each cell when is the protocol described in the
/// module documentation, and repeated at each `unsafe` block.
struct Shared<T> {
    state: AtomicUsize,
    value: RawCell<Option<T>>,
    /// The receiver's task, while it waits.
    waker: RawCell<Option<Waker>>,
}

// (`Shared<T>` is `Send` on its own when `T` is: its cells are.)
// SAFETY: the state word gives each cell to one side at a time (or lets both only read the
// waker, which is `Sync`), with release/acquire ordering on every hand-over. So the value
// only ever moves between threads, never is shared: `T: Send` is what that needs, as for
// `std::sync::Mutex<T>`.
unsafe impl<T: Send> Sync for Shared<T> {}

// As with the queue's lock: a panic (in a waker's `clone` or `will_wake`) can happen only
// before a cell is written or after the state word is updated, so no one can observe a
// half-made change.
impl<T> std::panic::RefUnwindSafe for Shared<T> {}
impl<T> std::panic::UnwindSafe for Shared<T> {}

impl<T> Shared<T> {
    /// Takes the value out once `COMPLETE` has been seen (with acquire ordering).
    ///
    /// # Safety
    ///
    /// The caller saw `COMPLETE` set by a state change that did not find `CLOSED` set
    /// (so the sender is done with the value cell for good), and is the receiver.
    unsafe fn take_value(&self) -> Option<T> {
        // SAFETY: per the contract, the value cell is the receiver's alone.
        self.value.with_mut(|value| unsafe { (*value).take() })
    }
}

/// Sends the one value. Dropping it without sending wakes the receiver with
/// [`RecvError`].
pub struct Sender<T> {
    /// `None` only once `send` has run: then `Drop` has nothing left to do.
    shared: Option<Arc<Shared<T>>>,
}

/// A future of the one value: `Ok(value)`, or `Err(RecvError)` if the sender was dropped
/// without sending.
///
/// **Cancel safety.** Dropping it drops a value already sent, if any; a later
/// [`Sender::send`] then fails and gives its value back.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// Already returned its result: polling again is a bug.
    done: bool,
}

impl<T> Sender<T> {
    /// Sends `value`, waking the receiver. Fails with `Err(value)` if the receiver was
    /// already dropped, so the value is never lost silently.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let shared = self.shared.take().expect("a live sender holds the channel");
        // SAFETY: `COMPLETE` is not set (only we set it, and we are here once), so the
        // value cell is ours.
        shared.value.with_mut(|cell| unsafe { *cell = Some(value) });
        // Release: the receiver that sees `COMPLETE` sees the value.
        let state = shared.state.fetch_or(COMPLETE, AcqRel);
        if state & CLOSED != 0 {
            // The receiver went away first; it saw no `COMPLETE`, so it did not touch the
            // value cell and never will: the value is still ours to give back.
            // SAFETY: as just said, no one else touches the value cell any more.
            let value = shared.value.with_mut(|cell| unsafe { (*cell).take() });
            return Err(value.expect("the value we just stored"));
        }
        if state & RX_WAKER != 0 {
            wake_receiver(&shared);
        }
        Ok(())
    }

    /// Whether the receiver was dropped: a `send` would fail.
    pub fn is_closed(&self) -> bool {
        let shared = self
            .shared
            .as_ref()
            .expect("a live sender holds the channel");
        shared.state.load(Acquire) & CLOSED != 0
    }
}

/// Wakes the receiver after setting `COMPLETE` over a set `RX_WAKER`.
fn wake_receiver<T>(shared: &Shared<T>) {
    shared.waker.with(|waker| {
        // SAFETY: `RX_WAKER` was set when we set `COMPLETE`, so the receiver no longer
        // writes the waker cell (it clears the bit first, then sees `COMPLETE` and leaves
        // the cell alone): it is only read from now on.
        let waker = unsafe { &*waker };
        if let Some(waker) = waker {
            waker.wake_by_ref();
        }
    });
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return; // `send` already ran
        };
        let state = shared.state.fetch_or(COMPLETE, AcqRel);
        if state & (RX_WAKER | CLOSED) == RX_WAKER {
            wake_receiver(&shared);
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "oneshot::Receiver polled after it completed");
        let shared = &*this.shared;
        // Acquire: if the sender is done, we see the value it wrote.
        let mut state = shared.state.load(Acquire);
        if state & COMPLETE == 0 && state & RX_WAKER != 0 {
            // Polled again while waiting. The same task: nothing to do.
            let same = shared.waker.with(|waker| {
                // SAFETY: `RX_WAKER` is set, so the waker cell is only read.
                let waker = unsafe { &*waker };
                waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
            });
            if same {
                waiting_on(WaitingOn::Oneshot);
                return Poll::Pending;
            }
            // Another waker: take the cell back first, unless the sender completes before.
            state = shared.state.fetch_and(!RX_WAKER, AcqRel);
        }
        if state & COMPLETE == 0 {
            // SAFETY: `RX_WAKER` is clear (never set, or cleared just above before the
            // sender completed), so the waker cell is ours alone.
            shared
                .waker
                .with_mut(|waker| unsafe { *waker = Some(cx.waker().clone()) });
            // Release: the sender that sees `RX_WAKER` sees the waker.
            state = shared.state.fetch_or(RX_WAKER, AcqRel);
            if state & COMPLETE == 0 {
                waiting_on(WaitingOn::Oneshot);
                return Poll::Pending;
            }
            // The sender completed meanwhile, without seeing our waker: read its answer.
        }
        // SAFETY: we saw `COMPLETE`, and `CLOSED` is not set (only our `Drop` sets it).
        let value = unsafe { shared.take_value() };
        this.done = true;
        Poll::Ready(value.ok_or(RecvError))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.done {
            return; // the value was taken or the sender is gone: no one will look again
        }
        let state = self.shared.state.fetch_or(CLOSED, AcqRel);
        if state & COMPLETE != 0 {
            // A value already sent is dropped with the receiver, not left to whichever
            // half happens to drop the `Arc` last.
            // SAFETY: we saw `COMPLETE` before setting `CLOSED`.
            drop(unsafe { self.shared.take_value() });
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
        let state = self.shared.state.load(Acquire);
        let sender_gone = state & COMPLETE != 0;
        // SAFETY: once `COMPLETE` is seen the value cell is the receiver's, and `&self`
        // rules out our own `poll` taking it meanwhile: reading is fine.
        let has_value = sender_gone
            && self
                .shared
                .value
                .with(|value| unsafe { (*value).is_some() });
        f.debug_struct("Receiver")
            .field("has_value", &has_value)
            .field("sender_gone", &sender_gone)
            .field("done", &self.done)
            .finish()
    }
}
