"""Ring points shared by the twins: limits, point counts (as the Rust ``placement/util.rs``), and
the sorted points of the multi-probe and bounded-load twins."""

from __future__ import annotations

import math
from bisect import bisect_left

from shardwise.errors import ConfigurationError
from shardwise.pure.placement._hashes import GOLDEN_GAMMA, MASK64, murmur_fmix64, xxh3_64

DEFAULT_VNODES = 160
MAX_VNODES = 1 << 20
MAX_POINTS = 1 << 24


def point_count(vnodes: int, weight: float) -> int:
    """Ring points of a node: ``round(vnodes * weight)`` (half away from zero, as Rust's
    ``f64::round``), at least 1; weights above ``MAX_POINTS`` count as ``MAX_POINTS``."""
    x = float(vnodes) * min(weight, float(MAX_POINTS))
    whole = math.floor(x)
    return max(1, whole + 1 if x - whole >= 0.5 else whole)


def total_points(vnodes: int, weights: list[float]) -> int:
    """Total ring points, refused past ``MAX_POINTS``."""
    total = 0.0
    for w in weights:
        total += float(point_count(vnodes, w))
    if total > MAX_POINTS:
        raise ConfigurationError(
            f"the ring would hold {total:.0f} points, more than the limit of {MAX_POINTS}; "
            "lower vnodes or the weights"
        )
    return int(total)


def point_hash(name: str, j: int) -> int:
    """Ring point ``j`` of node ``name``: XXH3-64 of its UTF-8 name, seeded with ``j``."""
    return xxh3_64(name.encode("utf-8"), j)


def probe(key_hash: int, i: int) -> int:
    """Probe ``i`` of a key hash (multi-probe hashing)."""
    return murmur_fmix64(key_hash ^ ((i * GOLDEN_GAMMA) & MASK64))


class SortedPoints:
    """``(point, owner)`` pairs sorted by point, then owner."""

    __slots__ = ("owners", "points")

    def __init__(self, pairs: list[tuple[int, int]]) -> None:
        pairs = sorted(pairs)
        self.points = [p for p, _ in pairs]
        self.owners = [o for _, o in pairs]

    @classmethod
    def for_nodes(cls, nodes: list[tuple[str, int]]) -> SortedPoints:
        """Points for ``(name, point count)`` nodes indexed in order."""
        return cls([(point_hash(name, j), i) for i, (name, count) in enumerate(nodes) for j in range(count)])

    def __len__(self) -> int:
        return len(self.points)

    def successor(self, h: int) -> int:
        i = bisect_left(self.points, h)
        return 0 if i == len(self.points) else i
