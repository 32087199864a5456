//! handloop: channel (work in progress).
#![forbid(unsafe_code)]
