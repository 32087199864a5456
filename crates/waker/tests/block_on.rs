//! `block_on`: returns the output; is woken from this thread or any other, before or
//! after it parks; and polls again only after a real wake, however often the thread is
//! unparked by someone else.
//!
//! Real sleeps are short (≤ 20 ms) and no assertion depends on timing: each test holds
//! whichever order the threads run in.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use handloop_waker::block_on;

#[test]
fn returns_the_output() {
    assert_eq!(block_on(async { 40 + 2 }), 42);
    let text = String::from("moved in");
    assert_eq!(block_on(async move { text.len() }), 8);
}

#[test]
fn a_ready_future_is_polled_once() {
    let mut polls = 0;
    block_on(poll_fn(|_| {
        polls += 1;
        Poll::Ready(())
    }));
    assert_eq!(polls, 1);
}

/// A one-shot signal between threads: `set` makes `Wait` ready and wakes it.
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    fn set(&self) {
        self.set.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }
}

/// Waits for a `Signal`, counting its polls. It checks its own condition on every
/// poll, so it completes only when the signal is really set, and `polls` shows how
/// many times the executor polled it.
struct Wait {
    signal: Arc<Signal>,
    polls: usize,
    /// Unrelated code run during the first poll (e.g. a stray `unpark`).
    on_first_poll: Option<Box<dyn FnOnce()>>,
}

impl Wait {
    fn new(signal: &Arc<Signal>) -> Self {
        Wait {
            signal: signal.clone(),
            polls: 0,
            on_first_poll: None,
        }
    }
}

impl Future for Wait {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        if let Some(f) = self.on_first_poll.take() {
            f();
        }
        // Register first, then check: a `set` in between still finds our waker.
        *self.signal.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.signal.set.load(Ordering::Acquire) {
            Poll::Ready(self.polls)
        } else {
            Poll::Pending
        }
    }
}

/// Sets `signal` from a new thread after `delay`.
fn set_later(signal: &Arc<Signal>, delay: Duration) -> thread::JoinHandle<()> {
    let signal = signal.clone();
    thread::spawn(move || {
        thread::sleep(delay);
        signal.set();
    })
}

#[test]
fn woken_from_another_thread_after_a_sleep() {
    let signal = Arc::new(Signal::default());
    let setter = set_later(&signal, Duration::from_millis(20));
    let polls = block_on(Wait::new(&signal));
    setter.join().unwrap();
    assert_eq!(polls, 2, "one poll to wait, one after the wake");
}

#[test]
fn a_wake_inside_poll_is_not_lost() {
    // The future wakes itself, then returns Pending (like `asyncio.sleep(0)`).
    let mut polls = 0;
    let out = block_on(poll_fn(|cx| {
        polls += 1;
        if polls == 1 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready("resumed")
    }));
    assert_eq!((out, polls), ("resumed", 2));
}

#[test]
fn a_wake_from_another_thread_before_pending_is_returned_is_not_lost() {
    // The wake has fully happened (the thread is joined) before poll returns Pending,
    // so it lands before block_on parks.
    let mut polls = 0;
    let out = block_on(poll_fn(|cx| {
        polls += 1;
        if polls == 1 {
            let w = cx.waker().clone();
            thread::spawn(move || w.wake()).join().unwrap();
            return Poll::Pending;
        }
        Poll::Ready(polls)
    }));
    assert_eq!(out, 2);
}

#[test]
fn a_wake_racing_with_the_park_is_not_lost() {
    // Whether the other thread wakes before, during or after the park, we finish.
    for _ in 0..if cfg!(miri) { 4 } else { 200 } {
        let signal = Arc::new(Signal::default());
        let setter = set_later(&signal, Duration::ZERO);
        assert!(block_on(Wait::new(&signal)) <= 2);
        setter.join().unwrap();
    }
}

#[test]
fn an_unpark_before_block_on_is_not_a_wake() {
    // Someone unparked this thread earlier: std keeps that token, so the first `park`
    // returns at once. A bare `park` loop would poll again here without any wake.
    thread::current().unpark();
    let signal = Arc::new(Signal::default());
    let setter = set_later(&signal, Duration::from_millis(10));
    let polls = block_on(Wait::new(&signal));
    setter.join().unwrap();
    assert_eq!(polls, 2, "no poll between the first and the real wake");
}

#[test]
fn an_unpark_during_poll_is_not_a_wake() {
    let signal = Arc::new(Signal::default());
    let mut wait = Wait::new(&signal);
    wait.on_first_poll = Some(Box::new(|| thread::current().unpark()));
    let setter = set_later(&signal, Duration::from_millis(10));
    let polls = block_on(wait);
    setter.join().unwrap();
    assert_eq!(polls, 2);
}

#[test]
fn stray_unparks_from_another_thread_are_not_wakes() {
    let signal = Arc::new(Signal::default());
    let blocked = thread::current();
    let unparker = {
        let signal = signal.clone();
        thread::spawn(move || {
            for _ in 0..if cfg!(miri) { 10 } else { 100 } {
                blocked.unpark();
                thread::yield_now();
            }
            signal.set(); // the only wake
        })
    };
    let polls = block_on(Wait::new(&signal));
    unparker.join().unwrap();
    assert_eq!(polls, 2, "a hundred unparks, one wake, one extra poll");
}

#[test]
fn a_stale_waker_from_an_earlier_block_on_is_not_a_wake() {
    // The first block_on hands its waker out and finishes.
    let mut stash = None;
    block_on(poll_fn(|cx| {
        stash = Some(cx.waker().clone());
        Poll::Ready(())
    }));
    // Waking it now unparks this thread, but it is not the next block_on's waker.
    stash.take().unwrap().wake();
    let signal = Arc::new(Signal::default());
    let setter = set_later(&signal, Duration::from_millis(10));
    let polls = block_on(Wait::new(&signal));
    setter.join().unwrap();
    assert_eq!(polls, 2);
}

#[test]
fn every_poll_gets_the_same_waker() {
    // So a future may keep the waker from its first poll (`will_wake` says it is current).
    let mut first: Option<Waker> = None;
    let mut polls = 0;
    block_on(poll_fn(|cx| {
        polls += 1;
        match &first {
            None => first = Some(cx.waker().clone()),
            Some(w) => assert!(w.will_wake(cx.waker())),
        }
        if polls < 3 {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }));
    assert_eq!(polls, 3);
}

#[test]
fn nested_futures_and_threads_compose() {
    // Two signals set from two threads, awaited one after the other in one async block.
    let (a, b) = (Arc::new(Signal::default()), Arc::new(Signal::default()));
    let setters = [
        set_later(&a, Duration::from_millis(5)),
        set_later(&b, Duration::ZERO),
    ];
    let (pa, pb) = block_on(async { (Wait::new(&a).await, Wait::new(&b).await) });
    for s in setters {
        s.join().unwrap();
    }
    assert!((1..=2).contains(&pa) && (1..=2).contains(&pb));
}
