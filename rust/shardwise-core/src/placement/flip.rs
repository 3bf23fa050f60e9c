//! `FlipHash`: Masson & Lee's FlipHash ("FlipHash: A Constant-Time Consistent Range-Hashing
//! Algorithm", 2024): constant time, a few multiplications per key. Int keys are used as they
//! are, other keys go through XXH3-64 first; the 64-bit value is hashed into `[0, n)` exactly
//! as the `fliphash` crate's (DataDog's) `fliphash_64(value, ..=n - 1)` (tested).

use super::blocks::KeyHash;
use super::sequential::{RangeHash, Sequential};
use super::simd::{range_kernels, SLOW};

const MIX_1: u64 = 0x3c79_ac49_2ba7_b653;
const MIX_2: u64 = 0x1c69_b3f7_4ac4_ae35;

/// Draws the authors' seeded integer hash: `(key, bit length, iteration)` to 64 random bits
/// (seed 0).
#[inline(always)]
fn draw(key: u64, bits: u32, iteration: u32) -> u64 {
    let mut k = key.wrapping_mul(u64::from(bits) * 2 + 1);
    k = (k ^ (k >> 27)).wrapping_mul(MIX_1);
    k = k.wrapping_mul(u64::from(iteration) * 2 + 1);
    k = (k ^ (k >> 33)).wrapping_mul(MIX_2);
    k ^ (k >> 27)
}

/// FlipHash into the power-of-two range `[0, mask]`, from the key's first draw `first`.
#[inline(always)]
fn flip_pow2(key: u64, first: u64, mask: u64) -> u64 {
    let masked = first & mask;
    if masked == 0 {
        return 0;
    }
    let flipper = draw(key, masked.ilog2(), 0) & (u64::MAX >> masked.leading_zeros() >> 1);
    masked ^ flipper
}

/// Draws tried in the range's upper half before falling back to the lower half.
const MAX_ITERATIONS: u32 = 64;

/// FlipHash of a 64-bit key into `[0, buckets)` (`buckets >= 1`).
pub fn flip(key: u64, buckets: u32) -> u32 {
    let end = u64::from(buckets.max(1) - 1);
    if end == 0 {
        return 0;
    }
    let mask = u64::MAX >> end.leading_zeros();
    let first = draw(key, 0, 0);
    let pow2 = flip_pow2(key, first, mask);
    if pow2 <= end {
        return pow2 as u32;
    }
    for iteration in 1..=MAX_ITERATIONS {
        let d = draw(key, end.ilog2(), iteration) & mask;
        if d <= mask >> 1 {
            break;
        }
        if d <= end {
            return d as u32;
        }
    }
    flip_pow2(key, first, mask >> 1) as u32
}

/// The FlipHash range hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flip;

impl RangeHash for Flip {
    const CLASS: &'static str = "FlipHash";
    const KEY_HASH: KeyHash = KeyHash::RawInts;

    #[inline]
    fn bucket(hash: u64, buckets: u32) -> u32 {
        flip(hash, buckets)
    }

    /// Eight keys per AVX-512 vector (four per AVX2 one) on the power-of-two step (enough for most
    /// keys); the rest through the full vector kernel (AVX-512) or one at a time (AVX2).
    fn buckets_into(hashes: &[u64], buckets: u32, out: &mut [u32]) {
        range_kernels!(
            hashes,
            buckets,
            out,
            flip,
            avx2_pow2,
            avx512_pow2,
            avx512_full
        );
    }
}

/// `FlipHash`: FlipHash over the node list.
pub type FlipHash = Sequential<Flip>;

