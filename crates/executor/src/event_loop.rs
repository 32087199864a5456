//! The event loop: the public `EventLoop`, the turn, `block_on`, and dropping the loop.
//! The bookkeeping it drives lives in `core.rs`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use handloop_debug::{Verdict, WakeSource};

use crate::context::{Enter, in_event_loop};
use crate::core::Core;
use crate::debug::{self, DeadlockCause, DeadlockReport, DebugOptions, LoopDebug, NoProgress};
use crate::driver::{Driver, ThreadPark, Watching};
use crate::handle::Handle;
use crate::task::TaskId;
use crate::task::header::{Header, Kind, NOTIFIED, Polled, RUNNING};
use crate::task::raw::Task;
use crate::task::refs::{LocalRef, Notified};
use crate::task::waker::LentWaker;
use crate::turns::{BusyPark, Turns};

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
    /// The turn count, and whether the driver wants its busy-turn park (see `turns.rs`).
    turns: Turns,
    /// For a driver that did not attach, a wish that never goes: park it on every busy
    /// turn.
    _always_busy: Option<BusyPark>,
    /// How long a virtual-clock loop with nothing to jump to waits for another thread
    /// before it calls a deadlock.
    deadlock_grace: Duration,
}

impl EventLoop {
    /// A loop that parks the thread when nothing is ready.
    pub fn new() -> EventLoop {
        EventLoop::with_driver(ThreadPark::new())
    }

    /// A loop that waits through `driver` (a timer, an I/O poller, ...).
    pub fn with_driver(driver: impl Driver) -> EventLoop {
        EventLoop::build(driver, DebugOptions::default().deadlock_grace, None)
    }

    /// A loop with debug mode, a trace or another deadlock grace period (see
    /// [`DebugOptions`]).
    ///
    /// # Errors
    /// If debug mode's watchdog thread cannot be started.
    pub fn with_options(driver: impl Driver, options: DebugOptions) -> io::Result<EventLoop> {
        let deadlock_grace = options.deadlock_grace;
        let debug = LoopDebug::new(options)?;
        Ok(EventLoop::build(driver, deadlock_grace, debug))
    }

