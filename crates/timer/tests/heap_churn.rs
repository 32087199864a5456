//! The bare `TimerHeap` under heavy churn: many cancellations (so compactions run often),
//! slot reuse through the free list, and stale keys that must keep finding nothing. Checked
//! against a `BTreeMap<(deadline, seq), id>`, deterministically (a small xorshift).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use handloop_timer::heap::{TimerHeap, TimerKey};

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

#[test]
fn churn_matches_a_sorted_map() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut now = t0;
    let mut heap = TimerHeap::new();
    let mut model: BTreeMap<(Instant, u64), u64> = BTreeMap::new();
    // id -> (key, deadline); ids are registration numbers.
    let mut live: BTreeMap<u64, (TimerKey, Instant)> = BTreeMap::new();
    let mut dead: Vec<TimerKey> = Vec::new();
    let mut next_id = 0u64;

    for round in 0..20_000u64 {
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
        assert_eq!(heap.len(), model.len());
        let footprint = heap.footprint();
        // Stale entries never outnumber live ones by more than the compaction threshold,
        // and no slot is made while a free one exists.
        assert!(
            footprint.heap_len <= 2 * footprint.live + 32,
            "{footprint:?}"
        );
        assert!(footprint.slots <= next_id as usize, "{footprint:?}");
    }
    let footprint = heap.footprint();
    assert!(footprint.slots < 200, "slots are reused: {footprint:?}");
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
