"""Pure-Python twin of ``shardwise.Maglev``."""

from __future__ import annotations

import math
from itertools import cycle, islice
from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.pure.keys import encode_key
from shardwise.pure.placement._base import NodesArg, PurePlacement, int_param
from shardwise.pure.placement._hashes import xxh3_64

DEFAULT_TABLE_SIZE = 65537
MAX_TABLE_SIZE = 1 << 26


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    d = 2
    while d * d <= n:
        if n % d == 0:
            return False
        d += 1
    return True


def quotas(weights: list[float], size: int) -> list[int]:
    """Slots per node: floor of the exact share, plus one for the largest remainders."""
    total = 0.0
    for w in weights:  # a plain left fold, as Rust sums (Python 3.12's sum() compensates)
        total += w
    exact = [float(size) * w / total for w in weights]
    q = [math.floor(e) for e in exact]
    rem = [e - math.floor(e) for e in exact]
    order = sorted(range(len(weights)), key=lambda i: (-rem[i], i))
    for i in islice(cycle(order), max(0, size - sum(q))):
        q[i] += 1
    return q


class Maglev(PurePlacement):
    """Weighted Maglev lookup table (see ``shardwise.Maglev``)."""

    CLASS = "Maglev"

    def __init__(self, nodes: NodesArg = None, *, table_size: int | None = None) -> None:
        size = DEFAULT_TABLE_SIZE
        if table_size is not None:
            size = int_param("table_size", table_size, 2, MAX_TABLE_SIZE)
        if not is_prime(size):
            raise ConfigurationError(f"table_size must be a prime in [2, {MAX_TABLE_SIZE}], got {size}")
        self._size = size
        self._table: list[int] = []
        super().__init__(nodes)
        self._rebuild()

    @property
    def table_size(self) -> int:
        return self._size

    def _params(self) -> dict[str, Any]:
        return {"table_size": self._size}

    def _check_node(self, name: str, weight: float) -> None:
        if name not in self._index and len(self._names) + 1 > self._size:
            raise ConfigurationError(
                f"Maglev table_size {self._size} is smaller than the number of nodes "
                f"({len(self._names) + 1}); use a prime table size well above the node count (about 100x)"
            )

    def _rebuild(self) -> None:
        n, m = len(self._names), self._size
        if n == 0:
            self._table = []
            return
        offsets = [xxh3_64(name.encode(), 1) % m for name in self._names]
        skips = [xxh3_64(name.encode(), 2) % (m - 1) + 1 for name in self._names]
        quota = quotas(self._weights, m)
        nxt, filled = [0] * n, [0] * n
        table = [-1] * m
        taken = 0
        while taken < m:
            for i in range(n):
                if filled[i] >= quota[i]:
                    continue
                while True:
                    slot = (offsets[i] + nxt[i] * skips[i]) % m
                    nxt[i] += 1
                    if table[slot] < 0:
                        table[slot] = i
                        filled[i] += 1
                        taken += 1
                        break
                if taken == m:
                    break
        self._table = table

    def _slot(self, key: Any) -> int:
        return xxh3_64(encode_key(key)) % self._size

    def _locate(self, key: Any) -> int:
        return self._table[self._slot(key)]

    def _locate_n(self, key: Any, n: int) -> list[int]:
        s = self._slot(key)
        out: list[int] = []
        for owner in [*self._table[s:], *self._table[:s], *range(len(self._names))]:
            if len(out) == n:
                break
            if owner not in out:
                out.append(owner)
        return out
