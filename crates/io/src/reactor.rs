//! The reactor: every source registered with the loop's poller, and the tasks waiting on
//! them.
//!
//! It lives on the loop's thread (the driver installs it as a thread-local while the loop
//! runs), so readiness is a plain `bool` per direction and a waker list, with no atomics.
//! Sources sit in a slab; the poller hands back a token made of the slot's index and a
//! generation that changes whenever the slot is freed, so an event for a source that is
//! gone (its fd number and slot perhaps already reused) is recognised and ignored.

use handloop_executor::debug::{WaitingOn, record_waiting_in, trace_instant};
use handloop_executor::{BusyPark, Turns};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use mio::{Interest, Token};

pub(crate) use crate::sources::{Dir, WaitSlot};
use crate::sources::{Slab, WaiterKey, token, untoken};

/// The token of the poller's waker (the eventfd other threads write to wake the loop).
pub(crate) const WAKE_TOKEN: Token = Token(usize::MAX);

/// How many I/O operations one task may complete in one poll, in one loop turn, before it
/// is made to yield. A socket that always has data would otherwise keep its reader running
/// forever, starving timers and every other task; tokio's budget is the same 128.
const BUDGET: u32 = 128;

/// The per-task budget of [`BUDGET`] operations, renewed each turn and for each task.
#[derive(Clone, Copy)]
struct Coop {
    turn: u64,
    task: *const (),
    left: u32,
}

/// One loop's poller and sources.
pub(crate) struct Reactor {
    /// The OS poller. Borrowed mutably only inside `Poll::poll` (no user code runs there),
    /// shared for registering and deregistering.
    pub(crate) poll: RefCell<mio::Poll>,
    sources: RefCell<Slab>,
    /// How many wakers are stored across all sources: while it is zero no task waits on
    /// I/O, and a busy loop turn makes no syscall.
    waiting: Cell<usize>,
    /// The turn count: a new turn renews the budget. The loop's once the driver is
    /// attached to it, else the reactor's own, which the driver moves on at each park.
    turns: Turns,
    /// The reactor's wish to be parked on busy turns (once attached): set when a task
    /// starts waiting on a source, cleared by the driver when none waits.
    pub(crate) busy: Option<BusyPark>,
    coop: Cell<Coop>,
    /// Events ignored because their source was gone (a test checks the case happens).
    stale_events: Cell<u64>,
    /// Calls to the OS poller so far (a test checks busy turns make none).
    polls: Cell<u64>,
}

thread_local! {
    /// The reactor of the loop running on this thread, set by the driver's `enter`.
    static CURRENT: RefCell<Option<Rc<Reactor>>> = const { RefCell::new(None) };
}

/// Makes `reactor` this thread's current one; returns the previous one.
pub(crate) fn set_current(reactor: Option<Rc<Reactor>>) -> Option<Rc<Reactor>> {
    CURRENT.with(|current| current.replace(reactor))
}

/// The reactor of the loop running on this thread.
///
/// # Panics
/// Outside a loop whose driver has I/O, with a message naming `what`.
pub(crate) fn current(what: &str) -> Rc<Reactor> {
    CURRENT
        .with(|current| current.borrow().clone())
        .unwrap_or_else(|| {
            panic!(
                "{what} needs an event loop with I/O running on this thread: call it inside \
             handloop::run(...) or Runtime::block_on(...) (an EventLoop built on \
             handloop_io::IoDriver)"
            )
        })
}

impl Reactor {
    pub(crate) fn new(poll: mio::Poll) -> Reactor {
        Reactor {
            poll: RefCell::new(poll),
            sources: RefCell::new(Slab::default()),
            waiting: Cell::new(0),
            turns: Turns::new(),
            busy: None,
            coop: Cell::new(Coop {
                turn: 0,
                task: std::ptr::null(),
                left: 0,
            }),
            stale_events: Cell::new(0),
            polls: Cell::new(0),
        }
    }

