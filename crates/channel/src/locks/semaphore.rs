//! `Semaphore`: asyncio's `Semaphore`, with FIFO hand-off of released permits.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ticket_line::{Left, TicketLine};
use super::{LoopLocal, Ticket, WakeBuffer};
use crate::waiting::{WaitingOn, waiting_on};

/// A count of permits for the tasks of one loop: asyncio's `Semaphore`. At most that
/// many tasks hold a permit at once ("only 5 fleets move at once").
///
/// [`acquire`](Semaphore::acquire) waits for a permit and gives a [`SemaphorePermit`];
/// dropping it gives the permit back.
/// [`add_permits`](Semaphore::add_permits) adds new ones (asyncio's `release()` without
/// a matching `acquire()`).
///
/// * **FIFO, with hand-off.** A permit given back while tasks wait goes to the one that
///   has waited longest, at once; no running task can take it first, not even with
///   [`try_acquire`](Semaphore::try_acquire).
/// * **Cancel-safe.** A waiting `acquire` that is dropped leaves the line; if a permit
///   had already been handed to it, it passes the permit on.
///
/// Loop-local: neither `Send` nor `Sync` (see the [module](crate::locks) documentation).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use handloop_channel::locks::Semaphore;
/// use handloop_executor::{EventLoop, spawn, yield_now};
///
/// EventLoop::new().block_on(async {
///     let permits = Rc::new(Semaphore::new(2));
///     let (busy, most) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
///     let tasks: Vec<_> = (0..6)
///         .map(|_| {
///             let (permits, busy, most) = (permits.clone(), busy.clone(), most.clone());
///             spawn(async move {
///                 let _permit = permits.acquire().await;
///                 busy.set(busy.get() + 1);
///                 most.set(most.get().max(busy.get()));
///                 yield_now().await; // the work
///                 busy.set(busy.get() - 1);
///             }) // the permit goes back here
///         })
///         .collect();
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(most.get(), 2);
///     assert_eq!(permits.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    /// Permits free for the taking. While it is above zero, no one is in line (a permit
    /// given back while tasks wait is handed over).
    permits: Cell<usize>,
    /// Every permit in existence: free, held, or handed to a waiting task (the initial
    /// ones and those added since). `add_permits` keeps it within `usize`, so that giving
    /// a permit back can never overflow the free count.
    total: Cell<usize>,
    /// Tasks waiting for a permit, each with its ticket.
    line: TicketLine<()>,
    wake: WakeBuffer,
    _loop_local: LoopLocal,
}

/// A permit of a [`Semaphore`]; dropping it gives the permit back (to the
/// longest-waiting task, if any).
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
}

/// The future returned by [`Semaphore::acquire`]: resolves to a [`SemaphorePermit`].
///
/// **Cancel-safe:** dropping it before it completes leaves the line, and passes the
/// permit on to the next waiter if one had already been handed to it.
#[must_use = "futures do nothing unless awaited"]
pub struct SemaphoreAcquire<'a> {
    semaphore: &'a Semaphore,
    /// Our ticket (our place in line), once we wait.
    waiting: Option<Ticket>,
}

impl Semaphore {
    /// A semaphore with `permits` permits (zero is allowed: every `acquire` then waits
    /// for [`add_permits`](Semaphore::add_permits)).
    pub const fn new(permits: usize) -> Self {
        Semaphore {
            permits: Cell::new(permits),
            total: Cell::new(permits),
            line: TicketLine::new(),
            wake: WakeBuffer::new(),
            _loop_local: LoopLocal {},
        }
    }

    /// Waits for a permit, then gives it. Tasks get permits in the order they asked. See
    /// [`SemaphoreAcquire`] for what dropping the future does.
    #[inline]
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire {
            semaphore: self,
            waiting: None,
        }
    }

    /// Takes a permit if one is free, without waiting; `None` otherwise. A permit handed
    /// to a waiting task is that task's: `try_acquire` never jumps the line.
    #[inline]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        // Not `then_some`: it would build (and drop, releasing) a permit when none is free.
        self.take().then(|| SemaphorePermit { semaphore: self })
    }

    /// The permits free for the taking now (not counting those handed to waiting tasks).
    #[inline]
    pub fn available_permits(&self) -> usize {
        self.permits.get()
    }

    /// Adds `n` permits: the longest-waiting tasks get them first, the rest become
    /// available.
    ///
    /// # Panics
    ///
    /// If the permits in existence (free, held or handed over) would exceed `usize::MAX`;
    /// nothing is changed then.
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        let Some(total) = self.total.get().checked_add(n) else {
            panic!(
                "Semaphore::add_permits({n}): the permits would number more than usize::MAX \
                 ({} exist, {} of them available)",
                self.total.get(),
                self.permits.get()
            );
        };
        self.total.set(total);
        let waiting = self.line.len();
        // Within `total`, which fits in a `usize`.
        let permits = self.permits.get() + n.saturating_sub(waiting);
        let mut wake = self.wake.take();
        self.line.serve_many(n, &mut wake);
        self.permits.set(permits);
        self.wake.wake_all(wake); // once all are served: a waker may come back here
    }

    /// Takes a free permit if there is one.
    #[inline]
    fn take(&self) -> bool {
        let permits = self.permits.get();
        if permits == 0 {
            return false;
        }
        self.permits.set(permits - 1);
        true
    }

    /// Gives one permit back: to the longest-waiting task, or to the free count.
    #[inline(always)]
    fn release(&self) {
        match self.line.serve_front() {
            // After the line let go: the waker may come back to this semaphore.
            Some((waker, ())) => waker.wake(),
            None => self.permits.set(self.permits.get() + 1),
        }
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

impl<'a> SemaphoreAcquire<'a> {
    /// A later poll while we wait in line: still waiting, or collect the hand-off.
    #[inline]
    fn poll_waiting(&mut self, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let semaphore = self.semaphore;
        let ticket = self.waiting.expect("waiting");
        if semaphore.line.served(ticket) {
            // Handed a permit: it is ours (and we are out of the line).
            self.waiting = None;
            return Poll::Ready(SemaphorePermit { semaphore });
        }
        semaphore.line.set_waker(ticket, cx.waker());
        waiting_on(cx, WaitingOn::Semaphore);
        Poll::Pending
    }

    /// Dropped while waiting: leave the line, or pass on a permit already handed to us.
    #[cold]
    fn leave(&mut self, ticket: Ticket) {
        let semaphore = self.semaphore;
        if let Left::Served = semaphore.line.leave(ticket) {
            semaphore.release();
        }
    }
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = SemaphorePermit<'a>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let this = self.get_mut();
        if this.waiting.is_some() {
            return this.poll_waiting(cx);
        }
        let semaphore = this.semaphore;
        if semaphore.take() {
            return Poll::Ready(SemaphorePermit { semaphore });
        }
        // The clone runs its owner's code, which may give a permit back: look again.
        let waker = cx.waker().clone();
        if semaphore.take() {
            let permit = SemaphorePermit { semaphore }; // first: if the drop panics, it goes back
            drop(waker);
            return Poll::Ready(permit);
        }
        this.waiting = Some(semaphore.line.join(waker, ()));
        waiting_on(cx, WaitingOn::Semaphore);
        Poll::Pending
    }
}

impl Drop for SemaphoreAcquire<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.waiting.take() {
            self.leave(ticket);
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("waiting", &self.line.len())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

impl fmt::Debug for SemaphoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire")
            .field("waiting", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}
