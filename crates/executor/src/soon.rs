//! `call_soon` and `yield_now`: Beazley's first scheduler (a queue of callbacks) alive
//! inside the real one, and the smallest way for a task to give the others a turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context;
use crate::task::header::Kind;
use crate::task::with_running_core;

/// Schedules `callback` to run on a later turn of this thread's loop, in FIFO order with
/// tasks (asyncio's `loop.call_soon`).
///
/// A callback is a tiny task that runs once: it shares the ready queue with tasks, so it
/// runs after everything already ready. A panic in it is caught and reported on stderr; the
/// loop goes on.
///
/// While the loop is being dropped (from a destructor its drop runs, as it cancels the tasks
/// still pending), no callback runs any more: `callback` is dropped unrun, as asyncio's
/// `loop.close()` discards the callbacks still scheduled.
///
/// # Panics
/// With no loop running on this thread.
pub fn call_soon<F: FnOnce() + 'static>(callback: F) {
    with_running_core("call_soon", |core| {
        core.spawn(Callback(Some(callback)), Kind::Callback, None)
    });
}

/// A callback dressed as a future: ready on its first poll.
pub(crate) struct Callback<F>(Option<F>);

impl<F> Callback<F> {
    pub(crate) fn new(callback: F) -> Self {
        Callback(Some(callback))
    }
}

// The closure is moved out before it is called and is never pinned.
impl<F> Unpin for Callback<F> {}

impl<F: FnOnce()> Future for Callback<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if let Some(callback) = self.0.take() {
            callback();
        }
        Poll::Ready(())
    }
}

/// Gives the other ready tasks a turn: the current task goes to the back of the ready
/// queue (asyncio's `await asyncio.sleep(0)`).
#[inline]
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // The loop puts a task woken during its own poll at the back of the queue. The
        // running task's own waker is marked woken straight away; any other (a
        // combinator's) is woken through its vtable.
        if !context::with_core(|core| core.yield_running(cx.waker())).unwrap_or(false) {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
