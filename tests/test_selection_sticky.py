"""Sticky: by key through a placement's preference list, skipping unavailable nodes."""

from __future__ import annotations

import hashlib
import pickle

import pytest
from shardwise import Sticky
from shardwise.errors import ConfigurationError, NoAvailableBackendError, UnknownNodeError


class RendezvousPlacement:
    """A tiny deterministic placement written for the test: highest-random-weight order."""

    def __init__(self, nodes: list[str]) -> None:
        self.nodes = list(nodes)

    def _score(self, key: object, node: str) -> bytes:
        return hashlib.sha256(f"{node}\0{key}".encode()).digest()

    def get_nodes(self, key: object, n: int) -> list[str]:
        return sorted(self.nodes, key=lambda node: self._score(key, node), reverse=True)[:n]

    def add_node(self, name: str) -> None:
        self.nodes.append(name)

    def remove_node(self, name: str) -> None:
        self.nodes.remove(name)


NODES = [f"n{i}" for i in range(6)]
KEYS = [f"user:{i}" for i in range(500)]


def test_owner_when_all_up() -> None:
    placement = RendezvousPlacement(NODES)
    sticky = Sticky(placement)
    assert [sticky.pick(k) for k in KEYS] == [placement.get_nodes(k, 1)[0] for k in KEYS]


def test_failover_to_next_preference_and_back() -> None:
    placement = RendezvousPlacement(NODES)
    sticky = Sticky(placement)
    before = {k: sticky.pick(k) for k in KEYS}
    sticky.mark_down("n2")
    sticky.drain("n4")
    assert sticky.state("n2") == "down" and sticky.state("n4") == "draining"
    for k in KEYS:
        prefs = placement.get_nodes(k, len(NODES))
        expected = next(p for p in prefs if p not in ("n2", "n4"))
        got = sticky.pick(k)
        assert got == expected
        if before[k] not in ("n2", "n4"):
            assert got == before[k]  # keys of healthy owners never move
    sticky.mark_up("n2")
    sticky.mark_up("n4")
    assert {k: sticky.pick(k) for k in KEYS} == before


def test_nothing_available_and_panic() -> None:
    sticky = Sticky(RendezvousPlacement(["a", "b"]))
    sticky.mark_down("a")
    sticky.mark_down("b")
    with pytest.raises(NoAvailableBackendError):
        sticky.pick("k")
    with pytest.raises(NoAvailableBackendError):
        Sticky(RendezvousPlacement([])).pick("k")
    panicky = Sticky(RendezvousPlacement(["a", "b", "c", "d"]), panic_threshold=50.0)
    for n in "abc":
        panicky.mark_down(n)
    owners = {k: panicky.placement.get_nodes(k, 1)[0] for k in KEYS}
    assert all(panicky.pick(k) == owners[k] for k in KEYS)  # 25% up < 50%: health ignored


def test_bad_input_and_membership() -> None:
    sticky = Sticky(RendezvousPlacement(["a", "b"]))
    with pytest.raises(UnknownNodeError):
        sticky.mark_down("zz")
    with pytest.raises(UnknownNodeError):
        sticky.state("zz")
    with pytest.raises(TypeError):
        Sticky(object())
    with pytest.raises(ConfigurationError):
        Sticky(RendezvousPlacement(["a"]), panic_threshold=200)
    sticky.add_node("c")
    assert sticky.nodes == ["a", "b", "c"] and "c" in sticky and len(sticky) == 3
    sticky.mark_down("c")
    sticky.remove_node("c")
    sticky.add_node("c")
    assert sticky.state("c") == "up"


def test_pickling() -> None:
    sticky = Sticky(RendezvousPlacement(NODES))
    sticky.mark_down("n1")
    copy = pickle.loads(pickle.dumps(sticky))
    assert copy.state("n1") == "down"
    assert [copy.pick(k) for k in KEYS] == [sticky.pick(k) for k in KEYS]


def _real_placements() -> list[object]:
    """Every placement class shardwise.placement / shardwise.pure.placement offers (if built)."""
    import shardwise.placement as placement_mod
    import shardwise.pure.placement as pure_placement_mod

    names = ("HashRing", "KetamaRing", "Rendezvous", "Maglev", "JumpHash")
    found = []
    for mod in (placement_mod, pure_placement_mod):
        for name in names:
            found.append(pytest.param(getattr(mod, name), id=f"{mod.__name__}.{name}"))
    return found


@pytest.mark.parametrize("placement_cls", _real_placements())
def test_sticky_over_real_placements(placement_cls: type) -> None:
    placement = placement_cls(NODES)
    sticky = Sticky(placement)
    owners = {k: placement.get_nodes(k, 1)[0] for k in KEYS}
    assert {k: sticky.pick(k) for k in KEYS} == owners
    sticky.mark_down("n3")
    for k in KEYS:
        expected = next(p for p in placement.get_nodes(k, len(NODES)) if p != "n3")
        assert sticky.pick(k) == expected
        if owners[k] != "n3":
            assert sticky.pick(k) == owners[k]
    sticky.mark_up("n3")
    assert {k: sticky.pick(k) for k in KEYS} == owners
