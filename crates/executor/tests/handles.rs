//! Join handles: output, detach, abort, names, ids, state and `Debug`.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{DropFlag, Gate, Log};
use handloop_executor::task::{self, Builder, TaskState};
use handloop_executor::{EventLoop, spawn, yield_now};

#[test]
fn await_gives_the_output() {
    let out = EventLoop::new().block_on(async { spawn(async { "hello" }).await });
    assert_eq!(out.unwrap(), "hello");
}

#[test]
fn dropping_the_handle_detaches_the_task() {
    let log = Log::default();
    EventLoop::new().block_on({
        let log = log.clone();
        async move {
            let gate = Gate::new();
            let l = log.clone();
            let g = gate.clone();
            drop(spawn(async move {
                g.wait().await;
                l.push("detached task finished");
            }));
            yield_now().await;
            gate.open();
            yield_now().await;
            yield_now().await;
        }
    });
    assert_eq!(log.take(), ["detached task finished"]);
}

#[test]
fn a_task_aborted_before_its_first_poll_never_runs() {
    let ran = Rc::new(Cell::new(false));
    let err = EventLoop::new().block_on({
        let ran = ran.clone();
        async move {
            let handle = spawn(async move { ran.set(true) });
            handle.abort();
            handle.await.unwrap_err()
        }
    });
    assert!(!ran.get());
    assert!(err.is_cancelled());
    assert!(!err.is_panic());
}

#[test]
fn abort_drops_the_future_before_the_handle_resolves() {
    let dropped = Rc::new(Cell::new(false));
    EventLoop::new().block_on({
        let dropped = dropped.clone();
        async move {
            let flag = DropFlag(dropped.clone());
            let gate = Gate::new();
            let handle = spawn(async move {
                let _flag = flag;
                gate.wait().await;
            });
            yield_now().await; // the task is now waiting
            assert!(!dropped.get());
            handle.abort();
            assert!(
                !handle.is_finished(),
                "dropped on the loop's turn, not in abort()"
            );
            let err = handle.await.unwrap_err();
            assert!(dropped.get(), "future dropped before the handle resolved");
            assert!(err.is_cancelled());
        }
    });
}

#[test]
fn abort_is_done_no_later_than_the_next_turn() {
    EventLoop::new().block_on(async {
        let handle = spawn(std::future::pending::<()>());
        yield_now().await;
        handle.abort();
        yield_now().await;
        assert!(handle.is_finished());
        assert_eq!(handle.state(), TaskState::Cancelled);
    });
}

#[test]
fn aborting_a_finished_task_keeps_its_output() {
    EventLoop::new().block_on(async {
        let handle = spawn(async { 5 });
        yield_now().await;
        assert!(handle.is_finished());
        handle.abort();
        assert_eq!(handle.state(), TaskState::Finished);
        assert_eq!(handle.await.unwrap(), 5);
    });
}

#[test]
fn a_task_can_abort_itself_through_a_handle() {
    // As asyncio's `task.cancel()` on the current task: the rest of this poll runs, the
    // next await never returns, and the future is dropped on the loop's next turn.
    let log = Log::default();
    let dropped = Rc::new(Cell::new(false));
    EventLoop::new().block_on({
        let (log, dropped) = (log.clone(), dropped.clone());
        async move {
            let slot: Rc<Cell<Option<handloop_executor::JoinHandle<()>>>> = Rc::default();
            let s = slot.clone();
            let l = log.clone();
            let flag = DropFlag(dropped.clone());
            let handle = spawn(async move {
                let _flag = flag;
                yield_now().await;
                let me = s.take().expect("main handed the handle over");
                me.abort();
                drop(me); // the handle is gone too: nobody holds the task but the loop
                l.push("the rest of the poll runs");
                yield_now().await;
                l.push("never: the next await does not return");
            });
            let watcher = handle.abort_handle();
            slot.set(Some(handle));
            yield_now().await; // first poll: up to the first yield
            yield_now().await; // second poll: the task aborts itself and yields
            assert!(
                !dropped.get(),
                "dropped on the next turn, not inside its own poll"
            );
            yield_now().await; // the loop drops the cancelled future
            assert!(dropped.get());
            assert!(watcher.is_finished());
            assert!(format!("{watcher:?}").contains("Cancelled"), "{watcher:?}");
            assert!(task::all_tasks().iter().all(|t| t.id != watcher.id()));
        }
    });
    assert_eq!(log.take(), ["the rest of the poll runs"]);
}

