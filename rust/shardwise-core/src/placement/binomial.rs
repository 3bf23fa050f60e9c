//! `BinomialHash`: Coluzzi, Brocco & Antonucci's BinomialHash ("BinomialHash: A Constant Time,
//! Minimal Memory Consistent Hash Algorithm", 2024): constant time, at most four rehashes.
//! Every key goes through XXH3-64 of its encoded bytes (ints: 8 bytes little-endian), since the
//! algorithm takes the hash's low bits directly.
//!
//! No maintained port could be used as an oracle (the authors publish Java only), so this
//! follows the paper's pseudocode as the authors' Java code implements it (`rehash`, the
//! relocation within a tree level, four retries, then the minor tree), and the tests check the
//! paper's properties: balance, monotonicity (growing moves keys only to the new bucket) and
//! minimal disruption.

use super::blocks::KeyHash;
use super::sequential::{RangeHash, Sequential};
use super::simd::{range_kernels, SLOW};

/// The linear congruential multiplier of `rehash` (jump hash's).
const LCG: u64 = 2_862_933_555_777_941_757;

/// The authors' rehash of a 64-bit value with a 32-bit seed.
#[inline(always)]
fn rehash(value: u64, seed: u32) -> u64 {
    let h = LCG.wrapping_mul(value).wrapping_add(1);
    h.wrapping_mul(h).wrapping_mul(u64::from(seed)) >> 32
}

/// A uniform position within the tree level of `bucket` (levels `[2^k, 2^(k+1))`; 0 and 1 are
/// the root).
#[inline(always)]
fn relocate(bucket: u32, hash: u64) -> u32 {
    if bucket < 2 {
        return bucket;
    }
    let base = 1u32 << bucket.ilog2();
    let filter = base - 1;
    base + (rehash(hash, filter) as u32 & filter)
}

/// Retries in the enclosing tree before falling back to the minor tree.
const RETRIES: usize = 4;

/// BinomialHash of a 64-bit key hash into `[0, buckets)` (`buckets` in `1..=i32::MAX`).
pub fn binomial(hash: u64, buckets: u32) -> u32 {
    if buckets < 2 {
        return 0;
    }
    with_trees(hash, buckets, buckets.next_power_of_two() - 1)
}

/// [`binomial`] with the enclosing tree's filter given (`2^k - 1 >= buckets - 1`).
#[inline(always)]
fn with_trees(hash: u64, buckets: u32, enclosing: u32) -> u32 {
    let minor = enclosing >> 1;
    let first = relocate(hash as u32 & enclosing, hash);
    if first < buckets {
        return first;
    }
    let mut h = hash;
    for _ in 0..RETRIES {
        h = rehash(h, enclosing);
        let b = relocate(h as u32 & enclosing, h);
        if b <= minor {
            break;
        }
        if b < buckets {
            return b;
        }
    }
    relocate(hash as u32 & minor, hash)
}

/// The BinomialHash range hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binomial;

impl RangeHash for Binomial {
    const CLASS: &'static str = "BinomialHash";
    const KEY_HASH: KeyHash = KeyHash::Xxh3;

    #[inline]
    fn bucket(hash: u64, buckets: u32) -> u32 {
        binomial(hash, buckets)
    }

    /// Eight keys per AVX-512 vector (four per AVX2 one) on the first relocation (enough for most
    /// keys); the rest through the full vector kernel (AVX-512) or one at a time (AVX2).
    fn buckets_into(hashes: &[u64], buckets: u32, out: &mut [u32]) {
        range_kernels!(
            hashes,
            buckets,
            out,
            binomial,
            avx2_first,
            avx512_first,
            avx512_full
        );
    }
}

/// `BinomialHash`: BinomialHash over the node list.
pub type BinomialHash = Sequential<Binomial>;

