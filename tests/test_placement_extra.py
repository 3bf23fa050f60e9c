"""MementoHash, MultiProbe, BoundedLoadRing, RangePartitioner: Rust == pure twin, oracles,
properties (fixed seeds) and bad input. Redis Cluster slots are in test_placement_redis_slots.py."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
import threading
from typing import Any

import jump
import numpy as np
import pytest
import shardwise
import shardwise.pure.placement as pure
import xxhash
from hypothesis import given
from hypothesis import strategies as st
from shardwise.errors import ConfigurationError, NoNodesError, UnknownNodeError

NAMES = [f"node-{i}" for i in range(10)]
name_lists = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=12, unique=True)
str_keys = st.lists(st.text(max_size=12), min_size=1, max_size=60)
int_keys = st.lists(st.integers(-(2**63), 2**64 - 1), min_size=1, max_size=60)
any_keys = st.one_of(str_keys, int_keys, st.lists(st.binary(max_size=12), min_size=1, max_size=60))


def owners(obj: Any, keys: Any) -> list[str]:
    return [obj.nodes[i] for i in obj.place(keys)]


# ----- parity: Rust == pure twin --------------------------------------------------------------


@given(names=name_lists, keys=any_keys, ops=st.lists(st.integers(0, 10**6), max_size=12))
def test_memento_rust_equals_twin_through_removals(names: list[str], keys: list[Any], ops: list[int]) -> None:
    r, p = shardwise.MementoHash(names), pure.MementoHash(names)
    fresh = 0
    for op in ops:
        if op % 3 and len(r) > 1:
            victim = r.nodes[op % len(r)]
            r.remove_node(victim)
            p.remove_node(victim)
        else:
            fresh += 1
            r.add_node(f"new-{fresh}")
            p.add_node(f"new-{fresh}")
        assert r.to_state() == p.to_state()
    np.testing.assert_array_equal(r.place(keys), p.place(keys))
    for key in keys[:10]:
        assert r.get_node(key) == p.get_node(key)
        assert r.get_nodes(key, len(r)) == p.get_nodes(key, len(r))
    back = shardwise.placement.from_state(p.to_state())
    assert back == r and pure.from_state(r.to_state()) == p


@given(
    nodes=st.dictionaries(st.text(min_size=1, max_size=8), st.integers(1, 4), min_size=1, max_size=10),
    keys=any_keys,
    probes=st.integers(1, 40),
)
def test_multiprobe_rust_equals_twin(nodes: dict[str, int], keys: list[Any], probes: int) -> None:
    r, p = shardwise.MultiProbe(nodes, probes=probes), pure.MultiProbe(nodes, probes=probes)
    np.testing.assert_array_equal(r.place(keys), p.place(keys))
    for key in keys[:10]:
        assert r.get_nodes(key, len(r)) == p.get_nodes(key, len(r))
    assert r.to_state() == p.to_state() and repr(r) == repr(p)


@given(
    nodes=st.dictionaries(
        st.text(min_size=1, max_size=8), st.floats(0.1, 5.0), min_size=1, max_size=8
    ),
    keys=any_keys,
    vnodes=st.integers(1, 30),
    load_factor=st.floats(1.0, 3.0),
)
def test_bounded_rust_equals_twin(
    nodes: dict[str, float], keys: list[Any], vnodes: int, load_factor: float
) -> None:
    r = shardwise.BoundedLoadRing(nodes, vnodes=vnodes, load_factor=load_factor)
    p = pure.BoundedLoadRing(nodes, vnodes=vnodes, load_factor=load_factor)
    np.testing.assert_array_equal(r.place(keys), p.place(keys))
    assert r.capacities(len(keys)) == p.capacities(len(keys))
    for key in keys[:10]:
        assert r.get_nodes(key, len(r)) == p.get_nodes(key, len(r))
    assert r.to_state() == p.to_state()


@given(
    bounds=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20, unique=True),
    keys=int_keys,
)
def test_range_ints_rust_equals_twin_and_searchsorted(bounds: list[int], keys: list[int]) -> None:
    bounds.sort()
    names = [f"r{i % 4}" for i in range(len(bounds) + 1)]
    r, p = shardwise.RangePartitioner(bounds, names), pure.RangePartitioner(bounds, names)
    # Oracle: numpy's searchsorted over signed 64-bit values (the key contract's int patterns).
    signed = np.array([k - 2**64 if k >= 2**63 else k for k in keys], dtype=np.int64)
    ranges = np.searchsorted(np.array(bounds, dtype=np.int64), signed, side="right")
    expected = [names[i] for i in ranges]
    assert owners(r, keys) == expected == owners(p, keys)
    assert [r.get_node(k) for k in keys] == expected
    assert r.to_state() == p.to_state()


@given(bounds=st.lists(st.text(max_size=6), max_size=12, unique=True), keys=str_keys)
def test_range_text_rust_equals_twin_and_searchsorted(bounds: list[str], keys: list[str]) -> None:
    bounds.sort(key=lambda s: s.encode())
    names = [f"r{i % 3}" for i in range(len(bounds) + 1)]
    r, p = shardwise.RangePartitioner(bounds, names), pure.RangePartitioner(bounds, names)
    # Oracle: searchsorted over the UTF-8 bytes as Python objects (bytes compare lexicographically).
    enc = np.empty(len(bounds), dtype=object)
    enc[:] = [b.encode() for b in bounds]
    probe = np.empty(len(keys), dtype=object)
    probe[:] = [k.encode() for k in keys]
    ranges = np.searchsorted(enc, probe, side="right")
    expected = [names[i] for i in ranges]
    assert owners(r, keys) == expected == owners(p, keys)
    for key in keys[:10]:
        assert r.get_nodes(key, len(r)) == p.get_nodes(key, len(r))
    assert r.boundaries == tuple(bounds) and r.to_state() == p.to_state()


# ----- MementoHash properties -----------------------------------------------------------------


def test_memento_without_removals_is_jump_hash() -> None:
    m = shardwise.MementoHash(NAMES)
    ints = [*range(0, 5000, 7), 2**64 - 1, 2**63]
    assert [m.get_node(k) for k in ints] == [NAMES[jump.hash(k, 10)] for k in ints]
    texts = [f"k{i}" for i in range(2000)]
    want = [NAMES[jump.hash(xxhash.xxh3_64_intdigest(k.encode()), 10)] for k in texts]
    assert owners(m, texts) == want
    # ... and exactly shardwise.JumpHash, in bulk and one by one.
    j = shardwise.JumpHash(NAMES)
    np.testing.assert_array_equal(m.place(texts), j.place(texts))
    arr = np.array(ints, dtype=np.uint64)
    np.testing.assert_array_equal(m.place(arr), j.place(arr))


def test_memento_arbitrary_removal_moves_only_that_nodes_keys_and_restore_returns_them() -> None:
    keys = np.arange(200_000, dtype=np.uint64) * np.uint64(2654435761)
    m = shardwise.MementoHash([f"n{i}" for i in range(50)])
    history = []
    rng = np.random.default_rng(7)
    for _ in range(15):
        before = np.array(m.nodes)[m.place(keys)]
        victim = m.nodes[int(rng.integers(len(m)))]
        history.append((victim, before, m.copy()))
        m.remove_node(victim)
        after = np.array(m.nodes)[m.place(keys)]
        moved = before != after
        assert np.all(before[moved] == victim) and not np.any(after == victim)
        # The victim's keys spread over (nearly) all the others.
        assert len(set(after[moved])) >= len(m) * 0.9
        assert moved.mean() == pytest.approx(1 / (len(m) + 1), rel=0.1)
    assert m.removed_count == 15
    for victim, before, snapshot in reversed(history):
        m.add_node(victim)
        np.testing.assert_array_equal(np.array(m.nodes)[m.place(keys)], before)
        assert sorted(m.nodes) == sorted(snapshot.nodes)
    assert m.removed_count == 0


def test_memento_add_in_any_order_moves_keys_only_to_the_new_node() -> None:
    keys = [f"k{i}" for i in range(50_000)]
    for cls in (shardwise.MementoHash, pure.MementoHash):
        m = cls(NAMES)
        m.remove_node("node-2")
        m.remove_node("node-7")
        for name in ("node-2", "brand-new", "node-7"):  # not last-out-first-in
            before = owners(m, keys if cls is shardwise.MementoHash else keys[:2000])
            m.add_node(name)
            after = owners(m, keys if cls is shardwise.MementoHash else keys[:2000])
            changed = {a for a, b in zip(after, before, strict=True) if a != b}
            assert changed == {name}


def test_memento_balance_after_removals_and_growth() -> None:
    m = shardwise.MementoHash([f"n{i}" for i in range(100)])
    for i in range(0, 100, 4):
        m.remove_node(f"n{i}")
    for i in range(10):
        m.add_node(f"extra{i}")
    counts = np.bincount(m.place(np.arange(400_000)), minlength=len(m))
    assert counts.max() / counts.mean() < 1.1 and counts.min() / counts.mean() > 0.9


def test_memento_growth_moves_one_over_n_plus_one() -> None:
    keys = [f"user:{i}" for i in range(100_000)]
    m = shardwise.MementoHash(NAMES)
    before = owners(m, keys)
    m.add_node("node-10")
    after = owners(m, keys)
    moved = [a for a, b in zip(after, before, strict=True) if a != b]
    assert set(moved) == {"node-10"}
    assert len(moved) / len(keys) == pytest.approx(1 / 11, rel=0.1)


def test_memento_refuses_weights_and_bad_state() -> None:
    for cls in (shardwise.MementoHash, pure.MementoHash):
        with pytest.raises(ConfigurationError, match="does not support weights"):
            cls({"a": 2})
        m = cls(["a", "b"])
        with pytest.raises(ConfigurationError, match="does not support weights"):
            m.set_weight("a", 3)
        m.set_weight("a", 1)
        state = m.to_state()
        state["params"]["removed"] = [0]
        with pytest.raises(ConfigurationError, match="invalid MementoHash state"):
            cls.from_state(state)
        with pytest.raises(NoNodesError):
            cls().get_node("k")


# ----- MultiProbe properties ------------------------------------------------------------------


def test_multiprobe_balance_and_removal() -> None:
    keys = np.arange(120_000, dtype=np.int64)
    m = shardwise.MultiProbe([f"n{i}" for i in range(50)])
    counts = np.bincount(m.place(keys), minlength=50)
    assert counts.max() / counts.mean() < 1.2
    one = shardwise.MultiProbe([f"n{i}" for i in range(50)], probes=1)
    assert np.bincount(one.place(keys)).max() / counts.mean() > counts.max() / counts.mean()
    before = np.array(m.nodes)[m.place(keys)]
    m.remove_node("n17")
    after = np.array(m.nodes)[m.place(keys)]
    changed = before != after
    assert np.all(before[changed] == "n17") and changed.mean() == pytest.approx(1 / 50, rel=0.2)
    m.add_node("n17")
    np.testing.assert_array_equal(np.array(m.nodes)[m.place(keys)], before)


def test_multiprobe_weights_and_errors() -> None:
    m = shardwise.MultiProbe({"a": 1, "b": 3}, probes=21)
    share = np.bincount(m.place(np.arange(100_000)), minlength=2) / 100_000
    assert share[1] > 0.6
    for cls in (shardwise.MultiProbe, pure.MultiProbe):
        with pytest.raises(ConfigurationError, match="whole number"):
            cls({"a": 1.5})
        for bad in (0, 1025, 10**30):
            with pytest.raises(ConfigurationError, match="probes"):
                cls(["a"], probes=bad)
        with pytest.raises(ConfigurationError, match="points"):
            cls({"a": 2**25})


# ----- BoundedLoadRing properties -------------------------------------------------------------


@pytest.mark.parametrize("load_factor", [1.0, 1.05, 1.25, 2.0])
def test_bounded_cap_never_exceeded(load_factor: float) -> None:
    rng = np.random.default_rng(3)
    weights = {f"n{i}": float(w) for i, w in enumerate(rng.uniform(0.5, 3.0, 20))}
    b = shardwise.BoundedLoadRing(weights, vnodes=40, load_factor=load_factor)
    for m in (1, 19, 1000, 100_000):
        keys = rng.integers(0, 2**63, m)
        counts = np.bincount(b.place(keys), minlength=20)
        total = sum(weights.values())
        caps = [int(np.ceil(load_factor * m * w / total)) for w in weights.values()]
        assert b.capacities(m) == caps
        assert np.all(counts <= caps), (counts, caps)
        assert counts.sum() == m


def test_bounded_equal_weights_cap_is_ceil_c_average_and_order_matters() -> None:
    b = shardwise.BoundedLoadRing(NAMES, vnodes=20, load_factor=1.1)
    keys = [f"session-{i}" for i in range(10_000)]
    got = b.place(keys)
    assert np.bincount(got, minlength=10).max() <= int(np.ceil(1.1 * 10_000 / 10))
    plain = np.array([b.nodes.index(b.get_node(k)) for k in keys])
    assert (got != plain).any()  # some keys were pushed past a full node
    rev = b.place(keys[::-1])[::-1]
    assert (rev != got).any()  # order dependence, as documented
    # A batch of one is the plain ring; so is any batch in which no node reaches its cap.
    assert [owners(b, [k])[0] for k in keys[:50]] == [b.get_node(k) for k in keys[:50]]
    roomy = shardwise.BoundedLoadRing(NAMES, vnodes=20, load_factor=10.0)
    assert owners(roomy, keys[:5]) == [b.get_node(k) for k in keys[:5]]


def test_bounded_bad_input() -> None:
    for cls in (shardwise.BoundedLoadRing, pure.BoundedLoadRing):
        for bad in (0.99, float("nan"), float("inf"), -1.0):
            with pytest.raises(ConfigurationError, match="load_factor"):
                cls(["a"], load_factor=bad)
        with pytest.raises(TypeError):
            cls(["a"], load_factor="2")
        with pytest.raises(ConfigurationError, match="vnodes"):
            cls(["a"], vnodes=0)
        with pytest.raises(ConfigurationError, match="points"):
            cls({"a": 1e12})
        with pytest.raises(NoNodesError):
            cls().place([1, 2])


# ----- RangePartitioner properties and errors ---------------------------------------------------


def test_range_bulk_matches_searchsorted_on_big_arrays() -> None:
    rng = np.random.default_rng(11)
    bounds = np.unique(rng.integers(-(10**12), 10**12, 999))
    names = [f"shard{i}" for i in range(len(bounds) + 1)]
    r = shardwise.RangePartitioner(bounds, names)
    keys = rng.integers(-(2**62), 2**62, 300_000)
    np.testing.assert_array_equal(r.place(keys), np.searchsorted(bounds, keys, side="right"))
    u = rng.integers(0, 10**12, 1000).astype(np.uint32)
    np.testing.assert_array_equal(r.place(u), np.searchsorted(bounds, u.astype(np.int64), side="right"))
    words = np.array([f"w{i:06d}" for i in rng.integers(0, 10**6, 50_000)])
    splits = sorted({f"w{i:06d}" for i in rng.integers(0, 10**6, 100)})
    t = shardwise.RangePartitioner(splits, [f"s{i}" for i in range(len(splits) + 1)])
    np.testing.assert_array_equal(t.place(words), np.searchsorted(np.array(splits), words, side="right"))
    b = shardwise.RangePartitioner([s.encode() for s in splits], list(t.nodes))
    np.testing.assert_array_equal(b.place(words.astype("S")), t.place(words))


def test_range_owners_repeat_and_get_nodes_walk() -> None:
    r = shardwise.RangePartitioner([100, 200, 300], ["a", "b", "a", "c"])
    assert r.nodes == ("a", "b", "c") and r.range_owners == ("a", "b", "a", "c")
    assert [r.get_node(k) for k in (-5, 100, 250, 300, 10**18)] == ["a", "b", "a", "c", "c"]
    assert r.get_nodes(150, 3) == ["b", "a", "c"] and r.get_nodes(300, 2) == ["c", "a"]
    assert pickle.loads(pickle.dumps(r)) == r and copy.deepcopy(r) == r
    assert r.weights == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_range_bad_input() -> None:
    for cls in (shardwise.RangePartitioner, pure.RangePartitioner):
        with pytest.raises(ConfigurationError, match=r"strictly increasing: boundaries\[2\]"):
            cls([1, 5, 5], ["a", "b", "c", "d"])
        with pytest.raises(ConfigurationError, match=r"boundaries\[1\]"):
            cls(["b", "a"], ["a", "b", "c"])
        with pytest.raises(ConfigurationError, match="3 owners are needed, got 2"):
            cls([1, 2], ["a", "b"])
        with pytest.raises(TypeError, match="one kind"):
            cls([1, "b"], ["a", "b", "c"])
        with pytest.raises(TypeError):
            cls([1.5], ["a", "b"])
        with pytest.raises((OverflowError, ConfigurationError)):
            cls([2**63], ["a", "b"])
        r = cls([10], ["a", "b"])
        with pytest.raises(ConfigurationError, match="keys must be ints"):
            r.get_node("x")
        with pytest.raises(ConfigurationError, match="keys must be ints"):
            r.place(["x"])
        with pytest.raises(ConfigurationError, match="keys must be str or bytes"):
            cls(["m"], ["a", "b"]).place([1])
        with pytest.raises(ConfigurationError, match="cannot add a node"):
            r.add_node("c")
        with pytest.raises(ConfigurationError, match="cannot remove"):
            r.remove_node("a")
        with pytest.raises(UnknownNodeError):
            r.remove_node("zz")
        with pytest.raises(ConfigurationError, match="only 2 exist"):
            r.get_nodes(1, 3)


# ----- shared: get_nodes, pickling across processes, threads ----------------------------------

EXTRA = [
    (shardwise.MementoHash, {}),
    (shardwise.MultiProbe, {}),
    (shardwise.MultiProbe, {"probes": 5}),
    (shardwise.BoundedLoadRing, {"vnodes": 20}),
]


@pytest.mark.parametrize(("cls", "kw"), EXTRA)
def test_get_nodes_distinct_stable_and_failover_consistent(cls: Any, kw: dict[str, Any]) -> None:
    obj = cls(NAMES, **kw)
    for i in range(300):
        key = f"k{i}"
        full = obj.get_nodes(key, 10)
        assert sorted(full) == sorted(NAMES) and full[0] == obj.get_node(key)
        assert obj.get_nodes(key, 3) == full[:3] and obj.get_nodes(key, 3) == full[:3]
    if cls is not shardwise.BoundedLoadRing:
        # The second choice is where the key goes once the first is removed.
        for i in range(100):
            key = f"k{i}"
            first, second = obj.get_nodes(key, 2)
            smaller = obj.copy()
            smaller.remove_node(first)
            assert smaller.get_node(key) == second


def _place_in_child(blob: bytes, keys: list[str]) -> list[int]:
    return [int(i) for i in pickle.loads(blob).place(keys)]


def test_pickle_in_spawned_process_keeps_memento_history() -> None:
    m = shardwise.MementoHash(NAMES)
    m.remove_node("node-3")
    m.remove_node("node-0")
    m.add_node("late")
    keys = [f"k{i}" for i in range(2000)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        got = pool.apply(_place_in_child, (pickle.dumps(m), keys))
    assert got == [int(i) for i in m.place(keys)]


def test_threads_place_at_once() -> None:
    objs = [cls(NAMES, **kw) for cls, kw in EXTRA]
    keys = np.arange(100_000, dtype=np.uint64)
    want = [o.place(keys) for o in objs]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for o, w in zip(objs, want, strict=True):
                np.testing.assert_array_equal(o.place(keys), w)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
