"""Pure-Python twin of ``shardwise.BoundedLoadRing`` (rust/shardwise-core/src/placement/bounded.rs)."""

from __future__ import annotations

import math
from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.pure.placement._base import NodesArg, PurePlacement, distinct_walk, int_param
from shardwise.pure.placement._hashes import key_hash
from shardwise.pure.placement._points import (
    DEFAULT_VNODES,
    MAX_VNODES,
    SortedPoints,
    point_count,
    total_points,
)
from shardwise.pure.validate import number

DEFAULT_LOAD_FACTOR = 1.25


def capacities(weights: list[float], m: int, load_factor: float) -> list[int]:
    """Per-node limits for a batch of ``m`` keys: ``ceil(c * m * w_i / W)``, topped up if rounding
    left the total below ``m``."""
    total = 0.0
    for w in weights:
        total += w
    cap = [math.ceil(load_factor * float(m) * w / total) for w in weights]
    s, i = sum(cap), 0
    while s < m and cap:
        cap[i] += 1
        s += 1
        i = (i + 1) % len(cap)
    return cap


def locate(ring: SortedPoints, key_hash: int) -> int | None:
    return ring.owners[ring.successor(key_hash)] if ring.points else None


def locate_n(ring: SortedPoints, key_hash: int, n: int) -> list[int]:
    return distinct_walk(ring.owners, ring.successor(key_hash), n) if len(ring) else []


def assign(ring: SortedPoints, key_hashes: list[int], capacity: list[int]) -> list[int]:
    """Each key in order to the first node clockwise that still has room."""
    size = len(ring)
    if size == 0:
        return []
    owners = ring.owners
    points_of: list[list[int]] = [[] for _ in capacity]
    for p, o in enumerate(owners):
        points_of[o].append(p)
    nxt = list(range(size + 1))  # nxt[p] == p while p's node has room; size means "wrap"

    def find(i: int) -> int:
        while nxt[i] != i:
            nxt[i] = nxt[nxt[i]]
            i = nxt[i]
        return i

    load = [0] * len(capacity)
    out: list[int] = []
    for h in key_hashes:
        p = find(ring.successor(h))
        if p == size:
            p = find(0)
        if p == size:
            p = ring.successor(h)
        owner = owners[p]
        out.append(owner)
        load[owner] += 1
        if load[owner] == capacity[owner]:
            for q in points_of[owner]:
                nxt[q] = q + 1
    return out


class BoundedLoadRing(PurePlacement):
    """Consistent hashing with bounded loads (see ``shardwise.BoundedLoadRing``)."""

    CLASS = "BoundedLoadRing"

    def __init__(
        self,
        nodes: NodesArg = None,
        *,
        vnodes: int | None = None,
        load_factor: float | None = None,
    ) -> None:
        self._vnodes = DEFAULT_VNODES if vnodes is None else int_param("vnodes", vnodes, 1, MAX_VNODES)
        c = DEFAULT_LOAD_FACTOR if load_factor is None else number("load_factor", load_factor)
        if not (math.isfinite(c) and c >= 1.0):
            raise ConfigurationError(f"load_factor must be a finite number >= 1, got {c!r}")
        self._load_factor = c
        self._ring = SortedPoints([])
        super().__init__(nodes)
        self._rebuild()

    @property
    def vnodes(self) -> int:
        return self._vnodes

    @property
    def load_factor(self) -> float:
        return self._load_factor

    def capacities(self, m: int) -> list[int]:
        """Per-node limits (index order) for a batch of ``m`` keys."""
        return capacities(self._weights, m, self._load_factor)

    def _params(self) -> dict[str, Any]:
        return {"vnodes": self._vnodes, "load_factor": self._load_factor}

    def _rebuild(self) -> None:
        total_points(self._vnodes, self._weights)
        counts = [point_count(self._vnodes, w) for w in self._weights]
        self._ring = SortedPoints.for_nodes(list(zip(self._names, counts, strict=True)))

    def _locate(self, key: Any) -> int:
        found = locate(self._ring, key_hash(key))
        assert found is not None
        return found

    def _locate_n(self, key: Any, n: int) -> list[int]:
        return locate_n(self._ring, key_hash(key), n)

    def _place_items(self, items: list[Any]) -> list[int]:
        """Assign the batch in order, no node above its capacity."""
        if not self._names:
            raise self._no_nodes()
        hashes = [key_hash(k) for k in items]
        return assign(self._ring, hashes, self.capacities(len(hashes)))
