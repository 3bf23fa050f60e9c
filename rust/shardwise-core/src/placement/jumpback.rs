//! `JumpBackHash`: Ertl's JumpBackHash ("JumpBackHash: Say Goodbye to the Modulo Operation to
//! Distribute Keys Uniformly to Buckets", 2024): expected constant time, integer arithmetic
//! only. The random values come from SplitMix64 seeded with the key's 64-bit value (as hash4j's
//! default generator); int keys are used as they are, other keys go through XXH3-64 first.
//! Bit for bit the `jump-back-hash` crate's `bucket` driven by that generator (tested).

use super::blocks::KeyHash;
use super::sequential::{RangeHash, Sequential};
use super::simd::{range_kernels, SLOW};
use crate::hash::{splitmix64, GOLDEN_GAMMA};

/// The next SplitMix64 value of `state` (state advanced by the golden gamma, then mixed).
#[inline(always)]
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(GOLDEN_GAMMA);
    splitmix64(*state)
}

/// The first value's 32 bits, masked to the bucket range's bit width (`buckets >= 2`).
#[inline(always)]
fn first_bits(r0: u64, buckets: u32) -> u32 {
    ((r0 ^ (r0 >> 32)) as u32) & (u32::MAX >> (buckets - 1).leading_zeros())
}

/// The bucket the active index in the highest set bit of `x` proposes (`x != 0`).
#[inline(always)]
fn proposal(r0: u64, x: u32) -> (u32, u32) {
    let low = 1u32 << (31 - x.leading_zeros());
    let shift = (x.count_ones() * 32) & 63;
    (low, low | ((r0 >> shift) as u32 & (low - 1)))
}

/// JumpBackHash of a 64-bit key into `[0, buckets)` (`buckets` in `1..=i32::MAX`).
pub fn jump_back(key: u64, buckets: u32) -> u32 {
    if buckets <= 1 {
        return 0;
    }
    let mut state = key;
    let r0 = next(&mut state);
    let mut x = first_bits(r0, buckets);
    while x != 0 {
        let (low, idx) = proposal(r0, x);
        if idx < buckets {
            return idx;
        }
        let range = (low << 1) - 1;
        loop {
            let r1 = next(&mut state);
            let first = r1 as u32 & range;
            if first < low {
                break;
            }
            if first < buckets {
                return first;
            }
            let second = (r1 >> 32) as u32 & range;
            if second < low {
                break;
            }
            if second < buckets {
                return second;
            }
        }
        x ^= low;
    }
    0
}

/// The JumpBackHash range hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JumpBack;

impl RangeHash for JumpBack {
    const CLASS: &'static str = "JumpBackHash";
    const KEY_HASH: KeyHash = KeyHash::RawInts;

    #[inline]
    fn bucket(hash: u64, buckets: u32) -> u32 {
        jump_back(hash, buckets)
    }

    /// Eight keys per AVX-512 vector (four per AVX2 one) on the first proposal (taken by
    /// about 97% of keys at 1,000 buckets); the rest through the full vector kernel (AVX-512)
    /// or one at a time (AVX2).
    fn buckets_into(hashes: &[u64], buckets: u32, out: &mut [u32]) {
        range_kernels!(
            hashes,
            buckets,
            out,
            jump_back,
            avx2_first,
            avx512_first,
            avx512_full
        );
    }
}

/// `JumpBackHash`: JumpBackHash over the node list.
pub type JumpBackHash = Sequential<JumpBack>;

