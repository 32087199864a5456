//! The parking token under [`ThreadPark`](crate::ThreadPark): sleep on a condition
//! variable until another thread leaves a token.

use std::time::{Duration, Instant};

use crate::sync::{AtomicUsize, Condvar, Mutex, Ordering, lock};

/// No token, nobody sleeping.
const EMPTY: usize = 0;
/// The loop thread sleeps (or is about to) on the condition variable.
const PARKED: usize = 1;
/// An unpark left a token: the next park returns at once.
const NOTIFIED: usize = 2;

/// The three-state token of a parker (empty / parked / notified).
#[derive(Debug)]
pub(crate) struct ParkState {
    state: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

impl Default for ParkState {
    fn default() -> Self {
        ParkState {
            state: AtomicUsize::new(EMPTY),
            lock: Mutex::new(()),
            condvar: Condvar::new(),
        }
    }
}

impl ParkState {
    /// Sleeps until unparked or until `timeout` passes; consumes a waiting token at once.
    #[inline]
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        // Fast path, taken on busy turns (when a driver around us wants them: the loop
        // skips a bare `ThreadPark`'s): we may not block, so only consume a token if one
        // is there. A plain load first: no atomic read-modify-write when (as almost
        // always) there is none.
        if timeout == Some(Duration::ZERO) {
            if self.state.load(Ordering::Acquire) == NOTIFIED {
                let _ = self.state.compare_exchange(
                    NOTIFIED,
                    EMPTY,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
            }
            return;
        }
        self.park_blocking(timeout);
    }

    /// The slow path: take a token or sleep on the condition variable.
    #[inline(never)]
    fn park_blocking(&self, timeout: Option<Duration>) {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));

        let mut guard = lock(&self.lock);
        match self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // An unpark slipped in between the fast path and the lock. Taken back with
                // a read-modify-write, not a store: if a second unpark lands meanwhile, we
                // read its write and so see everything its thread did before (a store
                // would overwrite it unseen, and the loop could miss that thread's work).
                self.state.swap(EMPTY, Ordering::SeqCst);
                return;
            }
            Err(other) => unreachable!("park state {other} while the loop parks itself"),
        }
        loop {
            guard = match deadline {
                None => self.condvar.wait(guard).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        // Timed out: take our PARKED back (or a token that just arrived,
                        // with a read-modify-write for the reason above).
                        self.state.swap(EMPTY, Ordering::SeqCst);
                        return;
                    }
                    wait_timeout(&self.condvar, guard, deadline - now)
                }
            };
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return;
            }
            // A spurious condvar wake-up: sleep again.
        }
    }

    /// Leaves a token and wakes the sleeper, if any.
    pub(crate) fn unpark(&self) {
        match self.state.swap(NOTIFIED, Ordering::SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED => {
                // Take the lock so the notify cannot fall between the sleeper's state check
                // and its wait.
                drop(lock(&self.lock));
                self.condvar.notify_one();
            }
            other => unreachable!("park state {other}"),
        }
    }
}

#[cfg(not(loom))]
fn wait_timeout<'a>(
    condvar: &Condvar,
    guard: crate::sync::MutexGuard<'a, ()>,
    timeout: Duration,
) -> crate::sync::MutexGuard<'a, ()> {
    match condvar.wait_timeout(guard, timeout) {
        Ok((guard, _)) => guard,
        Err(poison) => poison.into_inner().0,
    }
}

#[cfg(loom)]
fn wait_timeout<'a>(
    condvar: &Condvar,
    guard: crate::sync::MutexGuard<'a, ()>,
    _timeout: Duration,
) -> crate::sync::MutexGuard<'a, ()> {
    // loom has no timed waits; a timed park is modelled as an untimed one.
    condvar.wait(guard).unwrap()
}
