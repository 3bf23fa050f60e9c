"""Pure-Python twin of ``shardwise.Rendezvous``."""

from __future__ import annotations

import math
from typing import Any

from shardwise.pure.keys import encode_key
from shardwise.pure.placement._base import NodesArg, PurePlacement
from shardwise.pure.placement._hashes import splitmix64, xxh3_64


def draw(k: int, seed: int) -> int:
    return splitmix64(k ^ seed) >> 11


def score(d: int, weight: float) -> float:
    u = (float(d) + 0.5) / 9007199254740992.0
    return weight / -math.log(u)


class Rendezvous(PurePlacement):
    """Weighted rendezvous (highest random weight) hashing (see ``shardwise.Rendezvous``)."""

    CLASS = "Rendezvous"

    def __init__(self, nodes: NodesArg = None) -> None:
        self._seeds: list[int] = []
        self._uniform = True
        super().__init__(nodes)
        self._rebuild()

    def _params(self) -> dict[str, Any]:
        return {}

    def _rebuild(self) -> None:
        self._seeds = [xxh3_64(n.encode()) for n in self._names]
        self._uniform = all(w == self._weights[0] for w in self._weights)

    def _ranked(self, key: Any) -> list[int]:
        k = xxh3_64(encode_key(key))
        order = range(len(self._names))
        if self._uniform:
            draws = [draw(k, s) for s in self._seeds]
            return sorted(order, key=lambda i: (-draws[i], i))
        scores = [score(draw(k, s), w) for s, w in zip(self._seeds, self._weights, strict=True)]
        return sorted(order, key=lambda i: (-scores[i], i))

    def _locate(self, key: Any) -> int:
        return self._ranked(key)[0]

    def _locate_n(self, key: Any, n: int) -> list[int]:
        return self._ranked(key)[:n]
