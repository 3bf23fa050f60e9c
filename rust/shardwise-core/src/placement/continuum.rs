//! A sorted circle of hash points, each owned by a node, with an O(1) bucket index over it.
//! Shared by [`super::HashRing`] and [`super::KetamaRing`].
//!
//! Lookup: bucket `h >> shift` (4 to 8 buckets per point) either holds no point — then every
//! hash in it has the same owner, stored in the bucket (most lookups: one memory access) — or
//! the index of its first point; a branch-free scan of [`SCAN`] entries from there finds the
//! first point `>= h` (or `> h`), with a binary search only for a crowded bucket. Entries end
//! with padding owned by the first owner, so running off the end wraps without a branch.

use std::cmp::Ordering;

/// Hint the CPU to fetch `item`'s cache line; never faults, a no-op off x86-64.
#[inline(always)]
fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache; the pointer comes from a live reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (item as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

/// Most points a ring may hold (16.7M: about 256 MB of points, twice that while building);
/// larger requests are refused before allocating.
pub const MAX_POINTS: usize = 1 << 24;
/// Points scanned without branching in one bucket.
const SCAN: usize = 4;
/// Largest bucket index size (bits).
const MAX_BUCKET_BITS: u32 = 22;
/// Bucket flag: the rest of the word is the owner of every hash in this (point-free) bucket.
const DIRECT: u32 = 1 << 31;

/// One point of the circle with its owner, side by side so a lookup touches one cache line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    point: u64,
    owner: u32,
}

/// Points sorted by hash (ties ordered by the builder's rule) and a bucket index: bucket `b`
/// covers hashes whose top bits (of a `width`-bit hash) equal `b`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Continuum {
    /// Sorted entries, then `SCAN` padding entries (point `u64::MAX`, owner = the first owner,
    /// so that running past the last point wraps to the first owner).
    entries: Vec<Entry>,
    /// Per bucket: `DIRECT | owner`, or the index of the bucket's first entry.
    table: Vec<u32>,
    shift: u32,
    len: usize,
}

fn bucket_bits(n: usize, width: u32) -> u32 {
    (usize::BITS - n.leading_zeros() + 2)
        .clamp(1, MAX_BUCKET_BITS)
        .min(width)
}

impl Continuum {
    /// Build from unsorted `(hash, owner)` pairs; `tie` orders owners of equal hashes.
    /// One radix pass on the top bits (into cache-sized buckets), then each bucket is sorted,
    /// buckets split over threads for large rings.
    pub fn build(
        pairs: Vec<(u64, u32)>,
        width: u32,
        tie: impl Fn(u32, u32) -> Ordering + Sync,
    ) -> Self {
        let n = pairs.len();
        let bits = (usize::BITS - n.leading_zeros())
            .saturating_sub(9)
            .clamp(1, 12)
            .min(width);
        let shift = width - bits;
        let buckets = 1usize << bits;
        let mut offsets = vec![0usize; buckets + 1];
        for &(p, _) in &pairs {
            offsets[(p >> shift) as usize + 1] += 1;
        }
        for b in 0..buckets {
            offsets[b + 1] += offsets[b];
        }
        let mut next = offsets.clone();
        let mut sorted = vec![(0u64, 0u32); n];
        for pair in pairs {
            let b = (pair.0 >> shift) as usize;
            sorted[next[b]] = pair;
            next[b] += 1;
        }
        let order = |a: &(u64, u32), b: &(u64, u32)| a.0.cmp(&b.0).then_with(|| tie(a.1, b.1));
        super::fill_segments(&mut sorted, &offsets, |_, segment| {
            segment.sort_unstable_by(order);
        });
        Self::from_sorted(sorted, width)
    }

