"""64-bit hashing for the placement twins: XXH3 of encoded key bytes, plus the integer mixers
the Rust side uses (bit for bit)."""

from __future__ import annotations

from shardwise.pure.keys import encode_key
from shardwise.pure.placement._hashes import xxh3_64 as xxh3_bytes

__all__ = ["GOLDEN", "MASK64", "jump_bucket", "key_hash", "mix64", "scale", "xxh3_bytes"]

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def key_hash(key: object) -> int:
    """The 64-bit hash every placement here starts from: XXH3-64 (seed 0) of the encoded key."""
    return xxh3_bytes(encode_key(key), 0)


def mix64(x: int) -> int:
    """MurmurHash3's 64-bit finalizer."""
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & MASK64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & MASK64
    return x ^ (x >> 33)


def scale(x: int, limit: int) -> int:
    """``x`` (64-bit) scaled into ``[0, limit)`` by multiply-shift."""
    return (x * limit) >> 64


def jump_bucket(key: int, buckets: int) -> int:
    """Lamping & Veach's jump consistent hash of a 64-bit integer into ``[0, buckets)``."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b