/// The first relocation of every key (four per vector): its bucket, or the scalar function's when
/// it is out of range; `buckets >= 2`, `hashes.len()` a multiple of 4.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_first(hashes: &[u64], buckets: u32, out: &mut [u32], scalar: &impl Fn(u64) -> u32) {
    use super::simd::avx2::*;
    use std::arch::x86_64::*;
    let enclosing = _mm256_set1_epi64x(i64::from(buckets.next_power_of_two() - 1));
    let n = _mm256_set1_epi64x(i64::from(buckets));
    let lcg = const64(LCG);
    let one = _mm256_set1_epi64x(1);
    let two = _mm256_set1_epi64x(2);
    let slow = _mm256_set1_epi64x(i64::from(SLOW));
    for at in (0..hashes.len()).step_by(4) {
        // SAFETY: at + 4 <= hashes.len() == out.len() (a multiple of 4).
        let hash = unsafe { load(hashes, at) };
        let bucket = _mm256_and_si256(hash, enclosing);
        let base = _mm256_sllv_epi64(one, log2(bucket));
        let filter = _mm256_sub_epi64(base, one);
        let h = _mm256_add_epi64(mul_const(hash, lcg), one);
        let r = _mm256_srli_epi64::<32>(mul_u32(mul(h, h), filter));
        let moved = _mm256_add_epi64(base, _mm256_and_si256(r, filter));
        let found = select(less(moved, n), moved, slow);
        let result = select(less(bucket, two), bucket, found);
        // SAFETY: at + 4 <= out.len() == hashes.len().
        unsafe { store_buckets(out, hashes, at, result, scalar) };
    }
}

/// [`avx2_first`] with AVX-512, eight keys per vector, slow lanes left marked [`SLOW`];
/// `hashes.len()` a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512cd,avx512vpopcntdq")]
unsafe fn avx512_first(hashes: &[u64], buckets: u32, out: &mut [u32]) {
    use super::simd::avx512::*;
    use std::arch::x86_64::*;
    let enclosing = _mm512_set1_epi64(i64::from(buckets.next_power_of_two() - 1));
    let n = _mm512_set1_epi64(i64::from(buckets));
    let slow = _mm512_set1_epi64(i64::from(SLOW));
    for at in (0..hashes.len()).step_by(8) {
        // SAFETY: at + 8 <= hashes.len() (a multiple of 8).
        let hash = unsafe { load(hashes, at) };
        let moved = relocate_512(_mm512_and_si512(hash, enclosing), hash);
        let found = _mm512_mask_blend_epi64(_mm512_cmplt_epu64_mask(moved, n), slow, moved);
        // SAFETY: at + 8 <= out.len() == hashes.len().
        unsafe { store(out, at, found) };
    }
}

/// [`rehash`] in every lane (`seed` below 2^32).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rehash_512(
    value: std::arch::x86_64::__m512i,
    seed: std::arch::x86_64::__m512i,
) -> std::arch::x86_64::__m512i {
    use super::simd::avx512::*;
    use std::arch::x86_64::*;
    let h = _mm512_add_epi64(mul(value, LCG), _mm512_set1_epi64(1));
    _mm512_srli_epi64::<32>(_mm512_mullo_epi64(_mm512_mullo_epi64(h, h), seed))
}

/// [`relocate`] in every lane.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn relocate_512(
    bucket: std::arch::x86_64::__m512i,
    hash: std::arch::x86_64::__m512i,
) -> std::arch::x86_64::__m512i {
    use super::simd::avx512::*;
    use std::arch::x86_64::*;
    let one = _mm512_set1_epi64(1);
    let base = _mm512_sllv_epi64(one, log2(bucket));
    let filter = _mm512_sub_epi64(base, one);
    let moved = _mm512_add_epi64(base, _mm512_and_si512(rehash_512(hash, filter), filter));
    let root = _mm512_cmplt_epu64_mask(bucket, _mm512_set1_epi64(2));
    _mm512_mask_blend_epi64(root, moved, bucket)
}

