"""RedisLock and Redlock: the blocking locks. Only I/O here: the operations are written once in
``_base`` and the decisions in ``_protocol``; this module performs their requests."""

from __future__ import annotations

import os
import threading
import time
import weakref
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeVar

import redis
from redis.cluster import RedisCluster

from shardwise.errors import LockError
from shardwise.lock import _protocol as p
from shardwise.lock._base import LockBase, watching
from shardwise.lock._clients import CALL_ERRORS, Bounded, Slots, failure, sync_bounded
from shardwise.lock._common import LockKeys, logger
from shardwise.lock._kinds import MultiMaster, SingleMaster
from shardwise.lock._wire import Packer, call

T = TypeVar("T")
_Lock = TypeVar("_Lock", bound="SyncLock")


class _Node:
    """One master, reached through its bounded client (calls go over the wire, see ``_wire``)."""

    def __init__(self, client: redis.Redis | RedisCluster, keys: LockKeys, bound: float) -> None:
        self._client = client
        self._keys = keys
        self._bound = bound
        self._target: Bounded | None = None
        self._packer: Packer | None = None

    def target(self, moved: tuple[str, int] | None = None) -> Bounded:
        if self._target is None or moved is not None:
            self._target = sync_bounded(self._client, self._keys.lock, self._bound, moved)
        return self._target

    def run(self, op: p.Op, args: tuple[Any, ...]) -> Any:
        try:
            target = self._target or self.target()
            if self._packer is None:
                self._packer = Packer(self._keys, target.encode)
            source, packed = self._packer.pack(op, args)
            try:
                return call(target.pool, source, packed)
            except redis.exceptions.MovedError as moved:  # the slot moved: follow it once
                return call(self.target((moved.host, int(moved.port))).pool, source, packed)
        except CALL_ERRORS as exc:
            return failure(exc)


class _Subscription:
    """The release channel of one waiting acquire, on a connection of the bounded pool (opened on
    the protocol's p.Subscribe, closed when the acquire ends)."""

    def __init__(self) -> None:
        self._slots: Slots | None = None
        self._pubsub: Any = None

    def open(self, node: _Node, channel: str, bound: float) -> bool:
        try:
            target = node.target()
        except CALL_ERRORS:
            return False  # no client for it now: the waiter polls
        if not target.slots.take():
            return False  # the pool cannot spare the connection: the waiter polls
        self._slots = target.slots
        try:
            self._pubsub = target.client.pubsub()
            self._pubsub.subscribe(channel)
            deadline = time.monotonic() + bound
            while time.monotonic() < deadline:
                message = self._pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
                if message is not None and message.get("type") == "subscribe":
                    return True
        except CALL_ERRORS as exc:
            logger.debug("release subscription of %s failed: %r", channel, exc)
        self.close()
        return False

    def wait(self, seconds: float) -> None:
        """Wait for a release message, at most ``seconds`` (just sleep when not subscribed)."""
        if self._pubsub is None:
            time.sleep(seconds)
            return
        try:
            self._pubsub.get_message(ignore_subscribe_messages=True, timeout=seconds)
        except (redis.RedisError, OSError):
            self.close()

    def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except (redis.RedisError, OSError) as exc:
                logger.debug("closing a release subscription failed: %r", exc)
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.give()


