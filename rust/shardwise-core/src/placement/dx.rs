//! `DxHash`: Dong, Feng & Wang's DxHash ("DxHash: A Scalable Consistent Hash Based on the
//! Pseudo-Random Sequence", 2021/2023): a fixed capacity of buckets; a key follows its own
//! pseudo-random sequence of buckets and takes the first working one. Removing a bucket moves
//! only its keys (each to the next working bucket of its sequence).
//!
//! Key step: every key goes through XXH3-64 of its encoded bytes (ints: 8 bytes
//! little-endian); the algorithm takes the low 32 bits `k`. The sequence is the authors' C++
//! one: `k2 = k * 421757 + 1` (32 bits), `s0 = crc32c(seed k2, k as 8 bytes)`, `s(i+1) =
//! crc32c(seed k2, s(i) as 8 bytes)` (the SSE4.2 `crc32q` step), bucket `s(i) % capacity`, at
//! most `4 * capacity - 1` probes. No implementation of it could be run as an oracle, so the
//! tests check the paper's properties (balance, removal moving only the removed node's keys,
//! restore). Where the authors give up (no bucket kept within the probes: they return -1), we
//! go on along the same sequence in up to 32 more rounds of `4 * capacity` probes, each round
//! doubling every keep threshold (so owners stay proportional to weight and still depend only
//! on the buckets a key meets); only a sequence that meets no working bucket in all of them takes
//! the first working bucket at or after its last probe, in bucket order, wrapping.
//!
//! Weights (the paper's weighted DxHash, which has no public implementation either; this is its
//! rejection form): a probe that meets working bucket `b` keeps it with probability
//! `weight(b) / max_weight`, decided by a draw from the probe's state, so changing one node's
//! weight moves keys only to or from that node. `max_weight` is fixed when the placement is
//! built (default: the largest initial weight); heavier weights are refused, and so are weights
//! under `max_weight / 2^20` (their 32-bit thresholds would no longer follow the weight).

use super::nodes::{Error, NodeSet};
use super::slots::{self, Slots, FREE};
use super::{check_n, Placement};
use crate::hash::murmur_fmix64;
use crate::keys::{KeyRef, Keys};
use crate::text::{py_float, quoted};

use super::blocks::KeyHash;

/// CRC-32C (Castagnoli, reflected, no final inversion) lookup table for one byte.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The SSE4.2 `crc32q` step in software: CRC-32C of `data`'s 8 little-endian bytes from `crc`.
#[inline]
pub fn crc32c_u64_soft(crc: u32, data: u64) -> u32 {
    let mut c = crc;
    for byte in data.to_le_bytes() {
        c = CRC32C_TABLE[((c ^ u32::from(byte)) & 0xff) as usize] ^ (c >> 8);
    }
    c
}

/// The CRC step, with the CPU's instruction when it has one.
#[derive(Clone, Copy)]
struct Crc(bool);

