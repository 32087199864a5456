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
//! - when stale entries outnumber live ones, the heap is compacted in one O(n) pass, paid
//!   for by the n/2 cancellations since the last one (amortised O(1) each).
//!
//! So the heap never holds more than about twice the live timers, slots are reused, and a
//! million register-then-cancel cycles allocate nothing after the first.

use std::fmt;
use std::time::Instant;

/// Compaction waits until at least this many stale entries exist (tiny heaps never bother).
const MIN_STALE_TO_COMPACT: usize = 32;

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
    stale: usize,
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
        TimerHeap {
            heap: Vec::new(),
            slots: Vec::new(),
            free: NO_SLOT,
            next_seq: 0,
            live: 0,
            stale: 0,
        }
    }

    /// Registers a timer due at `deadline`. O(log n); no allocation once the buffers have
    /// grown to the peak number of timers.
    #[inline]
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
        self.push_entry(Entry {
            deadline,
            seq,
            slot,
        });
        self.live += 1;
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
            self.pop_top();
        } else {
            self.stale += 1;
            if self.stale >= MIN_STALE_TO_COMPACT && self.stale > self.live {
                self.compact();
            }
        }
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
        self.pop_top();
        let key = TimerKey {
            slot: top.slot,
            seq: top.seq,
        };
        let value = self.take_slot(key);
        debug_assert!(value.is_some(), "skip_stale left a stale entry on top");
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

    /// Adds an entry to the heap: at the end, then up past every later parent.
    #[inline]
    fn push_entry(&mut self, entry: Entry) {
        let pos = self.heap.len();
        self.heap.push(entry);
        if pos > 0 {
            self.sift_up(pos);
        }
    }

    /// Removes the top entry: the last one takes its place and sinks to where it belongs.
    #[inline]
    fn pop_top(&mut self) {
        let Some(last) = self.heap.pop() else {
            return;
        };
        if !self.heap.is_empty() {
            self.heap[0] = last;
            self.sift_down(0);
        }
    }

    /// Moves the entry at `pos` up while it fires before its parent.
    fn sift_up(&mut self, mut pos: usize) {
        let heap = &mut self.heap[..];
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
    fn sift_down(&mut self, mut pos: usize) {
        let heap = &mut self.heap[..];
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
                    self.pop_top();
                    self.stale -= 1;
                }
                _ => break,
            }
        }
    }

    /// Drops every stale entry in one pass (rebuilding the heap is O(n)).
    fn compact(&mut self) {
        let slots = &self.slots;
        self.heap.retain(|entry| Self::is_live(slots, entry));
        self.stale = 0;
        // Floyd's heap construction: sift down every parent, the deepest first.
        for pos in (0..self.heap.len() / 2).rev() {
            self.sift_down(pos);
        }
    }
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
}
