"""State machine shared by the blocking locks: ownership, loss detection, the renewal watchdog."""

from __future__ import annotations

import enum
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from shardwise.errors import LockError, LockLostError, LockNotAcquiredError, LockNotOwnedError
from shardwise.lock._common import (
    call_with_deadline,
    logger,
    new_token,
    validate_seconds,
    validate_timeout,
    validate_ttl,
)

_Lock = TypeVar("_Lock", bound="SyncLockBase")

# A call made within the caller's timeout gets at least this long to answer (grace past the timeout).
_MIN_CALL_LIMIT = 0.25


class Renewal(enum.Enum):
    RENEWED = "renewed"
    NOT_OWNED = "not owned"  # the key is gone or holds another token: the lock is lost
    UNREACHABLE = "unreachable"  # no (majority) answer: retry until the validity runs out


@dataclass(frozen=True)
class Attempt:
    """The outcome of one acquisition attempt."""

    acquired: bool
    fencing_token: int | None = None
    validity: float = 0.0  # seconds the lock is surely ours, counted from the attempt's start
    retry_after: float = 0.0  # a bound on how long to wait before the next attempt
    unreachable: str | None = None  # why the backend could not decide, if it could not


class LockState:
    """What the blocking and the asyncio locks share: settings, validated once, and the ownership
    and loss state with its read-only views. Subclasses add the I/O, locking and renewal."""

    _kind = "lock"
    _uses_release_messages = True  # waiters subscribe to a release channel (single master only)

    def __init__(
        self,
        name: str,
        ttl: float,
        *,
        auto_renew: bool,
        on_lost: Callable[[Any], object] | None,
        timeout: float | None,
        renew_interval: float | None,
    ) -> None:
        self.name = name
        self.ttl = validate_ttl(ttl)
        self.auto_renew = bool(auto_renew)
        if on_lost is not None and not callable(on_lost):
            raise TypeError(f"on_lost must be callable, got {type(on_lost).__name__}")
        self.on_lost = on_lost
        self.timeout = None if timeout is None else validate_seconds(timeout, "timeout", allow_zero=True)
        self.renew_interval = (
            self.ttl / 3 if renew_interval is None else validate_seconds(renew_interval, "renew_interval")
        )
        if self.renew_interval >= self.ttl:
            raise ValueError(f"renew_interval ({self.renew_interval}) must be shorter than ttl ({self.ttl})")
        self._token: str | None = None
        self._fencing_token: int | None = None
        self._valid_until = 0.0
        self._lost = False
        self._lost_reason = ""
        self._lost_notified = False
        self._init_renewal()

    def _init_renewal(self) -> None:
        """Set up the renewal machinery's own state (threads or tasks); called by ``__init__``."""

    def _backend_error(self, exc: BaseException) -> LockError:
        raise NotImplementedError

    def _unreachable_error(self, why: str) -> LockError:
        return self._backend_error(ConnectionError(why))

    def _mark_lost(self, reason: str) -> None:
        raise NotImplementedError

    @property
    def fencing_token(self) -> int | None:
        """The fencing token of the current (or most recent) hold; None before the first acquire."""
        return self._fencing_token

    @property
    def lost(self) -> bool:
        """True once a hold of this object is known (or must be presumed) lost; reset by acquire."""
        self._detect_expiry()
        return self._lost

    def check(self) -> None:
        """Raise :class:`LockLostError` if the lock was lost while held; otherwise do nothing."""
        self._detect_expiry()
        if self._lost:
            raise LockLostError(f"{self._kind} {self.name!r} was lost: {self._lost_reason}")

    def _state(self) -> str:
        if self._lost:
            return "lost"
        return "held" if self._token is not None else "unlocked"

    def _detect_expiry(self) -> None:
        if self._token is not None and not self._lost and time.monotonic() >= self._valid_until:
            self._mark_lost("its TTL ran out without a successful renewal")


