"""Placement on Dask (``pip install 'shardwise[dask]'``): owner columns for dask DataFrames, a
shuffle that puts node i's rows in partition i, and owners for the blocks of a dask Array.

The placement object travels once per graph, not once per task: it enters the graph as one
``dask.delayed`` literal that every task references, so each worker unpickles it once, whatever
the number of partitions. Owners are the same as single-process ``place()`` (same keys, same
placement state, same answer on every machine), since placement objects pickle as their
versioned plain-data state.

- :func:`with_owners` — add a categorical owner column (categories = ``placement.nodes``);
- :func:`repartition_by_owner` — shuffle so that partition ``i`` holds exactly the rows owned by
  ``placement.nodes[i]`` (and the owner column), the original index kept;
- :func:`place_blocks` — a dask Array of int32 owner indices, chunked like the keys.

A :class:`~shardwise.BoundedLoadRing` applies its load bound per partition (per block).

Threads: ``place()`` splits large blocks over every core of its process. With several worker
processes (or threads) per machine, Dask already keeps the cores busy: give each worker one
shardwise thread, ``client.run(shardwise.set_num_threads, 1)`` (or ``SHARDWISE_NUM_THREADS=1`` in the
workers' environment), to avoid oversubscription.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from dask.base import tokenize
from dask.delayed import Delayed, delayed

from shardwise.columns import owners_pandas
from shardwise.placement._protocol import Placement

__all__ = ["place_blocks", "repartition_by_owner", "shared", "with_owners"]

_OWNER = "__shardwise_owner__"
_INDEX = "__shardwise_index__"


def shared(placement: Placement) -> Any:
    """``placement`` as one graph node (a ``dask.delayed`` literal, keyed by its state) for tasks
    to reference; passing a placement object itself would embed a copy in every task."""
    if isinstance(placement, Delayed):
        return placement
    token = tokenize(type(placement).__name__, placement.to_state())
    return delayed(placement, name=f"shardwise-placement-{token}", pure=True, traverse=False)


def _owner_dtype(placement: Placement) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(list(placement.nodes))


def _add_owners(part: pd.DataFrame, placement: Placement, key: str, name: str) -> pd.DataFrame:
    return part.assign(**{name: owners_pandas(placement, part[key], name=name)})


def _check_columns(df: Any, key: str, name: str) -> None:
    if key not in df.columns:
        raise KeyError(f"no key column {key!r} in the dask DataFrame")
    if name in df.columns:
        raise ValueError(f"column {name!r} already exists; choose another name for the owner column")


def with_owners(df: Any, placement: Placement, key: str, *, name: str = "node") -> Any:
    """``df`` (a dask DataFrame) with a column ``name``: the owner of each row's ``key``, a
    pandas categorical whose categories are ``placement.nodes`` (known to Dask, so
    ``df[name].cat.codes`` are the indices ``place()`` returns)."""
    _check_columns(df, key, name)
    meta = df._meta.assign(**{name: pd.Series([], dtype=_owner_dtype(placement))})
    return df.map_partitions(_add_owners, shared(placement), key, name, meta=meta)


def _stage(part: pd.DataFrame, placement: Placement, key: str) -> pd.DataFrame:
    """The partition with its index moved to a column and the owner index as a column."""
    staged = part.assign(**{_OWNER: placement.place(part[key])})
    staged[_INDEX] = part.index
    return staged.reset_index(drop=True)


def _finish(part: pd.DataFrame, nodes: list[str], name: str, index_name: Any) -> pd.DataFrame:
    """A shuffled partition (indexed by owner index) with its original index and the owner column."""
    owners = pd.Categorical.from_codes(part.index.to_numpy(dtype=np.int32), categories=nodes, validate=False)
    out = part.set_index(_INDEX)
    out.index.name = index_name
    out[name] = owners
    return out


def repartition_by_owner(
    df: Any, placement: Placement, key: str, *, name: str = "node", shuffle_method: str | None = None
) -> Any:
    """Shuffle ``df`` (a dask DataFrame) into ``len(placement.nodes)`` partitions: partition ``i``
    holds exactly the rows whose ``key`` is owned by ``placement.nodes[i]``, with the owner
    column ``name`` (as in :func:`with_owners`) and the original index (rows in no particular
    order). A node that owns no row gets an empty partition. ``shuffle_method`` is passed to
    Dask (``"p2p"``, ``"tasks"``...; default: Dask's choice)."""
    _check_columns(df, key, name)
    if _OWNER in df.columns or _INDEX in df.columns:
        raise ValueError(f"columns {_OWNER!r} and {_INDEX!r} are reserved")
    nodes = list(placement.nodes)
    if not nodes:
        placement.place([])  # raises the placement's own NoNodesError
    last = len(nodes) - 1
    meta = df._meta.assign(**{_OWNER: np.array([], dtype=np.int32)})
    meta[_INDEX] = df._meta.index
    staged = df.map_partitions(_stage, shared(placement), key, meta=meta.reset_index(drop=True))
    # Known divisions [0, 1, ..., n-1, n-1]: partition i holds owner index i (the last one n-1).
    shuffled = staged.set_index(_OWNER, divisions=[*range(len(nodes)), last], shuffle_method=shuffle_method)
    index_name = df._meta.index.name
    out_meta = _finish(shuffled._meta, nodes, name, index_name)
    return shuffled.map_partitions(_finish, nodes, name, index_name, meta=out_meta)


def _place_block(block: npt.NDArray[Any], placement: Placement) -> npt.NDArray[np.int32]:
    owners: npt.NDArray[np.int32] = placement.place(block.ravel()).reshape(block.shape)
    return owners


def place_blocks(keys: Any, placement: Placement) -> Any:
    """The owner index of every key of a dask Array (any shape; integer, ``S``, ``U`` or object
    keys) as an int32 dask Array chunked like it."""
    if not hasattr(keys, "map_blocks"):
        raise TypeError(f"keys must be a dask Array, not {type(keys).__name__}")
    return keys.map_blocks(_place_block, shared(placement), dtype=np.int32, meta=np.empty((0,), np.int32))
