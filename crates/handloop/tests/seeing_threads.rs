//! Seeing the loop from other threads: `Handle::dump`, and the deadlock rule's inputs from
//! the threads chapter (a live `Handle`, a `to_thread` job).

use std::cell::RefCell;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use handloop::debug::{PollNow, TaskStatus, Unanswered};
use handloop::task::{AbortHandle, Builder};
use handloop::{Handle, Queue, Runtime, oneshot};

mod common;
use common::{panic_message, virtual_runtime};

#[test]
fn a_plain_thread_dumps_a_loop_with_a_sleeper_a_queue_getter_and_a_to_thread_job() {
    virtual_runtime().block_on(async {
        let queue: Queue<u32> = Queue::unbounded();
        let sleeper = Builder::new()
            .name("sleeper")
            .spawn(handloop::sleep(Duration::from_millis(2500)));
        let getter = {
            let queue = queue.clone();
            Builder::new()
                .name("getter")
                .spawn(async move { queue.get().await })
        };
        let (release, released) = mpsc::channel::<()>();
        let job = Builder::new().name("job").spawn(async move {
            handloop::to_thread(move || released.recv().unwrap())
                .await
                .unwrap()
        });
        handloop::yield_now().await; // each runs once and waits

        // A plain thread asks for the dump while the loop waits (the job holds the virtual
        // clock, so the sleep is still 2.5 s away).
        let handle = Handle::current();
        let (tx, rx) = oneshot::channel();
        let asker = thread::spawn(move || {
            let dump = handle.dump();
            tx.send(dump).unwrap();
        });
        let dump = rx.await.unwrap();
        asker.join().unwrap();

        assert_eq!(dump.unanswered, None);
        let text = |id: handloop::task::TaskId| {
            let row = dump.task(id.as_u64()).expect("a row for the task");
            assert_eq!(row.state, TaskStatus::Waiting);
            dump.waiting_on_text(row)
        };
        assert_eq!(text(sleeper.id()), "sleep until +2.500s");
        assert_eq!(text(getter.id()), "Queue.get");
        assert_eq!(text(job.id()), "to_thread job");
        let printed = dump.to_string();
        assert!(
            printed.starts_with("4 tasks on the loop on thread '"),
            "{printed}"
        );
        assert!(printed.contains("  job      waiting"), "{printed}");

        release.send(()).unwrap();
        job.await.unwrap();
        queue.try_put(1).unwrap();
        assert_eq!(getter.await.unwrap().unwrap(), 1);
        sleeper.await.unwrap();
    });
}

#[test]
fn on_the_loops_own_thread_handle_dump_dumps_at_once() {
    virtual_runtime().block_on(async {
        let napper = Builder::new()
            .name("napper")
            .spawn(handloop::sleep(Duration::from_secs(3)));
        handloop::yield_now().await;
        let dump = Handle::current().dump(); // does not wait for itself
        assert_eq!(dump.unanswered, None);
        assert_eq!(dump.task(0).unwrap().state, TaskStatus::Running);
        let row = dump.task(napper.id().as_u64()).unwrap();
        assert_eq!(dump.waiting_on_text(row), "sleep until +3.000s");
        napper.abort();
    });
}

#[test]
fn a_closed_loop_gives_a_dump_that_says_so() {
    let runtime = Runtime::new().unwrap();
    let handle = runtime.handle();
    drop(runtime);
    for dump in [
        handle.dump(),
        thread::spawn(move || handle.dump()).join().unwrap(),
    ] {
        assert_eq!(dump.unanswered, Some(Unanswered::Closed));
        assert!(dump.tasks.is_empty());
        let text = dump.to_string();
        assert!(
            text.starts_with("no dump of the loop on thread '")
                && text.ends_with("': the loop is closed (it was dropped)\n"),
            "{text}"
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "waits a second of real time")]
fn a_loop_nothing_runs_does_not_answer_and_the_dump_says_so_after_a_second() {
    // Built, but no block_on in progress: the request waits in the loop's queue.
    for debug in [false, true] {
        let runtime = Runtime::builder().debug(debug).build().unwrap();
        let handle = runtime.handle();
        let asked = Instant::now();
        let dump = thread::spawn(move || handle.dump()).join().unwrap();
        let waited = asked.elapsed();
        assert!(waited >= handloop::debug::DUMP_WAIT, "{waited:?}");
        let Some(Unanswered::NoReply { waited, poll }) = &dump.unanswered else {
            panic!("no answer expected: {dump:?}");
        };
        assert!(*waited >= handloop::debug::DUMP_WAIT);
        let text = dump.to_string();
        assert!(text.contains(": no answer within 1."), "{text}");
        if debug {
            assert_eq!(poll, &Some(PollNow::None));
            assert!(text.contains("no poll is running"), "{text}");
        } else {
            assert_eq!(poll, &None);
            assert!(
                text.contains("a poll holds the loop's thread, or nothing is running the loop"),
                "{text}"
            );
        }
        // The request was queued: the next block_on answers it (nobody listens any more).
        runtime.block_on(handloop::yield_now());
    }
}

#[test]
#[cfg_attr(miri, ignore = "blocks a thread for real time")]
fn a_loop_held_by_a_blocking_poll_does_not_answer_and_debug_mode_names_the_task() {
    let runtime = Runtime::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(50))
        .build()
        .unwrap();
    let handle = runtime.handle();
    let (started, blocking) = mpsc::channel();
    let asker = thread::spawn(move || {
        blocking.recv().unwrap();
        handle.dump()
    });
    let blocker_id = runtime.block_on(async move {
        let blocker = Builder::new().name("blocker").spawn(async move {
            started.send(()).unwrap();
            thread::sleep(Duration::from_millis(1600)); // the mistake: holds the loop
        });
        let id = blocker.id().as_u64();
        blocker.await.unwrap();
        id
    });
    let dump = asker.join().unwrap();
    let Some(Unanswered::NoReply {
        poll:
            Some(PollNow::Task {
                id,
                name,
                running_for,
            }),
        ..
    }) = &dump.unanswered
    else {
        panic!("the running poll expected: {dump:?}");
    };
    assert_eq!(*id, blocker_id);
    assert_eq!(name.as_deref(), Some("blocker"));
    let running_for = running_for.expect("the watchdog saw the poll");
    assert!(running_for >= Duration::from_millis(800), "{running_for:?}");
    let text = dump.to_string();
    assert!(
        text.contains(": no answer within 1.")
            && text.contains(&format!(
                "task 'blocker' (id {blocker_id}) has been running for "
            ))
            && text.ends_with(" without yielding to the loop\n"),
        "{text}"
    );
}

