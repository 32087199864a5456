//! Polling many futures in place, each with its own waker, so that a wake costs only the
//! futures that were woken: the engine under `gather`, `try_gather`, `select`,
//! `as_completed` and `wait`.
//!
//! Every child gets a waker that records its index in a shared "woken" list and wakes the
//! parent. When the parent is polled it polls only the children on that list, so gathering
//! 10,000 futures costs O(woken) per wake, not O(10,000). `as_completed` and `wait` sit on
//! it too.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use handloop_waker::ArcWake;

/// What the children's wakers share with the parent.
#[derive(Debug, Default)]
struct Shared {
    /// Indices woken since the parent last looked, in wake order.
    woken: Mutex<Vec<usize>>,
    /// The parent's waker.
    parent: Mutex<Option<Waker>>,
}

/// One child's waker.
#[derive(Debug)]
struct ChildWaker {
    shared: Arc<Shared>,
    index: usize,
    /// Already on the woken list (so a burst of wakes records it once).
    queued: AtomicBool,
}

impl ArcWake for ChildWaker {
    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.shared.woken).push(self.index);
        if let Some(parent) = lock(&self.shared.parent).as_ref() {
            parent.wake_by_ref();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A set of futures polled in place; yields `(index, output)` as each completes.
pub(crate) struct Children<F: Future> {
    futures: Vec<Option<Pin<Box<F>>>>,
    /// Each child's waker state, and the `Waker` made from it once.
    wakers: Vec<(Arc<ChildWaker>, Waker)>,
    shared: Arc<Shared>,
    /// Indices taken from the woken list and not yet polled.
    batch: Vec<usize>,
    remaining: usize,
}

impl<F: Future> Children<F> {
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> Self {
        let futures: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
        let shared = Arc::new(Shared::default());
        let wakers = (0..futures.len())
            .map(|index| {
                let child = Arc::new(ChildWaker {
                    shared: shared.clone(),
                    index,
                    queued: AtomicBool::new(true),
                });
                let waker = handloop_waker::waker(child.clone());
                (child, waker)
            })
            .collect();
        let remaining = futures.len();
        Children {
            // Every child starts out "woken": the first poll polls them all, in order.
            batch: (0..remaining).rev().collect(),
            futures,
            wakers,
            shared,
            remaining,
        }
    }

    /// How many futures there were.
    pub(crate) fn len(&self) -> usize {
        self.futures.len()
    }

    /// How many have not completed yet.
    pub(crate) fn remaining(&self) -> usize {
        self.remaining
    }

    /// Drops every future still running.
    pub(crate) fn drop_all(&mut self) {
        self.futures.clear();
        self.batch.clear();
        self.remaining = 0;
    }

    /// Takes out the futures that have not completed, with their indices, in index order.
    /// Their wakers may still be held somewhere (a `JoinHandle` keeps the last one it was
    /// polled with): from now on they wake nobody.
    pub(crate) fn take_remaining(&mut self) -> Vec<(usize, F)>
    where
        F: Unpin,
    {
        lock(&self.shared.parent).take();
        self.batch.clear();
        self.remaining = 0;
        self.futures
            .iter_mut()
            .enumerate()
            .filter_map(|(index, future)| Some((index, *Pin::into_inner(future.take()?))))
            .collect()
    }

    /// Polls the woken children until one completes; `Ready(None)` once all have.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, F::Output)>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        {
            let mut parent = lock(&self.shared.parent);
            if !parent.as_ref().is_some_and(|p| p.will_wake(cx.waker())) {
                *parent = Some(cx.waker().clone());
            }
        }
        loop {
            if self.batch.is_empty() {
                let mut woken = lock(&self.shared.woken);
                if woken.is_empty() {
                    return Poll::Pending;
                }
                // Poll in wake order: `batch` is popped from the back.
                self.batch.extend(woken.drain(..).rev());
            }
            while let Some(index) = self.batch.pop() {
                let (child, waker) = &self.wakers[index];
                child.queued.store(false, Ordering::Release);
                let Some(future) = self.futures[index].as_mut() else {
                    continue; // completed earlier; a late wake
                };
                if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(waker)) {
                    self.futures[index] = None;
                    self.remaining -= 1;
                    return Poll::Ready(Some((index, output)));
                }
            }
        }
    }
}
