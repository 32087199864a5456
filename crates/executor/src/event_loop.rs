//! The event loop: a FIFO ready queue, the turn, `block_on`, and shutdown.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::driver::{Driver, ThreadPark, Unparker};
use crate::ready::ReadyQueue;
use crate::shared::{Shared, TICKET_BATCH};
use crate::task::blocks::BlockCache;
use crate::task::header::{
    CANCELLED, COMPLETE, Header, JOIN_INTEREST, Kind, NOTIFIED, RUNNING, TaskRef,
};
use crate::task::raw::{Task, raw_waker};
use crate::task::{TaskId, TaskInfo};

/// The loop's own state, used only on its thread.
pub(crate) struct Core {
    /// Identity of this loop, compared with a task's `shared` pointer on every wake; this
    /// core holds one ticket of it, plus `spare_tickets`.
    shared: NonNull<Shared>,
    /// Tickets bought and not yet handed to a task (see `shared.rs`).
    spare_tickets: Cell<usize>,
    /// The ready queue: tasks to poll, in the order they were woken. Entries own no
    /// reference (the loop's own reference keeps every non-complete task alive).
    ready: ReadyQueue,
    /// Every live task, oldest first, through the headers' `owned_*` links; each owns one
    /// reference (the loop's).
    owned_head: Cell<Option<TaskRef>>,
    owned_tail: Cell<Option<TaskRef>>,
    /// The task being polled right now.
    current: Cell<Option<TaskRef>>,
    /// The header of the future `block_on` is running, while it runs (asyncio's main task).
    main: Cell<Option<TaskRef>>,
    /// The last task id handed out.
    last_id: Cell<u64>,
    /// Reused buffer for draining the remote queue.
    remote_buf: RefCell<Vec<TaskRef>>,
    /// Memory of finished tasks, for the next ones.
    blocks: BlockCache,
}

thread_local! {
    /// The loop running on this thread, if any: set by `block_on` and by the loop's drop.
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// The loop running on this thread.
///
/// The reference is only valid while that loop runs; callers use it within the current
/// call and never store it.
#[inline]
pub(crate) fn current() -> Option<&'static Core> {
    let core = CURRENT.with(Cell::get);
    // SAFETY: CURRENT is only non-null while `block_on` (or the loop's drop) runs on this
    // thread, and the `Core` it points to lives in a `Box` that outlives both; every use
    // of the returned reference ends before they return.
    unsafe { core.as_ref() }
}

/// Whether an event loop is running on this thread.
pub fn in_event_loop() -> bool {
    current().is_some()
}

/// Makes `core` this thread's current loop until dropped.
struct Enter {
    previous: *const Core,
}

