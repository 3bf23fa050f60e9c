//! MementoHash (Coluzzi, Brocco, Antonucci, Leonardi, 2023): jump hash plus a small table of
//! removed buckets, so that any bucket can be removed (not only the last) and removals can be
//! undone in reverse order. Memory is O(removed buckets); with nothing removed a lookup is one
//! jump hash.
//!
//! Model: buckets `0..size` start working. Removing bucket `b` while `w` buckets work records
//! `b → w - 1` (its *replacer*: the working count right after the removal). A key whose jump
//! bucket was removed is rehashed uniformly into `[0, w - 1)`; the bucket at that position at
//! that moment is found by following replacers recorded at or before that time (values
//! `>= w - 1`). So removing a bucket moves only its own keys, spread evenly over the others, and
//! restoring the last removed bucket moves exactly those keys back.

use super::jump::{for_each_key_block, jump as jump_bucket, jump_into, KEY_BLOCK};
use super::nodes::{Error, NodeSet};
use super::util::check_unit_weight;
use super::{check_n, Placement};
use crate::hash::{murmur_fmix64, GOLDEN_GAMMA};
use crate::keys::{KeyRef, Keys};

/// `x` scaled into `[0, range)` without division (Lemire's multiply-shift).
#[inline(always)]
pub fn scale(x: u64, range: u32) -> u32 {
    ((u128::from(x) * u128::from(range)) >> 64) as u32
}

/// The rehash of a key (by its 64-bit hash) out of removed bucket `bucket`.
#[inline(always)]
fn rehash(key_hash: u64, bucket: u32) -> u64 {
    murmur_fmix64(key_hash ^ u64::from(bucket).wrapping_add(1).wrapping_mul(GOLDEN_GAMMA))
}

const EMPTY: u32 = u32::MAX;

/// Open-addressing map bucket → replacer (linear probing, backward-shift deletion).
#[derive(Clone, Debug, Default)]
struct ReplacerTable {
    keys: Vec<u32>,
    values: Vec<u32>,
    len: usize,
}

impl ReplacerTable {
    #[inline(always)]
    fn slot(&self, bucket: u32) -> usize {
        let mask = self.keys.len() - 1;
        (u64::from(bucket).wrapping_mul(GOLDEN_GAMMA) >> 32) as usize & mask
    }

