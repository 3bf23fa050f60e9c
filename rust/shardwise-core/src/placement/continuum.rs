//! A sorted circle of hash points, each owned by a node, with an O(1) bucket index over it.
//! Shared by [`super::HashRing`] and [`super::KetamaRing`].
//!
//! Lookup: bucket `h >> shift` gives the range of points sharing those top bits (about half a
//! point per bucket); a branch-free scan of up to [`SCAN`] points finds the first point `>= h`
//! (or `> h`), with a binary search only for the rare crowded bucket. `owners` has one extra
//! entry (a copy of the first owner) so that running off the end wraps without a branch.

use std::cmp::Ordering;

/// Most points a ring may hold (about 400 MB); larger requests are refused before allocating.
pub const MAX_POINTS: usize = 1 << 25;
/// Points scanned without branching in one bucket.
const SCAN: usize = 4;
/// Largest bucket index size (bits).
const MAX_BUCKET_BITS: u32 = 23;

/// Points sorted by hash (ties ordered by the builder's rule) and a bucket index: bucket `b`
/// covers hashes whose top bits (of a `width`-bit hash) equal `b`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Continuum {
    /// Sorted points, then `SCAN` padding entries of `u64::MAX`.
    points: Vec<u64>,
    /// Owners of the points, then a copy of the first owner.
    owners: Vec<u32>,
    starts: Vec<u32>,
    shift: u32,
    len: usize,
}

fn bucket_bits(n: usize, width: u32) -> u32 {
    (usize::BITS - n.leading_zeros() + 1)
        .clamp(1, MAX_BUCKET_BITS)
        .min(width)
}

impl Continuum {
    /// Build from unsorted `(hash, owner)` pairs; `tie` orders owners of equal hashes.
    /// Uniform hashes sort in linear time (bucket sort on the top bits).
    pub fn build(pairs: Vec<(u64, u32)>, width: u32, tie: impl Fn(u32, u32) -> Ordering) -> Self {
        let n = pairs.len();
        let shift = width - bucket_bits(n, width);
        let buckets = 1usize << (width - shift);
        let mut starts = vec![0u32; buckets + 1];
        for &(p, _) in &pairs {
            starts[(p >> shift) as usize + 1] += 1;
        }
        for b in 0..buckets {
            starts[b + 1] += starts[b];
        }
        let mut next = starts.clone();
        let mut sorted = vec![(0u64, 0u32); n];
        for pair in pairs {
            let b = (pair.0 >> shift) as usize;
            sorted[next[b] as usize] = pair;
            next[b] += 1;
        }
        let order = |a: &(u64, u32), b: &(u64, u32)| a.0.cmp(&b.0).then_with(|| tie(a.1, b.1));
        for b in 0..buckets {
            let (lo, hi) = (starts[b] as usize, starts[b + 1] as usize);
            if hi - lo > 1 {
                sorted[lo..hi].sort_unstable_by(order);
            }
        }
        Self::from_sorted(sorted, width)
    }

