"""Placement benchmarks: Rust vs pure-Python twin vs the libraries users run today.

Per-call times are what pytest-benchmark reports; each test stores the keys per call in
``extra_info["keys"]`` so ns/key = time / keys. Peers that work one key at a time get fewer keys.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jump as jump_oracle
import ketama
import numpy as np
import pytest
import shardwise
import shardwise.pure.placement as pure
import uhashring
from bench_support import size

NODES_100 = [f"node-{i}" for i in range(100)]
NODES_1000 = [f"node-{i}" for i in range(1000)]
RNG = np.random.default_rng(42)
U64 = RNG.integers(0, 2**64 - 1, size=size(10_000_000), dtype=np.uint64, endpoint=True)
STRS = [f"user:{i}:{v}" for i, v in enumerate(RNG.integers(0, 2**40, size=size(1_000_000)))]
FEW = size(20_000, 200)  # keys for one-at-a-time peers


@pytest.fixture
def threads() -> Iterator[Callable[[int], None]]:
    before = shardwise.get_num_threads()
    yield shardwise.set_num_threads
    shardwise.set_num_threads(before)


def run(benchmark: Any, fn: Callable[[], Any], keys: int, rounds: int = 5) -> None:
    benchmark.extra_info["keys"] = keys
    benchmark.pedantic(fn, rounds=rounds if keys > 1000 else 3, iterations=1, warmup_rounds=2)


# --- HashRing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_threads", [1, 2])
def test_hashring_bulk_u64(benchmark: Any, threads: Callable[[int], None], n_threads: int) -> None:
    threads(n_threads)
    ring = shardwise.HashRing(NODES_100)
    run(benchmark, lambda: ring.place(U64), len(U64))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_hashring_bulk_u64_out(benchmark: Any, threads: Callable[[int], None], n_threads: int) -> None:
    """The same, refilling one int32 buffer (``out=``): no fresh 40 MB array to fault in per call."""
    threads(n_threads)
    ring = shardwise.HashRing(NODES_100)
    out = np.empty(len(U64), dtype=np.int32)
    run(benchmark, lambda: ring.place(U64, out=out), len(U64))


def _numpy_ring() -> tuple[np.ndarray, np.ndarray]:
    ring = shardwise.HashRing(NODES_100)
    state = ring.to_state()
    labels = [f"{n}-{j}" for n in state["nodes"] for j in range(160)]
    owners = np.repeat(np.arange(len(state["nodes"]), dtype=np.int32), 160)
    points = shardwise.hashing.xxh3_64_many(labels)
    order = np.argsort(points, kind="stable")
    return points[order], owners[order]


def test_hashring_bulk_u64_numpy_searchsorted(benchmark: Any, threads: Callable[[int], None]) -> None:
    threads(1)
    points, owners = _numpy_ring()

    def place() -> np.ndarray:
        pos = np.searchsorted(points, shardwise.hashing.xxh3_64_many(U64), side="left")
        pos[pos == len(points)] = 0
        return owners[pos]

    np.testing.assert_array_equal(place()[:1000], shardwise.HashRing(NODES_100).place(U64[:1000]))
    run(benchmark, place, len(U64))


def test_hashring_bulk_str(benchmark: Any, threads: Callable[[int], None]) -> None:
    threads(1)
    ring = shardwise.HashRing(NODES_100)
    run(benchmark, lambda: ring.place(STRS), len(STRS))


def test_hashring_bulk_pure(benchmark: Any) -> None:
    ring = pure.HashRing(NODES_100)
    keys = STRS[:FEW]
    run(benchmark, lambda: ring.place(keys), len(keys))


def test_hashring_bulk_uhashring(benchmark: Any) -> None:
    ring = uhashring.HashRing(nodes=NODES_100)
    keys = STRS[:FEW]
    run(benchmark, lambda: [ring.get_node(k) for k in keys], len(keys))


def test_hashring_get_node_str(benchmark: Any) -> None:
    ring = shardwise.HashRing(NODES_100)
    keys = STRS[:FEW]
    get = ring.get_node
    run(benchmark, lambda: [get(k) for k in keys], len(keys))


def test_hashring_get_node_pure(benchmark: Any) -> None:
    ring = pure.HashRing(NODES_100)
    keys = STRS[:FEW]
    get = ring.get_node
    run(benchmark, lambda: [get(k) for k in keys], len(keys))


def test_hashring_build_10k_nodes(benchmark: Any, threads: Callable[[int], None]) -> None:
    threads(0)
    names = [f"node-{i}" for i in range(size(10_000, 100))]
    run(benchmark, lambda: shardwise.HashRing(names), len(names) * 160)


def test_hashring_build_10k_nodes_uhashring(benchmark: Any) -> None:
    names = [f"node-{i}" for i in range(size(1_000, 20))]  # 10x fewer: it is slow
    run(benchmark, lambda: uhashring.HashRing(nodes=names), len(names) * 160, rounds=1)


# --- KetamaRing -------------------------------------------------------------------------------


def test_ketama_libketama_bulk(benchmark: Any, threads: Callable[[int], None]) -> None:
    threads(1)
    ring = shardwise.KetamaRing({n: 100 for n in NODES_100})
    run(benchmark, lambda: ring.place(STRS), len(STRS))


_KEEP: list[Any] = []  # the ketama package crashes if a continuum is freed then another used


def test_ketama_libketama_package(benchmark: Any) -> None:
    conf = Path(tempfile.mkdtemp()) / "servers.conf"
    conf.write_text("".join(f"{n}\t100\n" for n in NODES_100))
    oracle = ketama.Ketama(str(conf))
    _KEEP.append(oracle)
    keys = STRS[:FEW]
    run(benchmark, lambda: [oracle.get_server(k) for k in keys], len(keys))


def test_ketama_uhashring_bulk(benchmark: Any, threads: Callable[[int], None]) -> None:
    threads(1)
    ring = shardwise.KetamaRing(NODES_100, flavor="uhashring")
    run(benchmark, lambda: ring.place(STRS), len(STRS))


def test_ketama_uhashring_package(benchmark: Any) -> None:
    ring = uhashring.HashRing(nodes=NODES_100, hash_fn="ketama")
    keys = STRS[:FEW]
    run(benchmark, lambda: [ring.get_node(k) for k in keys], len(keys))


# --- JumpHash, Maglev, Rendezvous ---------------------------------------------------------------


@pytest.mark.parametrize("n_threads", [1, 2])
def test_jump_bulk_1000(benchmark: Any, threads: Callable[[int], None], n_threads: int) -> None:
    threads(n_threads)
    run(benchmark, lambda: shardwise.hashing.jump_many(U64, 1000), len(U64))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_jump_bulk_1000_out(benchmark: Any, threads: Callable[[int], None], n_threads: int) -> None:
    threads(n_threads)
    ring = shardwise.JumpHash(NODES_1000)
    out = np.empty(len(U64), dtype=np.int32)
    run(benchmark, lambda: ring.place(U64, out=out), len(U64))


def test_jump_package(benchmark: Any) -> None:
    keys = U64[:FEW].tolist()
    run(benchmark, lambda: [jump_oracle.hash(k, 1000) for k in keys], len(keys))


def test_jump_pure(benchmark: Any) -> None:
    keys = U64[:FEW].tolist()
    run(benchmark, lambda: pure.jump_many(keys, 1000), len(keys))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_maglev_bulk_1000(benchmark: Any, threads: Callable[[int], None], n_threads: int) -> None:
    threads(n_threads)
    table = shardwise.Maglev(NODES_1000, table_size=size(100_003, 10_007))
    run(benchmark, lambda: table.place(U64), len(U64))


def test_maglev_pure(benchmark: Any) -> None:
    table = pure.Maglev(NODES_1000, table_size=size(100_003, 10_007))
    keys = U64[:FEW].tolist()
    run(benchmark, lambda: table.place(keys), len(keys))


def test_rendezvous_bulk_100(benchmark: Any, threads: Callable[[int], None]) -> None:
    threads(1)
    hrw = shardwise.Rendezvous({n: 1 + i % 3 for i, n in enumerate(NODES_100)})
    keys = U64[: size(1_000_000)]
    run(benchmark, lambda: hrw.place(keys), len(keys))


def test_rendezvous_pure_100(benchmark: Any) -> None:
    hrw = pure.Rendezvous({n: 1 + i % 3 for i, n in enumerate(NODES_100)})
    keys = U64[: size(2_000, 100)].tolist()
    run(benchmark, lambda: hrw.place(keys), len(keys))
