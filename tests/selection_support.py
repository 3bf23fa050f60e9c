"""Helpers shared by the selection tests: a settable clock, both implementations, chi-square."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import shardwise.pure.selection as pure
from shardwise import selection as rust

CLASSES = ["RoundRobin", "WeightedRandom", "LeastConnections", "PowerOfTwo", "LoadAware"]
SEEDED = {"WeightedRandom", "PowerOfTwo", "LoadAware"}
IMPLS = {"rust": rust, "pure": pure}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(impl: str, cls: str, backends: Any = None, **kw: Any) -> Any:
    """A balancer of class ``cls`` from implementation ``impl`` ("rust" or "pure")."""
    if cls in SEEDED:
        kw.setdefault("seed", 12345)
    return getattr(IMPLS[impl], cls)(backends, **kw)


def chi_square_critical(df: int, alpha: float) -> float:
    """Upper ``alpha`` critical value of chi-square with ``df`` degrees of freedom, by the
    Wilson–Hilferty approximation: ``df * (1 - 2/(9 df) + z * sqrt(2/(9 df)))**3``."""
    z = NormalDist().inv_cdf(1.0 - alpha)
    c = 2.0 / (9.0 * df)
    return df * (1.0 - c + z * math.sqrt(c)) ** 3


def chi_square(counts: list[int], weights: list[float]) -> float:
    """Pearson's statistic of ``counts`` against probabilities proportional to ``weights``."""
    n = sum(counts)
    total = sum(weights)
    return sum((c - n * w / total) ** 2 / (n * w / total) for c, w in zip(counts, weights, strict=True))
