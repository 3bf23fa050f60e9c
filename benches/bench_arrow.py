"""Arrow, pandas, polars and numpy StringDType keys: ``HashRing.place`` on columns read in place, against
the routes users take today (a ``list[str]``, or ``.to_numpy()`` into an object array). One thread,
100 nodes.

Each test stores the keys per call in ``extra_info["keys"]``: ns/key = time / keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import shardwise
from bench_support import size

N = size(10_000_000)
FEW = size(1_000_000)  # for the slow routes (Python objects per key)
RNG = np.random.default_rng(12)
# ~16-byte keys: "user:" + 11 digits.
LARGE = pa.array([f"user:{v:011d}" for v in RNG.integers(0, 10**11, size=N)], pa.large_string())
STRS = LARGE.slice(0, FEW).to_pylist()
STRING_DTYPE = np.array(STRS, dtype=np.dtypes.StringDType())
DICT = pa.DictionaryArray.from_arrays(
    pa.array(RNG.integers(0, 10_000, size=N).astype(np.int32)),
    pa.array([f"user:{i:011d}" for i in range(10_000)], pa.large_string()),
)
RING = shardwise.HashRing([f"node-{i}" for i in range(100)])


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = shardwise.get_num_threads()
    shardwise.set_num_threads(1)
    yield
    shardwise.set_num_threads(before)


def run(benchmark: Any, fn: Callable[[], Any], keys: int, rounds: int = 5) -> None:
    benchmark.extra_info["keys"] = keys
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)


def test_pyarrow_large_string(benchmark: Any) -> None:
    run(benchmark, lambda: RING.place(LARGE), N)


def test_pyarrow_large_string_out(benchmark: Any) -> None:
    out = np.empty(N, dtype=np.int32)
    run(benchmark, lambda: RING.place(LARGE, out=out), N)


def test_pyarrow_string(benchmark: Any) -> None:
    column = LARGE.cast(pa.string())
    run(benchmark, lambda: RING.place(column), N)


def test_pyarrow_string_view(benchmark: Any) -> None:
    column = LARGE.cast(pa.string_view())
    run(benchmark, lambda: RING.place(column), N)


def test_pyarrow_dictionary_10k(benchmark: Any) -> None:
    run(benchmark, lambda: RING.place(DICT), N)


def test_pyarrow_dictionary_10k_out(benchmark: Any) -> None:
    out = np.empty(N, dtype=np.int32)
    run(benchmark, lambda: RING.place(DICT, out=out), N)


def test_pandas_arrow_strings(benchmark: Any) -> None:
    series = pd.Series(LARGE, dtype=pd.ArrowDtype(pa.large_string()))
    run(benchmark, lambda: RING.place(series), N)


def test_pandas_default_str(benchmark: Any) -> None:
    series = pd.Series(pa.chunked_array([LARGE]), dtype=pd.StringDtype("pyarrow"))
    run(benchmark, lambda: RING.place(series), N)


def test_polars(benchmark: Any) -> None:
    series = pl.from_arrow(LARGE)
    run(benchmark, lambda: RING.place(series), N)


def test_numpy_string_dtype(benchmark: Any) -> None:
    """numpy 2's variable-width strings, read through numpy's C API (one copy per string)."""
    run(benchmark, lambda: RING.place(STRING_DTYPE), FEW, rounds=3)


def test_xxh3_many_pyarrow_large_string(benchmark: Any) -> None:
    out = np.empty(N, dtype=np.uint64)
    run(benchmark, lambda: shardwise.hashing.xxh3_64_many(LARGE, out=out), N)


# ----- the routes available before: Python objects per key ---------------------------------------


def test_list_of_str(benchmark: Any) -> None:
    run(benchmark, lambda: RING.place(STRS), FEW, rounds=3)


def test_to_numpy_route(benchmark: Any) -> None:
    column = LARGE.slice(0, FEW)
    run(benchmark, lambda: RING.place(column.to_numpy(zero_copy_only=False)), FEW, rounds=3)


def test_numpy_fresh_int32_output_floor(benchmark: Any) -> None:
    """What any fresh 10M-slot int32 result costs before a single key is read (page faults)."""
    run(benchmark, lambda: np.empty(N, dtype=np.int32).fill(1), N)
