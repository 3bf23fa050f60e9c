"""RedisLock against real redis-server processes."""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable

import pytest
import redis
import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st
from lock_workers import contend
from redis_support import RedisServer
from shardwise import (
    FencedResource,
    FencingTokenError,
    InMemoryFencedResource,
    LockBackendError,
    LockError,
    LockLostError,
    LockNotAcquiredError,
    LockNotOwnedError,
    RedisLock,
)
from shardwise.lock._common import lock_keys

# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, -1, 0.0, float("nan"), float("inf"), 0.0001])
def test_bad_ttl_is_value_error(redis_server: RedisServer, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        RedisLock(redis_server.client(), "x", ttl=ttl)


@pytest.mark.parametrize("ttl", ["1", b"1", True])
def test_non_numeric_ttl_is_type_error(redis_server: RedisServer, ttl: object) -> None:
    with pytest.raises(TypeError, match="ttl"):
        RedisLock(redis_server.client(), "x", ttl=ttl)  # type: ignore[arg-type]


def test_bad_name(redis_server: RedisServer) -> None:
    with pytest.raises(ValueError, match="empty"):
        RedisLock(redis_server.client(), "")
    with pytest.raises(TypeError, match="name"):
        RedisLock(redis_server.client(), b"x")  # type: ignore[arg-type]


def test_wrong_client_type(redis_server: RedisServer) -> None:
    with pytest.raises(TypeError, match="AsyncRedisLock"):
        RedisLock(redis.asyncio.Redis(port=redis_server.port), "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="client"):
        RedisLock(redis_server.url, "x")  # type: ignore[arg-type]


def test_bad_timeouts(redis_server: RedisServer) -> None:
    lock = RedisLock(redis_server.client(), "x")
    with pytest.raises(ValueError, match="blocking_timeout"):
        lock.acquire(blocking_timeout=-1)
    with pytest.raises(ValueError, match="sleep"):
        lock.acquire(sleep=0)
    with pytest.raises(ValueError, match="renew_interval"):
        RedisLock(redis_server.client(), "x", ttl=1, renew_interval=2)


# --- basic behaviour -------------------------------------------------------------------------


def test_acquire_release_and_queries(redis_server: RedisServer) -> None:
    client = redis_server.client(socket_timeout=5)
    a = RedisLock(client, "jobs", ttl=5)
    b = RedisLock(client, "jobs", ttl=5)
    assert not a.locked() and not a.owned() and a.fencing_token is None
    assert a.acquire(blocking=False)
    assert a.locked() and a.owned() and b.locked() and not b.owned()
    remaining = a.ttl_remaining()
    assert remaining is not None and 4.0 < remaining <= 5.0
    assert b.ttl_remaining() is None
    assert not b.acquire(blocking=False)
    # the key holds a 128-bit token, not a constant
    token = client.get(a.keys.lock)
    assert token is not None and len(token) == 32 and int(token, 16) >= 0
    assert "held" in repr(a) and "jobs" in repr(a) and "unlocked" in repr(b)
    a.release()
    assert not a.locked() and client.get(a.keys.lock) is None
    assert b.acquire(blocking=False)
    assert b.fencing_token is not None and a.fencing_token is not None
    assert b.fencing_token > a.fencing_token
    b.release()


@given(name=st.text(min_size=1, max_size=20), prefix=st.sampled_from(["shardwise:lock:", "", "app/"]))
def test_keys_share_one_hash_slot(name: str, prefix: str) -> None:
    """redis-py's own key_slot is the oracle: every key of one lock lands in one cluster slot."""
    keys = lock_keys(name, prefix)
    slots = {redis.cluster.key_slot(k.encode()) for k in (keys.lock, keys.fence, keys.channel)}
    assert len(slots) == 1, (name, keys)
    assert len({keys.lock, keys.fence, keys.channel}) == 3


def test_keys_of_awkward_names_and_prefixes(redis_server: RedisServer) -> None:
    for name in ["jobs", "a}b", "}", "{x}", "{}", "päth/ü"]:
        keys = RedisLock(redis_server.client(), name).keys
        assert len({redis.cluster.key_slot(k.encode()) for k in (keys.lock, keys.fence)}) == 1
    assert lock_keys("a").lock != lock_keys("b").lock and lock_keys("a}x").lock != lock_keys("a}y").lock
    with pytest.raises(ValueError, match="prefix"):
        RedisLock(redis_server.client(), "x", prefix="app:{}")
    with pytest.raises(TypeError, match="prefix"):
        RedisLock(redis_server.client(), "x", prefix=3)  # type: ignore[arg-type]


def test_not_reentrant(redis_server: RedisServer) -> None:
    lock = RedisLock(redis_server.client(), "r")
    assert lock.acquire()
    with pytest.raises(LockError, match="reentrant"):
        lock.acquire(blocking=False)
    lock.release()


def test_non_owner_cannot_release_or_extend(redis_server: RedisServer) -> None:
    client = redis_server.client()
    owner = RedisLock(client, "n", ttl=5)
    other = RedisLock(client, "n", ttl=5)
    assert owner.acquire()
    before = client.get(owner.keys.lock)
    with pytest.raises(LockNotOwnedError):
        other.release()
    with pytest.raises(LockNotOwnedError):
        other.extend(100)
    assert client.get(owner.keys.lock) == before and owner.owned()
    assert client.pttl(owner.keys.lock) <= 5000
    owner.release()
    with pytest.raises(LockNotOwnedError):
        owner.release()  # released twice


def test_extend_adds_replaces_and_reacquire_resets(redis_server: RedisServer) -> None:
    client = redis_server.client()
    lock = RedisLock(client, "e", ttl=10)
    assert lock.acquire()
    assert lock.extend(30) is True  # added to what was left (about 10 s), as redis-py's extend
    assert 38_000 < client.pttl(lock.keys.lock) <= 40_000
    assert lock.extend(1, replace_ttl=True) is True
    assert 0 < client.pttl(lock.keys.lock) <= 1000
    assert lock.reacquire() is True  # back to the lock's ttl
    assert 9_000 < client.pttl(lock.keys.lock) <= 10_000
    lock.release()


@pytest.mark.parametrize("thread_local", [True, False])
def test_thread_local_decides_who_may_release(redis_server: RedisServer, thread_local: bool) -> None:
    """redis-py's meaning: with thread_local=True only the acquiring thread may release."""
    lock = RedisLock(redis_server.client(), "t", ttl=10, thread_local=thread_local)
    assert lock.acquire()
    errors: list[BaseException] = []

    def release_elsewhere() -> None:
        try:
            lock.release()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=release_elsewhere)
    thread.start()
    thread.join(10)
    if thread_local:
        assert len(errors) == 1 and isinstance(errors[0], LockNotOwnedError), errors
        assert "thread_local" in str(errors[0]) and lock.owned()
        lock.release()
    else:
        assert errors == []
    assert not lock.locked()


def test_ttl_expiry_frees_the_lock(redis_server: RedisServer) -> None:
    client = redis_server.client()
    first = RedisLock(client, "exp", ttl=0.2)
    second = RedisLock(client, "exp", ttl=5)
    assert first.acquire()
    assert not second.acquire(blocking=False)
    assert second.acquire(blocking_timeout=5)  # no release message: woken by the PTTL-based fallback
    assert first.lost
    with pytest.raises(LockLostError):
        first.check()
    with pytest.raises(LockLostError):
        first.release()
    assert second.owned()  # the stale release did not touch the new holder's key
    second.release()


def test_timeout_and_context_manager(redis_server: RedisServer) -> None:
    client = redis_server.client()
    holder = RedisLock(client, "cm", ttl=10)
    assert holder.acquire()
    waiter = RedisLock(client, "cm", ttl=10, blocking_timeout=0.2)
    started = time.monotonic()
    assert not waiter.acquire(blocking_timeout=0.2)
    with pytest.raises(LockNotAcquiredError), waiter:
        pass
    assert time.monotonic() - started < 5
    assert isinstance(LockNotAcquiredError("x"), TimeoutError)
    holder.release()
    with waiter as held:
        assert held is waiter and waiter.owned()
    assert not waiter.locked()


def test_waiter_is_woken_by_release_not_by_ttl(redis_server: RedisServer) -> None:
    """A long TTL and a long sleep would keep a polling waiter asleep: the pub/sub message wakes it."""
    client = redis_server.client()
    holder = RedisLock(client, "wake", ttl=60, thread_local=False)
    waiter = RedisLock(client, "wake", ttl=60, sleep=60)
    assert holder.acquire()
    timer = threading.Timer(0.3, holder.release)
    timer.start()
    started = time.monotonic()
    assert waiter.acquire(blocking_timeout=20)
    assert time.monotonic() - started < 10  # far below the 60 s TTL a missed message would cost
    waiter.release()
    timer.join()


# --- watchdog and loss -----------------------------------------------------------------------


def test_watchdog_keeps_the_lock_for_many_ttls(redis_server: RedisServer) -> None:
    client = redis_server.client()
    lost: list[RedisLock] = []
    lock = RedisLock(client, "wd", ttl=0.3, auto_renew=True, on_lost=lost.append)
    rival = RedisLock(client, "wd", ttl=0.3)
    with lock:
        deadline = time.monotonic() + 5 * 0.3 + 0.3
        while time.monotonic() < deadline:
            assert not rival.acquire(blocking=False)
            lock.check()
            time.sleep(0.05)
        assert lock.owned()
    assert lost == [] and not lock.locked()


def test_dropped_lock_object_stops_being_renewed(redis_server: RedisServer) -> None:
    """A held auto-renewing lock that is garbage-collected must expire, not be renewed forever."""
    client = redis_server.client()
    lock = RedisLock(client, "dropped", ttl=0.3, auto_renew=True)
    assert lock.acquire()
    key = lock.keys.lock
    del lock
    gc.collect()
    assert _wait_until(lambda: not client.exists(key), 3.0)


def _wait_until(predicate: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_external_delete_is_reported_and_fencing_refuses_the_stale_holder(redis_server: RedisServer) -> None:
    client = redis_server.client()
    lost: list[RedisLock] = []
    lock = RedisLock(client, "del", ttl=0.3, auto_renew=True, on_lost=lost.append)
    resource = FencedResource(client, "del-resource")
    with pytest.raises(LockLostError), lock:
        stale_token = lock.fencing_token
        assert stale_token is not None
        resource.write(stale_token, "from the first holder")
        client.delete(lock.keys.lock)
        assert _wait_until(lambda: lock.lost, 3.0)
        with pytest.raises(LockLostError):
            lock.check()
        newcomer = RedisLock(client, "del", ttl=5)
        assert newcomer.acquire(blocking_timeout=5)
        assert newcomer.fencing_token is not None and newcomer.fencing_token > stale_token
        resource.write(newcomer.fencing_token, "from the newcomer")
        with pytest.raises(FencingTokenError):
            resource.write(stale_token, "stale write")
        assert resource.read() == b"from the newcomer"
        assert resource.highest_token() == newcomer.fencing_token
        newcomer.release()
    time.sleep(0.4)  # the watchdog must not call on_lost again
    assert lost == [lock]


@pytest.mark.parametrize("how", ["sigstop", "debug-sleep"])
def test_server_paused_past_the_ttl_is_reported(redis_server: RedisServer, how: str) -> None:
    client = redis_server.client()  # no socket timeout: the watchdog must still notice in time
    lost: list[float] = []
    lock = RedisLock(
        client, "pause", ttl=0.3, auto_renew=True, on_lost=lambda _: lost.append(time.monotonic())
    )
    assert lock.acquire()
    stale_token = lock.fencing_token
    assert stale_token is not None
    paused_at = time.monotonic()
    if how == "sigstop":
        redis_server.pause()
        time.sleep(1.2)
        redis_server.resume()
    else:
        sleeper = threading.Thread(
            target=lambda: redis_server.client().execute_command("DEBUG", "SLEEP", "1.2")
        )
        sleeper.start()
        sleeper.join(10)
    assert _wait_until(lambda: bool(lost), 3.0)
    assert lost[0] - paused_at < 1.2  # reported while the server was still unresponsive
    with pytest.raises(LockLostError):
        lock.check()
    newcomer = RedisLock(redis_server.client(), "pause", ttl=5)
    assert newcomer.acquire(blocking_timeout=5)
    assert newcomer.fencing_token is not None and newcomer.fencing_token > stale_token
    resource = FencedResource(client, "pause-resource")
    resource.write(newcomer.fencing_token, "new")
    with pytest.raises(FencingTokenError):
        resource.write(stale_token, "stale")
    with pytest.raises(LockLostError):
        lock.release()
    assert newcomer.owned()
    newcomer.release()
    assert len(lost) == 1


def test_unreachable_server_fails_clearly_within_the_timeout(redis_server: RedisServer) -> None:
    client = redis_server.client(socket_timeout=0.2, socket_connect_timeout=0.2)
    lock = RedisLock(client, "down", ttl=1)
    redis_server.kill()
    started = time.monotonic()
    with pytest.raises(LockBackendError):
        lock.acquire(blocking_timeout=0.5)
    assert time.monotonic() - started < 2.0  # the timeout plus a small grace, despite redis-py's retries
    started = time.monotonic()
    with pytest.raises(LockBackendError):
        lock.acquire(blocking=False)  # no wait: one attempt, whatever redis-py's retry policy
    assert time.monotonic() - started < 2.0
    assert isinstance(LockBackendError("x"), ConnectionError)


def test_paused_server_fails_clearly_within_the_timeout(redis_server: RedisServer) -> None:
    client = redis_server.client(socket_timeout=0.2, socket_connect_timeout=0.2)
    lock = RedisLock(client, "stopped", ttl=1)
    redis_server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(LockBackendError):
            lock.acquire(blocking_timeout=0.5)
        assert time.monotonic() - started < 2.0
    finally:
        redis_server.resume()
    assert lock.acquire(blocking_timeout=5)
    lock.release()


def test_in_memory_fenced_resource() -> None:
    resource = InMemoryFencedResource()
    resource.write(3, "a")
    resource.write(3, "b")  # the same holder may write again
    resource.write(7, "c")
    with pytest.raises(FencingTokenError):
        resource.write(5, "stale")
    assert resource.value == "c" and resource.highest_token() == 7
    with pytest.raises(TypeError, match="held"):
        resource.write(None, "x")  # type: ignore[arg-type]


# --- many processes --------------------------------------------------------------------------


def test_many_processes_never_overlap(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    workers, rounds = 64, 3
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    counter_key = "contended-counter"
    processes = [
        ctx.Process(
            target=contend, args=(redis_server.port, "contended", counter_key, rounds, barrier, results, i)
        )
        for i in range(workers)
    ]
    # spawn re-imports the parent's __main__ (pytest) in every child; hide it: the workers need none
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "__spec__", None, raising=False)
    monkeypatch.delattr(main, "__file__", raising=False)
    for process in processes:
        process.start()
    monkeypatch.undo()
    holds: list[tuple[int, int, int, int]] = []
    errors: list[str] = []
    try:
        for _ in range(workers):
            status, payload = results.get(timeout=120)
            if status == "ok":
                holds.extend(payload)
            else:
                errors.append(payload)
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
    assert errors == []
    assert len(holds) == workers * rounds
    assert int(redis_server.client().get(counter_key) or 0) == workers * rounds  # no lost update
    holds.sort()
    for (_, end, token, _), (start, _, next_token, _) in itertools.pairwise(holds):
        assert end <= start, "two holders overlapped"
        assert next_token > token, "fencing tokens must increase in hold order"
