//! The virtual clock: time stands still while anything is ready, jumps to the next
//! deadline, and elapsed times are exact (the tutorials' `say_after` claims).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use handloop_executor::{EventLoop, ThreadPark, spawn, yield_now};
use handloop_timer::{TimerDriver, now, sleep};

fn virtual_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()))
}

const SEC: Duration = Duration::from_secs(1);

async fn say_after(delay: Duration, what: &'static str, said: Rc<RefCell<Vec<&'static str>>>) {
    sleep(delay).await;
    said.borrow_mut().push(what);
}

#[test]
fn say_after_as_concurrent_tasks_takes_exactly_two_seconds() {
    let said = Rc::new(RefCell::new(Vec::new()));
    let elapsed = virtual_loop().block_on({
        let said = said.clone();
        async move {
            let start = now();
            let task1 = spawn(say_after(SEC, "hello", said.clone()));
            let task2 = spawn(say_after(2 * SEC, "world", said.clone()));
            task1.await.unwrap();
            task2.await.unwrap();
            now() - start
        }
    });
    assert_eq!(elapsed, 2 * SEC);
    assert_eq!(*said.borrow(), ["hello", "world"]);
}

#[test]
fn say_after_one_after_the_other_takes_exactly_three_seconds() {
    let said = Rc::new(RefCell::new(Vec::new()));
    let elapsed = virtual_loop().block_on({
        let said = said.clone();
        async move {
            let start = now();
            say_after(SEC, "hello", said.clone()).await;
            say_after(2 * SEC, "world", said.clone()).await;
            now() - start
        }
    });
    assert_eq!(elapsed, 3 * SEC);
    assert_eq!(*said.borrow(), ["hello", "world"]);
}

#[test]
fn a_hundred_fleets_for_ten_virtual_minutes_take_milliseconds() {
    let real_start = Instant::now();
    let (elapsed, moves) = virtual_loop().block_on(async {
        let start = now();
        let moves = Rc::new(RefCell::new(0u32));
        let fleets: Vec<_> = (0..100)
            .map(|_| {
                let moves = moves.clone();
                spawn(async move {
                    for _ in 0..10 {
                        sleep(Duration::from_secs(60)).await;
                        *moves.borrow_mut() += 1;
                    }
                    now()
                })
            })
            .collect();
        for fleet in fleets {
            assert_eq!(fleet.await.unwrap() - start, Duration::from_secs(600));
        }
        let moves = *moves.borrow();
        (now() - start, moves)
    });
    assert_eq!(elapsed, Duration::from_secs(600));
    assert_eq!(moves, 1000);
    let real = real_start.elapsed();
    assert!(real < Duration::from_secs(5), "took {real:?} of real time");
}

#[test]
fn time_stands_still_while_tasks_are_ready() {
    virtual_loop().block_on(async {
        let start = now();
        let sleeper = spawn(async { sleep(SEC).await });
        for _ in 0..1000 {
            yield_now().await;
            assert_eq!(now(), start);
        }
        sleeper.await.unwrap();
        assert_eq!(now() - start, SEC);
    });
}

#[test]
fn a_task_spinning_on_zero_sleeps_keeps_virtual_time_still() {
    // The documented consequence of autojump: time moves only when the loop would sleep.
    virtual_loop().block_on(async {
        let start = now();
        let woke = Rc::new(RefCell::new(None));
        let w = woke.clone();
        let sleeper = spawn(async move {
            sleep(Duration::from_millis(100)).await;
            *w.borrow_mut() = Some(now());
        });
        let mut spins = 0;
        while spins < 10_000 {
            sleep(Duration::ZERO).await;
            spins += 1;
        }
        assert_eq!(*woke.borrow(), None);
        assert_eq!(now(), start);
        sleeper.await.unwrap();
        assert_eq!(*woke.borrow(), Some(start + Duration::from_millis(100)));
    });
}

#[test]
fn the_clock_starts_fixed_and_survives_block_on_calls() {
    let event_loop = virtual_loop();
    let first = event_loop.block_on(async { now() });
    let second = event_loop.block_on(async { now() });
    assert_eq!(first, second, "no time passes while nothing sleeps");
    let third = event_loop.block_on(async {
        sleep(5 * SEC).await;
        now()
    });
    assert_eq!(third - first, 5 * SEC);
}

#[test]
fn timers_of_all_kinds_agree_on_one_virtual_timeline() {
    let log = Rc::new(RefCell::new(Vec::new()));
    virtual_loop().block_on({
        let log = log.clone();
        async move {
            let start = now();
            let l = log.clone();
            handloop_timer::call_later(3 * SEC, move || l.borrow_mut().push(("call_later", 3)));
            let l = log.clone();
            let task = spawn(async move {
                let mut ticker = handloop_timer::interval(2 * SEC);
                for _ in 0..3 {
                    let t = ticker.tick().await;
                    l.borrow_mut().push(("tick", (t - start).as_secs()));
                }
            });
            let r = handloop_timer::timeout(5 * SEC, std::future::pending::<()>()).await;
            assert!(r.is_err());
            log.borrow_mut()
                .push(("timeout", (now() - start).as_secs()));
            task.await.unwrap();
        }
    });
    assert_eq!(
        *log.borrow(),
        [
            ("tick", 0),
            ("tick", 2),
            ("call_later", 3),
            ("tick", 4),
            ("timeout", 5)
        ]
    );
}
