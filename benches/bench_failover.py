"""Failover benchmarks.

- ``phi_all()`` over 10,000 nodes: Rust (numpy array / dict) vs the pure-Python twin;
- ``heartbeat()`` one call: Rust vs twin;
- per-check overhead of the monitor: bookkeeping + state machine + dispatch of one check whose
  probe does nothing (``check_now`` path and the background scheduler);
- detection time distribution (simulated clock, the real state machine / detector) for our
  defaults vs Akka-like and HAProxy-like settings, printed as a table (run with ``-s``).
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import pytest
from bench_support import SMOKE, size
from shardwise import (
    AKKA_CLUSTER,
    CallableCheck,
    HealthTracker,
    Monitor,
    NodeState,
    PhiAccrualDetector,
)
from shardwise.pure.failover import PhiAccrualDetector as PurePhiAccrualDetector

NODES = size(10_000, 500)


def filled(cls: Any, nodes: int) -> Any:
    detector = cls()
    rng = random.Random(7)
    for i in range(nodes):
        t = 0.0
        for _ in range(20):
            t += rng.gauss(1.0, 0.05)
            detector.heartbeat(f"node-{i}", at=t)
    return detector


@pytest.fixture(scope="module")
def rust_detector() -> Any:
    return filled(PhiAccrualDetector, NODES)


@pytest.fixture(scope="module")
def pure_detector() -> Any:
    return filled(PurePhiAccrualDetector, NODES)


@pytest.mark.benchmark(group="failover-phi_all")
def test_phi_all_rust_array(benchmark: Any, rust_detector: Any) -> None:
    names, values = benchmark(rust_detector.phi_all, 21.5, as_array=True)
    assert len(names) == len(values) == NODES


@pytest.mark.benchmark(group="failover-phi_all")
def test_phi_all_rust_dict(benchmark: Any, rust_detector: Any) -> None:
    result = benchmark(rust_detector.phi_all, 21.5)
    assert len(result) == NODES


@pytest.mark.benchmark(group="failover-phi_all")
def test_phi_all_pure_twin(benchmark: Any, pure_detector: Any) -> None:
    result = benchmark(pure_detector.phi_all, 21.5)
    assert len(result) == NODES


@pytest.mark.benchmark(group="failover-phi_loop")
def test_phi_loop_rust_per_node_calls(benchmark: Any, rust_detector: Any) -> None:
    names = rust_detector.nodes
    phi = rust_detector.phi
    result = benchmark(lambda: [phi(n, 21.5) for n in names])
    assert len(result) == NODES


@pytest.mark.benchmark(group="failover-heartbeat")
@pytest.mark.parametrize("impl", ["rust", "pure"])
def test_heartbeat(benchmark: Any, impl: str) -> None:
    detector = (PhiAccrualDetector if impl == "rust" else PurePhiAccrualDetector)()
    clock = [0.0]

    def beat() -> None:
        clock[0] += 1.0
        detector.heartbeat("n", clock[0])

    benchmark(beat)


CHECK_NODES = size(200, 20)


@pytest.mark.benchmark(group="failover-monitor")
def test_monitor_check_overhead_check_now(benchmark: Any) -> None:
    """One round of ``check_now()`` over CHECK_NODES nodes whose probe returns True at once."""
    monitor = Monitor(interval=60.0)
    for i in range(CHECK_NODES):
        monitor.add_node(f"n{i}", CallableCheck(lambda: True))
    benchmark(monitor.check_now)
    benchmark.extra_info["nodes"] = CHECK_NODES


@pytest.mark.benchmark(group="failover-monitor")
def test_monitor_background_checks_per_second(benchmark: Any) -> None:
    """Background scheduler: CPU seconds per completed check at a 10 ms interval per node."""
    nodes = size(50, 5)
    duration = 0.3 if SMOKE else 2.0

    def run() -> tuple[int, float]:
        monitor = Monitor(interval=0.01)
        for i in range(nodes):
            monitor.add_node(f"n{i}", CallableCheck(lambda: True))
        cpu0 = time.process_time()
        with monitor:
            time.sleep(duration)
        cpu = time.process_time() - cpu0
        checks = sum(n.checks for n in monitor._nodes.values())
        return checks, cpu

    checks, cpu = benchmark.pedantic(run, rounds=1, iterations=1)
    assert checks > 0
    benchmark.extra_info.update(checks=checks, cpu_us_per_check=cpu / checks * 1e6)
    per_check = cpu / checks * 1e6
    print(f"\nmonitor background: {checks} checks in {duration} s, {per_check:.1f} µs CPU per check")


# --- detection time --------------------------------------------------------------------------

TRIALS = size(2_000, 50)


def phi_detection(settings: dict[str, Any], interval: float, jitter: float, rng: random.Random) -> float:
    """Seconds from a crash (just after a heartbeat) until φ crosses the threshold."""
    detector = PhiAccrualDetector(**settings)
    t = 0.0
    for _ in range(rng.randint(30, 60)):
        t += max(0.001, rng.gauss(interval, jitter))
        detector.heartbeat("n", at=t)
    crash = t + rng.uniform(0, interval)
    step, probe = 0.01, crash
    while detector.is_available("n", at=probe) and probe < crash + 60:
        probe += step
    return probe - crash


def active_check_detection(
    interval: float, fast_interval: float, timeout: float, fall: int, refused: bool, rng: random.Random
) -> float:
    """Seconds from a crash until the state machine says down, with the monitor's scheduling.

    ``refused``: a dead node answers at once (connection refused); otherwise each check hangs
    for ``timeout`` (host gone).
    """
    tracker = HealthTracker("n", rise=2, fall=fall)
    crash = rng.uniform(0, interval)
    t = 0.0
    while True:
        healthy = t < crash
        finished = t + (0.0005 if healthy or refused else timeout)
        tracker.observe(healthy, finished)
        if tracker.state is NodeState.DOWN:
            return finished - crash
        t += fast_interval if tracker.changing else interval


def summary(samples: list[float]) -> str:
    samples = sorted(samples)
    pct = lambda p: samples[min(len(samples) - 1, int(p * len(samples)))]  # noqa: E731
    return f"{statistics.median(samples):6.2f} | {pct(0.9):6.2f} | {pct(0.99):6.2f} | {samples[-1]:6.2f}"


@pytest.mark.benchmark(group="failover-detection")
def test_detection_time_table(benchmark: Any) -> None:
    rng = random.Random(11)
    rows: list[tuple[str, list[float]]] = []

    def phi(settings: dict[str, Any], interval: float, jitter: float) -> list[float]:
        return [phi_detection(settings, interval, jitter, rng) for _ in range(TRIALS)]

    def active(interval: float, fast: float, timeout: float, refused: bool) -> list[float]:
        return [active_check_detection(interval, fast, timeout, 3, refused, rng) for _ in range(TRIALS)]

    def run() -> None:
        rows.clear()
        rows.append(("φ defaults (threshold 8, pause 0), heartbeat 1 s ±50 ms", phi({}, 1.0, 0.05)))
        rows.append(
            ("φ defaults, heartbeat 100 ms ±10 ms", phi({"first_heartbeat_estimate": 0.1}, 0.1, 0.01))
        )
        rows.append(
            ("φ Akka cluster (threshold 8, pause 3 s), heartbeat 1 s ±50 ms", phi(AKKA_CLUSTER, 1.0, 0.05))
        )
        rows.append(
            ("active, our defaults (inter 2 s, fast 1 s, fall 3), refused", active(2.0, 1.0, 1.0, True))
        )
        rows.append(("active, our defaults, host gone (timeout 1 s)", active(2.0, 1.0, 1.0, False)))
        rows.append(
            ("active, HAProxy defaults (inter = fastinter 2 s, fall 3), refused", active(2.0, 2.0, 2.0, True))
        )

    benchmark.pedantic(run, rounds=1, iterations=1)
    print("\n| settings | p50 s | p90 s | p99 s | max s |\n|---|---|---|---|---|")
    for label, samples in rows:
        print(f"| {label} | {summary(samples)} |")
        benchmark.extra_info[label] = statistics.median(samples)
