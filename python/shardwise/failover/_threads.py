"""Threads for calls that may never return (user checks). Never a bounded pool: a hung call would
hold a worker for good and, once all are held, every other call would wait. Instead each call
runs at once, on an idle thread or a new one; threads are daemons, never joined at exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["DaemonWorkers", "in_daemon_thread", "start_daemon"]

log = logging.getLogger("shardwise.failover")


def start_daemon(target: Callable[[], object], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


class _Slot:
    def __init__(self, job: Callable[[], object]) -> None:
        self.job: Callable[[], object] | None = job
        self.ready = threading.Lock()  # held while the slot has no job: released to hand it one
        self.ready.acquire()
        self.thread: threading.Thread | None = None


class DaemonWorkers:
    """Runs each job at once: on an idle thread if there is one, else on a new daemon thread.
    Jobs never wait for one another, so a job that hangs holds its own thread only. Idle threads
    end after ``idle`` seconds; after :meth:`close`, as soon as they are idle."""

    def __init__(self, name: str, idle: float = 5.0) -> None:
        self.name = name
        self.idle = idle
        self._lock = threading.Lock()
        self._idle: list[_Slot] = []
        self._started = 0
        self._closed = False

    def run(self, job: Callable[[], object]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name}: closed")
            if self._idle:
                slot = self._idle.pop()
                slot.job = job
                slot.ready.release()
                return
            self._started += 1
            number = self._started
        slot = _Slot(job)
        slot.thread = start_daemon(lambda: self._serve(slot), f"{self.name}-{number}")

    def _serve(self, slot: _Slot) -> None:
        while True:
            job, slot.job = slot.job, None
            if job is None:  # closed
                return
            try:
                job()
            except BaseException:  # a job's own failure: keep the thread usable
                log.exception("%s: job failed", self.name)
            with self._lock:
                if self._closed:
                    return
                self._idle.append(slot)
            if not slot.ready.acquire(timeout=self.idle):
                with self._lock:
                    if slot in self._idle:  # still idle: end
                        self._idle.remove(slot)
                        return
                slot.ready.acquire()  # handed a job as the wait ended: released, or about to be

    def close(self, timeout: float = 0.0) -> None:
        """End the idle threads (waiting at most ``timeout`` seconds for them); busy ones end when
        their job returns, or never (hung), as daemons. Jobs may not be run after this."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for slot in idle:
            slot.job = None
            slot.ready.release()
        for slot in idle:
            if slot.thread is not None:
                slot.thread.join(timeout)


def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], setter: str, value: object) -> None:
    def apply() -> None:
        if not future.done():  # the awaiting side may have given up (timeout, cancellation)
            getattr(future, setter)(value)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for this any more
        loop.call_soon_threadsafe(apply)


async def in_daemon_thread(fn: Callable[[], T], name: str) -> T:
    """Await ``fn()`` run in a new daemon thread (not the loop's default executor)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            value = fn()
        except BaseException as error:  # handed to the awaiting side
            _settle(loop, future, "set_exception", error)
        else:
            _settle(loop, future, "set_result", value)

    start_daemon(run, name)
    return await future
