//! SHIM: stand-ins for executor APIs that are being added (issues 9 and 12). Each
//! function says what the real one must do; the lead replaces each body with the
//! executor's call when the branches are merged, deletes this file, and removes the
//! `#[ignore]` of the tests that name it.

use handloop_executor::JoinHandle;

/// Marks the panic the current task is finishing with as observed, so the executor does
/// not report it on stderr as "nobody awaited its JoinHandle" (the handle still reports
/// the panic to whoever awaits it).
///
/// Called by a `TaskGroup` child, on the child's own task, when it has caught its panic
/// (in `poll`, or while its future is dropped) and recorded it in the group, just before
/// it resumes the panic for the executor.
///
/// Real call: the executor's "mark the current task's panic as observed" API.
pub(crate) fn mark_current_panic_observed() {}

/// Whether the finished task behind `handle` ended in a panic (not a value, not a
/// cancellation), read without taking its output; `false` while the task runs. What
/// `wait(.., ReturnWhen::FirstException)` stops on.
///
/// Real call: a `JoinHandle` query the executor does not have yet (its `TaskState` says
/// `Finished` for a value and for a panic alike); a state bit set at completion when the
/// outcome is a panic is enough.
pub(crate) fn finished_with_panic<T>(handle: &JoinHandle<T>) -> bool {
    let _ = handle;
    false
}
