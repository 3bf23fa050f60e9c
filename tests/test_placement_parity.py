"""Rust == pure twin, under hypothesis: node sets, weights, keys and change sequences."""

from __future__ import annotations

from typing import Any

import numpy as np
import shardwise
import shardwise.pure.placement as pure
from hypothesis import given
from hypothesis import strategies as st
from shardwise.errors import ShardwiseError

names = st.text(min_size=1, max_size=10)
float_weights = st.floats(min_value=0.05, max_value=8.0, allow_nan=False)
int_weights = st.integers(min_value=1, max_value=300)
key_lists = st.one_of(
    st.lists(st.text(max_size=16), max_size=40),
    st.lists(st.binary(max_size=16), max_size=40),
    st.lists(st.integers(min_value=-(2**63), max_value=2**64 - 1), max_size=40),
)

HASHES = ["xxh3_64", "xxh64", "murmur3_32", "fnv1a_32", "fnv1a_64", "crc32", "ketama"]


def node_maps(weights: st.SearchStrategy[Any], max_size: int = 12) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(names, weights, min_size=1, max_size=max_size)


def same_answers(rust: Any, twin: Any, keys: list[Any]) -> None:
    assert rust.nodes == twin.nodes
    assert rust.weights == twin.weights
    assert rust.to_state() == twin.to_state()
    np.testing.assert_array_equal(rust.place(keys), twin.place(keys))
    for key in keys[:10]:
        assert rust.get_node(key) == twin.get_node(key)
        n = min(len(rust), 3)
        assert rust.get_nodes(key, n) == twin.get_nodes(key, n)
        assert rust.get_nodes(key, len(rust)) == twin.get_nodes(key, len(twin))


changes = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "weight"]), names, st.integers(1, 5)), max_size=5
)


def apply_changes(objs: tuple[Any, Any], ops: list[tuple[str, str, int]], weighted: bool) -> None:
    """Apply each change to both objects; they must agree on success or on the error class."""
    for op, name, w in ops:
        weight = w if weighted else 1
        outcomes = []
        for obj in objs:
            try:
                if op == "add":
                    obj.add_node(name, weight)
                elif op == "remove":
                    target = obj.nodes[w % len(obj)] if len(obj) else name
                    obj.remove_node(target)
                else:
                    target = obj.nodes[w % len(obj)] if len(obj) else name
                    obj.set_weight(target, weight)
                outcomes.append(None)
            except (ShardwiseError, TypeError) as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1], (op, name, outcomes)


@given(node_maps(float_weights), st.integers(1, 40), st.sampled_from(HASHES), key_lists, changes)
def test_hash_ring(nodes: dict[str, float], vnodes: int, hash: str, keys: list[Any], ops: Any) -> None:
    kw = {"vnodes": vnodes, "hash": hash}
    objs = (shardwise.HashRing(nodes, **kw), pure.HashRing(nodes, **kw))
    same_answers(*objs, keys)
    apply_changes(objs, ops, weighted=True)
    if len(objs[0]):
        same_answers(*objs, keys)


@given(node_maps(int_weights, 30), st.sampled_from(["libketama", "uhashring"]), key_lists, changes)
def test_ketama(nodes: dict[str, int], flavor: str, keys: list[Any], ops: Any) -> None:
    nodes = {k[:5]: w for k, w in nodes.items()}  # libketama: names of at most 21 bytes
    objs = (shardwise.KetamaRing(nodes, flavor=flavor), pure.KetamaRing(nodes, flavor=flavor))
    same_answers(*objs, keys)
    apply_changes(objs, ops, weighted=True)
    if len(objs[0]):
        same_answers(*objs, keys)


@given(st.lists(names, min_size=1, max_size=40, unique=True), key_lists, changes)
def test_jump_hash(nodes: list[str], keys: list[Any], ops: Any) -> None:
    objs = (shardwise.JumpHash(nodes), pure.JumpHash(nodes))
    same_answers(*objs, keys)
    apply_changes(objs, ops, weighted=False)
    if len(objs[0]):
        same_answers(*objs, keys)


@given(key_lists, st.integers(1, 2**31 - 1))
def test_raw_jump(keys: list[Any], buckets: int) -> None:
    got = shardwise.hashing.jump_many(keys, buckets)
    np.testing.assert_array_equal(got, pure.jump_many(keys, buckets))
    assert [shardwise.hashing.jump(k, buckets) for k in keys] == got.tolist()


@given(st.one_of(node_maps(float_weights, 20), node_maps(st.just(2.0), 20)), key_lists, changes)
def test_rendezvous(nodes: dict[str, float], keys: list[Any], ops: Any) -> None:
    objs = (shardwise.Rendezvous(nodes), pure.Rendezvous(nodes))
    same_answers(*objs, keys)
    apply_changes(objs, ops, weighted=True)
    if len(objs[0]):
        same_answers(*objs, keys)


@given(node_maps(st.integers(1, 6), 12), st.sampled_from([2, 3, 4, 16]), key_lists, changes)
def test_skeleton_rendezvous(nodes: dict[str, int], fanout: int, keys: list[Any], ops: Any) -> None:
    objs = (shardwise.SkeletonRendezvous(nodes, fanout=fanout), pure.SkeletonRendezvous(nodes, fanout=fanout))
    same_answers(*objs, keys)
    apply_changes(objs, ops, weighted=True)
    if len(objs[0]):
        same_answers(*objs, keys)


@given(node_maps(float_weights, 12), st.sampled_from([13, 101, 1009]), key_lists, changes)
def test_maglev(nodes: dict[str, float], size: int, keys: list[Any], ops: Any) -> None:
    objs = (shardwise.Maglev(nodes, table_size=size), pure.Maglev(nodes, table_size=size))
    same_answers(*objs, keys)
    apply_changes(objs, ops, weighted=True)
    if len(objs[0]):
        same_answers(*objs, keys)
