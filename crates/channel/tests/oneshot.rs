//! `oneshot` polled by hand: the value arrives once, a dropped side is an error, and
//! the value is never lost silently.

mod common;

use std::sync::Arc;
use std::task::{Poll, Waker};

use common::{CountingWaker, poll_once};
use handloop_channel::oneshot::{self, RecvError};

#[test]
fn a_value_sent_before_the_await_is_ready_at_once() {
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(tx.send(5), Ok(()));
    assert_eq!(poll_once(&mut rx, Waker::noop()), Poll::Ready(Ok(5)));
}

#[test]
fn sending_wakes_the_waiting_receiver_once() {
    let (tx, mut rx) = oneshot::channel();
    let (wakes, waker) = CountingWaker::new();
    assert_eq!(poll_once(&mut rx, &waker), Poll::Pending);
    assert_eq!(poll_once(&mut rx, &waker), Poll::Pending);
    tx.send("hi").unwrap();
    assert_eq!(wakes.wakes(), 1);
    assert_eq!(poll_once(&mut rx, &waker), Poll::Ready(Ok("hi")));
}

#[test]
fn dropping_the_sender_wakes_the_receiver_with_an_error() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    let (wakes, waker) = CountingWaker::new();
    assert_eq!(poll_once(&mut rx, &waker), Poll::Pending);
    drop(tx);
    assert_eq!(wakes.wakes(), 1);
    assert_eq!(poll_once(&mut rx, &waker), Poll::Ready(Err(RecvError)));
    assert_eq!(
        RecvError.to_string(),
        "the oneshot sender was dropped without sending a value"
    );
}

#[test]
fn sending_to_a_dropped_receiver_gives_the_value_back() {
    let (tx, rx) = oneshot::channel();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(vec![1, 2]), Err(vec![1, 2]));
}

#[test]
fn debug_shows_the_state() {
    let (tx, rx) = oneshot::channel::<u8>();
    assert_eq!(format!("{tx:?}"), "Sender { is_closed: false }");
    assert_eq!(
        format!("{rx:?}"),
        "Receiver { has_value: false, sender_gone: false, done: false }"
    );
}

#[test]
#[should_panic(expected = "oneshot::Receiver polled after it completed")]
fn polling_a_finished_receiver_panics() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(1).unwrap();
    assert_eq!(poll_once(&mut rx, Waker::noop()), Poll::Ready(Ok(1)));
    let _ = poll_once(&mut rx, Waker::noop());
}

#[test]
fn both_halves_are_send_when_the_value_is() {
    fn send<T: Send>() {}
    send::<oneshot::Sender<String>>();
    send::<oneshot::Receiver<String>>();
}

#[test]
fn a_reply_crosses_threads() {
    let (tx, rx) = oneshot::channel();
    let thread = std::thread::spawn(move || tx.send(42).unwrap());
    assert_eq!(handloop_waker::block_on(rx), Ok(42));
    thread.join().unwrap();
}

#[test]
fn a_receiver_moved_to_another_task_wakes_only_the_new_one() {
    let (tx, mut rx) = oneshot::channel();
    let (first, first_waker) = CountingWaker::new();
    let (second, second_waker) = CountingWaker::new();
    assert_eq!(poll_once(&mut rx, &first_waker), Poll::Pending);
    assert_eq!(poll_once(&mut rx, &second_waker), Poll::Pending);
    tx.send(3).unwrap();
    assert_eq!((first.wakes(), second.wakes()), (0, 1));
    assert_eq!(poll_once(&mut rx, &second_waker), Poll::Ready(Ok(3)));
    drop((rx, first_waker, second_waker));
    // Every clone the receiver made was dropped (or woken by value) exactly once.
    assert_eq!(
        (Arc::strong_count(&first), Arc::strong_count(&second)),
        (1, 1)
    );
}

#[test]
fn a_receiver_moved_away_and_back_wakes_the_task_it_waits_in_last() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    let (first, first_waker) = CountingWaker::new();
    let (second, second_waker) = CountingWaker::new();
    for waker in [&first_waker, &second_waker, &first_waker] {
        assert_eq!(poll_once(&mut rx, waker), Poll::Pending);
    }
    drop(tx);
    assert_eq!((first.wakes(), second.wakes()), (1, 0));
    assert_eq!(
        poll_once(&mut rx, &first_waker),
        Poll::Ready(Err(RecvError))
    );
    drop((rx, first_waker, second_waker));
    assert_eq!(
        (Arc::strong_count(&first), Arc::strong_count(&second)),
        (1, 1)
    );
}

#[test]
fn the_waker_a_dropped_receiver_left_is_dropped_once() {
    let (tx, mut rx) = oneshot::channel();
    let (counter, waker) = CountingWaker::new();
    assert_eq!(poll_once(&mut rx, &waker), Poll::Pending);
    drop(rx);
    assert_eq!(tx.send(String::from("late")), Err(String::from("late")));
    assert_eq!(counter.wakes(), 0);
    drop(waker);
    assert_eq!(Arc::strong_count(&counter), 1);
}

#[test]
fn a_waiting_receivers_waker_is_woken_by_value_and_not_kept() {
    let (tx, mut rx) = oneshot::channel();
    let (counter, waker) = CountingWaker::new();
    assert_eq!(poll_once(&mut rx, &waker), Poll::Pending);
    assert_eq!(
        Arc::strong_count(&counter),
        3,
        "ours, our waker's, the receiver's clone"
    );
    tx.send(1).unwrap();
    assert_eq!(counter.wakes(), 1);
    assert_eq!(
        Arc::strong_count(&counter),
        2,
        "the sender woke the clone by value"
    );
    assert_eq!(poll_once(&mut rx, &waker), Poll::Ready(Ok(1)));
    drop(rx);
    assert_eq!(Arc::strong_count(&counter), 2);
}
