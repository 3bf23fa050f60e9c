"""Pure-Python twin of ``shardwise.BinomialHash`` (rust/shardwise-core/src/placement/binomial.rs):
the paper's BinomialHash as the authors' Java code implements it."""

from __future__ import annotations

from shardwise.pure.placement._hashes import MASK64
from shardwise.pure.placement._sequential import Sequential, xxh3_hash

LCG = 2862933555777941757
RETRIES = 4


def _rehash(value: int, seed: int) -> int:
    h = (LCG * value + 1) & MASK64
    return (((h * h) & MASK64) * seed & MASK64) >> 32


def _relocate(bucket: int, hash64: int) -> int:
    if bucket < 2:
        return bucket
    base = 1 << (bucket.bit_length() - 1)
    return base + (_rehash(hash64, base - 1) & (base - 1))


def binomial(hash64: int, buckets: int) -> int:
    """BinomialHash of a 64-bit key hash into ``[0, buckets)``."""
    if buckets < 2:
        return 0
    enclosing = (1 << (buckets - 1).bit_length()) - 1
    minor = enclosing >> 1
    first = _relocate(hash64 & enclosing, hash64)
    if first < buckets:
        return first
    h = hash64
    for _ in range(RETRIES):
        h = _rehash(h, enclosing)
        b = _relocate(h & enclosing, h)
        if b <= minor:
            break
        if b < buckets:
            return b
    return _relocate(hash64 & minor, hash64)


class BinomialHash(Sequential):
    """BinomialHash over the node list (see ``shardwise.BinomialHash``)."""

    CLASS = "BinomialHash"
    _key_hash = staticmethod(xxh3_hash)
    _bucket = staticmethod(binomial)
