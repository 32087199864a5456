//! handloop: waker (work in progress).
#![forbid(unsafe_code)]
