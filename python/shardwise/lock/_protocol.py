"""The lock's decisions, free of I/O: shared by RedisLock, Redlock and their asyncio twins.

No redis, no asyncio, no clock: every step gets the time from its driver. A RedisLock is the
one-master case of the same rules. The loops (acquire, watchdog, clean-up) are generators that
yield requests — :class:`Call` (one operation on some masters), :class:`Sleep`,
:class:`Subscribe`, :class:`Renew`, :class:`Swap` — and receive ``(result, now)`` for each;
a sync and an async driver in the front-ends perform them.

The Redlock rules (https://redis.io/docs/latest/develop/use/patterns/distributed-locks/):
quorum ``N//2 + 1``; clock drift ``ttl * drift_factor + 2 ms``; a round acquires only with a quorum
of grants and a positive validity ``ttl - elapsed - drift``; a failed round is released everywhere.
Validity is counted from the round's start, so ``ttl - elapsed - drift > 0`` reads here as
``start + ttl - drift > now``.

Fencing: every master counts acquisitions; the token is the largest counter among the granting
majority, written back (raised) on the granting masters that were behind it before the lock is
used. Two majorities share a master, so tokens grow from holder to holder. A master that lost its
counter starts it again from its clock (see ``_scripts``), so its tokens still grow after the loss.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias, TypeVar

from shardwise.errors import (
    LockBackendError,
    LockError,
    LockNotAcquiredError,
    QuorumNotReachedError,
)

T = TypeVar("T")

DRIFT_FLOOR = 0.002  # seconds added to every drift allowance (the paper's "2 milliseconds")
MAX_WAIT_STEP = 60.0  # no single wait is longer; primitives never see a huge timeout
BACKEND_RETRY = 0.05  # seconds between attempts while the masters are unreachable
UNREACHABLE_PATIENCE = 1.0  # an acquire without a deadline gives up after this long unreachable
MAX_SLOW_ROUNDS = 3  # rounds in a row granted by a quorum but too slow: then acquire gives up
VOID_MS = 60_000  # lifetime of a void key (see _scripts): far longer than a late attempt's delay
CLEANUP_HORIZON = 60.0  # seconds to keep trying to clean up after a master that does not answer
CLEANUP_FIRST_RETRY, CLEANUP_MAX_RETRY = 0.05, 1.0
MAX_CLEANUP_JOBS = 256  # pending clean-ups kept (the oldest are dropped; their keys expire by TTL)


# --- arithmetic ------------------------------------------------------------------------------


def quorum(masters: int) -> int:
    """The majority of ``masters``: ``N // 2 + 1``."""
    return masters // 2 + 1


def drift(duration: float, drift_factor: float) -> float:
    """The clock-drift allowance for a key that lives ``duration`` seconds."""
    return duration * drift_factor + DRIFT_FLOOR


def valid_until(start: float, remaining: Sequence[float], needed: int, drift_factor: float) -> float:
    """Until when (local clock) ``needed`` masters surely still hold our key.

    ``remaining`` are the seconds each master reported its key would live, each measured at some
    moment after ``start``; the ``needed``-th longest of them, less its drift, counted from
    ``start``. Minus infinity when fewer than ``needed`` masters hold the key.
    """
    if needed < 1 or len(remaining) < needed:
        return float("-inf")
    life = sorted(remaining, reverse=True)[needed - 1]
    return start + life - drift(life, drift_factor)


# --- requests and replies --------------------------------------------------------------------


class Op(enum.Enum):
    """The operations on one master (one Lua script each, see ``_scripts``)."""

    ACQUIRE = "acquire"  # (token, call id, ttl ms, reclaim) -> [1, fence, pttl] | [0, pttl]
    FENCE = "fence"  # (token, value) -> 1 | 0
    RELEASE = "release"  # (token,) -> 1 | 0
    ABANDON = "abandon"  # (token, call id, void ms[, the lock's keys]) -> 1 | 0
    EXTEND = "extend"  # (token, ms, replace) -> new pttl | -1
    PTTL = "pttl"  # (token,) -> pttl | -1 (no expiry) | -3 (not ours)
    EXISTS = "exists"  # () -> 1 | 0


