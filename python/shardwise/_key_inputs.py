"""Which pandas inputs the bulk functions take, and as what, and which Arrow types hold keys. Shared
by the Rust bindings (which call :func:`pandas_keys`), the pure twins and the command line, so all
accept and refuse the same objects."""

from __future__ import annotations

from typing import Any

import numpy as np

DROP_NULLS = "pyarrow.compute.drop_null(col), pandas col.dropna(), polars col.drop_nulls()"


def is_pandas(obj: object) -> bool:
    """Whether ``obj`` is a pandas Series or Index (or a subclass of one)."""
    return any(
        cls.__name__ in ("Series", "Index") and cls.__module__.split(".")[0] == "pandas"
        for cls in type(obj).__mro__
    )


def pandas_keys(keys: Any) -> Any:
    """A pandas Series or Index as the key reader takes it: the numpy array of a numpy-backed one
    (integers, object...; no copy), else a Series exporting the Arrow stream interface (Arrow-backed
    strings and integers, categoricals, nullable integers). ``None`` for anything else."""
    if not is_pandas(keys):
        return None
    if isinstance(keys.dtype, np.dtype):
        return keys.to_numpy()
    if hasattr(keys, "__arrow_c_stream__"):
        return keys
    import pandas as pd

    return pd.Series(keys.array, copy=False)


def is_text_type(pa: Any, kind: Any) -> bool:
    """Whether the pyarrow type ``kind`` is a string type (plain, large or view)."""
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


def is_bytes_type(pa: Any, kind: Any) -> bool:
    """Whether the pyarrow type ``kind`` is a binary type (plain, large, view or fixed size)."""
    types = pa.types
    return bool(
        types.is_binary(kind)
        or types.is_large_binary(kind)
        or types.is_binary_view(kind)
        or types.is_fixed_size_binary(kind)
    )


def is_key_type(pa: Any, kind: Any) -> bool:
    """Whether a column of pyarrow type ``kind`` (not a dictionary) holds keys."""
    return bool(pa.types.is_integer(kind) or is_text_type(pa, kind) or is_bytes_type(pa, kind))
