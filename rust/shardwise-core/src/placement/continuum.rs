//! A sorted circle of hash points, each owned by a node, with an O(1) bucket index over it.
//! Shared by [`super::HashRing`] and [`super::KetamaRing`].

use std::cmp::Ordering;

/// Most points a ring may hold (about 400 MB); larger requests are refused before allocating.
pub const MAX_POINTS: usize = 1 << 25;

/// Points sorted by hash (ties ordered by the builder's rule), and a bucket index: bucket `b`
/// covers hashes whose top bits (of a `width`-bit hash) equal `b`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Continuum {
    points: Vec<u64>,
    owners: Vec<u32>,
    starts: Vec<u32>,
    shift: u32,
}

impl Continuum {
    /// Build from unsorted `(hash, owner)` pairs; `tie` orders owners of equal hashes.
    pub fn build(
        mut pairs: Vec<(u64, u32)>,
        width: u32,
        tie: impl Fn(u32, u32) -> Ordering,
    ) -> Self {
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| tie(a.1, b.1)));
        Self::from_sorted(pairs, width)
    }

    /// Build from pairs already sorted by the ring's order.
    pub fn from_sorted(pairs: Vec<(u64, u32)>, width: u32) -> Self {
        let (points, owners): (Vec<u64>, Vec<u32>) = pairs.into_iter().unzip();
        let mut c = Continuum {
            points,
            owners,
            starts: Vec::new(),
            shift: 0,
        };
        c.index(width);
        c
    }

    fn index(&mut self, width: u32) {
        let n = self.points.len();
        let bits = (usize::BITS - n.leading_zeros()).clamp(1, 24).min(width);
        self.shift = width - bits;
        let buckets = 1usize << bits;
        let mut starts = vec![0u32; buckets + 1];
        let mut i = 0usize;
        for (b, slot) in starts.iter_mut().enumerate() {
            while i < n && ((self.points[i] >> self.shift) as usize) < b {
                i += 1;
            }
            *slot = i as u32;
        }
        starts[buckets] = n as u32;
        self.starts = starts;
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub fn points(&self) -> &[u64] {
        &self.points
    }

    pub fn owners(&self) -> &[u32] {
        &self.owners
    }

    /// Position of the first point `>= h` (or `> h` when `strict`), wrapping to 0.
    #[inline]
    pub fn position(&self, h: u64, strict: bool) -> usize {
        let b = (h >> self.shift) as usize;
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        let slice = &self.points[lo..hi];
        let off = if strict {
            slice.partition_point(|&p| p <= h)
        } else {
            slice.partition_point(|&p| p < h)
        };
        let pos = lo + off;
        if pos == self.points.len() {
            0
        } else {
            pos
        }
    }

    /// Owner of the first point `>= h` (or `> h` when `strict`); `None` on an empty ring.
    #[inline]
    pub fn owner(&self, h: u64, strict: bool) -> Option<u32> {
        if self.points.is_empty() {
            return None;
        }
        Some(self.owners[self.position(h, strict)])
    }

    /// Owners clockwise from the position of `h`, once around the ring.
    pub fn walk(&self, h: u64, strict: bool) -> impl Iterator<Item = u32> + '_ {
        let start = if self.points.is_empty() {
            0
        } else {
            self.position(h, strict)
        };
        self.owners[start..]
            .iter()
            .chain(&self.owners[..start])
            .copied()
    }

    /// The pairs in ring order.
    pub fn pairs(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.points.iter().copied().zip(self.owners.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_matches_linear_search() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pairs: Vec<(u64, u32)> = (0..1000).map(|i| (next(), i % 7)).collect();
        let c = Continuum::build(pairs, 64, |a, b| a.cmp(&b));
        for _ in 0..10_000 {
            let h = next();
            let want = c.points().iter().position(|&p| p >= h).unwrap_or(0);
            assert_eq!(c.position(h, false), want);
            let want = c.points().iter().position(|&p| p > h).unwrap_or(0);
            assert_eq!(c.position(h, true), want);
        }
        for &p in c.points() {
            assert_eq!(c.points()[c.position(p, false)], p);
        }
    }
}
