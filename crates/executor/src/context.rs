//! Which loop runs on this thread: set by `block_on` (and by the loop's drop) for as long as
//! it runs, and read by `spawn`, `call_soon`, and every waker to tell a wake on the loop's
//! own thread from a wake elsewhere. And the thread's waiting record: what the task being
//! polled waits on, as handloop's waiting futures report it (see `debug.rs`).

use std::cell::Cell;
use std::ptr;

use handloop_debug::WaitCell;

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

#[cfg(not(loom))]
std::thread_local! {
    /// What the poll running on this thread waits on: recorded into by waiting futures, taken
    /// by the loop after each poll (and kept in the task's header if the poll returned
    /// `Pending`), cleared when a loop starts on the thread.
    static WAITING: WaitCell = const { WaitCell::new() };
}

#[cfg(loom)]
loom::thread_local! {
    static WAITING: WaitCell = WaitCell::new();
}

/// Runs `f` with this thread's waiting record (`WAITING`).
#[inline(always)]
pub(crate) fn with_waiting<R>(f: impl FnOnce(&WaitCell) -> R) -> R {
    WAITING.with(f)
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

/// Makes a core this thread's current loop until dropped, and starts it with an empty waiting
/// record (a future polled on this thread outside any loop may have recorded).
pub(crate) struct Enter {
    previous: *const Core,
}

impl Enter {
    /// # Safety
    /// `core` stays alive, at the same address, until the returned value is dropped.
    pub(crate) unsafe fn new(core: &Core) -> Enter {
        let previous = CURRENT.with(|c| c.replace(core));
        with_waiting(WaitCell::clear);
        Enter { previous }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}
