"""Shared twin of the constant-time range hashes over a node list (``JumpBackHash``, ``FlipHash``,
``BinomialHash``; rust/shardwise-core/src/placement/sequential.rs): node ``i`` is bucket ``i``,
no weights, only the last node removable."""

from __future__ import annotations

from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.pure.keys import encode_key, key_int
from shardwise.pure.placement._base import NodesArg, PurePlacement
from shardwise.pure.placement._hashes import MASK64, splitmix64, xxh3_64
from shardwise.pure.validate import quoted


def raw_int_hash(key: object) -> int:
    """Int keys as their unsigned 64-bit value; other keys through XXH3-64."""
    bits = key_int(key)
    return bits if bits is not None else xxh3_64(encode_key(key))


def xxh3_hash(key: object) -> int:
    """Every key through XXH3-64 of its encoded bytes (ints: 8 bytes little-endian)."""
    return xxh3_64(encode_key(key))


def unit_weight(cls: str, name: str, weight: float) -> None:
    """The weight check of an unweighted algorithm (the message is the Rust one)."""
    if weight != 1.0:
        raise ConfigurationError(
            f"{cls} does not support weights (node {quoted(name)} has weight {weight}); "
            "use Rendezvous, Maglev, HashRing or DxHash for weighted placement"
        )


class Sequential(PurePlacement):
    """A node list placed by a range hash ``_bucket(hash, n)`` of the key's ``_key_hash``."""

    def __init__(self, nodes: NodesArg = None) -> None:
        super().__init__(nodes)
        self._rebuild()

    @staticmethod
    def _key_hash(key: object, /) -> int:
        raise NotImplementedError

    @staticmethod
    def _bucket(hash64: int, buckets: int, /) -> int:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        return {}

    def _check_node(self, name: str, weight: float) -> None:
        unit_weight(self.CLASS, name, weight)

    def _check_remove(self, name: str) -> None:
        if name != self._names[-1]:
            raise ConfigurationError(
                f"{self.CLASS} can only remove its last node ({quoted(self._names[-1])}), not "
                f"{quoted(name)}; use AnchorHash, DxHash or MementoHash for arbitrary removal"
            )

    def _rebuild(self) -> None:
        pass

    def _locate(self, key: Any) -> int:
        return self._bucket(self._key_hash(key), len(self._names))

    def _locate_n(self, key: Any, n: int) -> list[int]:
        h = self._key_hash(key)
        left = list(range(len(self._names)))
        out: list[int] = []
        for r in range(n):
            rh = h if r == 0 else splitmix64((h + r) & MASK64)
            out.append(left.pop(self._bucket(rh, len(left))))
        return out
