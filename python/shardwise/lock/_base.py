"""What the blocking and the asyncio locks share besides the protocol: settings, local ownership
(which thread or task holds the object), loss bookkeeping, and the public operations written once
as generators of requests (``_acquiring``, ``_releasing``...) that each front-end drives.

Local ownership: a lock object is held by one thread (one task for the asyncio locks) at a time.
Another thread's acquire waits locally — without Redis traffic, within its blocking_timeout — until
the holder releases, like ``threading.Lock``; the holder acquiring again raises ``LockError``.
With ``thread_local=True`` (redis-py's default) only the acquiring thread may release, extend or
reacquire; ``thread_local=False`` lets any thread.

After ``os.fork()`` the child owns none of the parent's holds: its release raises
``LockNotOwnedError`` and touches nothing in Redis; every internal mutex is new in the child.
"""

from __future__ import annotations

import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from shardwise.errors import LockError, LockLostError, LockNotAcquiredError, LockNotOwnedError
from shardwise.lock._common import LockKeys, lock_keys, logger, validate_name
from shardwise.lock._protocol import (
    Abandoned,
    AcquireArgs,
    Acquired,
    Call,
    Enter,
    Hold,
    Op,
    Outcome,
    Renew,
    Sleep,
    Spec,
    Status,
    Stepper,
    Steps,
    abandoned,
    acquire_call,
    acquire_steps,
    hold_at_once,
    judge_majority,
    judge_remaining,
    query_steps,
    release_steps,
    watchdog_steps,
)
from shardwise.lock._settings import SINGLE_MASTER_DRIFT, Settings, acquire_args, extension, make_settings


class Ownership:
    """Which thread (or task) holds a lock object, and its hold. Callers serialise access."""

    def __init__(self) -> None:
        self.holder: object = None  # the thread id or task that acquired, or is acquiring
        self.holder_thread: int | None = None
        self.hold: Hold | None = None
        self.last: Hold | None = None  # the most recent hold (for lost, fencing_token, check)
        self.fork_note = ""

    def enter(self, me: object, title: str) -> bool:
        """Claim the object for ``me``; False when another thread or task has it."""
        if self.holder is None:
            self.holder, self.holder_thread, self.fork_note = me, threading.get_ident(), ""
            return True
        if self.holder == me:
            if self.hold is not None and not self.hold.lost:
                who = "thread" if isinstance(me, int) else "task"
                raise LockError(f"{title} is already held by this {who} (locks are not reentrant)")
            self.hold = None  # a lost hold is dropped: acquire anew
            return True
        return False

    def leave(self) -> None:
        self.holder = self.holder_thread = None

    def owned_hold(self, thread_local: bool, title: str, doing: str) -> Hold:
        """The hold, if the calling thread may ``doing`` it; else LockNotOwnedError."""
        if self.hold is None:
            raise LockNotOwnedError(f"cannot {doing} {title}: not held by this object{self.fork_note}")
        if thread_local and threading.get_ident() != self.holder_thread:
            raise LockNotOwnedError(
                f"cannot {doing} {title}: another thread acquired it, and with thread_local=True only "
                "that thread may (pass thread_local=False to share a hold between threads)"
            )
        return self.hold

    def forked(self, parent: int) -> None:
        if self.hold is not None:
            self.fork_note = (
                f" (its hold belongs to the parent process {parent}: a forked child does not own it)"
            )
        self.holder = self.holder_thread = self.hold = None


_every_lock: weakref.WeakSet[LockBase] = weakref.WeakSet()


def _forget_holds_in_child() -> None:
    parent = os.getppid()
    for lock in list(_every_lock):
        lock._after_fork_in_child(parent)


os.register_at_fork(after_in_child=_forget_holds_in_child)


