"""The key contract in the hashing functions: int keys, every numpy dtype and layout, S/U/object
arrays, lists/tuples, bytes-likes, and the errors for bad input — Rust and pure twin alike."""

from __future__ import annotations

import enum
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import shardwise.hashing as rust
import shardwise.pure.hashing as pure
import xxhash
from hashing_cases import IMPLEMENTATIONS, SPEC_IDS, SPECS, Spec, many_as_ints
from hypothesis import given
from hypothesis import strategies as st

IMPLS = list(IMPLEMENTATIONS.values())
IMPL_IDS = list(IMPLEMENTATIONS)
INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


def int_bytes(value: int) -> bytes:
    return (value % 2**64).to_bytes(8, "little")


def xxh(data: bytes) -> int:
    return xxhash.xxh3_64_intdigest(data)


# ----- int keys -----------------------------------------------------------------------------

EDGE_INTS = [0, 1, -1, 255, 256, 2**32, 2**63 - 1, 2**63, -(2**63), 2**64 - 1, -12345]


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_int_keys_hash_as_8_le_bytes(module: ModuleType, spec: Spec) -> None:
    for value in EDGE_INTS:
        assert spec.one(module, value) == spec.one(module, int_bytes(value)), value
    assert many_as_ints(spec, module, EDGE_INTS) == [spec.one(module, int_bytes(v)) for v in EDGE_INTS]


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
@given(value=st.integers(-(2**63), 2**64 - 1))
def test_int_keys_match_oracle(module: ModuleType, value: int) -> None:
    assert module.xxh3_64(value) == xxh(int_bytes(value))
    assert int(module.xxh3_64_many([value])[0]) == xxh(int_bytes(value))
    assert int(module.xxh3_64_many((value, value))[1]) == xxh(int_bytes(value))


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize("value", [2**64, 2**100, -(2**63) - 1, -(2**64)])
def test_int_keys_out_of_range_overflow(module: ModuleType, value: int) -> None:
    with pytest.raises(OverflowError, match="outside the key range"):
        module.xxh3_64(value)
    with pytest.raises(OverflowError, match=r"keys\[2\]"):
        module.xxh3_64_many([1, 2, value])
    with pytest.raises(OverflowError, match=r"keys\[0\]"):
        module.xxh3_64_many(np.array([value, 1], dtype=object))


# ----- numpy integer arrays -----------------------------------------------------------------


def random_ints(dtype: Any, n: int, seed: int) -> np.ndarray[Any, Any]:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    values = rng.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)
    values[:2] = [info.min, info.max]
    return values


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_scalar_equals_bulk_for_every_int_dtype(module: ModuleType, dtype: Any) -> None:
    arr = random_ints(dtype, 300, 1)
    expected = [xxh(int_bytes(int(v))) for v in arr]
    assert module.xxh3_64_many(arr).tolist() == expected
    assert [module.xxh3_64(v) for v in arr[:20]] == expected[:20]  # numpy scalars
    assert module.xxh3_64_many(list(arr[:20])).tolist() == expected[:20]  # list of numpy scalars
    assert module.xxh3_64_many(arr.tolist()).tolist() == expected  # list of Python ints


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_function_every_dtype_rust_equals_twin(spec: Spec, dtype: Any) -> None:
    arr = random_ints(dtype, 50, 2)
    expected = many_as_ints(spec, pure, arr)
    assert many_as_ints(spec, rust, arr) == expected
    assert [spec.one(rust, v) for v in arr] == expected


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_large_int_arrays_all_dtypes(dtype: Any) -> None:
    # Large enough for the threaded path; compared with the one-key form on a sample.
    arr = random_ints(dtype, 100_003, 3)
    out = rust.xxh3_64_many(arr)
    for i in (0, 1, 50_000, 65_536, 100_002):
        assert int(out[i]) == rust.xxh3_64(int(arr[i]))


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_strided_and_byte_swapped_int_arrays(module: ModuleType, dtype: Any) -> None:
    base = random_ints(dtype, 400, 4)
    expected_all = [xxh(int_bytes(int(v))) for v in base]
    views = {
        "every third": (base[::3], expected_all[::3]),
        "reversed": (base[::-1], expected_all[::-1]),
        "column of 2-D": (base.reshape(100, 4)[:, 1], expected_all[1::4]),
        "non-native order": (base.astype(np.dtype(dtype).newbyteorder(">")), expected_all),
        "non-native strided": (base.astype(np.dtype(dtype).newbyteorder(">"))[1::2], expected_all[1::2]),
    }
    for name, (view, expected) in views.items():
        assert module.xxh3_64_many(view).tolist() == expected, name


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
def test_read_only_and_unaligned_arrays(module: ModuleType) -> None:
    arr = np.arange(100, dtype=np.uint64)
    arr.flags.writeable = False
    expected = [xxh(int_bytes(v)) for v in range(100)]
    assert module.xxh3_64_many(arr).tolist() == expected
    raw = np.zeros(801, dtype=np.uint8)
    unaligned = raw[1:].view(np.uint64)
    unaligned[:] = np.arange(100, dtype=np.uint64)
    assert module.xxh3_64_many(unaligned).tolist() == expected


