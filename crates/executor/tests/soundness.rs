//! Re-entrancy: user code the loop calls (a join waker's `wake`, a future's destructor)
//! may drop handles, wake, abort or spawn, and even panic. None of it may make the loop
//! touch a task it no longer holds.
//!
//! Each test here reproduces a use-after-free the loop once had. Natively they check the
//! visible behaviour; their real point is to run under Miri, which reports the bad access,
//! and best with the block cache off (`RUSTFLAGS="--cfg handloop_no_block_cache"`, as
//! `.ci/run` does), since a recycled block hides a free from Miri. Some also fill the
//! cache (more than 16 task layouts), so that the free is a real one in the default build.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use common::{Gate, Log};
use handloop_executor::task::{AbortHandle, all_tasks};
use handloop_executor::{EventLoop, JoinHandle, spawn, yield_now};

thread_local! {
    /// The only handle of a task, where a waker can reach it.
    static HANDLE: RefCell<Option<JoinHandle<u32>>> = const { RefCell::new(None) };
}

/// A join waker that drops the task's only `JoinHandle` when woken (ordinary safe code).
struct DropsTheHandle;

impl Wake for DropsTheHandle {
    fn wake(self: Arc<Self>) {
        HANDLE.with(|h| drop(h.borrow_mut().take()));
    }
}

/// A join waker that panics when woken.
struct Panics;

impl Wake for Panics {
    fn wake(self: Arc<Self>) {
        panic!("the join waker panicked");
    }
}

/// Polls the handle kept in `HANDLE` once with `waker`, so that `waker` becomes the task's
/// join waker.
fn register_join_waker(waker: Waker) {
    HANDLE.with(|h| {
        let mut h = h.borrow_mut();
        let handle = h.as_mut().expect("the handle is stored");
        let poll = Pin::new(handle).poll(&mut Context::from_waker(&waker));
        assert!(poll.is_pending(), "the task has not run yet");
    });
}

/// Runs and finishes tasks of 17 distinct sizes, so that the loop's cache of task blocks
/// holds as many layouts as it ever keeps: blocks of any other layout are then really
/// freed (and not recycled, which would hide the free from Miri).
async fn fill_the_block_cache() {
    async fn sized<const N: usize>() {
        let payload = [7u8; N];
        yield_now().await;
        black_box(&payload);
    }
    let handles = vec![
        spawn(sized::<1000>()),
        spawn(sized::<1008>()),
        spawn(sized::<1016>()),
        spawn(sized::<1024>()),
        spawn(sized::<1032>()),
        spawn(sized::<1040>()),
        spawn(sized::<1048>()),
        spawn(sized::<1056>()),
        spawn(sized::<1064>()),
        spawn(sized::<1072>()),
        spawn(sized::<1080>()),
        spawn(sized::<1088>()),
        spawn(sized::<1096>()),
        spawn(sized::<1104>()),
        spawn(sized::<1112>()),
        spawn(sized::<1120>()),
        spawn(sized::<1128>()),
    ];
    for handle in handles {
        handle.await.unwrap();
    }
}

#[test]
fn a_join_waker_that_drops_the_only_handle_does_not_free_the_task_under_the_loop() {
    let event_loop = EventLoop::new();
    let outputs = event_loop.block_on(async {
        fill_the_block_cache().await;
        HANDLE.with(|h| *h.borrow_mut() = Some(spawn(async { 7 })));
        register_join_waker(Waker::from(Arc::new(DropsTheHandle)));
        yield_now().await; // the task completes and wakes its join waker
        assert!(
            HANDLE.with(|h| h.borrow().is_none()),
            "the waker dropped it"
        );
        // The loop goes on: more tasks of the same type reuse memory as usual.
        let mut outputs = Vec::new();
        for i in 0..3 {
            outputs.push(spawn(async move { i }).await.unwrap());
        }
        assert_eq!(all_tasks().len(), 1, "only main is alive");
        outputs
    });
    assert_eq!(outputs, [0, 1, 2]);
    drop(event_loop);
}

#[test]
fn a_panicking_join_waker_leaves_the_loop_consistent() {
    let event_loop = EventLoop::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        event_loop.block_on(async {
            fill_the_block_cache().await;
            HANDLE.with(|h| *h.borrow_mut() = Some(spawn(async { 7 })));
            register_join_waker(Waker::from(Arc::new(Panics)));
            // If the panic escapes the loop, the handle goes with this future's unwind.
            let _guard = DropHandleOnUnwind;
            yield_now().await;
            yield_now().await;
            "main finished"
        })
    }));
    // The loop reports the waker's panic (as `tests/panics.rs` checks) and goes on; the
    // task list is intact and the loop usable.
    assert_eq!(result.ok(), Some("main finished"));
    HANDLE.with(|h| drop(h.borrow_mut().take()));
    let alive = event_loop.block_on(async { all_tasks().len() });
    assert_eq!(alive, 1, "only main is alive");
    drop(event_loop);
}

struct DropHandleOnUnwind;

