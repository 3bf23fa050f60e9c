"""What the threaded and the asyncio monitors share: nodes, their state machines, and dispatch."""

from __future__ import annotations

import logging
import math
import numbers
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shardwise.errors import ConfigurationError, UnknownNodeError
from shardwise.failover._attach import Attachment, attachment_for
from shardwise.failover._checks import Check, CheckResult
from shardwise.failover._events import EventStream, NodeEvent, NodeState
from shardwise.failover._rounds import CheckRounds, NodeConfig
from shardwise.failover._state import HealthTracker, check_count

log = logging.getLogger("shardwise.failover")

Listener = Callable[[NodeEvent], Any]


def _seconds(name: str, value: object) -> float:
    """A duration setting: a real number (not a bool or a string), finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return seconds


@dataclass
class MonitoredNode:
    name: str
    check: Check
    config: NodeConfig
    rounds: CheckRounds
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tracker(self) -> HealthTracker:
        return self.rounds.tracker

    @property
    def checks(self) -> int:
        """Outcomes counted so far (results and timeouts)."""
        return self.rounds.checks

    @property
    def last_result(self) -> CheckResult | None:
        return self.rounds.last_result


class MonitorBase:
    """Node registry, state machines, attachments, listeners and event streams."""

    def __init__(
        self,
        *,
        interval: float = 2.0,
        timeout: float = 1.0,
        rise: int = 2,
        fall: int = 3,
        fast_interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.defaults = self._config(interval, timeout, rise, fall, fast_interval)
        self.clock = clock
        self._nodes: dict[str, MonitoredNode] = {}
        self._lock = threading.Lock()  # node states and the outbox; never held while calling out
        self._dispatch_lock = threading.RLock()  # held while delivering events, in outbox order
        self._outbox: deque[NodeEvent] = deque()
        self._attachments: list[Attachment] = []
        self._listeners: list[Listener] = []
        self._streams: list[EventStream] = []

    @staticmethod
    def _config(
        interval: float, timeout: float, rise: int, fall: int, fast_interval: float | None
    ) -> NodeConfig:
        interval = _seconds("interval", interval)
        fast = interval / 2 if fast_interval is None else _seconds("fast_interval", fast_interval)
        return NodeConfig(
            interval, fast, _seconds("timeout", timeout), check_count("rise", rise), check_count("fall", fall)
        )

    # --- nodes -----------------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        check: Check,
        *,
        interval: float | None = None,
        timeout: float | None = None,
        rise: int | None = None,
        fall: int | None = None,
        fast_interval: float | None = None,
        initial: NodeState | str = NodeState.UP,
    ) -> None:
        """Monitor ``name`` with ``check``; unset settings come from the monitor's defaults.

        ``interval``: seconds between checks; ``fast_interval``: between checks while the node is
        ``suspect`` or ``recovering`` (default interval/2); ``timeout``: bound of one check;
        ``rise``/``fall``: consecutive successes/failures to come up/go down (HAProxy's meaning).
        """
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"node name must be a non-empty str, got {name!r}")
        if not isinstance(check, Check):
            raise TypeError(
                f"check must be a shardwise Check (TcpCheck, HttpCheck, ...), got {type(check).__name__}"
            )
        d = self.defaults
        config = self._config(
            d.interval if interval is None else interval,
            d.timeout if timeout is None else timeout,
            d.rise if rise is None else rise,
            d.fall if fall is None else fall,
            fast_interval if fast_interval is not None or interval is not None else d.fast_interval,
        )
        tracker = HealthTracker(name, rise=config.rise, fall=config.fall, initial=initial)
        with self._lock:
            if name in self._nodes:
                raise ConfigurationError(f"node {name!r} is already monitored")
            now = self.clock()
            tracker.since = now
            self._nodes[name] = MonitoredNode(name, check, config, CheckRounds(tracker, config, now))
        self._wake()

    def remove_node(self, name: str) -> None:
        """Stop monitoring ``name`` (a check in flight is ignored when it returns)."""
        with self._lock:
            if self._nodes.pop(name, None) is None:
                raise UnknownNodeError(f"node {name!r} is not monitored")

    @property
    def nodes(self) -> list[str]:
        """Names of the monitored nodes."""
        with self._lock:
            return list(self._nodes)

    def state(self, name: str) -> NodeState:
        """Current state of ``name``."""
        with self._lock:
            node = self._nodes.get(name)
            if node is None:
                raise UnknownNodeError(f"node {name!r} is not monitored")
            return node.tracker.state

    def reason(self, name: str) -> str:
        """Why ``name`` is in its current state."""
        with self._lock:
            node = self._nodes.get(name)
            if node is None:
                raise UnknownNodeError(f"node {name!r} is not monitored")
            return node.tracker.reason

    def states(self) -> dict[str, NodeState]:
        """State of every node."""
        with self._lock:
            return {name: node.tracker.state for name, node in self._nodes.items()}

    def healthy(self) -> list[str]:
        """Nodes that should receive traffic (``up`` or ``suspect``)."""
        return [name for name, state in self.states().items() if state.serving]

    # --- outputs ---------------------------------------------------------------------------

    def attach(self, target: Any) -> Any:
        """Drive ``target`` from the node states; returns ``target``.

        Balancers get ``mark_down(name)``/``mark_up(name)``; placements ``remove_node(name)`` and
        ``add_node(name, weight)`` with the weight they had (or mark_down/mark_up when present);
        objects with ``handle_node_event(event)`` (e.g. :class:`FailoverGroup`) get every event.
        Nodes already down are applied at once.
        """
        attachment = attachment_for(target)
        with self._dispatch_lock:
            attachment.sync(self.states())
            self._attachments.append(attachment)
        return target

    def detach(self, target: Any) -> None:
        """Stop driving ``target``."""
        with self._dispatch_lock:
            self._attachments = [a for a in self._attachments if a.target is not target]

    def add_listener(self, fn: Listener) -> Listener:
        """Call ``fn(event)`` on every state change (usable as a decorator); returns ``fn``."""
        if not callable(fn):
            raise TypeError("listener must be callable")
        with self._dispatch_lock:
            self._listeners.append(fn)
        return fn

    def remove_listener(self, fn: Listener) -> None:
        with self._dispatch_lock:
            self._listeners = [f for f in self._listeners if f is not fn]

    def events(self, maxsize: int = 10_000) -> EventStream:
        """A new stream of the events from now on (iterable and async-iterable); ends on stop."""
        stream = EventStream(maxsize)
        with self._dispatch_lock:
            self._streams.append(stream)
        return stream

    def _deliver(self, *, wait: bool = True) -> None:
        """Deliver the queued events, in order. With ``wait=False``, return at once if another
        thread is delivering (it delivers ours too): a slow listener then delays only delivery,
        never the counting of results and timeouts."""
        while True:
            if not self._dispatch_lock.acquire(blocking=wait):
                return
            try:
                while True:
                    with self._lock:
                        if not self._outbox:
                            break
                        event = self._outbox.popleft()
                    self._dispatch(event)
            finally:
                self._dispatch_lock.release()
            with self._lock:  # queued after our last look but before we released: deliver it too
                if not self._outbox:
                    return

    def _dispatch(self, event: NodeEvent) -> None:
        """Deliver one event: attachments first (traffic), then listeners, then streams."""
        log.info("node %s: %s -> %s (%s)", event.node, event.old, event.new, event.reason)
        for attachment in list(self._attachments):
            try:
                attachment.apply(event)
            except Exception:
                log.exception("attached %r failed on %r", attachment.target, event)
        for listener in list(self._listeners):
            try:
                self._call_listener(listener, event)
            except Exception:
                log.exception("listener %r failed on %r", listener, event)
        for stream in list(self._streams):
            stream.put(event)

    def _call_listener(self, listener: Listener, event: NodeEvent) -> None:
        listener(event)

    def _close_streams(self) -> None:
        with self._dispatch_lock:
            for stream in self._streams:
                stream.close()
            self._streams.clear()

    # --- feeding the state machines --------------------------------------------------------

    def _poll(self, now: float) -> tuple[list[tuple[MonitoredNode, int]], float]:
        """Advance every node's rounds to ``now`` (events go to the outbox): the checks to start
        and when to poll next."""
        starts: list[tuple[MonitoredNode, int]] = []
        wake_at = math.inf
        with self._lock:
            for node in self._nodes.values():
                poll = node.rounds.poll(now)
                if poll.event is not None:
                    self._outbox.append(poll.event)
                if poll.start is not None:
                    starts.append((node, poll.start))
                wake_at = min(wake_at, poll.wake_at)
        return starts, wake_at

    def _finish(self, name: str, run_id: int, result: CheckResult) -> float | None:
        """Record what check ``run_id`` of ``name`` returned (its event goes to the outbox);
        returns when the node wants its next poll (None if the node is gone)."""
        with self._lock:
            node = self._nodes.get(name)
            if node is None:
                return None
            _, event = node.rounds.finished(run_id, result, self.clock())
            if event is not None:
                self._outbox.append(event)
            return node.rounds.opened if node.rounds.opened is not None else node.rounds.next_due

    def _execute(self, node: MonitoredNode, run_id: int) -> float | None:
        """Run one check in the calling thread and record its result."""
        return self._finish(node.name, run_id, node.check.run(node.config.timeout))

    def _abandon(self, name: str, run_id: int) -> None:
        with self._lock:
            node = self._nodes.get(name)
            if node is not None:
                node.rounds.abandon(run_id)

    def _pause_rounds(self) -> None:
        with self._lock:
            for node in self._nodes.values():
                node.rounds.pause()

    def report(self, name: str, healthy: bool, reason: str = "reported") -> NodeEvent | None:
        """Feed an outcome observed elsewhere (passive check) into ``name``'s state machine."""
        with self._lock:
            node = self._nodes.get(name)
            if node is None:
                raise UnknownNodeError(f"node {name!r} is not monitored")
            event = node.tracker.observe(bool(healthy), self.clock(), reason)
            if event is not None:
                self._outbox.append(event)
        self._deliver()
        return event

    def set_state(self, name: str, state: NodeState | str, reason: str) -> NodeEvent | None:
        """Force ``name`` into ``state`` (e.g. from the shared view of a leader)."""
        with self._lock:
            node = self._nodes.get(name)
            if node is None:
                raise UnknownNodeError(f"node {name!r} is not monitored")
            event = node.tracker.force(state, self.clock(), reason)
            if event is not None:
                self._outbox.append(event)
        self._deliver()
        return event

    def _wake(self) -> None:
        """Wake the scheduler (overridden)."""
