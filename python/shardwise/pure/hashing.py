"""Pure-Python twins of :mod:`shardwise.hashing`: same names, signatures, results and errors.

Every function is written from its published specification (XXH3/XXH64 from the xxHash
specification, MurmurHash3 from the reference implementation, FNV-1a, CRC-32/IEEE,
CRC-16/XMODEM, libketama, the Redis Cluster key-slot rule). Only MD5 comes from :mod:`hashlib`.
Keys are encoded by :mod:`shardwise.pure.keys`, the Python copy of the key contract.

These favour readable code over speed: they are the reference in the tests and the
baseline in the benchmarks, not something to hash millions of keys with.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from shardwise.pure.keys import as_key_list, encode_key
from shardwise.pure.placement._hashes import murmur_fmix64, reflected_crc_table
from shardwise.pure.validate import check_out

__all__ = [
    "crc16",
    "crc16_many",
    "crc32",
    "crc32_many",
    "fnv1a_32",
    "fnv1a_32_many",
    "fnv1a_64",
    "fnv1a_64_many",
    "jump",
    "jump_many",
    "ketama",
    "ketama_many",
    "murmur3_32",
    "murmur3_32_many",
    "murmur3_128",
    "murmur3_128_many",
    "redis_slot",
    "redis_slot_many",
    "xxh3_64",
    "xxh3_64_many",
    "xxh64",
    "xxh64_many",
]

Key: TypeAlias = "str | bytes | bytearray | memoryview | int | np.integer[Any]"
Keys: TypeAlias = "npt.NDArray[Any] | Sequence[Key]"

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF


def _seed(seed: int, bits: int) -> int:
    """A seed as an unsigned ``bits``-bit int, refused as the Rust binding refuses it."""
    value = operator.index(seed)
    if value < 0:
        raise OverflowError("can't convert negative int to unsigned")
    if value >> bits:
        raise OverflowError(f"seed {value} does not fit in {bits} bits")
    return value


def _rotl64(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & M64


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & M32


def _u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 8], "little")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def _many(
    keys: Keys, hash_bytes: Callable[[bytes], int], dtype: type[np.unsignedinteger[Any]], out: Any = None
) -> Any:
    items = as_key_list(keys)
    if out is not None:
        check_out(out, (len(items),), dtype, keys)
    result = np.fromiter((hash_bytes(encode_key(k)) for k in items), dtype=dtype, count=len(items))
    if out is None:
        return result
    out[:] = result
    return out


# ----- XXH64 ------------------------------------------------------------------------------

P64_1 = 0x9E3779B185EBCA87
P64_2 = 0xC2B2AE3D27D4EB4F
P64_3 = 0x165667B19E3779F9
P64_4 = 0x85EBCA77C2B2AE63
P64_5 = 0x27D4EB2F165667C5
P32_1 = 0x9E3779B1
P32_2 = 0x85EBCA77
P32_3 = 0xC2B2AE3D


def _xxh64_round(acc: int, lane: int) -> int:
    return (_rotl64((acc + lane * P64_2) & M64, 31) * P64_1) & M64


def _xxh64_avalanche(h: int) -> int:
    h ^= h >> 33
    h = (h * P64_2) & M64
    h ^= h >> 29
    h = (h * P64_3) & M64
    return h ^ (h >> 32)


def _xxh64(data: bytes, seed: int) -> int:
    n = len(data)
    at = 0
    if n >= 32:
        v = [(seed + P64_1 + P64_2) & M64, (seed + P64_2) & M64, seed, (seed - P64_1) & M64]
        while at + 32 <= n:
            for lane in range(4):
                v[lane] = _xxh64_round(v[lane], _u64(data, at + 8 * lane))
            at += 32
        h = (_rotl64(v[0], 1) + _rotl64(v[1], 7) + _rotl64(v[2], 12) + _rotl64(v[3], 18)) & M64
        for lane in v:
            h = ((h ^ _xxh64_round(0, lane)) * P64_1 + P64_4) & M64
    else:
        h = (seed + P64_5) & M64
    h = (h + n) & M64
    while at + 8 <= n:
        h ^= _xxh64_round(0, _u64(data, at))
        h = (_rotl64(h, 27) * P64_1 + P64_4) & M64
        at += 8
    if at + 4 <= n:
        h ^= (_u32(data, at) * P64_1) & M64
        h = (_rotl64(h, 23) * P64_2 + P64_3) & M64
        at += 4
    while at < n:
        h ^= (data[at] * P64_5) & M64
        h = (_rotl64(h, 11) * P64_1) & M64
        at += 1
    return _xxh64_avalanche(h)


def xxh64(key: Key, seed: int = 0) -> int:
    """XXH64 of the key, seeded (``0 <= seed < 2**64``)."""
    return _xxh64(encode_key(key), _seed(seed, 64))


def xxh64_many(
    keys: Keys, seed: int = 0, *, out: npt.NDArray[np.uint64] | None = None
) -> npt.NDArray[np.uint64]:
    """XXH64 of every key, seeded: a uint64 array."""
    s = _seed(seed, 64)
    result: npt.NDArray[np.uint64] = _many(keys, lambda b: _xxh64(b, s), np.uint64, out)
    return result


# ----- XXH3 (64-bit) ----------------------------------------------------------------------

XXH3_SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e"
    "2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e"
)
PRIME_MX1 = 0x165667919E3779F9
PRIME_MX2 = 0x9FB21C651E98DF25
STRIPE_LEN = 64
STRIPES_PER_BLOCK = (len(XXH3_SECRET) - STRIPE_LEN) // 8
BLOCK_LEN = STRIPE_LEN * STRIPES_PER_BLOCK
INIT_ACC = (P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1)


def _mul128_fold64(a: int, b: int) -> int:
    product = a * b
    return (product ^ (product >> 64)) & M64


def _xxh3_avalanche(h: int) -> int:
    h ^= h >> 37
    h = (h * PRIME_MX1) & M64
    return h ^ (h >> 32)


def _rrmxmx(h: int, n: int) -> int:
    h ^= _rotl64(h, 49) ^ _rotl64(h, 24)
    h = (h * PRIME_MX2) & M64
    h ^= ((h >> 35) + n) & M64
    h = (h * PRIME_MX2) & M64
    return h ^ (h >> 28)


def _mix16(data: bytes, at: int, secret: bytes, s_at: int, seed: int) -> int:
    lo = _u64(data, at) ^ ((_u64(secret, s_at) + seed) & M64)
    hi = _u64(data, at + 8) ^ ((_u64(secret, s_at + 8) - seed) & M64)
    return _mul128_fold64(lo, hi)


def _xxh3_0to16(data: bytes, seed: int) -> int:
    n = len(data)
    s = XXH3_SECRET
    if n > 8:
        flip_lo = ((_u64(s, 24) ^ _u64(s, 32)) + seed) & M64
        flip_hi = ((_u64(s, 40) ^ _u64(s, 48)) - seed) & M64
        lo = _u64(data, 0) ^ flip_lo
        hi = _u64(data, n - 8) ^ flip_hi
        swapped = int.from_bytes(lo.to_bytes(8, "little"), "big")
        return _xxh3_avalanche((n + swapped + hi + _mul128_fold64(lo, hi)) & M64)
    if n >= 4:
        low32 = seed & M32
        seed ^= int.from_bytes(low32.to_bytes(4, "little"), "big") << 32
        flip = ((_u64(s, 8) ^ _u64(s, 16)) - seed) & M64
        joined = _u32(data, n - 4) + (_u32(data, 0) << 32)
        return _rrmxmx(joined ^ flip, n)
    if n > 0:
        combined = (data[0] << 16) | (data[n >> 1] << 24) | data[n - 1] | (n << 8)
        flip = ((_u32(s, 0) ^ _u32(s, 4)) + seed) & M64
        return _xxh64_avalanche(combined ^ flip)
    return _xxh64_avalanche(seed ^ _u64(s, 56) ^ _u64(s, 64))


def _xxh3_17to128(data: bytes, seed: int) -> int:
    n = len(data)
    acc = n * P64_1
    # Pairs of 16-byte lanes from both ends, innermost pair first for the longest inputs.
    rounds = (n - 1) // 32
    for r in range(rounds, -1, -1):
        acc += _mix16(data, 16 * r, XXH3_SECRET, 32 * r, seed)
        acc += _mix16(data, n - 16 * (r + 1), XXH3_SECRET, 32 * r + 16, seed)
    return _xxh3_avalanche(acc & M64)


def _xxh3_129to240(data: bytes, seed: int) -> int:
    n = len(data)
    acc = n * P64_1
    for i in range(8):
        acc += _mix16(data, 16 * i, XXH3_SECRET, 16 * i, seed)
    acc = _xxh3_avalanche(acc & M64)
    for i in range(8, n // 16):
        acc += _mix16(data, 16 * i, XXH3_SECRET, 16 * (i - 8) + 3, seed)
    acc += _mix16(data, n - 16, XXH3_SECRET, 136 - 17, seed)
    return _xxh3_avalanche(acc & M64)


def _xxh3_accumulate_stripe(acc: list[int], data: bytes, at: int, secret: bytes, s_at: int) -> None:
    for i in range(8):
        value = _u64(data, at + 8 * i)
        keyed = value ^ _u64(secret, s_at + 8 * i)
        acc[i ^ 1] = (acc[i ^ 1] + value) & M64
        acc[i] = (acc[i] + (keyed & M32) * (keyed >> 32)) & M64


def _xxh3_scramble(acc: list[int], secret: bytes) -> None:
    s_at = len(secret) - STRIPE_LEN
    for i in range(8):
        a = acc[i]
        a ^= a >> 47
        a ^= _u64(secret, s_at + 8 * i)
        acc[i] = (a * P32_1) & M64


def _xxh3_long(data: bytes, seed: int) -> int:
    n = len(data)
    secret = XXH3_SECRET
    if seed:
        secret = b"".join(
            (((_u64(XXH3_SECRET, i) + seed) & M64).to_bytes(8, "little"))
            + (((_u64(XXH3_SECRET, i + 8) - seed) & M64).to_bytes(8, "little"))
            for i in range(0, len(XXH3_SECRET), 16)
        )
    acc = list(INIT_ACC)
    blocks = (n - 1) // BLOCK_LEN
    for b in range(blocks):
        for stripe in range(STRIPES_PER_BLOCK):
            _xxh3_accumulate_stripe(acc, data, b * BLOCK_LEN + stripe * STRIPE_LEN, secret, 8 * stripe)
        _xxh3_scramble(acc, secret)
    last_stripes = ((n - 1) - blocks * BLOCK_LEN) // STRIPE_LEN
    for stripe in range(last_stripes):
        _xxh3_accumulate_stripe(acc, data, blocks * BLOCK_LEN + stripe * STRIPE_LEN, secret, 8 * stripe)
    _xxh3_accumulate_stripe(acc, data, n - STRIPE_LEN, secret, len(secret) - STRIPE_LEN - 7)
    result = n * P64_1
    for i in range(4):
        lo = acc[2 * i] ^ _u64(secret, 11 + 16 * i)
        hi = acc[2 * i + 1] ^ _u64(secret, 19 + 16 * i)
        result += _mul128_fold64(lo, hi)
    return _xxh3_avalanche(result & M64)


def _xxh3_64(data: bytes, seed: int) -> int:
    n = len(data)
    if n <= 16:
        return _xxh3_0to16(data, seed)
    if n <= 128:
        return _xxh3_17to128(data, seed)
    if n <= 240:
        return _xxh3_129to240(data, seed)
    return _xxh3_long(data, seed)


def xxh3_64(key: Key, seed: int = 0) -> int:
    """XXH3 64-bit of the key, seeded (``0 <= seed < 2**64``; seed 0 is the unseeded hash)."""
    return _xxh3_64(encode_key(key), _seed(seed, 64))


def xxh3_64_many(
    keys: Keys, seed: int = 0, *, out: npt.NDArray[np.uint64] | None = None
) -> npt.NDArray[np.uint64]:
    """XXH3 64-bit of every key, seeded: a uint64 array."""
    s = _seed(seed, 64)
    result: npt.NDArray[np.uint64] = _many(keys, lambda b: _xxh3_64(b, s), np.uint64, out)
    return result


# ----- MurmurHash3 ------------------------------------------------------------------------

M3_C1 = 0xCC9E2D51
M3_C2 = 0x1B873593
M3_K1 = 0x87C37B91114253D5
M3_K2 = 0x4CF5AD432745937F


def _fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    return h ^ (h >> 16)


def _murmur3_32(data: bytes, seed: int) -> int:
    n = len(data)
    h = seed
    full = n - n % 4
    for at in range(0, full, 4):
        k = (_rotl32((_u32(data, at) * M3_C1) & M32, 15) * M3_C2) & M32
        h = (_rotl32(h ^ k, 13) * 5 + 0xE6546B64) & M32
    if n > full:
        k = int.from_bytes(data[full:], "little")
        h ^= (_rotl32((k * M3_C1) & M32, 15) * M3_C2) & M32
    return _fmix32(h ^ (n & M32))


def murmur3_32(key: Key, seed: int = 0) -> int:
    """MurmurHash3 x86_32 of the key (unsigned), seeded (``0 <= seed < 2**32``)."""
    return _murmur3_32(encode_key(key), _seed(seed, 32))


def murmur3_32_many(
    keys: Keys, seed: int = 0, *, out: npt.NDArray[np.uint32] | None = None
) -> npt.NDArray[np.uint32]:
    """MurmurHash3 x86_32 of every key, seeded: a uint32 array."""
    s = _seed(seed, 32)
    result: npt.NDArray[np.uint32] = _many(keys, lambda b: _murmur3_32(b, s), np.uint32, out)
    return result


def _murmur3_128(data: bytes, seed: int) -> tuple[int, int]:
    n = len(data)
    h1 = h2 = seed
    full = n - n % 16
    for at in range(0, full, 16):
        k1 = (_rotl64((_u64(data, at) * M3_K1) & M64, 31) * M3_K2) & M64
        h1 = ((_rotl64(h1 ^ k1, 27) + h2) * 5 + 0x52DCE729) & M64
        k2 = (_rotl64((_u64(data, at + 8) * M3_K2) & M64, 33) * M3_K1) & M64
        h2 = ((_rotl64(h2 ^ k2, 31) + h1) * 5 + 0x38495AB5) & M64
    tail = data[full:]
    if len(tail) > 8:
        k2 = int.from_bytes(tail[8:], "little")
        h2 ^= (_rotl64((k2 * M3_K2) & M64, 33) * M3_K1) & M64
    if tail:
        k1 = int.from_bytes(tail[:8], "little")
        h1 ^= (_rotl64((k1 * M3_K1) & M64, 31) * M3_K2) & M64
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & M64
    h2 = (h2 + h1) & M64
    h1 = murmur_fmix64(h1)
    h2 = murmur_fmix64(h2)
    h1 = (h1 + h2) & M64
    h2 = (h2 + h1) & M64
    return h1, h2


def murmur3_128(key: Key, seed: int = 0) -> int:
    """MurmurHash3 x64_128 of the key, seeded, as one unsigned 128-bit int (``h1 | h2 << 64``)."""
    h1, h2 = _murmur3_128(encode_key(key), _seed(seed, 32))
    return h1 | (h2 << 64)


def murmur3_128_many(
    keys: Keys, seed: int = 0, *, out: npt.NDArray[np.uint64] | None = None
) -> npt.NDArray[np.uint64]:
    """MurmurHash3 x64_128 of every key, seeded: an ``(n, 2)`` uint64 array of ``(h1, h2)``,
    the low and high halves of the 128-bit value."""
    s = _seed(seed, 32)
    items = as_key_list(keys)
    if out is not None:
        check_out(out, (len(items), 2), np.uint64, keys)
    halves = (half for k in items for half in _murmur3_128(encode_key(k), s))
    flat = np.fromiter(halves, dtype=np.uint64, count=2 * len(items))
    if out is None:
        return flat.reshape(len(items), 2)
    out[:] = flat.reshape(len(items), 2)
    return out


# ----- FNV-1a -----------------------------------------------------------------------------


def _fnv1a_32(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & M32
    return h


def _fnv1a_64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x00000100000001B3) & M64
    return h


def fnv1a_32(key: Key) -> int:
    """FNV-1a 32-bit of the key."""
    return _fnv1a_32(encode_key(key))


def fnv1a_32_many(keys: Keys, *, out: npt.NDArray[np.uint32] | None = None) -> npt.NDArray[np.uint32]:
    """FNV-1a 32-bit of every key: a uint32 array."""
    result: npt.NDArray[np.uint32] = _many(keys, _fnv1a_32, np.uint32, out)
    return result


def fnv1a_64(key: Key) -> int:
    """FNV-1a 64-bit of the key."""
    return _fnv1a_64(encode_key(key))


def fnv1a_64_many(keys: Keys, *, out: npt.NDArray[np.uint64] | None = None) -> npt.NDArray[np.uint64]:
    """FNV-1a 64-bit of every key: a uint64 array."""
    result: npt.NDArray[np.uint64] = _many(keys, _fnv1a_64, np.uint64, out)
    return result


# ----- CRC-32 (IEEE), CRC-16 (XMODEM) -----------------------------------------------------


def _crc16_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


CRC32_TABLE = reflected_crc_table(0xEDB88320)
CRC16_TABLE = _crc16_table()


def _crc32(data: bytes) -> int:
    crc = M32
    for byte in data:
        crc = (crc >> 8) ^ CRC32_TABLE[(crc ^ byte) & 0xFF]
    return crc ^ M32


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ CRC16_TABLE[(crc >> 8) ^ byte]
    return crc


def crc32(key: Key) -> int:
    """CRC-32 (IEEE 802.3) of the key, as ``zlib.crc32``."""
    return _crc32(encode_key(key))


def crc32_many(keys: Keys, *, out: npt.NDArray[np.uint32] | None = None) -> npt.NDArray[np.uint32]:
    """CRC-32 (IEEE) of every key: a uint32 array."""
    result: npt.NDArray[np.uint32] = _many(keys, _crc32, np.uint32, out)
    return result


def crc16(key: Key) -> int:
    """CRC-16/XMODEM of the key (polynomial 0x1021, initial 0), as Redis Cluster computes it."""
    return _crc16(encode_key(key))


def crc16_many(keys: Keys, *, out: npt.NDArray[np.uint16] | None = None) -> npt.NDArray[np.uint16]:
    """CRC-16/XMODEM of every key: a uint16 array."""
    result: npt.NDArray[np.uint16] = _many(keys, _crc16, np.uint16, out)
    return result


# ----- ketama, Redis Cluster slot ---------------------------------------------------------


def _ketama(data: bytes) -> int:
    return int.from_bytes(hashlib.md5(data).digest()[:4], "little")


def ketama(key: Key) -> int:
    """libketama's key hash: the first 4 bytes of MD5(key), read little-endian."""
    return _ketama(encode_key(key))


