//! Seeing the loop, on the executor alone: the deadlock check (and that it never fires
//! while a wake can still come), the task dump, debug mode's stall and no-progress
//! reports, and the trace file.

mod common;

use std::cell::RefCell;
use std::future::{Future, pending, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::Gate;
use handloop_debug::trace::check_trace;
use handloop_executor::debug::{
    DebugOptions, Output, QueueKind, TaskStatus, WaitingOn, dump, record_waiting, record_waiting_in,
};
use handloop_executor::task::Builder;
use handloop_executor::{
    Driver, EventLoop, JoinHandle, ThreadPark, Unparker, Watching, spawn, yield_now,
};

/// Runs `f`, which must panic, and returns the panic's message.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it should have panicked");
    if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else {
        panic!("a panic without a message")
    }
}

/// A future that hands its waker to another thread, which wakes it after `delay`.
fn woken_from_a_thread_after(delay: Duration) -> impl Future<Output = ()> {
    let mut sent = false;
    poll_fn(move |cx| {
        if sent {
            return Poll::Ready(());
        }
        sent = true;
        let waker = cx.waker().clone();
        thread::spawn(move || {
            thread::sleep(delay);
            waker.wake();
        });
        Poll::Pending
    })
}

#[test]
fn a_future_that_keeps_no_waker_is_a_deadlock() {
    let message = panic_message(|| EventLoop::new().block_on(pending::<()>()));
    assert!(
        message.starts_with("handloop: deadlock: every task is waiting and nothing can wake"),
        "{message}"
    );
    assert!(
        message.contains("\n   0  main  waiting      1"),
        "{message}"
    );
    assert!(message.contains("unknown"), "{message}");
}

#[test]
fn a_join_cycle_under_main_is_proven_at_once() {
    let message = panic_message(|| {
        EventLoop::new().block_on(async {
            let slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
            let for_a = slot.clone();
            let a = Builder::new().name("a").spawn(async move {
                yield_now().await;
                let b = for_a.borrow_mut().take().unwrap();
                b.await.unwrap();
            });
            let a_slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::new(RefCell::new(Some(a)));
            let for_b = a_slot.clone();
            let b = Builder::new().name("b").spawn(async move {
                let a = for_b.borrow_mut().take().unwrap();
                a.await.unwrap();
            });
            *slot.borrow_mut() = Some(b);
            // Main awaits a third task that awaits nothing that can come.
            let c = Builder::new().name("c").spawn(pending::<()>());
            c.await.unwrap();
        })
    });
    assert!(
        message.starts_with("handloop: deadlock: every task is waiting"),
        "{message}"
    );
    assert!(message.contains("join #3 'c'"), "{message}");
    assert!(
        message.contains("cycles (each task waits for the next, so none of them can finish):\n  #1 'a' → #2 'b' → #1 'a'"),
        "{message}"
    );
    assert!(message.contains("#0 main\n└── #3 c\n"), "{message}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real time and threads: slow under Miri, and no unsafe of its own"
)]
fn a_waker_on_another_thread_that_wakes_later_is_not_a_deadlock() {
    let start = Instant::now();
    EventLoop::new().block_on(woken_from_a_thread_after(Duration::from_millis(200)));
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real time and threads: slow under Miri, and no unsafe of its own"
)]
fn a_task_woken_from_another_thread_while_main_awaits_it_is_not_a_deadlock() {
    EventLoop::new().block_on(async {
        let task = spawn(woken_from_a_thread_after(Duration::from_millis(200)));
        task.await.unwrap();
    });
}

/// A driver on a "virtual clock" that has nothing to jump to: it parks for real, as the
/// timer's virtual clock does when its heap is empty.
struct VirtualNothing(ThreadPark);

impl Driver for VirtualNothing {
    fn park(&mut self, timeout: Option<Duration>) {
        self.0.park(timeout);
    }
    fn unparker(&self) -> Unparker {
        self.0.unparker()
    }
    fn watching(&self) -> Watching {
        Watching {
            virtual_clock: true,
            ..Watching::default()
        }
    }
}