impl Enter {
    fn new(core: &Core) -> Enter {
        let previous = CURRENT.with(|c| c.replace(core));
        Enter { previous }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

impl Core {
    fn new(unparker: Unparker) -> Core {
        Core {
            shared: Shared::new(unparker),
            spare_tickets: Cell::new(0),
            ready: ReadyQueue::default(),
            owned_head: Cell::new(None),
            owned_tail: Cell::new(None),
            current: Cell::new(None),
            main: Cell::new(None),
            last_id: Cell::new(0),
            remote_buf: RefCell::new(Vec::new()),
            blocks: BlockCache::default(),
        }
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
    fn take_ticket(&self) -> *const Shared {
        let spare = match self.spare_tickets.get() {
            0 => {
                self.shared().buy(TICKET_BATCH);
                TICKET_BATCH
            }
            spare => spare,
        };
        self.spare_tickets.set(spare - 1);
        self.shared.as_ptr()
    }

    /// Takes back the ticket of a task freed on this loop's thread.
    pub(crate) fn return_ticket(&self) {
        self.spare_tickets.set(self.spare_tickets.get() + 1);
    }

    /// Whether `header` belongs to this loop.
    #[inline]
    pub(crate) fn owns(&self, header: &Header) -> bool {
        ptr::eq(self.shared.as_ptr(), header.shared)
    }

    /// The local wake: mark the task notified and, unless it is running right now, put it
    /// at the back of the ready queue. Waking a notified or complete task does nothing.
    #[inline]
    pub(crate) fn schedule(&self, task: TaskRef) {
        let header = task.header();
        let state = header.state.get();
        if state & (NOTIFIED | COMPLETE) != 0 {
            return;
        }
        header.state.set(state | NOTIFIED);
        if state & RUNNING == 0 {
            self.ready.push_back(task);
        }
    }

    /// Allocates a task, links it into the live list and queues its first poll.
    pub(crate) fn spawn<F>(&self, future: F, kind: Kind, name: Option<&str>) -> TaskRef
    where
        F: Future + 'static,
    {
        let id = TaskId(self.last_id.get() + 1);
        self.last_id.set(id.0);
        // One reference, owned jointly by the loop and the handle (see `header.rs`).
        let state = match kind {
            Kind::Task => NOTIFIED | JOIN_INTEREST,
            _ => NOTIFIED,
        };
        let refs = 1;
        let shared = self.take_ticket();
        let task = Task::allocate(&self.blocks, future, |vtable| {
            Header::new(kind, state, refs, vtable, shared, id, name)
        });
        self.link(task);
        self.ready.push_back(task);
        task
    }

    /// Appends to the live-task list.
    fn link(&self, task: TaskRef) {
        let header = task.header();
        header.owned_prev.set(self.owned_tail.get());
        header.owned_next.set(None);
        match self.owned_tail.get() {
            Some(tail) => tail.header().owned_next.set(Some(task)),
            None => self.owned_head.set(Some(task)),
        }
        self.owned_tail.set(Some(task));
    }

    /// Removes from the live-task list.
    fn unlink(&self, task: TaskRef) {
        let header = task.header();
        let (prev, next) = (header.owned_prev.take(), header.owned_next.take());
        match prev {
            Some(prev) => prev.header().owned_next.set(next),
            None => self.owned_head.set(next),
        }
        match next {
            Some(next) => next.header().owned_prev.set(prev),
            None => self.owned_tail.set(prev),
        }
    }

    /// Moves wakes that came from other threads onto the ready queue.
    #[inline]
    fn drain_remote(&self) {
        if self.shared().remote.is_pending() {
            self.drain_remote_slow();
        }
    }

    #[inline(never)]
    fn drain_remote_slow(&self) {
        let mut buf = self.remote_buf.borrow_mut();
        self.shared().remote.drain_into(&mut buf);
        for task in buf.drain(..) {
            task.header()
                .remote_notified
                .store(false, std::sync::atomic::Ordering::Release);
            self.schedule(task);
            task.ref_dec(); // the entry's reference
        }
    }

    fn pop_ready(&self) -> Option<TaskRef> {
        self.ready.pop_front()
    }

    /// Whether the loop has something to do without waiting.
    fn has_ready(&self) -> bool {
        !self.ready.is_empty() || self.shared().remote.is_pending()
    }

    /// Polls one task popped from the ready queue.
    #[inline]
    fn run_task(&self, task: TaskRef) {
        // SAFETY: the task is live (the loop holds its reference), not complete, RUNNING
        // (set by `poll_with`), and we are on the loop's thread.
        let completed = self.poll_with(task, || unsafe { (task.header().vtable.poll)(task) });
        if completed {
            self.finish(task);
        }
    }

    /// The bookkeeping around one poll, for tasks and for `block_on`'s own future alike:
    /// `RUNNING` and the current task are set while `poll` runs (it returns whether the
    /// task completed); a task woken during its own poll goes to the back of the queue.
    #[inline(always)]
    fn poll_with(&self, task: TaskRef, poll: impl FnOnce() -> bool) -> bool {
        let header = task.header();
        header.state.set((header.state.get() & !NOTIFIED) | RUNNING);
        header.polls.set(header.polls.get().wrapping_add(1));
        self.current.set(Some(task));
        let completed = poll();
        self.current.set(None);
        if !completed {
            let state = header.state.get() & !RUNNING;
            header.state.set(state);
            if state & NOTIFIED != 0 {
                self.ready.push_back(task);
            }
        }
        completed
    }

    /// A task just completed: off the live list, and the owner reference goes unless a
    /// handle still wants the output.
    fn finish(&self, task: TaskRef) {
        self.unlink(task);
        if task.header().state.get() & JOIN_INTEREST == 0 {
            task.ref_dec();
        }
    }

    pub(crate) fn current_task(&self) -> Option<TaskRef> {
        self.current.get()
    }

    pub(crate) fn all_tasks(&self) -> Vec<TaskInfo> {
        let mut tasks = Vec::new();
        if let Some(main) = self.main.get() {
            tasks.push(TaskInfo::of(main.header()));
        }
        let mut next = self.owned_head.get();
        while let Some(task) = next {
            let header = task.header();
            if header.kind == Kind::Task {
                tasks.push(TaskInfo::of(header));
            }
            next = header.owned_next.get();
        }
        tasks
    }

    /// Cancels every live task, dropping each future here on the loop's thread.
    fn shut_down(&self) {
        // Wakes from now on find the remote queue closed and only drop their reference.
        for task in self.shared().remote.close() {
            task.ref_dec();
        }
        self.ready.clear();
        // Dropping a future may wake or even spawn tasks: keep going until none is left.
        while let Some(task) = self.owned_head.get() {
            let header = task.header();
            header.state.set(header.state.get() | CANCELLED | RUNNING);
            // SAFETY: live, not complete, on the loop's thread; CANCELLED makes `poll`
            // drop the future instead of polling it.
            let completed = unsafe { (header.vtable.poll)(task) };
            debug_assert!(completed);
            self.finish(task);
        }
        // Entries pushed while futures were dropped point at completed tasks.
        self.ready.clear();
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // SAFETY: the core owns its own ticket and its spare ones, and uses none after this.
        unsafe { Shared::give_back(self.shared, self.spare_tickets.get() + 1) };
    }
}

/// A single-threaded event loop with a FIFO ready queue (asyncio's event loop).
///
/// [`block_on`](EventLoop::block_on) runs it until a future completes;
/// [`spawn`](crate::spawn), [`call_soon`](crate::call_soon) and
/// [`yield_now`](crate::yield_now) work inside. Between turns it waits through its
/// [`Driver`]: by default [`ThreadPark`], which only sleeps until woken; step 3's timer and
/// step 5's I/O poller are drivers too.
///
/// Dropping the loop drops every task's future on this thread; their handles then report
/// them cancelled, and wakers that outlive the loop do nothing.
pub struct EventLoop {
    core: Box<Core>,
    driver: RefCell<Box<dyn Driver>>,
}

impl EventLoop {
    /// A loop that parks the thread when nothing is ready.
    pub fn new() -> EventLoop {
        EventLoop::with_driver(ThreadPark::new())
    }

    /// A loop that waits through `driver` (a timer, an I/O poller, ...).
    pub fn with_driver(driver: impl Driver) -> EventLoop {
        let unparker = driver.unparker();
        EventLoop {
            core: Box::new(Core::new(unparker)),
            driver: RefCell::new(Box::new(driver)),
        }
    }

    /// Runs the loop until `future` completes, and returns its output (asyncio's
    /// `loop.run_until_complete`).
    ///
    /// Each turn of the loop polls the tasks that were ready when the turn began, in FIFO
    /// order, then lets the driver look for events: without blocking if something is ready,
    /// otherwise parked until a wake or an event. `future` itself takes its turn in the same
    /// queue. Tasks still pending when `future` completes stay on the loop for the next
    /// `block_on`, or are dropped with it.
    ///
    /// # Panics
    /// If a loop is already running on this thread (nested `block_on`): await the future,
    /// or spawn it, instead. A panic in `future` itself propagates to the caller; panics in
    /// tasks do not (their handles report them).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if in_event_loop() {
            panic!(
                "EventLoop::block_on called while an event loop is already running on this \
                 thread: loops do not nest; await the future (or spawn it) instead"
            );
        }
        let core = &*self.core;
        let _enter = Enter::new(core);
        let _driver = EnteredDriver::new(&self.driver);
        let mut future = pin!(future);

        let main = MainTask::new(core);
        // SAFETY: the main task's header is live while `main` exists; the waker only
        // borrows it (ManuallyDrop: no reference is given back).
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(main.task)) });
        let mut cx = Context::from_waker(&waker);

        loop {
            core.drain_remote();
            // One turn: the tasks ready now, up to the current tail. Tasks they wake go
            // behind it and wait for the next turn.
            let last = core.ready.back();
            while let Some(task) = core.pop_ready() {
                let end_of_turn = Some(task) == last;
                if task == main.task {
                    let mut output = None;
                    core.poll_with(task, || match future.as_mut().poll(&mut cx) {
                        Poll::Ready(value) => {
                            output = Some(value);
                            true
                        }
                        Poll::Pending => false,
                    });
                    if let Some(output) = output {
                        return output;
                    }
                } else {
                    core.run_task(task);
                }
                if end_of_turn {
                    break;
                }
            }
            let timeout = if core.has_ready() {
                Some(Duration::ZERO)
            } else {
                None
            };
            self.driver.borrow_mut().park(timeout);
        }
    }
}

