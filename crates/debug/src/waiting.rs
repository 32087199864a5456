//! What a pending task waits on: recorded by the future that returned `Pending`, read by
//! the task dump.
//!
//! A task that returns `Pending` has handed its waker to something (a timer, a queue's
//! waiting line, another task's join slot) and the loop cannot see what: a future is
//! opaque. So every waiting future handloop provides says it, at the moment it returns
//! `Pending`, in a small field of the task header: a [`WaitCell`]. Futures from other crates
//! say nothing, and their tasks show as `unknown`.
//!
//! A waiting future finds the header through the waker it was polled with: a handloop
//! task's waker points at its task's header, so the record is two comparisons and a store,
//! with no lookup of the running loop. Polled with some other waker (a combinator that
//! makes its own, like `gather`), it records into the header of the task the loop on this
//! thread is polling, found through the thread's current-loop pointer. The loop empties the
//! cell as each poll starts, so a task polled again that waits on something foreign simply
//! gets an empty record. When one poll waits on several things (a `timeout` around a
//! `Queue.get`, a `gather`), the first record is kept and the others are counted:
//! `Queue.get, +1 more`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// What a task waits on, as its last poll recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitingOn {
    /// `sleep`, `sleep_until`, the deadline of a `timeout` or an `interval`'s next tick.
    Sleep {
        /// When the timer fires, on the loop's clock.
        until: Instant,
    },
    /// `get` on an empty queue.
    QueueGet {
        /// Which kind of queue.
        queue: QueueKind,
    },
    /// `put` on a full queue.
    QueuePut {
        /// Which kind of queue.
        queue: QueueKind,
    },
    /// `join` on a queue: items put that no consumer has marked done yet.
    QueueJoin {
        /// Which kind of queue.
        queue: QueueKind,
    },
    /// A `oneshot` receiver whose value has not been sent.
    Oneshot,
    /// Awaiting another task's `JoinHandle`.
    Join {
        /// The awaited task's id.
        task: u64,
    },
    /// An I/O source that is not readable yet.
    Readable {
        /// The file descriptor (a socket's handle elsewhere).
        fd: u64,
    },
    /// An I/O source that is not writable yet.
    Writable {
        /// The file descriptor (a socket's handle elsewhere).
        fd: u64,
    },
    /// A `Lock` held by another task.
    Lock {
        /// The lock's number on this thread (numbers are given to locks the first time a
        /// task waits for them), which tells locks apart.
        lock: u64,
        /// The id of the task holding it, if known. A waiting task records only the
        /// lock's number: the holder can change while it waits (the lock is handed from
        /// task to task), so the task dump looks the holder up when it is made.
        holder: Option<u64>,
    },
    /// `Semaphore::acquire` with no permit free.
    Semaphore,
    /// `Event::wait` on an event not set.
    Event,
    /// `Condition::wait`, until a `notify` (then the wait for its lock is a `Lock`).
    Condition,
    /// `Barrier::wait`, until enough tasks arrive.
    Barrier,
    /// A `TaskGroup`'s join, until its tasks finish.
    TaskGroup {
        /// How many of its tasks had not finished.
        tasks: u64,
    },
    /// A blocking job sent to a thread by `to_thread`.
    ToThread,
    /// Awaiting a `RemoteJoinHandle`: a task spawned through a `Handle`, on this loop or
    /// another (its id is its own loop's, so the dump names the handle, not the task).
    RemoteJoin,
}

/// Which of the three queues a task waits on: they differ only in the order they hand
/// items out, and the dump names them as asyncio does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// `Queue`: first in, first out.
    Queue,
    /// `LifoQueue`: last in, first out.
    LifoQueue,
    /// `PriorityQueue`: smallest first.
    PriorityQueue,
}