# ----- S, U and object arrays, lists, tuples, bytes-likes ------------------------------------


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
def test_bytes_arrays_drop_trailing_nuls_only(module: ModuleType) -> None:
    keys = [b"", b"a", b"a\x00", b"\x00a", b"a\x00b", b"abcdefgh", b"\xff\xfe"]
    arr = np.array(keys, dtype="S8")
    stored = [b"", b"a", b"a", b"\x00a", b"a\x00b", b"abcdefgh", b"\xff\xfe"]
    assert arr.tolist() == stored  # numpy's own semantics, which the contract follows
    expected = [xxh(k) for k in stored]
    assert module.xxh3_64_many(arr).tolist() == expected
    assert module.xxh3_64_many(arr[::-2]).tolist() == expected[::-2]
    assert [module.xxh3_64(k) for k in arr] == expected
    assert module.xxh3_64_many(np.array([b"", b""], dtype="S")).tolist() == [xxh(b"")] * 2


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
def test_str_arrays_as_utf8(module: ModuleType) -> None:
    keys = ["", "a", "a\x00", "ß", "日本語", "emoji 🎉", "\x00x", "a" * 300]
    arr = np.array(keys)
    stored = [k.rstrip("\x00") for k in keys]
    expected = [xxh(k.encode()) for k in stored]
    assert module.xxh3_64_many(arr).tolist() == expected
    assert module.xxh3_64_many(arr[::2]).tolist() == expected[::2]
    assert module.xxh3_64_many(arr.astype(arr.dtype.newbyteorder(">"))).tolist() == expected
    assert module.xxh3_64_many(arr.astype(object)).tolist() == expected
    assert module.xxh3_64_many(stored).tolist() == expected
    assert module.xxh3_64_many(tuple(stored)).tolist() == expected
    assert [module.xxh3_64(k) for k in arr] == expected  # numpy str_ scalars
    assert module.xxh3_64_many(np.array(["", ""], dtype="U")).tolist() == [xxh(b"")] * 2


@given(keys=st.lists(st.text(max_size=30), max_size=30))
def test_str_arrays_rust_equals_twin(keys: list[str]) -> None:
    arr = np.array(keys, dtype="U30")
    assert rust.xxh3_64_many(arr).tolist() == pure.xxh3_64_many(arr).tolist()
    assert rust.redis_slot_many(arr).tolist() == pure.redis_slot_many(arr).tolist()


@given(keys=st.lists(st.binary(max_size=30), max_size=30))
def test_bytes_arrays_rust_equals_twin(keys: list[bytes]) -> None:
    arr = np.array(keys, dtype="S30")
    assert rust.murmur3_32_many(arr, 3).tolist() == pure.murmur3_32_many(arr, 3).tolist()
    assert rust.crc32_many(arr).tolist() == pure.crc32_many(arr).tolist()


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
def test_object_arrays_lists_and_tuples(module: ModuleType) -> None:
    ints = [5, -5, 2**64 - 1]
    expected_ints = [xxh(int_bytes(v)) for v in ints]
    for container in (ints, tuple(ints), np.array(ints, dtype=object)):
        assert module.xxh3_64_many(container).tolist() == expected_ints
    blobs = [b"x", bytearray(b"yy"), memoryview(b"zzz")]
    expected_blobs = [xxh(b"x"), xxh(b"yy"), xxh(b"zzz")]
    for container in (blobs, tuple(blobs), np.array([*blobs, None], dtype=object)[:3]):
        assert module.xxh3_64_many(container).tolist() == expected_blobs
    assert module.xxh3_64_many([]).tolist() == []
    assert module.xxh3_64_many(()).dtype == np.uint64


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
def test_bytes_likes_one_key(module: ModuleType) -> None:
    data = b"hello world"
    assert module.xxh3_64(bytearray(data)) == xxh(data)
    assert module.xxh3_64(memoryview(data)) == xxh(data)
    assert module.xxh3_64(memoryview(data)[::2]) == xxh(data[::2])  # non-contiguous view
    assert module.xxh3_64(memoryview(np.arange(3, dtype=np.uint16))) == xxh(
        np.arange(3, dtype=np.uint16).tobytes()
    )
    assert module.xxh3_64(np.bytes_(b"ab")) == xxh(b"ab")
    assert module.xxh3_64(np.str_("ab")) == xxh(b"ab")


class IndexOnly:
    """Not an int, but integer-like through ``__index__``."""

    def __index__(self) -> int:
        return 77


