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
use std::cell::{Cell, RefCell};
use std::ptr::NonNull;

/// Blocks kept per layout, at most.
const MAX_BLOCKS_PER_LAYOUT: usize = 4096;
/// Distinct layouts kept, at most (a program has few task types in its hot loops).
const MAX_LAYOUTS: usize = 16;

/// Freed task blocks, grouped by layout. Each group is a stack threaded through the free
/// blocks themselves (a free block's first word points to the next one), so keeping and
/// reusing a block writes two pointers and never allocates.
#[derive(Default)]
pub(crate) struct BlockCache {
    classes: RefCell<Vec<Class>>,
    /// The class used last: tasks of one type usually come in runs.
    last: Cell<usize>,
}

/// The free blocks of one layout.
struct Class {
    layout: Layout,
    head: Option<NonNull<u8>>,
    count: usize,
}

impl BlockCache {
    /// The index of `layout`'s class, trying the last one used first.
    #[inline]
    fn find(&self, classes: &[Class], layout: Layout) -> Option<usize> {
        let last = self.last.get();
        if classes.get(last).is_some_and(|c| c.layout == layout) {
            return Some(last);
        }
        let index = classes.iter().position(|c| c.layout == layout)?;
        self.last.set(index);
        Some(index)
    }

    /// A block for `layout`: a recycled one if the cache has it, else a fresh allocation.
    #[inline]
    pub(crate) fn allocate(&self, layout: Layout) -> NonNull<u8> {
        let mut classes = self.classes.borrow_mut();
        if let Some(index) = self.find(&classes, layout) {
            let class = &mut classes[index];
            if let Some(block) = class.head {
                // SAFETY: a cached block is unused, at least pointer-sized and aligned (it
                // held a task header), and its first word was written by `recycle`.
                class.head = unsafe { block.cast::<Option<NonNull<u8>>>().read() };
                class.count -= 1;
                return block;
            }
        }
        drop(classes);
        fresh(layout)
    }

    /// Takes back a block whose task is gone; frees it if the cache is full.
    ///
    /// # Safety
    /// `block` was allocated for `layout` (by [`BlockCache::allocate`] or [`fresh`]), the
    /// layout fits a pointer (a task header always does), and nothing uses the block.
    #[inline]
    pub(crate) unsafe fn recycle(&self, block: NonNull<u8>, layout: Layout) {
        // The test mode that turns the cache off, so that Miri sees every free
        // (`RUSTFLAGS="--cfg handloop_no_block_cache"`; see `.ci/run`).
        if cfg!(handloop_no_block_cache) {
            // SAFETY: the caller's promise.
            return unsafe { release(block, layout) };
        }
        debug_assert!(layout.size() >= size_of::<usize>() && layout.align() >= align_of::<usize>());
        let mut classes = self.classes.borrow_mut();
        let index = match self.find(&classes, layout) {
            Some(index) => index,
            None if classes.len() < MAX_LAYOUTS => {
                classes.push(Class {
                    layout,
                    head: None,
                    count: 0,
                });
                classes.len() - 1
            }
            None => {
                drop(classes);
                // SAFETY: the caller's promise.
                return unsafe { release(block, layout) };
            }
        };
        let class = &mut classes[index];
        if class.count < MAX_BLOCKS_PER_LAYOUT {
            // SAFETY: the block is unused, pointer-sized and aligned (the caller's promise):
            // its first word now links it to the rest of the stack.
            unsafe { block.cast::<Option<NonNull<u8>>>().write(class.head) };
            class.head = Some(block);
            class.count += 1;
        } else {
            drop(classes);
            // SAFETY: the caller's promise.
            unsafe { release(block, layout) };
        }
    }

    /// How many blocks are cached (for tests).
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.classes.borrow().iter().map(|c| c.count).sum()
    }
}

impl Drop for BlockCache {
    fn drop(&mut self) {
        for class in self.classes.get_mut().drain(..) {
            let mut next = class.head;
            while let Some(block) = next {
                // SAFETY: every cached block was allocated for its class's layout, is
                // unused, and starts with the link written by `recycle`.
                unsafe {
                    next = block.cast::<Option<NonNull<u8>>>().read();
                    release(block, class.layout);
                }
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
    #[cfg_attr(handloop_no_block_cache, ignore = "the block cache is turned off")]
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

    #[test]
    #[cfg_attr(handloop_no_block_cache, ignore = "the block cache is turned off")]
    fn only_a_few_layouts_are_kept() {
        let cache = BlockCache::default();
        let layouts: Vec<_> = (1..=MAX_LAYOUTS + 2)
            .map(|i| Layout::from_size_align(16 * i, 8).unwrap())
            .collect();
        for &layout in &layouts {
            // SAFETY: a fresh block of `layout`, recycled once.
            unsafe { cache.recycle(fresh(layout), layout) };
        }
        assert_eq!(
            cache.cached(),
            MAX_LAYOUTS,
            "blocks of further layouts were freed"
        );
    }
}
