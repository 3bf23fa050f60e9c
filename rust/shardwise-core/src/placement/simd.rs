//! SIMD building blocks of the bulk bucket kernels (AVX-512: eight 64-bit lanes per vector;
//! AVX2: four), and the run-time dispatch they share: a kernel computes every key's bucket on
//! its fast path and marks the lanes that need the slow path with [`SLOW`]; with AVX-512 those
//! keys are then run together through a full vector kernel ([`redo_slow`]), with AVX2 one at a
//! time through the scalar function.

/// A lane that left the fast path (never a bucket: buckets are below `i32::MAX`).
pub const SLOW: u32 = u32::MAX;

/// `out[i] = scalar(hashes[i])`, through `fast` (an AVX2 kernel over a multiple of four keys,
/// which redoes its [`SLOW`] lanes with `scalar` itself) where the CPU has AVX2: `fast` is
/// called only after AVX2 was detected at run time, so it may call
/// `#[target_feature(enable = "avx2")]` functions.
pub fn dispatch<S: Fn(u64) -> u32>(
    hashes: &[u64],
    out: &mut [u32],
    #[allow(unused_variables)] fast: impl Fn(&[u64], &mut [u32], &S),
    scalar: S,
) {
    dispatch_wide(
        hashes,
        out,
        None::<fn(&[u64], &mut [u32], &S)>,
        fast,
        scalar,
    );
}

/// Whether the CPU has the AVX-512 subsets the wide kernels use (F, DQ, CD, VPOPCNTDQ).
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512cd")
            && std::is_x86_feature_detected!("avx512vpopcntdq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`dispatch`] with an optional AVX-512 kernel `wide` (a multiple of eight keys, called only
/// where [`has_avx512`] is true), tried before the AVX2 one.
pub fn dispatch_wide<S: Fn(u64) -> u32>(
    hashes: &[u64],
    out: &mut [u32],
    #[allow(unused_variables)] wide: Option<impl Fn(&[u64], &mut [u32], &S)>,
    #[allow(unused_variables)] fast: impl Fn(&[u64], &mut [u32], &S),
    scalar: S,
) {
    assert_eq!(hashes.len(), out.len(), "bucket kernel: lengths differ");
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(wide) = wide.filter(|_| has_avx512()) {
            done = hashes.len() / 8 * 8;
            wide(&hashes[..done], &mut out[..done], &scalar);
        } else if std::is_x86_feature_detected!("avx2") {
            done = hashes.len() / 4 * 4;
            fast(&hashes[..done], &mut out[..done], &scalar);
        }
    }
    for (o, &h) in out[done..].iter_mut().zip(&hashes[done..]) {
        *o = scalar(h);
    }
}

/// The body of a range hash's `buckets_into`: 0 for one bucket; else the AVX-512 fast kernel
/// then [`redo_slow`] with the full AVX-512 kernel, or the AVX2 kernel (slow lanes through the
/// scalar function), or the scalar function, whichever the CPU allows. The kernels take
/// `(keys, buckets, out)` (and the AVX2 one the scalar function as well).
macro_rules! range_kernels {
    (
        $hashes:expr, $buckets:expr, $out:expr,
        $scalar:path, $avx2:path, $avx512:path, $avx512_full:path
    ) => {{
        let (hashes, buckets, out): (&[u64], u32, &mut [u32]) = ($hashes, $buckets, $out);
        if buckets <= 1 {
            out.fill(0);
            return;
        }
        $crate::placement::simd::dispatch_wide(
            hashes,
            out,
            Some(|h: &[u64], o: &mut [u32], _: &_| {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: called only where the CPU has the AVX-512 subsets; 8 divides h.len().
                unsafe {
                    $avx512(h, buckets, o);
                    $crate::placement::simd::redo_slow(h, o, |k, f| $avx512_full(k, buckets, f));
                }
            }),
            |h, o, scalar| {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: called only where the CPU has AVX2; 4 divides h.len().
                unsafe {
                    $avx2(h, buckets, o, scalar)
                }
            },
            |h| $scalar(h, buckets),
        );
    }};
}
pub(crate) use range_kernels;

/// Redo the [`SLOW`] slots of `out` with `full`, a kernel that runs the whole algorithm (its
/// loop included) on a multiple of eight keys: the slow keys of each block are gathered into a
/// contiguous buffer (padded to a multiple of eight), run together, and written back. Keys that
/// leave the fast path then cost a few vector steps instead of one mispredicted scalar loop
/// each (a fifth of the keys at 100 buckets, for example).
pub fn redo_slow(hashes: &[u64], out: &mut [u32], full: impl Fn(&[u64], &mut [u32])) {
    const BLOCK: usize = super::blocks::KEY_BLOCK;
    let mut at = [0u32; BLOCK];
    let mut keys = [0u64; BLOCK + 8];
    let mut found = [0u32; BLOCK + 8];
    for (block_hashes, block_out) in hashes.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
        let mut count = 0;
        for (i, (&o, &h)) in block_out.iter().zip(block_hashes).enumerate() {
            // Branch-free compaction: always write, advance only past slow keys.
            at[count] = i as u32;
            keys[count] = h;
            count += usize::from(o == SLOW);
        }
        if count == 0 {
            continue;
        }
        let padded = count.div_ceil(8) * 8;
        let first = keys[0];
        keys[count..padded].fill(first);
        full(&keys[..padded], &mut found[..padded]);
        for (&i, &f) in at[..count].iter().zip(&found[..count]) {
            block_out[i as usize] = f;
        }
    }
}

