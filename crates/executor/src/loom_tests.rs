//! loom models of the cross-thread paths, on the real code: a real `EventLoop`, real task
//! wakers woken and dropped on other threads, the real remote queue, drain and parker, the
//! loop's shutdown, and the tickets that keep its `Shared` alive. Every atomic, lock and
//! `Arc` involved comes from `crate::sync`, so loom explores their interleavings; a lost
//! wake shows up as a deadlock (the loop parked forever), and a reference or ticket never
//! given back as a leaked `Arc` (the unparker inside `Shared`).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p handloop-executor --lib --release loom`
//! (`LOOM_MAX_PREEMPTIONS` overrides the bound set here).

use std::future::{Future, poll_fn};
use std::task::{Poll, Waker};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

use crate::{EventLoop, spawn, yield_now};

/// Runs `f` under loom with a preemption bound that keeps each model to seconds.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// A future that hands a clone of its waker to `send` on its first poll and completes
/// once `done` is set.
fn signal(
    done: Arc<AtomicBool>,
    mut send: impl FnMut(Waker),
) -> impl std::future::Future<Output = ()> {
    let mut sent = false;
    poll_fn(move |cx| {
        if done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !sent {
            sent = true;
            send(cx.waker().clone());
        }
        Poll::Pending
    })
}

#[test]
fn loom_a_remote_wake_reaches_a_parking_loop() {
    // block_on's own future: its waker (a local one) is woken by value on another thread,
    // which sends a wake and the waker's reference back through the remote queue.
    model(|| {
        let event_loop = EventLoop::new();
        let done = Arc::new(AtomicBool::new(false));
        let mut waker_thread = None;
        event_loop.block_on(signal(done.clone(), |waker| {
            let done = done.clone();
            waker_thread = Some(thread::spawn(move || {
                done.store(true, Ordering::Release);
                waker.wake();
            }));
        }));
        waker_thread.unwrap().join().unwrap();
    });
}

#[test]
fn loom_two_remote_wakes_of_a_task_are_not_lost() {
    // A spawned task waits for two threads: one clones the waker there (a shared clone)
    // and wakes it by reference, the other wakes the local waker by value. Neither wake
    // may be lost, whichever finds the task already in the remote queue.
    model(|| {
        let event_loop = EventLoop::new();
        let count = Arc::new(AtomicUsize::new(0));
        let (first, second) = event_loop.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel::<Waker>();
            let seen = count.clone();
            let mut sent = false;
            let task = spawn(poll_fn(move |cx| {
                if seen.load(Ordering::Acquire) == 2 {
                    return Poll::Ready(());
                }
                if !sent {
                    sent = true;
                    tx.send(cx.waker().clone()).unwrap();
                }
                Poll::Pending
            }));
            yield_now().await; // the task runs once and hands its waker over
            let waker = rx.try_recv().unwrap();
            let local_clone = waker.clone();
            let (c1, c2) = (count.clone(), count.clone());
            let first = thread::spawn(move || {
                let shared = local_clone.clone();
                c1.fetch_add(1, Ordering::Release);
                shared.wake_by_ref();
                drop(shared);
                drop(local_clone);
            });
            let second = thread::spawn(move || {
                c2.fetch_add(1, Ordering::Release);
                waker.wake();
            });
            task.await.unwrap();
            (first, second)
        });
        first.join().unwrap();
        second.join().unwrap();
    });
}

#[test]
fn loom_a_wake_and_a_drop_racing_shutdown_give_every_reference_back() {
    // A pending task's local waker is woken by reference and dropped on another thread
    // while the loop is dropped: the wake and the release go through the remote queue
    // before it closes, or find it closed and the task's wakers counting atomically. The
    // task may be freed on either thread, returning its ticket of `Shared` concurrently
    // with the loop's own; `Shared` (and its unparker) must be freed exactly once.
    model(|| {
        let event_loop = EventLoop::new();
        let waker_thread = event_loop.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel::<Waker>();
            drop(spawn(poll_fn(move |cx| {
                tx.send(cx.waker().clone()).unwrap();
                Poll::<()>::Pending
            })));
            yield_now().await; // the task runs once and hands its waker over
            let waker = rx.try_recv().unwrap();
            thread::spawn(move || {
                waker.wake_by_ref();
                drop(waker);
            })
        });
        drop(event_loop);
        waker_thread.join().unwrap();
    });
}

