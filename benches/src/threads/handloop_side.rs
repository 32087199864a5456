//! The cross-thread workloads on handloop, through the facade only: one loop on the
//! bench's thread, reached from other threads.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::sync::mpsc;

use handloop::{oneshot, spawn, to_thread};

use super::*;

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
/// is a wake from another thread to a parked loop, and one back.
pub fn remote_wake(rts: &ThreadRuntimes) {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..REMOTE_WAKES).map(|_| oneshot::channel::<()>()).unzip();
    let (answer, answers) = mpsc::channel::<()>();
    let waker = std::thread::spawn(move || {
        for sender in senders {
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
