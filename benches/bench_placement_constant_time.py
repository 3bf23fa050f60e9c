"""Issue 14's placements: JumpBackHash, FlipHash, BinomialHash (constant-time range hashes),
AnchorHash and DxHash (fixed capacity, arbitrary removal), with JumpHash in the same run.

Per-call times are what pytest-benchmark reports; ``extra_info["keys"]`` holds the keys per call,
so ns/key = time / keys. The comparison with the reference crates, called once per key from Rust,
is the timing harness ``rust/shardwise-core/tests/oracle_speed.rs`` (see BENCHMARKS.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import shardwise
import shardwise.pure.placement as pure
from bench_support import size

NODES_1000 = [f"node-{i}" for i in range(1000)]
RNG = np.random.default_rng(14)
U64 = RNG.integers(0, 2**64 - 1, size=size(10_000_000), dtype=np.uint64, endpoint=True)
STRS = [f"user:{i}:{v}" for i, v in enumerate(RNG.integers(0, 2**40, size=size(20_000, 200)))]
RANGE_HASHES = ["JumpHash", "JumpBackHash", "FlipHash", "BinomialHash"]
ALL = [*RANGE_HASHES, "AnchorHash", "DxHash"]


@pytest.fixture
def one_thread() -> Iterator[None]:
    before = shardwise.get_num_threads()
    shardwise.set_num_threads(1)
    yield
    shardwise.set_num_threads(before)


def run(benchmark: Any, fn: Callable[[], Any], keys: int, rounds: int = 7) -> None:
    benchmark.extra_info["keys"] = keys
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=2)


def anchor_with_removals(cls: type, fraction: float = 0.1, **kwargs: Any) -> Any:
    """1,000 nodes filling a capacity of 1,000, then ``fraction`` of them removed at random."""
    p = cls(NODES_1000, capacity=1000, **kwargs)
    for victim in random.Random(14).sample(NODES_1000, int(fraction * 1000)):
        p.remove_node(victim)
    return p


@pytest.mark.parametrize("name", RANGE_HASHES)
def test_bulk_1000_one_thread(benchmark: Any, one_thread: None, name: str) -> None:
    """10M uint64 keys, 1,000 nodes, one thread, into one reused int32 buffer."""
    p = getattr(shardwise, name)(NODES_1000)
    out = np.empty(len(U64), dtype=np.int32)
    run(benchmark, lambda: p.place(U64, out=out), len(U64))


@pytest.mark.parametrize("name", ["AnchorHash", "DxHash"])
def test_bulk_10pct_removed_one_thread(benchmark: Any, one_thread: None, name: str) -> None:
    """10M uint64 keys, capacity 1,000 with 100 nodes removed at random, one thread."""
    p = anchor_with_removals(getattr(shardwise, name))
    out = np.empty(len(U64), dtype=np.int32)
    run(benchmark, lambda: p.place(U64, out=out), len(U64))


@pytest.mark.parametrize("name", ALL)
def test_get_node_str(benchmark: Any, name: str) -> None:
    """One ``get_node(str)`` per call, including the Python loop (1,000 nodes)."""
    p = getattr(shardwise, name)(NODES_1000)
    get_node = p.get_node

    def lookups() -> None:
        for key in STRS:
            get_node(key)

    run(benchmark, lookups, len(STRS))


@pytest.mark.parametrize("name", ALL)
def test_pure_twin_get_node_str(benchmark: Any, name: str) -> None:
    """The pure-Python twin, one key per call (1,000 nodes; 200 keys)."""
    p = pure.CLASSES[name](NODES_1000)
    keys = STRS[:200]

    def lookups() -> None:
        for key in keys:
            p.get_node(key)

    run(benchmark, lookups, len(keys), rounds=3)
