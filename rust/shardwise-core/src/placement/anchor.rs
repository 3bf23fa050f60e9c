//! `AnchorHash`: Mendelson, Vargaftik, Barabash, Lorenz, Keslassy & Orda's AnchorHash
//! ("AnchorHash: A Scalable Consistent Hash", 2020): a fixed capacity of buckets (the anchor),
//! any bucket removable, a removed bucket's keys spread over the working ones and nothing else
//! moves; adding takes back the last removed bucket.
//!
//! Key step: every key goes through XXH3-64 of its encoded bytes (ints: 8 bytes
//! little-endian), and the algorithm takes the low 32 bits. From there, bit for bit the
//! `anchorhash` crate (its `fastmod` range map and FNV-1a rehash, the default features; tested):
//! bucket `b = (k * capacity) >> 32`; while `A[b] > 0` (b removed), rehash into the working
//! set as it was when `b` was removed, `h = (fnv1a64(seed k, b as 4 LE bytes) as u32 *
//! A[b]) >> 32`, and follow `K` while `A[h] >= A[b]`.

use super::blocks::{for_each_hash_block, KeyHash, KEY_BLOCK};
use super::nodes::{Error, NodeSet};
use super::slots::{self, Slots};
use super::util::check_unit_weight;
use super::{check_n, Placement};
use crate::keys::{KeyRef, Keys};

/// `v` scaled into `[0, range)` by multiply-shift.
#[inline(always)]
fn range_map(v: u32, range: u32) -> u32 {
    ((u64::from(v) * u64::from(range)) >> 32) as u32
}

const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over the 4 little-endian bytes of `value`, starting from `seed` (not the FNV offset
/// basis), truncated to 32 bits.
#[inline(always)]
fn seeded_fnv(value: u32, seed: u32) -> u32 {
    let mut h = u64::from(seed);
    for byte in value.to_le_bytes() {
        h = (h ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
    }
    h as u32
}

/// The bucket-level AnchorHash state (the paper's arrays `A`, `K`, `W`, `L` and `N`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// 0 for a working bucket; else the working count right after it was removed.
    a: Vec<u32>,
    /// For a removed bucket, the bucket that took its place in `W`.
    k: Vec<u32>,
    /// The working buckets in positions `0..n`.
    w: Vec<u32>,
    /// The position of each working bucket in `W`.
    l: Vec<u32>,
    n: u32,
}

impl Anchor {
    /// Every bucket of `capacity` working.
    pub fn full(capacity: u32) -> Result<Self, Error> {
        let ids = || -> Result<Vec<u32>, Error> {
            let mut v = crate::error::try_vec(capacity as usize, 0u32)?;
            for (i, x) in v.iter_mut().enumerate() {
                *x = i as u32;
            }
            Ok(v)
        };
        Ok(Anchor {
            a: crate::error::try_vec(capacity as usize, 0u32)?,
            k: ids()?,
            w: ids()?,
            l: ids()?,
            n: capacity,
        })
    }

    pub fn capacity(&self) -> u32 {
        self.a.len() as u32
    }

    /// How many buckets work.
    pub fn working(&self) -> u32 {
        self.n
    }

    /// The bucket of a key's 32-bit hash (needs a working bucket).
    #[inline]
    pub fn bucket(&self, key: u32) -> u32 {
        bucket_in(self, key)
    }

    /// Remove working bucket `b`.
    pub fn remove(&mut self, b: u32) {
        debug_assert_eq!(self.a[b as usize], 0, "bucket already removed");
        remove_in(self, b);
    }

    /// Bring back `b`, which must be the most recently removed bucket (undoes its removal).
    pub fn restore(&mut self, b: u32) {
        let n = self.n as usize;
        self.a[b as usize] = 0;
        self.l[self.w[n] as usize] = self.n;
        self.w[self.l[b as usize] as usize] = b;
        self.k[b as usize] = b;
        self.n += 1;
    }
}

/// The paper's arrays, read and written: the engine itself, or removals overlaid on it.
trait Arrays {
    fn capacity(&self) -> u32;
    fn get(&self, array: Array, i: u32) -> u32;
    fn set(&mut self, array: Array, i: u32, value: u32);
    fn working(&self) -> u32;
    fn set_working(&mut self, n: u32);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Array {
    A,
    K,
    W,
    L,
}

impl Anchor {
    #[inline(always)]
    fn array(&self, array: Array) -> &Vec<u32> {
        match array {
            Array::A => &self.a,
            Array::K => &self.k,
            Array::W => &self.w,
            Array::L => &self.l,
        }
    }
}

impl Arrays for Anchor {
    #[inline(always)]
    fn capacity(&self) -> u32 {
        self.a.len() as u32
    }
    #[inline(always)]
    fn get(&self, array: Array, i: u32) -> u32 {
        self.array(array)[i as usize]
    }
    #[inline(always)]
    fn set(&mut self, array: Array, i: u32, value: u32) {
        let v = match array {
            Array::A => &mut self.a,
            Array::K => &mut self.k,
            Array::W => &mut self.w,
            Array::L => &mut self.l,
        };
        v[i as usize] = value;
    }
    fn working(&self) -> u32 {
        self.n
    }
    fn set_working(&mut self, n: u32) {
        self.n = n;
    }
}

/// Removals overlaid on an engine, without copying it (replicas of one key).
struct Overlay<'a> {
    base: &'a Anchor,
    changed: std::collections::HashMap<(Array, u32), u32>,
    n: u32,
}

impl Arrays for Overlay<'_> {
    fn capacity(&self) -> u32 {
        self.base.capacity()
    }
    fn get(&self, array: Array, i: u32) -> u32 {
        match self.changed.get(&(array, i)) {
            Some(&v) => v,
            None => self.base.get(array, i),
        }
    }
    fn set(&mut self, array: Array, i: u32, value: u32) {
        self.changed.insert((array, i), value);
    }
    fn working(&self) -> u32 {
        self.n
    }
    fn set_working(&mut self, n: u32) {
        self.n = n;
    }
}

