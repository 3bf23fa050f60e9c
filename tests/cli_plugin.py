"""A tiny placement class used to test the command line's ``--algo module:Class`` path
(and everything built on it) independently of which Rust algorithms a build has."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from shardwise import hashing


class ModPlacement:
    """Key -> nodes[xxh3_64(key) % len(nodes)]: trivially correct, famously bad at movement."""

    def __init__(self, nodes: Iterable[str] | Mapping[str, float]) -> None:
        self._nodes = list(nodes)

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self._nodes)

    def get_node(self, key: Any) -> str:
        return self._nodes[hashing.xxh3_64(key) % len(self._nodes)]

    def place(self, keys: Any) -> np.ndarray:
        return (hashing.xxh3_64_many(keys) % np.uint64(len(self._nodes))).astype(np.int32)

    def add_node(self, name: str, weight: float = 1.0) -> None:
        self._nodes.append(name)

    def remove_node(self, name: str) -> None:
        if name != self._nodes[-1]:
            raise ValueError("ModPlacement removes only its last node")
        self._nodes.pop()


class SmallOnly(ModPlacement):
    """ModPlacement that fails beyond 50 nodes, as a plugin with a limit of its own might."""

    def __init__(self, nodes: Iterable[str] | Mapping[str, float]) -> None:
        super().__init__(nodes)
        if len(self._nodes) > 50:
            raise RuntimeError("SmallOnly holds at most 50 nodes")
