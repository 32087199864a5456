//! The task header: the part of every task that the loop, wakers and handles share without
//! knowing the future's type.
//!
//! # Who touches what, from which thread
//!
//! A task is reached from two kinds of places. Its loop's thread holds the loop, the
//! `JoinHandle` and `AbortHandle`s (both `!Send`) and usually the wakers. Other threads
//! hold only wakers, and a waker reaches the header through a raw pointer. So the header's
//! fields fall in two groups: the cross-thread ones (atomics, and fields that never change),
//! the only ones another thread may touch, and everything else, which lives in plain
//! `Cell`s that only the loop's thread reads or writes. Off the loop's thread the code never
//! makes a `&Header` at all: it reaches the cross-thread fields through a [`CrossThread`]
//! view ([`TaskPtr::cross`]).
//!
//! | field | what it holds | who may touch it | from which thread |
//! |---|---|---|---|
//! | `refs` | the atomic reference count (below) | any holder of a counted reference | any |
//! | `remote_notified` | "in the remote queue already" | remote wakes (swap to true), the loop's drain (swap to false) | any |
//! | `wakers_in_refs` | the task's local waker references were moved into `refs` | the loop sets it once, at completion; wakers read it | any |
//! | `vtable`, `shared` | the type's functions; the loop's thread-safe half | read only, written before the task is shared | any |
//! | `state` | the bits below | the loop, handles, wakers on the loop's thread | loop |
//! | `local`, `wakers` | the loop-thread reference counts (below) | owned references on the loop's thread | loop |
//! | `kind`, `id` | what the header heads; its id | read only | loop |
//! | `polls` | polls so far | the loop (written), `all_tasks` (read) | loop |
//! | `ready_next` | the ready queue's link | `ReadyQueue` | loop |
//! | `live_prev`, `live_next` | the live-task list's links | `LiveTasks` | loop |
//! | `name` | the name, made on first use | handles, the loop, `JoinError` | loop |
//! | `join_waker` | who awaits the `JoinHandle` | the handle (polling, dropping), the loop (at completion) | loop |
//! | `waiting` | what the last poll waited on (for the task dump) | the waiting futures polled with the task's waker (`Relaxed` loads and stores), or under another waker while the task runs (`debug::record_waiting`), the loop (emptied as a poll starts), the dump | any |
//! | the stage (`raw.rs`) | the future, then its output | the loop while the task is not complete, then the handle | loop |
//!
//! "Loop" means the thread the loop was created on (the loop, its handles and its tasks'
//! futures are all `!Send`), whether or not the loop is running right now.
//!
//! # The state of a task
//!
//! | bit | meaning |
//! |---|---|
//! | `NOTIFIED` | the task is in the ready queue, or will be put there when its running poll returns |
//! | `RUNNING` | the loop is inside the task's `poll` right now |
//! | `COMPLETE` | the future is gone: it finished, panicked or was cancelled |
//! | `CANCELLED` | `abort()` was called; the next poll drops the future instead of polling it |
//! | `JOIN_INTEREST` | a `JoinHandle` still exists and wants the output |
//! | `PANIC_OBSERVED` | the current poll's panic was seen by a wrapper ([`mark_panic_observed`](crate::task::mark_panic_observed)) |
//! | `PANICKED` | the task is complete and its outcome is a panic |
//!
//! The scheduling guarantees follow from three rules:
//!
//! - a wake sets `NOTIFIED` unless it is already set (one poll per wake, however many wakes
//!   came in between) or the task is `COMPLETE` (waking a finished task does nothing);
//! - a wake during the task's own poll only sets `NOTIFIED`; the loop puts the task at the
//!   back of the ready queue when the poll returns `Pending` (that is how `yield_now` works);
//! - only the loop pops tasks, and it never queues a `COMPLETE` one.
//!
//! # References: owned, in the types
//!
//! Every reference to a task is a value that gives it back when dropped (`refs.rs`): the
//! live-task list's, each ready-queue entry's ([`Notified`](super::refs::Notified)), the
//! `JoinHandle`'s and each `AbortHandle`'s are [`LocalRef`](super::refs::LocalRef)s; a waker
//! owns one too, unless it is the one the loop lends to a poll. Nothing holds a task through
//! a pointer that owns nothing, except the loop's record of which task is running, which is
//! valid only while the running reference is held.
//!
//! The count is *biased* toward the loop's thread, where almost all of it happens:
//!
//! - `local` counts the references that live on the loop's thread: the structural ones
//!   above and the *local* wakers (made on the loop's thread while the loop ran there).
//!   `wakers` counts how many of those are wakers. Both are plain `Cell`s.
//! - `refs` is atomic. It counts one reference for all the local ones together
//!   (held while `local > 0`), plus each *shared* waker (one cloned off the loop, or after
//!   completion) and each remote-queue entry that carries a reference.
//!
//! A spawn, its polls, its wakes on the loop's thread and its completion thus run no atomic
//! read-modify-write while no waker leaves the thread (the loop's batch of tickets aside,
//! bought with one `fetch_add` per 256 spawns: `shared.rs`). When `local` drops to zero,
//! the one atomic reference is given back by *loading* the count first: a count of 1 proves
//! nobody else holds one, so the task is freed without a `fetch_sub`. Completion adds one
//! plain atomic store (`wakers_in_refs`, below).
//!
//! A local waker may still leave the thread (wakers are `Send`). Off the loop it cannot
//! touch `local`: a clone there makes a shared waker (atomic increment), and dropping it
//! sends a release entry through the remote queue for the loop to apply. When the task
//! completes, the loop moves its local waker count into `refs` and sets
//! `wakers_in_refs`; from then on every waker of the task counts atomically, so wakers
//! that outlive the loop need no loop. The loop's shutdown completes every task before it
//! closes the remote queue, so a release refused by a closed queue always finds its task
//! converted.
//!
//! The task's memory is freed by whoever gives back the last reference, possibly on another
//! thread, so by then everything that is not `Send` (the future and its output) has already
//! been dropped on the loop's thread.
//!
//! # What debug mode reads
//!
//! The loop keeps every live task on an intrusive list (`live.rs`), which is what
//! [`all_tasks`](crate::task::all_tasks) and the task dump walk, and counts polls in
//! `polls`. For a pending task, `wakers` counts its local wakers (wherever they are now)
//! and `cross.refs - 1` its shared wakers plus its remote-queue entries, so the loop can
//! tell how many wakers of it exist; with the join slots (`join_waker`), that is what the
//! deadlock check counts (`debug.rs`). `waiting` is the one word the dump needs that
//! nothing else keeps: what the last poll waited on, as handloop's waiting futures recorded
//! it, reaching the header through the waker they were polled with (`debug.rs`). Since a
//! waker can be used on any thread, it is a cross-thread field, though not among the first
//! five: a `Relaxed` atomic that orders nothing (`handloop_debug::WaitCell`).