    fn build(
        mut driver: impl Driver,
        deadlock_grace: Duration,
        debug: Option<Box<LoopDebug>>,
    ) -> Self {
        let turns = Turns::new();
        let always_busy = (!driver.attach(&turns)).then(|| {
            let busy = turns.busy_park();
            busy.want(true);
            busy
        });
        let unparker = driver.unparker();
        let dump_clock = driver.dump_clock();
        EventLoop {
            core: Box::new(Core::new(unparker, debug, dump_clock)),
            driver: RefCell::new(Box::new(driver)),
            turns,
            _always_busy: always_busy,
            deadlock_grace,
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
    /// tasks do not (their handles report them). With a message that begins `handloop:
    /// deadlock`, followed by the task dump, when no task can ever be woken again (at once
    /// when the loop can prove it; after the grace period on a virtual clock, when a waker
    /// is held where it cannot see): see the chapter's "Seeing the loop".
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if in_event_loop() {
            panic!(
                "EventLoop::block_on called while an event loop is already running on this \
                 thread: loops do not nest; await the future (or spawn it) instead"
            );
        }
        // Chosen once: without debug state, the turn is compiled without any of its work.
        match self.core.debug() {
            None => self.run::<F, false, false>(future),
            Some(debug) if debug.tracing() => self.run::<F, true, true>(future),
            Some(_) => self.run::<F, true, false>(future),
        }
    }

    /// `block_on`'s loop; `DEBUG` says whether the core has debug state, `TRACE` whether it
    /// records a trace.
    fn run<F: Future, const DEBUG: bool, const TRACE: bool>(&self, future: F) -> F::Output {
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
                    let finished = core.poll_with::<DEBUG, TRACE>(task, || {
                        match future.as_mut().poll(&mut cx) {
                            Poll::Ready(value) => {
                                output = Some(value);
                                Polled::Dropped
                            }
                            Poll::Pending => Polled::Pending,
                        }
                    });
                    if let Some(output) = output {
                        if DEBUG
                            && let Some((task, _)) = finished
                            && let Some(debug) = core.debug()
                        {
                            debug.poll_ended::<TRACE>(core, task.header(), true);
                        }
                        // `finished`'s reference (the queue's) is gone; `main` completes it.
                        return output;
                    }
                } else {
                    core.run_task::<DEBUG, TRACE>(task);
                }
                if end_of_turn {
                    break;
                }
            }
            if let (true, Some(debug)) = (DEBUG, core.debug()) {
                debug.turn_ended::<TRACE>(core, || self.driver.borrow().watching());
            }
            // What the driver does from here on belongs to the next turn.
            self.turns.advance();
            if core.has_ready() {
                // A busy turn: the driver looks for events without blocking, unless it
                // said it has none to look for.
                if self.turns.busy_park_wanted() {
                    self.driver.borrow_mut().park(Some(Duration::ZERO));
                }
            } else {
                self.wait_idle(core);
            }
            if let (true, Some(debug)) = (DEBUG, core.debug()) {
                debug.parked::<TRACE>(core);
            }
        }
    }

    /// Nothing is ready: wait for the driver, unless no wake can ever come. A deadlock the
    /// loop can prove panics at once; one it cannot (a waker is held where the loop cannot
    /// see) panics after the grace period on a virtual clock, and is printed (without a
    /// panic) after a while in debug mode on the real clock. See `handloop-debug`'s
    /// `deadlock.rs` for the rule and why it is sound.
    fn wait_idle(&self, core: &Core) {
        let watching = self.driver.borrow().watching();
        if watching.may_wake() {
            self.driver.borrow_mut().park(None);
            return;
        }
        let evidence = debug::evidence(core);
        match evidence.verdict() {
            // What another thread sent before giving up its last way in (a wake before
            // the waker's drop, a callback before the Handle's drop) is in the remote
            // queue by the time the counts show it gone (both are read with `Acquire`):
            // look once more before concluding.
            Verdict::Deadlock if core.has_ready() => return,
            Verdict::Deadlock => self.deadlock(core, DeadlockCause::Proven, &watching),
            Verdict::MayWake(WakeSource::Wakers(_) | WakeSource::Handles(_)) => {}
            Verdict::MayWake(WakeSource::Driver) => unreachable!("the driver watches nothing"),
        }
        if watching.virtual_clock {
            let grace = self.deadlock_grace;
            if !self.park_for(core, grace) {
                let cause = DeadlockCause::GraceExpired {
                    grace,
                    wakers_outside: evidence.wakers - evidence.wakers_in_join_slots,
                    handles: evidence.handles,
                };
                self.deadlock(core, cause, &watching);
            }
        } else if let Some(debug) = core.debug().filter(|debug| debug.options().debug) {
            let waited = debug.options().no_progress_after;
            if !self.park_for(core, waited) {
                let clock = watching.clock.unwrap_or_else(Instant::now);
                let report = NoProgress {
                    waited,
                    dump: debug::dump_core(core, clock),
                };
                debug.options().output.print(&report.to_string());
                self.driver.borrow_mut().park(None);
            }
        } else {
            self.driver.borrow_mut().park(None);
        }
    }

    /// Parks for at most `limit` of real time; whether something arrived meanwhile.
    fn park_for(&self, core: &Core, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            self.driver.borrow_mut().park(Some(left));
            if core.has_ready() {
                return true;
            }
            if left.is_zero() {
                return false;
            }
            // Unparked with nothing to do: keep waiting.
        }
    }

    /// Panics with the deadlock report.
    #[cold]
    fn deadlock(&self, core: &Core, cause: DeadlockCause, watching: &Watching) -> ! {
        let clock = watching.clock.unwrap_or_else(Instant::now);
        let report = DeadlockReport {
            cause,
            dump: debug::dump_core(core, clock),
        };
        panic!("{report}");
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
        if let Some(debug) = self.core.debug() {
            debug.finish();
        }
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
