"""Pure-Python twin of ``shardwise.JumpBackHash`` (rust/shardwise-core/src/placement/jumpback.rs):
Ertl's JumpBackHash driven by SplitMix64 seeded with the key's 64-bit value."""

from __future__ import annotations

from shardwise.pure.placement._hashes import GOLDEN_GAMMA, MASK64, splitmix64
from shardwise.pure.placement._sequential import Sequential, raw_int_hash

MASK32 = 0xFFFFFFFF


def jump_back(key: int, buckets: int) -> int:
    """JumpBackHash of a 64-bit key into ``[0, buckets)``."""
    if buckets <= 1:
        return 0
    state = (key + GOLDEN_GAMMA) & MASK64
    r0 = splitmix64(state)
    x = ((r0 ^ (r0 >> 32)) & MASK32) & ((1 << (buckets - 1).bit_length()) - 1)
    while x:
        low = 1 << (x.bit_length() - 1)
        shift = (bin(x).count("1") * 32) & 63
        idx = low | ((r0 >> shift) & (low - 1))
        if idx < buckets:
            return idx
        width = (low << 1) - 1
        while True:
            state = (state + GOLDEN_GAMMA) & MASK64
            r1 = splitmix64(state)
            first = r1 & width
            if first < low:
                break
            if first < buckets:
                return first
            second = (r1 >> 32) & width
            if second < low:
                break
            if second < buckets:
                return second
        x ^= low
    return 0


class JumpBackHash(Sequential):
    """JumpBackHash over the node list (see ``shardwise.JumpBackHash``)."""

    CLASS = "JumpBackHash"
    _key_hash = staticmethod(raw_int_hash)
    _bucket = staticmethod(jump_back)