class LockBase:
    """Settings, keys, ownership, loss bookkeeping and the operations' flow (no I/O)."""

    _kind = "lock"
    _redlock = False
    _clients: tuple[type, ...] = ()  # the client types of the flavour
    _guard: AbstractContextManager[Any]  # serialises local state: a mutex, or nothing on asyncio

    def _setup(self, name: str, labels: Sequence[str], prefix: str, **settings: Any) -> None:
        self.name = validate_name(name)
        self.keys: LockKeys = lock_keys(self.name, prefix)
        settings.setdefault("drift_factor", SINGLE_MASTER_DRIFT)
        self._settings: Settings = make_settings(masters=len(labels), **settings)
        self._spec = Spec(
            self._kind,
            self.name,
            tuple(labels),
            self._settings.ttl,
            self._settings.drift_factor,
            redlock=self._redlock,
            wake_on_release=not self._redlock,
        )
        self._own = Ownership()
        self._rng = random.Random()
        _every_lock.add(self)

    # --- settings, as redis-py names them and as we do -----------------------------------------

    @property
    def ttl(self) -> float:
        """Seconds a hold lives in Redis unless renewed (redis-py calls it ``timeout``)."""
        return self._settings.ttl

    @property
    def timeout(self) -> float:
        """redis-py's name for :attr:`ttl`."""
        return self._settings.ttl

    @property
    def sleep(self) -> float:
        """The longest wait between two attempts of a blocking acquire (seconds)."""
        return self._settings.sleep

    @property
    def blocking(self) -> bool:
        return self._settings.blocking

    @property
    def blocking_timeout(self) -> float | None:
        return self._settings.blocking_timeout

    @property
    def thread_local(self) -> bool:
        return self._settings.thread_local

    @property
    def raise_on_release_error(self) -> bool:
        return self._settings.raise_on_release_error

    @property
    def auto_renew(self) -> bool:
        return self._settings.auto_renew

    @property
    def renew_interval(self) -> float:
        return self._settings.renew_interval

    @property
    def on_lost(self) -> Callable[[Any], object] | None:
        return self._settings.on_lost

    # --- state -----------------------------------------------------------------------------------

    @property
    def fencing_token(self) -> int | None:
        """The fencing token of the current (or most recent) hold; None before the first acquire."""
        last = self._own.last
        return None if last is None else last.fencing_token

    @property
    def lost(self) -> bool:
        """True once the most recent hold is known (or must be presumed) lost; reset by acquire."""
        self._detect_expiry()
        return self._own.last is not None and self._own.last.lost

    def check(self) -> None:
        """Raise :class:`LockLostError` if the lock was lost while held; otherwise do nothing."""
        self._detect_expiry()
        last = self._own.last
        if last is not None and last.lost:
            raise LockLostError(f"{self._spec.title()} was lost: {last.lost_reason}", self.name)

    def _state(self) -> str:
        last = self._own.last
        if last is not None and last.lost:
            return "lost"
        return "unlocked" if self._own.hold is None else "held"

    def _describe(self, where: str) -> str:
        return (
            f"{self._kind}(name={self.name!r}, {where}, ttl={self.ttl}, state={self._state()!r}, "
            f"fencing_token={self.fencing_token}, auto_renew={self.auto_renew})"
        )

    def _detect_expiry(self) -> None:
        hold = self._own.hold
        if hold is not None and not hold.lost and time.monotonic() >= hold.valid_until:
            self._lose(hold, "its TTL ran out without a successful renewal")

    def _lose(self, hold: Hold, reason: str) -> None:
        if hold.mark_lost(reason):
            logger.warning("%s lost: %s", self._spec.title(), reason)
            self._notify_lost()

    # --- flavour hooks ---------------------------------------------------------------------------

    def _connect(self, clients: list[Any]) -> None:
        raise NotImplementedError

    def _notify_lost(self) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        """Wake a thread or task waiting to claim the object (called under ``_guard``)."""
        raise NotImplementedError

    def _start_watchdog(self, hold: Hold) -> None:
        raise NotImplementedError

    def _stop_watchdog(self) -> None:
        raise NotImplementedError

    def _after_fork_in_child(self, parent: int) -> None:
        self._own.forked(parent)

    # --- the operations, as generators of requests -------------------------------------------------

    def _acquiring(
        self,
        sleep: object,
        blocking: object,
        blocking_timeout: object,
        token: object,
        unexpected: Mapping[str, object],
    ) -> Steps[bool]:
        args = acquire_args(self._settings, sleep, blocking, blocking_timeout, token, unexpected, self._kind)
        now = time.monotonic()
        deadline = None if args.wait is None else now + args.wait
        if not self._try_claim():  # another thread or task has the object: wait for it
            entered, now = yield Enter(args.blocking, deadline)
            if not entered:
                return False
        if deadline is not None:  # the local wait counts against blocking_timeout
            args = replace(args, wait=max(0.0, deadline - now))
        return (yield from self._claimed_acquiring(args, now))

    def _claimed_acquiring(
        self, args: AcquireArgs, now: float, first: tuple[Sequence[Any], float] | None = None
    ) -> Steps[bool]:
        """The acquire once the object is claimed (``first``: see ``acquire_steps``)."""
        try:
            result = yield from acquire_steps(self._spec, args, now, self._rng, first)
        except BaseException:  # interrupted or cancelled mid-call: an attempt may have landed
            self._acquire_interrupted(args)
            raise
        return self._acquired(result, args)

    def _common_acquire(self, given: tuple[object, ...]) -> tuple[AcquireArgs, Call, float] | None:
        """The start of the shortcut of ``acquire()`` with the constructor's settings (``given``:
        acquire's arguments, all None, and its unexpected keywords, none): claims the object and
        gives the first round's request; None for any other call, or when another thread or task
        has the object (then the full path runs). The front-end makes the call, then hands its
        answers to :meth:`_first_round`."""
        *arguments, unexpected = given
        if unexpected or any(v is not None for v in arguments) or not self._try_claim():
            return None
        args = acquire_args(self._settings, None, None, None, None, {}, self._kind)
        start = time.monotonic()
        return args, acquire_call(self._spec, args, start), start

    def _first_round(
        self, args: AcquireArgs, start: float, answers: Sequence[Any], now: float
    ) -> Steps[bool] | bool:
        """After the shortcut's first round: the result when the round decided it (the same
        decision as ``acquire_steps``, see ``hold_at_once``), else the rest of the acquire."""
        hold = hold_at_once(self._spec, args, start, answers, now)
        if hold is not None:
            return self._acquired(Acquired(hold), args)
        return self._claimed_acquiring(args, start, (answers, now))

    def _acquired(self, result: Acquired, args: AcquireArgs) -> bool:
        hold = result.hold
        if hold is None:
            self._leave()
            self._settle(result, args.token, args.call_id)  # raises the error, if any
            return False
        with self._guard:
            self._own.hold = self._own.last = hold
            if self._settings.auto_renew:
                self._start_watchdog(hold)
        return True

    def _acquire_interrupted(self, args: AcquireArgs) -> None:
        self._leave()
        self._clean_up_later(abandoned(args.token, args.call_id, self._spec.nodes, time.monotonic()))

    def _release_begin(self) -> Hold:
        """The hold to release (LockNotOwnedError if the caller may not); the object no longer
        holds it, its watchdog stops. The front-end releases it (``release_call`` when no master
        is unsure, else :meth:`_releasing`), then calls :meth:`_release_end`."""
        with self._guard:
            hold = self._own.owned_hold(self._settings.thread_local, self._spec.label, "release")
            self._own.hold = None
            self._stop_watchdog()
        return hold

    def _releasing(self, hold: Hold) -> Steps[None]:
        try:
            outcome = yield from release_steps(self._spec, hold)
        except BaseException:
            self._release_interrupted(hold)
            raise
        self._release_end(hold, outcome)

    def _release_interrupted(self, hold: Hold) -> None:
        """Interrupted mid-release: finish it in the background."""
        self._leave()
        self._clean_up_later(abandoned(hold.token, hold.call_id, self._spec.nodes, time.monotonic()))

    def _release_end(self, hold: Hold, outcome: Outcome) -> None:
        self._leave()
        self._finish_release(hold, outcome)

    def _extending(self, additional_time: object, replace_ttl: object) -> Steps[bool]:
        ms, replace_ = extension(additional_time, replace_ttl)
        with self._guard:
            hold = self._own.owned_hold(self.thread_local, self._spec.title(), "extend")
        self._detect_expiry()
        if hold.lost:
            raise LockLostError(f"{self._spec.title()} was lost: {hold.lost_reason}", self.name)
        outcome, _ = yield Renew(hold, ms, replace_)
        if outcome.status is Status.NOT_OWNED:
            self._lose(hold, "extend found the key gone or held by another owner")
            self.check()
        if outcome.error is not None:
            raise outcome.error from outcome.error.__cause__
        return True

    def _locked_steps(self) -> Steps[bool]:
        answers = yield from query_steps(self._spec, Op.EXISTS, ())
        return judge_majority(self._spec, answers, "read", frozenset({1}))

    def _owned_steps(self) -> Steps[bool]:
        hold = self._own.hold
        if hold is None:
            return False
        answers = yield from query_steps(self._spec, Op.PTTL, (hold.token,))
        return judge_majority(self._spec, answers, "read")

    def _remaining_steps(self) -> Steps[float | None]:
        hold = self._own.hold
        if hold is None:
            return None
        answers = yield from query_steps(self._spec, Op.PTTL, (hold.token,))
        return judge_remaining(self._spec, answers)

    # --- helpers of the operations ---------------------------------------------------------------

    def _try_claim(self) -> bool:
        """Claim the object for the calling thread (task) if nobody has it; no waiting."""
        raise NotImplementedError

    def _leave(self) -> None:
        with self._guard:
            self._own.leave()
            self._wake()

    def _settle(self, result: Acquired, token: str | bytes, call_id: str) -> None:
        """An acquire call ended without a hold: queue the clean-up of what it may have left in
        Redis, raise its error."""
        if result.unsure:
            self._clean_up_later(abandoned(token, call_id, result.unsure, time.monotonic()))
        if result.error is not None:
            raise result.error from result.error.__cause__

    def _finish_release(self, hold: Hold, outcome: Outcome) -> None:
        if outcome.status is Status.DONE and not outcome.failed and hold.lost_reason is None:
            return  # the common case
        if outcome.failed:
            self._clean_up_later(abandoned(hold.token, hold.call_id, outcome.failed, time.monotonic()))
        if hold.lost or outcome.status is Status.NOT_OWNED:
            reason = (
                hold.lost_reason
                or "the lock was no longer held when released (expired, deleted or taken over)"
            )
            self._lose(hold, reason)
            raise LockLostError(f"{self._spec.title()} was lost before release: {reason}", self.name)
        if outcome.error is not None:
            raise outcome.error from outcome.error.__cause__

    @staticmethod
    def _applied(hold: Hold, outcome: Outcome) -> Outcome:
        """Apply a renewal to its hold (callers serialise renewals, so in server order)."""
        if outcome.status is Status.DONE:
            hold.valid_until = outcome.valid_until
        return outcome

    def _watchdog_lost(self, hold: Hold, reason: str | None) -> None:
        """The watchdog ended: a loss counts only if the hold was not released meanwhile."""
        if reason is not None and hold is self._own.hold:
            self._lose(hold, reason)

    def _clean_up_later(self, job: Abandoned) -> None:
        """Remove, in the background, a key an operation may have left (see ``cleanup_steps``)."""
        raise NotImplementedError

    def _not_acquired(self) -> LockNotAcquiredError:
        if not self.blocking:
            waited = "at once (blocking=False)"
        elif self.blocking_timeout is None:
            waited = "(waited without a time limit)"
        else:
            waited = f"within blocking_timeout={self.blocking_timeout} s"
        return LockNotAcquiredError(f"could not acquire {self._spec.title()} {waited}", self.name)

    def _suppress_release_error(self, error: LockError) -> bool:
        """``raise_on_release_error=False``: a release at the end of ``with`` that finds the lock no
        longer owned logs a warning instead of raising (as in redis-py)."""
        if self.raise_on_release_error or not isinstance(error, LockNotOwnedError):
            return False
        logger.warning("%s was no longer owned when its with-block ended: %s", self._spec.title(), error)
        return True


def watching(ref: weakref.ref[Any], hold: Hold) -> Generator[tuple[Any, Any], Any, None]:
    """The watchdog of ``hold``, for a driver: yields (request, lock) — lock is None for a Sleep,
    else the lock object to perform the request. Between renewals it keeps only the weak
    reference ``ref``, so a lock object dropped without release stops being renewed (its key
    expires); it ends when the hold is released, and reports a loss to the lock."""
    lock = ref()
    if lock is None:
        return
    stepper = Stepper(watchdog_steps(hold, lock._spec.ttl_ms, lock.renew_interval, time.monotonic()))
    del lock
    while (request := stepper.next()) is not None:
        if isinstance(request, Sleep):
            stepper.reply((yield request, None))
            continue
        lock = ref()
        if lock is None or hold is not lock._own.hold:
            return  # dropped, or released meanwhile
        stepper.reply((yield request, lock))
        del lock
    lock = ref()
    if lock is not None:
        lock._watchdog_lost(hold, stepper.result)
