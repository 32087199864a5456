//! `LoopPool`: one loop per thread, several threads: how a handloop program uses every
//! core (glommio's and monoio's model: no work stealing; each task stays on its loop).
//!
//! Each loop is an ordinary [`Runtime`] running on a thread of its own until the pool is
//! dropped. Everything reaches the loops through their [`Handle`]s: the pool places a
//! task on the loop with the fewest live tasks (the count each loop publishes,
//! [`Handle::live_tasks`], plus the tasks the pool sent it that have not started yet), and
//! `run_on_each` sends one future to every loop. The loops share one `to_thread` pool.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::resume_unwind;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use handloop_channel::oneshot;
use handloop_executor::{Handle, RemoteJoinHandle, in_event_loop};

use crate::Runtime;

/// Several event loops, one per thread (asyncio's "one event loop per thread", managed).
///
/// `LoopPool::new(n)` starts `n` threads, each running its own loop with a timer and I/O.
/// There is no work stealing: a task runs on the loop it was placed on, from start to
/// finish, so its future need not be `Send` and its timers and sockets stay cheap. Spread
/// the work by placing tasks ([`spawn_with`](LoopPool::spawn_with)), by giving each loop
/// the same job ([`run_on_each`](LoopPool::run_on_each)), or through each loop's
/// [`Handle`]. Dropping the pool stops every loop (their pending tasks are cancelled, on
/// their own threads) and joins the threads.
///
/// ```
/// use std::time::Duration;
///
/// let pool = handloop::LoopPool::new(2)?;
/// // The same job on every loop: each one sleeps on its own timer, on its own thread.
/// let threads = pool.run_on_each(|i| async move {
///     handloop::sleep(Duration::from_millis(10)).await;
///     (i, std::thread::current().name().map(str::to_owned))
/// });
/// assert_eq!(
///     threads,
///     [(0, Some("handloop-loop-0".to_owned())), (1, Some("handloop-loop-1".to_owned()))]
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct LoopPool {
    loops: Vec<PoolLoop>,
}

