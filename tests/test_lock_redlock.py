"""Redlock over five real redis-server processes."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest
import redis
import redis.asyncio
from lock_workers import SlowProxy
from redis_support import RedisServer
from shardwise import (
    LockLostError,
    LockNotAcquiredError,
    LockNotOwnedError,
    QuorumNotReachedError,
    RedisLock,
    Redlock,
)

MASTERS = 5


@pytest.fixture
def masters(redis_factory: Callable[..., RedisServer]) -> list[RedisServer]:
    return [redis_factory() for _ in range(MASTERS)]


def clients_of(servers: list[RedisServer]) -> list[redis.Redis]:
    return [s.client() for s in servers]


def test_bad_input(masters: list[RedisServer]) -> None:
    clients = clients_of(masters)
    with pytest.raises(ValueError, match="empty"):
        Redlock([], "x")
    with pytest.raises(ValueError, match="distinct"):
        Redlock([clients[0], clients[0]], "x")
    with pytest.raises(TypeError, match="AsyncRedlock"):
        Redlock([redis.asyncio.Redis(port=masters[0].port)], "x")  # type: ignore[list-item]
    with pytest.raises(TypeError, match="list"):
        Redlock(clients[0], "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        Redlock(clients, "x", ttl=0)
    with pytest.raises(ValueError, match="empty"):
        Redlock(clients, "")
    lock = Redlock(clients, "x")
    assert lock.quorum == 3 and "masters=5" in repr(lock)


def test_every_subset_of_prelocked_masters(masters: list[RedisServer]) -> None:
    """For all 32 subsets locked by another owner: acquire succeeds iff at least 3 masters are free."""
    clients = clients_of(masters)
    lock = Redlock(clients, "subset", ttl=10)
    for taken in itertools.product([False, True], repeat=MASTERS):
        for client, is_taken in zip(clients, taken, strict=True):
            client.delete(lock.keys.lock)
            if is_taken:
                client.set(lock.keys.lock, "someone-else", px=10_000)
        free = MASTERS - sum(taken)
        acquired = lock.acquire(blocking=False)
        assert acquired == (free >= 3), (taken, acquired)
        values = [c.get(lock.keys.lock) for c in clients]
        for value, is_taken in zip(values, taken, strict=True):
            if is_taken:
                assert value == b"someone-else"  # the other owner's keys are never touched
            elif acquired:
                assert value is not None and value != b"someone-else"
            else:
                assert value is None  # a failed attempt is released everywhere
        if acquired:
            assert lock.owned()
            lock.release()
            assert all(c.get(lock.keys.lock) in (None, b"someone-else") for c in clients)


def test_acquire_release_extend_and_fencing(masters: list[RedisServer]) -> None:
    clients = clients_of(masters)
    a = Redlock(clients, "basic", ttl=5)
    b = Redlock(clients, "basic", ttl=5)
    assert a.acquire(blocking=False) and a.locked() and a.owned() and not b.owned()
    assert not b.acquire(blocking=False)
    with pytest.raises(LockNotOwnedError):
        b.release()
    with pytest.raises(LockNotOwnedError):
        b.extend(1)
    assert a.extend(20)  # added to what was left on each master
    assert all(20_000 < c.pttl(a.keys.lock) <= 25_000 for c in clients)
    remaining = a.ttl_remaining()
    assert remaining is not None and 20 < remaining <= 25
    assert a.reacquire()
    assert all(4_000 < c.pttl(a.keys.lock) <= 5_000 for c in clients)
    first = a.fencing_token
    a.release()
    assert not a.locked()
    with b:
        assert b.fencing_token is not None and first is not None and b.fencing_token > first


def test_fencing_tokens_increase_across_different_majorities(masters: list[RedisServer]) -> None:
    """The token of a majority is written back, so the next (overlapping) majority exceeds it."""
    clients = clients_of(masters)
    lock = Redlock(clients, "fence", ttl=10)
    seconds, micros = clients[0].time()
    ahead = int(seconds) * 1_000_000 + int(micros) + 10**9  # master 0's counter runs far ahead
    clients[0].set(lock.keys.fence, ahead)  # (the others start from their clocks, see _scripts)

    def take(free: set[int]) -> int:
        for i, c in enumerate(clients):
            c.delete(lock.keys.lock)
            if i not in free:
                c.set(lock.keys.lock, "other", px=10_000)
        assert lock.acquire(blocking=False)
        token = lock.fencing_token
        assert token is not None
        lock.release()
        return token

    first = take({0, 1, 2})
    second = take({2, 3, 4})  # shares only master 2 with the first majority
    third = take({1, 3, 4})
    assert first == ahead + 1 and first < second < third


def test_two_masters_down_still_works_three_down_refuses(masters: list[RedisServer]) -> None:
    clients = clients_of(masters)
    lock = Redlock(clients, "down", ttl=2)
    masters[0].kill()
    masters[3].kill()
    assert lock.acquire(blocking_timeout=5)
    lock.reacquire()
    assert lock.owned()
    lock.release()
    masters[4].kill()
    started = time.monotonic()
    with pytest.raises(QuorumNotReachedError):
        lock.acquire(blocking_timeout=1.0)
    assert time.monotonic() - started < 3.0
    started = time.monotonic()
    with pytest.raises(QuorumNotReachedError):
        lock.acquire(blocking=False)
    assert time.monotonic() - started < 2.0
    assert isinstance(QuorumNotReachedError("x"), TimeoutError)


def test_paused_master_does_not_hang_acquire(masters: list[RedisServer]) -> None:
    clients = clients_of(masters)  # no socket timeouts: the per-node timeout bounds each call
    masters[1].pause()
    try:
        lock = Redlock(clients, "paused", ttl=2, node_timeout=0.1)
        started = time.monotonic()
        assert lock.acquire(blocking_timeout=5)
        assert time.monotonic() - started < 2.0
        lock.release()
    finally:
        masters[1].resume()


@pytest.mark.parametrize("kind", ["Redlock", "RedisLock"])
def test_validity_must_stay_positive(masters: list[RedisServer], kind: str) -> None:
    """Every round is slower than the TTL (a slow network in front of real masters, each reply
    well within the call bound): the masters grant the lock, but it is never taken, every grant
    is released, and acquire gives up after a few rounds instead of spinning on a free lock."""
    count, delay = (3, 0.25) if kind == "Redlock" else (1, 0.1)
    proxies = [SlowProxy(server.port, delay) for server in masters[:count]]
    try:
        clients = [redis.Redis(port=p.port) for p in proxies]
        lock: Redlock | RedisLock
        if kind == "Redlock":  # three calls of 0.25 s, one after another, outlast the 0.49 s validity
            lock = Redlock(clients, "validity", ttl=0.5, node_timeout=0.45)
        else:  # one call of 0.1 s outlasts the 0.047 s validity
            lock = RedisLock(clients[0], "validity", ttl=0.05, call_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(LockNotAcquiredError, match="ttl"):
            lock.acquire(blocking_timeout=60)
        assert time.monotonic() - started < 20  # a few slow rounds, not the minute allowed
        assert lock.fencing_token is None
        direct = [s.client() for s in masters[:count]]
        assert all(c.get(lock.keys.lock) is None for c in direct)  # every grant was released
        assert sum(int(c.get(lock.keys.fence) or 0) for c in direct) >= 3 * lock._spec.quorum
    finally:
        for proxy in proxies:
            proxy.close()


def test_watchdog_and_loss(masters: list[RedisServer]) -> None:
    clients = clients_of(masters)
    lost: list[Redlock] = []
    lock = Redlock(clients, "wd", ttl=0.3, auto_renew=True, on_lost=lost.append)
    rival = Redlock(clients, "wd", ttl=0.3)
    assert lock.acquire(blocking_timeout=5)
    deadline = time.monotonic() + 5 * 0.3 + 0.3
    while time.monotonic() < deadline:
        assert not rival.acquire(blocking=False)
        lock.check()
        time.sleep(0.05)
    assert lost == []
    for c in clients[:3]:
        c.delete(lock.keys.lock)
    deadline = time.monotonic() + 3
    while not lost and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lost == [lock]
    with pytest.raises(LockLostError):
        lock.check()
    with pytest.raises(LockLostError):
        lock.release()
    assert lost == [lock]


def test_paused_majority_is_reported_as_loss(masters: list[RedisServer]) -> None:
    clients = clients_of(masters)
    lost: list[float] = []
    lock = Redlock(
        clients, "pause", ttl=0.3, auto_renew=True, on_lost=lambda _: lost.append(time.monotonic())
    )
    assert lock.acquire(blocking_timeout=5)
    paused_at = time.monotonic()
    for server in masters[:3]:
        server.pause()
    try:
        deadline = time.monotonic() + 3
        while not lost and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        for server in masters[:3]:
            server.resume()
    assert lost and lost[0] - paused_at < 1.0
    with pytest.raises(LockLostError):
        lock.check()


def test_single_master_redlock_matches_redis_lock_exclusion(masters: list[RedisServer]) -> None:
    client = masters[0].client()
    red = Redlock([client], "same", ttl=5)
    single = RedisLock(client, "same", ttl=5)
    assert red.acquire(blocking=False)
    assert not single.acquire(blocking=False)  # same keys: the two kinds exclude each other
    red.release()
    assert single.acquire(blocking=False)
    single.release()


def test_extend_needs_a_majority(masters: list[RedisServer]) -> None:
    clients = clients_of(masters)
    lock = Redlock(clients, "majority", ttl=5)
    assert lock.acquire(blocking_timeout=5)
    for c in clients[:2]:
        c.delete(lock.keys.lock)  # two masters forgot us: three still agree
    lock.extend(10)
    assert all(c.pttl(lock.keys.lock) > 8_000 for c in clients[2:])
    clients[2].delete(lock.keys.lock)  # now only two of five
    with pytest.raises(LockLostError):
        lock.extend(10)
    with pytest.raises(LockLostError):
        lock.release()


def test_late_answer_from_a_paused_master_is_cleaned_up(masters: list[RedisServer]) -> None:
    """A master frozen mid-request executes the acquire when it resumes: that key must be released."""
    clients = clients_of(masters)
    lock = Redlock(clients, "late", ttl=30, node_timeout=0.1)
    assert lock.acquire(blocking_timeout=5)  # warm up: connections open, scripts loaded
    lock.release()
    masters[0].pause()
    try:
        assert lock.acquire(blocking_timeout=5)  # four masters are enough
        lock.release()
    finally:
        masters[0].resume()
    deadline = time.monotonic() + 5
    while clients[0].exists(lock.keys.lock) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not clients[0].exists(lock.keys.lock)  # not left there for its 30 s TTL
