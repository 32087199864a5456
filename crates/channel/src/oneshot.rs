//! `oneshot`: one value, sent once, awaited once.
//!
//! This is the "container waiting to be filled" of the asyncio tutorials: asyncio's
//! `Future`, split in two. The [`Sender`] fills it (`fut.set_result(v)`); the
//! [`Receiver`] is awaited (`await fut`). If the sender goes away without sending, the
//! receiver wakes with [`RecvError`], as an awaiting task would get an exception.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::sync::{Arc, Lock};

/// Creates a connected sender and receiver.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Lock::new(Slot {
        value: None,
        waker: None,
        sender_gone: false,
        receiver_gone: false,
    }));
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver {
            shared,
            done: false,
        },
    )
}

/// What both halves share.
struct Slot<T> {
    value: Option<T>,
    /// The receiver's task, while it waits.
    waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

/// Sends the one value. Dropping it without sending wakes the receiver with
/// [`RecvError`].
pub struct Sender<T> {
    shared: Arc<Lock<Slot<T>>>,
}

/// A future of the one value: `Ok(value)`, or `Err(RecvError)` if the sender was dropped
/// without sending.
///
/// **Cancel safety.** Dropping it drops a value already sent, if any; a later
/// [`Sender::send`] then fails and gives its value back.
pub struct Receiver<T> {
    shared: Arc<Lock<Slot<T>>>,
    /// Already returned its result: polling again is a bug.
    done: bool,
}

impl<T> Sender<T> {
    /// Sends `value`, waking the receiver. Fails with `Err(value)` if the receiver was
    /// already dropped, so the value is never lost silently.
    pub fn send(self, value: T) -> Result<(), T> {
        let mut slot = self.shared.lock();
        if slot.receiver_gone {
            return Err(value);
        }
        slot.value = Some(value);
        slot.sender_gone = true;
        let waker = slot.waker.take();
        drop(slot);
        // `sender_gone` is already set, so our `Drop` has nothing left to do.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver was dropped: a `send` would fail.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().receiver_gone
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut slot = self.shared.lock();
        if slot.sender_gone {
            return; // `send` already ran
        }
        slot.sender_gone = true;
        let waker = slot.waker.take();
        drop(slot);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "oneshot::Receiver polled after it completed");
        let mut slot = this.shared.lock();
        let result = if let Some(value) = slot.value.take() {
            Ok(value)
        } else if slot.sender_gone {
            Err(RecvError)
        } else {
            match &mut slot.waker {
                Some(old) if old.will_wake(cx.waker()) => {}
                waker => *waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        };
        drop(slot);
        this.done = true;
        Poll::Ready(result)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.done {
            return; // the value was taken or the sender is gone: no one will look again
        }
        let mut slot = self.shared.lock();
        slot.receiver_gone = true;
        let value = slot.value.take();
        let waker = slot.waker.take();
        drop(slot);
        // Dropped after unlocking: a value's `Drop` may do anything.
        drop((value, waker));
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
        let slot = self.shared.lock();
        f.debug_struct("Receiver")
            .field("has_value", &slot.value.is_some())
            .field("sender_gone", &slot.sender_gone)
            .field("done", &self.done)
            .finish()
    }
}
