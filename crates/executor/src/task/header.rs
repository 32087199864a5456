//! The task header: the part of every task that the loop, wakers and join handles share
//! without knowing the future's type.
//!
//! # The state of a task
//!
//! A task's life is a handful of bits in [`Header::state`]. They live in a plain `Cell`
//! because only the loop's own thread ever reads or writes them: the loop polls there, a
//! `JoinHandle` cannot leave that thread (it is `!Send`), and a waker woken on another
//! thread never touches them (it goes through the remote queue, below).
//!
//! | bit | meaning |
//! |---|---|
//! | `NOTIFIED` | the task is in the ready queue, or will be put there when its running poll returns |
//! | `RUNNING` | the loop is inside the task's `poll` right now |
//! | `COMPLETE` | the future is gone: it finished, panicked or was cancelled |
//! | `CANCELLED` | `abort()` was called; the next poll drops the future instead of polling it |
//! | `JOIN_INTEREST` | a `JoinHandle` still exists and wants the output |
//!
//! The guarantees follow from three rules:
//!
//! - a wake sets `NOTIFIED` unless it is already set (one poll per wake, however many wakes
//!   came in between) or the task is `COMPLETE` (waking a finished task does nothing);
//! - a wake during the task's own poll only sets `NOTIFIED`; the loop puts the task at the
//!   back of the ready queue when the poll returns `Pending` (that is how `yield_now` works);
//! - only the loop pops tasks, and a popped task is never `COMPLETE`, so the ready queue can
//!   hold plain pointers: the loop owns one reference to every live task until it completes.
//!
//! # Wakes from other threads
//!
//! A `Waker` is `Send + Sync`. Woken on a thread where its loop is not running, it cannot
//! touch the ready queue or the state bits. It sets the atomic [`Header::remote_notified`]
//! flag (so a burst of remote wakes enqueues the task once), takes a reference, pushes the
//! task onto its loop's mutex-protected remote queue and unparks the loop. At the start of
//! each turn the loop moves the remote queue into the ready queue, clearing the flag and
//! applying the ordinary local wake. Once the loop is dropped the remote queue is closed and a
//! remote wake only drops the reference it took.
//!
//! # Reference counting
//!
//! [`Header::refs`] counts one *owner* reference, held jointly by the loop and the
//! `JoinHandle` and given back (on the loop's thread) once the task is complete and no
//! handle wants the output, plus every cloned `Waker`'s, every `AbortHandle`'s and every
//! remote-queue entry's. A spawn and its completion thus cost no atomic on the count unless
//! a waker escapes. Polling borrows the task's waker without touching the count. The task's memory is freed by whoever drops the
//! last reference, possibly on another thread, so by then everything that is not `Send` (the
//! future and its output) has already been dropped on the loop's thread.
//!
//! # Room for a debug mode
//!
//! The loop keeps every live task on an intrusive list (`owned_prev`/`owned_next`), which is
//! what [`all_tasks`](crate::task::all_tasks) walks, and counts polls in [`Header::polls`].
//! Timing each poll would be one more field and a branch on a loop-wide flag around the call
//! to `poll`; nothing here needs to change shape for it.

use std::cell::{Cell, OnceCell};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::task::Waker;

use crate::event_loop::current;
use crate::shared::Shared;
use crate::task::TaskId;

/// In the ready queue, or to be put there when the running poll returns.
pub(crate) const NOTIFIED: u8 = 1 << 0;
/// Being polled right now.
pub(crate) const RUNNING: u8 = 1 << 1;
/// The future is gone (finished, panicked or cancelled).
pub(crate) const COMPLETE: u8 = 1 << 2;
/// `abort()` was called.
pub(crate) const CANCELLED: u8 = 1 << 3;
/// A `JoinHandle` still exists.
pub(crate) const JOIN_INTEREST: u8 = 1 << 4;

/// What a header heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A spawned future with a `JoinHandle` (possibly dropped since).
    Task,
    /// A `call_soon` callback: a task that runs once and has no handle.
    Callback,
    /// The future passed to `block_on`, which lives on the caller's stack; only its
    /// header is on the heap, so that its waker works like every other task's.
    Main,
}

/// The operations that need the future's type, written once per future type.
///
/// # Safety
///
/// Every function takes a `TaskRef` to a live task made by `Task::<F>::allocate` for the
/// same `F` as the vtable, and runs on the task's loop thread, except `dealloc`, which
/// runs wherever the last reference is dropped. The loop calls `poll` only on a popped,
/// non-complete task with `RUNNING` set; `take_output` and `drop_output` are called by the
/// handle only on a complete task; `dealloc` only once the reference count reached zero.
pub(crate) struct Vtable {
    /// Polls the future (or drops it, if cancelled). Returns `true` when the task completed.
    pub(crate) poll: unsafe fn(TaskRef) -> bool,
    /// Moves the output into `*mut Poll<Result<T, JoinError>>`.
    pub(crate) take_output: unsafe fn(TaskRef, *mut ()),
    /// Drops an output nobody will read (the handle is gone).
    pub(crate) drop_output: unsafe fn(TaskRef),
    /// Frees the allocation.
    pub(crate) dealloc: unsafe fn(TaskRef),
}

