"""Lock benchmarks: shardwise vs redis-py's Lock, python-redis-lock and pottery, same loopback servers.

- uncontended acquire+release (one op = acquire then release, nobody else around);
- hand-off latency: a waiter is blocked in acquire; one op = the holder's release until the waiter
  holds the lock. redis-py's Lock polls every 100 ms; shardwise wakes waiters by pub/sub.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_support import SMOKE
from redis_support import RedisServer
from shardwise import AsyncRedisLock, RedisLock, Redlock

HANDOFF_ROUNDS = 3 if SMOKE else 40


@pytest.fixture(scope="module")
def servers() -> Iterator[list[RedisServer]]:
    started = [RedisServer().start() for _ in range(1 if SMOKE else 3)]
    yield started
    for server in started:
        server.close()


def client_of(server: RedisServer) -> redis.Redis:
    return server.client(socket_timeout=5, socket_connect_timeout=5)


# A factory returns a fresh lock object as (acquire, release) callables on the named key.
LockPair = tuple[Callable[[], Any], Callable[[], Any]]


def shardwise_lock(servers: list[RedisServer], name: str) -> LockPair:
    # thread_local=False: the hand-off bench releases from another thread (as redis-py's below)
    lock = RedisLock(client_of(servers[0]), name, ttl=10, thread_local=False)
    return lock.acquire, lock.release


def redis_py_lock(servers: list[RedisServer], name: str) -> LockPair:
    # default sleep=0.1 between polls; thread_local=False so another thread may release (as ours)
    lock = client_of(servers[0]).lock(name, timeout=10, thread_local=False)
    return lock.acquire, lock.release


def python_redis_lock(servers: list[RedisServer], name: str) -> LockPair:
    import redis_lock

    lock = redis_lock.Lock(client_of(servers[0]), name, expire=10)
    return lock.acquire, lock.release


def pottery_redlock_1(servers: list[RedisServer], name: str) -> LockPair:
    from pottery import Redlock as PotteryRedlock

    lock = PotteryRedlock(key=name, masters={client_of(servers[0])}, auto_release_time=10)
    return lock.acquire, lock.release


def shardwise_redlock_1(servers: list[RedisServer], name: str) -> LockPair:
    lock = Redlock([client_of(servers[0])], name, ttl=10, thread_local=False)
    return lock.acquire, lock.release


def pottery_redlock_3(servers: list[RedisServer], name: str) -> LockPair:
    from pottery import Redlock as PotteryRedlock

    lock = PotteryRedlock(key=name, masters={client_of(s) for s in servers}, auto_release_time=10)
    return lock.acquire, lock.release


def shardwise_redlock_3(servers: list[RedisServer], name: str) -> LockPair:
    lock = Redlock([client_of(s) for s in servers], name, ttl=10, thread_local=False)
    return lock.acquire, lock.release


UNCONTENDED = {
    "shardwise.RedisLock": shardwise_lock,
    "redis-py Lock": redis_py_lock,
    "python-redis-lock": python_redis_lock,
    "shardwise.Redlock(1 master)": shardwise_redlock_1,
    "pottery.Redlock(1 master)": pottery_redlock_1,
    "shardwise.Redlock(3 masters)": shardwise_redlock_3,
    "pottery.Redlock(3 masters)": pottery_redlock_3,
}


@pytest.mark.parametrize("impl", list(UNCONTENDED))
def test_uncontended_acquire_release(benchmark: Any, servers: list[RedisServer], impl: str) -> None:
    if "3 masters" in impl and len(servers) < 3:
        pytest.skip("smoke mode starts one server")
    benchmark.group = "lock: uncontended acquire+release"
    acquire, release = UNCONTENDED[impl](servers, f"bench-uncontended-{impl}")

    def once() -> None:
        assert acquire()
        release()

    benchmark(once)


@pytest.mark.parametrize("impl", ["shardwise.AsyncRedisLock", "redis.asyncio Lock"])
def test_uncontended_async(benchmark: Any, servers: list[RedisServer], impl: str) -> None:
    benchmark.group = "lock: uncontended acquire+release (asyncio, one loop turn per op)"
    loop = asyncio.new_event_loop()
    client = redis.asyncio.Redis(host="127.0.0.1", port=servers[0].port, socket_timeout=5)
    name = f"bench-async-{impl}"
    lock: Any = (
        AsyncRedisLock(client, name, ttl=10) if impl.startswith("shardwise") else client.lock(name, 10)
    )

    async def once() -> None:
        assert await lock.acquire()
        await lock.release()

    try:
        benchmark(lambda: loop.run_until_complete(once()))
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()


HANDOFF = {
    "shardwise.RedisLock": shardwise_lock,
    "redis-py Lock": redis_py_lock,
    "python-redis-lock": python_redis_lock,
    "pottery.Redlock(1 master)": pottery_redlock_1,
}


@pytest.mark.parametrize("impl", list(HANDOFF))
def test_handoff_latency(benchmark: Any, servers: list[RedisServer], impl: str) -> None:
    """Release by the holder -> the blocked waiter holds the lock."""
    benchmark.group = "lock: hand-off latency (release -> blocked waiter holds)"
    name = f"bench-handoff-{impl}"
    hold, let_go = HANDOFF[impl](servers, name)
    wait_for, waiter_release = HANDOFF[impl](servers, name)
    got = threading.Event()
    state: dict[str, threading.Thread | None] = {"thread": None}

    def waiter() -> None:
        assert wait_for()
        got.set()

    def setup() -> None:
        previous = state["thread"]
        if previous is not None:
            previous.join(30)
            waiter_release()
        got.clear()
        assert hold()
        thread = threading.Thread(target=waiter, daemon=True)
        state["thread"] = thread
        thread.start()
        threading.Event().wait(random.uniform(0.02, 0.12))  # the waiter is blocked, at a random phase

    timings: list[float] = []

    def handoff() -> None:
        started = time.perf_counter()
        let_go()
        if not got.wait(30):
            raise RuntimeError("waiter never got the lock")
        timings.append(time.perf_counter() - started)

    benchmark.pedantic(handoff, setup=setup, rounds=HANDOFF_ROUNDS, iterations=1)
    thread = state["thread"]
    if thread is not None:
        thread.join(30)
        waiter_release()
    data = sorted(timings)
    p95 = data[min(len(data) - 1, round(0.95 * (len(data) - 1)))]
    benchmark.extra_info["median_ms"] = round(statistics.median(data) * 1000, 3)
    benchmark.extra_info["p95_ms"] = round(p95 * 1000, 3)


@pytest.mark.parametrize("impl", ["shardwise.AsyncRedisLock", "redis.asyncio Lock"])
def test_handoff_latency_async(benchmark: Any, servers: list[RedisServer], impl: str) -> None:
    """The same hand-off on one event loop: release by the holder -> the waiting task holds."""
    benchmark.group = "lock: hand-off latency, asyncio (release -> waiting task holds)"
    loop = asyncio.new_event_loop()
    client = redis.asyncio.Redis(host="127.0.0.1", port=servers[0].port, socket_timeout=5)
    name = f"bench-handoff-async-{impl}"

    def make() -> Any:
        if impl.startswith("shardwise"):
            return AsyncRedisLock(client, name, ttl=10)
        return client.lock(name, timeout=10, thread_local=False)

    holder, waiter = make(), make()
    state: dict[str, Any] = {"task": None}
    timings: list[float] = []

    async def prepare() -> None:
        if state["task"] is not None:
            await state["task"]
            await waiter.release()
        assert await holder.acquire()
        state["task"] = asyncio.ensure_future(waiter.acquire())
        await asyncio.sleep(random.uniform(0.02, 0.12))  # the waiter is blocked, at a random phase

    async def handoff() -> None:
        started = time.perf_counter()
        await holder.release()
        assert await asyncio.wait_for(asyncio.shield(state["task"]), 30)
        timings.append(time.perf_counter() - started)

    try:
        benchmark.pedantic(
            lambda: loop.run_until_complete(handoff()),
            setup=lambda: loop.run_until_complete(prepare()),
            rounds=HANDOFF_ROUNDS,
            iterations=1,
        )
        loop.run_until_complete(waiter.release())
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    data = sorted(timings)
    benchmark.extra_info["median_ms"] = round(statistics.median(data) * 1000, 3)
    benchmark.extra_info["p95_ms"] = round(data[min(len(data) - 1, round(0.95 * (len(data) - 1)))] * 1000, 3)


def test_uncontended_interleaved(benchmark: Any, servers: list[RedisServer]) -> None:
    """Alternate blocks of ops between the single-master locks so load swings hit all alike;
    extra_info holds each lock's median µs/op and its ratio to shardwise.RedisLock."""
    benchmark.group = "lock: uncontended, interleaved blocks (see extra_info)"
    blocks, per_block = (2, 20) if SMOKE else (10, 300)
    impls = ["shardwise.RedisLock", "redis-py Lock", "python-redis-lock"]
    pairs = {impl: UNCONTENDED[impl](servers, f"bench-interleaved-{impl}") for impl in impls}
    per_op: dict[str, list[float]] = {impl: [] for impl in impls}

    def run_blocks() -> None:
        for _ in range(blocks):
            for impl, (acquire, release) in pairs.items():
                started = time.perf_counter()
                for _ in range(per_block):
                    acquire()
                    release()
                per_op[impl].append((time.perf_counter() - started) / per_block)

    benchmark.pedantic(run_blocks, rounds=1, iterations=1)
    ours = statistics.median(per_op["shardwise.RedisLock"])
    for impl, values in per_op.items():
        benchmark.extra_info[f"{impl} us/op"] = round(statistics.median(values) * 1e6, 1)
        benchmark.extra_info[f"{impl} ratio"] = round(statistics.median(values) / ours, 3)


