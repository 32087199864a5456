//! The driver contract seen from the loop: `park(Some(ZERO))` on every turn with work
//! ready, `park(None)` when idle, wakes issued inside `park` reach the ready queue, and a
//! turn polls only the tasks that were ready when it began; a driver that attaches is spared
//! the busy turns it does not want.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{Gate, Log, count_polls};
use handloop_executor::{
    BusyPark, Driver, EventLoop, ThreadPark, Turns, Unparker, spawn, yield_now,
};

/// Records every park; on the first idle park, opens a gate (an "event arrived").
struct RecordingDriver {
    inner: ThreadPark,
    parks: Rc<RefCell<Vec<Option<Duration>>>>,
    event: Option<Gate>,
    log: Log,
}

impl Driver for RecordingDriver {
    fn park(&mut self, timeout: Option<Duration>) {
        self.parks.borrow_mut().push(timeout);
        self.log.push(format!("park {timeout:?}"));
        if timeout.is_none()
            && let Some(event) = self.event.take()
        {
            // An event found while parking: wake its task without blocking.
            event.open();
            return;
        }
        self.inner.park(timeout);
    }

    fn unparker(&self) -> Unparker {
        self.inner.unparker()
    }
}

fn recording(event: Option<Gate>, log: Log) -> (EventLoop, Rc<RefCell<Vec<Option<Duration>>>>) {
    let parks = Rc::default();
    let driver = RecordingDriver {
        inner: ThreadPark::new(),
        parks: Rc::clone(&parks),
        event,
        log,
    };
    (EventLoop::with_driver(driver), parks)
}

#[test]
fn park_does_not_block_while_work_is_ready_and_blocks_when_idle() {
    let gate = Gate::new();
    let log = Log::default();
    let (event_loop, parks) = recording(Some(gate.clone()), log.clone());
    event_loop.block_on({
        let log = log.clone();
        async move {
            log.push("main starts");
            yield_now().await; // one more turn with work ready
            log.push("main waits on the event");
            gate.wait().await; // nothing ready: the loop parks with None
            log.push("main woken by the event");
        }
    });
    assert_eq!(
        log.take(),
        [
            "main starts",
            "park Some(0ns)",
            "main waits on the event",
            "park None",
            "main woken by the event",
        ]
    );
    assert_eq!(*parks.borrow(), [Some(Duration::ZERO), None]);
}

#[test]
fn a_turn_polls_only_the_tasks_ready_when_it_began() {
    // Three tasks each yield twice. Each turn runs every ready task once, so the loop parks
    // (without blocking) between rounds: the log shows one park per round.
    let log = Log::default();
    let (event_loop, _parks) = recording(None, log.clone());
    event_loop.block_on({
        let log = log.clone();
        async move {
            let handles: Vec<_> = ["a", "b", "c"]
                .into_iter()
                .map(|name| {
                    let log = log.clone();
                    spawn(async move {
                        for round in 0..2 {
                            log.push(format!("{name}{round}"));
                            yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }
    });
    let events = log.take();
    let rounds: Vec<&str> = events.iter().map(String::as_str).collect();
    assert_eq!(
        &rounds[..9],
        [
            "park Some(0ns)", // main spawned the three and awaits the first
            "a0",
            "b0",
            "c0",
            "park Some(0ns)",
            "a1",
            "b1",
            "c1",
            "park Some(0ns)",
        ]
    );
}

#[test]
fn waking_an_aborted_task_does_nothing() {
    EventLoop::new().block_on(async {
        let gate = Gate::new();
        let (polls, counted) = count_polls(gate.wait());
        let handle = spawn(counted);
        yield_now().await;
        assert_eq!(polls.get(), 1);
        let waker = gate.waker().unwrap();
        handle.abort();
        let err = handle.await.unwrap_err();
        assert!(err.is_cancelled());
        // The task is gone; its stored waker is woken, by reference and by value, here
        // and from another thread.
        waker.wake_by_ref();
        std::thread::spawn({
            let waker = waker.clone();
            move || waker.wake()
        })
        .join()
        .unwrap();
        waker.wake();
        yield_now().await;
        yield_now().await;
        assert_eq!(polls.get(), 1, "never polled again: cancelled, not woken");
        let alive = handloop_executor::task::all_tasks();
        assert_eq!(alive.len(), 1, "only block_on's own future: {alive:?}");
    });
}

/// Each park with the number of the turn it begins.
type Parks = Rc<RefCell<Vec<(u64, Option<Duration>)>>>;

/// A driver that attaches: busy turns park it only while its `BusyPark` says so (the test
/// holds that `BusyPark`, as a timer or a poller would).
struct AttachingDriver {
    inner: ThreadPark,
    parks: Parks,
    turns: Rc<RefCell<Option<Turns>>>,
    busy: Rc<RefCell<Option<BusyPark>>>,
}

impl Driver for AttachingDriver {
    fn park(&mut self, timeout: Option<Duration>) {
        let turn = self.turns.borrow().as_ref().unwrap().current();
        self.parks.borrow_mut().push((turn, timeout));
        self.inner.park(timeout);
    }

    fn unparker(&self) -> Unparker {
        self.inner.unparker()
    }

    fn attach(&mut self, turns: &Turns) -> bool {
        *self.busy.borrow_mut() = Some(turns.busy_park());
        *self.turns.borrow_mut() = Some(turns.clone());
        true
    }
}

#[test]
fn busy_turns_skip_an_attached_driver_until_it_wants_them() {
    let parks: Parks = Rc::default();
    let turns: Rc<RefCell<Option<Turns>>> = Rc::default();
    let busy: Rc<RefCell<Option<BusyPark>>> = Rc::default();
    let event_loop = EventLoop::with_driver(AttachingDriver {
        inner: ThreadPark::new(),
        parks: Rc::clone(&parks),
        turns: Rc::clone(&turns),
        busy: Rc::clone(&busy),
    });
    let turn = || turns.borrow().as_ref().unwrap().current();
    assert_eq!(turn(), 0, "attached when the loop is built");
    event_loop.block_on(async {
        // Three busy turns the driver does not want: no park, but the count moves on.
        for expected in 1..=3 {
            yield_now().await;
            assert_eq!(turn(), expected);
        }
        assert_eq!(*parks.borrow(), []);
        // It wants them: every busy turn parks it, numbered with the turn that follows.
        busy.borrow().as_ref().unwrap().want(true);
        yield_now().await;
        yield_now().await;
        assert_eq!(
            *parks.borrow(),
            [(4, Some(Duration::ZERO)), (5, Some(Duration::ZERO))]
        );
        busy.borrow().as_ref().unwrap().want(false);
        yield_now().await;
        assert_eq!(parks.borrow().len(), 2, "skipped again");
        // Dropping the BusyPark withdraws a wish it still held.
        busy.borrow().as_ref().unwrap().want(true);
        drop(busy.borrow_mut().take());
        yield_now().await;
        assert_eq!(parks.borrow().len(), 2, "a dropped BusyPark wants nothing");
    });
    assert_eq!(turn(), 7);
}

#[test]
fn a_driver_that_does_not_attach_is_parked_on_every_busy_turn() {
    let log = Log::default();
    let (event_loop, parks) = recording(None, log);
    event_loop.block_on(async {
        for _ in 0..5 {
            yield_now().await;
        }
    });
    assert_eq!(*parks.borrow(), [Some(Duration::ZERO); 5]);
}
