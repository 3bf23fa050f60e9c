//! `HashRing`: classic consistent hashing with virtual nodes.
//!
//! Node `name` with weight `w` gets `max(1, round(vnodes * w))` points, point `j` at
//! `hash("{name}-{j}")`. A key goes to the owner of the first point `>= hash(key)`, wrapping.
//! Equal points are ordered by node name (bytes), so the ring depends only on the node set.

use super::continuum::{Continuum, Points, MAX_POINTS};
use super::nodes::{Error, NodeSet};
use super::util::{check_points, check_vnodes, point_count, total_points};
use super::{check_n, distinct_prefix, fill_segments, shifted, Placement};
use crate::hash;
use crate::keys::{KeyRef, Keys};
use crate::text::quoted;

/// The hash a ring places points and keys with (names as in `shardwise.hashing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingHash {
    Xxh3_64,
    Xxh64,
    Murmur3_32,
    Fnv1a32,
    Fnv1a64,
    Crc32,
    Ketama,
}

impl RingHash {
    pub const ALL: [RingHash; 7] = [
        RingHash::Xxh3_64,
        RingHash::Xxh64,
        RingHash::Murmur3_32,
        RingHash::Fnv1a32,
        RingHash::Fnv1a64,
        RingHash::Crc32,
        RingHash::Ketama,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RingHash::Xxh3_64 => "xxh3_64",
            RingHash::Xxh64 => "xxh64",
            RingHash::Murmur3_32 => "murmur3_32",
            RingHash::Fnv1a32 => "fnv1a_32",
            RingHash::Fnv1a64 => "fnv1a_64",
            RingHash::Crc32 => "crc32",
            RingHash::Ketama => "ketama",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|h| h.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|h| h.name()).collect();
                Error::Config(format!(
                    "unknown hash {}; choose one of {}",
                    quoted(name),
                    names.join(", ")
                ))
            })
    }

    /// Bits of the hash value (32 or 64).
    pub fn width(self) -> u32 {
        match self {
            RingHash::Xxh3_64 | RingHash::Xxh64 | RingHash::Fnv1a64 => 64,
            _ => 32,
        }
    }

    #[inline(always)]
    pub fn hash(self, data: &[u8]) -> u64 {
        match self {
            RingHash::Xxh3_64 => hash::xxh3_64(data, 0),
            RingHash::Xxh64 => hash::xxh64(data, 0),
            RingHash::Murmur3_32 => u64::from(hash::murmur3_32(data, 0)),
            RingHash::Fnv1a32 => u64::from(hash::fnv1a_32(data)),
            RingHash::Fnv1a64 => hash::fnv1a_64(data),
            RingHash::Crc32 => u64::from(hash::crc32(data)),
            RingHash::Ketama => u64::from(hash::ketama(data)),
        }
    }
}

/// A consistent hash ring with weighted virtual nodes.
#[derive(Clone, Debug)]
pub struct HashRing {
    nodes: NodeSet,
    vnodes: u32,
    hash: RingHash,
    ring: Continuum,
}

impl HashRing {
    pub fn new(nodes: NodeSet, vnodes: u32, hash: RingHash) -> Result<Self, Error> {
        check_vnodes(vnodes)?;
        total_points(vnodes, nodes.weights())?;
        let mut offsets = Vec::with_capacity(nodes.len() + 1);
        offsets.push(0usize);
        for &w in nodes.weights() {
            offsets.push(offsets[offsets.len() - 1] + point_count(vnodes, w) as usize);
        }
        let mut points: Vec<u64> = crate::mem::try_zeroed_vec(offsets[nodes.len()])?;
        fill_segments(&mut points, &offsets, |i, out| {
            node_points_into(nodes.name(i as u32), hash, out);
        });
        let points = Points::Grouped {
            points,
            ends: offsets[1..].to_vec(),
        };
        let ring = Continuum::try_build(points, hash.width(), |a, b| {
            nodes.name(a).cmp(nodes.name(b))
        })?;
        Ok(HashRing {
            nodes,
            vnodes,
            hash,
            ring,
        })
    }

    pub fn vnodes(&self) -> u32 {
        self.vnodes
    }

    pub fn hash(&self) -> RingHash {
        self.hash
    }

    /// The ring: (point, owner index) in order.
    pub fn continuum(&self) -> &Continuum {
        &self.ring
    }

    #[inline]
    pub fn key_hash(&self, key: KeyRef<'_>) -> u64 {
        key.with_bytes(|b| self.hash.hash(b))
    }

