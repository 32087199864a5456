#![doc = include_str!("../../../docs/04-channel.md")]
#![deny(unsafe_code)] // allowed in `sync.rs` (its lock) and `oneshot.rs` (its two cells)

mod errors;
pub mod oneshot;
mod queue;
mod sync;
mod waiting;

pub use errors::{Closed, TryGetError, TryPutError};
pub use queue::{Get, Join, Put, Queue};
