//! Seeing the loop: what the loop does for `handloop-debug`'s tools (the stall watchdog,
//! the trace, the task dump, the deadlock check), and the options that turn them on.
//!
//! The turn is compiled in three copies, and `block_on` picks one per call: without debug
//! state (a poll costs exactly what it did, and the wake and spawn paths have no hook at
//! all), with debug mode (per poll, one store into the heartbeat and nothing else), and with a
//! trace (clock reads, and a look at what each poll queued). What is always on is cheap by
//! construction: waiting futures record what they wait on in one word of their task's header,
//! found through the waker they were polled with (two comparisons, a load and a store per
//! `Pending`; see [`record_waiting_in`]), which the loop empties as each poll starts; and the
//! deadlock check runs only when the loop is about to wait with nothing ready and nothing its
//! driver watches.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use handloop_debug::trace::{self, Counter, PollOutcome, Recorder};
pub use handloop_debug::{
    DeadlockCause, DeadlockReport, NoProgress, Output, PollNow, QueueKind, TaskDump, TaskRow,
    TaskStatus, Unanswered, WaitingOn,
};
use handloop_debug::{Evidence, Heartbeat, PollWatch, TaskNames, Watchdog};

mod locks;

pub use locks::LockRecord;

use crate::context;
use crate::core::Core;
use crate::handle::Handle;
use crate::sync::Ordering as SyncOrdering;
use crate::task::header::{CANCELLED, Header, Kind, NOTIFIED, RUNNING, TaskPtr};
use crate::task::waker::task_of;

/// The options of debug mode and tracing, for [`EventLoop::with_options`](crate::EventLoop::with_options).
///
/// `DebugOptions::default()` is everything off, with asyncio's and Go's defaults for the
/// thresholds.
#[derive(Clone, Debug)]
pub struct DebugOptions {
    /// Debug mode: the stall watchdog, the tasks' ages in the dump, and the "no progress"
    /// print on the real clock (asyncio's debug mode, `PYTHONASYNCIODEBUG=1`).
    pub debug: bool,
    /// How long one poll may hold the thread before the watchdog names it (asyncio's
    /// `slow_callback_duration`, 100 ms).
    pub slow_poll_threshold: Duration,
    /// On a virtual clock with nothing to jump to, how long (in real time) to wait for
    /// another thread's wake before calling it a deadlock (1 s).
    pub deadlock_grace: Duration,
    /// On the real clock in debug mode, how long every task may wait with nothing
    /// happening before the loop prints the dump (5 s).
    pub no_progress_after: Duration,
    /// Record the loop's schedule and write it to this file, as Chrome trace-event JSON,
    /// when the loop is dropped.
    pub trace: Option<PathBuf>,
    /// How many events the trace keeps (the newest).
    pub trace_capacity: usize,
    /// Where debug mode prints (standard error).
    pub output: Output,
}

impl Default for DebugOptions {
    fn default() -> Self {
        DebugOptions {
            debug: false,
            slow_poll_threshold: Duration::from_millis(100),
            deadlock_grace: Duration::from_secs(1),
            no_progress_after: Duration::from_secs(5),
            trace: None,
            trace_capacity: trace::DEFAULT_CAPACITY,
            output: Output::stderr(),
        }
    }
}

impl DebugOptions {
    /// Whether the loop needs its debug state (debug mode or a trace).
    pub(crate) fn any(&self) -> bool {
        self.debug || self.trace.is_some()
    }
}

/// Records what the running task waits on, for the task dump: what a waiting future
/// does when it returns `Pending` and has no `Context` at hand (handloop's own call
/// [`record_waiting_in`], which is cheaper). Outside a task's poll (no loop on the thread,
/// or code the loop runs between polls, such as an unwanted output's destructor) it has no
/// effect.
///
/// ```
/// use std::future::poll_fn;
/// use std::task::Poll;
/// use handloop_executor::{EventLoop, debug::{WaitingOn, record_waiting}, spawn, yield_now};
///
/// EventLoop::new().block_on(async {
///     let task = spawn(poll_fn(|_| {
///         record_waiting(WaitingOn::ToThread);
///         Poll::<()>::Pending
///     }));
///     yield_now().await; // let it run once
///     let dump = handloop_executor::debug::dump(None);
///     assert_eq!(dump.waiting_on_text(dump.task(task.id().as_u64()).unwrap()), "to_thread job");
/// });
/// ```
#[inline]
pub fn record_waiting(what: WaitingOn) {
    context::record_waiting(what.pack());
}