/// The first proposal of every key (four per vector): its bucket, or the scalar function's when
/// it is out of range; `buckets >= 2`, `hashes.len()` a multiple of 4.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_first(hashes: &[u64], buckets: u32, out: &mut [u32], scalar: &impl Fn(u64) -> u32) {
    use super::simd::avx2::*;
    use std::arch::x86_64::*;
    let gamma = _mm256_set1_epi64x(GOLDEN_GAMMA as i64);
    let c1 = const64(0xbf58_476d_1ce4_e5b9);
    let c2 = const64(0x94d0_49bb_1331_11eb);
    let width = _mm256_set1_epi64x(i64::from(u32::MAX >> (buckets - 1).leading_zeros()));
    let n = _mm256_set1_epi64x(i64::from(buckets));
    let one = _mm256_set1_epi64x(1);
    let slow = _mm256_set1_epi64x(i64::from(SLOW));
    let zero = _mm256_setzero_si256();
    for at in (0..hashes.len()).step_by(4) {
        // SAFETY: at + 4 <= hashes.len() == out.len() (a multiple of 4).
        let state = _mm256_add_epi64(unsafe { load(hashes, at) }, gamma);
        let z = mul_const(xor_shift::<30>(state), c1);
        let z = mul_const(xor_shift::<27>(z), c2);
        let r0 = xor_shift::<31>(z);
        let x = _mm256_and_si256(xor_shift::<32>(r0), width);
        let low = _mm256_sllv_epi64(one, log2(x));
        let shift = _mm256_slli_epi64::<5>(_mm256_and_si256(popcount(x), one));
        let rest = _mm256_and_si256(_mm256_srlv_epi64(r0, shift), _mm256_sub_epi64(low, one));
        let idx = _mm256_or_si256(low, rest);
        let found = select(less(idx, n), idx, slow);
        let bucket = select(_mm256_cmpeq_epi64(x, zero), zero, found);
        // SAFETY: at + 4 <= out.len() == hashes.len().
        unsafe { store_buckets(out, hashes, at, bucket, scalar) };
    }
}

/// [`avx2_first`] with AVX-512, eight keys per vector (native 64-bit multiplies, leading-zero
/// count and population count), slow lanes left marked [`SLOW`]; `hashes.len()` a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512cd,avx512vpopcntdq")]
unsafe fn avx512_first(hashes: &[u64], buckets: u32, out: &mut [u32]) {
    use super::simd::avx512::*;
    use std::arch::x86_64::*;
    let gamma = _mm512_set1_epi64(GOLDEN_GAMMA as i64);
    let width = _mm512_set1_epi64(i64::from(u32::MAX >> (buckets - 1).leading_zeros()));
    let n = _mm512_set1_epi64(i64::from(buckets));
    let one = _mm512_set1_epi64(1);
    let slow = _mm512_set1_epi64(i64::from(SLOW));
    let zero = _mm512_setzero_si512();
    for at in (0..hashes.len()).step_by(8) {
        // SAFETY: at + 8 <= hashes.len() (a multiple of 8).
        let r0 = splitmix(_mm512_add_epi64(unsafe { load(hashes, at) }, gamma));
        let x = _mm512_and_si512(xor_shift::<32>(r0), width);
        let low = _mm512_sllv_epi64(one, log2(x));
        let shift = _mm512_slli_epi64::<5>(_mm512_and_si512(_mm512_popcnt_epi64(x), one));
        let rest = _mm512_and_si512(_mm512_srlv_epi64(r0, shift), _mm512_sub_epi64(low, one));
        let idx = _mm512_or_si512(low, rest);
        let found = _mm512_mask_blend_epi64(_mm512_cmplt_epu64_mask(idx, n), slow, idx);
        let bucket = _mm512_mask_blend_epi64(_mm512_cmpeq_epi64_mask(x, zero), found, zero);
        // SAFETY: at + 8 <= out.len() == hashes.len().
        unsafe { store(out, at, bucket) };
    }
}

