//! `TaskGroup`'s promises, with CPython's `test_taskgroups.py` cases ported (virtual time,
//! exact instants): every joiner wakes, every failure is listed, siblings are cancelled,
//! children spawned after a failure never run, nested groups; and what reaches stderr.

use std::cell::{Cell, RefCell};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use handloop::{Runtime, TaskGroup, sleep, spawn, time, timeout, yield_now};

fn virtual_runtime() -> Runtime {
    Runtime::builder().virtual_time().build().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Counts its drops.
struct OnDrop(Rc<Cell<u32>>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Panics when dropped: a child whose cleanup fails.
struct PanicOnDrop(&'static str);
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// The ids, names and messages a group's error lists.
fn listed(error: &handloop::TaskGroupError) -> Vec<(u64, String, String)> {
    error
        .failures()
        .iter()
        .map(|f| {
            let id = f.task_id().unwrap().as_u64();
            (id, f.task_name().to_string(), f.panic_message().to_string())
        })
        .collect()
}

fn entry(id: u64, name: &str, message: &str) -> (u64, String, String) {
    (id, name.to_string(), message.to_string())
}

// --- Several tasks awaiting one join (issue 9's probe) ---

#[test]
fn every_task_awaiting_join_wakes_in_order_and_sees_the_outcome() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let group = Rc::new(TaskGroup::new());
        group.spawn_named("fleet-1", async {
            sleep(ms(2000)).await;
        });
        group.spawn_named("fleet-2", async {
            sleep(ms(1000)).await;
            panic!("engine failure");
        });
        let log = Rc::new(RefCell::new(Vec::new()));
        let joiners: Vec<_> = ["first", "second", "third"]
            .into_iter()
            .map(|who| {
                let (group, log) = (group.clone(), log.clone());
                spawn(async move {
                    let outcome = group.join().await;
                    log.borrow_mut().push((who, time::now() - start));
                    outcome
                })
            })
            .collect();
        let mine = group.join().await.unwrap_err();
        assert_eq!(time::now() - start, ms(1000), "the sibling was aborted");
        let expected = vec![entry(2, "fleet-2", "engine failure")];
        assert_eq!(listed(&mine), expected);
        for joiner in joiners {
            assert_eq!(joiner.await.unwrap().unwrap_err(), mine);
        }
        // Woken in the order they started waiting (main waited last), all at 1 s.
        assert_eq!(
            *log.borrow(),
            [
                ("first", ms(1000)),
                ("second", ms(1000)),
                ("third", ms(1000))
            ]
        );
        // A later join gets the same outcome again.
        assert_eq!(group.join().await.unwrap_err(), mine);
    });
}

#[test]
fn every_joiner_of_a_group_that_succeeds_gets_ok() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let group = Rc::new(TaskGroup::new());
        group.spawn(sleep(ms(300)));
        let g = group.clone();
        let other = spawn(async move {
            g.join().await.unwrap();
            time::now() - start
        });
        group.join().await.unwrap();
        assert_eq!(time::now() - start, ms(300));
        assert_eq!(other.await.unwrap(), ms(300));
        group.join().await.unwrap();
    });
}

#[test]
fn a_dropped_join_leaves_no_entry_and_the_others_still_wake() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let group = Rc::new(TaskGroup::new());
        group.spawn(sleep(ms(10_000)));
        // Polled and dropped a thousand times over (a timeout in a loop): nothing piles up.
        for _ in 0..1000 {
            assert!(timeout(ms(1), group.join()).await.is_err());
        }
        assert_eq!(time::now() - start, ms(1000));
        assert!(format!("{group:?}").contains("joiners: 0"), "{group:?}");
        let g = group.clone();
        let patient = spawn(async move { g.join().await });
        yield_now().await;
        assert!(format!("{group:?}").contains("joiners: 1"), "{group:?}");
        patient.await.unwrap().unwrap();
        assert_eq!(time::now() - start, ms(10_000));
    });
}

