"""MultiProbe's balance claim, under the conditions it is stated for.

Appleton & O'Reilly (2015) measure the peak-to-mean ratio over the nodes' shares of the *key
space* (the limit of many keys per node): with K probes the largest share is K/(K-1) times the
mean (1.05 for 21 probes), a figure that holds for a typical node set of any size and, as the
nodes grow in number, for every node set. A given small cluster varies around it.

The oracle here is the exact share of each node's point, computed from the ring's points alone
(independently of the lookup code): a probe that lands at clockwise distance t before point j
picks j unless another probe lands closer to its successor, so with S(t) = sum_i max(g_i - t, 0)
over the gaps g_i between points, point j owns K * integral_0^{g_j} S(t)^(K-1) dt of the keys.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shardwise

KEYS = np.random.default_rng(77).integers(0, 2**64, size=2_000_000, dtype=np.uint64)


def exact_shares(points: np.ndarray, probes: int) -> np.ndarray:
    """Share of the key space of each point (in the order given), for ``probes`` probes."""
    order = np.argsort(points, kind="stable")
    p = points[order].astype(np.float64) / 2.0**64
    gap_before = np.diff(np.concatenate([[p[-1] - 1.0], p]))  # the arc ending at each point
    by_gap = np.argsort(gap_before, kind="stable")
    g = gap_before[by_gap]
    n = len(g)
    c = n - np.arange(n)  # gaps still longer than t on the segment [g[m-1], g[m]]
    larger = np.cumsum(g[::-1])[::-1]  # sum of those gaps
    lo = np.concatenate([[0.0], g[:-1]])
    pieces = ((larger - c * lo) ** probes - (larger - c * g) ** probes) / c
    shares_sorted = np.empty(n)
    shares_sorted[by_gap] = np.cumsum(pieces)
    out = np.empty(n)
    out[order] = shares_sorted
    return out


def node_points(names: list[str]) -> np.ndarray:
    """MultiProbe's point of each weight-1 node: XXH3-64 of its name (seed 0)."""
    return shardwise.hashing.xxh3_64_many(names)


def test_the_oracle_on_a_circle_worked_by_hand() -> None:
    # Points at 0 and 1/4 of the circle, two probes. Gaps 3/4 (before 0) and 1/4 (before 1/4);
    # S(t) = 1 - 2t below 1/4, then 3/4 - t. The point at 1/4 owns 2 * int_0^1/4 (1 - 2t) dt
    # = 3/8, the point at 0 the rest, 5/8.
    shares = exact_shares(np.array([0, 2**62], dtype=np.uint64), 2)
    np.testing.assert_allclose(shares, [5 / 8, 3 / 8], rtol=1e-12)


@pytest.mark.parametrize(("nodes", "probes"), [(10, 21), (20, 21), (12, 5)])
def test_counts_follow_the_exact_shares(nodes: int, probes: int) -> None:
    names = [f"node-{i}" for i in range(nodes)]
    mp = shardwise.MultiProbe(names, probes=probes)
    counts = np.bincount(mp.place(KEYS), minlength=nodes)
    shares = exact_shares(node_points(names), probes)
    expected = shares * len(KEYS)
    stat = float(((counts - expected) ** 2 / expected).sum())
    dof = nodes - 1
    assert stat <= dof + 6 * math.sqrt(2 * dof), stat  # chi-square: p < 1e-8 for a true model
    # ... and the check can fail: equal shares are rejected for these node sets.
    flat = len(KEYS) / nodes
    assert float(((counts - flat) ** 2 / flat).sum()) > dof + 6 * math.sqrt(2 * dof)


@pytest.mark.parametrize("probes", [21, 5])
def test_peak_to_mean_is_k_over_k_minus_1_on_average(probes: int) -> None:
    # 400 seeded node sets of 10 nodes: the mean of their peak-to-mean ratios is K/(K-1)
    # (1.05 for 21 probes, 1.25 for 5), within 6 standard errors of the sample.
    ratios = []
    for s in range(400):
        names = [f"set{s}-node-{i}" for i in range(10)]
        ratios.append(10 * exact_shares(node_points(names), probes).max())
    r = np.array(ratios)
    claim = probes / (probes - 1)
    assert abs(r.mean() - claim) < 6 * r.std(ddof=1) / math.sqrt(len(r)), (r.mean(), claim)
    assert r.min() >= 1.0


def test_many_nodes_make_every_set_close_to_the_claim() -> None:
    names = [f"node-{i}" for i in range(10_000)]
    ratio = 10_000 * exact_shares(node_points(names), 21).max()
    assert 1.04 <= ratio <= 1.06, ratio


def test_the_docstring_states_the_conditions() -> None:
    doc = shardwise.MultiProbe.__doc__ or ""
    assert "K/(K-1)" in doc and "key space" in doc
