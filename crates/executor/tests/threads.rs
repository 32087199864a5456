//! Wakes from other threads: the task goes back on its own loop's ready queue and a parked
//! loop wakes up. No lost wake, and wakers that outlive the loop stay harmless.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use handloop_executor::{EventLoop, spawn, yield_now};

/// Completes once `done` is set; sends its waker to whoever will set it.
struct RemoteSignal {
    done: Arc<AtomicBool>,
    wakers: mpsc::Sender<Waker>,
}

impl Future for RemoteSignal {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.wakers.send(cx.waker().clone()).unwrap();
        // The other thread may set the flag and wake before we return: that wake must not
        // be lost (the loop would otherwise park forever).
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[test]
fn a_wake_from_another_thread_reaches_a_parked_loop() {
    let (tx, rx) = mpsc::channel::<Waker>();
    let done = Arc::new(AtomicBool::new(false));
    let remote = thread::spawn({
        let done = done.clone();
        move || {
            let waker = rx.recv().unwrap();
            thread::sleep(Duration::from_millis(20)); // the loop is parked by now
            done.store(true, Ordering::Release);
            waker.wake();
        }
    });
    let out = EventLoop::new().block_on(async move {
        spawn(RemoteSignal { done, wakers: tx }).await.unwrap();
        "woken"
    });
    assert_eq!(out, "woken");
    remote.join().unwrap();
}

#[test]
fn block_on_s_own_future_can_be_woken_from_another_thread() {
    let (tx, rx) = mpsc::channel::<Waker>();
    let done = Arc::new(AtomicBool::new(false));
    let remote = thread::spawn({
        let done = done.clone();
        move || {
            let waker = rx.recv().unwrap();
            done.store(true, Ordering::Release);
            waker.wake_by_ref();
        }
    });
    EventLoop::new().block_on(RemoteSignal { done, wakers: tx });
    remote.join().unwrap();
}

#[test]
fn many_wakes_from_many_threads_lose_nothing() {
    // Four threads each complete 50 signals; every task must finish.
    const THREADS: usize = 4;
    const PER_THREAD: usize = if cfg!(miri) { 3 } else { 50 };
    let (tx, rx) = mpsc::channel::<(Arc<AtomicBool>, Waker)>();
    let rx = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    let (done, waker) = rx.lock().unwrap().recv().unwrap();
                    done.store(true, Ordering::Release);
                    waker.wake();
                }
            })
        })
        .collect();
    let finished = EventLoop::new().block_on(async move {
        let handles: Vec<_> = (0..THREADS * PER_THREAD)
            .map(|_| {
                let tx = tx.clone();
                spawn(async move {
                    let done = Arc::new(AtomicBool::new(false));
                    let (wtx, wrx) = mpsc::channel();
                    let signal = RemoteSignal {
                        done: done.clone(),
                        wakers: wtx,
                    };
                    let forward = ForwardFirst { rx: wrx, tx, done };
                    signal_and_forward(signal, forward).await;
                })
            })
            .collect();
        let mut finished = 0;
        for handle in handles {
            handle.await.unwrap();
            finished += 1;
        }
        finished
    });
    assert_eq!(finished, THREADS * PER_THREAD);
    for worker in workers {
        worker.join().unwrap();
    }
}

/// Hands the first waker the signal produced to a worker thread.
struct ForwardFirst {
    rx: mpsc::Receiver<Waker>,
    tx: mpsc::Sender<(Arc<AtomicBool>, Waker)>,
    done: Arc<AtomicBool>,
}

async fn signal_and_forward(signal: RemoteSignal, forward: ForwardFirst) {
    let mut signal = std::pin::pin!(signal);
    let mut forwarded = false;
    std::future::poll_fn(|cx| {
        let poll = signal.as_mut().poll(cx);
        if !forwarded && let Ok(waker) = forward.rx.try_recv() {
            forward.tx.send((forward.done.clone(), waker)).unwrap();
            forwarded = true;
        }
        poll
    })
    .await
}

/// Natively this only shows that nothing crashes; it exists to run under Miri (`.ci/run`),
/// which reports the task's memory leaked or freed twice by wakers outliving the loop.
#[test]
fn wakers_that_outlive_the_loop_are_harmless() {
    let (tx, rx) = mpsc::channel::<Waker>();
    let event_loop = EventLoop::new();
    event_loop.block_on(async move {
        let tx2 = tx.clone();
        spawn(async move {
            std::future::poll_fn(|cx| {
                tx2.send(cx.waker().clone()).unwrap();
                Poll::<()>::Pending
            })
            .await
        });
        yield_now().await;
    });
    drop(event_loop);
    let waker = rx.recv().unwrap();
    let clone = waker.clone();
    // Woken and dropped on another thread after the loop is gone: nothing happens, and the
    // task's memory is freed by the last drop.
    thread::spawn(move || {
        clone.wake_by_ref();
        clone.wake();
    })
    .join()
    .unwrap();
    waker.wake();
}

#[test]
fn dropping_the_loop_drops_futures_on_the_loop_thread() {
    // Each future records the thread its destructor runs on.
    struct RecordDropThread(Arc<Mutex<Vec<thread::ThreadId>>>);
    impl Drop for RecordDropThread {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(thread::current().id());
        }
    }
    let threads = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel::<Waker>();
    let event_loop = EventLoop::new();
    event_loop.block_on({
        let threads = threads.clone();
        async move {
            for _ in 0..3 {
                let record = RecordDropThread(threads.clone());
                let tx = tx.clone();
                spawn(async move {
                    let _record = record;
                    std::future::poll_fn(|cx| {
                        tx.send(cx.waker().clone()).unwrap();
                        Poll::<()>::Pending
                    })
                    .await
                });
            }
            yield_now().await;
        }
    });
    // Other threads hold the wakers while the loop is dropped here.
    let wakers: Vec<Waker> = rx.try_iter().collect();
    assert_eq!(wakers.len(), 3);
    let holder = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        drop(wakers);
    });
    drop(event_loop);
    holder.join().unwrap();
    let me = thread::current().id();
    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 3);
    assert!(threads.iter().all(|&t| t == me));
}

#[test]
fn a_remote_wake_while_the_task_runs_is_not_lost() {
    // The task hands its waker to a thread that wakes it while the task may still be
    // inside its poll; the task must be polled again.
    let polls = Arc::new(AtomicUsize::new(0));
    let out = EventLoop::new().block_on({
        let polls = polls.clone();
        async move {
            spawn(async move {
                std::future::poll_fn(|cx| {
                    let n = polls.fetch_add(1, Ordering::SeqCst);
                    if n == 0 {
                        let waker = cx.waker().clone();
                        thread::spawn(move || waker.wake()).join().unwrap();
                        Poll::Pending
                    } else {
                        Poll::Ready(n)
                    }
                })
                .await
            })
            .await
            .unwrap()
        }
    });
    assert_eq!(out, 1);
    assert_eq!(polls.load(Ordering::SeqCst), 2);
}
