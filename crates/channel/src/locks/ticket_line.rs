//! `TicketLine`: the line of a primitive that only ever serves the waiter at its front,
//! and tells each waiter it was served by its ticket alone (`Event`, `Lock`, `Semaphore`,
//! `Condition`).
//!
//! Each waiter draws a ticket when it joins; tickets only grow, and the line serves from
//! the front, so every waiter still in line holds a ticket above every ticket served.
//! Remembering the last ticket served is then enough: a waiter was served exactly when
//! its ticket is not above it, one comparison that touches neither the line nor its
//! `RefCell`.
//!
//! The ticket is also the waiter's place. The longest-waiting task sits in a `Cell` of
//! its own, the others behind it in a ring buffer (`VecDeque`) of `(ticket, waker)` in
//! ticket order: joining is a push at the back and serving takes the front and moves the
//! next one up, with no links to keep and no slot to move (the `WaitLine` of
//! `src/line.rs`, a linked slab, is for waiters that need a slot of their own, as the
//! queue's and the barrier's do). A semaphore's or a lock's line is often one task long,
//! and that line is joined and served without touching the ring buffer or its `RefCell`.
//!
//! A waiter behind the front that leaves before it is served leaves a hole (`None`)
//! where it stood, found by a binary search on its ticket. Holes at either end are
//! dropped at once, so both ends are always waiting tasks; when holes outnumber the
//! waiters (and are more than a few) they are swept out, so the buffer stays within
//! twice the waiters, plus a few.
//!
//! The line follows `WaitLine`'s rule: it never calls a waker, nor drops one, while its
//! `RefCell` is borrowed. Serving hands the waker back to the caller to wake after; a
//! waker replaced or left behind is dropped after the borrow ends. A waker's clone runs
//! its owner's code too, which may join or serve this very line, or free what the task
//! is about to wait for: `join` takes a waker its caller cloned before it decided to
//! wait, and `set_waker` looks at the line again after its clone.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::task::Waker;

use super::Ticket;

/// Holes are swept out only past this many, so that a few cancelled waiters between
/// long-waiting ones cost no sweep at all.
const SWEEP_AFTER: usize = 16;

/// Waiting tasks in arrival order, each known by its ticket; see the module documentation.
pub(super) struct TicketLine<P> {
    /// The longest-waiting task, if any. It is kept apart from the others, so that a line
    /// of one (a semaphore's or a lock's usual line) is joined and served without
    /// touching the ring buffer.
    front: Cell<Option<Waiter<P>>>,
    /// The tasks behind it.
    behind: RefCell<Behind<P>>,
    /// How many tasks wait: `front`, and the ones in `behind`. `front` is empty exactly
    /// when this is 0.
    waiting: Cell<usize>,
    /// The next ticket to draw (tickets start at 1).
    next: Cell<Ticket>,
    /// The last ticket served (0: none yet).
    served: Cell<u64>,
}

struct Waiter<P> {
    ticket: Ticket,
    waker: Waker,
    payload: P,
}

struct Behind<P> {
    /// In ticket order; `None` where a waiter left before it was served. Never starts nor
    /// ends with `None`.
    line: VecDeque<(Ticket, Option<(Waker, P)>)>,
    /// How many `None`s `line` holds.
    holes: usize,
}

/// What [`TicketLine::leave`] found.
#[must_use = "a waiter that was served must pass on what it was given"]
pub(super) enum Left {
    /// The waiter was still in line; it has left.
    Waiting,
    /// The waiter had been served: what it was handed is now the caller's to pass on.
    Served,
}

impl<P> TicketLine<P> {
    pub(super) const fn new() -> Self {
        TicketLine {
            front: Cell::new(None),
            behind: RefCell::new(Behind {
                line: VecDeque::new(),
                holes: 0,
            }),
            waiting: Cell::new(0),
            next: Cell::new(Ticket::MIN),
            served: Cell::new(0),
        }
    }

