//! A counting global allocator: live bytes and their peak, counted only while enabled.
//!
//! Only the `compare` binary installs it (`#[global_allocator]`); the criterion bench
//! does not, so its timings never see it. While counting is off, each allocation costs
//! one relaxed load and a branch on top of the system allocator.
//!
//! Live bytes are signed: a block allocated before counting started and freed while it
//! runs counts negative, so the difference between two readings is exactly the growth of
//! the heap in between.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering::Relaxed};

static ENABLED: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting while [`enable`]d. Install it with
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

#[inline]
fn grew(size: usize) {
    if ENABLED.load(Relaxed) {
        ALLOCATIONS.fetch_add(1, Relaxed);
        let now = LIVE.fetch_add(size as isize, Relaxed) + size as isize;
        PEAK.fetch_max(now, Relaxed);
    }
}

#[inline]
fn shrank(size: usize) {
    if ENABLED.load(Relaxed) {
        LIVE.fetch_sub(size as isize, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the arguments it received, so `System`'s
// guarantees are ours; the counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size).
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (that is, from
        // `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from `System` with `layout`, and that
        // `new_size` is valid for `layout.align()`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        new
    }
}

/// Starts counting (counters keep their values).
pub fn enable() {
    ENABLED.store(true, Relaxed);
}

/// Stops counting.
pub fn disable() {
    ENABLED.store(false, Relaxed);
}

/// Whether a [`CountingAlloc`] is installed: allocates a little while counting and sees
/// whether the counter moved.
pub fn is_installed() -> bool {
    let was = ENABLED.swap(true, Relaxed);
    let before = ALLOCATIONS.load(Relaxed);
    std::hint::black_box(Box::new(0u64));
    let installed = ALLOCATIONS.load(Relaxed) != before;
    ENABLED.store(was, Relaxed);
    installed
}

/// Bytes allocated and not yet freed while counting was on (see the module docs).
pub fn live() -> isize {
    LIVE.load(Relaxed)
}

/// The highest [`live`] since the last [`reset_peak`].
pub fn peak() -> isize {
    PEAK.load(Relaxed)
}

/// Sets the peak to the current live bytes.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Relaxed), Relaxed);
}

/// Allocations counted so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Relaxed)
}
