//! `JumpHash`: Lamping & Veach's jump consistent hash ("A Fast, Minimal Memory, Consistent
//! Hash Algorithm", 2014). Buckets are node indices. Integer keys are used as they are; other
//! keys are hashed with XXH3-64 first. Only the last node can be removed (that is the
//! algorithm's nature); for arbitrary removal use `MementoHash`.

use super::nodes::{Error, NodeSet};
use super::util::check_unit_weight;
use super::{check_n, Placement};
use crate::hash::{self, splitmix64};
use crate::keys::{KeyRef, Keys};
use crate::text::quoted;

/// The reference jump consistent hash: a bucket in `[0, buckets)`; `buckets` must be >= 1.
#[inline]
pub fn jump(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(JUMP_MULTIPLIER).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// [`jump`] of every key (ints raw, bytes through XXH3-64), in parallel for large batches.
pub fn jump_keys(keys: Keys<'_>, buckets: u32) -> Vec<i32> {
    let mut out: Vec<i32> = crate::mem::zeroed_vec(keys.len());
    jump_keys_into(keys, buckets, &mut out);
    out
}

/// [`jump_keys`] into `out` (one slot per key).
///
/// # Panics
/// If `out.len() != keys.len()` (a programming error).
pub fn jump_keys_into(keys: Keys<'_>, buckets: u32, out: &mut [i32]) {
    for_each_key_block(keys, out, |block_keys, block_out| {
        let mut found = [0u32; KEY_BLOCK];
        let found = &mut found[..block_keys.len()];
        jump_into(block_keys, buckets, found);
        for (o, &f) in block_out.iter_mut().zip(found.iter()) {
            *o = f as i32;
        }
    });
}

/// Keys per block in [`for_each_key_block`].
pub use super::blocks::KEY_BLOCK;

/// `f(jump keys, outputs)` for consecutive blocks of at most [`KEY_BLOCK`] keys (int keys
/// borrowed as they are, byte keys hashed into a buffer), blocks split over threads for large
/// batches. The bulk driver of `JumpHash` and `MementoHash`.
///
/// # Panics
/// If `out.len() != keys.len()` (a programming error).
pub fn for_each_key_block(keys: Keys<'_>, out: &mut [i32], f: impl Fn(&[u64], &mut [i32]) + Sync) {
    super::blocks::for_each_hash_block(keys, super::blocks::KeyHash::RawInts, out, f);
}

/// `out[i] = jump(keys[i], buckets)` (`buckets >= 1`): four keys per AVX2 vector where the
/// CPU has it (detected at run time), else eight scalar keys side by side. Both do the
/// reference's arithmetic step by step (IEEE division and product, truncation), so the
/// results are identical to [`jump`].
///
/// # Panics
/// If the slices differ in length or `buckets` is not in `1..=i32::MAX` (the reference's
/// range; programming errors).
pub fn jump_into(keys: &[u64], buckets: u32, out: &mut [u32]) {
    assert_eq!(keys.len(), out.len(), "jump_into: lengths differ");
    assert!(
        (1..=i32::MAX as u32).contains(&buckets),
        "jump_into: buckets out of range"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            let whole = keys.len() / 4 * 4;
            // SAFETY: the CPU supports AVX2 (checked just above); `whole` is a multiple of 4.
            unsafe { avx2::jump_into(&keys[..whole], buckets, &mut out[..whole]) };
            for (o, &k) in out[whole..].iter_mut().zip(&keys[whole..]) {
                *o = jump(k, buckets);
            }
            return;
        }
    }
    jump_into_lanes(keys, buckets, out);
}

/// Keys in flight at once in [`jump_into_lanes`].
const LANES: usize = 8;

/// The portable [`jump_into`]: [`LANES`] keys side by side (one key's chain of dependent
/// divisions is slow, independent chains overlap); a lane that finishes takes the next key.
fn jump_into_lanes(keys: &[u64], buckets: u32, out: &mut [u32]) {
    let n = i64::from(buckets);
    let total = out.len();
    let mut slot = [usize::MAX; LANES];
    let mut k = [0u64; LANES];
    let mut b = [-1i64; LANES];
    let mut j = [0i64; LANES];
    let mut next = 0usize;
    let mut live = 0usize;
    for l in 0..LANES {
        if next < total {
            slot[l] = next;
            k[l] = keys[next];
            next += 1;
            live += 1;
        }
    }
    while live > 0 {
        for l in 0..LANES {
            if slot[l] == usize::MAX {
                continue;
            }
            if j[l] < n {
                b[l] = j[l];
                k[l] = k[l].wrapping_mul(JUMP_MULTIPLIER).wrapping_add(1);
                j[l] =
                    ((b[l] + 1) as f64 * ((1u64 << 31) as f64 / ((k[l] >> 33) + 1) as f64)) as i64;
            } else {
                out[slot[l]] = b[l] as u32;
                if next < total {
                    slot[l] = next;
                    k[l] = keys[next];
                    b[l] = -1;
                    j[l] = 0;
                    next += 1;
                } else {
                    slot[l] = usize::MAX;
                    live -= 1;
                }
            }
        }
    }
}

