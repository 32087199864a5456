//! The deadlock rule: when a loop with nothing ready may say "deadlock" instead of waiting
//! forever, and why it is never wrong.
//!
//! # The model: Go's "all goroutines are asleep - deadlock!"
//!
//! Go's runtime panics with that message when every goroutine is blocked and nothing it
//! knows of (a timer, the network poller, a system call in progress) can unblock one, and
//! it lists what each goroutine waits on. Go can be sure because it knows every thread that
//! could run Go code. A Rust loop cannot: any thread of the process may hold one of its
//! tasks' `Waker`s and call `wake` on it later. So the loop must reason about what it can
//! know, and say nothing where it cannot.
//!
//! # What a loop can know
//!
//! A pending task runs again only when something calls one of its wakers. When the loop
//! has nothing ready, every source of a future wake is one of these:
//!
//! 1. its driver: a timer in the heap, an I/O source with interest registered, a blocking
//!    job out on a thread (each will wake a task or run a callback when it fires);
//! 2. a `Handle` to the loop, through which another thread can spawn or call back into it;
//! 3. a live `Waker` of one of its pending tasks (`block_on`'s own future included).
//!
//! The first two the loop asks about directly. For the third, it counts: task wakers are
//! reference counted, so the loop can know how many wakers of each pending task exist. It
//! cannot know *where* each one is (a waker inside a `oneshot` whose sender moved to
//! another thread looks just like one inside a queue that only this loop's tasks use), with
//! one exception that it owns: the *join slot* in a task's header, where an awaiting
//! `JoinHandle` leaves its task's waker. A join slot's waker is called only when that task
//! completes, and a task completes only by being polled (or aborted, which is done by a
//! task of the same loop, since join and abort handles never leave the loop's thread).
//!
//! # The rule
//!
//! The loop reports a deadlock at once when nothing is ready and:
//!
//! - the driver has nothing that can fire (no timer, no I/O interest, no job out),
//! - no `Handle` of the loop is alive, and
//! - every waker of every pending task sits in a join slot of one of the loop's own pending
//!   tasks (the counts are equal: [`Evidence::wakers`] `==`
//!   [`Evidence::wakers_in_join_slots`]).
//!
//! # Why it is sound
//!
//! Suppose the rule fires and yet some task would run again. Its first poll needs a wake.
//! Not from the driver or a `Handle`: there are none. Not from a waker held anywhere but a
//! join slot: every existing waker is counted, and the count says there is none elsewhere.
//! A new waker cannot appear either: wakers are only made by the loop when it polls a task,
//! or by cloning an existing one, and the loop polls nothing until a wake comes. So the
//! wake must come from a join slot, which fires only when the task it belongs to completes:
//! that task would have to run first. Following this back, some task would have to run
//! first of all without any wake: impossible. So no task will ever run again, and the
//! report is true.
//!
//! Other threads act while the loop counts, so the order matters. A wake from another
//! thread puts an entry in the loop's remote queue that holds a reference of its own, so
//! a waker used and then dropped there still shows in the count until the loop takes the
//! entry in. And the loop looks at its remote queue once more after a count that says
//! "deadlock" (the counts are read with `Acquire`, after the drops they see were
//! released): anything another thread sent before giving up its last waker is seen
//! there, and the loop runs it instead of reporting.
//!
//! The inputs from other threads are read in the same spirit. A thread sends its callback
//! through a `Handle` before it drops the handle; the count's decrement is a `Release`
//! and the loop reads it with `Acquire`, so a loop that reads "no Handle" also finds the
//! callback in its remote queue on that last look. The last `Handle`'s drop unparks the
//! loop, so a loop that waited only because of it looks again and reports. A job on
//! another thread (the facade's `to_thread`) is counted by its hold on the loop's clock
//! until after it has sent its result: while the hold is out the driver can wake the loop
//! (no grace period runs down), and once it is released, the wake that carried the result
//! is in the remote queue holding a reference of its own, which the count sees.
//!
//! The converse does not hold, on purpose: a waker held outside a join slot may never be
//! used (a queue no other task will ever put into), and the rule then stays silent. A
//! `oneshot::Sender` on another thread that sends 200 ms later holds, through the oneshot,
//! the receiving task's waker: the count sees it, and the loop simply waits. The two cases
//! the rule cannot decide are left to time:
//!
//! - On the virtual clock, a loop that parks with no timer to jump to and receives nothing
//!   for a grace period (1 s of real time by default) reports the deadlock too. A test on
//!   the virtual clock rarely waits that long for another thread, and the grace period is
//!   configurable.
//! - On the real clock, debug mode prints the dump after 5 s without progress ("every task
//!   is waiting"), and keeps waiting: a real program may be waiting for a user.

