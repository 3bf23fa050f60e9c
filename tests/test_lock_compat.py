"""redis-py compatibility of the lock API, against a real redis-server.

The examples below are redis-py's own Lock usage, quoted: the README's context-manager example and
tests from redis-py's tests/test_lock.py (their bodies, with ``self.`` dropped from
``self.get_lock``). Each runs twice, unchanged: with ``Lock`` bound to redis-py's Lock (the oracle:
the example is valid redis-py usage) and bound to shardwise's RedisLock. One difference stays:
our keys are ``shardwise:lock:{name}``, not ``name``, so the ``r`` given to the examples maps a
lock name to its key in the few raw commands they send (GET/SET/TTL/PTTL/PEXPIRE).
"""

from __future__ import annotations

import asyncio
import logging
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.lock
from redis.exceptions import LockError, LockNotOwnedError
from redis_support import RedisServer
from shardwise import AsyncRedisLock, AsyncRedlock, LockBackendError, LockNotAcquiredError, RedisLock, Redlock
from shardwise.lock._common import lock_keys

EXAMPLES = {
    "README: context manager": """
        try:
            with r.lock('my-lock-key', blocking_timeout=5) as lock:
                # code you want executed only after the lock has been acquired
                pass
        except LockError:
            # the lock wasn't acquired
            pass
    """,
    "test_locked": """
        lock = get_lock(r, "foo")
        assert lock.locked() is False
        lock.acquire(blocking=False)
        assert lock.locked() is True
        lock.release()
        assert lock.locked() is False
    """,
    "_test_owned": """
        lock = get_lock(client, "foo")
        assert lock.owned() is False
        lock.acquire(blocking=False)
        assert lock.owned() is True
        lock.release()
        assert lock.owned() is False

        lock2 = get_lock(client, "foo")
        assert lock.owned() is False
        assert lock2.owned() is False
        lock2.acquire(blocking=False)
        assert lock.owned() is False
        assert lock2.owned() is True
        lock2.release()
        assert lock.owned() is False
        assert lock2.owned() is False
    """,
    "test_competing_locks": """
        lock1 = get_lock(r, "foo")
        lock2 = get_lock(r, "foo")
        assert lock1.acquire(blocking=False)
        assert not lock2.acquire(blocking=False)
        lock1.release()
        assert lock2.acquire(blocking=False)
        assert not lock1.acquire(blocking=False)
        lock2.release()
    """,
    "test_timeout": """
        lock = get_lock(r, "foo", timeout=10)
        assert lock.acquire(blocking=False)
        assert 8 < r.ttl("foo") <= 10
        lock.release()
    """,
    "test_float_timeout": """
        lock = get_lock(r, "foo", timeout=9.5)
        assert lock.acquire(blocking=False)
        assert 8 < r.pttl("foo") <= 9500
        lock.release()
    """,
    "test_blocking_timeout": """
        lock1 = get_lock(r, "foo")
        assert lock1.acquire(blocking=False)
        bt = 0.4
        sleep = 0.05
        fudge_factor = 0.05
        lock2 = get_lock(r, "foo", sleep=sleep, blocking_timeout=bt)
        start = time.monotonic()
        assert not lock2.acquire()
        # The elapsed duration should be less than the total blocking_timeout
        assert (bt + fudge_factor) > (time.monotonic() - start) > bt - sleep
        lock1.release()
    """,
    "test_context_manager_raises_when_locked_not_acquired": """
        r.set("foo", "bar")
        with pytest.raises(LockError):
            with get_lock(r, "foo", blocking_timeout=0.1):
                pass
    """,
    "test_releasing_unlocked_lock_raises_error": """
        lock = get_lock(r, "foo")
        with pytest.raises(LockError):
            lock.release()
    """,
    "test_extend_lock": """
        lock = get_lock(r, "foo", timeout=10)
        assert lock.acquire(blocking=False)
        assert 8000 < r.pttl("foo") <= 10000
        assert lock.extend(10)
        assert 16000 < r.pttl("foo") <= 20000
        lock.release()
    """,
    "test_extend_lock_replace_ttl": """
        lock = get_lock(r, "foo", timeout=10)
        assert lock.acquire(blocking=False)
        assert 8000 < r.pttl("foo") <= 10000
        assert lock.extend(10, replace_ttl=True)
        assert 8000 < r.pttl("foo") <= 10000
        lock.release()
    """,
    "test_extending_unlocked_lock_raises_error": """
        lock = get_lock(r, "foo", timeout=10)
        with pytest.raises(LockError):
            lock.extend(10)
    """,
    "test_extending_lock_no_longer_owned_raises_error": """
        lock = get_lock(r, "foo", timeout=10)
        assert lock.acquire(blocking=False)
        r.set("foo", "a")
        with pytest.raises(LockNotOwnedError):
            lock.extend(10)
    """,
    "test_reacquire_lock": """
        lock = get_lock(r, "foo", timeout=10)
        assert lock.acquire(blocking=False)
        assert r.pexpire("foo", 5000)
        assert r.pttl("foo") <= 5000
        assert lock.reacquire()
        assert 8000 < r.pttl("foo") <= 10000
        lock.release()
    """,
    "test_reacquiring_unlocked_lock_raises_error": """
        lock = get_lock(r, "foo", timeout=10)
        with pytest.raises(LockError):
            lock.reacquire()
    """,
    "test_reacquiring_lock_no_longer_owned_raises_error": """
        lock = get_lock(r, "foo", timeout=10)
        assert lock.acquire(blocking=False)
        r.set("foo", "a")
        with pytest.raises(LockNotOwnedError):
            lock.reacquire()
    """,
    "test_context_manager_reacquiring_lock_no_longer_owned_raises_error": """
        with pytest.raises(LockNotOwnedError):
            with get_lock(r, "foo", timeout=10, blocking=False):
                r.set("foo", "a")
    """,
    "test_lock_error_gives_correct_lock_name": """
        r.set("foo", "bar")
        with pytest.raises(LockError) as excinfo:
            with get_lock(r, "foo", blocking_timeout=0.1):
                pass
            assert excinfo.value.lock_name == "foo"
    """,
}


