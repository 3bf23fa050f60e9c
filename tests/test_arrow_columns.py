"""Owner columns (shardwise.columns): dictionary-encoded owners for pyarrow, pandas and polars, checked
against get_node() key by key, and built without a Python object per row."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import shardwise
from shardwise import columns

NODES = ["cache-a", "cache-b", "cache-c", "idle"]
KEYS = [f"user:{i}" for i in range(2000)]


@pytest.fixture
def ring() -> Any:
    # "idle" gets a tiny weight: it may own no key, and must still be a category.
    return shardwise.HashRing({"cache-a": 1, "cache-b": 1, "cache-c": 2, "idle": 0.001})


def expected(ring: Any) -> list[str]:
    return [ring.get_node(k) for k in KEYS]


def test_arrow_owners(ring: Any) -> None:
    owners = columns.owners_arrow(ring, pa.array(KEYS))
    assert owners.type == pa.dictionary(pa.int32(), pa.string())
    assert owners.dictionary.to_pylist() == NODES
    assert owners.to_pylist() == expected(ring)


def test_pandas_owners_keep_every_node_and_the_index(ring: Any) -> None:
    keys = pd.Series(KEYS, index=np.arange(5000, 5000 + len(KEYS)))
    owners = columns.owners_pandas(ring, keys, name="owner")
    assert isinstance(owners.dtype, pd.CategoricalDtype)
    assert owners.cat.categories.tolist() == NODES
    assert owners.name == "owner"
    assert owners.index.equals(keys.index)
    assert owners.tolist() == expected(ring)


def test_polars_owners_are_an_enum(ring: Any) -> None:
    owners = columns.owners_polars(ring, pl.Series(KEYS))
    assert owners.dtype == pl.Enum(NODES)
    assert owners.name == "node"
    assert owners.to_list() == expected(ring)


@pytest.mark.parametrize(
    "build",
    [
        lambda k: pa.record_batch({"key": k, "v": range(len(k))}),
        lambda k: pa.table({"key": pa.chunked_array([k[:700], k[700:]]), "v": range(len(k))}),
        lambda k: pd.DataFrame({"key": k, "v": range(len(k))}),
        lambda k: pl.DataFrame({"key": k, "v": range(len(k))}),
    ],
    ids=["record-batch", "table", "pandas", "polars"],
)
def test_with_owners_adds_the_column_to_every_table_kind(ring: Any, build: Any) -> None:
    data = build(KEYS)
    out = columns.with_owners(data, ring, "key", name="owner")
    assert type(out) is type(data)
    if isinstance(out, (pa.RecordBatch, pa.Table)):
        as_lists = out.to_pydict()
    else:
        as_lists = out.to_dict("list") if isinstance(out, pd.DataFrame) else out.to_dict(as_series=False)
    assert list(as_lists) == ["key", "v", "owner"]
    assert [str(o) for o in as_lists["owner"]] == expected(ring)
    assert list(as_lists["v"]) == list(range(len(KEYS)))


def test_with_owners_refusals(ring: Any) -> None:
    batch = pa.record_batch({"key": ["a"], "node": ["x"]})
    with pytest.raises(KeyError, match="no key column 'user'"):
        columns.with_owners(batch, ring, "user")
    with pytest.raises(ValueError, match="column 'node' already exists"):
        columns.with_owners(batch, ring, "key")
    with pytest.raises(TypeError, match="pyarrow RecordBatch or Table, or a pandas or polars DataFrame"):
        columns.with_owners({"key": ["a"]}, ring, "key")


@pytest.mark.parametrize("kind", ["arrow", "pandas", "polars"])
def test_no_python_object_per_row(kind: str) -> None:
    ring = shardwise.Maglev([f"n{i}" for i in range(10)])
    keys = np.arange(1_000_000, dtype=np.uint64)
    build = {"arrow": columns.owners_arrow, "pandas": columns.owners_pandas, "polars": columns.owners_polars}[
        kind
    ]
    build(ring, keys[:10])  # imports and first-call caches out of the count
    before = sys.getallocatedblocks()
    owners = build(ring, keys)
    grown = sys.getallocatedblocks() - before
    assert len(owners) == len(keys)
    assert grown < 5_000, f"{grown} Python objects for 1M rows"
    # The check can fail: decoding the owners to Python strings allocates one per row.
    before = sys.getallocatedblocks()
    names = columns.owners_arrow(ring, keys[:100_000]).to_pylist()
    assert sys.getallocatedblocks() - before > 50_000 and len(names) == 100_000
