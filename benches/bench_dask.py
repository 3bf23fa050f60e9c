"""Dask: placing 100M uint64 keys held by a dask Array on a LocalCluster of two worker processes,
against single-process ``place()`` of the same keys on the same machine (all cores both times).

Only a checksum of the owners comes back from the cluster (shipping 400 MB of owners to the
client would measure the network, not placement); the single-process run computes the same
checksum, and both allocate fresh owner arrays. Each worker process runs shardwise on one thread
(``SHARDWISE_NUM_THREADS=1``, two workers = two cores); the single-process run uses both cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dask.array as da
import numpy as np
import pytest
import shardwise
from bench_support import size
from distributed import Client, LocalCluster, wait
from shardwise import dask as shardwise_dask

N = size(100_000_000, 100_000)
CHUNK: int | str = "auto" if N > 1_000_000 else 10_000  # Dask's default: 128 MB blocks (16M keys)
RING = shardwise.HashRing([f"node-{i}" for i in range(100)])


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"SHARDWISE_NUM_THREADS": "1"},
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def _checksum(owners: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.array([owners.sum(dtype=np.int64)])


def test_dask_place_blocks_100m_uint64(benchmark: Any, client: Client) -> None:
    keys = da.arange(N, dtype=np.uint64, chunks=CHUNK) * np.uint64(0x9E3779B97F4A7C15)
    keys = client.persist(keys)
    wait(keys)
    checksum = (
        shardwise_dask.place_blocks(keys, RING).map_blocks(_checksum, dtype=np.int64, chunks=(1,)).sum()
    )
    benchmark.extra_info["keys"] = N
    result = benchmark.pedantic(lambda: checksum.compute(), rounds=5, iterations=1, warmup_rounds=1)
    single = RING.place(np.arange(N, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    assert result == single.sum(dtype=np.int64)


def test_single_process_place_100m_uint64(benchmark: Any) -> None:
    keys = np.arange(N, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    benchmark.extra_info["keys"] = N
    benchmark.pedantic(lambda: RING.place(keys).sum(dtype=np.int64), rounds=5, iterations=1, warmup_rounds=1)