fn virtual_loop(grace: Duration) -> EventLoop {
    let options = DebugOptions {
        deadlock_grace: grace,
        ..DebugOptions::default()
    };
    EventLoop::with_options(VirtualNothing(ThreadPark::new()), options).unwrap()
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real time and threads: slow under Miri, and no unsafe of its own"
)]
fn on_a_virtual_clock_a_wake_within_the_grace_period_is_not_a_deadlock() {
    virtual_loop(Duration::from_secs(1))
        .block_on(woken_from_a_thread_after(Duration::from_millis(200)));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real time and threads: slow under Miri, and no unsafe of its own"
)]
fn on_a_virtual_clock_nothing_for_the_grace_period_is_a_deadlock() {
    let start = Instant::now();
    let message = panic_message(|| {
        virtual_loop(Duration::from_millis(100)).block_on(async {
            // A waker kept where the loop cannot see: it might be used, and is not.
            Gate::new().wait().await;
        })
    });
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(
        message.starts_with(
            "handloop: deadlock: every task is waiting, the virtual clock has no timer to \
             jump to, and nothing arrived for 0.100s of real time. 1 waker of waiting tasks"
        ),
        "{message}"
    );
    assert!(message.contains("deadlock_grace"), "{message}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real time and threads: slow under Miri, and no unsafe of its own"
)]
fn a_grace_period_shorter_than_the_wake_is_the_documented_false_alarm() {
    // The rare case the grace period is for: another thread wakes the loop, but later
    // than the grace period allows. A longer grace fixes it (the test above).
    let message = panic_message(|| {
        virtual_loop(Duration::from_millis(20))
            .block_on(woken_from_a_thread_after(Duration::from_millis(2000)))
    });
    assert!(message.starts_with("handloop: deadlock"), "{message}");
}

/// A driver that says nothing about what it watches (the trait's default) and delivers an
/// event on its first blocking park.
struct Opaque {
    park: ThreadPark,
    waiter: Rc<RefCell<Option<Waker>>>,
}

impl Driver for Opaque {
    fn park(&mut self, timeout: Option<Duration>) {
        if timeout.is_none()
            && let Some(waker) = self.waiter.borrow_mut().take()
        {
            waker.wake();
            return;
        }
        self.park.park(timeout);
    }
    fn unparker(&self) -> Unparker {
        self.park.unparker()
    }
}

#[test]
fn a_driver_that_cannot_tell_what_it_watches_is_never_called_deadlocked() {
    let waiter: Rc<RefCell<Option<Waker>>> = Rc::default();
    let event_loop = EventLoop::with_driver(Opaque {
        park: ThreadPark::new(),
        waiter: waiter.clone(),
    });
    let mut registered = false;
    event_loop.block_on(poll_fn(|cx| {
        if registered {
            return Poll::Ready(());
        }
        registered = true;
        // The "event source" keeps a waker the loop sees as held outside; then the
        // driver itself fires it.
        *waiter.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }));
}

#[test]
fn the_dump_shows_every_task_what_it_waits_on_and_who_awaits_whom() {
    EventLoop::new().block_on(async {
        let gate = Gate::new();
        let waiting = gate.clone();
        let fetch = Builder::new().name("fetch").spawn(async move {
            waiting.wait().await;
        });
        let job = Builder::new().name("job").spawn(poll_fn(|_| {
            record_waiting(WaitingOn::ToThread);
            record_waiting(WaitingOn::QueueGet {
                queue: QueueKind::Queue,
            });
            Poll::<()>::Pending
        }));
        let fetch_id = fetch.id().as_u64();
        let parent = Builder::new()
            .name("parent")
            .spawn(async move { fetch.await.unwrap() });
        let woken = spawn(async { yield_now().await });
        yield_now().await; // every task runs once
        let dump = dump(None);
        let row = |id: u64| dump.task(id).unwrap();
        assert_eq!(row(0).state, TaskStatus::Running);
        assert_eq!(row(fetch_id).state, TaskStatus::Waiting);
        assert_eq!(dump.waiting_on_text(row(fetch_id)), "unknown");
        let job = row(job.id().as_u64());
        assert_eq!(dump.waiting_on_text(job), "to_thread job, +1 more");
        let parent = row(parent.id().as_u64());
        assert_eq!(parent.awaits, vec![fetch_id]);
        assert_eq!(dump.waiting_on_text(parent), "join #1 'fetch'");
        assert_eq!(row(woken.id().as_u64()).state, TaskStatus::Ready);
        assert_eq!(row(woken.id().as_u64()).polls, 1);
        assert_eq!(dump.tasks.len(), 5);
        let text = dump.to_string();
        assert!(
            text.starts_with("5 tasks on the loop on thread '"),
            "{text}"
        );
        assert!(text.contains("#3 parent\n└── #1 fetch\n"), "{text}");
        assert!(
            dump.task(fetch_id).unwrap().age.is_none(),
            "ages need debug mode"
        );
        gate.open();
    });
}

