//! Building a [`Continuum`] from unsorted points: a parallel radix pass on the top bits, then
//! each bucket sorted on its own.

use std::cmp::Ordering;

use super::{Continuum, Entry, SCAN};
use crate::mem::try_zeroed_vec;
use crate::Error;

/// Unsorted points with their owners, as [`Continuum::build`] takes them.
pub enum Points {
    /// `(point, owner)` pairs, in any order.
    Pairs(Vec<(u64, u32)>),
    /// Points grouped by owner: owner `i` has `points[ends[i - 1]..ends[i]]` (half the memory of
    /// pairs, which matters for a build of millions of points).
    Grouped { points: Vec<u64>, ends: Vec<usize> },
}

impl Points {
    fn len(&self) -> usize {
        match self {
            Points::Pairs(p) => p.len(),
            Points::Grouped { points, .. } => points.len(),
        }
    }

    /// The largest owner (0 when empty).
    fn top_owner(&self) -> u32 {
        match self {
            Points::Pairs(p) => p.iter().map(|&(_, o)| o).max().unwrap_or(0),
            Points::Grouped { ends, .. } => ends.len().saturating_sub(1) as u32,
        }
    }

    /// `f(point, owner)` for the points at positions `range`, in order.
    #[inline(always)]
    fn for_each(&self, range: std::ops::Range<usize>, mut f: impl FnMut(u64, u32)) {
        match self {
            Points::Pairs(p) => p[range].iter().for_each(|&(h, o)| f(h, o)),
            Points::Grouped { points, ends } => {
                let mut start = range.start;
                let mut owner = ends.partition_point(|&e| e <= start);
                while start < range.end {
                    let end = ends[owner].min(range.end);
                    points[start..end].iter().for_each(|&h| f(h, owner as u32));
                    start = end;
                    owner += 1;
                }
            }
        }
    }
}