@dataclass(slots=True)  # hot: a plain init is cheaper than a frozen one
class Call:
    """Run ``op`` with ``args`` on each master of ``nodes``. A driver that calls the masters one by
    one starts no call at or after ``until`` (such masters answer :class:`Failed`)."""

    op: Op
    nodes: tuple[int, ...]
    args: tuple[Any, ...] = ()
    until: float | None = None


@dataclass(slots=True)  # hot: a plain init is cheaper than a frozen one
class Sleep:
    """Wait ``seconds``; with ``wake_on_release`` a release message on the subscription ends it.
    In the watchdog the reply is True when the hold was released meanwhile (stop)."""

    seconds: float
    wake_on_release: bool = False


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Open the release subscription; the reply is True when it is open."""


@dataclass(frozen=True, slots=True)
class Renew:
    """Renew ``hold`` by ``ms`` (set or added, see :func:`renew_steps`), one renewal at a time
    per lock object so they apply in server order; the reply is the :class:`Outcome`, applied."""

    hold: Hold
    ms: int
    replace_ttl: bool


@dataclass(frozen=True, slots=True)
class Enter:
    """Claim the lock object locally for the calling thread (or task), waiting for another holder
    to release it until ``deadline`` when ``blocking``; the reply is True when claimed."""

    blocking: bool
    deadline: float | None


@dataclass(frozen=True, slots=True)
class Swap:
    """Clean-up loop: hand back the jobs still pending; the reply is them plus the new ones (an
    empty tuple ends the loop, and the driver notes that no loop runs)."""

    pending: tuple[Abandoned, ...]


Request: TypeAlias = Call | Sleep | Subscribe | Renew | Swap | Enter
Steps = Generator[Request, Any, T]


class Stepper:
    """Steps through a generator of requests for a driver: ``next()`` gives the next request (None
    once done, the result in ``result``); the driver answers with ``reply`` or ``fail``."""

    __slots__ = ("_send", "_steps", "_value", "result")

    def __init__(self, steps: Generator[Any, Any, Any]) -> None:
        self._steps = steps
        self._send: Any = steps.send
        self._value: Any = None
        self.result: Any = None

    def next(self) -> Any:
        try:
            return self._send(self._value)
        except StopIteration as done:
            self.result = done.value
            return None

    def reply(self, value: Any) -> None:
        self._value, self._send = value, self._steps.send

    def fail(self, error: BaseException) -> None:
        """Raise ``error`` inside the generator (at its pending ``yield``), which may clean up."""
        self._value, self._send = error, self._steps.throw


@dataclass(slots=True)  # hot: a plain init is cheaper than a frozen one
class Failed:
    """A master gave no usable answer. ``transient``: no answer or a connection problem (worth a
    retry); otherwise Redis answered with an error (e.g. a key of the wrong type)."""

    error: BaseException
    transient: bool = True


# --- the lock's identity and holds -----------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What the decisions need to know about one lock object."""

    kind: str  # "RedisLock", "Redlock", ... (for messages)
    name: str
    labels: tuple[str, ...]  # one per master, e.g. "127.0.0.1:6379"
    ttl: float
    drift_factor: float
    redlock: bool  # errors say "masters" and use QuorumNotReachedError; waits are randomised
    wake_on_release: bool  # waiters subscribe to the release channel

    masters: int = field(init=False)
    quorum: int = field(init=False)
    nodes: tuple[int, ...] = field(init=False)  # 0 .. masters - 1
    ttl_ms: int = field(init=False)
    validity: float = field(init=False)  # the longest validity a round can give: ttl - drift
    label: str = field(init=False)  # "RedisLock 'name'", for messages

    def __post_init__(self) -> None:  # derived once: the decisions read them on every call
        masters = len(self.labels)
        for name, value in [
            ("masters", masters),
            ("quorum", quorum(masters)),
            ("nodes", tuple(range(masters))),
            ("ttl_ms", max(1, round(self.ttl * 1000))),
            ("validity", self.ttl - drift(self.ttl, self.drift_factor)),
            ("label", f"{self.kind} {self.name!r}"),
        ]:
            object.__setattr__(self, name, value)

    def title(self) -> str:
        return self.label


