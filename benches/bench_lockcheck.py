"""Lock-check soak: each lock for 60 s under the default fault mix (4 clients, ttl 0.5 s, seed 1).

Not a speed benchmark: one round per lock; the figures (acquisitions, faults injected, violations,
loss-to-notice latency) are in each benchmark's ``extra_info`` and printed. In smoke mode
(SHARDWISE_BENCH_SMOKE=1) each lock runs for 2 s only, to prove the soak still works.

    SHARDWISE_ALLOW_SOURCE=1 python -m pytest benches/bench_lockcheck.py --benchmark-only -s \\
        --benchmark-json=lockcheck.json
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from bench_support import SMOKE
from shardwise.testing import RunConfig, RunResult, run_check

pytestmark = pytest.mark.redis

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
DURATION = 2.0 if SMOKE else 60.0
# shardwise-unfenced: RedisLock without fencing tokens on the writes (tests/lockcheck_locks.py)
LOCKS = ["naive", "redis-py", "shardwise", "redlock", "lockcheck_locks:SHARDWISE_UNFENCED"]


@pytest.fixture(autouse=True)
def importable_test_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client processes import tests/lockcheck_locks.py through PYTHONPATH."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    )


def figures(run: RunResult) -> dict[str, Any]:
    r = run.result
    return {
        "lock": run.kind.name,
        "duration_s": run.config.duration,
        "acquisitions": r.acquisitions,
        "acquisitions_per_s": round(r.acquisitions_per_s, 2),
        "faults": len(run.faults),
        "violations": r.violations,
        "stale_actions": r.count("stale-action"),
        "double_grants": r.count("double-grant"),
        "lost_updates": r.lost_updates,
        "increments_acknowledged": r.increments_acked,
        "notices": r.notices,
        "losses_measured": len(r.loss_latencies_ms),
        "loss_notice_p50_ms": r.latency_percentile(0.5),
        "loss_notice_p99_ms": r.latency_percentile(0.99),
        "longest_wait_s": round(r.longest_wait_s, 2),
    }


@pytest.mark.parametrize("lock", LOCKS)
def test_soak(benchmark: Any, lock: str) -> None:
    config = RunConfig(lock=lock, clients=4, duration=DURATION, ttl=0.5, seed="1")
    runs: list[RunResult] = []
    benchmark.pedantic(lambda: runs.append(run_check(config)), rounds=1, iterations=1)
    if not runs:  # --benchmark-disable still runs the function once
        runs.append(run_check(config))
    result = figures(runs[-1])
    benchmark.extra_info.update(result)
    print(result)
    assert result["acquisitions"] > 0
    if runs[-1].kind.claims_safety:
        assert result["violations"] == 0, runs[-1].result.findings[:5]
