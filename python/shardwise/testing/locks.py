"""The locks ``lockcheck`` can test, behind one small interface.

Built in: ``naive`` (the lock many codebases start with: ``SET key 1`` with an expiry but without
``NX``, released by ``GET`` then ``DEL`` if the reply equals ``1``), ``redis-py`` (``redis.lock.Lock``),
``shardwise`` (:class:`~shardwise.lock.RedisLock`, auto-renewed, with ``on_lost`` and fencing) and
``redlock`` (:class:`~shardwise.lock.Redlock` over five masters, the same options). Any other lock
can be tested as ``module:attribute`` naming a :class:`LockKind`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

__all__ = ["BUILTIN_LOCKS", "LockKind", "LockSetup", "LockUnderTest", "resolve_lock"]


@dataclass(frozen=True)
class LockSetup:
    """What a lock factory gets: one client per server (through the fault proxies), the lock name,
    the TTL in seconds and the callback to call when the lock learns, by itself, that it was lost."""

    clients: list[redis.Redis]
    name: str
    ttl: float
    on_lost: Callable[[], None]


class LockUnderTest(Protocol):
    """A lock as the checker drives it. Exceptions from ``acquire`` and ``release`` make the
    outcome unknown (``info``)."""

    def acquire(self, wait: float) -> bool:
        """Take the lock, waiting at most ``wait`` seconds; False if not acquired."""
        ...

    def release(self) -> bool:
        """Release; False when the lock says it was no longer ours (the holder notices the loss)."""
        ...

    def token(self) -> int | None:
        """The fencing token of the current hold (None: the lock has none)."""
        ...

    def still_held(self) -> bool:
        """What the holder knows without asking Redis: False once it knows the lock is lost."""
        ...


@dataclass(frozen=True)
class LockKind:
    """A lock to check: how to build it, on how many servers, and what it claims."""

    name: str
    make: Callable[[LockSetup], LockUnderTest]
    servers: int = 1
    claims_safety: bool = False  # a violation makes `shardwise lockcheck` exit non-zero
    fenced: bool = False  # writes carry fencing tokens the counter checks
    key: Callable[[str], str] | None = None  # the Redis key of lock `name` (sampled for loss times)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"LockKind name must be a non-empty str, got {self.name!r}")
        if not callable(self.make):
            raise TypeError(f"LockKind {self.name!r}: make must be callable, got {type(self.make).__name__}")
        if isinstance(self.servers, bool) or not isinstance(self.servers, int) or not 1 <= self.servers <= 15:
            raise ValueError(
                f"LockKind {self.name!r}: servers must be a whole number from 1 to 15, got {self.servers!r}"
            )


class NaiveLock:
    """The lock of the article this project grew from, kept exactly as written there."""

    def __init__(self, setup: LockSetup) -> None:
        self.client = setup.clients[0]
        self.key = f"lockcheck:naive:{setup.name}"
        self.ttl_ms = max(1, round(setup.ttl * 1000))

    def acquire(self, wait: float) -> bool:
        self.client.set(self.key, 1, px=self.ttl_ms)  # no NX: whoever comes "gets" it
        return True

    def release(self) -> bool:
        if self.client.get(self.key) == 1:  # type: ignore[comparison-overlap]  # never true: b"1" != 1
            self.client.delete(self.key)
        return True

    def token(self) -> int | None:
        return None

    def still_held(self) -> bool:
        return True


class RedisPyLock:
    """``redis.lock.Lock`` with its defaults (``thread_local=False`` so any thread may release)."""

    def __init__(self, setup: LockSetup) -> None:
        self.lock = setup.clients[0].lock(
            f"lockcheck:redis-py:{setup.name}", timeout=setup.ttl, thread_local=False
        )

    def acquire(self, wait: float) -> bool:
        return bool(self.lock.acquire(blocking=True, blocking_timeout=wait))

    def release(self) -> bool:
        from redis.exceptions import LockNotOwnedError

        try:
            self.lock.release()
        except LockNotOwnedError:
            return False
        return True

    def token(self) -> int | None:
        return None

    def still_held(self) -> bool:
        return True  # redis-py's Lock has no local notion of loss


class ShardwiseLock:
    """:class:`~shardwise.lock.RedisLock` or :class:`~shardwise.lock.Redlock`, auto-renewed."""

    def __init__(self, setup: LockSetup, *, redlock: bool) -> None:
        from shardwise.lock import RedisLock, Redlock

        def lost(_lock: object) -> None:
            setup.on_lost()

        name = f"lockcheck:{setup.name}"
        if redlock:
            self.lock: RedisLock | Redlock = Redlock(
                setup.clients, name, ttl=setup.ttl, auto_renew=True, on_lost=lost
            )
        else:
            self.lock = RedisLock(setup.clients[0], name, ttl=setup.ttl, auto_renew=True, on_lost=lost)

    def acquire(self, wait: float) -> bool:
        return self.lock.acquire(blocking=True, blocking_timeout=wait)

    def release(self) -> bool:
        from shardwise.errors import LockLostError

        try:
            self.lock.release()
        except LockLostError:
            return False
        return True

    def token(self) -> int | None:
        return self.lock.fencing_token

    def still_held(self) -> bool:
        from shardwise.errors import LockLostError

        try:
            self.lock.check()
        except LockLostError:
            return False
        return True


def _shardwise_key(name: str) -> str:
    from shardwise.lock import RedisLock

    return RedisLock(redis.Redis(), f"lockcheck:{name}").keys.lock


BUILTIN_LOCKS: dict[str, LockKind] = {
    "naive": LockKind("naive", NaiveLock, key=lambda name: f"lockcheck:naive:{name}"),
    "redis-py": LockKind("redis-py", RedisPyLock, key=lambda name: f"lockcheck:redis-py:{name}"),
    "shardwise": LockKind(
        "shardwise",
        lambda s: ShardwiseLock(s, redlock=False),
        claims_safety=True,
        fenced=True,
        key=_shardwise_key,
    ),
    "redlock": LockKind(
        "redlock",
        lambda s: ShardwiseLock(s, redlock=True),
        servers=5,
        claims_safety=True,
        fenced=True,
        key=_shardwise_key,
    ),
}


def resolve_lock(spec: str) -> LockKind:
    """A built-in lock by name, or ``module:attribute`` naming a :class:`LockKind`."""
    if spec in BUILTIN_LOCKS:
        return BUILTIN_LOCKS[spec]
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(
            f"unknown lock {spec!r}: choose from {', '.join(BUILTIN_LOCKS)} or give module:attribute"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"lock {spec!r}: cannot import {module_name!r}: {exc}") from None
    kind = getattr(module, attribute, None)
    if not isinstance(kind, LockKind):
        raise ValueError(
            f"lock {spec!r}: {attribute!r} in {module_name!r} is not a shardwise.testing.LockKind"
        )
    return kind
