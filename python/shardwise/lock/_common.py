"""Validation, key naming and small helpers shared by the sync and async locks."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger("shardwise.lock")

DEFAULT_PREFIX = "shardwise:lock:"
T = TypeVar("T")


@dataclass(frozen=True)
class LockKeys:
    """The Redis names of one lock: all share one hash tag, so one cluster slot."""

    lock: str
    fence: str
    channel: str


def lock_keys(name: str, prefix: str = DEFAULT_PREFIX) -> LockKeys:
    """Keys for lock ``name``: ``<prefix>{<name>}`` plus ``:fence`` and ``:released``."""
    base = tagged_base(name, prefix)
    return LockKeys(lock=base, fence=f"{base}:fence", channel=f"{base}:released")


def tagged_base(name: str, prefix: str) -> str:
    """``<prefix>{<tag>}``: the tag is the name, or its SHA-1 when the name contains ``}`` (which
    would cut the tag short). Keys that extend this base all share one cluster hash slot."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    if "{" in prefix or "}" in prefix:
        raise ValueError(f"prefix must not contain '{{' or '}}' (the name is the hash tag), got {prefix!r}")
    tag = name if "}" not in name else hashlib.sha1(name.encode()).hexdigest()
    return f"{prefix}{{{tag}}}"


def validate_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"lock name must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError("lock name must not be empty")
    return name


def validate_seconds(value: object, what: str, *, allow_zero: bool = False) -> float:
    """A duration in seconds: a finite real number > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, got {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{what} must be finite, got {value!r}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else '> 0'} seconds, got {value!r}")
    return seconds


def validate_ttl(ttl: object) -> float:
    seconds = validate_seconds(ttl, "ttl")
    if seconds < 0.001:
        raise ValueError(f"ttl must be at least 0.001 seconds (1 ms), got {ttl!r}")
    return seconds


def validate_timeout(timeout: object, blocking: bool) -> float | None:
    if timeout is None:
        return None
    seconds = validate_seconds(timeout, "timeout", allow_zero=True)
    if not blocking:
        raise ValueError("a timeout cannot be given for a non-blocking acquire")
    return seconds


def to_ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def new_token() -> str:
    """A fresh 128-bit owner token (32 hex characters)."""
    return secrets.token_hex(16)


def clock_drift(ttl: float) -> float:
    """The clock-drift allowance of the Redlock paper: 1 % of the TTL plus 2 ms."""
    return ttl * 0.01 + 0.002


def retry_hint(pttl_ms: int, ttl: float) -> float:
    """How long a waiter may sleep before retrying without a release message: until the key expires."""
    if pttl_ms >= 0:
        return pttl_ms / 1000.0 + 0.001
    return ttl  # the key has no expiry (set by someone else): re-check at least once per our TTL


def call_with_deadline(fn: Callable[[], T], timeout: float) -> T:
    """Run ``fn`` in a helper thread and wait at most ``timeout`` seconds for it.

    Raises :class:`TimeoutError` when it has not finished (the call keeps running in the background;
    its result is discarded). Used where a hung socket must never block loss detection.
    """
    results: list[T] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            results.append(fn())
        except BaseException as exc:  # handed to the caller
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="shardwise-lock-call", daemon=True).start()
    if not done.wait(max(0.0, timeout)):
        raise TimeoutError(f"no answer from Redis within {timeout:.3f} s")
    if errors:
        raise errors[0]
    return results[0]


_POOL_SIZE = 64
_pool: ThreadPoolExecutor | None = None
_pool_mutex = threading.Lock()


def shared_pool() -> ThreadPoolExecutor:
    """The worker pool of the lock module's bounded calls (created on first use)."""
    global _pool
    if _pool is None:
        with _pool_mutex:
            if _pool is None:
                _pool = ThreadPoolExecutor(_POOL_SIZE, thread_name_prefix="shardwise-lock-call")
    return _pool


def pooled_submit(fn: Callable[[], object]) -> None:
    """Run ``fn`` on the shared pool without waiting for it."""
    shared_pool().submit(fn)


def pooled_call(fn: Callable[[], T], timeout: float) -> T:
    """Run ``fn`` on a shared worker pool and wait at most ``timeout`` seconds (raises TimeoutError).

    Cheaper than :func:`call_with_deadline` (no thread start); used to keep acquire within the
    caller's timeout whatever the client's socket timeout and retry policy.
    """
    future = shared_pool().submit(fn)
    try:
        return future.result(timeout=max(0.0, timeout))
    except FutureTimeout:
        future.cancel()
        raise TimeoutError(f"no answer from Redis within {timeout:.3f} s") from None


def client_socket_timeout(client: object) -> float | None:
    """The socket timeout a redis-py client (sync or async, plain or cluster) was given, if any."""
    for holder in ("connection_pool", "nodes_manager"):
        kwargs = getattr(getattr(client, holder, None), "connection_kwargs", None)
        if isinstance(kwargs, dict):
            value = kwargs.get("socket_timeout")
            return float(value) if isinstance(value, (int, float)) and value > 0 else None
    return None
