//! The loop's thread-safe half, and how tasks keep it alive without an atomic per task.
//!
//! Every task header points at its loop's [`Shared`] (where wakes from other threads go)
//! and must keep it alive, because a waker can outlive the loop. An `Arc` would do, at the
//! price of an atomic increment per spawn and an atomic decrement per task freed. Instead
//! `Shared` counts *tickets*, and the loop buys them in batches: it adds
//! [`TICKET_BATCH`] to the count with one atomic, hands one ticket to each new task without
//! touching the atomic, and takes a ticket back (again without an atomic) when a task is
//! freed on the loop's own thread. Only a task freed on another thread after its loop is
//! gone, or elsewhere, returns its ticket with an atomic decrement. The last ticket frees
//! `Shared`, exactly like the last `Arc`.
//!
//! The count is therefore: one ticket for the loop itself, plus the loop's spare tickets,
//! plus one per live task header.

use std::ptr::NonNull;

use crate::debug::LoopView;
use crate::driver::Unparker;
use crate::remote::{Remote, RemoteQueue};
use crate::sync::{AtomicUsize, Ordering, fence};

/// How many tickets the loop buys at once.
pub(crate) const TICKET_BATCH: usize = 256;

/// The part of a loop that other threads may touch: where their wakes go, and how to wake
/// the loop up; and two counts other threads may read.
pub(crate) struct Shared {
    pub(crate) remote: RemoteQueue<Remote>,
    pub(crate) unparker: Unparker,
    tickets: AtomicUsize,
    /// Live [`Handle`](crate::Handle)s of this loop, on any thread: while there is one,
    /// another thread may still send the loop work.
    handles: AtomicUsize,
    /// Tasks (and `call_soon` callbacks) on the loop's live list, published by the loop
    /// after each spawn and completion for other threads to read (a `LoopPool` places a
    /// task on the loop with the fewest). Only the loop's thread writes it, so it is
    /// updated with a load and a store, no read-modify-write.
    live_tasks: AtomicUsize,
    /// What a `Handle::dump` on another thread can see without the loop's answer.
    pub(crate) view: LoopView,
}

impl Shared {
    /// A new `Shared` holding one ticket: the loop's own.
    pub(crate) fn new(unparker: Unparker, view: LoopView) -> NonNull<Shared> {
        let shared = Box::new(Shared {
            remote: RemoteQueue::new(),
            unparker,
            tickets: AtomicUsize::new(1),
            handles: AtomicUsize::new(0),
            live_tasks: AtomicUsize::new(0),
            view,
        });
        NonNull::from(Box::leak(shared))
    }

    /// Buys `count` more tickets (the caller holds at least one, so `Shared` is alive).
    pub(crate) fn buy(&self, count: usize) {
        self.tickets.fetch_add(count, Ordering::Relaxed);
    }

    /// A `Handle` was made.
    pub(crate) fn handle_made(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// A `Handle` was dropped. The last one unparks the loop: a loop that waits with
    /// nothing but a `Handle` to wake it looks at the deadlock rule again.
    pub(crate) fn handle_dropped(&self) {
        // Release, paired with the `Acquire` in `live_handles`: see there.
        if self.handles.fetch_sub(1, Ordering::Release) == 1 {
            self.unparker.unpark();
        }
    }

    /// How many `Handle`s of the loop are alive, on any thread.
    ///
    /// The deadlock rule reads it, and may conclude "no Handle" only if whatever a thread
    /// sent through its last handle is then visible to the loop. A thread pushes into the
    /// remote queue *before* it drops its handle; the drop's `Release` decrement and this
    /// `Acquire` load make that push happen-before everything the loop does after seeing
    /// the count it left, so the loop's next look at the remote queue (it looks once more
    /// after a count that says deadlock) finds the entry.
    pub(crate) fn live_handles(&self) -> usize {
        self.handles.load(Ordering::Acquire)
    }

    /// How many tasks (and callbacks) the loop had alive at its last spawn or completion.
    pub(crate) fn live_tasks(&self) -> usize {
        self.live_tasks.load(Ordering::Relaxed)
    }

    /// The loop's thread adds `delta` (+1 or -1, wrapping) to the live-task count. Only
    /// that thread writes it: a load and a store, no read-modify-write.
    #[inline]
    pub(crate) fn add_live_tasks(&self, delta: usize) {
        let live = self.live_tasks.load(Ordering::Relaxed);
        self.live_tasks
            .store(live.wrapping_add(delta), Ordering::Relaxed);
    }

    /// Gives back `count` tickets; the last one frees `Shared`.
    ///
    /// # Safety
    /// The caller owns `count` tickets of `shared` and uses none of them afterwards.
    pub(crate) unsafe fn give_back(shared: NonNull<Shared>, count: usize) {
        // SAFETY: the caller's tickets keep `shared` alive until this decrement.
        let tickets = &unsafe { shared.as_ref() }.tickets;
        // As for a task's last reference: a count equal to ours proves nobody else holds a
        // ticket, so the last ones are given back with a load.
        if tickets.load(Ordering::Acquire) == count
            || tickets.fetch_sub(count, Ordering::Release) == count
        {
            // Every other holder's last use happens-before this point, as in `Arc::drop`.
            fence(Ordering::Acquire);
            // SAFETY: made by `Box::leak` in `new`; that was the last ticket.
            drop(unsafe { Box::from_raw(shared.as_ptr()) });
        }
    }
}