class SyncLock(LockBase):
    """The blocking front-end of :class:`RedisLock` and :class:`Redlock`: performs the requests
    of the operations (masters called one after another, each bounded) and keeps the threads."""

    _clients = (redis.Redis, RedisCluster)
    _guard: threading.Lock

    def _connect(self, clients: list[Any]) -> None:
        self._nodes = [_Node(c, self.keys, self._settings.call_timeout) for c in clients]
        self._guard = threading.Lock()
        self._freed = threading.Condition(self._guard)  # a holder left: waiting threads may claim
        self._waiting = 0  # threads waiting on _freed
        self._renewing = threading.Lock()
        self._stop: threading.Event | None = None

    # --- redis-py's Lock API -------------------------------------------------------------------

    def acquire(
        self,
        sleep: float | None = None,
        blocking: bool | None = None,
        blocking_timeout: float | None = None,
        token: str | bytes | None = None,
        **unexpected: object,
    ) -> bool:
        """Take the lock: True when held, False when not (``blocking=False``, or the wait ran out).

        The arguments are redis-py's: ``sleep`` (the longest wait between attempts),
        ``blocking``, ``blocking_timeout`` (seconds; None waits as long as needed) and ``token``
        (the value stored in Redis; by default a random 128-bit one); each defaults to the
        constructor's. Raises :class:`~shardwise.errors.LockBackendError` (Redlock:
        :class:`~shardwise.errors.QuorumNotReachedError`) when Redis cannot be reached within the
        wait — waiting without a limit, after 1 s unreachable — with the cause chained.
        """
        common = self._common_acquire((sleep, blocking, blocking_timeout, token, unexpected))
        if common is not None:  # the common call: its first round without the driver
            args, request, start = common
            try:
                answers = self._call(request)
            except BaseException:
                self._acquire_interrupted(args)
                raise
            done = self._first_round(args, start, answers, time.monotonic())
            return done if isinstance(done, bool) else self._drive(done)
        return self._drive(self._acquiring(sleep, blocking, blocking_timeout, token, unexpected))

    def release(self) -> None:
        """Release the lock. Raises :class:`LockNotOwnedError` if this object (this thread, with
        ``thread_local``) does not hold it, :class:`LockLostError` if the hold was lost before,
        :class:`LockBackendError` when too few masters answered to tell (the key expires by TTL)."""
        hold = self._release_begin()
        if hold.unsure:
            self._drive(self._releasing(hold))
            return
        try:
            answers = self._call(p.release_call(self._spec, hold))
        except BaseException:
            self._release_interrupted(hold)
            raise
        self._release_end(hold, p.judge_release(self._spec, answers))

    def extend(self, additional_time: float, replace_ttl: bool = False) -> bool:
        """Add ``additional_time`` seconds to the lock's remaining time (atomically, in Lua), or with
        ``replace_ttl=True`` set the remaining time to it. Returns True, as redis-py's."""
        return self._drive(self._extending(additional_time, replace_ttl))

    def reacquire(self) -> bool:
        """Reset the remaining time of the held lock to its ttl. Returns True, as redis-py's."""
        return self.extend(self.ttl, replace_ttl=True)

    def locked(self) -> bool:
        """True if anyone holds the lock (Redlock: a majority of the masters have its key)."""
        return self._drive(self._locked_steps())

    def owned(self) -> bool:
        """True if this object holds the lock (Redlock: a majority of the masters have our token)."""
        return self._drive(self._owned_steps())

    def ttl_remaining(self) -> float | None:
        """Seconds until the hold's key expires (Redlock: until a majority of the masters could drop
        it), asking Redis; None when this object does not hold the lock."""
        return self._drive(self._remaining_steps())

    def __enter__(self: _Lock) -> _Lock:
        if not self.acquire():
            raise self._not_acquired()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.release()
        except LockError as error:
            if not self._suppress_release_error(error):
                raise

    # --- the driver ----------------------------------------------------------------------------

    def _drive(self, steps: p.Steps[T]) -> T:
        stepper, subscription = p.Stepper(steps), _Subscription()
        try:
            while (request := stepper.next()) is not None:
                try:
                    stepper.reply(self._perform(request, subscription))
                except BaseException as exc:  # handed to the operation, which cleans up
                    stepper.fail(exc)
        finally:
            subscription.close()
        return stepper.result  # type: ignore[no-any-return]

    def _perform(self, request: p.Request, subscription: _Subscription) -> tuple[Any, float]:
        if isinstance(request, p.Call):
            answer: Any = self._call(request)
        elif isinstance(request, p.Sleep):
            if request.wake_on_release:
                subscription.wait(request.seconds)
            else:
                time.sleep(request.seconds)
            answer = False
        elif isinstance(request, p.Subscribe):
            answer = subscription.open(self._nodes[0], self.keys.channel, self._settings.call_timeout)
        elif isinstance(request, p.Enter):
            answer = self._enter(request)
        elif isinstance(request, p.Renew):
            with self._renewing:  # renewals apply in server order
                steps = p.renew_steps(
                    self._spec, request.hold, request.ms, request.replace_ttl, time.monotonic()
                )
                answer = self._applied(request.hold, self._drive(steps))
        else:
            raise TypeError(f"unexpected request {request!r}")
        return answer, time.monotonic()

    def _call(self, call: p.Call) -> list[Any]:
        return [self._call_one(call, node) for node in call.nodes]

    def _call_one(self, call: p.Call, node: int) -> Any:
        """One master's answer; masters are called one after another, none after ``call.until``."""
        if call.until is not None and time.monotonic() >= call.until:
            return p.Failed(TimeoutError("not called: no time was left for it"))
        return self._nodes[node].run(call.op, call.args)

    def _try_claim(self) -> bool:
        with self._guard:
            return self._own.enter(threading.get_ident(), self._spec.label)

    def _enter(self, request: p.Enter) -> bool:
        me = threading.get_ident()
        with self._guard:
            while not self._own.enter(me, self._spec.label):
                left = None if request.deadline is None else request.deadline - time.monotonic()
                if not request.blocking or (left is not None and left <= 0):
                    return False
                self._waiting += 1
                try:
                    self._freed.wait(60.0 if left is None else min(left, 60.0))
                finally:
                    self._waiting -= 1
        return True

    # --- flavour hooks -----------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiting:
            self._freed.notify()

    def _start_watchdog(self, hold: p.Hold) -> None:
        self._stop = threading.Event()
        name = f"shardwise-lock-watchdog:{self.name}"
        threading.Thread(
            target=_watch, args=(weakref.ref(self), hold, self._stop), name=name, daemon=True
        ).start()

    def _stop_watchdog(self) -> None:
        if self._stop is not None:
            self._stop.set()
        self._stop = None

    def _clean_up_later(self, job: p.Abandoned) -> None:
        _janitor.add(self._nodes, self.keys, job)

    def _notify_lost(self) -> None:
        if self.on_lost is not None:
            try:
                self.on_lost(self)
            except Exception:
                logger.exception("on_lost callback of %s raised", self._spec.title())

    def _after_fork_in_child(self, parent: int) -> None:
        super()._after_fork_in_child(parent)
        self._guard = threading.Lock()  # another thread may have held them at fork
        self._freed = threading.Condition(self._guard)
        self._waiting = 0
        self._renewing = threading.Lock()
        self._stop = None

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()