/// The paper's GetBucket: the bucket of a key's 32-bit hash (needs a working bucket).
#[inline(always)]
fn bucket_in(arrays: &impl Arrays, key: u32) -> u32 {
    let mut b = range_map(key, arrays.capacity());
    loop {
        let ab = arrays.get(Array::A, b);
        if ab == 0 {
            return b;
        }
        let mut h = range_map(seeded_fnv(b, key), ab);
        while arrays.get(Array::A, h) >= ab {
            h = arrays.get(Array::K, h);
        }
        b = h;
    }
}

/// The paper's RemoveBucket.
fn remove_in(arrays: &mut impl Arrays, b: u32) {
    let n = arrays.working() - 1;
    arrays.set_working(n);
    arrays.set(Array::A, b, n);
    let last = arrays.get(Array::W, n);
    let lb = arrays.get(Array::L, b);
    arrays.set(Array::W, lb, last);
    arrays.set(Array::K, b, last);
    arrays.set(Array::L, last, lb);
}

/// The 32 bits of a key AnchorHash works on: the low half of its XXH3-64.
#[inline(always)]
pub fn anchor_key(hash: u64) -> u32 {
    hash as u32
}

/// AnchorHash over named nodes: node `i` holds a bucket; any node can be removed (its keys
/// spread over the others, nothing else moves) and up to `capacity` nodes held.
#[derive(Clone, Debug, PartialEq)]
pub struct AnchorHash {
    nodes: NodeSet,
    engine: Anchor,
    slots: Slots,
}

const CLASS: &str = "AnchorHash";

impl AnchorHash {
    /// Nodes take buckets `0..len` of `capacity`.
    pub fn new(nodes: NodeSet, capacity: u32) -> Result<Self, Error> {
        let slots = Slots::new(CLASS, nodes.len(), capacity)?;
        Self::from_slots(nodes, slots)
    }

    /// Rebuild from saved parts: the bucket of each node (index order) and the removed buckets
    /// in removal order (the first is removed first; added nodes take them back from the end).
    pub fn from_parts(
        nodes: NodeSet,
        capacity: u32,
        slots: Vec<u32>,
        removed: Vec<u32>,
    ) -> Result<Self, Error> {
        Self::from_slots(nodes, Slots::from_parts(CLASS, capacity, slots, removed)?)
    }

    fn from_slots(nodes: NodeSet, slots: Slots) -> Result<Self, Error> {
        for (name, &w) in nodes.names().iter().zip(nodes.weights()) {
            check_unit_weight(CLASS, name, w)?;
        }
        let mut engine = Anchor::full(slots.capacity())?;
        for &b in slots.free() {
            engine.remove(b);
        }
        Ok(AnchorHash {
            nodes,
            engine,
            slots,
        })
    }

    pub fn capacity(&self) -> u32 {
        self.slots.capacity()
    }