    #[inline(always)]
    fn get(&self, bucket: u32) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let mask = self.keys.len() - 1;
        let mut i = self.slot(bucket);
        loop {
            let k = self.keys[i];
            if k == bucket {
                return Some(self.values[i]);
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    fn insert(&mut self, bucket: u32, replacer: u32) {
        if (self.len + 1) * 2 > self.keys.len() {
            self.grow();
        }
        let mask = self.keys.len() - 1;
        let mut i = self.slot(bucket);
        while self.keys[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.keys[i] = bucket;
        self.values[i] = replacer;
        self.len += 1;
    }

    fn grow(&mut self) {
        let capacity = (self.keys.len() * 2).max(16);
        let old = std::mem::replace(
            self,
            ReplacerTable {
                keys: vec![EMPTY; capacity],
                values: vec![0; capacity],
                len: 0,
            },
        );
        for (k, v) in old.keys.into_iter().zip(old.values) {
            if k != EMPTY {
                self.insert(k, v);
            }
        }
    }

    fn remove(&mut self, bucket: u32) {
        if self.len == 0 {
            return;
        }
        let mask = self.keys.len() - 1;
        let mut i = self.slot(bucket);
        while self.keys[i] != bucket {
            if self.keys[i] == EMPTY {
                return;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift: pull later entries of the probe run into the hole.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while self.keys[j] != EMPTY {
            let home = self.slot(self.keys[j]);
            let distance_home_to_j = j.wrapping_sub(home) & mask;
            let distance_hole_to_j = j.wrapping_sub(hole) & mask;
            if distance_home_to_j >= distance_hole_to_j {
                self.keys[hole] = self.keys[j];
                self.values[hole] = self.values[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.keys[hole] = EMPTY;
        self.len -= 1;
    }
}

/// The bucket-level MementoHash state.
#[derive(Clone, Debug, Default)]
pub struct Memento {
    size: u32,
    removed: Vec<(u32, u32)>,
    table: ReplacerTable,
}

impl PartialEq for Memento {
    fn eq(&self, other: &Self) -> bool {
        self.size == other.size && self.removed == other.removed
    }
}

impl Memento {
    /// `buckets` working buckets `0..buckets`.
    pub fn new(buckets: u32) -> Self {
        Memento {
            size: buckets,
            ..Memento::default()
        }
    }

    /// The jump range: one more than the highest bucket ever kept.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// How many buckets currently work.
    pub fn working(&self) -> u32 {
        self.size - self.removed.len() as u32
    }

    /// Removed buckets with their replacers, oldest removal first.
    pub fn removed(&self) -> &[(u32, u32)] {
        &self.removed
    }

    /// Whether `bucket` is working.
    pub fn is_working(&self, bucket: u32) -> bool {
        bucket < self.size && self.table.get(bucket).is_none()
    }

    /// The bucket of a key, by its 64-bit hash; `None` when no bucket works.
    #[inline]
    pub fn bucket(&self, key_hash: u64) -> Option<u32> {
        if self.working() == 0 {
            return None;
        }
        Some(self.follow(key_hash, jump_bucket(key_hash, self.size)))
    }

    /// The working bucket a key ends in, from its jump bucket `b` (the nothing-removed answer).
    #[inline]
    fn follow(&self, key_hash: u64, mut b: u32) -> u32 {
        while let Some(replacer) = self.table.get(b) {
            let mut u = scale(rehash(key_hash, b), replacer);
            while let Some(next) = self.table.get(u) {
                if next < replacer {
                    break;
                }
                u = next;
            }
            b = u;
        }
        b
    }

    /// The bucket of every key hash into `out` (same as [`Memento::bucket`]; needs a working bucket).
    pub fn buckets_into(&self, hashes: &[u64], out: &mut [u32]) {
        jump_into(hashes, self.size, out);
        if self.table.len > 0 {
            for (h, o) in hashes.iter().zip(out.iter_mut()) {
                *o = self.follow(*h, *o);
            }
        }
    }

    /// Remove a working bucket. Returns false (and changes nothing) if it is not working.
    pub fn remove(&mut self, bucket: u32) -> bool {
        if !self.is_working(bucket) {
            return false;
        }
        if self.removed.is_empty() && bucket + 1 == self.size {
            self.size -= 1;
            return true;
        }
        let replacer = self.working() - 1;
        self.table.insert(bucket, replacer);
        self.removed.push((bucket, replacer));
        true
    }

    /// Bring back the most recently removed bucket, or grow by one; returns the bucket.
    pub fn add(&mut self) -> u32 {
        match self.removed.pop() {
            Some((bucket, _)) => {
                self.table.remove(bucket);
                bucket
            }
            None => {
                self.size += 1;
                self.size - 1
            }
        }
    }

    /// The bucket `add` would return next.
    pub fn next_added(&self) -> u32 {
        self.removed.last().map_or(self.size, |&(b, _)| b)
    }
}

/// The 64-bit value MementoHash starts from: int keys as they are, other keys through XXH3-64,
/// exactly as `JumpHash` (so with nothing removed, `MementoHash` places exactly as `JumpHash`).
pub use super::jump::jump_key as memento_key;

const FREE: u32 = u32::MAX;

/// MementoHash over named nodes: each node holds one bucket; removing a node frees its bucket
/// (any node, not only the last) and adding a node takes the most recently freed bucket back,
/// so a node removed and added again (last out, first in) gets exactly its keys back.
#[derive(Clone, Debug, PartialEq)]
pub struct MementoHash {
    nodes: NodeSet,
    engine: Memento,
    slot_of: Vec<u32>,
    node_at: Vec<u32>,
}

const CLASS: &str = "MementoHash";

impl MementoHash {
    /// Nodes take buckets `0..len` in order.
    pub fn new(nodes: NodeSet) -> Result<Self, Error> {
        for (name, &w) in nodes.names().iter().zip(nodes.weights()) {
            check_unit_weight(CLASS, name, w)?;
        }
        let n = nodes.len() as u32;
        Ok(MementoHash {
            nodes,
            engine: Memento::new(n),
            slot_of: (0..n).collect(),
            node_at: (0..n).collect(),
        })
    }

    /// Rebuild from saved parts: the bucket of each node (index order), the bucket range and
    /// the removed buckets in removal order. Inconsistent parts are refused.
    pub fn from_parts(
        nodes: NodeSet,
        slots: Vec<u32>,
        size: u32,
        removed: &[u32],
    ) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config(format!("invalid MementoHash state: {why}"));
        if slots.len() != nodes.len() {
            return Err(bad("one bucket per node is needed"));
        }
        if slots.len() + removed.len() != size as usize {
            return Err(bad(
                "buckets held plus buckets removed must equal the bucket range",
            ));
        }
        let mut node_at = vec![FREE; size as usize];
        for (i, &b) in slots.iter().enumerate() {
            if b >= size || node_at[b as usize] != FREE {
                return Err(bad("node buckets must be distinct and inside the range"));
            }
            node_at[b as usize] = i as u32;
        }
        let mut engine = Memento::new(size);
        for &b in removed {
            if b >= size || node_at[b as usize] != FREE || !engine.remove(b) {
                return Err(bad(
                    "removed buckets must be distinct, free and inside the range",
                ));
            }
        }
        if engine.size() != size || engine.removed().len() != removed.len() {
            return Err(bad("the removal history does not replay"));
        }
        for (i, &w) in nodes.weights().iter().enumerate() {
            check_unit_weight(CLASS, nodes.name(i as u32), w)?;
        }
        Ok(MementoHash {
            nodes,
            engine,
            slot_of: slots,
            node_at,
        })
    }

    /// The bucket-level state.
    pub fn engine(&self) -> &Memento {
        &self.engine
    }

    /// The bucket of each node, in index order.
    pub fn slots(&self) -> &[u32] {
        &self.slot_of
    }
}

impl Placement for MementoHash {
    fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes()
            + 4 * (self.slot_of.len() + self.node_at.len())
            + 8 * (self.engine.removed.len() + self.engine.table.keys.len())
    }

    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        self.engine
            .bucket(memento_key(key))
            .map(|b| self.node_at[b as usize])
    }

    /// Bulk: keys hashed and jumped a block at a time (vectorised jump), parts split over
    /// threads.
    fn place_into(&self, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
        if self.nodes.is_empty() {
            return Err(Error::NoNodes);
        }
        for_each_key_block(keys, out, |block_keys, block_out| {
            let mut buckets = [0u32; KEY_BLOCK];
            let buckets = &mut buckets[..block_keys.len()];
            self.engine.buckets_into(block_keys, buckets);
            for (o, &b) in block_out.iter_mut().zip(buckets.iter()) {
                *o = self.node_at[b as usize] as i32;
            }
        });
        Ok(())
    }

    /// The `j`-th node is where the key goes once the first `j` are removed.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        let h = memento_key(key);
        let mut engine = self.engine.clone();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let b = engine.bucket(h).ok_or(Error::NoNodes)?;
            out.push(self.node_at[b as usize]);
            engine.remove(b);
        }
        Ok(out)
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.check_new(name, weight)?;
        check_unit_weight(CLASS, name, weight)?;
        let index = self.nodes.push(name.to_owned(), weight)?;
        let b = self.engine.add();
        if b as usize >= self.node_at.len() {
            self.node_at.resize(b as usize + 1, FREE);
        }
        self.node_at[b as usize] = index;
        self.slot_of.push(b);
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        let i = self.nodes.remove(name)?;
        let b = self.slot_of.remove(i as usize);
        self.engine.remove(b);
        self.node_at[b as usize] = FREE;
        self.node_at.truncate(self.engine.size() as usize);
        for x in &mut self.node_at {
            if *x != FREE && *x > i {
                *x -= 1;
            }
        }
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

    fn keys(n: u64) -> impl Iterator<Item = u64> {
        (0..n).map(|i| murmur_fmix64(i.wrapping_add(12345)))
    }

    #[test]
    fn jump_matches_reference_vectors() {
        // Values from the paper's reference implementation (as in jump-consistent-hash's tests).
        assert_eq!(jump_bucket(0, 1), 0);
        assert_eq!(jump_bucket(1, 1), 0);
        assert_eq!(jump_bucket(0xDEAD_10CC, 1), 0);
        assert_eq!(jump_bucket(0xDEAD_10CC, 666), 361);
        assert_eq!(jump_bucket(256, 1024), 520);
        assert_eq!(jump_bucket(u64::MAX, 1000), 313);
        assert_eq!(jump_bucket(123_456_789, 100_000), 42483);
    }

    #[test]
    fn bulk_matches_one_by_one() {
        let mut m = Memento::new(300);
        for b in (0..300).step_by(7) {
            m.remove(b);
        }
        let hs: Vec<u64> = keys(1003).collect();
        let mut out = vec![0u32; hs.len()];
        m.buckets_into(&hs, &mut out);
        let want: Vec<u32> = hs.iter().map(|&h| m.bucket(h).unwrap()).collect();
        assert_eq!(out, want);
        let mut named =
            MementoHash::new(NodeSet::new((0..50).map(|i| (format!("n{i}"), 1.0))).unwrap())
                .unwrap();
        named.remove_node("n3").unwrap();
        let ints: Vec<u64> = (0..(crate::par::MIN_ITEMS_PER_THREAD as u64 * 2 + 77)).collect();
        let bulk = named.place(Keys::Ints(&ints)).unwrap();
        assert!(ints
            .iter()
            .zip(&bulk)
            .all(|(&k, &o)| named.locate(KeyRef::Int(k)) == Some(o as u32)));
    }

    #[test]
    fn no_removals_is_jump() {
        let m = Memento::new(37);
        for k in keys(2000) {
            assert_eq!(m.bucket(k), Some(jump_bucket(k, 37)));
        }
    }

    #[test]
    fn removal_moves_only_that_buckets_keys_and_restore_undoes_it() {
        let mut m = Memento::new(20);
        let ks: Vec<u64> = keys(20_000).collect();
        for victim in [3u32, 17, 0, 11] {
            let before: Vec<u32> = ks.iter().map(|&k| m.bucket(k).unwrap()).collect();
            let snapshot = m.clone();
            assert!(m.remove(victim));
            let after: Vec<u32> = ks.iter().map(|&k| m.bucket(k).unwrap()).collect();
            for (b, a) in before.iter().zip(&after) {
                assert_ne!(*a, victim);
                if *b != victim {
                    assert_eq!(a, b);
                }
            }
            // The victim's keys spread over the others.
            let mut moved = std::collections::HashMap::new();
            for (b, a) in before.iter().zip(&after) {
                if *b == victim {
                    *moved.entry(*a).or_insert(0) += 1;
                }
            }
            assert!(moved.len() as u32 >= m.working() / 2);
            // Restore and compare, then remove again to continue the sequence.
            assert_eq!(m.add(), victim);
            let restored: Vec<u32> = ks.iter().map(|&k| m.bucket(k).unwrap()).collect();
            assert_eq!(restored, before);
            assert_eq!(m, snapshot);
            m.remove(victim);
        }
        assert_eq!(m.working(), 16);
        for &k in &ks {
            let b = m.bucket(k).unwrap();
            assert!(m.is_working(b));
        }
    }

    #[test]
    fn balance_after_many_removals() {
        let mut m = Memento::new(100);
        for b in (0..100).step_by(3) {
            m.remove(b);
        }
        let mut counts = vec![0u32; 100];
        let n = 200_000;
        for k in keys(n) {
            counts[m.bucket(k).unwrap() as usize] += 1;
        }
        let working: Vec<u32> = (0..100).filter(|&b| m.is_working(b)).collect();
        let mean = n as f64 / working.len() as f64;
        for b in 0..100u32 {
            if m.is_working(b) {
                let c = counts[b as usize] as f64;
                assert!((c - mean).abs() < mean * 0.1, "bucket {b}: {c} vs {mean}");
            } else {
                assert_eq!(counts[b as usize], 0);
            }
        }
    }

    #[test]
    fn last_bucket_shrinks_and_grows() {
        let mut m = Memento::new(5);
        assert!(m.remove(4));
        assert_eq!(m.size(), 4);
        assert!(m.removed().is_empty());
        assert!(!m.remove(4));
        assert_eq!(m.add(), 4);
        assert_eq!(m.size(), 5);
        m.remove(1);
        m.remove(4);
        assert_eq!(m.removed(), &[(1, 4), (4, 3)]);
        assert_eq!(m.next_added(), 4);
        assert_eq!(m.add(), 4);
        assert_eq!(m.add(), 1);
        assert_eq!(m.add(), 5);
    }

    #[test]
    fn remove_everything_then_empty() {
        let mut m = Memento::new(4);
        for b in [1, 0, 3, 2] {
            assert!(m.remove(b));
        }
        assert_eq!(m.working(), 0);
        assert_eq!(m.bucket(7), None);
        assert_eq!(m.add(), 2);
        for k in keys(100) {
            assert_eq!(m.bucket(k), Some(2));
        }
    }

    fn names(names: &[&str]) -> NodeSet {
        NodeSet::new(names.iter().map(|n| (*n, 1.0))).unwrap()
    }

    #[test]
    fn named_nodes_remove_and_restore() {
        let mut m = MementoHash::new(names(&["a", "b", "c", "d", "e"])).unwrap();
        let ks: Vec<u64> = keys(5000).collect();
        let owner = |m: &MementoHash| -> Vec<String> {
            ks.iter()
                .map(|&k| m.nodes().name(m.locate(KeyRef::Int(k)).unwrap()).to_owned())
                .collect()
        };
        let before = owner(&m);
        let snapshot = m.clone();
        m.remove_node("b").unwrap();
        assert_eq!(m.nodes().names(), ["a", "c", "d", "e"]);
        let during = owner(&m);
        for (x, y) in before.iter().zip(&during) {
            assert!(x == y || (x == "b" && y != "b"));
        }
        let second = snapshot.locate_n(KeyRef::Int(ks[0]), 2).unwrap();
        let alone = m.locate(KeyRef::Int(ks[0])).unwrap();
        if snapshot.nodes().name(second[0]) == "b" {
            assert_eq!(snapshot.nodes().name(second[1]), m.nodes().name(alone));
        }
        m.add_node("b", 1.0).unwrap();
        assert_eq!(owner(&m), before);
        assert!(m.add_node("z", 2.0).is_err());
        assert!(m.set_weight("a", 3.0).is_err());
        let rebuilt = MementoHash::from_parts(
            m.nodes().clone(),
            m.slots().to_vec(),
            m.engine().size(),
            &m.engine().removed().iter().map(|r| r.0).collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!(rebuilt, m);
        assert!(MementoHash::from_parts(names(&["a"]), vec![0], 2, &[0]).is_err());
        assert!(MementoHash::from_parts(names(&["a"]), vec![0], 2, &[1]).is_err());
    }

    #[test]
    fn table_survives_churn() {
        let mut t = ReplacerTable::default();
        let mut model = std::collections::HashMap::new();
        let mut x = 1u64;
        for _ in 0..20_000 {
            x = murmur_fmix64(x + 1);
            let b = (x % 300) as u32;
            if x & 1 == 0 {
                if let std::collections::hash_map::Entry::Vacant(e) = model.entry(b) {
                    e.insert((x >> 40) as u32);
                    t.insert(b, (x >> 40) as u32);
                }
            } else {
                model.remove(&b);
                t.remove(b);
            }
            assert_eq!(t.len, model.len());
        }
        for b in 0..300 {
            assert_eq!(t.get(b), model.get(&b).copied());
        }
    }
}
