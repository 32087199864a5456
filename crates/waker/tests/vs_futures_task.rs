//! Our hand-written vtable ([`handloop_waker::waker`]) against the reference,
//! `futures_task::waker`: the same scenario on both, compared after every step.
//!
//! What is compared: the `Arc`'s strong count (each `Waker` owns one reference), and
//! how many times `wake` and `wake_by_ref` reached the `ArcWake` implementation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::task::Waker;

/// One value type implementing both crates' `ArcWake`, counting which method ran.
/// It overrides `wake` so a vtable that mixes up `wake` and `wake_by_ref` is caught.
#[derive(Default)]
struct Probe {
    wakes: AtomicUsize,
    wake_by_refs: AtomicUsize,
}

impl handloop_waker::ArcWake for Probe {
    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_by_refs.fetch_add(1, Relaxed);
    }
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Relaxed);
    }
}

impl futures_task::ArcWake for Probe {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.wake_by_refs.fetch_add(1, Relaxed);
    }
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Relaxed);
    }
}

/// (strong count, wakes, wake_by_refs) of one probe.
fn state(p: &Arc<Probe>) -> (usize, usize, usize) {
    (
        Arc::strong_count(p),
        p.wakes.load(Relaxed),
        p.wake_by_refs.load(Relaxed),
    )
}

/// The same probe and waker on both sides, so every step is applied twice.
struct Pair {
    ours: Arc<Probe>,
    theirs: Arc<Probe>,
}

impl Pair {
    fn new() -> (Self, Waker, Waker) {
        let pair = Pair {
            ours: Arc::new(Probe::default()),
            theirs: Arc::new(Probe::default()),
        };
        let ours = handloop_waker::waker(Arc::clone(&pair.ours));
        let theirs = futures_task::waker(Arc::clone(&pair.theirs));
        (pair, ours, theirs)
    }

    /// Both sides agree, and agree with what we expect: (strong, wakes, wake_by_refs).
    fn check(&self, step: &str, expected: (usize, usize, usize)) {
        assert_eq!(
            state(&self.ours),
            state(&self.theirs),
            "ours vs futures-task after {step}"
        );
        assert_eq!(state(&self.ours), expected, "after {step}");
    }
}

#[test]
fn every_operation_matches_futures_task_step_by_step() {
    let (pair, ours, theirs) = Pair::new();
    // Our handle + one Waker.
    pair.check("waker()", (2, 0, 0));

    let (ours2, theirs2) = (ours.clone(), theirs.clone());
    pair.check("clone: +1", (3, 0, 0));

    ours2.wake_by_ref();
    theirs2.wake_by_ref();
    pair.check("wake_by_ref: no reference changes hands", (3, 0, 1));

    ours2.wake();
    theirs2.wake();
    pair.check("wake: consumes the Waker's reference", (2, 1, 1));

    let (ours3, theirs3) = (ours.clone(), theirs.clone());
    pair.check("clone again", (3, 1, 1));

    drop(ours3);
    drop(theirs3);
    pair.check("drop: gives back one reference", (2, 1, 1));

    // `Waker::clone_from` onto a clone of the same waker keeps the count too.
    let (mut ours4, mut theirs4) = (ours.clone(), theirs.clone());
    ours4.clone_from(&ours);
    theirs4.clone_from(&theirs);
    pair.check("clone_from", (3, 1, 1));
    drop((ours4, theirs4));

    ours.wake();
    theirs.wake();
    pair.check("wake the last Waker", (1, 2, 1));
}

/// Applies op `op` (0..4) to a stack of wakers: 0 clone the top, 1 wake_by_ref the top,
/// 2 wake (consume) the top, 3 drop the bottom. Returns false if the stack was empty.
fn apply(op: u8, wakers: &mut Vec<Waker>) -> bool {
    if wakers.is_empty() {
        return false;
    }
    match op {
        0 => wakers.push(wakers.last().unwrap().clone()),
        1 => wakers.last().unwrap().wake_by_ref(),
        2 => wakers.pop().unwrap().wake(),
        _ => drop(wakers.remove(0)),
    }
    true
}