#[test]
fn a_record_belongs_to_the_poll_that_made_it() {
    // Made before any loop runs: it reaches no task.
    record_waiting(WaitingOn::QueueGet {
        queue: QueueKind::Queue,
    });
    EventLoop::new().block_on(async {
        let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let slot = waker.clone();
        let mut polls = 0;
        let task = spawn(poll_fn(move |cx| {
            polls += 1;
            *slot.borrow_mut() = Some(cx.waker().clone());
            if polls == 2 {
                record_waiting(WaitingOn::Event); // only the second poll records
            }
            Poll::<()>::Pending
        }));
        let id = task.id().as_u64();
        let text = || {
            let dump = dump(None);
            dump.waiting_on_text(dump.task(id).unwrap())
        };
        yield_now().await;
        assert_eq!(text(), "unknown", "the first poll recorded nothing");
        waker.borrow_mut().take().unwrap().wake();
        yield_now().await;
        assert_eq!(text(), "Event.wait");
        waker.borrow_mut().take().unwrap().wake();
        yield_now().await;
        assert_eq!(text(), "unknown", "the third poll recorded nothing");
        task.abort();
    });
}

#[test]
fn a_record_made_between_polls_reaches_no_task() {
    // A detached task's output is dropped when the task completes, after its poll: a record
    // its destructor makes belongs to no poll.
    struct RecordsOnDrop;
    impl Drop for RecordsOnDrop {
        fn drop(&mut self) {
            record_waiting(WaitingOn::Event);
        }
    }
    EventLoop::new().block_on(async {
        drop(spawn(async { RecordsOnDrop }));
        let task = spawn(pending::<()>()); // polled next, records nothing
        yield_now().await;
        let dump = dump(None);
        assert_eq!(
            dump.waiting_on_text(dump.task(task.id().as_u64()).unwrap()),
            "unknown"
        );
        task.abort();
    });
}

#[test]
fn a_running_task_shows_no_wait_from_its_previous_poll() {
    EventLoop::new().block_on(async {
        let seen: Rc<RefCell<Option<Option<WaitingOn>>>> = Rc::default();
        let slot = seen.clone();
        let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let parked = waker.clone();
        let mut polls = 0;
        let task = spawn(poll_fn(move |cx| {
            polls += 1;
            if polls == 1 {
                *parked.borrow_mut() = Some(cx.waker().clone());
                record_waiting(WaitingOn::Event);
                return Poll::Pending;
            }
            // Polled again: the dump made now must not say it waits on the `Event`.
            let dump = dump(None);
            let row = dump
                .task(handloop_executor::task::current_task_id().unwrap().as_u64())
                .unwrap();
            *slot.borrow_mut() = Some(row.waiting_on);
            Poll::Ready(())
        }));
        yield_now().await;
        waker.borrow_mut().take().unwrap().wake();
        task.await.unwrap();
        assert_eq!(*seen.borrow(), Some(None));
    });
}

/// The dump's text for the task `id`'s wait.
fn waiting_text(id: u64) -> String {
    let dump = dump(None);
    dump.waiting_on_text(dump.task(id).unwrap())
}

/// Spawns a task that keeps its waker and waits, recording nothing; lets it run once and
/// returns its handle and the waker it kept.
async fn spawn_parked() -> (JoinHandle<()>, Waker) {
    let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
    let parked = slot.clone();
    let task = spawn(poll_fn(move |cx| {
        *parked.borrow_mut() = Some(cx.waker().clone());
        Poll::<()>::Pending // records nothing
    }));
    yield_now().await;
    let waker = slot.borrow_mut().take().expect("the task ran once");
    (task, waker)
}

#[test]
fn a_record_under_a_combinators_waker_goes_to_the_running_task() {
    EventLoop::new().block_on(async {
        let task = spawn(poll_fn(|_| {
            // An inner future polled with a waker of its own, as `gather` and
            // `FuturesUnordered` do: the record still reaches the task being polled.
            let inner = Context::from_waker(Waker::noop());
            record_waiting_in(&inner, WaitingOn::Barrier);
            Poll::<()>::Pending
        }));
        yield_now().await;
        assert_eq!(waiting_text(task.id().as_u64()), "Barrier.wait");
        task.abort();
    });
}

