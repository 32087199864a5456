//! The crate's one lock, `Lock<S>`, and the primitives under it, swapped for loom's
//! under `cfg(loom)`.
//!
//! Why not `std::sync::Mutex`? Every queue operation takes the lock once, and on the
//! single-thread path (the common one: one loop, many tasks) the lock's atomic
//! instructions are most of the cost of a put or a get. std's mutex pays two atomic
//! read-modify-writes per lock/unlock (its unlock is a `swap`, to learn whether a sleeper
//! must be woken). `Lock` never puts a thread to sleep, so its unlock is a plain release
//! store and a lock/unlock costs one atomic read-modify-write (about 6 ns on the machines
//! we measure on; a put plus a get costs about 20-25 ns in all).
//!
//! Measured with `Lock` swapped for `std::sync::Mutex` (the CPU time of `compare --iters N
//! --only W --runtime handloop`, 9 interleaved runs of each build, medians): this lock was
//! 11% faster on `queue_uncontended`, 12% on `request_reply` and 5% on `queue_bounded1`,
//! and level on `queue_contention` and on `ping_pong` (which takes no lock).
//!
//! A lock that never sleeps is only right when it is held briefly, so the crate keeps its
//! critical sections tiny and never runs foreign code in them: wakers are called and items
//! are dropped after unlocking. (Cloning a `Waker` is the only call out, and a waker's
//! clone is an `Arc` increment in every executor we know.) A thread that finds the lock
//! taken spins a little, then yields its time slice to the holder.
//!
//! Under `--cfg loom` (see `tests/loom.rs`) the atomic, the cell and the back-off are
//! loom's, so the model checker explores every interleaving of this lock too.
//!
//! The oneshot channel needs no lock: one atomic state word says who may touch its two
//! cells (see `oneshot.rs`). It takes its atomic and its cell type from here, so that
//! loom checks that protocol as well.
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell as RawCell;
#[cfg(loom)]
use loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc,
    atomic::{AtomicBool, AtomicPtr, AtomicUsize},
};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize};

/// A spin-then-yield lock around `S`, for critical sections of a few dozen instructions.
pub(crate) struct Lock<S> {
    locked: AtomicBool,
    state: UnsafeCell<S>,
}

// SAFETY: `Lock` hands out access to `S` only through a `LockGuard`, and the `locked` flag
// (acquired with `Acquire`, released with `Release`) ensures at most one guard exists at a
// time, so sharing a `Lock` between threads only ever moves `S` between them: `S: Send` is
// what that needs, exactly as for `std::sync::Mutex`.
unsafe impl<S: Send> Sync for Lock<S> {}

// Like `std::sync::Mutex`, a `Lock` may be used again after a panic elsewhere: no code
// that can panic runs while the state is half-updated (the crate's critical sections only
// move items and wakers around), so no one can observe a broken invariant.
impl<S> std::panic::RefUnwindSafe for Lock<S> {}
impl<S> std::panic::UnwindSafe for Lock<S> {}

/// Access to the state while the lock is held; unlocks when dropped.
pub(crate) struct LockGuard<'a, S> {
    lock: &'a Lock<S>,
    #[cfg(loom)]
    access: loom::cell::MutPtr<S>,
    /// The guard hands out `&mut S`, so it is `Sync` only when `S` is (as std's
    /// `MutexGuard`): sharing a guard must not share a non-`Sync` state.
    _access: PhantomData<&'a mut S>,
}

impl<S> Lock<S> {
    pub(crate) fn new(state: S) -> Self {
        Lock {
            locked: AtomicBool::new(false),
            state: UnsafeCell::new(state),
        }
    }

    /// Takes the lock, waiting for another thread to release it if needed.
    #[inline]
    pub(crate) fn lock(&self) -> LockGuard<'_, S> {
        if self
            .locked
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        LockGuard {
            lock: self,
            #[cfg(loom)]
            access: self.state.get_mut(),
            _access: PhantomData,
        }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            // Wait with plain loads (no cache-line ping-pong), then try again.
            while self.locked.load(Relaxed) {
                back_off(&mut spins);
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// Spins briefly, then gives the time slice away (the holder may have been preempted).
#[cfg(not(loom))]
fn back_off(spins: &mut u32) {
    if *spins < 100 {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Under loom every wait must yield, or the model checker would spin forever.
#[cfg(loom)]
fn back_off(_spins: &mut u32) {
    loom::thread::yield_now();
}

impl<S> Drop for LockGuard<'_, S> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Release);
    }
}

impl<S> LockGuard<'_, S> {
    /// The state, which this guard alone may touch.
    #[cfg(not(loom))]
    #[inline]
    fn state(&self) -> *mut S {
        self.lock.state.get()
    }

    #[cfg(loom)]
    fn state(&self) -> *mut S {
        self.access.with(|state| state)
    }
}

impl<S> Deref for LockGuard<'_, S> {
    type Target = S;

    #[inline]
    fn deref(&self) -> &S {
        // SAFETY: this guard exists only while `locked` is set by us (see `Lock::lock`), so
        // no reference to the state exists but those made through this guard, and they
        // borrow the guard, so they end before `drop` unlocks. `&self` allows shared ones.
        unsafe { &*self.state() }
    }
}

impl<S> DerefMut for LockGuard<'_, S> {
    #[inline]
    fn deref_mut(&mut self) -> &mut S {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference made through
        // the guard while it lives.
        unsafe { &mut *self.state() }
    }
}

#[cfg(not(loom))]
use std::cell::UnsafeCell;

/// A cell whose every access goes through a closure, as with `loom::cell::UnsafeCell`
/// (which replaces it under `cfg(loom)`, so loom sees each access and reports two that
/// race). The caller of `with`/`with_mut` must know, from its own protocol, that no one
/// writes the contents during a `with` and no one else touches them during a `with_mut`;
/// the cell itself checks nothing, which is why dereferencing the pointer is `unsafe`.
#[cfg(not(loom))]
pub(crate) struct RawCell<T>(UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> RawCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        RawCell(UnsafeCell::new(value))
    }

    /// Reads through a pointer to the contents.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Writes through a pointer to the contents.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
