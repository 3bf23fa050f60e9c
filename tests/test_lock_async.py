"""AsyncRedisLock and AsyncRedlock against real redis-server processes (run with asyncio.run)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis_support import RedisServer
from shardwise import (
    AsyncRedisLock,
    AsyncRedlock,
    FencedResource,
    FencingTokenError,
    LockBackendError,
    LockLostError,
    LockNotAcquiredError,
    LockNotOwnedError,
    QuorumNotReachedError,
)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=60))


def aclient(server: RedisServer, **kwargs: Any) -> aioredis.Redis:
    return aioredis.Redis(host="127.0.0.1", port=server.port, **kwargs)


async def wait_until(predicate: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


# --- AsyncRedisLock --------------------------------------------------------------------------


def test_bad_input(redis_server: RedisServer) -> None:
    with pytest.raises(TypeError, match="RedisLock"):
        AsyncRedisLock(redis_server.client(), "x")  # type: ignore[arg-type]
    client = aclient(redis_server)
    with pytest.raises(ValueError, match="ttl"):
        AsyncRedisLock(client, "x", ttl=-1)
    with pytest.raises(ValueError, match="empty"):
        AsyncRedisLock(client, "")
    with pytest.raises(TypeError, match="name"):
        AsyncRedisLock(client, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Redlock"):
        AsyncRedlock([redis_server.client()], "x")  # type: ignore[list-item]


def test_acquire_release_queries_and_non_owner(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = aclient(redis_server)
        a = AsyncRedisLock(client, "jobs", ttl=5)
        b = AsyncRedisLock(client, "jobs", ttl=5)
        assert await a.acquire(blocking=False)
        assert await a.locked() and await a.owned() and not await b.owned()
        remaining = await a.ttl_remaining()
        assert remaining is not None and 4 < remaining <= 5
        assert not await b.acquire(blocking=False)
        with pytest.raises(LockNotOwnedError):
            await b.release()
        with pytest.raises(LockNotOwnedError):
            await b.extend(1)
        assert await a.extend(30)  # added to what was left, as redis-py's
        assert await client.pttl(a.keys.lock) > 33_000
        assert await a.reacquire()
        assert 4_000 < await client.pttl(a.keys.lock) <= 5_000
        assert "held" in repr(a)
        await a.release()
        assert not await a.locked()
        async with b:
            assert a.fencing_token is not None and b.fencing_token is not None
            assert b.fencing_token > a.fencing_token
        with pytest.raises(LockNotOwnedError):
            await a.release()
        await client.aclose()

    run(scenario())


def test_expiry_wakeup_and_timeout(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = aclient(redis_server)
        short = AsyncRedisLock(client, "exp", ttl=0.2)
        waiter = AsyncRedisLock(client, "exp", ttl=60)
        assert await short.acquire()
        assert await waiter.acquire(blocking_timeout=5)  # freed by TTL expiry
        assert short.lost
        with pytest.raises(LockLostError):
            await short.release()
        late = AsyncRedisLock(client, "exp", ttl=60, blocking_timeout=0.2, sleep=60)
        with pytest.raises(LockNotAcquiredError):
            async with late:
                pass
        asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(waiter.release()))
        started = time.monotonic()
        assert await late.acquire(blocking_timeout=20)  # woken by the release message, not the 60 s TTL
        assert time.monotonic() - started < 10
        await late.release()
        await client.aclose()

    run(scenario())


def test_contending_tasks_never_overlap(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = aclient(redis_server)
        holds: list[tuple[int, int, int]] = []

        async def worker() -> None:
            lock = AsyncRedisLock(client, "tasks", ttl=10)
            for _ in range(5):
                async with lock:
                    start = time.time_ns()
                    value = int(await client.get("task-counter") or 0)
                    await asyncio.sleep(0.001)
                    await client.set("task-counter", value + 1)
                    assert lock.fencing_token is not None
                    holds.append((start, time.time_ns(), lock.fencing_token))

        await asyncio.gather(*(worker() for _ in range(20)))
        assert int(await client.get("task-counter") or 0) == 100
        holds.sort()
        for (_, end, token), (start, _, next_token) in itertools.pairwise(holds):
            assert end <= start and next_token > token
        await client.aclose()

    run(scenario())


def test_watchdog_and_loss_signals(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = aclient(redis_server)
        lost: list[AsyncRedisLock] = []

        async def on_lost(lock: AsyncRedisLock) -> None:
            lost.append(lock)

        lock = AsyncRedisLock(client, "wd", ttl=0.3, auto_renew=True, on_lost=on_lost)
        rival = AsyncRedisLock(client, "wd", ttl=0.3)
        resource = FencedResource(redis_server.client(), "wd-resource")
        with pytest.raises(LockLostError):
            async with lock:
                deadline = time.monotonic() + 5 * 0.3 + 0.3
                while time.monotonic() < deadline:
                    assert not await rival.acquire(blocking=False)
                    lock.check()
                    await asyncio.sleep(0.05)
                stale = lock.fencing_token
                assert stale is not None
                await client.delete(lock.keys.lock)
                assert await wait_until(lambda: bool(lost), 3)
                with pytest.raises(LockLostError):
                    lock.check()
                assert await rival.acquire(blocking_timeout=5)
                assert rival.fencing_token is not None
                resource.write(rival.fencing_token, "new")
                with pytest.raises(FencingTokenError):
                    resource.write(stale, "stale")
                await rival.release()
        await asyncio.sleep(0.2)
        assert lost == [lock]
        await client.aclose()

    run(scenario())


def test_server_paused_past_ttl_is_reported(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = aclient(redis_server)  # no socket timeout: the watchdog bounds the renewal itself
        lost: list[float] = []
        lock = AsyncRedisLock(
            client, "pause", ttl=0.3, auto_renew=True, on_lost=lambda _: lost.append(time.monotonic())
        )
        assert await lock.acquire()
        paused_at = time.monotonic()
        redis_server.pause()
        try:
            assert await wait_until(lambda: bool(lost), 3)
        finally:
            redis_server.resume()
        assert lost[0] - paused_at < 1.0
        with pytest.raises(LockLostError):
            lock.check()
        await client.aclose()

    run(scenario())


def test_unreachable_server_fails_within_the_timeout(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = aclient(redis_server, socket_timeout=0.2, socket_connect_timeout=0.2)
        lock = AsyncRedisLock(client, "down", ttl=1)
        redis_server.kill()
        started = time.monotonic()
        with pytest.raises(LockBackendError):
            await lock.acquire(blocking_timeout=0.5)
        assert time.monotonic() - started < 2.0
        await client.aclose()

    run(scenario())


def test_every_call_is_bounded_on_a_frozen_server(redis_server: RedisServer) -> None:
    """The client has no socket timeout (nor has the lock's pool: each call bounds itself): on a
    frozen server every operation still returns within its bound, also on a connection opened
    after the freeze (the kernel accepts it; the handshake never gets an answer) and for a waiter
    that tries to subscribe."""

    async def scenario() -> None:
        client = aclient(redis_server, socket_timeout=None)
        lock = AsyncRedisLock(client, "frozen", ttl=3, call_timeout=0.2)
        holder = AsyncRedisLock(client, "frozen-held", ttl=3, call_timeout=0.2)
        waiter = AsyncRedisLock(client, "frozen-held", ttl=3, call_timeout=0.2)
        assert await holder.acquire()
        redis_server.pause()
        try:
            fresh = AsyncRedisLock(
                aclient(redis_server, socket_timeout=None), "fresh", ttl=3, call_timeout=0.2
            )
            for operation in [
                lambda: lock.acquire(blocking_timeout=0.5),
                lambda: lock.acquire(blocking=False),
                lambda: fresh.acquire(blocking=False),
                lambda: waiter.acquire(blocking_timeout=0.5),
                lock.locked,
                lambda: holder.extend(1),
                holder.release,
            ]:
                started = time.monotonic()
                with pytest.raises(LockBackendError) as caught:
                    await operation()
                assert time.monotonic() - started < 0.5 + 3 * 0.2 + 1.0
                assert isinstance(caught.value.__cause__, (redis.exceptions.TimeoutError, OSError))
        finally:
            redis_server.resume()
        assert await lock.acquire(blocking_timeout=5)  # once late attempts are cleaned up
        await lock.release()
        await client.aclose()

    run(scenario())


def test_cancelled_async_with_still_releases(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = aclient(redis_server)
        lock = AsyncRedisLock(client, "cancel", ttl=30)
        entered = asyncio.Event()

        async def holder() -> None:
            async with lock:
                entered.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(holder())
        await entered.wait()
        assert await client.exists(lock.keys.lock)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not await client.exists(lock.keys.lock)  # released, not left for its 30 s TTL
        await client.aclose()

    run(scenario())


def test_cancelled_waiter_leaves_nothing_behind(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = aclient(redis_server)
        holder = AsyncRedisLock(client, "cw", ttl=30)
        waiter = AsyncRedisLock(client, "cw", ttl=30)
        assert await holder.acquire()
        task = asyncio.create_task(waiter.acquire())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await holder.release()
        await asyncio.sleep(0.05)
        assert not await client.exists(holder.keys.lock)
        await client.aclose()

    run(scenario())


def test_acquire_cancelled_in_flight_is_cleaned_up(redis_server: RedisServer) -> None:
    """The server executes a command sent before it froze: the abandoned attempt must be released."""

    async def scenario() -> None:
        client = aclient(redis_server)
        lock = AsyncRedisLock(client, "inflight", ttl=30)
        assert await lock.acquire()  # warm up: connection open and scripts loaded
        await lock.release()
        redis_server.pause()
        try:
            task = asyncio.create_task(lock.acquire())
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            redis_server.resume()
        probe = aclient(redis_server)
        deadline = time.monotonic() + 5
        while await probe.exists(lock.keys.lock) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not await probe.exists(lock.keys.lock)
        await probe.aclose()
        await client.aclose()

    run(scenario())


# --- AsyncRedlock ----------------------------------------------------------------------------


@pytest.fixture
def masters(redis_factory: Callable[..., RedisServer]) -> list[RedisServer]:
    return [redis_factory() for _ in range(5)]


def test_redlock_every_subset(masters: list[RedisServer]) -> None:
    async def scenario() -> None:
        clients = [aclient(s) for s in masters]
        lock = AsyncRedlock(clients, "subset", ttl=10)
        for taken in itertools.product([False, True], repeat=5):
            for client, is_taken in zip(clients, taken, strict=True):
                await client.delete(lock.keys.lock)
                if is_taken:
                    await client.set(lock.keys.lock, "other", px=10_000)
            acquired = await lock.acquire(blocking=False)
            assert acquired == (sum(taken) <= 2), taken
            for client, is_taken in zip(clients, taken, strict=True):
                value = await client.get(lock.keys.lock)
                assert value == (b"other" if is_taken else (value if acquired else None))
            if acquired:
                assert await lock.owned()
                await lock.release()
        for client in clients:
            await client.aclose()

    run(scenario())


def test_redlock_masters_down(masters: list[RedisServer]) -> None:
    async def scenario() -> None:
        clients = [aclient(s) for s in masters]
        lock = AsyncRedlock(clients, "down", ttl=2)
        masters[1].kill()
        masters[2].kill()
        async with lock:
            await lock.reacquire()
            assert await lock.owned()
            remaining = await lock.ttl_remaining()  # same coroutine surface as AsyncRedisLock
            assert remaining is not None and 0 < remaining <= 2
        assert await lock.ttl_remaining() is None
        masters[3].kill()
        started = time.monotonic()
        with pytest.raises(QuorumNotReachedError):
            await lock.acquire(blocking_timeout=1.0)
        assert time.monotonic() - started < 3.0
        for client in clients:
            await client.aclose()

    run(scenario())


def test_redlock_watchdog_loss_and_cancellation(masters: list[RedisServer]) -> None:
    async def scenario() -> None:
        clients = [aclient(s) for s in masters]
        lost: list[AsyncRedlock] = []
        lock = AsyncRedlock(clients, "wd", ttl=0.3, auto_renew=True, on_lost=lost.append)
        assert await lock.acquire(blocking_timeout=5)
        await asyncio.sleep(5 * 0.3 + 0.2)
        lock.check()
        assert await lock.owned() and lost == []
        for client in clients[:3]:
            await client.delete(lock.keys.lock)
        assert await wait_until(lambda: bool(lost), 3)
        with pytest.raises(LockLostError):
            lock.check()
        with pytest.raises(LockLostError):
            await lock.release()

        held = AsyncRedlock(clients, "cancel", ttl=30)
        entered = asyncio.Event()

        async def holder() -> None:
            async with held:
                entered.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(holder())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [await c.exists(held.keys.lock) for c in clients] == [0] * 5
        assert lost == [lock]
        for client in clients:
            await client.aclose()

    run(scenario())


def test_sync_and_async_locks_exclude_each_other(redis_server: RedisServer) -> None:
    from shardwise import RedisLock

    async def scenario() -> None:
        client = aclient(redis_server)
        alock = AsyncRedisLock(client, "mixed", ttl=5)
        slock = RedisLock(redis_server.client(), "mixed", ttl=5)
        assert await alock.acquire()
        assert not slock.acquire(blocking=False)
        await alock.release()
        assert slock.acquire(blocking=False)
        assert not await alock.acquire(blocking=False)
        slock.release()
        await client.aclose()

    run(scenario())


def test_redis_errors_are_not_swallowed(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = aclient(redis_server)
        lock = AsyncRedisLock(client, "wrongtype", ttl=5)
        await client.set(lock.keys.fence, "not a number")
        with pytest.raises(LockBackendError):
            await lock.acquire(blocking=False)
        await client.aclose()

    run(scenario())


def test_release_cancelled_in_flight_still_frees_the_lock(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = aclient(redis_server)
        lock = AsyncRedisLock(client, "rel-cancel", ttl=30)
        assert await lock.acquire()
        redis_server.pause()
        try:
            task = asyncio.create_task(lock.release())
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            redis_server.resume()
        probe = aclient(redis_server)
        deadline = time.monotonic() + 5
        while await probe.exists(lock.keys.lock) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not await probe.exists(lock.keys.lock)  # freed long before the 30 s TTL
        await probe.aclose()
        await client.aclose()

    run(scenario())


def test_redlock_late_answer_from_a_paused_master_is_cleaned_up(masters: list[RedisServer]) -> None:
    async def scenario() -> None:
        clients = [aclient(s) for s in masters]
        lock = AsyncRedlock(clients, "late", ttl=30, node_timeout=0.1)
        assert await lock.acquire(blocking_timeout=5)  # warm up: connections open, scripts loaded
        await lock.release()
        masters[0].pause()
        try:
            assert await lock.acquire(blocking_timeout=5)  # four masters are enough
            await lock.release()
        finally:
            masters[0].resume()
        deadline = time.monotonic() + 5
        while await clients[0].exists(lock.keys.lock) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not await clients[0].exists(lock.keys.lock)  # not left there for its 30 s TTL
        for client in clients:
            await client.aclose()

    run(scenario())


# --- cancellation at random moments (issue 11, #13) ------------------------------------------


@pytest.mark.parametrize("contended", [False, True], ids=["free", "held-by-another"])
@pytest.mark.parametrize("kind", ["AsyncRedisLock", "AsyncRedlock"])
def test_random_cancels_never_leave_the_lock_held(
    redis_factory: Callable[..., RedisServer], kind: str, contended: bool
) -> None:
    """100 acquires cancelled at random moments: each cancelled acquire stops at once, and after
    each the lock is free (or was released by us) within a short bound — never held until its
    30 s TTL. The old code used asyncio.wait_for, whose cancellation Python 3.10/3.11 can swallow:
    a cancelled acquire went on waiting, and took the lock once its holder let go."""
    servers = [redis_factory() for _ in range(3 if kind == "AsyncRedlock" else 1)]
    rng = random.Random(11)

    def make(clients: list[aioredis.Redis]) -> AsyncRedisLock | AsyncRedlock:
        if kind == "AsyncRedlock":
            return AsyncRedlock(clients, "cancels", ttl=30, sleep=0.01)
        return AsyncRedisLock(clients[0], "cancels", ttl=30, sleep=0.01)

    async def scenario() -> None:
        clients = [aclient(s, socket_timeout=None) for s in servers]
        lock, holder = make(clients), make([aclient(s) for s in servers])
        probes = [aclient(s) for s in servers]
        await lock.acquire()  # warm up: connections open, scripts loaded
        await lock.release()
        outcomes = {"cancelled": 0, "acquired": 0}
        for _ in range(100):
            if contended:
                assert await holder.acquire(blocking_timeout=5)
            task = asyncio.create_task(lock.acquire(blocking_timeout=5))
            for _ in range(rng.randrange(16)):  # cancel after a random number of loop turns
                await asyncio.sleep(0)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=1.0)
            assert task in done, "a cancelled acquire kept running"
            acquired = not task.cancelled() and task.result()
            outcomes["acquired" if acquired else "cancelled"] += 1
            if acquired:
                await lock.release()
            if contended:
                await holder.release()
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                held = [await probe.exists(lock.keys.lock) for probe in probes]
                if not any(held):
                    break
                await asyncio.sleep(0.005)
            assert not any(held), f"left held after a cancel ({outcomes})"
            assert not await lock.owned()  # nor believed held
        assert outcomes["cancelled"] > 30  # the cancels did land mid-acquire
        for client in clients + probes:
            await client.aclose()

    run(scenario())
