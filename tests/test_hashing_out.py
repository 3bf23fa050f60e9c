"""``out=`` on the bulk hash functions and ``jump_many``: a caller's array receives exactly what
the function returns, Rust and pure twin refuse unusable arrays with the same error, and a
refused array is left untouched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import shardwise.hashing as rust
import shardwise.pure.hashing as twin

# name -> (result dtype, extra positional arguments)
ONE_D: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "xxh3_64_many": (np.uint64, (7,)),
    "xxh64_many": (np.uint64, (7,)),
    "murmur3_32_many": (np.uint32, (7,)),
    "fnv1a_32_many": (np.uint32, ()),
    "fnv1a_64_many": (np.uint64, ()),
    "crc32_many": (np.uint32, ()),
    "ketama_many": (np.uint32, ()),
    "crc16_many": (np.uint16, ()),
    "redis_slot_many": (np.uint16, ()),
    "jump_many": (np.int32, (1000,)),
}
KEYS: list[Any] = ["a", "user:42", "", "ü", "{tag}x"]
INTS = np.arange(100_000, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)  # parallel in bulk


def call(module: Any, name: str, keys: Any, **kw: Any) -> Any:
    fn: Callable[..., Any] = getattr(module, name)
    return fn(keys, *ONE_D[name][1], **kw) if name in ONE_D else fn(keys, **kw)


@pytest.mark.parametrize("module", [rust, twin], ids=["rust", "twin"])
@pytest.mark.parametrize("name", ONE_D)
def test_out_receives_what_the_function_returns(module: Any, name: str) -> None:
    dtype = ONE_D[name][0]
    want = call(module, name, KEYS)
    out = np.full(len(KEYS), 3, dtype=dtype)
    assert call(module, name, KEYS, out=out) is out
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(want, call(rust, name, KEYS))  # twin == Rust too


@pytest.mark.parametrize("name", ONE_D)
def test_out_in_bulk_across_threads(name: str) -> None:
    out = np.zeros(len(INTS), dtype=ONE_D[name][0])
    call(rust, name, INTS, out=out)
    np.testing.assert_array_equal(out, call(rust, name, INTS))


@pytest.mark.parametrize("module", [rust, twin], ids=["rust", "twin"])
def test_murmur3_128_many_fills_an_n_by_2_array(module: Any) -> None:
    out = np.zeros((len(KEYS), 2), dtype=np.uint64)
    assert module.murmur3_128_many(KEYS, 5, out=out) is out
    np.testing.assert_array_equal(out, rust.murmur3_128_many(KEYS, 5))


def unusable(n: int, dtype: Any) -> list[tuple[str, Any]]:
    readonly = np.zeros(n, dtype=dtype)
    readonly.flags.writeable = False
    other = np.int64 if np.dtype(dtype) != np.int64 else np.uint64
    return [
        ("dtype", np.zeros(n, dtype=other)),
        ("2-D", np.zeros((n, 1), dtype=dtype)),
        ("list", [0] * n),
        ("short", np.zeros(n - 1, dtype=dtype)),
        ("read-only", readonly),
        ("strided", np.zeros(2 * n, dtype=dtype)[::2]),
    ]


@pytest.mark.parametrize("name", ["xxh3_64_many", "crc16_many", "jump_many"])
@pytest.mark.parametrize("case", range(6), ids=[c[0] for c in unusable(3, np.uint64)])
def test_unusable_out_same_error_in_rust_and_twin(name: str, case: int) -> None:
    errors = []
    for module in (rust, twin):
        _, out = unusable(len(KEYS), ONE_D[name][0])[case]
        before = np.array(out, copy=True)
        with pytest.raises((TypeError, ValueError)) as info:
            call(module, name, KEYS, out=out)
        np.testing.assert_array_equal(np.asarray(out), before)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]
    assert "out" in errors[0][1]


@pytest.mark.parametrize(
    ("shape", "exc", "message"),
    [
        ((5,), TypeError, r"out must be a \(5, 2\) numpy array of uint64"),
        ((5, 3), ValueError, r"out has shape \(5, 3\) but \(5, 2\) is needed"),
    ],
)
def test_murmur3_128_many_wrong_shapes(shape: tuple[int, ...], exc: type[Exception], message: str) -> None:
    for module in (rust, twin):
        with pytest.raises(exc, match=message):
            module.murmur3_128_many(KEYS, out=np.zeros(shape, dtype=np.uint64))


def test_out_sharing_memory_with_the_keys_is_refused() -> None:
    # hashing in place would read keys the same call is overwriting
    buffer = np.arange(64, dtype=np.uint64)
    with pytest.raises(ValueError, match="must not share memory with the keys"):
        rust.xxh3_64_many(buffer, out=buffer)
    np.testing.assert_array_equal(buffer, np.arange(64, dtype=np.uint64))
    # the same bytes through two different base objects: a wrong hash before, refused now
    raw = bytearray(np.arange(64, dtype=np.uint64).tobytes())
    keys, out = np.frombuffer(raw, dtype=np.uint64), np.frombuffer(raw, dtype=np.uint64)
    for module in (rust, twin):
        with pytest.raises(ValueError, match="must not share memory with the keys"):
            module.xxh3_64_many(keys, out=out)
    np.testing.assert_array_equal(keys, np.arange(64, dtype=np.uint64))
