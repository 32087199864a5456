//! loom models: every interleaving of a put and a get racing on two threads, lock
//! included (`src/sync.rs` swaps in loom's atomics under `--cfg loom`), and of the two
//! halves of a oneshot, including which half frees the allocation: under loom the
//! allocation carries a leak tracker, so a model fails if no half frees it.
//!
//! RUSTFLAGS="--cfg loom" cargo test -p handloop-channel --test loom --release
#![cfg(loom)]

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};

use handloop_channel::{Queue, oneshot};
use loom::sync::Notify;
use loom::thread;

/// The smallest `block_on` on loom's primitives: the waker notifies, the loop waits for a
/// notification between polls. If the queue ever lost a wake, `wait` would block forever
/// and loom would report a deadlock.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Notify);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.notify();
        }
    }
    let unpark = Arc::new(Unpark(Notify::new()));
    let waker = Waker::from(Arc::clone(&unpark));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        unpark.0.wait();
    }
}

/// A waker that counts what is done with it, to check that the oneshot drops every clone
/// it makes exactly once (whichever half, whichever interleaving) and wakes the right one.
struct Counted {
    /// Wakers made: the test's own plus every clone.
    made: AtomicUsize,
    /// Wakers dropped, woken by value included.
    dropped: AtomicUsize,
    wakes: AtomicUsize,
}

impl Counted {
    fn new() -> Arc<Counted> {
        Arc::new(Counted {
            made: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            wakes: AtomicUsize::new(0),
        })
    }

    /// A waker on these counts; `self` must outlive it (the tests drop every waker first).
    fn waker(self: &Arc<Self>) -> Waker {
        static VTABLE: RawWakerVTable = RawWakerVTable::new(
            |data| {
                counts(data).made.fetch_add(1, Relaxed);
                RawWaker::new(data, &VTABLE)
            },
            |data| {
                counts(data).wakes.fetch_add(1, Relaxed);
                counts(data).dropped.fetch_add(1, Relaxed);
            },
            |data| {
                counts(data).wakes.fetch_add(1, Relaxed);
            },
            |data| {
                counts(data).dropped.fetch_add(1, Relaxed);
            },
        );
        fn counts<'a>(data: *const ()) -> &'a Counted {
            // SAFETY: the data of a waker made by `Counted::waker`, whose counts outlive it.
            unsafe { &*data.cast::<Counted>() }
        }
        self.made.fetch_add(1, Relaxed);
        // SAFETY: the vtable's functions only count, through a pointer that stays valid
        // while the waker lives (see above).
        unsafe { Waker::from_raw(RawWaker::new(Arc::as_ptr(self).cast(), &VTABLE)) }
    }

    fn wakes(&self) -> usize {
        self.wakes.load(Relaxed)
    }

    /// Every waker made on these counts was dropped exactly once.
    fn assert_all_dropped(&self) {
        assert_eq!(self.made.load(Relaxed), self.dropped.load(Relaxed));
    }
}

/// A full bounded(1) queue: one thread puts a second item (so it may have to wait for the
/// getter), the other gets twice (so it may have to wait for the putter). Each item
/// arrives exactly once, in order, and neither thread is left asleep.
#[test]
fn put_and_get_race_on_two_threads() {
    loom::model(|| {
        let queue = Queue::bounded(1);
        queue.try_put(1).unwrap();
        let putter = thread::spawn({
            let queue = queue.clone();
            move || block_on(queue.put(2)).unwrap()
        });
        let got = block_on(async { [queue.get().await, queue.get().await] });
        putter.join().unwrap();
        assert_eq!(got, [Ok(1), Ok(2)]);
        assert_eq!(queue.try_get(), Err(handloop_channel::TryGetError::Empty));
    });
}

