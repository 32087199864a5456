//! Which loop runs on this thread: set by `block_on` (and by the loop's drop) for as long as
//! it runs, and read by `spawn`, `call_soon`, and every waker to tell a wake on the loop's
//! own thread from a wake elsewhere; and, through it, by a waiting future polled with a
//! waker that is not a task's, to find the task being polled and record what it waits on
//! (see `debug.rs`).

use std::cell::Cell;
use std::ptr;

use handloop_debug::PackedWait;

use crate::core::Core;

#[cfg(not(loom))]
std::thread_local! {
    /// The loop running on this thread, if any.
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

// loom runs its threads on one OS thread: each needs a thread-local of its own.
#[cfg(loom)]
loom::thread_local! {
    static CURRENT: Cell<*const Core> = Cell::new(ptr::null());
}

/// Records what the task being polled on this thread waits on (nothing if no loop runs
/// here, or between polls); see `debug::record_waiting`.
///
/// Never inlined, on purpose: it is called from generic code (a `Receiver<T>`'s poll, a
/// queue's `get`), which is compiled in the crate that uses it, and there `thread_local!`'s
/// `with` reached the variable through the `LocalKey`'s function pointer, ~30 instructions a
/// record; compiled here, the read is one thread-local load.
#[inline(never)]
pub(crate) fn record_waiting(what: PackedWait) {
    with_core(|core| core.with_running_record(|record| record.record_packed(what)));
}

/// Runs `f` with the loop running on this thread, if any. The borrow cannot outlive the
/// call, and the loop cannot go away during it (see [`Enter`]).
#[inline]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    let core = CURRENT.with(Cell::get);
    // SAFETY: CURRENT is non-null only between `Enter::new` and its drop, and the `Core`
    // it points to outlives that (see `Enter::new`'s contract); `f` cannot end it early:
    // `block_on` and the loop's drop, which hold the `Enter`, are on this thread's stack
    // below this call.
    unsafe { core.as_ref() }.map(f)
}

/// Whether an event loop is running on this thread.
pub fn in_event_loop() -> bool {
    !CURRENT.with(Cell::get).is_null()
}

/// Makes a core this thread's current loop until dropped.
pub(crate) struct Enter {
    previous: *const Core,
}

impl Enter {
    /// # Safety
    /// `core` stays alive, at the same address, until the returned value is dropped.
    pub(crate) unsafe fn new(core: &Core) -> Enter {
        let previous = CURRENT.with(|c| c.replace(core));
        Enter { previous }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}
