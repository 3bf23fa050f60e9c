"""The README's Spark and Ray plumbing, run on pyarrow record batches and tables. Neither engine is
installed: small stand-ins call the functions as mapInArrow and map_batches document it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import shardwise
from test_readme import snippets

USERS = [f"user:{i}" for i in range(3000)]
BATCHES = [
    pa.record_batch({"user_id": USERS[i : i + 1000], "amount": range(i, i + 1000)}) for i in (0, 1000, 2000)
]


class SparkFrame:
    """mapInArrow(fn, schema): fn gets an iterator of record batches and yields record batches."""

    def mapInArrow(
        self, fn: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]], schema: str
    ) -> Any:
        self.schema = schema
        return list(fn(iter(BATCHES)))


class RayDataset:
    """map_batches(fn, batch_format="pyarrow"): fn gets a pyarrow Table per batch, returns one."""

    def map_batches(self, fn: Callable[[pa.Table], pa.Table], batch_format: str) -> Any:
        assert batch_format == "pyarrow"
        return [fn(pa.Table.from_batches([b])) for b in BATCHES]


def test_spark_and_ray_plumbing_runs_the_batch_function() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(snippets()["Spark and Ray"], "README:Spark and Ray", "exec"), namespace)
    owners = [shardwise.HashRing(["cache-a", "cache-b", "cache-c"]).get_node(u) for u in USERS]

    spark = SparkFrame()
    out = namespace["with_spark"](spark)
    assert spark.schema == "user_id string, amount long, node string"
    assert [b.schema.names for b in out] == [["user_id", "amount", "node"]] * 3
    assert all(b.schema.field("node").type == pa.string() for b in out)  # Spark has no dictionary type
    assert [n for b in out for n in b["node"].to_pylist()] == owners

    tables = namespace["with_ray"](RayDataset())
    assert [n for t in tables for n in t["node"].to_pylist()] == owners
