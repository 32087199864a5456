//! `Handle`: reaching a loop from other threads. `call_soon_threadsafe` (every callback
//! once, in order, waking a parked loop), `spawn` and `spawn_with` with their `Send`
//! handles (awaited on another loop or a plain thread, aborted from another thread,
//! panics), and what a handle does once its loop is gone.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, ThreadId};

use handloop_executor::{EventLoop, Handle, LoopClosed, spawn, yield_now};

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The smallest `block_on` for a plain thread: park until woken.
fn block_on_plain_thread<F: Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// Completes once `count` reaches `n`; whoever increments it wakes the stored waker.
#[derive(Clone, Default)]
struct Counter {
    count: Arc<AtomicUsize>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Counter {
    fn add(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }

    async fn reaches(&self, n: usize) {
        poll_fn(|cx| {
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.count.load(Ordering::SeqCst) >= n {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Counts its drops.
struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_thousand_threads_each_call_soon_threadsafe_once_and_every_callback_runs_once() {
    // Miri runs threads one instruction at a time: fewer there, the same paths.
    const THREADS: usize = if cfg!(miri) { 20 } else { 1000 };
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..THREADS).map(|_| AtomicUsize::new(0)).collect());
    let counter = Counter::default();
    let loop_thread = thread::current().id();
    let start = Arc::new(Barrier::new(THREADS));
    let wrong_thread = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (handle, runs, counter) = (handle.clone(), runs.clone(), counter.clone());
            let (start, wrong_thread) = (start.clone(), wrong_thread.clone());
            thread::spawn(move || {
                start.wait();
                handle
                    .call_soon_threadsafe(move || {
                        if thread::current().id() != loop_thread {
                            wrong_thread.fetch_add(1, Ordering::SeqCst);
                        }
                        runs[i].fetch_add(1, Ordering::SeqCst);
                        counter.add();
                    })
                    .expect("the loop is alive");
            })
        })
        .collect();
    // The loop runs (and parks) while the threads send.
    event_loop.block_on(counter.reaches(THREADS));
    for caller in callers {
        caller.join().unwrap();
    }
    // One more turn: a callback run twice would show now.
    event_loop.block_on(yield_now());
    assert!(
        runs.iter().all(|n| n.load(Ordering::SeqCst) == 1),
        "each ran exactly once"
    );
    assert_eq!(
        wrong_thread.load(Ordering::SeqCst),
        0,
        "all on the loop's thread"
    );
}

#[test]
fn callbacks_from_one_thread_run_in_the_order_they_were_sent() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let order = Arc::new(Mutex::new(Vec::new()));
    let sender = {
        let order = order.clone();
        thread::spawn(move || {
            for i in 0..100 {
                let order = order.clone();
                handle
                    .call_soon_threadsafe(move || order.lock().unwrap().push(i))
                    .unwrap();
            }
            // A task sent after them: it runs after every callback sent before it.
            handle.spawn(async {})
        })
    };
    let last = sender.join().unwrap();
    event_loop.block_on(last).unwrap();
    assert_eq!(*order.lock().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn a_callback_from_another_thread_runs_after_the_tasks_already_ready() {
    let event_loop = EventLoop::new();
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    event_loop.block_on({
        let order = order.clone();
        async move {
            let handle = Handle::current();
            for i in 0..3 {
                let order = order.clone();
                drop(spawn(async move {
                    order.borrow_mut().push(format!("task {i}"))
                }));
            }
            // From another thread, while the three tasks are ready.
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                handle
                    .call_soon_threadsafe(move || tx.send("callback").unwrap())
                    .unwrap();
            })
            .join()
            .unwrap();
            yield_now().await;
            yield_now().await;
            order.borrow_mut().push(rx.try_recv().unwrap().to_owned());
        }
    });
    assert_eq!(*order.borrow(), ["task 0", "task 1", "task 2", "callback"]);
}

#[test]
fn call_soon_threadsafe_on_the_loops_own_thread_is_call_soon() {
    let ran = EventLoop::new().block_on(async {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        Handle::current()
            .call_soon_threadsafe(move || {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0, "not called inside");
        yield_now().await;
        ran.load(Ordering::SeqCst)
    });
    assert_eq!(ran, 1);
}

#[test]
fn a_handle_used_after_its_loop_is_dropped_says_the_loop_is_closed() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    assert!(!handle.is_closed());
    drop(event_loop);
    assert!(handle.is_closed());
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = CountDrop(dropped.clone());
    let result = handle.call_soon_threadsafe(move || drop(guard));
    assert_eq!(result, Err(LoopClosed));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the callback was dropped unrun"
    );
    assert_eq!(
        LoopClosed.to_string(),
        "the event loop is closed: it was dropped, and runs nothing any more"
    );
    // A task sent to it resolves as cancelled, on a plain thread.
    let error = block_on_plain_thread(handle.spawn(async { 1 })).unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    // And a clone made now still works the same, on another thread.
    let clone = handle.clone();
    thread::spawn(move || assert_eq!(clone.call_soon_threadsafe(|| ()), Err(LoopClosed)))
        .join()
        .unwrap();
}