#[test]
fn a_joiner_woken_by_the_last_child_waits_again_for_children_spawned_meanwhile() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let group = Rc::new(TaskGroup::new());
        group.spawn(sleep(ms(100)));
        let g = group.clone();
        let joiner = spawn(async move {
            g.join().await.unwrap();
            time::now() - start
        });
        // Wake at 100 ms, but before the joiner runs, the group has a new child.
        sleep(ms(100)).await;
        group.spawn(sleep(ms(50)));
        assert_eq!(joiner.await.unwrap(), ms(150));
    });
}

// --- CPython's test_taskgroups.py, ported ---

/// test_taskgroup_01 and _02: the group waits for children, including one spawned later.
#[test]
fn cpython_taskgroup_01_02_waits_for_every_child() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let group = TaskGroup::new();
        let t1 = group.spawn(async {
            sleep(ms(100)).await;
            42
        });
        sleep(ms(150)).await;
        let t2 = group.spawn(async {
            sleep(ms(200)).await;
            11
        });
        group.join().await.unwrap();
        assert_eq!(time::now() - start, ms(350));
        assert_eq!((t1.await.unwrap(), t2.await.unwrap()), (42, 11));
    });
}

/// test_taskgroup_03: a child cancelled through its own handle does not fail the group.
#[test]
fn cpython_taskgroup_03_cancelling_one_child_is_not_a_failure() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let group = TaskGroup::new();
        let t1 = group.spawn(async {
            sleep(ms(1000)).await;
            42
        });
        sleep(ms(150)).await;
        t1.abort();
        let t2 = group.spawn(async {
            sleep(ms(200)).await;
            11
        });
        group.join().await.unwrap();
        assert_eq!(time::now() - start, ms(350));
        assert!(t1.await.unwrap_err().is_cancelled());
        assert_eq!(t2.await.unwrap(), 11);
    });
}

/// test_taskgroup_04 and test_cancel_children_on_child_error: three children fail at the
/// same instant and all three are listed; the sibling is cancelled (its cleanup runs, its
/// work after the sleep never does), and the group fails at that instant.
#[test]
fn cpython_cancel_children_on_child_error_lists_every_failure() {
    let runtime = virtual_runtime();
    let num = Rc::new(Cell::new(0));
    let cleaned = Rc::new(Cell::new(0));
    let (n, c) = (num.clone(), cleaned.clone());
    runtime.block_on(async move {
        let start = time::now();
        let group = TaskGroup::new();
        for name in ["foo1-a", "foo1-b", "foo1-c"] {
            group.spawn_named(name, async {
                sleep(ms(100)).await;
                panic!("division by zero");
            });
        }
        let guard = OnDrop(c);
        let foo2 = group.spawn_named("foo2", async move {
            let _cleanup = guard; // asyncio's `except CancelledError:` block
            sleep(ms(5000)).await;
            n.set(n.get() + 1);
        });
        let error = group.join().await.unwrap_err();
        assert_eq!(time::now() - start, ms(100));
        assert_eq!(
            listed(&error),
            [
                entry(1, "foo1-a", "division by zero"),
                entry(2, "foo1-b", "division by zero"),
                entry(3, "foo1-c", "division by zero"),
            ]
        );
        // The first failure still has the accessors it always had.
        assert_eq!(
            (error.task_id().unwrap().as_u64(), error.task_name()),
            (1, "foo1-a")
        );
        assert_eq!(error.panic_message(), "division by zero");
        assert_eq!(
            error.to_string(),
            "3 tasks of the task group panicked: 'foo1-a' (id 1): division by zero; \
             'foo1-b' (id 2): division by zero; 'foo1-c' (id 3): division by zero"
        );
        assert!(foo2.await.unwrap_err().is_cancelled());
    });
    assert_eq!(num.get(), 0, "the cancelled sibling never went on");
    assert_eq!(cleaned.get(), 1, "its cleanup ran");
}

