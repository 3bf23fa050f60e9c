//! A sorted circle of hash points, each owned by a node, with an O(1) bucket index over it.
//! Shared by [`super::HashRing`], [`super::KetamaRing`] and [`super::MultiProbe`].
//!
//! Lookup: bucket `h >> shift` either holds no point — then every hash in it has the same
//! owner, stored in the bucket (most lookups: one memory access) — or the index of its first
//! point; a scan of `SCAN` entries from there finds the first point `>= h` (or `> h`), with a
//! galloping search past them for a crowded bucket (never beyond the bucket's own points).
//! Entries end with padding owned by the first owner, so running off the end wraps without a
//! branch. The index is sized to the ring: 2 to 4 buckets per point of 4 bytes (16-bit words,
//! twice as many buckets, under 32K points), so at most 16 bytes per point at every size.
//! Bulk lookups go in blocks, in passes that overlap the memory accesses of many keys (see
//! [`Continuum::owners_into`]). Building (a parallel radix sort) is in `build.rs`.

mod build;

pub use build::Points;

use crate::mem::{prefetch, try_zeroed_vec};
use crate::Error;

/// Most points a ring may hold (16.7M: about 256 MB of points, twice that while building);
/// larger requests are refused before allocating.
pub const MAX_POINTS: usize = 1 << 24;
/// Points scanned without branching in one bucket.
const SCAN: usize = 4;
/// Buckets per point of the 16-bit index: `2^(bit length of the point count + 2)`, 4 to 8.
const NARROW_EXTRA_BITS: u32 = 2;
/// Buckets per point of the 32-bit index: `2^(bit length + 1)`, 2 to 4.
const WIDE_EXTRA_BITS: u32 = 1;
/// Rings of at least this many points find the point after an empty bucket by reading the next
/// bucket words (see `raw_position`).
const LOOK_AHEAD_FROM_POINTS: usize = 2048;
/// Keys looked up per block in [`Continuum::owners_into`].
const LOOKUP_BLOCK: usize = 256;
/// Rings whose entries or index take more bytes than this (about a core's L2 cache) are
/// looked up with software prefetches: their accesses miss the cache.
const PREFETCH_FROM_BYTES: usize = 1 << 20;

/// One point of the circle with its owner, side by side so a lookup touches one cache line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    point: u64,
    owner: u32,
}

// SAFETY: two integers (and padding); all-zero bytes are a valid Entry.
unsafe impl crate::mem::Zeroable for Entry {}

/// A bucket word: `DIRECT | owner` for a point-free bucket, else the index of its first entry.
trait Word: Copy + Send + Sync + crate::mem::Zeroable {
    const DIRECT: u32;
    fn get(self) -> u32;
    fn make(v: u32) -> Self;
}

impl Word for u16 {
    const DIRECT: u32 = 1 << 15;
    #[inline(always)]
    fn get(self) -> u32 {
        u32::from(self)
    }
    #[inline(always)]
    fn make(v: u32) -> Self {
        v as u16
    }
}

impl Word for u32 {
    const DIRECT: u32 = 1 << 31;
    #[inline(always)]
    fn get(self) -> u32 {
        self
    }
    #[inline(always)]
    fn make(v: u32) -> Self {
        v
    }
}

/// The bucket index: 16-bit words when every entry index and owner fits in 15 bits.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Table {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl Table {
    fn bytes(&self) -> usize {
        match self {
            Table::Narrow(t) => std::mem::size_of_val(&t[..]),
            Table::Wide(t) => std::mem::size_of_val(&t[..]),
        }
    }
}

/// Points sorted by hash (ties ordered by the builder's rule) and a bucket index: bucket `b`
/// covers hashes whose top bits (of a `width`-bit hash) equal `b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continuum {
    /// Sorted entries, then `SCAN` padding entries (point `u64::MAX`, owner = the first owner,
    /// so that running past the last point wraps to the first owner).
    entries: Vec<Entry>,
    table: Table,
    shift: u32,
    len: usize,
    /// Whether bulk lookups prefetch (the ring does not fit in a core's cache).
    large: bool,
}

