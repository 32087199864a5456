//! The allocation promises, counted by a global allocator of this test binary (one test
//! only, so no other test allocates meanwhile): one allocation per task, and after a
//! warm-up, none at all: finished tasks' blocks are reused by the next ones.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use handloop_executor::{EventLoop, spawn, yield_now};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; counting has no
// effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System.dealloc`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

#[test]
#[cfg_attr(miri, ignore = "counts differ under Miri's allocator shims")]
#[cfg_attr(handloop_no_block_cache, ignore = "the block cache is turned off")]
fn one_allocation_per_task_and_none_once_blocks_are_recycled() {
    const TASKS: usize = 1000;
    let event_loop = EventLoop::new();
    let (first, second) = event_loop.block_on(async {
        // Round one: each spawn allocates its task's one block.
        let before = allocations();
        for _ in 0..TASKS {
            drop(spawn(async {}));
        }
        let first = allocations() - before;
        yield_now().await; // every task runs and finishes; its block goes to the cache

        // Round two: the same kind of task reuses those blocks.
        let before = allocations();
        for _ in 0..TASKS {
            drop(spawn(async {}));
        }
        yield_now().await;
        let second = allocations() - before;
        (first, second)
    });
    assert_eq!(first, TASKS, "one allocation per task");
    assert_eq!(second, 0, "finished tasks' memory is reused");
}
