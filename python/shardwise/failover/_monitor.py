"""The threaded monitor: one scheduler thread; checks run on daemon workers that never queue."""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from typing import Any

from shardwise.failover._registry import MonitorBase, MonitoredNode
from shardwise.failover._rounds import grace
from shardwise.failover._threads import DaemonWorkers, start_daemon

__all__ = ["Monitor"]

log = logging.getLogger("shardwise.failover")

_MAX_SLEEP = 0.5


class Monitor(MonitorBase):
    """Runs every node's check on its own schedule in background threads.

    >>> with Monitor(interval=1.0, timeout=0.5) as monitor:      # doctest: +SKIP
    ...     monitor.add_node("db1", TcpCheck("127.0.0.1", 5432))
    ...     monitor.attach(balancer)

    Each check runs at once on an idle daemon thread or a new one (never queued behind another),
    at most one per node: a check that hangs costs its node only (it counts as timed out, and so
    does every round until it returns) and never delays another node. A check still running
    ``timeout`` (plus a small grace) after it started counts as failed; what it returns later is
    discarded. ``stop(timeout)`` returns within ``timeout`` and abandons checks still running.
    """

    def __init__(
        self, *, name: str = "shardwise-monitor", max_workers: int | None = None, **settings: Any
    ) -> None:
        super().__init__(**settings)
        if max_workers is not None:
            warnings.warn(
                "Monitor(max_workers=...) is ignored: checks no longer share a bounded pool",
                DeprecationWarning,
                stacklevel=2,
            )
        self.name = name
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the scheduler means to look again
        self._workers = DaemonWorkers(f"{name}-check")  # a fresh set per start()
        self._checking: dict[threading.Lock, float] = {}  # running checks: done -> when overdue

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Monitor:
        """Start checking in the background; returns self."""
        if self._thread is not None:
            raise RuntimeError("monitor already started")
        self._stopping.clear()
        self._workers = DaemonWorkers(f"{self.name}-check")
        self._thread = start_daemon(self._loop, self.name)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop checking and end event streams. Waits at most ``timeout`` seconds in all, and for
        a running check no longer than its own timeout: checks still running then (hung) are
        abandoned in their daemon threads, and what they return is discarded."""
        thread = self._thread
        if thread is None:
            return
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wakeup.set()
        thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            checking = list(self._checking.items())
        for done, overdue in checking:
            if done.acquire(timeout=max(0.0, min(deadline, overdue) - time.monotonic())):
                done.release()
        self._workers.close(max(0.0, deadline - time.monotonic()))
        self._thread = None
        self._pause_rounds()
        self._deliver(wait=False)
        self._close_streams()

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wake(self) -> None:
        self._wakeup.set()

    # --- scheduling ------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            starts, wake_at = self._poll(self.clock())
            with self._lock:
                self._wake_at = wake_at
            for node, run_id in starts:
                self._start_check(node, run_id)
            self._deliver(wait=False)
            self._wakeup.wait(min(_MAX_SLEEP, max(0.0, wake_at - self.clock())))

    def _start_check(self, node: MonitoredNode, run_id: int) -> None:
        done = threading.Lock()  # held while the check runs (cheaper than an Event)
        done.acquire()

        def run() -> None:
            try:
                wants = self._execute(node, run_id)  # after stop(): discarded, but no longer running
                with self._lock:
                    early = wants is not None and wants < self._wake_at
                    if wants is not None and early:
                        self._wake_at = wants  # one wake-up is enough
                if early:
                    self._wakeup.set()
                if not self._stopping.is_set():
                    self._deliver(wait=False)
            finally:
                with self._lock:
                    self._checking.pop(done, None)
                done.release()

        with self._lock:
            self._checking[done] = time.monotonic() + node.config.timeout + grace(node.config.timeout)
        try:
            self._workers.run(run)
        except RuntimeError:  # stop() closed the workers meanwhile
            self._abandon(node.name, run_id)
            with self._lock:
                self._checking.pop(done, None)
            done.release()

    def check_now(self) -> None:
        """Run every node's check once, synchronously, in the calling thread (handy in scripts);
        a node whose previous check is still running is skipped."""
        with self._lock:
            now = self.clock()
            runs = [(node, node.rounds.start_now(now)) for node in self._nodes.values()]
        for node, run_id in runs:
            if run_id is not None:
                self._execute(node, run_id)
        self._deliver()
