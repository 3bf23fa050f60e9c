"""Live lock checks against real redis-server processes: the checker must catch the broken locks
within seconds, and find nothing wrong with shardwise's fenced locks. About 40 s in all (the
deliberately broken delete-blind lock is checked through the CLI in test_lockcheck_cli.py).

Results depend on timing (the fault schedule is seeded, the machine is not): the broken locks
are given enough faults that missing every violation would take a run of extraordinary luck."""

from __future__ import annotations

import pytest
from shardwise.testing import RunConfig, run_check

pytestmark = pytest.mark.redis


def test_naive_lock_double_grants_and_loses_updates_without_any_fault() -> None:
    run = run_check(RunConfig(lock="naive", clients=4, duration=3.0, ttl=0.5, seed="ci", faults=()))
    r = run.result
    assert run.faults == []
    assert r.count("double-grant") > 0
    assert r.count("stale-action") > 0
    assert r.lost_updates > 0 and r.final_counter is not None and r.final_counter < r.increments_acked
    assert not r.valid


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
