"""φ accrual detector: Rust == pure twin, both == Akka's formula and the normal CDF."""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np
import pytest
import shardwise
from hypothesis import given
from hypothesis import strategies as st
from shardwise.pure import failover as pure

IMPLS = [shardwise.PhiAccrualDetector, pure.PhiAccrualDetector]


def normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@pytest.mark.parametrize("z", [0.0, 0.3, 0.6, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
def test_logistic_approximation_tracks_the_normal_cdf(z: float) -> None:
    # F = 1 - 10**-φ must be within 1e-3 of the true normal CDF (erf oracle) at mean 0, σ 1.
    for cls in IMPLS:
        d = cls(first_heartbeat_estimate=0.4, min_std_deviation=0.01)  # window: mean 0.4, σ 0.1
        d.heartbeat("n", at=0.0)
        phi = d.phi("n", at=0.4 + z * 0.1)
        assert abs((1 - 10 ** -phi) - normal_cdf(z)) < 1e-3


# Akka's own test-suite lists φ for mean 1000 ms, σ 100 ms (±0.1).
AKKA_VALUES = [(0.0, 0.0), (0.5, 0.0), (1.0, 0.3), (1.2, 1.6), (1.4, 4.7), (1.6, 10.8), (1.7, 15.3)]


@pytest.mark.parametrize("cls", IMPLS)
@pytest.mark.parametrize(("elapsed", "expected"), AKKA_VALUES)
def test_hand_computed_akka_values(cls: type, elapsed: float, expected: float) -> None:
    # Seeds 0.3 and 0.5 → window mean 0.4, σ 0.1; + 0.6 acceptable pause → mean 1.0.
    d = cls(first_heartbeat_estimate=0.4, acceptable_heartbeat_pause=0.6)
    d.heartbeat("n", at=10.0)
    assert d.stats("n") == pytest.approx((0.4, 0.1, 2))
    assert d.phi("n", at=10.0 + elapsed) == pytest.approx(expected, abs=0.1)


def direct_phi(intervals: list[float], elapsed: float, pause: float, min_std: float) -> float:
    """Akka's φ from the window computed directly (no running sums), as an independent oracle."""
    mean = sum(intervals) / len(intervals)
    std = max(math.sqrt(max(sum(x * x for x in intervals) / len(intervals) - mean * mean, 0.0)), min_std)
    mean += pause
    y = (elapsed - mean) / std
    e = math.exp(-y * (1.5976 + 0.070566 * y * y))
    return -math.log10(e / (1 + e)) if elapsed > mean else -math.log10(1 - 1 / (1 + e))


def test_fixed_sequence_matches_direct_formula() -> None:
    times = [0.0, 1.0, 2.1, 2.9, 4.0, 5.05, 6.0]
    for cls in IMPLS:
        d = cls(max_sample_size=5, acceptable_heartbeat_pause=0.2)
        for t in times:
            d.heartbeat("n", at=t)
        seeds = [0.75, 1.25]
        window = (seeds + [b - a for a, b in itertools.pairwise(times)])[-5:]
        for elapsed in (0.5, 1.0, 1.3, 1.8):
            assert d.phi("n", at=6.0 + elapsed) == pytest.approx(
                direct_phi(window, elapsed, 0.2, 0.1), rel=1e-9, abs=1e-12
            )


steps = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0.0, 3.0, allow_nan=False)), min_size=1, max_size=60
)


@given(
    steps=steps,
    max_sample_size=st.integers(1, 8),
    pause=st.floats(0.0, 2.0),
    min_std=st.floats(0.01, 0.5),
    estimate=st.floats(0.05, 3.0),
    threshold=st.floats(0.5, 16.0),
    probe=st.floats(0.0, 10.0),
)
def test_rust_equals_pure_twin(
    steps: list[tuple[str, float]],
    max_sample_size: int,
    pause: float,
    min_std: float,
    estimate: float,
    threshold: float,
    probe: float,
) -> None:
    kw = dict(
        threshold=threshold,
        max_sample_size=max_sample_size,
        min_std_deviation=min_std,
        acceptable_heartbeat_pause=pause,
        first_heartbeat_estimate=estimate,
    )
    rust, twin = shardwise.PhiAccrualDetector(**kw), pure.PhiAccrualDetector(**kw)
    t = 0.0
    for node, gap in steps:
        t += gap
        rust.heartbeat(node, at=t)
        twin.heartbeat(node, at=t)
        assert rust.phi(node, at=t + probe) == pytest.approx(twin.phi(node, at=t + probe), rel=1e-12)
        assert rust.stats(node) == pytest.approx(twin.stats(node), rel=1e-12)
    names_r, values_r = rust.phi_all(at=t + probe, as_array=True)
    names_t, values_t = twin.phi_all(at=t + probe, as_array=True)
    assert names_r == names_t
    np.testing.assert_allclose(values_r, values_t, rtol=1e-12)
    assert rust.nodes == twin.nodes
    for node in rust.nodes:
        assert rust.is_available(node, at=t + probe) == twin.is_available(node, at=t + probe)


