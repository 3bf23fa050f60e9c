"""JumpBackHash, FlipHash, BinomialHash, AnchorHash and DxHash: reference vectors, the papers'
properties, and Rust == twin through histories of removals and additions.

The vectors were printed by the reference crates themselves (``jump-back-hash`` 0.1 driven by
SplitMix64 seeded with the key, ``fliphash`` 0.1's ``fliphash_64``, ``anchorhash`` 0.2 over
XXH3-64 of the int keys); ``cargo test -p shardwise-core`` checks the same equalities on 20,000
keys per bucket count against the crates directly.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import shardwise
import shardwise.pure.placement as pure
from hypothesis import given, settings
from hypothesis import strategies as st
from shardwise.errors import ConfigurationError

KEYS = [0, 1, 42, 2**63, 2**64 - 1, 12345678901234567890]
# bucket count -> the crate's bucket for each of KEYS
JUMP_BACK = {
    1: [0, 0, 0, 0, 0, 0],
    2: [0, 1, 1, 1, 1, 1],
    10: [7, 5, 3, 1, 7, 2],
    1000: [313, 492, 166, 674, 288, 611],
    65537: [19887, 23745, 29222, 8354, 27680, 611],
}
FLIP = {
    1: [0, 0, 0, 0, 0, 0],
    2: [0, 1, 0, 1, 1, 0],
    10: [0, 9, 4, 8, 5, 5],
    1000: [0, 636, 792, 512, 272, 597],
    65537: [0, 47489, 23951, 16384, 57010, 18070],
}
RANGE_HASHES = ["JumpBackHash", "FlipHash", "BinomialHash"]
FIXED = ["AnchorHash", "DxHash"]


def names(n: int) -> list[str]:
    return [f"n{i}" for i in range(n)]


def both(class_name: str) -> list[type]:
    return [getattr(shardwise, class_name), pure.CLASSES[class_name]]


@pytest.mark.parametrize(("class_name", "vectors"), [("JumpBackHash", JUMP_BACK), ("FlipHash", FLIP)])
def test_reference_crate_vectors(class_name: str, vectors: dict[int, list[int]]) -> None:
    for cls in both(class_name):
        for n, want in vectors.items():
            p = cls(names(n))
            assert [p.get_node(k) for k in KEYS] == [f"n{b}" for b in want], (cls, n)
            if cls is getattr(shardwise, class_name):
                assert p.place(np.array(KEYS, dtype=np.uint64)).tolist() == want


def test_anchorhash_crate_vector_after_removals() -> None:
    want = [6, 6, 9, 9, 2, 6, 4, 4, 0, 1, 5, 5]  # anchorhash: capacity 16, ids 0..9, remove 3 then 7
    for cls in both("AnchorHash"):
        p = cls(names(10), capacity=16)
        p.remove_node("n3")
        p.remove_node("n7")
        assert [p.get_node(k) for k in range(12)] == [f"n{i}" for i in want]


@pytest.mark.parametrize("class_name", RANGE_HASHES)
def test_growing_moves_keys_only_to_the_new_node(class_name: str) -> None:
    keys = np.random.default_rng(3).integers(0, 2**63, size=200_000, dtype=np.uint64)
    cls = getattr(shardwise, class_name)
    for n in (7, 8, 100):
        p = cls(names(n))
        before = p.place(keys)
        p.add_node(f"n{n}")
        after = p.place(keys)
        moved = before != after
        assert (after[moved] == n).all()
        assert abs(moved.mean() - 1 / (n + 1)) < 0.15 / (n + 1) + 0.002
        counts = np.bincount(after, minlength=n + 1)
        assert counts.max() / counts.mean() < 1.1
        p.remove_node(f"n{n}")
        np.testing.assert_array_equal(p.place(keys), before)
        with pytest.raises(ConfigurationError, match="only remove its last node"):
            p.remove_node("n0")


@pytest.mark.parametrize("class_name", FIXED)
def test_any_removal_moves_only_that_nodes_keys_and_adding_back_restores(class_name: str) -> None:
    keys = np.arange(100_000, dtype=np.uint64)
    p = getattr(shardwise, class_name)(names(20), capacity=32)
    before = np.array(p.nodes)[p.place(keys)]
    for victim in ("n3", "n11", "n0"):
        p.remove_node(victim)
        after = np.array(p.nodes)[p.place(keys)]
        changed = before != after
        assert (before[changed] == victim).all() and (before == victim).sum() == changed.sum()
        assert len(set(after[changed])) >= 10, "the removed node's keys spread out"
        before = after
    for victim in ("n0", "n11", "n3"):  # last out, first in: each addition undoes a removal
        p.add_node(victim)
    restored = getattr(shardwise, class_name)(names(20), capacity=32)
    owners = np.array(p.nodes)[p.place(keys)]
    np.testing.assert_array_equal(owners, np.array(restored.nodes)[restored.place(keys)])


@pytest.mark.parametrize("class_name", FIXED)
def test_capacity_is_a_hard_limit_with_a_clear_error(class_name: str) -> None:
    for cls in both(class_name):
        p = cls(["a", "b"], capacity=3)
        assert p.capacity == 3
        p.add_node("c")
        with pytest.raises(ConfigurationError, match="full: its capacity of 3 nodes"):
            p.add_node("d")
        with pytest.raises(ConfigurationError, match="capacity 1 is smaller than its 2 nodes"):
            cls(["a", "b"], capacity=1)
        assert cls(names(40)).capacity == 80
        assert cls().capacity == 16


def test_dxhash_weights_set_the_shares_and_reweighting_moves_only_that_node() -> None:
    keys = np.arange(300_000, dtype=np.uint64)
    weights = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 1.0}
    p = shardwise.DxHash(weights, capacity=8)
    assert p.max_weight == 4.0
    before = p.place(keys)
    shares = np.bincount(before, minlength=4) / len(keys)
    assert np.allclose(shares, np.array(list(weights.values())) / 8.0, atol=0.01)
    p.set_weight("c", 2.0)
    after = p.place(keys)
    changed = before != after
    assert (before[changed] == 2).all() and changed.any()
    with pytest.raises(ConfigurationError, match=r"exceeds DxHash's max_weight 4\.0"):
        p.set_weight("a", 5)
    q = shardwise.DxHash(weights, capacity=8, max_weight=10)
    q.set_weight("a", 9.5)
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ConfigurationError, match="max_weight"):
            shardwise.DxHash(weights, max_weight=bad)
    with pytest.raises(TypeError, match="max_weight"):
        shardwise.DxHash(weights, max_weight="2")


def test_dxhash_refuses_weights_too_light_for_its_draws() -> None:
    messages = []
    for cls in both("DxHash"):
        with pytest.raises(
            ConfigurationError, match=r"under DxHash's max_weight 1099511627776\.0 / 2\*\*20"
        ) as info:
            cls({"a": 1.0}, max_weight=2.0**40)
        messages.append(str(info.value))
        p = cls({"a": 1.0, "b": 1.0}, max_weight=2.0**20)
        with pytest.raises(ConfigurationError, match="too light"):
            p.set_weight("a", 0.5)
    assert messages[0] == messages[1]


def test_dxhash_default_max_weight_is_the_largest_weight() -> None:
    light = {"a": 0.01, "b": 0.01, "c": 0.01}
    for cls in both("DxHash"):
        assert cls(light, capacity=40).max_weight == 0.01
        assert cls({"a": 2.0, "b": 0.5}).max_weight == 2.0
        assert cls().max_weight == 1.0
    shares = np.bincount(shardwise.DxHash(light, capacity=40).place(np.arange(60_000)), minlength=3) / 60_000
    assert np.allclose(shares, 1 / 3, atol=0.02), shares


@pytest.mark.parametrize("max_weight", [1000.0, 2.0**19])
def test_dxhash_keeps_weight_shares_when_max_weight_is_far_above_the_weights(max_weight: float) -> None:
    """Probes rarely keep a bucket then: the later rounds (doubled keep chances) still choose
    in proportion to weight, not the lowest working bucket."""
    keys = np.arange(60_000, dtype=np.uint64)
    weights = {"a": 1.0, "b": 1.0, "c": 2.0}
    p = shardwise.DxHash(weights, capacity=4, max_weight=max_weight)
    index = p.place(keys)
    shares = np.bincount(index, minlength=3) / len(keys)
    assert np.allclose(shares, [0.25, 0.25, 0.5], atol=0.02), shares
    twin = pure.DxHash(weights, capacity=4, max_weight=max_weight)
    assert [twin.get_node(int(k)) for k in keys[:300]] == [p.get_node(int(k)) for k in keys[:300]]
    before = np.array(p.nodes)[index]
    p.remove_node("b")
    after = np.array(p.nodes)[p.place(keys)]
    changed = before != after
    assert (before[changed] == "b").all() and (before == "b").sum() == changed.sum(), "only b's keys moved"


@pytest.mark.parametrize("class_name", [*FIXED, "MementoHash"])
@pytest.mark.parametrize("field", ["slots", "removed"])
@pytest.mark.parametrize("bad", [True, 1.0, -1, 2**32, "1"])
def test_saved_state_lists_take_only_ints(class_name: str, field: str, bad: object) -> None:
    state = getattr(shardwise, class_name)(["a", "b"]).to_state()
    state["params"][field] = [*state["params"][field], bad]
    messages = []
    for cls in both(class_name):
        with pytest.raises(ConfigurationError, match="params need int lists") as info:
            cls.from_state(state)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("class_name", FIXED)
def test_history_survives_pickling_and_copies(class_name: str) -> None:
    p = getattr(shardwise, class_name)(names(12), capacity=20)
    for victim in ("n4", "n9", "n1"):
        p.remove_node(victim)
    q = pickle.loads(pickle.dumps(p))
    assert q == p and q.to_state() == p.to_state()
    twin = pure.from_state(p.to_state())
    for obj in (q, p.copy(), twin):
        obj.add_node("new")
        assert [obj.get_node(k) for k in range(300)] == [q.get_node(k) for k in range(300)]
    fresh = getattr(shardwise, class_name)(names(9), capacity=20)
    assert fresh != p, "same node count, different history"


OPS = st.lists(st.tuples(st.sampled_from(["add", "remove", "weight"]), st.integers(0, 10**6)), max_size=25)


@pytest.mark.parametrize("class_name", FIXED)
@settings(max_examples=40, deadline=None)
@given(ops=OPS, capacity=st.integers(1, 40))
def test_rust_equals_twin_through_any_history(
    class_name: str, ops: list[tuple[str, int]], capacity: int
) -> None:
    start = names(min(capacity, 5))
    kwargs: dict[str, float] = {"max_weight": 3.0} if class_name == "DxHash" else {}
    objs = [cls(start, capacity=capacity, **kwargs) for cls in both(class_name)]
    for serial, (op, x) in enumerate(ops):
        outcomes = []
        for obj in objs:
            try:
                if op == "add":
                    obj.add_node(f"m{serial}")
                elif op == "remove" and len(obj):
                    obj.remove_node(obj.nodes[x % len(obj)])
                elif op == "weight" and len(obj) and class_name == "DxHash":
                    obj.set_weight(obj.nodes[x % len(obj)], 0.25 + (x % 11) / 4)
                outcomes.append("ok")
            except ConfigurationError as exc:
                outcomes.append(str(exc))
        assert outcomes[0] == outcomes[1]
        assert objs[0].to_state() == objs[1].to_state()
    if len(objs[0]):
        sample = [*range(50), "k", b"\x00", "ключ"]
        assert [objs[0].get_node(k) for k in sample] == [objs[1].get_node(k) for k in sample]
        n = min(3, len(objs[0]))
        assert objs[0].get_nodes("key", n) == objs[1].get_nodes("key", n)