class Seventy(enum.IntEnum):
    SEVEN = 77


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
def test_integer_like_keys(module: ModuleType) -> None:
    expected = xxh(int_bytes(77))
    for key in (np.array(77), IndexOnly(), np.uint8(77), np.int64(77), Seventy.SEVEN):
        assert module.xxh3_64(key) == expected
        assert module.xxh3_64_many([key, 77]).tolist() == [expected, expected]
    with pytest.raises(TypeError, match="not ndarray"):
        module.xxh3_64(np.array([1, 2]))
    with pytest.raises(TypeError, match=r"keys\[1\].*not ndarray"):
        module.xxh3_64_many([1, np.array([1, 2])])


# ----- errors -------------------------------------------------------------------------------

ONE_KEY_BAD = [
    (None, TypeError, "NoneType"),
    (1.5, TypeError, "float"),
    ({}, TypeError, "dict"),
    ([1], TypeError, "list"),
    (True, TypeError, "bool"),
    (np.bool_(True), TypeError, "bool"),
    (np.float64(1.0), TypeError, "float64"),
    (object(), TypeError, "object"),
    ("\ud800", ValueError, "surrogates"),
]


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize(("key", "error", "named"), ONE_KEY_BAD, ids=lambda v: repr(v)[:20])
def test_one_key_errors(module: ModuleType, spec: Spec, key: object, error: type, named: str) -> None:
    with pytest.raises(error, match=named):
        spec.one(module, key)


BULK_BAD = [
    (None, TypeError, "NoneType"),
    ({1: 2}, TypeError, "dict"),
    ("abc", TypeError, "for one key"),
    (b"abc", TypeError, "for one key"),
    (iter([1, 2]), TypeError, "list_iterator"),
    (np.zeros((2, 2), dtype=np.uint64), ValueError, r"1-D.*shape \(2, 2\)"),
    (np.uint64(5), TypeError, "uint64"),
    (np.zeros(3), TypeError, "float64"),
    (np.zeros(3, dtype=bool), TypeError, "bool"),
    (np.zeros(3, dtype=complex), TypeError, "complex"),
    ([1, 2, "a"], TypeError, r"mixed key kinds: keys\[0\] is int but keys\[2\] is str"),
    ([b"a", "b"], TypeError, r"keys\[0\] is bytes-like but keys\[1\] is str"),
    (["a", 1], TypeError, r"keys\[1\] is int"),
    (np.array([1, "a"], dtype=object), TypeError, r"mixed key kinds"),
    ([1, 2, 3, None], TypeError, r"keys\[3\].*NoneType"),
    (["a", 1.5], TypeError, r"keys\[1\].*float"),
    ([1, True], TypeError, r"keys\[1\].*bool"),
    ((b"a", {}), TypeError, r"keys\[1\].*dict"),
    (["ok", "\ud800"], ValueError, r"keys\[1\]"),
    (np.array(["ok", "\ud800"]), ValueError, r"keys\[1\]"),
]


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize(("keys", "error", "named"), BULK_BAD, ids=lambda v: repr(v)[:24])
def test_bulk_errors(module: ModuleType, spec: Spec, keys: object, error: type, named: str) -> None:
    with pytest.raises(error, match=named):
        spec.many(module, keys)


@pytest.mark.parametrize(("keys", "position"), [([1, 2, 3, None], 3), (["a", "b", 7], 2), ((b"a", 2.5), 1)])
def test_bulk_error_types_and_positions_agree(keys: list[object], position: int) -> None:
    caught = []
    for module in IMPLS:
        with pytest.raises(TypeError) as info:
            module.fnv1a_64_many(keys)
        caught.append(info.value)
        assert f"keys[{position}]" in str(info.value)
    assert str(caught[0]) == str(caught[1])


@pytest.mark.parametrize("module", IMPLS, ids=IMPL_IDS)
def test_seed_errors(module: ModuleType) -> None:
    for fn in (module.xxh3_64, module.xxh64):
        assert fn(b"k", 2**64 - 1) == fn(b"k", seed=2**64 - 1)
        with pytest.raises(OverflowError):
            fn(b"k", 2**64)
        with pytest.raises(OverflowError):
            fn(b"k", -1)
        with pytest.raises(TypeError):
            fn(b"k", 1.5)
    for fn in (module.murmur3_32, module.murmur3_128, module.murmur3_32_many, module.murmur3_128_many):
        key: Any = [b"k"] if fn.__name__.endswith("_many") else b"k"
        fn(key, 2**32 - 1)
        with pytest.raises(OverflowError):
            fn(key, 2**32)
        with pytest.raises(OverflowError):
            fn(key, -1)
    assert module.xxh3_64(b"k", np.uint64(9)) == module.xxh3_64(b"k", 9)
