//! A model test for the three queues (FIFO, LIFO, priority): random sequences of every
//! operation, waiting ones included (gets and puts polled by hand, polled again, dropped
//! at any point), checked step by step against a reference that keeps the items in a
//! plain `Vec` and the lines of waiters in `VecDeque`s.
//!
//! The reference is written from the documented rules, not from the code: an item put
//! while getters wait goes to the first getter; a freed slot goes to the first putter; a
//! getter dropped with an item gives it back as the oldest item; closing answers every
//! waiter; the priority order is smallest first, equal items in arrival order.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use handloop_channel::order::{Fifo, Lifo, Order, Priority};
use handloop_channel::{Closed, Get, Put, QueueOf, TryGetError, TryPutError};
use proptest::prelude::*;

/// An item whose order is its priority only, so that equal items can still be told apart
/// (by `id`) and the priority queue's stability is visible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Job {
    priority: u8,
    id: u32,
}

impl Ord for Job {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority.cmp(&other.priority)
    }
}

impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where the reference keeps its ready items: a `Vec`, oldest first.
trait Items {
    /// Index of the item `get` returns next.
    fn next(items: &[Job]) -> Option<usize>;
}

struct FifoModel;
impl Items for FifoModel {
    fn next(items: &[Job]) -> Option<usize> {
        (!items.is_empty()).then_some(0)
    }
}

struct LifoModel;
impl Items for LifoModel {
    fn next(items: &[Job]) -> Option<usize> {
        items.len().checked_sub(1)
    }
}

struct PriorityModel;
impl Items for PriorityModel {
    /// The first of the smallest: smallest first, equal items oldest first.
    fn next(items: &[Job]) -> Option<usize> {
        let smallest = items.iter().map(|job| job.priority).min()?;
        items.iter().position(|job| job.priority == smallest)
    }
}

#[derive(Clone, Debug)]
enum Op {
    TryPut(u8),
    TryGet,
    /// A new `put`, polled once (kept if it waits).
    Put(u8),
    /// A new `get`, polled once (kept if it waits).
    Get,
    /// Polls the kept waiter at this index (modulo their number) again.
    Poll(usize),
    /// Drops the kept waiter at this index.
    Drop(usize),
    TaskDone,
    Close,
    CloseAndDrain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4).prop_map(Op::TryPut),
        4 => Just(Op::TryGet),
        4 => (0u8..4).prop_map(Op::Put),
        4 => Just(Op::Get),
        4 => any::<usize>().prop_map(Op::Poll),
        3 => any::<usize>().prop_map(Op::Drop),
        2 => Just(Op::TaskDone),
        1 => Just(Op::Close),
        1 => Just(Op::CloseAndDrain),
    ]
}

/// What a waiter in the reference has been answered with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    /// Still in line.
    Waiting,
    /// A getter handed this item, or a putter whose item entered (`None`).
    Item(Option<Job>),
    /// The queue closed first (a putter keeps its item).
    Closed,
}

/// The reference queue.
struct Model<I> {
    items: Vec<Job>,
    capacity: usize,
    closed: bool,
    unfinished: usize,
    /// Waiting getters' ids, first in line first.
    getters: VecDeque<usize>,
    /// Waiting putters' ids and items.
    putters: VecDeque<(usize, Job)>,
    /// Each waiter's answer, by id.
    answers: Vec<Answer>,
    _items: std::marker::PhantomData<I>,
}

impl<I: Items> Model<I> {
    fn pop(&mut self) -> Option<Job> {
        I::next(&self.items).map(|at| self.items.remove(at))
    }

    fn enter(&mut self, job: Job) {
        self.unfinished += 1;
        match self.getters.pop_front() {
            Some(getter) => self.answers[getter] = Answer::Item(Some(job)),
            None => self.items.push(job),
        }
    }

