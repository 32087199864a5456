//! The cross-thread workloads on handloop, through the facade only: one loop on the
//! bench's thread, reached from other threads.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::sync::{Arc, Barrier, mpsc};

use handloop::{oneshot, spawn, to_thread};

use super::*;
use crate::Countdown;

/// tokio's `remote_spawn.rs` shape: threads outside the loop spawn empty tasks through a
/// `Handle`, all starting together; then the loop awaits every handle.
pub fn remote_spawn(rts: &ThreadRuntimes) {
    let handle = rts.handloop.handle();
    let per_thread = REMOTE_SPAWN_TASKS / REMOTE_SPAWN_THREADS;
    let barrier = Barrier::new(REMOTE_SPAWN_THREADS);
    let handles: Vec<_> = std::thread::scope(|s| {
        let spawners: Vec<_> = (0..REMOTE_SPAWN_THREADS)
            .map(|_| {
                let (barrier, handle) = (&barrier, &handle);
                s.spawn(move || {
                    let mut handles = Vec::with_capacity(per_thread);
                    barrier.wait();
                    for _ in 0..per_thread {
                        handles.push(handle.spawn(async {}));
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
    rts.handloop.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
}

/// One other thread schedules callbacks with `call_soon_threadsafe`; the last one to
/// run signals the loop's `block_on`.
pub fn call_soon_threadsafe(rts: &ThreadRuntimes) {
    let (done, finished) = oneshot::channel();
    let countdown = Arc::new(Countdown::new(THREADSAFE_CALLS, done));
    let handle = rts.handloop.handle();
    let caller = std::thread::spawn(move || {
        for _ in 0..THREADSAFE_CALLS {
            let countdown = countdown.clone();
            handle
                .call_soon_threadsafe(move || {
                    if let Some(done) = countdown.tick() {
                        let _ = done.send(());
                    }
                })
                .expect("the loop is alive");
        }
    });
    rts.handloop.block_on(async { finished.await.unwrap() });
    caller.join().expect("calling thread");
}

/// One task awaits 100 batches of 16 `to_thread` no-ops, one batch after the other (the
/// shape of tokio's `spawn_blocking.rs` at concurrency 1).
pub fn to_thread_round_trip(rts: &ThreadRuntimes) {
    rts.handloop.block_on(async {
        spawn(async {
            let mut batch = Vec::with_capacity(BLOCKING_BATCH);
            for _ in 0..BLOCKING_BATCHES {
                batch.extend((0..BLOCKING_BATCH).map(|_| to_thread(|| black_box(0))));
                for job in batch.drain(..) {
                    job.await.unwrap();
                }
            }
        })
        .await
        .unwrap();
    });
}

/// A task on the loop awaits a oneshot that a plain thread completes, then answers
/// through a std channel, which the thread waits on before the next one: each round trip
/// is a wait for the loop to park ([`let_it_park`]), a wake from another thread to the parked loop, and one back.
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
    rts.handloop.block_on(async {
        spawn(async move {
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

/// The echo clients against handloop's server on a pool of 1 loop.
pub fn echo_1_loop(rts: &ThreadRuntimes) {
    echo::run_clients(&rts.echo_client, rts.handloop_echo[0].addr);
}

/// The echo clients against handloop's server on a pool of 2 loops.
pub fn echo_2_loops(rts: &ThreadRuntimes) {
    echo::run_clients(&rts.echo_client, rts.handloop_echo[1].addr);
}