#[test]
fn a_record_through_a_tasks_waker_outside_its_poll_lasts_until_its_next_poll() {
    EventLoop::new().block_on(async {
        let (task, its_waker) = spawn_parked().await;
        let id = task.id().as_u64();
        assert_eq!(waiting_text(id), "unknown");
        // Main polls something with the task's waker: the record lands on the task.
        record_waiting_in(&Context::from_waker(&its_waker), WaitingOn::Event);
        assert_eq!(waiting_text(id), "Event.wait");
        // The task's next poll starts from an empty record.
        its_waker.wake();
        yield_now().await;
        assert_eq!(waiting_text(id), "unknown");
        task.abort();
    });
}

#[test]
fn a_record_through_a_tasks_waker_on_another_thread_is_not_a_data_race() {
    // Under Miri this checks that the header's record is reached soundly off the loop's
    // thread: the other thread records while the loop's thread reads the dump after it.
    EventLoop::new().block_on(async {
        let (task, its_waker) = spawn_parked().await;
        thread::scope(|scope| {
            scope.spawn(|| {
                let cx = Context::from_waker(&its_waker);
                record_waiting_in(&cx, WaitingOn::Oneshot);
                record_waiting_in(&cx, WaitingOn::Event); // counted
            });
        });
        let dump = dump(None);
        let row = dump.task(task.id().as_u64()).unwrap();
        assert_eq!(
            (row.waiting_on, row.more_waits),
            (Some(WaitingOn::Oneshot), 1)
        );
        drop(its_waker);
        task.abort();
    });
}

#[test]
fn a_record_through_a_tasks_waker_on_another_thread_during_its_poll_is_kept() {
    // Under Miri this checks the other thread's store against the loop's own view of the
    // header, which it holds across the poll.
    EventLoop::new().block_on(async {
        let task = spawn(poll_fn(|cx| {
            let its_waker = cx.waker().clone();
            thread::spawn(move || {
                record_waiting_in(&Context::from_waker(&its_waker), WaitingOn::Event);
            })
            .join()
            .unwrap();
            Poll::<()>::Pending
        }));
        yield_now().await;
        assert_eq!(waiting_text(task.id().as_u64()), "Event.wait");
        task.abort();
    });
}

#[test]
fn a_record_through_a_waker_that_outlived_its_loop_is_harmless() {
    // Under Miri this checks that the waker's reference keeps the header it records into
    // alive, after its task completed and its loop was dropped.
    let event_loop = EventLoop::new();
    let waker = event_loop.block_on(async { spawn_parked().await.1 });
    drop(event_loop); // completes (cancels) the task
    thread::spawn(move || {
        record_waiting_in(&Context::from_waker(&waker), WaitingOn::Event);
    })
    .join()
    .unwrap();
}

#[test]
fn a_task_awaiting_a_remote_join_handle_shows_it() {
    EventLoop::new().block_on(async {
        let remote = handloop_executor::Handle::current().spawn(pending::<()>());
        let waiter = spawn(remote);
        yield_now().await; // the remote task starts, the waiter waits on its handle
        let dump = dump(None);
        let row = dump.task(waiter.id().as_u64()).unwrap();
        assert_eq!(dump.waiting_on_text(row), "RemoteJoinHandle");
        waiter.abort(); // drops the handle; the remote task is cancelled with the loop
    });
}

fn buffer_options(buffer: &Arc<Mutex<String>>) -> DebugOptions {
    DebugOptions {
        debug: true,
        slow_poll_threshold: Duration::from_millis(50),
        no_progress_after: Duration::from_millis(100),
        output: Output::buffer(buffer.clone()),
        ..DebugOptions::default()
    }
}

