//! Ctrl-C: SIGINT as an event on the loop's poller.

use std::future::poll_fn;
use std::io;

use mio::Interest;
use signal_hook::consts::SIGINT;
use signal_hook_mio::v1_0::Signals;

use crate::reactor::{Dir, Registration, Waiter};

/// Completes when the process receives SIGINT (Ctrl-C in a terminal), what asyncio's
/// `loop.add_signal_handler(signal.SIGINT, ...)` is for.
///
/// The signal handler (signal-hook's) only writes a byte to a pipe registered with the
/// loop's poller, so the loop learns of the signal like of any readable socket. From the
/// first call on, SIGINT no longer ends the process: it is delivered to the `ctrl_c()`
/// futures waiting at that moment (a SIGINT while none waits is ignored).
///
/// ```no_run
/// # handloop_io::doc_loop(async {
/// println!("press Ctrl-C to stop");
/// handloop_io::signal::ctrl_c().await?;
/// println!("stopping");
/// # Ok(()) })
/// ```
///
/// # Panics
/// Outside an event loop with I/O.
pub async fn ctrl_c() -> io::Result<()> {
    let mut signals = Signals::new([SIGINT])?;
    let registration = Registration::new(&mut signals, Interest::READABLE, "ctrl_c")?;
    let result = {
        let waiter = Waiter::new(&registration, Dir::Read);
        poll_fn(|cx| {
            // Drain the pipe (until it says WouldBlock), then look at what arrived.
            waiter.poll_io(cx, "ctrl_c", || {
                if signals.pending().any(|signal| signal == SIGINT) {
                    Ok(())
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                }
            })
        })
        .await
    };
    registration.deregister(&mut signals)?;
    result
}
