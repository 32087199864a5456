//! `IoDriver`: the poller's place in the loop turn. It is the innermost driver (it takes
//! `ThreadPark`'s place): when the loop would sleep, it sleeps in the OS poller, with the
//! timer's next deadline as the timeout, and wakes the tasks whose sockets became ready.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use handloop_executor::{Driver, Turns, Unparker, Watching};
use mio::{Events, Poll};

use crate::reactor::{self, Reactor, WAKE_TOKEN};
use crate::unpark::{IoUnpark, ParkState};

/// How many busy turns may pass before the poller is asked again, while a task waits on
/// I/O: the bound on how long a loop whose tasks never stop yielding can leave sockets
/// unread. Chosen by measurement (`examples/event_interval.rs`, see the chapter): at 61 a
/// zero-timeout `epoll_wait` (250–400 ns here) adds 4–6 ns to a turn, and a ready socket
/// waits at most 61 turns. tokio's current-thread runtime uses the same number.
pub const DEFAULT_EVENT_INTERVAL: u32 = 61;

/// Events collected per `epoll_wait`; more simply wait for the next turn.
const EVENTS_CAPACITY: usize = 1024;

/// A [`Driver`] that waits on sockets: the OS poller (epoll, kqueue) through mio.
///
/// - When the loop would sleep (`park(None)` or a timeout, the timer's next deadline), it
///   sleeps in `epoll_wait` and wakes the tasks whose sources became ready. Other threads
///   wake it through mio's `Waker` (an eventfd), written only when the loop is really
///   parked.
/// - On a busy turn (`park(Some(ZERO))`) it makes no syscall at all, except once every
///   [`DEFAULT_EVENT_INTERVAL`] busy turns while some task waits on I/O, so that tasks that
///   never stop yielding cannot starve sockets.
///
/// While the loop runs, [`Async`](crate::Async) and the socket types find this driver's
/// reactor through a thread-local installed by [`enter`](Driver::enter).
///
/// ```
/// use handloop_executor::EventLoop;
/// use handloop_io::IoDriver;
/// use handloop_io::net::{TcpListener, TcpStream};
///
/// let event_loop = EventLoop::with_driver(IoDriver::new()?);
/// event_loop.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct IoDriver {
    reactor: Rc<Reactor>,
    events: Events,
    unpark: Arc<IoUnpark>,
    /// Busy turns with a task waiting on I/O since the poller was last asked.
    busy_turns: u32,
    event_interval: u32,
    /// Reused buffer for the wakers of one event.
    wakers: Vec<Waker>,
    /// The reactors that were current before each `enter` (restored by `exit`).
    saved: RefCell<Vec<Option<Rc<Reactor>>>>,
}

impl IoDriver {
    /// A new poller (`epoll_create1` and an eventfd on Linux). Fails when the OS refuses
    /// them, typically for lack of file descriptors.
    pub fn new() -> io::Result<IoDriver> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(IoDriver {
            reactor: Rc::new(Reactor::new(poll)),
            events: Events::with_capacity(EVENTS_CAPACITY),
            unpark: Arc::new(IoUnpark {
                park: ParkState::new(),
                waker,
            }),
            busy_turns: 0,
            event_interval: DEFAULT_EVENT_INTERVAL,
            wakers: Vec::new(),
            saved: RefCell::new(Vec::new()),
        })
    }

    /// Asks the poller every `turns` busy turns (at least 1) while a task waits on I/O,
    /// instead of every [`DEFAULT_EVENT_INTERVAL`].
    pub fn with_event_interval(mut self, turns: u32) -> IoDriver {
        self.event_interval = turns.max(1);
        self
    }

    /// A busy turn with no task waiting on I/O: the loop may skip our busy turns until one
    /// waits again.
    #[inline]
    fn no_waiters(&self) {
        if let Some(busy) = &self.reactor.busy {
            busy.want(false);
        }
    }

    /// A busy turn on which the poller is due: look without blocking.
    #[inline(never)]
    fn poll_busy(&mut self) {
        self.busy_turns = 0;
        poll(
            &self.reactor,
            &mut self.events,
            &mut self.wakers,
            Some(Duration::ZERO),
        );
    }

    /// The loop would sleep: wakers from other threads must write the eventfd from now
    /// on. If a wake already came, don't sleep, but collect what is ready.
    #[inline(never)]
    fn park_idle(&mut self, timeout: Option<Duration>) {
        self.busy_turns = 0;
        let IoDriver {
            reactor,
            events,
            unpark,
            wakers,
            ..
        } = self;
        unpark.park.park_with(|may_sleep| {
            let timeout = if may_sleep {
                timeout
            } else {
                Some(Duration::ZERO)
            };
            poll(reactor, events, wakers, timeout);
        });
    }
}

