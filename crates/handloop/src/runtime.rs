//! `run` and `Runtime`: an event loop with the timer wired in (asyncio's `asyncio.run`).

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use handloop_executor::debug::DebugOptions;
use handloop_executor::{EventLoop, Handle, in_event_loop};
use handloop_io::IoDriver;
use handloop_timer::TimerDriver;

use crate::blocking::{self, BlockingPool};

/// Runs `future` to completion on a new event loop with a real clock and I/O, and returns
/// its output (asyncio's `asyncio.run(main())`).
///
/// Tasks still pending when `future` completes are dropped with the loop (their handles
/// report them cancelled). Any thread can run its own loop.
///
/// # Panics
/// If an event loop is already running on this thread: `run` does not nest (neither does
/// `asyncio.run`); await the future instead. If the OS refuses a poller (out of file
/// descriptors): use [`Runtime::new`] to get that error instead. A panic in `future`
/// itself propagates.
pub fn run<F: Future>(future: F) -> F::Output {
    if in_event_loop() {
        panic!(
            "handloop::run() called while an event loop is already running on this thread: \
             runs do not nest; await the future (or spawn it) instead"
        );
    }
    Runtime::builder()
        .build()
        .unwrap_or_else(|e| panic!("handloop::run could not create the OS poller: {e}"))
        .block_on(future)
}

/// Builds a [`Runtime`]: `Runtime::builder().virtual_time().build()`.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct Builder {
    virtual_time: bool,
    /// `None`: as `HANDLOOP_DEBUG` says.
    debug: Option<bool>,
    /// `None`: as `HANDLOOP_TRACE` says.
    trace: Option<PathBuf>,
    slow_poll_threshold: Option<Duration>,
    deadlock_grace: Option<Duration>,
    trace_capacity: Option<usize>,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            virtual_time: false,
            debug: None,
            trace: None,
            slow_poll_threshold: None,
            deadlock_grace: None,
            trace_capacity: None,
            max_blocking_threads: blocking::default_max_threads(),
            blocking_keep_alive: blocking::KEEP_ALIVE,
        }
    }
}

impl Builder {
    /// Uses a virtual clock: it starts at a fixed instant, stands still while anything is
    /// ready, and jumps straight to the next deadline when the loop would otherwise sleep
    /// (trio's autojump clock, tokio's paused time). Elapsed times are exact and a minute
    /// of sleeping takes no real time: what tests and the tutorials' timing claims want.
    /// Sockets do not stop the clock: while a task waits for bytes still in flight and a
    /// timer is pending, the clock jumps to that timer. Test network code on the real clock.
    pub fn virtual_time(mut self) -> Self {
        self.virtual_time = true;
        self
    }

