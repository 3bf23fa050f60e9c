"""Selection: which backend serves the next request (load balancers with built-in health).

Balancers (picking runs in Rust; pure-Python twins with the same picks are in
:mod:`shardwise.pure.selection`), in the order of the registry ``shardwise._core.BALANCERS``:

- :class:`RoundRobin` — smooth weighted round robin, pick for pick as nginx
  (weights a=5, b=1, c=1 give a a b a c a a);
- :class:`WeightedRandom` — Vose alias method, O(1) per pick, ``seed=``, ``sample(n)``;
- :class:`LeastConnections` — ``acquire()`` returns a :class:`Lease` (context manager);
  the lowest ``active / weight`` wins, ties go to the larger weight, then round robin;
- :class:`PowerOfTwo` — two random candidates, the cheaper wins: cost ``active / weight``, or
  with ``peak_ewma=True`` ``decayed_rtt × (active + 1) / weight``;
- :class:`LoadAware` — weights ``capacity × max(1 − load, min_share)`` from ``report_load``;

and :class:`Sticky` — by key through a placement, skipping unavailable nodes (defined here).

Every balancer takes backends as names (weight 1) or a mapping name → weight (finite, > 0),
and offers ``pick()``, ``nodes``, ``weights``, ``add_node``, ``remove_node``, ``set_weight``,
``to_state()``/``from_state()``, pickling (a versioned plain-data state, the same dict as the
twin's) and thread safety. Health: ``mark_down``, ``mark_up``, ``drain`` and ``state`` act at
once; ``set_weight_factor`` scales a node's weight; ``backups=`` are used only when no primary
is up; ``panic_threshold=P`` (percent) ignores health when fewer than P% of the primaries are up
(as Envoy); ``slow_start=W`` seconds ramps a node coming back up (or added) from
``slow_start_floor`` of its weight to all of it, as ``max(floor, elapsed / W)``; ``clock=`` injects
the time source. When nothing can be picked, :class:`~shardwise.errors.NoAvailableBackendError`.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

from shardwise._core import BALANCERS, Lease
from shardwise.errors import ConfigurationError, NoAvailableBackendError, NoNodesError, UnknownNodeError

if TYPE_CHECKING:  # what type checkers see of the registry (a test keeps it equal to BALANCERS)
    from shardwise._core import LeastConnections as LeastConnections
    from shardwise._core import LoadAware as LoadAware
    from shardwise._core import PowerOfTwo as PowerOfTwo
    from shardwise._core import RoundRobin as RoundRobin
    from shardwise._core import WeightedRandom as WeightedRandom

#: Class name -> balancer class, in the registry's order.
CLASSES: dict[str, type[Any]] = {cls.__name__: cls for cls in BALANCERS}
globals().update(CLASSES)

# from_state stays out of __all__: `from shardwise import *` keeps placement's from_state.
__all__ = ["Lease", "Sticky", *CLASSES]

STATE_VERSION = 1
UP, DOWN, DRAINING = "up", "down", "draining"


def from_state(state: dict[str, Any]) -> Any:
    """Rebuild a balancer (or a :class:`Sticky`) from ``to_state()`` output (pickling uses this)."""
    return restore(state, CLASSES)


def restore(state: dict[str, Any], classes: dict[str, type[Any]]) -> Any:
    """``from_state`` over ``classes`` (these, or the pure twins)."""
    if not isinstance(state, dict) or "class" not in state:
        raise TypeError("state must be a dict made by to_state()")
    cls = Sticky if state["class"] == "Sticky" else classes.get(state["class"])
    if cls is None:
        raise ConfigurationError(f"unknown balancer class {state['class']!r} in state")
    return cls.from_state(state)


def check_panic_threshold(value: object) -> float:
    """A ``panic_threshold`` setting: a percentage in [0, 100]."""
    from shardwise.pure.validate import number

    threshold = number("panic_threshold", value)
    if not (math.isfinite(threshold) and 0.0 <= threshold <= 100.0):
        raise ConfigurationError(f"panic_threshold must be a percentage in [0, 100], got {threshold!r}")
    return threshold


class Sticky:
    """Picks by key through a placement: the first available node of the key's preference list.

    ``placement`` is any object with ``nodes`` and ``get_nodes(key, n)`` (every
    :mod:`shardwise.placement` class). Health is kept here: ``mark_down``/``mark_up``/``drain``
    change it at once; a key whose owner is unavailable goes to the next node of its preference
    list, and comes back when the owner is up. With ``panic_threshold`` (percent) set and fewer
    nodes up than that, health is ignored and keys go to their owners. Pure Python: the same
    class serves :mod:`shardwise.pure.selection`.
    """

    def __init__(self, placement: Any, *, panic_threshold: float = 0.0) -> None:
        if not hasattr(placement, "get_nodes") or not hasattr(placement, "nodes"):
            raise TypeError("placement must have `nodes` and `get_nodes(key, n)`")
        self.placement = placement
        self._panic_threshold = check_panic_threshold(panic_threshold)
        self._states: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def nodes(self) -> list[str]:
        """The placement's nodes."""
        return list(self.placement.nodes)

    @property
    def weights(self) -> dict[str, float]:
        """The placement's weights (1.0 each if it has none)."""
        weights = getattr(self.placement, "weights", None)
        return dict(weights) if weights is not None else dict.fromkeys(self.nodes, 1.0)

    def pick(self, key: Any) -> str:
        """The node serving ``key``: its owner, or the next available one on its preference list.

        The placement may change meanwhile (``remove_node`` in another thread): the preference
        list is asked again for the nodes it has then."""
        for _ in range(8):
            nodes = tuple(self.placement.nodes)
            try:
                return self._pick(key, nodes)
            except (ConfigurationError, NoNodesError):  # the placement lost nodes meanwhile
                if tuple(self.placement.nodes) == nodes:
                    raise
        return self._pick(key, tuple(self.placement.nodes))

    def _pick(self, key: Any, nodes: tuple[str, ...]) -> str:
        n = len(nodes)
        if n == 0:
            raise NoAvailableBackendError("no backend can be picked: the placement has no nodes")
        with self._lock:
            states = dict(self._states)
        unavailable = sum(1 for name in nodes if states.get(name, UP) != UP)
        up = n - unavailable
        if unavailable == 0 or (self._panic_threshold > 0.0 and up * 100.0 < self._panic_threshold * n):
            return str(self.placement.get_nodes(key, 1)[0])
        if up == 0:
            raise NoAvailableBackendError(f"no backend can be picked: none of the {n} nodes is up")
        for name in self.placement.get_nodes(key, min(n, unavailable + 1)):
            if states.get(name, UP) == UP:
                return str(name)
        raise NoAvailableBackendError(f"no available node in the preference list of {key!r}")

    def _check(self, name: str) -> None:
        if name not in set(self.placement.nodes):
            raise UnknownNodeError(f"unknown node {name!r}")

    def _set(self, name: str, state: str) -> None:
        self._check(name)
        with self._lock:
            if state == UP:
                self._states.pop(name, None)
            else:
                self._states[name] = state

    def mark_down(self, name: str) -> None:
        """Send the node's keys to their next preference at once."""
        self._set(name, DOWN)

    def mark_up(self, name: str) -> None:
        """Give the node its keys back."""
        self._set(name, UP)

    def drain(self, name: str) -> None:
        """Stop sending keys to the node (as down for picking)."""
        self._set(name, DRAINING)

    def state(self, name: str) -> str:
        """A node's state: "up", "down" or "draining"."""
        self._check(name)
        with self._lock:
            return self._states.get(name, UP)

    def add_node(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Add a node to the placement."""
        self.placement.add_node(name, *args, **kwargs)

    def remove_node(self, name: str) -> None:
        """Remove a node from the placement (and forget its state)."""
        self.placement.remove_node(name)
        with self._lock:
            self._states.pop(name, None)

    def set_weight(self, name: str, weight: float) -> None:
        """Change a node's weight in the placement (if it supports weights)."""
        self.placement.set_weight(name, weight)

    def __len__(self) -> int:
        return len(self.placement.nodes)

    def __contains__(self, name: object) -> bool:
        return name in set(self.placement.nodes)

    def __repr__(self) -> str:
        return f"Sticky({self.placement!r})"

    def to_state(self) -> dict[str, Any]:
        """The versioned state: the placement (as an object), the threshold and node health."""
        with self._lock:
            states = dict(self._states)
        return {
            "version": STATE_VERSION,
            "class": "Sticky",
            "placement": self.placement,
            "panic_threshold": self._panic_threshold,
            "states": states,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Sticky:
        """Rebuild from ``to_state()`` output."""
        if not isinstance(state, dict):
            raise TypeError("state must be a dict made by to_state()")
        for key in ("version", "class", "placement", "panic_threshold", "states"):
            if key not in state:
                raise ConfigurationError(f"state has no {key!r} entry")
        if state["version"] != STATE_VERSION:
            raise ConfigurationError(
                f"unsupported state version {state['version']} (this build reads {STATE_VERSION})"
            )
        sticky = cls(state["placement"], panic_threshold=state["panic_threshold"])
        sticky._states = dict(state["states"])
        return sticky

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        return from_state, (self.to_state(),)