/// A sibling woken at the same instant takes the step it was about to take (the abort is
/// queued behind it, as asyncio's done callback is); one woken later does not.
#[test]
fn siblings_ready_at_the_failure_take_their_step_later_ones_do_not() {
    let runtime = virtual_runtime();
    let steps = Rc::new(RefCell::new(Vec::new()));
    let (s1, s2) = (steps.clone(), steps.clone());
    runtime.block_on(async move {
        let group = TaskGroup::new();
        group.spawn(async {
            sleep(ms(100)).await;
            panic!("boom");
        });
        group.spawn(async move {
            sleep(ms(100)).await;
            s1.borrow_mut().push("same instant");
            yield_now().await; // back of the queue: behind the abort
            s1.borrow_mut().push("after a yield");
        });
        group.spawn(async move {
            sleep(ms(101)).await;
            s2.borrow_mut().push("a millisecond later");
        });
        assert_eq!(group.join().await.unwrap_err().failures().len(), 1);
    });
    assert_eq!(*steps.borrow(), ["same instant"]);
}

/// test_taskgroup_19 (an exception raised in a cancelled task's `finally`): a sibling whose
/// cleanup panics while it is cancelled is listed after the panic that cancelled it, and
/// its own handle reports that panic.
#[test]
fn cpython_taskgroup_19_a_failing_cleanup_is_listed_too() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let group = TaskGroup::new();
        let nested = group.spawn_named("nested", async {
            let _finally = PanicOnDrop("cleanup failed");
            sleep(ms(10_000)).await;
        });
        group.spawn_named("crash_soon", async {
            sleep(ms(100)).await;
            panic!("division by zero");
        });
        let error = group.join().await.unwrap_err();
        assert_eq!(time::now() - start, ms(100));
        assert_eq!(
            listed(&error),
            [
                entry(2, "crash_soon", "division by zero"),
                entry(1, "nested", "cleanup failed"),
            ]
        );
        let nested = nested.await.unwrap_err();
        assert_eq!(nested.panic_message(), Some("cleanup failed"));
    });
}

/// A child's panic while dropping its finished future (after it returned) is a failure.
#[test]
fn a_panic_while_dropping_a_finished_child_fails_the_group() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let group = TaskGroup::new();
        let sibling = group.spawn(sleep(ms(10_000)));
        group.spawn_named("leaky", async {
            let _guard = PanicOnDrop("leak detected");
            sleep(ms(100)).await;
            7
        });
        let error = group.join().await.unwrap_err();
        assert_eq!(time::now() - start, ms(100));
        assert_eq!(listed(&error), [entry(2, "leaky", "leak detected")]);
        assert!(sibling.await.unwrap_err().is_cancelled());
    });
}

/// A child spawned after the group failed never runs, whether a sibling spawns it in the
/// same turn as the failure (before the others are aborted) or the parent does later.
#[test]
fn a_child_spawned_after_the_failure_never_runs() {
    let runtime = virtual_runtime();
    let ran = Rc::new(Cell::new(0));
    let dropped = Rc::new(Cell::new(0));
    let (r, d) = (ran.clone(), dropped.clone());
    runtime.block_on(async move {
        let start = time::now();
        let group = Rc::new(TaskGroup::new());
        group.spawn(async {
            sleep(ms(100)).await;
            panic!("boom");
        });
        let g = group.clone();
        let (r1, d1) = (r.clone(), d.clone());
        let spawner = group.spawn(async move {
            sleep(ms(100)).await;
            let guard = OnDrop(d1);
            let late = g.spawn(async move {
                let _guard = guard;
                r1.set(r1.get() + 1);
            });
            late.is_finished()
        });
        let error = group.join().await.unwrap_err();
        assert_eq!(time::now() - start, ms(100));
        assert_eq!(error.failures().len(), 1);
        // The spawner took its step (it was ready at the failure) and returned.
        assert!(!spawner.await.unwrap());
        let guard = OnDrop(d.clone());
        let later = group.spawn(async move {
            let _guard = guard;
            r.set(r.get() + 1);
        });
        assert!(later.await.unwrap_err().is_cancelled());
        assert_eq!(time::now() - start, ms(100));
        // The failed group still reports the same failure.
        assert_eq!(group.join().await.unwrap_err(), error);
    });
    assert_eq!(ran.get(), 0, "neither late child ran");
    assert_eq!(dropped.get(), 2, "both were dropped");
}

