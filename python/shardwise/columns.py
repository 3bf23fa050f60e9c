"""Owner columns: the owner of every key as a dictionary-encoded column, built from the int32
indices ``place()`` returns and the placement's ``nodes`` (no Python object per row).

- :func:`owners_arrow` — a pyarrow ``DictionaryArray`` (indices int32, dictionary the node names);
- :func:`owners_pandas` — a pandas ``Series`` of dtype ``category`` (categories = the nodes, in
  index order, all of them even when some own no key);
- :func:`owners_polars` — a polars ``Series`` of dtype ``Enum(nodes)``;
- :func:`with_owners` — a table (pyarrow ``RecordBatch``/``Table``, pandas or polars
  ``DataFrame``) with its owner column added: the engine-neutral batch function for
  ``map_partitions`` (Dask), ``mapInArrow`` (Spark) or ``map_batches`` (Ray).

Keys are anything ``place()`` takes (numpy, lists, Arrow, pandas, polars; see
:mod:`shardwise.hashing`). pyarrow, pandas and polars are imported only by the function that
returns their type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shardwise.placement._protocol import Placement

__all__ = ["owner_array", "owners_arrow", "owners_pandas", "owners_polars", "with_owners"]

DEFAULT_NAME = "node"


def owner_array(indices: npt.NDArray[np.int32], nodes: tuple[str, ...]) -> Any:
    """A pyarrow ``DictionaryArray`` from owner ``indices`` (as ``place()`` returns them) and the
    node names they index. The indices are shared with pyarrow, not copied."""
    import pyarrow as pa

    codes = np.ascontiguousarray(indices, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(list(nodes), pa.string()))


def owners_arrow(placement: Placement, keys: Any) -> Any:
    """The owner of every key as a pyarrow ``DictionaryArray<int32, string>``."""
    return owner_array(placement.place(keys), placement.nodes)


def owners_pandas(placement: Placement, keys: Any, *, name: str = DEFAULT_NAME) -> Any:
    """The owner of every key as a pandas ``Series`` of dtype ``category`` (the keys' index when
    ``keys`` is a Series, so it aligns with the frame it came from)."""
    import pandas as pd

    owners = pd.Categorical.from_codes(
        placement.place(keys), categories=list(placement.nodes), validate=False
    )
    index = keys.index if isinstance(keys, pd.Series) else None
    return pd.Series(owners, index=index, name=name, copy=False)


def owners_polars(placement: Placement, keys: Any, *, name: str = DEFAULT_NAME) -> Any:
    """The owner of every key as a polars ``Series`` of dtype ``Enum(placement.nodes)``."""
    import polars as pl

    return pl.Series(name, owners_arrow(placement, keys), dtype=pl.Enum(list(placement.nodes)))


def _kind(data: Any) -> str:
    module = type(data).__module__.split(".")[0]
    kind = {"pyarrow": "arrow", "pandas": "pandas", "polars": "polars"}.get(module)
    if kind is None or not hasattr(data, "columns"):
        raise TypeError(
            "data must be a pyarrow RecordBatch or Table, or a pandas or polars DataFrame, "
            f"not {type(data).__name__}"
        )
    return kind


def with_owners(data: Any, placement: Placement, key: str, *, name: str = DEFAULT_NAME) -> Any:
    """``data`` with a column ``name`` holding the owner of each row's ``key`` (a dictionary /
    categorical / Enum column), as a new object of the same type. Refuses a missing ``key``
    column and an existing ``name`` column."""
    kind = _kind(data)
    columns = list(data.column_names) if kind == "arrow" else list(data.columns)
    if key not in columns:
        shown = ", ".join(map(str, columns[:12])) + (" ..." if len(columns) > 12 else "")
        raise KeyError(f"no key column {key!r} (columns: {shown})")
    if name in columns:
        raise ValueError(f"column {name!r} already exists; choose another name for the owner column")
    if kind == "arrow":
        return data.append_column(name, owners_arrow(placement, data.column(key)))
    if kind == "pandas":
        return data.assign(**{name: owners_pandas(placement, data[key], name=name)})
    return data.with_columns(owners_polars(placement, data.get_column(key), name=name))
