"""Live lock checks against real redis-server processes: the checker must catch the broken locks
within seconds, and find nothing wrong with shardwise's fenced locks. About 50 s in all.

Results depend on timing (the fault schedule is seeded, the machine is not): the broken locks
are given enough faults that missing every violation would take a run of extraordinary luck."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from shardwise.testing import RunConfig, run_check

pytestmark = pytest.mark.redis

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def importable_test_locks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Client processes import tests/lockcheck_locks.py through PYTHONPATH."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    )
    yield


def test_naive_lock_double_grants_and_loses_updates_without_any_fault() -> None:
    run = run_check(RunConfig(lock="naive", clients=4, duration=3.0, ttl=0.5, seed="ci", faults=()))
    r = run.result
    assert run.faults == []
    assert r.count("double-grant") > 0
    assert r.count("stale-action") > 0
    assert r.lost_updates > 0 and r.final_counter is not None and r.final_counter < r.increments_acked
    assert not r.valid


def test_delete_blind_lock_is_caught_under_client_pauses() -> None:
    run = run_check(
        RunConfig(
            lock="lockcheck_locks:DELETE_BLIND",
            clients=4,
            duration=5.0,
            ttl=0.3,
            seed="ci",
            faults=("pause-client",),
        )
    )
    r = run.result
    assert any(f.kind == "pause-client" for f in run.faults)
    assert r.count("double-grant") > 0, r.findings[:5]
    assert not r.valid and run.kind.claims_safety


def test_redis_py_lock_loses_updates_when_a_holder_is_paused_past_its_ttl() -> None:
    run = run_check(
        RunConfig(lock="redis-py", clients=4, duration=8.0, ttl=0.3, seed="ci", faults=("pause-client",))
    )
    r = run.result
    long_pauses = [f for f in run.faults if f.end - f.start > run.config.ttl]
    assert long_pauses, run.faults
    assert r.lost_updates > 0, (r.findings[:5], run.faults)
    assert r.count("stale-action") > 0
    assert r.final_counter is not None and r.final_counter < r.increments_acked


def test_shardwise_lock_with_fencing_shows_no_violation_under_every_default_fault() -> None:
    run = run_check(RunConfig(lock="shardwise", clients=4, duration=14.0, ttl=0.5, seed="ci"))
    r = run.result
    kinds = {f.kind for f in run.faults}
    assert len(run.faults) >= 5 and "pause-client" in kinds, run.faults
    assert [f for f in r.findings if f.definite] == []
    assert r.valid and r.lost_updates == 0
    assert r.acquisitions > 20 and r.increments_acked > 20
    assert r.final_counter == r.writes_applied
    assert r.notices > 0  # holders did lose the lock, and noticed


def test_redlock_with_fencing_shows_no_violation() -> None:
    run = run_check(RunConfig(lock="redlock", clients=3, duration=8.0, ttl=0.5, seed="ci"))
    r = run.result
    assert run.faults
    assert [f for f in r.findings if f.definite] == []
    assert r.acquisitions > 10 and r.lost_updates == 0