/// A getter waits while another thread closes the queue: it wakes with the error.
#[test]
fn close_races_a_waiting_get() {
    loom::model(|| {
        let queue = Queue::<u8>::unbounded();
        let closer = thread::spawn({
            let queue = queue.clone();
            move || queue.close()
        });
        let got = block_on(queue.get());
        closer.join().unwrap();
        assert_eq!(got, Err(handloop_channel::Closed(())));
    });
}

/// A getter that waited is dropped on one thread while a putter on another hands it an
/// item (written into the getter's own future, without the lock on the getter's side):
/// the item is either collected or given back, never lost, never read twice.
#[test]
fn a_getter_dropped_while_a_putter_hands_it_an_item() {
    loom::model(|| {
        let queue = Queue::unbounded();
        let mut get = Box::pin(queue.get());
        let first = get.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(first.is_pending());
        let putter = thread::spawn({
            let queue = queue.clone();
            move || queue.try_put(5).unwrap()
        });
        // Look once more (the item may have arrived), then give up.
        let got = match get.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(item) => Some(item.unwrap()),
            Poll::Pending => None,
        };
        drop(get);
        putter.join().unwrap();
        let left = queue.try_get().ok();
        assert_eq!(got.or(left), Some(5));
        assert!(got.is_none() || left.is_none(), "delivered twice");
    });
}

/// A oneshot sent on one thread while the receiver waits on another.
#[test]
fn oneshot_send_races_the_receiver() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel();
        let sender = thread::spawn(move || tx.send(7).unwrap());
        assert_eq!(block_on(rx), Ok(7));
        sender.join().unwrap();
    });
}

/// The receiver is dropped while the sender sends: the value is either delivered to no one
/// and given back to the sender, or dropped with the receiver; never both, never lost.
#[test]
fn oneshot_send_races_the_receivers_drop() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel();
        let value = Arc::new(());
        let sender = thread::spawn({
            let value = Arc::clone(&value);
            move || tx.send(value).map_err(drop).is_ok()
        });
        drop(rx);
        let _sent = sender.join().unwrap();
        // Whichever way it went, the value was dropped exactly once.
        assert_eq!(Arc::strong_count(&value), 1);
    });
}

/// The sender is dropped without sending while the receiver waits: the receiver wakes
/// with the error (loom reports a deadlock if the wake were lost).
#[test]
fn oneshot_sender_drop_races_the_receiver() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u8>();
        let sender = thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx), Err(oneshot::RecvError));
        sender.join().unwrap();
    });
}

/// The receiver is polled again with a different waker (it moved to another task) while
/// the sender sends: the new waker is the one woken, and the old one is never written
/// while the sender reads it.
#[test]
fn oneshot_receiver_changes_waker_while_the_sender_sends() {
    loom::model(|| {
        let (tx, mut rx) = oneshot::channel();
        let first = Waker::noop();
        let mut cx = Context::from_waker(first);
        let sender = thread::spawn(move || tx.send(7).unwrap());
        // Register the first waker (or find the value already there).
        let got = std::pin::Pin::new(&mut rx).poll(&mut cx);
        let got = match got {
            Poll::Ready(value) => value,
            // Then wait with another waker: `block_on`'s.
            Poll::Pending => block_on(rx),
        };
        assert_eq!(got, Ok(7));
        sender.join().unwrap();
    });
}

/// The receiver is polled again by the same task (a spurious poll) while the sender
/// completes and takes the waker out of its cell: the second poll compares the waker it
/// remembers, never the cell, and the one wake still arrives.
#[test]
fn oneshot_receiver_polled_again_while_the_sender_takes_its_waker() {
    loom::model(|| {
        let (tx, mut rx) = oneshot::channel();
        let sender = thread::spawn(move || tx.send(7).unwrap());
        let got = block_on(std::future::poll_fn(|cx| {
            match std::pin::Pin::new(&mut rx).poll(cx) {
                Poll::Ready(value) => Poll::Ready(value),
                Poll::Pending => std::pin::Pin::new(&mut rx).poll(cx),
            }
        }));
        assert_eq!(got, Ok(7));
        sender.join().unwrap();
    });
}

