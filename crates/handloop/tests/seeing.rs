//! Seeing the loop through the facade: what each of handloop's waiting futures says in
//! the dump, the deadlock report and when it must not fire, debug mode and tracing from
//! the builder and from the environment.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use handloop::debug::{TaskStatus, check_trace};
use handloop::task::Builder;
use handloop::{Queue, Runtime, oneshot};

mod common;
use common::{panic_message, virtual_runtime};

#[test]
fn every_waiting_future_of_handloop_says_what_it_waits_on() {
    virtual_runtime().block_on(async {
        let empty: Queue<u32> = Queue::unbounded();
        let full = Queue::bounded(1);
        full.try_put(0).unwrap();
        let unfinished = Queue::unbounded();
        unfinished.try_put(1).unwrap();
        let (_tx, rx) = oneshot::channel::<u32>();

        let get = {
            let empty = empty.clone();
            Builder::new()
                .name("getter")
                .spawn(async move { empty.get().await })
        };
        let put = {
            let full = full.clone();
            Builder::new()
                .name("putter")
                .spawn(async move { full.put(1).await })
        };
        let join = {
            let unfinished = unfinished.clone();
            Builder::new()
                .name("joiner")
                .spawn(async move { unfinished.join().await })
        };
        let recv = Builder::new().name("receiver").spawn(rx);
        let sleeper = Builder::new()
            .name("sleeper")
            .spawn(handloop::sleep(Duration::from_millis(2500)));
        let timed = {
            let empty = empty.clone();
            Builder::new()
                .name("timed")
                .spawn(async move { handloop::timeout(Duration::from_secs(9), empty.get()).await })
        };
        let ticking = Builder::new().name("ticking").spawn(async {
            let mut interval = handloop::time::interval(Duration::from_secs(3));
            interval.tick().await; // the first tick is at once
            interval.tick().await;
        });
        let sleeper_id = sleeper.id().as_u64();
        let awaiting = Builder::new().name("awaiting").spawn(sleeper);
        handloop::yield_now().await; // each runs once and waits

        let dump = handloop::dump();
        let said = |id: handloop::task::TaskId| {
            let row = dump.task(id.as_u64()).unwrap();
            assert_eq!(row.state, TaskStatus::Waiting, "{}", row.name);
            dump.waiting_on_text(row)
        };
        assert_eq!(said(get.id()), "Queue.get");
        assert_eq!(said(put.id()), "Queue.put");
        assert_eq!(said(join.id()), "Queue.join");
        assert_eq!(said(recv.id()), "oneshot.recv");
        assert_eq!(
            dump.waiting_on_text(dump.task(sleeper_id).unwrap()),
            "sleep until +2.500s"
        );
        // A timeout's task waits on the future inside it; the deadline is only a limit.
        assert_eq!(said(timed.id()), "Queue.get");
        assert_eq!(said(ticking.id()), "sleep until +3.000s");
        assert_eq!(said(awaiting.id()), format!("join #{sleeper_id} 'sleeper'"));
        let text = dump.to_string();
        assert!(
            text.contains(&format!(
                "#{} awaiting\n└── #{sleeper_id} sleeper\n",
                awaiting.id()
            )),
            "{text}"
        );
        // The tasks still waiting are dropped with the runtime.
        drop((get, put, join, recv, timed, ticking, awaiting));
    });
}