#[test]
fn loom_a_waker_dropped_off_the_loop_while_its_task_completes() {
    // The thread drops a local waker (a release entry) while the loop completes the task
    // and moves its wakers into the atomic count: the release must land on the right count
    // whichever comes first.
    model(|| {
        let event_loop = EventLoop::new();
        let waker_thread = event_loop.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel::<Waker>();
            let mut polls = 0;
            let task = spawn(poll_fn(move |cx| {
                polls += 1;
                if polls == 1 {
                    tx.send(cx.waker().clone()).unwrap();
                    cx.waker().wake_by_ref(); // run again at once, and finish
                    return Poll::Pending;
                }
                Poll::Ready(())
            }));
            yield_now().await;
            let waker = rx.try_recv().unwrap();
            let waker_thread = thread::spawn(move || drop(waker));
            task.await.unwrap();
            waker_thread
        });
        waker_thread.join().unwrap();
        drop(event_loop);
    });
}

// `Handle`: callbacks and tasks sent from other threads go through the same remote queue
// and the same park handshake as remote wakes (the sender pushes, then unparks; the loop
// drains, then parks, and a token left by an unpark makes that park return at once).

#[test]
fn loom_call_soon_threadsafe_reaches_a_parking_loop() {
    // The callback runs on the loop and wakes block_on's future there: if the push and
    // its unpark raced the loop's drain and park and were lost, the loop would park for
    // good, which loom reports as a deadlock.
    model(|| {
        let event_loop = EventLoop::new();
        let handle = event_loop.handle();
        let done = Arc::new(AtomicBool::new(false));
        let mut sender = None;
        let mut handle = Some(handle);
        event_loop.block_on(poll_fn(|cx| {
            if done.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            if let Some(handle) = handle.take() {
                let (done, waker) = (done.clone(), cx.waker().clone());
                sender = Some(thread::spawn(move || {
                    handle
                        .call_soon_threadsafe(move || {
                            done.store(true, Ordering::Release);
                            waker.wake();
                        })
                        .unwrap();
                }));
            }
            Poll::Pending
        }));
        sender.unwrap().join().unwrap();
    });
}

#[test]
fn loom_a_task_spawned_and_aborted_from_another_thread() {
    // The thread spawns a task that never finishes and aborts it at once; the loop
    // awaits its handle. The spawn, the abort's flag and wake, and the loop's first poll
    // of the task race in every order: the handle must resolve as cancelled, and nothing
    // may leak (loom checks every `Arc`, the slot's included).
    model(|| {
        let event_loop = EventLoop::new();
        let handle = event_loop.handle();
        let aborter = thread::spawn(move || {
            let task = handle.spawn(std::future::pending::<()>());
            task.abort();
            task
        });
        let task = aborter.join().unwrap();
        let outcome = event_loop.block_on(task);
        assert!(outcome.unwrap_err().is_cancelled());
    });
}