    /// Whether no task waits.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.waiting.get() == 0
    }

    /// How many tasks wait.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.waiting.get()
    }

    /// Puts a waiter at the back of the line, with its waker, and returns its ticket.
    ///
    /// The caller clones the waker first, and decides to wait only after that: a clone
    /// runs its owner's code, which may free what the task waits for, or join this line.
    /// Always inlined: every wait starts here.
    #[inline(always)]
    pub(super) fn join(&self, waker: Waker, payload: P) -> Ticket {
        let ticket = self.next.get();
        // (Unreachable: a loop would need centuries of waits to draw 2^64 tickets.)
        self.next
            .set(ticket.checked_add(1).expect("tickets ran out"));
        let waiting = self.waiting.get();
        self.waiting.set(waiting + 1);
        if waiting == 0 {
            self.fill_front(Waiter {
                ticket,
                waker,
                payload,
            });
        } else {
            let mut behind = self.behind.borrow_mut();
            behind.line.push_back((ticket, Some((waker, payload))));
        }
        ticket
    }

    /// Serves the longest-waiting task: takes it out of the line and returns its waker
    /// (to wake after this returns) and payload. `None` if no task waits.
    ///
    /// Always inlined: it is most of a release, and a call with its register saves
    /// would cost as much again.
    #[inline(always)]
    pub(super) fn serve_front(&self) -> Option<(Waker, P)> {
        // The front itself says whether anyone waits: an empty front is an empty line.
        let Waiter {
            ticket,
            waker,
            payload,
        } = self.front.take()?;
        self.served.set(ticket.get());
        let waiting = self.waiting.get() - 1;
        self.waiting.set(waiting);
        if waiting != 0 {
            self.move_up();
        }
        Some((waker, payload))
    }

    /// The front is empty and tasks wait behind it: the first of them moves up. Out of
    /// line: inlined, it costs the line of one (the case `front` is for) more than the
    /// call saves the longer lines.
    #[inline(never)]
    fn move_up(&self) {
        let mut behind = self.behind.borrow_mut();
        let Some((ticket, Some((waker, payload)))) = behind.line.pop_front() else {
            unreachable!("the tasks behind the front start with a waiting one")
        };
        self.fill_front(Waiter {
            ticket,
            waker,
            payload,
        });
        let holes = behind.holes != 0;
        drop(behind);
        if holes {
            // Last, as a tail call: `move_up` itself then calls nothing, and needs no
            // registers saved.
            self.drop_front_holes();
        }
    }

    /// The waiters behind the front must start with a waiting one: drops the holes there.
    fn drop_front_holes(&self) {
        self.behind.borrow_mut().drop_front_holes();
    }

    /// Puts `waiter` in the front, which is empty.
    #[inline(always)]
    fn fill_front(&self, waiter: Waiter<P>) {
        let empty = self.front.replace(Some(waiter));
        // Nothing to drop, so no need to look: the callers all know the front was empty
        // (`set` would check, at every join and every move up).
        debug_assert!(empty.is_none(), "the front was empty");
        std::mem::forget(empty);
    }

    /// Whether the waiter holding `ticket` was served.
    #[inline]
    pub(super) fn served(&self, ticket: Ticket) -> bool {
        ticket.get() <= self.served.get()
    }

    /// Remembers the waker of a still-waiting task's latest poll, cloning it only if it
    /// changed (a task woken through a combinator's waker, or moved to another executor).
    pub(super) fn set_waker(&self, ticket: Ticket, waker: &Waker) {
        let front = self.front.take().expect("a task waits in front");
        let in_front = front.ticket == ticket;
        let same = in_front && front.waker.will_wake(waker);
        self.front.set(Some(front)); // back before any waker code runs
        if same {
            return;
        }
        // The clone runs its owner's code, which may come back to this line: what was
        // seen above is looked at again after it.
        let waker = waker.clone();
        if self.served(ticket) {
            // Served meanwhile (and woken through the waker it had): nothing to replace.
            // `waker` is dropped here, the line whole.
            return;
        }
        let mut front = self.front.take().expect("a task waits in front");
        let replaced = if front.ticket == ticket {
            let replaced = std::mem::replace(&mut front.waker, waker);
            self.front.set(Some(front));
            replaced
        } else {
            self.front.set(Some(front));
            let mut behind = self.behind.borrow_mut();
            let index = behind.find(ticket);
            let Some((current, _)) = &mut behind.line[index].1 else {
                unreachable!("a waiting task's ticket names a waiting task")
            };
            if current.will_wake(&waker) {
                return; // (`waker` is dropped after the borrow, as locals drop in reverse)
            }
            std::mem::replace(current, waker)
        };
        drop(replaced); // after the line is whole again: a waker's drop runs its owner's code
    }

    /// The waiter holding `ticket` is gone (its future was dropped): out of the line if it
    /// still waits, in O(log n); if it had been served, the caller must pass on what it
    /// was handed.
    pub(super) fn leave(&self, ticket: Ticket) -> Left {
        if self.served(ticket) {
            return Left::Served;
        }
        let waiting = self.waiting.get();
        self.waiting.set(waiting - 1);
        let front = self.front.take().expect("a task waits in front");
        if front.ticket == ticket {
            if waiting > 1 {
                self.move_up();
            }
            drop(front); // after the line is whole again: the waker's drop runs its owner's code
            return Left::Waiting;
        }
        self.front.set(Some(front));
        let mut behind = self.behind.borrow_mut();
        let index = behind.find(ticket);
        let left = behind.line[index].1.take();
        behind.holes += 1;
        if index == 0 {
            behind.drop_front_holes();
        } else if index == behind.line.len() - 1 {
            behind.drop_back_holes();
        } else if behind.holes > SWEEP_AFTER && behind.holes * 2 > behind.line.len() {
            behind.line.retain(|(_, waiter)| waiter.is_some());
            behind.holes = 0;
        }
        drop(behind);
        drop(left); // after the borrow: the waker's drop runs its owner's code
        Left::Waiting
    }
}