#[test]
fn work_sent_but_not_yet_run_when_the_loop_is_dropped_is_cancelled_not_lost() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let task = handle.spawn(async { "never" });
    drop(event_loop); // before any turn applied the spawn
    let error = block_on_plain_thread(task).unwrap_err();
    assert!(error.is_cancelled());
}

#[test]
fn a_spawn_sent_to_a_closed_loop_drops_its_closure_once_and_is_cancelled() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    drop(event_loop);
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = CountDrop(dropped.clone());
    let task = handle.spawn_with(move || {
        let _guard = guard;
        async { 1 }
    });
    // Refused at once: the closure is gone, unrun, and the handle already resolved.
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert!(task.is_finished());
    let error = block_on_plain_thread(task).unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "dropped once");
}

#[test]
fn spawn_from_a_thread_awaited_on_another_loop() {
    let loop_a = EventLoop::new();
    let handle_a = loop_a.handle();
    let (to_b, from_a) = mpsc::channel();
    // Loop B, on another thread, spawns onto loop A and awaits the result on loop B.
    let loop_b = thread::spawn(move || {
        EventLoop::new().block_on(async move {
            let task = handle_a.spawn(async { thread::current().id() });
            let ran_on = task.await.unwrap();
            to_b.send(()).unwrap();
            (ran_on, thread::current().id())
        })
    });
    // Loop A runs until loop B has its answer.
    let a_id = thread::current().id();
    loop_a.block_on(async {
        while from_a.try_recv().is_err() {
            yield_now().await;
        }
    });
    let (ran_on, b_id) = loop_b.join().unwrap();
    assert_eq!(ran_on, a_id, "the task ran on loop A's thread");
    assert_ne!(b_id, a_id);
}

#[test]
fn a_remote_handle_awaited_on_a_plain_thread() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let waiter = thread::spawn(move || block_on_plain_thread(handle.spawn(async { 7 * 6 })));
    // The loop runs until the plain thread has its answer.
    let waiter_done = Arc::new(AtomicUsize::new(0));
    let output = {
        let done = waiter_done.clone();
        let out = thread::spawn(move || {
            let out = waiter.join().unwrap();
            done.store(1, Ordering::SeqCst);
            out
        });
        event_loop.block_on(async {
            while waiter_done.load(Ordering::SeqCst) == 0 {
                yield_now().await;
            }
        });
        out.join().unwrap()
    };
    assert_eq!(output.unwrap(), 42);
}

#[test]
fn spawn_with_builds_a_future_that_is_not_send_on_the_loops_thread() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let loop_thread = thread::current().id();
    let task = thread::spawn(move || {
        handle.spawn_with(move || {
            // Built here, on the loop's thread: an `Rc` is fine.
            let shared = Rc::new(Cell::new(thread::current().id()));
            async move {
                yield_now().await;
                shared.get()
            }
        })
    })
    .join()
    .unwrap();
    let built_on = event_loop.block_on(task).unwrap();
    assert_eq!(built_on, loop_thread);
}

/// Records on which thread it was dropped; not `Send` (as a loop-bound future's state).
struct DropWitness(Arc<Mutex<Option<ThreadId>>>, PhantomData<Rc<()>>);

impl Drop for DropWitness {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(thread::current().id());
    }
}

