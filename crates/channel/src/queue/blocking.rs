//! `put_blocking` and `get_blocking`: the queue from a plain thread (tokio's
//! `blocking_send`), for threads that feed or drain an event loop.
//!
//! A blocking call is the async one driven by the smallest `block_on` there is: poll,
//! and if the future is pending, park the thread until its waker unparks it. The
//! queue's fairness is the same either way, since the blocked thread waits in the same
//! line as the tasks.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use super::QueueOf;
use super::order::Order;
use crate::errors::Closed;

impl<T, O: Order<T>> QueueOf<T, O> {
    /// Puts `item`, blocking the calling thread while the queue is full: for a plain
    /// thread feeding a loop. Returns `Err(Closed(item))` if the queue is closed before
    /// the item entered (also while the thread waits).
    ///
    /// The thread waits in the same line as the tasks awaiting [`put`](Self::put), so the
    /// hand-off order is the same.
    ///
    /// ```
    /// use handloop_channel::Queue;
    ///
    /// let queue = Queue::bounded(2);
    /// let producer = std::thread::spawn({
    ///     let queue = queue.clone();
    ///     move || {
    ///         for n in 0..5 {
    ///             queue.put_blocking(n).unwrap(); // waits while the queue is full
    ///         }
    ///         queue.close();
    ///     }
    /// });
    /// let mut got = Vec::new();
    /// futures::executor::block_on(async {
    ///     while let Ok(n) = queue.get().await {
    ///         got.push(n);
    ///     }
    /// });
    /// producer.join().unwrap();
    /// assert_eq!(got, [0, 1, 2, 3, 4]);
    /// ```
    ///
    /// # Panics
    ///
    /// If called on a thread that is running a handloop event loop (inside a task, a
    /// callback, or `block_on`): blocking there would stop the loop, and with it the task
    /// that could make room. Await [`put`](Self::put) instead. (Other executors are not
    /// detected: do not block their threads either.)
    #[track_caller]
    pub fn put_blocking(&self, item: T) -> Result<(), Closed<T>> {
        refuse_on_a_loop("put_blocking", "queue.put(item).await");
        block_on(self.put(item))
    }

    /// Takes the next item, blocking the calling thread while the queue is empty: for a
    /// plain thread draining a loop. Returns `Err(Closed)` once the queue is closed and
    /// empty (also while the thread waits).
    ///
    /// ```
    /// use handloop_channel::Queue;
    ///
    /// let queue = Queue::unbounded();
    /// let consumer = std::thread::spawn({
    ///     let queue = queue.clone();
    ///     move || {
    ///         let mut sum = 0;
    ///         while let Ok(n) = queue.get_blocking() {
    ///             sum += n;
    ///         }
    ///         sum // the loop ends once the queue is closed and drained
    ///     }
    /// });
    /// futures::executor::block_on(async {
    ///     for n in 1..=4 {
    ///         queue.put(n).await.unwrap();
    ///     }
    ///     queue.close();
    /// });
    /// assert_eq!(consumer.join().unwrap(), 10);
    /// ```
    ///
    /// # Panics
    ///
    /// If called on a thread that is running a handloop event loop, as
    /// [`put_blocking`](Self::put_blocking). Await [`get`](Self::get) instead.
    #[track_caller]
    pub fn get_blocking(&self) -> Result<T, Closed> {
        refuse_on_a_loop("get_blocking", "queue.get().await");
        block_on(self.get())
    }
}

/// Panics if this thread runs a handloop event loop.
#[track_caller]
fn refuse_on_a_loop(call: &str, instead: &str) {
    if handloop_executor::in_event_loop() {
        panic!(
            "Queue::{call}() called on a thread that is running a handloop event loop: \
             it would block the loop, and every task on it, while it waits. \
             Await `{instead}` instead ({call} is for plain threads)"
        );
    }
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// This thread's waker, made once.
    static UNPARK: Waker = Waker::from(Arc::new(Unpark(thread::current())));
}

/// Polls `future` on this thread, parking between polls until its waker is called.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    UNPARK.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            // A wake that came before this park makes it return at once (the thread's
            // token), and a spurious return only costs another poll.
            thread::park();
        }
    })
}