impl Crc {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            Crc(std::is_x86_feature_detected!("sse4.2"))
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Crc(false)
        }
    }

    #[inline(always)]
    fn step(self, crc: u32, data: u64) -> u32 {
        #[cfg(target_arch = "x86_64")]
        {
            if self.0 {
                // SAFETY: the CPU has SSE4.2 (detected in `detect`).
                return unsafe { crc32_hw(crc, data) };
            }
        }
        crc32c_u64_soft(crc, data)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32_hw(crc: u32, data: u64) -> u32 {
    std::arch::x86_64::_mm_crc32_u64(u64::from(crc), data) as u32
}

/// `a % d` for 32-bit values without a division (Lemire, Kaser & Kurz, "Faster remainder by
/// direct computation", 2019): exact for every `a` and `d >= 1`, given `magic = u64::MAX / d + 1`.
#[inline(always)]
fn fast_mod(a: u32, d: u32, magic: u64) -> u32 {
    let low = magic.wrapping_mul(u64::from(a));
    ((u128::from(low) * u128::from(d)) >> 64) as u32
}

/// The keep threshold of a weight: a probe keeps the bucket when its 32-bit draw is below it.
pub fn threshold(weight: f64, max_weight: f64) -> u64 {
    ((weight / max_weight * 4_294_967_296.0) as u64).clamp(1, 1 << 32)
}

/// The lightest weight is `max_weight / LIGHTEST`: its keep threshold is then at least 4,096 of
/// 2^32, so thresholds stay proportional to weights within 1/4,096.
const LIGHTEST: f64 = 1_048_576.0;

/// Rounds of `4 * capacity` probes after the first `4 * capacity - 1` (see the module doc).
const EXTRA_ROUNDS: u32 = 32;

/// The draw deciding whether a probe in state `state` keeps a weighted bucket.
#[inline(always)]
fn keep_draw(state: u32, key2: u32) -> u64 {
    murmur_fmix64(u64::from(state) | (u64::from(key2) << 32)) >> 32
}

/// DxHash over named nodes with weights.
#[derive(Clone, Debug, PartialEq)]
pub struct DxHash {
    nodes: NodeSet,
    slots: Slots,
    max_weight: f64,
    /// Keep threshold per bucket (`1 << 32` keeps always; unused for free buckets).
    thresholds: Vec<u64>,
}

const CLASS: &str = "DxHash";

impl DxHash {
    /// Nodes take buckets `0..len` of `capacity`; `max_weight` defaults to the largest weight.
    pub fn new(nodes: NodeSet, capacity: u32, max_weight: Option<f64>) -> Result<Self, Error> {
        let slots = Slots::new(CLASS, nodes.len(), capacity)?;
        Self::from_slots(nodes, slots, max_weight)
    }

    /// Rebuild from saved parts (see `AnchorHash::from_parts`).
    pub fn from_parts(
        nodes: NodeSet,
        capacity: u32,
        max_weight: Option<f64>,
        slots: Vec<u32>,
        removed: Vec<u32>,
    ) -> Result<Self, Error> {
        let slots = Slots::from_parts(CLASS, capacity, slots, removed)?;
        Self::from_slots(nodes, slots, max_weight)
    }

    fn from_slots(nodes: NodeSet, slots: Slots, max_weight: Option<f64>) -> Result<Self, Error> {
        let max_weight = match max_weight {
            Some(m) => m,
            None => nodes
                .weights()
                .iter()
                .copied()
                .reduce(f64::max)
                .unwrap_or(1.0),
        };
        if !(max_weight.is_finite() && max_weight > 0.0) {
            return Err(Error::Config(format!(
                "max_weight must be a finite number > 0, got {}",
                py_float(max_weight)
            )));
        }
        let mut p = DxHash {
            thresholds: crate::error::try_vec(slots.capacity() as usize, 1u64 << 32)?,
            nodes,
            slots,
            max_weight,
        };
        for i in 0..p.nodes.len() as u32 {
            p.check_weight(p.nodes.name(i), p.nodes.weight(i))?;
            p.thresholds[p.slots.slots()[i as usize] as usize] =
                threshold(p.nodes.weight(i), max_weight);
        }
        Ok(p)
    }

    fn check_weight(&self, name: &str, weight: f64) -> Result<(), Error> {
        super::nodes::check_weight(name, weight)?;
        if weight > self.max_weight {
            return Err(Error::Config(format!(
                "weight of node {} ({}) exceeds DxHash's max_weight {}; \
                 build it with a larger max_weight=",
                quoted(name),
                py_float(weight),
                py_float(self.max_weight)
            )));
        }
        if weight < self.max_weight / LIGHTEST {
            return Err(Error::Config(format!(
                "weight of node {} ({}) is under DxHash's max_weight {} / 2**20, too light for \
                 its 32-bit keep draws; build it with a smaller max_weight=",
                quoted(name),
                py_float(weight),
                py_float(self.max_weight)
            )));
        }
        Ok(())
    }

    pub fn capacity(&self) -> u32 {
        self.slots.capacity()
    }

    pub fn max_weight(&self) -> f64 {
        self.max_weight
    }

    pub fn slots(&self) -> &[u32] {
        self.slots.slots()
    }

    pub fn removed(&self) -> &[u32] {
        self.slots.free()
    }

    /// The bucket of a key hash, skipping buckets for which `skip` is true; `None` when no
    /// bucket is left.
    #[inline]
    fn bucket(&self, crc: Crc, hash: u64, skip: impl Fn(u32) -> bool) -> Option<u32> {
        let node_at = self.slots.node_at();
        let capacity = node_at.len() as u32;
        let magic = (u64::MAX / u64::from(capacity)).wrapping_add(1);
        let usable = |b: u32| node_at[b as usize] != FREE && !skip(b);
        let key = hash as u32;
        let key2 = key.wrapping_mul(421_757).wrapping_add(1);
        let mut state = crc.step(key2, u64::from(key));
        let mut b = fast_mod(state, capacity, magic);
        // Round 0 is the paper's 4 * capacity - 1 probes; round r keeps a bucket when the draw
        // is below its threshold times 2^r (see the module doc).
        let mut probes = 4 * u64::from(capacity) - 1;
        for round in 0..=EXTRA_ROUNDS {
            for probe in 0..probes {
                if probe > 0 || round > 0 {
                    state = crc.step(key2, u64::from(state));
                    b = fast_mod(state, capacity, magic);
                }
                if usable(b) {
                    let t = self.thresholds[b as usize];
                    if t >= (1u64 << 32) >> round || keep_draw(state, key2) < t << round {
                        return Some(b);
                    }
                }
            }
            probes = 4 * u64::from(capacity);
        }
        (0..capacity)
            .map(|j| (b + j) % capacity)
            .find(|&c| usable(c))
    }

    #[inline(always)]
    fn owner(&self, crc: Crc, hash: u64) -> Option<u32> {
        self.bucket(crc, hash, |_| false)
            .map(|b| self.slots.node_at()[b as usize])
    }
}

impl Placement for DxHash {
    fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes() + 8 * self.thresholds.len() + self.slots.memory_bytes()
    }

    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        self.owner(Crc::detect(), KeyHash::Xxh3.of(key))
    }

    /// The next nodes along the key's sequence: the `j`-th is where the key goes once the first
    /// `j` are removed.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        let hash = KeyHash::Xxh3.of(key);
        let crc = Crc::detect();
        let node_at = self.slots.node_at();
        let mut chosen = vec![false; self.nodes.len()];
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let b = self
                .bucket(crc, hash, |b| chosen[node_at[b as usize] as usize])
                .ok_or(Error::NoNodes)?;
            let node = node_at[b as usize];
            chosen[node as usize] = true;
            out.push(node);
        }
        Ok(out)
    }

    fn place_into(&self, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
        if self.nodes.is_empty() {
            return Err(Error::NoNodes);
        }
        let crc = Crc::detect();
        super::blocks::for_each_hash_block(keys, KeyHash::Xxh3, out, |hashes, block_out| {
            for (o, &h) in block_out.iter_mut().zip(hashes) {
                *o = self.owner(crc, h).map_or(-1, |i| i as i32);
            }
        });
        Ok(())
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.check_new(name, weight)?;
        self.check_weight(name, weight)?;
        if self.slots.next_free().is_none() {
            return Err(slots::full(CLASS, self.capacity()));
        }
        let index = self.nodes.push(name.to_owned(), weight)?;
        let b = self.slots.take(CLASS, index)?;
        self.thresholds[b as usize] = threshold(weight, self.max_weight);
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        let i = self.nodes.remove(name)?;
        let b = self.slots.release(i);
        self.thresholds[b as usize] = 1 << 32;
        Ok(())
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        let i = self.nodes.require(name)?;
        self.check_weight(name, weight)?;
        self.nodes.set_weight(name, weight)?;
        self.thresholds[self.slots.slots()[i as usize] as usize] =
            threshold(weight, self.max_weight);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(count: u64) -> Vec<u64> {
        (0..count).map(|i| murmur_fmix64(i + 1234)).collect()
    }

    fn nodes(weights: &[f64]) -> NodeSet {
        NodeSet::new(
            weights
                .iter()
                .enumerate()
                .map(|(i, &w)| (format!("n{i}"), w)),
        )
        .unwrap()
    }

    fn owners(p: &DxHash, ks: &[u64]) -> Vec<String> {
        let crc = Crc::detect();
        ks.iter()
            .map(|&k| p.nodes().name(p.owner(crc, k).unwrap()).to_owned())
            .collect()
    }

    #[test]
    fn fast_mod_is_the_remainder() {
        let mut x = 7u64;
        for d in (1..300u32).chain([1000, 1 << 16, (1 << 24) - 1, 1 << 24, u32::MAX]) {
            let magic = (u64::MAX / u64::from(d)).wrapping_add(1);
            for a in [0u32, 1, d - 1, d, d.wrapping_add(1), u32::MAX, u32::MAX - 1] {
                assert_eq!(fast_mod(a, d, magic), a % d, "{a} % {d}");
            }
            for _ in 0..200 {
                x = murmur_fmix64(x);
                let a = x as u32;
                assert_eq!(fast_mod(a, d, magic), a % d, "{a} % {d}");
            }
        }
    }

    #[test]
    fn crc_matches_the_instruction_and_known_values() {
        // CRC-32C("123456789") with the standard init/final inversion is 0xE3069283.
        let data = b"123456789";
        let mut c = !0u32;
        for &byte in data {
            c = CRC32C_TABLE[((c ^ u32::from(byte)) & 0xff) as usize] ^ (c >> 8);
        }
        assert_eq!(!c, 0xe306_9283);
        let hw = Crc::detect();
        for k in keys(1000) {
            assert_eq!(hw.step(k as u32, k), crc32c_u64_soft(k as u32, k));
        }
    }

    #[test]
    fn balanced_and_weighted() {
        let ks = keys(200_000);
        let p = DxHash::new(nodes(&[1.0; 10]), 16, None).unwrap();
        let counts = |p: &DxHash| {
            let mut c = vec![0f64; p.nodes().len()];
            for &k in &ks {
                c[p.owner(Crc::detect(), k).unwrap() as usize] += 1.0;
            }
            c
        };
        for c in counts(&p) {
            assert!((c - 20_000.0).abs() < 1_000.0, "{c}");
        }
        let w = DxHash::new(nodes(&[1.0, 2.0, 4.0, 1.0]), 8, None).unwrap();
        let c = counts(&w);
        let total = 8.0;
        for (i, weight) in [1.0, 2.0, 4.0, 1.0].iter().enumerate() {
            let share = c[i] / ks.len() as f64;
            assert!((share - weight / total).abs() < 0.01, "node {i}: {share}");
        }
    }

    #[test]
    fn removal_and_reweighting_move_only_that_nodes_keys() {
        let ks = keys(50_000);
        let mut p = DxHash::new(nodes(&[1.0, 1.0, 2.0, 1.0, 1.0, 2.0]), 16, None).unwrap();
        let before = owners(&p, &ks);
        let snapshot = p.clone();
        p.remove_node("n2").unwrap();
        let after = owners(&p, &ks);
        for (b, a) in before.iter().zip(&after) {
            assert!(b == a || b == "n2", "{b} -> {a}");
        }
        p.add_node("n2", 2.0).unwrap();
        assert_eq!(
            p.slots().last(),
            Some(&2),
            "the added node takes back the freed bucket"
        );
        assert_eq!(p.thresholds, snapshot.thresholds);
        assert_eq!(owners(&p, &ks), before);
        p.set_weight("n5", 0.5).unwrap();
        let lighter = owners(&p, &ks);
        for (b, a) in before.iter().zip(&lighter) {
            assert!(b == a || b == "n5", "{b} -> {a}");
        }
        assert!(p.set_weight("n5", 2.5).is_err());
        assert!(p.add_node("big", 3.0).is_err());
    }

    #[test]
    fn sparse_and_exhausted_sequences_fall_back_to_a_working_bucket() {
        let mut p = DxHash::new(nodes(&[1.0; 3]), 1024, None).unwrap();
        p.remove_node("n0").unwrap();
        p.remove_node("n1").unwrap();
        for k in keys(300) {
            assert_eq!(p.owner(Crc::detect(), k), Some(0));
        }
        let r = p.locate_n(KeyRef::Int(5), 1).unwrap();
        assert_eq!(r, vec![0]);
        p.remove_node("n2").unwrap();
        assert_eq!(p.locate(KeyRef::Int(5)), None);
    }

    #[test]
    fn replicas_follow_removals_and_parts_round_trip() {
        let p = DxHash::new(nodes(&[1.0; 12]), 32, Some(2.0)).unwrap();
        for k in 0..200u64 {
            let r = p.locate_n(KeyRef::Int(k), 3).unwrap();
            let mut q = p.clone();
            q.remove_node(p.nodes().name(r[0])).unwrap();
            let second = q.locate(KeyRef::Int(k)).unwrap();
            assert_eq!(q.nodes().name(second), p.nodes().name(r[1]));
        }
        let again = DxHash::from_parts(
            p.nodes().clone(),
            p.capacity(),
            Some(p.max_weight()),
            p.slots().to_vec(),
            p.removed().to_vec(),
        )
        .unwrap();
        assert_eq!(again, p);
        let ints: Vec<u64> = (0..(crate::par::MIN_ITEMS_PER_THREAD as u64 * 2 + 3)).collect();
        let bulk = p.place(Keys::Ints(&ints)).unwrap();
        assert!(ints
            .iter()
            .zip(&bulk)
            .all(|(&k, &o)| p.locate(KeyRef::Int(k)) == Some(o as u32)));
        assert!(DxHash::new(nodes(&[1.0]), 4, Some(0.0)).is_err());
    }
}