    /// `ring` with node `i`'s points merged in (`ring` must not hold them yet).
    fn merged(&self, ring: &Continuum, i: u32) -> Result<Continuum, Error> {
        let nodes = &self.nodes;
        let order = |a: &(u64, u32), b: &(u64, u32)| {
            a.0.cmp(&b.0)
                .then_with(|| nodes.name(a.1).cmp(nodes.name(b.1)))
        };
        let mut new = node_points(nodes, self.vnodes, self.hash, i)?;
        new.sort_unstable_by(order);
        let mut merged = Vec::new();
        merged.try_reserve_exact(ring.len() + new.len())?;
        let mut a = ring.pairs().peekable();
        let mut b = new.into_iter().peekable();
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => order(x, y).is_le(),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            merged.push(if take_a { a.next() } else { b.next() }.expect("peeked"));
        }
        Continuum::try_from_sorted(merged, self.hash.width())
    }

    /// The ring without node `i`'s points; indices after `i` shift down when `shift`.
    fn without(&self, i: u32, shift: bool) -> Result<Continuum, Error> {
        let mut kept = Vec::new();
        kept.try_reserve_exact(self.ring.len())?;
        kept.extend(
            self.ring
                .pairs()
                .filter(|&(_, o)| o != i)
                .map(|(p, o)| (p, if shift { shifted(o, i) } else { o })),
        );
        Continuum::try_from_sorted(kept, self.hash.width())
    }

    fn check_growth(&self, extra: f64) -> Result<(), Error> {
        check_points(self.ring.len() as f64 + extra)
    }
}

fn node_points(
    nodes: &NodeSet,
    vnodes: u32,
    hash: RingHash,
    i: u32,
) -> Result<Vec<(u64, u32)>, Error> {
    let mut points: Vec<u64> =
        crate::mem::try_zeroed_vec(point_count(vnodes, nodes.weight(i)) as usize)?;
    node_points_into(nodes.name(i), hash, &mut points);
    let mut pairs = Vec::new();
    pairs.try_reserve_exact(points.len())?;
    pairs.extend(points.into_iter().map(|p| (p, i)));
    Ok(pairs)
}

/// Fill `out` with a node's points: `hash("{name}-{j}")` for `j` in `0..out.len()`.
/// Labels are written a batch at a time and hashed afterwards, and the counter lives in a
/// register: hashing bytes just stored piecemeal would stall on store-to-load forwarding.
fn node_points_into(name: &str, hash: RingHash, out: &mut [u64]) {
    const BATCH: usize = 16;
    /// Labels of names up to 55 bytes fit on the stack (no allocation per node).
    const ON_STACK: usize = 64 * BATCH;
    let stem = name.len() + 1;
    let stride = stem + 8;
    let mut stack = [0u8; ON_STACK];
    let mut heap = Vec::new();
    let labels: &mut [u8] = if stride * BATCH <= ON_STACK {
        &mut stack[..stride * BATCH]
    } else {
        heap.resize(stride * BATCH, 0);
        &mut heap
    };
    for slot in labels.chunks_mut(stride) {
        slot[..name.len()].copy_from_slice(name.as_bytes());
        slot[name.len()] = b'-';
    }
    let mut j = Decimal::ZERO;
    let mut ends = [0usize; BATCH];
    for block in out.chunks_mut(BATCH) {
        for (slot, end) in labels.chunks_mut(stride).zip(&mut ends).take(block.len()) {
            slot[stem..].copy_from_slice(&j.digits.to_le_bytes());
            *end = stem + j.len;
            j = j.next();
        }
        for ((point, slot), &end) in block.iter_mut().zip(labels.chunks(stride)).zip(&ends) {
            *point = hash.hash(&slot[..end]);
        }
    }
}

// Every point index has at most 8 decimal digits, the capacity of [`Decimal`].
const _: () = assert!(MAX_POINTS < 100_000_000);

/// A counter below 10^8 as ASCII digits packed in a u64 (first digit in the lowest byte, so
/// its little-endian bytes spell the number), `len` digits long.
#[derive(Clone, Copy)]
struct Decimal {
    digits: u64,
    len: usize,
}

impl Decimal {
    const ZERO: Decimal = Decimal {
        digits: b'0' as u64,
        len: 1,
    };

