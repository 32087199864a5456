//! `CountingWaker`: each operation on its wakers shows up in its counts, exactly.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use handloop_waker::{CountingWaker, Counts, poll_with};

#[test]
fn each_operation_moves_exactly_its_own_count() {
    let counting = CountingWaker::new();
    assert_eq!(
        counting.counts(),
        Counts {
            strong_count: 1,
            ..Counts::default()
        }
    );

    let w = counting.waker();
    assert_eq!(
        counting.counts(),
        Counts {
            strong_count: 2,
            ..Counts::default()
        },
        "waker() is not a clone"
    );

    let w2 = w.clone();
    assert_eq!(
        counting.counts(),
        Counts {
            clones: 1,
            strong_count: 3,
            ..Counts::default()
        }
    );

    w2.wake_by_ref();
    assert_eq!(
        counting.counts(),
        Counts {
            clones: 1,
            wake_by_refs: 1,
            strong_count: 3,
            ..Counts::default()
        },
        "wake_by_ref keeps the reference"
    );

    w2.wake();
    assert_eq!(
        counting.counts(),
        Counts {
            clones: 1,
            wakes: 1,
            wake_by_refs: 1,
            strong_count: 2,
            ..Counts::default()
        },
        "wake consumes the Waker and its reference, and is not counted as a drop"
    );

    drop(w);
    assert_eq!(
        counting.counts(),
        Counts {
            clones: 1,
            wakes: 1,
            wake_by_refs: 1,
            drops: 1,
            strong_count: 1
        },
        "drop gives back the last Waker's reference"
    );
}

#[test]
fn wakers_outlive_the_handle() {
    let counting = CountingWaker::new();
    let w = counting.waker();
    let probe = Arc::downgrade(&counting);
    drop(counting);
    // The Waker alone keeps the counter alive...
    assert_eq!(probe.strong_count(), 1);
    let w2 = w.clone();
    w.wake();
    assert_eq!(probe.strong_count(), 1);
    // ...and the last one frees it.
    drop(w2);
    assert_eq!(probe.strong_count(), 0);
}

/// Beazley's step 9 in miniature: a future that keeps the waker it is polled with, and a
/// "holder" that puts the task back by waking it.
struct WaitForHolder {
    holder: Arc<Mutex<Option<Waker>>>,
    polls: usize,
}

impl Future for WaitForHolder {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        if self.polls == 1 {
            // Keep a clone: the Context only lends us the waker for this poll.
            *self.holder.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(self.polls)
        }
    }
}

#[test]
fn a_pending_future_keeps_one_clone_and_its_holder_wakes_it() {
    let counting = CountingWaker::new();
    let waker = counting.waker();
    let holder = Arc::new(Mutex::new(None));
    let mut fut = pin!(WaitForHolder {
        holder: holder.clone(),
        polls: 0
    });

    assert_eq!(poll_with(fut.as_mut(), &waker), Poll::Pending);
    assert_eq!(
        counting.counts(),
        Counts {
            clones: 1,
            strong_count: 3,
            ..Counts::default()
        }
    );

    // The holder takes the waker out and wakes it: one wake, one reference given back.
    holder.lock().unwrap().take().unwrap().wake();
    assert_eq!(
        counting.counts(),
        Counts {
            clones: 1,
            wakes: 1,
            strong_count: 2,
            ..Counts::default()
        }
    );

    assert_eq!(poll_with(fut.as_mut(), &waker), Poll::Ready(2));
    drop(waker);
    assert_eq!(
        counting.counts(),
        Counts {
            clones: 1,
            wakes: 1,
            drops: 1,
            strong_count: 1,
            ..Counts::default()
        }
    );
}

#[test]
fn counts_add_up_across_threads() {
    let counting = CountingWaker::new();
    let waker = counting.waker();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let w = waker.clone();
            std::thread::spawn(move || {
                w.wake_by_ref();
                let consumed = w.clone();
                consumed.wake();
                // `w` is dropped here.
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        counting.counts(),
        Counts {
            clones: 8,
            wakes: 4,
            wake_by_refs: 4,
            drops: 4,
            strong_count: 2
        }
    );
}
