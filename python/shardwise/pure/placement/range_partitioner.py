"""Pure-Python twin of ``shardwise.RangePartitioner`` (rust/shardwise-core/src/placement/range.rs)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import numpy as np

from shardwise.errors import ConfigurationError
from shardwise.pure.keys import encode_key, key_int
from shardwise.pure.placement._base import FixedLayout, distinct_walk

Bound = int | str | bytes


def _signed(bits: int) -> int:
    return bits - (1 << 64) if bits >= 1 << 63 else bits


def parse_boundaries(boundaries: Any) -> tuple[str, list[Any]]:
    """``(kind, values)``: kind is "int", "str" or "bytes"; values as given (ints checked)."""
    if isinstance(boundaries, np.ndarray):
        boundaries = boundaries.tolist()
    if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
        raise TypeError(f"boundaries must be a list or tuple (or 1-D array), not {type(boundaries).__name__}")
    values = list(boundaries)
    kinds = set()
    for i, b in enumerate(values):
        if isinstance(b, bool):
            raise TypeError(f"boundaries[{i}] must be int, str or bytes, not bool")
        if isinstance(b, (int, np.integer)):
            kinds.add("int")
            if not -(2**63) <= int(b) < 2**63:
                raise ConfigurationError(f"boundaries[{i}] = {b} is outside the signed 64-bit range")
        elif isinstance(b, str):
            kinds.add("str")
        elif isinstance(b, (bytes, bytearray, memoryview)):
            kinds.add("bytes")
        else:
            raise TypeError(f"boundaries[{i}] must be int, str or bytes, not {type(b).__name__}")
    if len(kinds) > 1:
        raise TypeError("boundaries must all be of one kind (int, str or bytes)")
    kind = kinds.pop() if kinds else "int"
    if kind == "int":
        values = [int(b) for b in values]
    elif kind == "bytes":
        values = [bytes(b) for b in values]
    return kind, values


class RangePartitioner(FixedLayout):
    """Sorted split points, each range owned by a node (see ``shardwise.RangePartitioner``)."""

    CLASS = "RangePartitioner"
    INSTEAD = (
        "ranges are fixed by their boundaries; build a new RangePartitioner with the boundaries "
        "and owners you want"
    )

    def __init__(self, boundaries: Sequence[Bound], nodes: Sequence[str]) -> None:
        super().__init__(None)
        self._configure(boundaries, nodes)

    def _configure(self, boundaries: Any, nodes: Any) -> None:
        self._kind, self._bounds = parse_boundaries(boundaries)
        if isinstance(nodes, (str, bytes)):
            raise TypeError("nodes must be a list of node names (one per range), not a single string")
        owners = list(nodes)
        for o in owners:
            if not isinstance(o, str):
                raise TypeError(f"node names must be str, not {type(o).__name__}")
        n = len(self._bounds)
        if len(owners) != n + 1:
            raise ConfigurationError(
                f"{n} boundaries make {n + 1} ranges, so {n + 1} owners are needed, got {len(owners)}"
            )
        self._keys = [b.encode("utf-8") for b in self._bounds] if self._kind == "str" else list(self._bounds)
        for i in range(1, n):
            if not self._keys[i] > self._keys[i - 1]:
                raise ConfigurationError(
                    f"boundaries must be strictly increasing: boundaries[{i}] is not greater than "
                    f"boundaries[{i - 1}]"
                )
        self._names, self._weights, self._index = [], [], {}
        for o in owners:
            if o not in self._index:
                self._check_new(o, 1.0)
                self._append(o, 1.0)
        self._owners = [self._index[o] for o in owners]

    @property
    def boundaries(self) -> tuple[Bound, ...]:
        return tuple(self._bounds)

    @property
    def range_owners(self) -> tuple[str, ...]:
        """The owner of each range, in range order."""
        return tuple(self._names[i] for i in self._owners)

    def _params(self) -> dict[str, Any]:
        return {"boundaries": list(self._bounds), "owners": list(self.range_owners)}

    def _set_params(self, params: dict[str, Any]) -> None:
        self._pending = params

    def _rebuild(self) -> None:
        names = list(self._names)
        self._configure(self._pending["boundaries"], self._pending["owners"])
        if names != self._names:
            raise ConfigurationError("invalid RangePartitioner state: nodes do not match the range owners")

    def _check_kind(self, key: Any) -> None:
        if not self._bounds:
            return
        is_int = key_int(key) is not None
        if self._kind == "int" and not is_int:
            raise ConfigurationError(
                "this RangePartitioner has int boundaries, so keys must be ints (got str/bytes keys)"
            )
        if self._kind != "int" and is_int:
            raise ConfigurationError(
                "this RangePartitioner has str/bytes boundaries, so keys must be str or bytes (got int keys)"
            )

    def _range(self, key: Any) -> int:
        if not self._bounds:
            return 0
        bits = key_int(key)
        if bits is not None:
            return bisect_right(self._keys, _signed(bits))
        return bisect_right(self._keys, encode_key(key))

    def _locate(self, key: Any) -> int:
        self._check_kind(key)
        return self._owners[self._range(key)]

    def _locate_n(self, key: Any, n: int) -> list[int]:
        self._check_kind(key)
        return distinct_walk(self._owners, self._range(key), n)

    def _place_items(self, items: list[Any]) -> list[int]:
        if items:
            self._check_kind(items[0])
        return [self._owners[self._range(k)] for k in items]
