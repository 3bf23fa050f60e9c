"""One lock object shared by many threads (issue 11, #10), against real redis-server processes.

The old code raised QuorumNotReachedError for a Redlock used from two threads with every master
healthy, and LockError for a RedisLock; now a second thread waits locally, like threading.Lock.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest
import redis
from redis_support import RedisServer
from shardwise import LockError, RedisLock, Redlock

THREADS, ROUNDS = 8, 12


def make(kind: str, servers: list[RedisServer], **kwargs: object) -> RedisLock | Redlock:
    if kind == "Redlock":
        return Redlock([s.client() for s in servers], "shared", **kwargs)  # type: ignore[arg-type]
    return RedisLock(servers[0].client(), "shared", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("renewing", [False, True], ids=["plain", "racing-its-watchdog"])
@pytest.mark.parametrize("kind", ["RedisLock", "Redlock"])
def test_threads_sharing_one_lock_object_exclude_each_other_without_errors(
    redis_factory: Callable[..., RedisServer], kind: str, renewing: bool
) -> None:
    servers = [redis_factory() for _ in range(3 if kind == "Redlock" else 1)]
    options: dict[str, object] = {"ttl": 0.3, "auto_renew": True} if renewing else {"ttl": 10}
    pause = 0.01 if renewing else 0.002  # renewing: ~1 s of holds, the watchdog renewing every 0.1 s
    lock = make(kind, servers, blocking_timeout=60, **options)
    guard = threading.Lock()
    inside: list[int] = []
    holds: list[tuple[float, float, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(me: int) -> None:
        start.wait(30)
        for _ in range(ROUNDS):
            try:
                with lock:
                    began = time.monotonic()
                    with guard:
                        inside.append(me)
                        assert len(inside) == 1, f"threads {inside} inside together"
                    time.sleep(pause)
                    with guard:
                        inside.remove(me)
                    assert lock.fencing_token is not None
                    holds.append((began, time.monotonic(), lock.fencing_token))
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert len(holds) == THREADS * ROUNDS
    holds.sort()
    for (_, end, token), (begin, _, next_token) in itertools.pairwise(holds):
        assert end <= begin and next_token > token
    assert not lock.locked()


@pytest.mark.parametrize("kind", ["RedisLock", "Redlock"])
def test_a_second_thread_waits_locally_without_redis_traffic(
    redis_factory: Callable[..., RedisServer], kind: str
) -> None:
    servers = [redis_factory() for _ in range(3 if kind == "Redlock" else 1)]
    lock = make(kind, servers, ttl=10)
    assert lock.acquire()
    admins = [s.client() for s in servers]
    for admin in admins:
        admin.config_resetstat()
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(lock.acquire(blocking_timeout=0.5)))
    started = time.monotonic()
    thread.start()
    thread.join(10)
    assert results == [False] and 0.4 < time.monotonic() - started < 5
    scripts = sum(
        int(admin.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)) for admin in admins
    )
    assert scripts == 0  # it never asked Redis: it waited for the holding thread
    lock.release()


@pytest.mark.parametrize("kind", ["RedisLock", "Redlock"])
def test_the_holding_thread_acquiring_again_is_an_error(
    redis_factory: Callable[..., RedisServer], kind: str
) -> None:
    servers = [redis_factory() for _ in range(3 if kind == "Redlock" else 1)]
    lock = make(kind, servers, ttl=10)
    assert lock.acquire()
    with pytest.raises(LockError, match="not reentrant"):
        lock.acquire(blocking=False)
    with pytest.raises(redis.exceptions.LockError):  # also redis-py's LockError
        lock.acquire()
    assert lock.owned()
    lock.release()
    assert lock.acquire(blocking=False)  # free again for any thread
    lock.release()


def test_another_thread_acquires_after_the_holder_releases(redis_server: RedisServer) -> None:
    lock = RedisLock(redis_server.client(), "handover", ttl=10)
    assert lock.acquire()
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(lock.acquire(blocking_timeout=10)))
    thread.start()
    time.sleep(0.2)
    assert results == []  # waiting locally
    lock.release()
    thread.join(10)
    assert results == [True]
    # thread_local=True: the main thread may not release what the other thread holds
    with pytest.raises(LockError, match="thread_local"):
        lock.release()
