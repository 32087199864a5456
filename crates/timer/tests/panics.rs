//! Panics in timer callbacks: a panicking `call_later` or `call_at` callback is reported
//! under its own name and the loop goes on; a callback still pending when the loop is
//! dropped is dropped with it, and a panic in that drop is reported, never escaping (with
//! two of them, an escaping panic would abort the process).
//!
//! What goes to stderr is checked by running a test of this file in a child process.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use handloop_executor::{EventLoop, ThreadPark, call_soon, spawn};
use handloop_timer::{TimerDriver, call_at, call_later, now, sleep};

const SEC: Duration = Duration::from_secs(1);

fn virtual_loop() -> EventLoop {
    EventLoop::with_driver(TimerDriver::new_virtual(ThreadPark::new()))
}

/// Panics when dropped, with `message`.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// Counts its drops.
struct DropCount(Rc<Cell<u32>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Runs the `#[ignore]`d test `name` of this file in a child process and returns its
/// stderr, after checking that the child exited successfully.
fn stderr_of(name: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--nocapture"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "the child failed ({}); stderr was:\n{stderr}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test; stdout was:\n{stdout}"
    );
    stderr
}

#[test]
fn a_panicking_callback_does_not_stop_the_loop() {
    let order = Rc::new(RefCell::new(Vec::new()));
    virtual_loop().block_on({
        let order = order.clone();
        async move {
            let start = now();
            call_later(SEC, || panic!("boom at one second"));
            let o = order.clone();
            call_later(SEC, move || {
                o.borrow_mut().push("after the panic, same deadline")
            });
            let o = order.clone();
            call_at(start + 2 * SEC, move || o.borrow_mut().push("two seconds"));
            let o = order.clone();
            let task = spawn(async move {
                sleep(3 * SEC).await;
                o.borrow_mut().push("task at three seconds");
            });
            task.await.unwrap();
            assert_eq!(now() - start, 3 * SEC);
        }
    });
    assert_eq!(
        *order.borrow(),
        [
            "after the panic, same deadline",
            "two seconds",
            "task at three seconds"
        ]
    );
}

#[test]
fn pending_callbacks_whose_drop_panics_are_all_dropped_and_nothing_escapes() {
    let drops = Rc::new(Cell::new(0));
    let event_loop = virtual_loop();
    event_loop.block_on({
        let drops = drops.clone();
        async move {
            let (first, second) = (DropCount(drops.clone()), DropCount(drops.clone()));
            let bomb = PanicOnDrop("first bomb");
            call_later(60 * SEC, move || drop((first, bomb)));
            let bomb = PanicOnDrop("second bomb");
            call_at(now() + 90 * SEC, move || drop((bomb, second)));
            let third = DropCount(drops.clone());
            call_later(120 * SEC, move || drop(third));
        }
    });
    assert_eq!(drops.get(), 0, "nothing ran, nothing was dropped yet");
    // Two panicking drops: without the catch, the second would abort the process.
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(event_loop)));
    assert!(dropped.is_ok(), "a panic escaped the loop's drop");
    assert_eq!(
        drops.get(),
        3,
        "every capture of every callback was dropped, also next to a panicking one"
    );
}

/// Runs in a child process (see below) so its stderr can be read.
#[test]
#[ignore = "run by panics_are_reported_once_on_stderr_naming_the_callback in a child process"]
fn child_panicking_callbacks() {
    let event_loop = virtual_loop();
    event_loop.block_on(async {
        call_later(SEC, || panic!("later boom"));
        call_at(now() + SEC, || panic!("at boom"));
        call_soon(|| panic!("soon boom"));
        sleep(2 * SEC).await;
        // Still pending when the loop is dropped, each holding a value whose drop panics.
        let bomb = PanicOnDrop("first pending bomb");
        call_later(60 * SEC, move || drop(bomb));
        let bomb = PanicOnDrop("second pending bomb");
        call_at(now() + 60 * SEC, move || drop(bomb));
    });
    drop(event_loop);
    eprintln!("the child survived the loop's drop");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn panics_are_reported_once_on_stderr_naming_the_callback() {
    let stderr = stderr_of("child_panicking_callbacks");
    for line in [
        "handloop: a call_later callback panicked: later boom\n",
        "handloop: a call_at callback panicked: at boom\n",
        "handloop: a call_soon callback panicked: soon boom\n",
        "handloop: dropping a call_later callback still pending at shutdown panicked: \
         first pending bomb\n",
        "handloop: dropping a call_at callback still pending at shutdown panicked: \
         second pending bomb\n",
        "the child survived the loop's drop\n",
    ] {
        assert_eq!(stderr.matches(line).count(), 1, "{line:?} in:\n{stderr}");
    }
    assert_eq!(
        stderr.matches("call_soon callback").count(),
        1,
        "only the call_soon callback is called one:\n{stderr}"
    );
}

#[test]
fn a_panicking_wake_leaves_the_other_due_timers_for_the_next_turn() {
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Wake, Waker};

    /// A foreign waker whose `wake` panics.
    struct PanicWaker;
    impl Wake for PanicWaker {
        fn wake(self: Arc<Self>) {
            panic!("wake failed");
        }
    }
    /// A foreign waker that records its wake.
    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let event_loop = virtual_loop();
    // Two sleeps due at the same instant, polled with foreign wakers: the first one's wake
    // will panic.
    let sleeps = event_loop.block_on({
        let flag = Waker::from(flag.clone());
        async move {
            let mut first = Box::pin(sleep(SEC));
            let mut second = Box::pin(sleep(SEC));
            let panics = Waker::from(Arc::new(PanicWaker));
            assert!(
                first
                    .as_mut()
                    .poll(&mut Context::from_waker(&panics))
                    .is_pending()
            );
            assert!(
                second
                    .as_mut()
                    .poll(&mut Context::from_waker(&flag))
                    .is_pending()
            );
            (first, second)
        }
    });
    // The loop jumps to 1 s and fires both: the first wake panics, out of `block_on`.
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        event_loop.block_on(async { sleep(2 * SEC).await })
    }));
    assert!(unwound.is_err());
    assert!(
        !flag.0.load(Ordering::Relaxed),
        "the panic came before the second wake"
    );
    // The second timer was not lost: the next turn of the loop fires it.
    event_loop.block_on(handloop_executor::yield_now());
    assert!(
        flag.0.load(Ordering::Relaxed),
        "the second wake came a turn later"
    );
    drop(sleeps);
}
