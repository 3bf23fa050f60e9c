"""Primary/backup groups: promote the most up-to-date healthy backup when the primary goes down."""

from __future__ import annotations

import logging
import math
import numbers
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

    ``token`` is the acting leader's fencing token (None without coordination). ``planned`` is
    True for a switch-over while the old primary is up (fail-back, manual): a promoter can then
    pause its writes until the new primary has caught up, so that nothing is lost.
    """

    group: str
    new_primary: str
    old_primary: str
    others: tuple[str, ...]
    reason: str
    token: int | None = None
    at: float = field(default_factory=time.monotonic)
    planned: bool = False


class Coordination(Protocol):
    """What a group needs from the multi-process coordinator (see :class:`Coordinator`)."""

    @property
    def is_leader(self) -> bool: ...
    @property
    def token(self) -> int | None: ...
    def claim_promotion(self, token: int, group: str, old: str, new: str) -> bool: ...
    def confirm_promotion(self, token: int, group: str, old: str, new: str) -> int: ...
    def abandon_promotion(self, token: int, group: str, new: str) -> None: ...
    def shared_primary(self, group: str) -> str | None: ...
    def shared_epoch(self, group: str) -> tuple[str | None, int]: ...
    def add_election_listener(self, fn: Callable[[bool], None]) -> None: ...
    def watch_primary(self, group: str, fn: Callable[[str, int], None]) -> None: ...


def rank_candidates(
    members: Sequence[str],
    primary: str,
    health: Mapping[str, NodeState],
    offsets: Mapping[str, int | None] | None = None,
) -> list[str]:
    """Who may replace ``primary``: the ``up`` members, most up-to-date first.

    With ``offsets`` (replication offsets; None = unreachable or without a complete copy, e.g.
    still loading), members without an offset are left out and the others are sorted by offset,
    highest first, ties in member order. Without offsets: member order.
    """
    up = [m for m in members if m != primary and health.get(m) is NodeState.UP]
    if offsets is None:
        return up
    known = [m for m in up if offsets.get(m) is not None]
    return sorted(known, key=lambda m: -(offsets[m] or 0))


def _failback_seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < math.inf:
        raise ConfigurationError(f"failback_after must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


class FailoverGroup(Generic[T]):
    """A primary and ordered backups; attach it to a monitor watching the same node names.

    When the primary goes ``down`` (or is already down when attached), the most up-to-date backup
    that is ``up`` is promoted by calling ``promote(Promotion)`` (e.g. a :class:`RedisPromoter`);
    if it raises, the next one is tried. The promote hook may offer:

    - ``offsets(nodes) -> {node: offset or None}``: replication offsets; backups are tried highest
      first, and those without one (unreachable, still loading) are left out. Without it, in order.
    - ``ready(node, primary) -> (bool, reason)``: whether ``node`` has caught up with ``primary``.
      ``failback="auto"`` promotes the original primary back once it has been up for
      ``failback_after`` seconds *and* is ready (checked again until it is); ``"manual"`` leaves
      that to :meth:`fail_back`.
    - ``rejoin(node, primary, token)``: called when a non-primary member comes back up.

    ``resources`` maps names to objects (clients...) so that :attr:`resource` is the primary's.
    With a ``coordinator`` only the elected leader acts, each action fenced by its token, and
    every process's group follows the primary the leader records.
    """

    failback_recheck = 0.25  # seconds between readiness checks of a due fail-back

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
        failback_after = _failback_seconds(failback_after)
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
        self._epoch = 0  # of the shared primary last applied (with a coordinator)
        self._health: dict[str, NodeState] = dict.fromkeys(members, NodeState.UP)
        self._lock = threading.RLock()
        self._failback_timer: threading.Timer | None = None
        self._closed = False
        if coordinator is not None:
            coordinator.add_election_listener(self._on_election)
            coordinator.watch_primary(self.name, self._on_shared_primary)

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
        """Take the monitor's current view of the members (called by ``monitor.attach``); a
        primary that is already down is failed over now (no event would come for it)."""
        with self._lock:
            for node, state in states.items():
                if node in self._health:
                    self._health[node] = state
            if self._health[self._primary] is NodeState.DOWN:
                self._fail_over(f"primary {self._primary} is down")

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
            self._schedule_failback(self.failback_after)

    def _on_election(self, leader: bool) -> None:
        """Leadership gained: start from the shared state, then act on what we see."""
        if not leader or self.coordinator is None:
            return
        with self._lock:
            try:
                shared, epoch = self.coordinator.shared_epoch(self.name)
            except Exception as error:
                log.warning("group %s: reading the shared primary failed: %s", self.name, error)
            else:
                self._apply_shared(shared, epoch)
            if self._health[self._primary] is NodeState.DOWN:
                self._fail_over(f"new leader found primary {self._primary} down")
            elif self.failback == "auto" and self._health[self.preferred] is NodeState.UP:
                self._schedule_failback(self.failback_after)

    def _on_shared_primary(self, primary: str, epoch: int) -> None:
        """The leader (maybe another process) recorded ``primary`` as the group's primary."""
        with self._lock:
            self._apply_shared(primary, epoch)

    def _apply_shared(self, primary: str | None, epoch: int) -> None:
        if primary is None or primary not in self._health or epoch <= self._epoch:
            return
        self._epoch = epoch
        if primary == self._primary:
            return
        others = tuple(m for m in self.members if m != primary)
        self.history.append(Promotion(self.name, primary, self._primary, others, "recorded by the leader"))
        log.info("group %s: primary is now %s (was %s), as recorded by the leader", self.name, primary,
                 self._primary)
        self._primary = primary
        if primary == self.preferred:
            self._cancel_failback()

    # --- actions ---------------------------------------------------------------------------

    def _may_act(self) -> bool:
        return self.coordinator is None or self.coordinator.is_leader

    def _token(self) -> int | None:
        return None if self.coordinator is None else self.coordinator.token

    def _candidates(self) -> list[str]:
        offsets_of = getattr(self.promote_hook, "offsets", None)
        offsets = None
        if offsets_of is not None:
            up = [m for m in self.members if m != self._primary and self._health[m] is NodeState.UP]
            try:
                offsets = offsets_of(up)
            except Exception:
                log.exception("group %s: reading replication offsets failed", self.name)
        return rank_candidates(self.members, self._primary, self._health, offsets)

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
        planned = self._health[old] is NodeState.UP
        promotion = Promotion(self.name, new, old, others, reason, token, planned=planned)
        coordinator = self.coordinator
        if coordinator is not None:
            if token is None:
                self.rejected.append((promotion, "no fencing token"))
                return False
            try:
                if not coordinator.claim_promotion(token, self.name, old, new):
                    shared, epoch = coordinator.shared_epoch(self.name)
                    self.rejected.append((promotion, f"already promoted: primary is {shared}"))
                    self._apply_shared(shared, epoch)
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
                if coordinator is not None and token is not None:
                    self._abandon(coordinator, token, new)
                return False
        if coordinator is not None and token is not None:
            try:
                self._epoch = max(self._epoch, coordinator.confirm_promotion(token, self.name, old, new))
            except FencingTokenError:
                raise
            except Exception as error:  # promoted, but not recorded: the next leader finds out
                log.warning("group %s: promoted %s but recording it failed: %s", self.name, new, error)
        self._primary = new
        self.history.append(promotion)
        self._cancel_failback()
        log.info("group %s: promoted %s (was %s): %s", self.name, new, old, reason)
        return True

    def _abandon(self, coordinator: Coordination, token: int, new: str) -> None:
        try:
            coordinator.abandon_promotion(token, self.name, new)
        except Exception as error:  # the claim stays; a newer token overrides it
            log.warning("group %s: withdrawing the claim on %s failed: %s", self.name, new, error)

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
        """Make the original primary the primary again (now: readiness is not waited for)."""
        return self.promote_now(self.preferred, "manual fail-back")

    def _schedule_failback(self, delay: float) -> None:
        self._cancel_failback()
        if self._closed or self._primary == self.preferred:
            return
        timer = threading.Timer(delay, self._failback_due)
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
            if self._failback_timer is None or threading.current_thread() is not self._failback_timer:
                return  # cancelled or replaced meanwhile
            self._failback_timer = None
            if self._closed or self._primary == self.preferred:
                return
            if self._health[self.preferred] is not NodeState.UP or not self._may_act():
                return
            ready, why = self._ready(self.preferred)
            if not ready:
                log.info("group %s: fail-back to %s waits: %s", self.name, self.preferred, why)
                self._schedule_failback(self.failback_recheck)
                return
            reason = f"fail-back after {self.failback_after:g} s healthy ({why})"
            if not self._promote(self.preferred, reason):
                self._schedule_failback(self.failback_recheck)

    def _ready(self, node: str) -> tuple[bool, str]:
        ready = getattr(self.promote_hook, "ready", None)
        if ready is None:
            return True, "no readiness check"
        try:
            outcome = ready(node, self._primary)
        except Exception as error:
            return False, f"readiness check failed: {error}"
        if isinstance(outcome, tuple):
            return bool(outcome[0]), str(outcome[1])
        return bool(outcome), "ready" if outcome else "not ready"

    def close(self) -> None:
        """Cancel a pending fail-back timer."""
        with self._lock:
            self._closed = True
            self._cancel_failback()

    def __repr__(self) -> str:
        return f"FailoverGroup({self.name!r}, primary={self.primary!r}, members={list(self.members)!r})"
