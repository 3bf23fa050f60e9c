"""Sorted ring points shared by the multi-probe and bounded-load twins."""

from __future__ import annotations

from bisect import bisect_left

from shardwise.pure.placement._hashes import GOLDEN_GAMMA, MASK64, murmur_fmix64, xxh3_64


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
