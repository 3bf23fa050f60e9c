"""RedisLock through the other redis-py clients: RedisCluster (one hash slot per lock) and Sentinel."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel
from redis_support import RedisServer, free_port, redis_server_binary
from shardwise import AsyncRedisLock, FencedResource, LockBackendError, RedisLock


def one_node_cluster(redis_factory: Callable[..., RedisServer]) -> RedisServer:
    """A redis-server in cluster mode that serves every slot itself."""
    server = redis_factory(cluster=True)
    admin = server.client()
    admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    deadline = time.monotonic() + 10
    while b"cluster_state:ok" not in admin.execute_command("CLUSTER", "INFO"):
        if time.monotonic() > deadline:
            pytest.fail("the one-node cluster did not become ready")
        time.sleep(0.05)
    return server


@pytest.fixture
def cluster(redis_factory: Callable[..., RedisServer]) -> RedisCluster:
    return RedisCluster(host="127.0.0.1", port=one_node_cluster(redis_factory).port, socket_timeout=5)


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


# --- more ways to build a client: the lock keeps each one's settings in its bounded client ------


def test_from_url_keeps_the_database_and_decoding(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(f"redis://127.0.0.1:{redis_server.port}/3", decode_responses=True)
    lock = RedisLock(client, "url", ttl=5)
    assert lock.acquire(blocking=False) and lock.owned()
    assert redis_server.client(db=3).exists(lock.keys.lock) == 1  # in db 3, as the URL says
    assert redis_server.client(db=0).exists(lock.keys.lock) == 0
    assert lock.extend(5) and lock.ttl_remaining() is not None
    lock.release()


def test_resp3_client(redis_server: RedisServer) -> None:
    lock = RedisLock(redis.Redis(port=redis_server.port, protocol=3), "resp3", ttl=5)
    other = RedisLock(redis_server.client(), "resp3", ttl=5)
    assert lock.acquire(blocking=False) and not other.acquire(blocking=False)
    assert lock.locked() and lock.owned()
    lock.release()


def test_sentinel_master_without_socket_timeout_is_bounded(
    sentinel: Sentinel, redis_server: RedisServer
) -> None:
    master = sentinel.master_for("lockmaster", socket_timeout=None)
    lock = RedisLock(master, "sentinel-hung", ttl=3, call_timeout=0.2)
    assert lock.acquire(blocking=False)
    redis_server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(LockBackendError):
            lock.release()
        assert time.monotonic() - started < 2.0
    finally:
        redis_server.resume()


@pytest.fixture
def two_node_cluster(redis_factory: Callable[..., RedisServer]) -> tuple[RedisServer, RedisServer]:
    a, b = redis_factory(cluster=True), redis_factory(cluster=True)
    a.client().execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 8191)
    b.client().execute_command("CLUSTER", "ADDSLOTSRANGE", 8192, 16383)
    a.client().execute_command("CLUSTER", "MEET", "127.0.0.1", b.port)
    deadline = time.monotonic() + 20
    while True:
        infos = [s.client().execute_command("CLUSTER", "INFO") for s in (a, b)]
        if all(b"cluster_state:ok" in i and b"cluster_known_nodes:2" in i for i in infos):
            return a, b
        if time.monotonic() > deadline:
            pytest.fail("the two-node cluster did not become ready")
        time.sleep(0.05)


def test_cluster_lock_follows_its_slot_when_it_moves(
    two_node_cluster: tuple[RedisServer, RedisServer],
) -> None:
    a, b = two_node_cluster
    name = next(n for n in (f"moving-{i}" for i in range(1000)) if redis.cluster.key_slot(n.encode()) < 8192)
    slot = redis.cluster.key_slot(name.encode())
    cluster = RedisCluster(host="127.0.0.1", port=a.port)
    lock = RedisLock(cluster, name, ttl=10)
    assert lock.acquire(blocking=False)
    first = lock.fencing_token
    lock.release()
    # move the slot (and its fencing counter) from a to b, as a resharding does
    id_a, id_b = (s.client().execute_command("CLUSTER", "MYID").decode() for s in (a, b))
    b.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", id_a)
    a.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", id_b)
    a.client().execute_command("MIGRATE", "127.0.0.1", b.port, "", 0, 5000, "KEYS", lock.keys.fence)
    for server in (a, b):
        server.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", id_b)
    assert lock.acquire(blocking=False)  # the bounded client of a answers MOVED: the lock follows it
    assert b.client().exists(lock.keys.lock) == 1
    assert a.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
    assert first is not None and lock.fencing_token is not None and lock.fencing_token > first
    lock.release()
    assert b.client().exists(lock.keys.lock) == 0


def test_async_lock_on_redis_cluster(redis_factory: Callable[..., RedisServer]) -> None:
    server = one_node_cluster(redis_factory)

    async def scenario() -> None:
        cluster = AsyncRedisCluster(host="127.0.0.1", port=server.port)
        a = AsyncRedisLock(cluster, "async-cluster", ttl=10, thread_local=False)
        b = AsyncRedisLock(cluster, "async-cluster", ttl=10, sleep=30)
        assert await a.acquire(blocking=False) and await a.owned()
        asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(a.release()))
        started = time.monotonic()
        assert await b.acquire(blocking_timeout=20)  # woken by the release message, not a 30 s poll
        assert time.monotonic() - started < 8
        assert (
            a.fencing_token is not None and b.fencing_token is not None and b.fencing_token > a.fencing_token
        )
        await b.release()
        await cluster.aclose()

    asyncio.run(scenario())


def test_errors_of_a_misdirected_client_are_lock_errors(
    two_node_cluster: tuple[RedisServer, RedisServer],
) -> None:
    """A plain client on a cluster node that does not own the lock's slot gets MOVED: the lock says
    so as a LockBackendError naming the lock and the reply, not a raw redis exception."""
    _, b = two_node_cluster
    name = next(
        n for n in (f"misdirected-{i}" for i in range(1000)) if redis.cluster.key_slot(n.encode()) < 8192
    )
    lock = RedisLock(b.client(), name, ttl=5)  # b serves slots 8192.. only
    with pytest.raises(LockBackendError, match=f"'{name}'.*MovedError") as caught:
        lock.acquire(blocking_timeout=1)
    assert isinstance(caught.value.__cause__, redis.exceptions.MovedError)
