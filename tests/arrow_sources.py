"""The same keys in every container the bulk functions accept: lists, numpy, pyarrow, pandas and
polars, plain, chunked, sliced and dictionary-encoded. Shared by the Arrow and Dask tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import shardwise
import shardwise.pure.placement as pure

STR_KEYS = ["", "a", "user:42", "ключ", "🙂 emoji", "x" * 40, "tab\tnew\nline", "0123456789abc"] + [
    f"user:{i}:{i * 7919 % 1000}" for i in range(140)
]
BYTES_KEYS = [
    b"",
    b"\x00\xff",
    b"'quote",
    b'"dq',
    b"\\",
    b"y" * 30,
    *(f"k{i}".encode() * (i % 5) for i in range(90)),
]
FIXED_KEYS = [f"{i:06d}".encode() for i in range(0, 120_000, 997)]
SIGNED = [0, 1, -1, 127, -128, 2**15 - 1, -(2**15), 2**31 - 1, -(2**31), 2**63 - 1, -(2**63), *range(-40, 40)]
UNSIGNED = [0, 1, 255, 2**16 - 1, 2**32 - 1, 2**63, 2**63 + 5, 2**64 - 1, *range(70)]

INT_TYPES = {
    "int8": (pa.int8(), -(2**7), 2**7),
    "int16": (pa.int16(), -(2**15), 2**15),
    "int32": (pa.int32(), -(2**31), 2**31),
    "int64": (pa.int64(), -(2**63), 2**63),
    "uint8": (pa.uint8(), 0, 2**8),
    "uint16": (pa.uint16(), 0, 2**16),
    "uint32": (pa.uint32(), 0, 2**32),
    "uint64": (pa.uint64(), 0, 2**64),
}


class StreamOnly:
    """Exports only ``__arrow_c_stream__`` (as polars and pandas objects do)."""

    def __init__(self, source: Any) -> None:
        self._source = pa.chunked_array(source) if not isinstance(source, pa.ChunkedArray) else source

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._source.__arrow_c_stream__(requested_schema)


class ArrayOnly:
    """Exports only ``__arrow_c_array__`` (a single array)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
        return self._source.__arrow_c_array__(requested_schema)


def chunks(array: Any, sizes: tuple[int, ...] = (0, 1, 5, 0, 30)) -> pa.ChunkedArray:
    """``array`` cut into chunks of ``sizes`` then the rest (empty chunks included)."""
    parts, at = [], 0
    for size in sizes:
        parts.append(array.slice(at, size))
        at += size
    parts.append(array.slice(at))
    return pa.chunked_array(parts, type=array.type)


def sliced(values: list[Any], arrow_type: Any) -> pa.Array:
    """An array with a non-zero offset (built longer, then sliced)."""
    padding = values[:3] if values else []
    return pa.array(padding + values, type=arrow_type).slice(len(padding))


def dictionary(keys: list[Any], index_type: Any, value_type: Any) -> pa.DictionaryArray:
    """``keys`` dictionary-encoded with the given index and value types (entries in reverse order)."""
    entries = list(dict.fromkeys(keys))[::-1]
    where = {k: i for i, k in enumerate(entries)}
    return pa.DictionaryArray.from_arrays(
        pa.array([where[k] for k in keys], index_type), pa.array(entries, value_type)
    )


def str_sources(keys: list[str]) -> dict[str, Callable[[], Any]]:
    """Every container of the str keys ``keys``, built lazily."""
    return {
        "list": lambda: list(keys),
        "tuple": lambda: tuple(keys),
        "numpy_U": lambda: np.array(keys, dtype=str),
        "numpy_object": lambda: np.array(keys, dtype=object),
        "numpy_StringDType": lambda: np.array(keys, dtype=np.dtypes.StringDType()),
        "pa_string": lambda: pa.array(keys, pa.string()),
        "pa_large_string": lambda: pa.array(keys, pa.large_string()),
        "pa_string_view": lambda: pa.array(keys, pa.string_view()),
        "pa_sliced": lambda: sliced(keys, pa.string()),
        "pa_chunked": lambda: chunks(pa.array(keys, pa.large_string())),
        "pa_dictionary": lambda: pa.array(keys).dictionary_encode(),
        "pa_dictionary_int16_view": lambda: dictionary(keys, pa.int16(), pa.string_view()),
        "pa_chunked_dictionaries": lambda: pa.chunked_array(
            [pa.array(keys[:20]).dictionary_encode(), pa.array(keys[20:]).dictionary_encode()]
        ),
        "stream_only": lambda: StreamOnly(pa.array(keys)),
        "array_only": lambda: ArrayOnly(pa.array(keys, pa.large_string())),
        "pandas_str": lambda: pd.Series(keys),
        "pandas_arrow_large_string": lambda: pd.Series(keys, dtype=pd.ArrowDtype(pa.large_string())),
        "pandas_object": lambda: pd.Series(keys, dtype=object),
        "pandas_categorical": lambda: pd.Series(keys, dtype="category"),
        "pandas_index": lambda: pd.Index(keys),
        "polars": lambda: pl.Series(keys),
        "polars_categorical": lambda: pl.Series(keys, dtype=pl.Categorical),
        "polars_enum": lambda: pl.Series(keys, dtype=pl.Enum(sorted(set(keys)))),
        "polars_chunked": lambda: pl.concat([pl.Series(keys[:7]), pl.Series(keys[7:])], rechunk=False),
    }