impl QueueKind {
    /// The type's name: `Queue`, `LifoQueue` or `PriorityQueue`.
    pub fn name(self) -> &'static str {
        match self {
            QueueKind::Queue => "Queue",
            QueueKind::LifoQueue => "LifoQueue",
            QueueKind::PriorityQueue => "PriorityQueue",
        }
    }

    fn number(self) -> u64 {
        match self {
            QueueKind::Queue => 0,
            QueueKind::LifoQueue => 1,
            QueueKind::PriorityQueue => 2,
        }
    }

    fn from_number(number: u64) -> QueueKind {
        match number {
            1 => QueueKind::LifoQueue,
            2 => QueueKind::PriorityQueue,
            _ => QueueKind::Queue,
        }
    }
}

impl WaitingOn {
    /// The task this wait depends on, if it is another task: the awaited task of a join,
    /// the holder of a lock. The task dump draws these as the edges of its tree.
    pub fn depends_on(&self) -> Option<u64> {
        match *self {
            WaitingOn::Join { task } => Some(task),
            WaitingOn::Lock { holder, .. } => holder,
            _ => None,
        }
    }

    /// The wait in words, as the task dump prints it: `sleep until +1.200s` (relative to
    /// `now`, the loop's clock), `Queue.get`, `join #12 'fetch'`, `readable fd 7`,
    /// `Lock held by #4 'writer'`, `Semaphore.acquire`, `to_thread job`. `name_of` gives the names of other tasks.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use handloop_debug::WaitingOn;
    ///
    /// let now = Instant::now();
    /// let sleep = WaitingOn::Sleep { until: now + Duration::from_millis(1200) };
    /// assert_eq!(sleep.describe(now, |_| None), "sleep until +1.200s");
    /// let join = WaitingOn::Join { task: 12 };
    /// assert_eq!(join.describe(now, |_| Some("fetch".into())), "join #12 'fetch'");
    /// ```
    pub fn describe(&self, now: Instant, name_of: impl Fn(u64) -> Option<String>) -> String {
        let task = |id: u64| match name_of(id) {
            Some(name) => format!("#{id} '{name}'"),
            None => format!("#{id}"),
        };
        match *self {
            WaitingOn::Sleep { until } => format!("sleep until {}", offset(now, until)),
            WaitingOn::QueueGet { queue } => format!("{}.get", queue.name()),
            WaitingOn::QueuePut { queue } => format!("{}.put", queue.name()),
            WaitingOn::QueueJoin { queue } => format!("{}.join", queue.name()),
            WaitingOn::Oneshot => "oneshot.recv".to_owned(),
            WaitingOn::Join { task: id } => format!("join {}", task(id)),
            WaitingOn::Readable { fd } => format!("readable fd {fd}"),
            WaitingOn::Writable { fd } => format!("writable fd {fd}"),
            WaitingOn::Lock {
                holder: Some(id), ..
            } => format!("Lock held by {}", task(id)),
            WaitingOn::Lock { holder: None, .. } => "Lock".to_owned(),
            WaitingOn::Semaphore => "Semaphore.acquire".to_owned(),
            WaitingOn::Event => "Event.wait".to_owned(),
            WaitingOn::Condition => "Condition.wait".to_owned(),
            WaitingOn::Barrier => "Barrier.wait".to_owned(),
            WaitingOn::TaskGroup { tasks: 1 } => "TaskGroup, 1 task left".to_owned(),
            WaitingOn::TaskGroup { tasks } => format!("TaskGroup, {tasks} tasks left"),
            WaitingOn::ToThread => "to_thread job".to_owned(),
            WaitingOn::RemoteJoin => "RemoteJoinHandle".to_owned(),
        }
    }
}

/// `+1.200s` (or `-0.050s` for a deadline already past): `at` relative to `now`, to the
/// nearest millisecond.
pub(crate) fn offset(now: Instant, at: Instant) -> String {
    let half = Duration::from_micros(500);
    match at.checked_duration_since(now) {
        Some(ahead) => format!("+{}", seconds(ahead + half)),
        None => format!("-{}", seconds(now - at + half)),
    }
}