    /// The next number (carrying through nines; 9...9 grows by a digit).
    fn next(self) -> Decimal {
        let Decimal { mut digits, len } = self;
        for k in (0..len).rev() {
            let shift = 8 * k as u32;
            if (digits >> shift) & 0xff == u64::from(b'9') {
                digits -= 9 << shift; // '9' -> '0', carry on
            } else {
                return Decimal {
                    digits: digits + (1 << shift),
                    len,
                };
            }
        }
        debug_assert!(len < 8, "Decimal holds at most 8 digits");
        Decimal {
            digits: (digits << 8) | u64::from(b'1'),
            len: len + 1,
        }
    }
}

/// Owner of every key on a non-empty ring, with the per-key hash `f` inlined into the loop.
fn place_with<F: Fn(KeyRef<'_>) -> u64 + Sync>(
    ring: &Continuum,
    keys: Keys<'_>,
    out: &mut [i32],
    f: F,
) {
    ring.place_hashed(out, false, |first, hashes| {
        keys.for_each_in(
            first,
            hashes.len(),
            #[inline(always)]
            |j, k| hashes[j] = f(k),
        );
    })
}

/// A byte hash as a key hash (int keys hashed as their 8 little-endian bytes).
#[inline(always)]
fn by_bytes(f: impl Fn(&[u8]) -> u64) -> impl Fn(KeyRef<'_>) -> u64 {
    move |k| k.with_bytes(&f)
}

impl HashRing {
    /// [`Placement::place`] with the ring's hash applied key by key.
    fn place_each(&self, keys: Keys<'_>, hash: RingHash, out: &mut [i32]) {
        let r = &self.ring;
        match hash {
            RingHash::Xxh3_64 => place_with(
                r,
                keys,
                out,
                #[inline(always)]
                |k| match k {
                    KeyRef::Int(v) => hash::xxh3_64_u64(v, 0),
                    KeyRef::Bytes(b) => hash::xxh3_64(b, 0),
                },
            ),
            RingHash::Xxh64 => place_with(r, keys, out, by_bytes(|b| hash::xxh64(b, 0))),
            RingHash::Murmur3_32 => place_with(
                r,
                keys,
                out,
                by_bytes(|b| u64::from(hash::murmur3_32(b, 0))),
            ),
            RingHash::Fnv1a32 => {
                place_with(r, keys, out, by_bytes(|b| u64::from(hash::fnv1a_32(b))))
            }
            RingHash::Fnv1a64 => place_with(r, keys, out, by_bytes(hash::fnv1a_64)),
            RingHash::Crc32 => place_with(r, keys, out, by_bytes(|b| u64::from(hash::crc32(b)))),
            RingHash::Ketama => place_with(r, keys, out, by_bytes(|b| u64::from(hash::ketama(b)))),
        }
    }
}

