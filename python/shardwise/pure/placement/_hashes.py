"""The hash functions the pure placement twins need, by ``shardwise.hashing`` name.

xxh3/xxh64 and murmur3 come from the ``xxhash`` and ``mmh3`` packages (imported on first use,
so the twins import without them); the others from the standard library.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable

MASK64 = (1 << 64) - 1


def xxh3_64(data: bytes, seed: int = 0) -> int:
    import xxhash

    return int(xxhash.xxh3_64_intdigest(data, seed=seed))


def xxh64(data: bytes, seed: int = 0) -> int:
    import xxhash

    return int(xxhash.xxh64_intdigest(data, seed=seed))


def murmur3_32(data: bytes) -> int:
    import mmh3

    return int(mmh3.hash(data, 0, signed=False))


def fnv1a_32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def fnv1a_64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


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


def mix64(z: int) -> int:
    """The SplitMix64 finaliser."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)
