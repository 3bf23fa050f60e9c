"""FailoverGroup + RedisPromoter on three real redis-server processes (one primary, two replicas)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from redis_support import RedisServer
from shardwise import (
    ConfigurationError,
    FailoverGroup,
    Monitor,
    NodeState,
    Promotion,
    RedisCheck,
    RedisPromoter,
)

FAST_SYNC = ["--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"]


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except redis.RedisError:
            pass
        time.sleep(step)
    return False


def replication(server: RedisServer) -> dict[str, object]:
    return server.client(socket_timeout=1).info("replication")


def follows(server: RedisServer, primary: RedisServer) -> bool:
    info = replication(server)
    return (
        info.get("role") == "slave"
        and int(info.get("master_port", 0)) == primary.port  # type: ignore[call-overload]
        and info.get("master_link_status") == "up"
    )


def start_set(redis_factory: Callable[..., RedisServer]) -> dict[str, RedisServer]:
    servers = {name: redis_factory(extra_args=FAST_SYNC) for name in ("r1", "r2", "r3")}
    for name in ("r2", "r3"):
        servers[name].client().execute_command("REPLICAOF", "127.0.0.1", servers["r1"].port)
    assert wait_for(lambda: all(follows(servers[n], servers["r1"]) for n in ("r2", "r3")), 10)
    return servers


def monitored_group(
    servers: dict[str, RedisServer], **group_kw: object
) -> tuple[Monitor, FailoverGroup[redis.Redis], RedisPromoter]:
    monitor = Monitor(interval=0.1, timeout=0.3, rise=2, fall=2)
    for name, server in servers.items():
        monitor.add_node(name, RedisCheck(server.client()))
    clients = {name: server.client(socket_timeout=2) for name, server in servers.items()}
    promoter = RedisPromoter(clients, timeout=1.0)
    group: FailoverGroup[redis.Redis] = FailoverGroup(
        "r1", ["r2", "r3"], promote=promoter, resources=clients, **group_kw  # type: ignore[arg-type]
    )
    monitor.attach(group)
    return monitor, group, promoter


def test_kill_primary_promotes_a_replica_and_others_follow(redis_factory: Callable[..., RedisServer]) -> None:
    servers = start_set(redis_factory)
    monitor, group, promoter = monitored_group(servers)
    with monitor:
        group.resource.set("before", "1")
        # replication is asynchronous: make sure both replicas have the write before the crash
        assert wait_for(lambda: all(servers[n].client().get("before") == b"1" for n in ("r2", "r3")), 5)
        servers["r1"].kill()
        assert wait_for(lambda: group.primary != "r1", 10)
        new = group.primary
        other = "r3" if new == "r2" else "r2"
        assert replication(servers[new])["role"] == "master"
        assert wait_for(lambda: follows(servers[other], servers[new]), 10)
        # writes through the group succeed again, and replicate to the remaining replica
        group.resource.set("after", "2")
        assert group.resource.get("before") == b"1"
        assert wait_for(lambda: servers[other].client().get("after") == b"2", 5)
        assert len(group.history) == 1
        promotion = group.history[0]
        assert (promotion.old_primary, promotion.new_primary) == ("r1", new)
        assert "r1 down" in promotion.reason
        # the old primary comes back as a replica of the new one (no second master)
        servers["r1"].restart()
        assert wait_for(lambda: follows(servers["r1"], servers[new]), 10)
        assert wait_for(lambda: servers["r1"].client().get("after") == b"2", 5)
        assert group.primary == new and len(group.history) == 1  # manual fail-back: nothing yet
        # manual fail-back
        group.fail_back()
        assert group.primary == "r1" and replication(servers["r1"])["role"] == "master"
        assert wait_for(lambda: follows(servers[new], servers["r1"]), 10)
        assert wait_for(lambda: follows(servers[other], servers["r1"]), 10)
        group.resource.set("back", "3")
    promoter.close()


def test_auto_failback_after_healthy_time(redis_factory: Callable[..., RedisServer]) -> None:
    servers = start_set(redis_factory)
    monitor, group, promoter = monitored_group(servers, failback="auto", failback_after=0.8)
    with monitor:
        servers["r1"].kill()
        assert wait_for(lambda: group.primary != "r1", 10)
        servers["r1"].restart()
        assert wait_for(lambda: monitor.state("r1") is NodeState.UP, 10)
        up_at = time.monotonic()
        assert wait_for(lambda: group.primary == "r1", 10)
        assert time.monotonic() - up_at >= 0.8 - 0.05
        assert "fail-back" in group.history[-1].reason
        assert replication(servers["r1"])["role"] == "master"
        group.resource.set("k", "v")
    group.close()
    promoter.close()


def test_failed_promotion_tries_the_next_backup(redis_factory: Callable[..., RedisServer]) -> None:
    servers = start_set(redis_factory)
    calls: list[str] = []

    def flaky(promotion: Promotion) -> None:
        calls.append(promotion.new_primary)
        if promotion.new_primary == "r2":
            raise RuntimeError("r2 refuses")

    group: FailoverGroup[object] = FailoverGroup("r1", ["r2", "r3"], promote=flaky)
    monitor = Monitor(interval=0.1, timeout=0.3, rise=1, fall=1)
    for name, server in servers.items():
        monitor.add_node(name, RedisCheck(server.client()))
    monitor.attach(group)
    with monitor:
        servers["r1"].kill()
        assert wait_for(lambda: group.primary == "r3", 10)
    assert calls == ["r2", "r3"]


def test_group_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="backup"):
        FailoverGroup("a", [])
    with pytest.raises(ConfigurationError, match="distinct"):
        FailoverGroup("a", ["a"])
    with pytest.raises(ConfigurationError, match="failback"):
        FailoverGroup("a", ["b"], failback="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="resources"):
        FailoverGroup("a", ["b"], resources={"a": 1})


def test_group_takes_the_monitor_view_on_attach_and_skips_down_backups() -> None:
    from shardwise import CallableCheck

    healthy = {"p": True, "b1": False, "b2": True}
    promoted: list[str] = []
    monitor = Monitor(interval=0.05, timeout=0.2, rise=1, fall=1)
    for name in healthy:
        initial = "down" if name == "b1" else "up"
        monitor.add_node(name, CallableCheck(lambda n=name: healthy[n]), initial=initial)
    group: FailoverGroup[object] = FailoverGroup(
        "p", ["b1", "b2"], promote=lambda p: promoted.append(p.new_primary)
    )
    monitor.attach(group)
    assert group.health()["b1"] is NodeState.DOWN
    with monitor:
        healthy["p"] = False
        assert wait_for(lambda: group.primary == "b2", 5)
    assert promoted == ["b2"]
