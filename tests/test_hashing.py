"""Hash values: Rust one-key, Rust bulk and the pure twin against independent oracles
(xxhash, mmh3, zlib, hashlib, binascii) and published test vectors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import shardwise
import shardwise.hashing as rust
import shardwise.pure.hashing as pure
from hashing_cases import IMPLEMENTATIONS, ORACLE_SPECS, SPEC_IDS, SPECS, Spec, as_int, many_as_ints
from hypothesis import given
from hypothesis import strategies as st

ORACLE_IDS = [s.name for s in ORACLE_SPECS]
seeds64 = st.integers(0, 2**64 - 1)
# Lengths around every XXH3/XXH64/Murmur3 branch boundary, plus long multi-block inputs.
LONG_LENGTHS = [127, 128, 129, 239, 240, 241, 255, 256, 1023, 1024, 1025, 2047, 2048, 4097, 10_000]


def _seed_for(spec: Spec, seed: int) -> int:
    return seed % (1 << spec.seed_bits) if spec.seed_bits else 0


def check_all_paths(spec: Spec, data: bytes, seed: int) -> None:
    """Rust one-key, Rust bulk (bytes and bytearray list) and pure twin all equal the oracle."""
    assert spec.oracle is not None
    seed = _seed_for(spec, seed)
    expected = spec.oracle(data, seed)
    assert spec.one(rust, data, seed) == expected
    assert spec.one(pure, data, seed) == expected
    assert many_as_ints(spec, rust, [data, bytearray(data)], seed) == [expected, expected]
    assert many_as_ints(spec, pure, (data,), seed) == [expected]


@pytest.mark.parametrize("spec", ORACLE_SPECS, ids=ORACLE_IDS)
@pytest.mark.parametrize("length", list(range(65)) + LONG_LENGTHS)
def test_every_length_matches_oracle(spec: Spec, length: int) -> None:
    rng = random.Random(length * 7919 + len(spec.name))
    data = bytes(rng.randrange(256) for _ in range(length))
    for seed in (0, 1, rng.getrandbits(64), 2**64 - 1):
        check_all_paths(spec, data, seed)


@pytest.mark.parametrize("spec", ORACLE_SPECS, ids=ORACLE_IDS)
@given(data=st.binary(max_size=600), seed=seeds64)
def test_binary_keys_match_oracle(spec: Spec, data: bytes, seed: int) -> None:
    check_all_paths(spec, data, seed)


@pytest.mark.parametrize("spec", ORACLE_SPECS, ids=ORACLE_IDS)
@given(text=st.text(max_size=120), seed=seeds64)
def test_str_keys_hash_as_utf8(spec: Spec, text: str, seed: int) -> None:
    assert spec.oracle is not None
    seed = _seed_for(spec, seed)
    expected = spec.oracle(text.encode("utf-8"), seed)
    for module in (rust, pure):
        assert spec.one(module, text, seed) == expected
        assert many_as_ints(spec, module, [text, text], seed) == [expected, expected]
        # numpy U arrays cannot hold trailing NULs: the key is the text numpy shows.
        stored = text.rstrip("\x00")
        assert many_as_ints(spec, module, np.array([text]), seed) == [spec.oracle(stored.encode(), seed)]


@pytest.mark.parametrize("spec", ORACLE_SPECS, ids=ORACLE_IDS)
@given(keys=st.lists(st.binary(max_size=80), max_size=40), seed=seeds64)
def test_bulk_lists_match_oracle(spec: Spec, keys: list[bytes], seed: int) -> None:
    assert spec.oracle is not None
    seed = _seed_for(spec, seed)
    expected = [spec.oracle(k, seed) for k in keys]
    assert many_as_ints(spec, rust, keys, seed) == expected
    assert many_as_ints(spec, pure, keys, seed) == expected
    assert many_as_ints(spec, rust, np.array(keys, dtype=object), seed) == expected


def test_large_bulk_is_parallel_safe_and_matches_oracle() -> None:
    # Large enough to be split over threads in the Rust bulk path.
    rng = np.random.default_rng(5)
    ints = rng.integers(0, 2**64, size=200_000, dtype=np.uint64)
    texts = [f"key-{v:x}" * int(v % 5) for v in ints[:120_000].tolist()]
    for spec in ORACLE_SPECS:
        assert spec.oracle is not None
        got = spec.many(rust, ints)
        got_texts = spec.many(rust, texts)
        picks = rng.integers(0, len(texts), size=200)
        for i in picks:
            key = int(ints[i]).to_bytes(8, "little")
            assert as_int(got[i], spec) == spec.oracle(key, 0), (spec.name, i)
            assert as_int(got_texts[i], spec) == spec.oracle(texts[i].encode(), 0), (spec.name, i)


# Published vectors for the functions without an oracle package (and a few with one).
VECTORS = [
    ("fnv1a_32", b"", 0x811C9DC5),
    ("fnv1a_32", b"a", 0xE40C292C),
    ("fnv1a_32", b"foobar", 0xBF9CF968),
    ("fnv1a_64", b"", 0xCBF29CE484222325),
    ("fnv1a_64", b"a", 0xAF63DC4C8601EC8C),
    ("fnv1a_64", b"foobar", 0x85944171F73967E8),
    ("crc16", b"123456789", 0x31C3),  # CRC-16/XMODEM check value
    ("crc32", b"123456789", 0xCBF43926),  # CRC-32/ISO-HDLC check value
    ("redis_slot", b"123456789", 12739),  # Redis Cluster specification
    ("redis_slot", b"foo", 12182),
    ("xxh64", b"", 0xEF46DB3751D8E999),
    ("xxh3_64", b"", 0x2D06800538D394C2),
    ("ketama", b"", 0xD98C1DD4),  # MD5("") = d41d8cd9...
]


@pytest.mark.parametrize(("name", "data", "expected"), VECTORS)
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_published_vectors(impl: str, name: str, data: bytes, expected: int) -> None:
    module = IMPLEMENTATIONS[impl]
    assert getattr(module, name)(data) == expected
    assert [int(v) for v in getattr(module, name + "_many")([data])] == [expected]


@pytest.mark.parametrize("name", ["fnv1a_32", "fnv1a_64"])
@given(keys=st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=50)), max_size=20))
def test_fnv_rust_equals_twin(name: str, keys: list[bytes | str]) -> None:
    spec = next(s for s in SPECS if s.name == name)
    for key in keys:
        assert spec.one(rust, key) == spec.one(pure, key)
    as_bytes = [k.encode() if isinstance(k, str) else k for k in keys]
    assert many_as_ints(spec, rust, as_bytes) == many_as_ints(spec, pure, as_bytes)
    assert many_as_ints(spec, rust, as_bytes) == [spec.one(pure, k) for k in as_bytes]


REDIS_TAG_CASES = [
    (b"{user1000}.following", b"user1000"),
    (b"{user1000}.followers", b"user1000"),
    (b"foo{}{bar}", b"foo{}{bar}"),
    (b"foo{{bar}}zap", b"{bar"),
    (b"foo{bar}{zap}", b"bar"),
    (b"{}", b"{}"),
    (b"{{a}}", b"{a"),
    (b"a{}b{c}", b"a{}b{c}"),
    (b"{a}{b}", b"a"),
    (b"}{", b"}{"),
    (b"{", b"{"),
    (b"}", b"}"),
    (b"", b""),
]


@pytest.mark.parametrize(("key", "hashed"), REDIS_TAG_CASES)
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_redis_slot_hash_tags(impl: str, key: bytes, hashed: bytes) -> None:
    module = IMPLEMENTATIONS[impl]
    assert module.redis_slot(key) == module.crc16(hashed) % 16384
    assert int(module.redis_slot_many([key])[0]) == module.crc16(hashed) % 16384


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_murmur3_128_many_layout(impl: str) -> None:
    module = IMPLEMENTATIONS[impl]
    keys = [b"", b"a", b"The quick brown fox jumps over the lazy dog", b"x" * 300]
    out = module.murmur3_128_many(keys, 7)
    assert out.shape == (4, 2)
    assert out.dtype == np.uint64
    for row, key in zip(out, keys, strict=True):
        value = module.murmur3_128(key, 7)
        assert int(row[0]) == value & (2**64 - 1)  # h1: the low half
        assert int(row[1]) == value >> 64  # h2: the high half
    empty = module.murmur3_128_many([], 7)
    assert empty.shape == (0, 2)
    assert empty.dtype == np.uint64
    # Known value from the reference implementation (also checked in cargo test).
    assert module.murmur3_128("The quick brown fox jumps over the lazy dog") == (
        0xE34BBC7BBC071B6C | 0x7A433CA9C49A9347 << 64
    )


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_many_output_arrays(impl: str, spec: Spec) -> None:
    module = IMPLEMENTATIONS[impl]
    source = np.arange(10, dtype=np.uint64)
    out = spec.many(module, source)
    want_shape = (10, 2) if spec.name == "murmur3_128" else (10,)
    assert out.shape == want_shape
    assert out.dtype == spec.dtype
    assert out.flags.c_contiguous
    assert out.flags.writeable
    assert not np.shares_memory(out, source)
    empty = spec.many(module, np.array([], dtype=np.uint64))
    assert empty.dtype == spec.dtype
    assert empty.shape == ((0, 2) if spec.name == "murmur3_128" else (0,))


def test_twin_module_has_the_same_api() -> None:
    rust_names = {n for n in rust.__all__ if n not in ("set_num_threads", "get_num_threads")}
    assert set(pure.__all__) == rust_names
    for name in rust_names:
        assert callable(getattr(pure, name))
        assert getattr(pure, name).__doc__
    assert shardwise.set_num_threads is rust.set_num_threads
    assert shardwise.get_num_threads is rust.get_num_threads
