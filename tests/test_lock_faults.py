"""Locks under faults, against real redis-server processes: hung (SIGSTOPped) and killed servers,
single-connection pools, fork, Redis down. One regression test per bug of issue 11 (#9, #11, #12,
#14, #15, #16); each failed on the code before the rework."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import redis.asyncio
import shardwise
from redis_support import RedisServer
from shardwise import (
    AsyncRedlock,
    LockBackendError,
    LockLostError,
    LockNotOwnedError,
    QuorumNotReachedError,
    RedisLock,
    Redlock,
)

# children import the shardwise these tests imported (the installed wheel in CI, the source tree in dev)
PACKAGE_ROOT = str(Path(shardwise.__file__).resolve().parent.parent)


def no_timeout_client(server: RedisServer) -> redis.Redis:
    """A client as many are built: no socket timeout, redis-py's default retry policy."""
    return redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=None, socket_connect_timeout=None)


def hand_over(holder: RedisLock, waiter: RedisLock, **kwargs: object) -> list[object]:
    """``holder`` takes the lock; ``waiter.acquire(**kwargs)`` waits in a thread; the holder lets go
    0.3 s later (from this thread). Returns what the waiter's acquire returned (or raised)."""
    assert holder.acquire()
    results: list[object] = []

    def wait() -> None:
        try:
            results.append(waiter.acquire(**kwargs))  # type: ignore[arg-type]
        except Exception as exc:
            results.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    holder.release()
    thread.join(10)
    return results


# --- #9: a hung master costs only the operation that touched it ------------------------------


def test_a_hung_master_does_not_break_locks_elsewhere(redis_factory: Callable[..., RedisServer]) -> None:
    """One of three Redlock masters frozen: many lock objects in a row still work (the old code
    parked a thread per lock object in a shared 64-thread pool, then failed everywhere), and a
    RedisLock on another, healthy server is unaffected."""
    masters = [redis_factory() for _ in range(3)]
    healthy = redis_factory()
    clients = [no_timeout_client(s) for s in masters]
    masters[2].pause()
    try:
        started = time.monotonic()
        for i in range(70):
            lock = Redlock(clients, f"hung-{i}", ttl=1, node_timeout=0.05)
            assert lock.acquire(blocking_timeout=5), i
            lock.release()
        elapsed = time.monotonic() - started
        single = RedisLock(no_timeout_client(healthy), "elsewhere", ttl=5)
        assert single.acquire(blocking_timeout=2)
        single.release()
    finally:
        masters[2].resume()
    # each acquire and release waited at most about one node_timeout on the frozen master
    assert elapsed < 70 * 2 * (0.05 * 3 + 0.05) + 10
    assert threading.active_count() < 30  # no thread per call or per lock object


def test_every_call_is_bounded_on_a_hung_server(redis_server: RedisServer) -> None:
    """No socket timeout on the client, redis-py's retries: every operation of a RedisLock on a
    frozen server still returns within its bound (call_timeout 0.2 s)."""
    client = no_timeout_client(redis_server)
    lock = RedisLock(client, "frozen", ttl=3, call_timeout=0.2)
    other = RedisLock(client, "frozen-held", ttl=3, call_timeout=0.2)
    assert other.acquire()
    redis_server.pause()
    try:
        for operation, error in [
            (lambda: lock.acquire(blocking_timeout=0.5), LockBackendError),
            (lambda: lock.acquire(blocking=False), LockBackendError),
            (lock.locked, LockBackendError),
            (lambda: other.extend(1), LockBackendError),
            (other.release, LockBackendError),
        ]:
            started = time.monotonic()
            with pytest.raises(error) as caught:
                operation()
            assert time.monotonic() - started < 0.5 + 3 * 0.2 + 1.0
            assert isinstance(caught.value.__cause__, (redis.TimeoutError, redis.ConnectionError))
        started = time.monotonic()
        with pytest.raises(LockBackendError):
            lock.acquire()  # no wait limit: gives up after 1 s unreachable (documented)
        assert time.monotonic() - started < 1.0 + 3 * 0.2 + 1.0
    finally:
        redis_server.resume()


