#![doc = include_str!("../../../docs/05-handloop.md")]
#![forbid(unsafe_code)]

mod as_completed;
mod blocking;
mod children;
mod gather;
mod loop_pool;
mod runtime;
mod task_group;
mod wait;

pub use as_completed::{AsCompleted, as_completed};
pub use blocking::{ToThread, to_thread};
pub use gather::{Gather, Select, TryGather, gather, select, try_gather};
pub use loop_pool::LoopPool;
pub use runtime::{Builder, Runtime, run};
pub use task_group::{ChildPanic, TaskGroup, TaskGroupError};
pub use wait::{ReturnWhen, Wait, wait};

// Tasks (step 2).
pub use handloop_executor::task::{all_tasks, current_task};
pub use handloop_executor::{JoinError, JoinHandle, call_soon, spawn, yield_now};

// Threads: reaching a loop from anywhere.
pub use handloop_executor::{Handle, LoopClosed, RemoteJoinHandle};

// Time (step 3).
pub use handloop_timer::{
    Elapsed, Timeout, TimerHandle, call_at, call_later, interval, sleep, sleep_until, timeout,
    timeout_at,
};

// Channels (step 4): asyncio's three queues, one implementation in three orders.
pub use handloop_channel::{
    Closed, LifoQueue, PriorityQueue, Queue, TryGetError, TryPutError, oneshot,
};

// Synchronization (step 4's waiting lines, loop-local).
pub use handloop_channel::locks::{
    Barrier, BarrierWaitResult, BrokenBarrier, Condition, Event, Lock, LockGuard, Semaphore,
    SemaphorePermit,
};

/// Every live task of the loop running on this thread, and what each waits on: a table
/// in the spirit of Python 3.14's `python -m asyncio ps`, then the tree of who awaits whom
/// (`pstree`), with cycles named. Print it (`println!("{}", handloop::dump())`) or look at
/// its rows.
///
/// ```
/// use std::time::Duration;
///
/// let runtime = handloop::Runtime::builder().virtual_time().build()?;
/// runtime.block_on(async {
///     let fetch = handloop::task::Builder::new()
///         .name("fetch")
///         .spawn(handloop::sleep(Duration::from_millis(1200)));
///     handloop::yield_now().await; // let it start
///     let dump = handloop::dump();
///     let row = dump.task(fetch.id().as_u64()).unwrap();
///     assert_eq!(dump.waiting_on_text(row), "sleep until +1.200s");
///     fetch.await.unwrap();
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
/// With no loop running on this thread.
pub fn dump() -> debug::TaskDump {
    handloop_executor::debug::dump(None) // sleeps against the loop's clock (the timer's)
}

/// Seeing the loop: the task dump's types, and the trace checker.
pub mod debug {
    pub use handloop_debug::trace::{TraceError, TraceSummary, check_trace};
    pub use handloop_executor::debug::{
        DUMP_WAIT, PollNow, QueueKind, TaskDump, TaskRow, TaskStatus, Unanswered, WaitingOn,
    };
}

/// Tasks: spawning with options, handles, ids, states (step 2's executor).
pub mod task {
    pub use handloop_executor::task::{
        AbortHandle, Builder, JoinError, JoinHandle, RemoteJoinHandle, TaskId, TaskInfo, TaskState,
        all_tasks, current_task, spawn,
    };
    pub use handloop_executor::{YieldNow, yield_now};
}

/// Time: the loop's clock, sleeps, timeouts, intervals and timed callbacks (step 3's timer).
pub mod time {
    pub use handloop_timer::{
        ClockHold, Elapsed, Interval, MissedTickBehavior, Sleep, Timeout, TimerHandle, call_at,
        call_later, hold_clock, interval, interval_at, now, outstanding_holds, sleep, sleep_until,
        timeout, timeout_at,
    };
}

/// Synchronization for the tasks of one loop: asyncio's `Event`, `Lock`, `Semaphore`,
/// `Condition` and `Barrier`, FIFO with hand-off (step 4's waiting lines).
///
/// They are loop-local, like the loop's tasks: neither `Send` nor `Sync`. Between
/// threads, use a [`Queue`] or a [`oneshot`]. The chapter
/// is [`handloop_channel::locks`].
pub mod sync {
    pub use handloop_channel::locks::{
        Barrier, BarrierWait, BarrierWaitResult, BrokenBarrier, Condition, ConditionWait, Event,
        EventWait, Lock, LockAcquire, LockGuard, Semaphore, SemaphoreAcquire, SemaphorePermit,
    };
}

/// Networking: TCP and UDP sockets on the loop's poller (step 5's I/O).
pub mod net {
    pub use handloop_io::net::{TcpListener, TcpStream, UdpSocket};
}

/// I/O on any file descriptor: [`Async`](io::Async), the core the sockets are built on
/// (step 5).
pub mod io {
    pub use handloop_io::Async;
}

/// Signals: Ctrl-C as an event on the loop (step 5).
pub mod signal {
    pub use handloop_io::signal::{CtrlC, ctrl_c};
}

/// The book's first chapter: why an event loop, what `await` hands back, and the plan.
#[doc = include_str!("../../../docs/00-overview.md")]
pub mod overview {}

/// The book's chapter on threads: one loop per thread, and blocking calls.
#[doc = include_str!("../../../docs/07-threads.md")]
pub mod threads {}

/// Between steps 1 and 2: the questions Rust asks and asyncio never did (`Pin`, `poll_fn`,
/// `'static`, `Send` wakers, spurious wakes, blocking the loop's thread).
#[doc = include_str!("../../../docs/01a-rust-questions.md")]
pub mod rust_questions {}

/// The appendix: hints and answers to every chapter's exercises.
#[doc = include_str!("../../../docs/answers.md")]
pub mod answers {}

#[doc(hidden)]
pub mod __private {
    pub use crate::gather::tuple::gather_tuple;
}
