//! The loop's core: its bookkeeping on its own thread. Spawning, the local wake, one poll,
//! completion, the remote queue's drain, and shutdown. `event_loop.rs` drives it.
//!
//! Two rules keep it sound when user code (a future's `poll` or destructor, a waker's
//! `wake`) calls back into the loop, drops handles or panics:
//!
//! - The loop holds an owned reference ([`Notified`], [`LocalRef`]) to every task it is
//!   working on, across any call into user code; only after that code returned (or
//!   unwound) does it give the reference back.
//! - Lists are brought to their final state before user code runs: a completed task leaves
//!   the live list before its join waker is woken or its output dropped.

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::{self, NonNull};

use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use handloop_debug::{Heartbeat, WaitCell};

use crate::debug::{LoopDebug, LoopView};
use crate::driver::Unparker;
use crate::live::LiveTasks;
use crate::ready::ReadyQueue;
use crate::remote::Remote;
use crate::shared::{Shared, TICKET_BATCH};
use crate::task::blocks::BlockCache;
use crate::task::header::{
    CANCELLED, COMPLETE, CrossThread, Header, JOIN_INTEREST, Kind, NOTIFIED, PANIC_OBSERVED,
    Polled, RUNNING, TaskPtr,
};
use crate::task::raw::{Place, Task};
use crate::task::refs::{LocalRef, Notified};
use crate::task::{TaskId, TaskInfo, panic_message};

/// The loop's own state, used only on its thread (it is neither `Send` nor `Sync`).
pub(crate) struct Core {
    /// Identity of this loop, compared with a task's `shared` pointer on every wake; this
    /// core holds one ticket of it, plus `spare_tickets`.
    shared: NonNull<Shared>,
    /// Tickets bought and not yet handed to a task (see `shared.rs`).
    spare_tickets: Cell<usize>,
    /// Tasks to poll, in the order they were woken; each entry owns a reference.
    pub(crate) ready: ReadyQueue,
    /// Every task that is not complete, oldest first; the list owns a reference to each.
    live: LiveTasks,
    /// The task being polled right now; the loop holds its `Notified` meanwhile.
    current: Cell<Option<TaskPtr>>,
    /// `block_on`'s main task, while it runs; `MainTask` holds its reference.
    main: Cell<Option<TaskPtr>>,
    /// The last task id handed out.
    last_id: Cell<u64>,
    /// Reused buffer for draining the remote queue.
    remote_buf: Cell<Vec<Remote>>,
    /// Memory of finished tasks, for the next ones.
    blocks: BlockCache,
    /// Debug mode and tracing; `None` when both are off.
    debug: Option<Box<LoopDebug>>,
    /// The debug state's heartbeat, kept here so that a poll reaches it with one load.
    heartbeat: Option<Arc<Heartbeat>>,
    /// How a task dump reads the loop's clock (the driver's `dump_clock`).
    dump_clock: Option<fn() -> Option<Instant>>,
    /// Set once the loop's drop began to cancel its tasks: a callback sent now would
    /// never run.
    closing: Cell<bool>,
}

impl Core {
    pub(crate) fn new(
        unparker: Unparker,
        debug: Option<Box<LoopDebug>>,
        dump_clock: Option<fn() -> Option<Instant>>,
    ) -> Core {
        Core {
            shared: Shared::new(unparker, LoopView::new(debug.as_deref())),
            spare_tickets: Cell::new(0),
            ready: ReadyQueue::default(),
            live: LiveTasks::default(),
            current: Cell::new(None),
            main: Cell::new(None),
            last_id: Cell::new(0),
            remote_buf: Cell::new(Vec::new()),
            blocks: BlockCache::default(),
            heartbeat: debug.as_ref().map(|debug| debug.heartbeat()),
            debug,
            dump_clock,
            closing: Cell::new(false),
        }
    }

    /// The loop's clock for a task dump (its driver's, else the real time).
    pub(crate) fn dump_clock(&self) -> Instant {
        self.dump_clock
            .and_then(|clock| clock())
            .unwrap_or_else(Instant::now)
    }

