"""The registries of the compiled module (``PLACEMENTS``, ``BALANCERS``) drive the Python
packages, the pure twins, the stubs and the command line; the state format of each capability is
one dict, written alike by Rust and twin."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shardwise
import shardwise.placement
import shardwise.pure.placement as pure_placement
import shardwise.pure.selection as pure_selection
import shardwise.selection
from placement_cases import Case, params
from shardwise import _core
from shardwise.cli import algorithms
from shardwise.errors import ConfigurationError

PACKAGE = Path(shardwise.__file__).resolve().parent
PLACEMENT_NAMES = [cls.__name__ for cls in _core.PLACEMENTS]
BALANCER_NAMES = [cls.__name__ for cls in _core.BALANCERS]


def type_checking_imports(path: Path) -> list[str]:
    """The names a module imports under ``if TYPE_CHECKING:`` (what type checkers see)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    names.extend(alias.name for alias in stmt.names)
    return names


def stub_classes() -> set[str]:
    tree = ast.parse((PACKAGE / "_core.pyi").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.ClassDef)}


def test_placement_registry_drives_python_twins_stubs_and_cli() -> None:
    assert len(PLACEMENT_NAMES) == len(set(PLACEMENT_NAMES)) >= 10
    assert list(shardwise.placement.CLASSES) == PLACEMENT_NAMES
    for cls in _core.PLACEMENTS:
        name = cls.__name__
        assert getattr(shardwise.placement, name) is cls and getattr(shardwise, name) is cls
        assert name in shardwise.placement.__all__ and name in shardwise.__all__
        twin = pure_placement.CLASSES[name]
        assert name == twin.CLASS and twin.__module__.endswith("." + pure_placement.module_name(name))
    assert list(pure_placement.CLASSES) == PLACEMENT_NAMES
    assert sorted(type_checking_imports(PACKAGE / "placement" / "__init__.py")) == sorted(PLACEMENT_NAMES)
    assert set(PLACEMENT_NAMES) <= stub_classes()
    node_list_classes = [n for n in PLACEMENT_NAMES if algorithms._takes_nodes(getattr(shardwise, n))]
    assert [a.class_name for a in algorithms.KNOWN] == node_list_classes
    for algo in algorithms.KNOWN:
        assert algorithms.resolve_class(algo.name) is getattr(shardwise, algo.class_name)
        assert algorithms.resolve_class(algo.class_name, pure=True) is pure_placement.CLASSES[algo.class_name]


def test_balancer_registry_drives_python_twins_and_stubs() -> None:
    assert BALANCER_NAMES == ["RoundRobin", "WeightedRandom", "LeastConnections", "PowerOfTwo", "LoadAware"]
    assert list(shardwise.selection.CLASSES) == BALANCER_NAMES == list(pure_selection.CLASSES)
    for cls in _core.BALANCERS:
        assert getattr(shardwise.selection, cls.__name__) is cls
        assert cls.__name__ in shardwise.selection.__all__ and cls.__name__ in shardwise.__all__
    assert sorted(type_checking_imports(PACKAGE / "selection.py")) == sorted(BALANCER_NAMES)
    assert set(BALANCER_NAMES) <= stub_classes()


def test_top_level_names_are_unambiguous() -> None:
    assert len(shardwise.__all__) == len(set(shardwise.__all__))
    assert shardwise.from_state is shardwise.placement.from_state


def test_sticky_is_a_class_of_the_selection_module() -> None:
    assert shardwise.Sticky is shardwise.selection.Sticky is pure_selection.Sticky
    assert shardwise.selection.Sticky.__module__ == "shardwise.selection"


@pytest.mark.parametrize("case", params())
def test_every_placement_restores_through_the_registry(case: Case) -> None:
    for twin in (False, True):
        obj = case.make(twin, ["alpha", "beta", "gamma"])
        state = obj.to_state()
        assert state["version"] == 1 and state["class"] == case.name
        back = (pure_placement if twin else shardwise.placement).from_state(state)
        assert back == obj and type(back) is type(obj)
        assert pickle.loads(pickle.dumps(obj)) == obj
    with pytest.raises(ConfigurationError, match="unknown placement class 'Nope'"):
        shardwise.placement.from_state({**state, "class": "Nope"})


def exercise(balancer: object) -> None:
    """Picks, health and load changes: the state afterwards depends on all of them."""
    b: Any = balancer
    for _ in range(7):
        b.pick()
    b.mark_down("b")
    b.set_weight_factor("c", 0.5)
    b.add_node("d", 2.0, backup=True)
    if hasattr(b, "report_load"):
        b.report_load("a", 0.25)
    if hasattr(b, "sample"):
        b.sample(5)
    for _ in range(3):
        b.pick()


@pytest.mark.parametrize("name", BALANCER_NAMES)
def test_balancer_state_is_one_dict_for_rust_and_twin(name: str) -> None:
    kwargs = {"seed": 99} if name in ("WeightedRandom", "PowerOfTwo", "LoadAware") else {}
    rust = getattr(shardwise.selection, name)({"a": 3, "b": 1, "c": 2}, panic_threshold=10, **kwargs)
    twin = pure_selection.CLASSES[name]({"a": 3, "b": 1, "c": 2}, panic_threshold=10, **kwargs)
    exercise(rust)
    exercise(twin)
    state = rust.to_state()
    assert state == twin.to_state()
    assert state["version"] == 1 and state["class"] == name
    assert state["settings"]["panic_threshold"] == 10.0
    # Either implementation restores the other's state and then picks the same.
    for restored in (
        pickle.loads(pickle.dumps(rust)),
        type(rust).from_state(twin.to_state()),
        shardwise.selection.from_state(state),
    ):
        assert type(restored) is type(rust) and restored.to_state() == state
    copies = [type(rust).from_state(state), pure_selection.from_state(state)]
    assert [copies[0].pick() for _ in range(20)] == [copies[1].pick() for _ in range(20)]
    back = pickle.loads(pickle.dumps(twin))
    assert type(back) is type(twin) and back.to_state() == state


def test_sample_draws_the_current_stream_then_jumps() -> None:
    rust = shardwise.WeightedRandom(["a", "b", "c"], seed=3)
    twin = pure_selection.WeightedRandom(["a", "b", "c"], seed=3)
    np.testing.assert_array_equal(rust.sample(50), twin.sample(50))
    # The generator then sits 2**128 draws past where the sample started (the published
    # xoshiro256** jump, written independently in Rust and in the twin).
    jumped = pure_selection.Rng(3)
    jumped.jump()
    assert rust.to_state()["rng"] == twin.to_state()["rng"] == jumped.s
    assert [rust.pick() for _ in range(10)] == [twin.pick() for _ in range(10)]


def test_old_balancer_pickles_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match="state must be a dict made by to_state"):
        shardwise.RoundRobin.from_state(([("a", 1.0, False, "up", 1.0, 0.0, 0.0)], None))
