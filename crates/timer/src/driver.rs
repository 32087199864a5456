//! `TimerDriver`: the timer's place in the loop turn. Once per turn it fires what is due,
//! and when nothing is ready it is the one that sleeps ("only the scheduler sleeps").

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use handloop_executor::{Driver, ThreadPark, Turns, Unparker, Watching, call_soon};

use crate::clock::{Clock, ClockKind};
use crate::hold::{HoldCheck, Holds};
use crate::panics::report_panic_in;
use crate::shared::{self, Action, Timer};

/// A [`Driver`] that adds timers to an event loop, wrapping an inner driver (the thread
/// parker today, the I/O poller later).
///
/// Each turn the loop calls [`park`](Driver::park): the timer moves every expired sleep
/// and callback to the ready queue, then lets the inner driver wait, at most until the
/// nearest deadline. While the loop runs, [`sleep`](crate::sleep), [`timeout`](crate::timeout),
/// [`call_later`](crate::call_later) and the rest find this timer through a thread-local
/// installed by [`enter`](Driver::enter).
///
/// ```
/// use std::time::Duration;
/// use handloop_executor::{EventLoop, ThreadPark};
/// use handloop_timer::{TimerDriver, now, sleep};
///
/// let event_loop = EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()));
/// event_loop.block_on(async {
///     let start = now();
///     sleep(Duration::from_secs(3600)).await; // an hour, in no time
///     assert_eq!(now() - start, Duration::from_secs(3600));
/// });
/// ```
pub struct TimerDriver<D: Driver = ThreadPark> {
    inner: D,
    timer: Rc<Timer>,
    /// Timers that came due this turn, fired after the heap's borrow is released, from the
    /// front: if a waker's `wake` panics, the ones behind it stay here and fire next turn.
    due: VecDeque<Action>,
    /// The timers that were current before each `enter` (restored by `exit`).
    saved: RefCell<Vec<Option<Rc<Timer>>>>,
}

impl<D: Driver> TimerDriver<D> {
    /// A timer on the real clock (`Instant::now()`, read once per loop turn).
    pub fn new(inner: D) -> Self {
        Self::with_clock(inner, ClockKind::Real)
    }

    /// A timer on a virtual clock: it starts at the instant this driver is built, stands
    /// still while any task is ready, and jumps straight to the next deadline when the loop
    /// would otherwise sleep (trio's autojump clock, tokio's paused time). Tests and
    /// examples run instantly and see exact times.
    pub fn new_virtual(inner: D) -> Self {
        Self::with_clock(inner, ClockKind::Virtual)
    }

    fn with_clock(inner: D, kind: ClockKind) -> Self {
        let holds = Holds::new(inner.unparker(), kind == ClockKind::Virtual);
        TimerDriver {
            inner,
            timer: Rc::new(Timer::new(Clock::new(kind), holds)),
            due: VecDeque::new(),
            saved: RefCell::new(Vec::new()),
        }
    }

    /// Moves every timer due by `now` (the loop's `now()`) to the ready queue, in
    /// `(deadline, sequence)` order.
    fn fire_due(&mut self, now: Instant) {
        {
            let mut heap = self.timer.heap.borrow_mut();
            while let Some(action) = heap.pop_due(now) {
                self.due.push_back(action);
            }
        }
        // The borrow is released: a woken waker or a dropped closure may touch the timer.
        while let Some(action) = self.due.pop_front() {
            handloop_executor::debug::trace_instant(|| "timer fired".to_owned());
            match action {
                Action::Wake(waker) => waker.wake(),
                // A callback runs as a tiny task on the ready queue, FIFO with the wakes
                // above; a panic in it is caught and reported by `run` itself, which knows
                // to call it a call_later callback.
                Action::Call(callback) => call_soon(move || callback.run()),
            }
        }
    }

    /// The real clock's turn. On a busy turn with a timer waiting (a `timeout` around work
    /// that is still going on), this is one look at the heap, one clock read and one
    /// comparison before the inner driver's non-blocking park.
    #[inline]
    fn park_real(&mut self, timeout: Option<Duration>) {
        let next = {
            let mut heap = self.timer.heap.borrow_mut();
            if heap.is_empty() {
                None
            } else {
                heap.next_deadline()
            }
        };
        let Some(next) = next else {
            // No timers: don't even read the clock (the next turn's first `now()` will).
            self.inner.park(timeout);
            return;
        };
        // A new turn begins: read the clock once, for the check below and the turn's `now()`.
        let now = self.timer.clock.refresh();
        if next <= now {
            // The nearest live timer is due (so at least one fires): tasks become ready;
            // look for other events, but don't block.
            self.fire_due(now);
            self.inner.park(Some(Duration::ZERO));
        } else if timeout == Some(Duration::ZERO) {
            // Nothing due (the common busy turn, a timeout waiting in the heap), but tasks
            // are ready: don't block.
            self.inner.park(Some(Duration::ZERO));
        } else {
            self.park_real_idle(next, now, timeout);
        }
    }

    /// Nothing is ready: sleep until the nearest deadline `next` (or an unpark), `now`
    /// being this turn's clock reading. Kept out of line: the busy turn above stays small.
    #[inline(never)]
    fn park_real_idle(&mut self, next: Instant, now: Instant, timeout: Option<Duration>) {
        let wait = next.saturating_duration_since(now);
        self.inner.park(Some(timeout.map_or(wait, |t| t.min(wait))));
        // Time has passed: read the clock again and fire what came due while we slept.
        let now = self.timer.clock.refresh();
        self.fire_due(now);
    }

