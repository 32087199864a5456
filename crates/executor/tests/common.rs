//! Small futures the tests drive by hand.
#![allow(dead_code, missing_docs, missing_debug_implementations)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A future that stays pending until `Gate::open`, keeping the last waker it was given.
#[derive(Clone, Default)]
pub struct Gate {
    inner: Rc<GateInner>,
}

#[derive(Default)]
struct GateInner {
    open: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Opens the gate and wakes whoever waits on it.
    pub fn open(&self) {
        self.inner.open.set(true);
        if let Some(waker) = self.inner.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Wakes the waiter without opening (a spurious wake, as far as it can tell).
    pub fn poke(&self) {
        if let Some(waker) = self.inner.waker.borrow().as_ref() {
            waker.wake_by_ref();
        }
    }

    /// The waker stored by the last poll.
    pub fn waker(&self) -> Option<Waker> {
        self.inner.waker.borrow().clone()
    }

    /// A future that completes once the gate is open.
    pub fn wait(&self) -> GateWait {
        GateWait(self.inner.clone())
    }
}

pub struct GateWait(Rc<GateInner>);

impl Future for GateWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.open.get() {
            Poll::Ready(())
        } else {
            *self.0.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Counts how many times the wrapped future was polled.
pub struct CountPolls<F> {
    pub count: Rc<Cell<u32>>,
    pub inner: Pin<Box<F>>,
}

pub fn count_polls<F: Future>(future: F) -> (Rc<Cell<u32>>, CountPolls<F>) {
    let count = Rc::new(Cell::new(0));
    (
        count.clone(),
        CountPolls {
            count,
            inner: Box::pin(future),
        },
    )
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.count.set(self.count.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

/// Sets a flag when dropped.
pub struct DropFlag(pub Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A shared log of events, to assert exact orders.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}
