//! `shardwise._core` hash functions: one-key forms return an int, `_many` forms a numpy array.

use numpy::{Element, PyArray1, PyArray2};
use pyo3::prelude::*;
use shardwise_core::keys::{KeyRef, Keys};
use shardwise_core::{hash, par};

use crate::errors::Result;
use crate::keys::{extract_bulk, with_key, with_key_ref};
use crate::validate;

/// A 1-D array of one item per key of `bulk` filled by `fill` with the GIL released: a new
/// one, or the caller's `out` (checked), which is returned. `keys` is the caller's object.
fn filled<'py, T, F>(
    py: Python<'py>,
    bulk: Keys<'_>,
    out: Option<&Bound<'py, PyAny>>,
    keys: &Bound<'py, PyAny>,
    fill: F,
) -> Result<Bound<'py, PyArray1<T>>>
where
    T: Element + Send,
    F: FnOnce(&mut [T]) + Send,
{
    validate::filled(py, &[bulk.len()], out, keys, |slots| {
        fill(slots);
        Ok(bulk.verify()?)
    })
}

macro_rules! hash_pair {
    ($one:ident, $many:ident, $out:ty, |$b:ident| $body:expr, $doc:literal) => {
        #[doc = $doc]
        #[pyfunction]
        fn $one(key: &Bound<'_, PyAny>) -> PyResult<$out> {
            with_key(key, |$b| $body)
        }

        #[doc = $doc]
        #[doc = "\n\nBulk form: hashes every key of a numpy array, list or tuple (GIL released),"]
        #[doc = "into a new array or into `out` (a contiguous array of the result dtype)."]
        #[pyfunction]
        #[pyo3(signature = (keys, *, out = None))]
        fn $many<'py>(
            py: Python<'py>,
            keys: &Bound<'py, PyAny>,
            out: Option<&Bound<'py, PyAny>>,
        ) -> Result<Bound<'py, PyArray1<$out>>> {
            let bulk = extract_bulk(keys)?;
            let given = keys;
            let keys = bulk.keys();
            filled(py, keys, out, given, |slots| {
                keys.map_bytes_into(slots, |$b| $body)
            })
        }
    };
    ($one:ident, $many:ident, $out:ty, $seed:ty, |$b:ident, $s:ident| $body:expr, $doc:literal) => {
        #[doc = $doc]
        #[pyfunction]
        #[pyo3(signature = (key, seed = 0))]
        fn $one(key: &Bound<'_, PyAny>, seed: $seed) -> PyResult<$out> {
            let $s = seed;
            with_key(key, |$b| $body)
        }

        #[doc = $doc]
        #[doc = "\n\nBulk form: hashes every key of a numpy array, list or tuple (GIL released),"]
        #[doc = "into a new array or into `out` (a contiguous array of the result dtype)."]
        #[pyfunction]
        #[pyo3(signature = (keys, seed = 0, *, out = None))]
        fn $many<'py>(
            py: Python<'py>,
            keys: &Bound<'py, PyAny>,
            seed: $seed,
            out: Option<&Bound<'py, PyAny>>,
        ) -> Result<Bound<'py, PyArray1<$out>>> {
            let bulk = extract_bulk(keys)?;
            let given = keys;
            let keys = bulk.keys();
            let $s = seed;
            filled(py, keys, out, given, |slots| {
                keys.map_bytes_into(slots, |$b| $body)
            })
        }
    };
}

/// XXH3 of one key; int keys take the dedicated 8-byte path (same value, no byte loads).
#[inline(always)]
fn xxh3_key(key: KeyRef<'_>, seed: u64) -> u64 {
    match key {
        KeyRef::Int(v) => hash::xxh3_64_u64(v, seed),
        KeyRef::Bytes(b) => hash::xxh3_64(b, seed),
    }
}

/// XXH3 64-bit of the key, seeded.
#[pyfunction]
#[pyo3(signature = (key, seed = 0))]
fn xxh3_64(key: &Bound<'_, PyAny>, seed: u64) -> PyResult<u64> {
    with_key_ref(key, |k| xxh3_key(k, seed))
}

/// XXH3 64-bit of the key, seeded.
///
/// Bulk form: hashes every key of a numpy array, list or tuple (GIL released).
#[pyfunction]
#[pyo3(signature = (keys, seed = 0, *, out = None))]
fn xxh3_64_many<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyAny>,
    seed: u64,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyArray1<u64>>> {
    let bulk = extract_bulk(keys)?;
    let given = keys;
    let keys = bulk.keys();
    filled(py, keys, out, given, |slots| match keys {
        // Int batches go through the whole-slice kernel (vectorised where the CPU allows).
        Keys::Ints(ints) => par::map_chunks(ints, slots, |src, dst| {
            hash::xxh3_64_u64_into(src, dst, seed)
        }),
        _ => keys.map_into(slots, |k| xxh3_key(k, seed)),
    })
}

