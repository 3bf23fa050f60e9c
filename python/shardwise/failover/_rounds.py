"""When a node's check runs and which results count: a pure state machine (the clock is passed in),
shared by the threaded and the asyncio monitors, which only start checks and report what they return.

A *round* opens when the node is due. It starts one check and closes with that check's result, or
with a timeout failure at its deadline (the timeout plus a small grace, so that checks which bound
themselves report their own reason). At most one check per node runs at a time: a round that opens
while the previous check is still running waits for it, and fails at its deadline if it is still
running. A result that comes back after its round closed is discarded: its timeout already counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from shardwise.failover._checks import CheckResult
from shardwise.failover._events import NodeEvent
from shardwise.failover._state import HealthTracker

__all__ = ["CheckRounds", "NodeConfig", "Poll"]


@dataclass
class NodeConfig:
    """Check settings of one node (seconds, and HAProxy's rise/fall counts)."""

    interval: float
    fast_interval: float
    timeout: float
    rise: int
    fall: int


@dataclass(frozen=True)
class Poll:
    """What :meth:`CheckRounds.poll` asks for: start check ``start`` (a run id) now, deliver
    ``event``, and poll again at ``wake_at`` at the latest."""

    start: int | None
    event: NodeEvent | None
    wake_at: float


def grace(timeout: float) -> float:
    """Slack after a check's timeout before the monitor counts it as timed out itself."""
    return max(0.05, timeout * 0.25)


class CheckRounds:
    """The check schedule of one node, feeding its :class:`HealthTracker`."""

    def __init__(self, tracker: HealthTracker, config: NodeConfig, now: float) -> None:
        self.tracker = tracker
        self.config = config
        self.next_due = now
        self.checks = 0  # outcomes counted (results and timeouts)
        self.last_result: CheckResult | None = None
        self.run_id = 0  # the last check started
        self.running = False  # that check has not returned yet
        self.run_started = now
        self.opened: float | None = None  # start of the open round; None between rounds
        self.round_run = 0  # the check serving the open round; 0 while it waits for the previous one

    @property
    def deadline(self) -> float:
        """When the open round fails if no result came back."""
        assert self.opened is not None
        return self.opened + self.config.timeout + grace(self.config.timeout)

    def poll(self, now: float) -> Poll:
        """Advance to ``now``: count an overdue round as failed, open a due one, start its check."""
        event = None
        if self.opened is not None and now >= self.deadline:
            timeout = self.config.timeout
            if self.round_run:
                reason = f"timed out after {timeout:g} s"
            else:
                running = now - self.run_started
                reason = f"timed out: the previous check is still running after {running:.1f} s"
            event = self._count(CheckResult(False, reason, now - self.opened), now)
        if self.opened is None and now >= self.next_due:
            self.opened, self.round_run = now, 0
        start = self._start(now) if self.opened is not None else None
        return Poll(start, event, self.deadline if self.opened is not None else self.next_due)

    def start_now(self, now: float) -> int | None:
        """Open a round at once (manual check); the run id to start, or None if a check still runs."""
        if self.opened is None:
            self.opened, self.round_run = now, 0
        return self._start(now)

    def _start(self, now: float) -> int | None:
        if self.running or self.round_run:
            return None
        self.run_id += 1
        self.running = True
        self.run_started = now
        self.round_run = self.run_id
        return self.run_id

    def finished(self, run_id: int, result: CheckResult, now: float) -> tuple[bool, NodeEvent | None]:
        """Check ``run_id`` returned ``result``: (whether it counted, the event it caused)."""
        if run_id == self.run_id:
            self.running = False
        if self.opened is None or run_id != self.round_run:
            return False, None  # late: its round already failed with a timeout
        return True, self._count(result, now)

    def abandon(self, run_id: int) -> None:
        """Check ``run_id`` could not be started after all: nothing runs, its round is dropped."""
        if run_id == self.run_id:
            self.running = False
        if run_id == self.round_run:
            self.opened, self.round_run = None, 0

    def pause(self) -> None:
        """The monitor stops: close the open round uncounted (a check still running is discarded
        when it returns, and still blocks the node's next check until then)."""
        self.opened, self.round_run = None, 0

    def _count(self, result: CheckResult, now: float) -> NodeEvent | None:
        assert self.opened is not None
        self.checks += 1
        self.last_result = result
        event = self.tracker.observe(result.healthy, now, result.reason)
        interval = self.config.fast_interval if self.tracker.changing else self.config.interval
        self.next_due = self.opened + interval
        self.opened, self.round_run = None, 0
        return event