impl Continuum {
    /// Build from unsorted points with owners; `tie` orders owners of equal hashes.
    /// A radix pass on the top bits into at most 2048 buckets (few enough that the scatter's
    /// writes stay in cache), then each bucket is sorted on its own (see `sort_bucket`),
    /// buckets split over threads for large rings.
    pub fn build(points: Points, width: u32, tie: impl Fn(u32, u32) -> Ordering + Sync) -> Self {
        Self::try_build(points, width, tie).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Continuum::build`], or [`Error::OutOfMemory`] when the ring's buffers cannot be had.
    pub fn try_build(
        points: Points,
        width: u32,
        tie: impl Fn(u32, u32) -> Ordering + Sync,
    ) -> Result<Self, Error> {
        let n = points.len();
        let top_owner = points.top_owner();
        let bits = (usize::BITS - n.leading_zeros())
            .saturating_sub(6)
            .clamp(1, 11)
            .min(width);
        let shift = width - bits;
        let mut entries: Vec<Entry> = try_zeroed_vec(n + SCAN)?;
        let offsets = radix_scatter(&points, &mut entries[..n], shift, 1usize << bits);
        drop(points);
        let before = |a: &Entry, b: &Entry| match a.point.cmp(&b.point) {
            Ordering::Equal => tie(a.owner, b.owner) == Ordering::Less,
            o => o == Ordering::Less,
        };
        crate::placement::fill_segments(&mut entries[..n], &offsets, |_, bucket| {
            sort_bucket(bucket, shift, &before);
        });
        Self::from_entries(entries, n, width, top_owner)
    }
}

/// Scatter the points into `out` by bucket (`point >> shift`, below `buckets`), keeping their
/// order within a bucket; returns the bucket offsets in `out` (`buckets + 1` of them). In
/// parallel for large inputs: each thread counts and scatters its own range of the points into
/// the slices of `out` reserved for it in every bucket.
fn radix_scatter(points: &Points, out: &mut [Entry], shift: u32, buckets: usize) -> Vec<usize> {
    let n = points.len();
    let bucket_of = |p: u64| (p >> shift) as usize;
    let chunk = n.div_ceil(crate::par::threads_for(n)).max(1);
    let ranges: Vec<std::ops::Range<usize>> = (0..n.div_ceil(chunk).max(1))
        .map(|t| t * chunk..((t + 1) * chunk).min(n))
        .collect();
    let count = |range: std::ops::Range<usize>| {
        let mut counts = vec![0usize; buckets];
        points.for_each(range, |p, _| counts[bucket_of(p)] += 1);
        counts
    };
    let counts: Vec<Vec<usize>> = if ranges.len() == 1 {
        vec![count(0..n)]
    } else {
        std::thread::scope(|s| {
            let jobs: Vec<_> = ranges
                .iter()
                .map(|r| {
                    let r = r.clone();
                    s.spawn(move || count(r))
                })
                .collect();
            jobs.into_iter()
                .map(|j| j.join().expect("radix count thread panicked"))
                .collect()
        })
    };
    // Carve `out` bucket by bucket, thread by thread: parts[t][b] receives thread t's bucket b.
    let mut parts: Vec<Vec<&mut [Entry]>> =
        counts.iter().map(|_| Vec::with_capacity(buckets)).collect();
    let mut offsets = Vec::with_capacity(buckets + 1);
    offsets.push(0usize);
    let mut rest = out;
    for b in 0..buckets {
        for (t, thread_counts) in counts.iter().enumerate() {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(thread_counts[b]);
            parts[t].push(head);
            rest = tail;
        }
        offsets.push(offsets[b] + counts.iter().map(|c| c[b]).sum::<usize>());
    }
    let scatter = |range: std::ops::Range<usize>, mut slices: Vec<&mut [Entry]>| {
        let mut filled = vec![0usize; buckets];
        points.for_each(range, |point, owner| {
            let b = bucket_of(point);
            slices[b][filled[b]] = Entry { point, owner };
            filled[b] += 1;
        });
    };
    if parts.len() == 1 {
        scatter(0..n, parts.pop().expect("one part"));
    } else {
        std::thread::scope(|s| {
            for (range, slices) in ranges.into_iter().zip(parts) {
                s.spawn(move || scatter(range, slices));
            }
        });
    }
    offsets
}

/// Sort one radix bucket whose points share the bits above `shift`: a second counting pass
/// on the next bits (about one point per sub-bucket, through a scratch copy), then insertion
/// sort of each sub-bucket. Small buckets go straight to insertion sort.
fn sort_bucket(bucket: &mut [Entry], shift: u32, before: &impl Fn(&Entry, &Entry) -> bool) {
    let n = bucket.len();
    let bits = (usize::BITS - n.leading_zeros())
        .saturating_sub(3)
        .min(shift);
    if n <= 32 || bits == 0 {
        insertion_sort(bucket, before);
        return;
    }
    let low = shift - bits;
    let mask = (1usize << bits) - 1;
    let sub = |e: &Entry| ((e.point >> low) as usize) & mask;
    let mut offsets = vec![0usize; mask + 2];
    for e in bucket.iter() {
        offsets[sub(e) + 1] += 1;
    }
    for b in 1..offsets.len() {
        offsets[b] += offsets[b - 1];
    }
    let scratch = bucket.to_vec();
    let mut next = offsets.clone();
    for e in scratch {
        let slot = &mut next[sub(&e)];
        bucket[*slot] = e;
        *slot += 1;
    }
    for w in offsets.windows(2) {
        if w[1] - w[0] > 1 {
            insertion_sort(&mut bucket[w[0]..w[1]], before);
        }
    }
}

/// Insertion sort: quick for the handful of entries a sub-bucket holds; falls back to the
/// library sort for a crowded one (many equal or clustered hashes).
fn insertion_sort(items: &mut [Entry], before: &impl Fn(&Entry, &Entry) -> bool) {
    if items.len() > 64 {
        items.sort_unstable_by(|a, b| {
            if before(a, b) {
                Ordering::Less
            } else if before(b, a) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
        return;
    }
    for i in 1..items.len() {
        let item = items[i];
        let mut j = i;
        while j > 0 && before(&item, &items[j - 1]) {
            items[j] = items[j - 1];
            j -= 1;
        }
        items[j] = item;
    }
}