/// `1.200s`: seconds with millisecond precision, the unit asyncio's debug messages use.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
}

/// `5 s` for a whole number of seconds, `1.500s` otherwise.
pub(crate) fn whole_seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        seconds(d)
    }
}

/// Tags of the packed form. 0 means "nothing recorded".
mod tag {
    pub(super) const NONE: u8 = 0;
    pub(super) const SLEEP: u8 = 1;
    pub(super) const QUEUE_GET: u8 = 2;
    pub(super) const QUEUE_PUT: u8 = 3;
    pub(super) const ONESHOT: u8 = 4;
    pub(super) const JOIN: u8 = 5;
    pub(super) const READABLE: u8 = 6;
    pub(super) const WRITABLE: u8 = 7;
    pub(super) const LOCK: u8 = 8;
    /// Work that finishes outside this loop's view: payload 0 is a `to_thread` job, 1 a
    /// `RemoteJoinHandle` (the fifteen other tags are all taken).
    pub(super) const ELSEWHERE: u8 = 9;
    pub(super) const QUEUE_JOIN: u8 = 10;
    pub(super) const SEMAPHORE: u8 = 11;
    pub(super) const EVENT: u8 = 12;
    pub(super) const CONDITION: u8 = 13;
    pub(super) const BARRIER: u8 = 14;
    pub(super) const TASK_GROUP: u8 = 15;
}

/// What one poll waited on: a [`WaitingOn`] packed into one word (a `WaitingOn` takes 24
/// bytes; every task header pays for this field, debug mode or not).
///
/// The word holds a 4-bit tag, a 4-bit count of the further waits the same poll recorded,
/// and 40 bits of data: a deadline in milliseconds from [`epoch`] (signed: about 17 years
/// either way), a task id, a lock's number, a queue's kind, or a file descriptor. A task id
/// or descriptor too large for 40 bits (a loop would need to spawn a million tasks a second
/// for twelve days) is not recorded, and shows as `unknown`.
///
/// The executor keeps one in each task header. The waiting futures record into it during
/// a poll, the loop empties it as the next poll starts, and the dump reads it between polls.
/// It is atomic only because a waker may be used on another thread (a future polled there
/// with a task's waker records into that task's header): every access is a `Relaxed` load or
/// store, plain moves on common hardware, and orders nothing. Two records made at the same
/// moment on two threads may lose one of them, and a record made on another thread as the
/// loop empties the cell may bring the previous poll's record back; either changes only
/// what the dump says.
///
/// ```
/// use handloop_debug::{QueueKind, WaitCell, WaitingOn};
///
/// let header = WaitCell::new();
/// header.clear(); // a poll starts
/// header.record(WaitingOn::QueueGet { queue: QueueKind::Queue });
/// header.record(WaitingOn::Oneshot); // a second wait in the same poll is counted
/// assert_eq!(header.get(), Some((WaitingOn::QueueGet { queue: QueueKind::Queue }, 1)));
/// // The next poll waits on something foreign: it records nothing.
/// header.clear();
/// assert_eq!(header.get(), None); // "unknown"
/// ```
#[derive(Debug, Default)]
pub struct WaitCell(AtomicU64);

/// A [`WaitCell`]'s contents, saved by [`WaitCell::save`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedWait(u64);

/// Bits 16..20: the tag (0: nothing recorded).
const TAG_SHIFT: u32 = 16;
const TAG_MASK: u64 = 0xf << TAG_SHIFT;
/// Bits 20..24: how many more waits the same poll recorded (saturating at 15).
const MORE_SHIFT: u32 = 20;
const MORE_MAX: u64 = 0xf;
const MORE_ONE: u64 = 1 << MORE_SHIFT;
/// Bits 24..64: the data. (Bits 0..16 are unused.)
const PAYLOAD_SHIFT: u32 = 24;
const PAYLOAD_BITS: u32 = 40;

