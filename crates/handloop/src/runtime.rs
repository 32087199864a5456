//! `run` and `Runtime`: an event loop with the timer wired in (asyncio's `asyncio.run`).

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

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
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            virtual_time: false,
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
    /// Fails with the OS's error if it refuses a poller (`epoll_create1`, an eventfd),
    /// typically for lack of file descriptors.
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
        Ok(Runtime {
            event_loop: EventLoop::with_driver(driver),
            blocking,
            virtual_time: self.virtual_time,
        })
    }
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