use std::cell::{Cell, OnceCell};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::task::Waker;

use handloop_debug::WaitCell;

use crate::shared::Shared;
use crate::sync::{AtomicBool, AtomicUsize, Ordering, fence};
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
/// A panic of the current poll was observed by a wrapper: do not report it as unobserved.
pub(crate) const PANIC_OBSERVED: u8 = 1 << 5;
/// The future is gone and its outcome is a panic (set with `COMPLETE`).
pub(crate) const PANICKED: u8 = 1 << 6;

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

/// What one poll of a task did. When the future is gone, `poll` has also settled the
/// `CANCELLED` bit: kept if the future was dropped because of `abort()`, cleared if it
/// finished (or panicked) first, so that the state says what the handle will report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Polled {
    /// The future is still pending.
    Pending,
    /// The future is gone and its outcome (an output, a panic, a cancellation) is in the
    /// stage, for the handle or for `drop_output`.
    Stored,
    /// The future is gone and so is its outcome: nobody wanted it and dropping it ran no
    /// user code (a `()` output, or a cancellation, of a task without a handle).
    Dropped,
}

/// The operations that need the future's type, written once per future type (`raw.rs`).
///
/// # Safety
///
/// Every function takes a pointer to a live task made by `Task::<F>::allocate` for the
/// same `F` as the vtable, and the caller holds a reference that keeps it alive for the
/// whole call. All run on the task's loop thread, except `dealloc`, which runs wherever the
/// last reference is given back. `poll` is called only by the loop, on a task that is not
/// complete, with `RUNNING` set; `take_output` and `drop_output` only on a complete task;
/// `dealloc` only once every reference is gone (and then nothing else uses the task).
pub(crate) struct Vtable {
    /// Polls the future (or drops it, if cancelled).
    pub(crate) poll: unsafe fn(TaskPtr) -> Polled,
    /// Moves the outcome into `*mut Poll<Result<T, JoinError>>`.
    pub(crate) take_output: unsafe fn(TaskPtr, *mut ()),
    /// Drops an outcome nobody will read, reporting an unobserved panic.
    pub(crate) drop_output: unsafe fn(TaskPtr),
    /// Frees the allocation.
    pub(crate) dealloc: unsafe fn(TaskPtr),
}

