"""Pure-Python twin of ``shardwise.AnchorHash`` (rust/shardwise-core/src/placement/anchor.rs)."""

from __future__ import annotations

from typing import Any

from shardwise.pure.placement._base import NodesArg
from shardwise.pure.placement._fixed import FixedCapacity
from shardwise.pure.placement._sequential import unit_weight, xxh3_hash

FNV_PRIME = 0x100000001B3
MASK32 = 0xFFFFFFFF
MASK64 = (1 << 64) - 1


def _range_map(v: int, limit: int) -> int:
    return (v * limit) >> 32


def _seeded_fnv(value: int, seed: int) -> int:
    h = seed
    for byte in value.to_bytes(4, "little"):
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h & MASK32


class Anchor:
    """The paper's arrays ``A``, ``K``, ``W``, ``L`` and the working count ``n``."""

    __slots__ = ("a", "k", "l", "n", "w")

    def __init__(self, capacity: int) -> None:
        self.a = [0] * capacity
        self.k = list(range(capacity))
        self.w = list(range(capacity))
        self.l = list(range(capacity))
        self.n = capacity

    def copy(self) -> Anchor:
        other = Anchor(0)
        other.a, other.k, other.w, other.l = list(self.a), list(self.k), list(self.w), list(self.l)
        other.n = self.n
        return other

    def bucket(self, key: int) -> int:
        a, k = self.a, self.k
        b = _range_map(key, len(a))
        while a[b] > 0:
            ab = a[b]
            h = _range_map(_seeded_fnv(b, key), ab)
            while a[h] >= ab:
                h = k[h]
            b = h
        return b

    def remove(self, b: int) -> None:
        self.n -= 1
        self.a[b] = self.n
        last = self.w[self.n]
        self.w[self.l[b]] = last
        self.k[b] = last
        self.l[last] = self.l[b]

    def restore(self, b: int) -> None:
        self.a[b] = 0
        self.l[self.w[self.n]] = self.n
        self.w[self.l[b]] = b
        self.k[b] = b
        self.n += 1


class AnchorHash(FixedCapacity):
    """AnchorHash over named nodes with a fixed capacity (see ``shardwise.AnchorHash``)."""

    CLASS = "AnchorHash"

    def __init__(self, nodes: NodesArg = None, *, capacity: int | None = None) -> None:
        self._engine = Anchor(0)
        super().__init__(nodes, capacity=capacity)

    def _check_weight(self, name: str, weight: float) -> None:
        unit_weight(self.CLASS, name, weight)

    def _build(self, params: dict[str, Any]) -> None:
        for name, weight in zip(self._names, self._weights, strict=True):
            self._check_weight(name, weight)
        self._engine = Anchor(self._slots.capacity)
        for b in self._slots.free:
            self._engine.remove(b)

    def _taken(self, bucket: int, weight: float) -> None:
        self._engine.restore(bucket)

    def _released(self, bucket: int) -> None:
        self._engine.remove(bucket)

    def _locate(self, key: Any) -> int:
        return self._slots.node_at[self._engine.bucket(xxh3_hash(key) & MASK32)]

    def _locate_n(self, key: Any, n: int) -> list[int]:
        k = xxh3_hash(key) & MASK32
        engine = self._engine.copy()
        out: list[int] = []
        while len(out) < n:
            b = engine.bucket(k)
            out.append(self._slots.node_at[b])
            engine.remove(b)
        return out