    /// How many wakers wait for I/O.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.get()
    }

    /// Counts turns with the loop's turn count from now on, and says through `busy`
    /// whether busy turns must park the driver.
    pub(crate) fn attach(&mut self, turns: &Turns) {
        let busy = turns.busy_park();
        busy.want(self.waiting() > 0);
        self.busy = Some(busy);
        self.turns = turns.clone();
    }

    /// A park of the driver: a new turn for the budget, if the driver was not attached
    /// (an attached reactor has a wish, and the loop's count).
    #[inline]
    pub(crate) fn count_park_if_unattached(&self) {
        if self.busy.is_none() {
            self.turns.advance();
        }
    }

    /// Spends one unit of the polling task's budget; `false` if it is used up (then the
    /// operation must yield instead).
    fn coop_proceed(&self, cx: &Context<'_>) -> bool {
        let task = cx.waker().data();
        let turn = self.turns.current();
        let mut coop = self.coop.get();
        if coop.turn != turn || coop.task != task {
            coop = Coop {
                turn,
                task,
                left: BUDGET,
            };
        }
        let proceed = coop.left > 0;
        coop.left = coop.left.saturating_sub(1);
        self.coop.set(coop);
        proceed
    }

    /// The poller reported `token`: mark the directions ready and wake their tasks.
    /// Stale tokens (a source freed since, its slot perhaps reused) are ignored. The
    /// wakers run after the borrow is released, so they may register or drop sources.
    pub(crate) fn dispatch(
        &self,
        token: Token,
        readable: bool,
        writable: bool,
        wakers: &mut Vec<Waker>,
    ) {
        let (index, generation) = untoken(token);
        {
            let mut sources = self.sources.borrow_mut();
            let Some(slot) = sources.get(index, generation) else {
                self.stale_events.set(self.stale_events.get() + 1);
                return;
            };
            if let Some(fd) = slot.fd() {
                trace_instant(|| {
                    let what = match (readable, writable) {
                        (true, true) => "readable and writable",
                        (true, false) => "readable",
                        _ => "writable",
                    };
                    format!("{what} fd {fd}")
                });
            }
            if readable {
                slot.direction(Dir::Read).fire(wakers);
            }
            if writable {
                slot.direction(Dir::Write).fire(wakers);
            }
        }
        self.waiting.set(self.waiting.get() - wakers.len());
        for waker in wakers.drain(..) {
            waker.wake();
        }
    }
}

impl Reactor {
    /// Events ignored so far because their source was gone.
    pub(crate) fn stale_events(&self) -> u64 {
        self.stale_events.get()
    }

    /// Counts a call to the OS poller.
    pub(crate) fn count_poll(&self) {
        self.polls.set(self.polls.get() + 1);
    }

    /// Calls to the OS poller so far.
    pub(crate) fn polls(&self) -> u64 {
        self.polls.get()
    }

    /// Sources registered now.
    pub(crate) fn registered(&self) -> usize {
        let sources = self.sources.borrow();
        sources.slots.len() - sources.free.len()
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources = self.sources.borrow();
        f.debug_struct("Reactor")
            .field("sources", &(sources.slots.len() - sources.free.len()))
            .field("waiting", &self.waiting.get())
            .finish_non_exhaustive()
    }
}

/// A source's place in its loop's reactor: what `Async` and the signal listener hold.
///
/// The owner deregisters the OS object with [`deregister`](Registration::deregister)
/// before closing it; dropping the registration frees the slot (stale events for it are
/// ignored from then on) and drops any wakers left in it.
pub(crate) struct Registration {
    reactor: Rc<Reactor>,
    index: u32,
    generation: u32,
    /// The source's file descriptor, for the task dump (`readable fd 7`).
    fd: Option<i32>,
}

impl Registration {
    /// Registers `source` with the current loop's poller, for both directions,
    /// edge-triggered (mio always asks epoll for `EPOLLET`, kqueue for `EV_CLEAR`).
    ///
    /// # Panics
    /// Outside a loop with I/O (`what` names the caller in the message).
    pub(crate) fn new(
        source: &mut impl mio::event::Source,
        interest: Interest,
        what: &str,
        fd: Option<i32>,
    ) -> io::Result<Registration> {
        let reactor = current(what);
        let (index, generation) = reactor.sources.borrow_mut().insert(fd);
        let registered =
            reactor
                .poll
                .borrow()
                .registry()
                .register(source, token(index, generation), interest);
        let registration = Registration {
            reactor,
            index,
            generation,
            fd,
        };
        // On error, dropping the registration frees the slot again.
        registered.map(|()| registration)
    }

    /// Removes `source` from the poller: call it before the fd closes.
    pub(crate) fn deregister(&self, source: &mut impl mio::event::Source) -> io::Result<()> {
        self.reactor.poll.borrow().registry().deregister(source)
    }

