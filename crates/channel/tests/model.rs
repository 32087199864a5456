//! A model test: random sequences of non-waiting operations, checked step by step
//! against a `VecDeque` and two counters that obviously behave as the queue should.

use std::collections::VecDeque;

use handloop_channel::{Queue, TryGetError, TryPutError};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    TryPut(u32),
    TryGet,
    TaskDone,
    Close,
    CloseAndDrain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u32>().prop_map(Op::TryPut),
        6 => Just(Op::TryGet),
        3 => Just(Op::TaskDone),
        1 => Just(Op::Close),
        1 => Just(Op::CloseAndDrain),
    ]
}

/// What the queue should be.
struct Reference {
    items: VecDeque<u32>,
    capacity: Option<usize>,
    closed: bool,
    unfinished: usize,
}

proptest! {
    // Under Miri: a few cases, and no failure file (Miri isolates the file system).
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: if cfg!(miri) { None } else { ProptestConfig::default().failure_persistence },
        ..ProptestConfig::default()
    })]

    #[test]
    fn queue_matches_a_vecdeque(
        capacity in prop::option::of(1usize..5),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let queue = match capacity {
            Some(n) => Queue::bounded(n),
            None => Queue::unbounded(),
        };
        let mut model = Reference { items: VecDeque::new(), capacity, closed: false, unfinished: 0 };
        for op in ops {
            match op {
                Op::TryPut(item) => {
                    let expected = if model.closed {
                        Err(TryPutError::Closed(item))
                    } else if model.capacity.is_some_and(|n| model.items.len() >= n) {
                        Err(TryPutError::Full(item))
                    } else {
                        model.items.push_back(item);
                        model.unfinished += 1;
                        Ok(())
                    };
                    prop_assert_eq!(queue.try_put(item), expected);
                }
                Op::TryGet => {
                    let expected = match model.items.pop_front() {
                        Some(item) => Ok(item),
                        None if model.closed => Err(TryGetError::Closed),
                        None => Err(TryGetError::Empty),
                    };
                    prop_assert_eq!(queue.try_get(), expected);
                }
                Op::TaskDone => {
                    // Calling it too often panics (tested elsewhere); the model only calls
                    // it when it is allowed.
                    if model.unfinished > 0 {
                        queue.task_done();
                        model.unfinished -= 1;
                    }
                }
                Op::Close => {
                    queue.close();
                    model.closed = true;
                }
                Op::CloseAndDrain => {
                    let expected: Vec<u32> = model.items.drain(..).collect();
                    model.closed = true;
                    model.unfinished = model.unfinished.saturating_sub(expected.len());
                    prop_assert_eq!(queue.close_and_drain(), expected);
                }
            }
            prop_assert_eq!(queue.len(), model.items.len());
            prop_assert_eq!(queue.is_empty(), model.items.is_empty());
            prop_assert_eq!(queue.capacity(), model.capacity);
            prop_assert_eq!(
                queue.is_full(),
                model.capacity.is_some_and(|n| model.items.len() >= n)
            );
            prop_assert_eq!(queue.is_closed(), model.closed);
            prop_assert_eq!(queue.unfinished(), model.unfinished);
        }
    }
}