impl WaitCell {
    /// An empty cell: nothing recorded.
    pub const fn new() -> WaitCell {
        WaitCell(AtomicU64::new(0))
    }

    /// Records `what`. The first record since the cell was cleared wins; later ones only
    /// count.
    #[inline]
    pub fn record(&self, what: WaitingOn) {
        self.record_packed(what.pack());
    }

    /// [`record`](WaitCell::record) for a wait packed already ([`WaitingOn::pack`], which
    /// folds to a constant at most call sites).
    #[inline(always)]
    pub fn record_packed(&self, what: PackedWait) {
        // A load and a store, not a read-modify-write: see the type's documentation.
        let word = self.0.load(Relaxed);
        if word & TAG_MASK == 0 {
            self.0.store(what.0, Relaxed);
        } else if word & (MORE_MAX << MORE_SHIFT) != MORE_MAX << MORE_SHIFT {
            self.0.store(word + MORE_ONE, Relaxed);
        }
    }

    /// Empties the cell (the loop does, as each poll of the task starts).
    #[inline(always)]
    pub fn clear(&self) {
        self.0.store(0, Relaxed);
    }

    /// The cell as it is, to [`restore`](WaitCell::restore) after an inner future's
    /// records that an outer one names better (a `to_thread` future waits through a
    /// oneshot, but is a `to_thread job`).
    ///
    /// ```
    /// use handloop_debug::{WaitCell, WaitingOn};
    ///
    /// let cell = WaitCell::new();
    /// let before = cell.save();
    /// cell.record(WaitingOn::Oneshot); // the inner future's record
    /// cell.restore(before);
    /// cell.record(WaitingOn::ToThread); // the outer future's, in its place
    /// assert_eq!(cell.get(), Some((WaitingOn::ToThread, 0)));
    /// ```
    #[inline]
    pub fn save(&self) -> SavedWait {
        SavedWait(self.0.load(Relaxed))
    }

    /// Puts back what [`save`](WaitCell::save) saw.
    #[inline]
    pub fn restore(&self, saved: SavedWait) {
        self.0.store(saved.0, Relaxed);
    }

    /// What was recorded, and how many more waits were counted; `None` if nothing was (the
    /// task waits on something foreign).
    pub fn get(&self) -> Option<(WaitingOn, u8)> {
        let word = self.0.load(Relaxed);
        let tag = ((word >> TAG_SHIFT) & 0xf) as u8;
        if tag == tag::NONE {
            return None;
        }
        let more = ((word >> MORE_SHIFT) & MORE_MAX) as u8;
        Some((unpack(tag, word >> PAYLOAD_SHIFT), more))
    }
}

/// The instant deadlines are packed relative to: the first time anyone asked, in this
/// process. Deadlines before it (a virtual clock started earlier) pack as negative offsets.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A [`WaitingOn`] in the form a [`WaitCell`] stores; 0 when it does not fit and is not
/// recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedWait(u64);

impl WaitingOn {
    /// The packed form (see [`WaitCell::record_packed`]).
    #[inline]
    pub fn pack(self) -> PackedWait {
        let (tag, payload) = pack(self);
        match payload {
            Some(payload) if payload >> PAYLOAD_BITS == 0 => {
                PackedWait((u64::from(tag) << TAG_SHIFT) | (payload << PAYLOAD_SHIFT))
            }
            _ => PackedWait(0),
        }
    }
}

