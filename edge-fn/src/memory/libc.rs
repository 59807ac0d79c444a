//! The few C library functions the worker's C code (libwebp, libjpeg,
//! libaom) calls, on `wasm32-unknown-unknown`, which has no libc: allocation
//! through the worker's own heap (so C buffers count against the same cap,
//! see `memory::heap`), `qsort` and `exit`. Their headers are in
//! `edge-fn/libc/include`; the memory and math functions come from Rust's
//! compiler-builtins, and setjmp/longjmp, snprintf, the string and number
//! functions and the (failing) file functions are C (`edge-fn/libc`).
//! On the host the system's libc serves, and this module only offers the
//! sort for tests.

/// Sorts `count` elements of `size` bytes at `base` with a C comparator, as
/// `qsort` does (not stable, like most `qsort`s). Sorts indices, then moves
/// the elements once through a scratch copy.
///
/// # Safety
/// `base` must point to `count * size` initialised, writable bytes, and
/// `compare` must be safe to call on any two of the elements.
pub unsafe fn sort_elements(
    base: *mut u8,
    count: usize,
    size: usize,
    compare: unsafe extern "C" fn(*const u8, *const u8) -> i32,
) {
    if count < 2 || size == 0 {
        return;
    }
    let Some(total) = count.checked_mul(size) else { return };
    // SAFETY: the caller promises `count * size` bytes at `base`.
    let bytes = unsafe { std::slice::from_raw_parts_mut(base, total) };
    let scratch = bytes.to_vec();
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_unstable_by(|&a, &b| {
        // SAFETY: both point at elements inside `scratch`.
        let c = unsafe { compare(scratch.as_ptr().add(a * size), scratch.as_ptr().add(b * size)) };
        c.cmp(&0)
    });
    for (to, from) in order.into_iter().enumerate() {
        bytes[to * size..(to + 1) * size].copy_from_slice(&scratch[from * size..(from + 1) * size]);
    }
}

#[cfg(target_arch = "wasm32")]
mod exports {
    use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, realloc as grow};
    use std::ptr;

    /// Each block starts with its size, so that `free` can give the heap
    /// back the layout it was allocated with; 16 bytes keep C's alignment.
    const HEADER: usize = 16;

    fn layout(size: usize) -> Option<Layout> {
        Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
    }

    unsafe fn allocate(size: usize, zeroed: bool) -> *mut u8 {
        let Some(layout) = layout(size) else { return ptr::null_mut() };
        // SAFETY: the layout is non-zero in size.
        let block = unsafe { if zeroed { alloc_zeroed(layout) } else { alloc(layout) } };
        if block.is_null() {
            return block;
        }
        // SAFETY: the block has HEADER bytes before the caller's part.
        unsafe {
            block.cast::<usize>().write(size);
            block.add(HEADER)
        }
    }

    /// The block and size behind a pointer `allocate` returned.
    unsafe fn block_of(p: *mut u8) -> (*mut u8, usize) {
        // SAFETY: `p` came from `allocate`, HEADER bytes into its block.
        unsafe {
            let block = p.sub(HEADER);
            (block, block.cast::<usize>().read())
        }
    }

    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn malloc(size: usize) -> *mut u8 {
        unsafe { allocate(size, false) }
    }

    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut u8 {
        match count.checked_mul(size) {
            Some(total) => unsafe { allocate(total, true) },
            None => ptr::null_mut(),
        }
    }

    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        if p.is_null() {
            return unsafe { allocate(size, false) };
        }
        let (block, old) = unsafe { block_of(p) };
        let (Some(old_layout), Some(_)) = (layout(old), layout(size)) else { return ptr::null_mut() };
        // SAFETY: the block was allocated with `old_layout`.
        let moved = unsafe { grow(block, old_layout, size + HEADER) };
        if moved.is_null() {
            return moved;
        }
        unsafe {
            moved.cast::<usize>().write(size);
            moved.add(HEADER)
        }
    }

    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn free(p: *mut u8) {
        if p.is_null() {
            return;
        }
        let (block, size) = unsafe { block_of(p) };
        if let Some(layout) = layout(size) {
            // SAFETY: the block was allocated with this layout.
            unsafe { dealloc(block, layout) }
        }
    }

    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn qsort(
        base: *mut u8,
        count: usize,
        size: usize,
        compare: unsafe extern "C" fn(*const u8, *const u8) -> i32,
    ) {
        unsafe { super::sort_elements(base, count, size, compare) }
    }

    /// libjpeg's default error exit calls it; the worker replaces that exit
    /// (codecs/libjpeg.c), so reaching this is a bug, and a trap.
    #[unsafe(no_mangle)]
    pub extern "C" fn exit(_status: i32) -> ! {
        core::arch::wasm32::unreachable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn by_second_byte(a: *const u8, b: *const u8) -> i32 {
        unsafe { i32::from(*a.add(1)) - i32::from(*b.add(1)) }
    }

    #[test]
    fn sorts_elements_of_any_size_with_a_c_comparator() {
        let mut pairs = [[1u8, 9], [2, 3], [3, 7], [4, 1], [5, 3]];
        unsafe { sort_elements(pairs.as_mut_ptr().cast(), pairs.len(), 2, by_second_byte) };
        let keys: Vec<u8> = pairs.iter().map(|p| p[1]).collect();
        assert_eq!(keys, [1, 3, 3, 7, 9]);
        assert_eq!((pairs[0], pairs[3], pairs[4]), ([4, 1], [3, 7], [1, 9]));
        let mut empty: [u8; 0] = [];
        unsafe { sort_elements(empty.as_mut_ptr(), 0, 4, by_second_byte) };
    }

    unsafe extern "C" {
        /// `edge-fn/libc/format.c`, the worker's `snprintf`, built for the host too.
        fn edge_snprintf(buffer: *mut std::ffi::c_char, size: usize, format: *const std::ffi::c_char, ...) -> i32;
    }

    #[test]
    fn snprintf_formats_what_libjpeg_s_messages_use() {
        let format = |size: usize, run: &dyn Fn(*mut std::ffi::c_char, usize) -> i32| {
            let mut buffer = vec![0x55u8; size.max(1)];
            let length = run(buffer.as_mut_ptr().cast(), size);
            let text = std::ffi::CStr::from_bytes_until_nul(&buffer).map(|t| t.to_string_lossy().into_owned());
            (length, text.unwrap_or_default())
        };
        let (n, text) = format(200, &|b, s| unsafe {
            edge_snprintf(
                b,
                s,
                c"Unsupported marker type 0x%02x; %d (%u) %4u|%3d|%c %s %x %ld %q%%".as_ptr(),
                0xdau32,
                -42i32,
                7u32,
                12u32,
                -5i32,
                b'Q' as i32,
                c"JPEG".as_ptr(),
                0xbeefu32,
                -1_234_567i64 as std::ffi::c_long,
            )
        });
        assert_eq!(text, "Unsupported marker type 0xda; -42 (7)   12| -5|Q JPEG beef -1234567 %q%");
        assert_eq!(n as usize, text.len());
        // Cut to the buffer, always terminated, and the full length returned.
        let (n, text) = format(8, &|b, s| unsafe { edge_snprintf(b, s, c"%s and more".as_ptr(), c"abcdef".as_ptr()) });
        assert_eq!((n, text.as_str()), (15, "abcdef "));
        let (n, text) = format(0, &|b, s| unsafe { edge_snprintf(b, s, c"%d".as_ptr(), 5i32) });
        assert_eq!(n, 1);
        assert_eq!(text, "");
    }
}
