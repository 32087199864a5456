//! handloop: timer (work in progress).
#![forbid(unsafe_code)]