impl Default for Continuum {
    /// The empty ring.
    fn default() -> Self {
        Continuum::from_sorted(Vec::new(), 64)
    }
}

impl Continuum {
    /// Build from pairs already sorted by the ring's order (aborts if memory runs out: for
    /// sizes already bounded; see [`Continuum::try_from_sorted`]).
    pub fn from_sorted(pairs: Vec<(u64, u32)>, width: u32) -> Self {
        Self::try_from_sorted(pairs, width).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Build from pairs already sorted by the ring's order, or [`Error::OutOfMemory`].
    pub fn try_from_sorted(pairs: Vec<(u64, u32)>, width: u32) -> Result<Self, Error> {
        let len = pairs.len();
        let top_owner = pairs.iter().map(|&(_, o)| o).max().unwrap_or(0);
        let mut entries: Vec<Entry> = try_zeroed_vec(len + SCAN)?;
        for (slot, (point, owner)) in entries.iter_mut().zip(pairs) {
            *slot = Entry { point, owner };
        }
        Self::from_entries(entries, len, width, top_owner)
    }

    /// `entries[..len]` sorted, followed by `SCAN` slots for the padding; no owner is above
    /// `top_owner`.
    fn from_entries(
        mut entries: Vec<Entry>,
        len: usize,
        width: u32,
        top_owner: u32,
    ) -> Result<Self, Error> {
        debug_assert_eq!(entries.len(), len + SCAN);
        let first = entries.first().map_or(0, |e| e.owner);
        entries[len..].fill(Entry {
            point: u64::MAX,
            owner: if len == 0 { 0 } else { first },
        });
        let narrow = len + SCAN < u16::DIRECT as usize && top_owner < u16::DIRECT;
        let size_bits = usize::BITS - len.leading_zeros();
        let mut ring = Continuum {
            entries,
            table: Table::Narrow(Vec::new()),
            shift: 0,
            len,
            large: false,
        };
        ring.table = if narrow {
            let bits = (size_bits + NARROW_EXTRA_BITS).clamp(1, width);
            ring.shift = width - bits;
            Table::Narrow(ring.bucket_table::<u16>(bits)?)
        } else {
            let bits = (size_bits + WIDE_EXTRA_BITS).clamp(1, width);
            ring.shift = width - bits;
            Table::Wide(ring.bucket_table::<u32>(bits)?)
        };
        ring.large = ring.table.bytes().max(ring.entries_bytes()) > PREFETCH_FROM_BYTES;
        Ok(ring)
    }

    /// The bucket words for `2^bits` buckets, filled in parallel for large tables: count the
    /// points of each bucket, then one branch-free pass turns counts into words (a bucket with
    /// points gets the index of its first, a point-free one the owner of the next point).
    fn bucket_table<W: Word>(&self, bits: u32) -> Result<Vec<W>, Error> {
        let mut table: Vec<W> = try_zeroed_vec(1usize << bits)?;
        let (len, shift) = (self.len, self.shift);
        let entries = &self.entries;
        crate::par::fill_parts(&mut table, |first, part| {
            let bucket_of = |e: &Entry| (e.point >> shift) as usize;
            let end = first + part.len();
            let start = entries[..len].partition_point(|e| bucket_of(e) < first);
            let stop = start + entries[start..len].partition_point(|e| bucket_of(e) < end);
            for e in &entries[start..stop] {
                let slot = &mut part[bucket_of(e) - first];
                *slot = W::make(slot.get() + 1);
            }
            let mut i = start;
            for slot in part.iter_mut() {
                let count = slot.get();
                // all ones when the bucket holds points
                let full = u32::from(count > 0).wrapping_neg();
                *slot = W::make((i as u32 & full) | ((W::DIRECT | entries[i].owner) & !full));
                i += count as usize;
            }
        });
        Ok(table)
    }

    /// Bytes of the bucket index (beyond the entries).
    pub fn index_bytes(&self) -> usize {
        self.table.bytes()
    }

    /// Bytes of the entries: 16 per point (point, owner, padding), plus the wrap padding.
    pub fn entries_bytes(&self) -> usize {
        std::mem::size_of_val(&self.entries[..])
    }

    /// Bytes held for lookups: the entries and the bucket index.
    pub fn memory_bytes(&self) -> usize {
        self.entries_bytes() + self.index_bytes()
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

    /// Index of the first point `>= h` (`> h` when `STRICT`) from `lo`, the first point of
    /// `h`'s bucket; `len` or more past the last point.
    #[inline(always)]
    fn scan<const STRICT: bool>(&self, lo: usize, h: u64) -> usize {
        // Points of later buckets are above h, so counting stops by itself at the bucket's end.
        let before: usize = self.entries[lo..lo + SCAN]
            .iter()
            .map(|e| usize::from(below::<STRICT>(e, h)))
            .sum();
        if before < SCAN {
            return lo + before;
        }
        self.gallop::<STRICT>(lo + SCAN, h)
    }

    /// The first index from `from` (every entry before it is below `h`) whose point is not
    /// below `h`, at most `len`: steps doubling from `from`, then a binary search in the last
    /// step, so a crowded bucket costs O(log of its size), never a search of the whole ring.
    #[cold]
    fn gallop<const STRICT: bool>(&self, from: usize, h: u64) -> usize {
        let len = self.len;
        let mut lo = from.min(len);
        let mut step = SCAN;
        loop {
            let probe = lo + step;
            if probe >= len || !below::<STRICT>(&self.entries[probe], h) {
                let end = probe.min(len);
                return lo + self.entries[lo..end].partition_point(|e| below::<STRICT>(e, h));
            }
            lo = probe + 1;
            step *= 2;
        }
    }

    /// The bucket word of `h`, as a u32 with its `DIRECT` flag.
    #[inline(always)]
    fn word(&self, h: u64) -> (u32, u32) {
        self.word_at((h >> self.shift) as usize)
    }

    /// Bucket `b`'s word, as a u32 with its `DIRECT` flag.
    #[inline(always)]
    fn word_at(&self, b: usize) -> (u32, u32) {
        match &self.table {
            Table::Narrow(t) => (t[b].get(), u16::DIRECT),
            Table::Wide(t) => (t[b].get(), u32::DIRECT),
        }
    }

    fn buckets(&self) -> usize {
        match &self.table {
            Table::Narrow(t) => t.len(),
            Table::Wide(t) => t.len(),
        }
    }

    #[inline(always)]
    fn raw_position<const STRICT: bool>(&self, h: u64) -> usize {
        /// Point-free buckets looked past before a binary search.
        const LOOK_AHEAD: usize = 16;
        let (word, direct) = self.word(h);
        if word & direct != 0 {
            // No point in this bucket: the answer is the first point of a later bucket, most
            // often a few words on (2 to 8 buckets per point). On a small ring the binary
            // search (a few steps in L1) is quicker than a loop with an unpredictable exit; on a
            // larger one it is a chain of cache misses.
            let b = (h >> self.shift) as usize;
            if self.len >= LOOK_AHEAD_FROM_POINTS {
                for next in b + 1..(b + 1 + LOOK_AHEAD).min(self.buckets()) {
                    let (word, direct) = self.word_at(next);
                    if word & direct == 0 {
                        return word as usize;
                    }
                }
            }
            let b = b as u64;
            return self.entries[..self.len].partition_point(|e| (e.point >> self.shift) <= b);
        }
        self.scan::<STRICT>(word as usize, h)
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
        let (word, direct) = self.word(h);
        if word & direct != 0 {
            return Some(word & !direct);
        }
        let pos = if strict {
            self.scan::<true>(word as usize, h)
        } else {
            self.scan::<false>(word as usize, h)
        };
        Some(self.entries[pos].owner)
    }

    /// `out[i]` = owner of the first point `>= hashes[i]` (`> hashes[i]` when `strict`), for
    /// a non-empty ring.
    ///
    /// # Panics
    /// If the ring is empty or the slices differ in length (programming errors).
    pub fn owners_into(&self, hashes: &[u64], out: &mut [i32], strict: bool) {
        assert!(self.len > 0, "owners_into: empty ring");
        assert_eq!(hashes.len(), out.len(), "owners_into: lengths differ");
        match (&self.table, strict) {
            (Table::Narrow(t), false) => self.owners_with::<u16, false>(t, hashes, out),
            (Table::Narrow(t), true) => self.owners_with::<u16, true>(t, hashes, out),
            (Table::Wide(t), false) => self.owners_with::<u32, false>(t, hashes, out),
            (Table::Wide(t), true) => self.owners_with::<u32, true>(t, hashes, out),
        }
    }

    /// `out[i]` = the owner of key `i`, `hash_block(first, hashes)` filling the hashes of
    /// keys `first..first + hashes.len()`: blocks of keys are hashed into a small buffer, then
    /// looked up, in parallel for large batches (no full-size array of hashes is made).
    ///
    /// # Panics
    /// If the ring is empty (a programming error).
    pub fn place_hashed(
        &self,
        out: &mut [i32],
        strict: bool,
        hash_block: impl Fn(usize, &mut [u64]) + Sync,
    ) {
        const BLOCK: usize = 1024;
        crate::par::fill_parts(out, |start, part| {
            let mut buffer = [0u64; BLOCK];
            for (b, block) in part.chunks_mut(BLOCK).enumerate() {
                let hashes = &mut buffer[..block.len()];
                hash_block(start + b * BLOCK, hashes);
                self.owners_into(hashes, block, strict);
            }
        });
    }

    /// Passes per block: every key reads its bucket word (independent loads that overlap, no
    /// unpredictable branch) and keeps the owner or the index to scan from; then the keys whose
    /// bucket holds points are scanned. On a ring larger than the cache, the block's bucket
    /// words are prefetched first, and the entries to scan before the scans, so the misses of
    /// all the block's keys overlap instead of following one another.
    fn owners_with<W: Word, const STRICT: bool>(
        &self,
        table: &[W],
        hashes: &[u64],
        out: &mut [i32],
    ) {
        let mut pending = [0u16; LOOKUP_BLOCK];
        for (hs, os) in hashes
            .chunks(LOOKUP_BLOCK)
            .zip(out.chunks_mut(LOOKUP_BLOCK))
        {
            if self.large {
                for &h in hs {
                    prefetch(table.as_ptr().wrapping_add((h >> self.shift) as usize));
                }
            }
            let mut waiting = 0usize;
            for (i, (slot, &h)) in os.iter_mut().zip(hs).enumerate() {
                let word = table[(h >> self.shift) as usize].get();
                *slot = (word & !W::DIRECT) as i32;
                pending[waiting] = i as u16;
                waiting += usize::from(word & W::DIRECT == 0);
            }
            if self.large {
                for &i in &pending[..waiting] {
                    let at = self
                        .entries
                        .as_ptr()
                        .wrapping_add(os[usize::from(i)] as usize);
                    prefetch(at);
                    prefetch(at.wrapping_add(SCAN - 1));
                }
            }
            for &i in &pending[..waiting] {
                let i = usize::from(i);
                let pos = self.scan::<STRICT>(os[i] as usize, hs[i]);
                os[i] = self.entries[pos].owner as i32;
            }
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

    /// A 64-bit circle from `(point, owner)` pairs in any order; equal points are ordered by
    /// owner (aborts if memory runs out; see [`Continuum::try_from_pairs`]).
    pub fn from_pairs(pairs: Vec<(u64, u32)>) -> Self {
        Self::try_from_pairs(pairs).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Continuum::from_pairs`], or [`Error::OutOfMemory`].
    pub fn try_from_pairs(pairs: Vec<(u64, u32)>) -> Result<Self, Error> {
        Continuum::try_build(Points::Pairs(pairs), 64, |a, b| a.cmp(&b))
    }

    /// The point at ring index `i` (`i < len`).
    #[inline(always)]
    pub fn point_at(&self, i: usize) -> u64 {
        self.entries[i].point
    }

    /// The owner of the point at ring index `i` (`i < len`).
    #[inline(always)]
    pub fn owner_at(&self, i: usize) -> u32 {
        self.entries[i].owner
    }

    /// This 64-bit circle without `owner`'s points, owners above it renumbered down by one.
    pub fn without_owner(&self, owner: u32) -> Result<Self, Error> {
        let mut pairs = Vec::new();
        pairs.try_reserve_exact(self.len)?;
        pairs.extend(
            self.pairs()
                .filter(|&(_, o)| o != owner)
                .map(|(p, o)| (p, super::shifted(o, owner))),
        );
        Continuum::try_from_sorted(pairs, 64)
    }

    /// This 64-bit circle with `new` points added.
    pub fn with_points(&self, new: &[(u64, u32)]) -> Result<Self, Error> {
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        pairs.try_reserve_exact(self.len + new.len())?;
        pairs.extend(self.pairs());
        pairs.extend_from_slice(new);
        Continuum::try_from_pairs(pairs)
    }

    /// The pairs in ring order.
    pub fn pairs(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.entries[..self.len].iter().map(|e| (e.point, e.owner))
    }
}

/// Whether entry `e` lies before the answer for `h`: its point is `< h` (`<= h` when `STRICT`).
#[inline(always)]
fn below<const STRICT: bool>(e: &Entry, h: u64) -> bool {
    if STRICT {
        e.point <= h
    } else {
        e.point < h
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
        // (2,048 points and more also look past empty buckets for the next point)
        for n in [1usize, 2, 5, 1000, 5000, 40_000] {
            let mut pairs: Vec<(u64, u32)> = (0..n).map(|i| (next(), (i % 7) as u32)).collect();
            // crowded buckets and exact duplicates too
            let base = pairs[0].0;
            pairs.extend((0..20).map(|i| (base.wrapping_add(i / 2), 3)));
            let c = Continuum::build(Points::Pairs(pairs.clone()), 64, |a, b| a.cmp(&b));
            let mut sorted = pairs;
            sorted.sort_unstable();
            assert_eq!(c.pairs().collect::<Vec<_>>(), sorted);
            let probes: Vec<u64> = (0..5000)
                .map(|_| next())
                .chain(
                    c.points()
                        .iter()
                        .step_by(1 + n / 2000)
                        .flat_map(|&p| [p, p.wrapping_sub(1), p.wrapping_add(1)]),
                )
                .chain([0, u64::MAX])
                .collect();
            let (points, owners) = (c.points(), c.owners());
            let wrap = |i: usize| if i == points.len() { 0 } else { i };
            for h in probes {
                let want = wrap(points.partition_point(|&p| p < h));
                assert_eq!(c.position(h, false), want);
                assert_eq!(c.owner(h, false), Some(owners[want]));
                let want = wrap(points.partition_point(|&p| p <= h));
                assert_eq!(c.position(h, true), want);
                assert_eq!(c.owner(h, true), Some(owners[want]));
            }
        }
    }

    #[test]
    fn bulk_lookup_equals_one_by_one_for_both_index_widths() {
        let mut next = xorshift(0x0bad_cafe_f00d_d00d);
        // (points, owners): narrow index; wide for many points; wide for a large owner
        for (n, owners) in [
            (1usize, 11u32),
            (3, 11),
            (160, 11),
            (16_000, 11),
            (40_000, 11),
            (50, 40_000),
        ] {
            let pairs: Vec<(u64, u32)> = (0..n)
                .map(|i| (next(), (i as u32 * 7919) % owners))
                .collect();
            let c = Continuum::build(Points::Pairs(pairs), 64, |a, b| a.cmp(&b));
            assert_eq!(
                matches!(c.table, Table::Narrow(_)),
                n < 30_000 && owners < 30_000
            );
            let hashes: Vec<u64> = (0..3_000)
                .map(|_| next())
                .chain(
                    c.points()
                        .iter()
                        .take(500)
                        .flat_map(|&p| [p, p.wrapping_add(1)]),
                )
                .chain([0, u64::MAX])
                .collect();
            let mut out = vec![0i32; hashes.len()];
            let (points, owners) = (c.points(), c.owners());
            for strict in [false, true] {
                c.owners_into(&hashes, &mut out, strict);
                for (&h, &o) in hashes.iter().zip(&out) {
                    let pos = points
                        .iter()
                        .position(|&p| if strict { p > h } else { p >= h });
                    assert_eq!(o as u32, owners[pos.unwrap_or(0)]);
                    assert_eq!(Some(o as u32), c.owner(h, strict));
                }
            }
        }
    }

    #[test]
    fn grouped_points_build_the_same_ring_as_pairs() {
        let mut next = xorshift(0x5eed_1234_abcd_0001);
        // owner group sizes, with empty groups; the total exceeds the parallel threshold
        let sizes: Vec<usize> = (0..700)
            .map(|i| if i % 7 == 3 { 0 } else { 80 + i % 50 })
            .collect();
        let mut ends = Vec::new();
        let mut points = Vec::new();
        let mut pairs = Vec::new();
        for (owner, &size) in sizes.iter().enumerate() {
            for _ in 0..size {
                let p = next() >> (owner % 3); // clustered ranges too
                points.push(p);
                pairs.push((p, owner as u32));
            }
            ends.push(points.len());
        }
        pairs.push((pairs[10].0, 699)); // an equal point of another owner: the tie rule decides
        points.push(pairs[10].0);
        *ends.last_mut().unwrap() += 1;
        let tie = |a: u32, b: u32| b.cmp(&a);
        let grouped = Continuum::build(Points::Grouped { points, ends }, 64, tie);
        let from_pairs = Continuum::build(Points::Pairs(pairs.clone()), 64, tie);
        assert_eq!(grouped, from_pairs);
        let mut want = pairs;
        want.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        assert_eq!(grouped.pairs().collect::<Vec<_>>(), want);
    }

    #[test]
    fn crowded_bucket_is_searched_within_itself() {
        let mut next = xorshift(0x0c0f_fee0_dead_beef);
        // 3,000 points within a span of 6,000 (one bucket, or a few), among 20,000 spread ones
        let base = 0x8000_0000_0000_0000u64;
        let mut pairs: Vec<(u64, u32)> = (0..3_000u64).map(|i| (base + 2 * i, 1)).collect();
        pairs.extend((0..20_000).map(|i| (next(), 2 + i % 5)));
        let c = Continuum::from_pairs(pairs);
        let (points, owners) = (c.points(), c.owners());
        let probes: Vec<u64> = (0..6_010u64)
            .map(|d| base - 5 + d)
            .chain([0, u64::MAX])
            .collect();
        let mut out = vec![0i32; probes.len()];
        for strict in [false, true] {
            c.owners_into(&probes, &mut out, strict);
            for (&h, &o) in probes.iter().zip(&out) {
                let want = points.partition_point(|&p| if strict { p <= h } else { p < h });
                let want = if want == points.len() { 0 } else { want };
                assert_eq!(c.position(h, strict), want, "h {h:#x} strict {strict}");
                assert_eq!(o as u32, owners[want]);
            }
        }
    }

    #[test]
    fn index_takes_at_most_16_bytes_per_point() {
        let mut next = xorshift(0x1111_2222_3333_4444);
        for n in [
            1usize, 2, 3, 100, 8_191, 8_192, 16_000, 32_000, 40_000, 300_000,
        ] {
            let pairs: Vec<(u64, u32)> = (0..n).map(|i| (next(), (i % 100) as u32)).collect();
            let c = Continuum::from_pairs(pairs);
            let per_point = c.index_bytes() as f64 / n as f64;
            assert!(per_point <= 16.0, "{n} points: {per_point} bytes per point");
            // and large enough that most buckets hold at most one point
            assert!(per_point >= 4.0, "{n} points: {per_point} bytes per point");
        }
    }

    #[test]
    fn narrow_hashes_and_empty() {
        let pairs: Vec<(u64, u32)> = (0..300u64)
            .map(|i| ((i * 2_654_435_761) & 0xffff_ffff, 0))
            .collect();
        let c = Continuum::build(Points::Pairs(pairs), 32, |a, b| a.cmp(&b));
        for h in [0u64, 5, 0xffff_ffff, 123_456_789] {
            let want = c.points().iter().position(|&p| p >= h).unwrap_or(0);
            assert_eq!(c.position(h, false), want);
        }
        let empty = Continuum::build(Points::Pairs(Vec::new()), 64, |a, b| a.cmp(&b));
        assert_eq!(empty.owner(7, false), None);
        assert_eq!(empty.walk(7, false).count(), 0);
    }
}
