//! `to_thread`: a blocking call leaves the loop's thread for a pool of threads, and the
//! task awaits its result (asyncio's `to_thread`, tokio's `spawn_blocking`).
//!
//! The pool belongs to a [`Runtime`](crate::Runtime): threads start the first time a job
//! needs one, up to the runtime's `max_blocking_threads`, and a thread with nothing to do
//! for the keep-alive time (10 s) exits. Jobs wait in one FIFO queue. A job's result comes
//! back through a `oneshot`, whose wake reaches the loop like any wake from another thread.
//!
//! The loops of a `LoopPool` share one pool. Dropping the (last) runtime stops the pool: idle threads exit at once, and jobs already handed
//! over still run (nothing a task handed over is thrown away), on threads that exit when
//! the queue is empty. Dropping the runtime does not wait for them.

use std::any::type_name;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use handloop_channel::oneshot;
use handloop_executor::JoinError;
use handloop_executor::debug::{WaitingOn, record_waiting_as};
use handloop_timer::hold_clock;

/// How long an idle pool thread waits for a job before it exits.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// asyncio's default cap for `to_thread`: `min(32, cpu_count + 4)`.
pub(crate) fn default_max_threads() -> usize {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    (cores + 4).min(32)
}

/// Runs `f` on a thread of the runtime's blocking pool and gives its result back to the
/// awaiting task (asyncio's `await asyncio.to_thread(f)`, tokio's `spawn_blocking`).
///
/// This is how a task calls something that blocks (a file read, a DNS lookup, a library
/// with no async API, a long computation) without freezing the loop: the loop goes on
/// running the other tasks while `f` runs elsewhere.
///
/// ```
/// use std::time::Duration;
///
/// let sum = handloop::run(async {
///     handloop::to_thread(|| {
///         std::thread::sleep(Duration::from_millis(10)); // blocks a pool thread, not the loop
///         (1..=10).sum::<u32>()
///     })
///     .await
/// });
/// assert_eq!(sum.unwrap(), 55);
/// ```
///
/// - The job starts at once, in FIFO order with the runtime's other jobs, on one of at most
///   [`max_blocking_threads`](crate::Builder::max_blocking_threads) threads (asyncio's
///   `min(32, cores + 4)` unless set); the threads start lazily and exit after 10 s idle.
/// - A panic in `f` becomes a [`JoinError`] whose [`is_panic`](JoinError::is_panic) is
///   true; the loop and the pool go on.
/// - Dropping the returned future detaches the job: it still runs to the end (a thread
///   cannot be interrupted), and its result is dropped.
/// - On a [virtual clock](crate::Builder::virtual_time), time does not jump while the job
///   runs: a `timeout` around it cannot fire just because the job takes real time.
/// - Each job, queued or running, holds one [`ClockHold`](crate::time::ClockHold) of the
///   loop until its result is handed over, on either clock: inside the loop,
///   [`time::outstanding_holds`](crate::time::outstanding_holds) counts the jobs in
///   flight.
///
/// # Panics
/// With no handloop runtime running on this thread (inside [`run`](crate::run) or
/// [`Runtime::block_on`](crate::Runtime::block_on)): a plain thread may simply call `f`.
/// If the OS refuses to start a thread and the pool has none.
pub fn to_thread<F, T>(f: F) -> ToThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let pool = CURRENT.with(|current| current.borrow().clone());
    let Some(pool) = pool else {
        panic!(
            "handloop::to_thread() called with no handloop runtime running on this thread: \
             call it from a task inside handloop::run or Runtime::block_on (a plain thread \
             can call the function directly)"
        )
    };
    // Held until the result is handed over: the virtual clock waits for the job.
    let hold = hold_clock();
    let (sender, receiver) = oneshot::channel();
    pool.submit(Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            JoinError::from_panic(&format!("to_thread({})", type_name::<F>()), payload)
        });
        if let Err(Err(error)) = sender.send(result) {
            eprintln!("handloop: {error} (nobody awaited its to_thread future)");
        }
        // After the send, whose wake is on its way to the loop: see `hold_clock`.
        drop(hold);
    }));
    ToThread { receiver }
}

/// The future returned by [`to_thread`]: the job's result, or a [`JoinError`] if it
/// panicked. Dropping it detaches the job.
pub struct ToThread<T> {
    receiver: oneshot::Receiver<Result<T, JoinError>>,
}

impl<T> Future for ToThread<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The dump shows a `to_thread job`, not the oneshot it comes back through.
        let polled = record_waiting_as(WaitingOn::ToThread, || {
            Pin::new(&mut self.receiver).poll(cx)
        });
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            // Only a pool that could start no thread at all drops a job unrun.
            Poll::Ready(Err(oneshot::RecvError)) => panic!(
                "a to_thread job was dropped without running: its runtime's pool could not \
                 start a thread (the OS refused; see the panic of the to_thread call that \
                 tried)"
            ),
        }
    }
}