class KeyedRedis(redis.Redis):
    """The ``r`` of the examples: ``r.lock`` makes a ``Lock``; the raw commands the examples send
    about a lock name go to that lock's key (``keys`` maps one to the other)."""

    lock_class: Any = None
    keys: Callable[[str], str] = staticmethod(lambda name: name)

    def lock(self, name: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("lock_class", self.lock_class)
        return super().lock(name, *args, **kwargs)

    def get(self, name: Any) -> Any:  # type: ignore[override]
        return super().get(self.keys(name))

    def set(self, name: Any, value: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().set(self.keys(name), value, *args, **kwargs)

    def ttl(self, name: Any) -> Any:  # type: ignore[override]
        return super().ttl(self.keys(name))

    def pttl(self, name: Any) -> Any:  # type: ignore[override]
        return super().pttl(self.keys(name))

    def pexpire(self, name: Any, time: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().pexpire(self.keys(name), time, *args, **kwargs)


@pytest.mark.parametrize("lock_class", ["redis-py Lock", "RedisLock"])
@pytest.mark.parametrize("example", list(EXAMPLES))
def test_redis_py_examples_run_unchanged(redis_server: RedisServer, example: str, lock_class: str) -> None:
    ours = lock_class == "RedisLock"
    r = KeyedRedis(host="127.0.0.1", port=redis_server.port)
    r.lock_class = RedisLock if ours else redis.lock.Lock
    if ours:
        r.keys = lambda name: lock_keys(name).lock  # type: ignore[method-assign, assignment]

    def get_lock(client: Any, *args: Any, **kwargs: Any) -> Any:  # redis-py's test helper
        kwargs["lock_class"] = r.lock_class
        return client.lock(*args, **kwargs)

    namespace = {"r": r, "client": r, "get_lock": get_lock, "time": time, "pytest": pytest}
    namespace.update(LockError=LockError, LockNotOwnedError=LockNotOwnedError)
    exec(compile(textwrap.dedent(EXAMPLES[example]), f"redis-py:{example}", "exec"), namespace)


# --- the differences that remain (documented in the README's migration table) ---------------------


def test_no_ttl_means_a_renewed_10_s_ttl_not_no_expiry(redis_server: RedisServer) -> None:
    """redis-py's Lock without timeout never expires (and cannot extend); ours has a 10 s TTL that
    a watchdog renews, so a crashed holder frees the lock."""
    client = redis_server.client()
    lock = client.lock("renewed", lock_class=RedisLock, timeout=None)
    assert lock.ttl == 10 and lock.auto_renew
    quick = RedisLock(client, "renewed-quick", renew_interval=0.2)
    assert quick.acquire()
    time.sleep(1.0)
    assert 9_000 < client.pttl(quick.keys.lock) <= 10_000  # renewed, not counting down from 10 s
    assert quick.extend(5)  # extend works: the lock has a TTL
    quick.release()
    explicit = RedisLock(client, "explicit", 30)  # third positional argument: the TTL
    assert explicit.ttl == 30 and not explicit.auto_renew


def test_waits_the_whole_blocking_timeout(redis_server: RedisServer) -> None:
    """redis-py gives up early when its next poll would fall after blocking_timeout; we wait the
    whole blocking_timeout (a release message can still wake us) and try once more at its end."""
    client = redis_server.client()
    holder = RedisLock(client, "whole-wait", ttl=10)
    assert holder.acquire()
    waiter = RedisLock(client, "whole-wait", ttl=10, sleep=60, blocking_timeout=0.5)
    started = time.monotonic()
    assert not waiter.acquire()
    assert 0.45 < time.monotonic() - started < 3


# --- keywords ---------------------------------------------------------------------------------------


def test_timeout_is_the_ttl_and_must_agree_with_ttl(redis_server: RedisServer) -> None:
    client = redis_server.client()
    lock = RedisLock(client, "alias", timeout=30)
    assert lock.ttl == 30 and lock.timeout == 30 and not lock.auto_renew
    assert lock.acquire()
    assert 29_000 < client.pttl(lock.keys.lock) <= 30_000
    lock.release()
    assert RedisLock(client, "alias", ttl=5, timeout=5).ttl == 5
    with pytest.raises(ValueError, match="same setting"):
        RedisLock(client, "alias", ttl=5, timeout=6)


def test_constructor_defaults_of_acquire(redis_server: RedisServer) -> None:
    client = redis_server.client()
    holder = RedisLock(client, "defaults", ttl=10)
    assert holder.acquire()
    at_once = RedisLock(client, "defaults", ttl=10, blocking=False)
    started = time.monotonic()
    assert not at_once.acquire()  # blocking=False from the constructor
    with pytest.raises(LockNotAcquiredError, match="blocking=False"), at_once:
        pass
    short = RedisLock(client, "defaults", ttl=10, blocking_timeout=0.3)
    assert not short.acquire()  # the constructor's blocking_timeout
    assert short.acquire(blocking=False) is False
    assert time.monotonic() - started < 3
    assert short.sleep == 0.1 and RedisLock(client, "x", sleep=0.5).sleep == 0.5
    holder.release()
    assert at_once.acquire(token="my-token")
    assert client.get(at_once.keys.lock) == b"my-token" and at_once.owned()
    at_once.release()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_calls_that_meant_something_else_are_type_errors(redis_server: RedisServer, flavour: str) -> None:
    if flavour == "sync":
        lock: Any = RedisLock(redis_server.client(), "typeerror", ttl=5)
        calls = [lambda: lock.acquire(True), lambda: lock.acquire(False), lambda: lock.acquire(timeout=1)]
    else:
        lock = AsyncRedisLock(redis.asyncio.Redis(port=redis_server.port), "typeerror", ttl=5)
        calls = [
            lambda: asyncio.run(lock.acquire(True)),
            lambda: asyncio.run(lock.acquire(False)),
            lambda: asyncio.run(lock.acquire(timeout=1)),
        ]
    for call, hint in zip(
        calls, ["acquire(blocking=True)", "acquire(blocking=False)", "blocking_timeout"], strict=True
    ):
        with pytest.raises(TypeError, match=hint.replace("(", r"\(").replace(")", r"\)")):
            call()
    with pytest.raises(TypeError, match="unexpected keyword argument 'wait'"):
        if flavour == "sync":
            lock.acquire(wait=1)
        else:
            asyncio.run(lock.acquire(wait=1))


def test_raise_on_release_error_false_only_logs(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis_server.client()
    quiet = RedisLock(client, "quiet", ttl=10, raise_on_release_error=False)
    with caplog.at_level(logging.WARNING, logger="shardwise.lock"), quiet:
        client.delete(quiet.keys.lock)
    assert "no longer owned" in caplog.text
    loud = RedisLock(client, "loud", ttl=10)
    with pytest.raises(LockNotOwnedError), loud:
        client.delete(loud.keys.lock)


def test_our_errors_are_redis_py_errors(redis_server: RedisServer) -> None:
    client = redis_server.client()
    holder = RedisLock(client, "errors", ttl=10)
    assert holder.acquire()
    busy = RedisLock(client, "errors", ttl=10, blocking=False)
    with pytest.raises(redis.exceptions.LockError) as caught, busy:
        pass
    assert isinstance(caught.value, LockNotAcquiredError) and caught.value.lock_name == "errors"
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        RedisLock(client, "errors", ttl=10).release()
    redis_server.kill()
    with pytest.raises(redis.exceptions.ConnectionError) as down:
        holder.release()
    assert isinstance(down.value, LockBackendError) and isinstance(down.value, ConnectionError)


def test_redlock_has_the_same_surface(redis_factory: Callable[..., RedisServer]) -> None:
    servers = [redis_factory() for _ in range(3)]
    clients = [s.client() for s in servers]
    lock = Redlock(clients, "red", timeout=10, blocking_timeout=1, sleep=0.05, thread_local=False)
    assert lock.ttl == 10 and lock.sleep == 0.05 and lock.blocking_timeout == 1
    assert lock.acquire() and lock.locked() and lock.owned()
    assert lock.extend(10) and all(19_000 < c.pttl(lock.keys.lock) <= 20_000 for c in clients)
    for c in clients:
        c.pexpire(lock.keys.lock, 3000)
    assert lock.reacquire() and all(9_000 < c.pttl(lock.keys.lock) <= 10_000 for c in clients)
    remaining = lock.ttl_remaining()
    assert remaining is not None and 9 < remaining <= 10
    lock.release()
    assert not lock.locked()
    with pytest.raises(TypeError, match="blocking"):
        lock.acquire(False)  # type: ignore[arg-type]

    async def twin() -> None:
        alock = AsyncRedlock([redis.asyncio.Redis(port=s.port) for s in servers], "ared", timeout=10)
        assert await alock.acquire(blocking=False) and await alock.owned()
        assert await alock.extend(5) and await alock.reacquire()
        await alock.release()

    asyncio.run(twin())