/// One loop of the pool, as the pool sees it.
struct PoolLoop {
    handle: Handle,
    /// Tasks the pool sent this loop that have not started yet (the loop counts them
    /// from the turn that applies them, the pool until their first poll).
    in_transit: Arc<AtomicUsize>,
    /// Dropping it ends the loop's `block_on`.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl LoopPool {
    /// Starts `n` loops, each on a thread of its own (`handloop-loop-0`, ...), each a
    /// [`Runtime`] with the default settings (real clock, I/O).
    ///
    /// # Errors
    /// If `n` is 0, if the OS refuses a thread, or if a loop cannot be built (the OS
    /// refuses an I/O poller); the loops already started are stopped first.
    pub fn new(n: usize) -> io::Result<LoopPool> {
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "LoopPool::new(0): a pool needs at least one loop",
            ));
        }
        let builder = Runtime::builder();
        let blocking = builder.blocking_pool();
        let mut pool = LoopPool {
            loops: Vec::with_capacity(n),
        };
        for i in 0..n {
            let (ready_tx, ready_rx) = mpsc::channel::<io::Result<Handle>>();
            let (stop, stopped) = oneshot::channel::<()>();
            let (builder, blocking) = (builder.clone(), blocking.clone());
            let thread = thread::Builder::new()
                .name(format!("handloop-loop-{i}"))
                .spawn(move || {
                    let runtime = match builder.build_sharing(blocking) {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(runtime.handle()));
                    // Until the pool drops `stop`: then the runtime, and its tasks, go.
                    runtime.block_on(async move {
                        let _ = stopped.await;
                    });
                })?;
            // The loop's thread sends its handle (or why it has none) before anything else.
            let started = ready_rx.recv().unwrap_or_else(|_| {
                Err(io::Error::other(format!(
                    "loop {i} of the LoopPool panicked while starting"
                )))
            });
            match started {
                Ok(handle) => pool.loops.push(PoolLoop {
                    handle,
                    in_transit: Arc::new(AtomicUsize::new(0)),
                    stop: Some(stop),
                    thread: Some(thread),
                }),
                Err(error) => {
                    let _ = thread.join();
                    return Err(error); // dropping `pool` stops the loops already started
                }
            }
        }
        Ok(pool)
    }

    /// How many loops the pool runs.
    pub fn len(&self) -> usize {
        self.loops.len()
    }

    /// Always `false`: a pool has at least one loop.
    pub fn is_empty(&self) -> bool {
        self.loops.is_empty()
    }

    /// The handle of loop `i`, to send it work directly.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn handle(&self, i: usize) -> Handle {
        match self.loops.get(i) {
            Some(one) => one.handle.clone(),
            None => panic!(
                "LoopPool::handle({i}): no such loop; the pool's loops are numbered 0 to {}",
                self.loops.len() - 1
            ),
        }
    }

    /// Sends `build` to the loop with the fewest live tasks, builds the future there and
    /// runs it as a task, as [`Handle::spawn_with`] does; returns the task's `Send`
    /// handle. The future need not be `Send`.
    ///
    /// A loop's live tasks are all of its unfinished tasks, however they were spawned
    /// ([`Handle::live_tasks`]), plus those this pool sent it that have not started yet;
    /// ties go to the lowest index.
    pub fn spawn_with<F, Fut>(&self, build: F) -> RemoteJoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let least = self
            .loops
            .iter()
            .enumerate()
            .min_by_key(|(_, one)| one.load())
            .map(|(i, _)| i)
            .expect("a pool has at least one loop");
        self.place(least, build)
    }

    /// Places a task on loop `i`, counted as in transit until it starts.
    fn place<F, Fut>(&self, i: usize, build: F) -> RemoteJoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let one = &self.loops[i];
        let in_transit = InTransit::new(&one.in_transit);
        one.handle.spawn_with(move || {
            // Started: the loop counts it now. (Dropped unrun, if the loop is gone, the
            // guard lowers the count all the same.)
            drop(in_transit);
            build()
        })
    }

    /// Runs `make(i)`'s future on loop `i`, for every loop, and blocks the calling thread
    /// until all of them finish; returns their outputs in loop order. A panic in one of
    /// them is resumed here, once all have finished.
    ///
    /// # Panics
    /// Called on a loop's thread: it would block that loop. Inside a loop, send each
    /// future with [`handle(i)`](LoopPool::handle)`.spawn_with` and await the handles.
    pub fn run_on_each<F, Fut>(&self, make: F) -> Vec<Fut::Output>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        if in_event_loop() {
            panic!(
                "LoopPool::run_on_each() called on a thread running an event loop: it blocks \
                 its caller, which would stop that loop; send each future with \
                 pool.handle(i).spawn_with(..) and await the handles instead"
            );
        }
        let make = Arc::new(make);
        let tasks: Vec<_> = (0..self.loops.len())
            .map(|i| {
                let make = make.clone();
                self.place(i, move || make(i))
            })
            .collect();
        let outcomes: Vec<_> = tasks.into_iter().map(handloop_waker::block_on).collect();
        outcomes
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| match outcome {
                Ok(output) => output,
                Err(error) if error.is_panic() => resume_unwind(error.into_panic()),
                Err(error) => panic!("LoopPool::run_on_each: the future on loop {i}: {error}"),
            })
            .collect()
    }
}

impl PoolLoop {
    /// Live tasks, and tasks on their way.
    fn load(&self) -> usize {
        self.handle.live_tasks() + self.in_transit.load(Ordering::Relaxed)
    }
}

/// Counts a task sent to a loop until dropped (when the task starts).
struct InTransit(Arc<AtomicUsize>);

impl InTransit {
    fn new(count: &Arc<AtomicUsize>) -> InTransit {
        count.fetch_add(1, Ordering::Relaxed);
        InTransit(count.clone())
    }
}

impl Drop for InTransit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for LoopPool {
    fn drop(&mut self) {
        // Stop them all first, then wait: the loops shut down side by side.
        for one in &mut self.loops {
            drop(one.stop.take());
        }
        for one in &mut self.loops {
            if let Some(thread) = one.thread.take() {
                // A loop's thread panics only if its runtime's drop does; nothing to add.
                let _ = thread.join();
            }
        }
    }
}

impl fmt::Debug for LoopPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live: Vec<usize> = self.loops.iter().map(PoolLoop::load).collect();
        f.debug_struct("LoopPool")
            .field("loops", &self.loops.len())
            .field("live_tasks", &live)
            .finish()
    }
}