def test_loss_is_reported_while_the_server_is_still_frozen(redis_server: RedisServer) -> None:
    client = no_timeout_client(redis_server)
    lost: list[float] = []
    lock = RedisLock(
        client, "stop-mid-hold", ttl=0.6, auto_renew=True, on_lost=lambda _: lost.append(time.monotonic())
    )
    assert lock.acquire()
    time.sleep(0.5)  # at least one renewal
    paused_at = time.monotonic()
    redis_server.pause()
    try:
        deadline = time.monotonic() + 5
        while not lost and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        redis_server.resume()
    assert lost, "on_lost never fired"
    # the validity (at most a ttl past the last renewal, before the pause) plus one call bound
    # (0.2 s by default for this ttl), with slack for a loaded machine
    assert lost[0] - paused_at <= 0.6 + 0.2 + 0.5
    with pytest.raises(LockLostError):
        lock.check()


# --- #11: single-connection pools --------------------------------------------------------------


@pytest.mark.parametrize("pool", ["max_connections=1", "BlockingConnectionPool"])
def test_contended_acquire_works_with_a_single_connection_pool(redis_server: RedisServer, pool: str) -> None:
    if pool == "BlockingConnectionPool":
        client = redis.Redis(
            connection_pool=redis.BlockingConnectionPool(
                host="127.0.0.1", port=redis_server.port, max_connections=1
            )
        )
    else:
        client = redis.Redis(host="127.0.0.1", port=redis_server.port, max_connections=1)
    holder = RedisLock(redis_server.client(), "one-connection", ttl=10)
    waiter = RedisLock(client, "one-connection", ttl=10)
    # it polls: the pool cannot spare a connection for a subscription
    assert hand_over(holder, waiter, blocking_timeout=5) == [True]


def test_a_shared_blocking_pool_of_one_serves_holder_and_waiter(redis_server: RedisServer) -> None:
    client = redis.Redis(
        connection_pool=redis.BlockingConnectionPool(
            host="127.0.0.1", port=redis_server.port, max_connections=1
        )
    )
    holder = RedisLock(client, "shared-one", ttl=10)
    waiter = RedisLock(client, "shared-one", ttl=10)
    assert hand_over(holder, waiter, blocking_timeout=5) == [True]


# --- #12: fork -------------------------------------------------------------------------------


