"""The figures ``shardwise simulate`` reports, defined once (as in the consistent-hashing literature,
e.g. the SUPSI benchmark suite): balance, keys moved, monotonicity, memory and timings.

Owners are compared by node *name* through :class:`Owners` (indices into a placement's node list
change when a node is removed), so every figure means the same for every algorithm.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Owners",
    "balance",
    "best_time",
    "expected_loads",
    "memory_bytes",
    "moved_share",
    "stray_share",
]


class Owners:
    """Node names as small integer codes shared by several placements, so owner arrays of
    placements with different node lists compare directly."""

    def __init__(self) -> None:
        self._code: dict[str, int] = {}

    def code(self, name: str) -> int:
        return self._code.setdefault(name, len(self._code))

    def codes(self, names: Iterable[str]) -> set[int]:
        return {self.code(n) for n in names}

    def of(self, nodes: Sequence[str], indices: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The owner code of every key, from a placement's ``nodes`` and its ``place()`` output."""
        remap = np.array([self.code(n) for n in nodes], dtype=np.int64)
        return remap[np.asarray(indices, dtype=np.int64)]


def moved_share(before: npt.NDArray[np.int64], after: npt.NDArray[np.int64]) -> float:
    """Share of keys whose owner changed."""
    if len(before) == 0:
        return 0.0
    return float(np.count_nonzero(before != after)) / len(before)


def stray_share(before: npt.NDArray[np.int64], after: npt.NDArray[np.int64], changed: set[int]) -> float:
    """Monotonicity: the share of keys that moved between two nodes that did *not* change (neither
    the old owner nor the new one is among ``changed``, the nodes added or removed). 0 for a
    monotone algorithm: keys only move to an added node or away from a removed one."""
    if len(before) == 0:
        return 0.0
    involved = np.isin(before, list(changed)) | np.isin(after, list(changed))
    return float(np.count_nonzero((before != after) & ~involved)) / len(before)


def expected_loads(nodes: Sequence[str], weights: dict[str, float], total: int) -> npt.NDArray[np.float64]:
    """Each node's fair share of ``total`` keys, by weight (1 when not given)."""
    w = np.array([weights.get(n, 1.0) for n in nodes], dtype=np.float64)
    expected: npt.NDArray[np.float64] = total * w / w.sum()
    return expected


def balance(indices: npt.ArrayLike, nodes: Sequence[str], weights: dict[str, float]) -> float:
    """Balance: the most loaded node's keys over its fair share (1.0 is perfect)."""
    idx = np.asarray(indices, dtype=np.int64)
    counts = np.bincount(idx, minlength=len(nodes))
    return float(np.max(counts / expected_loads(nodes, weights, len(idx))))


def memory_bytes(placement: Any) -> int:
    """Bytes the placement holds for lookups (``sys.getsizeof``: shardwise's classes report their
    tables and node list; other classes whatever their ``__sizeof__`` says)."""
    return int(sys.getsizeof(placement))


def best_time(fn: Callable[[], object], repeat: int, enough: float = math.inf) -> float:
    """The fastest of ``repeat`` runs of ``fn``, in seconds; no more runs once one took over
    ``enough`` seconds."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        if best > enough:
            break
    return best