/// Records what the task polled with `cx` waits on, for the task dump: what handloop's own
/// waiting futures call when they return `Pending`.
///
/// If `cx`'s waker is a handloop task's (the loop's own, passed down by every future that
/// does not make its own waker), the record goes straight into that task's header: two
/// comparisons, a load and a store, no lookup of the running loop. Under any other waker (a
/// combinator's, like `gather`'s) it is [`record_waiting`]. A future polled with a task's
/// waker anywhere else (outside its task's poll, even on another thread) records into that
/// task, and the record lasts until the task's next poll starts.
///
/// ```
/// use std::future::poll_fn;
/// use std::task::Poll;
/// use handloop_executor::debug::{WaitingOn, dump, record_waiting_in};
/// use handloop_executor::{EventLoop, spawn, yield_now};
///
/// EventLoop::new().block_on(async {
///     let task = spawn(poll_fn(|cx| {
///         record_waiting_in(cx, WaitingOn::Event);
///         Poll::<()>::Pending
///     }));
///     yield_now().await; // let it run once
///     let dump = dump(None);
///     assert_eq!(dump.waiting_on_text(dump.task(task.id().as_u64()).unwrap()), "Event.wait");
/// });
/// ```
// Always inlined: `what` is a constant at most call sites, and packs to one.
#[inline(always)]
pub fn record_waiting_in(cx: &Context<'_>, what: WaitingOn) {
    let what = what.pack();
    match crate::task::waker::task_of(cx.waker()) {
        // SAFETY: the waker is alive for this call (`cx` borrows it), so its task is; the
        // record is an atomic, which any thread may touch.
        Some(task) => unsafe { task.cross() }.waiting().record_packed(what),
        None => context::record_waiting(what),
    }
}

/// Runs `poll` (a future's poll of the futures it is built on) and, if it returns
/// `Pending`, records `what` in place of whatever `poll` recorded: for a waiting future that
/// names its wait better than the futures inside it (`to_thread`'s future waits through a
/// oneshot, and records a `to_thread job`). Records made earlier in the same poll are kept.
/// It works on the record of the task being polled, so it replaces what `poll` recorded
/// there: through that task's waker or a combinator's, not through another task's.
///
/// ```
/// use std::future::poll_fn;
/// use std::task::Poll;
/// use handloop_executor::debug::{WaitingOn, dump, record_waiting, record_waiting_as};
/// use handloop_executor::{EventLoop, spawn, yield_now};
///
/// EventLoop::new().block_on(async {
///     let task = spawn(poll_fn(|_| {
///         record_waiting_as(WaitingOn::ToThread, || {
///             record_waiting(WaitingOn::Oneshot); // the inner future's record
///             Poll::<()>::Pending
///         })
///     }));
///     yield_now().await;
///     let dump = dump(None);
///     assert_eq!(dump.waiting_on_text(dump.task(task.id().as_u64()).unwrap()), "to_thread job");
/// });
/// ```
pub fn record_waiting_as<T>(what: WaitingOn, poll: impl FnOnce() -> Poll<T>) -> Poll<T> {
    let saved = context::with_core(|core| core.with_running_record(|record| record.save()));
    let polled = poll();
    if let (true, Some(Some(saved))) = (polled.is_pending(), saved) {
        context::with_core(|core| {
            core.with_running_record(|record| {
                record.restore(saved);
                record.record(what);
            })
        });
    }
    polled
}

/// Every live task of the loop running on this thread: a table and a tree (see
/// [`TaskDump`]). Sleeps are shown against `clock`, or if `None` against the loop's own
/// clock (its driver's [`dump_clock`](crate::Driver::dump_clock): the timer's, virtual or
/// real), else the real time. Any code on the loop's thread may call it while the loop
/// runs: a task, a `call_soon` callback, a callback another thread sent.
///
/// # Panics
/// With no loop running on this thread.
pub fn dump(clock: Option<Instant>) -> TaskDump {
    context::with_core(|core| dump_core(core, clock.unwrap_or_else(|| core.dump_clock())))
        .unwrap_or_else(|| {
            panic!(
                "dump() called with no running event loop on this thread: call it from a task \
                 (or block_on's future)"
            )
        })
}