/// The whole of [`binomial`] for keys whose first relocation is out of range, eight per
/// AVX-512 vector: the retries for all lanes together, then the minor tree for the lanes that
/// fell back; `keys.len()` a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512cd,avx512vpopcntdq")]
unsafe fn avx512_full(keys: &[u64], buckets: u32, out: &mut [u32]) {
    use super::simd::avx512::*;
    use std::arch::x86_64::*;
    let enclosing_value = buckets.next_power_of_two() - 1;
    let enclosing = _mm512_set1_epi64(i64::from(enclosing_value));
    let minor = _mm512_set1_epi64(i64::from(enclosing_value >> 1));
    let n = _mm512_set1_epi64(i64::from(buckets));
    for at in (0..keys.len()).step_by(8) {
        // SAFETY: at + 8 <= keys.len() (a multiple of 8).
        let hash = unsafe { load(keys, at) };
        let mut result = relocate_512(_mm512_and_si512(hash, enclosing), hash);
        let mut active: __mmask8 = !_mm512_cmplt_epu64_mask(result, n);
        let mut fallback: __mmask8 = 0;
        let mut h = hash;
        for _ in 0..RETRIES {
            if active == 0 {
                break;
            }
            h = rehash_512(h, enclosing);
            let b = relocate_512(_mm512_and_si512(h, enclosing), h);
            let back = active & _mm512_cmple_epu64_mask(b, minor);
            let done = active & !back & _mm512_cmplt_epu64_mask(b, n);
            result = _mm512_mask_blend_epi64(done, result, b);
            fallback |= back;
            active &= !(back | done);
        }
        fallback |= active;
        if fallback != 0 {
            let lower = relocate_512(_mm512_and_si512(hash, minor), hash);
            result = _mm512_mask_blend_epi64(fallback, result, lower);
        }
        // SAFETY: at + 8 <= out.len() == keys.len().
        unsafe { store(out, at, result) };
    }
}

#[cfg(test)]
mod tests {
    use super::super::sequential::checks;
    use super::*;

    /// The authors' Java keeps the larger tree after shrinking to a power of two (it shrinks
    /// only below the minor tree); the buckets are the same as with the smaller tree.
    #[test]
    fn trees_kept_after_shrinking_give_the_same_buckets() {
        for h in checks::hashes(20_000, 11) {
            for k in 1..12 {
                let n = 1u32 << k;
                assert_eq!(binomial(h, n), with_trees(h, n, 2 * n - 1));
            }
        }
    }

    #[test]
    fn rehash_is_the_authors_long_arithmetic() {
        // (2862933555777941757 * 5 + 1)^2 * 7 >>> 32, in Java's wrapping 64-bit longs.
        let h = 2_862_933_555_777_941_757u64.wrapping_mul(5).wrapping_add(1);
        assert_eq!(rehash(5, 7), h.wrapping_mul(h).wrapping_mul(7) >> 32);
        assert_eq!(relocate(0, 99), 0);
        assert_eq!(relocate(1, 99), 1);
        for h in checks::hashes(1000, 2) {
            for b in 2..300u32 {
                let r = relocate(b, h);
                assert_eq!(r.ilog2(), b.ilog2(), "stays in its level");
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn every_kernel_equals_the_scalar_function() {
        checks::kernels_equal_scalar!(binomial, avx2_first, avx512_first, avx512_full);
    }

    #[test]
    fn properties() {
        checks::monotone_and_in_range::<Binomial>();
        checks::balanced::<Binomial>();
        checks::bulk_equals_scalar::<Binomial>();
    }

    #[test]
    fn growing_moves_about_one_share_to_the_new_bucket() {
        let hs = checks::hashes(100_000, 4);
        for n in [5u32, 8, 9, 100, 1000] {
            let moved = hs
                .iter()
                .filter(|&&h| binomial(h, n) != binomial(h, n + 1))
                .count() as f64
                / hs.len() as f64;
            let ideal = 1.0 / f64::from(n + 1);
            assert!(
                (moved - ideal).abs() < 0.2 * ideal + 0.002,
                "n={n}: {moved} vs {ideal}"
            );
        }
    }
}
