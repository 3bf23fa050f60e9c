"""The lock's calls on the wire (``shardwise.lock._wire``): its own packing and reading against real
redis-servers, for the client settings that change replies or scripts (RESP3, decoded replies,
a flushed script cache, a restarted server, a call that timed out with its reply still coming)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
import redis
import redis.asyncio
from redis_support import RedisServer
from shardwise import AsyncRedisLock, LockBackendError, RedisLock
from shardwise.lock._protocol import Op
from shardwise.lock._scripts import invocation
from shardwise.lock._wire import Packer


@pytest.mark.parametrize("key", ["plain", "ünïcode-名前", "with space"])
@pytest.mark.parametrize("token", ["a1b2", b"\x00\xffbytes", "ü"])
def test_packed_calls_are_what_redis_py_packs(key: str, token: str | bytes) -> None:
    """redis-py's own packer is the oracle for every op's bytes."""
    lock = RedisLock(redis.Redis(), key)
    connection = redis.Connection()
    packer = Packer(lock.keys, connection.encoder.encode)
    other = RedisLock(redis.Redis(), key + "-other").keys
    for op, args in [
        (Op.ACQUIRE, (token, "call", 1500, True)),
        (Op.ACQUIRE, (token, "call", 1500, False)),
        (Op.FENCE, (token, 1_796_000_000_000_001)),
        (Op.RELEASE, (token,)),
        (Op.ABANDON, (token, "call", 60_000)),
        (Op.ABANDON, (token, "call", 60_000, other)),
        (Op.EXTEND, (token, 2000, False)),
        (Op.PTTL, (token,)),
        (Op.EXISTS, ()),
    ]:
        source, keys, argv = invocation(op, lock.keys, args)
        sha = connection.encoder.encode(hashlib.sha1(source.encode()).hexdigest())
        expected = b"".join(connection.pack_command("EVALSHA", sha, len(keys), *keys, *argv))
        assert packer.pack(op, args) == (source, expected), op


@pytest.mark.parametrize(
    "options", [{"protocol": 3}, {"decode_responses": True}, {"protocol": 3, "decode_responses": True}]
)
def test_every_operation_with_resp3_and_decoded_replies(
    redis_server: RedisServer, options: dict[str, Any]
) -> None:
    client = redis_server.client(socket_timeout=5, **options)
    lock = RedisLock(client, "resp", ttl=5)
    other = RedisLock(client, "resp", ttl=5)
    assert lock.acquire(blocking=False) and not other.acquire(blocking=False)
    assert lock.locked() and lock.owned() and not other.owned()
    assert isinstance(lock.fencing_token, int) and lock.fencing_token > 1_000_000
    remaining = lock.ttl_remaining()
    assert remaining is not None and 4 < remaining <= 5
    assert lock.extend(10) and 14_000 < client.pttl(lock.keys.lock) <= 15_000
    lock.release()
    assert not lock.locked() and other.acquire(blocking=False)
    other.release()


def test_a_flushed_script_cache_is_reloaded(redis_server: RedisServer) -> None:
    client = redis_server.client(socket_timeout=5)
    lock = RedisLock(client, "flushed-scripts", ttl=5)
    assert lock.acquire()
    client.script_flush()
    lock.release()  # NOSCRIPT: loaded, then run
    client.script_flush()
    assert lock.acquire() and lock.locked()
    lock.release()

    async def scenario() -> None:
        aclient = redis.asyncio.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=5)
        alock = AsyncRedisLock(aclient, "flushed-scripts-async", ttl=5)
        await aclient.script_flush()
        assert await alock.acquire()
        await aclient.script_flush()
        await alock.release()
        assert not await alock.locked()
        await aclient.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_late_reply_is_never_read_by_the_next_call(redis_server: RedisServer) -> None:
    """A call that timed out on a frozen server leaves its reply coming; the connection is
    dropped, so after the server resumes every answer belongs to its own call."""
    client = redis_server.client(socket_timeout=5)
    lock = RedisLock(client, "late", ttl=5, call_timeout=0.2)
    probe = RedisLock(client, "late-probe", ttl=5, call_timeout=0.2)
    assert probe.acquire(blocking=False)
    redis_server.pause()
    try:
        with pytest.raises(LockBackendError):
            probe.locked()  # EXISTS: its reply (1) would answer a later call
    finally:
        redis_server.resume()
    for _ in range(20):  # each answer matches what a direct client sees
        assert lock.locked() is False and probe.locked() is True and probe.owned() is True
        assert lock.acquire(blocking=False) and lock.owned()
        lock.release()
    probe.release()