    /// The bucket of each node, in index order.
    pub fn slots(&self) -> &[u32] {
        self.slots.slots()
    }

    /// The removed buckets, in removal order.
    pub fn removed(&self) -> &[u32] {
        self.slots.free()
    }

    pub fn engine(&self) -> &Anchor {
        &self.engine
    }

    #[inline(always)]
    fn owner(&self, hash: u64) -> u32 {
        self.slots.node_at()[self.engine.bucket(anchor_key(hash)) as usize]
    }
}

impl Placement for AnchorHash {
    fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes() + 16 * self.engine.a.len() + self.slots.memory_bytes()
    }

    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        (!self.nodes.is_empty()).then(|| self.owner(KeyHash::Xxh3.of(key)))
    }

    /// The `j`-th node is where the key goes once the first `j` are removed (the removals
    /// overlaid on the engine: no copy of it).
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        let k = anchor_key(KeyHash::Xxh3.of(key));
        let mut engine = Overlay {
            base: &self.engine,
            changed: std::collections::HashMap::new(),
            n: self.engine.working(),
        };
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let b = bucket_in(&engine, k);
            out.push(self.slots.node_at()[b as usize]);
            remove_in(&mut engine, b);
        }
        Ok(out)
    }

    /// Bulk: keys hashed a block at a time (XXH3 of int keys vectorised), then looked up.
    fn place_into(&self, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
        if self.nodes.is_empty() {
            return Err(Error::NoNodes);
        }
        let capacity = self.engine.capacity();
        let a = &self.engine.a;
        let node_at = self.slots.node_at();
        for_each_hash_block(keys, KeyHash::Xxh3, out, |hashes, block_out| {
            let mut first = [0u32; KEY_BLOCK];
            for (f, &h) in first.iter_mut().zip(hashes) {
                *f = range_map(anchor_key(h), capacity);
            }
            for ((o, &h), &b) in block_out.iter_mut().zip(hashes).zip(&first) {
                let b = if a[b as usize] == 0 {
                    b
                } else {
                    self.engine.bucket(anchor_key(h))
                };
                *o = node_at[b as usize] as i32;
            }
        });
        Ok(())
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.check_new(name, weight)?;
        check_unit_weight(CLASS, name, weight)?;
        let b = self
            .slots
            .next_free()
            .ok_or_else(|| slots::full(CLASS, self.capacity()))?;
        let index = self.nodes.push(name.to_owned(), weight)?;
        self.slots.take(CLASS, index)?;
        self.engine.restore(b);
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        let i = self.nodes.remove(name)?;
        let b = self.slots.release(i);
        self.engine.remove(b);
        Ok(())
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.require(name)?;
        check_unit_weight(CLASS, name, weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::murmur_fmix64;
    use std::hash::{BuildHasher, Hasher};

    /// Hands a `u64` key to the crate unchanged (the crate then takes its low 32 bits).
    #[derive(Clone, Default)]
    struct Identity(u64);

    impl Hasher for Identity {
        fn write(&mut self, _: &[u8]) {
            unreachable!("only u64 keys")
        }
        fn write_u64(&mut self, v: u64) {
            self.0 = v;
        }
        fn finish(&self) -> u64 {
            self.0
        }
    }

    #[derive(Clone, Default)]
    struct IdentityBuild;

    impl BuildHasher for IdentityBuild {
        type Hasher = Identity;
        fn build_hasher(&self) -> Identity {
            Identity::default()
        }
    }

    fn keys(count: u64) -> Vec<u64> {
        (0..count).map(|i| murmur_fmix64(i + 77)).collect()
    }

    fn names(count: usize) -> NodeSet {
        NodeSet::new((0..count).map(|i| (format!("n{i}"), 1.0))).unwrap()
    }

    /// The same removals and additions on the crate and on ours: every key's node agrees.
    #[test]
    fn equals_the_anchorhash_crate() {
        let capacity = 200u16;
        let mut oracle: anchorhash::AnchorHash<u64, u32, IdentityBuild> =
            anchorhash::Builder::with_hasher(IdentityBuild)
                .with_resources(0..150u32)
                .build(capacity);
        let mut ours = AnchorHash::new(names(150), u32::from(capacity)).unwrap();
        let ks = keys(20_000);
        let check = |ours: &AnchorHash,
                     oracle: &anchorhash::AnchorHash<u64, u32, IdentityBuild>| {
            for &k in &ks {
                let want = *oracle.get_resource(k).unwrap();
                let got = ours.nodes().name(ours.owner_of_hash(k));
                assert_eq!(got, format!("n{want}"), "key {k:#x}");
            }
        };
        check(&ours, &oracle);
        let mut x = 5u64;
        let mut next_name = 150u32;
        for step in 0..120 {
            x = murmur_fmix64(x + step);
            let alive = ours.nodes().len();
            if !x.is_multiple_of(3) && alive > 1 {
                let victim = ours.nodes().names()[(x >> 8) as usize % alive].clone();
                ours.remove_node(&victim).unwrap();
                oracle
                    .remove_resource(&victim[1..].parse::<u32>().unwrap())
                    .unwrap();
            } else if alive < usize::from(capacity) {
                ours.add_node(&format!("n{next_name}"), 1.0).unwrap();
                oracle.add_resource(next_name).unwrap();
                next_name += 1;
            }
            if step % 20 == 0 {
                check(&ours, &oracle);
            }
        }
        check(&ours, &oracle);
    }

    impl AnchorHash {
        fn owner_of_hash(&self, hash: u64) -> u32 {
            self.owner(hash)
        }
    }

    #[test]
    fn removal_moves_only_the_removed_nodes_keys_and_restore_undoes_it() {
        let mut p = AnchorHash::new(names(30), 64).unwrap();
        let ks: Vec<u64> = keys(30_000);
        let owners = |p: &AnchorHash| -> Vec<String> {
            ks.iter()
                .map(|&k| p.nodes().name(p.owner(k)).to_owned())
                .collect()
        };
        let before = owners(&p);
        let snapshot = p.clone();
        p.remove_node("n7").unwrap();
        let after = owners(&p);
        let mut spread = std::collections::HashSet::new();
        for (b, a) in before.iter().zip(&after) {
            if b == "n7" {
                spread.insert(a.clone());
            } else {
                assert_eq!(a, b);
            }
        }
        assert!(spread.len() >= 25, "the removed node's keys spread out");
        p.add_node("n7", 1.0).unwrap();
        assert_eq!(
            p.nodes().names().last().unwrap(),
            "n7",
            "added nodes go last"
        );
        assert_eq!(p.slots().last(), Some(&7), "and take back the freed bucket");
        assert_eq!(p.engine(), snapshot.engine());
        assert_eq!(owners(&p), before);
    }

    #[test]
    fn bulk_equals_one_by_one_and_parts_round_trip() {
        let mut p = AnchorHash::new(names(100), 1000).unwrap();
        for i in (0..100).step_by(9) {
            p.remove_node(&format!("n{i}")).unwrap();
        }
        let ints: Vec<u64> = (0..(crate::par::MIN_ITEMS_PER_THREAD as u64 * 2 + 77)).collect();
        let bulk = p.place(Keys::Ints(&ints)).unwrap();
        assert!(ints
            .iter()
            .zip(&bulk)
            .all(|(&k, &o)| p.locate(KeyRef::Int(k)) == Some(o as u32)));
        let again = AnchorHash::from_parts(
            p.nodes().clone(),
            p.capacity(),
            p.slots().to_vec(),
            p.removed().to_vec(),
        )
        .unwrap();
        assert_eq!(again, p);
        let r = p.locate_n(KeyRef::Int(12), 3).unwrap();
        assert_eq!(r[0], p.locate(KeyRef::Int(12)).unwrap());
        let mut without = p.clone();
        without.remove_node(p.nodes().name(r[0])).unwrap();
        let second = without.locate(KeyRef::Int(12)).unwrap();
        assert_eq!(without.nodes().name(second), p.nodes().name(r[1]));
    }

    #[test]
    fn capacity_limits_and_weights() {
        let mut p = AnchorHash::new(names(2), 3).unwrap();
        p.add_node("x", 1.0).unwrap();
        assert!(matches!(p.add_node("y", 1.0), Err(Error::Config(m)) if m.contains("full")));
        assert!(p.add_node("z", 2.0).is_err());
        assert!(p.set_weight("x", 2.0).is_err());
        assert!(AnchorHash::new(names(4), 3).is_err());
        for name in ["n0", "n1", "x"] {
            p.remove_node(name).unwrap();
        }
        assert_eq!(p.locate(KeyRef::Int(1)), None);
        p.add_node("back", 1.0).unwrap();
        assert_eq!(p.locate(KeyRef::Int(1)), Some(0));
    }
}
