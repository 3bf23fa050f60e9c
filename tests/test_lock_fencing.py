"""Fencing tokens against real redis-servers that lose their data: a server restarted empty (no
persistence), FLUSHALL, an evicted counter. A missing counter starts from the server's clock
(microseconds), so the tokens after the loss are larger than every token handed out before it.

The oracle is the server's own clock (``TIME``, read by the test) and the tokens seen before."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis
import redis.asyncio
from redis_support import RedisServer
from shardwise import AsyncRedisLock, RedisLock, Redlock
from shardwise.lock._common import lock_keys
from shardwise.lock._protocol import Op
from shardwise.lock._scripts import invocation
from shardwise.testing import RunConfig, run_check


def server_clock_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def tokens_of(lock: RedisLock | Redlock, times: int) -> list[int]:
    tokens = []
    for _ in range(times):
        assert lock.acquire(blocking=False)
        assert lock.fencing_token is not None
        tokens.append(lock.fencing_token)
        lock.release()
    return tokens


def test_tokens_grow_across_a_restart_that_lost_every_key(redis_server: RedisServer) -> None:
    client = redis_server.client(socket_timeout=5)
    lock = RedisLock(client, "restarted", ttl=5)
    before = tokens_of(lock, 3)
    assert before == sorted(set(before)) and before[1] == before[0] + 1
    redis_server.kill()
    redis_server.wipe()  # no AOF, no dump: the restart is empty
    redis_server.restart()
    assert client.exists(lock.keys.fence) == 0
    clock = server_clock_us(client)
    after = tokens_of(lock, 2)
    assert after[0] > max(before), (before, after)
    assert clock < after[0] < clock + 60 * 1_000_000  # it started from the server's clock
    assert after[1] == after[0] + 1  # and counts on from there


def test_tokens_grow_after_flushall_and_an_old_counter_counts_on(redis_server: RedisServer) -> None:
    client = redis_server.client(socket_timeout=5)
    lock = RedisLock(client, "flushed", ttl=5)
    client.set(lock.keys.fence, 41)  # a counter left by an earlier version (tokens from 1)
    assert tokens_of(lock, 2) == [42, 43]
    client.flushall()
    clock = server_clock_us(client)
    (token,) = tokens_of(lock, 1)
    assert token > clock


def test_async_lock_tokens_grow_after_flushall(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=5)
        lock = AsyncRedisLock(client, "flushed-async", ttl=5)
        async with lock:
            first = lock.fencing_token
        await client.flushall()
        async with lock:
            second = lock.fencing_token
        await client.aclose()
        assert first is not None and second is not None and second > first

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_redlock_tokens_grow_when_a_majority_forgets(redis_factory: Callable[..., RedisServer]) -> None:
    """Three of five masters flushed; the next majority is those three: its token still grows."""
    servers = [redis_factory() for _ in range(5)]
    clients = [s.client(socket_timeout=5) for s in servers]
    lock = Redlock(clients, "majority-forgets", ttl=10)
    before = tokens_of(lock, 3)
    for client in clients[:3]:
        client.flushall()
    for client in clients[3:]:  # the masters that remember are taken: only the flushed grant
        client.set(lock.keys.lock, "someone else", px=10_000)
    (after,) = tokens_of(lock, 1)
    assert after > max(before), (before, after)


def test_fence_write_back_seeds_a_missing_counter(redis_server: RedisServer) -> None:
    """Redlock's write-back on a master whose counter is gone while our key is there (evicted):
    the counter starts from the clock, then is raised to the value if that is larger."""
    client = redis_server.client(socket_timeout=5)
    keys = lock_keys("write-back")
    client.set(keys.lock, "tok", px=10_000)

    def raise_fence(value: int) -> int:
        script, key_names, args = invocation(Op.FENCE, keys, ("tok", value))
        return int(client.eval(script, len(key_names), *key_names, *args))

    clock = server_clock_us(client)
    assert raise_fence(7) == 1
    seeded = int(client.get(keys.fence) or 0)
    assert clock <= seeded < clock + 60 * 1_000_000
    assert raise_fence(seeded + 1_000) == 1
    assert int(client.get(keys.fence) or 0) == seeded + 1_000
    client.set(keys.lock, "another holder", px=10_000)
    assert raise_fence(seeded + 5_000) == 0  # not ours: nothing raised
    assert int(client.get(keys.fence) or 0) == seeded + 1_000


def test_lockcheck_finds_no_token_regression_when_servers_restart_empty() -> None:
    """The schedule that found the bug (wipe-server and pause-client): four wipes in 10 s here."""
    faults = ("wipe-server", "pause-client")
    run = run_check(RunConfig(lock="shardwise", clients=4, duration=10.0, ttl=0.5, seed="3", faults=faults))
    r = run.result
    assert sum(1 for f in run.faults if f.kind == "wipe-server") >= 2, run.faults
    assert r.acquisitions > 20
    assert r.count("token-regression") == 0, [f for f in r.findings if f.kind == "token-regression"][:3]
    assert [f for f in r.findings if f.definite] == [] and r.lost_updates == 0
