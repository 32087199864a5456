//! loom models of the cross-thread path: a wake from another thread reaches the remote
//! queue and unparks the loop (no lost wake), and a wake racing the loop's shutdown gives
//! its reference back exactly once.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p handloop-executor --lib --release loom`.

use loom::sync::atomic::AtomicUsize;
use loom::thread;

use crate::park::ParkState;
use crate::remote::RemoteQueue;
use crate::sync::{AtomicBool, Ordering};
use loom::sync::Arc;

/// What a task's header contributes to the remote path: the `remote_notified` flag.
struct FakeTask {
    remote_notified: AtomicBool,
    /// References held by remote-queue entries.
    refs: AtomicUsize,
}

struct FakeLoop {
    remote: RemoteQueue<usize>,
    park: ParkState,
}

/// The waker side of `TaskRef::wake_remote`.
fn wake_remote(task: &FakeTask, event_loop: &FakeLoop) {
    if task.remote_notified.swap(true, Ordering::AcqRel) {
        return;
    }
    task.refs.fetch_add(1, Ordering::Relaxed);
    match event_loop.remote.push(0) {
        Ok(()) => event_loop.park.unpark(),
        Err(_) => {
            task.refs.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn fresh() -> (Arc<FakeTask>, Arc<FakeLoop>) {
    let task = Arc::new(FakeTask {
        remote_notified: AtomicBool::new(false),
        refs: AtomicUsize::new(0),
    });
    let event_loop = Arc::new(FakeLoop {
        remote: RemoteQueue::new(),
        park: ParkState::default(),
    });
    (task, event_loop)
}

/// The loop's side: drain, and park when there is nothing. A lost wake deadlocks here,
/// which loom reports.
fn run_until_woken(event_loop: &FakeLoop) -> Vec<usize> {
    let mut drained = Vec::new();
    loop {
        event_loop.remote.drain_into(&mut drained);
        if !drained.is_empty() {
            return drained;
        }
        event_loop.park.park(None);
    }
}

#[test]
fn loom_remote_wake_reaches_a_parking_loop() {
    loom::model(|| {
        let (task, event_loop) = fresh();
        let waker = {
            let (task, event_loop) = (task.clone(), event_loop.clone());
            thread::spawn(move || wake_remote(&task, &event_loop))
        };
        let drained = run_until_woken(&event_loop);
        assert_eq!(drained.len(), 1);
        task.remote_notified.store(false, Ordering::Release);
        task.refs.fetch_sub(1, Ordering::Relaxed);
        waker.join().unwrap();
        assert_eq!(task.refs.load(Ordering::Relaxed), 0);
    });
}

#[test]
fn loom_two_remote_wakes_enqueue_once_and_are_not_lost() {
    loom::model(|| {
        let (task, event_loop) = fresh();
        let wakers: Vec<_> = (0..2)
            .map(|_| {
                let (task, event_loop) = (task.clone(), event_loop.clone());
                thread::spawn(move || wake_remote(&task, &event_loop))
            })
            .collect();
        let mut drained = run_until_woken(&event_loop);
        task.remote_notified.store(false, Ordering::Release);
        for _ in drained.drain(..) {
            task.refs.fetch_sub(1, Ordering::Relaxed);
        }
        for waker in wakers {
            waker.join().unwrap();
        }
        // The second wake either found the flag set (and counted on the first entry) or
        // came after the loop cleared it and enqueued again: drain that too.
        event_loop.remote.drain_into(&mut drained);
        for _ in drained.drain(..) {
            task.refs.fetch_sub(1, Ordering::Relaxed);
        }
        assert_eq!(task.refs.load(Ordering::Relaxed), 0);
    });
}

#[test]
fn loom_a_wake_racing_shutdown_gives_its_reference_back() {
    loom::model(|| {
        let (task, event_loop) = fresh();
        let waker = {
            let (task, event_loop) = (task.clone(), event_loop.clone());
            thread::spawn(move || wake_remote(&task, &event_loop))
        };
        // The loop shuts down: close, and give back the references of what was waiting.
        for _ in event_loop.remote.close() {
            task.refs.fetch_sub(1, Ordering::Relaxed);
        }
        waker.join().unwrap();
        assert_eq!(task.refs.load(Ordering::Relaxed), 0, "no reference leaked");
        assert!(event_loop.remote.push(1).is_err(), "closed for good");
    });
}
