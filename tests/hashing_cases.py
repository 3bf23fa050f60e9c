"""Shared tables for the hashing tests: every function, its oracle and its output dtype."""

from __future__ import annotations

import binascii
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import mmh3
import numpy as np
import shardwise.hashing as rust
import shardwise.pure.hashing as pure
import xxhash

IMPLEMENTATIONS: dict[str, ModuleType] = {"rust": rust, "pure": pure}


def _redis_tag(data: bytes) -> bytes:
    # Written from the Redis Cluster specification, independently of both implementations.
    start = data.find(b"{")
    if start == -1:
        return data
    end = data.find(b"}", start + 1)
    if end == -1 or end == start + 1:
        return data
    return data[start + 1 : end]


@dataclass(frozen=True)
class Spec:
    name: str
    dtype: type[np.unsignedinteger[Any]]
    seed_bits: int  # 0 = no seed parameter
    oracle: Callable[[bytes, int], int] | None  # None: checked against published vectors only

    def one(self, module: ModuleType, key: object, seed: int = 0) -> int:
        fn = getattr(module, self.name)
        return int(fn(key, seed) if self.seed_bits else fn(key))

    def many(self, module: ModuleType, keys: object, seed: int = 0) -> np.ndarray[Any, Any]:
        fn = getattr(module, self.name + "_many")
        result: np.ndarray[Any, Any] = fn(keys, seed) if self.seed_bits else fn(keys)
        return result


SPECS = [
    Spec("xxh3_64", np.uint64, 64, lambda b, s: xxhash.xxh3_64_intdigest(b, s)),
    Spec("xxh64", np.uint64, 64, lambda b, s: xxhash.xxh64_intdigest(b, s)),
    Spec("murmur3_32", np.uint32, 32, lambda b, s: mmh3.hash(b, s, signed=False)),
    Spec("murmur3_128", np.uint64, 32, lambda b, s: mmh3.hash128(b, s, signed=False)),
    Spec("fnv1a_32", np.uint32, 0, None),
    Spec("fnv1a_64", np.uint64, 0, None),
    Spec("crc32", np.uint32, 0, lambda b, _: zlib.crc32(b)),
    Spec("ketama", np.uint32, 0, lambda b, _: int.from_bytes(hashlib.md5(b).digest()[:4], "little")),
    Spec("crc16", np.uint16, 0, lambda b, _: binascii.crc_hqx(b, 0)),
    Spec("redis_slot", np.uint16, 0, lambda b, _: binascii.crc_hqx(_redis_tag(b), 0) % 16384),
]
SPEC_IDS = [s.name for s in SPECS]
ORACLE_SPECS = [s for s in SPECS if s.oracle is not None]


def as_int(row: Any, spec: Spec) -> int:
    """One element of a ``_many`` result as the int the one-key form returns."""
    if spec.name == "murmur3_128":
        return int(row[0]) | (int(row[1]) << 64)
    return int(row)


def many_as_ints(spec: Spec, module: ModuleType, keys: object, seed: int = 0) -> list[int]:
    return [as_int(row, spec) for row in spec.many(module, keys, seed)]
