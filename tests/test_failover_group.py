"""FailoverGroup + RedisPromoter on three real redis-server processes (one primary, two replicas)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis
from failover_support import fill, follows, monitored_group, replication, start_set, wait_for
from redis.backoff import NoBackoff
from redis.retry import Retry
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


class PrimaryWatch(threading.Thread):
    """Samples, every 10 ms, how many keys the server the group calls its primary holds."""

    def __init__(self, group: FailoverGroup[redis.Redis], servers: dict[str, RedisServer]) -> None:
        super().__init__(daemon=True)
        self.group = group
        once = Retry(NoBackoff(), 0)  # no hidden retry: an answer is from the moment asked
        self.clients = {name: s.client(socket_timeout=0.5, retry=once) for name, s in servers.items()}
        self.samples: list[tuple[str, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            name = self.group.primary
            try:
                count = int(self.clients[name].dbsize())
            except redis.RedisError:  # the primary is dead and not replaced yet
                continue
            if self.group.primary == name:  # still the primary when it answered
                self.samples.append((name, count))

    def fewest(self) -> tuple[str, int]:
        self.done.set()
        self.join(5)
        return min(self.samples, key=lambda sample: sample[1])


class Writer(threading.Thread):
    """Writes keys to whatever the group calls its primary; keeps those acknowledged while it was
    the primary (before and after the write)."""

    def __init__(self, group: FailoverGroup[redis.Redis], servers: dict[str, RedisServer]) -> None:
        super().__init__(daemon=True)
        self.group = group
        once = Retry(NoBackoff(), 0)
        self.clients = {name: s.client(socket_timeout=5, retry=once) for name, s in servers.items()}
        self.acked: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.done.is_set():
            name = self.group.primary
            key = f"w{i}"
            i += 1
            try:
                self.clients[name].set(key, 1)
            except redis.RedisError:  # dead, or no longer the primary (READONLY)
                time.sleep(0.005)
                continue
            if self.group.primary == name:
                self.acked.append(key)

    def finish(self) -> list[str]:
        self.done.set()
        self.join(10)
        return self.acked


def test_auto_failback_waits_until_the_old_primary_has_caught_up(
    redis_factory: Callable[..., RedisServer],
) -> None:
    keys, later = 4000, 100
    servers = start_set(redis_factory)
    fill(servers["r1"], range(keys))
    assert servers["r1"].client().wait(2, 5000) == 2
    monitor, group, promoter = monitored_group(servers, failback="auto", failback_after=0.3)
    watch = PrimaryWatch(group, servers)
    with monitor:
        watch.start()
        servers["r1"].kill()
        assert wait_for(lambda: group.primary != "r1", 10)
        new = group.primary
        fill(servers[new], range(keys, keys + later))  # written after the failover: must survive too
        writer = Writer(group, servers)  # and so must every write acknowledged from now on
        writer.start()
        # The old primary comes back empty; its full resync from the new primary takes seconds,
        # far longer than failback_after.
        servers[new].client().config_set("rdb-key-save-delay", 500)
        servers["r1"].restart()
        assert wait_for(lambda: monitor.state("r1") is NodeState.UP, 10)
        assert wait_for(lambda: group.primary == "r1", 30)
        time.sleep(0.2)  # a few writes to the new primary too
        fewest = watch.fewest()
        acked = writer.finish()
        assert replication(servers["r1"])["role"] == "master"
        final = servers["r1"].client()
        total = final.dbsize()
        assert total >= keys + later + len(acked)  # (a write whose answer came too late is extra)
        pipe = final.pipeline(transaction=False)
        for key in acked:
            pipe.exists(key)
        assert all(pipe.execute()), "acknowledged writes are missing on the final primary"
        others = [n for n in servers if n != "r1"]
        assert wait_for(lambda: all(follows(servers[n], servers["r1"]) for n in others), 10)
        assert wait_for(lambda: all(servers[n].client().dbsize() == total for n in others), 10)
    group.close()
    promoter.close()
    assert fewest[1] >= keys, f"the group's primary {fewest[0]} held only {fewest[1]} of {keys} keys"
    assert len(acked) > 100  # the writes went on during the resync and the switch-over
    assert [p.new_primary for p in group.history] == [new, "r1"]
    assert "fail-back" in group.history[-1].reason and group.history[-1].planned


def test_most_up_to_date_replica_is_promoted_not_the_first(redis_factory: Callable[..., RedisServer]) -> None:
    servers = start_set(redis_factory)
    fill(servers["r1"], range(1000))
    assert servers["r1"].client().wait(2, 5000) == 2
    monitor, group, promoter = monitored_group(servers)
    lagging = servers["r2"].client()
    with monitor:
        assert wait_for(lambda: all(monitor._nodes[n].checks >= 2 for n in servers), 5)
        # r2 (first in the list) stops applying the replication stream but still answers PING.
        lagging.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
        try:
            fill(servers["r1"], range(1000, 1500))
            assert servers["r1"].client().wait(1, 5000) == 1  # r3 has them
            servers["r1"].kill()
            assert wait_for(lambda: group.primary != "r1", 10)
            assert monitor.state("r2") is NodeState.UP  # r2 was a candidate: it was just behind
        finally:
            lagging.execute_command("CLIENT", "UNPAUSE")
        assert group.primary == "r3"
        assert servers["r3"].client().dbsize() == 1500
        assert wait_for(lambda: follows(servers["r2"], servers["r3"]), 10)
        assert wait_for(lambda: servers["r2"].client().dbsize() == 1500, 10)
    promoter.close()


@pytest.mark.parametrize("how", ["seen-down-before-attach", "initial-down"])
def test_primary_already_down_when_attached_is_failed_over(
    redis_factory: Callable[..., RedisServer], how: str
) -> None:
    servers = start_set(redis_factory)
    fill(servers["r1"], range(100))
    assert servers["r1"].client().wait(2, 5000) == 2
    servers["r1"].kill()
    monitor = Monitor(interval=0.1, timeout=0.3, rise=2, fall=2)
    for name, server in servers.items():
        initial = "down" if how == "initial-down" and name == "r1" else "up"
        monitor.add_node(name, RedisCheck(server.client()), initial=initial)
    clients = {name: server.client(socket_timeout=2) for name, server in servers.items()}
    promoter = RedisPromoter(clients, timeout=1.0)
    group: FailoverGroup[redis.Redis] = FailoverGroup("r1", ["r2", "r3"], promote=promoter, resources=clients)
    with monitor:
        if how == "seen-down-before-attach":
            assert wait_for(lambda: monitor.state("r1") is NodeState.DOWN, 5)
        monitor.attach(group)
        assert wait_for(lambda: group.primary != "r1", 5)
        new = group.primary
        other = "r3" if new == "r2" else "r2"
        assert replication(servers[new])["role"] == "master"
        assert wait_for(lambda: follows(servers[other], servers[new]), 10)
        assert group.resource.dbsize() == 100
    promoter.close()


def test_rank_candidates_by_offset_then_member_order() -> None:
    from shardwise.failover._group import rank_candidates

    up, down = NodeState.UP, NodeState.DOWN
    members = ["p", "a", "b", "c", "d"]
    health = {"p": down, "a": up, "b": up, "c": up, "d": down}
    assert rank_candidates(members, "p", health) == ["a", "b", "c"]
    assert rank_candidates(members, "p", health, {"a": 10, "b": 30, "c": 30, "d": 99}) == ["b", "c", "a"]
    assert rank_candidates(members, "p", health, {"a": None, "b": 5, "c": None}) == ["b"]


def test_planned_switch_over_waits_for_the_new_primary_and_refuses_late_writes(
    redis_factory: Callable[..., RedisServer],
) -> None:
    servers = start_set(redis_factory, ("r1", "r2"))
    promoter = RedisPromoter({name: server.client() for name, server in servers.items()}, timeout=3.0)
    servers["r2"].client().execute_command("CLIENT", "PAUSE", 1500, "WRITE")  # r2 applies nothing for 1.5 s
    fill(servers["r1"], range(500))  # acknowledged by the primary, not yet on r2
    late: dict[str, str] = {}

    def write_during_switch_over() -> None:
        time.sleep(0.3)
        try:
            servers["r1"].client(socket_timeout=5).set("late", 1)
            late["acknowledged"] = "yes"
        except redis.ResponseError as error:
            late["refused"] = type(error).__name__

    writer = threading.Thread(target=write_during_switch_over)
    writer.start()
    started = time.monotonic()
    promoter(Promotion("g", "r2", "r1", ("r1",), "switch-over", planned=True))
    took = time.monotonic() - started
    writer.join(10)
    assert took >= 1.0  # it waited for r2 to catch up
    assert replication(servers["r2"])["role"] == "master"
    assert servers["r2"].client().dbsize() == 500 + ("acknowledged" in late)
    assert late == {"refused": "ReadOnlyError"}  # paused, then refused: never acknowledged, then lost
    assert wait_for(lambda: follows(servers["r1"], servers["r2"]), 10)
    promoter.close()
