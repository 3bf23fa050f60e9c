"""Selection benchmarks: pick() per call with 100 backends for every balancer (Rust vs pure twin
vs random.choices vs numpy Generator.choice(p=)), and bulk WeightedRandom.sample over 1,000
weights. Each benchmark records ``ops`` (calls or draws per round) in extra_info: ns/op =
mean / ops. Figures: see BENCHMARKS.md (## Selection)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import shardwise.pure.selection as pure
from bench_support import size
from shardwise import selection as rust

N_BACKENDS = 100
PICKS = size(2_000, 20)
CLASSES = ["RoundRobin", "WeightedRandom", "LeastConnections", "PowerOfTwo", "LoadAware"]
SEEDED = {"WeightedRandom", "PowerOfTwo", "LoadAware"}


def _weights(n: int) -> dict[str, float]:
    rng = random.Random(1)
    return {f"backend-{i:03d}": float(rng.randint(1, 10)) for i in range(n)}


def _picker(bal: Any, picks: int) -> Callable[[], None]:
    pick = bal.pick
    loop = range(picks)

    def run() -> None:
        for _ in loop:
            pick()

    return run


@pytest.mark.parametrize("impl", ["rust", "pure"])
@pytest.mark.parametrize("cls", CLASSES)
def test_pick(benchmark: Any, cls: str, impl: str) -> None:
    kw = {"seed": 7} if cls in SEEDED else {}
    module = rust if impl == "rust" else pure
    bal = getattr(module, cls)(_weights(N_BACKENDS), **kw)
    picks = PICKS if impl == "rust" else max(PICKS // 20, 1)
    benchmark.group = "pick, 100 backends"
    benchmark.extra_info["ops"] = picks
    benchmark(_picker(bal, picks))


def test_pick_round_robin_all_healthy_10(benchmark: Any) -> None:
    bal = rust.RoundRobin(_weights(10))
    benchmark.group = "pick, 100 backends"
    benchmark.extra_info["ops"] = PICKS
    benchmark(_picker(bal, PICKS))


def test_pick_random_choices(benchmark: Any) -> None:
    weights = _weights(N_BACKENDS)
    names, cum = list(weights), list(np.cumsum(list(weights.values())))
    choices = random.choices
    loop = range(PICKS)

    def run() -> None:
        for _ in loop:
            choices(names, cum_weights=cum)

    benchmark.group = "pick, 100 backends"
    benchmark.extra_info["ops"] = PICKS
    benchmark(run)


def test_pick_numpy_choice(benchmark: Any) -> None:
    weights = np.array(list(_weights(N_BACKENDS).values()))
    p = weights / weights.sum()
    gen = np.random.default_rng(1)
    picks = max(PICKS // 10, 1)
    loop = range(picks)

    def run() -> None:
        for _ in loop:
            gen.choice(N_BACKENDS, p=p)

    benchmark.group = "pick, 100 backends"
    benchmark.extra_info["ops"] = picks
    benchmark(run)


def test_lease_acquire_release(benchmark: Any) -> None:
    bal = rust.LeastConnections(_weights(N_BACKENDS))
    loop = range(PICKS)

    def run() -> None:
        for _ in loop:
            with bal.acquire():
                pass

    benchmark.group = "pick, 100 backends"
    benchmark.extra_info["ops"] = PICKS
    benchmark(run)


DRAWS = size(1_000_000, 1_000)
SAMPLE_WEIGHTS = np.random.default_rng(3).uniform(0.1, 10.0, size=1_000)


def test_sample_rust(benchmark: Any) -> None:
    bal = rust.WeightedRandom({f"b{i}": w for i, w in enumerate(SAMPLE_WEIGHTS)}, seed=1)
    benchmark.group = "sample, 1,000 weights"
    benchmark.extra_info["ops"] = DRAWS
    out = benchmark(bal.sample, DRAWS)
    assert out.shape == (DRAWS,)


def test_sample_pure(benchmark: Any) -> None:
    draws = max(DRAWS // 100, 1)
    bal = pure.WeightedRandom({f"b{i}": w for i, w in enumerate(SAMPLE_WEIGHTS)}, seed=1)
    benchmark.group = "sample, 1,000 weights"
    benchmark.extra_info["ops"] = draws
    benchmark(bal.sample, draws)


def test_sample_numpy_choice(benchmark: Any) -> None:
    gen = np.random.default_rng(1)
    p = SAMPLE_WEIGHTS / SAMPLE_WEIGHTS.sum()
    benchmark.group = "sample, 1,000 weights"
    benchmark.extra_info["ops"] = DRAWS
    benchmark(lambda: gen.choice(len(p), size=DRAWS, p=p))


def test_sample_random_choices(benchmark: Any) -> None:
    draws = max(DRAWS // 10, 1)
    population = range(len(SAMPLE_WEIGHTS))
    cum = list(np.cumsum(SAMPLE_WEIGHTS))
    benchmark.group = "sample, 1,000 weights"
    benchmark.extra_info["ops"] = draws
    benchmark(lambda: random.choices(population, cum_weights=cum, k=draws))
