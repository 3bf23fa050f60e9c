"""Which pandas inputs the bulk functions take, and as what. Shared by the Rust bindings (which
call :func:`pandas_keys`) and the pure twins, so both accept and refuse the same objects."""

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
