//! The cross-thread workloads on tokio's multi-thread runtime (one worker per core,
//! `enable_all`), written as tokio's own benches write them.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::sync::{Arc, Barrier, mpsc};

use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::*;
use crate::Countdown;

/// `Builder::new_multi_thread().enable_all().build()`, as tokio's `remote_spawn.rs` and
/// `spawn_blocking.rs` build it.
///
/// # Panics
/// If the runtime cannot be built.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio multi-thread runtime")
}

/// tokio's `remote_spawn.rs`: threads outside the runtime spawn empty tasks through
/// `rt.spawn`, all starting together; then the runtime awaits every handle.
pub fn remote_spawn(rts: &ThreadRuntimes) {
    let rt = &rts.tokio;
    let per_thread = REMOTE_SPAWN_TASKS / REMOTE_SPAWN_THREADS;
    let barrier = Barrier::new(REMOTE_SPAWN_THREADS);
    let handles: Vec<_> = std::thread::scope(|s| {
        let spawners: Vec<_> = (0..REMOTE_SPAWN_THREADS)
            .map(|_| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut handles = Vec::with_capacity(per_thread);
                    barrier.wait();
                    for _ in 0..per_thread {
                        handles.push(rt.spawn(async {}));
                    }
                    handles
                })
            })
            .collect();
        spawners
            .into_iter()
            .flat_map(|spawner| spawner.join().expect("spawning thread"))
            .collect()
    });
    rt.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
}

/// tokio has no `call_soon_threadsafe`: the way to run a closure on the runtime from
/// another thread is to spawn a task that calls it. One thread schedules them all; the
/// last one to run signals the runtime's `block_on`.
pub fn call_soon_threadsafe(rts: &ThreadRuntimes) {
    let rt = &rts.tokio;
    let (done, finished) = oneshot::channel();
    let countdown = Arc::new(Countdown::new(THREADSAFE_CALLS, done));
    let handle = rt.handle().clone();
    let caller = std::thread::spawn(move || {
        for _ in 0..THREADSAFE_CALLS {
            let countdown = countdown.clone();
            drop(handle.spawn(async move {
                if let Some(done) = countdown.tick() {
                    let _ = done.send(());
                }
            }));
        }
    });
    rt.block_on(async { finished.await.unwrap() });
    caller.join().expect("calling thread");
}

/// tokio's `spawn_blocking.rs` at concurrency 1: one task awaits 100 batches of 16
/// `spawn_blocking` no-ops, one batch after the other.
pub fn to_thread_round_trip(rts: &ThreadRuntimes) {
    rts.tokio.block_on(async {
        tokio::spawn(async {
            for _ in 0..BLOCKING_BATCHES {
                let mut batch = JoinSet::new();
                for _ in 0..BLOCKING_BATCH {
                    batch.spawn_blocking(|| black_box(0));
                }
                batch.join_all().await;
            }
        })
        .await
        .unwrap();
    });
}

/// A task on a worker awaits a oneshot that a plain thread completes, then answers
/// through a std channel, which the thread waits on before the next one: each round trip
/// is a wait for the loop to park ([`let_it_park`]), a wake from another thread to the parked runtime, and one back.
pub fn remote_wake(rts: &ThreadRuntimes) {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..REMOTE_WAKES).map(|_| oneshot::channel::<()>()).unzip();
    let (answer, answers) = mpsc::channel::<()>();
    let waker = std::thread::spawn(move || {
        for sender in senders {
            let_it_park();
            sender.send(()).unwrap();
            answers.recv().unwrap();
        }
    });
    rts.tokio.block_on(async {
        tokio::spawn(async move {
            for receiver in receivers {
                receiver.await.unwrap();
                answer.send(()).unwrap();
            }
        })
        .await
        .unwrap();
    });
    waker.join().expect("waking thread");
}

/// The echo clients against tokio's server on 1 worker thread.
pub fn echo_1_loop(rts: &ThreadRuntimes) {
    echo::run_clients(&rts.echo_client, rts.tokio_echo[0].addr);
}

/// The echo clients against tokio's server on 2 worker threads.
pub fn echo_2_loops(rts: &ThreadRuntimes) {
    echo::run_clients(&rts.echo_client, rts.tokio_echo[1].addr);
}
