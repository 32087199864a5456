//! Recycling the oneshot's shared cell: each thread keeps a few freed cells per size and
//! hands them to the next `oneshot::channel()` made there.
//!
//! A request/reply exchange makes one oneshot per request and frees it a moment later, so
//! the allocator's `malloc` and `free` are a large part of its cost (about 150 of the
//! 950 instructions of a round trip through a queue, measured with callgrind). A freed cell
//! is the right size for the next oneshot of the same size, so the thread that frees it
//! keeps it: a cell then costs a thread-local lookup and two pointer writes each way.
//!
//! Cells are grouped in size classes of 16 bytes up to 128 (a oneshot of any `T` that fits
//! is allocated with its class's layout, whether it is recycled or not, so any thread may
//! free any cell), and each thread keeps at most [`KEPT_PER_CLASS`] of each (4096, as
//! the executor keeps of each task size): enough for a thousand requests in flight, while a
//! burst of a million oneshots does not pin their memory afterwards. Larger or over-aligned
//! cells, cells freed on a thread whose kept cells were already given back (late in its
//! exit, after the cache's own thread-local destructor ran), and everything under `--cfg
//! loom` or `--cfg handloop_no_block_cache` (the test mode in which Miri sees every free)
//! go straight to the global allocator; cells freed earlier in a thread's exit are kept,
//! then given back with the rest.
//!
//! Nothing here is tied to an executor: a oneshot made on any thread, used with any
//! executor, takes its cell from and returns it to the thread it is on at that moment.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cell::Cell;
use std::ptr::{self, NonNull};

/// Size classes are multiples of this, and cells of a class are aligned to it.
const GRANULE: usize = 16;
/// Size classes: 16, 32, ..., 128 bytes.
const CLASSES: usize = 8;
/// Freed cells a thread keeps per class, at most.
const KEPT_PER_CLASS: usize = 4096;
/// Whether cells are kept at all (not under loom, which checks each allocation's own
/// life, nor in the test mode that shows Miri every free).
const KEEP: bool = !cfg!(any(loom, handloop_no_block_cache));

/// The class of a cell of `layout`, if it has one.
const fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() == 0 || layout.size() > CLASSES * GRANULE || layout.align() > GRANULE {
        None
    } else {
        Some(layout.size().div_ceil(GRANULE) - 1)
    }
}

/// The layout a cell of `layout` is really allocated (and freed) with.
const fn real_layout(layout: Layout) -> Layout {
    match class_of(layout) {
        // SAFETY: a multiple of 16 up to 128, with the power-of-two alignment 16.
        Some(class) => unsafe { Layout::from_size_align_unchecked((class + 1) * GRANULE, GRANULE) },
        None => layout,
    }
}

/// One thread's freed cells: per class, a stack threaded through the cells themselves (a
/// free cell's first word points to the next one).
struct Kept {
    heads: [Cell<*mut u8>; CLASSES],
    counts: [Cell<usize>; CLASSES],
}

impl Drop for Kept {
    /// The thread is exiting: give its cells back to the allocator.
    fn drop(&mut self) {
        for (class, head) in self.heads.iter().enumerate() {
            let layout = real_layout_of_class(class);
            let mut next = head.replace(ptr::null_mut());
            while !next.is_null() {
                // SAFETY: a kept cell is unused, was allocated with its class's layout,
                // and starts with the link `free` wrote.
                unsafe {
                    let cell = next;
                    next = cell.cast::<*mut u8>().read();
                    dealloc(cell, layout);
                }
            }
        }
    }
}

const fn real_layout_of_class(class: usize) -> Layout {
    // SAFETY: as in `real_layout`.
    unsafe { Layout::from_size_align_unchecked((class + 1) * GRANULE, GRANULE) }
}

std::thread_local! {
    static KEPT: Kept = const {
        Kept {
            heads: [const { Cell::new(ptr::null_mut()) }; CLASSES],
            counts: [const { Cell::new(0) }; CLASSES],
        }
    };
}

/// Memory for a `T` (uninitialised): a kept cell of its class if this thread has one,
/// else a fresh allocation.
///
/// `T` must be at least pointer-sized and pointer-aligned (so that a free cell can hold
/// its link), which the oneshot's cell, starting with its state word, is.
#[inline]
pub(crate) fn allocate<T>() -> NonNull<T> {
    let layout = Layout::new::<T>();
    const { assert!(size_of::<T>() >= size_of::<usize>() && align_of::<T>() >= align_of::<usize>()) };
    if KEEP && let Some(class) = class_of(layout) {
        let kept = KEPT
            .try_with(|kept| {
                let cell = kept.heads[class].get();
                if cell.is_null() {
                    return None;
                }
                // SAFETY: a kept cell is unused and starts with the link `free` wrote.
                kept.heads[class].set(unsafe { cell.cast::<*mut u8>().read() });
                kept.counts[class].set(kept.counts[class].get() - 1);
                Some(cell)
            })
            .ok()
            .flatten();
        if let Some(cell) = kept {
            // SAFETY: cells are never null.
            return unsafe { NonNull::new_unchecked(cell) }.cast();
        }
    }
    fresh(real_layout(layout))
}

