"""AsyncRedisLock and AsyncRedlock: the asyncio locks. Only I/O here: the operations are written
once in ``_base`` and the decisions in ``_protocol``; this module performs their requests.

No ``asyncio.wait_for`` here: on Python < 3.12 it can swallow a cancellation that arrives as the
awaited call finishes, so a cancelled acquire could go on and take the lock. Calls are bounded by
the bounded client's socket timeouts instead; the client's own timeouts can still swallow a
cancellation, so every Redis step of an acquire goes through :func:`_guarded` (on every Python
from 3.10). An operation cancelled mid-call hands what it may have left in Redis to a background
clean-up task.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import weakref
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from shardwise.errors import LockError
from shardwise.lock import _protocol as p
from shardwise.lock._base import LockBase, watching
from shardwise.lock._clients import CALL_ERRORS, Bounded, Slots, async_bounded, bounded_await, failure
from shardwise.lock._common import LockKeys, logger
from shardwise.lock._kinds import MultiMaster, SingleMaster
from shardwise.lock._wire import Packer, acall

T = TypeVar("T")
_Lock = TypeVar("_Lock", bound="AsyncLock")
_background: set[asyncio.Task[Any]] = set()  # strong references to fire-and-forget tasks


def spawn(coro: Awaitable[Any]) -> asyncio.Task[Any]:
    """Run ``coro`` in the background, keeping a reference until it is done."""
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


class _Waiters:
    """Tasks waiting for a change: a condition variable made of futures of the running loop."""

    def __init__(self) -> None:
        self._futures: list[asyncio.Future[None]] = []

    async def wait(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._futures.append(future)
        try:
            await asyncio.wait({future}, timeout=seconds)
        finally:
            if future in self._futures:
                self._futures.remove(future)

    def wake(self) -> None:
        futures, self._futures = self._futures, []
        for future in futures:
            if not future.done():
                future.set_result(None)


class _Node:
    """One master, reached through its bounded client (made for the running event loop)."""

    def __init__(self, client: redis.asyncio.Redis | AsyncRedisCluster, keys: LockKeys, bound: float) -> None:
        self._client = client
        self._keys = keys
        self._bound = bound
        self._last: tuple[object, Bounded] | None = None
        self._packer: Packer | None = None

    async def target(self, moved: tuple[str, int] | None = None) -> Bounded:
        loop = asyncio.get_running_loop()
        if self._last is None or self._last[0] is not loop or moved is not None:
            self._last = loop, await async_bounded(self._client, self._keys.lock, self._bound, moved)
        return self._last[1]

    async def run(self, op: p.Op, args: tuple[Any, ...]) -> Any:
        try:
            target = await self.target()
            if self._packer is None:
                self._packer = Packer(self._keys, target.encode)
            source, packed = self._packer.pack(op, args)
            try:
                return await acall(target.pool, source, packed, self._bound)
            except redis.exceptions.MovedError as moved:  # the slot moved: follow it once
                target = await self.target((moved.host, int(moved.port)))
                return await acall(target.pool, source, packed, self._bound)
        except CALL_ERRORS as exc:
            return failure(exc)


class _Subscription:
    """The release channel of one waiting acquire (see the blocking twin)."""

    def __init__(self) -> None:
        self._slots: Slots | None = None
        self._pubsub: Any = None

    async def open(self, node: _Node, channel: str, bound: float) -> bool:
        try:
            target = await node.target()
        except CALL_ERRORS:
            return False  # no client for it now: the waiter polls
        if not target.slots.take():
            return False  # the pool cannot spare the connection: the waiter polls
        self._slots = target.slots
        try:
            self._pubsub = target.client.pubsub()
            await bounded_await(self._pubsub.subscribe(channel), bound)  # the pool has no socket timeout
            deadline = time.monotonic() + bound
            while time.monotonic() < deadline:
                message = await self._pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
                if message is not None and message.get("type") == "subscribe":
                    return True
        except CALL_ERRORS as exc:
            logger.debug("release subscription of %s failed: %r", channel, exc)
        self.close()
        return False

    async def wait(self, seconds: float) -> None:
        if self._pubsub is None:
            await asyncio.sleep(seconds)
            return
        try:
            await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=seconds)
        except (redis.RedisError, OSError, asyncio.TimeoutError):
            self.close()

    def close(self) -> None:
        """Closes in the background: the new holder need not wait for it."""
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            spawn(_close_quietly(pubsub))
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.give()


async def _guarded(step: Awaitable[T]) -> T:
    """Await one Redis step of an acquire so that cancelling the acquire cannot be lost.

    Timeouts inside the Redis client can swallow a cancellation that arrives as they expire or as
    the awaited call completes (``asyncio.wait_for`` before 3.12, the ``async_timeout`` package,
    early 3.11 ``asyncio.timeout``): the acquire would go on, and could take the lock later.
    Python 3.11+ keeps count of cancellation requests: one that arrived during the step and was
    not delivered is raised here. Python 3.10 has no such count, so there the step runs in a task
    of its own, awaited with ``asyncio.wait`` (which never swallows the caller's cancellation; the
    step's task is cancelled, and what it may still do in Redis is cleaned up like any
    interrupted attempt). That costs a task per Redis step of an acquire on 3.10 only."""
    cancelling = getattr(asyncio.current_task(), "cancelling", None)
    if cancelling is not None:
        before = cancelling()
        result = await step
        if cancelling() > before:
            raise asyncio.CancelledError  # a library below swallowed it
        return result
    inner = asyncio.ensure_future(step)
    try:
        await asyncio.wait({inner})
    finally:
        if not inner.done():
            inner.cancel()
    return inner.result()


async def _close_quietly(pubsub: Any) -> None:
    try:
        await pubsub.aclose()
    except (redis.RedisError, OSError) as exc:
        logger.debug("closing a release subscription failed: %r", exc)


class AsyncLock(LockBase):
    """The asyncio front-end of :class:`AsyncRedisLock` and :class:`AsyncRedlock`: performs the
    requests of the operations (masters called concurrently, each bounded). A lock object is
    used from one event loop at a time; its tasks take turns like threads on a blocking lock."""

    _clients = (redis.asyncio.Redis, AsyncRedisCluster)

    def _connect(self, clients: list[Any]) -> None:
        self._nodes = [_Node(c, self.keys, self._settings.call_timeout) for c in clients]
        self._guard = contextlib.nullcontext()  # one thread: nothing to serialise
        self._gate = _Waiters()
        self._renewing = False
        self._renewed = _Waiters()
        self._watchdog: asyncio.Task[None] | None = None
        self._cleanup_jobs: list[p.Abandoned] = []
        self._cleaning = False

    # --- redis-py's Lock API -------------------------------------------------------------------

    async def acquire(
        self,
        sleep: float | None = None,
        blocking: bool | None = None,
        blocking_timeout: float | None = None,
        token: str | bytes | None = None,
        **unexpected: object,
    ) -> bool:
        """Take the lock (see :meth:`RedisLock.acquire`). Cancellation-safe: a cancelled acquire
        holds nothing, and what it may have set in Redis is removed by a background task."""
        common = self._common_acquire((sleep, blocking, blocking_timeout, token, unexpected))
        if common is not None:  # the common call: its first round without the driver
            args, request, start = common
            try:
                answers = await _guarded(self._call(request))
            except BaseException:
                self._acquire_interrupted(args)
                raise
            done = self._first_round(args, start, answers, time.monotonic())
            return done if isinstance(done, bool) else await self._drive(done, stop_when_cancelled=True)
        steps = self._acquiring(sleep, blocking, blocking_timeout, token, unexpected)
        return await self._drive(steps, stop_when_cancelled=True)

    async def release(self) -> None:
        """Release the lock (see :meth:`RedisLock.release`). Cancellation-safe: if cancelled
        mid-release, a background task finishes removing the key."""
        hold = self._release_begin()
        if hold.unsure:
            await self._drive(self._releasing(hold))
            return
        try:
            answers = await self._call(p.release_call(self._spec, hold))
        except BaseException:
            self._release_interrupted(hold)
            raise
        self._release_end(hold, p.judge_release(self._spec, answers))

    async def extend(self, additional_time: float, replace_ttl: bool = False) -> bool:
        """Add ``additional_time`` seconds to the remaining time, or set it (``replace_ttl``)."""
        return await self._drive(self._extending(additional_time, replace_ttl))

    async def reacquire(self) -> bool:
        """Reset the remaining time of the held lock to its ttl."""
        return await self.extend(self.ttl, replace_ttl=True)

    async def locked(self) -> bool:
        """True if anyone holds the lock (Redlock: a majority of the masters have its key)."""
        return await self._drive(self._locked_steps())

    async def owned(self) -> bool:
        """True if this object holds the lock (Redlock: a majority of the masters have our token)."""
        return await self._drive(self._owned_steps())

    async def ttl_remaining(self) -> float | None:
        """Seconds until the hold's key expires (see :meth:`RedisLock.ttl_remaining`)."""
        return await self._drive(self._remaining_steps())

    async def __aenter__(self: _Lock) -> _Lock:
        if not await self.acquire():
            raise self._not_acquired()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.release()
        except LockError as error:
            if not self._suppress_release_error(error):
                raise

    # --- the driver ----------------------------------------------------------------------------

    async def _drive(self, steps: p.Steps[T], stop_when_cancelled: bool = False) -> T:
        stepper, subscription = p.Stepper(steps), _Subscription()
        try:
            while (request := stepper.next()) is not None:
                try:
                    step = self._perform(request, subscription)
                    guard = stop_when_cancelled and not isinstance(request, p.Enter)  # Enter: ours
                    stepper.reply(await (_guarded(step) if guard else step))
                except BaseException as exc:  # handed to the operation, which cleans up
                    stepper.fail(exc)
        finally:
            subscription.close()
        return stepper.result  # type: ignore[no-any-return]

    async def _perform(self, request: p.Request, subscription: _Subscription) -> tuple[Any, float]:
        if isinstance(request, p.Call):
            answer: Any = await self._call(request)
        elif isinstance(request, p.Sleep):
            await (
                subscription.wait(request.seconds)
                if request.wake_on_release
                else asyncio.sleep(request.seconds)
            )
            answer = False
        elif isinstance(request, p.Subscribe):
            answer = await subscription.open(self._nodes[0], self.keys.channel, self._settings.call_timeout)
        elif isinstance(request, p.Enter):
            answer = await self._enter(request)
        elif isinstance(request, p.Renew):
            answer = await self._renew(request)
        else:  # Swap: the clean-up task's pending jobs for the pending and new ones
            answer, self._cleanup_jobs = p.merged(request.pending, self._cleanup_jobs), []
            self._cleaning = bool(answer)
        return answer, time.monotonic()

    async def _call(self, call: p.Call) -> list[Any]:
        """All masters at once (one master: awaited directly, without a task)."""
        if len(call.nodes) == 1:
            return [await self._nodes[call.nodes[0]].run(call.op, call.args)]
        return list(await asyncio.gather(*(self._nodes[n].run(call.op, call.args) for n in call.nodes)))

    def _try_claim(self) -> bool:
        return self._own.enter(asyncio.current_task(), self._spec.title())

    async def _enter(self, request: p.Enter) -> bool:
        me = asyncio.current_task()
        while not self._own.enter(me, self._spec.title()):
            left = None if request.deadline is None else request.deadline - time.monotonic()
            if not request.blocking or (left is not None and left <= 0):
                return False
            await self._gate.wait(60.0 if left is None else min(left, 60.0))
        return True

    async def _renew(self, request: p.Renew) -> Any:
        while self._renewing:  # renewals apply in server order
            await self._renewed.wait(60.0)
        self._renewing = True
        try:
            steps = p.renew_steps(self._spec, request.hold, request.ms, request.replace_ttl, time.monotonic())
            return self._applied(request.hold, await self._drive(steps))
        finally:
            self._renewing = False
            self._renewed.wake()

    # --- flavour hooks -----------------------------------------------------------------------

    def _wake(self) -> None:
        self._gate.wake()

    def _start_watchdog(self, hold: p.Hold) -> None:
        self._watchdog = spawn(_watch(weakref.ref(self), hold))

    def _stop_watchdog(self) -> None:
        task, self._watchdog = self._watchdog, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _clean_up_later(self, job: p.Abandoned) -> None:
        self._cleanup_jobs = list(p.merged(self._cleanup_jobs, [job]))
        if not self._cleaning:  # one clean-up task per lock object at a time
            self._cleaning = True
            spawn(self._drive(p.cleanup_loop(time.monotonic())))

    def _notify_lost(self) -> None:
        if self.on_lost is not None:
            try:
                result = self.on_lost(self)
                if inspect.isawaitable(result):
                    spawn(result)
            except Exception:
                logger.exception("on_lost callback of %s raised", self._spec.title())

    def _after_fork_in_child(self, parent: int) -> None:
        super()._after_fork_in_child(parent)
        self._gate = _Waiters()
        self._renewing = False
        self._renewed = _Waiters()
        self._watchdog = None
        self._cleanup_jobs, self._cleaning = [], False


async def _watch(ref: weakref.ref[AsyncLock], hold: p.Hold) -> None:
    """The watchdog task (see ``watching``); release cancels it."""
    stepper = p.Stepper(watching(ref, hold))
    while (step := stepper.next()) is not None:
        request, lock = step
        if lock is None:
            await asyncio.sleep(request.seconds)
            stepper.reply((False, time.monotonic()))
        else:
            stepper.reply(await lock._perform(request, _Subscription()))


class AsyncRedisLock(SingleMaster, AsyncLock):
    """:class:`RedisLock` for ``redis.asyncio`` clients: the same keys, scripts, settings and
    behaviour. Methods are coroutines (``await lock.acquire()``, ``async with lock:``); the
    watchdog is an asyncio task; ``on_lost`` may be a plain or a coroutine function."""

    _kind = "AsyncRedisLock"
    _twin = "RedisLock"


class AsyncRedlock(MultiMaster, AsyncLock):
    """:class:`Redlock` for ``redis.asyncio`` clients (see it for the algorithm and what its
    fencing token means); the masters are called concurrently."""

    _kind = "AsyncRedlock"
    _twin = "Redlock"