impl TicketLine<()> {
    /// Serves up to `n` tasks, longest-waiting first, putting their wakers in `wake` (to
    /// wake after this returns); returns how many it served.
    pub(super) fn serve_many(&self, n: usize, wake: &mut Vec<Waker>) -> usize {
        let waiting = self.waiting.get();
        if n == 0 || waiting == 0 {
            return 0;
        }
        let front = self.front.take().expect("a task waits in front");
        self.served.set(front.ticket.get());
        wake.push(front.waker);
        let mut served = 1;
        let mut behind = self.behind.borrow_mut();
        while served < n {
            let Some((ticket, waiter)) = behind.line.pop_front() else {
                break;
            };
            let Some((waker, ())) = waiter else {
                behind.holes -= 1; // a hole behind the front: skipped
                continue;
            };
            self.served.set(ticket.get());
            wake.push(waker);
            served += 1;
        }
        self.waiting.set(waiting - served);
        if behind.holes != 0 {
            behind.drop_front_holes(); // the loop may have stopped just before a hole
        }
        if let Some((ticket, waiter)) = behind.line.pop_front() {
            let (waker, payload) = waiter.expect("the tasks behind start with a waiting one");
            if behind.holes != 0 {
                behind.drop_front_holes();
            }
            self.fill_front(Waiter {
                ticket,
                waker,
                payload,
            });
        }
        served
    }
}

impl<P> Behind<P> {
    /// Where the waiting task holding `ticket` stands.
    fn find(&self, ticket: Ticket) -> usize {
        self.line
            .binary_search_by_key(&ticket, |(ticket, _)| *ticket)
            .expect("a waiting task's ticket is in the line")
    }

    /// Out of line and cold: only a waiter that left makes holes, and the loop drops
    /// entries (`None`s, but the compiler cannot tell), which would make its callers
    /// save registers on every call.
    #[cold]
    #[inline(never)]
    fn drop_front_holes(&mut self) {
        while let Some((_, None)) = self.line.front() {
            self.line.pop_front();
            self.holes -= 1;
        }
    }

    fn drop_back_holes(&mut self) {
        while let Some((_, None)) = self.line.back() {
            self.line.pop_back();
            self.holes -= 1;
        }
    }
}