/// The linear congruential step of jump hash.
const JUMP_MULTIPLIER: u64 = 2_862_933_555_777_941_757;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::JUMP_MULTIPLIER;
    use std::arch::x86_64::*;

    /// Vectors (of four keys) stepped together: enough independent divisions to keep the
    /// divider busy.
    const VECTORS: usize = 4;

    /// [`super::jump_into`] with AVX2; `keys.len()` must be a multiple of 4.
    ///
    /// Keys go in blocks of `4 * VECTORS`, stepped together until every lane is done (no
    /// per-lane branch to mispredict). Each step, per lane: `key = key * M + 1`,
    /// `x = (b + 1) * (2^31 / ((key >> 33) + 1))`; the lane is done when `x >= buckets` (that
    /// is, when the reference's `j = trunc(x)` reaches `buckets`), else `b = trunc(x)`. The
    /// state `b + 1` is kept in a double (exact: below 2^31).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn jump_into(keys: &[u64], buckets: u32, out: &mut [u32]) {
        debug_assert_eq!(keys.len() % 4, 0);
        debug_assert_eq!(keys.len(), out.len());
        let multiplier_low = _mm256_set1_epi64x((JUMP_MULTIPLIER & 0xffff_ffff) as i64);
        let multiplier_high = _mm256_set1_epi64x((JUMP_MULTIPLIER >> 32) as i64);
        let one = _mm256_set1_epi64x(1);
        // Doubles with exponent 2^52: OR-ing in an integer v below 2^52 gives 2^52 + v exactly
        // (AVX2 has no u64 -> f64 conversion); subtracting 2^52 - 1 then gives v + 1, exactly.
        let two_52_bits = _mm256_set1_epi64x(0x4330_0000_0000_0000);
        let two_52_minus_1 = _mm256_set1_pd(4_503_599_627_370_495.0);
        let two_31 = _mm256_set1_pd(2_147_483_648.0);
        let limit = _mm256_set1_pd(f64::from(buckets));
        let one_f = _mm256_set1_pd(1.0);
        for (block, block_out) in keys.chunks(4 * VECTORS).zip(out.chunks_mut(4 * VECTORS)) {
            let vectors = block.len() / 4;
            let mut key = [_mm256_setzero_si256(); VECTORS];
            let mut b_plus_1 = [one_f; VECTORS];
            let mut finished = [_mm256_setzero_pd(); VECTORS];
            for (v, k) in key.iter_mut().enumerate().take(vectors) {
                // SAFETY: 4 * v + 4 <= block.len().
                *k = unsafe { _mm256_loadu_si256(block.as_ptr().add(4 * v).cast::<__m256i>()) };
            }
            // Missing vectors of a short last block start finished.
            for f in finished.iter_mut().skip(vectors) {
                *f = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
            }
            loop {
                let mut all = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
                for v in 0..VECTORS {
                    // key = key * M + 1 (mod 2^64), from 32-bit halves
                    let k = key[v];
                    let low = _mm256_mul_epu32(k, multiplier_low);
                    let cross = _mm256_add_epi64(
                        _mm256_mul_epu32(_mm256_srli_epi64::<32>(k), multiplier_low),
                        _mm256_mul_epu32(k, multiplier_high),
                    );
                    let k = _mm256_add_epi64(
                        _mm256_add_epi64(low, _mm256_slli_epi64::<32>(cross)),
                        one,
                    );
                    key[v] = k;
                    // divisor = (key >> 33) + 1
                    let divisor_bits = _mm256_or_si256(_mm256_srli_epi64::<33>(k), two_52_bits);
                    let divisor = _mm256_sub_pd(_mm256_castsi256_pd(divisor_bits), two_52_minus_1);
                    let x = _mm256_mul_pd(b_plus_1[v], _mm256_div_pd(two_31, divisor));
                    let done = _mm256_or_pd(finished[v], _mm256_cmp_pd::<_CMP_GE_OQ>(x, limit));
                    let stepped = _mm256_add_pd(
                        _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(x),
                        one_f,
                    );
                    b_plus_1[v] = _mm256_blendv_pd(stepped, b_plus_1[v], done);
                    finished[v] = done;
                    all = _mm256_and_pd(all, done);
                }
                if _mm256_movemask_pd(all) == 0b1111 {
                    break;
                }
            }
            for (v, bp1) in b_plus_1.iter().enumerate().take(vectors) {
                let b = _mm256_cvttpd_epi32(_mm256_sub_pd(*bp1, one_f));
                // SAFETY: 4 * v + 4 <= block_out.len().
                unsafe { _mm_storeu_si128(block_out.as_mut_ptr().add(4 * v).cast::<__m128i>(), b) };
            }
        }
    }
}

