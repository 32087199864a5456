//! The slab of sources: for each registered fd, per direction a readiness flag and the
//! wakers of the tasks waiting; and the tokens the poller hands back (slot index plus
//! generation).

use std::cell::Cell;
use std::task::Waker;

use mio::Token;

/// Bits of a token that hold the slot index; the generation takes the rest.
pub(crate) const INDEX_BITS: u32 = usize::BITS / 2;

/// The two directions a task can wait on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// Where a waiting task's waker goes: the one slot of the `poll_*` API (`AsyncRead` and
/// friends: the last waker wins, as their contract says), or a slot of its own for each
/// future, so any number of tasks can wait on one direction (several acceptors on one
/// listener) and a dropped future takes its waker back.
#[derive(Clone, Copy)]
pub(crate) enum WaitSlot<'a> {
    Poller,
    Future(&'a WaiterKey),
}

/// A future's slot in a direction's waiter list, allocated when it first has to wait and
/// released when it is dropped (see [`Waiter`]).
#[derive(Debug, Default)]
pub(crate) struct WaiterKey(pub(crate) Cell<Option<u32>>);

enum Entry {
    /// Nobody holds this slot.
    Free,
    /// A future holds it, with no waker stored (woken, or not waiting yet).
    Idle,
    /// A future waits here.
    Waiting(Waker),
}

#[derive(Default)]
pub(crate) struct Direction {
    /// The poller said this direction is ready, and no operation has since seen
    /// `WouldBlock`.
    pub(crate) ready: bool,
    /// The `poll_*` API's waker.
    poller: Option<Waker>,
    /// The futures' wakers, indexed by their [`WaiterKey`].
    waiters: Vec<Entry>,
}

impl Direction {
    /// The poller reported readiness: remember it and hand over every waker.
    pub(crate) fn fire(&mut self, wakers: &mut Vec<Waker>) {
        self.ready = true;
        wakers.extend(self.poller.take());
        for entry in &mut self.waiters {
            if let Entry::Waiting(_) = entry
                && let Entry::Waiting(waker) = std::mem::replace(entry, Entry::Idle)
            {
                wakers.push(waker);
            }
        }
    }

    /// Stores `waker` in `slot` (allocating a future's slot on first use); returns the
    /// waker it replaced, if any, and whether the slot was empty before.
    pub(crate) fn store(&mut self, slot: &WaitSlot<'_>, waker: &Waker) -> (Option<Waker>, bool) {
        let place = match slot {
            WaitSlot::Poller => &mut self.poller,
            WaitSlot::Future(key) => {
                let index = match key.0.get() {
                    Some(index) => index as usize,
                    None => {
                        let index = self
                            .waiters
                            .iter()
                            .position(|e| matches!(e, Entry::Free))
                            .unwrap_or_else(|| {
                                self.waiters.push(Entry::Free);
                                self.waiters.len() - 1
                            });
                        key.0.set(Some(index as u32));
                        index
                    }
                };
                let entry = &mut self.waiters[index];
                return match entry {
                    Entry::Waiting(old) if old.will_wake(waker) => (None, false),
                    Entry::Waiting(_) => {
                        let Entry::Waiting(old) =
                            std::mem::replace(entry, Entry::Waiting(waker.clone()))
                        else {
                            unreachable!()
                        };
                        (Some(old), false)
                    }
                    Entry::Free | Entry::Idle => {
                        *entry = Entry::Waiting(waker.clone());
                        (None, true)
                    }
                };
            }
        };
        match place {
            Some(old) if old.will_wake(waker) => (None, false),
            Some(_) => (place.replace(waker.clone()), false),
            None => {
                *place = Some(waker.clone());
                (None, true)
            }
        }
    }

    /// A future gives its slot back; returns its waker if one was still stored.
    pub(crate) fn release(&mut self, key: &WaiterKey) -> Option<Waker> {
        let index = key.0.take()? as usize;
        let waker = match std::mem::replace(&mut self.waiters[index], Entry::Free) {
            Entry::Waiting(waker) => Some(waker),
            _ => None,
        };
        while let Some(Entry::Free) = self.waiters.last() {
            self.waiters.pop();
        }
        waker
    }

    /// Every stored waker, for a source that goes away.
    pub(crate) fn take_all(&mut self, wakers: &mut Vec<Waker>) {
        wakers.extend(self.poller.take());
        for entry in self.waiters.drain(..) {
            if let Entry::Waiting(waker) = entry {
                wakers.push(waker);
            }
        }
    }
}

pub(crate) struct Slot {
    generation: u32,
    live: bool,
    read: Direction,
    write: Direction,
}

impl Slot {
    pub(crate) fn direction(&mut self, dir: Dir) -> &mut Direction {
        match dir {
            Dir::Read => &mut self.read,
            Dir::Write => &mut self.write,
        }
    }
}

#[derive(Default)]
pub(crate) struct Slab {
    pub(crate) slots: Vec<Slot>,
    /// Indices of freed slots, reused last-freed first.
    pub(crate) free: Vec<u32>,
}

impl Slab {
    /// A fresh slot: both directions not ready, no wakers.
    pub(crate) fn insert(&mut self) -> (u32, u32) {
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                debug_assert!(!slot.live);
                slot.live = true;
                (index, slot.generation)
            }
            None => {
                let index = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| (i as u64) < (1 << INDEX_BITS) - 1)
                    .expect("handloop-io: too many sources registered on one loop");
                self.slots.push(Slot {
                    generation: 0,
                    live: true,
                    read: Direction::default(),
                    write: Direction::default(),
                });
                (index, 0)
            }
        }
    }

    /// The live slot `index` of generation `generation`, if it still exists.
    pub(crate) fn get(&mut self, index: u32, generation: u32) -> Option<&mut Slot> {
        self.slots
            .get_mut(index as usize)
            .filter(|slot| slot.live && slot.generation == generation)
    }

    /// The slot of a live registration (the registration proves it exists).
    pub(crate) fn live(&mut self, index: u32) -> &mut Slot {
        let slot = &mut self.slots[index as usize];
        debug_assert!(slot.live);
        slot
    }

    /// Frees `index`: a new generation, so stale events for it are ignored.
    pub(crate) fn remove(&mut self, index: u32, wakers: &mut Vec<Waker>) {
        let slot = self.live(index);
        slot.read.take_all(wakers);
        slot.write.take_all(wakers);
        slot.read.ready = false;
        slot.write.ready = false;
        slot.live = false;
        slot.generation = slot.generation.wrapping_add(1) & generation_mask();
        self.free.push(index);
    }
}

/// Generations wrap within the bits a token leaves them, so a token never equals
/// [`WAKE_TOKEN`] (whose index bits are all ones, an index never handed out).
const fn generation_mask() -> u32 {
    if usize::BITS - INDEX_BITS >= 32 {
        u32::MAX
    } else {
        (1 << (usize::BITS - INDEX_BITS)) - 1
    }
}

pub(crate) fn token(index: u32, generation: u32) -> Token {
    Token(index as usize | ((generation as usize) << INDEX_BITS))
}

pub(crate) fn untoken(token: Token) -> (u32, u32) {
    let index = token.0 & ((1 << INDEX_BITS) - 1);
    (index as u32, (token.0 >> INDEX_BITS) as u32)
}