impl<T> fmt::Debug for ToThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToThread").finish_non_exhaustive()
    }
}

/// A job: the user's function wrapped with its result's way back.
type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// The pool of the runtime running on this thread, set by `Runtime::block_on`.
    static CURRENT: RefCell<Option<Arc<Pool>>> = const { RefCell::new(None) };
}

/// A runtime's handle on its pool. The runtimes of a `LoopPool` share one (clones);
/// dropping the last clone stops the pool.
#[derive(Clone)]
pub(crate) struct BlockingPool {
    pool: Arc<Pool>,
    _owners: Arc<Owners>,
}

/// Dropped with the last `BlockingPool` clone: stops the pool. (The pool's threads hold
/// the `Pool` itself, not this.)
struct Owners(Arc<Pool>);

impl Drop for Owners {
    fn drop(&mut self) {
        self.0.lock().shutdown = true;
        self.0.condvar.notify_all();
    }
}

/// Makes a pool this thread's current one until dropped (restoring the previous one).
pub(crate) struct Entered {
    previous: Option<Arc<Pool>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration) -> BlockingPool {
        let pool = Arc::new(Pool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                shutdown: false,
            }),
            condvar: Condvar::new(),
            max_threads,
            keep_alive,
        });
        BlockingPool {
            _owners: Arc::new(Owners(pool.clone())),
            pool,
        }
    }

    /// Makes this the pool `to_thread` uses on this thread, until the guard is dropped.
    pub(crate) fn enter(&self) -> Entered {
        let previous = CURRENT.with(|current| current.replace(Some(self.pool.clone())));
        Entered { previous }
    }
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.pool.lock();
        f.debug_struct("BlockingPool")
            .field("max_threads", &self.pool.max_threads)
            .field("keep_alive", &self.pool.keep_alive)
            .field("threads", &state.threads)
            .field("idle", &state.idle)
            .field("queued", &state.queue.len())
            .finish()
    }
}

/// What the loop and the pool's threads share.
struct Pool {
    state: Mutex<State>,
    /// Idle threads wait here for a job (or for the shutdown).
    condvar: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

struct State {
    /// Jobs no thread has taken yet, oldest first.
    queue: VecDeque<Job>,
    /// Live threads: running a job, looking for one, or idle.
    threads: usize,
    /// Threads waiting on the condition variable.
    idle: usize,
    /// Idle threads already told to take a job and not yet awake (at most `idle`): a
    /// new job wakes another idle thread only if one is left untold.
    notified: usize,
    /// The runtime is gone: run what is queued, then exit.
    shutdown: bool,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job runs outside the lock and catches its own panics: nothing panics while
        // holding it, and the state stays valid if something did.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Queues a job, then wakes an idle thread or starts a new one if the cap allows;
    /// otherwise a busy thread takes it when done with its own.
    fn submit(self: &Arc<Self>, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        if state.idle > state.notified {
            state.notified += 1;
            drop(state);
            self.condvar.notify_one();
        } else if state.threads < self.max_threads {
            state.threads += 1;
            drop(state);
            self.start_thread();
        }
    }

    /// Starts one more thread (already counted in `threads`).
    fn start_thread(self: &Arc<Self>) {
        let pool = self.clone();
        let started = thread::Builder::new()
            .name("handloop-to-thread".into())
            .spawn(move || pool.work());
        if let Err(error) = started {
            let mut state = self.lock();
            state.threads -= 1;
            if state.threads > 0 {
                return; // the live threads will get to the job
            }
            // No thread at all: nobody would ever run what is queued.
            let unrun: Vec<Job> = state.queue.drain(..).collect();
            drop(state);
            drop(unrun);
            panic!("handloop::to_thread could not start a thread for its job: {error}");
        }
    }

    /// A pool thread: take jobs in order; after `keep_alive` with none, exit.
    fn work(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // The job catches the user's panic itself; this catches one from dropping
                // an unwanted result, which must not cost the pool a thread.
                if catch_unwind(AssertUnwindSafe(job)).is_err() {
                    eprintln!("handloop: dropping a to_thread result nobody awaited panicked");
                }
                state = self.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (guard, wait) = self
                .condvar
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(|poison| poison.into_inner());
            state = guard;
            state.idle -= 1;
            if state.notified > 0 {
                // Told to take a job (or another idle thread was, and whichever wakes
                // first takes it): look at the queue.
                state.notified -= 1;
                continue;
            }
            if wait.timed_out() && state.queue.is_empty() {
                break; // idle for the whole keep-alive time
            }
        }
        state.threads -= 1;
    }
}
