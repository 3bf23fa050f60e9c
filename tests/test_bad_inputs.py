"""One table of bad inputs fed to every class of both registries, Rust and pure twin: each must
raise, with the same exception type and the same message from both (the binding's validate.rs
and the twins' shardwise.pure.validate apply one set of rules)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import shardwise.pure.selection as pure_selection
from placement_cases import Case, cases
from shardwise._core import BALANCERS

NODES = ["alpha", "beta", "gamma"]

BAD_NUMBERS: list[Any] = [
    True,
    "1",
    None,
    Decimal("1"),
    Fraction(1, 2),
    np.array(1.0),
    [1.0],
    10**400,
    -(10**400),
    float("nan"),
    float("inf"),
    0,
    -1.5,
]
BAD_NAMES: list[Any] = [1, None, b"alpha", 1.5, True]
BAD_INTS: list[Any] = [True, 1.5, "5", None, 10**30, -1, np.float64(2.0)]
BAD_KEYS: list[Any] = [1.5, None, True, [1], 2**64, -(2**63) - 1, {"a": 1}]
BAD_BULKS: list[Any] = ["abc", b"abc", {1, 2}, np.zeros((2, 2)), [1, "a"], [1.5], np.array([1.5]), 7]


def bad_outs(keys: np.ndarray) -> list[Any]:
    """Unusable ``out=`` buffers for ``keys`` (a 1-D uint64 array of 4 keys)."""
    readonly = np.zeros(len(keys), dtype=np.int32)
    readonly.flags.writeable = False
    unaligned = np.zeros(4 * len(keys) + 1, dtype=np.uint8)[1:].view(np.int32)
    assert not unaligned.flags.aligned
    return [
        keys.view(np.int32)[: len(keys)],  # the keys' own memory
        unaligned,
        readonly,
        np.zeros(2 * len(keys), dtype=np.int32)[::2],
        np.zeros(len(keys), dtype=np.int64),
        np.zeros(len(keys) - 1, dtype=np.int32),
        [0] * len(keys),
        "out",
    ]


def outcome(call: Callable[[], Any]) -> tuple[str, str]:
    try:
        call()
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return "no error", ""


def same_refusal(rust_call: Callable[[], Any], twin_call: Callable[[], Any]) -> None:
    rust, twin = outcome(rust_call), outcome(twin_call)
    assert rust[0] != "no error", f"accepted by Rust (twin: {twin})"
    assert rust == twin


def placement_calls(case: Case) -> list[tuple[str, Callable[[Any], Any]]]:
    """(label, call on an object or class) for every bad input of the table."""
    calls: list[tuple[str, Callable[[Any], Any]]] = []
    for i, w in enumerate(BAD_NUMBERS):
        calls.append((f"add_node weight {i}", lambda o, w=w: o.add_node("zeta", w)))
        calls.append((f"set_weight {i}", lambda o, w=w: o.set_weight(o.nodes[0], w)))
    calls.append(("add_node weight None", lambda o: o.add_node("zeta", None)))
    for i, name in enumerate(BAD_NAMES):
        calls.append((f"add_node name {i}", lambda o, name=name: o.add_node(name)))
        calls.append((f"remove_node name {i}", lambda o, name=name: o.remove_node(name)))
        calls.append((f"set_weight name {i}", lambda o, name=name: o.set_weight(name, 1.0)))
    for i, n in enumerate(BAD_INTS):
        calls.append((f"get_nodes n {i}", lambda o, n=n: o.get_nodes("k", n)))
    for i, key in enumerate(BAD_KEYS):
        calls.append((f"get_node key {i}", lambda o, key=key: o.get_node(key)))
        calls.append((f"get_nodes key {i}", lambda o, key=key: o.get_nodes(key, 1)))
    for i, bulk in enumerate(BAD_BULKS):
        calls.append((f"place keys {i}", lambda o, bulk=bulk: o.place(bulk)))
    keys = np.arange(4, dtype=np.uint64)
    for i in range(len(bad_outs(keys))):

        def place_into(o: Any, i: int = i) -> Any:
            ints = np.arange(4, dtype=np.uint64)
            return o.place(ints, out=bad_outs(ints)[i])

        calls.append((f"place out {i}", place_into))
    return calls


def ctor_calls(case: Case) -> list[tuple[str, Callable[[type], Any]]]:
    """Bad constructor arguments: weights, names and the class's keyword settings."""
    calls: list[tuple[str, Callable[[type], Any]]] = []
    if case.from_nodes:
        for i, w in enumerate(BAD_NUMBERS):
            calls.append((f"weight {i}", lambda c, w=w: c({"a": w}, **case.kwargs)))
        for i, name in enumerate(BAD_NAMES):
            calls.append((f"name {i}", lambda c, name=name: c([name], **case.kwargs)))
            calls.append((f"mapped name {i}", lambda c, name=name: c({name: 1.0}, **case.kwargs)))
        calls.append(("single string", lambda c: c("abc", **case.kwargs)))
        calls.append(("not iterable", lambda c: c(5, **case.kwargs)))
    params = inspect.signature(case.rust).parameters
    defaults = case.make().to_state()["params"]
    for name, default in defaults.items():
        if name not in params or params[name].kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        bad = BAD_INTS if isinstance(default, int) else BAD_NUMBERS if isinstance(default, float) else [5]
        for i, value in enumerate(v for v in bad if v is not None):  # None: the default
            calls.append((f"{name} {i}", lambda c, name=name, value=value: c(NODES, **{name: value})))
    return calls


