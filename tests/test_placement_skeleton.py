"""SkeletonRendezvous: the skeleton-based HRW properties at scale (balance, weights, minimal
disruption on add/remove/weight changes and growth), its history in the state, and its twin.

Balance is checked with a chi-square test of the key counts against the shares ``w / sum(w)``
(seeded keys, so each test is deterministic; the bound is the statistic's mean plus six
standard deviations, which a correct placement exceeds with probability below 1e-8, while a
placement off by a few percent for many nodes lands far beyond it)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import shardwise
import shardwise.pure.placement as pure
from shardwise.errors import ConfigurationError
from shardwise.placement import movement

KEYS = np.random.default_rng(2024).integers(0, 2**64, size=1_000_000, dtype=np.uint64)


def chi_square_ok(counts: np.ndarray, shares: np.ndarray) -> tuple[bool, float]:
    expected = shares / shares.sum() * counts.sum()
    stat = float(((counts - expected) ** 2 / expected).sum())
    dof = len(counts) - 1
    return stat <= dof + 6 * math.sqrt(2 * dof), stat


def counts(p: shardwise.SkeletonRendezvous, keys: np.ndarray) -> np.ndarray:
    return np.bincount(p.place(keys), minlength=len(p))


@pytest.mark.parametrize("fanout", [2, 4, 16])
def test_balance_by_weight_at_scale(fanout: int) -> None:
    nodes = {f"node-{i}": 1 + i % 4 for i in range(400)}
    p = shardwise.SkeletonRendezvous(nodes, fanout=fanout)
    shares = np.array([nodes[n] for n in p.nodes], dtype=np.float64)
    ok, stat = chi_square_ok(counts(p, KEYS), shares)
    assert ok, stat


def test_a_skewed_placement_fails_the_balance_check() -> None:
    # The check can fail: 400 nodes, half of them given 5% more than their share.
    rng = np.random.default_rng(3)
    skewed = np.where(np.arange(400) % 2 == 0, 1.05, 1.0)
    drawn = rng.multinomial(len(KEYS), skewed / skewed.sum())
    assert not chi_square_ok(drawn, np.ones(400))[0]
    assert chi_square_ok(rng.multinomial(len(KEYS), np.ones(400) / 400), np.ones(400))[0]


def test_removals_spread_over_every_node_and_move_nothing_else() -> None:
    names = [f"node-{i}" for i in range(500)]
    p = shardwise.SkeletonRendezvous(names)
    before = p.copy()
    gone = set(np.random.default_rng(5).choice(names, size=150, replace=False).tolist())
    for name in sorted(gone):
        p.remove_node(name)
    m = movement(before, p, KEYS)
    assert {frm for frm, _, _ in m.flows()} <= gone
    lost = sum(int(c) for n, c in zip(before.nodes, counts(before, KEYS), strict=True) if n in gone)
    assert m.moved == lost
    # Not the paper's remap within a cluster: the removed nodes' keys spread over everyone.
    ok, stat = chi_square_ok(counts(p, KEYS), np.ones(len(p)))
    assert ok, stat


@pytest.mark.parametrize(("n", "weight", "capacity"), [(63, 1, 64), (64, 2, 256)])  # the second grows
def test_adding_moves_keys_only_onto_the_new_node(n: int, weight: int, capacity: int) -> None:
    p = shardwise.SkeletonRendezvous([f"node-{i}" for i in range(n)], fanout=4)
    grown = p.copy()
    grown.add_node("new", weight)
    assert (p.capacity, grown.capacity) == (64, capacity)
    m = movement(p, grown, KEYS)
    assert {to for _, to, _ in m.flows()} == {"new"}
    share = weight / (n + weight)
    sigma = math.sqrt(share * (1 - share) / len(KEYS))
    assert abs(m.fraction - share) < 6 * sigma, (m.fraction, share)


def test_weight_changes_move_only_that_nodes_keys() -> None:
    p = shardwise.SkeletonRendezvous({f"node-{i}": 2 for i in range(50)})
    heavier = p.copy()
    heavier.set_weight("node-7", 5)
    m = movement(p, heavier, KEYS)
    assert {to for _, to, _ in m.flows()} == {"node-7"}
    lighter = p.copy()
    lighter.set_weight("node-7", 1)
    m = movement(p, lighter, KEYS)
    assert {frm for frm, _, _ in m.flows()} == {"node-7"}
    assert m.fraction == pytest.approx(1 / 100, rel=0.1)


def test_a_freed_slot_is_taken_by_the_next_node() -> None:
    p = shardwise.SkeletonRendezvous([f"node-{i}" for i in range(30)])
    q = p.copy()
    q.remove_node("node-12")
    q.add_node("replacement")
    before = np.array(p.nodes)[p.place(KEYS[:100_000])]
    after = np.array(q.nodes)[q.place(KEYS[:100_000])]
    np.testing.assert_array_equal(np.where(before == "node-12", "replacement", before), after)


def test_history_is_part_of_the_state() -> None:
    p = shardwise.SkeletonRendezvous([f"node-{i}" for i in range(20)], fanout=3)
    for i in (3, 7, 11):
        p.remove_node(f"node-{i}")
    p.add_node("late", 3)
    state = p.to_state()
    assert state["params"]["fanout"] == 3 and state["params"]["capacity"] == 27
    assert state["params"]["slots"][3] == "late" and state["params"]["slots"][7] == "late"
    for restored in (shardwise.SkeletonRendezvous.from_state(state), pickle.loads(pickle.dumps(p))):
        assert restored == p
        np.testing.assert_array_equal(restored.place(KEYS[:50_000]), p.place(KEYS[:50_000]))
    twin = pure.SkeletonRendezvous.from_state(state)
    assert twin.to_state() == state
    np.testing.assert_array_equal(twin.place(KEYS[:300].tolist()), p.place(KEYS[:300]))
    fresh = shardwise.SkeletonRendezvous(dict(zip(p.nodes, p.weights.values(), strict=True)), fanout=3)
    assert fresh != p  # the same nodes without the history place differently
    assert (fresh.place(KEYS[:50_000]) != p.place(KEYS[:50_000])).any()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"capacity": 28}, "is not a power of the fanout"),
        ({"slots": ["a", "zz"]}, "slot of unknown node 'zz'"),
        ({"slots": ["a"]}, "node 'b' has weight 2 but 0 slots"),
        ({"slots": "ab"}, "'slots' must be a list"),
        ({"capacity": None}, "'capacity' and 'slots' go together"),
    ],
)
def test_bad_states_are_refused_alike(change: dict[str, object], message: str) -> None:
    state = shardwise.SkeletonRendezvous({"a": 1, "b": 2}, fanout=3).to_state()
    params = {**state["params"], **change}
    params = {k: v for k, v in params.items() if v is not None}
    bad = {**state, "params": params}
    for cls in (shardwise.SkeletonRendezvous, pure.SkeletonRendezvous):
        with pytest.raises(ConfigurationError, match=message):
            cls.from_state(bad)


def test_parameters_and_weights_are_checked() -> None:
    for cls in (shardwise.SkeletonRendezvous, pure.SkeletonRendezvous):
        with pytest.raises(ConfigurationError, match="whole number"):
            cls({"a": 1.5})
        with pytest.raises(ConfigurationError, match=r"fanout must be an int in \[2, 16\]"):
            cls(["a"], fanout=1)
        with pytest.raises(ConfigurationError, match="at most 67108864 slots"):
            cls({"a": 2**27})


def test_replicas_are_the_owners_after_removals() -> None:
    p = shardwise.SkeletonRendezvous({f"node-{i}": 1 + i % 2 for i in range(40)})
    for key in range(300):
        reps = p.get_nodes(key, 4)
        q = p.copy()
        for j in range(3):
            q.remove_node(reps[j])
            assert q.get_node(key) == reps[j + 1]


def test_a_mostly_vacant_skeleton_places_every_key_on_the_survivors() -> None:
    p = shardwise.SkeletonRendezvous([f"node-{i}" for i in range(1000)], fanout=2)
    for i in range(995):
        p.remove_node(f"node-{i}")
    owners = p.place(KEYS[:2_000])
    assert set(np.unique(owners).tolist()) == set(range(5))


def test_twin_agrees_where_keys_descend_many_times() -> None:
    # 8 of 64 slots occupied: keys need about 8 descents, many more than the few whose paths the
    # Rust lookup keeps on the stack, some past the point where it counts visits in a map.
    p = shardwise.SkeletonRendezvous([f"node-{i}" for i in range(64)])
    for i in range(64):
        if i % 8:
            p.remove_node(f"node-{i}")
    twin = pure.SkeletonRendezvous.from_state(p.to_state())
    keys = KEYS[:400].tolist()
    np.testing.assert_array_equal(p.place(keys), twin.place(keys))
    assert [p.get_nodes(k, 8) for k in keys[:50]] == [twin.get_nodes(k, 8) for k in keys[:50]]