/// The tag and the 40-bit data of a wait (`None` if the data does not fit).
#[inline]
fn pack(what: WaitingOn) -> (u8, Option<u64>) {
    match what {
        WaitingOn::Sleep { until } => (tag::SLEEP, Some(pack_instant(until))),
        WaitingOn::QueueGet { queue } => (tag::QUEUE_GET, Some(queue.number())),
        WaitingOn::QueuePut { queue } => (tag::QUEUE_PUT, Some(queue.number())),
        WaitingOn::QueueJoin { queue } => (tag::QUEUE_JOIN, Some(queue.number())),
        WaitingOn::Oneshot => (tag::ONESHOT, Some(0)),
        WaitingOn::Join { task } => (tag::JOIN, Some(task)),
        WaitingOn::Readable { fd } => (tag::READABLE, Some(fd)),
        WaitingOn::Writable { fd } => (tag::WRITABLE, Some(fd)),
        // The holder is not stored: the dump looks it up (see `WaitingOn::Lock`).
        WaitingOn::Lock { lock, .. } => (tag::LOCK, Some(lock)),
        WaitingOn::ToThread => (tag::ELSEWHERE, Some(0)),
        WaitingOn::RemoteJoin => (tag::ELSEWHERE, Some(1)),
        WaitingOn::Semaphore => (tag::SEMAPHORE, Some(0)),
        WaitingOn::Event => (tag::EVENT, Some(0)),
        WaitingOn::Condition => (tag::CONDITION, Some(0)),
        WaitingOn::Barrier => (tag::BARRIER, Some(0)),
        WaitingOn::TaskGroup { tasks } => (tag::TASK_GROUP, Some(tasks)),
    }
}

fn unpack(tag: u8, payload: u64) -> WaitingOn {
    match tag {
        tag::SLEEP => WaitingOn::Sleep {
            until: unpack_instant(payload),
        },
        tag::QUEUE_GET => WaitingOn::QueueGet {
            queue: QueueKind::from_number(payload),
        },
        tag::QUEUE_PUT => WaitingOn::QueuePut {
            queue: QueueKind::from_number(payload),
        },
        tag::QUEUE_JOIN => WaitingOn::QueueJoin {
            queue: QueueKind::from_number(payload),
        },
        tag::ONESHOT => WaitingOn::Oneshot,
        tag::JOIN => WaitingOn::Join { task: payload },
        tag::READABLE => WaitingOn::Readable { fd: payload },
        tag::WRITABLE => WaitingOn::Writable { fd: payload },
        tag::LOCK => WaitingOn::Lock {
            lock: payload,
            holder: None,
        },
        tag::ELSEWHERE if payload == 1 => WaitingOn::RemoteJoin,
        tag::ELSEWHERE => WaitingOn::ToThread,
        tag::SEMAPHORE => WaitingOn::Semaphore,
        tag::EVENT => WaitingOn::Event,
        tag::CONDITION => WaitingOn::Condition,
        tag::BARRIER => WaitingOn::Barrier,
        tag::TASK_GROUP => WaitingOn::TaskGroup { tasks: payload },
        other => unreachable!("WaitCell holds tag {other}, which pack never writes"),
    }
}

/// Milliseconds from [`epoch`] (rounded to the nearest), as a 40-bit two's complement
/// number (saturating).
fn pack_instant(at: Instant) -> u64 {
    const LIMIT: u64 = (1 << (PAYLOAD_BITS - 1)) - 1;
    let epoch = epoch();
    // Plain 64-bit arithmetic (a sleep records this on every wait; no 128-bit division).
    let rounded = |d: Duration| {
        let millis = d.as_secs().saturating_mul(1000);
        millis
            .saturating_add(u64::from((d.subsec_nanos() + 500_000) / 1_000_000))
            .min(LIMIT)
    };
    let millis = match at.checked_duration_since(epoch) {
        Some(after) => rounded(after) as i64,
        None => -(rounded(epoch - at) as i64),
    };
    (millis as u64) & ((1 << PAYLOAD_BITS) - 1)
}