/// test_taskgroup_13: the outer group fails first; the inner group, inside a cancelled
/// child, is dropped with it and its child never gets to fail.
#[test]
fn cpython_taskgroup_13_outer_failure_cancels_the_inner_group() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let outer = TaskGroup::new();
        let inner_child = Rc::new(RefCell::new(None));
        let slot = inner_child.clone();
        let holder = outer.spawn_named("holder", async move {
            let inner = TaskGroup::new();
            *slot.borrow_mut() = Some(inner.spawn_named("crash_after(10)", async {
                sleep(ms(10_000)).await;
                panic!("ValueError(10)");
            }));
            inner.join().await
        });
        outer.spawn_named("crash_after(0.1)", async {
            sleep(ms(100)).await;
            panic!("ValueError(0.1)");
        });
        let error = outer.join().await.unwrap_err();
        assert_eq!(time::now() - start, ms(100));
        assert_eq!(
            listed(&error),
            [entry(2, "crash_after(0.1)", "ValueError(0.1)")]
        );
        assert!(holder.await.unwrap_err().is_cancelled());
        let inner_child = inner_child.borrow_mut().take().unwrap();
        assert!(inner_child.await.unwrap_err().is_cancelled());
    });
}

/// test_taskgroup_14: the inner group fails first; the child holding it fails with the
/// inner group's error, which the outer group lists, and the outer sibling is cancelled.
#[test]
fn cpython_taskgroup_14_inner_failure_reaches_the_outer_group() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let outer = TaskGroup::new();
        let slow = outer.spawn_named("crash_after(10)", async {
            sleep(ms(10_000)).await;
            panic!("ValueError(10)");
        });
        outer.spawn_named("holder", async {
            let inner = TaskGroup::new();
            inner.spawn_named("crash_after(0.1)", async {
                sleep(ms(100)).await;
                panic!("ValueError(0.1)");
            });
            if let Err(error) = inner.join().await {
                panic!("{error}");
            }
        });
        let error = outer.join().await.unwrap_err();
        assert_eq!(time::now() - start, ms(100));
        assert_eq!(
            listed(&error),
            [entry(
                2,
                "holder",
                "task 'crash_after(0.1)' (id 3) of the task group panicked: ValueError(0.1)"
            )]
        );
        assert!(slow.await.unwrap_err().is_cancelled());
    });
}

/// test_taskgroup_24: a child spawns more children into its own group; `join` waits for
/// them.
#[test]
fn cpython_taskgroup_24_children_spawned_by_a_child_are_joined() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let start = time::now();
        let group = Rc::new(TaskGroup::new());
        let g = group.clone();
        group.spawn(async move {
            sleep(ms(100)).await;
            g.spawn(sleep(ms(100)));
            g.spawn(sleep(ms(200)));
        });
        group.join().await.unwrap();
        assert_eq!(time::now() - start, ms(300));
    });
}

/// test_taskgroup_25: hydras spawn two more each every 10 ms until hercules fails; the
/// failure stops them all at that instant.
#[test]
fn cpython_taskgroup_25_hydras_stop_when_hercules_fails() {
    async fn hydra(group: Rc<TaskGroup>, count: Rc<Cell<u32>>) {
        count.set(count.get() + 1);
        sleep(ms(10)).await;
        group.spawn(hydra(group.clone(), count.clone()));
        group.spawn(hydra(group.clone(), count.clone()));
    }
    let runtime = virtual_runtime();
    let hydras = Rc::new(Cell::new(0));
    let h = hydras.clone();
    runtime.block_on(async move {
        let start = time::now();
        let group = Rc::new(TaskGroup::new());
        group.spawn(hydra(group.clone(), h.clone()));
        group.spawn_named("hercules", async move {
            while h.get() < 10 {
                sleep(ms(15)).await;
            }
            panic!("division by zero");
        });
        let error = group.join().await.unwrap_err();
        // Hercules looks at 0, 15 and 30 ms (1, 3 and 7 hydras: those spawned at 30 ms
        // have not run yet), and at 45 ms sees 15.
        assert_eq!(time::now() - start, ms(45));
        assert_eq!(listed(&error), [entry(2, "hercules", "division by zero")]);
    });
    // 1 + 2 + 4 + 8 + 16: the 16 spawned at 40 ms ran their first step before 45 ms.
    assert_eq!(hydras.get(), 31);
}

