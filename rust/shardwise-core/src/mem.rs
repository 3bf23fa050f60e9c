//! Large zero-filled buffers, backed by transparent huge pages where Linux offers them.
//!
//! A fresh 40 MB output faulted in 4 KB at a time costs more than most bulk kernels that fill
//! it (about 2.5 ns per int32 on the reference machine, 0.6 with 2 MB pages). numpy asks for
//! huge pages for its large arrays in the same way.

use crate::Error;

/// Buffers at least this large (bytes) ask for huge pages.
const HUGE_PAGES_FROM: usize = 4 << 20;

/// Types for which all-zero bytes are a valid value.
///
/// # Safety
/// Implementors must accept the all-zero bit pattern as a value (plain integers, floats and
/// tuples or structs of them).
pub unsafe trait Zeroable: Copy {}

macro_rules! zeroable {
    ($($t:ty),*) => { $(unsafe impl Zeroable for $t {})* };
}
zeroable!(
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    f32,
    f64,
    (u64, u32)
);

/// `n` zeros, for sizes the caller has already bounded (aborts if memory runs out, as `vec!`).
pub fn zeroed_vec<T: Zeroable>(n: usize) -> Vec<T> {
    match try_zeroed_vec(n) {
        Ok(v) => v,
        Err(_) => match std::alloc::Layout::array::<T>(n) {
            Ok(layout) => std::alloc::handle_alloc_error(layout),
            Err(_) => panic!("buffer of {n} items overflows isize"),
        },
    }
}

/// `n` zeros, or [`Error::OutOfMemory`] (never an abort) for sizes chosen by the input. Large
/// buffers are allocated untouched and marked for huge pages before the first write faults
/// them in.
pub fn try_zeroed_vec<T: Zeroable>(n: usize) -> Result<Vec<T>, Error> {
    let bytes = n.saturating_mul(std::mem::size_of::<T>());
    if bytes < HUGE_PAGES_FROM {
        // SAFETY: T is Zeroable, so all-zero bytes are a valid T.
        return crate::error::try_vec(n, unsafe { std::mem::zeroed::<T>() });
    }
    let layout = std::alloc::Layout::array::<T>(n).map_err(|_| Error::out_of_memory::<T>(n))?;
    // SAFETY: the layout has a non-zero size (bytes >= HUGE_PAGES_FROM).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(Error::out_of_memory::<T>(n));
    }
    advise_huge_pages(ptr.cast::<u8>(), bytes);
    // SAFETY: ptr comes from the global allocator with the layout of [T; n], all n elements
    // are initialised (zero bytes are a valid T), and the capacity equals that layout.
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// A hint to load the cache line at `p` into every cache level; never faults, whatever the
/// address (so `wrapping_add` past the end of a slice is fine).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing and never faults.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut u8, bytes: usize) {
    const PAGE: usize = 4096;
    let start = (ptr as usize).next_multiple_of(PAGE);
    let end = (ptr as usize + bytes) & !(PAGE - 1);
    if end > start {
        // SAFETY: [start, end) lies inside the allocation just made; MADV_HUGEPAGE is only
        // advice (it never changes contents), and a refusal (old kernel, THP off) is harmless.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_ptr: *mut u8, _bytes: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_small_and_large() {
        for n in [0usize, 1, 1000, HUGE_PAGES_FROM / 4 + 3] {
            let mut v: Vec<u32> = zeroed_vec(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0));
            v.iter_mut().enumerate().for_each(|(i, x)| *x = i as u32);
            assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
            v.push(7); // the allocation behaves as any Vec's
            assert_eq!(v[n], 7);
        }
        let pairs: Vec<(u64, u32)> = zeroed_vec(HUGE_PAGES_FROM / 16 + 1);
        assert!(pairs.iter().all(|&p| p == (0, 0)));
        assert!(matches!(
            try_zeroed_vec::<u64>(usize::MAX / 4),
            Err(Error::OutOfMemory(_))
        ));
        assert!(matches!(
            try_zeroed_vec::<u64>(1 << 50),
            Err(Error::OutOfMemory(_))
        ));
    }
}