/// The part of a header that other threads may touch: its atomics, and fields that never
/// change once the task is shared. A view built from the raw pointer, field by field, so
/// that code off the loop's thread never makes a `&Header` (which would cover the
/// loop-thread cells too).
#[derive(Clone, Copy)]
pub(crate) struct CrossThread<'a> {
    header: NonNull<Header>,
    _task: PhantomData<&'a Header>,
}

impl<'a> CrossThread<'a> {
    /// The atomic reference count: one for all local references together (while there are
    /// any), plus each shared waker's and each remote-queue entry's.
    #[inline]
    pub(crate) fn refs(self) -> &'a AtomicUsize {
        // SAFETY: the task is alive for `'a` (`TaskPtr::cross`'s contract); an atomic may
        // be borrowed from any thread.
        unsafe { &*std::ptr::addr_of!((*self.header.as_ptr()).refs) }
    }

    /// Set while the task sits in its loop's remote queue.
    #[inline]
    pub(crate) fn remote_notified(self) -> &'a AtomicBool {
        // SAFETY: as in `refs`.
        unsafe { &*std::ptr::addr_of!((*self.header.as_ptr()).remote_notified) }
    }

    /// Set once, at completion: the task's local wakers now count in `refs`.
    #[inline]
    pub(crate) fn wakers_in_refs(self) -> &'a AtomicBool {
        // SAFETY: as in `refs`.
        unsafe { &*std::ptr::addr_of!((*self.header.as_ptr()).wakers_in_refs) }
    }

    /// What the task's last poll waited on (a `Relaxed` atomic word: see the module
    /// documentation).
    #[inline]
    pub(crate) fn waiting(self) -> &'a WaitCell {
        // SAFETY: as in `refs` (the cell is an atomic).
        unsafe { &*std::ptr::addr_of!((*self.header.as_ptr()).waiting) }
    }

    /// The type-specific operations (never changes).
    #[inline]
    pub(crate) fn vtable(self) -> &'static Vtable {
        // SAFETY: as in `refs`; the field is written before the task is shared.
        unsafe { std::ptr::addr_of!((*self.header.as_ptr()).vtable).read() }
    }

    /// The loop's thread-safe half, as a pointer: its identity (never changes).
    #[inline]
    pub(crate) fn shared_ptr(self) -> NonNull<Shared> {
        // SAFETY: as in `vtable`.
        unsafe { std::ptr::addr_of!((*self.header.as_ptr()).shared).read() }
    }

    /// The loop's thread-safe half.
    #[inline]
    pub(crate) fn shared(self) -> &'a Shared {
        // SAFETY: the header holds a ticket of `Shared` until it is freed, and it is alive
        // for `'a`.
        unsafe { self.shared_ptr().as_ref() }
    }

    /// Takes one more atomic reference. The caller holds a reference already, so the task
    /// is alive and the count is at least 1.
    #[inline]
    pub(crate) fn ref_inc(self) {
        let old = self.refs().fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            // Like `Arc`: a count this high means wakers are being leaked in a loop.
            std::process::abort();
        }
    }
}

