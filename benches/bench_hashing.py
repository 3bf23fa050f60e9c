"""Hashing: shardwise (Rust) vs its pure-Python twin vs the oracle packages (xxhash, mmh3, zlib,
hashlib), one key at a time and in bulk.

Each benchmark records ``keys`` (keys hashed per call) and ``ns_per_key`` (from the fastest round)
in ``extra_info``; ``--benchmark-json`` keeps both. Figures go to BENCHMARKS.md, never to asserts.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import mmh3
import numpy as np
import pytest
import shardwise.hashing as rust
import shardwise.pure.hashing as pure
import xxhash
from bench_support import SMOKE, size

N_INTS = size(10_000_000)
N_STRS = size(1_000_000)
N_LOOP = size(1_000_000)  # Python loops over an oracle package
N_PURE = size(20_000, 200)  # the pure twin is slow: a small input, so the run finishes
KEY = "user:0000001234:x"  # ~16 characters


@pytest.fixture(scope="module")
def ints() -> np.ndarray[Any, Any]:
    return np.random.default_rng(1).integers(0, 2**64, size=N_INTS, dtype=np.uint64)


@pytest.fixture(scope="module")
def strs() -> list[str]:
    rng = np.random.default_rng(2)
    return [f"user:{v:010d}:x" for v in rng.integers(0, 10**10, size=N_STRS)]


@pytest.fixture
def one_thread() -> Iterator[None]:
    rust.set_num_threads(1)
    yield
    rust.set_num_threads(0)


def run(benchmark: Any, keys: int, fn: Callable[..., object], *args: object, slow: bool = False) -> None:
    """Benchmark ``fn(*args)`` (which hashes ``keys`` keys) and record ns/key."""
    if slow:
        benchmark.pedantic(fn, args=args, rounds=1 if SMOKE else 3, iterations=1, warmup_rounds=0)
    else:
        benchmark(fn, *args)
    benchmark.extra_info["keys"] = keys
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["ns_per_key"] = round(stats.stats.min / keys * 1e9, 3)


# ----- bulk over uint64 keys ------------------------------------------------------------------


@pytest.mark.benchmark(group="bulk-uint64")
@pytest.mark.usefixtures("one_thread")
def test_rust_xxh3_many_uint64_one_thread(benchmark: Any, ints: np.ndarray[Any, Any]) -> None:
    run(benchmark, len(ints), rust.xxh3_64_many, ints)


@pytest.mark.benchmark(group="bulk-uint64")
@pytest.mark.usefixtures("one_thread")
def test_rust_xxh3_many_uint64_one_thread_out(benchmark: Any, ints: np.ndarray[Any, Any]) -> None:
    # Refilling one array (out=): no fresh 80 MB output to fault in per call.
    out = np.empty(len(ints), dtype=np.uint64)
    run(benchmark, len(ints), lambda: rust.xxh3_64_many(ints, out=out))


@pytest.mark.benchmark(group="bulk-uint64")
def test_numpy_multiply_uint64_into_out(benchmark: Any, ints: np.ndarray[Any, Any]) -> None:
    # Not a hash: numpy writing into an existing array (out=), for scale.
    out = np.empty(len(ints), dtype=np.uint64)
    run(benchmark, len(ints), lambda: np.multiply(ints, np.uint64(3), out=out))


@pytest.mark.benchmark(group="bulk-uint64")
def test_rust_xxh3_many_uint64_all_threads(benchmark: Any, ints: np.ndarray[Any, Any]) -> None:
    run(benchmark, len(ints), rust.xxh3_64_many, ints)


@pytest.mark.benchmark(group="bulk-uint64")
def test_numpy_multiply_uint64_memory_floor(benchmark: Any, ints: np.ndarray[Any, Any]) -> None:
    # Not a hash: allocating and writing a fresh output array, for scale.
    run(benchmark, len(ints), np.multiply, ints, np.uint64(3))


@pytest.mark.benchmark(group="bulk-uint64")
@pytest.mark.usefixtures("one_thread")
def test_rust_murmur3_32_many_uint64_one_thread(benchmark: Any, ints: np.ndarray[Any, Any]) -> None:
    run(benchmark, len(ints), rust.murmur3_32_many, ints)


@pytest.mark.benchmark(group="bulk-uint64")
def test_rust_xxh3_many_python_int_list(benchmark: Any, ints: np.ndarray[Any, Any]) -> None:
    values = ints[:N_LOOP].tolist()
    run(benchmark, len(values), rust.xxh3_64_many, values)


@pytest.mark.benchmark(group="bulk-uint64")
def test_xxhash_loop_uint64(benchmark: Any, ints: np.ndarray[Any, Any]) -> None:
    values = ints[:N_LOOP].tolist()
    digest = xxhash.xxh3_64_intdigest
    run(benchmark, len(values), lambda: [digest(v.to_bytes(8, "little")) for v in values], slow=True)


@pytest.mark.benchmark(group="bulk-uint64")
def test_pure_xxh3_many_uint64(benchmark: Any, ints: np.ndarray[Any, Any]) -> None:
    small = ints[:N_PURE]
    run(benchmark, len(small), pure.xxh3_64_many, small, slow=True)


# ----- bulk over ~16-character str keys -------------------------------------------------------


@pytest.mark.benchmark(group="bulk-str")
def test_rust_xxh3_many_str_list(benchmark: Any, strs: list[str]) -> None:
    run(benchmark, len(strs), rust.xxh3_64_many, strs)


@pytest.mark.benchmark(group="bulk-str")
@pytest.mark.usefixtures("one_thread")
def test_rust_xxh3_many_str_list_one_thread(benchmark: Any, strs: list[str]) -> None:
    run(benchmark, len(strs), rust.xxh3_64_many, strs)


@pytest.mark.benchmark(group="bulk-str")
def test_rust_xxh3_many_str_u_array(benchmark: Any, strs: list[str]) -> None:
    arr = np.array(strs)
    run(benchmark, len(arr), rust.xxh3_64_many, arr)


@pytest.mark.benchmark(group="bulk-str")
def test_xxhash_loop_str(benchmark: Any, strs: list[str]) -> None:
    digest = xxhash.xxh3_64_intdigest
    run(benchmark, len(strs), lambda: [digest(s.encode()) for s in strs], slow=True)


@pytest.mark.benchmark(group="bulk-str")
def test_rust_murmur3_32_many_str_list(benchmark: Any, strs: list[str]) -> None:
    run(benchmark, len(strs), rust.murmur3_32_many, strs)


@pytest.mark.benchmark(group="bulk-str")
def test_mmh3_loop_str(benchmark: Any, strs: list[str]) -> None:
    run(benchmark, len(strs), lambda: [mmh3.hash(s, 0, False) for s in strs], slow=True)


@pytest.mark.benchmark(group="bulk-str")
def test_rust_crc32_many_str_list(benchmark: Any, strs: list[str]) -> None:
    run(benchmark, len(strs), rust.crc32_many, strs)


@pytest.mark.benchmark(group="bulk-str")
def test_zlib_crc32_loop_str(benchmark: Any, strs: list[str]) -> None:
    run(benchmark, len(strs), lambda: [zlib.crc32(s.encode()) for s in strs], slow=True)


@pytest.mark.benchmark(group="bulk-str")
def test_rust_ketama_many_str_list(benchmark: Any, strs: list[str]) -> None:
    run(benchmark, len(strs), rust.ketama_many, strs)


@pytest.mark.benchmark(group="bulk-str")
def test_hashlib_md5_loop_str(benchmark: Any, strs: list[str]) -> None:
    def loop() -> list[int]:
        md5 = hashlib.md5
        return [int.from_bytes(md5(s.encode()).digest()[:4], "little") for s in strs]

    run(benchmark, len(strs), loop, slow=True)


@pytest.mark.benchmark(group="bulk-str")
def test_rust_redis_slot_many_str_list(benchmark: Any, strs: list[str]) -> None:
    run(benchmark, len(strs), rust.redis_slot_many, strs)


@pytest.mark.benchmark(group="bulk-str")
def test_pure_xxh3_many_str(benchmark: Any, strs: list[str]) -> None:
    small = strs[:N_PURE]
    run(benchmark, len(small), pure.xxh3_64_many, small, slow=True)


@pytest.mark.benchmark(group="bulk-str")
def test_pure_redis_slot_many_str(benchmark: Any, strs: list[str]) -> None:
    small = strs[:N_PURE]
    run(benchmark, len(small), pure.redis_slot_many, small, slow=True)


# ----- one key per call -----------------------------------------------------------------------


@pytest.mark.benchmark(group="one-key")
def test_onekey_rust_xxh3_str(benchmark: Any) -> None:
    run(benchmark, 1, rust.xxh3_64, KEY)


@pytest.mark.benchmark(group="one-key")
def test_onekey_rust_xxh3_int(benchmark: Any) -> None:
    run(benchmark, 1, rust.xxh3_64, 1234567)


@pytest.mark.benchmark(group="one-key")
def test_onekey_xxhash_bytes(benchmark: Any) -> None:
    key = KEY.encode()
    run(benchmark, 1, xxhash.xxh3_64_intdigest, key)


@pytest.mark.benchmark(group="one-key")
def test_onekey_xxhash_str_encoded(benchmark: Any) -> None:
    run(benchmark, 1, lambda: xxhash.xxh3_64_intdigest(KEY.encode()))


@pytest.mark.benchmark(group="one-key")
def test_onekey_rust_murmur3_32_str(benchmark: Any) -> None:
    run(benchmark, 1, rust.murmur3_32, KEY)


@pytest.mark.benchmark(group="one-key")
def test_onekey_mmh3_str(benchmark: Any) -> None:
    run(benchmark, 1, mmh3.hash, KEY, 0, False)


@pytest.mark.benchmark(group="one-key")
def test_onekey_rust_redis_slot_str(benchmark: Any) -> None:
    run(benchmark, 1, rust.redis_slot, KEY)


@pytest.mark.benchmark(group="one-key")
def test_onekey_pure_xxh3_str(benchmark: Any) -> None:
    run(benchmark, 1, pure.xxh3_64, KEY)


@pytest.mark.benchmark(group="one-key")
def test_onekey_pure_redis_slot_str(benchmark: Any) -> None:
    run(benchmark, 1, pure.redis_slot, KEY)