/// Both halves let go at once, nothing sent: exactly one of them frees the allocation
/// (loom reports a leak if neither does; Miri's runs of the other tests catch a double
/// free).
#[test]
fn oneshot_both_halves_let_go_at_once() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<Arc<()>>();
        let sender = thread::spawn(move || drop(tx));
        drop(rx);
        sender.join().unwrap();
    });
}

/// The receiver takes the value and lets go while the sender may still be taking its waker
/// out (the sender lets go only after that): the receiver must not free under the sender.
#[test]
fn oneshot_receiver_lets_go_while_the_sender_wakes_it() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel();
        let value = Arc::new(());
        let sender = thread::spawn({
            let value = Arc::clone(&value);
            move || tx.send(value).unwrap()
        });
        let got = block_on(rx).unwrap();
        drop(got);
        sender.join().unwrap();
        assert_eq!(Arc::strong_count(&value), 1);
    });
}

/// A value sent and never received is dropped exactly once, by whichever half lets go
/// last; so is the waker the receiver left, whether the sender took it or not.
#[test]
fn oneshot_unreceived_value_is_dropped_once() {
    loom::model(|| {
        let (tx, mut rx) = oneshot::channel();
        let value = Arc::new(());
        let counted = Counted::new();
        let waker = counted.waker();
        // The receiver registers a waker first (or finds nothing), then the send races
        // its drop.
        let _ = Pin::new(&mut rx).poll(&mut Context::from_waker(&waker));
        let sender = thread::spawn({
            let value = Arc::clone(&value);
            move || drop(tx.send(value))
        });
        drop(rx);
        sender.join().unwrap();
        assert_eq!(Arc::strong_count(&value), 1);
        drop(waker);
        counted.assert_all_dropped();
    });
}

/// The receiver moves from task A to task B and back to A while the sender sends: the
/// state word then shows a waker in the cell again, but not the one the sender may have
/// read before, so the sender must not take the words it read (the `REPLACED` flag). The
/// last waker left is the one woken, once; every waker is dropped exactly once; the
/// value arrives.
#[test]
fn oneshot_receiver_changes_waker_and_back_while_the_sender_sends() {
    loom::model(|| {
        let (tx, mut rx) = oneshot::channel();
        let (a, b) = (Counted::new(), Counted::new());
        let sender = thread::spawn(move || tx.send(7).unwrap());
        let mut got = None;
        for counted in [&a, &b, &a] {
            let waker = counted.waker();
            if let Poll::Ready(value) = Pin::new(&mut rx).poll(&mut Context::from_waker(&waker)) {
                got = Some(value);
                break;
            }
        }
        sender.join().unwrap();
        let got = got.unwrap_or_else(|| {
            // All three polls waited: the sender woke the last waker left, A, once.
            assert_eq!((a.wakes(), b.wakes()), (1, 0));
            match Pin::new(&mut rx).poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(value) => value,
                Poll::Pending => panic!("woken, but no value"),
            }
        });
        assert_eq!(got, Ok(7));
        drop(rx);
        a.assert_all_dropped();
        b.assert_all_dropped();
    });
}

/// The sender is dropped without sending while the receiver, which left a waker, is
/// dropped too: the waker is dropped exactly once, and woken at most once.
#[test]
fn oneshot_sender_drop_races_the_receivers_drop_with_a_waker_left() {
    loom::model(|| {
        let (tx, mut rx) = oneshot::channel::<u8>();
        let counted = Counted::new();
        let waker = counted.waker();
        assert!(
            Pin::new(&mut rx)
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let sender = thread::spawn(move || drop(tx));
        drop(rx);
        sender.join().unwrap();
        drop(waker);
        counted.assert_all_dropped();
        assert!(counted.wakes() <= 1);
    });
}
