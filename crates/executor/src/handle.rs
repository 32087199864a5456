//! `Handle`: how other threads reach a loop (asyncio's `loop.call_soon_threadsafe` and
//! `asyncio.run_coroutine_threadsafe`).
//!
//! A loop's tasks and ready queue live on its thread; the only part other threads touch is
//! its `Shared` half, where the remote queue is. A [`Handle`] is a pointer to that half,
//! kept alive by a ticket (`shared.rs`), so it stays valid after the loop is gone and can
//! then say so ([`LoopClosed`]). Everything it sends goes into the same remote queue as
//! wakes from other threads, in one FIFO order: the loop applies the entries at the start
//! of its next turn, in the order they were pushed, putting each task or callback at the
//! back of the ready queue. Pushing unparks the loop, so a sleeping loop wakes up for it.

use std::fmt;
use std::future::Future;
use std::ptr::NonNull;

use crate::context::with_core;
use crate::core::Core;
use crate::remote::Remote;
use crate::shared::Shared;
use crate::soon::Callback;
use crate::task::header::Kind;
use crate::task::remote::{Launch, RemoteJoinHandle};

/// A handle on an event loop that any thread can use to run work on it: `Clone`, `Send`
/// and `Sync` (asyncio's loop object, as seen from other threads).
///
/// Get one with [`Handle::current`] inside a loop, or from the loop itself
/// ([`EventLoop::handle`](crate::EventLoop::handle)), then send it anywhere:
///
/// - [`call_soon_threadsafe`](Handle::call_soon_threadsafe) runs a closure on the loop;
/// - [`spawn`](Handle::spawn) runs a `Send` future there as a task;
/// - [`spawn_with`](Handle::spawn_with) sends a closure that *builds* the future on the
///   loop's thread, for futures that are not `Send` (anything holding a timer, an `Rc`, a
///   socket of that loop).
///
/// Both spawns return a [`RemoteJoinHandle`], which is `Send` and can be awaited from any
/// thread, loop or executor. Once the loop is dropped, `call_soon_threadsafe` returns
/// [`LoopClosed`] and spawned handles resolve to a cancelled [`JoinError`](crate::JoinError).
///
/// ```
/// use std::thread;
/// use handloop_executor::{EventLoop, Handle};
///
/// let event_loop = EventLoop::new();
/// let handle = event_loop.handle();
/// let answer = thread::spawn(move || handle.spawn(async { 6 * 7 }));
/// // The task runs on the loop; the handle it returned was made on the other thread.
/// let task = answer.join().unwrap();
/// assert_eq!(event_loop.block_on(task).unwrap(), 42);
/// ```
pub struct Handle {
    /// Owns one ticket of the loop's `Shared`.
    shared: NonNull<Shared>,
}

// SAFETY: a handle only reaches the loop's `Shared` (a mutex-protected queue, an atomic
// count and a thread-safe unparker: `Send + Sync`), and its ticket keeps it alive on any
// thread; giving the ticket back is an atomic decrement.
unsafe impl Send for Handle {}
// SAFETY: as above; every method takes `&self` and touches only `Shared`.
unsafe impl Sync for Handle {}

/// `call_soon_threadsafe` found the loop gone (asyncio raises "Event loop is closed").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopClosed;

impl fmt::Display for LoopClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the event loop is closed: it was dropped, and runs nothing any more")
    }
}

impl std::error::Error for LoopClosed {}

impl Handle {
    /// A handle on `core`'s loop, taking one of its spare tickets (no atomic).
    pub(crate) fn of(core: &Core) -> Handle {
        core.shared().handle_made();
        Handle {
            shared: core.take_ticket(),
        }
    }