@dataclass(slots=True)
class Hold:
    """One acquisition by one lock object."""

    token: str | bytes
    call_id: str
    fencing_token: int
    valid_until: float  # local monotonic time until which the lock is surely ours
    unsure: tuple[int, ...] = ()  # masters whose answer was lost: may hold our key too
    lost_reason: str | None = None
    notified: bool = False

    @property
    def lost(self) -> bool:
        return self.lost_reason is not None

    def mark_lost(self, reason: str) -> bool:
        """Record the loss; True only the first time (the caller then notifies ``on_lost``)."""
        if self.lost_reason is None:
            self.lost_reason = reason
        first, self.notified = not self.notified, True
        return first


@dataclass(slots=True)  # hot: a plain init is cheaper than a frozen one
class AcquireArgs:
    sleep: float
    blocking: bool
    wait: float | None  # seconds; None waits as long as needed
    token: str | bytes
    reclaim: bool  # the token is ours (random): an earlier attempt of the call may be reclaimed
    call_id: str = ""  # random id of this acquire call (its void key)


@dataclass(slots=True)  # hot: a plain init is cheaper than a frozen one
class Acquired:
    """The outcome of an acquire call: a hold, or none (and maybe an error to raise); ``unsure``
    are the masters that may still hold the call's key and must be cleaned up."""

    hold: Hold | None
    error: LockError | None = None
    unsure: tuple[int, ...] = ()


class Status(enum.Enum):
    DONE = "done"  # released / renewed by a majority
    NOT_OWNED = "not owned"  # a majority said the key is gone or someone else's
    UNKNOWN = "unknown"  # too few answers to tell


@dataclass(slots=True)  # hot: a plain init is cheaper than a frozen one
class Outcome:
    """The outcome of a release or a renewal."""

    status: Status
    valid_until: float = float("-inf")  # renewals: the new validity
    failed: tuple[int, ...] = ()  # masters that did not answer
    error: LockError | None = None  # for UNKNOWN


@dataclass(frozen=True, slots=True)
class Abandoned:
    """A key that may be left on some masters: remove it (and void its acquire call). ``keys``:
    the lock's keys, for a driver that cleans up after many locks (None: the driver's own)."""

    token: str | bytes
    call_id: str
    nodes: tuple[int, ...]
    give_up_at: float
    keys: Any = None


# --- reading answers -------------------------------------------------------------------------


def split(answers: Sequence[Any]) -> tuple[list[tuple[int, Failed]], dict[int, Any]]:
    """The failures (by master) and the answers (by master) of one :class:`Call` over all masters."""
    failures: list[tuple[int, Failed]] = []
    replies: dict[int, Any] = {}
    for node, answer in enumerate(answers):
        if isinstance(answer, Failed):
            failures.append((node, answer))
        else:
            replies[node] = answer
    return failures, replies


@dataclass(slots=True)  # hot: a plain init is cheaper than a frozen one
class Round:
    """The answers to one ACQUIRE call over every master."""

    granted: tuple[int, ...]
    fences: dict[int, int]
    remaining: dict[int, float]  # seconds the granted keys live
    denied_pttl: tuple[int, ...]  # PTTLs (ms) of the holders' keys where we were refused
    failures: tuple[tuple[int, Failed], ...]

    @property
    def answered(self) -> int:
        return len(self.granted) + len(self.denied_pttl)


def read_acquire(answers: Sequence[Any]) -> Round:
    if len(answers) == 1 and not isinstance(answers[0], Failed):  # one master: the common case
        reply = answers[0]
        if int(reply[0]) == 1:
            return Round((0,), {0: int(reply[1])}, {0: int(reply[2]) / 1000.0}, (), ())
        return Round((), {}, {}, (int(reply[1]),), ())
    failures, replies = split(answers)
    granted: list[int] = []
    fences: dict[int, int] = {}
    remaining: dict[int, float] = {}
    denied: list[int] = []
    for node, reply in replies.items():
        if int(reply[0]) == 1:
            granted.append(node)
            fences[node] = int(reply[1])
            remaining[node] = int(reply[2]) / 1000.0
        else:
            denied.append(int(reply[1]))
    return Round(tuple(granted), fences, remaining, tuple(denied), tuple(failures))


