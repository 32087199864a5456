//! The panics the timer catches itself, and how it reports them: once, on stderr, saying
//! what panicked (as the executor reports a panic nobody observed).

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use handloop_executor::task::panic_message;

/// Runs `f`; a panic in it is reported as `what` panicking, and goes no further.
pub(crate) fn report_panic_in(what: impl fmt::Display, f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        report(what, payload);
    }
}

#[cold]
fn report(what: impl fmt::Display, payload: Box<dyn Any + Send>) {
    eprintln!("handloop: {what} panicked: {}", panic_message(&*payload));
    // A payload whose own drop panics is not worth taking the loop down for.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
}