def bytes_sources(keys: list[bytes]) -> dict[str, Callable[[], Any]]:
    return {
        "list": lambda: list(keys),
        "numpy_object": lambda: np.array(keys, dtype=object),
        "pa_binary": lambda: pa.array(keys, pa.binary()),
        "pa_large_binary": lambda: pa.array(keys, pa.large_binary()),
        "pa_binary_view": lambda: pa.array(keys, pa.binary_view()),
        "pa_sliced": lambda: sliced(keys, pa.large_binary()),
        "pa_dictionary": lambda: pa.array(keys, pa.binary()).dictionary_encode(),
        "pandas_object": lambda: pd.Series(keys, dtype=object),
        "pandas_arrow_binary": lambda: pd.Series(keys, dtype=pd.ArrowDtype(pa.binary())),
        "polars": lambda: pl.Series(keys, dtype=pl.Binary),
    }


def fixed_sources(keys: list[bytes]) -> dict[str, Callable[[], Any]]:
    width = len(keys[0])
    return {
        "list": lambda: list(keys),
        "pa_fixed": lambda: pa.array(keys, pa.binary(width)),
        "pa_fixed_sliced": lambda: sliced(keys, pa.binary(width)),
        "pa_fixed_chunked": lambda: chunks(pa.array(keys, pa.binary(width))),
        "pa_fixed_dictionary": lambda: pa.array(keys, pa.binary(width)).dictionary_encode(),
    }


def int_sources(values: list[int], name: str) -> dict[str, Callable[[], Any]]:
    arrow_type = INT_TYPES[name][0]
    pl_type = getattr(pl, name.capitalize().replace("Uint", "UInt"))
    return {
        "list": lambda: list(values),
        "numpy": lambda: np.array(values, dtype=name),
        "pa": lambda: pa.array(values, arrow_type),
        "pa_sliced": lambda: sliced(values, arrow_type),
        "pa_chunked": lambda: chunks(pa.array(values, arrow_type)),
        "pa_dictionary": lambda: pa.array(values, arrow_type).dictionary_encode(),
        "pandas_numpy": lambda: pd.Series(np.array(values, dtype=name)),
        "pandas_arrow": lambda: pd.Series(values, dtype=pd.ArrowDtype(arrow_type)),
        "pandas_nullable": lambda: pd.Series(values, dtype=name.capitalize().replace("Uint", "UInt")),
        "pandas_index": lambda: pd.Index(np.array(values, dtype=name)),
        "polars": lambda: pl.Series(values, dtype=pl_type),
    }


def placements(kind: str) -> dict[str, tuple[Any, Any]]:
    """(Rust, pure twin) pairs of every placement class, for keys of ``kind`` (str, bytes, int)."""
    nodes = [f"node-{i}" for i in range(7)]
    weighted = {n: 1 + i % 3 for i, n in enumerate(nodes)}
    bounds: list[Any] = {
        "str": ["f", "user:5", "user:9"],
        "bytes": [b"k2", b"k5", b"y"],
        "int": [-1000, 0, 2**40],
    }[kind]
    slots = [(0, 5460, "a:1"), (5461, 10922, "b:2"), (10923, 16383, "c:3")]
    pairs = {
        "HashRing": ({"nodes": weighted, "vnodes": 40}, shardwise.HashRing, pure.HashRing),
        "HashRing_crc32": (
            {"nodes": nodes, "vnodes": 20, "hash": "crc32"},
            shardwise.HashRing,
            pure.HashRing,
        ),
        "KetamaRing": ({"nodes": weighted}, shardwise.KetamaRing, pure.KetamaRing),
        "KetamaRing_uhashring": (
            {"nodes": weighted, "flavor": "uhashring"},
            shardwise.KetamaRing,
            pure.KetamaRing,
        ),
        "JumpHash": ({"nodes": nodes}, shardwise.JumpHash, pure.JumpHash),
        "Rendezvous": ({"nodes": weighted}, shardwise.Rendezvous, pure.Rendezvous),
        "Maglev": ({"nodes": nodes}, shardwise.Maglev, pure.Maglev),
        "BoundedLoadRing": (
            {"nodes": nodes, "load_factor": 1.1},
            shardwise.BoundedLoadRing,
            pure.BoundedLoadRing,
        ),
        "MementoHash": ({"nodes": nodes}, shardwise.MementoHash, pure.MementoHash),
        "MultiProbe": ({"nodes": nodes}, shardwise.MultiProbe, pure.MultiProbe),
    }
    out = {name: (rust(**kw), twin(**kw)) for name, (kw, rust, twin) in pairs.items()}
    out["RangePartitioner"] = (
        shardwise.RangePartitioner(bounds, nodes[:4]),
        pure.RangePartitioner(bounds, nodes[:4]),
    )
    out["RedisClusterSlots"] = (shardwise.RedisClusterSlots(slots), pure.RedisClusterSlots(slots))
    return out
