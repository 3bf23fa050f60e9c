"""JumpHash and shardwise.hashing.jump against the `jump-consistent-hash` package (the paper's code)."""

from __future__ import annotations

import jump as jump_oracle
import numpy as np
import pytest
import shardwise
import shardwise.pure.placement as pure
from shardwise.errors import ConfigurationError


def test_jump_matches_reference_code() -> None:
    rng = np.random.default_rng(11)
    keys = rng.integers(0, 2**64 - 1, size=20_000, dtype=np.uint64, endpoint=True)
    keys[:4] = [0, 1, 2**63, 2**64 - 1]
    for buckets in (1, 2, 3, 10, 1000, 65_537, 2**31 - 1):
        want = [jump_oracle.hash(int(k), buckets) for k in keys]
        assert shardwise.hashing.jump_many(keys, buckets).tolist() == want
        assert [shardwise.hashing.jump(int(k), buckets) for k in keys[:300]] == want[:300]
        assert [pure.jump(int(k), buckets) for k in keys[:300]] == want[:300]


def test_negative_and_signed_keys_are_their_64_bit_pattern() -> None:
    for k in (-1, -(2**63), -12345):
        assert shardwise.hashing.jump(k, 1000) == jump_oracle.hash(k % 2**64, 1000) == pure.jump(k, 1000)
    signed = np.array([-1, -5, 7], dtype=np.int64)
    want = [jump_oracle.hash(int(k) % 2**64, 77) for k in signed]
    assert shardwise.hashing.jump_many(signed, 77).tolist() == want


def test_jump_hash_class_uses_int_keys_raw_and_hashes_others() -> None:
    nodes = [f"n{i}" for i in range(37)]
    ring = shardwise.JumpHash(nodes)
    for k in range(500):
        assert ring.get_node(k) == nodes[jump_oracle.hash(k, 37)]
    xxh = shardwise.hashing.xxh3_64
    for k in ("user:1", b"raw", ""):
        assert ring.get_node(k) == nodes[jump_oracle.hash(xxh(k), 37)]


def test_bad_bucket_counts() -> None:
    for fn in (shardwise.hashing.jump, pure.jump):
        for bad in (0, -1, 2**31, 10**40):
            with pytest.raises(ConfigurationError, match="num_buckets"):
                fn(1, bad)
        with pytest.raises(TypeError):
            fn(1, 2.5)
    with pytest.raises(ConfigurationError):
        shardwise.hashing.jump_many([1, 2], 0)


def test_growing_moves_keys_only_to_the_new_node() -> None:
    keys = np.arange(100_000, dtype=np.uint64)
    ring = shardwise.JumpHash([f"n{i}" for i in range(9)])
    before = ring.place(keys)
    ring.add_node("n9")
    after = ring.place(keys)
    moved = before != after
    assert (after[moved] == 9).all()
    assert abs(moved.mean() - 1 / 10) < 0.01
    ring.remove_node("n9")  # the last node: allowed, and exactly undoes the growth
    np.testing.assert_array_equal(ring.place(keys), before)