/// The power-of-two step of every key (four per vector): its bucket, or the scalar function's
/// when it is out of range; `buckets >= 2`, `hashes.len()` a multiple of 4.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_pow2(hashes: &[u64], buckets: u32, out: &mut [u32], scalar: &impl Fn(u64) -> u32) {
    use super::simd::avx2::*;
    use std::arch::x86_64::*;
    let end = u64::from(buckets - 1);
    let mask = _mm256_set1_epi64x((u64::MAX >> end.leading_zeros()) as i64);
    let end = _mm256_set1_epi64x(end as i64);
    let mix_1 = const64(MIX_1);
    let mix_2 = const64(MIX_2);
    let one = _mm256_set1_epi64x(1);
    let zero = _mm256_setzero_si256();
    let slow = _mm256_set1_epi64x(i64::from(SLOW));
    for at in (0..hashes.len()).step_by(4) {
        // SAFETY: at + 4 <= hashes.len() == out.len() (a multiple of 4).
        let key = unsafe { load(hashes, at) };
        // draw(key, 0, 0): the multiplications by 1 drop out.
        let k = mul_const(xor_shift::<27>(key), mix_1);
        let k = mul_const(xor_shift::<33>(k), mix_2);
        let masked = _mm256_and_si256(xor_shift::<27>(k), mask);
        // draw(key, log2(masked), 0), masked to the bits below the top one.
        let bits = log2(masked);
        let k = mul_u32(key, _mm256_add_epi64(_mm256_slli_epi64::<1>(bits), one));
        let k = mul_const(xor_shift::<27>(k), mix_1);
        let k = mul_const(xor_shift::<33>(k), mix_2);
        let below_top = _mm256_sub_epi64(_mm256_sllv_epi64(one, bits), one);
        let flipped = _mm256_xor_si256(masked, _mm256_and_si256(xor_shift::<27>(k), below_top));
        let found = select(less(end, flipped), slow, flipped);
        let bucket = select(_mm256_cmpeq_epi64(masked, zero), zero, found);
        // SAFETY: at + 4 <= out.len() == hashes.len().
        unsafe { store_buckets(out, hashes, at, bucket, scalar) };
    }
}

/// [`avx2_pow2`] with AVX-512, eight keys per vector, slow lanes left marked [`SLOW`];
/// `hashes.len()` a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512cd,avx512vpopcntdq")]
unsafe fn avx512_pow2(hashes: &[u64], buckets: u32, out: &mut [u32]) {
    use super::simd::avx512::*;
    use std::arch::x86_64::*;
    let end = u64::from(buckets - 1);
    let mask = u64::MAX >> end.leading_zeros();
    let end = _mm512_set1_epi64(end as i64);
    let slow = _mm512_set1_epi64(i64::from(SLOW));
    for at in (0..hashes.len()).step_by(8) {
        // SAFETY: at + 8 <= hashes.len() (a multiple of 8).
        let key = unsafe { load(hashes, at) };
        let flipped = pow2_512(key, first_draw_512(key), mask);
        let found = _mm512_mask_blend_epi64(_mm512_cmple_epu64_mask(flipped, end), slow, flipped);
        // SAFETY: at + 8 <= out.len() == hashes.len().
        unsafe { store(out, at, found) };
    }
}

/// `draw(key, 0, 0)` in every lane (the multiplications by 1 drop out).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn first_draw_512(key: std::arch::x86_64::__m512i) -> std::arch::x86_64::__m512i {
    use super::simd::avx512::*;
    let k = mul(xor_shift::<27>(key), MIX_1);
    xor_shift::<27>(mul(xor_shift::<33>(k), MIX_2))
}

/// [`flip_pow2`] in every lane.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn pow2_512(
    key: std::arch::x86_64::__m512i,
    first: std::arch::x86_64::__m512i,
    mask: u64,
) -> std::arch::x86_64::__m512i {
    use super::simd::avx512::*;
    use std::arch::x86_64::*;
    let one = _mm512_set1_epi64(1);
    let zero = _mm512_setzero_si512();
    let masked = _mm512_and_si512(first, _mm512_set1_epi64(mask as i64));
    let bits = log2(masked);
    let k = _mm512_mullo_epi64(key, _mm512_add_epi64(_mm512_slli_epi64::<1>(bits), one));
    let k = mul(xor_shift::<33>(mul(xor_shift::<27>(k), MIX_1)), MIX_2);
    let below_top = _mm512_sub_epi64(_mm512_sllv_epi64(one, bits), one);
    let flipped = _mm512_xor_si512(masked, _mm512_and_si512(xor_shift::<27>(k), below_top));
    _mm512_mask_blend_epi64(_mm512_cmpeq_epi64_mask(masked, zero), flipped, zero)
}

