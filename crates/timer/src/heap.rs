//! The timer heap: Beazley's heap of `(deadline, sequence, callback)`, plus cheap
//! cancellation.
//!
//! Two pieces work together:
//!
//! - a **slab** (a `Vec` of slots, the empty ones chained into a free list) holds each
//!   timer's payload: a task's waker for a `Sleep`, a boxed closure for `call_later`. A
//!   timer is named by a [`TimerKey`]: its slot and its sequence number.
//! - a **binary min-heap** of `(deadline, sequence, slot)` orders the timers. The sequence
//!   number counts registrations, so equal deadlines come out in registration order.
//!
//! Cancelling empties the slot and leaves the heap entry behind ("lazy deletion"): a heap
//! entry whose slot no longer holds its sequence number is *stale* and is skipped when it
//! reaches the top. Two rules stop stale entries from piling up:
//!
//! - cancelling the timer at the top of the heap pops it at once (the common case: a
//!   `timeout` whose future finished first is usually the nearest deadline);
//! - when stale entries pile up, the heap is **compacted**: its stale entries are removed.
//!
//! A small heap (up to [`ONE_PASS_LIMIT`] entries, microseconds of work) is compacted in one
//! pass once stale entries outnumber live ones: the live entries are kept and the heap is
//! rebuilt, paid for by the n/2 cancellations since the last one (amortised O(1) each). One
//! pass over a big heap would stall the loop (about 10 ms for a million timers), so a big
//! heap is compacted **in steps**, starting when stale entries pass three quarters of the
//! live ones: a scan walks the heap from its last entry to its first, [`STEP`] entries per
//! later registration, cancel or fire, and removes each stale entry it meets where it
//! stands (the last entry takes its place and moves up or down, as in any removal from a
//! binary heap; most entries are near the bottom, where that is cheap).
//!
//! The heap keeps changing during the scan, and an entry can move past it. Entries that
//! move toward the front (a fire's sift-down) are simply looked at again. Only a
//! registration's sift-up can carry one entry per registration from the part not yet
//! scanned to the part already scanned; if that entry is stale, it waits for the next
//! compaction. The scan ends within (live + 2 × stale) / ([`STEP`] - 1) operations, and
//! each of them leaves at most one stale entry behind (a cancel, or such a move): starting
//! at three quarters of the live count leaves room for them. So stale entries never
//! outnumber live ones by more than 31 (38 when small heaps are compacted in steps too;
//! `tests/heap_churn.rs` has the proof): the heap holds at most twice the live timers plus
//! that. Slots are reused, no single operation compacts more than [`ONE_PASS_LIMIT`]
//! entries (in one pass) or [`STEP`] (in steps), and once the buffers have grown to the
//! peak, register/cancel churn allocates nothing.

use std::fmt;
use std::time::Instant;

/// Compaction waits until at least this many stale entries exist (tiny heaps never bother).
pub const MIN_STALE_TO_COMPACT: usize = 32;

/// Heaps up to this many entries are compacted in one pass (microseconds); bigger ones in
/// steps.
pub const ONE_PASS_LIMIT: usize = 4096;

/// Entries a compaction in steps looks at per registration, cancel or fire.
pub const STEP: usize = 32;

/// Names one registered timer: its slot in the slab and its sequence number.
///
/// A key stays unique forever: once its timer fired or was cancelled, the slot may hold a
/// newer timer, but never one with the same sequence number, so a stale key finds nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerKey {
    slot: u32,
    seq: u64,
}

/// One heap entry; ordered by deadline, then sequence (the slot is only a pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    deadline: Instant,
    seq: u64,
    slot: u32,
}

impl Entry {
    /// Whether `self` fires before `other`: earlier deadline, or the same deadline and
    /// registered earlier. Sequence numbers are unique, so two entries are never tied.
    #[inline]
    fn before(&self, other: &Entry) -> bool {
        self.deadline < other.deadline || (self.deadline == other.deadline && self.seq < other.seq)
    }
}

/// A slab slot: the payload of the timer with sequence number `seq`, or `None` once that
/// timer fired or was cancelled.
///
/// An empty slot is on the free list, and its `seq` field holds the next free slot instead
/// (the list needs no `Vec` of its own). That never confuses a stale key: every lookup
/// checks `value.is_some()` as well as the sequence number.
#[derive(Debug)]
struct Slot<T> {
    seq: u64,
    value: Option<T>,
}

/// The end of the free list.
const NO_SLOT: u32 = u32::MAX;