impl Drop for DropHandleOnUnwind {
    fn drop(&mut self) {
        HANDLE.with(|h| drop(h.borrow_mut().take()));
    }
}

/// Runs `on_drop` when dropped: a future's destructor doing something to other tasks.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// A task that waits forever, running `on_drop` when its future is dropped.
fn pending_with_drop(on_drop: impl FnMut() + 'static) -> impl Future<Output = ()> {
    let guard = OnDrop(on_drop);
    async move {
        let _guard = guard;
        std::future::pending::<()>().await
    }
}

#[test]
fn destructors_that_wake_tasks_during_shutdown_leave_no_freed_task_queued() {
    // Shutdown drops futures in spawn order: A's destructor wakes B, which is then
    // cancelled and freed; C's destructor wakes D, pushing behind B in the ready queue.
    let log = Log::default();
    let event_loop = EventLoop::new();
    event_loop.block_on({
        let log = log.clone();
        async move {
            fill_the_block_cache().await;
            let gate_b = Gate::new();
            let gate_d = Gate::new();
            let (gb, gd) = (gate_b.clone(), gate_d.clone());
            let (l1, l2, l3, l4) = (log.clone(), log.clone(), log.clone(), log.clone());
            drop(spawn(pending_with_drop(move || {
                l1.push("A dropped");
                gb.open();
            })));
            drop(spawn(async move {
                let _guard = OnDrop(move || l2.push("B dropped"));
                gate_b.wait().await;
                std::future::pending::<()>().await
            }));
            drop(spawn(pending_with_drop(move || {
                l3.push("C dropped");
                gd.open();
            })));
            drop(spawn(async move {
                let _guard = OnDrop(move || l4.push("D dropped"));
                gate_d.wait().await;
                std::future::pending::<()>().await
            }));
            yield_now().await; // all four wait now
        }
    });
    drop(event_loop);
    assert_eq!(
        log.take(),
        ["A dropped", "B dropped", "C dropped", "D dropped"]
    );
}

#[test]
fn destructors_that_abort_and_spawn_during_shutdown_leave_no_freed_task_queued() {
    // The facade's shape: detached tasks each holding a group (here: abort handles) of a
    // pending child, still alive when the loop drops. Dropping a parent aborts its child
    // (queueing it); the child is cancelled and freed; the next parent's abort pushes
    // behind it. The last parent also spawns from its destructor.
    let dropped = Rc::new(Cell::new(0));
    let event_loop = EventLoop::new();
    event_loop.block_on({
        let dropped = dropped.clone();
        async move {
            fill_the_block_cache().await;
            for parent in 0..3 {
                let dropped = dropped.clone();
                drop(spawn(async move {
                    let d = dropped.clone();
                    let child: AbortHandle = spawn(pending_with_drop(move || {
                        d.set(d.get() + 1);
                    }))
                    .abort_handle();
                    let _group = OnDrop(move || {
                        child.abort();
                        dropped.set(dropped.get() + 1);
                        if parent == 2 {
                            // Spawning while the loop shuts down: cancelled before it runs.
                            drop(spawn(async { unreachable!("never polled") }));
                        }
                    });
                    std::future::pending::<()>().await
                }));
                yield_now().await; // the parent runs and spawns its child
            }
        }
    });
    drop(event_loop);
    assert_eq!(dropped.get(), 6, "three parents and three children dropped");
}

#[test]
fn a_queued_task_whose_last_reference_is_on_another_thread_is_not_touched_after_its_free() {
    // B's last reference is a waker held by another thread. During shutdown A's destructor
    // wakes B (queueing it), B is cancelled, and C's destructor makes the thread drop its
    // waker (freeing B on that thread, bypassing the cache) and then wakes D.
    let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
    let (drop_tx, drop_rx) = mpsc::channel::<()>();
    let (dropped_tx, dropped_rx) = mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        let waker = waker_rx.recv().unwrap();
        drop_rx.recv().unwrap();
        drop(waker);
        dropped_tx.send(()).unwrap();
    });
    let dropped_rx = Arc::new(Mutex::new(dropped_rx));
    let event_loop = EventLoop::new();
    event_loop.block_on(async move {
        let gate_b = Gate::new();
        let gate_d = Gate::new();
        let gb = gate_b.clone();
        let gd = gate_d.clone();
        drop(spawn(pending_with_drop(move || gb.open())));
        drop(spawn(async move {
            poll_fn(|cx| {
                waker_tx.send(cx.waker().clone()).unwrap();
                Poll::Ready(())
            })
            .await;
            gate_b.wait().await;
            std::future::pending::<()>().await
        }));
        drop(spawn(pending_with_drop(move || {
            drop_tx.send(()).unwrap();
            dropped_rx.lock().unwrap().recv().unwrap();
            gd.open();
        })));
        drop(spawn(async move {
            gate_d.wait().await;
            std::future::pending::<()>().await
        }));
        yield_now().await;
    });
    drop(event_loop);
    holder.join().unwrap();
}