/// Lane-wise helpers, always inlined into the `#[target_feature(enable = "avx2")]` kernels that
/// call them. Safety, for every function here: the CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::missing_safety_doc)]
pub mod avx2 {
    use std::arch::x86_64::*;

    /// A 64-bit constant split for [`mul_const`]: (low 32 bits, high 32 bits) in every lane.
    #[derive(Clone, Copy)]
    pub struct Const64 {
        low: __m256i,
        high: __m256i,
    }

    #[inline(always)]
    pub unsafe fn const64(c: u64) -> Const64 {
        Const64 {
            low: _mm256_set1_epi64x((c & 0xffff_ffff) as i64),
            high: _mm256_set1_epi64x((c >> 32) as i64),
        }
    }

    /// `a * c` (mod 2^64) in every lane.
    #[inline(always)]
    pub unsafe fn mul_const(a: __m256i, c: Const64) -> __m256i {
        let low = _mm256_mul_epu32(a, c.low);
        let cross = _mm256_add_epi64(
            _mm256_mul_epu32(_mm256_srli_epi64::<32>(a), c.low),
            _mm256_mul_epu32(a, c.high),
        );
        _mm256_add_epi64(low, _mm256_slli_epi64::<32>(cross))
    }

    /// `a * b` (mod 2^64) in every lane.
    #[inline(always)]
    pub unsafe fn mul(a: __m256i, b: __m256i) -> __m256i {
        let low = _mm256_mul_epu32(a, b);
        let cross = _mm256_add_epi64(
            _mm256_mul_epu32(_mm256_srli_epi64::<32>(a), b),
            _mm256_mul_epu32(a, _mm256_srli_epi64::<32>(b)),
        );
        _mm256_add_epi64(low, _mm256_slli_epi64::<32>(cross))
    }

    /// `a * s` (mod 2^64) in every lane, `s` below 2^32.
    #[inline(always)]
    pub unsafe fn mul_u32(a: __m256i, s: __m256i) -> __m256i {
        let low = _mm256_mul_epu32(a, s);
        let high = _mm256_mul_epu32(_mm256_srli_epi64::<32>(a), s);
        _mm256_add_epi64(low, _mm256_slli_epi64::<32>(high))
    }

    /// `x ^ (x >> S)` in every lane.
    #[inline(always)]
    pub unsafe fn xor_shift<const S: i32>(x: __m256i) -> __m256i {
        _mm256_xor_si256(x, _mm256_srli_epi64::<S>(x))
    }

    /// `floor(log2(x))` of every lane, `x` in `[1, 2^52)` (lanes holding 0 give garbage):
    /// the exponent of `x` as an exact double.
    #[inline(always)]
    pub unsafe fn log2(x: __m256i) -> __m256i {
        let two_52_bits = _mm256_set1_epi64x(0x4330_0000_0000_0000);
        let as_double = _mm256_sub_pd(
            _mm256_castsi256_pd(_mm256_or_si256(x, two_52_bits)),
            _mm256_castsi256_pd(two_52_bits),
        );
        _mm256_sub_epi64(
            _mm256_srli_epi64::<52>(_mm256_castpd_si256(as_double)),
            _mm256_set1_epi64x(1023),
        )
    }

