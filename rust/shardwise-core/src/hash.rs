//! Hash functions over encoded key bytes. Each matches a published reference bit for bit.

use md5::{Digest, Md5};

/// XXH3 64-bit with a seed (seed 0 equals the unseeded variant).
#[inline]
pub fn xxh3_64(data: &[u8], seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(data, seed)
}

/// `XXH3_SECRET[8..16] ^ XXH3_SECRET[16..24]` of the default XXH3 secret, read little-endian.
const XXH3_FLIP_4TO8: u64 = 0x1cad_21f7_2c81_017c ^ 0xdb97_9083_e96d_d4de;
const XXH3_PRIME_MX2: u64 = 0x9fb2_1c65_1e98_df25;

/// XXH3 64-bit of an int key's 8 little-endian bytes: the same value as
/// `xxh3_64(&v.to_le_bytes(), seed)`, via the specification's 4-to-8-byte path with the length
/// fixed at 8 (no length dispatch, no byte loads).
#[inline(always)]
pub fn xxh3_64_u64(v: u64, seed: u64) -> u64 {
    let seed = seed ^ (u64::from((seed as u32).swap_bytes()) << 32);
    // input2 + (input1 << 32) with input1 = low 32 bits, input2 = high 32 bits.
    let mut h = v.rotate_left(32) ^ XXH3_FLIP_4TO8.wrapping_sub(seed);
    h ^= h.rotate_left(49) ^ h.rotate_left(24);
    h = h.wrapping_mul(XXH3_PRIME_MX2);
    h ^= (h >> 35).wrapping_add(8);
    h = h.wrapping_mul(XXH3_PRIME_MX2);
    h ^ (h >> 28)
}

/// [`xxh3_64_u64`] of every `input[i]` into `out[i]`. Uses AVX-512 (native 64-bit multiplies
/// and rotates) or AVX2 when the CPU has them (detected at run time; the wheel itself targets
/// baseline x86-64).
///
/// # Panics
/// If `input` and `out` differ in length (a programming error).
pub fn xxh3_64_u64_into(input: &[u64], out: &mut [u64], seed: u64) {
    assert_eq!(input.len(), out.len(), "xxh3_64_u64_into: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq") {
            // SAFETY: the CPU supports AVX-512 F and DQ (checked just above).
            unsafe { xxh3_64_u64_into_avx512(input, out, seed) };
            return;
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { xxh3_64_u64_into_avx2(input, out, seed) };
            return;
        }
    }
    xxh3_64_u64_into_generic(input, out, seed);
}

#[inline(always)]
fn xxh3_64_u64_into_generic(input: &[u64], out: &mut [u64], seed: u64) {
    for (slot, &v) in out.iter_mut().zip(input) {
        *slot = xxh3_64_u64(v, seed);
    }
}

/// The same loop compiled with AVX-512 F and DQ enabled (eight keys per vector, `vpmullq`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn xxh3_64_u64_into_avx512(input: &[u64], out: &mut [u64], seed: u64) {
    xxh3_64_u64_into_generic(input, out, seed);
}

/// The same loop compiled with AVX2 enabled, so the compiler can hash four keys per vector.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn xxh3_64_u64_into_avx2(input: &[u64], out: &mut [u64], seed: u64) {
    xxh3_64_u64_into_generic(input, out, seed);
}

/// XXH64 with a seed.
#[inline]
pub fn xxh64(data: &[u8], seed: u64) -> u64 {
    xxhash_rust::xxh64::xxh64(data, seed)
}

const M3_C1: u32 = 0xcc9e_2d51;
const M3_C2: u32 = 0x1b87_3593;

#[inline(always)]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// MurmurHash3's 64-bit finalizer (`fmix64`): a bijective mix of all bits.
#[inline(always)]
pub fn murmur_fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// 2**64 divided by the golden ratio: SplitMix64's increment, and a multiplier that spreads
/// small integers over 64 bits (Fibonacci hashing).
pub const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function (Steele, Lea & Flood, 2014), without the state increment:
/// a bijective mix of all bits.
#[inline(always)]
pub fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// MurmurHash3 x86_32 (unsigned result), as `mmh3.hash(key, seed, signed=False)`.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for b in &mut blocks {
        let k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        h ^= k.wrapping_mul(M3_C1).rotate_left(15).wrapping_mul(M3_C2);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        h ^= k.wrapping_mul(M3_C1).rotate_left(15).wrapping_mul(M3_C2);
    }
    fmix32(h ^ data.len() as u32)
}

const M3_K1: u64 = 0x87c3_7b91_1142_53d5;
const M3_K2: u64 = 0x4cf5_ad43_2745_937f;