class SyncLockBase(LockState):
    """Ownership and loss bookkeeping. Subclasses implement the ``_remote_*`` operations."""

    def _init_renewal(self) -> None:
        self._mutex = threading.RLock()
        self._stop_renewing: threading.Event | None = None
        self._watchdog: threading.Thread | None = None

    # --- subclass hooks --------------------------------------------------------------------

    def _remote_attempt(self, token: str, limit: float | None) -> Attempt:
        """One attempt; ``limit`` bounds the wait for an answer when the backend was unreachable."""
        raise NotImplementedError

    def _abandon(self, token: str) -> None:
        """An attempt got no answer: it may still succeed on the server, so release it in the background."""
        return None

    def _remote_wait(self, waiter: object, seconds: float) -> None:
        time.sleep(seconds)

    def _open_waiter(self, timeout: float) -> object:
        return None

    def _close_waiter(self, waiter: object) -> None:
        return None

    def _remote_release(self, token: str) -> bool:
        raise NotImplementedError

    def _remote_renew(self, token: str, ttl: float) -> tuple[Renewal, float]:
        """Renew to ``ttl``; returns the outcome and the validity gained (seconds from the call's start)."""
        raise NotImplementedError

    # --- public surface ----------------------------------------------------------------------

    def acquire(
        self, blocking: bool = True, timeout: float | None = None, blocking_timeout: float | None = None
    ) -> bool:
        """Take the lock. Returns True when held, False when not (non-blocking or timed out).

        ``timeout`` (seconds) bounds the wait; None waits as long as needed. Raises a
        :class:`~shardwise.errors.LockError` subclass when Redis cannot be reached within the timeout.
        """
        limit = validate_timeout(timeout if blocking_timeout is None else blocking_timeout, bool(blocking))
        with self._mutex:
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
                token = new_token()  # fresh per attempt: an abandoned attempt can be cleaned up safely
                start = time.monotonic()
                call_limit = None if deadline is None else max(deadline - start, _MIN_CALL_LIMIT)
                attempt = self._remote_attempt(token, call_limit)
                if attempt.acquired:
                    self._on_acquired(token, attempt, start)
                    return True
                remaining = None if deadline is None else deadline - time.monotonic()
                if attempt.unreachable is not None:
                    self._abandon(token)
                    if remaining is None or remaining <= 0 or not blocking:
                        raise self._unreachable_error(attempt.unreachable)
                    time.sleep(min(attempt.retry_after, remaining))
                    continue
                if not blocking or (remaining is not None and remaining <= 0):
                    return False
                if not opened and self._uses_release_messages:  # subscribe, then retry at once
                    opened = True
                    waiter = self._open_waiter(remaining if remaining is not None else self.ttl)
                    continue
                wait = attempt.retry_after if remaining is None else min(attempt.retry_after, remaining)
                self._remote_wait(waiter, max(0.0, wait))
        finally:
            if opened:
                self._close_waiter(waiter)

    def release(self) -> None:
        """Release the lock. Raises :class:`LockNotOwnedError` if this object does not hold it and
        :class:`LockLostError` if it held it but lost it (expired, deleted or taken over)."""
        with self._mutex:
            token = self._token
            was_lost = self._lost
            self._stop_watchdog()
            self._token = None
        if token is None:
            raise LockNotOwnedError(f"cannot release {self._kind} {self.name!r}: not held by this object")
        try:
            released = self._remote_release(token)
        except LockError:
            raise
        except Exception as exc:
            raise self._backend_error(exc) from exc
        if was_lost or not released:
            self._mark_lost("the lock was no longer held when released (expired, deleted or taken over)")
            raise LockLostError(f"{self._kind} {self.name!r} was lost before release: {self._lost_reason}")

    def extend(self, ttl: float | None = None) -> None:
        """Reset the remaining time of a held lock to ``ttl`` seconds (default: the lock's ttl).

        Raises :class:`LockNotOwnedError` if not held by this object, :class:`LockLostError` if lost.
        """
        seconds = self.ttl if ttl is None else validate_ttl(ttl)
        token = self._token
        if token is None:
            raise LockNotOwnedError(f"cannot extend {self._kind} {self.name!r}: not held by this object")
        self.check()
        start = time.monotonic()
        try:
            outcome, validity = self._remote_renew(token, seconds)
        except LockError:
            raise
        except Exception as exc:
            raise self._backend_error(exc) from exc
        if outcome is Renewal.NOT_OWNED:
            self._mark_lost("extend found the key gone or held by another owner")
            self.check()
        if outcome is Renewal.UNREACHABLE:
            raise self._unreachable_error("could not extend: no (majority) answer in time")
        with self._mutex:
            if self._token == token:
                self._valid_until = start + validity

    def __enter__(self: _Lock) -> _Lock:
        if not self.acquire(blocking=True, timeout=self.timeout):
            raise LockNotAcquiredError(
                f"could not acquire {self._kind} {self.name!r} within {self.timeout} s"
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()  # raises LockLostError when the hold was lost

    def __del__(self) -> None:
        stop = getattr(self, "_stop_renewing", None)
        if stop is not None:
            stop.set()

    # --- internals ---------------------------------------------------------------------------

    def _on_acquired(self, token: str, attempt: Attempt, start: float) -> None:
        with self._mutex:
            self._token = token
            self._fencing_token = attempt.fencing_token
            self._valid_until = start + attempt.validity
            self._lost = False
            self._lost_reason = ""
            self._lost_notified = False
            if self.auto_renew:
                self._start_watchdog(token)

    def _mark_lost(self, reason: str) -> None:
        with self._mutex:
            if not self._lost:
                self._lost = True
                self._lost_reason = reason
            notify = not self._lost_notified
            self._lost_notified = True
            if self._stop_renewing is not None:
                self._stop_renewing.set()
        if notify:
            logger.warning("%s %r lost: %s", self._kind, self.name, reason)
            if self.on_lost is not None:
                try:
                    self.on_lost(self)
                except Exception:
                    logger.exception("on_lost callback of %s %r raised", self._kind, self.name)

    def _start_watchdog(self, token: str) -> None:
        stop = threading.Event()
        self._stop_renewing = stop
        self._watchdog = threading.Thread(
            target=_watchdog,
            args=(weakref.ref(self), token, stop, self.renew_interval),
            name=f"shardwise-lock-watchdog:{self.name}",
            daemon=True,
        )
        self._watchdog.start()

    def _stop_watchdog(self) -> None:
        if self._stop_renewing is not None:
            self._stop_renewing.set()
        self._stop_renewing = None
        self._watchdog = None

    def _renew_once(self, token: str, stop: threading.Event) -> float | None:
        """One watchdog step: renew, or detect loss. Returns the wait before the next step, or None."""
        with self._mutex:
            if self._token != token or self._lost:
                return None
            valid_until = self._valid_until
        start = time.monotonic()
        if start >= valid_until:
            self._mark_lost("its TTL ran out before the watchdog could renew it")
            return None
        try:
            outcome, validity = call_with_deadline(
                lambda: self._remote_renew(token, self.ttl), valid_until - start
            )
        except Exception as exc:
            outcome, validity = Renewal.UNREACHABLE, 0.0
            logger.debug("renewal of %r failed: %r", self.name, exc)
        if stop.is_set():
            return None
        if outcome is Renewal.NOT_OWNED:
            self._mark_lost("the watchdog found the key gone or held by another owner")
            return None
        if outcome is Renewal.RENEWED:
            with self._mutex:
                if self._token == token:
                    self._valid_until = start + validity
            return self.renew_interval
        now = time.monotonic()
        if now >= valid_until:
            self._mark_lost("Redis was unreachable until its TTL ran out")
            return None
        return min(self.renew_interval / 4, valid_until - now)


def _watchdog(ref: weakref.ref[SyncLockBase], token: str, stop: threading.Event, wait: float) -> None:
    """Renew while the lock object lives and holds ``token``: a lock object dropped without release
    stops being renewed, so its key expires instead of being held forever."""
    while not stop.wait(wait):
        lock = ref()
        if lock is None:
            return
        next_wait = lock._renew_once(token, stop)
        del lock
        if next_wait is None:
            return
        wait = next_wait
