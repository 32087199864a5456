//! The queue never runs your code under its lock: a waker that calls back into the queue,
//! when it is woken and when it is dropped (replaced by a later poll), deadlocks nothing.
//! A regression here would spin forever, so each scenario runs under a watchdog.

mod common;

use std::pin::pin;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::Duration;

use handloop_channel::Queue;

/// A waker whose owner looks at the queue when woken and when dropped.
struct TouchesQueue(Queue<u32>);

impl Wake for TouchesQueue {
    fn wake(self: Arc<Self>) {
        let _ = self.0.len();
    }
}

impl Drop for TouchesQueue {
    fn drop(&mut self) {
        let _ = self.0.len();
    }
}

/// Runs `scenario` on a thread and fails (instead of hanging) if it doesn't finish.
fn within_a_watchdog(scenario: fn()) {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        scenario();
        done.send(()).unwrap();
    });
    match finished.recv_timeout(Duration::from_secs(20)) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the scenario deadlocked on the queue's lock")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the scenario panicked (see above)"),
    }
}

/// Polls once with a waker that touches the queue, keeping no other copy of it.
fn poll_with_touching_waker<F: Future>(future: std::pin::Pin<&mut F>, queue: &Queue<u32>) {
    let waker = Waker::from(Arc::new(TouchesQueue(queue.clone())));
    assert!(future.poll(&mut Context::from_waker(&waker)).is_pending());
}

#[test]
fn a_replaced_waker_is_dropped_outside_the_lock() {
    within_a_watchdog(|| {
        let queue = Queue::<u32>::bounded(1);
        // A waiting getter, a waiting putter and a waiting joiner, each re-polled with a
        // new waker: the old one (the queue held the only copy) is dropped, and its drop
        // calls `len()`.
        let mut get = pin!(queue.get());
        poll_with_touching_waker(get.as_mut(), &queue);
        assert!(
            get.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );

        queue.try_put(1).unwrap(); // handed to the getter
        queue.try_put(2).unwrap(); // fills the queue
        let mut put = pin!(queue.put(3));
        poll_with_touching_waker(put.as_mut(), &queue);
        assert!(
            put.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );

        let mut join = pin!(queue.join());
        poll_with_touching_waker(join.as_mut(), &queue);
        assert!(
            join.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
    });
}

#[test]
fn a_woken_waker_runs_outside_the_lock() {
    within_a_watchdog(|| {
        let queue = Queue::<u32>::bounded(1);
        let mut get = pin!(queue.get());
        poll_with_touching_waker(get.as_mut(), &queue);
        queue.try_put(7).unwrap(); // hands the item over and wakes the getter's waker
        queue.try_put(8).unwrap(); // fills the queue
        let mut put = pin!(queue.put(9));
        poll_with_touching_waker(put.as_mut(), &queue);
        // Taking 8 frees the slot: 9 enters, and the putter's waker is woken.
        assert_eq!(queue.try_get(), Ok(8));
        let cx = &mut Context::from_waker(Waker::noop());
        assert_eq!(put.as_mut().poll(cx), std::task::Poll::Ready(Ok(())));
        assert_eq!(get.as_mut().poll(cx), std::task::Poll::Ready(Ok(7)));
        queue.close(); // wakes nobody left, but runs the close path too
    });
}