    /// Build from pairs already sorted by the ring's order.
    pub fn from_sorted(pairs: Vec<(u64, u32)>, width: u32) -> Self {
        let len = pairs.len();
        let mut entries = Vec::with_capacity(len + SCAN);
        entries.extend(
            pairs
                .into_iter()
                .map(|(point, owner)| Entry { point, owner }),
        );
        let first = entries.first().map_or(0, |e| e.owner);
        entries.extend(
            [Entry {
                point: u64::MAX,
                owner: first,
            }; SCAN],
        );
        let shift = width - bucket_bits(len, width);
        let buckets = 1usize << (width - shift);
        let mut table = vec![0u32; buckets];
        let mut i = 0usize;
        for (b, slot) in table.iter_mut().enumerate() {
            while i < len && ((entries[i].point >> shift) as usize) < b {
                i += 1;
            }
            *slot = if i < len && (entries[i].point >> shift) as usize == b {
                i as u32
            } else {
                DIRECT | entries[i].owner
            };
        }
        Continuum {
            entries,
            table,
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

    /// The points in ring order (a copy, for inspection).
    pub fn points(&self) -> Vec<u64> {
        self.entries[..self.len].iter().map(|e| e.point).collect()
    }

    /// The owners of the points in ring order (a copy, for inspection).
    pub fn owners(&self) -> Vec<u32> {
        self.entries[..self.len].iter().map(|e| e.owner).collect()
    }

    /// Index of the first point `>= h` (`> h` when `STRICT`); `len` or more past the last point.
    #[inline(always)]
    fn scan<const STRICT: bool>(&self, lo: usize, h: u64) -> usize {
        let below = |e: &Entry| if STRICT { e.point <= h } else { e.point < h };
        // Points of later buckets are above h, so counting stops by itself at the bucket's end.
        let before: usize = self.entries[lo..lo + SCAN]
            .iter()
            .map(|e| usize::from(below(e)))
            .sum();
        if before < SCAN {
            return lo + before;
        }
        let from = (lo + SCAN).min(self.len);
        from + self.entries[from..self.len].partition_point(below)
    }

    #[inline(always)]
    fn raw_position<const STRICT: bool>(&self, h: u64) -> usize {
        let word = self.table[(h >> self.shift) as usize];
        if word & DIRECT != 0 {
            // No point in this bucket: the answer is the first point of a later bucket.
            return self.next_after_bucket(h);
        }
        self.scan::<STRICT>(word as usize, h)
    }

    /// Index of the first point in a bucket after `h`'s (point-free) bucket, or `len`.
    fn next_after_bucket(&self, h: u64) -> usize {
        let b = h >> self.shift;
        self.entries[..self.len].partition_point(|e| (e.point >> self.shift) <= b)
    }

    /// Position of the first point `>= h` (or `> h` when `strict`), wrapping to 0.
    pub fn position(&self, h: u64, strict: bool) -> usize {
        let pos = if strict {
            self.raw_position::<true>(h)
        } else {
            self.raw_position::<false>(h)
        };
        if pos >= self.len {
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
        Some(if strict {
            self.owner_of::<true>(h)
        } else {
            self.owner_of::<false>(h)
        })
    }

    /// Owner of the first point `>= h` (`> h` when `STRICT`); the ring must not be empty.
    /// Branch-free on the common paths, so that lookups of many keys overlap their memory
    /// accesses: a point-free bucket scans the (cached) padding instead of branching away.
    #[inline(always)]
    pub fn owner_of<const STRICT: bool>(&self, h: u64) -> u32 {
        let word = self.table[(h >> self.shift) as usize];
        let direct = (word >> 31) as usize; // 1 for a point-free bucket
        let keep = direct.wrapping_sub(1); // all ones when the bucket has points
        let lo = (word as usize & keep) | (self.len & !keep);
        let window = &self.entries[lo..lo + SCAN];
        let before: usize = window
            .iter()
            .map(|e| usize::from(if STRICT { e.point <= h } else { e.point < h }))
            .sum();
        let pos = if before == SCAN && direct == 0 {
            self.scan::<STRICT>(lo, h)
        } else {
            lo + before
        };
        let found = self.entries[pos.min(self.len)].owner;
        let keep = keep as u32;
        (found & keep) | (word & !DIRECT & !keep)
    }

    /// `out[i]` = owner of the first point `>= hashes[i]`, for a non-empty ring. Memory is
    /// prefetched a few keys ahead (bucket word, then its entries), so that the two dependent
    /// cache misses of one key overlap with those of the keys after it.
    pub fn owners_into(&self, hashes: &[u64], out: &mut [i32]) {
        const AHEAD: usize = 16;
        const HALF: usize = AHEAD / 2;
        for (i, (slot, &h)) in out.iter_mut().zip(hashes).enumerate() {
            if let Some(&next) = hashes.get(i + AHEAD) {
                prefetch(&self.table[(next >> self.shift) as usize]);
            }
            if let Some(&soon) = hashes.get(i + HALF) {
                let word = self.table[(soon >> self.shift) as usize];
                prefetch(&self.entries[((word & !DIRECT) as usize).min(self.len)]);
            }
            *slot = self.owner_of::<false>(h) as i32;
        }
    }

    /// Owners clockwise from the position of `h`, once around the ring.
    pub fn walk(&self, h: u64, strict: bool) -> impl Iterator<Item = u32> + '_ {
        let start = if self.len == 0 {
            0
        } else {
            self.position(h, strict)
        };
        let entries = &self.entries[..self.len];
        entries[start..]
            .iter()
            .chain(&entries[..start])
            .map(|e| e.owner)
    }

    /// The pairs in ring order.
    pub fn pairs(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.entries[..self.len].iter().map(|e| (e.point, e.owner))
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
    fn prefetching_bulk_lookup_equals_one_by_one() {
        let mut next = xorshift(0x0bad_cafe_f00d_d00d);
        for n in [1usize, 3, 160, 16_000] {
            let pairs: Vec<(u64, u32)> = (0..n).map(|i| (next(), (i % 11) as u32)).collect();
            let c = Continuum::build(pairs, 64, |a, b| a.cmp(&b));
            let hashes: Vec<u64> = (0..2_000).map(|_| next()).chain([0, u64::MAX]).collect();
            let mut out = vec![0i32; hashes.len()];
            c.owners_into(&hashes, &mut out);
            for (&h, &o) in hashes.iter().zip(&out) {
                assert_eq!(Some(o as u32), c.owner(h, false));
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
