//! Where a waiting `get` or `put` receives its answer: a cell inside the waiting future
//! itself, so that reading the answer needs no lock.
//!
//! A getter that waits is answered by a putter, under the queue's lock, with an item. If
//! the item stayed in the queue's state, the getter would have to take the lock again to
//! collect it. Instead the item is written into the getter's own [`Handoff`], and a flag
//! says that it is there: the woken getter loads the flag and takes the item, with no
//! lock. A waiting putter is answered the same way (its item taken in, or left with it
//! when the queue closes).
//!
//! # Who may touch a handoff
//!
//! The flag `with_waiter` says whose it is:
//!
//! * `true`: the waiter's (its future's) alone. It starts so.
//! * `false`: **lent** to the queue. The waiter lends it ([`Handoff::lend`]) under the
//!   queue's lock as it joins a line, and the line keeps a [`Mailbox`]: a pointer to it.
//!   From then on only a holder of the queue's lock may touch the cell, through the
//!   mailbox, and the waiter only loads the flag.
//! * Back to `true` when it is answered: the lock holder that takes the mailbox out of
//!   the line writes the answer, then stores `true` (`Release`), and never touches the
//!   handoff again. The waiter that loads `true` (`Acquire`) sees the answer and owns the
//!   cell again. A waiter leaving the line because its future is dropped answers itself
//!   the same way, under the lock.
//!
//! The handoff is pinned inside its future (it is `!Unpin`, and `lend` is `unsafe`: its
//! caller promises that), and the future's `Drop` takes it back out of the line before it
//! can be freed, so the mailbox never points at freed or moved memory. Under `--cfg loom` the flag and the cell are loom's, so the model
//! checker sees every access.
#![allow(unsafe_code)]

use std::marker::PhantomPinned;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::sync::{AtomicBool, RawCell};

/// A waiting future's answer cell; see the module documentation.
pub(crate) struct Handoff<T> {
    with_waiter: AtomicBool,
    item: RawCell<Option<T>>,
    /// A mailbox points here while the handoff is lent.
    _pinned: PhantomPinned,
}

impl<T> Handoff<T> {
    /// An empty handoff, its waiter's.
    #[inline]
    pub(crate) fn new() -> Self {
        Handoff {
            with_waiter: AtomicBool::new(true),
            item: RawCell::new(None),
            _pinned: PhantomPinned,
        }
    }

    /// A handoff holding `item` (a putter's, until its first poll), its waiter's.
    #[inline]
    pub(crate) fn holding(item: T) -> Self {
        Handoff {
            with_waiter: AtomicBool::new(true),
            item: RawCell::new(Some(item)),
            _pinned: PhantomPinned,
        }
    }

    /// The waiter's side: `None` while the handoff is lent (no answer yet), otherwise
    /// what it holds, taken out (the item handed to a getter, or a putter's own item).
    #[inline]
    pub(crate) fn take(&self) -> Option<Option<T>> {
        // Acquire: we see the answer written before the flag was set.
        if !self.with_waiter.load(Acquire) {
            return None;
        }
        // SAFETY: the handoff is the waiter's: no mailbox to it is in any line, so no one
        // else touches the cell; and `Handoff` is not `Sync`, so the waiter's future is
        // the only one calling this.
        Some(self.item.with_mut(|item| unsafe { (*item).take() }))
    }

    /// The waiter's side, when it knows that the handoff is not lent: what it holds, taken
    /// out, without loading the flag.
    ///
    /// # Safety
    ///
    /// The handoff is the waiter's: never lent, or answered and the answer already seen
    /// (a future knows this by holding no key).
    #[inline]
    pub(crate) unsafe fn take_unlent(&self) -> Option<T> {
        debug_assert!(
            self.with_waiter.load(Relaxed),
            "take_unlent on a lent handoff"
        );
        // SAFETY: the caller's promise: no mailbox to it is in any line, so no one else
        // touches the cell; and `Handoff` is not `Sync`, so the waiter's future is the
        // only one calling this.
        self.item.with_mut(|item| unsafe { (*item).take() })
    }

    /// Whether the handoff is lent (its waiter not yet answered). Final only under the
    /// lock of the line it was lent to.
    #[inline]
    pub(crate) fn is_lent(&self) -> bool {
        !self.with_waiter.load(Acquire)
    }