#[test]
fn the_locks_the_other_queues_and_task_groups_say_what_they_wait_on() {
    use std::rc::Rc;

    use handloop::TaskGroup;
    use handloop::sync::{Barrier, Condition, Event, Lock, Semaphore};
    use handloop_channel::{LifoQueue, PriorityQueue};

    virtual_runtime().block_on(async {
        let lock = Rc::new(Lock::new(0));
        let semaphore = Rc::new(Semaphore::new(0));
        let event = Rc::new(Event::new());
        let condition = Rc::new(Condition::new());
        let condition_lock = Rc::new(Lock::new(()));
        let barrier = Rc::new(Barrier::new(3));
        let lifo: LifoQueue<u32> = LifoQueue::unbounded();
        let priority = PriorityQueue::bounded(1);
        priority.try_put(1).unwrap();

        // #holder takes the lock and keeps it until told.
        let (release, released) = oneshot::channel::<()>();
        let holder = {
            let lock = lock.clone();
            Builder::new().name("holder").spawn(async move {
                let guard = lock.acquire().await;
                released.await.unwrap();
                drop(guard);
            })
        };
        handloop::yield_now().await; // the holder takes the lock
        let waiter = |name: &str| {
            let lock = lock.clone();
            Builder::new().name(name).spawn(async move {
                let mut guard = lock.acquire().await;
                *guard += 1;
                handloop::sleep(Duration::from_secs(1)).await; // hold it a while
            })
        };
        let first = waiter("first");
        let second = waiter("second");
        let acquire = {
            let semaphore = semaphore.clone();
            Builder::new()
                .name("acquire")
                .spawn(async move { drop(semaphore.acquire().await) })
        };
        let wait_event = {
            let event = event.clone();
            Builder::new()
                .name("event")
                .spawn(async move { event.wait().await })
        };
        let notified = {
            let (condition, lock) = (condition.clone(), condition_lock.clone());
            Builder::new().name("condition").spawn(async move {
                let guard = lock.acquire().await;
                drop(condition.wait(guard).await);
            })
        };
        let arrive = || {
            let barrier = barrier.clone();
            Builder::new()
                .name("barrier")
                .spawn(async move { barrier.wait().await.map(|arrived| arrived.is_leader()) })
        };
        let (arrive1, arrive2) = (arrive(), arrive());
        let lifo_get = {
            let lifo = lifo.clone();
            Builder::new()
                .name("lifo")
                .spawn(async move { lifo.get().await })
        };
        let priority_put = {
            let priority = priority.clone();
            Builder::new()
                .name("priority")
                .spawn(async move { priority.put(2).await })
        };
        let group = Builder::new().name("group").spawn(async {
            let group = TaskGroup::new();
            group.spawn(handloop::sleep(Duration::from_secs(5)));
            group.spawn(handloop::sleep(Duration::from_secs(6)));
            group.join().await
        });
        handloop::yield_now().await; // each runs once and waits

        let dump = handloop::dump();
        let said = |id: handloop::task::TaskId| {
            let row = dump.task(id.as_u64()).unwrap();
            assert_eq!(row.state, TaskStatus::Waiting, "{}", row.name);
            dump.waiting_on_text(row)
        };
        let holder_id = holder.id().as_u64();
        assert_eq!(
            said(first.id()),
            format!("Lock held by #{holder_id} 'holder'")
        );
        assert_eq!(
            said(second.id()),
            format!("Lock held by #{holder_id} 'holder'")
        );
        assert_eq!(said(acquire.id()), "Semaphore.acquire");
        assert_eq!(said(wait_event.id()), "Event.wait");
        assert_eq!(said(notified.id()), "Condition.wait");
        assert_eq!(said(arrive1.id()), "Barrier.wait");
        assert_eq!(said(arrive2.id()), "Barrier.wait");
        assert_eq!(said(lifo_get.id()), "LifoQueue.get");
        assert_eq!(said(priority_put.id()), "PriorityQueue.put");
        assert_eq!(said(group.id()), "TaskGroup, 2 tasks left");
        let text = dump.to_string();
        assert!(
            text.contains(&format!("#{holder_id} holder (holds the Lock)\n")),
            "{text}"
        );

        // The holder lets go: the lock is handed to `first`, and `second`, which was not
        // polled since, now waits for `first`.
        release.send(()).unwrap();
        handloop::yield_now().await; // the holder runs and hands the lock over
        handloop::yield_now().await; // `first` runs, takes it, and sleeps holding it
        let dump = handloop::dump();
        let row = dump.task(second.id().as_u64()).unwrap();
        assert_eq!(row.state, TaskStatus::Waiting);
        assert_eq!(
            dump.waiting_on_text(row),
            format!("Lock held by #{} 'first'", first.id())
        );

        // Everyone is let through, and the dump has nothing left to say about the lock.
        semaphore.add_permits(1);
        event.set();
        drop(condition_lock.acquire().await); // the waiter released it while it waits
        condition.notify_all();
        let third = arrive().await.unwrap().unwrap();
        lifo.try_put(7).unwrap();
        assert_eq!(priority.get().await, Ok(1));
        for task in [first, second, acquire, wait_event, notified, holder] {
            task.await.unwrap();
        }
        assert_eq!(*lock.acquire().await, 2);
        let leaders = [
            third,
            arrive1.await.unwrap().unwrap(),
            arrive2.await.unwrap().unwrap(),
        ];
        assert_eq!(leaders.iter().filter(|&&leader| leader).count(), 1);
        assert_eq!(lifo_get.await.unwrap(), Ok(7));
        priority_put.await.unwrap().unwrap();
        group.await.unwrap().unwrap();
    });
}

