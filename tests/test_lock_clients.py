"""RedisLock through the other redis-py clients: RedisCluster (one hash slot per lock) and Sentinel."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel
from redis_support import RedisServer, free_port, redis_server_binary
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
    a = RedisLock(cluster, "cluster-job", ttl=10, thread_local=False)
    b = RedisLock(cluster, "cluster-job", ttl=10, sleep=30)
    assert a.acquire(blocking=False) and a.owned() and a.locked()
    assert not b.acquire(blocking=False)
    timer = threading.Timer(0.3, a.release)
    timer.start()
    started = time.monotonic()
    assert b.acquire(blocking_timeout=20)  # woken through cluster pub/sub, long before the 10 s TTL
    assert time.monotonic() - started < 8
    timer.join()
    assert a.fencing_token is not None and b.fencing_token is not None
    assert b.fencing_token > a.fencing_token
    b.extend(20)
    assert 25 < (b.ttl_remaining() or 0) <= 30
    resource = FencedResource(cluster, "cluster-resource")
    resource.write(b.fencing_token, "ok")
    b.release()
    assert not b.locked()


@pytest.fixture
def sentinel(redis_server: RedisServer) -> Iterator[Sentinel]:
    """A redis-sentinel process monitoring ``redis_server`` as master ``lockmaster``."""
    port = free_port()
    config = redis_server.dir / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {redis_server.dir}\n"
        f"sentinel monitor lockmaster 127.0.0.1 {redis_server.port} 1\n"
    )
    log = open(redis_server.dir / "sentinel.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([redis_server_binary(), str(config), "--sentinel"], stdout=log, stderr=log)
    try:
        sentinel = Sentinel([("127.0.0.1", port)], socket_timeout=2)
        deadline = time.monotonic() + 10
        while True:
            try:
                sentinel.discover_master("lockmaster")
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    pytest.fail("redis-sentinel did not come up")
                time.sleep(0.05)
        yield sentinel
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_lock_through_sentinel(sentinel: Sentinel) -> None:
    master = sentinel.master_for("lockmaster", socket_timeout=5)
    a = RedisLock(master, "sentinel-job", ttl=5, auto_renew=True)
    b = RedisLock(sentinel.master_for("lockmaster", socket_timeout=5), "sentinel-job", ttl=5)
    with a:
        assert a.owned() and not b.acquire(blocking=False)
    assert b.acquire(blocking=False)
    assert a.fencing_token is not None and b.fencing_token is not None
    assert b.fencing_token > a.fencing_token
    b.release()