def ketama_many(keys: Keys, *, out: npt.NDArray[np.uint32] | None = None) -> npt.NDArray[np.uint32]:
    """libketama's key hash of every key: a uint32 array."""
    result: npt.NDArray[np.uint32] = _many(keys, _ketama, np.uint32, out)
    return result


REDIS_SLOTS = 16384


def redis_hash_tag(data: bytes) -> bytes:
    """The part of a key Redis Cluster hashes: the text between the first ``{`` and the first
    ``}`` after it when that text is non-empty, else the whole key."""
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            return data[start + 1 : end]
    return data


def _redis_slot(data: bytes) -> int:
    return _crc16(redis_hash_tag(data)) % REDIS_SLOTS


def redis_slot(key: Key) -> int:
    """Redis Cluster slot of the key: CRC16 of its hash tag (or the whole key) mod 16384."""
    return _redis_slot(encode_key(key))


def redis_slot_many(keys: Keys, *, out: npt.NDArray[np.uint16] | None = None) -> npt.NDArray[np.uint16]:
    """Redis Cluster slot of every key: a uint16 array."""
    result: npt.NDArray[np.uint16] = _many(keys, _redis_slot, np.uint16, out)
    return result


# Jump consistent hash: its twin lives with the placement twins (shardwise.pure.placement.jump_hash).
from shardwise.pure.placement.jump_hash import jump, jump_many  # noqa: E402
