//! The Wasm heap, capped at the isolate's memory budget.
//!
//! Admission counts the bytes each request reserves, but the heap is one
//! address space that never shrinks: buffers of many sizes that come and go
//! across requests leave holes, and a reservation that fits the count may
//! not fit any hole, so the allocator would grow memory past the budget.
//! Under the hostile load mix (`cargo xtask load --hostile`) that took Wasm
//! memory to 107 MiB against a 96 MiB budget. So the allocator itself holds
//! the budget:
//!
//! - Memory grows only up to the cap (`MEMORY_BUDGET_MIB`).
//! - Reservations (a body buffer, the probe for a transform's working
//!   memory) are fallible and may grow memory only up to the cap less
//!   [`RESERVE_HEADROOM`], which is left for everything else; a reservation
//!   that finds no room waits in the admission queue instead.
//! - An allocation past the cap fails, which traps; the entry then answers
//!   from a fresh instance (see `entry.mjs`). Memory never passes the cap.
//!
//! The allocator is `dlmalloc`, the one the standard library uses on this
//! target, given a system layer that refuses to grow past the cap. On the
//! host (tests) the standard allocator stays, and these functions only
//! allocate.

use std::alloc::Layout;

/// What reservations leave to allocations that cannot wait (headers, JSON,
/// the small buffers of a transform's bookkeeping).
pub const RESERVE_HEADROOM: usize = 8 << 20;

/// Caps Wasm memory at `bytes` (from the first request's configuration).
pub fn set_cap(bytes: usize) {
    imp::set_cap(bytes);
}

/// A buffer of `capacity` bytes, or `None` when memory cannot grow to hold
/// it within the cap less [`RESERVE_HEADROOM`].
pub fn reserve_buffer(capacity: usize) -> Option<Vec<u8>> {
    imp::reserving(|| {
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(capacity).ok().map(|()| bytes)
    })
}

/// Whether `bytes` of allocations fit the heap now without growing memory
/// past the cap less [`RESERVE_HEADROOM`]. Far from the cap, memory may
/// simply grow by that much. Near it, one block of `bytes` must fit: it is
/// allocated and given back at once, and a synchronous transform that
/// starts right after finds the room. (Probing always would grow memory to
/// the plan, an upper bound, on every request.)
pub fn has_room(bytes: usize) -> bool {
    if imp::can_grow_by(bytes) {
        return true;
    }
    let Ok(layout) = Layout::from_size_align(bytes.max(1), 16) else { return false };
    imp::reserving(|| {
        // SAFETY: the layout has a non-zero size; the block is freed with it.
        unsafe {
            let block = std::alloc::alloc(layout);
            if block.is_null() {
                return false;
            }
            std::alloc::dealloc(block, layout);
        }
        true
    })
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use core::alloc::{GlobalAlloc, Layout};
    use core::arch::wasm32;
    use core::cell::UnsafeCell;
    use core::ptr;
    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

    use dlmalloc::{Allocator, Dlmalloc};

    const PAGE: usize = 64 * 1024;

    /// Wasm memory may not grow past this many bytes.
    static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);
    /// Set while a reservation allocates: it stops short of the cap.
    static RESERVING: AtomicBool = AtomicBool::new(false);
    /// Whether the memory between the static data and the initial end of
    /// memory has been handed to the heap.
    static PREEXISTING_USED: AtomicBool = AtomicBool::new(false);

    /// The system layer: the memory the linker left after the static data,
    /// then `memory.grow`, never past the cap.
    struct Capped;

    unsafe extern "C" {
        static __heap_base: u8;
        static __heap_end: u8;
    }

    unsafe impl Allocator for Capped {
        fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
            if size != 0 && !PREEXISTING_USED.swap(true, Relaxed) {
                // Linker-defined symbols: only their addresses are taken.
                let (base, end) = (&raw const __heap_base as usize, &raw const __heap_end as usize);
                if base != 0 && end > base && end - base >= size {
                    return (base as *mut u8, end - base, 0);
                }
            }
            let cap = CAP.load(Relaxed);
            let limit = if RESERVING.load(Relaxed) { cap.saturating_sub(super::RESERVE_HEADROOM) } else { cap };
            // dlmalloc asks for the whole request, though the free chunk at
            // the end of memory may hold most of it: near the limit, grow
            // only up to it. The new pages join that chunk, which then may
            // be enough; if not, the allocation fails within the limit.
            let room = limit.saturating_sub(wasm32::memory_size(0).saturating_mul(PAGE)) / PAGE;
            let pages = size.div_ceil(PAGE).min(room);
            if pages == 0 {
                return (ptr::null_mut(), 0, 0);
            }
            let previous = wasm32::memory_grow(0, pages);
            if previous == usize::MAX {
                return (ptr::null_mut(), 0, 0);
            }
            ((previous * PAGE) as *mut u8, pages * PAGE, 0)
        }

        fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
            ptr::null_mut()
        }

        fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
            false
        }

        fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
            false
        }

        fn can_release_part(&self, _flags: u32) -> bool {
            false
        }

        fn allocates_zeros(&self) -> bool {
            true
        }

        fn page_size(&self) -> usize {
            PAGE
        }
    }

    struct Heap(UnsafeCell<Dlmalloc<Capped>>);

    // SAFETY: this target has one thread, and no allocation re-enters the heap.
    unsafe impl Sync for Heap {}

    #[global_allocator]
    static HEAP: Heap = Heap(UnsafeCell::new(Dlmalloc::new_with_allocator(Capped)));

    impl Heap {
        #[allow(clippy::mut_from_ref)]
        fn get(&self) -> &mut Dlmalloc<Capped> {
            // SAFETY: one thread, and the heap's methods never call back
            // into the global allocator, so no two borrows overlap.
            unsafe { &mut *self.0.get() }
        }
    }

    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { self.get().malloc(layout.size(), layout.align()) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            unsafe { self.get().calloc(layout.size(), layout.align()) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { self.get().free(ptr, layout.size(), layout.align()) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            unsafe { self.get().realloc(ptr, layout.size(), layout.align(), new_size) }
        }
    }

    pub fn set_cap(bytes: usize) {
        CAP.store(bytes, Relaxed);
    }

    pub fn can_grow_by(bytes: usize) -> bool {
        let limit = CAP.load(Relaxed).saturating_sub(super::RESERVE_HEADROOM);
        wasm32::memory_size(0).saturating_mul(PAGE).saturating_add(bytes) <= limit
    }

    pub fn reserving<T>(allocate: impl FnOnce() -> T) -> T {
        let outer = RESERVING.swap(true, Relaxed);
        let result = allocate();
        RESERVING.store(outer, Relaxed);
        result
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub fn set_cap(_bytes: usize) {}

    /// The host has no cap: probe.
    pub fn can_grow_by(_bytes: usize) -> bool {
        false
    }

    pub fn reserving<T>(allocate: impl FnOnce() -> T) -> T {
        allocate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_allocate_what_they_promise() {
        let buffer = reserve_buffer(1 << 20).expect("the host has room");
        assert!(buffer.capacity() >= 1 << 20 && buffer.is_empty());
        assert!(has_room(4 << 20));
        assert!(!has_room(usize::MAX), "a block larger than the address space has no room");
    }
}