    /// Runs `f` on the waiting record of the task being polled, if a poll is running (not
    /// between polls: a record made by a destructor or a wake the loop runs there must not
    /// land on a task). `f` is given only the record, which cannot end the poll.
    #[inline]
    pub(crate) fn with_running_record<R>(&self, f: impl FnOnce(&WaitCell) -> R) -> Option<R> {
        let task = self.current.get()?;
        // SAFETY: the running task is alive while its poll runs (the loop holds the
        // running reference) and `f`, given only the cell, cannot end the poll.
        Some(f(unsafe { task.cross() }.waiting()))
    }

    /// The debug state, when debug mode or tracing is on.
    #[inline]
    pub(crate) fn debug(&self) -> Option<&LoopDebug> {
        self.debug.as_deref()
    }

    /// The loop's cache of task memory.
    pub(crate) fn blocks(&self) -> &BlockCache {
        &self.blocks
    }

    /// The thread-safe half.
    pub(crate) fn shared(&self) -> &Shared {
        // SAFETY: this core holds a ticket until it is dropped.
        unsafe { self.shared.as_ref() }
    }

    /// A ticket of `Shared` for a new task header (bought in batches: no atomic per task).
    pub(crate) fn take_ticket(&self) -> NonNull<Shared> {
        let spare = match self.spare_tickets.get() {
            0 => {
                self.shared().buy(TICKET_BATCH);
                TICKET_BATCH
            }
            spare => spare,
        };
        self.spare_tickets.set(spare - 1);
        self.shared
    }

    /// Takes back the ticket of a task freed on this loop's thread.
    pub(crate) fn return_ticket(&self) {
        self.spare_tickets.set(self.spare_tickets.get() + 1);
    }

    /// Whether `header` belongs to this loop.
    #[inline]
    pub(crate) fn owns(&self, header: &Header) -> bool {
        self.is(header.shared)
    }

    /// Whether the task with this cross-thread part belongs to this loop.
    #[inline]
    pub(crate) fn owns_cross(&self, cross: CrossThread<'_>) -> bool {
        self.is(cross.shared_ptr())
    }

    /// Whether `shared` is this loop's thread-safe half.
    #[inline]
    pub(crate) fn is(&self, shared: NonNull<Shared>) -> bool {
        ptr::eq(self.shared.as_ptr(), shared.as_ptr())
    }

    /// The local wake: mark the task notified and, unless it is running right now, put it
    /// at the back of the ready queue. Waking a notified or complete task does nothing.
    ///
    /// # Safety
    /// The caller holds a reference to the task, which belongs to this loop.
    #[inline]
    pub(crate) unsafe fn schedule(&self, task: TaskPtr) {
        // SAFETY: the caller's reference keeps it alive; this core is borrowed on its own
        // thread, which is the task's loop thread.
        let header = unsafe { task.header() };
        debug_assert!(self.owns(header));
        let state = header.state.get();
        if state & (NOTIFIED | COMPLETE) != 0 {
            return;
        }
        header.state.set(state | NOTIFIED);
        if state & RUNNING == 0 {
            // SAFETY: as above.
            self.ready.push_back(unsafe { Notified::new(self, task) });
        }
    }

    /// `yield_now` of the task being polled, with its own waker: marks it woken, which
    /// puts it at the back of the ready queue once its poll returns, as a wake by
    /// reference would (the same state change as [`Core::schedule`] on a running task),
    /// without the call through the waker's vtable. Whether it did: `false` for any other
    /// waker (a combinator's own), which the caller then wakes.
    #[inline]
    pub(crate) fn yield_running(&self, waker: &Waker) -> bool {
        let Some(task) = self.current.get() else {
            return false;
        };
        if !crate::task::waker::is_local_waker_of(waker, task) {
            return false;
        }
        // SAFETY: the task being polled: the loop holds its reference for the poll, on
        // this thread.
        let header = unsafe { task.header() };
        debug_assert!(header.state.get() & RUNNING != 0);
        header.state.set(header.state.get() | NOTIFIED);
        true
    }

