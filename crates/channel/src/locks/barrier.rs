//! `Barrier`: asyncio's `Barrier`, a meeting point for a fixed number of tasks.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::{LoopLocal, WakeBuffer};
use crate::line::{Key, Removed, WaitLine};
use crate::waiting::{WaitingOn, waiting_on};

/// A meeting point for `parties` tasks of one loop: asyncio's `Barrier`. Each task's
/// [`wait`](Barrier::wait) waits until `parties` tasks are waiting; then all of them go
/// on at once, and the barrier is ready for the next round.
///
/// * **The leader.** Exactly one task per round gets
///   [`is_leader()`](BarrierWaitResult::is_leader): the one whose arrival filled the
///   barrier (asyncio returns an arrival index instead; its last is the leader here).
/// * **Hand-off.** A round's release answers every waiting task at that moment: each
///   has its result even before it runs, and is not counted in the next round. A task
///   may wait again at once; it joins the next round.
/// * **Broken.** [`abort`](Barrier::abort) breaks the barrier: the waiting tasks and
///   every later `wait` get [`BrokenBarrier`] (asyncio's `BrokenBarrierError`) until
///   [`reset`](Barrier::reset), which gives the error to the tasks waiting then and
///   makes the barrier whole and empty again.
/// * **Cancel-safe.** A waiting task dropped before its round ends leaves the barrier:
///   one fewer is waiting.
///
/// Loop-local: neither `Send` nor `Sync` (see the [module](crate::locks) documentation).
///
/// ```
/// use std::rc::Rc;
/// use handloop_channel::locks::Barrier;
/// use handloop_executor::{EventLoop, spawn};
///
/// EventLoop::new().block_on(async {
///     let start = Rc::new(Barrier::new(3));
///     let fleets: Vec<_> = (0..3)
///         .map(|_| {
///             let start = start.clone();
///             spawn(async move { start.wait().await.unwrap().is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for fleet in fleets {
///         leaders += usize::from(fleet.await.unwrap());
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    parties: usize,
    broken: Cell<bool>,
    /// This round's waiting tasks, each with the outcome it is answered with.
    line: RefCell<WaitLine<Result<(), BrokenBarrier>>>,
    wake: WakeBuffer,
    _loop_local: LoopLocal,
}

/// What [`Barrier::wait`] returns when the round completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this task is the round's leader: the one whose arrival filled the
    /// barrier. Exactly one task per round is.
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

/// The barrier was aborted (or reset while this task waited): asyncio's
/// `BrokenBarrierError`, returned as a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BrokenBarrier;

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken (aborted, or reset while this task waited)")
    }
}

impl std::error::Error for BrokenBarrier {}