/// The shared head of every task allocation (`#[repr(C)]`: it sits at offset 0, so a
/// pointer to the task is a pointer to its header).
///
/// The first five fields and `waiting` are the cross-thread part ([`CrossThread`]); the
/// rest is for the loop's thread only. (Flat, in this order, so that no padding grows the header.)
#[repr(C)]
pub(crate) struct Header {
    /// The atomic reference count (see the module documentation).
    pub(crate) refs: AtomicUsize,
    /// Type-specific operations.
    pub(crate) vtable: &'static Vtable,
    /// The loop's thread-safe half, kept alive by a ticket this header holds (given back
    /// when the task is freed: see `shared.rs`).
    pub(crate) shared: NonNull<Shared>,
    /// Set while the task sits in its loop's remote queue (a burst of remote wakes enqueues
    /// it once).
    pub(crate) remote_notified: AtomicBool,
    /// Set once, at completion: the task's local wakers now count in `refs`.
    pub(crate) wakers_in_refs: AtomicBool,
    /// The state bits above.
    pub(crate) state: Cell<u8>,
    /// Task, callback or `block_on`'s main future.
    pub(crate) kind: Kind,
    /// References on the loop's thread: structural ones and local wakers.
    pub(crate) local: Cell<u32>,
    /// How many of `local` are wakers (until completion moves them into `refs`).
    pub(crate) wakers: Cell<u32>,
    /// How many times the task was polled (for `all_tasks` and a debug mode).
    pub(crate) polls: Cell<u32>,
    /// The next task in the ready queue.
    pub(crate) ready_next: Cell<Option<TaskPtr>>,
    /// Links of the loop's list of live tasks.
    pub(crate) live_prev: Cell<Option<TaskPtr>>,
    pub(crate) live_next: Cell<Option<TaskPtr>>,
    /// The task's id, unique within its loop.
    pub(crate) id: TaskId,
    /// The name given at spawn, or `task-<id>` written on first use.
    /// (Boxed twice, a thin pointer: one word in every header, a second allocation only
    /// for tasks whose name is set or asked for.)
    pub(crate) name: OnceCell<Box<Box<str>>>,
    /// Who to wake when the task completes (the awaiting `JoinHandle`'s waker).
    pub(crate) join_waker: Cell<Option<Waker>>,
    /// What the task's last poll waited on, as handloop's own waiting futures recorded it
    /// (emptied as each poll starts). Cross-thread: reached off the loop's thread only
    /// through [`CrossThread::waiting`].
    pub(crate) waiting: WaitCell,
}

impl Header {
    /// A header with the given initial state, `local` references and one atomic reference
    /// (standing for the local ones).
    #[inline(always)]
    pub(crate) fn new(
        kind: Kind,
        state: u8,
        local: u32,
        vtable: &'static Vtable,
        shared: NonNull<Shared>,
        id: TaskId,
        name: Option<&str>,
    ) -> Header {
        let cell = OnceCell::new();
        if let Some(name) = name {
            let _ = cell.set(Box::new(Box::from(name)));
        }
        Header {
            refs: AtomicUsize::new(1),
            vtable,
            shared,
            remote_notified: AtomicBool::new(false),
            wakers_in_refs: AtomicBool::new(false),
            state: Cell::new(state),
            kind,
            local: Cell::new(local),
            wakers: Cell::new(0),
            polls: Cell::new(0),
            ready_next: Cell::new(None),
            live_prev: Cell::new(None),
            live_next: Cell::new(None),
            id,
            name: cell,
            join_waker: Cell::new(None),
            waiting: WaitCell::new(),
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
            Box::new(format!("{prefix}-{}", self.id).into_boxed_str())
        })
    }

    /// Whether the future is gone.
    #[inline]
    pub(crate) fn is_complete(&self) -> bool {
        self.state.get() & COMPLETE != 0
    }

    /// Takes one more local reference.
    ///
    /// # Safety
    /// On the task's loop thread, while the caller holds a reference (so `local > 0`).
    #[inline]
    pub(crate) unsafe fn local_inc(&self) {
        let local = self.local.get();
        debug_assert!(local > 0, "a local reference is made from a held one");
        if local == u32::MAX {
            std::process::abort(); // wakers leaked in a loop, as in `ref_inc`
        }
        self.local.set(local + 1);
    }

    /// Completion: the task's local wakers count atomically from now on, so that they work
    /// without the loop (see the module documentation). Called once, with `COMPLETE`.
    ///
    /// # Safety
    /// On the task's loop thread, by the loop, as the task becomes complete.
    pub(crate) unsafe fn move_wakers_to_refs(&self) {
        let wakers = self.wakers.replace(0);
        if wakers > 0 {
            self.refs.fetch_add(wakers as usize, Ordering::Relaxed);
            // The loop holds references of its own while it completes a task.
            self.local.set(self.local.get() - wakers);
        }
        // Release: a waker that sees the flag also sees the count above.
        self.wakers_in_refs.store(true, Ordering::Release);
    }
}