    /// Lends the handoff to the line the caller is joining, with `item` in it (a putter's
    /// item, or `None` for a getter). Call it under the line's lock, and put the mailbox
    /// in the line before releasing the lock. The handoff is empty (a putter took its item
    /// out to try it, a getter's never holds one while it is the getter's): `item` is
    /// written over nothing.
    ///
    /// # Safety
    ///
    /// The handoff is the waiter's (not lent: its future holds no key, as for
    /// [`take_unlent`](Handoff::take_unlent)). It must stay where it is, and alive, until
    /// it is given back (the mailbox answered): its future is pinned, and takes it out of
    /// the line before it is freed.
    #[inline]
    pub(crate) unsafe fn lend(&self, item: Option<T>) -> Mailbox<T> {
        debug_assert!(
            self.with_waiter.load(Relaxed),
            "a waiting future joined a line twice"
        );
        // SAFETY: the handoff is the waiter's (the caller's promise), so the cell is ours;
        // it is empty (see above), so there is nothing to drop.
        self.item.with_mut(|cell| unsafe {
            debug_assert!((*cell).is_none(), "lent with an item in it");
            cell.write(item)
        });
        // Relaxed: the queue only reads the cell under the lock, which the caller
        // releases after this, ordering both writes before any of its reads.
        self.with_waiter.store(false, Relaxed);
        Mailbox(NonNull::from(self))
    }
}

impl<T> Drop for Handoff<T> {
    #[inline]
    fn drop(&mut self) {
        // A lent handoff being freed would leave a dangling mailbox in a line, which the
        // next put or get would write through. The futures' `Drop` takes it out of the
        // line first (a future holds its key exactly while its handoff is lent), so this
        // never fires. Debug builds (tests, the book's exercises) check it anyway, in case
        // an edit to those `Drop`s breaks that, and stop the process: a panic could unwind
        // into code that uses the queue again. Release builds skip the check: it cost
        // about 3 instructions per get or put (callgrind, queue_uncontended).
        if cfg!(debug_assertions) && !self.with_waiter.load(Relaxed) {
            freed_while_lent();
        }
    }
}

#[cold]
#[inline(never)]
fn freed_while_lent() -> ! {
    // Straight to stderr, not `eprintln!`: a test harness captures that, and the abort
    // would lose the message.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"handloop-channel: a waiting get or put was freed while still in the queue's line \
          (its Drop did not take it out); aborting rather than leave a dangling pointer\n",
    );
    std::process::abort();
}

/// A pointer to a lent [`Handoff`], kept in a line.
///
/// Every method is `unsafe`, with one contract: **the caller holds the lock of the line
/// the mailbox was in, and has just taken it out of that line** (`pop_front` or `remove`)
/// in this same critical section. Then the handoff is still lent: its future is alive,
/// pinned, and leaves the cell alone until the flag is set.
pub(crate) struct Mailbox<T>(NonNull<Handoff<T>>);

// SAFETY: a mailbox is dereferenced only under the queue's lock (see the contract), by
// whichever thread holds it, to move a `T` into or out of a waiter: like the queue's own
// items, `T` only needs to be `Send`.
unsafe impl<T: Send> Send for Mailbox<T> {}

impl<T> Mailbox<T> {
    /// A putter's side: takes the item it waits to put.
    ///
    /// # Safety
    ///
    /// See [`Mailbox`].
    #[inline]
    pub(crate) unsafe fn take_item(&mut self) -> Option<T> {
        // SAFETY: per the contract the handoff is alive and lent to us, the lock holder.
        let handoff = unsafe { self.0.as_ref() };
        // SAFETY: as above: the cell is ours until `answer`.
        handoff.item.with_mut(|item| unsafe { (*item).take() })
    }

    /// A getter's answer: hands it `item`, and gives the handoff back. (A getter lends its
    /// handoff empty, so `item` is written over nothing.)
    ///
    /// # Safety
    ///
    /// See [`Mailbox`].
    #[inline]
    pub(crate) unsafe fn give(self, item: T) {
        // SAFETY: per the contract the handoff is alive and lent to us, the lock holder.
        let handoff = unsafe { self.0.as_ref() };
        // SAFETY: as above: the cell is ours until `answer`; it is empty, so there is
        // nothing to drop.
        handoff.item.with_mut(|cell| unsafe {
            debug_assert!((*cell).is_none(), "a getter lent a full handoff");
            cell.write(Some(item))
        });
        // SAFETY: the contract, passed on.
        unsafe { self.answer() };
    }

    /// Gives the handoff back to its waiter, with whatever it holds. The last touch: from
    /// here on the waiter may free it.
    ///
    /// # Safety
    ///
    /// See [`Mailbox`].
    #[inline]
    pub(crate) unsafe fn answer(self) {
        // SAFETY: per the contract the handoff is alive until this store is seen.
        // Release: the waiter that loads `true` sees everything written to the cell.
        unsafe { self.0.as_ref() }.with_waiter.store(true, Release);
    }
}

impl<T> std::fmt::Debug for Mailbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailbox")
    }
}
