"""Malformed Arrow arrays: a ValueError naming what is wrong and where (chunk, key position), from the
Rust readers and from the pure twins alike, through every bulk entry point; never a panic, a crash or a
read outside the producer's buffers. Arrays come from pyarrow's ``Array.from_buffers`` (which does not
check offsets or views) and from a hand-made capsule producer (``arrow_capsules``) for what no library
would build; the nastiest run in a child interpreter."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shardwise
import shardwise.pure.hashing as pure_hashing
import shardwise.pure.placement as pure
from arrow_capsules import ArrayExport, Raw, StreamExport, offsets, view
from placement_cases import cases
from shardwise import hashing

HASHES = ["xxh3_64_many", "xxh64_many", "murmur3_32_many", "murmur3_128_many", "fnv1a_32_many"]
HASHES += ["fnv1a_64_many", "crc32_many", "ketama_many", "crc16_many", "redis_slot_many"]


def buf(data: bytes | np.ndarray) -> pa.Buffer:
    return pa.py_buffer(data if isinstance(data, bytes) else data.tobytes())


def strings(kind: Any, offs: tuple[int, ...], data: bytes, offset: int = 0) -> pa.Array:
    """A string/binary array of ``kind`` with the given offsets, unchecked by pyarrow."""
    dtype = np.int64 if kind in (pa.large_string(), pa.large_binary()) else np.int32
    n = len(offs) - 1 - offset
    return pa.Array.from_buffers(kind, n, [None, buf(offsets(*offs, dtype=dtype)), buf(data)], offset=offset)


def views(kind: Any, *items: bytes, data: bytes = b"y" * 40) -> pa.Array:
    return pa.Array.from_buffers(kind, len(items), [None, buf(b"".join(items)), buf(data)])


GOOD = pa.array(["alpha", "beta", "gamma"])
BACKWARDS = strings(pa.string(), (0, 5, 2, 6), b"abcdef")

# (id, array, what the message says after "malformed Arrow data: ")
PYARROW_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("utf8-backwards", lambda: BACKWARDS, "keys[1]: offsets run backwards (5 then 2)"),
    (
        "utf8-past-the-last-offset",
        lambda: strings(pa.string(), (0, 50, 2, 6), b"abcdef"),
        "keys[0]: offsets 0..50 pass the end of the data (6 bytes)",
    ),
    (
        "utf8-negative",
        lambda: strings(pa.string(), (0, -5, 2, 6), b"abcdef"),
        "keys[0]: offsets run backwards (0 then -5)",
    ),
    (
        "utf8-sliced",
        lambda: strings(pa.string(), (0, 1, 2, 9, 3, 6), b"abcdef", offset=1),
        "keys[1]: offsets 2..9 pass the end of the data (6 bytes)",
    ),
    (
        "large_utf8-backwards",
        lambda: strings(pa.large_string(), (0, 2, 1, 3), b"abc"),
        "keys[1]: offsets run backwards (2 then 1)",
    ),
    (
        "binary-past-the-last-offset",
        lambda: strings(pa.binary(), (0, 7, 3), b"abc"),
        "keys[0]: offsets 0..7 pass the end of the data (3 bytes)",
    ),
    (
        "utf8_view-buffer-number",
        lambda: views(pa.string_view(), view(3, inline=b"abc"), view(20, 5, 0)),
        "keys[1]: view of 20 bytes names data buffer 5, but there are 1",
    ),
    (
        "utf8_view-past-its-buffer",
        lambda: views(pa.string_view(), view(20, 0, 30)),
        "keys[0]: view of 20 bytes at offset 30 passes the end of data buffer 0 (40 bytes)",
    ),
    (
        "binary_view-negative-length",
        lambda: views(pa.binary_view(), view(-20, 0, 0)),
        "keys[0]: view length -20 is negative",
    ),
    (
        "binary_view-negative-offset",
        lambda: views(pa.binary_view(), view(20, 0, 0), view(20, 0, -4)),
        "keys[1]: view offset -4 is negative",
    ),
    (
        "dictionary-values-backwards",
        lambda: pa.DictionaryArray.from_arrays(pa.array([0, 2, 1], pa.int8()), BACKWARDS),
        "dictionary entry 1: offsets run backwards (5 then 2)",
    ),
    (
        "dictionary-of-views",
        lambda: pa.DictionaryArray.from_arrays(
            pa.array([0, 0], pa.int32()), views(pa.string_view(), view(20, 1, 0))
        ),
        "dictionary entry 0: view of 20 bytes names data buffer 1, but there are 1",
    ),
    (
        "dictionary-negative-index",
        lambda: pa.DictionaryArray.from_arrays(pa.array([0, -1], pa.int16()), GOOD, safe=False),
        "the index of keys[1] is -1, outside its dictionary of 3 entries",
    ),
    (
        "dictionary-index-past-the-end",
        lambda: pa.DictionaryArray.from_arrays(pa.array([0, 1, 3], pa.uint32()), GOOD, safe=False),
        "the index of keys[2] is 3, outside its dictionary of 3 entries",
    ),
    (
        "int-dictionary-index-past-the-end",
        lambda: pa.DictionaryArray.from_arrays(pa.array([9], pa.int64()), pa.array([5, 6]), safe=False),
        "the index of keys[0] is 9, outside its dictionary of 2 entries",
    ),
    (
        "chunked-bad-chunk",
        lambda: pa.chunked_array([GOOD, BACKWARDS, GOOD]),
        "keys[4]: offsets run backwards (5 then 2) (in chunks[1] of 3)",
    ),
    (
        "pandas-arrow-backed",
        lambda: pd.Series(pa.chunked_array([GOOD, BACKWARDS]), dtype=pd.ArrowDtype(pa.string())),
        "keys[4]: offsets run backwards (5 then 2) (in chunks[1] of 2)",
    ),
    (
        "chunked-dictionaries",
        lambda: pa.chunked_array(
            [
                GOOD.dictionary_encode(),
                pa.DictionaryArray.from_arrays(pa.array([7], pa.int32()), GOOD, safe=False),
            ]
        ),
        "the index of keys[3] is 7, outside its dictionary of 3 entries (in chunks[1] of 2)",
    ),
]


def refusal(fn: Callable[[Any], Any], keys: Any) -> tuple[type[BaseException], str]:
    with pytest.raises(ValueError) as info:
        fn(keys)
    return type(info.value), str(info.value)


@pytest.mark.parametrize(("make", "what"), [c[1:] for c in PYARROW_CASES], ids=[c[0] for c in PYARROW_CASES])
def test_malformed_pyarrow_arrays_are_refused_by_every_bulk_function(
    make: Callable[[], Any], what: str
) -> None:
    expected = (ValueError, f"malformed Arrow data: {what}")
    assert refusal(hashing.xxh3_64_many, make()) == expected
    assert refusal(pure_hashing.xxh3_64_many, make()) == expected
    for fn in HASHES:
        assert refusal(getattr(hashing, fn), make()) == expected, fn
    assert refusal(lambda k: hashing.jump_many(k, 9), make()) == expected
    assert refusal(lambda k: pure.jump_many(k, 9), make()) == expected
    out = np.zeros(len(make()), dtype=np.uint64)
    assert refusal(lambda k: hashing.fnv1a_64_many(k, out=out), make()) == expected
    for case in cases():
        if case.key_kind == "int":
            continue  # built for int keys: refuses strings before reading them
        ring = case.make(nodes=["a", "b", "c"])
        assert refusal(ring.place, make()) == expected, case.name
        assert refusal(case.make(twin=True, nodes=["a", "b", "c"]).place, make()) == expected, case.name


GOOD_RAW = Raw(3, [None, offsets(0, 1, 3, 6), b"abbccc"])
EMPTY_RAW = Raw(0, [None, offsets(0), None])
DICT_VALUES = Raw(2, [None, offsets(0, 1, 2), b"ab"])

# (id, export, what the message says after "malformed Arrow data: ")
CAPSULE_CASES: list[tuple[str, Callable[[], Any], str]] = [
    (
        "too-few-buffers",
        lambda: ArrayExport("u", Raw(3, [None, offsets(0, 1, 3, 6)])),
        "the array has 2 buffers (a string or binary array has 3)",
    ),
    (
        "too-many-buffers",
        lambda: ArrayExport("i", Raw(2, [None, np.array([1, 2], np.int32), None])),
        "the array has 3 buffers (an integer array has 2)",
    ),
    (
        "negative-buffer-count",
        lambda: ArrayExport(
            "U", Raw(3, [None, offsets(0, 1, 3, 6, dtype=np.int64), b"abbccc"], n_buffers=-1)
        ),
        "the array has -1 buffers (a string or binary array has 3)",
    ),
    (
        "view-without-sizes",
        lambda: ArrayExport("vz", Raw(1, [None, view(20)])),
        "the array has 2 buffers (a view array has at least 3)",
    ),
    (
        "fixed-size-buffers",
        lambda: ArrayExport("w:2", Raw(1, [None, b"ab", b"cd"])),
        "the array has 3 buffers (a fixed-size binary array has 2)",
    ),
    ("no-buffer-list", lambda: ArrayExport("u", Raw(3, None, n_buffers=3)), "the array has no buffer list"),
    (
        "negative-length",
        lambda: ArrayExport("u", Raw(-3, GOOD_RAW.buffers)),
        "the array has a negative length (-3)",
    ),
    (
        "negative-offset",
        lambda: ArrayExport("u", Raw(3, GOOD_RAW.buffers, offset=-1)),
        "the array has a negative offset (-1)",
    ),
    (
        "offset-plus-length-overflows",
        lambda: ArrayExport("l", Raw(2**62, [None, np.arange(3)], offset=2**62)),
        f"the array has an offset ({2**62}) and a length ({2**62}) that overflow together",
    ),
    (
        "length-beyond-memory",
        lambda: ArrayExport("l", Raw(2**62, [None, np.arange(3)])),
        f"the array has a length and offset that put {2**62} items of 8 bytes in buffer 1, "
        "more than memory holds",
    ),
    (
        "fixed-width-beyond-memory",
        lambda: ArrayExport("w:1000000", Raw(2**50, [None, b"x"])),
        f"the array has {2**50} keys of 1000000 bytes, more than memory holds",
    ),
    (
        "bad-null-count",
        lambda: ArrayExport("u", Raw(3, GOOD_RAW.buffers, null_count=-5)),
        "the array has a null count of -5",
    ),
    (
        "nulls-without-bitmap",
        lambda: ArrayExport("u", Raw(3, GOOD_RAW.buffers, null_count=1)),
        "the array has a null count of 1 but no validity bitmap",
    ),
    (
        "missing-data-buffer",
        lambda: ArrayExport("u", Raw(3, [None, offsets(0, 1, 3, 6), None])),
        "the array has no buffer 2",
    ),
    (
        "negative-first-offset",
        lambda: ArrayExport("Z", Raw(2, [None, offsets(-2, 1, 3, dtype=np.int64), b"abc"])),
        "keys[0]: offset -2 is negative",
    ),
    (
        "negative-view-buffer-size",
        lambda: ArrayExport("vu", Raw(1, [None, view(20), b"x" * 40, np.array([-1], np.int64)])),
        "the array has data buffer 0 of negative size -1",
    ),
    (
        "dictionary-type-without-dictionary",
        lambda: ArrayExport("c", Raw(2, [None, np.array([0, 1], np.int8)]), dictionary="u"),
        "the array of a dictionary type has no dictionary",
    ),
    (
        "dictionary-without-dictionary-type",
        lambda: ArrayExport("u", Raw(3, GOOD_RAW.buffers, dictionary=DICT_VALUES)),
        "the array has a dictionary but its type has none",
    ),
    (
        "dictionary-with-wrong-buffers",
        lambda: ArrayExport(
            "c", Raw(1, [None, np.array([0], np.int8)], dictionary=Raw(2, [None, None])), dictionary="u"
        ),
        "the dictionary has 2 buffers (a string or binary array has 3)",
    ),
    (
        "stream-with-a-bad-chunk",
        lambda: StreamExport(
            "u", [GOOD_RAW, EMPTY_RAW, Raw(3, [None, offsets(0, 3, 1, 6), b"abbccc"]), GOOD_RAW]
        ),
        "keys[4]: offsets run backwards (3 then 1) (in chunks[2] of 4)",
    ),
    (
        "stream-with-a-bad-structure",
        lambda: StreamExport("u", [GOOD_RAW, Raw(3, [None, offsets(0, 1, 3, 6)])]),
        "the array has 2 buffers (a string or binary array has 3) (in chunks[1] of 2)",
    ),
]


def test_the_capsule_producer_exports_good_arrays_faithfully() -> None:
    """The hand-made producer is a valid producer: without defects its keys are the list's."""
    want = hashing.xxh3_64_many(["a", "bb", "ccc"])
    for export in (
        ArrayExport("u", GOOD_RAW),
        StreamExport("u", [EMPTY_RAW, GOOD_RAW, EMPTY_RAW]),
        ArrayExport(
            "c", Raw(3, [None, np.array([0, 1, 1], np.int8)], dictionary=DICT_VALUES), dictionary="z"
        ),
    ):
        got = hashing.xxh3_64_many(export)
        if isinstance(export, ArrayExport) and export._dictionary:
            want_dict = hashing.xxh3_64_many([b"a", b"b", b"b"])
            np.testing.assert_array_equal(got, want_dict)
            np.testing.assert_array_equal(pure_hashing.xxh3_64_many(export), want_dict)
            continue
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(pure_hashing.xxh3_64_many(export), want)