#[test]
fn a_callback_on_the_loop_builds_the_dump_against_the_loops_clock() {
    // What another thread's request for a dump will run: a callback on the loop.
    virtual_runtime().block_on(async {
        handloop::sleep(Duration::from_secs(3600)).await; // the virtual clock is an hour in
        let nap = Builder::new()
            .name("nap")
            .spawn(handloop::sleep(Duration::from_millis(1500)));
        let (tx, rx) = oneshot::channel();
        handloop::call_soon(move || {
            let _ = tx.send(handloop::dump());
        });
        let dump = rx.await.unwrap();
        let row = dump.task(nap.id().as_u64()).unwrap();
        assert_eq!(dump.waiting_on_text(row), "sleep until +1.500s");
        nap.await.unwrap();
    });
}

#[test]
fn a_task_that_can_never_finish_is_reported_at_once_on_the_real_clock() {
    let start = Instant::now();
    let message = panic_message(|| {
        handloop::run(async {
            let stuck = Builder::new()
                .name("stuck")
                .spawn(std::future::pending::<()>());
            stuck.await.unwrap();
        })
    });
    assert!(
        message.starts_with("handloop: deadlock: every task is waiting and nothing can wake"),
        "{message}"
    );
    assert!(message.contains("join #1 'stuck'"), "{message}");
    assert!(
        message.contains("   1  stuck  waiting      1  -    unknown"),
        "{message}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "at once, not after a wait"
    );
}

#[test]
fn a_oneshot_sent_from_another_thread_200_ms_later_is_not_a_deadlock() {
    for runtime in [Runtime::new().unwrap(), virtual_runtime()] {
        let value = runtime.block_on(async {
            let (tx, rx) = oneshot::channel();
            let sender = thread::spawn(move || {
                thread::sleep(Duration::from_millis(200));
                tx.send(7).unwrap();
            });
            let value = rx.await.unwrap();
            sender.join().unwrap();
            value
        });
        assert_eq!(value, 7);
    }
}

#[test]
fn on_the_virtual_clock_a_oneshot_nobody_sends_is_a_deadlock_after_the_grace_period() {
    let runtime = Runtime::builder()
        .virtual_time()
        .deadlock_grace(Duration::from_millis(50))
        .build()
        .unwrap();
    let message = panic_message(|| {
        runtime.block_on(async {
            let (_tx, rx) = oneshot::channel::<u32>();
            rx.await.unwrap();
        })
    });
    assert!(
        message.starts_with(
            "handloop: deadlock: every task is waiting, the virtual clock has no timer to jump \
             to, and nothing arrived for 0.050s of real time"
        ),
        "{message}"
    );
    assert!(message.contains("oneshot.recv"), "{message}");
}

#[test]
fn two_tasks_taking_two_locks_in_opposite_orders_are_reported_with_their_cycle() {
    use std::rc::Rc;

    use handloop::sync::Lock;

    let runtime = Runtime::builder()
        .virtual_time()
        .deadlock_grace(Duration::from_millis(50))
        .build()
        .unwrap();
    let message = panic_message(|| {
        runtime.block_on(async {
            let (a, b) = (Rc::new(Lock::new(())), Rc::new(Lock::new(())));
            let take = |name: &str, first: Rc<Lock<()>>, second: Rc<Lock<()>>| {
                Builder::new().name(name).spawn(async move {
                    let _first = first.acquire().await;
                    handloop::yield_now().await; // the other takes its first lock
                    let _second = second.acquire().await;
                })
            };
            let left = take("left", a.clone(), b.clone());
            let right = take("right", b, a);
            left.await.unwrap();
            right.await.unwrap();
        })
    });
    // The locks' lines hold the wakers, where the loop cannot see: the grace period.
    assert!(
        message.starts_with("handloop: deadlock: every task is waiting, the virtual clock"),
        "{message}"
    );
    for expected in [
        "   1  left   waiting      2  -    Lock held by #2 'right'\n",
        "   2  right  waiting      2  -    Lock held by #1 'left'\n",
        "  #1 'left' → #2 'right' → #1 'left'\n",
    ] {
        assert!(message.contains(expected), "{expected:?} in:\n{message}");
    }
}