/// The whole of [`jump_back`], eight keys per AVX-512 vector stepped together until every lane
/// is done (each lane's proposals and draws in the scalar order); `keys.len()` a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512cd,avx512vpopcntdq")]
unsafe fn avx512_full(keys: &[u64], buckets: u32, out: &mut [u32]) {
    use super::simd::avx512::*;
    use std::arch::x86_64::*;
    let gamma = _mm512_set1_epi64(GOLDEN_GAMMA as i64);
    let width = _mm512_set1_epi64(i64::from(u32::MAX >> (buckets - 1).leading_zeros()));
    let n = _mm512_set1_epi64(i64::from(buckets));
    let one = _mm512_set1_epi64(1);
    let zero = _mm512_setzero_si512();
    for at in (0..keys.len()).step_by(8) {
        // SAFETY: at + 8 <= keys.len() (a multiple of 8).
        let mut state = _mm512_add_epi64(unsafe { load(keys, at) }, gamma);
        let r0 = splitmix(state);
        let mut x = _mm512_and_si512(xor_shift::<32>(r0), width);
        let mut result = zero;
        let mut low = zero;
        let mut active: __mmask8 = _mm512_cmpneq_epi64_mask(x, zero);
        let mut drawing: __mmask8 = 0;
        while active != 0 {
            // Proposal of the highest set bit of x, for the lanes not drawing.
            let proposing = active & !drawing;
            if proposing != 0 {
                let l = _mm512_sllv_epi64(one, log2(x));
                let shift = _mm512_slli_epi64::<5>(_mm512_and_si512(_mm512_popcnt_epi64(x), one));
                let rest = _mm512_and_si512(_mm512_srlv_epi64(r0, shift), _mm512_sub_epi64(l, one));
                let idx = _mm512_or_si512(l, rest);
                let ok = proposing & _mm512_cmplt_epu64_mask(idx, n);
                result = _mm512_mask_blend_epi64(ok, result, idx);
                active &= !ok;
                let to_draw = proposing & !ok;
                low = _mm512_mask_blend_epi64(to_draw, low, l);
                drawing |= to_draw;
            }
            // One draw of two candidates, for the drawing lanes.
            let d = active & drawing;
            if d != 0 {
                state = _mm512_mask_add_epi64(state, d, state, gamma);
                let r1 = splitmix(state);
                let range = _mm512_sub_epi64(_mm512_slli_epi64::<1>(low), one);
                let first = _mm512_and_si512(r1, range);
                let second = _mm512_and_si512(_mm512_srli_epi64::<32>(r1), range);
                let back_1 = d & _mm512_cmplt_epu64_mask(first, low);
                let done_1 = d & !back_1 & _mm512_cmplt_epu64_mask(first, n);
                let next = d & !back_1 & !done_1;
                let back_2 = next & _mm512_cmplt_epu64_mask(second, low);
                let done_2 = next & !back_2 & _mm512_cmplt_epu64_mask(second, n);
                result = _mm512_mask_blend_epi64(done_1, result, first);
                result = _mm512_mask_blend_epi64(done_2, result, second);
                active &= !(done_1 | done_2);
                let back = back_1 | back_2;
                x = _mm512_mask_xor_epi64(x, back, x, low);
                drawing &= !back;
                // x exhausted: the bucket is 0 (result still holds 0 for these lanes).
                active &= !(back & _mm512_cmpeq_epi64_mask(x, zero));
            }
        }
        // SAFETY: at + 8 <= out.len() == keys.len().
        unsafe { store(out, at, result) };
    }
}

#[cfg(test)]
mod tests {
    use super::super::sequential::checks;
    use super::*;

    /// SplitMix64 as a `rand_core` generator, seeded with the key: the step `jump_back` takes.
    struct SplitMix(u64);

    impl rand_core::RngCore for SplitMix {
        fn next_u32(&mut self) -> u32 {
            next(&mut self.0) as u32
        }
        fn next_u64(&mut self) -> u64 {
            next(&mut self.0)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            rand_core::impls::fill_bytes_via_next(self, dest);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    fn oracle(key: u64, buckets: u32) -> u32 {
        jump_back_hash::bucket(&mut SplitMix(key), buckets)
    }

    #[test]
    fn equals_the_jump_back_hash_crate() {
        let mut keys = checks::hashes(20_000, 99);
        keys.extend([0, 1, 2, 3, u64::MAX, 1 << 63, 0xdead_beef]);
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
            for &k in &keys {
                assert_eq!(jump_back(k, n), oracle(k, n), "key {k:#x}, n {n}");
            }
            let mut bulk = vec![0u32; keys.len()];
            JumpBack::buckets_into(&keys, n, &mut bulk);
            assert!(
                keys.iter().zip(&bulk).all(|(&k, &b)| b == oracle(k, n)),
                "bulk, n {n}"
            );
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn every_kernel_equals_the_scalar_function() {
        checks::kernels_equal_scalar!(jump_back, avx2_first, avx512_first, avx512_full);
    }

    #[test]
    fn properties() {
        checks::monotone_and_in_range::<JumpBack>();
        checks::balanced::<JumpBack>();
        checks::bulk_equals_scalar::<JumpBack>();
    }
}