    /// Panics unless this source's loop is the one running on this thread.
    #[inline]
    pub(crate) fn check_loop(&self, what: &str) {
        let same = CURRENT.with(|current| {
            current
                .borrow()
                .as_ref()
                .map(|current| Rc::ptr_eq(current, &self.reactor))
        });
        match same {
            Some(true) => {}
            Some(false) => panic!(
                "{what}: this socket belongs to another event loop. A handloop socket is \
                 registered with the poller of the loop that made it and can only be used \
                 while that loop runs; to move a connection to another loop, make a \
                 std::net socket there (from_std)"
            ),
            None => panic!(
                "{what}: no event loop with I/O is running on this thread. A handloop \
                 socket can only be used inside the loop that made it (handloop::run, \
                 Runtime::block_on)"
            ),
        }
    }

    /// Tries `op` (the syscall) first; only if it reports `WouldBlock` does the task wait:
    /// the direction's readiness is cleared (it was just proven stale) and the waker
    /// stored in `slot`. Spends one unit of the task's budget.
    #[inline]
    pub(crate) fn poll_io<R>(
        &self,
        dir: Dir,
        slot: WaitSlot<'_>,
        cx: &mut Context<'_>,
        what: &str,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.check_loop(what);
        if !self.reactor.coop_proceed(cx) {
            // Budget spent: go to the back of the ready queue, let the loop turn.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(dir, slot, cx, true);
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    /// Ready once the poller has reported `dir` ready (since the last `WouldBlock`).
    pub(crate) fn poll_ready(
        &self,
        dir: Dir,
        slot: WaitSlot<'_>,
        cx: &mut Context<'_>,
        what: &str,
    ) -> Poll<io::Result<()>> {
        self.check_loop(what);
        if self
            .reactor
            .sources
            .borrow_mut()
            .live(self.index)
            .direction(dir)
            .ready
        {
            return Poll::Ready(Ok(()));
        }
        self.wait(dir, slot, cx, false);
        Poll::Pending
    }

    fn wait(&self, dir: Dir, slot: WaitSlot<'_>, cx: &Context<'_>, clear: bool) {
        let (replaced, added) = {
            let mut sources = self.reactor.sources.borrow_mut();
            let direction = sources.live(self.index).direction(dir);
            if clear {
                direction.ready = false;
            }
            direction.store(&slot, cx.waker())
        };
        if added {
            self.reactor.waiting.set(self.reactor.waiting.get() + 1);
            // A task waits: busy turns must collect events now and then.
            if let Some(busy) = &self.reactor.busy {
                busy.want(true);
            }
        }
        if let Some(fd) = self.fd {
            let fd = fd as u64;
            record_waiting_in(
                cx,
                match dir {
                    Dir::Read => WaitingOn::Readable { fd },
                    Dir::Write => WaitingOn::Writable { fd },
                },
            );
        }
        // Dropped after the borrow ends: a waker's drop may run arbitrary code.
        drop(replaced);
    }

    /// A future that waited on `dir` is done or dropped: take its waker back.
    pub(crate) fn release(&self, dir: Dir, key: &WaiterKey) {
        if key.0.get().is_none() {
            return;
        }
        let waker = self
            .reactor
            .sources
            .borrow_mut()
            .live(self.index)
            .direction(dir)
            .release(key);
        if waker.is_some() {
            self.reactor.waiting.set(self.reactor.waiting.get() - 1);
        }
        drop(waker);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        self.reactor
            .sources
            .borrow_mut()
            .remove(self.index, &mut wakers);
        self.reactor
            .waiting
            .set(self.reactor.waiting.get() - wakers.len());
        drop(wakers);
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("token", &token(self.index, self.generation).0)
            .finish()
    }
}

/// A future's claim on a waiter slot of one direction, released when dropped.
pub(crate) struct Waiter<'a> {
    registration: &'a Registration,
    dir: Dir,
    key: WaiterKey,
}

impl<'a> Waiter<'a> {
    pub(crate) fn new(registration: &'a Registration, dir: Dir) -> Self {
        Waiter {
            registration,
            dir,
            key: WaiterKey::default(),
        }
    }

    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        what: &str,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.registration
            .poll_io(self.dir, WaitSlot::Future(&self.key), cx, what, op)
    }

    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, what: &str) -> Poll<io::Result<()>> {
        self.registration
            .poll_ready(self.dir, WaitSlot::Future(&self.key), cx, what)
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.registration.release(self.dir, &self.key);
    }
}

impl fmt::Debug for Waiter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter").field("dir", &self.dir).finish()
    }
}