#[test]
fn a_future_that_is_not_send_is_dropped_on_the_loops_thread_even_when_the_loop_is_dropped() {
    let dropped_on = Arc::new(Mutex::new(None));
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let witness = dropped_on.clone();
    let task = thread::spawn(move || {
        handle.spawn_with(move || {
            let witness = DropWitness(witness, PhantomData);
            async move {
                let _witness = witness;
                std::future::pending::<()>().await
            }
        })
    })
    .join()
    .unwrap();
    event_loop.block_on(yield_now()); // the task starts and waits forever
    drop(event_loop); // its future is dropped here
    assert_eq!(*dropped_on.lock().unwrap(), Some(thread::current().id()));
    let error = block_on_plain_thread(task).unwrap_err();
    assert!(error.is_cancelled());
}

#[test]
fn abort_from_another_thread_drops_the_future_on_the_loop_then_reports_cancelled() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let dropped_on = Arc::new(Mutex::new(None));
    let witness = dropped_on.clone();
    let task = handle.spawn_with(move || {
        let witness = DropWitness(witness, PhantomData);
        async move {
            let _witness = witness;
            std::future::pending::<()>().await
        }
    });
    event_loop.block_on(yield_now()); // started, waiting
    let task = Arc::new(task);
    let aborter = {
        let task = task.clone();
        thread::spawn(move || task.abort())
    };
    aborter.join().unwrap();
    let task = Arc::try_unwrap(task).unwrap();
    let outcome = event_loop.block_on(task);
    let error = outcome.unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    assert_eq!(*dropped_on.lock().unwrap(), Some(thread::current().id()));
}

#[test]
fn aborting_before_the_task_starts_means_it_never_runs() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let task = handle.spawn(async move {
        r.fetch_add(1, Ordering::SeqCst);
    });
    task.abort();
    assert!(event_loop.block_on(task).unwrap_err().is_cancelled());
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn aborting_a_finished_task_keeps_its_output() {
    let event_loop = EventLoop::new();
    let task = event_loop.handle().spawn(async { 5 });
    event_loop.block_on(yield_now());
    event_loop.block_on(yield_now());
    assert!(task.is_finished());
    task.abort();
    assert_eq!(event_loop.block_on(task).unwrap(), 5);
}

#[test]
fn a_panicking_remote_task_is_a_join_error_naming_it_and_the_loop_goes_on() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let task = thread::spawn(move || handle.spawn(async { panic!("remote boom") }))
        .join()
        .unwrap();
    let error = event_loop.block_on(task).unwrap_err();
    assert!(error.is_panic());
    assert_eq!(error.panic_message(), Some("remote boom"));
    assert!(
        error.to_string().ends_with("panicked: remote boom"),
        "{error}"
    );
    assert!(error.id().as_u64() > 0, "the task's own id");
    assert_eq!(event_loop.block_on(async { 1 + 1 }), 2, "the loop goes on");
}

#[test]
fn a_panic_in_spawn_withs_closure_is_the_tasks_panic() {
    let event_loop = EventLoop::new();
    let task = event_loop
        .handle()
        .spawn_with(|| -> std::future::Ready<u32> { panic!("could not build") });
    let error = event_loop.block_on(task).unwrap_err();
    assert_eq!(error.panic_message(), Some("could not build"));
}

#[test]
fn a_detached_remote_task_still_runs() {
    let event_loop = EventLoop::new();
    let counter = Counter::default();
    let c = counter.clone();
    drop(event_loop.handle().spawn(async move { c.add() }));
    event_loop.block_on(counter.reaches(1));
}

#[test]
fn handle_current_outside_a_loop_panics_saying_where_to_get_one() {
    let message = panic_text(catch_unwind(Handle::current).unwrap_err());
    assert!(
        message.contains("Handle::current() called with no running event loop on this thread"),
        "{message}"
    );
}

#[test]
fn handles_are_equal_when_they_reach_the_same_loop() {
    let a = EventLoop::new();
    let b = EventLoop::new();
    let from_inside = a.block_on(async { Handle::current() });
    assert_eq!(from_inside, a.handle());
    assert_eq!(a.handle().clone(), a.handle());
    assert_ne!(a.handle(), b.handle());
}

#[test]
fn a_remote_handle_polled_again_after_its_output_panics_clearly() {
    let event_loop = EventLoop::new();
    let mut task = event_loop.handle().spawn(async { 3 });
    let message = event_loop.block_on(async {
        assert_eq!((&mut task).await.unwrap(), 3);
        let again = catch_unwind(AssertUnwindSafe(|| {
            let waker = Waker::noop();
            let _ = std::pin::Pin::new(&mut task).poll(&mut Context::from_waker(waker));
        }));
        panic_text(again.unwrap_err())
    });
    assert!(message.contains("polled again"), "{message}");
}

