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

use std::marker::PhantomData;

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
