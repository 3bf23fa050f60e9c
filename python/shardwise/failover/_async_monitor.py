"""The asyncio monitor: one task per node, checks awaited with their timeout."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from shardwise.failover._events import NodeEvent
from shardwise.failover._registry import Listener, MonitorBase

__all__ = ["AsyncMonitor"]

log = logging.getLogger("shardwise.failover")


class AsyncMonitor(MonitorBase):
    """Like :class:`Monitor`, on the running event loop.

    >>> async with AsyncMonitor(interval=1.0) as monitor:       # doctest: +SKIP
    ...     monitor.add_node("web1", HttpCheck("http://10.0.0.5/health"))
    ...     async for event in monitor.events():
    ...         print(event)

    Checks use ``run_async`` (TCP natively, HTTP/Redis/sync callables in worker threads, async
    callables awaited). Listeners may be plain functions or coroutine functions.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pending: set[asyncio.Future[Any]] = set()
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> AsyncMonitor:
        """Start one checking task per node on the running loop; returns self."""
        if self._running:
            raise RuntimeError("monitor already started")
        self._loop = asyncio.get_running_loop()
        self._running = True
        self._sync_tasks()
        return self

    async def stop(self, timeout: float = 10.0) -> None:
        """Cancel the checking tasks, wait for them and for async listeners; end event streams."""
        if not self._running:
            return
        self._running = False
        tasks = list(self._tasks.values()) + list(self._pending)
        for task in self._tasks.values():
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        self._tasks.clear()
        self._pending.clear()
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
        while self._running:
            with self._lock:
                node = self._nodes.get(name)
                if node is None:
                    break
                node.run_id += 1
                node.started = self.clock()
                node.in_flight = True
                run_id = node.run_id
            result = await node.check.run_async(node.config.timeout)
            with self._dispatch_lock:
                event = self._apply_result(name, run_id, result)
                if event is not None and self._running:
                    self._dispatch(event)
            with self._lock:
                node = self._nodes.get(name)
                if node is None:
                    break
                delay = max(0.0, node.next_due - self.clock())
            await asyncio.sleep(delay)
        self._tasks.pop(name, None)

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