/// `block_on`'s own future has a header too, so that its waker is an ordinary task waker;
/// the future itself stays on `block_on`'s stack.
struct MainTask<'a> {
    core: &'a Core,
    task: TaskRef,
}

impl<'a> MainTask<'a> {
    fn new(core: &'a Core) -> Self {
        let shared = core.take_ticket();
        let task = Task::allocate(&core.blocks, std::future::pending::<()>(), |vtable| {
            Header::new(
                Kind::Main,
                NOTIFIED,
                1,
                vtable,
                shared,
                TaskId(0),
                Some("main"),
            )
        });
        core.ready.push_back(task);
        core.main.set(Some(task));
        MainTask { core, task }
    }
}

impl Drop for MainTask<'_> {
    fn drop(&mut self) {
        // Later wakes of block_on's waker do nothing; no queue entry may outlive us.
        self.core.main.set(None);
        self.core.current.set(None); // if its poll unwound
        let header = self.task.header();
        if header.state.get() & NOTIFIED != 0 {
            self.core.ready.remove(self.task);
        }
        header.state.set(COMPLETE);
        self.task.ref_dec();
    }
}

/// Calls the driver's `enter` now and its `exit` when dropped (also on unwind).
struct EnteredDriver<'a>(&'a RefCell<Box<dyn Driver>>);

impl<'a> EnteredDriver<'a> {
    fn new(driver: &'a RefCell<Box<dyn Driver>>) -> Self {
        driver.borrow().enter();
        EnteredDriver(driver)
    }
}

impl Drop for EnteredDriver<'_> {
    fn drop(&mut self) {
        self.0.borrow().exit();
    }
}

impl Default for EventLoop {
    fn default() -> Self {
        EventLoop::new()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // Run the futures' destructors as if inside the loop, so they can still use it (a
        // timer's sleep deregisters itself, a future may even spawn), unless another loop
        // is running on this thread right now: then wakes take the remote path.
        let _entered =
            (!in_event_loop()).then(|| (Enter::new(&self.core), EnteredDriver::new(&self.driver)));
        self.core.shut_down();
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut live = 0;
        let mut next = self.core.owned_head.get();
        while let Some(task) = next {
            live += 1;
            next = task.header().owned_next.get();
        }
        f.debug_struct("EventLoop")
            .field("live_tasks", &live)
            .field("ready", &self.core.ready.len())
            .finish_non_exhaustive()
    }
}
