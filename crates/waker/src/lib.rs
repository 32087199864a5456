#![doc = include_str!("../../../docs/01-waker.md")]
//!
//! # Where things are
//!
//! | file | holds |
//! |---|---|
//! | `src/arc_wake.rs` | [`ArcWake`] and [`waker`]: the hand-written vtable |
//! | `src/counting.rs` | [`CountingWaker`] and [`Counts`]: a waker that counts what is done to it |
//! | `src/noop.rs` | [`noop_waker`]: a waker that does nothing |
//! | `src/poll.rs` | [`poll_once`] and [`poll_with`]: drive a future by hand |
//! | `src/block_on.rs` | [`block_on`]: poll, park until woken, repeat |
//!
//! `unsafe` lives only in the three vtable files; every block carries its proof.
//!
//! [`block_on`]: fn@crate::block_on

mod arc_wake;
mod block_on;
mod counting;
mod noop;
mod poll;

pub use arc_wake::{ArcWake, waker};
pub use block_on::block_on;
pub use counting::{CountingWaker, Counts};
pub use noop::noop_waker;
pub use poll::{poll_once, poll_with};
