//! A model test of the bare `TimerHeap`: random register / cancel / advance sequences
//! fire the same timers in the same order as a `BTreeMap<(deadline, seq), id>`, with the
//! default compaction (one pass for small heaps) and with every compaction in steps.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use handloop_timer::heap::{TimerHeap, TimerKey};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Register a timer `delay` ms from now.
    Register(u64),
    /// Cancel the k-th live timer (modulo how many are live).
    Cancel(usize),
    /// Move time forward and fire what is due.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..50).prop_map(Op::Register),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => (0u64..30).prop_map(Op::Advance),
    ]
}

/// Runs `ops` on `heap` and on the model; the heap may hold at most `2 × live + slack`
/// entries after every operation.
fn check(ops: Vec<Op>, mut heap: TimerHeap<u64>, slack: usize) -> Result<(), TestCaseError> {
    let t0 = Instant::now();
    let mut now = t0;
    // The reference: ordered by (deadline, registration number).
    let mut model: BTreeMap<(Instant, u64), u64> = BTreeMap::new();
    let mut keys: BTreeMap<u64, (TimerKey, Instant, u64)> = BTreeMap::new();
    let mut next_id = 0u64;
    let (mut fired, mut expected) = (Vec::new(), Vec::new());

    for op in ops {
        match op {
            Op::Register(delay) => {
                let deadline = now + Duration::from_millis(delay);
                let id = next_id;
                next_id += 1;
                let key = heap.insert(deadline, id);
                model.insert((deadline, id), id);
                keys.insert(id, (key, deadline, id));
            }
            Op::Cancel(k) => {
                if keys.is_empty() {
                    continue;
                }
                let id = *keys.keys().nth(k % keys.len()).unwrap();
                let (key, deadline, seq) = keys.remove(&id).unwrap();
                prop_assert_eq!(heap.remove(key), Some(id));
                prop_assert_eq!(heap.remove(key), None);
                model.remove(&(deadline, seq));
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(ms);
                while let Some(id) = heap.pop_due(now) {
                    fired.push(id);
                    let (key, _, _) = keys.remove(&id).unwrap();
                    prop_assert!(!heap.contains(key));
                }
                while let Some(entry) = model.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    expected.push(entry.remove());
                }
            }
        }
        prop_assert_eq!(&fired, &expected);
        prop_assert_eq!(heap.len(), model.len());
        prop_assert_eq!(heap.next_deadline(), model.keys().next().map(|k| k.0));
        let f = heap.footprint();
        prop_assert!(f.heap_len <= 2 * f.live + slack, "{:?}", f);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fires_like_a_sorted_map(ops in proptest::collection::vec(op(), 0..400)) {
        // Stale entries never outnumber live ones by more than 31 (see `heap_churn.rs`).
        check(ops, TimerHeap::new(), 31)?;
    }

    #[test]
    fn fires_like_a_sorted_map_with_compaction_in_steps(
        ops in proptest::collection::vec(op(), 0..400),
    ) {
        // Every compaction in steps, however small the heap: entries removed in the middle
        // of the heap, scans interleaved with registrations, cancels and fires.
        check(ops, TimerHeap::with_one_pass_limit(0), 38)?;
    }
}