fn unpack_instant(bits: u64) -> Instant {
    // Sign-extend the 40-bit number.
    let millis = ((bits << (64 - PAYLOAD_BITS)) as i64) >> (64 - PAYLOAD_BITS);
    let epoch = epoch();
    let offset = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 {
        epoch + offset
    } else {
        epoch - offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cell_is_one_word() {
        // The header pays for this field on every task, debug mode or not.
        assert_eq!(std::mem::size_of::<WaitCell>(), 8);
    }

    #[test]
    fn what_does_not_fit_is_not_recorded() {
        let cell = WaitCell::new();
        cell.record(WaitingOn::Join { task: 1 << 40 });
        assert_eq!(cell.get(), None);
        cell.record(WaitingOn::Lock {
            lock: 1 << 40,
            holder: None,
        });
        assert_eq!(cell.get(), None, "a lock's number past 40 bits");
        cell.record(WaitingOn::Join {
            task: (1 << 40) - 1,
        });
        assert_eq!(
            cell.get(),
            Some((
                WaitingOn::Join {
                    task: (1 << 40) - 1
                },
                0
            ))
        );
        cell.record(WaitingOn::Lock {
            lock: u64::MAX,
            holder: None,
        });
        assert_eq!(
            cell.get(),
            Some((
                WaitingOn::Join {
                    task: (1 << 40) - 1
                },
                1
            )),
            "a later wait of the same poll only counts"
        );
    }

    #[test]
    fn clear_empties_and_save_restore_puts_back() {
        let header = WaitCell::new();
        header.record(WaitingOn::Event);
        header.record(WaitingOn::Oneshot);
        assert_eq!(header.get(), Some((WaitingOn::Event, 1)));
        let saved = header.save();
        // The next poll's first record wins again, with its count reset.
        header.clear();
        assert_eq!(header.get(), None, "cleared");
        header.record(WaitingOn::ToThread);
        assert_eq!(header.get(), Some((WaitingOn::ToThread, 0)));
        header.restore(saved);
        assert_eq!(header.get(), Some((WaitingOn::Event, 1)), "restored");
    }

    #[test]
    fn deadlines_keep_millisecond_precision_both_sides_of_the_epoch() {
        let epoch = epoch();
        for offset in [0i64, 1, 1_200, -5, -86_400_000, 86_400_000 * 365 * 10] {
            let at = if offset >= 0 {
                epoch + Duration::from_millis(offset as u64)
            } else {
                epoch - Duration::from_millis(offset.unsigned_abs())
            };
            let cell = WaitCell::new();
            cell.record(WaitingOn::Sleep { until: at });
            assert_eq!(
                cell.get(),
                Some((WaitingOn::Sleep { until: at }, 0)),
                "{offset}"
            );
        }
        // Rounded to the nearest millisecond: the dump prints milliseconds.
        let cell = WaitCell::new();
        cell.record(WaitingOn::Sleep {
            until: epoch + Duration::from_micros(1_499),
        });
        assert_eq!(
            cell.get(),
            Some((
                WaitingOn::Sleep {
                    until: epoch + Duration::from_millis(1)
                },
                0
            ))
        );
    }

    #[test]
    fn every_variant_survives_packing() {
        let waits = [
            WaitingOn::Sleep {
                until: epoch() + Duration::from_millis(1200),
            },
            WaitingOn::Sleep {
                until: epoch() - Duration::from_millis(5),
            },
            WaitingOn::QueueGet {
                queue: QueueKind::Queue,
            },
            WaitingOn::QueuePut {
                queue: QueueKind::Queue,
            },
            WaitingOn::QueueJoin {
                queue: QueueKind::Queue,
            },
            WaitingOn::Oneshot,
            WaitingOn::Join { task: 12 },
            WaitingOn::Join {
                task: (1 << 40) - 1,
            },
            WaitingOn::Readable { fd: 7 },
            WaitingOn::Writable { fd: 7 },
            WaitingOn::Lock {
                lock: 1,
                holder: None,
            },
            WaitingOn::Lock {
                lock: (1 << 40) - 1,
                holder: None,
            },
            WaitingOn::QueueGet {
                queue: QueueKind::LifoQueue,
            },
            WaitingOn::QueuePut {
                queue: QueueKind::PriorityQueue,
            },
            WaitingOn::QueueJoin {
                queue: QueueKind::LifoQueue,
            },
            WaitingOn::ToThread,
            WaitingOn::RemoteJoin,
            WaitingOn::Semaphore,
            WaitingOn::Event,
            WaitingOn::Condition,
            WaitingOn::Barrier,
            WaitingOn::TaskGroup { tasks: 3 },
        ];
        for what in waits {
            let cell = WaitCell::new();
            cell.record(what);
            assert_eq!(cell.get(), Some((what, 0)), "{what:?}");
        }
    }

    #[test]
    fn a_wait_too_large_to_record_still_counts_after_a_first() {
        let cell = WaitCell::new();
        assert_eq!(cell.get(), None, "nothing recorded yet");
        cell.record(WaitingOn::Join { task: 1 << 40 });
        assert_eq!(
            cell.get(),
            None,
            "too large: not recorded, and not a first record"
        );
        cell.record(WaitingOn::Oneshot);
        assert_eq!(cell.get(), Some((WaitingOn::Oneshot, 0)));
    }

    #[test]
    fn more_saturates() {
        let cell = WaitCell::new();
        for _ in 0..1000 {
            cell.record(WaitingOn::QueueGet {
                queue: QueueKind::Queue,
            });
        }
        assert_eq!(
            cell.get(),
            Some((
                WaitingOn::QueueGet {
                    queue: QueueKind::Queue
                },
                15
            ))
        );
    }

    #[test]
    fn descriptions() {
        let now = Instant::now();
        let name = |id: u64| (id == 4).then(|| "writer".to_owned());
        let cases = [
            (
                WaitingOn::Sleep {
                    until: now + Duration::from_millis(1200),
                },
                "sleep until +1.200s",
            ),
            (
                WaitingOn::Sleep {
                    until: now - Duration::from_millis(50),
                },
                "sleep until -0.050s",
            ),
            (
                WaitingOn::QueueGet {
                    queue: QueueKind::Queue,
                },
                "Queue.get",
            ),
            (
                WaitingOn::QueuePut {
                    queue: QueueKind::Queue,
                },
                "Queue.put",
            ),
            (
                WaitingOn::QueueJoin {
                    queue: QueueKind::Queue,
                },
                "Queue.join",
            ),
            (WaitingOn::Oneshot, "oneshot.recv"),
            (WaitingOn::Join { task: 12 }, "join #12"),
            (WaitingOn::Readable { fd: 7 }, "readable fd 7"),
            (WaitingOn::Writable { fd: 8 }, "writable fd 8"),
            (
                WaitingOn::Lock {
                    lock: 1,
                    holder: Some(4),
                },
                "Lock held by #4 'writer'",
            ),
            (
                WaitingOn::Lock {
                    lock: 1,
                    holder: None,
                },
                "Lock",
            ),
            (
                WaitingOn::QueueGet {
                    queue: QueueKind::LifoQueue,
                },
                "LifoQueue.get",
            ),
            (
                WaitingOn::QueuePut {
                    queue: QueueKind::PriorityQueue,
                },
                "PriorityQueue.put",
            ),
            (WaitingOn::Semaphore, "Semaphore.acquire"),
            (WaitingOn::Event, "Event.wait"),
            (WaitingOn::Condition, "Condition.wait"),
            (WaitingOn::Barrier, "Barrier.wait"),
            (WaitingOn::TaskGroup { tasks: 1 }, "TaskGroup, 1 task left"),
            (WaitingOn::TaskGroup { tasks: 3 }, "TaskGroup, 3 tasks left"),
            (WaitingOn::ToThread, "to_thread job"),
        ];
        for (what, text) in cases {
            assert_eq!(what.describe(now, name), text);
        }
    }
}
