"""Arrow, pandas, polars and numpy StringDType keys: the same owners and hashes as the same keys in a
list, for every placement class and hash function, in Rust and in the pure twins; nulls and
unsupported types refused with the same messages by both."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import shardwise
import shardwise.pure.hashing as pure_hashing
import shardwise.pure.placement as pure
from arrow_sources import (
    BYTES_KEYS,
    FIXED_KEYS,
    INT_TYPES,
    SIGNED,
    STR_KEYS,
    UNSIGNED,
    bytes_sources,
    fixed_sources,
    int_sources,
    placements,
    str_sources,
)
from shardwise import hashing
from shardwise.placement import load_distribution, movement

HASHES = [
    "xxh3_64_many",
    "xxh64_many",
    "murmur3_32_many",
    "murmur3_128_many",
    "fnv1a_32_many",
    "fnv1a_64_many",
    "crc32_many",
    "ketama_many",
    "crc16_many",
    "redis_slot_many",
]


def int_values(name: str) -> list[int]:
    _, low, high = INT_TYPES[name]
    return [v for v in dict.fromkeys(SIGNED + UNSIGNED) if low <= v < high]


CASES: list[tuple[str, str, list[Any], Callable[[], Any]]] = []
for _name, _make in str_sources(STR_KEYS).items():
    CASES.append(("str", _name, STR_KEYS, _make))
for _name, _make in bytes_sources(BYTES_KEYS).items():
    CASES.append(("bytes", _name, BYTES_KEYS, _make))
for _name, _make in fixed_sources(FIXED_KEYS).items():
    CASES.append(("bytes", _name, FIXED_KEYS, _make))
for _type in INT_TYPES:
    for _name, _make in int_sources(int_values(_type), _type).items():
        CASES.append(("int", f"{_type}-{_name}", int_values(_type), _make))
IDS = [f"{kind}-{name}" for kind, name, _, _ in CASES]


@pytest.mark.parametrize(("kind", "name", "keys", "make"), CASES, ids=IDS)
def test_every_placement_places_every_container_like_a_list(
    kind: str, name: str, keys: list[Any], make: Callable[[], Any]
) -> None:
    for label, (rust, twin) in placements(kind).items():
        want = rust.place(list(keys))
        np.testing.assert_array_equal(rust.place(make()), want, err_msg=label)
        np.testing.assert_array_equal(twin.place(make()), want, err_msg=f"{label} (twin)")
        out = np.full(len(keys), -7, dtype=np.int32)
        assert rust.place(make(), out=out) is out
        np.testing.assert_array_equal(out, want, err_msg=f"{label} out=")


@pytest.mark.parametrize(("kind", "name", "keys", "make"), CASES, ids=IDS)
def test_every_hash_function_hashes_every_container_like_a_list(
    kind: str, name: str, keys: list[Any], make: Callable[[], Any]
) -> None:
    for fn in HASHES:
        want = getattr(hashing, fn)(list(keys))
        np.testing.assert_array_equal(getattr(hashing, fn)(make()), want, err_msg=fn)
        np.testing.assert_array_equal(getattr(pure_hashing, fn)(make()), want, err_msg=f"{fn} (twin)")
    want = hashing.jump_many(list(keys), 13)
    np.testing.assert_array_equal(hashing.jump_many(make(), 13), want)
    np.testing.assert_array_equal(pure.jump_many(make(), 13), want)


def test_analysis_helpers_take_arrow_columns() -> None:
    ring = shardwise.HashRing([f"n{i}" for i in range(5)])
    bigger = ring.copy()
    bigger.add_node("n5")
    column = pa.array(STR_KEYS).dictionary_encode()
    assert load_distribution(ring, column).as_dict() == load_distribution(ring, STR_KEYS).as_dict()
    plan = movement(ring, bigger, pl.Series(STR_KEYS))
    assert plan.moved == movement(ring, bigger, STR_KEYS).moved > 0


def test_big_int_keys_match_python_ints_and_numpy() -> None:
    # uint64 values >= 2**63 are their 64-bit pattern, as Python ints in [2**63, 2**64) are.
    big = [2**63, 2**64 - 1, 2**63 + 12345]
    want = hashing.xxh3_64_many(big)
    np.testing.assert_array_equal(hashing.xxh3_64_many(pa.array(big, pa.uint64())), want)
    np.testing.assert_array_equal(hashing.xxh3_64_many(np.array(big, dtype=np.uint64)), want)
    assert [hashing.xxh3_64(v) for v in big] == want.tolist()
    # -1 as int64 is the same 8 bytes as 2**64 - 1.
    assert hashing.xxh3_64_many(pa.array([-1], pa.int64()))[0] == want[1]


def test_strings_hash_as_their_utf8_bytes() -> None:
    text = ["ключ", "🙂", "plain"]
    as_bytes = pa.array([t.encode() for t in text], pa.binary())
    np.testing.assert_array_equal(hashing.xxh64_many(pa.array(text)), hashing.xxh64_many(as_bytes))


# ----- large, chunked, sliced, shared and misaligned buffers ----------------------------------


@pytest.fixture
def two_threads() -> Any:
    before = shardwise.get_num_threads()
    shardwise.set_num_threads(2)
    yield
    shardwise.set_num_threads(before)


BIG = [f"key-{i * 2654435761 % 10**9}" for i in range(150_000)]


@pytest.mark.parametrize(
    "make",
    [
        lambda: pa.chunked_array([pa.array(BIG[i : i + 150]) for i in range(0, len(BIG), 150)]),
        lambda: pa.array(["pad"] * 11 + BIG, pa.large_string()).slice(11),
        lambda: pa.array(BIG, pa.string_view()),
        lambda: pl.concat([pl.Series(BIG[i : i + 5000]) for i in range(0, len(BIG), 5000)], rechunk=False),
    ],
    ids=["1000-chunks", "sliced-large", "view", "polars-30-chunks"],
)
def test_large_inputs_on_every_thread(two_threads: None, make: Callable[[], Any]) -> None:
    column = make()
    for rust in (
        shardwise.HashRing(["a", "b", "c"]),
        shardwise.Maglev(["a", "b", "c"]),
        shardwise.MementoHash(["a", "b"]),
    ):
        np.testing.assert_array_equal(rust.place(column), rust.place(BIG))
    np.testing.assert_array_equal(hashing.crc32_many(column), hashing.crc32_many(BIG))


def test_dictionary_with_repeats_equals_the_expanded_keys(two_threads: None) -> None:
    rng = np.random.default_rng(7)
    distinct = [f"tenant-{i}" for i in range(300)]
    codes = rng.integers(0, len(distinct), size=200_000).astype(np.int16)
    column = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(distinct))
    expanded = [distinct[c] for c in codes]
    # Bounded loads depend on every occurrence (not just distinct values): still key by key.
    bounded = shardwise.BoundedLoadRing([f"n{i}" for i in range(6)], load_factor=1.05)
    np.testing.assert_array_equal(bounded.place(column), bounded.place(expanded))
    for rust in (
        shardwise.HashRing(["a", "b", "c"]),
        shardwise.JumpHash(["a", "b"]),
        shardwise.Rendezvous(["a", "b"]),
    ):
        np.testing.assert_array_equal(rust.place(column), rust.place(expanded))
    np.testing.assert_array_equal(hashing.murmur3_128_many(column), hashing.murmur3_128_many(expanded))
    np.testing.assert_array_equal(hashing.jump_many(column, 1000), hashing.jump_many(expanded, 1000))


def test_polars_categorical_chunks_share_one_dictionary() -> None:
    series = pl.concat(
        [pl.Series(["a", "b"] * 50, dtype=pl.Categorical), pl.Series(["b", "c"] * 50, dtype=pl.Categorical)],
        rechunk=False,
    )
    ring = shardwise.HashRing(["x", "y", "z"])
    np.testing.assert_array_equal(ring.place(series), ring.place(series.to_list()))


def test_misaligned_buffers_are_read_correctly() -> None:
    keys = ["alpha", "beta", "", "gamma"]
    offsets = np.array([0, 5, 9, 9, 14], dtype=np.int64).tobytes()
    raw = pa.py_buffer(b"\x00" + offsets)  # the offsets start one byte into the buffer
    column = pa.Array.from_buffers(
        pa.large_string(), 4, [None, raw.slice(1), pa.py_buffer(b"alphabetagamma")]
    )
    assert column.to_pylist() == keys
    np.testing.assert_array_equal(hashing.xxh3_64_many(column), hashing.xxh3_64_many(keys))


def test_arrow_input_can_be_reused_and_empty_inputs_work() -> None:
    ring = shardwise.HashRing(["a", "b"])
    column = pa.array(STR_KEYS)
    first = ring.place(column)
    np.testing.assert_array_equal(ring.place(column), first)  # the capsule took nothing from it
    assert column.to_pylist() == STR_KEYS
    for empty in (pa.array([], pa.string()), pa.chunked_array([], pa.int32()), pl.Series([], dtype=pl.Utf8)):
        assert ring.place(empty).tolist() == []
        assert hashing.xxh3_64_many(empty).tolist() == []


# ----- refusals: the same message from Rust and from the twins ---------------------------------


def refusal(fn: Callable[[Any], Any], keys: Any) -> tuple[type[BaseException], str]:
    with pytest.raises((TypeError, ValueError)) as info:
        fn(keys)
    return type(info.value), str(info.value)


NULL_CASES: list[tuple[str, Callable[[], Any], int]] = [
    ("pa", lambda: pa.array(["a", "b", None, "d", None]), 2),
    ("pa_sliced", lambda: pa.array([None, "x", "y", None]).slice(1), 2),
    ("pa_chunked", lambda: pa.chunked_array([["a", "b"], [], ["c", None]]), 3),
    ("pa_int", lambda: pa.array([1, None], pa.uint16()), 1),
    ("pa_dictionary_null_index", lambda: pa.array(["a", "b", None, "a"]).dictionary_encode(), 2),
    (
        "pa_dictionary_null_entry",
        lambda: pa.DictionaryArray.from_arrays(pa.array([0, 0, 1, 0]), pa.array(["a", None])),
        2,
    ),
    ("pandas_str", lambda: pd.Series(["a", None, "c"]), 1),
    ("pandas_nullable_int", lambda: pd.Series([1, 2, None], dtype="Int64"), 2),
    ("pandas_categorical", lambda: pd.Series(["a", "b", None], dtype="category"), 2),
    ("polars", lambda: pl.Series(["a", "b", "c", None]), 3),
    ("polars_int", lambda: pl.Series([None, 1]), 0),
]


@pytest.mark.parametrize(("name", "make", "position"), NULL_CASES, ids=[c[0] for c in NULL_CASES])
def test_nulls_are_refused_with_their_position(name: str, make: Callable[[], Any], position: int) -> None:
    ring = shardwise.HashRing(["a", "b"])
    kind, message = refusal(ring.place, make())
    assert kind is ValueError
    assert message.startswith(f"keys[{position}] is null; ")
    assert "drop_null" in message and "dropna" in message and "drop_nulls" in message
    assert refusal(pure.HashRing(["a", "b"]).place, make()) == (kind, message)
    assert refusal(hashing.xxh3_64_many, make()) == (kind, message)
    assert refusal(pure_hashing.xxh3_64_many, make()) == (kind, message)
    assert refusal(shardwise.BoundedLoadRing(["a"]).place, make()) == (kind, message)


UNSUPPORTED: list[tuple[Callable[[], Any], str]] = [
    (lambda: pa.array([1.5]), "float64"),
    (lambda: pa.array([1.5], pa.float32()), "float32"),
    (lambda: pa.array([True]), "bool"),
    (lambda: pa.array([None, None]), "null"),
    (lambda: pa.array([1], pa.date32()), "date"),
    (lambda: pa.array([1], pa.timestamp("ms", tz="UTC")), "timestamp"),
    (lambda: pa.array([1], pa.duration("s")), "duration"),
    (lambda: pa.array([1], pa.time32("s")), "time"),
    (lambda: pa.array([Decimal("1.5")], pa.decimal128(5, 2)), "decimal"),
    (lambda: pa.array([[1, 2]]), "list"),
    (lambda: pa.array([{"a": 1}]), "struct"),
    (lambda: pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())), "map"),
    (lambda: pa.array([1.0, 2.0]).dictionary_encode(), "dictionary of float64"),
    (lambda: pa.record_batch({"key": ["a"]}), "struct"),
    (lambda: pa.table({"key": ["a"]}), "struct"),
    (lambda: pd.Series([True, False], dtype="boolean"), "bool"),
    (lambda: pl.Series([1.0]), "float64"),
]


@pytest.mark.parametrize(
    ("make", "name"), UNSUPPORTED, ids=[u[1] + str(i) for i, u in enumerate(UNSUPPORTED)]
)
def test_unsupported_arrow_types_are_refused_alike(make: Callable[[], Any], name: str) -> None:
    kind, message = refusal(shardwise.HashRing(["a"]).place, make())
    assert kind is TypeError
    assert message == (
        f"Arrow keys must be strings, binary or integers (or a dictionary of them), not {name}"
    )
    assert refusal(pure.HashRing(["a"]).place, make()) == (kind, message)
    assert refusal(hashing.fnv1a_64_many, make()) == (kind, message)
    assert refusal(pure_hashing.fnv1a_64_many, make()) == (kind, message)


@pytest.mark.parametrize(
    "keys",
    [
        pd.Series([1.5, 2.5]),
        pd.Index([1.5]),
        pd.Series([np.datetime64("2024-01-01")]),
        pd.Series(["a", None], dtype=object),
    ],
    ids=["float", "float-index", "datetime", "object-with-None"],
)
def test_numpy_backed_pandas_is_refused_like_its_numpy_array(keys: Any) -> None:
    rust = refusal(hashing.xxh3_64_many, keys)
    assert rust == refusal(hashing.xxh3_64_many, keys.to_numpy())
    assert refusal(pure_hashing.xxh3_64_many, keys) == rust


@pytest.mark.parametrize("keys", [{"a": 1}, "abc", 3.5, {1, 2}], ids=["dict", "str", "float", "set"])
def test_other_objects_are_refused_alike(keys: Any) -> None:
    rust = refusal(hashing.xxh3_64_many, keys)
    assert rust[0] is TypeError and "pandas Series/Index or Arrow array" in rust[1]
    assert refusal(pure_hashing.xxh3_64_many, keys) == rust


def test_a_dictionary_index_past_its_dictionary_is_refused() -> None:
    bad = pa.DictionaryArray.from_arrays(pa.array([0, 1, 5], pa.int32()), pa.array(["a", "b"]), safe=False)
    expected = r"malformed Arrow data: the index of keys\[2\] is 5, outside its dictionary of 2 entries"
    with pytest.raises(ValueError, match=expected):
        shardwise.HashRing(["a"]).place(bad)


# ----- the GIL is released and the work is split over threads ----------------------------------


def test_arrow_placement_runs_without_the_gil_on_several_threads(two_threads: None) -> None:
    import os
    import threading
    import time

    column = pa.array([f"user:{i}" for i in range(3_000_000)], pa.large_string())
    ring = shardwise.HashRing([f"n{i}" for i in range(50)])
    done = threading.Event()
    tasks_seen: list[int] = []

    def work() -> None:
        for _ in range(3):
            ring.place(column)
        done.set()

    baseline = len(os.listdir("/proc/self/task"))
    worker = threading.Thread(target=work)
    worker.start()
    ticks = 0
    while not done.is_set():  # Python keeps running here only if place() released the GIL
        tasks_seen.append(len(os.listdir("/proc/self/task")))
        ticks += 1
        time.sleep(0.0005)
    worker.join()
    assert ticks > 20, "the main thread hardly ran while place() was busy: the GIL was held"
    assert max(tasks_seen) >= baseline + 2, "place() never started worker threads"


def test_pyarrow_is_not_needed_to_read_arrow_columns() -> None:
    """polars exports the C stream itself: the Rust side and the pure twins read it with pyarrow
    impossible to import."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "import polars as pl, shardwise\n"
        "ring = shardwise.HashRing(['a', 'b', 'c'])\n"
        "keys = [f'k{i}' for i in range(1000)]\n"
        "assert (ring.place(pl.Series(keys)) == ring.place(keys)).all()\n"
        "assert (ring.place(pl.Series(keys, dtype=pl.Categorical)) == ring.place(keys)).all()\n"
        "import shardwise.pure.placement as pure\n"
        "twin = pure.HashRing(['a', 'b', 'c'])\n"
        "assert (twin.place(pl.Series(keys, dtype=pl.Categorical)) == ring.place(keys)).all()\n"
        "try:\n    import pyarrow\nexcept ImportError:\n    print('no pyarrow')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no pyarrow"


