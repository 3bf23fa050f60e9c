"""WeightedRandom and LoadAware: seeded parity with the twin, frequencies (chi-square)."""

from __future__ import annotations

import numpy as np
import pytest
import shardwise.pure.selection as pure
from hypothesis import given
from hypothesis import strategies as st
from selection_support import chi_square, chi_square_critical
from shardwise import LoadAware, WeightedRandom
from shardwise.pure.selection import Rng, build_alias

ALPHA = 0.001


def test_prng_reference_vectors() -> None:
    # SplitMix64 from seed 0 (published values) seeds xoshiro256**; the first xoshiro output is
    # rotl(s1 * 5, 7) * 9 of that state.
    rng = Rng(0)
    assert rng.s[:2] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
    s1 = rng.s[1]
    expected = ((((s1 * 5) % 2**64) << 7 | ((s1 * 5) % 2**64) >> 57) % 2**64 * 9) % 2**64
    assert rng.next_u64() == expected


def test_alias_table_reproduces_weights_exactly() -> None:
    weights = [1.0, 2.0, 3.0, 10.0, 0.5]
    table = build_alias(weights, sum(weights))
    n = len(weights)
    mass = [0.0] * n
    for k, (thr, alias) in enumerate(table):
        keep = thr / 2.0**64
        mass[k] += keep / n
        mass[alias] += (1.0 - keep) / n
    total = sum(weights)
    assert mass == pytest.approx([w / total for w in weights], abs=1e-12)


@given(
    st.lists(st.floats(min_value=0.001, max_value=1000.0), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=2**64 - 1),
)
def test_rust_equals_twin_seeded(weights: list[float], seed: int) -> None:
    backends = {f"n{i}": w for i, w in enumerate(weights)}
    a, b = WeightedRandom(backends, seed=seed), pure.WeightedRandom(backends, seed=seed)
    assert [a.pick() for _ in range(50)] == [b.pick() for _ in range(50)]
    assert a.sample(200).tolist() == b.sample(200).tolist()
    assert [a.pick() for _ in range(5)] == [b.pick() for _ in range(5)]


def test_pick_frequencies_chi_square() -> None:
    weights = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 0.5, 21.0]
    names = [f"n{i}" for i in range(len(weights))]
    wr = WeightedRandom(dict(zip(names, weights, strict=True)), seed=2024)
    picks = [wr.pick() for _ in range(100_000)]
    counts = [picks.count(n) for n in names]
    assert chi_square(counts, weights) < chi_square_critical(len(weights) - 1, ALPHA)


@pytest.mark.parametrize("seed", [1, 99, 123456789])
def test_sample_frequencies_chi_square(seed: int) -> None:
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.1, 10.0, size=200).tolist()
    wr = WeightedRandom({f"n{i}": w for i, w in enumerate(weights)}, seed=seed)
    out = wr.sample(1_000_000)
    assert out.dtype == np.int32 and out.shape == (1_000_000,)
    counts = np.bincount(out, minlength=len(weights)).tolist()
    assert chi_square(counts, weights) < chi_square_critical(len(weights) - 1, ALPHA)


def test_chi_square_detects_wrong_weights() -> None:
    # The check can fail: the same draws tested against slightly different weights are rejected.
    weights = [1.0, 2.0, 3.0, 4.0]
    out = WeightedRandom({f"n{i}": w for i, w in enumerate(weights)}, seed=5).sample(200_000)
    counts = np.bincount(out, minlength=4).tolist()
    assert chi_square(counts, [1.0, 2.0, 3.0, 4.4]) > chi_square_critical(3, ALPHA)


def test_wilson_hilferty_matches_tabulated_values() -> None:
    # Tabulated chi-square critical values at p = 0.001 (the approximation is within 2.5% for
    # df >= 2, the only case used here).
    for df, table in [(2, 13.816), (5, 20.515), (10, 29.588), (100, 149.449)]:
        assert chi_square_critical(df, 0.001) == pytest.approx(table, rel=0.025)


def test_sample_follows_health() -> None:
    wr = WeightedRandom({"a": 1, "b": 1, "c": 1}, seed=3)
    wr.mark_down("b")
    out = wr.sample(10_000)
    assert 1 not in set(out.tolist())
    assert set(out.tolist()) == {0, 2}


def test_sample_bad_size() -> None:
    with pytest.raises(ValueError, match="sample size"):
        WeightedRandom(["a"], seed=1).sample(-1)
    assert WeightedRandom(["a"], seed=1).sample(0).shape == (0,)


def test_seed_reproducible_and_unseeded_differs() -> None:
    a = WeightedRandom({f"n{i}": 1 for i in range(50)}, seed=7).sample(100)
    b = WeightedRandom({f"n{i}": 1 for i in range(50)}, seed=7).sample(100)
    c = WeightedRandom({f"n{i}": 1 for i in range(50)}).sample(100)
    d = WeightedRandom({f"n{i}": 1 for i in range(50)}).sample(100)
    assert a.tolist() == b.tolist()
    assert c.tolist() != d.tolist()


@pytest.mark.parametrize("impl", [LoadAware, pure.LoadAware])
def test_load_aware_weight_formula(impl: type) -> None:
    la = impl({"a": 10, "b": 10, "c": 5}, seed=11, min_share=0.1)
    la.report_load("a", 0.5)  # 10 × 0.5 = 5
    la.report_load("b", 3.0)  # overloaded: 10 × 0.1 = 1
    # c unreported: 5 × 1 = 5
    assert la.load("a") == 0.5 and la.load("c") == 0.0
    out = la.sample(200_000)
    counts = np.bincount(out, minlength=3).tolist()
    assert chi_square(counts, [5.0, 1.0, 5.0]) < chi_square_critical(2, ALPHA)
    assert la.weights == {"a": 10.0, "b": 10.0, "c": 5.0}


def test_load_aware_rust_equals_twin() -> None:
    kw = {"seed": 77, "min_share": 0.05}
    a, b = LoadAware({"x": 3, "y": 1, "z": 2}, **kw), pure.LoadAware({"x": 3, "y": 1, "z": 2}, **kw)
    for bal in (a, b):
        bal.report_load("x", 0.9)
        bal.report_load("z", 0.25)
    assert [a.pick() for _ in range(300)] == [b.pick() for _ in range(300)]


@pytest.mark.parametrize("impl", [LoadAware, pure.LoadAware])
@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_load_aware_bad_load(impl: type, bad: float) -> None:
    from shardwise.errors import ConfigurationError

    la = impl(["a"], seed=1)
    with pytest.raises(ConfigurationError, match="load"):
        la.report_load("a", bad)
