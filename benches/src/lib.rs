//! handloop beside tokio's current-thread runtime, async-executor's `LocalExecutor` and
//! futures' `LocalPool`, on the shapes of tokio's own `benches/`.
//!
//! Every workload is written once per runtime (`handloop_side`, `tokio_side`,
//! `smol_side`, `local_pool_side`), and one function runs one full iteration inside an
//! already-built runtime. The table [`WORKLOADS`] lists them; the criterion bench
//! (`benches/runtimes.rs`) and the `compare` binary (`src/bin/compare.rs`) both run the
//! code through [`Runtimes::run`], so they measure exactly the same thing. The rows that
//! cross threads, beside tokio's multi-thread runtime, are in [`threads`].
//!
//! The only `unsafe` in the crate is the counting allocator in [`alloc_count`].
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod alloc_count;
pub mod echo;
pub mod handloop_side;
pub mod local_pool_side;
pub mod memory;
pub mod smol_side;
pub mod sync;
pub mod threads;
pub mod tokio_side;

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// `spawn_many_local`: empty tasks spawned, then all awaited.
pub const SPAWN_MANY: usize = 1000;
/// `chained_spawn`: depth of the spawn chain.
pub const CHAIN: usize = 1000;
/// `yield_many`: tasks.
pub const YIELD_TASKS: usize = 300;
/// `yield_many`: `yield_now` calls per task.
pub const YIELDS_PER_TASK: usize = 300;
/// `ping_pong`: pings (each 2 spawns and 2 oneshots).
pub const PINGS: usize = 1000;
/// `request_reply`: round trips.
pub const REQUESTS: usize = 1000;
/// `request_reply`: capacity of the request queue.
pub const REQUEST_QUEUE: usize = 10;
/// `queue_uncontended`: messages put, then got, by one task.
pub const UNCONTENDED: usize = 5000;
/// `queue_uncontended`: capacity of the "large" bounded queue (tokio's bench uses 1,000,000).
pub const UNCONTENDED_CAPACITY: usize = 1_000_000;
/// `queue_bounded1`: messages through a bounded(1) queue.
pub const BOUNDED1: usize = 5000;
/// `queue_contention`: producers.
pub const PRODUCERS: usize = 5;
/// `queue_contention`: messages per producer.
pub const PER_PRODUCER: usize = 1000;
/// `queue_contention`: capacity of the shared queue.
pub const CONTENTION_CAPACITY: usize = 100;
/// `queue_cancel_storm`, `queue_cancel_in_order`: putters waiting on a full queue, then
/// dropped.
pub const CANCEL_STORM: usize = 10_000;
/// `timer_cancel`: `timeout(1 s, yield_now())` calls.
pub const TIMEOUTS: usize = 1000;
/// `timers_fired`: sleeping tasks.
pub const TIMERS: usize = 10_000;
/// `gather_10k`: gathered futures.
pub const GATHER: usize = 10_000;

/// The sleep of task `i` in `timers_fired`: deadlines spread over 1–10 ms, registered in a
/// scrambled order (a permutation of `0..TIMERS`), so the timer cannot rely on
/// registrations arriving sorted.
pub fn timer_delay(i: usize) -> Duration {
    let slot = (i * 7919) % TIMERS; // 7919 is prime, coprime with 10,000
    Duration::from_micros(1000 + (slot * 9000 / TIMERS) as u64)
}

/// Counts finished tasks down and hands out the "done" signal to the last one.
///
/// Used by the runtimes alike (an atomic and a mutex touched once), because tokio's
/// `spawn` needs `Send` futures: so every runtime pays the same for the bookkeeping.
pub struct Countdown<S> {
    remaining: AtomicUsize,
    done: Mutex<Option<S>>,
}

impl<S> Countdown<S> {
    /// A countdown from `n` that hands `done` to the `n`-th [`tick`](Countdown::tick).
    pub fn new(n: usize, done: S) -> Self {
        Countdown {
            remaining: AtomicUsize::new(n),
            done: Mutex::new(Some(done)),
        }
    }

    /// One task finished; the last one gets the signal to send.
    pub fn tick(&self) -> Option<S> {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.lock().unwrap_or_else(|e| e.into_inner()).take()
        } else {
            None
        }
    }
}

