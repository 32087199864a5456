//! Memory: bytes per spawned-but-pending task, and the peak heap of a million tasks each
//! sleeping once, for handloop and tokio.
//!
//! These need [`CountingAlloc`](crate::alloc_count::CountingAlloc)
//! installed as the global allocator (the `compare` binary does); without it every number
//! is zero. Each measurement builds a fresh runtime.
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::alloc_count;
use crate::{RuntimeKind, handloop_side, tokio_side};

/// What holding `n` pending tasks costs.
#[derive(Debug, Clone, Copy)]
pub struct PendingTasks {
    /// Heap growth per task on a fresh runtime (includes the runtime's own structures
    /// growing to hold them, e.g. a run queue or a task list).
    pub cold_bytes: f64,
    /// Heap growth per task the second time, on the same runtime (buffers it kept from
    /// the first time are not counted again).
    pub warm_bytes: f64,
    /// Allocations per task on the fresh runtime.
    pub cold_allocations: f64,
}

/// What a million tasks each sleeping once cost.
#[derive(Debug, Clone, Copy)]
pub struct SleepingTasks {
    /// Tasks spawned.
    pub tasks: usize,
    /// Peak heap growth while they all exist.
    pub peak_bytes: isize,
    /// Wall time from the first spawn to the last task finishing.
    pub elapsed: Duration,
}

static POLLED: AtomicUsize = AtomicUsize::new(0);
static REMAINING: AtomicUsize = AtomicUsize::new(0);

/// The task held pending: counts its first poll, then waits forever (until aborted).
async fn parked() {
    POLLED.fetch_add(1, Relaxed);
    std::future::pending::<()>().await
}

/// The task that sleeps once (the sleep is made on its first poll, so it lasts 1 ms from
/// then, however long spawning the others took).
async fn sleeper<S: Future>(sleep: impl FnOnce() -> S) {
    sleep().await;
    REMAINING.fetch_sub(1, Relaxed);
}

/// Bytes per spawned-but-pending task for `kind` (handloop or tokio), `n` tasks.
///
/// # Panics
/// For a runtime other than handloop or tokio.
pub fn pending_tasks(kind: RuntimeKind, n: usize) -> PendingTasks {
    match kind {
        RuntimeKind::Handloop => {
            let rt = handloop_side::runtime();
            let round = || {
                rt.block_on(async {
                    let mut handles = Vec::with_capacity(n);
                    POLLED.store(0, Relaxed);
                    alloc_count::enable();
                    let (live, allocations) = (alloc_count::live(), alloc_count::allocations());
                    for _ in 0..n {
                        handles.push(handloop::spawn(parked()));
                    }
                    while POLLED.load(Relaxed) < n {
                        handloop::yield_now().await;
                    }
                    let grew = (
                        alloc_count::live() - live,
                        alloc_count::allocations() - allocations,
                    );
                    alloc_count::disable();
                    for handle in &handles {
                        handle.abort();
                    }
                    handloop::yield_now().await;
                    drop(handles);
                    grew
                })
            };
            summarize(n, round(), round())
        }
        RuntimeKind::Tokio => {
            let rt = tokio_side::runtime();
            let round = || {
                rt.block_on(async {
                    let mut handles = Vec::with_capacity(n);
                    POLLED.store(0, Relaxed);
                    alloc_count::enable();
                    let (live, allocations) = (alloc_count::live(), alloc_count::allocations());
                    for _ in 0..n {
                        handles.push(tokio::spawn(parked()));
                    }
                    while POLLED.load(Relaxed) < n {
                        tokio::task::yield_now().await;
                    }
                    let grew = (
                        alloc_count::live() - live,
                        alloc_count::allocations() - allocations,
                    );
                    alloc_count::disable();
                    for handle in &handles {
                        handle.abort();
                    }
                    for handle in handles {
                        assert!(handle.await.unwrap_err().is_cancelled());
                    }
                    grew
                })
            };
            summarize(n, round(), round())
        }
        other => panic!("pending-task memory is measured for handloop and tokio, not {other:?}"),
    }
}

fn summarize(n: usize, cold: (isize, u64), warm: (isize, u64)) -> PendingTasks {
    PendingTasks {
        cold_bytes: cold.0 as f64 / n as f64,
        warm_bytes: warm.0 as f64 / n as f64,
        cold_allocations: cold.1 as f64 / n as f64,
    }
}

/// `tasks` tasks each `sleep(1 ms)` once then finish, on a fresh runtime: the peak heap
/// growth while they exist.
///
/// # Panics
/// For a runtime other than handloop or tokio.
pub fn sleeping_tasks(kind: RuntimeKind, tasks: usize) -> SleepingTasks {
    const NAP: Duration = Duration::from_millis(1);
    REMAINING.store(tasks, Relaxed);
    alloc_count::enable();
    let base = alloc_count::live();
    alloc_count::reset_peak();
    let start = Instant::now();
    match kind {
        RuntimeKind::Handloop => {
            let rt = handloop_side::runtime();
            rt.block_on(async {
                for _ in 0..tasks {
                    drop(handloop::spawn(sleeper(|| handloop::sleep(NAP))));
                }
                while REMAINING.load(Relaxed) > 0 {
                    handloop::sleep(NAP).await;
                }
            });
        }
        RuntimeKind::Tokio => {
            let rt = tokio_side::runtime();
            rt.block_on(async {
                for _ in 0..tasks {
                    drop(tokio::spawn(sleeper(|| tokio::time::sleep(NAP))));
                }
                while REMAINING.load(Relaxed) > 0 {
                    tokio::time::sleep(NAP).await;
                }
            });
        }
        other => panic!("sleeping-task memory is measured for handloop and tokio, not {other:?}"),
    }
    let elapsed = start.elapsed();
    alloc_count::disable();
    SleepingTasks {
        tasks,
        peak_bytes: alloc_count::peak() - base,
        elapsed,
    }
}