def test_uncontended_interleaved_async(benchmark: Any, servers: list[RedisServer]) -> None:
    """The asyncio twins in alternating blocks on one event loop (see the blocking one above)."""
    benchmark.group = "lock: uncontended asyncio, interleaved blocks (see extra_info)"
    blocks, per_block = (2, 20) if SMOKE else (10, 300)
    loop = asyncio.new_event_loop()
    client = redis.asyncio.Redis(host="127.0.0.1", port=servers[0].port, socket_timeout=5)
    locks: dict[str, Any] = {
        "shardwise.AsyncRedisLock": AsyncRedisLock(client, "bench-interleaved-async-ours", ttl=10),
        "redis.asyncio Lock": client.lock("bench-interleaved-async-redis-py", timeout=10),
    }
    per_op: dict[str, list[float]] = {impl: [] for impl in locks}

    async def run_blocks() -> None:
        for _ in range(blocks):
            for impl, lock in locks.items():
                started = time.perf_counter()
                for _ in range(per_block):
                    await lock.acquire()
                    await lock.release()
                per_op[impl].append((time.perf_counter() - started) / per_block)

    try:
        benchmark.pedantic(lambda: loop.run_until_complete(run_blocks()), rounds=1, iterations=1)
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    ours = statistics.median(per_op["shardwise.AsyncRedisLock"])
    for impl, values in per_op.items():
        benchmark.extra_info[f"{impl} us/op"] = round(statistics.median(values) * 1e6, 1)
        benchmark.extra_info[f"{impl} ratio"] = round(statistics.median(values) / ours, 3)