#[test]
fn loom_abort_from_a_plain_thread_races_the_loop() {
    // The task is already waiting when a plain thread aborts it and then awaits its handle
    // there (parking the thread): the abort's wake goes through the remote queue to a loop
    // that may be parking, and the cancellation's wake comes back to the parked thread.
    model(|| {
        let event_loop = EventLoop::new();
        let task = event_loop.handle().spawn(std::future::pending::<()>());
        event_loop.block_on(yield_now()); // the task starts and waits
        let finished = Arc::new(AtomicBool::new(false));
        let loop_waker = Arc::new(loom::sync::Mutex::new(None::<Waker>));
        let waiter = {
            let (finished, loop_waker) = (finished.clone(), loop_waker.clone());
            thread::spawn(move || {
                task.abort();
                let outcome = block_on_parking(task);
                finished.store(true, Ordering::Release);
                if let Some(waker) = loop_waker.lock().unwrap().take() {
                    waker.wake();
                }
                outcome
            })
        };
        event_loop.block_on(poll_fn(|cx| {
            *loop_waker.lock().unwrap() = Some(cx.waker().clone());
            if finished.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        assert!(waiter.join().unwrap().unwrap_err().is_cancelled());
    });
}

/// `block_on` for a loom thread that is not a loop: park until woken.
fn block_on_parking<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(loom::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

#[test]
fn loom_a_handle_sending_while_its_loop_is_dropped() {
    // The callback is either run (no: the loop is not running), dropped at shutdown, or
    // refused with `LoopClosed`; the handle's ticket and the loop's are given back on
    // either thread, and `Shared` (with its unparker) is freed exactly once.
    model(|| {
        let event_loop = EventLoop::new();
        let handle = event_loop.handle();
        let dropped = Arc::new(AtomicUsize::new(0));
        let witness = DropCount(dropped.clone());
        let sender = thread::spawn(move || {
            let _ = handle.call_soon_threadsafe(move || drop(witness));
        });
        drop(event_loop);
        sender.join().unwrap();
        assert_eq!(
            dropped.load(Ordering::Relaxed),
            1,
            "dropped once, never run"
        );
    });
}

#[test]
fn loom_a_task_sent_while_its_loop_is_dropped_is_cancelled_never_lost() {
    // The spawn's one allocation (slot and closure) is applied and cancelled at shutdown,
    // handed back by the queue's close, or refused at once; in every order the closure is
    // dropped once, the handle resolves as cancelled, and nothing leaks (loom checks the
    // spawn (its leak check) and the tickets).
    model(|| {
        let event_loop = EventLoop::new();
        let handle = event_loop.handle();
        let dropped = Arc::new(AtomicUsize::new(0));
        let witness = DropCount(dropped.clone());
        let sender = thread::spawn(move || {
            handle.spawn_with(move || {
                let _witness = witness;
                async { 7 }
            })
        });
        drop(event_loop);
        let task = sender.join().unwrap();
        assert!(task.is_finished());
        assert!(block_on_parking(task).unwrap_err().is_cancelled());
        assert_eq!(dropped.load(Ordering::Relaxed), 1, "dropped once");
    });
}

/// Counts its drops.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn loom_a_remote_handle_awaited_on_another_thread_while_its_task_completes() {
    // The handle's waker goes into the slot (or is swapped there) while the loop runs the
    // task to its end: the waiting thread is woken, or finds the output at once; the output
    // arrives once and the spawn is freed once (loom checks it is not leaked).
    model(|| {
        let event_loop = EventLoop::new();
        let dropped = Arc::new(AtomicUsize::new(0));
        let witness = DropCount(dropped.clone());
        let task = event_loop.handle().spawn(async move { (7, witness) });
        let waiter = thread::spawn(move || block_on_parking(task));
        event_loop.block_on(yield_now()); // the task runs to its end
        let (answer, witness) = waiter.join().unwrap().unwrap();
        assert_eq!(answer, 7);
        drop(witness);
        assert_eq!(dropped.load(Ordering::Relaxed), 1);
    });
}

#[test]
fn loom_a_remote_handle_dropped_while_its_task_completes() {
    // The handle is polled once (its waker stored) and dropped on another thread while the
    // task completes on the loop: whichever side comes last frees the spawn, and the
    // output nobody took is dropped exactly once.
    model(|| {
        let event_loop = EventLoop::new();
        let dropped = Arc::new(AtomicUsize::new(0));
        let witness = DropCount(dropped.clone());
        let mut task = event_loop.handle().spawn(async move { witness });
        let dropper = thread::spawn(move || {
            let mut cx = std::task::Context::from_waker(Waker::noop());
            let polled = std::pin::Pin::new(&mut task).poll(&mut cx);
            drop(polled);
            drop(task);
        });
        event_loop.block_on(yield_now());
        dropper.join().unwrap();
        drop(event_loop);
        assert_eq!(dropped.load(Ordering::Relaxed), 1);
    });
}