    /// Debug mode (asyncio's debug mode): a watchdog thread names, while it happens, a
    /// task that holds the thread longer than the [slow-poll
    /// threshold](Builder::slow_poll_threshold) without yielding, and how long it took once
    /// it yields; the task dump shows each task's age; and on the real clock, a loop
    /// where every task has waited 5 s with nothing happening prints the dump. Setting
    /// `HANDLOOP_DEBUG=1` in the environment turns it on for every runtime that does not
    /// choose here, [`run`] included (asyncio's `PYTHONASYNCIODEBUG`).
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = Some(on);
        self
    }

    /// How long one poll may hold the thread before debug mode names the task (100 ms by
    /// default, asyncio's `slow_callback_duration`).
    ///
    /// # Panics
    /// At [`build`](Builder::build), if it is zero.
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Self {
        self.slow_poll_threshold = Some(threshold);
        self
    }

    /// Records the loop's schedule and writes it to `path` as Chrome trace-event JSON when
    /// the runtime is dropped: open it in ui.perfetto.dev or chrome://tracing. Setting
    /// `HANDLOOP_TRACE=path` in the environment does it for every runtime that does not
    /// choose here (all of a process's loops then share the file, one track each).
    pub fn trace(mut self, path: impl Into<PathBuf>) -> Self {
        self.trace = Some(path.into());
        self
    }

    /// How many events the trace keeps, the newest (about a million by default): the
    /// trace's memory is bounded by it, however long the program runs.
    ///
    /// # Panics
    /// At [`build`](Builder::build), if it is zero.
    pub fn trace_capacity(mut self, events: usize) -> Self {
        self.trace_capacity = Some(events);
        self
    }

    /// On the virtual clock, a loop where every task waits, with no timer to jump to, waits
    /// this long (real time) for another thread before it panics with `handloop: deadlock`
    /// (1 s by default). A deadlock the loop can prove (no waker of any task outside the
    /// loop) panics at once on either clock.
    pub fn deadlock_grace(mut self, grace: Duration) -> Self {
        self.deadlock_grace = Some(grace);
        self
    }

    /// At most `n` threads run [`to_thread`](crate::to_thread) jobs at once; more jobs
    /// wait their turn, in order. The default is asyncio's `min(32, cores + 4)`. Threads
    /// start only when a job needs one.
    ///
    /// # Panics
    /// If `n` is 0: no job could ever run.
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        assert!(
            n > 0,
            "Builder::max_blocking_threads(0): to_thread jobs need at least one thread"
        );
        self.max_blocking_threads = n;
        self
    }

    /// How long a [`to_thread`](crate::to_thread) thread with no job waits for one before
    /// it exits (default 10 s, as tokio's blocking pool).
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.blocking_keep_alive = keep_alive;
        self
    }

    /// Builds the runtime: the OS poller (step 5's [`IoDriver`]) wrapped in the timer.
    ///
    /// # Errors
    /// The OS's error if it refuses a poller (`epoll_create1`, an eventfd), typically for
    /// lack of file descriptors; or if debug mode's watchdog thread cannot be started.
    ///
    /// # Panics
    /// If the slow-poll threshold or the trace capacity is zero.
    pub fn build(self) -> io::Result<Runtime> {
        let blocking = self.blocking_pool();
        self.build_sharing(blocking)
    }

    /// The `to_thread` pool this builder's settings describe.
    pub(crate) fn blocking_pool(&self) -> BlockingPool {
        BlockingPool::new(self.max_blocking_threads, self.blocking_keep_alive)
    }

    /// Builds a runtime whose `to_thread` jobs go to `blocking` (a `LoopPool`'s loops
    /// share one pool).
    pub(crate) fn build_sharing(self, blocking: BlockingPool) -> io::Result<Runtime> {
        let io = IoDriver::new()?;
        let driver = if self.virtual_time {
            TimerDriver::new_virtual(io)
        } else {
            TimerDriver::new(io)
        };
        let defaults = DebugOptions::default();
        if let Some(threshold) = self.slow_poll_threshold {
            assert!(
                !threshold.is_zero(),
                "Runtime::builder().slow_poll_threshold(..) must be longer than zero"
            );
        }
        assert!(
            self.trace_capacity != Some(0),
            "Runtime::builder().trace_capacity(..) must be at least one event"
        );
        let options = DebugOptions {
            debug: self.debug.unwrap_or_else(debug_from_env),
            slow_poll_threshold: self
                .slow_poll_threshold
                .unwrap_or(defaults.slow_poll_threshold),
            deadlock_grace: self.deadlock_grace.unwrap_or(defaults.deadlock_grace),
            trace: self.trace.or_else(trace_from_env),
            trace_capacity: self.trace_capacity.unwrap_or(defaults.trace_capacity),
            ..defaults
        };
        Ok(Runtime {
            event_loop: EventLoop::with_options(driver, options)?,
            blocking,
            virtual_time: self.virtual_time,
        })
    }
}

/// `HANDLOOP_DEBUG`: set to anything but empty, `0` or `false`, debug mode is on (as
/// `PYTHONASYNCIODEBUG` is read).
fn debug_from_env() -> bool {
    std::env::var_os("HANDLOOP_DEBUG")
        .is_some_and(|value| !matches!(value.to_str(), Some("" | "0" | "false")))
}

/// `HANDLOOP_TRACE`: the path to write a trace to, if set and not empty.
fn trace_from_env() -> Option<PathBuf> {
    std::env::var_os("HANDLOOP_TRACE")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// An event loop with a timer and I/O: what [`run`] makes, kept so you can choose its clock and
/// run several futures on it in turn.
///
/// ```
/// use std::time::Duration;
///
/// let runtime = handloop::Runtime::builder().virtual_time().build()?;
/// let waited = runtime.block_on(async {
///     let start = handloop::time::now();
///     handloop::sleep(Duration::from_secs(60)).await;
///     handloop::time::now() - start
/// });
/// assert_eq!(waited, Duration::from_secs(60)); // exactly, and at once
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    event_loop: EventLoop,
    /// The threads of `to_thread`, started lazily; dropping it lets the jobs already
    /// queued finish on their threads.
    blocking: BlockingPool,
    virtual_time: bool,
}

impl Runtime {
    /// A builder; see [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A runtime with a real clock (what [`run`] uses).
    pub fn new() -> io::Result<Runtime> {
        Runtime::builder().build()
    }

    /// Runs the loop until `future` completes (asyncio's `loop.run_until_complete`).
    /// Tasks still pending afterwards stay on this runtime for the next `block_on`, and
    /// are dropped with it.
    ///
    /// # Panics
    /// If an event loop is already running on this thread.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _blocking = self.blocking.enter();
        self.event_loop.block_on(future)
    }

    /// A [`Handle`] on this runtime's loop, for other threads to run work on it
    /// (`call_soon_threadsafe`, `spawn`, `spawn_with`). Inside the loop,
    /// [`Handle::current`] gives the same.
    pub fn handle(&self) -> Handle {
        self.event_loop.handle()
    }

    /// Whether this runtime uses the virtual clock.
    pub fn is_virtual_time(&self) -> bool {
        self.virtual_time
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("virtual_time", &self.virtual_time)
            .field("event_loop", &self.event_loop)
            .field("blocking", &self.blocking)
            .finish()
    }
}