fn text(buffer: &Mutex<String>) -> String {
    buffer.lock().unwrap().clone()
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real time and threads: slow under Miri, and no unsafe of its own"
)]
fn debug_mode_names_a_task_that_blocks_the_thread_while_it_blocks() {
    let buffer = Arc::new(Mutex::new(String::new()));
    let event_loop = EventLoop::with_options(ThreadPark::new(), buffer_options(&buffer)).unwrap();
    let seen_during_the_stall = event_loop.block_on(async {
        let reported = buffer.clone();
        Builder::new()
            .name("blocker")
            .spawn(async move {
                // Block the thread (no await) until the watchdog has named us, at most 10 s.
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if text(&reported).contains("task 'blocker' (id 1) has been running for") {
                        return true;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                false
            })
            .await
            .unwrap()
    });
    assert!(seen_during_the_stall, "{}", text(&buffer));
    // The watchdog prints the total at its first sample after the poll returned; dropping
    // the loop makes it take that sample now.
    drop(event_loop);
    let output = text(&buffer);
    assert!(
        output.contains("handloop: task 'blocker' (id 1) returned to the loop after "),
        "{output}"
    );
    assert!(!output.contains("'main'"), "main never blocked: {output}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real time and threads: slow under Miri, and no unsafe of its own"
)]
fn debug_mode_prints_the_dump_when_nothing_happens_for_a_while() {
    let buffer = Arc::new(Mutex::new(String::new()));
    let event_loop = EventLoop::with_options(ThreadPark::new(), buffer_options(&buffer)).unwrap();
    event_loop.block_on(async {
        Builder::new()
            .name("waiter")
            .spawn(woken_from_a_thread_after(Duration::from_millis(600)))
            .await
            .unwrap();
    });
    let output = text(&buffer);
    assert!(
        output.starts_with("handloop: no progress for 0.100s: every task is waiting\n"),
        "{output}"
    );
    assert!(output.contains("waiter"), "{output}");
    assert!(output.contains("join #1 'waiter'"), "{output}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real time and threads: slow under Miri, and no unsafe of its own"
)]
fn debug_mode_shows_ages_in_the_dump() {
    let buffer = Arc::new(Mutex::new(String::new()));
    let event_loop = EventLoop::with_options(ThreadPark::new(), buffer_options(&buffer)).unwrap();
    event_loop.block_on(async {
        let task = spawn(async { yield_now().await });
        yield_now().await;
        let dump = dump(None);
        assert!(dump.task(task.id().as_u64()).unwrap().age.is_some());
        assert!(dump.loop_name.starts_with("loop "), "{}", dump.loop_name);
        task.await.unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore = "writes a file")]
fn a_trace_of_a_small_program_passes_the_checker() {
    let dir = std::env::temp_dir().join(format!("handloop-exec-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    let options = DebugOptions {
        trace: Some(path.clone()),
        ..DebugOptions::default()
    };
    let event_loop = EventLoop::with_options(ThreadPark::new(), options).unwrap();
    event_loop.block_on(async {
        let fetch = Builder::new().name("fetch").spawn(async {
            for _ in 0..3 {
                yield_now().await;
            }
            7
        });
        let remote = Builder::new()
            .name("remote")
            .spawn(woken_from_a_thread_after(Duration::from_millis(10)));
        assert_eq!(fetch.await.unwrap(), 7);
        remote.await.unwrap();
    });
    drop(event_loop);
    let json = std::fs::read_to_string(&path).unwrap();
    let summary = check_trace(&json).unwrap();
    summary
        .expect_names([
            "main",
            "fetch",
            "remote",
            "waiting for events",
            "remote wakes",
        ])
        .unwrap();
    // fetch: 4 polls; main: 3 or more; remote: 2.
    assert!(summary.slices >= 9, "{summary}");
    // Two spawns, fetch's three yields, the remote wake, and both joins.
    assert!(summary.flows >= 7, "{summary}");
    assert!(summary.counters >= 1, "{summary}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn debug_mode_reads_the_ready_queue_soundly_through_spawns_wakes_aborts_and_panics() {
    // Debug state on (debug mode, its watchdog idle), and every way a task enters the
    // ready queue: spawned, woken by another task, by itself, by a join, aborted, and a
    // task that panics. The loop walks the queue after each poll: Miri checks the walk.
    let buffer = Arc::new(Mutex::new(String::new()));
    let options = DebugOptions {
        debug: true,
        slow_poll_threshold: Duration::from_secs(60),
        output: Output::buffer(buffer.clone()),
        ..DebugOptions::default()
    };
    let event_loop = EventLoop::with_options(ThreadPark::new(), options).unwrap();
    event_loop.block_on(async {
        let gate = Gate::new();
        let waiting = gate.clone();
        let opener = spawn(async move {
            yield_now().await;
            gate.open();
        });
        let waiter = spawn(async move { waiting.wait().await });
        let doomed = spawn(pending::<()>());
        let failing = spawn(async { panic!("boom") });
        yield_now().await;
        doomed.abort();
        opener.await.unwrap();
        waiter.await.unwrap();
        assert!(doomed.await.unwrap_err().is_cancelled());
        assert!(failing.await.unwrap_err().is_panic());
        // Left pending: cancelled when the loop is dropped, with its debug state.
        drop(spawn(pending::<()>()));
    });
    drop(event_loop);
    assert_eq!(*buffer.lock().unwrap(), "", "nothing was slow");
}