def describe_failures(spec: Spec, failures: Sequence[tuple[int, Failed]]) -> str:
    parts = []
    for node, failed in failures:
        where = f"#{node} {spec.labels[node]}" if spec.redlock else spec.labels[node]
        parts.append(f"{where}: {type(failed.error).__name__}: {failed.error}")
    return "; ".join(parts) or "no answer"


def unreachable_error(
    spec: Spec, failures: Sequence[tuple[int, Failed]], answered: int, doing: str
) -> LockError:
    """The error for an operation that got too few answers; the first failure is its cause.

    A Redlock acquire raises :class:`QuorumNotReachedError`, everything else
    :class:`LockBackendError`."""
    details = describe_failures(spec, failures)
    if spec.redlock:
        message = f"{answered} of {spec.masters} masters answered, {spec.quorum} needed ({details})"
    else:
        message = f"Redis at {details}"
    cls = QuorumNotReachedError if spec.redlock and doing == "acquire" else LockBackendError
    error: LockError = cls(f"{spec.title()}: could not {doing}: {message}", spec.name)
    if failures:
        error.__cause__ = failures[0][1].error
    return error


def _fatal(spec: Spec, failures: Sequence[tuple[int, Failed]], doing: str) -> LockError | None:
    """A Redis error reply (not a connection problem): retrying will not cure it."""
    for node, failed in failures:
        if not failed.transient:
            error = LockBackendError(
                f"{spec.title()}: could not {doing}: Redis at {spec.labels[node]} replied with an error: "
                f"{type(failed.error).__name__}: {failed.error}",
                spec.name,
            )
            error.__cause__ = failed.error
            return error
    return None


# --- acquire ---------------------------------------------------------------------------------


def acquire_call(spec: Spec, args: AcquireArgs, start: float) -> Call:
    """One acquire round, started at ``start``: no master is called once its validity is gone."""
    request = (args.token, args.call_id, spec.ttl_ms, args.reclaim)
    return Call(Op.ACQUIRE, spec.nodes, request, start + spec.validity)


def hold_at_once(
    spec: Spec, args: AcquireArgs, start: float, answers: Sequence[Any], now: float
) -> Hold | None:
    """The hold won by a round (started at ``start``, answered at ``now``) that needs nothing more:
    every master answered, a quorum granted, no fence to write back, still valid. None otherwise
    (``acquire_steps`` decides). A front-end may take this shortcut on an acquire's first round;
    ``acquire_steps`` gives the same hold for the same answers."""
    got = read_acquire(answers)
    if got.failures or len(got.granted) < spec.quorum:
        return None
    until, fence, behind = _granted(spec, got, start)
    return Hold(args.token, args.call_id, fence, until) if until > now and not behind else None