@pytest.mark.parametrize("cls", IMPLS)
def test_detection_of_100ms_heartbeats_within_one_second(cls: type) -> None:
    now = [0.0]
    d = cls(clock=lambda: now[0])  # default threshold 8.0
    for _ in range(100):
        d.heartbeat("n")
        now[0] += 0.1
    last = d.last_heartbeat("n")
    assert d.is_available("n")
    detected = None
    for step in range(1, 301):
        now[0] = last + step * 0.01
        if not d.is_available("n"):
            detected = now[0] - last
            break
    assert detected is not None and detected <= 1.0
    # ...and not falsely suspected at a normal interval.
    assert detected > 0.2


@pytest.mark.parametrize("cls", IMPLS)
def test_late_heartbeat_after_failure_is_not_sampled(cls: type) -> None:
    d = cls()
    d.heartbeat("n", at=0.0)
    d.heartbeat("n", at=1.0)
    assert d.stats("n")[2] == 3
    d.heartbeat("n", at=60.0)  # φ was far above threshold: the 59 s gap must not skew the window
    assert d.stats("n")[2] == 3
    assert d.is_available("n", at=60.5)


@pytest.mark.parametrize("cls", IMPLS)
def test_phi_all_forms_agree_and_remove(cls: type) -> None:
    d = cls()
    for i in range(50):
        d.heartbeat(f"n{i}", at=float(i) / 10)
    as_dict = d.phi_all(at=7.0)
    names, values = d.phi_all(at=7.0, as_array=True)
    assert list(as_dict) == list(names) == d.nodes
    assert values.dtype == np.float64
    assert [as_dict[n] for n in names] == values.tolist()
    assert as_dict["n3"] == d.phi("n3", at=7.0)
    assert d.remove("n3") and not d.remove("n3")
    assert "n3" not in d and "n4" in d and len(d) == 49
    names2, values2 = d.phi_all(at=7.0, as_array=True)
    assert "n3" not in names2 and values2[3] == d.phi("n4", at=7.0)
    assert d.phi("never", at=7.0) == 0.0 and d.is_available("never", at=7.0)


@pytest.mark.parametrize("cls", IMPLS)
def test_bad_input_is_rejected_with_a_clear_error(cls: type) -> None:
    for field, value in [
        ("threshold", 0.0),
        ("min_std_deviation", 0.0),
        ("acceptable_heartbeat_pause", -1.0),
        ("first_heartbeat_estimate", math.nan),
        ("max_sample_size", 0),
    ]:
        with pytest.raises(shardwise.ConfigurationError, match=field):
            cls(**{field: value})
    d = cls()
    with pytest.raises(TypeError, match="node must be a str"):
        d.heartbeat(3)
    d.heartbeat("n", at=5.0)
    with pytest.raises(ValueError, match="earlier"):
        d.heartbeat("n", at=4.0)
    with pytest.raises(ValueError, match="finite"):
        d.phi("n", at=math.inf)
    with pytest.raises(TypeError):
        cls(clock=42)


def test_rust_clock_errors_and_concurrent_use() -> None:
    bad = shardwise.PhiAccrualDetector(clock=lambda: "soon")
    with pytest.raises(TypeError, match="clock"):
        bad.phi("x")
    d = shardwise.PhiAccrualDetector()
    errors: list[BaseException] = []

    def beat(k: int) -> None:
        try:
            for i in range(300):
                d.heartbeat(f"w{k}-{i % 30}")
                d.phi_all(as_array=True)
                if i % 50 == 0:
                    d.remove(f"w{k}-0")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=beat, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    names, values = d.phi_all(as_array=True)
    assert len(names) == len(values) == len(d)