thread_local! {
    static TO_ABORT: RefCell<Option<AbortHandle>> = const { RefCell::new(None) };
}

/// `block_on` awaits a task that never wakes by itself: only a callback sent through a
/// Handle from another thread (aborting it, after 200 ms) ends the wait. Without the
/// Handle in the deadlock rule's evidence, every waker sits in a join slot: a deadlock.
fn awaited_only_through_a_handle(runtime: &Runtime) {
    let cancelled = runtime.block_on(async {
        let stuck = Builder::new()
            .name("stuck")
            .spawn(std::future::pending::<()>());
        TO_ABORT.with(|slot| *slot.borrow_mut() = Some(stuck.abort_handle()));
        let handle = Handle::current();
        let waker = thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            handle
                .call_soon_threadsafe(|| {
                    TO_ABORT.with(|slot| slot.borrow_mut().take().unwrap().abort());
                })
                .unwrap();
        });
        let result = stuck.await;
        waker.join().unwrap();
        result.unwrap_err().is_cancelled()
    });
    assert!(cancelled);
}

#[test]
fn a_handle_alive_on_another_thread_is_not_a_deadlock_on_the_real_clock() {
    awaited_only_through_a_handle(&Runtime::new().unwrap());
}

#[test]
fn a_handle_alive_on_another_thread_is_not_a_deadlock_within_the_grace_period() {
    awaited_only_through_a_handle(&virtual_runtime());
}

#[test]
fn once_the_last_handle_is_dropped_the_loop_reports_the_deadlock() {
    let start = Instant::now();
    let message = panic_message(|| {
        handloop::run(async {
            let stuck = Builder::new()
                .name("stuck")
                .spawn(std::future::pending::<()>());
            let handle = Handle::current();
            // Held for 100 ms, then dropped unused: the loop is woken to look again.
            let holder = thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                drop(handle);
            });
            let _ = stuck.await;
            holder.join().unwrap();
        })
    });
    assert!(
        message.starts_with("handloop: deadlock: every task is waiting and nothing can wake"),
        "{message}"
    );
    assert!(message.contains("join #1 'stuck'"), "{message}");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

/// A task awaits a `to_thread` job that sleeps 200 ms, then answers.
fn awaits_a_200_ms_job(runtime: &Runtime) {
    let answer = runtime.block_on(async {
        handloop::to_thread(|| {
            thread::sleep(Duration::from_millis(200));
            42
        })
        .await
        .unwrap()
    });
    assert_eq!(answer, 42);
}

#[test]
fn a_to_thread_job_is_not_a_deadlock_on_the_real_clock() {
    awaits_a_200_ms_job(&Runtime::new().unwrap());
}

#[test]
fn a_to_thread_job_is_not_a_deadlock_on_the_virtual_clock_even_past_the_grace_period() {
    // The grace period is a quarter of the job: the job's clock hold, not the grace
    // period, is what keeps the loop waiting.
    let runtime = Runtime::builder()
        .virtual_time()
        .deadlock_grace(Duration::from_millis(50))
        .build()
        .unwrap();
    awaits_a_200_ms_job(&runtime);
}

#[test]
fn two_tasks_awaiting_each_others_oneshot_are_still_a_deadlock() {
    let runtime = Runtime::builder()
        .virtual_time()
        .deadlock_grace(Duration::from_millis(50))
        .build()
        .unwrap();
    let message = panic_message(|| {
        runtime.block_on(async {
            let (to_a, for_a) = oneshot::channel::<u32>();
            let (to_b, for_b) = oneshot::channel::<u32>();
            // Each holds the sender the other waits for, and sends only after its own wait.
            let a = Builder::new().name("a").spawn(async move {
                let got = for_a.await.unwrap();
                to_b.send(got).unwrap();
            });
            let b = Builder::new().name("b").spawn(async move {
                let got = for_b.await.unwrap();
                to_a.send(got).unwrap();
            });
            a.await.unwrap();
            b.await.unwrap();
        })
    });
    assert!(
        message.starts_with(
            "handloop: deadlock: every task is waiting, the virtual clock has no timer to jump \
             to, and nothing arrived for 0.050s of real time. 2 wakers of waiting tasks are \
             held outside the loop"
        ),
        "{message}"
    );
    assert!(!message.contains("Handle"), "{message}");
    assert!(
        message.contains("   1  a     waiting      1  -    oneshot.recv\n"),
        "{message}"
    );
    assert!(
        message.contains("   2  b     waiting      1  -    oneshot.recv\n"),
        "{message}"
    );
}