/// test_taskgroup_task_name.
#[test]
fn cpython_taskgroup_task_name() {
    handloop::run(async {
        let group = TaskGroup::new();
        let t = group.spawn_named("yolo", yield_now());
        assert_eq!(t.name(), "yolo");
        group.join().await.unwrap();
    });
}

#[test]
fn a_single_failure_displays_as_before() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        let group = TaskGroup::new();
        group.spawn_named("fleet-7", async { panic!("engine failure") });
        let error = group.join().await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "task 'fleet-7' (id 1) of the task group panicked: engine failure"
        );
        assert_eq!(
            error.failures()[0].to_string(),
            "task 'fleet-7' (id 1) panicked: engine failure"
        );
    });
}

// --- What reaches stderr (issue 9's probe) ---
//
// Why a group child's panic was reported as "nobody awaited its JoinHandle": the executor
// counts a panic as observed only when the task's `JoinHandle` takes the outcome. The
// group's `Child` wrapper catches the panic only to read its message, then resumes it for
// the executor, which cannot know that anyone looked. Group children's handles are usually
// dropped at `spawn` (the group is what one awaits), so the executor reports the panic when
// the task ends; a handle kept and dropped unawaited reports it at its drop. Why twice: the
// panic is printed first by Rust's panic hook where it happens (std does that for every
// panic, caught or not), then again by that report; in nested groups every level adds one
// more report line, each repeating the failure.

/// Run in a child process by the tests below, so that its stderr can be read.
#[test]
#[ignore = "run in a child process by the stderr tests"]
fn child_process_joined_groups() {
    let runtime = virtual_runtime();
    runtime.block_on(async {
        // Two children fail at once; one handle is dropped at spawn, one kept and dropped
        // unawaited after the group returned the panics.
        let group = TaskGroup::new();
        group.spawn_named("fleet-7", async { panic!("engine failure") });
        let kept = group.spawn_named("fleet-8", async { panic!("rudder jammed") });
        assert_eq!(group.join().await.unwrap_err().failures().len(), 2);
        drop(kept);
        // Nested: the inner failure travels up as the holder's panic.
        let outer = TaskGroup::new();
        outer.spawn_named("holder", async {
            let inner = TaskGroup::new();
            inner.spawn_named("deep", async { panic!("hull breach") });
            if let Err(error) = inner.join().await {
                panic!("{error}");
            }
        });
        assert_eq!(outer.join().await.unwrap_err().failures().len(), 1);
    });
}

#[test]
#[ignore = "child process"]
fn child_process_unjoined_group() {
    handloop::run(async {
        let group = TaskGroup::new();
        group.spawn_named("forgotten", async { panic!("nobody joins") });
        yield_now().await;
        yield_now().await;
        drop(group);
        yield_now().await;
    });
}

fn stderr_of(test: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", test, "--nocapture"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{test} failed:\n{stderr}");
    stderr
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn a_panic_the_group_observed_is_not_reported_as_unawaited() {
    let stderr = stderr_of("child_process_joined_groups");
    assert!(!stderr.contains("nobody awaited"), "stderr was:\n{stderr}");
    // Each panic is printed once, by the panic hook where it happened; the holder's own
    // panic message repeats the inner failure once more, and nothing else does.
    assert_eq!(stderr.matches("engine failure").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("rudder jammed").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("hull breach").count(), 2, "{stderr}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn a_joined_group_reports_nothing_itself() {
    let stderr = stderr_of("child_process_joined_groups");
    assert!(!stderr.contains("never joined"), "stderr was:\n{stderr}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn a_failure_no_join_returned_is_reported_once_when_the_group_goes() {
    let stderr = stderr_of("child_process_unjoined_group");
    let line = "handloop: task 'forgotten' (id 1) panicked: nobody joins \
                (its TaskGroup was never joined)\n";
    assert_eq!(stderr.matches(line).count(), 1, "stderr was:\n{stderr}");
}
