//! Parallel fill over scoped threads.
//!
//! No thread pool outlives a call, so the library stays safe to use after `os.fork()`.
//! The thread count is process-wide: 0 means "all cores".

use std::sync::atomic::{AtomicUsize, Ordering};

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Below this many items work stays on the calling thread: spawning costs more than it saves.
pub const MIN_ITEMS_PER_THREAD: usize = 1 << 15;

/// Most threads bulk work may use (larger requests are capped here, refused by the bindings).
pub const MAX_THREADS: usize = 1024;

/// Set the number of threads bulk work may use; 0 restores the default (all cores).
pub fn set_num_threads(n: usize) {
    THREADS.store(n.min(MAX_THREADS), Ordering::Relaxed);
}

/// The number of threads bulk work will use.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// How many threads a job of `items` items gets.
pub fn threads_for(items: usize) -> usize {
    num_threads().min(items / MIN_ITEMS_PER_THREAD).max(1)
}

/// `out[i] = f(i)` for every `i`, split over threads when `out` is large.
pub fn fill<T, F>(out: &mut [T], f: F)
where
    T: Send,
    F: Fn(usize) -> T + Sync,
{
    let threads = threads_for(out.len());
    if threads <= 1 {
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = f(i);
        }
        return;
    }
    let chunk = out.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        for (c, part) in out.chunks_mut(chunk).enumerate() {
            s.spawn(move || {
                let base = c * chunk;
                for (j, slot) in part.iter_mut().enumerate() {
                    *slot = f(base + j);
                }
            });
        }
    });
}

/// `f(start, part)` over consecutive parts of `out` (`part` begins at index `start`), one part
/// per thread when `out` is large (else one call with everything). For blocked kernels.
pub fn fill_parts<T, F>(out: &mut [T], f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync,
{
    let threads = threads_for(out.len());
    if threads <= 1 {
        f(0, out);
        return;
    }
    let chunk = out.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        for (c, part) in out.chunks_mut(chunk).enumerate() {
            s.spawn(move || f(c * chunk, part));
        }
    });
}

/// `out[i] = f(&input[i])` for every `i`, split over threads when `out` is large.
/// Walks both slices in step (no index arithmetic), which lets simple `f`s vectorise.
///
/// # Panics
/// If `input` and `out` differ in length (a programming error).
pub fn map_slice<A, T, F>(input: &[A], out: &mut [T], f: F)
where
    A: Sync,
    T: Send,
    F: Fn(&A) -> T + Sync,
{
    map_chunks(input, out, |src, dst| {
        for (slot, item) in dst.iter_mut().zip(src) {
            *slot = f(item);
        }
    });
}

/// `f(input_part, out_part)` over matching parts of the two slices, one part per thread when
/// `out` is large (else one call with everything). For kernels that process a whole slice.
///
/// # Panics
/// If `input` and `out` differ in length (a programming error).
pub fn map_chunks<A, T, F>(input: &[A], out: &mut [T], f: F)
where
    A: Sync,
    T: Send,
    F: Fn(&[A], &mut [T]) + Sync,
{
    assert_eq!(
        input.len(),
        out.len(),
        "map_chunks: input and output lengths differ"
    );
    let threads = threads_for(out.len());
    if threads <= 1 {
        f(input, out);
        return;
    }
    let chunk = out.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        for (src, dst) in input.chunks(chunk).zip(out.chunks_mut(chunk)) {
            s.spawn(move || f(src, dst));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_matches_serial_for_every_size() {
        for n in [0usize, 1, 7, MIN_ITEMS_PER_THREAD * 3 + 5] {
            let mut out = vec![0u64; n];
            fill(&mut out, |i| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            assert!(out
                .iter()
                .enumerate()
                .all(|(i, &v)| v == (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        }
    }

    #[test]
    fn map_slice_matches_serial_for_every_size() {
        for n in [0usize, 1, 7, MIN_ITEMS_PER_THREAD * 3 + 5] {
            let input: Vec<u64> = (0..n as u64).collect();
            let mut out = vec![0u64; n];
            map_slice(&input, &mut out, |&v| v.wrapping_mul(3) ^ 5);
            assert!(out
                .iter()
                .zip(&input)
                .all(|(&o, &v)| o == v.wrapping_mul(3) ^ 5));
        }
    }
}