/// A min-heap of timers keyed by `(deadline, sequence)`, with O(1) amortised cancellation.
///
/// `T` is what a timer carries (the timer driver stores a waker or a callback). The heap is
/// a plain data structure: it never reads the clock; the caller says what "now" is.
///
/// ```
/// use std::time::{Duration, Instant};
/// use handloop_timer::heap::TimerHeap;
///
/// let t0 = Instant::now();
/// let mut heap = TimerHeap::new();
/// heap.insert(t0 + Duration::from_secs(2), "two");
/// let a = heap.insert(t0 + Duration::from_secs(1), "one (a)");
/// heap.insert(t0 + Duration::from_secs(1), "one (b)");
/// assert_eq!(heap.remove(a), Some("one (a)")); // cancelled
///
/// let now = t0 + Duration::from_secs(5);
/// assert_eq!(heap.pop_due(now), Some("one (b)"));
/// assert_eq!(heap.pop_due(now), Some("two"));
/// assert_eq!(heap.pop_due(now), None);
/// ```
pub struct TimerHeap<T> {
    /// A binary min-heap in a `Vec` (the children of `i` are `2i + 1` and `2i + 2`),
    /// written out rather than `BinaryHeap<Reverse<Entry>>` so that the hot cases stay a
    /// few instructions: pushing onto and popping the last entry of a one-entry heap.
    heap: Vec<Entry>,
    slots: Vec<Slot<T>>,
    /// The first empty slot (`NO_SLOT` if none): empty slots are reused last-in first-out,
    /// each one's `seq` naming the next.
    free: u32,
    next_seq: u64,
    live: usize,
    /// Heap entries whose timer was cancelled.
    stale: usize,
    /// During a compaction in steps, the heap positions `0..unscanned` it has not looked
    /// at yet; 0 otherwise.
    unscanned: usize,
    /// Heaps up to this many entries are compacted in one pass.
    one_pass_limit: usize,
}

/// How much memory a [`TimerHeap`] holds right now (for tests that check it stays flat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Registered timers (not fired, not cancelled).
    pub live: usize,
    /// Heap entries, stale ones included.
    pub heap_len: usize,
    /// Capacity of the heap's buffer.
    pub heap_capacity: usize,
    /// Slots in the slab, free ones included.
    pub slots: usize,
    /// Capacity of the slab's buffer.
    pub slots_capacity: usize,
}

impl<T> TimerHeap<T> {
    /// An empty heap.
    pub fn new() -> Self {
        Self::with_one_pass_limit(ONE_PASS_LIMIT)
    }

    /// An empty heap that compacts in one pass only up to `entries` entries, and in steps
    /// above ([`new`](TimerHeap::new) uses [`ONE_PASS_LIMIT`]). With `0`, every compaction
    /// goes in steps: tests use it to drive the steps with small heaps.
    pub fn with_one_pass_limit(entries: usize) -> Self {
        TimerHeap {
            heap: Vec::new(),
            slots: Vec::new(),
            free: NO_SLOT,
            next_seq: 0,
            live: 0,
            stale: 0,
            unscanned: 0,
            one_pass_limit: entries,
        }
    }