impl<S> fmt::Debug for Countdown<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Countdown")
            .field("remaining", &self.remaining.load(Ordering::Relaxed))
            .finish()
    }
}

/// `yield_now` for executors without one (async-executor and `LocalPool`): handloop's
/// own works on any executor, since it only wakes its own waker and returns `Pending` once
/// (what `futures_lite::future::yield_now` does too).
pub use handloop::yield_now;

/// The runtimes compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuntimeKind {
    /// `handloop::Runtime` (real clock).
    Handloop,
    /// tokio's current-thread runtime with time enabled.
    Tokio,
    /// async-executor's `LocalExecutor`, driven by `futures::executor::block_on`.
    AsyncExecutor,
    /// futures' `LocalPool`.
    LocalPool,
}

impl RuntimeKind {
    /// All of them, in table order.
    pub const ALL: [RuntimeKind; 4] = [
        RuntimeKind::Handloop,
        RuntimeKind::Tokio,
        RuntimeKind::AsyncExecutor,
        RuntimeKind::LocalPool,
    ];

    /// The name used by criterion's `bench_function` and the compare table.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Handloop => "handloop",
            RuntimeKind::Tokio => "tokio",
            RuntimeKind::AsyncExecutor => "async-executor",
            RuntimeKind::LocalPool => "futures-localpool",
        }
    }

    /// Parses [`name`](RuntimeKind::name) (also `smol` and `localpool`).
    pub fn from_name(name: &str) -> Option<RuntimeKind> {
        match name {
            "handloop" => Some(RuntimeKind::Handloop),
            "tokio" => Some(RuntimeKind::Tokio),
            "async-executor" | "smol" => Some(RuntimeKind::AsyncExecutor),
            "futures-localpool" | "localpool" | "local-pool" => Some(RuntimeKind::LocalPool),
            _ => None,
        }
    }
}

/// One workload: its name, how many operations one iteration does, the goal for the
/// tokio/handloop ratio, and the function that runs one iteration on each runtime.
#[derive(Debug)]
pub struct Workload {
    /// Criterion group name and table row.
    pub name: &'static str,
    /// What one iteration does.
    pub description: &'static str,
    /// Operations per iteration (the unit of "ns per op").
    pub ops: u64,
    /// What one operation is.
    pub op: &'static str,
    /// The goal for tokio's time divided by handloop's, if any.
    pub goal: Option<f64>,
    /// The goal for async-executor's and LocalPool's time divided by handloop's (`None`:
    /// at least 1, handloop no slower).
    pub others_goal: Option<f64>,
    /// One iteration on handloop.
    pub handloop: fn(&handloop::Runtime),
    /// One iteration on tokio's current-thread runtime.
    pub tokio: fn(&tokio::runtime::Runtime),
    /// One iteration on async-executor's `LocalExecutor` (`None`: needs a timer).
    pub async_executor: Option<fn(&smol_side::Executor)>,
    /// One iteration on futures' `LocalPool` (`None`: needs a timer).
    pub local_pool: Option<fn(&local_pool_side::Pool)>,
}

impl Workload {
    /// Whether the workload runs on `kind`.
    pub fn supports(&self, kind: RuntimeKind) -> bool {
        match kind {
            RuntimeKind::Handloop | RuntimeKind::Tokio => true,
            RuntimeKind::AsyncExecutor => self.async_executor.is_some(),
            RuntimeKind::LocalPool => self.local_pool.is_some(),
        }
    }

    /// Looks a workload up by name.
    pub fn by_name(name: &str) -> Option<&'static Workload> {
        WORKLOADS.iter().find(|w| w.name == name)
    }
}

/// A sync row: handloop's primitive, tokio's and async-lock's (on async-executor and on
/// LocalPool), with the goal of 3x each of them.
macro_rules! sync_row {
    ($name:ident, $description:expr, $ops:expr, $op:expr) => {
        Workload {
            name: stringify!($name),
            description: $description,
            ops: $ops as u64,
            op: $op,
            goal: Some(3.0),
            others_goal: Some(3.0),
            handloop: sync::on_handloop::$name,
            tokio: sync::on_tokio::$name,
            async_executor: Some(sync::on_async_executor::$name),
            local_pool: Some(sync::on_local_pool::$name),
        }
    };
}

