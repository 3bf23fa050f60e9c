"""The hash functions and integer mixers the pure placement twins need (bit for bit the Rust
``shardwise_core::hash`` ones), ring hashes by ``shardwise.hashing`` name.

xxh3/xxh64/murmur3/FNV come from :mod:`shardwise.pure.hashing` (imported on first use: that module
re-exports ``jump`` from here, so importing it at the top would be circular); CRC-32 and MD5 from
the standard library.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from types import ModuleType

from shardwise.pure.keys import encode_key

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def _pure() -> ModuleType:
    from shardwise.pure import hashing

    return hashing


def xxh3_64(data: bytes, seed: int = 0) -> int:
    return int(_pure().xxh3_64(data, seed))


def xxh64(data: bytes, seed: int = 0) -> int:
    return int(_pure().xxh64(data, seed))


def murmur3_32(data: bytes) -> int:
    return int(_pure().murmur3_32(data, 0))


def fnv1a_32(data: bytes) -> int:
    return int(_pure().fnv1a_32(data))


def fnv1a_64(data: bytes) -> int:
    return int(_pure().fnv1a_64(data))


def crc32(data: bytes) -> int:
    return zlib.crc32(data)


def ketama(data: bytes) -> int:
    """libketama's key hash: the first 4 bytes of MD5, little-endian."""
    return int.from_bytes(hashlib.md5(data).digest()[:4], "little")


RING_HASHES: dict[str, Callable[[bytes], int]] = {
    "xxh3_64": xxh3_64,
    "xxh64": xxh64,
    "murmur3_32": murmur3_32,
    "fnv1a_32": fnv1a_32,
    "fnv1a_64": fnv1a_64,
    "crc32": crc32,
    "ketama": ketama,
}
HASH_WIDTH = {"xxh3_64": 64, "xxh64": 64, "fnv1a_64": 64}


def reflected_crc_table(poly: int) -> tuple[int, ...]:
    """The byte table of a reflected 32-bit CRC with polynomial ``poly`` (0xEDB88320: CRC-32;
    0x82F63B78: CRC-32C)."""
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def splitmix64(z: int) -> int:
    """SplitMix64's output function (without the state increment)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def murmur_fmix64(x: int) -> int:
    """MurmurHash3's 64-bit finalizer."""
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & MASK64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & MASK64
    return x ^ (x >> 33)


def scale(x: int, limit: int) -> int:
    """``x`` (64-bit) scaled into ``[0, limit)`` by multiply-shift."""
    return (x * limit) >> 64


def key_hash(key: object) -> int:
    """The 64-bit hash most placements start from: XXH3-64 (seed 0) of the encoded key."""
    return xxh3_64(encode_key(key), 0)


def jump_bucket(key: int, buckets: int) -> int:
    """Lamping & Veach's jump consistent hash of a 64-bit integer into ``[0, buckets)``."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b
