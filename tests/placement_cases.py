"""Every placement class of the registry (``shardwise._core.PLACEMENTS``) with its pure twin, and
how to build each: tests parametrised by these pick up a new algorithm with no edit here.

A class built from a node list (``cls(nodes, **kwargs)``) needs nothing; a class built otherwise
names an example constructor call in ``EXAMPLES``. ``VARIANTS`` adds keyword settings worth
covering besides the defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import shardwise.pure.placement as pure
from shardwise._core import PLACEMENTS

SLOTS = [(0, 5460, "a"), (5461, 10922, "b"), (10923, 16383, "c")]

# Classes not built from a node list: an example constructor call (args, and the kind of keys).
EXAMPLES: dict[str, tuple[tuple[Any, ...], str]] = {
    "RangePartitioner": (([100, 200], ["a", "b", "c"]), "int"),
    "RedisClusterSlots": ((SLOTS,), "str"),
}
# Keyword settings worth covering besides the defaults (and settings every test must use).
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "HashRing": [{}, {"vnodes": 10, "hash": "fnv1a_32"}],
    "KetamaRing": [{}, {"flavor": "uhashring"}],
    "Maglev": [{"table_size": 1009}],
    "MultiProbe": [{}, {"probes": 5}],
    # A load factor no batch here reaches: bulk placement then equals one key at a time (the
    # bounded assignment itself is tested in test_placement_extra.py).
    "BoundedLoadRing": [{"vnodes": 20, "load_factor": 100.0}],
    "AnchorHash": [{}, {"capacity": 40}],
    "DxHash": [{}, {"capacity": 64, "max_weight": 4.0}],
}


def takes_nodes(cls: type) -> bool:
    """Whether the class is built from a node list (its first parameter is ``nodes``)."""
    return next(iter(inspect.signature(cls).parameters)) == "nodes"


@dataclass(frozen=True)
class Case:
    """One class with its twin and settings; ``make`` builds either over ``nodes``."""

    rust: type
    twin: type
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.rust.__name__

    @property
    def from_nodes(self) -> bool:
        return takes_nodes(self.rust)

    @property
    def key_kind(self) -> str:
        return EXAMPLES[self.name][1] if self.name in EXAMPLES else "any"

    def make(self, twin: bool = False, nodes: Any = None) -> Any:
        cls = self.twin if twin else self.rust
        if self.from_nodes:
            return cls(nodes, **self.kwargs)
        return cls(*EXAMPLES[self.name][0], **self.kwargs)

    def factory(self, twin: bool) -> Callable[[Any], Any]:
        return lambda nodes=None: self.make(twin, nodes)


def cases(only_node_lists: bool = False) -> list[Case]:
    """Every (class, settings) pair of the registry."""
    out = []
    for cls in PLACEMENTS:
        for kwargs in VARIANTS.get(cls.__name__, [{}]):
            case = Case(cls, pure.CLASSES[cls.__name__], kwargs)
            if case.from_nodes or not only_node_lists:
                out.append(case)
    return out


def params(only_node_lists: bool = False) -> list[Any]:
    """``cases()`` as pytest parameters with readable ids."""
    return [
        pytest.param(c, id=f"{c.name}-{i}") for i, c in enumerate(cases(only_node_lists))
    ]
