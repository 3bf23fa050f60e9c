"""Primary/backup groups: promote the first healthy backup when the primary goes down."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from shardwise.errors import ConfigurationError, FencingTokenError, UnknownNodeError
from shardwise.failover._events import NodeEvent, NodeState

__all__ = ["FailoverGroup", "Promotion"]

log = logging.getLogger("shardwise.failover")

T = TypeVar("T")


@dataclass(frozen=True)
class Promotion:
    """One change of primary: ``new_primary`` replaces ``old_primary``; ``others`` must follow it.

    ``token`` is the acting leader's fencing token (None without coordination).
    """

    group: str
    new_primary: str
    old_primary: str
    others: tuple[str, ...]
    reason: str
    token: int | None = None
    at: float = field(default_factory=time.monotonic)


class Coordination(Protocol):
    """What a group needs from the multi-process coordinator (see :class:`Coordinator`)."""

    @property
    def is_leader(self) -> bool: ...
    @property
    def token(self) -> int | None: ...
    def claim_promotion(self, token: int, group: str, old: str, new: str) -> bool: ...
    def shared_primary(self, group: str) -> str | None: ...
    def add_election_listener(self, fn: Callable[[bool], None]) -> None: ...


class FailoverGroup(Generic[T]):
    """A primary and ordered backups; attach it to a monitor watching the same node names.

    When the primary goes ``down``, the first backup that is ``up`` is promoted by calling
    ``promote(Promotion)`` (e.g. a :class:`RedisPromoter`); if it raises, the next one is tried.
    ``failback="auto"`` promotes the original primary back once it has been up for
    ``failback_after`` seconds; ``"manual"`` leaves that to :meth:`fail_back`. ``rejoin(node,
    primary, token)``, if the hook has it, is called when a non-primary member comes back up.
    ``resources`` maps names to objects (clients...) so that :attr:`resource` is the primary's.
    With a ``coordinator`` only the elected leader acts, each action fenced by its token.
    """

    def __init__(
        self,
        primary: str,
        backups: Sequence[str],
        *,
        promote: Callable[[Promotion], Any] | None = None,
        failback: Literal["auto", "manual"] = "manual",
        failback_after: float = 30.0,
        resources: Mapping[str, T] | None = None,
        coordinator: Coordination | None = None,
        name: str = "default",
    ) -> None:
        members = [primary, *backups]
        if not backups:
            raise ConfigurationError("a failover group needs at least one backup")
        if len(set(members)) != len(members):
            raise ConfigurationError(f"group members must be distinct, got {members!r}")
        if failback not in ("auto", "manual"):
            raise ConfigurationError(f"failback must be 'auto' or 'manual', got {failback!r}")
        if not failback_after >= 0:
            raise ConfigurationError(f"failback_after must be >= 0 seconds, got {failback_after!r}")
        if resources is not None and set(members) - set(resources):
            raise ConfigurationError(f"resources lack {sorted(set(members) - set(resources))}")
        self.name = name
        self.members = tuple(members)
        self.preferred = primary
        self.promote_hook = promote
        self.failback = failback
        self.failback_after = float(failback_after)
        self.resources = dict(resources) if resources is not None else None
        self.coordinator = coordinator
        self.history: list[Promotion] = []
        self.rejected: list[tuple[Promotion, str]] = []
        self._primary = primary
        self._health: dict[str, NodeState] = dict.fromkeys(members, NodeState.UP)
        self._lock = threading.RLock()
        self._failback_timer: threading.Timer | None = None
        self._closed = False
        if coordinator is not None:
            coordinator.add_election_listener(self._on_election)

    # --- views -----------------------------------------------------------------------------

    @property
    def primary(self) -> str:
        """Name of the current primary."""
        with self._lock:
            return self._primary

    @property
    def resource(self) -> T:
        """The resource (e.g. client) of the current primary."""
        if self.resources is None:
            raise ConfigurationError("this group was created without resources")
        return self.resources[self.primary]

    def health(self) -> dict[str, NodeState]:
        """Last known state of every member."""
        with self._lock:
            return dict(self._health)

    # --- events ----------------------------------------------------------------------------

    def handle_node_event(self, event: NodeEvent) -> None:
        """Monitor hook (``monitor.attach(group)``): track member health and act on it."""
        if event.node not in self._health:
            return
        with self._lock:
            self._health[event.node] = event.new
            if event.node == self._primary and event.new is NodeState.DOWN:
                self._fail_over(f"primary {event.node} down: {event.reason}")
            elif event.new is NodeState.UP:
                self._member_up(event.node)
            elif event.node == self.preferred:
                self._cancel_failback()

    def sync_states(self, states: Mapping[str, NodeState]) -> None:
        """Take the monitor's current view of the members (called by ``monitor.attach``)."""
        with self._lock:
            for node, state in states.items():
                if node in self._health:
                    self._health[node] = state

    def _member_up(self, node: str) -> None:
        if self._health[self._primary] is NodeState.DOWN:
            self._fail_over(f"{node} came up while primary {self._primary} is down")
            return
        if node == self._primary:
            return
        rejoin = getattr(self.promote_hook, "rejoin", None)
        if rejoin is not None and self._may_act():
            try:
                rejoin(node, self._primary, self._token())
            except Exception:
                log.exception("group %s: rejoin of %s failed", self.name, node)
        if node == self.preferred and self.failback == "auto":
            self._schedule_failback()

    def _on_election(self, leader: bool) -> None:
        """Leadership gained: start from the shared state, then act on what we see."""
        if not leader or self.coordinator is None:
            return
        with self._lock:
            shared = self.coordinator.shared_primary(self.name)
            if shared is not None and shared in self._health:
                self._primary = shared
            if self._health[self._primary] is NodeState.DOWN:
                self._fail_over(f"new leader found primary {self._primary} down")

    # --- actions ---------------------------------------------------------------------------

    def _may_act(self) -> bool:
        return self.coordinator is None or self.coordinator.is_leader

    def _token(self) -> int | None:
        return None if self.coordinator is None else self.coordinator.token

    def _candidates(self) -> list[str]:
        return [m for m in self.members if m != self._primary and self._health[m] is NodeState.UP]

    def _fail_over(self, reason: str) -> None:
        if not self._may_act():
            log.info("group %s: %s; not the leader, not acting", self.name, reason)
            return
        for candidate in self._candidates():
            if self._promote(candidate, reason):
                return
        log.warning("group %s: %s; no healthy backup to promote", self.name, reason)

    def _promote(self, new: str, reason: str, token: int | None = None) -> bool:
        """Promote ``new`` (fenced when coordinated); True on success."""
        old = self._primary
        token = self._token() if token is None else token
        others = tuple(m for m in self.members if m != new)
        promotion = Promotion(self.name, new, old, others, reason, token)
        if self.coordinator is not None:
            if token is None:
                self.rejected.append((promotion, "no fencing token"))
                return False
            try:
                if not self.coordinator.claim_promotion(token, self.name, old, new):
                    shared = self.coordinator.shared_primary(self.name)
                    self.rejected.append((promotion, f"already promoted: primary is {shared}"))
                    if shared in self._health:
                        self._primary = shared
                    return shared == new
            except FencingTokenError as error:
                self.rejected.append((promotion, str(error)))
                log.warning("group %s: promotion of %s rejected: %s", self.name, new, error)
                raise
        if self.promote_hook is not None:
            try:
                self.promote_hook(promotion)
            except Exception:
                log.exception("group %s: promoting %s failed", self.name, new)
                return False
        self._primary = new
        self.history.append(promotion)
        self._cancel_failback()
        log.warning("group %s: promoted %s (was %s): %s", self.name, new, old, reason)
        return True

    def promote_now(self, new: str, reason: str = "manual", *, token: int | None = None) -> Promotion:
        """Make ``new`` the primary now (manual failover/failback); returns the promotion."""
        if new not in self._health:
            raise UnknownNodeError(f"{new!r} is not a member of group {self.name!r}")
        with self._lock:
            if new == self._primary:
                raise ConfigurationError(f"{new!r} is already the primary")
            if not self._promote(new, reason, token):
                raise RuntimeError(f"promotion of {new!r} failed (see the log)")
            return self.history[-1]

    def fail_back(self) -> Promotion:
        """Make the original primary the primary again."""
        return self.promote_now(self.preferred, "manual fail-back")

    def _schedule_failback(self) -> None:
        self._cancel_failback()
        if self._closed or self._primary == self.preferred:
            return
        timer = threading.Timer(self.failback_after, self._failback_due)
        timer.daemon = True
        timer.name = f"shardwise-failback-{self.name}"
        self._failback_timer = timer
        timer.start()

    def _cancel_failback(self) -> None:
        timer, self._failback_timer = self._failback_timer, None
        if timer is not None:
            timer.cancel()

    def _failback_due(self) -> None:
        with self._lock:
            self._failback_timer = None
            if self._closed or self._primary == self.preferred:
                return
            if self._health[self.preferred] is NodeState.UP and self._may_act():
                self._promote(self.preferred, f"fail-back after {self.failback_after:g} s healthy")

    def close(self) -> None:
        """Cancel a pending fail-back timer."""
        with self._lock:
            self._closed = True
            self._cancel_failback()

    def __repr__(self) -> str:
        return f"FailoverGroup({self.name!r}, primary={self.primary!r}, members={list(self.members)!r})"