/// Records an instant in the trace of the loop running on this thread, if it is tracing:
/// drivers call it for a timer that fires or a socket that becomes ready.
#[inline]
pub fn trace_instant(what: impl FnOnce() -> String) {
    context::with_core(|core| {
        if let Some(debug) = core.debug() {
            debug.trace(|recorder| recorder.instant(&what()));
        }
    });
}

/// How long [`Handle::dump`] waits for a loop on another thread to answer.
pub const DUMP_WAIT: Duration = Duration::from_secs(1);

/// [`Handle::dump`]: on the loop's own thread the dump itself (never wait for yourself);
/// from any other, a callback sent to the loop that makes it and sends it back, waited for
/// at most `wait`.
pub(crate) fn dump_by_handle(handle: &Handle, wait: Duration) -> TaskDump {
    let mut here = None;
    let _ = handle.on_own_loop(|core| here = Some(dump_core(core, core.dump_clock())));
    if let Some(dump) = here {
        return dump;
    }
    let view = &handle.shared().view;
    let unanswered = |why| TaskDump {
        loop_name: view.label.clone(),
        now: Instant::now(),
        tasks: Vec::new(),
        unanswered: Some(why),
    };
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    let asked = Instant::now();
    let sent = handle.call_soon_threadsafe(move || {
        // The asker may have stopped waiting: then nobody reads it.
        let _ = answer.send(dump(None));
    });
    if sent.is_err() {
        return unanswered(Unanswered::Closed);
    }
    match answered.recv_timeout(wait) {
        Ok(dump) => dump,
        // The loop was dropped with the callback unrun (its shutdown drops what is queued).
        Err(_) if handle.is_closed() => unanswered(Unanswered::Closed),
        Err(_) => unanswered(Unanswered::NoReply {
            waited: asked.elapsed(),
            poll: view.polls.as_ref().map(PollWatch::poll_now),
        }),
    }
}

/// What another thread can know of a loop without its answer: its name, and in debug mode
/// which poll is running (kept in the loop's `Shared`, for [`Handle::dump`]).
pub(crate) struct LoopView {
    label: String,
    polls: Option<PollWatch>,
}

impl LoopView {
    /// The view of a loop being made on this thread, with this debug state.
    pub(crate) fn new(debug: Option<&LoopDebug>) -> LoopView {
        match debug {
            Some(debug) => LoopView {
                label: debug.label.clone(),
                polls: debug
                    .stall
                    .as_ref()
                    .map(|stall| stall.watchdog.poll_watch()),
            },
            None => LoopView {
                label: format!(
                    "the loop on thread '{}'",
                    std::thread::current().name().unwrap_or("unnamed")
                ),
                polls: None,
            },
        }
    }
}

/// Gives each loop a number, for its name in the trace.
fn next_loop_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The stall watchdog's parts the loop holds (debug mode).
struct Stall {
    names: TaskNames,
    watchdog: Watchdog,
}

/// A loop's debug state, present only with debug mode or a trace.
///
/// The loop's turn is compiled in three copies (`block_on` picks one): without debug state,
/// with it, and with it and a trace (`DEBUG` and `TRACE` below). Per poll, debug mode
/// costs one store into the heartbeat, nothing after the poll; it learns of new tasks once per
/// turn, from the task ids (`check_spawns`), and of completed ones as they complete. A
/// trace costs more, as it must: clock reads, and a look at what each poll queued.
pub(crate) struct LoopDebug {
    options: DebugOptions,
    /// `loop 3 on thread 'main'`.
    label: String,
    /// Written on every poll; watched only in debug mode.
    heartbeat: Arc<Heartbeat>,
    /// Debug mode: the watchdog, and the names it is told.
    stall: Option<Stall>,
    recorder: RefCell<Option<Recorder>>,
    /// Debug mode: when each live task was spawned, and whether it has a name of its own
    /// (announced to the watchdog).
    spawned: RefCell<HashMap<u64, (Instant, bool)>>,
    /// The newest task id seen by `check_spawns`.
    seen_id: Cell<u64>,
    /// Tracing, the poll running now (polls do not nest: loops do not): the ready queue's
    /// tail when it began, and its trace mark.
    polling_tail: Cell<Option<TaskPtr>>,
    polling_trace: Cell<Option<trace::PollMark>>,
    /// Tracing: the turn's park, and the ready queue's tail before it.
    parking: Cell<Option<trace::LoopMark>>,
    parking_tail: Cell<Option<TaskPtr>>,
}