#[test]
fn every_sequence_of_operations_matches_futures_task() {
    // All 4^LEN sequences of clone / wake_by_ref / wake / drop (Miri is slow: fewer).
    const LEN: u32 = if cfg!(miri) { 3 } else { 6 };
    for code in 0..4usize.pow(LEN) {
        let (pair, ours, theirs) = Pair::new();
        let (mut ours, mut theirs) = (vec![ours], vec![theirs]);
        let (mut wakes, mut by_refs) = (0, 0);
        for i in 0..LEN {
            let op = ((code >> (2 * i)) & 3) as u8;
            let applied = apply(op, &mut ours);
            assert_eq!(applied, apply(op, &mut theirs));
            if applied {
                wakes += usize::from(op == 2);
                by_refs += usize::from(op == 1);
            }
            // Our handle + one reference per live Waker.
            pair.check(
                &format!("sequence {code:#x}, step {i}"),
                (1 + ours.len(), wakes, by_refs),
            );
        }
        drop((ours, theirs));
        pair.check("dropping the rest", (1, wakes, by_refs));
    }
}

/// Implements only `wake_by_ref`: `wake` must fall back to it, and still give back the
/// consumed Waker's reference (on both sides).
#[derive(Default)]
struct ByRefOnly {
    calls: AtomicUsize,
}

impl handloop_waker::ArcWake for ByRefOnly {
    fn wake_by_ref(self: &Arc<Self>) {
        self.calls.fetch_add(1, Relaxed);
    }
}

impl futures_task::ArcWake for ByRefOnly {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.calls.fetch_add(1, Relaxed);
    }
}

#[test]
fn default_wake_calls_wake_by_ref_and_releases_the_reference() {
    let ours = Arc::new(ByRefOnly::default());
    let theirs = Arc::new(ByRefOnly::default());
    let (w1, w2) = (
        handloop_waker::waker(ours.clone()),
        futures_task::waker(theirs.clone()),
    );
    assert_eq!(
        (Arc::strong_count(&ours), Arc::strong_count(&theirs)),
        (2, 2)
    );
    w1.wake();
    w2.wake();
    assert_eq!(
        (ours.calls.load(Relaxed), theirs.calls.load(Relaxed)),
        (1, 1)
    );
    assert_eq!(
        (Arc::strong_count(&ours), Arc::strong_count(&theirs)),
        (1, 1)
    );
}

/// Records that it was dropped: the last Waker frees the value, no sooner, no later.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

impl handloop_waker::ArcWake for DropFlag {
    fn wake_by_ref(self: &Arc<Self>) {}
}

impl futures_task::ArcWake for DropFlag {
    fn wake_by_ref(_: &Arc<Self>) {}
}

#[test]
fn last_waker_frees_the_value_by_drop_or_by_wake() {
    // Each case: make a Waker, clone it, then end both Wakers in the given ways.
    for (end_first_by_wake, end_last_by_wake) in
        [(false, false), (false, true), (true, false), (true, true)]
    {
        let ours_dropped = Arc::new(AtomicBool::new(false));
        let theirs_dropped = Arc::new(AtomicBool::new(false));
        let ours = handloop_waker::waker(Arc::new(DropFlag(ours_dropped.clone())));
        let theirs = futures_task::waker(Arc::new(DropFlag(theirs_dropped.clone())));
        let (ours2, theirs2) = (ours.clone(), theirs.clone());
        let end = |w: Waker, by_wake: bool| if by_wake { w.wake() } else { drop(w) };

        end(ours, end_first_by_wake);
        end(theirs, end_first_by_wake);
        assert!(!ours_dropped.load(Relaxed), "a clone is still alive");
        assert!(!theirs_dropped.load(Relaxed));

        end(ours2, end_last_by_wake);
        end(theirs2, end_last_by_wake);
        assert!(ours_dropped.load(Relaxed), "the last Waker frees the value");
        assert!(theirs_dropped.load(Relaxed));
    }
}

#[test]
fn wakers_can_be_woken_from_other_threads() {
    let (pair, ours, theirs) = Pair::new();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (ours, theirs) = (ours.clone(), theirs.clone());
            std::thread::spawn(move || {
                ours.wake_by_ref();
                theirs.wake_by_ref();
                let (o, t) = (ours.clone(), theirs.clone());
                o.wake();
                t.wake();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Each thread: its own clone (dropped at the end), a wake_by_ref, one consumed clone.
    pair.check("four threads", (2, 4, 4));
}
