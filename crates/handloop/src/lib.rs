//! handloop: handloop (work in progress).
#![forbid(unsafe_code)]
