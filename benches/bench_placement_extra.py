"""Benchmarks: MementoHash, MultiProbe, BoundedLoadRing, RangePartitioner, RedisClusterSlots —
Rust vs pure twin vs the nearest thing users run today (jump-consistent-hash, numpy searchsorted,
redis-py's key_slot). Per-key cost = time / keys (pytest-benchmark's extra_info["keys"])."""

from __future__ import annotations

from typing import Any

import jump
import numpy as np
import pytest
import redis.crc
import shardwise
import shardwise.pure.placement as pure
from bench_support import size

BULK = size(10_000_000, 2_000)
STR_BULK = size(1_000_000, 2_000)
PURE = size(20_000, 200)
NODES_1000 = [f"node-{i}" for i in range(1000)]
NODES_100 = NODES_1000[:100]

rng = np.random.default_rng(1)
INTS = rng.integers(0, 2**63, BULK, dtype=np.int64).astype(np.uint64)
STRS = np.array([f"user:{i}" for i in range(STR_BULK)], dtype=object)
PURE_STRS = [f"user:{i}" for i in range(PURE)]


def run(benchmark: Any, fn: Any, keys: int) -> None:
    benchmark.extra_info["keys"] = keys
    benchmark(fn)


def memento(removed: int) -> shardwise.MementoHash:
    m = shardwise.MementoHash(NODES_1000)
    for i in range(removed):
        m.remove_node(f"node-{(i * 7919) % 1000}")
    return m


# ----- MementoHash ------------------------------------------------------------------------------


@pytest.mark.benchmark(group="memento-bulk-1000-nodes")
def test_memento_bulk_uint64(benchmark: Any) -> None:
    m = memento(0)
    run(benchmark, lambda: m.place(INTS), BULK)


@pytest.mark.benchmark(group="memento-bulk-1000-nodes")
def test_memento_bulk_uint64_100_removed(benchmark: Any) -> None:
    m = memento(100)
    run(benchmark, lambda: m.place(INTS), BULK)


@pytest.mark.benchmark(group="memento-bulk-1000-nodes")
def test_jumphash_bulk_uint64(benchmark: Any) -> None:
    j = shardwise.JumpHash(NODES_1000)
    run(benchmark, lambda: j.place(INTS), BULK)


@pytest.mark.benchmark(group="memento-bulk-1000-nodes")
def test_jump_consistent_hash_pkg_loop(benchmark: Any) -> None:
    keys = INTS[:PURE].tolist()
    run(benchmark, lambda: [jump.hash(k, 1000) for k in keys], PURE)


@pytest.mark.benchmark(group="memento-bulk-1000-nodes")
def test_memento_pure_twin(benchmark: Any) -> None:
    p = pure.MementoHash(NODES_1000)
    for i in range(100):
        p.remove_node(f"node-{(i * 7919) % 1000}")
    keys = INTS[:PURE].tolist()
    run(benchmark, lambda: p.place(keys), PURE)


@pytest.mark.benchmark(group="memento-one-key")
def test_memento_get_node_str(benchmark: Any) -> None:
    m = memento(100)
    run(benchmark, lambda: m.get_node("user:12345"), 1)


@pytest.mark.benchmark(group="memento-str-bulk")
def test_memento_bulk_str(benchmark: Any) -> None:
    m = memento(100)
    run(benchmark, lambda: m.place(STRS), STR_BULK)


# ----- MultiProbe ---------------------------------------------------------------------------------


@pytest.mark.benchmark(group="multiprobe-100-nodes")
def test_multiprobe_bulk_str(benchmark: Any) -> None:
    m = shardwise.MultiProbe(NODES_100)
    run(benchmark, lambda: m.place(STRS), STR_BULK)


@pytest.mark.benchmark(group="multiprobe-100-nodes")
def test_multiprobe_pure_twin(benchmark: Any) -> None:
    p = pure.MultiProbe(NODES_100)
    keys = PURE_STRS[: PURE // 10]
    run(benchmark, lambda: p.place(keys), len(keys))


@pytest.mark.benchmark(group="multiprobe-one-key")
def test_multiprobe_get_node_str(benchmark: Any) -> None:
    m = shardwise.MultiProbe(NODES_100)
    run(benchmark, lambda: m.get_node("user:12345"), 1)


# ----- BoundedLoadRing ----------------------------------------------------------------------------


@pytest.mark.benchmark(group="bounded-100-nodes")
def test_bounded_batch_str(benchmark: Any) -> None:
    b = shardwise.BoundedLoadRing(NODES_100)
    run(benchmark, lambda: b.place(STRS), STR_BULK)


@pytest.mark.benchmark(group="bounded-100-nodes")
def test_bounded_pure_twin(benchmark: Any) -> None:
    p = pure.BoundedLoadRing(NODES_100)
    run(benchmark, lambda: p.place(PURE_STRS), PURE)


# ----- RangePartitioner ---------------------------------------------------------------------------

BOUNDS = np.unique(rng.integers(0, 2**63, 999, dtype=np.int64))
RANGE_OWNERS = [f"shard-{i}" for i in range(len(BOUNDS) + 1)]
SIGNED = INTS.view(np.int64)


@pytest.mark.benchmark(group="range-1000-ranges")
def test_range_bulk_int64(benchmark: Any) -> None:
    r = shardwise.RangePartitioner(BOUNDS, RANGE_OWNERS)
    run(benchmark, lambda: r.place(SIGNED), BULK)


@pytest.mark.benchmark(group="range-1000-ranges")
def test_numpy_searchsorted(benchmark: Any) -> None:
    run(benchmark, lambda: np.searchsorted(BOUNDS, SIGNED, side="right").astype(np.int32), BULK)


@pytest.mark.benchmark(group="range-1000-ranges")
def test_range_pure_twin(benchmark: Any) -> None:
    p = pure.RangePartitioner(BOUNDS.tolist(), RANGE_OWNERS)
    keys = SIGNED[:PURE].tolist()
    run(benchmark, lambda: p.place(keys), PURE)


# ----- RedisClusterSlots --------------------------------------------------------------------------

SLOT_MAP = {f"10.0.0.{i}:6379": [(i * 16384 // 6, (i + 1) * 16384 // 6 - 1)] for i in range(6)}


@pytest.mark.benchmark(group="redis-slots-6-masters")
def test_redis_slots_bulk_str(benchmark: Any) -> None:
    r = shardwise.RedisClusterSlots(SLOT_MAP)
    run(benchmark, lambda: r.place(STRS), STR_BULK)


@pytest.mark.benchmark(group="redis-slots-6-masters")
def test_redis_py_key_slot_loop(benchmark: Any) -> None:
    keys = [k.encode() for k in PURE_STRS]
    run(benchmark, lambda: [redis.crc.key_slot(k) for k in keys], PURE)


@pytest.mark.benchmark(group="redis-slots-6-masters")
def test_redis_slots_pure_twin(benchmark: Any) -> None:
    p = pure.RedisClusterSlots(SLOT_MAP)
    keys = PURE_STRS[: PURE // 10]
    run(benchmark, lambda: p.place(keys), len(keys))
