"""Turning state changes into calls on placements, balancers and other event sinks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from shardwise.failover._events import NodeEvent, NodeState

__all__ = ["attachment_for"]

log = logging.getLogger("shardwise.failover")


def _call(what: str, fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except (KeyError, LookupError, ValueError) as error:
        # Node unknown to this object, or already in the wanted state: nothing to do.
        log.debug("%s%r ignored: %s", what, args, error)


class _MarkDownUp:
    """Balancers (and placements that offer it): ``mark_down(name)`` / ``mark_up(name)``."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def down(self, node: str) -> None:
        _call("mark_down", self.target.mark_down, node)

    def up(self, node: str) -> None:
        _call("mark_up", self.target.mark_up, node)


class _RemoveAdd:
    """Placements: ``remove_node(name)``, then ``add_node(name, weight)`` with the weight it had."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.removed: dict[str, Any] = {}

    def _weight(self, node: str) -> Any:
        weights = getattr(self.target, "weights", None)
        if callable(weights):
            weights = weights()
        if isinstance(weights, Mapping):
            return weights.get(node)
        return None

    def down(self, node: str) -> None:
        if node in self.removed:
            return
        weight = self._weight(node)
        try:
            self.target.remove_node(node)
        except (KeyError, LookupError) as error:
            log.debug("remove_node(%r) ignored: %s", node, error)
            return
        self.removed[node] = weight

    def up(self, node: str) -> None:
        if node not in self.removed:
            return
        weight = self.removed.pop(node)
        if weight is None:
            _call("add_node", self.target.add_node, node)
        else:
            _call("add_node", self.target.add_node, node, weight)


class Attachment:
    """Applies node events to one attached object."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self._handler: Callable[[NodeEvent], None] | None = None
        self._actions: _MarkDownUp | _RemoveAdd | None = None
        if hasattr(target, "handle_node_event"):
            self._handler = target.handle_node_event
        elif hasattr(target, "mark_down") and hasattr(target, "mark_up"):
            self._actions = _MarkDownUp(target)
        elif hasattr(target, "remove_node") and hasattr(target, "add_node"):
            self._actions = _RemoveAdd(target)
        else:
            raise TypeError(
                f"cannot attach {type(target).__name__}: it needs handle_node_event(event), "
                "mark_down(name)/mark_up(name), or remove_node(name)/add_node(name, weight)"
            )

    def apply(self, event: NodeEvent) -> None:
        if self._handler is not None:
            self._handler(event)
            return
        assert self._actions is not None
        if event.new is NodeState.DOWN:
            self._actions.down(event.node)
        elif event.new is NodeState.UP:
            self._actions.up(event.node)

    def sync(self, states: Mapping[str, NodeState]) -> None:
        """Bring a freshly attached object in line with the current states."""
        if self._actions is None:
            sync_states = getattr(self.target, "sync_states", None)
            if sync_states is not None:
                sync_states(dict(states))
            return
        for node, state in states.items():
            if not state.serving:
                self._actions.down(node)


def attachment_for(target: Any) -> Attachment:
    return Attachment(target)
