"""Selection: which backend serves the next request (load balancers with built-in health).

Balancers (picking runs in Rust; pure-Python twins with the same picks are in
:mod:`shardwise.pure.selection`):

- :class:`RoundRobin` — smooth weighted round robin, pick for pick as nginx
  (weights a=5, b=1, c=1 give a a b a c a a);
- :class:`WeightedRandom` — Vose alias method, O(1) per pick, ``seed=``, ``sample(n)``;
- :class:`LeastConnections` — ``acquire()`` returns a :class:`Lease` (context manager);
  the lowest ``active / weight`` wins, ties go to the larger weight, then round robin;
- :class:`PowerOfTwo` — two random candidates, the cheaper wins: cost ``active / weight``, or
  with ``peak_ewma=True`` ``decayed_rtt × (active + 1) / weight``;
- :class:`LoadAware` — weights ``capacity × max(1 − load, min_share)`` from ``report_load``;
- :class:`Sticky` — by key through a placement, skipping unavailable nodes.

Every balancer takes backends as names (weight 1) or a mapping name → weight (finite, > 0),
and offers ``pick()``, ``nodes``, ``weights``, ``add_node``, ``remove_node``, ``set_weight``,
pickling and thread safety. Health: ``mark_down``, ``mark_up``, ``drain`` and ``state`` act at
once; ``set_weight_factor`` scales a node's weight; ``backups=`` are used only when no primary
is up; ``panic_threshold=P`` (percent) ignores health when fewer than P% of the primaries are up
(as Envoy); ``slow_start=W`` seconds ramps a node coming back up (or added) from
``slow_start_floor`` of its weight to all of it, as ``max(floor, elapsed / W)``; ``clock=`` injects
the time source. When nothing can be picked, :class:`~shardwise.errors.NoAvailableBackendError`.
"""

from __future__ import annotations

from shardwise._core import (
    Lease,
    LeastConnections,
    LoadAware,
    PowerOfTwo,
    RoundRobin,
    WeightedRandom,
)
from shardwise.pure.selection import Sticky

__all__ = [
    "Lease",
    "LeastConnections",
    "LoadAware",
    "PowerOfTwo",
    "RoundRobin",
    "Sticky",
    "WeightedRandom",
]
