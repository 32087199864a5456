//! Recycling task memory: each loop keeps the blocks of tasks that finished on it and
//! hands them to the next tasks of the same size.
//!
//! A burst of a thousand spawns followed by a thousand completions is the normal rhythm of
//! an event loop, and it is exactly what a general-purpose allocator handles worst (glibc
//! caches only a handful of freed blocks per size per thread; the rest go through its slow
//! paths). The loop knows better: the block a task frees on the loop's thread is the right
//! size for the next task of the same type. The cache is capped, so a spike of a million
//! tasks does not pin their memory afterwards.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cell::RefCell;
use std::ptr::NonNull;

/// Blocks kept per layout, at most.
const MAX_BLOCKS_PER_LAYOUT: usize = 4096;
/// Distinct layouts kept, at most (a program has few task types in its hot loops).
const MAX_LAYOUTS: usize = 16;

/// Freed task blocks, grouped by layout.
#[derive(Default)]
pub(crate) struct BlockCache {
    classes: RefCell<Vec<(Layout, Vec<NonNull<u8>>)>>,
}

impl BlockCache {
    /// A block for `layout`: a recycled one if the cache has it, else a fresh allocation.
    pub(crate) fn allocate(&self, layout: Layout) -> NonNull<u8> {
        let mut classes = self.classes.borrow_mut();
        if let Some((_, blocks)) = classes.iter_mut().find(|(l, _)| *l == layout)
            && let Some(block) = blocks.pop()
        {
            return block;
        }
        drop(classes);
        fresh(layout)
    }

    /// Takes back a block whose task is gone; frees it if the cache is full.
    ///
    /// # Safety
    /// `block` was allocated for `layout` (by [`BlockCache::allocate`] or [`fresh`]) and
    /// nothing uses it any more.
    pub(crate) unsafe fn recycle(&self, block: NonNull<u8>, layout: Layout) {
        let mut classes = self.classes.borrow_mut();
        let index = match classes.iter().position(|(l, _)| *l == layout) {
            Some(index) => index,
            None if classes.len() < MAX_LAYOUTS => {
                classes.push((layout, Vec::new()));
                classes.len() - 1
            }
            None => {
                drop(classes);
                // SAFETY: the caller's promise.
                return unsafe { release(block, layout) };
            }
        };
        let blocks = &mut classes[index].1;
        if blocks.len() < MAX_BLOCKS_PER_LAYOUT {
            blocks.push(block);
        } else {
            drop(classes);
            // SAFETY: the caller's promise.
            unsafe { release(block, layout) };
        }
    }

    /// How many blocks are cached (for tests).
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.classes.borrow().iter().map(|(_, b)| b.len()).sum()
    }
}

impl Drop for BlockCache {
    fn drop(&mut self) {
        for (layout, blocks) in self.classes.get_mut().drain(..) {
            for block in blocks {
                // SAFETY: every cached block was allocated for its class's layout and is
                // unused while it sits in the cache.
                unsafe { release(block, layout) };
            }
        }
    }
}

/// A fresh block from the global allocator.
pub(crate) fn fresh(layout: Layout) -> NonNull<u8> {
    // Task layouts are never zero-sized: the header alone is dozens of bytes.
    assert!(layout.size() > 0);
    // SAFETY: the layout has a non-zero size.
    let block = unsafe { alloc(layout) };
    NonNull::new(block).unwrap_or_else(|| handle_alloc_error(layout))
}

/// Gives a block back to the global allocator.
///
/// # Safety
/// `block` was allocated by the global allocator for `layout` and is unused.
pub(crate) unsafe fn release(block: NonNull<u8>, layout: Layout) {
    // SAFETY: the caller's promise.
    unsafe { dealloc(block.as_ptr(), layout) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_per_layout_and_capped() {
        let cache = BlockCache::default();
        let small = Layout::from_size_align(64, 8).unwrap();
        let big = Layout::from_size_align(256, 16).unwrap();
        let a = cache.allocate(small);
        // SAFETY: allocated for `small` just above, unused.
        unsafe { cache.recycle(a, small) };
        assert_eq!(cache.cached(), 1);
        let other = cache.allocate(big);
        assert_ne!(other, a, "another layout gets another block");
        // SAFETY: allocated for `big` just above, unused.
        unsafe { cache.recycle(other, big) };
        assert_eq!(
            cache.allocate(small),
            a,
            "same layout: the block comes back"
        );
        // SAFETY: each block is recycled once, with its own layout.
        unsafe { cache.recycle(a, small) };
        let many: Vec<_> = (0..MAX_BLOCKS_PER_LAYOUT + 10)
            .map(|_| fresh(small))
            .collect();
        for block in many {
            // SAFETY: fresh blocks of `small`, recycled once each.
            unsafe { cache.recycle(block, small) };
        }
        assert_eq!(
            cache.cached(),
            MAX_BLOCKS_PER_LAYOUT + 1,
            "the rest were freed"
        );
    }
}
