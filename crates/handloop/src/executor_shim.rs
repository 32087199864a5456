//! SHIM: stand-ins for executor APIs that are being added (issues 9 and 12). Each
//! function says what the real one must do; the lead replaces each body with the
//! executor's call when the branches are merged, deletes this file, and removes the
//! `#[ignore]` of the tests that name it.

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