PLACEMENT_CALLS = [
    pytest.param(case, label, call, id=f"{case.name}-{j}-{label}")
    for j, case in enumerate(cases())
    for label, call in placement_calls(case)
]
CTOR_CALLS = [
    pytest.param(case, label, call, id=f"{case.name}-{j}-{label}")
    for j, case in enumerate(cases())
    for label, call in ctor_calls(case)
]


@pytest.mark.parametrize(("case", "label", "call"), PLACEMENT_CALLS)
def test_placement_methods_refuse_alike(case: Case, label: str, call: Callable[[Any], Any]) -> None:
    rust, twin = case.make(False, NODES), case.make(True, NODES)
    same_refusal(lambda: call(rust), lambda: call(twin))
    assert rust.to_state() == twin.to_state()  # a refused change changed nothing


@pytest.mark.parametrize(("case", "label", "call"), CTOR_CALLS)
def test_placement_constructors_refuse_alike(case: Case, label: str, call: Callable[[type], Any]) -> None:
    same_refusal(lambda: call(case.rust), lambda: call(case.twin))


# ----- selection --------------------------------------------------------------------------------

SETTINGS = ["panic_threshold", "slow_start", "slow_start_floor"]
ZERO_OK = {"panic_threshold", "slow_start", "default_rtt"}  # settings for which 0 is valid


def bad_for(setting: str) -> list[Any]:
    """The bad numbers of the table that are bad for ``setting``."""
    return [v for v in BAD_NUMBERS if not (setting in ZERO_OK and v == 0 and v is not True)]


def balancer_calls(name: str) -> list[tuple[str, Callable[[Any], Any]]]:
    calls: list[tuple[str, Callable[[Any], Any]]] = []
    for i, w in enumerate(BAD_NUMBERS):
        calls.append((f"add_node weight {i}", lambda o, w=w: o.add_node("zeta", w)))
        calls.append((f"set_weight {i}", lambda o, w=w: o.set_weight("alpha", w)))
        calls.append((f"set_weight_factor {i}", lambda o, w=w: o.set_weight_factor("alpha", w)))
        if name == "LoadAware":
            calls.append((f"report_load {i}", lambda o, w=w: o.report_load("alpha", w - 2 if w == 0 else w)))
    calls.append(("add_node weight None", lambda o: o.add_node("zeta", None)))
    for i, bad in enumerate(BAD_NAMES):
        for method in ("remove_node", "mark_down", "mark_up", "drain", "state", "weight_factor"):
            calls.append((f"{method} name {i}", lambda o, bad=bad, m=method: getattr(o, m)(bad)))
        calls.append((f"add_node name {i}", lambda o, bad=bad: o.add_node(bad)))
        calls.append((f"set_weight name {i}", lambda o, bad=bad: o.set_weight(bad, 1.0)))
        if name in ("LeastConnections", "PowerOfTwo"):
            calls.append((f"active name {i}", lambda o, bad=bad: o.active(bad)))
    for method in ("remove_node", "mark_down", "state", "weight_factor"):
        calls.append((f"{method} unknown", lambda o, m=method: getattr(o, m)("zz")))
    if name in ("WeightedRandom", "LoadAware"):
        for i, n in enumerate(BAD_INTS):
            calls.append((f"sample {i}", lambda o, n=n: o.sample(n)))
    return calls