/// A pointer to a task's header that owns nothing: the links of the intrusive lists, a
/// waker's data pointer, and the loop's note of the running task. Reading through it is
/// `unsafe`: the caller must know of a reference that keeps the task alive.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TaskPtr(NonNull<Header>);

impl TaskPtr {
    /// Wraps a pointer to a header.
    ///
    /// # Safety
    /// `ptr` points to the header of a task allocation.
    pub(crate) unsafe fn from_raw(ptr: *const ()) -> TaskPtr {
        // SAFETY: the caller promises a valid, hence non-null, header pointer.
        TaskPtr(unsafe { NonNull::new_unchecked(ptr as *mut Header) })
    }

    /// The raw pointer, as stored in a `RawWaker`.
    pub(crate) fn as_ptr(self) -> *const () {
        self.0.as_ptr() as *const ()
    }

    /// The header, on the loop's thread.
    ///
    /// # Safety
    /// The caller is on the task's loop thread and knows of a reference that keeps the task
    /// alive for `'a`.
    #[inline]
    pub(crate) unsafe fn header<'a>(self) -> &'a Header {
        // SAFETY: the caller's promise; the header is only mutated through cells (on this
        // thread) and atomics.
        unsafe { self.0.as_ref() }
    }

    /// The cross-thread part of the header, from any thread.
    ///
    /// # Safety
    /// The caller knows of a reference that keeps the task alive for `'a`.
    #[inline]
    pub(crate) unsafe fn cross<'a>(self) -> CrossThread<'a> {
        CrossThread {
            header: self.0,
            _task: PhantomData,
        }
    }

    /// Gives back one atomic reference, freeing the task if it was the last.
    ///
    /// A count of 1 proves that nobody else holds a reference (taking one needs one), so
    /// the last reference is given back with a load, not a read-modify-write.
    ///
    /// # Safety
    /// The caller owns one atomic reference to the task and does not use the task (nor any
    /// reference into it) afterwards. If this frees the task, it does so on this thread:
    /// everything not `Send` in it was dropped already (a task is freed only complete).
    #[inline]
    pub(crate) unsafe fn release_ref(self) {
        // SAFETY: our reference keeps the task alive until we give it back.
        let refs = unsafe { self.cross() }.refs();
        if refs.load(Ordering::Acquire) != 1 && refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Every other owner's last use happens-before this point, as in `Arc::drop`: the
        // load above is an acquire, and so is this fence after the `fetch_sub`.
        fence(Ordering::Acquire);
        // SAFETY: as above; nobody else can touch the task now.
        let dealloc = unsafe { self.cross() }.vtable().dealloc;
        // SAFETY: that was the last reference; nobody else can reach the allocation.
        unsafe { dealloc(self) };
    }

    /// Gives back one local reference; the last one gives back the atomic reference that
    /// stood for them.
    ///
    /// # Safety
    /// On the task's loop thread; the caller owns one local reference and does not use the
    /// task afterwards.
    #[inline]
    pub(crate) unsafe fn release_local(self) {
        // SAFETY: on the loop's thread, our reference keeps the task alive.
        let header = unsafe { self.header() };
        let local = header.local.get() - 1;
        header.local.set(local);
        if local == 0 {
            // SAFETY: the local references together owned this atomic reference.
            unsafe { self.release_ref() };
        }
    }
}