#[test]
fn a_pending_timer_is_never_a_deadlock() {
    // Nothing else can wake main, but the timer will: on the virtual clock the loop jumps.
    let waited = virtual_runtime().block_on(async {
        let start = handloop::time::now();
        handloop::sleep(Duration::from_secs(3600)).await;
        handloop::time::now() - start
    });
    assert_eq!(waited, Duration::from_secs(3600));
}

#[test]
fn a_trace_of_a_small_program_on_the_virtual_clock() {
    let dir = std::env::temp_dir().join(format!("handloop-facade-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    let runtime = Runtime::builder()
        .virtual_time()
        .trace(&path)
        .trace_capacity(10_000)
        .build()
        .unwrap();
    runtime.block_on(async {
        let queue = Queue::bounded(1);
        let consumer = {
            let queue = queue.clone();
            Builder::new().name("consumer").spawn(async move {
                let mut sum = 0;
                while let Ok(item) = queue.get().await {
                    sum += item;
                }
                sum
            })
        };
        for item in 1..=4 {
            queue.put(item).await.unwrap();
            handloop::sleep(Duration::from_millis(10)).await;
        }
        queue.close();
        assert_eq!(consumer.await.unwrap(), 10);
    });
    drop(runtime);
    let summary = check_trace(&std::fs::read_to_string(&path).unwrap()).unwrap();
    summary.expect_names(["main", "consumer"]).unwrap();
    assert_eq!(summary.threads, 1);
    assert_eq!(summary.instants, 4, "a timer fired per sleep: {summary}");
    assert!(summary.flows >= 8, "{summary}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_trace_keeps_the_newest_events_its_capacity_allows() {
    let dir = std::env::temp_dir().join(format!("handloop-capacity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = |capacity: usize| {
        let path = dir.join(format!("{capacity}.json"));
        let runtime = Runtime::builder()
            .virtual_time()
            .trace(&path)
            .trace_capacity(capacity)
            .build()
            .unwrap();
        runtime.block_on(async {
            let early = Builder::new().name("early").spawn(async {});
            early.await.unwrap();
            for _ in 0..500 {
                handloop::yield_now().await;
            }
            let late = Builder::new().name("late").spawn(async {});
            late.await.unwrap();
        });
        drop(runtime); // writes the trace
        check_trace(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let small = trace(64);
    let whole = trace(1 << 20);
    assert!(small.slices <= 64, "{small}");
    small.expect_names(["main", "late"]).unwrap();
    assert!(
        !small.slice_names.contains("early"),
        "the oldest are gone: {small}"
    );
    assert!(whole.slices > 500, "{whole}");
    whole.expect_names(["main", "early", "late"]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[should_panic(expected = "trace_capacity(..) must be at least one event")]
fn a_trace_capacity_of_zero_is_refused() {
    let _ = Runtime::builder().trace_capacity(0).build();
}

/// Runs the ignored test `name` of this binary in a child process with `env` set, and
/// returns its stderr.
fn child_stderr(name: &str, env: &[(&str, &str)]) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--nocapture"])
        .env_remove("HANDLOOP_DEBUG")
        .env_remove("HANDLOOP_TRACE")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "the child failed:\n{stderr}");
    stderr
}

#[test]
#[ignore = "run by handloop_trace_writes_a_trace_for_run"]
fn child_run_twice() {
    for name in ["first", "second"] {
        handloop::run(async move {
            Builder::new()
                .name(name)
                .spawn(handloop::sleep(Duration::from_millis(1)))
                .await
                .unwrap();
        });
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn handloop_trace_writes_a_trace_for_run() {
    let dir = std::env::temp_dir().join(format!("handloop-env-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    child_stderr(
        "child_run_twice",
        &[("HANDLOOP_TRACE", path.to_str().unwrap())],
    );
    let summary = check_trace(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Both runs' loops, one track each.
    assert_eq!(summary.threads, 2, "{summary}");
    summary.expect_names(["first", "second"]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "run by debug_mode_on_the_real_clock_prints_the_dump_after_5_s_without_progress"]
fn child_waits_6_s_for_another_thread() {
    let value = Runtime::builder()
        .debug(true)
        .build()
        .unwrap()
        .block_on(async {
            let (tx, rx) = oneshot::channel();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(5500));
                tx.send(1).unwrap();
            });
            Builder::new().name("listener").spawn(rx).await.unwrap()
        });
    assert_eq!(value, Ok(1));
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn debug_mode_on_the_real_clock_prints_the_dump_after_5_s_without_progress() {
    let stderr = child_stderr("child_waits_6_s_for_another_thread", &[]);
    assert!(
        stderr.contains("handloop: no progress for 5 s: every task is waiting\n"),
        "{stderr}"
    );
    assert!(stderr.contains("oneshot.recv"), "{stderr}");
    assert!(stderr.contains("join #1 'listener'"), "{stderr}");
    assert_eq!(stderr.matches("no progress").count(), 1, "{stderr}");
}

#[test]
#[ignore = "run by the_builders_choice_wins_over_handloop_debug"]
fn child_blocks_with_debug_off() {
    Runtime::builder()
        .debug(false)
        .slow_poll_threshold(Duration::from_millis(10))
        .build()
        .unwrap()
        .block_on(async { thread::sleep(Duration::from_millis(200)) });
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn the_builders_choice_wins_over_handloop_debug() {
    let stderr = child_stderr("child_blocks_with_debug_off", &[("HANDLOOP_DEBUG", "1")]);
    assert!(!stderr.contains("handloop:"), "{stderr}");
}

#[test]
#[should_panic(expected = "slow_poll_threshold(..) must be longer than zero")]
fn a_zero_slow_poll_threshold_is_refused() {
    let _ = Runtime::builder()
        .slow_poll_threshold(Duration::ZERO)
        .build();
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no sockets")]
fn a_task_waiting_on_a_socket_shows_its_fd_and_the_trace_shows_the_event() {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    let dir = std::env::temp_dir().join(format!("handloop-io-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    let runtime = Runtime::builder().trace(&path).build().unwrap();
    let fd = runtime.block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let fd = server.as_raw_fd();
        let server = handloop::net::TcpStream::from_std(server).unwrap();
        let reader = Builder::new().name("reader").spawn(async move {
            let mut buf = [0; 5];
            server.read_exact(&mut buf).await.unwrap();
            buf
        });
        handloop::yield_now().await; // the reader finds nothing to read and waits
        let dump = handloop::dump();
        let row = dump.task(reader.id().as_u64()).unwrap();
        assert_eq!(dump.waiting_on_text(row), format!("readable fd {fd}"));
        // Nothing else can wake the loop, but the socket can: not a deadlock.
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            (&client).write_all(b"hello").unwrap();
            client
        });
        assert_eq!(&reader.await.unwrap(), b"hello");
        drop(writer.join().unwrap());
        fd
    });
    drop(runtime);
    let json = std::fs::read_to_string(&path).unwrap();
    let summary = check_trace(&json).unwrap();
    summary.expect_names(["main", "reader"]).unwrap();
    // The bytes' arrival is an instant on the loop's track (epoll reports the socket
    // writable too, edge-triggered: "readable and writable fd 7").
    let instant = json
        .lines()
        .find(|line| line.contains("\"ph\":\"i\"") && line.contains("readable"))
        .unwrap_or_else(|| panic!("no readable instant in {json}"));
    assert!(instant.contains(&format!(" fd {fd}\"")), "{instant}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[should_panic(expected = "dump() called with no running event loop on this thread")]
fn dump_outside_a_loop_says_where_to_call_it() {
    let _ = handloop::dump();
}