    fn slot_freed(&mut self) {
        if self.items.len() < self.capacity
            && let Some((putter, job)) = self.putters.pop_front()
        {
            self.answers[putter] = Answer::Item(None);
            self.enter(job);
        }
    }

    fn take(&mut self) -> Result<Job, TryGetError> {
        match self.pop() {
            Some(job) => {
                self.slot_freed();
                Ok(job)
            }
            None if self.closed => Err(TryGetError::Closed),
            None => Err(TryGetError::Empty),
        }
    }

    fn give_back(&mut self, job: Job) {
        match self.getters.pop_front() {
            Some(getter) => self.answers[getter] = Answer::Item(Some(job)),
            // Older than every stored item (which all arrived after it was handed).
            None => self.items.insert(0, job),
        }
    }

    fn close(&mut self) {
        self.closed = true;
        for (putter, _) in self.putters.drain(..) {
            self.answers[putter] = Answer::Closed;
        }
        for getter in self.getters.drain(..) {
            self.answers[getter] = Answer::Closed;
        }
    }

    fn drain(&mut self) -> Vec<Job> {
        std::iter::from_fn(|| self.pop()).collect()
    }
}

/// A waiter kept between steps: the real future and its id in the model.
enum Waiter<'q, O: Order<Job>> {
    Get(usize, Pin<Box<Get<'q, Job, O>>>),
    Put(usize, Job, Pin<Box<Put<'q, Job, O>>>),
}

fn poll<F: std::future::Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs `ops` on a real queue of order `O` and on the model `I`, comparing every result.
fn check<O: Order<Job>, I: Items>(
    capacity: Option<usize>,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let queue: QueueOf<Job, O> = match capacity {
        Some(n) => QueueOf::bounded(n),
        None => QueueOf::unbounded(),
    };
    let mut model = Model::<I> {
        items: Vec::new(),
        capacity: capacity.unwrap_or(usize::MAX),
        closed: false,
        unfinished: 0,
        getters: VecDeque::new(),
        putters: VecDeque::new(),
        answers: Vec::new(),
        _items: std::marker::PhantomData,
    };
    let mut waiters: Vec<Waiter<'_, O>> = Vec::new();
    let mut next_id = 0;
    let mut job = |priority| {
        next_id += 1;
        Job {
            priority,
            id: next_id,
        }
    };
    for op in ops {
        match *op {
            Op::TryPut(priority) => {
                let job = job(priority);
                let expected = if model.closed {
                    Err(TryPutError::Closed(job))
                } else if model.items.len() >= model.capacity {
                    Err(TryPutError::Full(job))
                } else {
                    model.enter(job);
                    Ok(())
                };
                prop_assert_eq!(queue.try_put(job), expected);
            }
            Op::TryGet => prop_assert_eq!(queue.try_get(), model.take()),
            Op::Put(priority) => {
                let job = job(priority);
                let id = model.answers.len();
                let expected = if model.closed {
                    Poll::Ready(Err(Closed(job)))
                } else if model.items.len() < model.capacity {
                    model.enter(job);
                    Poll::Ready(Ok(()))
                } else {
                    model.putters.push_back((id, job));
                    Poll::Pending
                };
                model.answers.push(Answer::Waiting);
                let mut put = Box::pin(queue.put(job));
                let got = poll(put.as_mut());
                prop_assert_eq!(&got, &expected);
                if got.is_pending() {
                    waiters.push(Waiter::Put(id, job, put));
                }
            }
            Op::Get => {
                let id = model.answers.len();
                model.answers.push(Answer::Waiting);
                let expected = match model.take() {
                    Ok(job) => Poll::Ready(Ok(job)),
                    Err(TryGetError::Closed) => Poll::Ready(Err(Closed(()))),
                    Err(TryGetError::Empty) => {
                        model.getters.push_back(id);
                        Poll::Pending
                    }
                };
                let mut get = Box::pin(queue.get());
                let got = poll(get.as_mut());
                prop_assert_eq!(&got, &expected);
                if got.is_pending() {
                    waiters.push(Waiter::Get(id, get));
                }
            }
            Op::Poll(at) if !waiters.is_empty() => {
                let at = at % waiters.len();
                let done = match &mut waiters[at] {
                    Waiter::Get(id, get) => {
                        let expected = match model.answers[*id] {
                            Answer::Waiting => Poll::Pending,
                            Answer::Item(Some(job)) => Poll::Ready(Ok(job)),
                            Answer::Item(None) => unreachable!("getters get items"),
                            // Answered by `close`: it looks again, and may find an item
                            // given back since.
                            Answer::Closed => Poll::Ready(model.take().map_err(|_| Closed(()))),
                        };
                        let got = poll(get.as_mut());
                        prop_assert_eq!(&got, &expected);
                        got.is_ready()
                    }
                    Waiter::Put(id, job, put) => {
                        let expected = match model.answers[*id] {
                            Answer::Waiting => Poll::Pending,
                            Answer::Item(_) => Poll::Ready(Ok(())),
                            Answer::Closed => Poll::Ready(Err(Closed(*job))),
                        };
                        let got = poll(put.as_mut());
                        prop_assert_eq!(&got, &expected);
                        got.is_ready()
                    }
                };
                if done {
                    waiters.swap_remove(at);
                }
            }
            Op::Drop(at) if !waiters.is_empty() => match waiters.swap_remove(at % waiters.len()) {
                Waiter::Get(id, get) => {
                    match model.answers[id] {
                        Answer::Waiting => model.getters.retain(|&g| g != id),
                        Answer::Item(Some(job)) => model.give_back(job),
                        Answer::Item(None) | Answer::Closed => {}
                    }
                    drop(get);
                }
                Waiter::Put(id, _, put) => {
                    if model.answers[id] == Answer::Waiting {
                        model.putters.retain(|&(p, _)| p != id);
                    }
                    drop(put);
                }
            },
            Op::Poll(_) | Op::Drop(_) => {}
            Op::TaskDone => {
                if model.unfinished > 0 {
                    queue.task_done();
                    model.unfinished -= 1;
                }
            }
            Op::Close => {
                queue.close();
                model.close();
            }
            Op::CloseAndDrain => {
                model.close();
                let expected = model.drain();
                model.unfinished = model.unfinished.saturating_sub(expected.len());
                prop_assert_eq!(queue.close_and_drain(), expected);
            }
        }
        prop_assert_eq!(queue.len(), model.items.len());
        prop_assert_eq!(queue.is_full(), model.items.len() >= model.capacity);
        prop_assert_eq!(queue.is_closed(), model.closed);
        prop_assert_eq!(queue.unfinished(), model.unfinished);
    }
    Ok(())
}

/// Operations per case; fewer under Miri, which runs each about a thousand times slower.
const OPS: usize = if cfg!(miri) { 30 } else { 80 };

proptest! {
    // Under Miri: a few cases, and no failure file (Miri isolates the file system).
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: if cfg!(miri) { None } else { ProptestConfig::default().failure_persistence },
        ..ProptestConfig::default()
    })]

    #[test]
    fn queue_matches_its_model(
        capacity in prop::option::of(1usize..4),
        ops in prop::collection::vec(op(), 0..OPS),
    ) {
        check::<Fifo<Job>, FifoModel>(capacity, &ops)?;
    }

    #[test]
    fn lifo_queue_matches_its_model(
        capacity in prop::option::of(1usize..4),
        ops in prop::collection::vec(op(), 0..OPS),
    ) {
        check::<Lifo<Job>, LifoModel>(capacity, &ops)?;
    }

    #[test]
    fn priority_queue_matches_its_model(
        capacity in prop::option::of(1usize..4),
        ops in prop::collection::vec(op(), 0..OPS),
    ) {
        check::<Priority<Job>, PriorityModel>(capacity, &ops)?;
    }
}