#[test]
fn names_ids_state_and_debug() {
    EventLoop::new().block_on(async {
        let gate = Gate::new();
        let g = gate.clone();
        let named = Builder::new()
            .name("fleet-7")
            .spawn(async move { g.wait().await });
        let plain = spawn(async {});
        assert_eq!(named.name(), "fleet-7");
        assert_eq!(plain.name(), format!("task-{}", plain.id()));
        assert!(plain.id() > named.id());
        assert_eq!(named.state(), TaskState::Pending);
        assert_eq!(
            format!("{named:?}"),
            format!(
                "JoinHandle {{ id: TaskId({}), name: \"fleet-7\", state: Pending }}",
                named.id().as_u64()
            )
        );
        yield_now().await;
        assert_eq!(plain.state(), TaskState::Finished);
        assert!(format!("{plain:?}").contains("state: Finished"));
        gate.open();
        named.await.unwrap();
    });
}

#[test]
fn current_task_and_all_tasks() {
    EventLoop::new().block_on(async {
        // Like asyncio.run's coroutine, block_on's own future counts as a task.
        let main = task::current_task().unwrap();
        assert_eq!((main.id.as_u64(), main.name.as_str()), (0, "main"));
        assert_eq!((main.state, main.polls), (TaskState::Running, 1));
        let gate = Gate::new();
        let g = gate.clone();
        let waiter = Builder::new()
            .name("waiter")
            .spawn(async move { g.wait().await });
        let me = Builder::new().name("me").spawn(async {
            let info = task::current_task().unwrap();
            assert_eq!(info.state, TaskState::Running);
            assert_eq!(info.polls, 1);
            info.name
        });
        assert_eq!(me.await.unwrap(), "me");
        let all = task::all_tasks();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].name.as_str(), all[0].state),
            ("main", TaskState::Running)
        );
        assert_eq!(all[1].name, "waiter");
        assert_eq!(all[1].id, waiter.id());
        assert_eq!(all[1].state, TaskState::Pending);
        assert_eq!(all[1].polls, 1);
        gate.open();
        waiter.await.unwrap();
        let names: Vec<_> = task::all_tasks().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["main"]);
        // Inside a call_soon callback there is no current task.
        handloop_executor::call_soon(|| assert_eq!(task::current_task(), None));
        yield_now().await;
    });
    assert!(task::all_tasks().is_empty(), "no loop running");
}

#[test]
fn handles_stay_valid_after_the_loop_is_dropped() {
    let dropped = Rc::new(Cell::new(false));
    let event_loop = EventLoop::new();
    let (pending, done) = event_loop.block_on({
        let dropped = dropped.clone();
        async move {
            let flag = DropFlag(dropped);
            let pending = spawn(async move {
                let _flag = flag;
                std::future::pending::<()>().await
            });
            let done = spawn(async { 1 });
            yield_now().await;
            (pending, done)
        }
    });
    drop(event_loop);
    assert!(dropped.get(), "dropping the loop drops pending futures");
    assert!(pending.is_finished());
    assert_eq!(pending.state(), TaskState::Cancelled);
    assert_eq!(done.state(), TaskState::Finished);
    // The outputs can still be taken, with any executor.
    let err = handloop_executor::EventLoop::new()
        .block_on(pending)
        .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(EventLoop::new().block_on(done).unwrap(), 1);
}

#[test]
fn an_abort_handle_cancels_while_the_join_handle_keeps_the_output_right() {
    EventLoop::new().block_on(async {
        let handle = spawn(std::future::pending::<()>());
        let aborter = handle.abort_handle();
        assert_eq!(aborter.id(), handle.id());
        assert!(!aborter.is_finished());
        aborter.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        assert!(aborter.is_finished());
        assert!(format!("{aborter:?}").contains("Cancelled"));
        // An abort handle outliving the join handle and the task stays harmless.
        aborter.abort();
    });
}
