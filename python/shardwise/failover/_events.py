"""Node states and the events emitted when a node changes state."""

from __future__ import annotations

import asyncio
import enum
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

__all__ = ["EventStream", "NodeEvent", "NodeState"]


class NodeState(str, enum.Enum):
    """Health of a node: ``up`` → ``suspect`` → ``down`` → ``recovering`` → ``up``."""

    UP = "up"
    SUSPECT = "suspect"
    DOWN = "down"
    RECOVERING = "recovering"

    @property
    def serving(self) -> bool:
        """True when traffic should go to the node (``up`` or ``suspect``)."""
        return self in (NodeState.UP, NodeState.SUSPECT)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class NodeEvent:
    """``node`` went from ``old`` to ``new`` at ``at`` (monitor clock, seconds) because of ``reason``."""

    node: str
    old: NodeState
    new: NodeState
    at: float
    reason: str


_CLOSED = object()


class EventStream:
    """Events as a (blocking) iterator and an async iterator; ends when closed.

    Obtained from :meth:`Monitor.events` / :meth:`AsyncMonitor.events`. ``maxsize`` bounds the
    backlog: when full the oldest event is dropped and :attr:`dropped` counts it.
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._closed = False
        self.dropped = 0
        self._on_close: list[object] = []

    def put(self, event: NodeEvent) -> None:
        with self._lock:
            if self._closed:
                return
            while self._queue.qsize() >= self._maxsize:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    break
            self._queue.put(event)

    def close(self) -> None:
        """End the stream: iteration stops after the events already queued."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_CLOSED)

    @property
    def closed(self) -> bool:
        return self._closed

    def get(self, timeout: float | None = None) -> NodeEvent | None:
        """The next event, or None on timeout or when the stream is closed and drained."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self._queue.put(_CLOSED)  # stay closed for other readers
            return None
        assert isinstance(item, NodeEvent)
        return item

    def __iter__(self) -> Iterator[NodeEvent]:
        while True:
            item = self._queue.get()
            if item is _CLOSED:
                self._queue.put(_CLOSED)
                return
            assert isinstance(item, NodeEvent)
            yield item

    def __aiter__(self) -> AsyncIterator[NodeEvent]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[NodeEvent]:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                await asyncio.sleep(0.005)
                continue
            if item is _CLOSED:
                self._queue.put(_CLOSED)
                return
            assert isinstance(item, NodeEvent)
            yield item

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
