//! Placements whose nodes are the buckets `0..n` of a consistent range hash: a function of a
//! key's 64-bit hash and the bucket count, with no other state (JumpBackHash, FlipHash,
//! BinomialHash). Node `i` is bucket `i`. Growing by one node moves keys only to the new node;
//! only the last node can be removed (removing another would renumber the buckets), and nodes
//! carry no weights.

use std::marker::PhantomData;

use super::blocks::{place_buckets, KeyHash};
use super::nodes::{Error, NodeSet};
use super::util::check_unit_weight;
use super::{check_n, Placement};
use crate::hash::splitmix64;
use crate::keys::{KeyRef, Keys};
use crate::text::quoted;

/// A consistent range hash: `bucket(hash, n)` in `[0, n)`, and its bulk form.
pub trait RangeHash: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The Python class name.
    const CLASS: &'static str;
    /// How keys become the 64-bit value `bucket` takes.
    const KEY_HASH: KeyHash;

    /// The bucket of a key hash among `buckets` (`1..=MAX_BUCKETS`).
    fn bucket(hash: u64, buckets: u32) -> u32;

    /// `out[i] = bucket(hashes[i], buckets)`; kernels override this with a vectorised form.
    fn buckets_into(hashes: &[u64], buckets: u32, out: &mut [u32]) {
        for (o, &h) in out.iter_mut().zip(hashes) {
            *o = Self::bucket(h, buckets);
        }
    }
}

/// The most buckets (nodes) a range-hash placement takes.
pub const MAX_BUCKETS: u32 = i32::MAX as u32;

/// A node list placed by the range hash `F`; every weight must be 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequential<F: RangeHash> {
    nodes: NodeSet,
    function: PhantomData<F>,
}

impl<F: RangeHash> Sequential<F> {
    pub fn new(nodes: NodeSet) -> Result<Self, Error> {
        for (name, &w) in nodes.names().iter().zip(nodes.weights()) {
            check_unit_weight(F::CLASS, name, w)?;
        }
        Ok(Sequential {
            nodes,
            function: PhantomData,
        })
    }
}

/// The error for removing a node other than the last from a placement over buckets `0..n`.
pub fn only_last_removable(class: &str, nodes: &NodeSet, name: &str) -> Error {
    Error::Config(format!(
        "{class} can only remove its last node ({}), not {}; \
         use AnchorHash, DxHash or MementoHash for arbitrary removal",
        quoted(nodes.names().last().map_or("", String::as_str)),
        quoted(name)
    ))
}

impl<F: RangeHash> Placement for Sequential<F> {
    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        let n = self.nodes.len() as u32;
        (n > 0).then(|| F::bucket(F::KEY_HASH.of(key), n))
    }

    /// Replica `r` is `bucket(splitmix64(h + r), len - r)` over the nodes not yet chosen (in
    /// index order); replica 0 is `locate(key)`.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        let h = F::KEY_HASH.of(key);
        let mut left: Vec<u32> = (0..self.nodes.len() as u32).collect();
        let mut out = Vec::with_capacity(n);
        for r in 0..n {
            let rh = if r == 0 {
                h
            } else {
                splitmix64(h.wrapping_add(r as u64))
            };
            let b = F::bucket(rh, left.len() as u32) as usize;
            out.push(left.remove(b));
        }
        Ok(out)
    }

    fn place_into(&self, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
        if self.nodes.is_empty() {
            return Err(Error::NoNodes);
        }
        let n = self.nodes.len() as u32;
        place_buckets(keys, F::KEY_HASH, out, |hashes, found| {
            F::buckets_into(hashes, n, found)
        });
        Ok(())
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.check_new(name, weight)?;
        check_unit_weight(F::CLASS, name, weight)?;
        if self.nodes.len() >= MAX_BUCKETS as usize {
            return Err(Error::Config(format!(
                "{} holds at most {MAX_BUCKETS} nodes",
                F::CLASS
            )));
        }
        self.nodes.push(name.to_owned(), weight)?;
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        let i = self.nodes.require(name)? as usize;
        if i + 1 != self.nodes.len() {
            return Err(only_last_removable(F::CLASS, &self.nodes, name));
        }
        self.nodes.remove(name)?;
        Ok(())
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.require(name)?;
        check_unit_weight(F::CLASS, name, weight)
    }
}