/// The shared head of every task allocation (`#[repr(C)]`: it sits at offset 0, so a
/// pointer to the task is a pointer to its header).
#[repr(C)]
pub(crate) struct Header {
    /// References: the loop's, the handle's, each waker's, each remote-queue entry's.
    pub(crate) refs: AtomicUsize,
    /// Set while the task sits in its loop's remote queue.
    pub(crate) remote_notified: AtomicBool,
    /// The state bits above; loop thread only.
    pub(crate) state: Cell<u8>,
    /// Task, callback or `block_on`'s main future.
    pub(crate) kind: Kind,
    /// How many times the task was polled (for `all_tasks` and a debug mode).
    pub(crate) polls: Cell<u32>,
    /// Type-specific operations.
    pub(crate) vtable: &'static Vtable,
    /// The loop's thread-safe half, kept alive by a ticket this header holds (given back
    /// when the task is freed: see `shared.rs`).
    pub(crate) shared: *const Shared,
    /// The next task in the ready queue; loop thread only.
    pub(crate) ready_next: Cell<Option<TaskRef>>,
    /// Links of the loop's list of live tasks; loop thread only.
    pub(crate) owned_prev: Cell<Option<TaskRef>>,
    pub(crate) owned_next: Cell<Option<TaskRef>>,
    /// The task's id, unique within its loop.
    pub(crate) id: TaskId,
    /// The name given at spawn, or `task-<id>` written on first use; loop thread only.
    pub(crate) name: OnceCell<Box<str>>,
    /// Who to wake when the task completes (the awaiting `JoinHandle`'s waker).
    pub(crate) join_waker: Cell<Option<Waker>>,
}

impl Header {
    /// A header with the given initial state and reference count.
    pub(crate) fn new(
        kind: Kind,
        state: u8,
        refs: usize,
        vtable: &'static Vtable,
        shared: *const Shared,
        id: TaskId,
        name: Option<&str>,
    ) -> Header {
        let cell = OnceCell::new();
        if let Some(name) = name {
            let _ = cell.set(Box::from(name));
        }
        Header {
            refs: AtomicUsize::new(refs),
            remote_notified: AtomicBool::new(false),
            state: Cell::new(state),
            kind,
            polls: Cell::new(0),
            vtable,
            shared,
            ready_next: Cell::new(None),
            owned_prev: Cell::new(None),
            owned_next: Cell::new(None),
            id,
            name: cell,
            join_waker: Cell::new(None),
        }
    }

    /// The task's name: the one given at spawn, or `task-<id>`.
    pub(crate) fn name(&self) -> &str {
        self.name.get_or_init(|| {
            let prefix = if self.kind == Kind::Callback {
                "callback"
            } else {
                "task"
            };
            format!("{prefix}-{}", self.id).into_boxed_str()
        })
    }
}

/// A non-owning pointer to a task's header. Who owns which reference is tracked by the
/// code that holds it (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TaskRef(NonNull<Header>);

impl TaskRef {
    /// Wraps a pointer to a live header.
    ///
    /// # Safety
    /// `ptr` points to the header of a live task allocation.
    pub(crate) unsafe fn from_raw(ptr: *const ()) -> TaskRef {
        // SAFETY: the caller promises a valid, hence non-null, header pointer.
        TaskRef(unsafe { NonNull::new_unchecked(ptr as *mut Header) })
    }

    /// The raw pointer, as stored in a `RawWaker`.
    pub(crate) fn as_ptr(self) -> *const () {
        self.0.as_ptr() as *const ()
    }

    /// The header. Every `TaskRef` in use is backed by a reference that keeps the task
    /// allocated (the loop's, a handle's, a waker's or a queue entry's).
    pub(crate) fn header<'a>(self) -> &'a Header {
        // SAFETY: a TaskRef is only used while some reference keeps the allocation alive
        // (module documentation); the header is only mutated through cells and atomics.
        unsafe { self.0.as_ref() }
    }

    /// Takes one more reference.
    pub(crate) fn ref_inc(self) {
        let old = self.header().refs.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            // Like `Arc`: a count this high means wakers are being leaked in a loop.
            std::process::abort();
        }
    }

    /// Gives one reference back, freeing the task if it was the last.
    pub(crate) fn ref_dec(self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Every other owner's last use happens-before this point, as in `Arc::drop`.
        fence(Ordering::Acquire);
        let dealloc = self.header().vtable.dealloc;
        // SAFETY: this was the last reference; nobody else can reach the allocation.
        unsafe { dealloc(self) };
    }

    /// Schedules the task: the ordinary wake, from any thread.
    #[inline]
    pub(crate) fn wake_by_ref(self) {
        let header = self.header();
        match current() {
            Some(core) if core.owns(header) => core.schedule(self),
            _ => self.wake_remote(),
        }
    }

    /// The cross-thread wake: enqueue on the loop's remote queue and unpark it.
    #[cold]
    fn wake_remote(self) {
        let header = self.header();
        if header.remote_notified.swap(true, Ordering::AcqRel) {
            return; // already waiting in the remote queue
        }
        self.ref_inc(); // owned by the queue entry
        // SAFETY: the header holds a ticket of `Shared`, and our caller's reference keeps
        // the header alive for the duration of this call.
        let shared = unsafe { &*header.shared };
        match shared.remote.push(self) {
            Ok(()) => shared.unparker.unpark(),
            // The loop is gone: its tasks are all complete. Give the entry's reference back.
            Err(task) => task.ref_dec(),
        }
    }
}
