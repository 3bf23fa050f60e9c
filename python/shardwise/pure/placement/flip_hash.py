"""Pure-Python twin of ``shardwise.FlipHash`` (rust/shardwise-core/src/placement/flip.rs): Masson &
Lee's FlipHash, as the ``fliphash`` crate's ``fliphash_64(value, ..=n - 1)``."""

from __future__ import annotations

from shardwise.pure.placement._hashes import MASK64
from shardwise.pure.placement._sequential import Sequential, raw_int_hash

MIX_1 = 0x3C79AC492BA7B653
MIX_2 = 0x1C69B3F74AC4AE35
MAX_ITERATIONS = 64


def _draw(key: int, bits: int, iteration: int) -> int:
    k = (key * (bits * 2 + 1)) & MASK64
    k = ((k ^ (k >> 27)) * MIX_1) & MASK64
    k = (k * (iteration * 2 + 1)) & MASK64
    k = ((k ^ (k >> 33)) * MIX_2) & MASK64
    return k ^ (k >> 27)


def _flip_pow2(key: int, first: int, mask: int) -> int:
    masked = first & mask
    if masked == 0:
        return 0
    top = masked.bit_length() - 1
    return masked ^ (_draw(key, top, 0) & ((1 << top) - 1))


def flip(key: int, buckets: int) -> int:
    """FlipHash of a 64-bit key into ``[0, buckets)``."""
    end = max(buckets, 1) - 1
    if end == 0:
        return 0
    mask = (1 << end.bit_length()) - 1
    first = _draw(key, 0, 0)
    pow2 = _flip_pow2(key, first, mask)
    if pow2 <= end:
        return pow2
    for iteration in range(1, MAX_ITERATIONS + 1):
        d = _draw(key, end.bit_length() - 1, iteration) & mask
        if d <= mask >> 1:
            break
        if d <= end:
            return d
    return _flip_pow2(key, first, mask >> 1)


class FlipHash(Sequential):
    """FlipHash over the node list (see ``shardwise.FlipHash``)."""

    CLASS = "FlipHash"
    _key_hash = staticmethod(raw_int_hash)
    _bucket = staticmethod(flip)
