"""Pure-Python twin of ``shardwise.MultiProbe`` (rust/shardwise-core/src/placement/multiprobe.rs)."""

from __future__ import annotations

from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.pure.placement._base import NodesArg, PurePlacement, check_integral_weight, int_param
from shardwise.pure.placement._hashes import MASK64, key_hash
from shardwise.pure.placement._points import MAX_POINTS, SortedPoints, probe

DEFAULT_PROBES = 21
MAX_PROBES = 1024


def locate(ring: SortedPoints, probes: int, key_hash: int) -> int | None:
    if not ring.points:
        return None
    points = ring.points
    best_distance = MASK64 + 1
    best = 0
    for i in range(probes):
        p = probe(key_hash, i)
        at = ring.successor(p)
        distance = (points[at] - p) & MASK64
        if distance < best_distance:
            best_distance, best = distance, at
    return ring.owners[best]


def locate_n(ring: SortedPoints, probes: int, key_hash: int, n: int, node_count: int) -> list[int]:
    out: list[int] = []
    size = len(ring)
    if size == 0:
        return out
    ps = [probe(key_hash, i) for i in range(probes)]
    cursor = [ring.successor(p) for p in ps]
    chosen = [False] * node_count
    while len(out) < n:
        best: tuple[int, int] | None = None
        for i, p in enumerate(ps):
            steps = 0
            while chosen[ring.owners[cursor[i]]] and steps < size:
                cursor[i] = (cursor[i] + 1) % size
                steps += 1
            if steps == size:
                return out
            distance = (ring.points[cursor[i]] - p) & MASK64
            if best is None or distance < best[0]:
                best = (distance, i)
        if best is None:
            return out
        owner = ring.owners[cursor[best[1]]]
        chosen[owner] = True
        out.append(owner)
    return out


class MultiProbe(PurePlacement):
    """Multi-probe consistent hashing (see ``shardwise.MultiProbe``)."""

    CLASS = "MultiProbe"

    def __init__(self, nodes: NodesArg = None, *, probes: int | None = None) -> None:
        self._probes = DEFAULT_PROBES if probes is None else int_param("probes", probes, 1, MAX_PROBES)
        self._ring = SortedPoints([])
        super().__init__(nodes)
        self._rebuild()

    @property
    def probes(self) -> int:
        return self._probes

    def _check_node(self, name: str, weight: float) -> None:
        check_integral_weight(name, weight, "(MultiProbe gives a node of weight w exactly w ring points)")

    def _params(self) -> dict[str, Any]:
        return {"probes": self._probes}

    def _rebuild(self) -> None:
        counts = [int(w) for w in self._weights]
        if sum(counts) > MAX_POINTS:
            raise ConfigurationError(f"MultiProbe weights sum to more than {MAX_POINTS} points")
        self._ring = SortedPoints.for_nodes(list(zip(self._names, counts, strict=True)))

    def _locate(self, key: Any) -> int:
        found = locate(self._ring, self._probes, key_hash(key))
        assert found is not None
        return found

    def _locate_n(self, key: Any, n: int) -> list[int]:
        return locate_n(self._ring, self._probes, key_hash(key), n, len(self._names))