    /// Every turn but the busy one without timers (see [`Driver::park`]).
    #[inline(never)]
    fn park_turn(&mut self, timeout: Option<Duration>) {
        // A new turn begins after this park: `now()` reads the real clock again once (the
        // real-clock park reads it itself when there are timers to check).
        match self.timer.clock.kind() {
            ClockKind::Real => self.park_real(timeout),
            ClockKind::Virtual => self.park_virtual(timeout),
        }
    }

    #[inline(never)]
    fn park_virtual(&mut self, timeout: Option<Duration>) {
        if timeout != Some(Duration::ZERO) {
            // Work outside the loop holds the clock (a job on another thread that a task
            // awaits): wait for it for real, and after its release take one more turn
            // before jumping, so the task it woke runs at the time it finished.
            match self.timer.holds.check() {
                HoldCheck::Held => return self.inner.park(timeout),
                HoldCheck::Released => return self.inner.park(Some(Duration::ZERO)),
                HoldCheck::Free => {}
            }
            let next = self.timer.heap.borrow_mut().next_deadline();
            match next {
                // The loop would sleep until a deadline: jump there instead.
                Some(deadline) => self.timer.clock.jump_to(deadline),
                // No timers: nothing to jump to, so really wait (for another thread).
                None => {
                    self.inner.park(timeout);
                    return;
                }
            }
        }
        // Collect wakes from other threads without blocking, then fire what is due.
        self.inner.park(Some(Duration::ZERO));
        let now = self.timer.now();
        self.fire_due(now);
    }
}

impl<D: Driver> Driver for TimerDriver<D> {
    /// A busy turn with no timer at all (tasks are ready, the heap is empty) only lets the
    /// inner driver take its own busy turn; the loop skips even that call while neither
    /// driver wants busy turns (see [`attach`](Driver::attach)). Every other turn goes
    /// through `park_turn`.
    #[inline]
    fn park(&mut self, timeout: Option<Duration>) {
        self.timer.count_park_if_unattached();
        if timeout == Some(Duration::ZERO)
            && self
                .timer
                .heap
                .try_borrow()
                .is_ok_and(|heap| heap.is_empty())
            && self.due.is_empty()
        {
            // No timers: don't even read the clock (the next turn's first `now()` will).
            // And no busy turns for us until a timer is registered. (While one waits in
            // the heap, or a due one is left to fire behind a wake that panicked, this is
            // not reached: the wish stays.)
            if let Some(busy) = &self.timer.busy {
                busy.want(false);
            }
            self.inner.park(Some(Duration::ZERO));
            return;
        }
        self.park_turn(timeout);
    }

    fn unparker(&self) -> Unparker {
        self.inner.unparker()
    }

    /// The clock counts the loop's turns (it is read once per turn), and busy turns skip
    /// the timer while its heap is empty (if the inner driver lets them skip it too).
    fn attach(&mut self, turns: &Turns) -> bool {
        let may_skip = self.inner.attach(turns);
        // Nothing else holds the timer before the loop runs (sleeps and the thread-local
        // take it from `enter` on). If something did, stay unattached: parked on every
        // busy turn, counting turns by parks.
        let Some(timer) = Rc::get_mut(&mut self.timer) else {
            return false;
        };
        timer.clock.attach(turns.clone());
        let busy = turns.busy_park();
        busy.want(!timer.heap.get_mut().is_empty());
        timer.busy = Some(busy);
        may_skip
    }

    fn enter(&self) {
        self.inner.enter();
        let previous = shared::set_current(Some(self.timer.clone()));
        self.saved.borrow_mut().push(previous);
    }

    fn exit(&self) {
        let previous = self.saved.borrow_mut().pop().flatten();
        shared::set_current(previous);
        self.inner.exit();
    }

    /// The timer's clock, read through this thread's current timer (set by `enter`).
    fn dump_clock(&self) -> Option<fn() -> Option<Instant>> {
        Some(crate::try_now)
    }

    /// The inner driver's answer, plus the timers in the heap, the clock holds (each one a
    /// job on another thread that will wake a task, and that the virtual clock waits for
    /// without a grace period) and the loop's clock.
    fn watching(&self) -> Watching {
        let inner = self.inner.watching();
        Watching {
            timers: inner.timers + self.timer.heap.borrow().len(),
            jobs_out: inner.jobs_out + self.timer.holds.outstanding(),
            clock: Some(self.timer.now()),
            virtual_clock: self.timer.clock.kind() == ClockKind::Virtual,
            ..inner
        }
    }
}

impl<D: Driver> Drop for TimerDriver<D> {
    fn drop(&mut self) {
        // The loop is gone: drop the callbacks and wakers still waiting. This breaks the
        // cycle a callback that owns a `Sleep` would make (timer -> callback -> sleep ->
        // timer). Taken out first: dropping them may cancel timers, which borrows the heap.
        self.timer.gone.set(true);
        let waiting = std::mem::take(&mut *self.timer.heap.borrow_mut());
        let unfired = std::mem::take(&mut self.due); // left by a panicking wake
        // Dropping a callback runs the destructors of what it captured: user code, which
        // may panic. Each is dropped on its own, like a task's future at shutdown: a panic
        // is reported and the others are still dropped (a second panic while the first
        // unwinds would abort the process).
        for action in unfired.into_iter().chain(waiting.into_values()) {
            let what = action.what();
            report_panic_in(
                format_args!("dropping {what} still pending at shutdown"),
                move || drop(action),
            );
        }
    }
}

impl<D: Driver> fmt::Debug for TimerDriver<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerDriver")
            .field("clock", &self.timer.clock.kind())
            .field("timers", &self.timer.heap.borrow().len())
            .finish_non_exhaustive()
    }
}