    /// The local wake by value: as [`Core::schedule`], but the waker's own reference
    /// becomes the ready queue's entry when the task is queued, and is given back
    /// otherwise.
    ///
    /// # Safety
    /// The caller owns one local waker reference to the task, which belongs to this loop,
    /// and does not use the task afterwards.
    #[inline]
    pub(crate) unsafe fn schedule_by_value(&self, task: TaskPtr) {
        // SAFETY: the caller's reference keeps it alive; this core is borrowed on its own
        // thread, which is the task's loop thread.
        let header = unsafe { task.header() };
        debug_assert!(self.owns(header));
        let state = header.state.get();
        if state & (NOTIFIED | COMPLETE | RUNNING) == 0 {
            header.state.set(state | NOTIFIED);
            // Not complete: the waker's reference counts in `local` (and `wakers`).
            header.wakers.set(header.wakers.get() - 1);
            // SAFETY: the waker's local reference is handed to the entry.
            self.ready.push_back(Notified::from_local(unsafe {
                LocalRef::from_counted(task)
            }));
            return;
        }
        // SAFETY: as above.
        unsafe {
            self.schedule(task);
            crate::task::waker::release_on_loop(task);
        }
    }

    /// Allocates a task, links it into the live list and queues its first poll. Returns the
    /// handle's reference for a `Kind::Task`.
    pub(crate) fn spawn<F>(&self, future: F, kind: Kind, name: Option<&str>) -> Option<LocalRef>
    where
        F: Future + 'static,
    {
        self.spawn_in(None, future, kind, name)
    }

    /// [`Core::spawn`], into `place` if given (a block someone else allocated: a remote
    /// spawn's, made on the sending thread) instead of a block of the loop's. A placed task
    /// is detached from the start (its owner has its own way out for the output): no
    /// handle's reference, no `JOIN_INTEREST`, and `None` returned.
    #[inline(always)]
    pub(crate) fn spawn_in<F>(
        &self,
        place: Option<Place<F>>,
        future: F,
        kind: Kind,
        name: Option<&str>,
    ) -> Option<LocalRef>
    where
        F: Future + 'static,
    {
        let id = TaskId(self.last_id.get() + 1);
        self.last_id.set(id.0);
        // Local references: the live list's, the ready queue's, and the handle's.
        let joinable = kind == Kind::Task && place.is_none();
        let (state, local) = match joinable {
            true => (NOTIFIED | JOIN_INTEREST, 3),
            false => (NOTIFIED, 2),
        };
        let shared = self.take_ticket();
        let header = |vtable| Header::new(kind, state, local, vtable, shared, id, name);
        let task = match place {
            None => Task::allocate(&self.blocks, future, header),
            Some(place) => place.write(future, header),
        };
        // SAFETY: the new header counts `local` references, all ours, on this thread.
        let (listed, queued) =
            unsafe { (LocalRef::from_counted(task), LocalRef::from_counted(task)) };
        self.live.push_back(listed);
        self.shared().add_live_tasks(1);
        self.ready.push_back(Notified::from_local(queued));
        // SAFETY: as above (the third reference, for a joinable task).
        joinable.then(|| unsafe { LocalRef::from_counted(task) })
    }

    /// A task just popped from the ready queue: poll it, and complete it if it is done.
    /// `DEBUG` is whether this loop has debug state, `TRACE` whether it records a trace:
    /// the loop compiles its turn in three copies, and the one without debug state has
    /// none of its work on its path (see `debug.rs`).
    #[inline]
    pub(crate) fn run_task<const DEBUG: bool, const TRACE: bool>(&self, task: Notified) {
        let ptr = task.ptr();
        // SAFETY: `task` keeps the task alive; it belongs to this loop, is not complete (the
        // loop never queues a complete task), and `poll_with` sets RUNNING.
        let polled =
            self.poll_with::<DEBUG, TRACE>(task, || unsafe { (ptr_vtable(ptr).poll)(ptr) });
        if let Some((task, polled)) = polled {
            self.complete::<DEBUG, TRACE>(task, polled);
        }
    }

