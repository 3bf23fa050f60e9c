"""The per-node health state machine, with HAProxy's rise/fall semantics.

A node that is up needs ``fall`` consecutive failed checks to go down (it is ``suspect`` in
between; one success puts it back ``up``). A node that is down needs ``rise`` consecutive
successful checks to come back (it is ``recovering`` in between; one failure puts it back ``down``).
"""

from __future__ import annotations

import operator

from shardwise.errors import ConfigurationError
from shardwise.failover._events import NodeEvent, NodeState

__all__ = ["HealthTracker", "check_count"]


def check_count(name: str, value: object) -> int:
    """A rise/fall setting: an integer >= 1 (2.0 or 1.7 are refused rather than truncated)."""
    try:
        count = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        count = None
    if count is None or isinstance(value, bool):
        raise ConfigurationError(f"{name} must be an integer >= 1, got {value!r}")
    if count < 1:
        raise ConfigurationError(f"{name} must be >= 1, got {value!r}")
    return count


class HealthTracker:
    """State of one node, fed with check outcomes; returns the events they cause."""

    def __init__(
        self, node: str, *, rise: int = 2, fall: int = 3, initial: NodeState | str = NodeState.UP
    ) -> None:
        rise, fall = check_count("rise", rise), check_count("fall", fall)
        state = NodeState(initial)
        if state not in (NodeState.UP, NodeState.DOWN):
            raise ConfigurationError(f"initial state must be 'up' or 'down', got {initial!r}")
        self.node = node
        self.rise = rise
        self.fall = fall
        self.state: NodeState = state
        self.reason = "initial state"
        self.since = 0.0
        self.successes = 0
        self.failures = 0

    @property
    def changing(self) -> bool:
        """True while the node is between states (``suspect`` or ``recovering``)."""
        return self.state in (NodeState.SUSPECT, NodeState.RECOVERING)

    def _move(self, new: NodeState, at: float, reason: str) -> NodeEvent | None:
        if new is self.state:
            return None
        event = NodeEvent(self.node, self.state, new, at, reason)
        self.state, self.reason, self.since = new, reason, at
        return event

    def observe(self, healthy: bool, at: float, reason: str = "") -> NodeEvent | None:
        """Feed one check outcome at time ``at``; returns the state change it causes, if any."""
        if healthy:
            self.failures = 0
            self.successes += 1
            if self.state is NodeState.SUSPECT:
                return self._move(NodeState.UP, at, f"check passed again: {reason}".rstrip(": "))
            if self.state in (NodeState.DOWN, NodeState.RECOVERING):
                if self.successes >= self.rise:
                    why = f"{self.successes}/{self.rise} checks passed"
                    return self._move(NodeState.UP, at, f"{why}: {reason}" if reason else why)
                why = f"check passed ({self.successes}/{self.rise})"
                return self._move(NodeState.RECOVERING, at, f"{why}: {reason}" if reason else why)
            return None
        self.successes = 0
        self.failures += 1
        if self.state in (NodeState.UP, NodeState.SUSPECT):
            if self.failures >= self.fall:
                why = f"{self.failures}/{self.fall} checks failed"
                return self._move(NodeState.DOWN, at, f"{why}: {reason}" if reason else why)
            why = f"check failed ({self.failures}/{self.fall})"
            return self._move(NodeState.SUSPECT, at, f"{why}: {reason}" if reason else why)
        if self.state is NodeState.RECOVERING:
            return self._move(NodeState.DOWN, at, f"check failed while recovering: {reason}".rstrip(": "))
        return None

    def force(self, state: NodeState | str, at: float, reason: str) -> NodeEvent | None:
        """Set the state by hand (or from a shared view); counters restart."""
        self.successes = self.failures = 0
        return self._move(NodeState(state), at, reason)