/// The future returned by [`Barrier::wait`].
///
/// **Cancel-safe:** dropped before its round ends, it leaves the barrier (one fewer
/// waiting); dropped after, it loses only its own result.
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    /// Our place in this round's line, once we wait.
    key: Option<Key>,
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    ///
    /// If `parties` is zero: no round could ever start (asyncio: `ValueError`).
    #[track_caller]
    pub const fn new(parties: usize) -> Self {
        assert!(
            parties > 0,
            "Barrier::new(0): a barrier needs at least one party"
        );
        Barrier {
            parties,
            broken: Cell::new(false),
            line: RefCell::new(WaitLine::new()),
            wake: WakeBuffer::new(),
            _loop_local: LoopLocal {},
        }
    }

    /// Waits until `parties` tasks wait, then returns for all of them at once: `Ok` with
    /// whether this task leads the round, or `Err(BrokenBarrier)` if the barrier is or
    /// gets broken (or is reset) first. See [`BarrierWait`] for what dropping the future
    /// does.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
        }
    }

    /// Breaks the barrier: the waiting tasks, and every `wait` from now on, get
    /// [`BrokenBarrier`] until [`reset`](Barrier::reset). Use it when a party cannot come
    /// (it failed), so that the others do not wait forever.
    pub fn abort(&self) {
        self.broken.set(true);
        self.answer_all(Err(BrokenBarrier));
    }

    /// Makes the barrier whole and empty again: the tasks waiting now get
    /// [`BrokenBarrier`]; later calls to `wait` start a new round.
    pub fn reset(&self) {
        self.broken.set(false);
        self.answer_all(Err(BrokenBarrier));
    }

    /// The number of tasks needed to complete a round.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of tasks waiting in the current round.
    pub fn n_waiting(&self) -> usize {
        self.line.borrow().len()
    }

    /// Whether the barrier is broken (see [`abort`](Barrier::abort)).
    pub fn is_broken(&self) -> bool {
        self.broken.get()
    }

    /// Whether the party behind `key` still waits, its waker now `waker` (cloned, if it
    /// changed, outside the borrow: a clone runs its owner's code, which may come back to
    /// this barrier, even end the round).
    fn still_waits(&self, key: &Key, waker: &Waker) -> bool {
        let line = self.line.borrow();
        if !line.is_waiting(key) {
            return false;
        }
        if line.will_wake(key, waker) {
            return true;
        }
        drop(line);
        let waker = waker.clone();
        let mut line = self.line.borrow_mut();
        if !line.is_waiting(key) {
            drop(line);
            drop(waker); // answered while it was cloned: after the borrow
            return false;
        }
        let replaced = line.replace_waker(key, waker);
        drop(line);
        drop(replaced); // after the borrow: a waker's drop runs its owner's code
        true
    }

    /// Answers every waiting task with `outcome` and wakes them.
    fn answer_all(&self, outcome: Result<(), BrokenBarrier>) {
        let mut line = self.line.borrow_mut();
        let mut wake = self.wake.take();
        while let Some((waker, answer)) = line.answer_front() {
            *answer = outcome;
            wake.push(waker);
        }
        drop(line);
        self.wake.wake_all(wake); // after the borrow: a waker may come back to this barrier
    }
}

impl Future for BarrierWait<'_> {
    type Output = Result<BarrierWaitResult, BrokenBarrier>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let barrier = this.barrier;
        if let Some(key) = &this.key {
            if barrier.still_waits(key, cx.waker()) {
                waiting_on(cx, WaitingOn::Barrier);
                return Poll::Pending;
            }
            let key = this.key.take().expect("waiting");
            let Removed::Answered(outcome) = barrier.line.borrow_mut().remove(key) else {
                unreachable!("a waiter out of line was answered")
            };
            return Poll::Ready(outcome.map(|()| BarrierWaitResult { leader: false }));
        }
        // A waker's clone runs its owner's code, which may come back to this barrier: it
        // is made before the line is borrowed, and the barrier looked at again after it.
        // (At most two rounds: the second has the clone.)
        let mut waker = None;
        loop {
            if barrier.broken.get() {
                drop(waker);
                return Poll::Ready(Err(BrokenBarrier));
            }
            let mut line = barrier.line.borrow_mut();
            if line.len() + 1 >= barrier.parties {
                // We complete the round: everyone waiting goes on, and we lead.
                drop(line);
                drop(waker);
                barrier.answer_all(Ok(()));
                return Poll::Ready(Ok(BarrierWaitResult { leader: true }));
            }
            match waker.take() {
                Some(waker) => {
                    this.key = Some(line.push_back_with(waker, Ok(())));
                    waiting_on(cx, WaitingOn::Barrier);
                    return Poll::Pending;
                }
                None => {
                    drop(line);
                    waker = Some(cx.waker().clone());
                }
            }
        }
    }
}

impl Drop for BarrierWait<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let removed = self.barrier.line.borrow_mut().remove(key);
            // Still waiting: we leave (one fewer). Answered: the round went on without
            // needing us again; only our result is dropped.
            drop(removed); // its waker, after the borrow
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