    /// The bookkeeping around one poll, for tasks and for `block_on`'s own future alike:
    /// `RUNNING` and the current task are set while `poll` runs; a task woken during its own
    /// poll goes to the back of the queue (its reference moves into the new entry), others
    /// give their reference back. A finished task's reference comes back to the caller.
    /// With debug state, the heartbeat's store comes before the poll; a trace's end of the
    /// poll after it (for a finished task, once it is completed).
    #[inline(always)]
    pub(crate) fn poll_with<const DEBUG: bool, const TRACE: bool>(
        &self,
        task: Notified,
        poll: impl FnOnce() -> Polled,
    ) -> Option<(Notified, Polled)> {
        let header = task.header();
        header
            .state
            .set((header.state.get() & !(NOTIFIED | PANIC_OBSERVED)) | RUNNING);
        let polls = header.polls.get().wrapping_add(1);
        header.polls.set(polls);
        // What this poll waits on, for the task dump (see `debug::record_waiting_in`).
        header.waiting.clear();
        self.current.set(Some(task.ptr()));
        if DEBUG && let Some(heartbeat) = &self.heartbeat {
            heartbeat.poll_started(header.id.as_u64(), polls);
        }
        if TRACE && let Some(debug) = self.debug() {
            debug.poll_started_traced(self, header);
        }
        let polled = poll();
        self.current.set(None);
        if polled != Polled::Pending {
            return Some((task, polled));
        }
        let state = header.state.get() & !RUNNING;
        header.state.set(state);
        if TRACE && let Some(debug) = self.debug() {
            debug.poll_ended::<TRACE>(self, header, false);
        }
        if state & NOTIFIED != 0 {
            self.ready.push_back(task);
        }
        None
    }

    /// A task's future is gone (its outcome is in its stage, or already dropped if nobody
    /// wanted it and dropping it ran no user code). The order matters: first the
    /// state and the lists reach their final form, then user code runs (the join waker's
    /// `wake`, or the output's destructor), then the loop gives its references back. User
    /// code may drop the last handle or panic; the references held here keep the task
    /// alive until the end.
    fn complete<const DEBUG: bool, const TRACE: bool>(&self, running: Notified, polled: Polled) {
        let header = running.header();
        let state = header.state.get();
        header.state.set((state & !(RUNNING | NOTIFIED)) | COMPLETE);
        // SAFETY: on the loop's thread, as the task becomes complete.
        unsafe { header.move_wakers_to_refs() };
        // SAFETY: a task that was not complete is on the live list (only `block_on`'s main
        // task is not, and it never goes through here).
        let listed = unsafe { self.live.remove(running.ptr()) };
        self.shared().add_live_tasks(usize::MAX); // one less

        if state & JOIN_INTEREST != 0 {
            if let Some(waker) = header.join_waker.take() {
                wake_join_waker(header, waker);
            }
        } else if polled == Polled::Stored {
            // SAFETY: complete, on the loop's thread, alive (we hold references).
            unsafe { (header.vtable.drop_output)(running.ptr()) };
        }
        if DEBUG && let Some(debug) = self.debug() {
            debug.poll_ended::<TRACE>(self, header, true);
        }
        drop(listed);
        drop(running);
    }

    /// Moves what other threads sent onto the ready queue (wakes) and gives back the
    /// references they returned.
    #[inline]
    pub(crate) fn drain_remote(&self) {
        if self.shared().remote.is_pending() {
            self.drain_remote_slow();
        }
    }

    #[inline(never)]
    fn drain_remote_slow(&self) {
        let take_in = || {
            let mut buf = self.remote_buf.take();
            self.shared().remote.drain_into(&mut buf);
            for entry in buf.drain(..) {
                self.apply(entry);
            }
            self.remote_buf.set(buf);
        };
        match self.debug() {
            Some(debug) => debug.remote_wakes(self, take_in),
            None => take_in(),
        }
    }