    /// Build from pairs already sorted by the ring's order.
    pub fn from_sorted(pairs: Vec<(u64, u32)>, width: u32) -> Self {
        let len = pairs.len();
        let mut points = Vec::with_capacity(len + SCAN);
        let mut owners = Vec::with_capacity(len + 1);
        for (p, o) in pairs {
            points.push(p);
            owners.push(o);
        }
        points.extend([u64::MAX; SCAN]);
        if let Some(&first) = owners.first() {
            owners.push(first);
        }
        let shift = width - bucket_bits(len, width);
        let buckets = 1usize << (width - shift);
        let mut starts = vec![0u32; buckets + 1];
        let mut i = 0usize;
        for (b, slot) in starts.iter_mut().enumerate() {
            while i < len && ((points[i] >> shift) as usize) < b {
                i += 1;
            }
            *slot = i as u32;
        }
        starts[buckets] = len as u32;
        Continuum {
            points,
            owners,
            starts,
            shift,
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn points(&self) -> &[u64] {
        &self.points[..self.len]
    }

    pub fn owners(&self) -> &[u32] {
        &self.owners[..self.len]
    }

    /// Index of the first point `>= h` (`> h` when `STRICT`), or `len` past the last point.
    #[inline(always)]
    fn raw_position<const STRICT: bool>(&self, h: u64) -> usize {
        let b = (h >> self.shift) as usize;
        let lo = self.starts[b] as usize;
        let hi = self.starts[b + 1] as usize;
        let count = hi - lo;
        if count <= SCAN {
            let window = &self.points[lo..lo + SCAN];
            let mut before = 0usize;
            for (i, &p) in window.iter().enumerate() {
                let below = if STRICT { p <= h } else { p < h };
                before += usize::from((i < count) & below);
            }
            lo + before
        } else {
            let slice = &self.points[lo..hi];
            lo + if STRICT {
                slice.partition_point(|&p| p <= h)
            } else {
                slice.partition_point(|&p| p < h)
            }
        }
    }

    /// Position of the first point `>= h` (or `> h` when `strict`), wrapping to 0.
    #[inline]
    pub fn position(&self, h: u64, strict: bool) -> usize {
        let pos = if strict {
            self.raw_position::<true>(h)
        } else {
            self.raw_position::<false>(h)
        };
        if pos == self.len {
            0
        } else {
            pos
        }
    }

    /// Owner of the first point `>= h` (or `> h` when `strict`); `None` on an empty ring.
    #[inline]
    pub fn owner(&self, h: u64, strict: bool) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let pos = if strict {
            self.raw_position::<true>(h)
        } else {
            self.raw_position::<false>(h)
        };
        Some(self.owners[pos])
    }

    /// Owners clockwise from the position of `h`, once around the ring.
    pub fn walk(&self, h: u64, strict: bool) -> impl Iterator<Item = u32> + '_ {
        let start = if self.len == 0 {
            0
        } else {
            self.position(h, strict)
        };
        let owners = self.owners();
        owners[start..].iter().chain(&owners[..start]).copied()
    }

    /// The pairs in ring order.
    pub fn pairs(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.points()
            .iter()
            .copied()
            .zip(self.owners().iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn position_matches_linear_search() {
        let mut next = xorshift(0x1234_5678_9abc_def0);
        for n in [1usize, 2, 5, 1000] {
            let mut pairs: Vec<(u64, u32)> = (0..n).map(|i| (next(), (i % 7) as u32)).collect();
            // crowded buckets and exact duplicates too
            let base = pairs[0].0;
            pairs.extend((0..20).map(|i| (base.wrapping_add(i / 2), 3)));
            let c = Continuum::build(pairs.clone(), 64, |a, b| a.cmp(&b));
            let mut sorted = pairs;
            sorted.sort_unstable();
            assert_eq!(c.pairs().collect::<Vec<_>>(), sorted);
            let probes: Vec<u64> = (0..5000)
                .map(|_| next())
                .chain(
                    c.points()
                        .iter()
                        .flat_map(|&p| [p, p.wrapping_sub(1), p.wrapping_add(1)]),
                )
                .chain([0, u64::MAX])
                .collect();
            for h in probes {
                let want = c.points().iter().position(|&p| p >= h).unwrap_or(0);
                assert_eq!(c.position(h, false), want);
                assert_eq!(c.owner(h, false), Some(c.owners()[want]));
                let want = c.points().iter().position(|&p| p > h).unwrap_or(0);
                assert_eq!(c.position(h, true), want);
                assert_eq!(c.owner(h, true), Some(c.owners()[want]));
            }
        }
    }

    #[test]
    fn narrow_hashes_and_empty() {
        let pairs: Vec<(u64, u32)> = (0..300u64)
            .map(|i| ((i * 2_654_435_761) & 0xffff_ffff, 0))
            .collect();
        let c = Continuum::build(pairs, 32, |a, b| a.cmp(&b));
        for h in [0u64, 5, 0xffff_ffff, 123_456_789] {
            let want = c.points().iter().position(|&p| p >= h).unwrap_or(0);
            assert_eq!(c.position(h, false), want);
        }
        let empty = Continuum::build(Vec::new(), 64, |a, b| a.cmp(&b));
        assert_eq!(empty.owner(7, false), None);
        assert_eq!(empty.walk(7, false).count(), 0);
    }
}