/// `Handle`, `RemoteJoinHandle` and `LoopClosed` cross threads.
#[test]
fn the_handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Handle>();
    send_sync::<handloop_executor::RemoteJoinHandle<u32>>();
    send_sync::<LoopClosed>();
}

/// A `RemoteJoinHandle` can be used inside `catch_unwind`, whatever its task's closure:
/// through it only the slot (a mutex and a flag) is reached.
#[test]
fn a_remote_join_handle_is_unwind_safe() {
    use std::panic::{RefUnwindSafe, UnwindSafe};
    fn unwind_safe<T: UnwindSafe + RefUnwindSafe + Unpin>() {}
    unwind_safe::<handloop_executor::RemoteJoinHandle<u32>>();
    unwind_safe::<handloop_executor::RemoteJoinHandle<std::cell::Cell<u32>>>();
}

#[test]
fn the_loop_counts_its_live_handles_on_every_thread() {
    let event_loop = EventLoop::new();
    assert_eq!(event_loop.live_handles(), 0);
    let handle = event_loop.handle();
    let clone = handle.clone();
    let from_inside = event_loop.block_on(async { Handle::current() });
    assert_eq!(event_loop.live_handles(), 3);
    thread::spawn(move || drop(clone)).join().unwrap();
    drop(from_inside);
    assert_eq!(event_loop.live_handles(), 1);
    assert!(format!("{event_loop:?}").contains("live_handles: 1"));
    drop(handle);
    assert_eq!(event_loop.live_handles(), 0);
}

#[test]
fn a_handle_reads_the_loops_live_tasks_from_another_thread() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    assert_eq!(handle.live_tasks(), 0);
    let waiting: Vec<_> = (0..3)
        .map(|_| handle.spawn(std::future::pending::<()>()))
        .collect();
    // Sent, not yet applied: the loop has not counted them.
    assert_eq!(handle.live_tasks(), 0);
    event_loop.block_on(yield_now());
    let reader = handle.clone();
    let seen = thread::spawn(move || reader.live_tasks()).join().unwrap();
    assert_eq!(seen, 3);
    let quick = event_loop.block_on(async {
        let quick = spawn(async { 1 });
        assert_eq!(handle.live_tasks(), 4, "counted as soon as spawned");
        quick.await.unwrap()
    });
    assert_eq!(quick, 1);
    assert_eq!(handle.live_tasks(), 3);
    for task in &waiting {
        task.abort();
    }
    event_loop.block_on(yield_now());
    assert_eq!(handle.live_tasks(), 0);
    drop(event_loop);
    assert_eq!(handle.live_tasks(), 0);
}

#[test]
fn a_callback_sent_by_a_destructor_the_loops_drop_runs_is_refused() {
    // A task still pending when the loop is dropped is cancelled there, on the loop's
    // thread; its future's destructor sends a callback that could never run. It is told so.
    struct SendsOnDrop(Handle, Arc<Mutex<Option<Result<(), LoopClosed>>>>);
    impl Drop for SendsOnDrop {
        fn drop(&mut self) {
            let sent = self.0.call_soon_threadsafe(|| unreachable!("never runs"));
            *self.1.lock().unwrap() = Some(sent);
        }
    }
    let answer = Arc::new(Mutex::new(None));
    let event_loop = EventLoop::new();
    let guard = SendsOnDrop(event_loop.handle(), answer.clone());
    event_loop.block_on(async move {
        spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        yield_now().await;
    });
    assert_eq!(*answer.lock().unwrap(), None, "still pending");
    drop(event_loop);
    assert_eq!(*answer.lock().unwrap(), Some(Err(LoopClosed)));
}

#[test]
fn a_call_soon_from_a_destructor_the_loops_drop_runs_is_dropped_unrun() {
    struct SchedulesOnDrop(Arc<AtomicUsize>);
    impl Drop for SchedulesOnDrop {
        fn drop(&mut self) {
            let counted = CountDrop(self.0.clone());
            handloop_executor::call_soon(move || {
                let _counted = counted;
                unreachable!("never runs");
            });
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let event_loop = EventLoop::new();
    let guard = SchedulesOnDrop(dropped.clone());
    event_loop.block_on(async move {
        spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        yield_now().await;
    });
    drop(event_loop);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the callback was dropped, unrun"
    );
}