def acquire_steps(
    spec: Spec,
    args: AcquireArgs,
    now: float,
    rng: random.Random,
    first: tuple[Sequence[Any], float] | None = None,
) -> Steps[Acquired]:
    """The acquire loop: rounds until held, refused for good, out of time, or unreachable.

    ``first``: the answers to the first round's :func:`acquire_call` (started at ``now``) and
    the time they came, when the front-end already made that call."""
    call_id = args.call_id
    deadline = None if args.wait is None else now + args.wait
    unsure: set[int] = set()  # masters whose answer was lost: they may hold the key
    slow_rounds = 0
    unreachable_since: float | None = None
    subscribed = tried_subscribing = False
    while True:
        start = now
        if first is None:
            answers, now = yield acquire_call(spec, args, start)
        else:
            (answers, now), first = first, None
        got, elapsed = read_acquire(answers), now - start
        if got.failures:
            unsure.update(n for n, _ in got.failures)
        slow = False
        if len(got.granted) >= spec.quorum:
            until, fence, behind = _granted(spec, got, start)
            if until > now and behind:  # write the token back, then check the validity again
                until, now = yield from _raise_fence(spec, args.token, got, behind, fence, start, until)
            if until > now:
                return Acquired(
                    Hold(args.token, call_id, fence, until, tuple(sorted(unsure)) if unsure else ())
                )
            slow = until > float("-inf")  # -inf: the write-back lost the quorum, not the time
        if got.granted:  # a failed round is released everywhere it was granted
            replies, now = yield Call(Op.RELEASE, got.granted, (args.token,))
            unsure.update(n for n, r in zip(got.granted, replies, strict=True) if isinstance(r, Failed))
        not_held = Acquired(None, None, tuple(sorted(unsure)))
        timed_out = deadline is not None and now >= deadline
        if got.answered < spec.quorum:  # too few answers: retry within the deadline (or patience)
            fatal = _fatal(spec, got.failures, "acquire")
            unreachable_since = start if unreachable_since is None else unreachable_since
            give_up = deadline if deadline is not None else unreachable_since + UNREACHABLE_PATIENCE
            if fatal is not None or not args.blocking or now >= give_up:
                error = fatal or unreachable_error(spec, got.failures, got.answered, "acquire")
                return replace(not_held, error=error)
            _, now = yield Sleep(min(BACKEND_RETRY, give_up - now))
            continue
        unreachable_since = None
        slow_rounds = slow_rounds + 1 if slow else 0
        if slow_rounds >= MAX_SLOW_ROUNDS:
            return replace(not_held, error=_too_slow(spec, elapsed))
        if slow:  # a quorum said yes but the round was too slow: the lock is free, retry at once
            if timed_out:
                return not_held
            continue
        if not args.blocking or timed_out:
            return not_held
        if spec.wake_on_release and not tried_subscribing:  # subscribe, then retry at once
            tried_subscribing = True
            subscribed, now = yield Subscribe()
            if subscribed:
                continue
        wait = _retry_wait(spec, args.sleep, got.denied_pttl, rng)
        if deadline is not None:
            wait = min(wait, deadline - now)
        _, now = yield Sleep(min(max(0.0, wait), MAX_WAIT_STEP), subscribed)


def _granted(spec: Spec, got: Round, start: float) -> tuple[float, int, tuple[int, ...]]:
    """A quorum granted: the validity, the fencing token, and the granting masters behind it."""
    if len(got.granted) == 1:  # one master (a RedisLock): nobody is behind
        (node,) = got.granted
        life = got.remaining[node]
        return start + life - drift(life, spec.drift_factor), got.fences[node], ()
    until = valid_until(start, [got.remaining[n] for n in got.granted], spec.quorum, spec.drift_factor)
    fence = max(got.fences.values())
    return until, fence, tuple(n for n in got.granted if got.fences[n] < fence)


def _raise_fence(
    spec: Spec,
    token: str | bytes,
    got: Round,
    behind: tuple[int, ...],
    fence: int,
    start: float,
    until: float,
) -> Generator[Request, Any, tuple[float, float]]:
    """Raise the counters of the masters ``behind`` to ``fence``; the validity over the masters
    that hold it (minus infinity when they are no quorum), and the time."""
    replies, now = yield Call(Op.FENCE, behind, (token, fence), until)
    raised = zip(behind, replies, strict=True)
    refused = {n for n, r in raised if isinstance(r, Failed) or int(r) != 1}
    lives = [got.remaining[n] for n in got.granted if n not in refused]
    return valid_until(start, lives, spec.quorum, spec.drift_factor), now


def _retry_wait(spec: Spec, sleep: float, denied_pttl: Sequence[int], rng: random.Random) -> float:
    """How long to wait after a refusal: Redlock a random time in [sleep/2, sleep] (so rivals fall
    out of step); one master at most ``sleep``, and no longer than the holder's key lives."""
    if spec.redlock:
        return rng.uniform(sleep / 2, sleep)
    hints = [p / 1000.0 + 0.001 for p in denied_pttl if p >= 0]
    return min([sleep, *hints])


