//! The real clock: sleeps never end early, `now()` is read once per turn, expired timers
//! are checked on every turn (no starvation), and a measurement of the overshoot.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use handloop_executor::{Driver, EventLoop, ThreadPark, Unparker, spawn, yield_now};
use handloop_timer::{TimerDriver, call_later, now, sleep, timeout};

fn real_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new(ThreadPark::new()))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_sleep_never_returns_before_its_deadline() {
    real_loop().block_on(async {
        // First turn of a new loop: the cached time is read inside `sleep()`, after `t0`.
        let t0 = Instant::now();
        let s = sleep(ms(20));
        let deadline = s.deadline();
        s.await;
        assert!(t0.elapsed() >= ms(20), "woke after {:?}", t0.elapsed());
        for millis in [1, 2, 5, 10, 20] {
            let start = now();
            let s = sleep(ms(millis));
            let deadline = s.deadline();
            s.await;
            let woke = Instant::now();
            assert!(woke >= deadline);
            assert!(
                woke - start >= ms(millis),
                "{millis} ms sleep woke after {:?}",
                woke - start
            );
            assert!(
                woke - start < Duration::from_secs(1),
                "very late: {:?}",
                woke - start
            );
        }
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn now_is_read_once_per_turn() {
    real_loop().block_on(read_once_per_turn());
}

/// Within a turn `now()` stands still; the next turn reads the clock again.
async fn read_once_per_turn() {
    let a = now();
    let spin = Instant::now();
    while spin.elapsed() < ms(2) {}
    assert_eq!(now(), a, "same turn, same time");
    // No timer waits, so an attached timer is not even called on this busy turn: the
    // next turn's first `now()` reads the clock anyway (it counts the turns).
    yield_now().await;
    let b = now();
    assert!(b >= a + ms(2), "a new turn reads the clock again");
    sleep(ms(1)).await; // a timer forces the driver to look at the clock
    assert!(now() >= b + ms(1));
}

#[test]
fn a_timer_registered_while_the_loop_stays_busy_fires() {
    // Tasks that only yield keep every turn busy; the loop calls the timer on those turns
    // only while a timer waits, so a registration must make it look again. (The yielder
    // gives up after 10 s, which would let the loop idle and the sleep fire late.)
    real_loop().block_on(async {
        let done = Rc::new(Cell::new(false));
        let yielder = spawn({
            let done = done.clone();
            async move {
                let start = Instant::now();
                let mut turns = 0u64;
                while !done.get() && start.elapsed() < Duration::from_secs(10) {
                    turns += 1;
                    yield_now().await;
                }
                (turns, done.get())
            }
        });
        for _ in 0..100 {
            yield_now().await; // busy turns with no timer at all
        }
        let start = Instant::now();
        sleep(ms(5)).await; // registered on a busy turn
        done.set(true);
        let slept = start.elapsed();
        let (turns, stopped_by_us) = yielder.await.unwrap();
        assert!(
            stopped_by_us,
            "the sleep fired only once the loop went idle"
        );
        assert!(turns > 100, "the loop stayed busy");
        assert!(slept >= ms(5), "woke after {slept:?}");
    });
}

#[test]
fn zero_sleep_spinners_do_not_starve_a_timer() {
    let real_start = Instant::now();
    real_loop().block_on(async {
        let done = Rc::new(Cell::new(false));
        let spins = Rc::new(Cell::new(0u64));
        let spinners: Vec<_> = (0..3)
            .map(|_| {
                let (done, spins) = (done.clone(), spins.clone());
                spawn(async move {
                    while !done.get() {
                        sleep(Duration::ZERO).await;
                        spins.set(spins.get() + 1);
                    }
                })
            })
            .collect();
        let start = Instant::now();
        let waiter = spawn({
            let done = done.clone();
            async move {
                sleep(ms(100)).await;
                done.set(true);
                start.elapsed()
            }
        });
        let waited = waiter.await.unwrap();
        for spinner in spinners {
            spinner.await.unwrap();
        }
        assert!(waited >= ms(100), "woke after {waited:?}");
        assert!(spins.get() > 0);
    });
    let real = real_start.elapsed();
    assert!(real < Duration::from_secs(5), "starved: took {real:?}");
}

#[test]
fn callbacks_and_timeouts_on_the_real_clock() {
    real_loop().block_on(async {
        let start = Instant::now();
        let fired = Rc::new(Cell::new(None));
        let f = fired.clone();
        call_later(ms(10), move || f.set(Some(Instant::now())));
        let r = timeout(ms(30), std::future::pending::<()>()).await;
        assert!(r.is_err());
        assert!(start.elapsed() >= ms(30));
        let fired = fired.get().expect("callback ran");
        assert!(fired - start >= ms(10));
    });
}

/// Measures how late real-clock sleeps wake. Run it on an idle machine:
/// `cargo test --release -p handloop-timer --test real_clock -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
fn measure_overshoot() {
    for millis in [1u64, 5, 20] {
        let mut overshoots = real_loop().block_on(async {
            let mut overshoots = Vec::new();
            for _ in 0..50 {
                let s = sleep(ms(millis));
                let deadline = s.deadline();
                s.await;
                overshoots.push(Instant::now() - deadline);
            }
            overshoots
        });
        overshoots.sort();
        println!(
            "sleep({millis} ms) x50: overshoot min {:?}, median {:?}, p90 {:?}, max {:?}",
            overshoots[0], overshoots[25], overshoots[45], overshoots[49]
        );
    }
}

#[test]
fn a_wake_from_another_thread_interrupts_a_park_until_a_far_deadline() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};
    use std::task::{Poll, Waker};

    let event_loop = real_loop();
    let started = Instant::now();
    event_loop.block_on(async {
        // A far deadline: the loop parks until it, unless woken.
        let _far = spawn(sleep(Duration::from_secs(60)));
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Waker>();
        let remote = std::thread::spawn({
            let done = done.clone();
            move || {
                let waker = rx.recv().unwrap();
                std::thread::sleep(ms(20));
                done.store(true, Ordering::Release);
                waker.wake();
            }
        });
        std::future::poll_fn(|cx| {
            if done.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            tx.send(cx.waker().clone()).unwrap();
            Poll::Pending
        })
        .await;
        remote.join().unwrap();
    });
    // Woken by the other thread, not by the 60 s timer (wide margin for a loaded machine).
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// Wraps the timer without passing [`Driver::attach`] on (the trait's default): the loop
/// then parks it on every busy turn, and it counts turns by its parks.
struct Unattached(TimerDriver);

impl Driver for Unattached {
    fn park(&mut self, timeout: Option<Duration>) {
        self.0.park(timeout);
    }
    fn unparker(&self) -> Unparker {
        self.0.unparker()
    }
    fn enter(&self) {
        self.0.enter();
    }
    fn exit(&self) {
        self.0.exit();
    }
}

#[test]
fn a_timer_inside_a_driver_that_does_not_attach_still_reads_the_clock_once_per_turn() {
    let event_loop = EventLoop::with_driver(Unattached(TimerDriver::new(ThreadPark::new())));
    event_loop.block_on(read_once_per_turn());
}

/// Counts the busy parks that reach it; does not attach (the trait's default).
struct CountBusyParks(ThreadPark, Rc<Cell<u32>>);

impl Driver for CountBusyParks {
    fn park(&mut self, timeout: Option<Duration>) {
        if timeout == Some(Duration::ZERO) {
            self.1.set(self.1.get() + 1);
        }
        self.0.park(timeout);
    }
    fn unparker(&self) -> Unparker {
        self.0.unparker()
    }
}

#[test]
fn a_timer_around_a_driver_that_does_not_attach_lets_every_busy_turn_through() {
    // With no timer in the heap the timer itself wants no busy turns, but its inner
    // driver did not attach, so the loop must still park them on every busy turn.
    let busy_parks = Rc::new(Cell::new(0));
    let inner = CountBusyParks(ThreadPark::new(), busy_parks.clone());
    EventLoop::with_driver(TimerDriver::new(inner)).block_on(async {
        for _ in 0..5 {
            yield_now().await;
        }
    });
    assert_eq!(busy_parks.get(), 5);
}
