"""RedisLock: a single-master Redis lock with fencing tokens, pub/sub hand-off and a watchdog."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import RedisCluster

from shardwise.errors import LockBackendError, LockError
from shardwise.lock import _scripts
from shardwise.lock._common import (
    DEFAULT_PREFIX,
    client_socket_timeout,
    clock_drift,
    lock_keys,
    pooled_call,
    pooled_submit,
    retry_hint,
    to_ms,
    validate_name,
)
from shardwise.lock._sync_base import Attempt, Renewal, SyncLockBase

_BACKEND_RETRY = 0.05  # seconds between attempts while Redis is unreachable (within the caller's timeout)


class RedisLock(SyncLockBase):
    """A distributed lock on one Redis master (``Redis``, Sentinel ``master_for``, or ``RedisCluster``).

    ``ttl`` (seconds) bounds how long a crashed holder can block others. ``auto_renew=True`` starts a
    watchdog thread that renews every ``ttl/3``; if renewal fails (key gone, another owner, Redis
    unreachable until the TTL ran out) the lock is marked lost, ``on_lost(lock)`` is called once
    (from the watchdog thread, or from whichever call first notices), and :meth:`check` / the end of
    a ``with`` block raise ``LockLostError``. Without ``auto_renew``, a hold presumes itself lost
    once its TTL has run out on the local clock.

    Ownership belongs to the object (any thread may release); it is not reentrant. Waiters are woken
    by a pub/sub message from the release script, with a fallback wait until the key's PTTL.

    Every acquisition increments a fencing counter stored next to the lock (same hash slot, no TTL):
    pass :attr:`fencing_token` with each write to a :class:`FencedResource` so a stale holder is
    refused. The counter is as durable as the master: after a failover to a replica that missed the
    last ``INCR`` it can repeat a value, so use ``WAIT``/persistence if fencing must survive failover.

    ``timeout`` is the wait limit of ``with lock:`` (None waits as long as needed). Timeouts: with a
    time limit, ``acquire`` returns (False) or raises (``LockBackendError`` when Redis is unreachable)
    within the limit plus a 0.25 s grace, whatever the client's retry policy. Without one, calls use
    the client directly if it has a ``socket_timeout`` (recommended), else are bounded by
    ``max(ttl, 1 s)``. Renewals are always bounded by the hold's remaining validity.
    """

    _kind = "RedisLock"

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        name: str,
        ttl: float = 10.0,
        *,
        auto_renew: bool = False,
        on_lost: Callable[[Any], object] | None = None,
        timeout: float | None = None,
        blocking_timeout: float | None = None,
        renew_interval: float | None = None,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        if not isinstance(client, (redis.Redis, RedisCluster)):
            raise TypeError(
                "client must be a synchronous redis.Redis or redis.RedisCluster "
                f"(use AsyncRedisLock for redis.asyncio clients), got {type(client).__name__}"
            )
        super().__init__(
            validate_name(name),
            ttl,
            auto_renew=auto_renew,
            on_lost=on_lost,
            timeout=timeout if blocking_timeout is None else blocking_timeout,
            renew_interval=renew_interval,
        )
        self.client = client
        self._bounded_by_client = client_socket_timeout(client) is not None
        self.keys = lock_keys(self.name, prefix)
        self._acquire = client.register_script(_scripts.ACQUIRE)
        self._release = client.register_script(_scripts.RELEASE)
        self._extend = client.register_script(_scripts.EXTEND)
        self._pttl = client.register_script(_scripts.PTTL_IF_OWNED)

    def __repr__(self) -> str:
        return (
            f"RedisLock(name={self.name!r}, key={self.keys.lock!r}, ttl={self.ttl}, "
            f"state={self._state()!r}, fencing_token={self._fencing_token}, auto_renew={self.auto_renew})"
        )

    # --- queries -------------------------------------------------------------------------------

    def locked(self) -> bool:
        """True if anyone holds the lock right now (asks Redis)."""
        return bool(self._call(lambda: self.client.exists(self.keys.lock)))

    def owned(self) -> bool:
        """True if this object holds the lock right now (asks Redis)."""
        return self.ttl_remaining() is not None

    def ttl_remaining(self) -> float | None:
        """Seconds until the lock expires if this object holds it (asks Redis), else None."""
        token = self._token
        if token is None:
            return None
        pttl = int(self._call(lambda: self._pttl(keys=[self.keys.lock], args=[token])))
        if pttl == -3:
            return None
        return None if pttl < 0 and pttl != -1 else (float("inf") if pttl == -1 else pttl / 1000.0)

    # --- remote operations -----------------------------------------------------------------------

    def _bounded(self, fn: Callable[[], Any], limit: float | None = None) -> Any:
        """Run one Redis call. Direct when the client has a socket timeout and the caller no time
        limit; otherwise on the shared pool, waiting at most ``limit`` (default: max(ttl, 1 s))."""
        if self._bounded_by_client and limit is None:
            return fn()
        return pooled_call(fn, max(self.ttl, 1.0) if limit is None else limit)

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return self._bounded(fn)
        except (redis.RedisError, TimeoutError) as exc:
            raise self._backend_error(exc) from exc

    def _backend_error(self, exc: BaseException) -> LockError:
        return LockBackendError(f"RedisLock {self.name!r}: Redis failed or is unreachable: {exc}")

    def _remote_attempt(self, token: str, limit: float | None) -> Attempt:
        try:
            won, value = self._bounded(
                lambda: self._acquire(keys=[self.keys.lock, self.keys.fence], args=[token, to_ms(self.ttl)]),
                limit,
            )
        except (redis.ConnectionError, redis.TimeoutError, TimeoutError) as exc:
            return Attempt(acquired=False, retry_after=_BACKEND_RETRY, unreachable=str(exc))
        except redis.RedisError as exc:
            raise self._backend_error(exc) from exc
        if int(won) == 1:
            return Attempt(True, int(value), validity=self.ttl - clock_drift(self.ttl))
        return Attempt(False, retry_after=retry_hint(int(value), self.ttl))

    def _abandon(self, token: str) -> None:
        def release_quietly() -> None:
            with contextlib.suppress(Exception):  # best effort: the key expires with its TTL anyway
                self._release(keys=[self.keys.lock], args=[token, self.keys.channel])

        with contextlib.suppress(RuntimeError):  # interpreter shutting down
            pooled_submit(release_quietly)

    def _open_waiter(self, timeout: float) -> object:
        """Subscribe to the release channel and wait for the confirmation (None: poll instead)."""
        import time

        pubsub = self.client.pubsub()  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self.keys.channel)
            deadline = time.monotonic() + min(timeout, 1.0)
            while time.monotonic() < deadline:
                message = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
                if message is not None and message.get("type") == "subscribe":
                    return pubsub
        except redis.RedisError:
            pass
        self._close_waiter(pubsub)
        return None

    def _remote_wait(self, waiter: object, seconds: float) -> None:
        import time

        if waiter is None:
            time.sleep(seconds)
            return
        try:
            waiter.get_message(ignore_subscribe_messages=True, timeout=seconds)  # type: ignore[attr-defined]
        except redis.RedisError:
            time.sleep(min(seconds, _BACKEND_RETRY))

    def _close_waiter(self, waiter: object) -> None:
        if waiter is None:
            return

        def close() -> None:
            with contextlib.suppress(Exception):  # the subscription connection is dropped anyway
                waiter.close()  # type: ignore[attr-defined]

        try:
            pooled_submit(close)  # off the hand-off path: the new holder need not wait for it
        except RuntimeError:  # interpreter shutting down
            close()

    def _remote_release(self, token: str) -> bool:
        released = self._call(lambda: self._release(keys=[self.keys.lock], args=[token, self.keys.channel]))
        return int(released) == 1

    def _remote_renew(self, token: str, ttl: float) -> tuple[Renewal, float]:
        try:
            extended = self._bounded(lambda: self._extend(keys=[self.keys.lock], args=[token, to_ms(ttl)]))
        except (redis.ConnectionError, redis.TimeoutError, TimeoutError):
            return Renewal.UNREACHABLE, 0.0
        if int(extended) == 1:
            return Renewal.RENEWED, ttl - clock_drift(ttl)
        return Renewal.NOT_OWNED, 0.0
