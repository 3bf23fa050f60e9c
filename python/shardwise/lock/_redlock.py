"""Redlock: the lock of the Redis documentation over N independent masters.

Safety rests on timing assumptions: bounded clock drift between the masters and us, bounded pauses,
and masters that do not forget keys on restart (persistence, or staying down for a TTL). Within those
assumptions the fencing token is useful; it cannot protect against their violation, which is exactly
when fencing is needed. See :class:`Redlock` for what the token means here.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import Any

import redis
from redis.cluster import RedisCluster

from shardwise.errors import LockBackendError, LockError, QuorumNotReachedError
from shardwise.lock import _scripts
from shardwise.lock._common import (
    DEFAULT_PREFIX,
    lock_keys,
    shared_pool,
    to_ms,
    validate_name,
    validate_seconds,
)
from shardwise.lock._sync_base import Attempt, Renewal, SyncLockBase

_BUSY = object()  # the node's previous call has not come back yet


def default_node_timeout(ttl: float) -> float:
    """Per-node answer limit: a fifth of the TTL, between 50 ms and 500 ms."""
    return min(0.5, max(0.05, ttl / 5))


class _NodeCall:
    """One outstanding call per master: a hung master is skipped rather than queued behind."""

    def __init__(self, count: int) -> None:
        self._mutex = threading.Lock()
        self._inflight: list[Future[Any] | None] = [None] * count

    def fan_out(self, calls: Sequence[Callable[[], Any] | None], timeout: float) -> list[Any]:
        """Run ``calls[i]`` on master i in parallel; each result is a value, an exception or _BUSY."""
        pool = shared_pool()
        futures: list[Future[Any] | None] = []
        future: Future[Any] | None
        with self._mutex:
            for i, call in enumerate(calls):
                previous = self._inflight[i]
                if call is None or (previous is not None and not previous.done()):
                    futures.append(None)
                    continue
                future = pool.submit(call)
                self._inflight[i] = future
                futures.append(future)
        pending = [f for f in futures if f is not None]
        if pending:
            wait(pending, timeout=timeout)
        results: list[Any] = []
        for future in futures:
            if future is None:
                results.append(_BUSY)
            elif not future.done():
                results.append(TimeoutError(f"no answer within {timeout:.3f} s"))
            elif future.exception() is not None:
                results.append(future.exception())
            else:
                results.append(future.result())
        return results

    def after_inflight(self, index: int, call: Callable[[], Any]) -> None:
        """Run ``call`` on master ``index`` once its outstanding call (if any) is done; don't wait.

        Used to release an attempt whose answer did not come in time: the command may still be
        executed by the master, so the release must follow it. No pool thread waits meanwhile.
        """
        with self._mutex:
            previous = self._inflight[index]

        def quietly() -> None:
            with contextlib.suppress(Exception):
                call()

        def submit(_: object = None) -> None:
            with contextlib.suppress(RuntimeError):  # interpreter shutting down
                shared_pool().submit(quietly)

        if previous is None or previous.done():
            submit()
        else:
            previous.add_done_callback(submit)


class Redlock(SyncLockBase):
    """The Redlock algorithm over independent Redis masters (``clients``, typically 3 or 5).

    Acquire contacts every master in parallel (each within ``node_timeout`` seconds) and succeeds
    only if a majority (N//2+1) said yes and the validity ``ttl - elapsed - drift`` (drift =
    ``ttl*drift_factor + 2 ms``) is still positive; otherwise it releases everywhere and retries
    after a random delay of up to ``retry_delay`` seconds, until the timeout. ``extend`` and the
    watchdog need a majority too; loss is signalled as for :class:`RedisLock`.

    Fencing: each master keeps its own counter, and the counters of independent masters are not
    one sequence. The token is the largest counter of the majority that granted the lock, written
    back to that majority before use; any two majorities share a master, so tokens increase from
    holder to holder *as long as Redlock's own timing assumptions hold* (bounded clock drift and
    pauses, masters that keep their keys across restarts). They cannot protect you when those
    assumptions fail, which is when fencing matters most: for strict fencing use a single
    :class:`RedisLock` (with replication waits) or a consensus store.
    """

    _kind = "Redlock"
    _uses_release_messages = False

    def __init__(
        self,
        clients: Sequence[redis.Redis | RedisCluster],
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
        clients = _validate_clients(clients, (redis.Redis, RedisCluster), "AsyncRedlock")
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
        self._nodes = _NodeCall(len(clients))
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
            f"Redlock(name={self.name!r}, masters={len(self.clients)}, quorum={self.quorum}, ttl={self.ttl}, "
            f"state={self._state()!r}, fencing_token={self._fencing_token}, auto_renew={self.auto_renew})"
        )

    def drift(self, ttl: float | None = None) -> float:
        """The clock-drift allowance for ``ttl`` (default: the lock's ttl)."""
        return (self.ttl if ttl is None else ttl) * self.drift_factor + 0.002

    # --- queries -------------------------------------------------------------------------------

    def locked(self) -> bool:
        """True if a majority of the masters hold the lock key (anyone's)."""
        answers = self._nodes.fan_out(
            [functools.partial(c.exists, self.keys.lock) for c in self.clients], self.node_timeout
        )
        self._require_quorum_of_answers(answers)
        return sum(1 for a in answers if isinstance(a, int) and a > 0) >= self.quorum

    def owned(self) -> bool:
        """True if a majority of the masters hold this object's token."""
        token = self._token
        if token is None:
            return False
        answers = self._fan(lambda i: self._scripts[i]["pttl"](keys=[self.keys.lock], args=[token]))
        self._require_quorum_of_answers(answers)
        return sum(1 for a in answers if isinstance(a, int) and a != -3) >= self.quorum

    def ttl_remaining(self) -> float | None:
        """Seconds of validity left for this hold (local clock, drift deducted), or None if not held."""
        if self._token is None or self.lost:
            return None
        return max(0.0, self._valid_until - time.monotonic())

    # --- remote operations -----------------------------------------------------------------------

    def _fan(self, call: Callable[[int], Any], only: Sequence[int] | None = None) -> list[Any]:
        chosen = range(len(self.clients)) if only is None else only
        calls: list[Callable[[], Any] | None] = [
            functools.partial(call, i) if i in chosen else None for i in range(len(self.clients))
        ]
        return self._nodes.fan_out(calls, self.node_timeout)

    def _require_quorum_of_answers(self, answers: list[Any]) -> None:
        failures = [a for a in answers if isinstance(a, BaseException) or a is _BUSY]
        if len(answers) - len(failures) < self.quorum:
            raise self._unreachable_error(_describe(answers))

    def _backend_error(self, exc: BaseException) -> LockError:
        return LockBackendError(f"Redlock {self.name!r}: {exc}")

    def _unreachable_error(self, why: str) -> LockError:
        return QuorumNotReachedError(
            f"Redlock {self.name!r}: fewer than {self.quorum} of {len(self.clients)} masters answered ({why})"
        )

    def _remote_attempt(self, token: str, limit: float | None) -> Attempt:
        ttl_ms = to_ms(self.ttl)
        start = time.monotonic()
        answers = self._fan(
            lambda i: self._scripts[i]["acquire"](
                keys=[self.keys.lock, self.keys.fence], args=[token, ttl_ms]
            )
        )
        won = [i for i, a in enumerate(answers) if isinstance(a, list) and int(a[0]) == 1]
        if len(won) >= self.quorum and self.ttl - (time.monotonic() - start) - self.drift() > 0:
            fence = max(int(answers[i][1]) for i in won)
            # write the token back to the granting masters behind it: the next majority overlaps them
            behind = [i for i in won if int(answers[i][1]) < fence]
            raised = (
                self._fan(
                    lambda i: self._scripts[i]["fence"](
                        keys=[self.keys.lock, self.keys.fence], args=[token, fence]
                    ),
                    behind,
                )
                if behind
                else []
            )
            confirmed = sum(1 for i in won if i not in behind or raised[i] == 1)
            elapsed = time.monotonic() - start
            if confirmed >= self.quorum and self.ttl - elapsed - self.drift() > 0:
                # the keys expire no sooner than start + ttl: valid until then, less the drift
                return Attempt(True, fence, validity=self.ttl - self.drift())
        self._release_everywhere(token)
        failures = sum(1 for a in answers if isinstance(a, BaseException) or a is _BUSY)
        unreachable = _describe(answers) if len(self.clients) - failures < self.quorum else None
        return Attempt(
            False, retry_after=random.uniform(self.retry_delay / 2, self.retry_delay), unreachable=unreachable
        )

    def _release_everywhere(self, token: str) -> list[Any]:
        def release(i: int) -> Any:
            return self._scripts[i]["release"](keys=[self.keys.lock], args=[token, self.keys.channel])

        answers = self._fan(release)
        for i, answer in enumerate(answers):
            if answer is _BUSY or isinstance(answer, TimeoutError):
                self._nodes.after_inflight(i, functools.partial(release, i))
        return answers

    def _remote_release(self, token: str) -> bool:
        answers = self._release_everywhere(token)
        not_owned = sum(1 for a in answers if isinstance(a, int) and a == 0)
        return not_owned <= len(self.clients) - self.quorum

    def _remote_renew(self, token: str, ttl: float) -> tuple[Renewal, float]:
        ttl_ms = to_ms(ttl)
        start = time.monotonic()
        answers = self._fan(lambda i: self._scripts[i]["extend"](keys=[self.keys.lock], args=[token, ttl_ms]))
        validity = ttl - (time.monotonic() - start) - self.drift(ttl)
        renewed = sum(1 for a in answers if isinstance(a, int) and a == 1)
        not_owned = sum(1 for a in answers if isinstance(a, int) and a == 0)
        if renewed >= self.quorum and validity > 0:
            return Renewal.RENEWED, validity + (time.monotonic() - start)
        if not_owned > len(self.clients) - self.quorum:
            return Renewal.NOT_OWNED, 0.0
        return Renewal.UNREACHABLE, 0.0


def _validate_clients(clients: object, types: tuple[type, ...], other: str) -> list[Any]:
    if isinstance(clients, (str, bytes)) or not isinstance(clients, Sequence):
        raise TypeError(
            f"clients must be a list of Redis clients, one per master, got {type(clients).__name__}"
        )
    if not clients:
        raise ValueError("clients must not be empty: Redlock needs at least one master")
    for i, client in enumerate(clients):
        if not isinstance(client, types):
            raise TypeError(
                f"clients[{i}] must be a {' or '.join(t.__name__ for t in types)} "
                f"(use {other} for the other kind), got {type(client).__name__}"
            )
    if len({id(c) for c in clients}) != len(clients):
        raise ValueError("clients must be distinct: the same client object appears twice")
    return list(clients)


def _describe(answers: list[Any]) -> str:
    parts = []
    for i, answer in enumerate(answers):
        if answer is _BUSY:
            parts.append(f"#{i}: still busy with an earlier call")
        elif isinstance(answer, BaseException):
            parts.append(f"#{i}: {type(answer).__name__}: {answer}")
    return "; ".join(parts) or "no failures"
