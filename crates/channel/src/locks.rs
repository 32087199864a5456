// asyncio's synchronization primitives for the tasks of one loop (the chapter,
// `docs/04a-locks.md`, is this module's documentation).
//
// Each keeps its waiting tasks in a line inside a `RefCell`: the primitives are
// loop-local, so they need no lock and no atomics. `Event`, `Lock`, `Semaphore` and
// `Condition` serve their waiters from the front and tell each one by its ticket
// (`TicketLine`, `locks/ticket_line.rs`); `Barrier` answers each waiter in its own slot
// (the queue's `WaitLine`, `src/line.rs`). Every operation follows the lines' rules:
// wakers are called (and dropped) only after the `RefCell` borrow ends, and each waiting
// future keeps its one ticket or key until it finishes or is dropped.

mod barrier;
mod condition;
mod event;
mod lock;
mod semaphore;
mod ticket_line;

use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::task::Waker;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult, BrokenBarrier};
pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard};
pub use semaphore::{Semaphore, SemaphoreAcquire, SemaphorePermit};

/// Makes a primitive neither `Send` nor `Sync`: it belongs to the thread (and so the loop)
/// that made it, like the loop's tasks. Its state is in `Cell`s and `RefCell`s, which
/// would already rule out `Sync`; ruling out `Send` too says what the primitives are for,
/// and leaves room for them to keep loop-local things (task ids, say).
type LoopLocal = PhantomData<*const ()>;

/// A waiter's number, drawn when it joins its primitive's line (see `ticket_line.rs`).
/// Tickets start at 1, so a waiting future's `Option<Ticket>` is one word (0: not in
/// line), set and tested with one instruction each.
type Ticket = std::num::NonZeroU64;
const _: () = assert!(size_of::<Option<Ticket>>() == size_of::<Ticket>());

/// The wakers an operation that wakes many (`Event::set`, `Condition::notify_all`,
/// `Barrier`'s release, `Semaphore::add_permits`) collects while it serves its line, to
/// wake once the line has let go: the line's `WakeList`, with its buffer kept for next time,
/// so that waking a crowd allocates nothing once the buffer has grown.
struct WakeBuffer(Cell<Vec<Waker>>);

impl WakeBuffer {
    const fn new() -> Self {
        WakeBuffer(Cell::new(Vec::new()))
    }

    /// The (empty) buffer, to fill while the line is borrowed.
    #[inline]
    fn take(&self) -> Vec<Waker> {
        self.0.take()
    }

    /// Wakes everyone collected, in order, after the borrow, and keeps the buffer. (A
    /// waker that comes back and wakes a crowd itself meanwhile finds no buffer and
    /// makes its own; whichever is put back last is kept.)
    ///
    /// Every task here was already served: a `wake` that panics (an executor whose run
    /// queue is full, say) does not stop the others from being woken; the first panic
    /// goes on to the caller once all are.
    #[inline]
    fn wake_all(&self, mut wakers: Vec<Waker>) {
        let mut panicked = None;
        for waker in wakers.drain(..) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                panicked.get_or_insert(payload);
            }
        }
        self.0.set(wakers);
        if let Some(payload) = panicked {
            resume_unwind(payload);
        }
    }
}

impl std::fmt::Debug for WakeBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeBuffer").finish_non_exhaustive()
    }
}
