"""RoundRobin: nginx smooth weighted round robin parity, Rust == pure twin."""

from __future__ import annotations

import pytest
import shardwise.pure.selection as pure
from hypothesis import given
from hypothesis import strategies as st
from selection_support import IMPLS
from shardwise import RoundRobin


def nginx_oracle(weights: list[int], picks: int) -> list[int]:
    """ngx_http_upstream_get_peer from nginx's ngx_http_upstream_round_robin.c, integer weights,
    no failures (effective_weight == weight): independent of the code under test."""
    current = [0] * len(weights)
    out = []
    for _ in range(picks):
        best = -1
        total = 0
        for i, w in enumerate(weights):
            current[i] += w
            total += w
            if best == -1 or current[i] > current[best]:
                best = i
        current[best] -= total
        out.append(best)
    return out


HAND_CHECKED = [
    ({"a": 5, "b": 1, "c": 1}, "aabacaa" * 2),  # nginx's documented example
    ({"a": 1, "b": 1, "c": 1}, "abcabc"),
    ({"a": 2, "b": 1}, "abaaba"),
    ({"a": 3, "b": 2}, "ababa" * 2),
    ({"a": 1, "b": 4}, "bbabb" * 2),
]


@pytest.mark.parametrize("impl", ["rust", "pure"])
@pytest.mark.parametrize(("weights", "expected"), HAND_CHECKED)
def test_hand_checked_sequences(impl: str, weights: dict[str, int], expected: str) -> None:
    rr = IMPLS[impl].RoundRobin(weights)
    assert "".join(rr.pick() for _ in range(len(expected))) == expected


def test_hand_checked_cases_agree_with_oracle() -> None:
    for weights, expected in HAND_CHECKED:
        names = list(weights)
        seq = nginx_oracle(list(weights.values()), len(expected))
        assert "".join(names[i] for i in seq) == expected


@given(
    st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=300),
)
def test_nginx_parity_many_weight_sets(weights: list[int], picks: int) -> None:
    names = [f"n{i}" for i in range(len(weights))]
    expected = [names[i] for i in nginx_oracle(weights, picks)]
    for cls in (RoundRobin, pure.RoundRobin):
        rr = cls(dict(zip(names, weights, strict=True)))
        assert [rr.pick() for _ in range(picks)] == expected


def test_period_counts_match_weights() -> None:
    weights = {"a": 7, "b": 3, "c": 11, "d": 1}
    rr = RoundRobin(weights)
    seq = [rr.pick() for _ in range(sum(weights.values()) * 5)]
    assert {k: seq.count(k) for k in weights} == {k: 5 * w for k, w in weights.items()}


@given(
    st.lists(st.floats(min_value=0.01, max_value=100.0), min_size=1, max_size=10),
    st.integers(min_value=1, max_value=200),
)
def test_float_weights_rust_equals_twin(weights: list[float], picks: int) -> None:
    backends = {f"n{i}": w for i, w in enumerate(weights)}
    a, b = RoundRobin(backends), pure.RoundRobin(backends)
    assert [a.pick() for _ in range(picks)] == [b.pick() for _ in range(picks)]


def test_down_node_keeps_its_current_weight_like_nginx() -> None:
    # nginx skips down peers without touching their current weight.
    rr = RoundRobin({"a": 5, "b": 1, "c": 1})
    twin = pure.RoundRobin({"a": 5, "b": 1, "c": 1})
    out = []
    for bal in (rr, twin):
        seq = [bal.pick() for _ in range(3)]
        bal.mark_down("a")
        seq += [bal.pick() for _ in range(4)]
        bal.mark_up("a")
        seq += [bal.pick() for _ in range(7)]
        out.append(seq)
    assert out[0] == out[1]
    assert "a" not in out[0][3:7]
