//! Which loop runs on this thread: set by `block_on` (and by the loop's drop) for as long as
//! it runs, and read by `spawn`, `call_soon`, and every waker to tell a wake on the loop's
//! own thread from a wake elsewhere; and, through it, the loop's waiting record: what the
//! task being polled waits on, as handloop's waiting futures report it (see `debug.rs`).

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

/// The loop running on this thread (null if none), read where this crate is compiled.
///
/// Never inlined, on purpose: `thread_local!`'s `with` reaches the variable through a
/// function pointer, which the compiler sees through only inside this crate. Generic code
/// (`spawn::<F>`, a task's drop, a `JoinHandle<T>`, the channel's futures) is compiled in
/// the crate that uses it, where an inlined read is an indirect call and ~30 instructions;
/// through this function it is a call, a thread-local load and a return.
#[inline(never)]
fn current() -> *const Core {
    CURRENT.with(Cell::get)
}

/// Records what the task being polled on this thread waits on (nothing if no loop runs
/// here, or between polls); see `debug::record_waiting`. Not inlined, like [`current`].
#[inline(never)]
pub(crate) fn record_waiting(what: PackedWait) {
    with_core_here(|core| core.record_waiting(what));
}

/// Runs `f` with the loop running on this thread, if any. The borrow cannot outlive the
/// call, and the loop cannot go away during it (see [`Enter`]).
#[inline]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    // SAFETY: see `core_ref`.
    unsafe { core_ref(current()) }.map(f)
}

/// [`with_core`] with the thread-local read inlined: only for code of this crate that is
/// not generic (the waker's functions, `record_waiting`), where that read is one load.
#[inline(always)]
pub(crate) fn with_core_here<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    // SAFETY: see `core_ref`.
    unsafe { core_ref(CURRENT.with(Cell::get)) }.map(f)
}

/// # Safety
/// `core` was read from `CURRENT` on this thread, and the borrow does not outlive the
/// caller's call: CURRENT is non-null only between `Enter::new` and its drop, and the
/// `Core` it points to outlives that (see `Enter::new`'s contract); the caller cannot end it
/// early: `block_on` and the loop's drop, which hold the `Enter`, are on this thread's stack
/// below the caller.
#[inline(always)]
unsafe fn core_ref<'a>(core: *const Core) -> Option<&'a Core> {
    // SAFETY: the caller's promise.
    unsafe { core.as_ref() }
}

/// Whether an event loop is running on this thread.
pub fn in_event_loop() -> bool {
    !CURRENT.with(Cell::get).is_null()
}

/// Makes a core this thread's current loop until dropped, and starts it with an empty waiting
/// record (a future polled outside a task's poll, by a callback, may have recorded).
pub(crate) struct Enter {
    previous: *const Core,
}

impl Enter {
    /// # Safety
    /// `core` stays alive, at the same address, until the returned value is dropped.
    pub(crate) unsafe fn new(core: &Core) -> Enter {
        let previous = CURRENT.with(|c| c.replace(core));
        core.waiting.clear();
        Enter { previous }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}
