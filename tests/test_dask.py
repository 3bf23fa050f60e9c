"""shardwise.dask on a real distributed.LocalCluster with two worker processes: owners equal
single-process place() for every placement class, partition i holds exactly node i's rows, and the
placement is unpickled once per worker, not once per task."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import shardwise
from arrow_sources import placements
from distributed import Client, LocalCluster, WorkerPlugin
from shardwise import dask as sd

pytestmark = pytest.mark.timeout(180)

PARTITIONS = 12


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as c,
    ):
        yield c


def frame(n: int = 3000) -> pd.DataFrame:
    ids = np.arange(n)
    return pd.DataFrame(
        {"user": [f"user:{i}" for i in ids], "uid": ids.astype(np.uint64) * 2654435761, "amount": ids % 97},
        index=pd.Index(ids * 10, name="row"),
    )


@pytest.mark.parametrize(("kind", "key"), [("str", "user"), ("int", "uid")])
def test_owner_columns_equal_single_process_place_for_every_class(
    client: Client, kind: str, key: str
) -> None:
    pdf = frame()
    df = dd.from_pandas(pdf, npartitions=PARTITIONS)
    lengths = df.map_partitions(len).compute().tolist()
    for label, (placement, _) in placements(kind).items():
        got = sd.with_owners(df, placement, key).compute()
        assert got.index.equals(pdf.index), label
        assert list(got["node"].cat.categories) == list(placement.nodes), label
        if isinstance(placement, shardwise.BoundedLoadRing):  # the load bound is per partition
            ends = np.cumsum(lengths)
            want = np.concatenate(
                [placement.place(pdf[key].iloc[e - n : e]) for n, e in zip(lengths, ends, strict=True)]
            )
        else:
            want = placement.place(pdf[key])
        np.testing.assert_array_equal(got["node"].cat.codes.to_numpy(), want, err_msg=label)


def test_repartition_puts_node_i_rows_in_partition_i(client: Client) -> None:
    df = dd.from_pandas(frame(4000), npartitions=PARTITIONS)
    pdf = df.compute()  # with Dask's dtypes (its strings are Arrow-backed)
    for placement in (
        shardwise.HashRing({"a": 1, "b": 2, "c": 1, "tiny": 0.0001}),
        shardwise.JumpHash(["x", "y", "z"]),
        shardwise.RedisClusterSlots([(0, 8000, "r1:1"), (8001, 16383, "r2:2")]),
    ):
        out = sd.repartition_by_owner(df, placement, "user")
        assert out.npartitions == len(placement.nodes)
        parts = client.compute(out.to_delayed(), sync=True)
        owners = placement.place(pdf["user"])
        for i, part in enumerate(parts):
            mine = pdf[owners == i]
            assert sorted(part.index) == sorted(mine.index), (placement, i)
            assert (part["node"] == placement.nodes[i]).all()
            pd.testing.assert_frame_equal(part.drop(columns="node").sort_index(), mine.sort_index())


def test_dask_array_blocks(client: Client) -> None:
    keys = np.random.default_rng(3).integers(0, 2**64 - 1, size=200_000, dtype=np.uint64, endpoint=True)
    arr = da.from_array(keys, chunks=15_000)
    for placement in (shardwise.Maglev([f"m{i}" for i in range(11)]), shardwise.MementoHash(["a", "b", "c"])):
        owners = sd.place_blocks(arr, placement)
        assert owners.dtype == np.int32 and owners.chunks == arr.chunks
        np.testing.assert_array_equal(owners.compute(), placement.place(keys))
    grid = da.from_array(np.array([[f"k{i}-{j}" for j in range(30)] for i in range(40)]), chunks=(7, 11))
    ring = shardwise.HashRing(["a", "b"])
    np.testing.assert_array_equal(
        sd.place_blocks(grid, ring).compute(), ring.place(grid.compute().ravel()).reshape(40, 30)
    )


# ----- the placement is shipped once per graph ---------------------------------------------------


def _unpickles() -> int:
    import shardwise.placement as placement_module

    return int(getattr(placement_module, "_test_unpickles", 0))


class CountUnpickles(WorkerPlugin):
    """Counts, in each worker, calls of shardwise.placement.from_state (how placements unpickle)."""

    def setup(self, worker: Any) -> None:
        import shardwise.placement as placement_module

        original = placement_module.from_state
        placement_module._test_unpickles = 0  # type: ignore[attr-defined]

        def counting(state: dict[str, Any]) -> Any:
            placement_module._test_unpickles += 1  # type: ignore[attr-defined]
            return original(state)

        placement_module.from_state = counting  # type: ignore[assignment]


def test_placement_is_unpickled_once_per_worker_not_per_task(client: Client) -> None:
    client.register_plugin(CountUnpickles(), name="count-unpickles")
    ring = shardwise.HashRing([f"n{i}" for i in range(50)])
    df = dd.from_pandas(frame(6000), npartitions=24)
    arr = da.from_array(np.arange(48_000, dtype=np.uint64), chunks=2000)

    def total() -> int:
        return sum(client.run(_unpickles).values())

    start = total()
    sd.with_owners(df, ring, "user").compute()
    sd.place_blocks(arr, ring).compute()
    shared_count = total() - start
    assert 1 <= shared_count <= 2 * 2, f"{shared_count} unpickles for 2 graphs on 2 workers"
    # Control: the placement passed as a plain argument travels inside every task.
    start = total()
    arr.map_blocks(lambda b, p: p.place(b), ring, dtype=np.int32).compute()
    assert total() - start >= 24


def test_graph_holds_one_placement_node() -> None:
    ring = shardwise.Rendezvous(["a", "b", "c"])
    df = dd.from_pandas(frame(500), npartitions=8)
    graph = dict(sd.with_owners(df, ring, "user").__dask_graph__())
    holders = [
        k for k in graph if str(k[0] if isinstance(k, tuple) else k).startswith("shardwise-placement-")
    ]
    assert len(holders) == 1
    users = [task for task in graph.values() if holders[0] in getattr(task, "dependencies", ())]
    assert len(users) == 8


def test_refusals() -> None:
    ring = shardwise.HashRing(["a"])
    df = dd.from_pandas(frame(10), npartitions=2)
    with pytest.raises(KeyError, match="no key column 'nope'"):
        sd.with_owners(df, ring, "nope")
    with pytest.raises(ValueError, match="column 'amount' already exists"):
        sd.repartition_by_owner(df, ring, "user", name="amount")
    with pytest.raises(shardwise.errors.NoNodesError):
        sd.repartition_by_owner(df, shardwise.HashRing(), "user")