macro_rules! workload {
    ($name:ident, $description:expr, $ops:expr, $op:expr, $goal:expr, all) => {
        Workload {
            name: stringify!($name),
            description: $description,
            ops: $ops as u64,
            op: $op,
            goal: $goal,
            others_goal: None,
            handloop: handloop_side::$name,
            tokio: tokio_side::$name,
            async_executor: Some(smol_side::$name),
            local_pool: Some(local_pool_side::$name),
        }
    };
    // Only handloop and tokio: the workload needs a timer, or a queue whose waiting
    // senders futures' `mpsc` cannot express (each of its senders has a slot of its own,
    // so senders never wait in one line).
    ($name:ident, $description:expr, $ops:expr, $op:expr, $goal:expr, timer) => {
        Workload {
            name: stringify!($name),
            description: $description,
            ops: $ops as u64,
            op: $op,
            goal: $goal,
            others_goal: None,
            handloop: handloop_side::$name,
            tokio: tokio_side::$name,
            async_executor: None,
            local_pool: None,
        }
    };
}

/// Every workload, in table order.
pub static WORKLOADS: [Workload; 20] = [
    workload!(
        spawn_many_local,
        "1000 empty tasks spawned, then all awaited",
        SPAWN_MANY,
        "task",
        Some(3.0),
        all
    ),
    workload!(
        chained_spawn,
        "each task spawns the next, 1000 deep, the last signals a oneshot",
        CHAIN,
        "spawn",
        Some(3.0),
        all
    ),
    workload!(
        yield_many,
        "300 tasks x 300 yield_now",
        YIELD_TASKS * YIELDS_PER_TASK,
        "yield",
        Some(3.0),
        all
    ),
    workload!(
        ping_pong,
        "1000 pings, each 2 spawns and 2 oneshots",
        PINGS,
        "ping",
        Some(4.0),
        all
    ),
    workload!(
        request_reply,
        "1000 requests over a bounded(10) queue, each answered through a oneshot",
        REQUESTS,
        "round trip",
        Some(4.0),
        all
    ),
    workload!(
        queue_uncontended,
        "one task: 5000 puts into a large bounded queue, then 5000 gets",
        UNCONTENDED,
        "message",
        Some(3.0),
        all
    ),
    workload!(
        queue_bounded1,
        "a bounded(1) queue between two tasks, 5000 messages",
        BOUNDED1,
        "message",
        Some(3.0),
        all
    ),
    workload!(
        queue_contention,
        "5 producers x 1000 messages into bounded(100), one consumer",
        PRODUCERS * PER_PRODUCER,
        "message",
        None,
        all
    ),
    workload!(
        queue_cancel_storm,
        "10,000 putters wait on a full bounded(1) queue, then give up newest first",
        CANCEL_STORM,
        "waiter",
        None,
        timer
    ),
    workload!(
        queue_cancel_in_order,
        "10,000 putters wait on a full bounded(1) queue, then give up oldest first",
        CANCEL_STORM,
        "waiter",
        None,
        timer
    ),
    workload!(
        timer_cancel,
        "1000 x timeout(1 s, yield_now()): a timer registered and cancelled",
        TIMEOUTS,
        "timeout",
        Some(4.0),
        timer
    ),
    workload!(
        timers_fired,
        "10,000 tasks sleeping spread deadlines of 1-10 ms, all awaited",
        TIMERS,
        "timer",
        Some(1.0),
        timer
    ),
    Workload {
        name: "echo_1conn",
        description: "one connection, 1000 round trips of 64 bytes (latency)",
        ops: echo::ECHO_1_TRIPS as u64,
        op: "round trip",
        goal: Some(1.1),
        others_goal: None,
        handloop: echo::on_handloop::echo_1conn,
        tokio: echo::on_tokio::echo_1conn,
        async_executor: None,
        local_pool: None,
    },
    Workload {
        name: "echo_50conn",
        description: "50 connections at once, each 100 round trips of 512 bytes (throughput)",
        ops: (echo::ECHO_50_CONNS * echo::ECHO_50_TRIPS) as u64,
        op: "message",
        goal: Some(1.3),
        others_goal: None,
        handloop: echo::on_handloop::echo_50conn,
        tokio: echo::on_tokio::echo_50conn,
        async_executor: None,
        local_pool: None,
    },
    workload!(
        gather_10k,
        "gather over 10,000 futures woken one at a time",
        GATHER,
        "future",
        None,
        all
    ),
    sync_row!(
        sync_semaphore_5,
        "6 tasks share 5 permits, each 1000 x (acquire, yield_now, release); async-lock on AE/LP",
        sync::TASKS * sync::ROUNDS,
        "acquire"
    ),
    sync_row!(
        sync_semaphore_10,
        "6 tasks share 10 permits (none waits), each 1000 x (acquire, yield_now, release)",
        sync::TASKS * sync::ROUNDS,
        "acquire"
    ),
    sync_row!(
        sync_lock,
        "6 tasks, each 1000 x (lock, add, yield_now, unlock): every lock a hand-off",
        sync::TASKS * sync::ROUNDS,
        "lock"
    ),
    sync_row!(
        sync_event,
        "10 tasks wait on an event, woken all at once 100 times (tokio: Notify::notify_waiters; smol: event-listener)",
        sync::WAITERS * sync::WAVES,
        "wake"
    ),
    sync_row!(
        sync_barrier,
        "10 tasks meet at a barrier of 10, 100 rounds",
        sync::WAITERS * sync::WAVES,
        "wait"
    ),
];