def _too_slow(spec: Spec, elapsed: float) -> LockError:
    return LockNotAcquiredError(
        f"{spec.title()}: {'a majority of the masters' if spec.redlock else 'Redis'} granted the lock "
        f"{MAX_SLOW_ROUNDS} times in a row, but each round took longer than its validity allows "
        f"(last round {elapsed:.4f} s; ttl {spec.ttl} s less the drift allowance "
        f"{drift(spec.ttl, spec.drift_factor):.4f} s): use a longer ttl",
        spec.name,
    )


# --- release, renew, queries -----------------------------------------------------------------


def release_steps(spec: Spec, hold: Hold) -> Steps[Outcome]:
    """Release everywhere: compare-and-delete where we know the key landed, ABANDON (which also
    voids the acquire call) on the masters whose acquire answer was lost."""
    if not hold.unsure:
        replies, _ = yield release_call(spec, hold)
        return judge_release(spec, replies)
    answers: dict[int, Any] = {}
    sure = tuple(n for n in spec.nodes if n not in hold.unsure)
    if sure:
        replies, _ = yield Call(Op.RELEASE, sure, (hold.token,))
        answers.update(zip(sure, replies, strict=True))
    replies, _ = yield Call(Op.ABANDON, hold.unsure, (hold.token, hold.call_id, VOID_MS))
    answers.update(zip(hold.unsure, replies, strict=True))
    return judge_release(spec, [answers[n] for n in spec.nodes])


def release_call(spec: Spec, hold: Hold) -> Call:
    """The release of a hold that no master is unsure about: compare-and-delete everywhere."""
    return Call(Op.RELEASE, spec.nodes, (hold.token,))


def judge_release(spec: Spec, answers: Sequence[Any]) -> Outcome:
    """Released when a majority deleted our key; not owned when a majority did not have it (the
    lock was lost before); unknown otherwise (too few answers)."""
    if len(answers) == 1 and not isinstance(answers[0], Failed):  # one master: the common case
        return Outcome(Status.DONE if int(answers[0]) == 1 else Status.NOT_OWNED)
    failures, replies = split(answers)
    failed = tuple(n for n, _ in failures)
    released = sum(1 for r in replies.values() if int(r) == 1)
    if released >= spec.quorum:
        return Outcome(Status.DONE, failed=failed)
    if len(replies) - released > spec.masters - spec.quorum:
        return Outcome(Status.NOT_OWNED, failed=failed)
    error = unreachable_error(spec, failures, len(replies), "release")
    return Outcome(Status.UNKNOWN, failed=failed, error=error)


def renew_steps(spec: Spec, hold: Hold, ms: int, replace_ttl: bool, now: float) -> Steps[Outcome]:
    """One renewal: set (``replace_ttl``) or lengthen each master's key by ``ms`` milliseconds."""
    answers, _ = yield Call(Op.EXTEND, spec.nodes, (hold.token, ms, replace_ttl), hold.valid_until)
    return judge_renewal(spec, answers, now)


def judge_renewal(spec: Spec, answers: Sequence[Any], start: float) -> Outcome:
    """Renewed when a majority extended our key (valid until its quorum-th longest life, less the
    drift, from the call's start); not owned when a majority did not have it; else unknown."""
    failures, replies = split(answers)
    failed = tuple(n for n, _ in failures)
    lives = [int(r) / 1000.0 for r in replies.values() if int(r) > 0]
    if len(lives) >= spec.quorum:
        return Outcome(Status.DONE, valid_until(start, lives, spec.quorum, spec.drift_factor), failed)
    if len(replies) - len(lives) > spec.masters - spec.quorum:
        return Outcome(Status.NOT_OWNED, failed=failed)
    error = unreachable_error(spec, failures, len(replies), "extend")
    return Outcome(Status.UNKNOWN, failed=failed, error=error)


def query_steps(spec: Spec, op: Op, args: tuple[Any, ...]) -> Steps[list[Any]]:
    answers, _ = yield Call(op, spec.nodes, args)
    return list(answers)