    /// Registers a timer due at `deadline`. O(log n); no allocation once the buffers have
    /// grown to the peak number of timers.
    #[inline(always)]
    pub fn insert(&mut self, deadline: Instant, value: T) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq = seq + 1;
        let slot = self.free;
        let slot = if let Some(reused) = self.slots.get_mut(slot as usize) {
            debug_assert!(reused.value.is_none(), "a slot on the free list is empty");
            // Unlink it from the free list (its `seq` names the next free slot).
            self.free = reused.seq as u32;
            reused.seq = seq;
            reused.value = Some(value);
            slot
        } else {
            self.new_slot(seq, value)
        };
        push(
            &mut self.heap,
            Entry {
                deadline,
                seq,
                slot,
            },
        );
        self.live += 1;
        if self.unscanned > 0 {
            // Its sift-up may have carried an entry past the scan: keep the scan moving.
            self.compaction_step();
        }
        TimerKey { slot, seq }
    }

    /// Cancels a timer and returns its value, or `None` if it already fired or was
    /// cancelled. Amortised O(1): no search through the heap.
    #[inline]
    pub fn remove(&mut self, key: TimerKey) -> Option<T> {
        let value = self.take_slot(key)?;
        // The nearest timer is cancelled most often (a finished `timeout`): drop its entry
        // now. Any other entry goes stale and waits for the top or for a compaction.
        if self.heap.first().is_some_and(|top| top.seq == key.seq) {
            pop_top(&mut self.heap);
        } else {
            self.stale += 1;
        }
        self.tidy();
        Some(value)
    }

    /// The value of a registered timer, to update it in place (a sleep's new waker).
    #[inline]
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        match self.slots.get_mut(key.slot as usize) {
            Some(slot) if slot.seq == key.seq => slot.value.as_mut(),
            _ => None,
        }
    }

    /// Whether `key` is still registered (neither fired nor cancelled).
    pub fn contains(&self, key: TimerKey) -> bool {
        self.slots
            .get(key.slot as usize)
            .is_some_and(|slot| slot.seq == key.seq && slot.value.is_some())
    }

    /// The earliest deadline of a registered timer.
    #[inline]
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.skip_stale();
        self.heap.first().map(|top| top.deadline)
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`. Call it
    /// until it returns `None` to fire everything due, in `(deadline, sequence)` order.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        self.skip_stale();
        let top = *self.heap.first()?;
        if top.deadline > now {
            return None;
        }
        pop_top(&mut self.heap);
        let key = TimerKey {
            slot: top.slot,
            seq: top.seq,
        };
        let value = self.take_slot(key);
        debug_assert!(value.is_some(), "skip_stale left a stale entry on top");
        self.tidy();
        value
    }

    /// Empties the heap and returns every registered timer's value, in no particular order
    /// (for a loop that is going away: nothing will fire).
    pub fn into_values(self) -> impl Iterator<Item = T> {
        self.slots.into_iter().filter_map(|slot| slot.value)
    }

    /// How many timers are registered.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no timer is registered.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Whether a compaction in steps is under way (for tests of the steps).
    pub fn is_compacting(&self) -> bool {
        self.unscanned > 0
    }

    /// The memory held right now.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            live: self.live,
            heap_len: self.heap.len(),
            heap_capacity: self.heap.capacity(),
            slots: self.slots.len(),
            slots_capacity: self.slots.capacity(),
        }
    }

    /// A new slot at the end of the slab (the free list was empty).
    #[cold]
    fn new_slot(&mut self, seq: u64, value: T) -> u32 {
        debug_assert_eq!(self.free, NO_SLOT);
        let slot = u32::try_from(self.slots.len())
            .ok()
            .filter(|&slot| slot != NO_SLOT)
            .expect("more than 2^32 - 1 timers");
        self.slots.push(Slot {
            seq,
            value: Some(value),
        });
        slot
    }

    /// Empties `key`'s slot onto the free list and returns its value.
    #[inline]
    fn take_slot(&mut self, key: TimerKey) -> Option<T> {
        let slot = self.slots.get_mut(key.slot as usize)?;
        if slot.seq != key.seq {
            return None;
        }
        let value = slot.value.take()?;
        // Onto the free list.
        slot.seq = u64::from(self.free);
        self.free = key.slot;
        self.live -= 1;
        Some(value)
    }

    /// Whether a heap entry still names a registered timer.
    fn is_live(slots: &[Slot<T>], entry: &Entry) -> bool {
        let slot = &slots[entry.slot as usize];
        slot.seq == entry.seq && slot.value.is_some()
    }

    /// Pops stale entries off the top.
    #[inline]
    fn skip_stale(&mut self) {
        while self.stale > 0 {
            match self.heap.first() {
                Some(top) if !Self::is_live(&self.slots, top) => {
                    pop_top(&mut self.heap);
                    self.stale -= 1;
                }
                _ => break,
            }
        }
    }

    /// After a live timer went away (cancelled or fired): one step of the compaction under
    /// way, or the start of one if it is due. Usually two comparisons; the work is out of
    /// line.
    #[inline]
    fn tidy(&mut self) {
        if self.unscanned > 0 {
            self.compaction_step();
        } else if self.stale >= MIN_STALE_TO_COMPACT && 4 * self.stale > 3 * self.live {
            self.start_compacting();
        }
    }

    /// Compacts a small heap whose stale entries outnumber its live ones, or starts a
    /// compaction in steps of a big heap whose stale entries passed three quarters of its
    /// live ones.
    #[inline(never)]
    fn start_compacting(&mut self) {
        if self.heap.len() > self.one_pass_limit {
            self.unscanned = self.heap.len();
            self.compaction_step();
        } else if self.stale > self.live {
            self.compact_in_one_pass();
        }
    }

    /// Drops every stale entry in one pass (rebuilding the heap is O(n)).
    fn compact_in_one_pass(&mut self) {
        let slots = &self.slots;
        self.heap.retain(|entry| Self::is_live(slots, entry));
        self.stale = 0;
        // Floyd's heap construction: sift down every parent, the deepest first.
        for pos in (0..self.heap.len() / 2).rev() {
            sift_down(&mut self.heap, pos);
        }
    }

    /// Looks at up to `STEP` more entries, from the back of the heap to the front, and
    /// removes the stale ones where they stand.
    #[inline(never)]
    fn compaction_step(&mut self) {
        for _ in 0..STEP {
            // Fires take entries off the heap's end: it may have shrunk into the scan.
            let Some(pos) = self.unscanned.min(self.heap.len()).checked_sub(1) else {
                self.unscanned = 0; // the scan is over
                return;
            };
            if Self::is_live(&self.slots, &self.heap[pos]) {
                self.unscanned = pos;
            } else {
                remove_at(&mut self.heap, pos);
                self.stale -= 1;
                // Look at `pos` again: another entry took its place.
                self.unscanned = pos + 1;
            }
        }
    }
}

/// Adds an entry to a heap: at the end, then up past every later parent.
#[inline]
fn push(heap: &mut Vec<Entry>, entry: Entry) {
    let pos = heap.len();
    heap.push(entry);
    if pos > 0 {
        sift_up(heap, pos);
    }
}

/// Removes a heap's top entry: the last one takes its place and sinks to where it belongs.
#[inline]
fn pop_top(heap: &mut Vec<Entry>) {
    let Some(last) = heap.pop() else {
        return;
    };
    if !heap.is_empty() {
        heap[0] = last;
        sift_down(heap, 0);
    }
}

/// Removes the entry at `pos`: the last one takes its place and moves up or down to where
/// it belongs.
fn remove_at(heap: &mut Vec<Entry>, pos: usize) {
    let last = heap.pop().expect("a position inside the heap");
    if pos < heap.len() {
        heap[pos] = last;
        if pos > 0 && last.before(&heap[(pos - 1) / 2]) {
            sift_up(heap, pos);
        } else {
            sift_down(heap, pos);
        }
    }
}

/// Moves the entry at `pos` up while it fires before its parent.
fn sift_up(heap: &mut [Entry], mut pos: usize) {
    let entry = heap[pos];
    while pos > 0 {
        let parent = (pos - 1) / 2;
        if !entry.before(&heap[parent]) {
            break;
        }
        heap[pos] = heap[parent];
        pos = parent;
    }
    heap[pos] = entry;
}

/// Moves the entry at `pos` down while a child fires before it.
fn sift_down(heap: &mut [Entry], mut pos: usize) {
    let entry = heap[pos];
    let len = heap.len();
    loop {
        let mut child = 2 * pos + 1;
        if child >= len {
            break;
        }
        if child + 1 < len && heap[child + 1].before(&heap[child]) {
            child += 1;
        }
        if !heap[child].before(&entry) {
            break;
        }
        heap[pos] = heap[child];
        pos = child;
    }
    heap[pos] = entry;
}

impl<T> Default for TimerHeap<T> {
    fn default() -> Self {
        TimerHeap::new()
    }
}

impl<T> fmt::Debug for TimerHeap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHeap")
            .field("live", &self.live)
            .field("stale", &self.stale)
            .field("compacting", &self.is_compacting())
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The picture in `docs/03-timer.md` ("Beazley's step 3"): the `Vec` behind the heap
    /// after its five registrations and one cancel, slot by slot.
    #[test]
    fn the_chapters_heap_picture_is_this_heap() {
        let (t0, secs) = (Instant::now(), Duration::from_secs);
        let mut heap = TimerHeap::new();
        let keys: Vec<TimerKey> = [3, 1, 2, 1, 5]
            .into_iter()
            .enumerate()
            .map(|(n, deadline)| heap.insert(t0 + secs(deadline), format!("#{n}")))
            .collect();
        assert_eq!(heap.remove(keys[4]).as_deref(), Some("#4"));
        let drawn: Vec<(u64, u64, bool)> = heap
            .heap
            .iter()
            .map(|e| {
                let stale = heap.slots[e.slot as usize].value.is_none();
                ((e.deadline - t0).as_secs(), e.seq, stale)
            })
            .collect();
        // [0] 1 s #1, [1] 1 s #3, [2] 2 s #2, [3] 3 s #0, [4] 5 s #4 (stale)
        let picture = [
            (1, 1, false),
            (1, 3, false),
            (2, 2, false),
            (3, 0, false),
            (5, 4, true),
        ];
        assert_eq!(drawn, picture);
    }

    #[test]
    fn equal_deadlines_pop_in_insertion_order() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new();
        for i in 0..100 {
            heap.insert(t0 + ms(i % 3), i);
        }
        let mut fired = Vec::new();
        while let Some(v) = heap.pop_due(t0 + ms(10)) {
            fired.push(v);
        }
        let mut expected: Vec<u64> = (0..100).collect();
        expected.sort_by_key(|i| i % 3); // stable: insertion order within a deadline
        assert_eq!(fired, expected);
    }

    #[test]
    fn nothing_fires_before_its_deadline() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new();
        heap.insert(t0 + ms(5), 'a');
        assert_eq!(heap.pop_due(t0 + ms(4)), None);
        assert_eq!(heap.next_deadline(), Some(t0 + ms(5)));
        assert_eq!(heap.pop_due(t0 + ms(5)), Some('a'));
        assert!(heap.is_empty());
    }

    #[test]
    fn stale_keys_find_nothing_after_slot_reuse() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new();
        let a = heap.insert(t0, 1);
        assert_eq!(heap.remove(a), Some(1));
        let b = heap.insert(t0, 2); // reuses a's slot
        assert_eq!(heap.remove(a), None);
        assert!(!heap.contains(a));
        assert_eq!(heap.get_mut(b), Some(&mut 2));
        assert_eq!(heap.pop_due(t0), Some(2));
        assert_eq!(heap.remove(b), None);
    }

    #[test]
    fn cancelled_entries_do_not_pile_up() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new();
        // A long-lived timer at the top, so cancellations below it go stale.
        heap.insert(t0, u32::MAX);
        for i in 0..1_000_000 {
            let key = heap.insert(t0 + ms(1 + u64::from(i % 1000)), i);
            assert_eq!(heap.remove(key), Some(i));
        }
        let footprint = heap.footprint();
        assert_eq!(footprint.live, 1);
        assert!(
            footprint.heap_len <= 2 * MIN_STALE_TO_COMPACT,
            "{footprint:?}"
        );
        assert!(
            footprint.heap_capacity <= 4 * MIN_STALE_TO_COMPACT,
            "{footprint:?}"
        );
        assert!(footprint.slots <= 2, "{footprint:?}");
    }

    #[test]
    fn compaction_keeps_live_timers_and_their_order() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new();
        let keys: Vec<_> = (0..1000u64).map(|i| heap.insert(t0 + ms(i), i)).collect();
        // Cancel two timers in three (never the top): stale entries outnumber live ones
        // after the 501st cancellation, which compacts the heap.
        for (i, key) in keys.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
            assert_eq!(heap.remove(*key), Some(i as u64));
        }
        let footprint = heap.footprint();
        assert_eq!(footprint.live, 334);
        assert!(footprint.heap_len <= 2 * footprint.live, "{footprint:?}");
        let mut fired = Vec::new();
        while let Some(v) = heap.pop_due(t0 + ms(2000)) {
            fired.push(v);
        }
        assert_eq!(fired, (0..1000).step_by(3).collect::<Vec<_>>());
    }

    #[test]
    fn a_compaction_in_steps_ends_within_its_bound_and_keeps_every_live_timer() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new();
        let n = 4 * ONE_PASS_LIMIT as u64;
        let keys: Vec<_> = (0..n).map(|i| heap.insert(t0 + ms(i), i)).collect();
        // Cancel every other timer from the latest down (never the top), until a
        // compaction in steps starts: when stale entries pass three quarters of the live.
        let mut to_cancel = (0..n).rev().step_by(2);
        let mut cancelled = vec![false; n as usize];
        let mut cancel = |heap: &mut TimerHeap<u64>| {
            let i = to_cancel.next().unwrap();
            assert_eq!(heap.remove(keys[i as usize]), Some(i));
            cancelled[i as usize] = true;
        };
        while !heap.is_compacting() {
            cancel(&mut heap);
            assert!(
                4 * heap.stale <= 3 * heap.live + 4,
                "not started yet: {heap:?}"
            );
        }
        let (entries, stale) = (heap.heap.len(), heap.stale);
        // Each later operation looks at STEP entries; each stale one costs a second look.
        let mut cancels = 0;
        while heap.is_compacting() {
            cancel(&mut heap);
            cancels += 1;
        }
        let bound = (entries + stale + STEP) / (STEP - 1);
        assert!(cancels <= bound, "{cancels} cancels, bound {bound}");
        // Left: only entries cancelled during the scan, where it had already passed.
        assert!(heap.stale <= cancels, "{heap:?}");
        // The live timers are all there, and fire in order.
        let mut fired = Vec::new();
        while let Some(v) = heap.pop_due(t0 + ms(n)) {
            fired.push(v);
        }
        let expected: Vec<u64> = (0..n).filter(|&i| !cancelled[i as usize]).collect();
        assert_eq!(fired, expected);
    }
}