/// One runtime of each kind, built once (outside any timed loop, as tokio's benches do).
#[derive(Debug)]
pub struct Runtimes {
    /// handloop with a real clock.
    pub handloop: handloop::Runtime,
    /// tokio current-thread, time enabled.
    pub tokio: tokio::runtime::Runtime,
    /// async-executor's `LocalExecutor`.
    pub async_executor: smol_side::Executor,
    /// futures' `LocalPool`.
    pub local_pool: local_pool_side::Pool,
}

impl Runtimes {
    /// Builds all four.
    ///
    /// # Panics
    /// If a runtime cannot be built.
    pub fn new() -> Runtimes {
        Runtimes {
            handloop: handloop_side::runtime(),
            tokio: tokio_side::runtime(),
            async_executor: smol_side::Executor::new(),
            local_pool: local_pool_side::Pool::new(),
        }
    }

    /// Runs one iteration of `workload` on `kind`; `false` if it does not run there.
    pub fn run(&self, workload: &Workload, kind: RuntimeKind) -> bool {
        match kind {
            RuntimeKind::Handloop => (workload.handloop)(&self.handloop),
            RuntimeKind::Tokio => (workload.tokio)(&self.tokio),
            RuntimeKind::AsyncExecutor => match workload.async_executor {
                Some(run) => run(&self.async_executor),
                None => return false,
            },
            RuntimeKind::LocalPool => match workload.local_pool {
                Some(run) => run(&self.local_pool),
                None => return false,
            },
        }
        true
    }
}

impl Default for Runtimes {
    fn default() -> Self {
        Runtimes::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_delays_spread_over_1_to_10_ms_without_repeats_in_order() {
        let delays: Vec<_> = (0..TIMERS).map(timer_delay).collect();
        assert_eq!(delays.iter().min(), Some(&Duration::from_millis(1)));
        assert!(delays.iter().max() < Some(&Duration::from_millis(10)));
        assert!(
            delays.windows(2).any(|w| w[0] > w[1]),
            "registrations are not sorted"
        );
    }

    #[test]
    fn workloads_have_unique_names_and_run_on_handloop_and_tokio() {
        for (i, workload) in WORKLOADS.iter().enumerate() {
            assert!(WORKLOADS[..i].iter().all(|w| w.name != workload.name));
            assert!(Workload::by_name(workload.name).is_some());
            assert!(workload.supports(RuntimeKind::Handloop));
            assert!(workload.supports(RuntimeKind::Tokio));
        }
        for kind in RuntimeKind::ALL {
            assert_eq!(RuntimeKind::from_name(kind.name()), Some(kind));
        }
    }
}