@pytest.mark.parametrize(("make", "what"), [c[1:] for c in CAPSULE_CASES], ids=[c[0] for c in CAPSULE_CASES])
def test_malformed_capsules_are_refused_alike(make: Callable[[], Any], what: str) -> None:
    expected = (ValueError, f"malformed Arrow data: {what}")
    assert refusal(shardwise.HashRing(["a", "b"]).place, make()) == expected
    assert refusal(pure.HashRing(["a", "b"]).place, make()) == expected
    assert refusal(hashing.crc32_many, make()) == expected
    assert refusal(pure_hashing.crc32_many, make()) == expected


def test_a_failing_stream_is_refused_with_its_message() -> None:
    expected = (ValueError, "reading the Arrow stream failed: the producer's disk went away")
    for fn in (hashing.xxh64_many, pure_hashing.xxh64_many):
        assert refusal(fn, StreamExport("u", [GOOD_RAW, GOOD_RAW], fail_at=1)) == expected


# Inputs that read far outside memory if any check is missing: run where a crash cannot take the
# test process down, and the process must come back alive with a ValueError for each.
NASTY = """
import numpy as np, shardwise, shardwise.pure.hashing as pure_hashing
from shardwise import hashing
from arrow_capsules import ArrayExport, Raw, offsets, view
huge = [
    ArrayExport("l", Raw(2**62, [None, np.arange(3)])),
    ArrayExport("L", Raw(2**40, [None, np.arange(3)], offset=2**62)),
    ArrayExport("w:1000000", Raw(2**50, [None, b"x"])),
    ArrayExport("u", Raw(3, None, n_buffers=3)),
    ArrayExport("U", Raw(3, [None, offsets(0, 1, 3, 6, dtype=np.int64), b"abbccc"], n_buffers=-1)),
    ArrayExport("vu", Raw(2, [None, view(3, inline=b"abc") + view(2**31 - 1, 0, 2**31 - 1), b"x" * 40,
                              np.array([40], np.int64)])),
    ArrayExport("vu", Raw(1, [None, view(20, 2**31 - 1, 0), b"x" * 40, np.array([40], np.int64)])),
    ArrayExport("u", Raw(2, [None, offsets(0, 2**31 - 1, 3), b"abc"])),
    ArrayExport("c", Raw(1, [None, np.array([-128], np.int8)],
                         dictionary=Raw(1, [None, offsets(0, 1), b"a"])), dictionary="u"),
]
for export in huge:
    for fn in (hashing.xxh3_64_many, lambda k: shardwise.HashRing(["a"]).place(k), pure_hashing.xxh3_64_many):
        try:
            fn(export)
            print("accepted")
        except ValueError as e:
            print("ValueError", str(e)[:60])
print("alive")
"""


