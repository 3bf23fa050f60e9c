"""State machine of the asyncio locks: ownership, loss detection, the renewal task, safe release."""

from __future__ import annotations

import asyncio
import inspect
import time
import weakref
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, TypeVar

from shardwise.errors import LockError, LockLostError, LockNotAcquiredError, LockNotOwnedError
from shardwise.lock._common import logger, new_token, validate_timeout, validate_ttl
from shardwise.lock._sync_base import _MIN_CALL_LIMIT, Attempt, LockState, Renewal

T = TypeVar("T")
_Lock = TypeVar("_Lock", bound="AsyncLockBase")
_background: set[asyncio.Task[Any]] = set()  # strong references to fire-and-forget tasks


def spawn(coro: Awaitable[Any]) -> asyncio.Task[Any]:
    """Run ``coro`` in the background, keeping a reference until it is done."""
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


async def bounded(coro: Awaitable[T], limit: float | None) -> T:
    if limit is None:
        return await coro
    return await asyncio.wait_for(coro, timeout=max(0.0, limit))


class AsyncLockBase(LockState):
    """Async twin of :class:`~shardwise.lock._sync_base.SyncLockBase`."""

    def _init_renewal(self) -> None:
        self._watchdog: asyncio.Task[None] | None = None

    # --- subclass hooks --------------------------------------------------------------------

    async def _remote_attempt(self, token: str, limit: float | None) -> Attempt:
        raise NotImplementedError

    async def _open_waiter(self, timeout: float) -> object:
        return None

    async def _remote_wait(self, waiter: object, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _close_waiter(self, waiter: object) -> None:
        return None

    async def _remote_release(self, token: str) -> bool:
        raise NotImplementedError

    async def _remote_renew(self, token: str, ttl: float) -> tuple[Renewal, float]:
        raise NotImplementedError

    def _abandon(self, token: str) -> None:
        """An attempt got no answer (or was cancelled): release it in the background."""
        spawn(self._quiet_release(token))

    async def _quiet_release(self, token: str) -> None:
        try:
            await asyncio.wait_for(self._remote_release(token), timeout=max(self.ttl, 1.0))
        except Exception:  # best effort: the key expires with its TTL anyway
            logger.debug("background release of an abandoned attempt on %r failed", self.name)

    # --- public surface ----------------------------------------------------------------------

    async def acquire(
        self, blocking: bool = True, timeout: float | None = None, blocking_timeout: float | None = None
    ) -> bool:
        """Take the lock; True when held, False when not (non-blocking or timed out).

        Cancellation-safe: if cancelled while an attempt is in flight, that attempt is released in
        the background so it cannot keep the lock until its TTL.
        """
        limit = validate_timeout(timeout if blocking_timeout is None else blocking_timeout, bool(blocking))
        if self._token is not None and not self._lost:
            raise LockError(f"{self!r} is already held by this object (locks are not reentrant)")
        self._stop_watchdog()
        self._token = None
        self._fencing_token = None
        deadline = None if limit is None else time.monotonic() + limit
        waiter: object = None
        opened = False
        try:
            while True:
                token = new_token()
                start = time.monotonic()
                call_limit = None if deadline is None else max(deadline - start, _MIN_CALL_LIMIT)
                try:
                    attempt = await self._remote_attempt(token, call_limit)
                except asyncio.CancelledError:
                    self._abandon(token)
                    raise
                if attempt.acquired:
                    self._on_acquired(token, attempt, start)
                    return True
                remaining = None if deadline is None else deadline - time.monotonic()
                if attempt.unreachable is not None:
                    self._abandon(token)
                    if remaining is None or remaining <= 0 or not blocking:
                        raise self._unreachable_error(attempt.unreachable)
                    await asyncio.sleep(min(attempt.retry_after, remaining))
                    continue
                if not blocking or (remaining is not None and remaining <= 0):
                    return False
                if not opened and self._uses_release_messages:  # subscribe, then retry at once
                    opened = True
                    waiter = await self._open_waiter(remaining if remaining is not None else self.ttl)
                    continue
                wait = attempt.retry_after if remaining is None else min(attempt.retry_after, remaining)
                await self._remote_wait(waiter, max(0.0, wait))
        finally:
            if opened:
                await asyncio.shield(self._close_waiter(waiter))

    async def release(self) -> None:
        """Release the lock (see the sync :meth:`RedisLock.release`). Cancellation-safe: if the
        caller is cancelled mid-release, the release is re-sent from a background task."""
        token = self._token
        was_lost = self._lost
        self._stop_watchdog()
        self._token = None
        if token is None:
            raise LockNotOwnedError(f"cannot release {self._kind} {self.name!r}: not held by this object")
        try:
            released = await self._release_call(token)
        except asyncio.CancelledError:
            # cancelled while the release was in flight: it may not have reached Redis, so send it
            # again from a background task (compare-and-delete is idempotent), then let the cancel go
            spawn(self._quiet_release(token))
            raise
        if was_lost or not released:
            self._mark_lost("the lock was no longer held when released (expired, deleted or taken over)")
            raise LockLostError(f"{self._kind} {self.name!r} was lost before release: {self._lost_reason}")

    async def _release_call(self, token: str) -> bool:
        try:
            return await self._remote_release(token)
        except LockError:
            raise
        except Exception as exc:
            raise self._backend_error(exc) from exc

    async def extend(self, ttl: float | None = None) -> None:
        """Reset the remaining time of a held lock to ``ttl`` seconds (default: the lock's ttl)."""
        seconds = self.ttl if ttl is None else validate_ttl(ttl)
        token = self._token
        if token is None:
            raise LockNotOwnedError(f"cannot extend {self._kind} {self.name!r}: not held by this object")
        self.check()
        start = time.monotonic()
        try:
            outcome, validity = await self._remote_renew(token, seconds)
        except LockError:
            raise
        except Exception as exc:
            raise self._backend_error(exc) from exc
        if outcome is Renewal.NOT_OWNED:
            self._mark_lost("extend found the key gone or held by another owner")
            self.check()
        if outcome is Renewal.UNREACHABLE:
            raise self._unreachable_error("could not extend: no (majority) answer in time")
        if self._token == token:
            self._valid_until = start + validity

    async def __aenter__(self: _Lock) -> _Lock:
        if not await self.acquire(blocking=True, timeout=self.timeout):
            raise LockNotAcquiredError(
                f"could not acquire {self._kind} {self.name!r} within {self.timeout} s"
            )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.release()  # cancellation-safe: a cancelled release is finished in the background

    # --- internals ---------------------------------------------------------------------------

    def _on_acquired(self, token: str, attempt: Attempt, start: float) -> None:
        self._token = token
        self._fencing_token = attempt.fencing_token
        self._valid_until = start + attempt.validity
        self._lost = False
        self._lost_reason = ""
        self._lost_notified = False
        if self.auto_renew:
            self._watchdog = spawn(_watchdog(weakref.ref(self), token, self.renew_interval))

    def _mark_lost(self, reason: str) -> None:
        if not self._lost:
            self._lost = True
            self._lost_reason = reason
        if self._lost_notified:
            return
        self._lost_notified = True
        logger.warning("%s %r lost: %s", self._kind, self.name, reason)
        if self.on_lost is None:
            return
        try:
            result = self.on_lost(self)
            if inspect.isawaitable(result):
                spawn(result)
        except Exception:
            logger.exception("on_lost callback of %s %r raised", self._kind, self.name)

    def _stop_watchdog(self) -> None:
        task = self._watchdog
        self._watchdog = None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _renew_once(self, token: str) -> float | None:
        """One watchdog step: renew, or detect loss. Returns the wait before the next step, or None."""
        if self._token != token or self._lost:
            return None
        valid_until = self._valid_until
        start = time.monotonic()
        if start >= valid_until:
            self._mark_lost("its TTL ran out before the watchdog could renew it")
            return None
        try:
            outcome, validity = await asyncio.wait_for(
                self._remote_renew(token, self.ttl), timeout=valid_until - start
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome, validity = Renewal.UNREACHABLE, 0.0
            logger.debug("renewal of %r failed: %r", self.name, exc)
        if self._token != token:
            return None
        if outcome is Renewal.NOT_OWNED:
            self._mark_lost("the watchdog found the key gone or held by another owner")
            return None
        if outcome is Renewal.RENEWED:
            self._valid_until = start + validity
            return self.renew_interval
        now = time.monotonic()
        if now >= valid_until:
            self._mark_lost("Redis was unreachable until its TTL ran out")
            return None
        return min(self.renew_interval / 4, valid_until - now)


async def _watchdog(ref: weakref.ref[AsyncLockBase], token: str, wait: float) -> None:
    """Renew while the lock object lives and holds ``token`` (a dropped lock object expires)."""
    while True:
        await asyncio.sleep(wait)
        lock = ref()
        if lock is None:
            return
        next_wait = await lock._renew_once(token)
        del lock
        if next_wait is None:
            return
        wait = next_wait