impl Placement for HashRing {
    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes() + self.ring.memory_bytes()
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        self.ring.owner(self.key_hash(key), false)
    }

    /// One pass per hash function, so the hash is inlined into the loop.
    fn place_into(&self, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
        if self.nodes.is_empty() {
            return Err(Error::NoNodes);
        }
        assert_eq!(keys.len(), out.len(), "place_into: output length differs");
        match (self.hash, keys) {
            // Int keys: whole blocks through the (vectorised) XXH3 kernel.
            (RingHash::Xxh3_64, Keys::Ints(ints)) => {
                self.ring.place_hashed(out, false, |first, hashes| {
                    hash::xxh3_64_u64_into(&ints[first..first + hashes.len()], hashes, 0);
                });
            }
            (hash, keys) => self.place_each(keys, hash, out),
        }
        Ok(())
    }

    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        let h = self.key_hash(key);
        Ok(distinct_prefix(
            self.nodes.len(),
            n,
            self.ring.walk(h, false),
        ))
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.check_new(name, weight)?;
        self.check_growth(point_count(self.vnodes, weight) as f64)?;
        let i = self.nodes.push(name.to_owned(), weight)?;
        match self.merged(&self.ring, i) {
            Ok(ring) => self.ring = ring,
            Err(e) => {
                self.nodes.remove(name)?;
                return Err(e);
            }
        }
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        let i = self.nodes.require(name)?;
        self.ring = self.without(i, true)?;
        self.nodes.remove(name)?;
        Ok(())
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        let i = self.nodes.require(name)?;
        super::nodes::check_weight(name, weight)?;
        let old_weight = self.nodes.weight(i);
        let old = point_count(self.vnodes, old_weight) as f64;
        self.check_growth(point_count(self.vnodes, weight) as f64 - old)?;
        let kept = self.without(i, false)?;
        self.nodes.set_weight(name, weight)?;
        match self.merged(&kept, i) {
            Ok(ring) => self.ring = ring,
            Err(e) => {
                self.nodes.set_weight(name, old_weight)?;
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::util::push_decimal;

    fn ring(names: &[&str]) -> HashRing {
        let nodes = NodeSet::new(names.iter().map(|n| (*n, 1.0))).unwrap();
        HashRing::new(nodes, 160, RingHash::Xxh3_64).unwrap()
    }

    #[test]
    fn lookup_is_first_point_at_or_after_key() {
        let r = ring(&["a", "b", "c"]);
        for k in 0u64..2000 {
            let h = hash::xxh3_64(&k.to_le_bytes(), 0);
            let pts = r.continuum().points();
            let pos = pts.iter().position(|&p| p >= h).unwrap_or(0);
            assert_eq!(r.locate(KeyRef::Int(k)), Some(r.continuum().owners()[pos]));
        }
    }

    #[test]
    fn incremental_equals_rebuilt() {
        let mut r = ring(&["a", "b"]);
        r.add_node("c", 2.5).unwrap();
        r.add_node("d", 1.0).unwrap();
        r.remove_node("a").unwrap();
        r.set_weight("d", 0.25).unwrap();
        let nodes = NodeSet::new([("b", 1.0), ("c", 2.5), ("d", 0.25)]).unwrap();
        let fresh = HashRing::new(nodes, 160, RingHash::Xxh3_64).unwrap();
        assert_eq!(r.continuum(), fresh.continuum());
    }

    #[test]
    fn replicas_distinct_and_first_is_owner() {
        let r = ring(&["a", "b", "c", "d"]);
        for k in 0u64..500 {
            let got = r.locate_n(KeyRef::Int(k), 4).unwrap();
            let mut sorted = got.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 4);
            assert_eq!(Some(got[0]), r.locate(KeyRef::Int(k)));
        }
        assert!(r.locate_n(KeyRef::Int(1), 5).is_err());
    }

    #[test]
    fn refuses_absurd_sizes_and_empty_lookups() {
        let nodes = NodeSet::new([("a", 1e12)]).unwrap();
        assert!(HashRing::new(nodes, 160, RingHash::Xxh3_64).is_err());
        let empty = HashRing::new(NodeSet::default(), 160, RingHash::Xxh3_64).unwrap();
        assert_eq!(empty.locate(KeyRef::Int(1)), None);
        assert!(HashRing::new(NodeSet::default(), 0, RingHash::Xxh3_64).is_err());
        let mut r = ring(&["a"]);
        assert!(r.add_node("b", 1e12).is_err());
        assert!(r.set_weight("a", 1e12).is_err());
        assert!(RingHash::from_name("sha1").is_err());
    }

    #[test]
    fn parallel_build_equals_serial() {
        let names: Vec<String> = (0..300).map(|i| format!("n{i}")).collect();
        let nodes = NodeSet::new(names.iter().map(|n| (n.as_str(), 1.5))).unwrap();
        let r = HashRing::new(nodes.clone(), 160, RingHash::Xxh3_64).unwrap();
        let mut pairs = Vec::new();
        for i in 0..nodes.len() as u32 {
            pairs.extend(node_points(&nodes, 160, RingHash::Xxh3_64, i).unwrap());
        }
        pairs.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| nodes.name(a.1).cmp(nodes.name(b.1)))
        });
        assert_eq!(r.continuum().pairs().collect::<Vec<_>>(), pairs);
    }

    #[test]
    fn decimal() {
        let mut v = Vec::new();
        let mut counter = Decimal::ZERO;
        for j in (0..=1_000_001u64).chain([9_999_999]) {
            if j == 9_999_999 {
                counter = Decimal {
                    digits: u64::from_le_bytes(*b"9999999\0"),
                    len: 7,
                };
            }
            let mut want = Vec::new();
            push_decimal(&mut want, j);
            assert_eq!(&counter.digits.to_le_bytes()[..counter.len], &want[..]);
            counter = counter.next();
        }
        assert_eq!(&counter.digits.to_le_bytes(), b"10000000");
        push_decimal(&mut v, 0);
        v.push(b' ');
        push_decimal(&mut v, 18_446_744_073_709_551_615);
        assert_eq!(v, b"0 18446744073709551615");
    }
}
