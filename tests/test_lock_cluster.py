"""RedisLock on a (one-node) Redis Cluster: every key of a lock shares one hash slot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from redis.cluster import RedisCluster
from redis_support import RedisServer
from shardwise import FencedResource, RedisLock


@pytest.fixture
def cluster(redis_factory: Callable[..., RedisServer]) -> RedisCluster:
    server = redis_factory(cluster=True)
    admin = server.client()
    admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    deadline = time.monotonic() + 10
    while b"cluster_state:ok" not in admin.execute_command("CLUSTER", "INFO"):
        if time.monotonic() > deadline:
            pytest.fail("the one-node cluster did not become ready")
        time.sleep(0.05)
    return RedisCluster(host="127.0.0.1", port=server.port, socket_timeout=5)


def test_lock_on_redis_cluster(cluster: RedisCluster) -> None:
    a = RedisLock(cluster, "cluster-job", ttl=10)
    b = RedisLock(cluster, "cluster-job", ttl=10)
    assert a.acquire(blocking=False) and a.owned() and a.locked()
    assert not b.acquire(blocking=False)
    timer = threading.Timer(0.3, a.release)
    timer.start()
    started = time.monotonic()
    assert b.acquire(timeout=20)  # woken through cluster pub/sub, long before the 10 s TTL
    assert time.monotonic() - started < 8
    timer.join()
    assert a.fencing_token is not None and b.fencing_token is not None
    assert b.fencing_token > a.fencing_token
    b.extend(20)
    assert 15 < (b.ttl_remaining() or 0) <= 20
    resource = FencedResource(cluster, "cluster-resource")
    resource.write(b.fencing_token, "ok")
    b.release()
    assert not b.locked()