/// MurmurHash3 x64_128 as `(h1, h2)`; the 128-bit value is `h1 | h2 << 64`
/// (as `mmh3.hash128(key, seed, signed=False)`).
pub fn murmur3_128(data: &[u8], seed: u32) -> (u64, u64) {
    let (mut h1, mut h2) = (u64::from(seed), u64::from(seed));
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        let k1 = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let k2 = u64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
        h1 ^= k1.wrapping_mul(M3_K1).rotate_left(31).wrapping_mul(M3_K2);
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= k2.wrapping_mul(M3_K2).rotate_left(33).wrapping_mul(M3_K1);
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    let le = |bytes: &[u8]| {
        bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    };
    if tail.len() > 8 {
        h2 ^= le(&tail[8..])
            .wrapping_mul(M3_K2)
            .rotate_left(33)
            .wrapping_mul(M3_K1);
    }
    if !tail.is_empty() {
        h1 ^= le(&tail[..tail.len().min(8)])
            .wrapping_mul(M3_K1)
            .rotate_left(31)
            .wrapping_mul(M3_K2);
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = murmur_fmix64(h1);
    h2 = murmur_fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

/// FNV-1a, 32-bit.
pub fn fnv1a_32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// FNV-1a, 64-bit.
pub fn fnv1a_64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// CRC-32 (IEEE 802.3), as `zlib.crc32`.
#[inline]
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// The full MD5 digest.
#[inline]
pub fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// libketama's key hash: the first four bytes of MD5, read little-endian.
#[inline]
pub fn ketama(data: &[u8]) -> u32 {
    let d = md5(data);
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster uses.
pub fn crc16(data: &[u8]) -> u16 {
    // Slice-by-8: eight independent table loads per 8 bytes instead of a chain of eight.
    let mut chunks = data.chunks_exact(8);
    let mut crc = 0u16;
    for c in &mut chunks {
        let t = &CRC16_SLICES;
        let [hi, lo] = crc.to_be_bytes();
        crc = t[7][usize::from(c[0] ^ hi)]
            ^ t[6][usize::from(c[1] ^ lo)]
            ^ t[5][usize::from(c[2])]
            ^ t[4][usize::from(c[3])]
            ^ t[3][usize::from(c[4])]
            ^ t[2][usize::from(c[5])]
            ^ t[1][usize::from(c[6])]
            ^ t[0][usize::from(c[7])];
    }
    crc16_bytewise(crc, chunks.remainder())
}

#[inline(always)]
fn crc16_bytewise(crc: u16, data: &[u8]) -> u16 {
    data.iter().fold(crc, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// `CRC16_SLICES[k][x]`: the CRC-16 contribution of byte `x` followed by `k` zero bytes.
const CRC16_SLICES: [[u16; 256]; 8] = {
    let mut slices = [[0u16; 256]; 8];
    slices[0] = CRC16_TABLE;
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = slices[k - 1][i];
            slices[k][i] = (prev << 8) ^ CRC16_TABLE[(prev >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    slices
};

/// Number of Redis Cluster hash slots.
pub const REDIS_SLOTS: u16 = 16384;

/// The part of a key Redis Cluster hashes: the text between the first `{` and the first `}`
/// after it when that text is non-empty, else the whole key.
pub fn redis_hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// Redis Cluster key slot: `CRC16(hash tag) mod 16384`.
#[inline]
pub fn redis_slot(key: &[u8]) -> u16 {
    crc16(redis_hash_tag(key)) % REDIS_SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh_vectors() {
        assert_eq!(xxh64(b"", 0), 0xef46_db37_51d8_e999);
        assert_eq!(xxh3_64(b"", 0), 0x2d06_8005_38d3_94c2);
        assert_eq!(xxh64(b"a", 0), 0xd24e_c4f1_a98c_6e5b);
    }

    #[test]
    fn xxh3_int_path_equals_byte_path() {
        let mut v = 0x0123_4567_89ab_cdefu64;
        for i in 0..10_000u64 {
            v = v.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(i);
            for seed in [0, 1, v >> 7, u64::MAX, 0xffff_ffff] {
                assert_eq!(xxh3_64_u64(v, seed), xxh3_64(&v.to_le_bytes(), seed));
            }
        }
        for v in [0, 1, u64::MAX, 1 << 63] {
            assert_eq!(xxh3_64_u64(v, 0), xxh3_64(&v.to_le_bytes(), 0));
        }
        let input: Vec<u64> = (0..1001u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut out = vec![0u64; input.len()];
        xxh3_64_u64_into(&input, &mut out, 42);
        let want: Vec<u64> = input
            .iter()
            .map(|v| xxh3_64(&v.to_le_bytes(), 42))
            .collect();
        assert_eq!(out, want);
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                out.fill(0);
                // SAFETY: AVX2 detected just above.
                unsafe { xxh3_64_u64_into_avx2(&input, &mut out, 42) };
                assert_eq!(out, want, "AVX2");
            }
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq")
            {
                out.fill(0);
                // SAFETY: AVX-512 F and DQ detected just above.
                unsafe { xxh3_64_u64_into_avx512(&input, &mut out, 42) };
                assert_eq!(out, want, "AVX-512");
            }
        }
    }

    #[test]
    fn murmur3_vectors() {
        // From the reference implementation's published verification values.
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_32(b"test", 0), 0xba6b_d213);
        assert_eq!(murmur3_32(b"Hello, world!", 0x9747_b28c), 0x2488_4cba);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0x9747_b28c),
            0x2fa8_26cd
        );
        assert_eq!(murmur3_128(b"", 0), (0, 0));
        let (h1, h2) = murmur3_128(b"The quick brown fox jumps over the lazy dog", 0);
        assert_eq!((h1, h2), (0xe34b_bc7b_bc07_1b6c, 0x7a43_3ca9_c49a_9347));
    }

    #[test]
    fn fnv_crc_md5_vectors() {
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc16(b"123456789"), 0x31c3);
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(ketama(b""), 0xd98c_1dd4);
    }

    #[test]
    fn crc16_slices_equal_bytewise() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            assert_eq!(
                crc16(&data[..len]),
                crc16_bytewise(0, &data[..len]),
                "len {len}"
            );
        }
    }

    #[test]
    fn redis_slot_vectors() {
        // From the Redis Cluster specification and CLUSTER KEYSLOT.
        assert_eq!(redis_slot(b"123456789"), 12739);
        assert_eq!(redis_slot(b"foo"), 12182);
        assert_eq!(redis_slot(b"{user1000}.following"), redis_slot(b"user1000"));
        assert_eq!(redis_hash_tag(b"{}"), b"{}");
        assert_eq!(redis_hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(redis_hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(redis_hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(redis_hash_tag(b"a{}b{c}"), b"a{}b{c}");
    }
}
