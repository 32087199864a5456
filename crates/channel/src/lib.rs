#![doc = include_str!("../../../docs/04-channel.md")]
// `unsafe` is allowed only in `sync.rs` (the lock), `oneshot.rs` (its cells and its
// allocation), `recycle.rs` (the oneshot's recycled memory), `queue/handoff.rs` (a waiting future's answer cell) and the few marked
// lines of `queue/` that use it.
#![deny(unsafe_code)]

mod errors;
mod line;
#[doc = include_str!("../../../docs/04a-locks.md")]
pub mod locks;
pub mod oneshot;
mod queue;
#[allow(unsafe_code)] // free memory threaded into per-thread stacks
mod recycle;
mod sync;
mod waiting;

pub use errors::{Closed, TryGetError, TryPutError};
pub use queue::order;
pub use queue::{Get, Join, LifoQueue, PriorityQueue, Put, Queue, QueueOf};
