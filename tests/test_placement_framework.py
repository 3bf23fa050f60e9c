"""The common interface of every placement class, Rust and pure twin alike."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from placement_cases import Case, params
from shardwise.errors import ConfigurationError, NoNodesError, UnknownNodeError


@pytest.fixture(params=params(only_node_lists=True))
def algo(request: pytest.FixtureRequest) -> tuple[type, type, dict[str, object]]:
    case: Case = request.param
    return case.rust, case.twin, case.kwargs


NAMES = ["alpha", "beta", "gamma", "delta", "épsilon"]
KEYS = [f"key-{i}" for i in range(300)] + [b"raw\x00bytes", ""]


def build(cls: type, kwargs: dict[str, object], nodes: object = NAMES) -> object:
    return cls(nodes, **kwargs)


def test_common_api_rust_equals_twin(algo: tuple[type, type, dict[str, object]]) -> None:
    rust_cls, pure_cls, kw = algo
    r, p = build(rust_cls, kw), build(pure_cls, kw)
    for obj in (r, p):
        assert obj.nodes == tuple(NAMES)
        assert obj.weights == dict.fromkeys(NAMES, 1.0)
        assert len(obj) == 5 and "beta" in obj and "zeta" not in obj and 3 not in obj
    for key in KEYS:
        assert r.get_node(key) == p.get_node(key)
        assert r.get_nodes(key, 3) == p.get_nodes(key, 3)
    np.testing.assert_array_equal(r.place(KEYS[:300]), p.place(KEYS[:300]))
    assert r.to_state() == p.to_state()
    assert repr(r) == repr(p)


def test_scalar_equals_bulk(algo: tuple[type, type, dict[str, object]]) -> None:
    r = build(algo[0], algo[2])
    ints = np.arange(-50, 2000, dtype=np.int64)
    got = r.place(ints)
    assert got.dtype == np.int32
    assert [r.nodes[i] for i in got] == [r.get_node(int(k)) for k in ints]
    strs = np.array(KEYS[:300])
    assert [r.nodes[i] for i in r.place(strs)] == [r.get_node(k) for k in KEYS[:300]]


def test_changes_and_errors(algo: tuple[type, type, dict[str, object]]) -> None:
    for cls in algo[:2]:
        obj = build(cls, algo[2])
        try:
            obj.add_node("heavy", 3)
            obj.remove_node("heavy")
            w1, w2 = 3, 2
        except ConfigurationError as exc:  # an unweighted algorithm (or one whose bound is 1) says so
            assert "does not support weights" in str(exc) or "exceeds DxHash's max_weight 1.0" in str(exc)
            w1, w2 = 1, 1
        obj.add_node("zeta", w1)
        assert obj.nodes[-1] == "zeta" and obj.weights["zeta"] == float(w1)
        obj.set_weight("zeta", w2)
        assert obj.weights["zeta"] == float(w2)
        obj.remove_node("zeta")
        try:
            obj.remove_node("alpha")
        except ConfigurationError as exc:  # JumpHash: only the last node
            assert "MementoHash" in str(exc)
        else:
            assert obj.nodes == ("beta", "gamma", "delta", "épsilon")
        with pytest.raises(UnknownNodeError, match="nope"):
            obj.remove_node("nope")
        with pytest.raises(UnknownNodeError):
            obj.set_weight("nope", 1)
        with pytest.raises(ConfigurationError, match="duplicate"):
            obj.add_node("beta")
        for bad in (0, -1.0, float("nan"), float("inf")):
            with pytest.raises(ConfigurationError, match="finite number > 0"):
                obj.add_node("new", bad)
            with pytest.raises(ConfigurationError, match="finite number > 0"):
                obj.set_weight("beta", bad)
            with pytest.raises(ValueError):
                cls({"x": bad}, **algo[2])
        with pytest.raises(TypeError):
            obj.add_node("new", True)
        with pytest.raises(TypeError):
            obj.add_node("new", "1")
        with pytest.raises(ConfigurationError, match="non-empty"):
            obj.add_node("")
        n = len(obj)
        with pytest.raises(ConfigurationError, match=f"only {n} exist"):
            obj.get_nodes("k", n + 1)
        for bad_n in (-1, 10**30):
            with pytest.raises(ConfigurationError):
                obj.get_nodes("k", bad_n)
        with pytest.raises(TypeError):
            obj.get_nodes("k", 1.0)
        assert obj.get_nodes("k", 0) == []
        with pytest.raises(TypeError):
            cls("abc", **algo[2])
        with pytest.raises(TypeError):
            cls([1, 2], **algo[2])
        with pytest.raises(ConfigurationError, match="duplicate"):
            cls(["a", "a"], **algo[2])
        with pytest.raises(TypeError):
            obj.get_node(1.5)
        empty = cls(**algo[2])
        with pytest.raises(NoNodesError, match="no nodes"):
            empty.get_node("k")
        with pytest.raises(NoNodesError):
            empty.place(["k"])
        with pytest.raises(LookupError):
            empty.get_nodes("k", 1)
        empty.add_node("solo")
        assert empty.get_node("k") == "solo"


def test_copy_eq_pickle(algo: tuple[type, type, dict[str, object]]) -> None:
    for cls in algo[:2]:
        obj = build(cls, algo[2])
        twin = obj.copy()
        assert twin == obj and copy.deepcopy(obj) == obj and copy.copy(obj) == obj
        twin.add_node("zeta")
        assert twin != obj and "zeta" not in obj
        back = pickle.loads(pickle.dumps(obj))
        assert back == obj and type(back) is cls
        assert back.get_nodes("k", 5) == obj.get_nodes("k", 5)
        with pytest.raises(TypeError):
            hash(obj)