def test_the_nastiest_inputs_leave_the_process_alive() -> None:
    env_path = [str(Path(__file__).parent), *sys.path]
    code = f"import sys; sys.path[:0] = {env_path!r}\n" + NASTY
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "alive"
    assert len(lines) == 9 * 3 + 1
    assert all(line.startswith("ValueError malformed Arrow data: ") for line in lines[:-1]), lines
    assert "panicked" not in result.stderr


@pytest.fixture
def two_threads() -> Any:
    before = shardwise.get_num_threads()
    shardwise.set_num_threads(2)
    yield
    shardwise.set_num_threads(before)


def test_a_defect_found_by_any_thread_is_reported(two_threads: None) -> None:
    """Columns large enough to be split over threads: the defect is in the second thread's part
    (and for dictionaries in the vector loop's body, not its tail)."""
    n = 200_000
    ends = np.arange(1, n + 1, dtype=np.int32) * 3
    ends[150_000] = 2  # key 150000 runs backwards, and key 150001 starts before it
    offs = np.concatenate([[0], ends]).astype(np.int32)
    column = pa.Array.from_buffers(pa.string(), n, [None, buf(offs), buf(b"k" * (3 * n))])
    expected = (
        ValueError,
        f"malformed Arrow data: keys[150000]: offsets run backwards ({3 * 150_000} then 2)",
    )
    assert refusal(shardwise.HashRing(["a", "b"]).place, column) == expected
    assert refusal(hashing.murmur3_32_many, column) == expected
    codes = np.zeros(n, dtype=np.int16)
    codes[170_003] = 9
    coded = pa.DictionaryArray.from_arrays(pa.array(codes), GOOD, safe=False)
    expected = (
        ValueError,
        "malformed Arrow data: the index of keys[170003] is 9, outside its dictionary of 3 entries",
    )
    assert refusal(shardwise.Maglev(["a", "b"]).place, coded) == expected
    assert refusal(hashing.xxh64_many, coded) == expected
    assert refusal(lambda k: hashing.jump_many(k, 5), coded) == expected


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_string_bytes_that_are_not_utf8_are_placed_by_their_bytes(kind: Any) -> None:
    """Arrow forbids them but cannot prevent them: Rust reads the bytes as they are, and the twin
    (which decodes valid keys to str) keeps such a key as bytes; both place it like those bytes."""
    raw = [b"ok", b"\xff\xfe", b"caf\xc3", "é".encode()]
    data = b"".join(raw)
    ends = np.cumsum([0, *map(len, raw)])
    array = strings(kind, tuple(int(e) for e in ends), data)
    for case in cases():
        if case.key_kind == "int":
            continue
        rust, twin = (case.make(t, ["a", "b", "c", "d"]) for t in (False, True))
        owners = np.asarray(rust.place(array)).tolist()
        assert owners == np.asarray(twin.place(array)).tolist(), case
        if case.kwargs.get("flavor") != "uhashring":  # it hashes the repr of bytes keys
            assert owners == np.asarray(rust.place(raw)).tolist(), case
    assert (
        list(hashing.xxh3_64_many(array))
        == list(pure_hashing.xxh3_64_many(array))
        == [hashing.xxh3_64(key) for key in raw]
    )
