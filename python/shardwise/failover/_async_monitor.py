"""The asyncio monitor: one task per node; async checks run as tasks, blocking ones in a daemon
thread of their own (never the loop's default executor, which hung checks would fill)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import Any

from shardwise.failover._checks import CheckResult
from shardwise.failover._events import NodeEvent
from shardwise.failover._registry import Listener, MonitorBase, MonitoredNode
from shardwise.failover._threads import DaemonWorkers

__all__ = ["AsyncMonitor"]

log = logging.getLogger("shardwise.failover")


class AsyncMonitor(MonitorBase):
    """Like :class:`Monitor`, on the running event loop.

    >>> async with AsyncMonitor(interval=1.0) as monitor:       # doctest: +SKIP
    ...     monitor.add_node("web1", HttpCheck("http://10.0.0.5/health"))
    ...     async for event in monitor.events():
    ...         print(event)

    Checks with a native async form (TCP, φ, async callables) run as tasks; the others (HTTP,
    Redis, sync callables) run in a daemon thread per check, at most one per node, so a hung check
    costs its own node only. Listeners may be plain functions or coroutine functions.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._checking: set[asyncio.Task[None]] = set()
        self._pending: set[asyncio.Future[Any]] = set()
        self._workers = DaemonWorkers("shardwise-async-check")  # a fresh set per start()
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> AsyncMonitor:
        """Start one checking task per node on the running loop; returns self."""
        if self._running:
            raise RuntimeError("monitor already started")
        self._loop = asyncio.get_running_loop()
        self._workers = DaemonWorkers("shardwise-async-check")
        self._running = True
        self._sync_tasks()
        return self

    async def stop(self, timeout: float = 10.0) -> None:
        """Cancel the checking tasks; wait at most ``timeout`` seconds for them and for async
        listeners; end event streams. Checks running in threads are abandoned."""
        if not self._running:
            return
        self._running = False
        self._pause_rounds()  # checks that return from now on (or are cancelled) are discarded
        tasks = [*self._tasks.values(), *self._checking]
        for task in tasks:
            task.cancel()
        waited = tasks + list(self._pending)
        if waited:
            await asyncio.wait(waited, timeout=timeout)
        self._tasks.clear()
        self._wakeups.clear()
        self._pending.clear()
        self._workers.close()
        self._deliver(wait=False)
        self._close_streams()

    async def __aenter__(self) -> AsyncMonitor:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _wake(self) -> None:
        loop = self._loop
        if self._running and loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self._sync_tasks()
            else:
                loop.call_soon_threadsafe(self._sync_tasks)

    def _sync_tasks(self) -> None:
        if not self._running:
            return
        for name in self.nodes:
            task = self._tasks.get(name)
            if task is None or task.done():
                self._tasks[name] = asyncio.ensure_future(self._node_loop(name))

    async def _node_loop(self, name: str) -> None:
        wakeup = self._wakeups[name] = asyncio.Event()
        try:
            while self._running:
                wakeup.clear()
                with self._lock:
                    node = self._nodes.get(name)
                    if node is None:
                        break
                    poll = node.rounds.poll(self.clock())
                    if poll.event is not None:
                        self._outbox.append(poll.event)
                self._deliver(wait=False)
                if poll.start is not None:
                    self._launch(node, poll.start)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), max(0.0, poll.wake_at - self.clock()))
        finally:
            if self._wakeups.get(name) is wakeup:
                del self._wakeups[name]
            self._tasks.pop(name, None)

    def _launch(self, node: MonitoredNode, run_id: int) -> None:
        """Start check ``run_id`` of ``node``; its result wakes the node's task."""
        loop = asyncio.get_running_loop()

        def finished() -> None:
            self._deliver(wait=False)
            wakeup = self._wakeups.get(node.name)
            if wakeup is not None:
                wakeup.set()

        if node.check.runs_in_thread:

            def run() -> None:
                self._execute(node, run_id)
                with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to wake
                    loop.call_soon_threadsafe(finished)

            try:
                self._workers.run(run)
            except RuntimeError:  # closed by stop()
                self._abandon(node.name, run_id)
            return

        async def run_async() -> None:
            result = CheckResult(False, "cancelled", 0.0)
            try:
                result = await node.check.run_async(node.config.timeout)
            finally:  # also when cancelled: the node's check is no longer running
                self._finish(node.name, run_id, result)
                finished()

        task = asyncio.ensure_future(run_async())
        self._checking.add(task)
        task.add_done_callback(self._checking.discard)

    def _call_listener(self, listener: Listener, event: NodeEvent) -> None:
        outcome = listener(event)
        if inspect.isawaitable(outcome):
            future = asyncio.ensure_future(outcome)
            self._pending.add(future)
            future.add_done_callback(self._listener_done)

    def _listener_done(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("async listener failed", exc_info=future.exception())