/// Asks the poller for events, waiting at most `timeout`, and wakes their tasks.
fn poll(
    reactor: &Reactor,
    events: &mut Events,
    wakers: &mut Vec<Waker>,
    timeout: Option<Duration>,
) {
    reactor.count_poll();
    let polled = reactor.poll.borrow_mut().poll(events, timeout);
    match polled {
        Ok(()) => {}
        // A signal arrived (Ctrl-C's listener is registered as a source and will be
        // reported on the next poll): return early, as `park` may.
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
        Err(e) => panic!("handloop-io: the OS poller failed: {e}"),
    }
    for event in events.iter() {
        let token = event.token();
        if token == WAKE_TOKEN {
            continue; // only here to end the wait; the loop drains its queues next
        }
        // An error or a hang-up ends both directions: wake readers and writers, whose
        // next syscall reports it.
        let failed = event.is_error();
        let readable = failed || event.is_readable() || event.is_read_closed();
        let writable = failed || event.is_writable() || event.is_write_closed();
        reactor.dispatch(token, readable, writable, wakers);
    }
}

impl Driver for IoDriver {
    /// The busy turn is a counter and two comparisons, inlined into the timer driver's
    /// busy turn; polling the OS (now and then on a busy turn, or to sleep) is out of line.
    #[inline]
    fn park(&mut self, timeout: Option<Duration>) {
        self.reactor.count_park_if_unattached();
        if timeout == Some(Duration::ZERO) {
            // A busy turn: tasks are ready. No syscall unless a task waits on I/O and the
            // poller has not been asked for `event_interval` turns. (The loop skips this
            // call altogether while no task waits and the timer has nothing to do.)
            if self.reactor.waiting() != 0 {
                self.busy_turns += 1;
                if self.busy_turns >= self.event_interval {
                    self.poll_busy();
                }
            } else {
                self.no_waiters();
            }
            return;
        }
        self.park_idle(timeout);
    }

    fn unparker(&self) -> Unparker {
        Unparker::new(Wake(self.unpark.clone()))
    }

    /// The coop budget counts the loop's turns, and busy turns skip the poller while no
    /// task waits on I/O.
    fn attach(&mut self, turns: &Turns) -> bool {
        // Nothing else holds the reactor before the loop runs (sockets and the
        // thread-local take it from `enter` on). If something did, stay unattached:
        // parked on every busy turn, counting turns by parks.
        let Some(reactor) = Rc::get_mut(&mut self.reactor) else {
            return false;
        };
        reactor.attach(turns);
        true
    }

    fn enter(&self) {
        let previous = reactor::set_current(Some(self.reactor.clone()));
        self.saved.borrow_mut().push(previous);
    }

    fn exit(&self) {
        let previous = self.saved.borrow_mut().pop().flatten();
        reactor::set_current(previous);
    }

    /// Its sources, and how many tasks wait on one: only those can be woken by an event
    /// (an event on a source nobody waits on only marks it ready). Other threads reach it
    /// only through wakers and the unparker, which the loop accounts for itself.
    fn watching(&self) -> Watching {
        Watching {
            io_sources: self.reactor.registered(),
            io_waiting: self.reactor.waiting(),
            ..Watching::default()
        }
    }
}

/// The unparker's handle on the handshake and the eventfd.
struct Wake(Arc<IoUnpark>);

impl handloop_executor::Unpark for Wake {
    fn unpark(&self) {
        self.0.unpark();
    }
}

impl fmt::Debug for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoDriver")
            .field("reactor", &self.reactor)
            .field("event_interval", &self.event_interval)
            .field("park", &self.unpark.park)
            .finish_non_exhaustive()
    }
}
