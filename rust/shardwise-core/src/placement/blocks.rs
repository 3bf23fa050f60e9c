//! The bulk driver of the hash-then-bucket placements: keys go a block at a time through their
//! 64-bit hash (int keys raw or through XXH3-64, byte keys through XXH3-64), then a whole
//! block through a vectorised bucket kernel; blocks are split over threads for large batches.

use crate::hash;
use crate::keys::{KeyRef, Keys};

/// Keys per block.
pub const KEY_BLOCK: usize = 1024;

/// How an algorithm turns a key into the 64-bit value it works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyHash {
    /// Int keys as they are, other keys through XXH3-64 (the algorithm mixes ints itself).
    RawInts,
    /// Every key through XXH3-64 of its encoded bytes (ints: 8 bytes little-endian).
    Xxh3,
}

impl KeyHash {
    /// The 64-bit value of one key.
    #[inline(always)]
    pub fn of(self, key: KeyRef<'_>) -> u64 {
        match (self, key) {
            (KeyHash::RawInts, KeyRef::Int(v)) => v,
            (KeyHash::Xxh3, KeyRef::Int(v)) => hash::xxh3_64_u64(v, 0),
            (_, KeyRef::Bytes(b)) => hash::xxh3_64(b, 0),
        }
    }
}

/// `f(hashes, outputs)` for consecutive blocks of at most [`KEY_BLOCK`] keys, blocks split over
/// threads for large batches. Raw int keys are borrowed as they are.
///
/// # Panics
/// If `out.len() != keys.len()` (a programming error).
pub fn for_each_hash_block<T: Send>(
    keys: Keys<'_>,
    how: KeyHash,
    out: &mut [T],
    f: impl Fn(&[u64], &mut [T]) + Sync,
) {
    assert_eq!(
        keys.len(),
        out.len(),
        "output length differs from key count"
    );
    crate::par::fill_parts(out, |start, part| {
        let mut hashed = [0u64; KEY_BLOCK];
        for (b, block) in part.chunks_mut(KEY_BLOCK).enumerate() {
            let first = start + b * KEY_BLOCK;
            let len = block.len();
            let block_hashes: &[u64] = match (keys, how) {
                (Keys::Ints(v), KeyHash::RawInts) => &v[first..first + len],
                (Keys::Ints(v), KeyHash::Xxh3) => {
                    hash::xxh3_64_u64_into(&v[first..first + len], &mut hashed[..len], 0);
                    &hashed[..len]
                }
                _ => {
                    keys.for_each_in(first, len, |i, k| hashed[i] = how.of(k));
                    &hashed[..len]
                }
            };
            f(block_hashes, block);
        }
    });
}

/// `out[i] = bucket(hashes[i])` as `i32` for every key of the batch, with `bucket_into` filling
/// a block of `u32` buckets at once.
pub fn place_buckets(
    keys: Keys<'_>,
    how: KeyHash,
    out: &mut [i32],
    bucket_into: impl Fn(&[u64], &mut [u32]) + Sync,
) {
    for_each_hash_block(keys, how, out, |hashes, block_out| {
        // SAFETY: i32 and u32 have the same size and alignment, and every bit pattern is valid
        // for both; buckets are below i32::MAX, so they read back as themselves.
        let as_u32 = unsafe {
            std::slice::from_raw_parts_mut(block_out.as_mut_ptr().cast::<u32>(), block_out.len())
        };
        bucket_into(hashes, as_u32);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PackedKeys;

    #[test]
    fn blocks_cover_every_key_with_its_hash() {
        let ints: Vec<u64> = (0..(crate::par::MIN_ITEMS_PER_THREAD as u64 * 2 + 5)).collect();
        for how in [KeyHash::RawInts, KeyHash::Xxh3] {
            let mut out = vec![0u64; ints.len()];
            for_each_hash_block(Keys::Ints(&ints), how, &mut out, |h, o| {
                o.copy_from_slice(h)
            });
            assert!(ints
                .iter()
                .zip(&out)
                .all(|(&k, &h)| h == how.of(KeyRef::Int(k))));
        }
        let mut packed = PackedKeys::default();
        for k in ["a", "bb", ""] {
            packed.push(k.as_bytes());
        }
        let mut out = vec![0u64; 3];
        for_each_hash_block(Keys::Packed(&packed), KeyHash::RawInts, &mut out, |h, o| {
            o.copy_from_slice(h)
        });
        assert_eq!(out[1], hash::xxh3_64(b"bb", 0));
        assert_eq!(
            KeyHash::Xxh3.of(KeyRef::Int(7)),
            hash::xxh3_64(&7u64.to_le_bytes(), 0)
        );
    }
}
