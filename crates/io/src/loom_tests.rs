//! loom model of the park handshake (`unpark.rs`): a wake from another thread always ends
//! the loop's sleep in the poller, however the two interleave, and a wake while the loop is
//! running writes nothing.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p handloop-io --lib --release loom`.
//!
//! The poller is modelled by a flag under a lock and a condition variable (an eventfd that
//! `epoll_wait` sleeps on, untimed: the worst case for a lost wake, which then shows up as
//! a deadlock loom reports). The queue the wakes carry is modelled by a counter. The
//! handshake itself is the real `ParkState`, driven through the same `park_with` the
//! driver calls.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use crate::unpark::ParkState;

#[derive(Default)]
struct FakePoller {
    written: Mutex<bool>,
    condvar: Condvar,
    writes: AtomicUsize,
}

impl FakePoller {
    /// `epoll_wait`: blocks until the eventfd is written (`may_sleep`), or just looks.
    fn poll(&self, may_sleep: bool) {
        let mut written = self.written.lock().unwrap();
        if may_sleep {
            while !*written {
                written = self.condvar.wait(written).unwrap();
            }
        }
        *written = false;
    }

    fn write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        *self.written.lock().unwrap() = true;
        self.condvar.notify_one();
    }
}

struct Shared {
    park: ParkState,
    poller: FakePoller,
    /// The remote queue: items pushed by other threads.
    queued: AtomicUsize,
}

/// The executor's idle turn, over and over, until `expected` items were drained.
fn loop_until(shared: &Shared, expected: usize) {
    let mut drained = 0;
    loop {
        drained += shared.queued.swap(0, Ordering::AcqRel);
        if drained == expected {
            return;
        }
        shared
            .park
            .park_with(|may_sleep| shared.poller.poll(may_sleep));
    }
}

/// The waking side: push to the queue, then unpark (`IoUnpark::unpark`).
fn wake(shared: &Shared) {
    shared.queued.fetch_add(1, Ordering::Release);
    if shared.park.unpark() {
        shared.poller.write();
    }
}

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        park: ParkState::new(),
        poller: FakePoller::default(),
        queued: AtomicUsize::new(0),
    })
}

#[test]
fn loom_a_wake_from_another_thread_always_ends_the_park() {
    loom::model(|| {
        let shared = shared();
        let waker = thread::spawn({
            let shared = shared.clone();
            move || wake(&shared)
        });
        loop_until(&shared, 1);
        waker.join().unwrap();
    });
}

#[test]
fn loom_two_racing_wakes_are_both_seen() {
    loom::model(|| {
        let shared = shared();
        let wakers: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                thread::spawn(move || wake(&shared))
            })
            .collect();
        loop_until(&shared, 2);
        for waker in wakers {
            waker.join().unwrap();
        }
    });
}

#[test]
fn loom_a_wake_while_the_loop_runs_writes_nothing() {
    loom::model(|| {
        let shared = shared();
        // The loop is running (never parks in this model): the wake leaves a token only.
        wake(&shared);
        assert_eq!(shared.poller.writes.load(Ordering::Relaxed), 0);
        // The next idle park consumes the token without sleeping, then the one after may
        // sleep again.
        let mut may_sleep = Vec::new();
        shared.park.park_with(|sleep| may_sleep.push(sleep));
        shared.park.park_with(|sleep| may_sleep.push(sleep));
        assert_eq!(may_sleep, [false, true]);
    });
}
