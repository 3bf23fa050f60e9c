"""Pure-Python twin of :class:`shardwise.PhiAccrualDetector` (same API, same floating-point steps).

It is the readable reference and the parity oracle of the Rust detector.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from shardwise.errors import ConfigurationError

__all__ = ["HeartbeatWindow", "PhiAccrualDetector", "phi_from_stats"]


def phi_from_stats(elapsed: float, mean: float, std_deviation: float) -> float:
    """φ of a silence of ``elapsed`` seconds for a normal law (mean, std), logistic approximation."""
    y = (elapsed - mean) / std_deviation
    try:
        e = math.exp(-y * (1.5976 + 0.070566 * y * y))
    except OverflowError:
        e = math.inf
    if elapsed > mean:
        ratio = e / (1.0 + e)
        return math.inf if ratio == 0.0 else -math.log10(ratio)
    rest = 1.0 - 1.0 / (1.0 + e)
    return math.inf if rest == 0.0 else -math.log10(rest)


class HeartbeatWindow:
    """The last ``capacity`` inter-arrival times with running sum and sum of squares."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.intervals: deque[float] = deque()
        self.sum = 0.0
        self.squared_sum = 0.0

    def push(self, interval: float) -> None:
        if len(self.intervals) >= self.capacity:
            oldest = self.intervals.popleft()
            self.sum -= oldest
            self.squared_sum -= oldest * oldest
        self.intervals.append(interval)
        self.sum += interval
        self.squared_sum += interval * interval

    def __len__(self) -> int:
        return len(self.intervals)

    def mean(self) -> float:
        return self.sum / len(self.intervals) if self.intervals else 0.0

    def variance(self) -> float:
        if not self.intervals:
            return 0.0
        mean = self.mean()
        return max(self.squared_sum / len(self.intervals) - mean * mean, 0.0)

    def std_deviation(self) -> float:
        return math.sqrt(self.variance())


def _check(name: str, ok: bool, message: str) -> None:
    if not ok:
        raise ConfigurationError(f"{name} {message}")


def _finite(x: float) -> bool:
    return math.isfinite(x)


class PhiAccrualDetector:
    """φ accrual failure detector over many nodes; see :class:`shardwise.PhiAccrualDetector`."""

    def __init__(
        self,
        threshold: float = 8.0,
        max_sample_size: int = 1000,
        min_std_deviation: float = 0.1,
        acceptable_heartbeat_pause: float = 0.0,
        first_heartbeat_estimate: float = 1.0,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        _check("max_sample_size", max_sample_size >= 1, "must be >= 1")
        _check("threshold", _finite(threshold) and threshold > 0, "must be a finite number > 0")
        _check(
            "min_std_deviation",
            _finite(min_std_deviation) and min_std_deviation > 0,
            "must be a finite number of seconds > 0",
        )
        _check(
            "acceptable_heartbeat_pause",
            _finite(acceptable_heartbeat_pause) and acceptable_heartbeat_pause >= 0,
            "must be a finite number of seconds >= 0",
        )
        _check(
            "first_heartbeat_estimate",
            _finite(first_heartbeat_estimate) and first_heartbeat_estimate > 0,
            "must be a finite number of seconds > 0",
        )
        if clock is not None and not callable(clock):
            raise TypeError("clock must be a callable returning seconds")
        self.threshold = float(threshold)
        self.max_sample_size = int(max_sample_size)
        self.min_std_deviation = float(min_std_deviation)
        self.acceptable_heartbeat_pause = float(acceptable_heartbeat_pause)
        self.first_heartbeat_estimate = float(first_heartbeat_estimate)
        self.clock: Callable[[], float] = clock if clock is not None else time.monotonic
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._windows: dict[str, HeartbeatWindow] = {}

    def _now(self, at: float | None) -> float:
        t = float(self.clock()) if at is None else float(at)
        if not math.isfinite(t):
            raise ValueError(f"time must be a finite number of seconds, got {t}")
        return t

    @staticmethod
    def _name(node: object) -> str:
        if not isinstance(node, str):
            raise TypeError(f"node must be a str, got {type(node).__name__}")
        return node

    def _phi_of(self, node: str, at: float) -> float:
        window = self._windows[node]
        elapsed = at - self._last[node]
        mean = window.mean() + self.acceptable_heartbeat_pause
        std = max(window.std_deviation(), self.min_std_deviation)
        return phi_from_stats(elapsed, mean, std)

    def heartbeat(self, node: str, at: float | None = None) -> None:
        """Record a heartbeat from ``node`` (at ``at``, default now)."""
        name = self._name(node)
        t = self._now(at)
        with self._lock:
            last = self._last.get(name)
            if last is None:
                window = HeartbeatWindow(self.max_sample_size)
                spread = self.first_heartbeat_estimate / 4.0
                window.push(self.first_heartbeat_estimate - spread)
                window.push(self.first_heartbeat_estimate + spread)
                self._windows[name] = window
                self._last[name] = t
                return
            if t < last:
                raise ValueError(
                    f"heartbeat for {name!r} at {t} is earlier than its last heartbeat at {last}"
                )
            if self._phi_of(name, t) < self.threshold:
                self._windows[name].push(t - last)
            self._last[name] = t

    def phi(self, node: str, at: float | None = None) -> float:
        """φ of ``node`` at ``at`` (default now); 0.0 for a node never heard from."""
        name = self._name(node)
        t = self._now(at)
        with self._lock:
            return self._phi_of(name, t) if name in self._last else 0.0

    def is_available(self, node: str, at: float | None = None) -> bool:
        """True while φ(node) < threshold."""
        return self.phi(node, at) < self.threshold

    @overload
    def phi_all(self, at: float | None = None, *, as_array: Literal[False] = False) -> dict[str, float]: ...
    @overload
    def phi_all(
        self, at: float | None = None, *, as_array: Literal[True]
    ) -> tuple[tuple[str, ...], npt.NDArray[np.float64]]: ...
    def phi_all(self, at: float | None = None, *, as_array: bool = False) -> Any:
        """φ of every node: ``{node: φ}`` or ``(names, float64 array)``."""
        t = self._now(at)
        with self._lock:
            names = tuple(self._last)
            values = [self._phi_of(n, t) for n in names]
        if as_array:
            return names, np.array(values, dtype=np.float64)
        return dict(zip(names, values, strict=False))

    def remove(self, node: str) -> bool:
        """Forget ``node``; returns whether it was known."""
        name = self._name(node)
        with self._lock:
            self._windows.pop(name, None)
            return self._last.pop(name, None) is not None

    def last_heartbeat(self, node: str) -> float | None:
        return self._last.get(self._name(node))

    def stats(self, node: str) -> tuple[float, float, int] | None:
        """``(mean, std_deviation, samples)`` of the node's window, unadjusted."""
        window = self._windows.get(self._name(node))
        if window is None:
            return None
        return window.mean(), window.std_deviation(), len(window)

    @property
    def nodes(self) -> list[str]:
        return list(self._last)

    def __len__(self) -> int:
        return len(self._last)

    def __contains__(self, node: object) -> bool:
        return isinstance(node, str) and node in self._last
