"""Pure-Python twin of ``shardwise.HashRing``."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.pure.keys import encode_key
from shardwise.pure.placement._base import NodesArg, PurePlacement, distinct_walk, int_param
from shardwise.pure.placement._hashes import RING_HASHES
from shardwise.pure.placement._points import DEFAULT_VNODES, MAX_VNODES, point_count, total_points
from shardwise.pure.validate import text_param


class HashRing(PurePlacement):
    """Consistent hash ring with weighted virtual nodes (see ``shardwise.HashRing``)."""

    CLASS = "HashRing"

    def __init__(
        self, nodes: NodesArg = None, *, vnodes: int | None = None, hash: str | None = None
    ) -> None:
        # None (or leaving one out) means the default, as in the Rust class.
        self._vnodes = DEFAULT_VNODES if vnodes is None else int_param("vnodes", vnodes, 1, MAX_VNODES)
        hash = "xxh3_64" if hash is None else text_param("hash", hash)
        if hash not in RING_HASHES:
            raise ConfigurationError(f"unknown hash {hash!r}; choose one of {', '.join(RING_HASHES)}")
        self._hash_name = hash
        self._hash = RING_HASHES[hash]
        self._points: list[int] = []
        self._owners: list[int] = []
        super().__init__(nodes)
        self._rebuild()

    @property
    def vnodes(self) -> int:
        return self._vnodes

    @property
    def hash(self) -> str:
        return self._hash_name

    def _params(self) -> dict[str, Any]:
        return {"vnodes": self._vnodes, "hash": self._hash_name}

    def _rebuild(self) -> None:
        total_points(self._vnodes, self._weights)
        pairs: list[tuple[int, bytes, int]] = []
        for i, (name, weight) in enumerate(zip(self._names, self._weights, strict=True)):
            raw = name.encode()
            for j in range(point_count(self._vnodes, weight)):
                pairs.append((self._hash(raw + b"-" + str(j).encode()), raw, i))
        pairs.sort()
        self._points = [p for p, _, _ in pairs]
        self._owners = [o for _, _, o in pairs]

    def _position(self, key: Any) -> int:
        pos = bisect_left(self._points, self._hash(encode_key(key)))
        return 0 if pos == len(self._points) else pos

    def _locate(self, key: Any) -> int:
        return self._owners[self._position(key)]

    def _locate_n(self, key: Any, n: int) -> list[int]:
        return distinct_walk(self._owners, self._position(key), n)