impl LoopDebug {
    /// The debug state of a new loop on this thread, or `None` if every tool is off.
    pub(crate) fn new(options: DebugOptions) -> io::Result<Option<Box<LoopDebug>>> {
        if !options.any() {
            return Ok(None);
        }
        let thread = std::thread::current();
        let label = format!(
            "loop {} on thread '{}'",
            next_loop_number(),
            thread.name().unwrap_or("unnamed")
        );
        let heartbeat = Arc::new(Heartbeat::new());
        let stall = if options.debug {
            let (watchdog, names) = Watchdog::start(
                heartbeat.clone(),
                options.slow_poll_threshold,
                options.output.clone(),
            )?;
            names.named(0, "main");
            Some(Stall { names, watchdog })
        } else {
            None
        };
        let recorder = options
            .trace
            .as_ref()
            .map(|_| Recorder::new(options.trace_capacity.max(1), label.clone()));
        Ok(Some(Box::new(LoopDebug {
            options,
            label,
            heartbeat,
            stall,
            recorder: RefCell::new(recorder),
            spawned: RefCell::new(HashMap::new()),
            seen_id: Cell::new(0),
            polling_tail: Cell::new(None),
            polling_trace: Cell::new(None),
            parking: Cell::new(None),
            parking_tail: Cell::new(None),
        })))
    }

