"""AsyncRedisLock and AsyncRedlock: the locks on ``redis.asyncio`` clients."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from shardwise.errors import LockBackendError, LockError, QuorumNotReachedError
from shardwise.lock import _scripts
from shardwise.lock._async_base import AsyncLockBase, bounded, spawn
from shardwise.lock._common import (
    DEFAULT_PREFIX,
    client_socket_timeout,
    clock_drift,
    lock_keys,
    retry_hint,
    to_ms,
    validate_name,
    validate_seconds,
)
from shardwise.lock._redlock import _validate_clients, default_node_timeout
from shardwise.lock._sync_base import Attempt, Renewal

_BACKEND_RETRY = 0.05
_ASYNC_CLIENTS = (redis.asyncio.Redis, AsyncRedisCluster)


class AsyncRedisLock(AsyncLockBase):
    """:class:`RedisLock` for ``redis.asyncio`` clients: the same keys, scripts and behaviour.

    Methods are coroutines (``await lock.acquire()``, ``async with lock:``); the watchdog is an
    asyncio task; ``on_lost`` may be a plain function or a coroutine function. Release is shielded
    from cancellation, and an acquire cancelled mid-flight releases its attempt in the background.
    """

    _kind = "AsyncRedisLock"

    def __init__(
        self,
        client: redis.asyncio.Redis | AsyncRedisCluster,
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
        if not isinstance(client, _ASYNC_CLIENTS):
            raise TypeError(
                "client must be a redis.asyncio.Redis or redis.asyncio.RedisCluster "
                f"(use RedisLock for synchronous clients), got {type(client).__name__}"
            )
        super().__init__(
            validate_name(name),
            ttl,
            auto_renew=auto_renew,
            on_lost=on_lost,
            timeout=timeout if blocking_timeout is None else blocking_timeout,
            renew_interval=renew_interval,
        )
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        self.client = client
        self.keys = lock_keys(self.name, prefix)
        self._default_limit = None if client_socket_timeout(client) is not None else max(self.ttl, 1.0)
        self._acquire = client.register_script(_scripts.ACQUIRE)
        self._release = client.register_script(_scripts.RELEASE)
        self._extend = client.register_script(_scripts.EXTEND)
        self._pttl = client.register_script(_scripts.PTTL_IF_OWNED)

    def __repr__(self) -> str:
        return (
            f"AsyncRedisLock(name={self.name!r}, key={self.keys.lock!r}, ttl={self.ttl}, "
            f"state={self._state()!r}, fencing_token={self._fencing_token}, auto_renew={self.auto_renew})"
        )

    async def _call(self, coro: Awaitable[Any], limit: float | None = None) -> Any:
        try:
            return await bounded(coro, self._default_limit if limit is None else limit)
        except (redis.RedisError, TimeoutError) as exc:
            raise self._backend_error(exc) from exc

    def _backend_error(self, exc: BaseException) -> LockError:
        return LockBackendError(f"AsyncRedisLock {self.name!r}: Redis failed or is unreachable: {exc}")

    async def locked(self) -> bool:
        """True if anyone holds the lock right now (asks Redis)."""
        return bool(await self._call(self.client.exists(self.keys.lock)))

    async def owned(self) -> bool:
        """True if this object holds the lock right now (asks Redis)."""
        return await self.ttl_remaining() is not None

    async def ttl_remaining(self) -> float | None:
        """Seconds until the lock expires if this object holds it (asks Redis), else None."""
        token = self._token
        if token is None:
            return None
        pttl = int(await self._call(self._pttl(keys=[self.keys.lock], args=[token])))
        if pttl == -1:
            return float("inf")
        return None if pttl < 0 else pttl / 1000.0

    async def _remote_attempt(self, token: str, limit: float | None) -> Attempt:
        call = self._acquire(keys=[self.keys.lock, self.keys.fence], args=[token, to_ms(self.ttl)])
        try:
            won, value = await bounded(call, self._default_limit if limit is None else limit)
        except (redis.ConnectionError, redis.TimeoutError, TimeoutError) as exc:
            return Attempt(acquired=False, retry_after=_BACKEND_RETRY, unreachable=str(exc) or repr(exc))
        except redis.RedisError as exc:
            raise self._backend_error(exc) from exc
        if int(won) == 1:
            return Attempt(True, int(value), validity=self.ttl - clock_drift(self.ttl))
        return Attempt(False, retry_after=retry_hint(int(value), self.ttl))

    async def _open_waiter(self, timeout: float) -> object:
        pubsub = self.client.pubsub()
        try:
            await asyncio.wait_for(pubsub.subscribe(self.keys.channel), timeout=min(timeout, 1.0))
            deadline = time.monotonic() + min(timeout, 1.0)
            while time.monotonic() < deadline:
                message = await pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
                if message is not None and message.get("type") == "subscribe":
                    return pubsub
        except (redis.RedisError, TimeoutError):
            pass
        await self._close_waiter(pubsub)
        return None

    async def _remote_wait(self, waiter: object, seconds: float) -> None:
        if waiter is None:
            await asyncio.sleep(seconds)
            return
        try:
            await waiter.get_message(ignore_subscribe_messages=True, timeout=seconds)  # type: ignore[attr-defined]
        except redis.RedisError:
            await asyncio.sleep(min(seconds, _BACKEND_RETRY))

    async def _close_waiter(self, waiter: object) -> None:
        if waiter is not None:
            with contextlib.suppress(Exception):
                await waiter.aclose()  # type: ignore[attr-defined]

    async def _remote_release(self, token: str) -> bool:
        released = await self._call(self._release(keys=[self.keys.lock], args=[token, self.keys.channel]))
        return int(released) == 1

    async def _remote_renew(self, token: str, ttl: float) -> tuple[Renewal, float]:
        try:
            extended = await bounded(
                self._extend(keys=[self.keys.lock], args=[token, to_ms(ttl)]), self._default_limit
            )
        except (redis.ConnectionError, redis.TimeoutError, TimeoutError):
            return Renewal.UNREACHABLE, 0.0
        if int(extended) == 1:
            return Renewal.RENEWED, ttl - clock_drift(ttl)
        return Renewal.NOT_OWNED, 0.0


_FAILED = object()


class AsyncRedlock(AsyncLockBase):
    """:class:`Redlock` for ``redis.asyncio`` clients (see it for the algorithm and what fencing means)."""

    _kind = "AsyncRedlock"
    _uses_release_messages = False

    def __init__(
        self,
        clients: Sequence[redis.asyncio.Redis | AsyncRedisCluster],
        name: str,
        ttl: float = 10.0,
        *,
        auto_renew: bool = False,
        on_lost: Callable[[Any], object] | None = None,
        timeout: float | None = None,
        blocking_timeout: float | None = None,
        renew_interval: float | None = None,
        node_timeout: float | None = None,
        retry_delay: float = 0.2,
        drift_factor: float = 0.01,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        clients = _validate_clients(clients, _ASYNC_CLIENTS, "Redlock")
        super().__init__(
            validate_name(name),
            ttl,
            auto_renew=auto_renew,
            on_lost=on_lost,
            timeout=timeout if blocking_timeout is None else blocking_timeout,
            renew_interval=renew_interval,
        )
        self.clients = clients
        self.quorum = len(clients) // 2 + 1
        self.node_timeout = (
            default_node_timeout(self.ttl)
            if node_timeout is None
            else validate_seconds(node_timeout, "node_timeout")
        )
        self.retry_delay = validate_seconds(retry_delay, "retry_delay")
        self.drift_factor = validate_seconds(drift_factor, "drift_factor", allow_zero=True)
        self.keys = lock_keys(self.name, prefix)
        self._scripts = [
            {
                "acquire": c.register_script(_scripts.ACQUIRE),
                "release": c.register_script(_scripts.RELEASE),
                "extend": c.register_script(_scripts.EXTEND),
                "fence": c.register_script(_scripts.RAISE_FENCE),
                "pttl": c.register_script(_scripts.PTTL_IF_OWNED),
            }
            for c in clients
        ]

    def __repr__(self) -> str:
        return (
            f"AsyncRedlock(name={self.name!r}, masters={len(self.clients)}, quorum={self.quorum}, "
            f"ttl={self.ttl}, state={self._state()!r}, fencing_token={self._fencing_token}, "
            f"auto_renew={self.auto_renew})"
        )

    def drift(self, ttl: float | None = None) -> float:
        """The clock-drift allowance for ``ttl`` (default: the lock's ttl)."""
        return (self.ttl if ttl is None else ttl) * self.drift_factor + 0.002

    async def _fan(
        self, call: Callable[[int], Awaitable[Any]], only: Sequence[int] | None = None
    ) -> list[Any]:
        """Call every (chosen) master in parallel, each within ``node_timeout``; failures -> _FAILED."""
        chosen = range(len(self.clients)) if only is None else only

        async def one(i: int) -> Any:
            if i not in chosen:
                return None
            try:
                return await asyncio.wait_for(call(i), timeout=self.node_timeout)
            except (redis.RedisError, TimeoutError, OSError):
                return _FAILED

        return list(await asyncio.gather(*(one(i) for i in range(len(self.clients)))))

    def _backend_error(self, exc: BaseException) -> LockError:
        return LockBackendError(f"AsyncRedlock {self.name!r}: {exc}")

    def _unreachable_error(self, why: str) -> LockError:
        return QuorumNotReachedError(
            f"AsyncRedlock {self.name!r}: fewer than {self.quorum} of {len(self.clients)} "
            f"masters answered ({why})"
        )

    def _require_quorum_of_answers(self, answers: list[Any]) -> None:
        failed = sum(1 for a in answers if a is _FAILED)
        if len(answers) - failed < self.quorum:
            raise self._unreachable_error(f"{failed} failed or timed out")

    async def locked(self) -> bool:
        """True if a majority of the masters hold the lock key (anyone's)."""
        answers = await self._fan(lambda i: self.clients[i].exists(self.keys.lock))
        self._require_quorum_of_answers(answers)
        return sum(1 for a in answers if isinstance(a, int) and a > 0) >= self.quorum

    async def owned(self) -> bool:
        """True if a majority of the masters hold this object's token."""
        token = self._token
        if token is None:
            return False
        answers = await self._fan(lambda i: self._scripts[i]["pttl"](keys=[self.keys.lock], args=[token]))
        self._require_quorum_of_answers(answers)
        return sum(1 for a in answers if isinstance(a, int) and a != -3) >= self.quorum

    async def ttl_remaining(self) -> float | None:
        """Seconds of validity left for this hold (local clock, drift deducted), or None if not held."""
        if self._token is None or self.lost:
            return None
        return max(0.0, self._valid_until - time.monotonic())

    async def _remote_attempt(self, token: str, limit: float | None) -> Attempt:
        ttl_ms = to_ms(self.ttl)
        start = time.monotonic()
        try:
            answers = await self._fan(
                lambda i: self._scripts[i]["acquire"](
                    keys=[self.keys.lock, self.keys.fence], args=[token, ttl_ms]
                )
            )
            won = [i for i, a in enumerate(answers) if isinstance(a, list) and int(a[0]) == 1]
            if len(won) >= self.quorum and self.ttl - (time.monotonic() - start) - self.drift() > 0:
                fence = max(int(answers[i][1]) for i in won)
                behind = [i for i in won if int(answers[i][1]) < fence]
                raised = await self._fan(
                    lambda i: self._scripts[i]["fence"](
                        keys=[self.keys.lock, self.keys.fence], args=[token, fence]
                    ),
                    behind,
                )
                confirmed = sum(1 for i in won if i not in behind or raised[i] == 1)
                if confirmed >= self.quorum and self.ttl - (time.monotonic() - start) - self.drift() > 0:
                    return Attempt(True, fence, validity=self.ttl - self.drift())
        except asyncio.CancelledError:
            spawn(self._release_everywhere(token))
            raise
        await asyncio.shield(spawn(self._release_everywhere(token)))
        failed = sum(1 for a in answers if a is _FAILED)
        unreachable = f"{failed} failed or timed out" if len(self.clients) - failed < self.quorum else None
        return Attempt(
            False, retry_after=random.uniform(self.retry_delay / 2, self.retry_delay), unreachable=unreachable
        )

    def _abandon(self, token: str) -> None:
        return None  # a failed attempt was already released everywhere

    def _release_on(self, i: int, token: str) -> Awaitable[Any]:
        return self._scripts[i]["release"](keys=[self.keys.lock], args=[token, self.keys.channel])  # type: ignore[no-any-return]

    async def _release_everywhere(self, token: str) -> list[Any]:
        answers = await self._fan(lambda i: self._release_on(i, token))
        for i, answer in enumerate(answers):
            if answer is _FAILED:  # a master that did not answer may still run our earlier command
                spawn(self._release_later(i, token))
        return answers

    async def _release_later(self, i: int, token: str) -> None:
        """Keep trying to release on master ``i`` until it answers (within the TTL), then once more a
        moment later: a frozen master may run our cancelled acquire after it runs this release."""
        deadline = time.monotonic() + self.ttl
        answered = False
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1 if answered else min(0.2, self.node_timeout))
            try:
                await asyncio.wait_for(self._release_on(i, token), timeout=self.node_timeout)
            except (redis.RedisError, TimeoutError, OSError):
                continue
            if answered:
                return
            answered = True

    async def _remote_release(self, token: str) -> bool:
        answers = await self._release_everywhere(token)
        not_owned = sum(1 for a in answers if a == 0 and a is not _FAILED)
        return not_owned <= len(self.clients) - self.quorum

    async def _remote_renew(self, token: str, ttl: float) -> tuple[Renewal, float]:
        ttl_ms = to_ms(ttl)
        start = time.monotonic()
        answers = await self._fan(
            lambda i: self._scripts[i]["extend"](keys=[self.keys.lock], args=[token, ttl_ms])
        )
        elapsed = time.monotonic() - start
        renewed = sum(1 for a in answers if a == 1 and a is not _FAILED)
        not_owned = sum(1 for a in answers if a == 0 and a is not _FAILED)
        if renewed >= self.quorum and ttl - elapsed - self.drift(ttl) > 0:
            return Renewal.RENEWED, ttl - self.drift(ttl)
        if not_owned > len(self.clients) - self.quorum:
            return Renewal.NOT_OWNED, 0.0
        return Renewal.UNREACHABLE, 0.0
