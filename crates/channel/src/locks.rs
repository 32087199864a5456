// asyncio's synchronization primitives for the tasks of one loop (the chapter,
// `docs/04a-locks.md`, is this module's documentation).
//
// Each keeps its waiting tasks in a `WaitLine` (`src/line.rs`), the line the queue uses,
// inside a `RefCell`: the primitives are loop-local, so they need no lock and no atomics.
// Every operation follows the line's two rules: wakers are called (and dropped) only
// after the `RefCell` borrow ends, and each waiting future keeps the one key to its place
// in line until it finishes or is dropped.

mod barrier;
mod condition;
mod event;
mod lock;
mod semaphore;

use std::cell::Cell;
use std::marker::PhantomData;
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

/// A waiter's number, drawn when it joins its primitive's line.
type Ticket = u64;

/// Tells a waiter whether it was served, without a look at the line.
///
/// A primitive serves a waiter with `WaitLine::pop_front`, which frees the waiter's slot
/// at once (its key dies with it), so the waiter must learn from something else that it
/// was served. Each waiter draws a ticket when it joins the line, and tickets only grow;
/// the line is FIFO, so every waiter still in line holds a ticket above every ticket
/// served (a waiter that leaves early is simply never served). Remembering the last
/// ticket served is then enough: a waiter was served exactly when its ticket is not above
/// it. Collecting a hand-off is one comparison, with no borrow of the line.
#[derive(Debug)]
struct Tickets {
    /// The next ticket to draw.
    next: Cell<Ticket>,
    /// The last ticket served (0: none yet).
    served: Cell<Ticket>,
}

impl Tickets {
    const fn new() -> Self {
        Tickets {
            next: Cell::new(1),
            served: Cell::new(0),
        }
    }

    /// A ticket for a waiter joining the line.
    #[inline]
    fn draw(&self) -> Ticket {
        let ticket = self.next.get();
        self.next.set(ticket + 1);
        ticket
    }

    /// The waiter holding `ticket` was just taken from the front of the line and served.
    #[inline]
    fn serve(&self, ticket: Ticket) {
        debug_assert!(ticket > self.served.get(), "served in line order");
        self.served.set(ticket);
    }

    /// Whether the waiter holding `ticket` was served.
    #[inline]
    fn served(&self, ticket: Ticket) -> bool {
        ticket <= self.served.get()
    }
}

/// The wakers an operation that wakes many (`Event::set`, `Condition::notify_all`,
/// `Barrier`'s release, `Semaphore::add_permits`) collects while it borrows its line, to
/// wake once the borrow ends: the line's `WakeList`, with its buffer kept for next time,
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
    #[inline]
    fn wake_all(&self, mut wakers: Vec<Waker>) {
        wakers.drain(..).for_each(Waker::wake);
        self.0.set(wakers);
    }
}

impl std::fmt::Debug for WakeBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeBuffer").finish_non_exhaustive()
    }
}