use std::fmt;
use std::time::Duration;

use crate::dump::TaskDump;
use crate::waiting::{seconds, whole_seconds};

/// What the loop knows when it is about to wait with nothing ready.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The driver has something that can fire: a timer, I/O interest, a job on a thread (or
    /// it is a driver that cannot tell, which counts as yes).
    pub driver_can_wake: bool,
    /// Live `Handle`s of this loop.
    pub handles: usize,
    /// Wakers alive of the loop's pending tasks, `block_on`'s own future included.
    pub wakers: u64,
    /// Of those, the ones held in a join slot of one of the loop's own pending tasks.
    pub wakers_in_join_slots: u64,
}

/// What the loop may conclude from the [`Evidence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No task can ever be woken again: report it.
    Deadlock,
    /// A wake may still come: wait.
    MayWake(WakeSource),
}

/// Where a wake may still come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeSource {
    /// The driver: a timer, I/O, or a job on a thread.
    Driver,
    /// This many `Handle`s of the loop are alive on some thread.
    Handles(usize),
    /// This many wakers of pending tasks are held outside the loop's join slots (perhaps
    /// by another thread).
    Wakers(u64),
}

impl Evidence {
    /// The rule (see the module documentation).
    ///
    /// ```
    /// use handloop_debug::{Evidence, Verdict, WakeSource};
    ///
    /// // Two tasks awaiting each other's JoinHandle, nothing else.
    /// let cycle = Evidence { wakers: 2, wakers_in_join_slots: 2, ..Evidence::default() };
    /// assert_eq!(cycle.verdict(), Verdict::Deadlock);
    /// // A oneshot whose sender is somewhere: its waker is not in a join slot.
    /// let oneshot = Evidence { wakers: 1, ..Evidence::default() };
    /// assert_eq!(oneshot.verdict(), Verdict::MayWake(WakeSource::Wakers(1)));
    /// ```
    pub fn verdict(&self) -> Verdict {
        assert!(
            self.wakers_in_join_slots <= self.wakers,
            "the wakers in join slots ({}) are among all wakers ({})",
            self.wakers_in_join_slots,
            self.wakers
        );
        if self.driver_can_wake {
            Verdict::MayWake(WakeSource::Driver)
        } else if self.handles > 0 {
            Verdict::MayWake(WakeSource::Handles(self.handles))
        } else if self.wakers > self.wakers_in_join_slots {
            Verdict::MayWake(WakeSource::Wakers(self.wakers - self.wakers_in_join_slots))
        } else {
            Verdict::Deadlock
        }
    }
}

/// The panic message of a deadlock: `handloop: deadlock`, why, then the dump (Go's report
/// lists what each goroutine waits on; the dump's table does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlockReport {
    /// How the loop knows.
    pub cause: DeadlockCause,
    /// Every live task, and who awaits whom.
    pub dump: TaskDump,
}

/// How a loop concluded that it is deadlocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadlockCause {
    /// The rule proved it (see the module documentation).
    Proven,
    /// The virtual clock had nothing to jump to and nothing arrived for the grace period,
    /// while wakers were held outside the loop or `Handle`s of it were alive.
    GraceExpired {
        /// The grace period that passed.
        grace: Duration,
        /// Wakers of pending tasks held outside the loop's join slots.
        wakers_outside: u64,
        /// `Handle`s of the loop alive (on any thread, a task of the loop's included).
        handles: usize,
    },
}

impl fmt::Display for DeadlockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause {
            DeadlockCause::Proven => writeln!(
                f,
                "handloop: deadlock: every task is waiting and nothing can wake any of them \
                 (no timer, no I/O, no job on a thread, no Handle, and no waker held outside \
                 the loop)"
            )?,
            DeadlockCause::GraceExpired {
                grace,
                wakers_outside,
                handles,
            } => {
                write!(
                    f,
                    "handloop: deadlock: every task is waiting, the virtual clock has no timer \
                     to jump to, and nothing arrived for {} of real time.",
                    seconds(grace)
                )?;
                if wakers_outside > 0 {
                    let (s, are) = if wakers_outside == 1 {
                        ("", "is")
                    } else {
                        ("s", "are")
                    };
                    write!(
                        f,
                        " {wakers_outside} waker{s} of waiting tasks {are} held outside the \
                         loop (in a queue, a oneshot, another thread)."
                    )?;
                }
                if handles > 0 {
                    let (s, is) = if handles == 1 {
                        ("", "is")
                    } else {
                        ("s", "are")
                    };
                    write!(
                        f,
                        " {handles} Handle{s} of the loop {is} alive (another thread may \
                         still send it work)."
                    )?;
                }
                writeln!(
                    f,
                    " If another thread will still wake the loop, give it longer with \
                     Runtime::builder().deadlock_grace(..)"
                )?
            }
        }
        write!(f, "{}", self.dump)
    }
}

