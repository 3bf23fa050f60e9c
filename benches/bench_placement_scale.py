"""Placement at any scale: the HashRing size curve (10 to 1M nodes, against numpy's
``searchsorted`` over as many sorted points in the same run), HashRing build time, and the
Rendezvous / SkeletonRendezvous crossover.

Per-key cost = time / keys (``extra_info["keys"]``). With ``SHARDWISE_RING_CURVE=path`` the ring
and numpy rows are also written to ``path`` as a Markdown table at the end of the module (and
printed; run with ``-s`` to see it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shardwise
from bench_support import SMOKE, size

KEYS = np.random.default_rng(14).integers(0, 2**64, size=size(2_000_000, 2_000), dtype=np.uint64)
# (nodes, vnodes): 1.6K to 16M points; 100k x 160 and 1M x 16 both give 16M.
RINGS = [(10, 160), (100, 160), (1_000, 160), (10_000, 160), (20_000, 160), (40_000, 160), (100_000, 160)]
RINGS += [(1_000_000, 16)]
if SMOKE:
    RINGS = [(10, 160), (100, 16)]
CURVE: dict[tuple[int, int], dict[str, float]] = {}


@pytest.fixture
def one_thread() -> Iterator[None]:
    before = shardwise.get_num_threads()
    shardwise.set_num_threads(1)
    yield
    shardwise.set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def curve_table() -> Iterator[None]:
    yield
    if not CURVE:
        return
    lines = [
        "| nodes × vnodes | points | HashRing.place ns/key | numpy xxh3 + searchsorted ns/key | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for (nodes, vnodes), row in sorted(CURVE.items(), key=lambda kv: (kv[0][0] * kv[0][1], kv[0][0])):
        ring, numpy = row.get("ring", float("nan")), row.get("numpy", float("nan"))
        lines.append(
            f"| {nodes:,} × {vnodes} | {nodes * vnodes:,} | {ring:.1f} | {numpy:.1f} | {numpy / ring:.1f}× |"
        )
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    target = os.environ.get("SHARDWISE_RING_CURVE")
    if target:
        Path(target).write_text(table)


def run(benchmark: Any, fn: Callable[[], Any], keys: int, rounds: int = 5) -> None:
    benchmark.extra_info["keys"] = keys
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)


def record(benchmark: Any, ring: tuple[int, int], column: str) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None and not SMOKE:
        CURVE.setdefault(ring, {})[column] = stats.stats.min / len(KEYS) * 1e9


def ring_id(ring: tuple[int, int]) -> str:
    return f"{ring[0]}x{ring[1]}"


@pytest.mark.parametrize("ring", RINGS, ids=ring_id)
def test_ring_curve(benchmark: Any, one_thread: None, ring: tuple[int, int]) -> None:
    nodes, vnodes = ring
    shardwise.set_num_threads(0)  # build on every core
    hashring = shardwise.HashRing([f"node-{i}" for i in range(nodes)], vnodes=vnodes)
    shardwise.set_num_threads(1)
    out = np.empty(len(KEYS), dtype=np.int32)
    benchmark.extra_info["points"] = nodes * vnodes
    run(benchmark, lambda: hashring.place(KEYS, out=out), len(KEYS))
    record(benchmark, ring, "ring")


@pytest.mark.parametrize("ring", RINGS, ids=ring_id)
def test_ring_curve_numpy_searchsorted(benchmark: Any, one_thread: None, ring: tuple[int, int]) -> None:
    """The same lookups in numpy: XXH3 of the keys, ``searchsorted`` over as many sorted random
    points, then the owner of each position (wrapping past the last point)."""
    nodes, vnodes = ring
    rng = np.random.default_rng(nodes)
    points = np.sort(rng.integers(0, 2**64, size=nodes * vnodes, dtype=np.uint64))
    owners = rng.integers(0, nodes, size=len(points), dtype=np.int32)

    def place() -> np.ndarray:
        pos = np.searchsorted(points, shardwise.hashing.xxh3_64_many(KEYS), side="left")
        pos[pos == len(points)] = 0
        return owners[pos]

    benchmark.extra_info["points"] = nodes * vnodes
    run(benchmark, place, len(KEYS), rounds=3)
    record(benchmark, ring, "numpy")


@pytest.mark.parametrize("nodes", [size(10_000, 100), size(100_000, 200), size(1_000_000, 300)])
@pytest.mark.parametrize("vnodes", [16, 160])
def test_ring_build(benchmark: Any, nodes: int, vnodes: int) -> None:
    """Build time on every core, per point (``extra_info["keys"]`` = points)."""
    if nodes * vnodes > 1 << 24:
        pytest.skip("more than the 16.7M points a ring may hold")
    before = shardwise.get_num_threads()
    shardwise.set_num_threads(0)
    names = [f"node-{i}" for i in range(nodes)]
    try:
        run(benchmark, lambda: shardwise.HashRing(names, vnodes=vnodes), nodes * vnodes, rounds=3)
    finally:
        shardwise.set_num_threads(before)


HRW_NODES = [8, 16, 32, 64, 1_000, 10_000, 100_000, 1_000_000]
if SMOKE:
    HRW_NODES = [8, 64]


@pytest.mark.parametrize("nodes", HRW_NODES)
def test_rendezvous_curve(benchmark: Any, one_thread: None, nodes: int) -> None:
    """O(nodes) per key: fewer keys for large node sets."""
    if nodes > 100_000:
        pytest.skip("a million nodes at O(nodes) per key: about 1 ms per key")
    keys = KEYS[: max(200, min(len(KEYS), 200_000_000 // nodes))] if not SMOKE else KEYS[:200]
    hrw = shardwise.Rendezvous([f"node-{i}" for i in range(nodes)])
    run(benchmark, lambda: hrw.place(keys), len(keys), rounds=3)


@pytest.mark.parametrize("fanout", [2, 4])
@pytest.mark.parametrize("nodes", HRW_NODES)
def test_skeleton_rendezvous_curve(benchmark: Any, one_thread: None, nodes: int, fanout: int) -> None:
    skeleton = shardwise.SkeletonRendezvous([f"node-{i}" for i in range(nodes)], fanout=fanout)
    benchmark.extra_info["capacity"] = skeleton.capacity
    keys = KEYS[: size(1_000_000, 2_000)]
    run(benchmark, lambda: skeleton.place(keys), len(keys), rounds=3)