    /// A handle on the loop running on this thread (asyncio's `get_running_loop()`).
    ///
    /// # Panics
    /// With no loop running on this thread: get the handle from the loop itself
    /// (`EventLoop::handle`, `Runtime::handle`) and send it to the thread that needs it.
    #[track_caller]
    pub fn current() -> Handle {
        match with_core(Handle::of) {
            Some(handle) => handle,
            None => panic!(
                "Handle::current() called with no running event loop on this thread: call \
                 it inside the loop (a task, or block_on's future), or get the handle from \
                 the loop itself (EventLoop::handle, handloop::Runtime::handle) and send it \
                 to this thread"
            ),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        // SAFETY: this handle owns a ticket, which keeps `Shared` alive.
        unsafe { self.shared.as_ref() }
    }

    /// Calls `f` with this handle's loop if it is the one running on this thread, and
    /// gives back its result; gives `f` back otherwise.
    pub(crate) fn on_own_loop<R, F: FnOnce(&Core) -> R>(&self, f: F) -> Result<R, F> {
        let mut f = Some(f);
        let ran = with_core(|core| {
            core.is(self.shared)
                .then(|| (f.take().expect("called once"))(core))
        });
        match (ran, f) {
            (Some(Some(result)), _) => Ok(result),
            (_, Some(f)) => Err(f),
            (_, None) => unreachable!("`f` is taken only when it runs"),
        }
    }

    /// Sends the loop something to schedule at the start of its next turn, and wakes it.
    fn send(&self, entry: Remote) -> Result<(), Remote> {
        let shared = self.shared();
        shared.remote.push(entry)?;
        shared.unparker.unpark();
        Ok(())
    }

    /// Runs `f` on the loop's thread, as a callback at the back of its ready queue
    /// (asyncio's `loop.call_soon_threadsafe`): FIFO with every other callback, spawn and
    /// wake sent to the loop, and then with its ready tasks. A panic in `f` is reported on
    /// stderr, as for [`call_soon`](crate::call_soon); the loop goes on.
    ///
    /// Called on the loop's own thread it is `call_soon`.
    ///
    /// # Errors
    /// [`LoopClosed`] once the loop has been dropped, or while it is being dropped (a
    /// destructor its drop runs sends the callback): `f` is then dropped unrun, here.
    pub fn call_soon_threadsafe(
        &self,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<(), LoopClosed> {
        let here = self.on_own_loop(|core| {
            if core.is_closing() {
                return Err(LoopClosed); // `f` is dropped unrun as this closure returns
            }
            core.spawn(Callback::new(f), Kind::Callback, None);
            Ok(())
        });
        match here {
            Ok(sent) => sent,
            Err(spawn_there) => self
                .send(Remote::Schedule(Box::new(move |core: &Core| {
                    // Applied by the loop at its next turn; if it is closing by then, the
                    // callback is dropped unrun there (the sender was told `Ok` already).
                    let _ = spawn_there(core);
                })))
                .map_err(|_| LoopClosed),
        }
    }

    /// Runs `future` as a task on the loop (asyncio's `run_coroutine_threadsafe`, tokio's
    /// `Handle::spawn`), and returns a handle to await its output from anywhere.
    ///
    /// The future must be `Send`, since it is made here and moved to the loop's thread.
    /// handloop's timer futures (`sleep`, `timeout`, `interval`) and I/O futures are bound
    /// to the loop they were created on and are not `Send`: a future that uses them must
    /// be built on the loop, with [`spawn_with`](Handle::spawn_with).
    ///
    /// The task is queued at the start of the loop's next turn, FIFO with everything else
    /// sent to the loop. If the loop is gone, the returned handle resolves to a cancelled
    /// `JoinError`.
    pub fn spawn<F>(&self, future: F) -> RemoteJoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(move || future)
    }

    /// Sends `build` to the loop's thread, calls it there, and runs the future it returns
    /// as a task (tokio-util's `spawn_pinned`). The future need not be `Send`: it is made,
    /// polled and dropped on the loop's thread only. Its output must be `Send`, to travel
    /// back to whoever awaits the returned handle.
    ///
    /// A panic in `build` is the task's panic: the handle reports it.
    pub fn spawn_with<F, Fut>(&self, build: F) -> RemoteJoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        // One allocation: the slot the task and the handle share, `build`, and room for the
        // task, which the loop writes there.
        let (launch, handle) = Launch::new(build);
        let mut launch = Some(launch);
        let _ = self.on_own_loop(|core| launch.take().expect("once").start(core));
        if let Some(launch) = launch {
            // If the loop is gone the entry comes back and is dropped here: the launch
            // then drops `build` and resolves the handle as cancelled.
            let _ = self.send(Remote::Spawn(launch));
        }
        handle
    }

    /// Every live task of the loop, from any thread: the same [`TaskDump`](crate::debug::TaskDump)
    /// as [`debug::dump`](crate::debug::dump) gives on the loop's thread (asyncio's
    /// `python -m asyncio ps <pid>`, from outside).
    ///
    /// On the loop's own thread it dumps directly. From another thread it sends the loop a
    /// callback that makes the dump (FIFO with everything else sent to the loop, so it is
    /// made at the start of the loop's next turn) and waits for the answer, at most
    /// [`DUMP_WAIT`](crate::debug::DUMP_WAIT) (1 s). A loop that does not answer by then
    /// is held by a poll that does not yield, or nothing is running it: the dump then has
    /// no tasks and says so ([`TaskDump::unanswered`](crate::debug::TaskDump::unanswered)),
    /// naming, in debug mode, the task whose poll is running and for how long. A dropped
    /// loop gives a dump that says the loop is closed. It never panics.
    pub fn dump(&self) -> crate::debug::TaskDump {
        crate::debug::dump_by_handle(self, crate::debug::DUMP_WAIT)
    }

    /// Whether the loop has been dropped (then `call_soon_threadsafe` fails and spawned
    /// tasks are cancelled at once).
    pub fn is_closed(&self) -> bool {
        self.shared().remote.is_closed()
    }

    /// How many tasks are alive on the loop (spawned and not yet finished, `call_soon`
    /// callbacks not yet run included), as the loop last published it: one relaxed load,
    /// from any thread. A task sent through a handle counts from the turn that applies it.
    /// A `LoopPool` reads it to place a task on its least busy loop.
    pub fn live_tasks(&self) -> usize {
        self.shared().live_tasks()
    }
}

impl Clone for Handle {
    fn clone(&self) -> Handle {
        // Our ticket keeps `Shared` alive while we buy another one.
        self.shared().buy(1);
        self.shared().handle_made();
        Handle {
            shared: self.shared,
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared().handle_dropped();
        // SAFETY: this handle owns one ticket and never uses it again.
        unsafe { Shared::give_back(self.shared, 1) };
    }
}

impl PartialEq for Handle {
    /// Two handles are equal when they reach the same loop.
    fn eq(&self, other: &Handle) -> bool {
        self.shared == other.shared
    }
}

impl Eq for Handle {}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("loop", &self.shared)
            .field("closed", &self.is_closed())
            .field("live_tasks", &self.live_tasks())
            .finish()
    }
}