impl<P> std::fmt::Debug for TicketLine<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketLine")
            .field("waiting", &self.len())
            .field("last_served", &self.served.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use super::*;

    /// A waker that counts its wakes, and tells them apart by `id`.
    struct Count {
        id: usize,
        woken: AtomicUsize,
    }

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.woken.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waker(id: usize) -> (Arc<Count>, Waker) {
        let count = Arc::new(Count {
            id,
            woken: AtomicUsize::new(0),
        });
        (count.clone(), Waker::from(count))
    }

    /// The payloads of everyone served, in order, until the line is empty.
    fn drain(line: &TicketLine<usize>) -> Vec<usize> {
        std::iter::from_fn(|| line.serve_front().map(|(_, payload)| payload)).collect()
    }

    #[test]
    fn serves_in_ticket_order_and_a_ticket_says_whether_it_was_served() {
        let line = TicketLine::new();
        let tickets: Vec<Ticket> = (0..4)
            .map(|n| line.join(Waker::noop().clone(), n))
            .collect();
        assert_eq!(
            tickets.iter().map(|t| t.get()).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(line.len(), 4);
        assert_eq!(line.serve_front().map(|(_, n)| n), Some(0));
        assert!(line.served(tickets[0]) && !line.served(tickets[1]));
        assert_eq!(drain(&line), [1, 2, 3]);
        assert!(line.is_empty() && line.served(tickets[3]));
        assert!(line.serve_front().is_none());
    }

    #[test]
    fn leaving_from_anywhere_keeps_the_order_and_the_ends_are_always_waiting() {
        let line = TicketLine::new();
        let tickets: Vec<Ticket> = (0..6)
            .map(|n| line.join(Waker::noop().clone(), n))
            .collect();
        // From the middle (a hole), the back and the front (dropped at once, with the
        // holes they uncover).
        for n in [2, 5, 0, 1] {
            assert!(matches!(line.leave(tickets[n]), Left::Waiting));
        }
        assert_eq!(line.len(), 2);
        let behind = line.behind.borrow();
        assert_eq!(
            (behind.line.len(), behind.holes),
            (1, 0),
            "one behind the front, and no hole at either end"
        );
        drop(behind);
        // A served waiter that leaves must pass on what it was given.
        assert_eq!(line.serve_front().map(|(_, n)| n), Some(3));
        assert!(matches!(line.leave(tickets[3]), Left::Served));
        assert_eq!(drain(&line), [4]);
    }

    #[test]
    fn holes_between_waiters_are_swept_so_the_line_stays_small() {
        // The first waiter never leaves; behind it, each newcomer arrives before the
        // previous one leaves, so every departure leaves a hole in the middle.
        let line = TicketLine::new();
        let _first = line.join(Waker::noop().clone(), 0);
        let mut previous = line.join(Waker::noop().clone(), 1);
        for n in 2..10_000 {
            let next = line.join(Waker::noop().clone(), n);
            assert!(matches!(line.leave(previous), Left::Waiting));
            previous = next;
            let behind = line.behind.borrow();
            assert!(behind.line.len() <= 2 * 2 + SWEEP_AFTER + 1, "{n}");
        }
        assert_eq!(line.len(), 2);
        assert_eq!(drain(&line), [0, 9_999]);
    }

    #[test]
    fn serve_many_skips_holes_and_stops_at_n() {
        let line = TicketLine::new();
        let tickets: Vec<Ticket> = (0..5)
            .map(|_| line.join(Waker::noop().clone(), ()))
            .collect();
        let _ = line.leave(tickets[1]);
        let _ = line.leave(tickets[3]);
        let mut wake = Vec::new();
        assert_eq!(line.serve_many(2, &mut wake), 2);
        assert_eq!(wake.len(), 2);
        assert!(line.served(tickets[2]) && !line.served(tickets[4]));
        assert_eq!(line.serve_many(usize::MAX, &mut wake), 1);
        assert!(line.is_empty() && line.served(tickets[4]));
        assert_eq!(line.serve_many(1, &mut wake), 0);
    }

    #[test]
    fn serve_many_that_stops_just_before_a_hole_leaves_a_waiting_task_in_front() {
        let line = TicketLine::new();
        let tickets: Vec<Ticket> = (0..4)
            .map(|_| line.join(Waker::noop().clone(), ()))
            .collect();
        let _ = line.leave(tickets[2]); // a hole between the second and the last
        let mut wake = Vec::new();
        assert_eq!(line.serve_many(2, &mut wake), 2);
        assert_eq!(line.len(), 1);
        assert!(line.served(tickets[1]) && !line.served(tickets[3]));
        assert!(matches!(line.leave(tickets[3]), Left::Waiting));
        assert!(line.is_empty() && line.serve_front().is_none());
    }

    #[test]
    fn set_waker_replaces_only_a_different_waker_and_the_served_one_is_the_latest() {
        let line = TicketLine::new();
        let (first, first_waker) = waker(1);
        let (second, second_waker) = waker(2);
        let ticket = line.join(first_waker.clone(), ());
        line.set_waker(ticket, &first_waker.clone());
        assert_eq!(
            Arc::strong_count(&first),
            3,
            "the same waker is kept, not cloned"
        );
        line.set_waker(ticket, &second_waker);
        assert_eq!(
            Arc::strong_count(&first),
            2,
            "the replaced waker was dropped"
        );
        let (served, ()) = line.serve_front().unwrap();
        served.wake();
        assert_eq!(
            (
                first.woken.load(Ordering::Relaxed),
                second.woken.load(Ordering::Relaxed)
            ),
            (0, 1)
        );
        assert_eq!((first.id, second.id), (1, 2));
    }

    /// A waker whose drop comes back to the line (as an executor's code may): it must find
    /// the line free, so `leave` and `set_waker` drop wakers only after letting go.
    #[test]
    fn a_waker_dropped_by_the_line_may_use_the_line() {
        thread_local! {
            static LINE: TicketLine<()> = const { TicketLine::new() };
        }
        struct Reenter;
        impl Wake for Reenter {
            fn wake(self: Arc<Self>) {}
        }
        impl Drop for Reenter {
            fn drop(&mut self) {
                LINE.with(|line| line.len()); // borrows the line: panics if it is borrowed
            }
        }
        LINE.with(|line| {
            let reenter = || Waker::from(Arc::new(Reenter));
            let ticket = line.join(reenter(), ());
            line.set_waker(ticket, &reenter()); // drops the first after the borrow
            let _behind = line.join(Waker::noop().clone(), ());
            assert!(matches!(line.leave(ticket), Left::Waiting)); // drops the second
        });
    }
}