/// Checks shared by the range hashes' unit tests: range, monotonicity (growing by one moves
/// keys only to the new bucket), balance, and bulk == one at a time.
#[cfg(test)]
pub mod checks {
    use super::RangeHash;
    use crate::hash::murmur_fmix64;

    pub fn hashes(count: usize, seed: u64) -> Vec<u64> {
        (0..count as u64)
            .map(|i| murmur_fmix64(i.wrapping_add(seed)))
            .collect()
    }

    pub fn monotone_and_in_range<F: RangeHash>() {
        for h in hashes(3000, 1) {
            let mut before = F::bucket(h, 1);
            assert_eq!(before, 0);
            for n in 2..200u32 {
                let now = F::bucket(h, n);
                assert!(now < n);
                assert!(
                    now == before || now == n - 1,
                    "h={h:#x} n={n}: {before} -> {now}"
                );
                before = now;
            }
        }
    }

    pub fn balanced<F: RangeHash>() {
        for n in [3u32, 10, 100, 1000, 1023, 1025] {
            let count = 400 * n as usize;
            let mut counts = vec![0u32; n as usize];
            for h in hashes(count, 7) {
                counts[F::bucket(h, n) as usize] += 1;
            }
            let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            // 400 keys per bucket: 6 standard deviations is +-120.
            assert!(*lo > 280 && *hi < 520, "n={n}: {lo}..{hi}");
        }
    }

    /// Every SIMD kernel the CPU can run (AVX2 and AVX-512, whichever the dispatch prefers)
    /// equals the scalar function `$scalar(hash, n)`.
    macro_rules! kernels_equal_scalar {
        ($scalar:path, $avx2:path, $avx512:path, $avx512_full:path) => {{
            let mut hs = $crate::placement::sequential::checks::hashes(4096, 17);
            hs.extend([0, 1, u64::MAX, 1 << 63, 0xffff_ffff, 2, 3, 4]);
            for n in [
                2u32,
                3,
                7,
                8,
                9,
                1000,
                1024,
                65_537,
                1 << 30,
                i32::MAX as u32,
            ] {
                let want: Vec<u32> = hs.iter().map(|&h| $scalar(h, n)).collect();
                let scalar = |h: u64| $scalar(h, n);
                if std::is_x86_feature_detected!("avx2") {
                    let mut got = vec![0u32; hs.len()];
                    // SAFETY: AVX2 detected; hs.len() is a multiple of 8.
                    unsafe { $avx2(&hs, n, &mut got, &scalar) };
                    assert_eq!(got, want, "AVX2, n = {n}");
                }
                if $crate::placement::simd::has_avx512() {
                    let mut got = vec![0u32; hs.len()];
                    // SAFETY: AVX-512 detected; hs.len() is a multiple of 8.
                    unsafe { $avx512(&hs, n, &mut got) };
                    for (g, &w) in got.iter_mut().zip(&want) {
                        if *g == $crate::placement::simd::SLOW {
                            *g = w;
                        }
                    }
                    assert_eq!(got, want, "AVX-512 fast path, n = {n}");
                    let mut full = vec![0u32; hs.len()];
                    // SAFETY: as above; the full kernel takes every key.
                    unsafe { $avx512_full(&hs, n, &mut full) };
                    assert_eq!(full, want, "AVX-512 full kernel, n = {n}");
                }
            }
        }};
    }
    pub(crate) use kernels_equal_scalar;

    pub fn bulk_equals_scalar<F: RangeHash>() {
        let mut hs = hashes(10_007, 3);
        hs.extend([0, 1, u64::MAX, u64::MAX - 1, 1 << 63, 0xffff_ffff]);
        for n in [
            1u32,
            2,
            3,
            7,
            8,
            9,
            1000,
            1024,
            65_537,
            1 << 30,
            i32::MAX as u32,
        ] {
            let want: Vec<u32> = hs.iter().map(|&h| F::bucket(h, n)).collect();
            for len in [0usize, 1, 3, 4, 5, 17, 33, hs.len()] {
                let mut got = vec![u32::MAX; len];
                F::buckets_into(&hs[..len], n, &mut got);
                assert_eq!(got, want[..len], "n = {n}, len = {len}");
            }
        }
    }
}
