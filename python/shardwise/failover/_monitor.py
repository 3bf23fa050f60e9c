"""The threaded monitor: one scheduler thread plus a small pool of check workers."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shardwise.failover._checks import CheckResult
from shardwise.failover._registry import MonitorBase, MonitoredNode

__all__ = ["Monitor"]

log = logging.getLogger("shardwise.failover")

_MAX_SLEEP = 0.5


class Monitor(MonitorBase):
    """Runs every node's check on its own schedule in background threads.

    >>> with Monitor(interval=1.0, timeout=0.5) as monitor:      # doctest: +SKIP
    ...     monitor.add_node("db1", TcpCheck("127.0.0.1", 5432))
    ...     monitor.attach(balancer)

    Checks run on a pool of ``max_workers`` threads; a check still running ``timeout`` (plus a
    small grace) after it started counts as failed. ``stop()`` joins every thread it started.
    """

    def __init__(self, *, max_workers: int = 8, name: str = "shardwise-monitor", **settings: Any) -> None:
        super().__init__(**settings)
        if int(max_workers) < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers!r}")
        self.max_workers = int(max_workers)
        self.name = name
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Monitor:
        """Start checking in the background; returns self."""
        if self._thread is not None:
            raise RuntimeError("monitor already started")
        self._stopping.clear()
        self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix=f"{self.name}-check")
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop checking, wait for the threads (bounded by ``timeout``) and end event streams."""
        thread, executor = self._thread, self._executor
        if thread is None:
            return
        self._stopping.set()
        self._wakeup.set()
        thread.join(timeout)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        self._thread = self._executor = None
        with self._lock:
            for node in self._nodes.values():
                node.in_flight = False
                node.run_id += 1
        self._close_streams()

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wake(self) -> None:
        self._wakeup.set()

    # --- scheduling ------------------------------------------------------------------------

    @staticmethod
    def _grace(node: MonitoredNode) -> float:
        return max(0.05, node.config.timeout * 0.25)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            now = self.clock()
            due: list[tuple[str, int, MonitoredNode]] = []
            overdue: list[tuple[str, int, float]] = []
            wake_at = now + _MAX_SLEEP
            with self._lock:
                for node in self._nodes.values():
                    if node.in_flight:
                        if node.deadline <= now:
                            overdue.append((node.name, node.run_id, node.config.timeout))
                        else:
                            wake_at = min(wake_at, node.deadline)
                    elif node.next_due <= now:
                        node.in_flight = True
                        node.run_id += 1
                        node.started = now
                        node.deadline = now + node.config.timeout + self._grace(node)
                        due.append((node.name, node.run_id, node))
                        wake_at = min(wake_at, node.deadline)
                    else:
                        wake_at = min(wake_at, node.next_due)
            for name, run_id, timeout in overdue:
                self._complete(name, run_id, CheckResult(False, f"timed out after {timeout:g} s", timeout))
            executor = self._executor
            for name, run_id, node in due:
                if executor is None or self._stopping.is_set():
                    break
                try:
                    executor.submit(self._run, name, run_id, node)
                except RuntimeError:  # shut down meanwhile
                    break
            if overdue:
                continue
            self._wakeup.wait(max(0.0, wake_at - self.clock()))

    def _run(self, name: str, run_id: int, node: MonitoredNode) -> None:
        if self._stopping.is_set():
            return
        result = node.check.run(node.config.timeout)
        self._complete(name, run_id, result)

    def _complete(self, name: str, run_id: int, result: CheckResult) -> None:
        with self._dispatch_lock:
            event = self._apply_result(name, run_id, result)
            if event is not None and not self._stopping.is_set():
                self._dispatch(event)
        self._wakeup.set()

    def check_now(self) -> None:
        """Run every node's check once, synchronously, in the calling thread (handy in scripts)."""
        with self._lock:
            nodes = list(self._nodes.values())
            for node in nodes:
                node.run_id += 1
                node.started = self.clock()
            runs = [(node.name, node.run_id, node) for node in nodes]
        for name, run_id, node in runs:
            self._complete(name, run_id, node.check.run(node.config.timeout))
