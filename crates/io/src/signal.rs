//! Ctrl-C: SIGINT as an event on the loop's poller.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use mio::Interest;
use signal_hook::consts::SIGINT;
use signal_hook_mio::v1_0::Signals;

use crate::reactor::{Dir, Registration, WaitSlot};

/// Listens for SIGINT (Ctrl-C in a terminal) from this call on; the returned future
/// completes when one arrives. asyncio's `loop.add_signal_handler(signal.SIGINT, ...)`.
///
/// The handler (signal-hook's) only writes a byte to a pipe registered with the loop's
/// poller, so the loop learns of the signal as of any readable socket. The listener is in
/// place when `ctrl_c()` returns, before the first `.await`: a server can call it, then
/// announce that it is ready, and not miss a Ctrl-C in between. From the first call on,
/// SIGINT no longer ends the process; a SIGINT while no `CtrlC` exists is ignored.
///
/// ```no_run
/// # handloop_io::doc_loop(async {
/// let stop = handloop_io::signal::ctrl_c();
/// println!("press Ctrl-C to stop");
/// stop.await?;
/// println!("stopping");
/// # Ok(()) })
/// ```
///
/// # Panics
/// Outside an event loop with I/O.
pub fn ctrl_c() -> CtrlC {
    CtrlC {
        listener: Some(Listener::new()),
    }
}

/// The future [`ctrl_c`] returns: completes with `Ok(())` on SIGINT, or with the error
/// that kept the listener from being set up.
#[must_use = "the listener is dropped (and SIGINT goes unnoticed) unless awaited"]
pub struct CtrlC {
    /// `None` once completed.
    listener: Option<io::Result<Listener>>,
}

struct Listener {
    signals: Signals,
    registration: Registration,
}

impl Listener {
    fn new() -> io::Result<Listener> {
        let mut signals = Signals::new([SIGINT])?;
        let registration = Registration::new(&mut signals, Interest::READABLE, "ctrl_c")?;
        Ok(Listener {
            signals,
            registration,
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Off the poller before the pipe closes.
        let _ = self.registration.deregister(&mut self.signals);
    }
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let listener = match self.listener.as_mut() {
            Some(Ok(listener)) => listener,
            Some(Err(_)) => return Poll::Ready(self.listener.take().unwrap().map(drop)),
            None => panic!("CtrlC polled after it completed"),
        };
        let Listener {
            signals,
            registration,
        } = listener;
        // Drain the pipe (until it says WouldBlock), then look at what arrived.
        let polled = registration.poll_io(Dir::Read, WaitSlot::Poller, cx, "ctrl_c", || {
            if signals.pending().any(|signal| signal == SIGINT) {
                Ok(())
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            }
        });
        if polled.is_ready() {
            self.listener = None;
        }
        polled
    }
}

impl fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrlC")
            .field("listening", &matches!(self.listener, Some(Ok(_))))
            .finish()
    }
}