/// The 64-bit value jump uses for a key: ints as they are, bytes through XXH3-64.
#[inline]
pub fn jump_key(key: KeyRef<'_>) -> u64 {
    match key {
        KeyRef::Int(v) => v,
        KeyRef::Bytes(b) => hash::xxh3_64(b, 0),
    }
}

/// Jump consistent hash over the node list; every weight must be 1.
#[derive(Clone, Debug)]
pub struct JumpHash {
    nodes: NodeSet,
}

const CLASS: &str = "JumpHash";

impl JumpHash {
    pub fn new(nodes: NodeSet) -> Result<Self, Error> {
        for (name, &w) in nodes.names().iter().zip(nodes.weights()) {
            check_unit_weight(CLASS, name, w)?;
        }
        Ok(JumpHash { nodes })
    }
}

impl Placement for JumpHash {
    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        let n = self.nodes.len() as u32;
        (n > 0).then(|| jump(jump_key(key), n))
    }

    /// Replica `r` is `jump(splitmix64(k + r), len - r)` over the nodes not yet chosen (in index
    /// order); replica 0 is `locate(key)`.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        let k = jump_key(key);
        let mut left: Vec<u32> = (0..self.nodes.len() as u32).collect();
        let mut out = Vec::with_capacity(n);
        for r in 0..n {
            let rk = if r == 0 {
                k
            } else {
                splitmix64(k.wrapping_add(r as u64))
            };
            let b = jump(rk, left.len() as u32) as usize;
            out.push(left.remove(b));
        }
        Ok(out)
    }

    fn place_into(&self, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
        if self.nodes.is_empty() {
            return Err(Error::NoNodes);
        }
        jump_keys_into(keys, self.nodes.len() as u32, out);
        Ok(())
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.check_new(name, weight)?;
        check_unit_weight(CLASS, name, weight)?;
        self.nodes.push(name.to_owned(), weight)?;
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        let i = self.nodes.require(name)? as usize;
        if i + 1 != self.nodes.len() {
            return Err(Error::Config(format!(
                "JumpHash can only remove its last node ({}), not {}; \
                 use MementoHash for arbitrary removal",
                quoted(self.nodes.names().last().expect("non-empty")),
                quoted(name)
            )));
        }
        self.nodes.remove(name)?;
        Ok(())
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.require(name)?;
        check_unit_weight(CLASS, name, weight)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // From the jump-consistent-hash package (the paper's reference code).
        assert_eq!(jump(12345, 10), 1);
        assert_eq!(jump(0, 1), 0);
        for k in 0..1000u64 {
            for n in 1..50u32 {
                let a = jump(k, n);
                let b = jump(k, n + 1);
                assert!(a < n);
                assert!(b == a || b == n, "monotone: only moves to the new bucket");
            }
        }
    }

    #[test]
    fn bulk_equals_scalar() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let keys: Vec<u64> = (0..100_003)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                x
            })
            .collect();
        for n in [1u32, 2, 7, 1000, 65_537, i32::MAX as u32] {
            for len in [0usize, 1, 7, 9, 100_003] {
                let got = jump_keys(Keys::Ints(&keys[..len]), n);
                assert_eq!(got.len(), len);
                assert!(keys.iter().zip(&got).all(|(&k, &g)| jump(k, n) as i32 == g));
            }
        }
    }

    #[test]
    fn both_kernels_equal_the_reference() {
        let mut x = 0x0123_4567_89ab_cdefu64;
        let keys: Vec<u64> = (0..10_007)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .chain([0, 1, u64::MAX, u64::MAX - 1])
            .collect();
        for n in [1u32, 2, 3, 10, 1000, 1 << 20, i32::MAX as u32] {
            let want: Vec<u32> = keys.iter().map(|&k| jump(k, n)).collect();
            for len in [0usize, 1, 3, 4, 5, 33, keys.len()] {
                let mut got = vec![u32::MAX; len];
                jump_into(&keys[..len], n, &mut got);
                assert_eq!(got, want[..len], "jump_into, n = {n}, len = {len}");
                let mut got = vec![u32::MAX; len];
                jump_into_lanes(&keys[..len], n, &mut got);
                assert_eq!(got, want[..len], "lanes, n = {n}, len = {len}");
            }
        }
    }

    #[test]
    fn only_last_removable() {
        let mut j = JumpHash::new(NodeSet::new([("a", 1.0), ("b", 1.0)]).unwrap()).unwrap();
        assert!(j.remove_node("a").is_err());
        j.remove_node("b").unwrap();
        assert!(j.add_node("c", 2.0).is_err());
        assert_eq!(j.locate_n(KeyRef::Int(7), 1).unwrap(), vec![0]);
    }
}