/// What debug mode prints on the real clock when the loop made no progress for a while
/// with every task waiting: the dump, without panicking (a wake may still come).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoProgress {
    /// How long the loop has waited.
    pub waited: Duration,
    /// Every live task.
    pub dump: TaskDump,
}

impl fmt::Display for NoProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "handloop: no progress for {}: every task is waiting",
            whole_seconds(self.waited)
        )?;
        write!(f, "{}", self.dump)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::{TaskRow, TaskStatus};
    use crate::waiting::WaitingOn;
    use std::time::Instant;

    #[test]
    fn each_source_of_a_wake_prevents_the_verdict() {
        let stuck = Evidence {
            wakers: 3,
            wakers_in_join_slots: 3,
            ..Evidence::default()
        };
        assert_eq!(stuck.verdict(), Verdict::Deadlock);
        let timer = Evidence {
            driver_can_wake: true,
            ..stuck
        };
        assert_eq!(timer.verdict(), Verdict::MayWake(WakeSource::Driver));
        let handle = Evidence {
            handles: 2,
            ..stuck
        };
        assert_eq!(handle.verdict(), Verdict::MayWake(WakeSource::Handles(2)));
        let outside = Evidence { wakers: 4, ..stuck };
        assert_eq!(outside.verdict(), Verdict::MayWake(WakeSource::Wakers(1)));
    }

    #[test]
    fn no_wakers_at_all_is_a_deadlock() {
        // `block_on(std::future::pending())`: the future kept no waker.
        assert_eq!(Evidence::default().verdict(), Verdict::Deadlock);
    }

    #[test]
    #[should_panic(expected = "the wakers in join slots (2) are among all wakers (1)")]
    fn inconsistent_evidence_is_a_bug() {
        let _ = Evidence {
            wakers: 1,
            wakers_in_join_slots: 2,
            ..Evidence::default()
        }
        .verdict();
    }

    fn one_task_dump() -> TaskDump {
        TaskDump {
            loop_name: "the loop on thread 'main'".to_owned(),
            now: Instant::now(),
            tasks: vec![TaskRow {
                id: 0,
                name: "main".to_owned(),
                state: TaskStatus::Waiting,
                polls: 1,
                age: None,
                waiting_on: Some(WaitingOn::Oneshot),
                more_waits: 0,
                awaits: Vec::new(),
            }],
            unanswered: None,
        }
    }

    #[test]
    fn reports_begin_with_the_words_tests_look_for() {
        let proven = DeadlockReport {
            cause: DeadlockCause::Proven,
            dump: one_task_dump(),
        }
        .to_string();
        assert!(proven.starts_with("handloop: deadlock: every task is waiting"));
        assert!(proven.contains("\n1 task on the loop on thread 'main':\n"));
        assert!(proven.contains("oneshot.recv"));

        let grace = DeadlockReport {
            cause: DeadlockCause::GraceExpired {
                grace: Duration::from_secs(1),
                wakers_outside: 1,
                handles: 0,
            },
            dump: one_task_dump(),
        }
        .to_string();
        assert!(grace.starts_with("handloop: deadlock: every task is waiting, the virtual clock"));
        assert!(
            grace.contains(
                "nothing arrived for 1.000s of real time. 1 waker of waiting tasks is held"
            )
        );
        assert!(grace.contains("deadlock_grace"));
        assert!(!grace.contains("Handle"), "{grace}");

        let handles = DeadlockReport {
            cause: DeadlockCause::GraceExpired {
                grace: Duration::from_secs(1),
                wakers_outside: 0,
                handles: 2,
            },
            dump: one_task_dump(),
        }
        .to_string();
        assert!(
            handles.contains("of real time. 2 Handles of the loop are alive (another thread"),
            "{handles}"
        );
        assert!(!handles.contains("waker"), "{handles}");

        let idle = NoProgress {
            waited: Duration::from_secs(5),
            dump: one_task_dump(),
        }
        .to_string();
        assert!(idle.starts_with("handloop: no progress for 5 s: every task is waiting\n"));
    }
}