    pub(crate) fn options(&self) -> &DebugOptions {
        &self.options
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Whether a trace is being recorded.
    pub(crate) fn tracing(&self) -> bool {
        self.options.trace.is_some()
    }

    /// Runs `f` on the recorder, if tracing. Never runs user code inside.
    #[inline]
    pub(crate) fn trace(&self, f: impl FnOnce(&mut Recorder)) {
        if let Some(recorder) = self.recorder.borrow_mut().as_mut() {
            f(recorder);
        }
    }

    /// Debug mode: learns of the tasks spawned since the last look, newest first along the
    /// live list until a task already seen (ids count up in spawn order): each one's name
    /// for the watchdog, its birth for the dump's ages. Called once per turn, after the
    /// park and after remote wakes are taken in, so every task is known before its first
    /// poll; it costs two loads when nothing was spawned.
    #[inline]
    pub(crate) fn check_spawns(&self, core: &Core) {
        if self.stall.is_some() && core.last_id() != self.seen_id.get() {
            self.register_spawns(core);
        }
    }

    #[inline(never)]
    fn register_spawns(&self, core: &Core) {
        let Some(stall) = &self.stall else {
            return;
        };
        let seen = self.seen_id.replace(core.last_id());
        let now = Instant::now();
        let mut spawned = self.spawned.borrow_mut();
        core.for_each_newest_task(|header| {
            let id = header.id.as_u64();
            if id <= seen {
                return false;
            }
            // A name given at spawn is set already; the default one is made on first use.
            let named = header.name.get().is_some();
            if named {
                stall.names.named(id, header.name());
            } else if header.kind == Kind::Callback {
                stall.names.named(id, &format!("callback-{id}"));
            }
            spawned.insert(id, (now, named || header.kind == Kind::Callback));
            true
        });
    }

    /// Tracing: what was queued since `tail` was the ready queue's last task. A task never
    /// polled was spawned, any other was woken: the trace learns of spawns and wakes
    /// without a hook on their paths (which every loop shares), after each poll, park and
    /// drain of remote wakes.
    #[inline(never)]
    fn arrived(&self, core: &Core, tail: Option<TaskPtr>) {
        core.ready.for_each_after(tail, |header| {
            let id = header.id.as_u64();
            if header.polls.get() == 0 {
                self.trace(|recorder| recorder.spawn(id));
            } else {
                self.trace(|recorder| recorder.wake(id));
            }
        });
    }

    /// How long ago task `id` was spawned (debug mode).
    pub(crate) fn age(&self, id: u64, now: Instant) -> Option<Duration> {
        let spawned = self.spawned.borrow();
        spawned
            .get(&id)
            .map(|(at, _)| now.saturating_duration_since(*at))
    }

    /// The heartbeat the loop writes on every poll (the core keeps its own pointer to it,
    /// one load away).
    pub(crate) fn heartbeat(&self) -> Arc<Heartbeat> {
        self.heartbeat.clone()
    }

    /// A poll begins, when tracing (the heartbeat's store is the core's): a note of the
    /// ready queue's tail and the trace's start.
    #[inline(always)]
    pub(crate) fn poll_started_traced(&self, core: &Core, header: &Header) {
        self.polling_tail.set(core.ready.back());
        self.trace_poll_started(header);
    }

    #[inline(never)]
    fn trace_poll_started(&self, header: &Header) {
        let id = header.id.as_u64();
        let mark = self
            .recorder
            .borrow_mut()
            .as_mut()
            .map(|recorder| recorder.begin_poll(id));
        self.polling_trace.set(mark);
    }

    /// A poll ended, when tracing or when the task is `done` (after its completion's
    /// bookkeeping): the task is forgotten; when tracing, what the poll queued and the
    /// trace's slice. (Debug mode alone calls nothing after a pending poll: the watchdog
    /// sees the poll count move.)
    #[inline(always)]
    pub(crate) fn poll_ended<const TRACE: bool>(&self, core: &Core, header: &Header, done: bool) {
        if TRACE {
            let tail = self.polling_tail.get();
            if core.ready.back() != tail {
                self.arrived(core, tail);
            }
        }
        if done {
            self.task_done(header);
        }
        if TRACE {
            self.trace_poll_ended(header, done);
        }
    }

    /// A task completed: forget its birth, and its name if the watchdog was told it.
    #[inline(never)]
    fn task_done(&self, header: &Header) {
        if let Some(stall) = &self.stall
            && let Some((_, named)) = self.spawned.borrow_mut().remove(&header.id.as_u64())
            && named
        {
            stall.names.gone(header.id.as_u64());
        }
    }

    #[inline(never)]
    fn trace_poll_ended(&self, header: &Header, done: bool) {
        if !done && header.state.get() & NOTIFIED != 0 {
            // Woken during its own poll (a yield): it goes back in the queue after this.
            self.trace(|recorder| recorder.wake(header.id.as_u64()));
        }
        let Some(start) = self.polling_trace.take() else {
            return;
        };
        let outcome = if !done {
            PollOutcome::Pending
        } else if header.state.get() & CANCELLED != 0 {
            PollOutcome::Cancelled
        } else {
            PollOutcome::Finished
        };
        self.trace(|recorder| recorder.end_poll(start, header.name(), outcome));
    }

    /// The turn's polls are done; the loop is about to look for events (and maybe wait).
    /// `watching` feeds the trace's counters.
    pub(crate) fn turn_ended<const TRACE: bool>(
        &self,
        core: &Core,
        watching: impl FnOnce() -> crate::Watching,
    ) {
        self.heartbeat.idle();
        self.check_spawns(core);
        if TRACE {
            self.parking_tail.set(core.ready.back());
            self.trace(|recorder| {
                let watching = watching();
                recorder.counter(Counter::Ready, core.ready.len() as u64);
                recorder.counter(Counter::Timers, watching.timers as u64);
                recorder.counter(Counter::IoSources, watching.io_sources as u64);
                self.parking.set(Some(recorder.begin_loop()));
            });
        }
    }

    /// The driver's park returned.
    pub(crate) fn parked<const TRACE: bool>(&self, core: &Core) {
        self.check_spawns(core);
        if TRACE {
            let tail = self.parking_tail.take();
            if core.ready.back() != tail {
                self.arrived(core, tail);
            }
            if let Some(mark) = self.parking.take() {
                self.trace(|recorder| recorder.end_loop(mark, "waiting for events"));
            }
        }
    }

    /// Wakes from other threads are being taken in.
    pub(crate) fn remote_wakes(&self, core: &Core, take_in: impl FnOnce()) {
        if !self.tracing() {
            take_in();
            self.check_spawns(core);
            return;
        }
        let mark = self
            .recorder
            .borrow_mut()
            .as_mut()
            .map(|recorder| recorder.begin_loop());
        let tail = core.ready.back();
        take_in();
        self.check_spawns(core);
        self.arrived(core, tail);
        if let Some(mark) = mark {
            self.trace(|recorder| recorder.end_loop(mark, "remote wakes"));
        }
    }

    /// The loop is being dropped: write the trace.
    pub(crate) fn finish(&self) {
        let (Some(path), Some(recorder)) = (&self.options.trace, self.recorder.take()) else {
            return;
        };
        if let Err(error) = trace::save(path, recorder.finish()) {
            self.options.output.print(&format!(
                "handloop: could not write the trace to {}: {error}\n",
                path.display()
            ));
        }
    }
}

impl fmt::Debug for LoopDebug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopDebug")
            .field("label", &self.label)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The dump of `core`'s tasks, sleeps shown against `clock`.
pub(crate) fn dump_core(core: &Core, clock: Instant) -> TaskDump {
    let real_now = Instant::now();
    // Who awaits whom: a task's waker in another task's join slot.
    let mut awaits: HashMap<u64, Vec<u64>> = HashMap::new();
    core.for_each_task(|header| {
        if let Some(awaiter) = join_slot_owner(core, header) {
            awaits.entry(awaiter).or_default().push(header.id.as_u64());
        }
    });
    let mut tasks = Vec::new();
    core.for_each_task(|header| {
        if header.kind == Kind::Callback {
            return; // a callback is always ready, and asyncio's `ps` lists tasks only
        }
        let id = header.id.as_u64();
        let state = header.state.get();
        let status = if state & RUNNING != 0 {
            TaskStatus::Running
        } else if state & NOTIFIED != 0 {
            TaskStatus::Ready
        } else {
            TaskStatus::Waiting
        };
        // A running task's record is its previous poll's: it is not waiting on that now.
        let record = (status != TaskStatus::Running).then(|| header.waiting.get());
        let (waiting_on, more_waits) = match record.flatten() {
            // A lock's holder is looked up now (it may have changed since the wait began);
            // a task handed the lock and not yet run holds it itself, and names no holder.
            Some((WaitingOn::Lock { lock, .. }, more)) => {
                let holder = locks::lock_holder(lock).filter(|&holder| holder != id);
                (Some(WaitingOn::Lock { lock, holder }), more)
            }
            Some((what, more)) => (Some(what), more),
            None => (None, 0),
        };
        tasks.push(TaskRow {
            id,
            name: header.name().to_owned(),
            state: status,
            polls: header.polls.get(),
            age: core.debug().and_then(|debug| debug.age(id, real_now)),
            waiting_on,
            more_waits,
            awaits: awaits.remove(&id).unwrap_or_default(),
        });
    });
    let loop_name = match core.debug() {
        Some(debug) => debug.label().to_owned(),
        None => format!(
            "the loop on thread '{}'",
            std::thread::current().name().unwrap_or("unnamed")
        ),
    };
    TaskDump {
        loop_name,
        now: clock,
        tasks,
        unanswered: None,
    }
}

/// The id of the task whose waker sits in `header`'s join slot, if that task belongs to
/// `core`'s loop and is not complete.
fn join_slot_owner(core: &Core, header: &Header) -> Option<u64> {
    let waker = header.join_waker.take()?;
    let owner = task_of(&waker).and_then(|task| {
        // SAFETY: the waker in the slot keeps its task alive while we hold it.
        let cross = unsafe { task.cross() };
        if !core.owns_cross(cross) {
            return None;
        }
        // SAFETY: as above; the task belongs to this loop, whose thread we are on.
        let owner = unsafe { task.header() };
        (!owner.is_complete()).then(|| owner.id.as_u64())
    });
    // Put it back: nothing ran in between.
    header.join_waker.set(Some(waker));
    owner
}

/// What the deadlock rule needs from the loop itself: every waker of a task that is not
/// complete, how many of them sit in join slots of such tasks, and the live `Handle`s. The
/// driver's part is the caller's (`EventLoop::wait_idle` asks only once the driver watches
/// nothing: no timer, no I/O, no job out on a thread).
pub(crate) fn evidence(core: &Core) -> Evidence {
    let mut evidence = Evidence {
        // `Acquire`: see `Shared::live_handles`.
        handles: core.shared().live_handles(),
        ..Evidence::default()
    };
    core.for_each_task(|header| {
        // The atomic count holds one reference for all the local ones (a task that is not
        // complete always has some: the live list's, or `MainTask`'s), plus one per shared
        // waker and per remote-queue entry; `wakers` counts the local wakers.
        let atomic = header.refs.load(SyncOrdering::Acquire) as u64;
        evidence.wakers += u64::from(header.wakers.get()) + atomic.saturating_sub(1);
        if join_slot_owner(core, header).is_some() {
            evidence.wakers_in_join_slots += 1;
        }
    });
    evidence
}