def _third_process_acquires(port: int, name: str) -> bool:
    code = (
        "import redis, sys; from shardwise import RedisLock; "
        f"lock = RedisLock(redis.Redis(port={port}), {name!r}, ttl=5); "
        "print(lock.acquire(blocking=False))"
    )
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_leaving_the_with_block_does_not_release_the_parents_lock(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    lock = RedisLock(client, "forked", ttl=30)
    with lock:
        token = client.get(lock.keys.lock)
        pid = os.fork()
        if pid == 0:  # the child leaves the with block, as code after fork does
            code = 1
            try:
                lock.__exit__(None, None, None)
            except LockNotOwnedError as error:
                code = 3 if "parent process" in str(error) else 4
            except BaseException:
                code = 5
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3  # LockNotOwnedError naming the fork
        assert client.get(lock.keys.lock) == token  # still the parent's
        assert not _third_process_acquires(redis_server.port, "forked")
        assert lock.owned()
    assert _third_process_acquires(redis_server.port, "forked")  # released by the parent


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_fresh_mutexes(redis_server: RedisServer) -> None:
    """Another thread holds the lock object's internal mutex at the moment of fork: the child must
    still be able to use the object (a copied, forever-held mutex would deadlock it)."""
    lock = RedisLock(redis_server.client(), "fork-mutex", ttl=5)
    held, done = threading.Event(), threading.Event()

    def hold_the_mutex() -> None:
        with lock._guard:
            held.set()
            done.wait(10)

    thread = threading.Thread(target=hold_the_mutex)
    thread.start()
    held.wait(5)
    try:
        pid = os.fork()
        if pid == 0:
            ok = lock.acquire(blocking_timeout=5)
            lock.release()
            os._exit(0 if ok else 2)
    finally:
        done.set()
        thread.join()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child deadlocked on a mutex copied in the held state")


# --- #14: Redlock release says what happened --------------------------------------------------


@pytest.mark.parametrize("down", [3, 2])
def test_redlock_release_without_a_majority_is_not_a_success(
    redis_factory: Callable[..., RedisServer], down: int
) -> None:
    masters = [redis_factory() for _ in range(3)]
    lock = Redlock([s.client() for s in masters], "release-unknown", ttl=10)
    assert lock.acquire()
    for server in masters[:down]:
        server.kill()
    with pytest.raises(LockBackendError, match="could not release") as caught:
        lock.release()
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    assert f"{3 - down} of 3 masters answered" in str(caught.value)


def test_redlock_release_of_a_lost_lock_is_lock_lost(redis_factory: Callable[..., RedisServer]) -> None:
    masters = [redis_factory() for _ in range(3)]
    clients = [s.client() for s in masters]
    lock = Redlock(clients, "release-lost", ttl=10)
    assert lock.acquire()
    for client in clients[:2]:
        client.delete(lock.keys.lock)
    with pytest.raises(LockLostError):
        lock.release()


def test_async_redlock_release_without_a_majority_is_not_a_success(
    redis_factory: Callable[..., RedisServer],
) -> None:
    masters = [redis_factory() for _ in range(3)]

    async def scenario() -> None:
        clients = [redis.asyncio.Redis(port=s.port) for s in masters]
        lock = AsyncRedlock(clients, "async-release-unknown", ttl=10)
        assert await lock.acquire()
        for server in masters:
            server.kill()
        with pytest.raises(LockBackendError, match="0 of 3 masters answered"):
            await lock.release()

    asyncio.run(scenario())


# --- #15: durations that cannot work are refused ----------------------------------------------


def test_durations_that_cannot_work_are_refused(redis_factory: Callable[..., RedisServer]) -> None:
    clients = [redis_factory().client() for _ in range(3)]
    with pytest.raises(ValueError, match=r"ttl=0.002 s is too short.*at least"):
        Redlock(clients, "tiny", ttl=0.002)
    with pytest.raises(ValueError, match=r"drift_factor must be in \[0, 0.5\)"):
        Redlock(clients, "drift", drift_factor=1.0)
    with pytest.raises(ValueError, match="ttl must be at most"):
        RedisLock(clients[0], "huge", ttl=1e16)
    with pytest.raises(ValueError, match="node_timeout"):
        Redlock(clients, "slow", ttl=0.1, node_timeout=1.0)


def test_a_huge_blocking_timeout_waits_as_asked(redis_server: RedisServer) -> None:
    client = redis_server.client()
    holder = RedisLock(client, "huge-wait", ttl=10)
    waiter = RedisLock(client, "huge-wait", ttl=10, thread_local=False)
    assert hand_over(holder, waiter, blocking_timeout=1e10) == [True]  # the old code: OverflowError
    waiter.release()
    # the same through the local wait of an object shared by two threads
    shared = RedisLock(client, "huge-local", ttl=10, thread_local=False)
    assert hand_over(shared, shared, blocking_timeout=1e10) == [True]


# --- #16: Redis down: prompt, with the real cause -----------------------------------------------


def test_redis_down_fails_promptly_with_the_cause(redis_server: RedisServer) -> None:
    client = no_timeout_client(redis_server)
    lock = RedisLock(client, "down", ttl=10)
    redis_server.kill()
    started = time.monotonic()
    with pytest.raises(LockBackendError, match="Connection refused") as caught:
        lock.acquire(blocking_timeout=0.5)
    assert time.monotonic() - started < 0.5 + 1.5
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    assert "'down'" in str(caught.value)  # names the lock
    started = time.monotonic()
    with pytest.raises(LockBackendError, match="Connection refused"):
        lock.acquire()  # no wait limit: gives up after 1 s of refusals
    assert time.monotonic() - started < 1.0 + 1.5


def test_redlock_with_every_master_down_names_each_cause(redis_factory: Callable[..., RedisServer]) -> None:
    masters = [redis_factory() for _ in range(3)]
    lock = Redlock([no_timeout_client(s) for s in masters], "all-down", ttl=5)
    for server in masters:
        server.kill()
    started = time.monotonic()
    with pytest.raises(QuorumNotReachedError, match="0 of 3 masters answered") as caught:
        lock.acquire(blocking_timeout=0.5)
    assert time.monotonic() - started < 0.5 + 2.0
    assert str(caught.value).count("Connection refused") == 3
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
