//! Helpers shared by the facade's "seeing the loop" tests (`seeing.rs`, `seeing_threads.rs`).

use std::panic::{AssertUnwindSafe, catch_unwind};

use handloop::Runtime;

/// A runtime on the virtual clock.
pub fn virtual_runtime() -> Runtime {
    Runtime::builder().virtual_time().build().unwrap()
}

/// Runs `f`, which must panic, and returns the message.
pub fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it should have panicked");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .expect("a panic with a message")
}