# ----- numpy StringDType: read through numpy's C API, no Python object per key -----------------


def test_numpy_string_dtype_arrays_hash_like_their_strings() -> None:
    # Short strings live inside the array, long ones in numpy's arena; strided views and
    # non-ASCII text included.
    keys = ["", "a", "ключ 🙂", "x" * 15, "y" * 16, "z" * 300, *[f"user:{i}" for i in range(500)]]
    array = np.array(keys, dtype=np.dtypes.StringDType())
    ring = shardwise.HashRing([f"n{i}" for i in range(9)])
    for view, expected in ((array, keys), (array[::-3], keys[::-3]), (array[5:400:7], keys[5:400:7])):
        np.testing.assert_array_equal(hashing.xxh3_64_many(view), hashing.xxh3_64_many(expected))
        np.testing.assert_array_equal(ring.place(view), ring.place(expected))
        np.testing.assert_array_equal(pure_hashing.xxh3_64_many(view), hashing.xxh3_64_many(expected))


def test_numpy_string_dtype_missing_values_are_refused_like_in_a_list() -> None:
    array = np.array(["a", None, "c"], dtype=np.dtypes.StringDType(na_object=None))
    expected = refusal(hashing.xxh64_many, ["a", None, "c"])
    assert refusal(hashing.xxh64_many, array) == expected
    assert refusal(pure_hashing.xxh64_many, array) == expected
