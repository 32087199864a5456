//! `Event`: asyncio's `Event`, a flag that tasks wait for.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ticket_line::TicketLine;
use super::{LoopLocal, Ticket, WakeBuffer};
use crate::waiting::{WaitingOn, waiting_on};

/// A flag that tasks of one loop wait for: asyncio's `Event`.
///
/// [`wait`](Event::wait) returns at once while the flag is set, and otherwise waits until
/// [`set`](Event::set) sets it, which wakes every waiting task.
/// [`clear`](Event::clear) lowers it again.
///
/// A task woken by `set` returns from `wait` even if `clear` came before it ran: `set`
/// answered it, as in asyncio. `clear` is kept for asyncio's sake, but trio dropped it,
/// and the chapter says why: prefer a new `Event` for each round.
///
/// Loop-local: neither `Send` nor `Sync` (see the [module](crate::locks) documentation).
///
/// ```
/// use std::rc::Rc;
/// use handloop_channel::locks::Event;
/// use handloop_executor::{EventLoop, spawn, yield_now};
///
/// EventLoop::new().block_on(async {
///     let ready = Rc::new(Event::new());
///     let waiter = spawn({
///         let ready = ready.clone();
///         async move {
///             ready.wait().await;
///             "went"
///         }
///     });
///     yield_now().await; // the waiter waits
///     assert!(!waiter.is_finished());
///     ready.set();
///     assert_eq!(waiter.await.unwrap(), "went");
///     ready.wait().await; // set: returns at once
/// });
/// ```
pub struct Event {
    set: Cell<bool>,
    /// Tasks waiting for the flag, each with its ticket.
    line: TicketLine<()>,
    wake: WakeBuffer,
    _loop_local: LoopLocal,
}

/// The future returned by [`Event::wait`]. Dropping it is always safe: it only leaves
/// the line.
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    /// Our ticket (our place in line), once we wait.
    waiting: Option<Ticket>,
}

impl Event {
    /// An event whose flag is down.
    pub const fn new() -> Self {
        Event {
            set: Cell::new(false),
            line: TicketLine::new(),
            wake: WakeBuffer::new(),
            _loop_local: LoopLocal {},
        }
    }

    /// Sets the flag and wakes every task waiting for it. Does nothing more if it is
    /// already set.
    pub fn set(&self) {
        if self.set.replace(true) {
            return;
        }
        if self.line.is_empty() {
            return;
        }
        let mut wake = self.wake.take();
        self.line.serve_many(usize::MAX, &mut wake);
        self.wake.wake_all(wake); // once all are served: a waker may come back to this event
    }

    /// Lowers the flag: later calls to `wait` wait for the next `set`. Tasks already
    /// woken by a `set` still return.
    pub fn clear(&self) {
        self.set.set(false);
    }

    /// Whether the flag is set.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Waits until the flag is set (returns at once if it is).
    #[inline]
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            waiting: None,
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl Future for EventWait<'_> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let event = this.event;
        match &this.waiting {
            None if event.is_set() => Poll::Ready(()),
            None => {
                // The clone runs its owner's code, which may set the event: look again.
                let waker = cx.waker().clone();
                if event.is_set() {
                    drop(waker);
                    return Poll::Ready(());
                }
                this.waiting = Some(event.line.join(waker, ()));
                waiting_on(cx, WaitingOn::Event);
                Poll::Pending
            }
            Some(ticket) if event.line.served(*ticket) => {
                // A `set` took us out of the line.
                this.waiting = None;
                Poll::Ready(())
            }
            Some(ticket) => {
                event.line.set_waker(*ticket, cx.waker());
                waiting_on(cx, WaitingOn::Event);
                Poll::Pending
            }
        }
    }
}

impl Drop for EventWait<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.waiting.take() {
            // Woken by a `set` or not, there is nothing to pass on: the flag is for all.
            let _ = self.event.line.leave(ticket);
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .field("waiting", &self.line.len())
            .finish()
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("waiting", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}