/// The whole of [`flip`] for keys whose power-of-two step is out of range, eight per AVX-512
/// vector: the draws in the upper half, iteration by iteration for all lanes together, then the
/// lower half's power-of-two step for the lanes that fell back; `keys.len()` a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512cd,avx512vpopcntdq")]
unsafe fn avx512_full(keys: &[u64], buckets: u32, out: &mut [u32]) {
    use super::simd::avx512::*;
    use std::arch::x86_64::*;
    let end_value = u64::from(buckets - 1);
    let mask = u64::MAX >> end_value.leading_zeros();
    let end = _mm512_set1_epi64(end_value as i64);
    let half = _mm512_set1_epi64((mask >> 1) as i64);
    let bits_factor = u64::from(end_value.ilog2()) * 2 + 1;
    for at in (0..keys.len()).step_by(8) {
        // SAFETY: at + 8 <= keys.len() (a multiple of 8).
        let key = unsafe { load(keys, at) };
        let mut result = pow2_512(key, first_draw_512(key), mask);
        let mut active: __mmask8 = !_mm512_cmple_epu64_mask(result, end);
        let mut fallback: __mmask8 = 0;
        let mut iteration = 1u64;
        while active != 0 && iteration <= u64::from(MAX_ITERATIONS) {
            let k = mul(key, bits_factor);
            let k = mul(mul(xor_shift::<27>(k), MIX_1), iteration * 2 + 1);
            let d = _mm512_and_si512(
                xor_shift::<27>(mul(xor_shift::<33>(k), MIX_2)),
                _mm512_set1_epi64(mask as i64),
            );
            let back = active & _mm512_cmple_epu64_mask(d, half);
            let done = active & !back & _mm512_cmple_epu64_mask(d, end);
            result = _mm512_mask_blend_epi64(done, result, d);
            fallback |= back;
            active &= !(back | done);
            iteration += 1;
        }
        fallback |= active;
        if fallback != 0 {
            let lower = pow2_512(key, first_draw_512(key), mask >> 1);
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

    #[test]
    fn equals_the_fliphash_crate() {
        let mut keys = checks::hashes(20_000, 5);
        keys.extend([0, 1, 2, u64::MAX, 1 << 63, 10_427_592_028_180_905_159]);
        keys.extend(0..2000u64);
        for n in (1..70u32).chain([
            100,
            1000,
            1023,
            1024,
            1025,
            65_537,
            1 << 30,
            i32::MAX as u32,
        ]) {
            let want: Vec<u32> = keys
                .iter()
                .map(|&k| fliphash::fliphash_64(k, ..=u64::from(n - 1)) as u32)
                .collect();
            let one_by_one: Vec<u32> = keys.iter().map(|&k| flip(k, n)).collect();
            assert_eq!(one_by_one, want, "n {n}");
            let mut bulk = vec![0u32; keys.len()];
            Flip::buckets_into(&keys, n, &mut bulk);
            assert_eq!(bulk, want, "bulk, n {n}");
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn every_kernel_equals_the_scalar_function() {
        checks::kernels_equal_scalar!(flip, avx2_pow2, avx512_pow2, avx512_full);
    }

    #[test]
    fn properties() {
        checks::monotone_and_in_range::<Flip>();
        checks::balanced::<Flip>();
        checks::bulk_equals_scalar::<Flip>();
    }
}
