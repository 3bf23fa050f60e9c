"""Pure-Python twin of ``shardwise.DxHash`` (rust/shardwise-core/src/placement/dx.rs)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.pure.placement._base import NodesArg, check_weight_value
from shardwise.pure.placement._fixed import FREE, FixedCapacity
from shardwise.pure.placement._hashes import murmur_fmix64, reflected_crc_table
from shardwise.pure.placement._sequential import xxh3_hash
from shardwise.pure.validate import number, quoted

MASK32 = 0xFFFFFFFF
ALWAYS = 1 << 32
LIGHTEST = 1048576.0  # weights under max_weight / 2**20 are refused
EXTRA_ROUNDS = 32  # rounds of 4 * capacity probes after the first 4 * capacity - 1


CRC32C_TABLE = reflected_crc_table(0x82F63B78)


def crc32c_u64(crc: int, data: int) -> int:
    """The SSE4.2 ``crc32q`` step: CRC-32C of ``data``'s 8 little-endian bytes from ``crc``."""
    for byte in data.to_bytes(8, "little"):
        crc = CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def threshold(weight: float, max_weight: float) -> int:
    """The keep threshold of a weight (a 32-bit draw below it keeps the bucket)."""
    return min(max(int(weight / max_weight * 4294967296.0), 1), ALWAYS)


def _py_float(x: float) -> str:
    return repr(float(x))


class DxHash(FixedCapacity):
    """DxHash over named, weighted nodes with a fixed capacity (see ``shardwise.DxHash``)."""

    CLASS = "DxHash"

    def __init__(
        self, nodes: NodesArg = None, *, capacity: int | None = None, max_weight: float | None = None
    ) -> None:
        self._max_weight = 1.0
        self._thresholds: list[int] = []
        super().__init__(nodes, capacity=capacity, max_weight=max_weight)

    @property
    def max_weight(self) -> float:
        return self._max_weight

    def _params(self) -> dict[str, Any]:
        params = super()._params()
        return {"capacity": params["capacity"], "max_weight": self._max_weight} | params

    def _check_weight(self, name: str, weight: float) -> None:
        check_weight_value(name, weight)
        if weight > self._max_weight:
            raise ConfigurationError(
                f"weight of node {quoted(name)} ({_py_float(weight)}) exceeds DxHash's max_weight "
                f"{_py_float(self._max_weight)}; build it with a larger max_weight="
            )
        if weight < self._max_weight / LIGHTEST:
            raise ConfigurationError(
                f"weight of node {quoted(name)} ({_py_float(weight)}) is under DxHash's max_weight "
                f"{_py_float(self._max_weight)} / 2**20, too light for its 32-bit keep draws; "
                "build it with a smaller max_weight="
            )

    def _build_from(self, params: dict[str, Any], capacity: int) -> None:
        given = params.get("max_weight")
        self._given_max = None if given is None else number("max_weight", given)
        super()._build_from(params, capacity)

    def _build(self, params: dict[str, Any]) -> None:
        m = max(self._weights, default=1.0) if self._given_max is None else self._given_max
        if not (math.isfinite(m) and m > 0):
            raise ConfigurationError(f"max_weight must be a finite number > 0, got {_py_float(m)}")
        self._max_weight = m
        self._thresholds = [ALWAYS] * self._slots.capacity
        for i, (name, weight) in enumerate(zip(self._names, self._weights, strict=True)):
            self._check_weight(name, weight)
            self._thresholds[self._slots.slot_of[i]] = threshold(weight, m)

    def _taken(self, bucket: int, weight: float) -> None:
        self._thresholds[bucket] = threshold(weight, self._max_weight)

    def _released(self, bucket: int) -> None:
        self._thresholds[bucket] = ALWAYS

    def _set_weight(self, name: str, w: float) -> None:
        super()._set_weight(name, w)
        self._thresholds[self._slots.slot_of[self._require(name)]] = threshold(w, self._max_weight)

    def _bucket(self, hash64: int, skip: Callable[[int], bool]) -> int | None:
        node_at, thresholds = self._slots.node_at, self._thresholds
        capacity = len(node_at)
        key = hash64 & MASK32
        key2 = (key * 421757 + 1) & MASK32
        state = crc32c_u64(key2, key)
        b = state % capacity
        # Round 0: the paper's 4 * capacity - 1 probes; round r keeps with the threshold times 2**r.
        for round_ in range(EXTRA_ROUNDS + 1):
            for probe in range(4 * capacity - (round_ == 0)):
                if probe or round_:
                    state = crc32c_u64(key2, state)
                    b = state % capacity
                if node_at[b] != FREE and not skip(b):
                    t = thresholds[b]
                    if t >= ALWAYS >> round_ or (murmur_fmix64(state | (key2 << 32)) >> 32) < t << round_:
                        return b
        for j in range(capacity):
            c = (b + j) % capacity
            if node_at[c] != FREE and not skip(c):
                return c
        return None

    def _locate(self, key: Any) -> int:
        b = self._bucket(xxh3_hash(key), lambda _: False)
        assert b is not None
        return self._slots.node_at[b]

    def _locate_n(self, key: Any, n: int) -> list[int]:
        h = xxh3_hash(key)
        node_at = self._slots.node_at
        chosen: set[int] = set()
        out: list[int] = []
        while len(out) < n:
            b = self._bucket(h, lambda c: node_at[c] in chosen)
            assert b is not None
            chosen.add(node_at[b])
            out.append(node_at[b])
        return out
