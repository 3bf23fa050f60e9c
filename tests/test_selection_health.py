"""Health for every balancer (Rust and twin): states, backups, panic, slow start, bad input,
pickling, and Rust == twin under random scripts of health changes."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from selection_support import CLASSES, FakeClock, make
from shardwise.errors import ConfigurationError, NoAvailableBackendError, UnknownNodeError

BOTH = pytest.mark.parametrize("impl", ["rust", "pure"])
EVERY = pytest.mark.parametrize("cls", CLASSES)


def picks(bal: Any, n: int = 60) -> set[str]:
    """Nodes chosen by n picks (for lease balancers: n leases held at once, then released)."""
    if not hasattr(bal, "acquire"):
        return {bal.pick() for _ in range(n)}
    held = [bal.acquire() for _ in range(n)]
    for lease in held:
        lease.release()
    return {lease.node for lease in held}


@BOTH
@EVERY
def test_states_take_effect_at_once(impl: str, cls: str) -> None:
    bal = make(impl, cls, ["a", "b", "c"])
    assert [bal.state(n) for n in "abc"] == ["up", "up", "up"]
    bal.mark_down("a")
    bal.drain("b")
    assert (bal.state("a"), bal.state("b")) == ("down", "draining")
    assert picks(bal) == {"c"}
    bal.mark_up("a")
    assert picks(bal) == {"a", "c"}
    bal.mark_up("b")
    assert picks(bal) == {"a", "b", "c"}


@BOTH
@EVERY
def test_backups_only_when_no_primary_is_up(impl: str, cls: str) -> None:
    bal = make(impl, cls, {"a": 1, "b": 2}, backups={"z": 1, "y": 1})
    assert bal.backups == ["z", "y"] and bal.nodes == ["a", "b", "z", "y"]
    assert picks(bal) == {"a", "b"} and bal.mode == "normal"
    bal.mark_down("a")
    assert picks(bal) == {"b"}
    bal.drain("b")
    assert picks(bal) == {"z", "y"} and bal.mode == "backup"
    bal.mark_down("z")
    assert picks(bal) == {"y"}
    bal.mark_down("y")
    assert bal.mode == "empty"
    with pytest.raises(NoAvailableBackendError):
        bal.pick()
    bal.mark_up("b")
    assert picks(bal) == {"b"}


@BOTH
@EVERY
def test_panic_threshold(impl: str, cls: str) -> None:
    bal = make(impl, cls, ["a", "b", "c", "d"], backups=["z"], panic_threshold=50.0)
    bal.mark_down("a")
    bal.mark_down("b")
    assert picks(bal) == {"c", "d"} and bal.mode == "normal"  # 50% up: not below threshold
    bal.mark_down("c")
    assert bal.mode == "panic"
    assert picks(bal, 200) == {"a", "b", "c", "d"}  # 25% up: health ignored, backups unused
    bal.mark_down("d")
    assert picks(bal) == {"z"} and bal.mode == "backup"  # nothing up: backups first
    bal.mark_down("z")
    assert picks(bal, 200) == {"a", "b", "c", "d"}  # then panic over every primary


@BOTH
@EVERY
def test_nothing_pickable_raises(impl: str, cls: str) -> None:
    with pytest.raises(NoAvailableBackendError, match="no nodes"):
        make(impl, cls).pick()
    bal = make(impl, cls, ["a"])
    bal.mark_down("a")
    with pytest.raises(NoAvailableBackendError, match="none of the 1 nodes"):
        bal.pick()
    bal.remove_node("a")
    with pytest.raises(NoAvailableBackendError):
        bal.pick()


@BOTH
@EVERY
def test_weight_factor_and_membership(impl: str, cls: str) -> None:
    bal = make(impl, cls, {"a": 2.0, "b": 1.0})
    assert bal.weight_factor("a") == 1.0
    bal.set_weight_factor("a", 0.25)
    assert bal.weight_factor("a") == 0.25 and bal.weights == {"a": 2.0, "b": 1.0}
    bal.set_weight("b", 4.0)
    bal.add_node("c", 3.0)
    assert bal.weights == {"a": 2.0, "b": 4.0, "c": 3.0} and len(bal) == 3
    assert "c" in bal and "x" not in bal and 5 not in bal
    bal.remove_node("b")
    assert bal.nodes == ["a", "c"] and picks(bal) <= {"a", "c"}


@BOTH
@EVERY
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), 1e300])
def test_bad_weights(impl: str, cls: str, bad: float) -> None:
    with pytest.raises(ConfigurationError, match="weight"):
        make(impl, cls, {"a": 1.0, "b": bad})
    bal = make(impl, cls, ["a"])
    with pytest.raises(ConfigurationError):
        bal.add_node("b", bad)
    with pytest.raises(ConfigurationError):
        bal.set_weight("a", bad)
    with pytest.raises(ConfigurationError):
        bal.set_weight_factor("a", bad)
    assert bal.nodes == ["a"] and bal.pick() == "a"


@BOTH
@EVERY
def test_bad_input(impl: str, cls: str) -> None:
    bal = make(impl, cls, ["a"])
    for method in ("mark_down", "mark_up", "drain", "state", "remove_node", "weight_factor"):
        with pytest.raises(UnknownNodeError, match="nope"):
            getattr(bal, method)("nope")
    with pytest.raises(UnknownNodeError):
        bal.set_weight("nope", 1.0)
    with pytest.raises(ConfigurationError, match="duplicate"):
        bal.add_node("a")
    with pytest.raises(ConfigurationError, match="duplicate"):
        make(impl, cls, ["a"], backups=["a"])
    with pytest.raises(TypeError):
        make(impl, cls, "abc")
    with pytest.raises(TypeError):
        make(impl, cls, [1, 2])
    with pytest.raises(TypeError):
        make(impl, cls, {"a": "heavy"})
    for kw in ({"panic_threshold": 150.0}, {"panic_threshold": -1.0}, {"slow_start": -1.0}):
        with pytest.raises(ConfigurationError):
            make(impl, cls, ["a"], **kw)
    with pytest.raises(ConfigurationError, match="slow_start_floor"):
        make(impl, cls, ["a"], slow_start_floor=0.0)


@BOTH
@EVERY
def test_slow_start_with_injected_clock(impl: str, cls: str) -> None:
    clock = FakeClock(100.0)
    bal = make(impl, cls, {"old": 1.0, "new": 1.0}, slow_start=10.0, slow_start_floor=0.1, clock=clock)
    bal.mark_down("new")
    clock.t = 200.0
    bal.mark_up("new")

    def share(n: int = 2000) -> float:
        if cls in ("LeastConnections", "PowerOfTwo"):
            held = [bal.acquire() for _ in range(n // 10)]
            got = sum(h.node == "new" for h in held) / len(held)
            for h in held:
                h.release()
            return got
        return sum(bal.pick() == "new" for _ in range(n)) / n

    early = share()  # weight 0.1 vs 1 → ~9%
    clock.t = 205.0
    mid = share()  # 0.5 vs 1 → ~33%
    clock.t = 211.0
    late = share()  # ramp over → 50%
    assert early < 0.2 and 0.2 < mid < 0.45 and 0.4 < late < 0.6, (early, mid, late)
    # Draining -> up is not a restart: no ramp.
    bal.drain("new")
    bal.mark_up("new")
    assert share() > 0.4


@BOTH
@EVERY
def test_slow_start_applies_to_added_nodes(impl: str, cls: str) -> None:
    clock = FakeClock(0.0)
    bal = make(impl, cls, ["a"], slow_start=100.0, slow_start_floor=0.05, clock=clock)
    bal.add_node("b")
    if cls in ("LeastConnections", "PowerOfTwo"):
        held = [bal.acquire() for _ in range(100)]
        assert sum(h.node == "b" for h in held) < 20
    else:
        assert sum(bal.pick() == "b" for _ in range(1000)) < 150


@BOTH
@EVERY
def test_pickling_keeps_state(impl: str, cls: str) -> None:
    bal = make(impl, cls, {"a": 3.0, "b": 1.0, "c": 2.0}, backups={"z": 1.0}, panic_threshold=10.0)
    bal.mark_down("b")
    bal.drain("c")
    bal.set_weight_factor("a", 0.5)
    for _ in range(5):
        bal.pick()
    copy = pickle.loads(pickle.dumps(bal))
    assert type(copy) is type(bal)
    assert copy.nodes == bal.nodes and copy.weights == bal.weights and copy.backups == ["z"]
    assert [copy.state(n) for n in "abcz"] == ["up", "down", "draining", "up"]
    assert copy.weight_factor("a") == 0.5
    assert [copy.pick() for _ in range(30)] == [bal.pick() for _ in range(30)]


def _ops(data: st.DataObject, names: list[str]) -> list[tuple[str, str, float]]:
    op = st.sampled_from(["pick", "pick", "pick", "down", "up", "drain", "weight", "factor", "tick", "add"])
    return [
        (data.draw(op), data.draw(st.sampled_from(names)), data.draw(st.sampled_from([0.5, 1.0, 2.5, 7.0])))
        for _ in range(data.draw(st.integers(1, 80)))
    ]


@EVERY
@given(data=st.data())
def test_rust_equals_twin_under_health_scripts(cls: str, data: st.DataObject) -> None:
    names = [f"n{i}" for i in range(data.draw(st.integers(1, 6)))]
    weights = {n: data.draw(st.sampled_from([1.0, 2.0, 3.0, 0.5])) for n in names}
    backups = {"b0": 1.0} if data.draw(st.booleans()) else None
    panic = data.draw(st.sampled_from([0.0, 40.0]))
    ops = _ops(data, [*names, "zz"])
    logs = []
    for impl in ("rust", "pure"):
        clock = FakeClock()
        bal = make(impl, cls, weights, backups=backups, panic_threshold=panic, slow_start=4.0, clock=clock)
        log: list = []
        added = 0
        for op, name, x in ops:
            try:
                if op == "pick":
                    log.append(bal.pick())
                elif op == "down":
                    bal.mark_down(name)
                elif op == "up":
                    bal.mark_up(name)
                elif op == "drain":
                    bal.drain(name)
                elif op == "weight":
                    bal.set_weight(name, x)
                elif op == "factor":
                    bal.set_weight_factor(name, x)
                elif op == "tick":
                    clock.t += x
                elif op == "add":
                    added += 1
                    bal.add_node(f"new{added}", x)
            except Exception as e:
                log.append(type(e).__name__)
        log.append(bal.mode)
        logs.append(log)
    assert logs[0] == logs[1]