    /// Applies one remote entry.
    fn apply(&self, entry: Remote) {
        match entry {
            Remote::Wake(task) => {
                // SAFETY: the entry's reference keeps the task alive.
                let cross = unsafe { task.ptr().cross() };
                assert!(self.owns_cross(cross), "a remote wake reaches its own loop");
                // An acquire: this wake's writes happen-before the poll it leads to, even
                // when later remote wakes found the flag set and counted on this entry.
                cross
                    .remote_notified()
                    .swap(false, crate::sync::Ordering::AcqRel);
                // SAFETY: the entry holds a reference; the task belongs to this loop.
                unsafe { self.schedule(task.ptr()) };
            }
            Remote::Waker { release, wake } => {
                if wake {
                    // SAFETY: the release's reference keeps the task alive.
                    let cross = unsafe { release.ptr().cross() };
                    assert!(self.owns_cross(cross), "a remote wake reaches its own loop");
                    cross
                        .remote_notified()
                        .swap(false, crate::sync::Ordering::AcqRel);
                    // SAFETY: as above.
                    unsafe { self.schedule(release.ptr()) };
                }
                release.apply(self);
            }
            Remote::Schedule(schedule) => schedule(self),
            Remote::Spawn(launch) => launch.start(self),
        }
    }

    /// Whether the loop has something to do without waiting (asked after every turn:
    /// inlined, it is two loads).
    #[inline]
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty() || self.shared().remote.is_pending()
    }

    /// The task being polled: its info, unless it is a `call_soon` callback.
    pub(crate) fn current_task(&self) -> Option<TaskInfo> {
        let task = self.current.get()?;
        // SAFETY: `current` is set only while the loop polls the task and holds its
        // `Notified`; we are on the loop's thread (borrowing the core).
        let header = unsafe { task.header() };
        (header.kind != Kind::Callback).then(|| TaskInfo::of(header))
    }

    /// The id of the task being polled, unless it is a `call_soon` callback: two field
    /// reads, no copy of the name.
    #[inline]
    pub(crate) fn current_task_id(&self) -> Option<TaskId> {
        let task = self.current.get()?;
        // SAFETY: as in `current_task`.
        let header = unsafe { task.header() };
        (header.kind != Kind::Callback).then_some(header.id)
    }

    /// Marks the running task's poll as having its panic observed (not a callback's: a
    /// callback is no task, as for `current_task`).
    pub(crate) fn mark_panic_observed(&self) -> bool {
        let Some(task) = self.current.get() else {
            return false;
        };
        // SAFETY: as in `current_task`.
        let header = unsafe { task.header() };
        if header.kind == Kind::Callback {
            return false;
        }
        header.state.set(header.state.get() | PANIC_OBSERVED);
        true
    }

    /// `block_on` is returning (or unwinding): its main task is complete.
    pub(crate) fn complete_main(&self, header: &Header) {
        debug_assert!(self.owns(header) && header.kind == Kind::Main);
        header.state.set(COMPLETE);
        // SAFETY: on the loop's thread, as the task becomes complete.
        unsafe { header.move_wakers_to_refs() };
    }

    pub(crate) fn set_main(&self, main: Option<TaskPtr>) {
        self.main.set(main);
        if main.is_none() {
            self.current.set(None); // if its poll unwound
        }
    }

    /// The newest task id handed out (ids count up in spawn order).
    pub(crate) fn last_id(&self) -> u64 {
        self.last_id.get()
    }

    /// Calls `f` on live tasks from the newest back, while it returns `true`. `f` must not
    /// run user code.
    pub(crate) fn for_each_newest_task(&self, f: impl FnMut(&Header) -> bool) {
        self.live.for_each_newest(f);
    }

    /// Calls `f` on `block_on`'s main task (while it runs), then on every live task,
    /// oldest first. `f` must not run user code (it may look).
    pub(crate) fn for_each_task(&self, mut f: impl FnMut(&Header)) {
        if let Some(main) = self.main.get() {
            // SAFETY: `MainTask` holds a reference while `main` is set; loop thread.
            f(unsafe { main.header() });
        }
        self.live.for_each(f);
    }

    pub(crate) fn all_tasks(&self) -> Vec<TaskInfo> {
        let mut tasks = Vec::new();
        if let Some(main) = self.main.get() {
            // SAFETY: `MainTask` holds a reference while `main` is set; loop thread.
            tasks.push(TaskInfo::of(unsafe { main.header() }));
        }
        self.live.for_each(|header| {
            if header.kind == Kind::Task {
                tasks.push(TaskInfo::of(header));
            }
        });
        tasks
    }

    /// How many tasks (and `call_soon` callbacks) are alive and not complete.
    pub(crate) fn live_count(&self) -> usize {
        self.shared().live_tasks()
    }

    /// Cancels every task that is not complete, dropping each future here on the loop's
    /// thread, then closes the remote queue.
    ///
    /// Dropping a future runs user code that may wake, abort or spawn tasks. Everything it
    /// queues is drained here: entries of the ready queue only give their references back
    /// (each task is cancelled through the live list), new tasks join the live list, and
    /// the loop keeps going until both are empty. Only then is the remote queue closed: by
    /// that time every task is complete, so a waker that finds it closed can count its
    /// reference atomically. The work other threads sent just before the close is dropped
    /// unrun, and its destructors may spawn here in turn: those tasks are cancelled too
    /// (they were never polled, so no waker of theirs exists to find the queue closed).
    pub(crate) fn shut_down(&self) {
        self.closing.set(true);
        self.cancel_every_task();
        for entry in self.shared().remote.close() {
            match entry {
                // Sent by a `Handle` too late to run: dropped, not scheduled (a callback
                // or task spawned now would outlive the loop). Dropping it drops the
                // user's closure or future here, on the loop's thread; it tells an
                // awaiting `RemoteJoinHandle` the task was cancelled.
                entry @ (Remote::Schedule(_) | Remote::Spawn(_)) => {
                    if catch_unwind(AssertUnwindSafe(move || drop(entry))).is_err() {
                        eprintln!(
                            "handloop: dropping work sent to a closing loop (a callback or \
                             a future from a Handle) panicked"
                        );
                    }
                }
                // Every task is complete: wakes schedule nothing, releases go to `refs`.
                entry => self.apply(entry),
            }
        }
        self.cancel_every_task();
        debug_assert!(self.ready.is_empty() && self.live.is_empty());
    }

    /// Whether the loop is being dropped (its tasks are being cancelled, or are gone).
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// The loop of `shut_down`: until the ready queue and the live list are both empty.
    fn cancel_every_task(&self) {
        loop {
            self.drain_remote();
            while let Some(queued) = self.ready.pop_front() {
                drop(queued);
            }
            let Some(task) = self.live.front() else {
                break;
            };
            let header = task.header();
            header.state.set(header.state.get() | CANCELLED);
            // The same path as a poll: CANCELLED makes `poll` drop the future.
            let task = Notified::from_local(task);
            match self.debug() {
                None => self.run_task::<false, false>(task),
                Some(debug) if debug.tracing() => self.run_task::<true, true>(task),
                Some(_) => self.run_task::<true, false>(task),
            }
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // SAFETY: the core owns its own ticket and its spare ones, and uses none after this.
        unsafe { Shared::give_back(self.shared, self.spare_tickets.get() + 1) };
    }
}

/// The vtable of a task.
///
/// # Safety
/// The task is alive for the call.
#[inline]
unsafe fn ptr_vtable(task: TaskPtr) -> &'static crate::task::header::Vtable {
    // SAFETY: the caller's promise.
    unsafe { task.cross() }.vtable()
}

/// Wakes whoever awaits a completed task's `JoinHandle`. The waker is user code: it may drop
/// the handle (the loop still holds its own references) or panic, which is reported and
/// goes no further, like a task's own panic.
fn wake_join_waker(header: &Header, waker: std::task::Waker) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || waker.wake())) {
        eprintln!(
            "handloop: waking the JoinHandle of task '{}' (id {}) panicked: {}",
            header.name(),
            header.id,
            panic_message(&*payload)
        );
    }
}
