//! The event loop: the public `EventLoop`, the turn, `block_on`, and dropping the loop.
//! The bookkeeping it drives lives in `core.rs`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::context::{Enter, in_event_loop};
use crate::core::Core;
use crate::driver::{Driver, ThreadPark};
use crate::handle::Handle;
use crate::task::TaskId;
use crate::task::header::{Header, Kind, NOTIFIED, Polled, RUNNING};
use crate::task::raw::Task;
use crate::task::refs::{LocalRef, Notified};
use crate::task::waker::LentWaker;

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

    /// A [`Handle`] on this loop, for other threads to run work on it (asyncio's loop
    /// object, handed to another thread for `call_soon_threadsafe`).
    pub fn handle(&self) -> Handle {
        Handle::of(&self.core)
    }

    /// How many [`Handle`]s of this loop are alive, on any thread (clones included). While
    /// one is, another thread may still send the loop a callback or a task; at 0, only the
    /// loop's own tasks and wakers can give it work.
    pub fn live_handles(&self) -> usize {
        self.core.shared().live_handles()
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
        // SAFETY: the core lives in a `Box` owned by `self`, which outlives this call.
        let _enter = unsafe { Enter::new(core) };
        let _driver = EnteredDriver::new(&self.driver);
        let mut future = pin!(future);

        let main = MainTask::new(core);
        let waker = LentWaker::new(&main.task);
        let mut cx = Context::from_waker(waker.waker());

        loop {
            core.drain_remote();
            // One turn: the tasks ready now, up to the current tail. Tasks they wake go
            // behind it and wait for the next turn.
            let last = core.ready.back();
            while let Some(task) = core.ready.pop_front() {
                let end_of_turn = Some(task.ptr()) == last;
                if task.ptr() == main.task.ptr() {
                    let mut output = None;
                    let finished = core.poll_with(task, || match future.as_mut().poll(&mut cx) {
                        Poll::Ready(value) => {
                            output = Some(value);
                            Polled::Dropped
                        }
                        Poll::Pending => Polled::Pending,
                    });
                    if let Some(output) = output {
                        drop(finished); // main's reference from the queue; `main` completes it
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
/// the future itself stays on `block_on`'s stack. Holds a reference to that header.
struct MainTask<'a> {
    core: &'a Core,
    task: LocalRef,
}

impl<'a> MainTask<'a> {
    fn new(core: &'a Core) -> Self {
        let shared = core.take_ticket();
        // Two local references: this `MainTask`'s and the ready queue's.
        let task = Task::allocate(core.blocks(), std::future::pending::<()>(), |vtable| {
            Header::new(
                Kind::Main,
                NOTIFIED,
                2,
                vtable,
                shared,
                TaskId(0),
                Some("main"),
            )
        });
        // SAFETY: the new header counts two local references, both ours, on this thread.
        let (task, queued) =
            unsafe { (LocalRef::from_counted(task), LocalRef::from_counted(task)) };
        core.ready.push_back(Notified::from_local(queued));
        core.set_main(Some(task.ptr()));
        MainTask { core, task }
    }
}

impl Drop for MainTask<'_> {
    fn drop(&mut self) {
        // Later wakes of block_on's waker do nothing; no queue entry may outlive us.
        self.core.set_main(None);
        let header = self.task.header();
        // Queued, unless its last poll is the one that returned (or unwound).
        if header.state.get() & (NOTIFIED | RUNNING) == NOTIFIED {
            drop(self.core.ready.remove(self.task.ptr()));
        }
        self.core.complete_main(header);
        // `self.task` gives its reference back as the field is dropped.
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
        let _entered = (!in_event_loop()).then(|| {
            // SAFETY: the core is dropped only after this function returns.
            let enter = unsafe { Enter::new(&self.core) };
            (enter, EnteredDriver::new(&self.driver))
        });
        self.core.shut_down();
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("live_tasks", &self.core.live_count())
            .field("live_handles", &self.live_handles())
            .field("ready", &self.core.ready.len())
            .finish_non_exhaustive()
    }
}