def judge_majority(spec: Spec, answers: Sequence[Any], doing: str, yes: frozenset[int] | None = None) -> bool:
    """True when a majority answered yes (an answer in ``yes``; None: any answer >= -1), False when
    a majority answered otherwise; raises when too few answered to tell."""
    failures, replies = split(answers)
    ayes = sum(1 for r in replies.values() if (int(r) in yes if yes is not None else int(r) >= -1))
    if ayes >= spec.quorum:
        return True
    if len(replies) - ayes > spec.masters - spec.quorum:
        return False
    raise unreachable_error(spec, failures, len(replies), doing)


def judge_remaining(spec: Spec, answers: Sequence[Any]) -> float | None:
    """Seconds until a majority of the masters could drop our key (from PTTL_IF_OWNED answers), or
    None when a majority does not hold it; raises when too few answered to tell."""
    if not judge_majority(spec, answers, "read the TTL"):
        return None
    _, replies = split(answers)
    lives = [float("inf") if int(r) == -1 else int(r) / 1000.0 for r in replies.values() if int(r) >= -1]
    return sorted(lives, reverse=True)[spec.quorum - 1]


# --- background loops ------------------------------------------------------------------------


def watchdog_steps(hold: Hold, ttl_ms: int, interval: float, now: float) -> Steps[str | None]:
    """Renew every ``interval`` while held. Returns why the hold is lost, or None once released.

    Loss never waits on a hung call: every wait ends by the hold's validity, and every call is
    bounded by the driver, so a loss is reported within the validity plus one call bound.
    """
    due = now + interval
    last_error = ""
    while True:
        stopped, now = yield Sleep(min(max(0.0, min(due, hold.valid_until) - now), MAX_WAIT_STEP))
        if stopped:
            return None
        if now >= hold.valid_until:
            return "its TTL ran out before the watchdog could renew it" + last_error
        if now < due:
            continue
        renewal, now = yield Renew(hold, ttl_ms, True)
        if renewal.status is Status.NOT_OWNED:
            return "the watchdog found the key gone or held by another owner"
        if renewal.status is Status.DONE:
            due, last_error = now + interval, ""
            continue
        last_error = f" (last renewal: {renewal.error})"
        if now >= hold.valid_until:
            return "Redis was unreachable until its TTL ran out" + last_error
        due = now + min(interval / 4, hold.valid_until - now)


def cleanup_steps(
    jobs: Sequence[Abandoned], now: float
) -> Generator[Request, Any, tuple[list[Abandoned], float]]:
    """One clean-up round: ABANDON each job's key on its masters, skipping for the rest of the
    round a master that failed once; returns the jobs still pending (not given up) and the time."""
    down: set[int] = set()
    left: list[Abandoned] = []
    for job in jobs:
        targets = tuple(n for n in job.nodes if n not in down)
        failed = tuple(n for n in job.nodes if n in down)
        if targets:
            extra = () if job.keys is None else (job.keys,)
            answers, now = yield Call(Op.ABANDON, targets, (job.token, job.call_id, VOID_MS, *extra))
            newly = tuple(n for n, a in zip(targets, answers, strict=True) if isinstance(a, Failed))
            down.update(newly)
            failed += newly
        if failed and now < job.give_up_at:
            left.append(replace(job, nodes=failed))
    return left, now


def cleanup_loop(now: float) -> Steps[None]:
    """Rounds of clean-up, backing off while some master does not answer, until nothing is left."""
    jobs: list[Abandoned] = []
    delay = CLEANUP_FIRST_RETRY
    while True:
        fresh, now = yield Swap(tuple(jobs))
        if not fresh:
            return None
        jobs, now = yield from cleanup_steps(fresh, now)
        if jobs:
            _, now = yield Sleep(delay)
            delay = min(2 * delay, CLEANUP_MAX_RETRY)
        else:
            delay = CLEANUP_FIRST_RETRY


def merged(pending: Sequence[Abandoned], new: Sequence[Abandoned]) -> tuple[Abandoned, ...]:
    """The clean-up jobs of the next round: those still pending, then the new ones (capped)."""
    return (*pending, *new)[-MAX_CLEANUP_JOBS:]


def abandoned(hold_token: str | bytes, call_id: str, nodes: Sequence[int], now: float) -> Abandoned:
    return Abandoned(hold_token, call_id, tuple(sorted(set(nodes))), now + CLEANUP_HORIZON)
