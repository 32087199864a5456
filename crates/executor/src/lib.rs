//! handloop: executor (work in progress).
#![forbid(unsafe_code)]