class _Janitor:
    """The one thread that cleans up after every blocking lock of the process (``cleanup_loop``
    over all their pending jobs; a master that failed is tried once per round, for all locks)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._mutex = threading.Lock()
        self._jobs: list[p.Abandoned] = []
        self._running = False
        self._nodes: list[_Node] = []  # the masters seen, numbered by their bounded client
        self._numbers: dict[int, int] = {}

    def add(self, nodes: list[_Node], keys: LockKeys, job: p.Abandoned) -> None:
        with self._mutex:
            numbers = tuple(self._number(nodes[n]) for n in job.nodes)
            self._jobs = list(p.merged(self._jobs, [replace(job, nodes=numbers, keys=keys)]))
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, name="shardwise-lock-cleanup", daemon=True).start()

    def _number(self, node: _Node) -> int:
        # one number per bounded client (so per master), or per node before it made one; either
        # stays alive with the node, which this janitor keeps
        key = id(node._target if node._target is not None else node)
        if key not in self._numbers:
            self._numbers[key] = len(self._nodes)
            self._nodes.append(node)
        return self._numbers[key]

    def _run(self) -> None:
        stepper = p.Stepper(p.cleanup_loop(time.monotonic()))
        while (request := stepper.next()) is not None:
            if isinstance(request, p.Call):
                stepper.reply(
                    ([self._nodes[n].run(request.op, request.args) for n in request.nodes], time.monotonic())
                )
            elif isinstance(request, p.Sleep):
                time.sleep(request.seconds)
                stepper.reply((False, time.monotonic()))
            else:
                with self._mutex:
                    jobs, self._jobs = p.merged(request.pending, self._jobs), []
                    self._running = bool(jobs)
                stepper.reply((jobs, time.monotonic()))


_janitor = _Janitor()
os.register_at_fork(after_in_child=_janitor.reset)  # the parent's clean-ups are the parent's


def _watch(ref: weakref.ref[SyncLock], hold: p.Hold, stop: threading.Event) -> None:
    """The watchdog thread (see ``watching``); release sets ``stop``."""
    stepper = p.Stepper(watching(ref, hold))
    while (step := stepper.next()) is not None:
        request, lock = step
        if lock is None:
            stepper.reply((stop.wait(request.seconds), time.monotonic()))
        else:
            stepper.reply(lock._perform(request, _Subscription()))


class RedisLock(SingleMaster, SyncLock):
    """A distributed lock on one Redis master (``Redis``, ``Redis.from_url``, Sentinel
    ``master_for``, or ``RedisCluster``) with redis-py's ``Lock`` API:
    ``RedisLock(client, name, ttl, sleep, blocking, blocking_timeout, thread_local,
    raise_on_release_error)`` — ``timeout`` is accepted as redis-py's name for ``ttl``.

    ``ttl`` bounds how long a crashed holder blocks others. Given neither ``ttl`` nor ``timeout``,
    the TTL is 10 s with ``auto_renew`` on — the closest safe thing to redis-py's "no expiry":
    a watchdog thread renews every ``renew_interval`` (ttl/3). When it cannot (key gone, another
    owner, Redis unreachable until the validity ran out) the hold is lost: ``on_lost(lock)`` is
    called once, and :meth:`check` and the end of ``with`` raise ``LockLostError``. With an
    explicit ttl, auto_renew is off unless asked, and a hold presumes itself lost once its TTL ran
    out on the local clock. Every acquisition gets a :attr:`fencing_token` (a counter next to the
    key): pass it with each write to a :class:`FencedResource` so stale holders are refused.

    Fencing across data loss: a counter that is missing — the server restarted empty (no
    persistence), ``FLUSHALL``, the counter evicted — starts again from the server's clock in
    microseconds, so the tokens after the loss are larger than every token before it, provided the
    lock was acquired less than once per microsecond on average since its counter started and the
    server's clock did not step back (NTP step, a replacement host with a slower clock). Not
    covered: a restart or failover that brings back an *older* counter (an AOF with ``appendfsync
    everysec`` or an RDB snapshot missing the last writes, a replica that had not received them):
    its tokens can repeat. Use ``appendfsync always`` (or ``WAIT`` on replicas) when that matters.

    Bounded calls: every Redis call of the lock goes through a client built from ``client``'s
    connection settings with ``socket_timeout`` and ``socket_connect_timeout`` set to
    ``call_timeout`` (default ``min(ttl/3, 1 s)``, at least 10 ms) and no retries — one pool per
    (user pool, call_timeout), keeping its ``max_connections``. So a hung server costs only the
    call that touched it, an acquire returns within ``blocking_timeout`` plus one call bound, and
    a loss is reported within the hold's validity plus one call bound even if the server hangs. A
    cluster lock calls the primary of its hash slot directly and follows ``MOVED``.

    Waiters are woken by a pub/sub message from the release script and poll at least every
    ``sleep`` seconds; when the pool cannot spare a connection (``max_connections=1``) they only
    poll. A lock object may be shared by threads: one holds it at a time, the others wait locally;
    it is not reentrant. With ``thread_local=True`` only the acquiring thread may release it.
    """

    _kind = "RedisLock"
    _twin = "AsyncRedisLock"


class Redlock(MultiMaster, SyncLock):
    """The Redlock algorithm over independent Redis masters (``clients``, typically 3 or 5), with
    the API of :class:`RedisLock` (``node_timeout`` instead of ``call_timeout``).

    Acquire calls the masters one after another, each within ``node_timeout`` (default: at most
    ttl/3 and 1 s, and short enough that waiting on every master Redlock may lose leaves some
    validity). It holds the lock only if a majority (N//2+1) granted it and the validity
    ``ttl - elapsed - drift`` (drift = ``ttl*drift_factor + 2 ms``) is positive; otherwise it
    releases everywhere and retries after a random wait of ``sleep/2`` to ``sleep`` seconds
    (``retry_delay`` is the former name of ``sleep``). ``extend``, ``reacquire``, ``release``,
    ``locked``, ``owned`` and ``ttl_remaining`` ask every master and go by the majority;
    ``release`` says what happened: done by a majority, ``LockLostError`` when a majority no
    longer had our key, ``LockBackendError`` when too few answered to tell.

    Fencing: each master keeps its own counter. The token is the largest counter of the granting
    majority, written back to that majority before use; any two majorities share a master, so
    tokens increase from holder to holder *as long as Redlock's own timing assumptions hold*
    (bounded clock drift and pauses). A master that lost its counter (restarted empty, flushed)
    starts it again from its clock in microseconds, as :class:`RedisLock` does, so even a majority
    restarted empty hands out larger tokens, under the same conditions: less than one acquisition
    per microsecond on average, and no master clock stepping back below the tokens already issued.
    A master that comes back with an *older* counter (a lossy AOF or snapshot) can still repeat
    tokens, and Redlock's mutual exclusion itself needs masters that keep their keys across
    restarts (or stay down for a TTL): for strict fencing use one :class:`RedisLock` (with
    replication waits) or a consensus store.
    """

    _kind = "Redlock"
    _twin = "AsyncRedlock"