#[cold]
fn fresh<T>(layout: Layout) -> NonNull<T> {
    // SAFETY: `T` is at least pointer-sized (checked in `allocate`), so the size is not 0.
    let cell = unsafe { alloc(layout) };
    match NonNull::new(cell) {
        Some(cell) => cell.cast(),
        None => handle_alloc_error(layout),
    }
}

/// Gives back memory from [`allocate`]: kept for this thread's next oneshot, unless it
/// already keeps enough of its class.
///
/// # Safety
/// `cell` came from `allocate::<T>()` (on any thread), whatever was in it has been dropped,
/// and nothing uses it any more.
#[inline]
pub(crate) unsafe fn free<T>(cell: NonNull<T>) {
    let layout = Layout::new::<T>();
    if KEEP && let Some(class) = class_of(layout) {
        let kept = KEPT.try_with(|kept| {
            let count = kept.counts[class].get();
            if count == KEPT_PER_CLASS {
                return false;
            }
            // SAFETY: the cell is unused (the caller's promise) and at least pointer-sized
            // and aligned: its first word now links it to the rest of the stack.
            unsafe { cell.cast::<*mut u8>().write(kept.heads[class].get()) };
            kept.heads[class].set(cell.as_ptr().cast());
            kept.counts[class].set(count + 1);
            true
        });
        if kept == Ok(true) {
            return;
        }
    }
    // SAFETY: allocated by the global allocator with this layout (`allocate`), unused.
    unsafe { dealloc(cell.as_ptr().cast(), real_layout(layout)) };
}

#[cfg(all(test, not(loom), not(handloop_no_block_cache)))]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_to_sixteen_bytes() {
        assert_eq!(class_of(Layout::new::<[u64; 1]>()), Some(0));
        assert_eq!(class_of(Layout::new::<[u64; 2]>()), Some(0));
        assert_eq!(class_of(Layout::new::<[u64; 5]>()), Some(2));
        assert_eq!(class_of(Layout::new::<[u64; 16]>()), Some(7));
        assert_eq!(
            class_of(Layout::new::<[u64; 17]>()),
            None,
            "too big to keep"
        );
        #[repr(align(32))]
        struct Wide(#[allow(dead_code)] u64);
        assert_eq!(class_of(Layout::new::<Wide>()), None, "over-aligned");
        assert_eq!(real_layout(Layout::new::<[u64; 5]>()).size(), 48);
    }

    #[test]
    fn a_freed_cell_comes_back_and_the_thread_keeps_only_a_few() {
        let a = allocate::<[u64; 5]>();
        // SAFETY: from `allocate`, unused.
        unsafe { free(a) };
        assert_eq!(allocate::<[u64; 5]>(), a, "same class: the cell comes back");
        // SAFETY: as above.
        unsafe { free(a) };
        let b = allocate::<[u64; 6]>();
        assert_eq!(b.cast::<u8>(), a.cast::<u8>(), "48 bytes: the same class");
        // SAFETY: as above.
        unsafe { free(b) };
        let many: Vec<_> = (0..KEPT_PER_CLASS + 10)
            .map(|_| allocate::<[u64; 5]>())
            .collect();
        for cell in many {
            // SAFETY: as above.
            unsafe { free(cell) };
        }
        assert_eq!(
            KEPT.with(|kept| kept.counts[2].get()),
            KEPT_PER_CLASS,
            "the rest went back to the allocator"
        );
        let big = allocate::<[u64; 40]>();
        // SAFETY: as above.
        unsafe { free(big) };
        assert_eq!(
            KEPT.with(|kept| kept.counts.iter().map(Cell::get).sum::<usize>()),
            KEPT_PER_CLASS
        );
    }

    #[test]
    fn a_cell_freed_on_another_thread_is_kept_there() {
        /// An unused cell, sent to another thread to be freed there.
        struct Unused(NonNull<[u64; 3]>);
        // SAFETY: the memory is unused: only the block itself moves between threads.
        unsafe impl Send for Unused {}
        let cell = Unused(allocate::<[u64; 3]>());
        let address = cell.0.as_ptr() as usize;
        let back = std::thread::spawn(move || {
            let cell = cell;
            // SAFETY: from `allocate` on the spawning thread, unused.
            unsafe { free(cell.0) };
            let again = allocate::<[u64; 3]>();
            // SAFETY: as above (the thread gives its kept cells back as it exits).
            unsafe { free(again) };
            again.as_ptr() as usize
        })
        .join()
        .unwrap();
        assert_eq!(back, address);
    }
}
