//! The bare `TimerHeap` under heavy churn: many cancellations (so compactions run often),
//! slot reuse through the free list, and stale keys that must keep finding nothing. Checked
//! against a `BTreeMap<(deadline, seq), id>`, deterministically (a small xorshift), with
//! compaction in one pass, in steps on a big heap, and in steps on every heap; then the
//! memory bound under the cancel order that is worst for compaction in steps.
//!
//! # The bound: stale entries outnumber live ones by at most 31 (38)
//!
//! Write `s` for the stale entries, `l` for the live timers, `M` = 32
//! (`MIN_STALE_TO_COMPACT`) and `K` = 32 (`STEP`). Only a cancel (`s + 1`, `l - 1`) or a
//! fire (`l - 1`) can raise `s - l`, and after each the heap checks whether to compact.
//!
//! - While `s < M`: `s - l <= 31`.
//! - A heap of at most `ONE_PASS_LIMIT` entries is compacted at once when `s >= M` and
//!   `s > l`, so after every operation `s <= l` or `s < M`: `s - l <= 31`.
//! - A bigger heap starts a compaction in steps at the first operation after which `s >= M`
//!   and `4s > 3l`. Before that operation `s < M` or `4s <= 3l`, and it moved `s` up and
//!   `l` down by one at most, so it starts with `s0 <= max(M, (3 l0 + 7) / 4)` and
//!   `n0 = s0 + l0` positions to scan. Each later registration, cancel or fire looks at `K`
//!   entries: a look either moves the scan one position on (at most `n0` of those) or
//!   removes a stale entry (at most `s0` plus one per operation since the start). So after
//!   `r` operations the scan is over if `K r >= n0 + s0 + r`: it ends within
//!   `r < (n0 + s0 + K) / (K - 1)` operations, during which `s - l <= s0 - l0 + 2r`.
//!   - With `s0 <= (3 l0 + 7) / 4` this is below `4.05 - l0 / 12`: at most 4.
//!   - With `s0 = M` (only when `l0 <= 42`, so `n0 < 75`: a small heap compacted in steps,
//!     which `ONE_PASS_LIMIT` = 4096 rules out) `r < (l0 + 96) / 31`, and it is at most
//!     38 (at `l0` = 0, with `r` = 3).
//!
//!   When it ends, the stale entries left are those the scan had passed when they were
//!   cancelled, and those a registration's sift-up carried past the scan (one per
//!   registration at most): `r` at most. Too few to start the next one at once (that needs
//!   `s >= M` and `4s > 3l`, while `r < 0.081 l0 + 1.2` and `l >= l0 - r`), so the next one
//!   starts as above.
//!
//! So the heap holds at most `2l + 31` entries, or `2l + 38` when every compaction goes in
//! steps (`TimerHeap::with_one_pass_limit(0)`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use handloop_timer::heap::{ONE_PASS_LIMIT, TimerHeap, TimerKey};

/// The bound with the default heap, and with every compaction in steps (see above).
const SLACK: usize = 31;
const SLACK_ALL_IN_STEPS: usize = 38;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random churn on `heap`, checked against a sorted map and the bound `2 × live + slack`
/// after every operation, with `long_lived` timers registered first that never come due
/// (so the heap stays big). Returns how many compactions in steps started.
fn churn(mut heap: TimerHeap<u64>, slack: usize, long_lived: u64) -> usize {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut now = t0;
    let mut model: BTreeMap<(Instant, u64), u64> = BTreeMap::new();
    // id -> (key, deadline); ids are registration numbers.
    let mut live: BTreeMap<u64, (TimerKey, Instant)> = BTreeMap::new();
    let mut dead: Vec<TimerKey> = Vec::new();
    let mut next_id = 0u64;
    let mut compactions = 0;
    let far = t0 + Duration::from_secs(3600);
    for _ in 0..long_lived {
        let id = next_id;
        next_id += 1;
        let deadline = far + ms(id % 1000);
        let key = heap.insert(deadline, id);
        model.insert((deadline, id), id);
        live.insert(id, (key, deadline));
    }

    for round in 0..20_000u64 {
        let was_compacting = heap.is_compacting();
        match rng.below(100) {
            // Register: few distinct deadlines, so ties are common.
            0..=49 => {
                let deadline = now + ms(rng.below(40));
                let id = next_id;
                next_id += 1;
                let key = heap.insert(deadline, id);
                model.insert((deadline, id), id);
                live.insert(id, (key, deadline));
            }
            // Cancel a live timer (often not the top: its entry goes stale).
            50..=89 => {
                if live.is_empty() {
                    continue;
                }
                let nth = rng.below(live.len() as u64) as usize;
                let id = *live.keys().nth(nth).unwrap();
                let (key, deadline) = live.remove(&id).unwrap();
                assert_eq!(heap.remove(key), Some(id));
                model.remove(&(deadline, id));
                dead.push(key);
            }
            // A stale key (its slot may hold a newer timer by now) finds nothing.
            90..=96 => {
                if dead.is_empty() {
                    continue;
                }
                let key = dead[rng.below(dead.len() as u64) as usize];
                assert!(!heap.contains(key));
                assert_eq!(heap.get_mut(key), None);
                assert_eq!(heap.remove(key), None);
            }
            // Advance time and fire what is due, in (deadline, seq) order.
            _ => {
                now += ms(rng.below(15));
                let mut fired = Vec::new();
                while let Some(id) = heap.pop_due(now) {
                    fired.push(id);
                }
                let due: Vec<(Instant, u64)> =
                    model.range(..=(now, u64::MAX)).map(|(k, _)| *k).collect();
                let expected: Vec<u64> = due.iter().map(|&(_, id)| id).collect();
                for k in &due {
                    model.remove(k);
                }
                assert_eq!(fired, expected, "round {round}");
                for id in &fired {
                    let (key, _) = live.remove(id).unwrap();
                    dead.push(key);
                }
                // (Only here: `next_deadline` drops stale entries off the top, and between
                // two advances they should pile up until a compaction clears them.)
                assert_eq!(heap.next_deadline(), model.keys().next().map(|&(d, _)| d));
            }
        }
        if heap.is_compacting() && !was_compacting {
            compactions += 1;
        }
        assert_eq!(heap.len(), model.len());
        let footprint = heap.footprint();
        assert!(
            footprint.heap_len <= 2 * footprint.live + slack,
            "round {round}: {footprint:?}"
        );
        // No slot is made while a free one exists.
        assert!(footprint.slots <= next_id as usize, "{footprint:?}");
    }
    let footprint = heap.footprint();
    assert!(
        footprint.slots < long_lived as usize + 200,
        "slots are reused: {footprint:?}"
    );
    compactions
}