hash_pair!(
    xxh64,
    xxh64_many,
    u64,
    u64,
    |b, s| hash::xxh64(b, s),
    "XXH64 of the key, seeded."
);
hash_pair!(
    murmur3_32,
    murmur3_32_many,
    u32,
    u32,
    |b, s| hash::murmur3_32(b, s),
    "MurmurHash3 x86_32 of the key (unsigned), seeded."
);
hash_pair!(
    fnv1a_32,
    fnv1a_32_many,
    u32,
    |b| hash::fnv1a_32(b),
    "FNV-1a 32-bit of the key."
);
hash_pair!(
    fnv1a_64,
    fnv1a_64_many,
    u64,
    |b| hash::fnv1a_64(b),
    "FNV-1a 64-bit of the key."
);
hash_pair!(
    crc32,
    crc32_many,
    u32,
    |b| hash::crc32(b),
    "CRC-32 (IEEE) of the key, as zlib.crc32."
);
hash_pair!(
    ketama,
    ketama_many,
    u32,
    |b| hash::ketama(b),
    "libketama's key hash: the first 4 bytes of MD5(key), little-endian."
);
hash_pair!(
    crc16,
    crc16_many,
    u16,
    |b| hash::crc16(b),
    "CRC-16/XMODEM of the key, as Redis Cluster computes it."
);
hash_pair!(
    redis_slot,
    redis_slot_many,
    u16,
    |b| hash::redis_slot(b),
    "Redis Cluster slot of the key: CRC16 of its hash tag (or whole key) mod 16384."
);

/// MurmurHash3 x64_128 of the key, seeded, as one unsigned 128-bit int (`h1 | h2 << 64`).
#[pyfunction]
#[pyo3(signature = (key, seed = 0))]
fn murmur3_128(key: &Bound<'_, PyAny>, seed: u32) -> PyResult<u128> {
    with_key(key, |b| {
        let (h1, h2) = hash::murmur3_128(b, seed);
        u128::from(h1) | (u128::from(h2) << 64)
    })
}

/// MurmurHash3 x64_128 of every key, seeded: an (n, 2) uint64 array of (h1, h2) —
/// the low and high halves of the 128-bit value; into `out` (a contiguous (n, 2) uint64
/// array) when given.
#[pyfunction]
#[pyo3(signature = (keys, seed = 0, *, out = None))]
fn murmur3_128_many<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyAny>,
    seed: u32,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyArray2<u64>>> {
    let bulk = extract_bulk(keys)?;
    let given = keys;
    let keys = bulk.keys();
    let n = keys.len();
    validate::filled(py, &[n, 2], out, given, |flat: &mut [u64]| {
        // SAFETY: `flat` is the C-contiguous (n, 2) array: 2n u64s, each row two adjacent
        // u64s; `[u64; 2]` has the size of two u64s and the alignment of one.
        let rows = unsafe {
            std::slice::from_raw_parts_mut(flat.as_mut_ptr().cast::<[u64; 2]>(), flat.len() / 2)
        };
        keys.map_bytes_into(rows, |b| {
            let (h1, h2) = hash::murmur3_128(b, seed);
            [h1, h2]
        });
        Ok(keys.verify()?)
    })
}

/// Set how many threads bulk work may use (0 = all cores).
#[pyfunction]
fn set_num_threads(n: &Bound<'_, PyAny>) -> Result<()> {
    let n = validate::int_param("thread count", n, 0, par::MAX_THREADS as u64)?;
    par::set_num_threads(n as usize);
    Ok(())
}

/// How many threads bulk work uses.
#[pyfunction]
fn get_num_threads() -> usize {
    par::num_threads()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(xxh3_64, m)?)?;
    m.add_function(wrap_pyfunction!(xxh3_64_many, m)?)?;
    m.add_function(wrap_pyfunction!(xxh64, m)?)?;
    m.add_function(wrap_pyfunction!(xxh64_many, m)?)?;
    m.add_function(wrap_pyfunction!(murmur3_32, m)?)?;
    m.add_function(wrap_pyfunction!(murmur3_32_many, m)?)?;
    m.add_function(wrap_pyfunction!(murmur3_128, m)?)?;
    m.add_function(wrap_pyfunction!(murmur3_128_many, m)?)?;
    m.add_function(wrap_pyfunction!(fnv1a_32, m)?)?;
    m.add_function(wrap_pyfunction!(fnv1a_32_many, m)?)?;
    m.add_function(wrap_pyfunction!(fnv1a_64, m)?)?;
    m.add_function(wrap_pyfunction!(fnv1a_64_many, m)?)?;
    m.add_function(wrap_pyfunction!(crc32, m)?)?;
    m.add_function(wrap_pyfunction!(crc32_many, m)?)?;
    m.add_function(wrap_pyfunction!(ketama, m)?)?;
    m.add_function(wrap_pyfunction!(ketama_many, m)?)?;
    m.add_function(wrap_pyfunction!(crc16, m)?)?;
    m.add_function(wrap_pyfunction!(crc16_many, m)?)?;
    m.add_function(wrap_pyfunction!(redis_slot, m)?)?;
    m.add_function(wrap_pyfunction!(redis_slot_many, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    Ok(())
}
