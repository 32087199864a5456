//! The queue's errors. Each one says what happened, and every error of an operation
//! that carried an item gives that item back: a queue never drops an item silently.

use std::fmt;

/// The queue is closed.
///
/// `put` returns `Closed<T>`, holding the item that was not put ([`Closed::into_inner`]
/// gives it back). `get` returns `Closed` (that is, `Closed<()>`) once the queue is closed
/// **and** every item left in it has been taken.
///
/// This is asyncio's `QueueShutDown`, returned as a value instead of raised.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Closed<T = ()>(pub T);

impl<T> Closed<T> {
    /// The item that could not be put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The item is left out on purpose: it is often large, and `T` need not be `Debug`.
        f.write_str("Closed(..)")
    }
}

impl<T> fmt::Display for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is closed")
    }
}

impl<T> std::error::Error for Closed<T> {}

/// Why [`Queue::try_put`](crate::Queue::try_put) failed. Both variants give the item back.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryPutError<T> {
    /// The queue has no free slot, or earlier putters are still waiting for one
    /// (a `try_put` never jumps the line). `put(item).await` would wait.
    Full(T),
    /// The queue is closed; no item will ever enter it again.
    Closed(T),
}

impl<T> TryPutError<T> {
    /// The item that could not be put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(item) | TryPutError::Closed(item) => item,
        }
    }

    /// Whether the put failed because the queue is closed (retrying is pointless).
    pub fn is_closed(&self) -> bool {
        matches!(self, TryPutError::Closed(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("the queue is full"),
            TryPutError::Closed(_) => f.write_str("the queue is closed"),
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// Why [`Queue::try_get`](crate::Queue::try_get) failed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TryGetError {
    /// No item is ready for this caller right now. (An item handed to a waiting getter
    /// is that getter's, not this caller's.) `get().await` would wait.
    Empty,
    /// The queue is closed and every item left in it has been taken.
    Closed,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("the queue is empty"),
            TryGetError::Closed => f.write_str("the queue is closed and empty"),
        }
    }
}

impl std::error::Error for TryGetError {}
