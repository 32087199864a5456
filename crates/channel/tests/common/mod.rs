//! What the test files share: a `Runtime` trait so each scenario runs on several
//! executors, and small hand-made wakers for polling futures by hand.
#![allow(dead_code)] // each test file uses a part of this

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::LocalSpawnExt;
use handloop_channel::oneshot;

/// A spawned task's result, as a future.
pub type Task<T> = Pin<Box<dyn Future<Output = T>>>;

/// An executor a scenario can run on: run a main future, spawn tasks from inside it.
pub trait Runtime {
    /// Runs `main` to completion on a fresh executor.
    fn block_on<F: Future + 'static>(main: F) -> F::Output;
    /// Spawns a task on the executor that runs the current `block_on`.
    fn spawn<F>(task: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
}

/// tokio's current-thread runtime.
pub struct Tokio;

impl Runtime for Tokio {
    fn block_on<F: Future + 'static>(main: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio current-thread runtime")
            .block_on(main)
    }

    fn spawn<F>(task: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::spawn(task);
        Box::pin(async move { handle.await.expect("the task did not panic") })
    }
}

/// futures' `LocalPool`, a single-thread executor with its own ready queue.
pub struct FuturesLocalPool;

thread_local! {
    static SPAWNER: RefCell<Option<futures::executor::LocalSpawner>> = const { RefCell::new(None) };
}

impl Runtime for FuturesLocalPool {
    fn block_on<F: Future + 'static>(main: F) -> F::Output {
        let mut pool = futures::executor::LocalPool::new();
        SPAWNER.with(|s| *s.borrow_mut() = Some(pool.spawner()));
        let output = pool.run_until(main);
        SPAWNER.with(|s| *s.borrow_mut() = None);
        output
    }

    fn spawn<F>(task: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // The join handle is our own oneshot: the crate under test carries the result.
        let (tx, rx) = oneshot::channel();
        SPAWNER.with(|s| {
            let spawner = s.borrow();
            let spawner = spawner
                .as_ref()
                .expect("spawn inside FuturesLocalPool::block_on");
            spawner
                .spawn_local(async move {
                    let _ = tx.send(task.await);
                })
                .expect("the pool is running");
        });
        Box::pin(async move { rx.await.expect("the task ran to completion") })
    }
}

/// handloop's own event loop (step 2).
pub struct Handloop;

impl Runtime for Handloop {
    fn block_on<F: Future + 'static>(main: F) -> F::Output {
        handloop_executor::EventLoop::new().block_on(main)
    }

    fn spawn<F>(task: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = handloop_executor::spawn(task);
        Box::pin(async move { handle.await.expect("the task did not panic") })
    }
}

/// Runs each scenario on every runtime, as one `#[test]` per runtime.
#[macro_export]
macro_rules! on_every_runtime {
    ($($scenario:ident),* $(,)?) => {
        mod handloop_event_loop {
            $( #[test] fn $scenario() { super::$scenario::<$crate::common::Handloop>() } )*
        }
        mod tokio_current_thread {
            $( #[test] fn $scenario() { super::$scenario::<$crate::common::Tokio>() } )*
        }
        mod futures_local_pool {
            $( #[test] fn $scenario() { super::$scenario::<$crate::common::FuturesLocalPool>() } )*
        }
    };
}

/// Gives the other tasks a turn: wakes itself, returns `Pending` once.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Yields a few times, so every other ready task runs until it waits.
pub async fn settle() {
    for _ in 0..8 {
        yield_now().await;
    }
}

/// A waker that counts its wakes, for polling futures by hand.
#[derive(Default)]
pub struct CountingWaker(AtomicUsize);

impl CountingWaker {
    pub fn new() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    pub fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `fut` once with `waker`.
pub fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}
