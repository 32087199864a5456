#![doc = include_str!("../../../docs/04-channel.md")]
#![deny(unsafe_code)] // allowed in `sync.rs` alone, for its lock

mod errors;
pub mod oneshot;
mod queue;
mod sync;

pub use errors::{Closed, TryGetError, TryPutError};
pub use queue::{Get, Join, Put, Queue};
