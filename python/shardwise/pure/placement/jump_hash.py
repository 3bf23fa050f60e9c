"""Pure-Python twin of ``shardwise.JumpHash`` and the raw ``jump`` / ``jump_many`` functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shardwise.errors import ConfigurationError
from shardwise.pure.keys import as_key_list, encode_key, key_int
from shardwise.pure.placement._base import NodesArg, PurePlacement, check_out, int_param, placed
from shardwise.pure.placement._hashes import MASK64, jump_bucket, splitmix64, xxh3_64
from shardwise.pure.placement._sequential import unit_weight

MAX_BUCKETS = 2**31 - 1


def jump_key(key: Any) -> int:
    """Ints as their unsigned 64-bit value; other keys through XXH3-64."""
    bits = key_int(key)
    return bits if bits is not None else xxh3_64(encode_key(key))


def jump(key: Any, num_buckets: int) -> int:
    """Jump consistent hash of ``key`` into ``[0, num_buckets)`` (Lamping & Veach)."""
    n = int_param("num_buckets", num_buckets, 1, MAX_BUCKETS)
    return jump_bucket(jump_key(key), n)


def jump_many(
    keys: Any, num_buckets: int, *, out: npt.NDArray[np.int32] | None = None
) -> npt.NDArray[np.int32]:
    """``jump`` of every key (into ``out`` when given)."""
    n = int_param("num_buckets", num_buckets, 1, MAX_BUCKETS)
    items = as_key_list(keys)
    if out is not None:
        check_out(out, len(items), keys)
    return placed([jump_bucket(jump_key(k), n) for k in items], out)


class JumpHash(PurePlacement):
    """Jump consistent hash over the node list (see ``shardwise.JumpHash``)."""

    CLASS = "JumpHash"

    def __init__(self, nodes: NodesArg = None) -> None:
        super().__init__(nodes)
        self._rebuild()

    def _params(self) -> dict[str, Any]:
        return {}

    def _check_node(self, name: str, weight: float) -> None:
        unit_weight(self.CLASS, name, weight)

    def _check_remove(self, name: str) -> None:
        if name != self._names[-1]:
            raise ConfigurationError(
                f"JumpHash can only remove its last node ({self._names[-1]!r}), not {name!r}; "
                "use MementoHash for arbitrary removal"
            )

    def _rebuild(self) -> None:
        pass

    def _locate(self, key: Any) -> int:
        return jump_bucket(jump_key(key), len(self._names))

    def _locate_n(self, key: Any, n: int) -> list[int]:
        k = jump_key(key)
        left = list(range(len(self._names)))
        out: list[int] = []
        for r in range(n):
            rk = k if r == 0 else splitmix64((k + r) & MASK64)
            out.append(left.pop(jump_bucket(rk, len(left))))
        return out
