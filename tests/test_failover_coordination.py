"""Coordinator under faults: Redis down at start or restarted, garbage on the events channel, bad
ttls; coordinated promotions that fail, and followers that must learn the new primary.
Real redis-server processes throughout."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from failover_support import fill, follows, monitored_group, replication, start_set, wait_for
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis_support import RedisServer, free_port
from shardwise import (
    Coordinator,
    FailoverGroup,
    NodeEvent,
    NodeState,
    Promotion,
    RedisPromoter,
)
from shardwise.lock import RedisLock

TTL, RETRY = 1.0, 0.1


def client_for(port: int) -> redis.Redis:
    """A client without retries: every outage outlasts its retries (a default client retries for
    about 5 s first, which only makes the tests slower)."""
    timeouts = {"socket_timeout": 0.3, "socket_connect_timeout": 0.3}
    return redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0), **timeouts)


@pytest.fixture
def coordinators() -> Iterator[list[Coordinator]]:
    started: list[Coordinator] = []
    yield started
    for coordinator in started:
        coordinator.stop(timeout=3)


def started(coordinators: list[Coordinator], port: int, name: str, ident: str) -> Coordinator:
    coordinator = Coordinator(client_for(port), name, ttl=TTL, retry_interval=RETRY, identity=ident)
    coordinators.append(coordinator)
    return coordinator.start()


def node_event(node: str, new: NodeState) -> NodeEvent:
    return NodeEvent(node, NodeState.UP, new, 0.0, "test")


# --- election and following survive Redis outages ----------------------------------------------


def test_leadership_is_won_once_redis_is_up_if_it_was_down_at_start(coordinators: list[Coordinator]) -> None:
    port = free_port()
    coordinator = started(coordinators, port, "late", "late")
    seen: list[tuple[str, NodeState]] = []
    coordinator.add_state_listener(lambda e: seen.append((e.node, e.new)))
    time.sleep(4 * RETRY + 0.5)  # several failed attempts
    assert not coordinator.is_leader
    server = RedisServer().start(port=port)
    try:
        assert coordinator.wait_leader(5), "the election gave up while Redis was down"
        coordinator.handle_node_event(node_event("x", NodeState.DOWN))  # the follower works too
        assert wait_for(lambda: seen == [("x", NodeState.DOWN)], 5), seen
        coordinator.stop(timeout=3)
    finally:
        server.close()


def test_leadership_is_regained_after_redis_is_killed_and_restarted(
    redis_server: RedisServer, coordinators: list[Coordinator]
) -> None:
    coordinator = started(coordinators, redis_server.port, "outage", "outage")
    seen: list[tuple[str, NodeState]] = []
    coordinator.add_state_listener(lambda e: seen.append((e.node, e.new)))
    assert coordinator.wait_leader(5)
    redis_server.kill()
    assert wait_for(lambda: not coordinator.is_leader, TTL + 3)  # the lock ran out
    time.sleep(TTL)  # the outage outlasts the client's retries and the lock's ttl
    redis_server.restart()
    assert coordinator.wait_leader(5), "leadership never regained after the outage"
    coordinator.handle_node_event(node_event("y", NodeState.DOWN))
    assert wait_for(lambda: ("y", NodeState.DOWN) in seen, 5), seen


def test_malformed_messages_and_states_are_skipped(
    redis_server: RedisServer, coordinators: list[Coordinator]
) -> None:
    leader = started(coordinators, redis_server.port, "garbage", "leader")
    assert leader.wait_leader(5)
    follower = started(coordinators, redis_server.port, "garbage", "follower")
    seen: list[tuple[str, NodeState]] = []
    follower.add_state_listener(lambda e: seen.append((e.node, e.new)))
    raw = redis_server.client()
    assert wait_for(lambda: raw.pubsub_numsub(f"{leader.prefix}:events")[0][1] == 2, 5)
    garbage = [
        b"not json",
        b"[1, 2]",
        b'{"node": "a"}',
        b'{"node": "a", "old": "up", "new": "sideways", "at": 0, "reason": "x"}',
        b'{"type": "promotion", "group": "g"}',
        b'{"type": "gossip"}',
        b"\xff\xfe",
    ]
    for body in garbage:
        raw.publish(f"{leader.prefix}:events", body)
    raw.hset(f"{leader.prefix}:states", "bad", b"{not json")
    leader.handle_node_event(node_event("good", NodeState.DOWN))
    assert wait_for(lambda: ("good", NodeState.DOWN) in seen, 5), "the follower stopped at a bad message"
    assert seen == [("good", NodeState.DOWN)]
    assert follower.shared_states() == {"good": NodeState.DOWN}


@pytest.mark.parametrize("ttl", [0.0005, 0.001, 0, -1, math.inf, math.nan, True, "5"])
def test_coordinator_refuses_the_ttls_the_lock_refuses(redis_server: RedisServer, ttl: object) -> None:
    client = redis_server.client()
    with pytest.raises((TypeError, ValueError)) as refused_by_lock:
        RedisLock(client, "probe", ttl, auto_renew=True)  # type: ignore[arg-type]
    with pytest.raises(refused_by_lock.type):
        Coordinator(client, "ttl", ttl=ttl)  # type: ignore[arg-type]


def test_coordinator_accepts_the_ttls_the_lock_accepts(redis_server: RedisServer) -> None:
    client = redis_server.client()
    for ttl in (0.01, 1, 2.5):
        RedisLock(client, "probe", ttl, auto_renew=True)
        assert Coordinator(client, "ttl", ttl=ttl).ttl == ttl


# --- coordinated promotions -----------------------------------------------------------------------


def test_backup_that_refuses_promotion_is_not_recorded_and_the_next_is_promoted(
    redis_factory: Callable[..., RedisServer], coordinators: list[Coordinator]
) -> None:
    coord = redis_factory()
    servers = start_set(redis_factory)
    # r2 refuses REPLICAOF (an ACL, as a locked-down server would): its promotion fails for real.
    servers["r2"].client().execute_command("ACL", "SETUSER", "default", "-replicaof", "-slaveof")
    coordinator = started(coordinators, coord.port, "refuse", "leader")
    promoter_box: list[RedisPromoter] = []

    def promote_in_order(promotion: Promotion) -> None:  # no offsets: r2 is tried first
        promoter_box[0](promotion)

    monitor, group, promoter = monitored_group(servers, promote=promote_in_order, coordinator=coordinator)
    promoter_box.append(promoter)
    assert coordinator.wait_leader(5)
    with monitor:
        servers["r1"].kill()
        assert wait_for(lambda: group.primary != "r1", 10)
        assert wait_for(lambda: coordinator.shared_primary("g") is not None, 5)
    assert group.primary == "r3", group.history
    assert coordinator.shared_primary("g") == "r3"
    assert replication(servers["r3"])["role"] == "master"
    assert replication(servers["r2"])["role"] == "slave"  # it refused
    assert [p.new_primary for p in group.history] == ["r3"]
    assert ("r2", "REPLICAOF NO ONE") not in [(n, c) for n, c, _ in promoter.log]
    promoter.close()


def test_followers_apply_the_leaders_promotion(
    redis_factory: Callable[..., RedisServer], coordinators: list[Coordinator]
) -> None:
    coord = redis_factory()
    servers = start_set(redis_factory)
    fill(servers["r1"], range(50))
    assert servers["r1"].client().wait(2, 5000) == 2
    # Two processes' worth of objects: own clients, monitors, groups; they share only Redis.
    leader_coord = started(coordinators, coord.port, "follow", "leader")
    assert leader_coord.wait_leader(5)
    follower_coord = started(coordinators, coord.port, "follow", "follower")
    leader_monitor, leader_group, leader_promoter = monitored_group(servers, coordinator=leader_coord)
    follower_monitor, follower_group, follower_promoter = monitored_group(servers, coordinator=follower_coord)
    raw = coord.client()
    assert wait_for(lambda: raw.pubsub_numsub(f"{leader_coord.prefix}:events")[0][1] == 2, 5)
    with leader_monitor, follower_monitor:
        servers["r1"].kill()
        assert wait_for(lambda: leader_group.primary != "r1", 10)
        new = leader_group.primary
        assert wait_for(lambda: follower_group.primary == new, 5), follower_group.primary
        assert follower_group.resource is follower_group.resources[new]  # type: ignore[index]
        assert follower_group.resource.dbsize() == 50
        assert follower_group.resource.info("replication")["role"] == "master"
        # A process that starts later learns the recorded primary when it subscribes.
        late_coord = started(coordinators, coord.port, "follow", "late")
        late_group: FailoverGroup[str] = FailoverGroup("r1", ["r2", "r3"], coordinator=late_coord, name="g")
        assert wait_for(lambda: late_group.primary == new, 5)
        assert wait_for(lambda: follows(servers["r3" if new == "r2" else "r2"], servers[new]), 10)
    assert [p.new_primary for p in follower_group.history] == [new]
    assert leader_coord.shared_epoch("g") == (new, 1)
    leader_promoter.close()
    follower_promoter.close()