def balancer_ctor_calls(name: str) -> list[tuple[str, Callable[[type], Any]]]:
    calls: list[tuple[str, Callable[[type], Any]]] = []
    for i, w in enumerate(BAD_NUMBERS):
        calls.append((f"weight {i}", lambda c, w=w: c({"a": w})))
        calls.append((f"backup weight {i}", lambda c, w=w: c(["a"], backups={"b": w})))
    for setting in SETTINGS:
        for i, v in enumerate(bad_for(setting)):
            calls.append((f"{setting} {i}", lambda c, v=v, s=setting: c(NODES, **{s: v})))
    for i, bad in enumerate(BAD_NAMES):
        calls.append((f"name {i}", lambda c, bad=bad: c([bad])))
        calls.append((f"mapped name {i}", lambda c, bad=bad: c({bad: 1.0})))
    calls.append(("single string", lambda c: c("abc")))
    calls.append(("not iterable", lambda c: c(5)))
    calls.append(("duplicate", lambda c: c(["a"], backups=["a"])))
    calls.append(("clock", lambda c: c(NODES, clock=5)))
    if "seed" in pure_selection.CLASSES[name].SETTINGS:
        for i, seed in enumerate(v for v in BAD_INTS if v is not None):  # None: a fresh seed
            calls.append((f"seed {i}", lambda c, seed=seed: c(NODES, seed=seed)))
    if name == "PowerOfTwo":
        for setting in ("decay", "default_rtt"):
            for i, v in enumerate(bad_for(setting)):
                calls.append((f"{setting} {i}", lambda c, v=v, s=setting: c(NODES, peak_ewma=True, **{s: v})))
    if name == "LoadAware":
        for i, v in enumerate(BAD_NUMBERS):
            calls.append((f"min_share {i}", lambda c, v=v: c(NODES, min_share=v)))
    return calls


NAMES = [cls.__name__ for cls in BALANCERS]
BALANCER_CALLS = [
    pytest.param(name, label, call, id=f"{name}-{label}")
    for name in NAMES
    for label, call in balancer_calls(name)
]
BALANCER_CTOR_CALLS = [
    pytest.param(name, label, call, id=f"{name}-{label}")
    for name in NAMES
    for label, call in balancer_ctor_calls(name)
]


def pair(name: str) -> tuple[type, type]:
    rust = next(cls for cls in BALANCERS if cls.__name__ == name)
    return rust, pure_selection.CLASSES[name]


@pytest.mark.parametrize(("name", "label", "call"), BALANCER_CALLS)
def test_balancer_methods_refuse_alike(name: str, label: str, call: Callable[[Any], Any]) -> None:
    rust_cls, twin_cls = pair(name)
    rust, twin = rust_cls(NODES), twin_cls(NODES)
    same_refusal(lambda: call(rust), lambda: call(twin))
    assert rust.to_state()["backends"] == twin.to_state()["backends"]


@pytest.mark.parametrize(("name", "label", "call"), BALANCER_CTOR_CALLS)
def test_balancer_constructors_refuse_alike(name: str, label: str, call: Callable[[type], Any]) -> None:
    rust_cls, twin_cls = pair(name)
    same_refusal(lambda: call(rust_cls), lambda: call(twin_cls))
