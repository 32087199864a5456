//! The rows that cross threads, beside tokio's *multi-thread* runtime: spawning onto a loop
//! from another thread (tokio's `remote_spawn.rs`), `call_soon_threadsafe` from one thread,
//! a `to_thread` round trip (tokio's `spawn_blocking.rs`), a wake from another thread to a
//! parked loop, and an echo server on 1 and 2 loops (tokio: 1 and 2 worker threads).
//!
//! Every workload is written once per runtime ([`tokio_side`], [`handloop_side`]); one
//! function runs one full iteration with the runtimes of [`ThreadRuntimes`], built once.

pub mod echo;
pub mod handloop_side;
pub mod tokio_side;

use std::fmt;

/// `remote_spawn`: tasks spawned from other threads per iteration (tokio's `TOTAL_TASKS`).
pub const REMOTE_SPAWN_TASKS: usize = 12_800;
/// `remote_spawn`: the spawning threads (tokio's bench runs 1, 2, 4, ... up to the cores).
pub const REMOTE_SPAWN_THREADS: usize = 1;
/// `call_soon_threadsafe`: callbacks scheduled from one other thread per iteration.
pub const THREADSAFE_CALLS: usize = 10_000;
/// `to_thread_round_trip`: batches awaited one after the other (tokio's `NUM_BATCHES`).
pub const BLOCKING_BATCHES: usize = 100;
/// `to_thread_round_trip`: jobs per batch (tokio's `BATCH_SIZE`).
pub const BLOCKING_BATCH: usize = 16;
/// `remote_wake`: round trips between a plain thread and a task on a parked loop.
pub const REMOTE_WAKES: usize = 1000;
/// `remote_wake`: how long the waking thread waits (spinning) before each wake, so that
/// the loop (or tokio's worker) has gone back to sleep: without it, the thread's next
/// wake can land while tokio's worker is still looking for work, before it parks, and
/// the row would measure that race instead of a wake to a parked loop.
pub const PARK_SETTLE: std::time::Duration = std::time::Duration::from_micros(20);

/// Spins for [`PARK_SETTLE`] (a sleep would add the OS timer's slack, and its noise).
pub fn let_it_park() {
    let start = std::time::Instant::now();
    while start.elapsed() < PARK_SETTLE {
        std::hint::spin_loop();
    }
}
/// `echo_*`: client connections, each on its own task of the client runtime.
pub const ECHO_CONNECTIONS: usize = 32;
/// `echo_*`: round trips per connection.
pub const ECHO_ROUNDS: usize = 50;
/// `echo_*`: bytes per message.
pub const ECHO_BYTES: usize = 128;

/// The runtimes the thread rows use, built once (outside any timed loop).
pub struct ThreadRuntimes {
    /// handloop with a real clock, driven by the bench's thread.
    pub handloop: handloop::Runtime,
    /// tokio's multi-thread runtime, one worker per core (its default).
    pub tokio: tokio::runtime::Runtime,
    /// tokio echo servers on 1 and 2 worker threads.
    pub tokio_echo: [echo::TokioEchoServer; 2],
    /// handloop echo servers on pools of 1 and 2 loops.
    pub handloop_echo: [echo::HandloopEchoServer; 2],
    /// The echo clients' runtime (tokio current-thread, on the bench's thread): the same
    /// client drives every server.
    pub echo_client: tokio::runtime::Runtime,
}

impl ThreadRuntimes {
    /// Builds them all and starts the echo servers.
    ///
    /// # Panics
    /// If a runtime cannot be built or a server cannot bind a loopback port.
    pub fn new() -> ThreadRuntimes {
        ThreadRuntimes {
            handloop: handloop::Runtime::new().expect("handloop runtime"),
            tokio: tokio_side::runtime(),
            tokio_echo: [
                echo::TokioEchoServer::start(1),
                echo::TokioEchoServer::start(2),
            ],
            handloop_echo: [
                echo::HandloopEchoServer::start(1),
                echo::HandloopEchoServer::start(2),
            ],
            echo_client: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio client runtime"),
        }
    }
}

impl Default for ThreadRuntimes {
    fn default() -> Self {
        ThreadRuntimes::new()
    }
}

impl fmt::Debug for ThreadRuntimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadRuntimes")
            .field("tokio_echo", &self.tokio_echo)
            .field("handloop_echo", &self.handloop_echo)
            .finish_non_exhaustive()
    }
}

/// One cross-thread workload.
#[derive(Debug)]
pub struct ThreadWorkload {
    /// Criterion group name and table row.
    pub name: &'static str,
    /// What one iteration does.
    pub description: &'static str,
    /// Operations per iteration.
    pub ops: u64,
    /// What one operation is.
    pub op: &'static str,
    /// The goal for tokio's time divided by handloop's, if any.
    pub goal: Option<f64>,
    /// One iteration on handloop.
    pub handloop: Option<fn(&ThreadRuntimes)>,
    /// One iteration on tokio's multi-thread runtime.
    pub tokio: fn(&ThreadRuntimes),
}

impl ThreadWorkload {
    /// Looks a workload up by name.
    pub fn by_name(name: &str) -> Option<&'static ThreadWorkload> {
        THREAD_WORKLOADS.iter().find(|w| w.name == name)
    }
}

/// Every cross-thread workload, in table order.
pub static THREAD_WORKLOADS: [ThreadWorkload; 6] = [
    ThreadWorkload {
        name: "remote_spawn",
        description: "12,800 empty tasks spawned from another thread, then all awaited",
        ops: REMOTE_SPAWN_TASKS as u64,
        op: "task",
        goal: Some(2.0),
        handloop: Some(handloop_side::remote_spawn),
        tokio: tokio_side::remote_spawn,
    },
    ThreadWorkload {
        name: "call_soon_threadsafe",
        description: "10,000 callbacks scheduled from one other thread, all run",
        ops: THREADSAFE_CALLS as u64,
        op: "callback",
        goal: None,
        handloop: Some(handloop_side::call_soon_threadsafe),
        tokio: tokio_side::call_soon_threadsafe,
    },
    ThreadWorkload {
        name: "to_thread_round_trip",
        description: "100 batches of 16 no-op blocking jobs, each batch awaited",
        ops: (BLOCKING_BATCHES * BLOCKING_BATCH) as u64,
        op: "job",
        goal: Some(2.0),
        handloop: Some(handloop_side::to_thread_round_trip),
        tokio: tokio_side::to_thread_round_trip,
    },
    ThreadWorkload {
        name: "remote_wake",
        description: "1000 round trips: a plain thread waits 20 us, wakes a task on a parked loop, which answers",
        ops: REMOTE_WAKES as u64,
        op: "round trip",
        goal: Some(1.0),
        handloop: Some(handloop_side::remote_wake),
        tokio: tokio_side::remote_wake,
    },
    ThreadWorkload {
        name: "echo_1_loop",
        description: "32 connections x 50 round trips of 128 B to an echo server on 1 loop",
        ops: (ECHO_CONNECTIONS * ECHO_ROUNDS) as u64,
        op: "round trip",
        goal: None,
        handloop: Some(handloop_side::echo_1_loop),
        tokio: tokio_side::echo_1_loop,
    },
    ThreadWorkload {
        name: "echo_2_loops",
        description: "the same on 2 loops (tokio: 2 worker threads)",
        ops: (ECHO_CONNECTIONS * ECHO_ROUNDS) as u64,
        op: "round trip",
        goal: None,
        handloop: Some(handloop_side::echo_2_loops),
        tokio: tokio_side::echo_2_loops,
    },
];