    /// The number of set bits of every lane.
    #[inline(always)]
    pub unsafe fn popcount(x: __m256i) -> __m256i {
        let nibble_counts = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
            3, 3, 4,
        );
        let low_nibbles = _mm256_set1_epi8(0x0f);
        let low = _mm256_shuffle_epi8(nibble_counts, _mm256_and_si256(x, low_nibbles));
        let high = _mm256_shuffle_epi8(
            nibble_counts,
            _mm256_and_si256(_mm256_srli_epi16::<4>(x), low_nibbles),
        );
        _mm256_sad_epu8(_mm256_add_epi8(low, high), _mm256_setzero_si256())
    }

    /// `a < b` of every lane (values below 2^63) as an all-ones mask.
    #[inline(always)]
    pub unsafe fn less(a: __m256i, b: __m256i) -> __m256i {
        _mm256_cmpgt_epi64(b, a)
    }

    /// `mask ? a : b` lane by lane.
    #[inline(always)]
    pub unsafe fn select(mask: __m256i, a: __m256i, b: __m256i) -> __m256i {
        _mm256_blendv_epi8(b, a, mask)
    }

    /// Load four keys from `keys[at..at + 4]`.
    ///
    /// # Safety
    /// `at + 4 <= keys.len()`, and the CPU has AVX2.
    #[inline(always)]
    pub unsafe fn load(keys: &[u64], at: usize) -> __m256i {
        debug_assert!(at + 4 <= keys.len());
        // SAFETY: the caller guarantees `at + 4 <= keys.len()`.
        unsafe { _mm256_loadu_si256(keys.as_ptr().add(at).cast::<__m256i>()) }
    }

    /// Store the low 32 bits of each lane into `out[at..at + 4]`, each [`super::SLOW`] lane
    /// replaced by `scalar(keys[at + lane])`.
    ///
    /// # Safety
    /// `at + 4 <= out.len()` and `at + 4 <= keys.len()`, and the CPU has AVX2.
    #[inline(always)]
    pub unsafe fn store_buckets(
        out: &mut [u32],
        keys: &[u64],
        at: usize,
        v: __m256i,
        scalar: &impl Fn(u64) -> u32,
    ) {
        debug_assert!(at + 4 <= out.len() && at + 4 <= keys.len());
        let slow = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(
            v,
            _mm256_set1_epi64x(i64::from(super::SLOW)),
        )));
        let packed = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
        // SAFETY: the caller guarantees `at + 4 <= out.len()`.
        unsafe {
            _mm_storeu_si128(
                out.as_mut_ptr().add(at).cast::<__m128i>(),
                _mm256_castsi256_si128(packed),
            )
        };
        if slow != 0 {
            for lane in 0..4 {
                if slow & (1 << lane) != 0 {
                    out[at + lane] = scalar(keys[at + lane]);
                }
            }
        }
    }
}

/// AVX-512 helpers, always inlined into the `#[target_feature(enable = "avx512f,...")]` kernels
/// that call them. Safety, for every function here: the CPU must have what [`has_avx512`] checks.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::missing_safety_doc)]
pub mod avx512 {
    use std::arch::x86_64::*;

    /// Keys ahead of the current vector whose cache line is requested early.
    const PREFETCH_AHEAD: usize = 256;

    /// Load eight keys from `keys[at..at + 8]`, and prefetch those [`PREFETCH_AHEAD`] later
    /// (the kernels are fast enough for memory to be their bound).
    ///
    /// # Safety
    /// `at + 8 <= keys.len()`, and the CPU has AVX-512F.
    #[inline(always)]
    pub unsafe fn load(keys: &[u64], at: usize) -> __m512i {
        debug_assert!(at + 8 <= keys.len());
        // A prefetch never faults; `wrapping_add` keeps the address defined past the end.
        _mm_prefetch::<_MM_HINT_T0>(keys.as_ptr().wrapping_add(at + PREFETCH_AHEAD).cast());
        // SAFETY: the caller guarantees `at + 8 <= keys.len()`.
        unsafe { _mm512_loadu_si512(keys.as_ptr().add(at).cast()) }
    }

    /// `floor(log2(x))` of every lane (`x > 0`; lanes holding 0 give -1).
    #[inline(always)]
    pub unsafe fn log2(x: __m512i) -> __m512i {
        _mm512_sub_epi64(_mm512_set1_epi64(63), _mm512_lzcnt_epi64(x))
    }

    /// `x ^ (x >> S)` in every lane.
    #[inline(always)]
    pub unsafe fn xor_shift<const S: u32>(x: __m512i) -> __m512i {
        _mm512_xor_si512(x, _mm512_srli_epi64::<S>(x))
    }

    /// Store the low 32 bits of each lane into `out[at..at + 8]` (slow lanes keep their
    /// [`super::SLOW`] mark, for [`super::redo_slow`]).
    ///
    /// # Safety
    /// `at + 8 <= out.len()`, and the CPU has AVX-512F.
    #[inline(always)]
    pub unsafe fn store(out: &mut [u32], at: usize, v: __m512i) {
        debug_assert!(at + 8 <= out.len());
        // SAFETY: the caller guarantees `at + 8 <= out.len()`.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(at).cast(), _mm512_cvtepi64_epi32(v)) };
    }

    /// `x * c` (mod 2^64) in every lane, `c` a constant.
    #[inline(always)]
    pub unsafe fn mul(x: __m512i, c: u64) -> __m512i {
        _mm512_mullo_epi64(x, _mm512_set1_epi64(c as i64))
    }

    /// SplitMix64's output function in every lane.
    #[inline(always)]
    pub unsafe fn splitmix(z: __m512i) -> __m512i {
        let z = mul(xor_shift::<30>(z), 0xbf58_476d_1ce4_e5b9);
        let z = mul(xor_shift::<27>(z), 0x94d0_49bb_1331_11eb);
        xor_shift::<31>(z)
    }
}