#[test]
fn churn_matches_a_sorted_map() {
    assert_eq!(
        churn(TimerHeap::new(), SLACK, 0),
        0,
        "a small heap: one pass"
    );
}

#[test]
fn churn_on_a_big_heap_compacts_in_steps() {
    // Timers that never fire: the heap has more than ONE_PASS_LIMIT entries.
    let compactions = churn(TimerHeap::new(), SLACK, 6000);
    assert!(compactions >= 1, "{compactions} compactions in steps");
}

#[test]
fn churn_with_every_compaction_in_steps() {
    let compactions = churn(TimerHeap::with_one_pass_limit(0), SLACK_ALL_IN_STEPS, 0);
    assert!(compactions >= 10, "{compactions} compactions in steps");
}

/// The orders that are worst for compaction in steps: always cancel the second-earliest
/// timer. Registered in deadline order, the heap's array is sorted, so the stale entries
/// gather near its root, which the scan (from the back) reaches last; and every cancel
/// lowers the live count. Alternated with fires, and with registrations due before every
/// other timer (their sift-up crosses the scan, the one way an entry can slip past it),
/// for sizes up to three one-pass limits.
#[test]
fn cancelling_near_the_top_keeps_the_bound() {
    let t0 = Instant::now() + Duration::from_secs(3600);
    for (one_pass_limit, slack) in [(ONE_PASS_LIMIT, SLACK), (0, SLACK_ALL_IN_STEPS)] {
        let mut worst = 0;
        let mut compactions = 0;
        let sizes = (1..300).chain((300..3 * ONE_PASS_LIMIT as u64).step_by(293));
        for size in sizes {
            for (fire_every, register_every) in [(0, 0), (2, 0), (5, 0), (0, 3), (4, 3)] {
                let mut heap = TimerHeap::with_one_pass_limit(one_pass_limit);
                // (key, id, deadline), the earliest last.
                let mut timers: Vec<_> = (0..size)
                    .map(|i| {
                        let deadline = t0 + Duration::from_micros(i);
                        (heap.insert(deadline, i), i, deadline)
                    })
                    .collect();
                timers.reverse();
                let mut next_id = size;
                let mut step = 0;
                while timers.len() >= 2 {
                    step += 1;
                    let was_compacting = heap.is_compacting();
                    if fire_every != 0 && step % fire_every == 0 {
                        let (_, id, deadline) = timers.pop().unwrap();
                        assert_eq!(heap.pop_due(deadline), Some(id));
                    } else if register_every != 0 && step % register_every == 0 && step < size {
                        // Due before every other timer: it sifts up to the root.
                        let deadline = t0 - Duration::from_micros(step);
                        timers.push((heap.insert(deadline, next_id), next_id, deadline));
                        next_id += 1;
                    } else {
                        let (key, id, _) = timers.remove(timers.len() - 2);
                        assert_eq!(heap.remove(key), Some(id));
                    }
                    compactions += usize::from(heap.is_compacting() && !was_compacting);
                    let f = heap.footprint();
                    assert!(f.heap_len <= 2 * f.live + slack, "size {size}: {f:?}");
                    worst = worst.max(f.heap_len as isize - 2 * f.live as isize);
                }
                assert_eq!(heap.len(), 1);
            }
        }
        assert!(compactions > 20, "{compactions} compactions in steps");
        println!("one pass up to {one_pass_limit}: at most 2 × live + {worst} entries");
    }
}

#[test]
fn a_freed_slot_is_reused_last_in_first_out() {
    let t0 = Instant::now();
    let mut heap = TimerHeap::new();
    let keys: Vec<_> = (0..4u32).map(|i| heap.insert(t0, i)).collect();
    // Free slots 1 then 3: the next two timers take 3, then 1, then a new slot.
    assert_eq!(heap.remove(keys[1]), Some(1));
    assert_eq!(heap.remove(keys[3]), Some(3));
    assert_eq!(heap.footprint().slots, 4);
    heap.insert(t0, 10);
    heap.insert(t0, 11);
    assert_eq!(heap.footprint().slots, 4);
    heap.insert(t0, 12);
    assert_eq!(heap.footprint().slots, 5);
    // Everything fires in registration order (equal deadlines).
    let mut fired = Vec::new();
    while let Some(v) = heap.pop_due(t0) {
        fired.push(v);
    }
    assert_eq!(fired, [0, 2, 10, 11, 12]);
    // Old keys never match the timers that reused their slots.
    assert_eq!(heap.remove(keys[1]), None);
    assert_eq!(heap.remove(keys[3]), None);
}
