"""Placement: which node owns a key.

Every class here shares one interface (see :class:`Placement`): build from an iterable of node
names or a mapping name -> weight; ``get_node(key)``, ``get_nodes(key, n)`` (distinct replicas in
preference order), ``place(keys)`` (bulk, an int32 numpy array of indices into ``nodes``, GIL
released, all cores for large inputs), ``nodes``, ``weights``, ``len()``, ``in``, ``add_node``,
``remove_node``, ``set_weight``, ``==``, ``copy()``, ``to_state()``/``from_state()`` and pickling
(a versioned plain-data state, stable across processes and versions). Keys follow the encoding
contract of :mod:`shardwise.hashing`. Results never depend on the process (no ``hash()``).

The classes, in the order of the registry ``shardwise._core.PLACEMENTS`` (``CLASSES`` here):

- :class:`HashRing` — consistent hashing with weighted virtual nodes, any ``shardwise.hashing`` hash;
- :class:`KetamaRing` — exactly libketama's or uhashring's continuum;
- :class:`JumpHash` — jump consistent hash (only the last node can be removed);
- :class:`Rendezvous` — weighted highest-random-weight hashing;
- :class:`SkeletonRendezvous` — rendezvous hashing in O(log n) over a virtual hierarchy;
- :class:`Maglev` — Maglev lookup table, O(1) lookups;
- :class:`MementoHash` — jump-hash speed with arbitrary node removal;
- :class:`MultiProbe` — multi-probe consistent hashing, O(nodes) memory;
- :class:`BoundedLoadRing` — consistent hashing with bounded loads (batch placement);
- :class:`RangePartitioner` — sorted split points, a node per range;
- :class:`RedisClusterSlots` — Redis Cluster's hash slots, from a slot map or a live cluster.

:func:`load_distribution` and :func:`movement` measure balance and plan topology changes.

Documented bounds (checked by the tests with fixed seeds, equal weights, 5-50 nodes, >= 1,200 keys
per node): max/mean load ≤ 1.25 for ``HashRing`` (160 vnodes), ≤ 1.3 for ``KetamaRing``, ≤ 1.06
for ``JumpHash``, ``Rendezvous``, ``SkeletonRendezvous`` and ``Maglev``. Adding or removing one
node moves at most 1.35/(n+1) of the keys for the rings, 1.1/(n+1) for ``JumpHash``,
``Rendezvous`` and ``SkeletonRendezvous`` (all of them to or from that node) and 1.5/(n+1) for
``Maglev`` (which also moves a few keys between old nodes).

Errors: a lookup with no nodes raises :class:`~shardwise.errors.NoNodesError`; an unknown node
name :class:`~shardwise.errors.UnknownNodeError`; bad weights, parameters, duplicate names or
``n > len`` :class:`~shardwise.errors.ConfigurationError` (a ``ValueError``).

Pure-Python twins with identical results live in :mod:`shardwise.pure.placement`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shardwise._core import PLACEMENTS
from shardwise.errors import ConfigurationError
from shardwise.placement._analysis import LoadDistribution, Movement, load_distribution, movement
from shardwise.placement._protocol import Placement

if TYPE_CHECKING:  # what type checkers see of the registry (a test keeps it equal to PLACEMENTS)
    from shardwise._core import (
        AnchorHash as AnchorHash,
    )
    from shardwise._core import (
        BinomialHash as BinomialHash,
    )
    from shardwise._core import (
        BoundedLoadRing as BoundedLoadRing,
    )
    from shardwise._core import (
        DxHash as DxHash,
    )
    from shardwise._core import (
        FlipHash as FlipHash,
    )
    from shardwise._core import (
        HashRing as HashRing,
    )
    from shardwise._core import (
        JumpBackHash as JumpBackHash,
    )
    from shardwise._core import (
        JumpHash as JumpHash,
    )
    from shardwise._core import (
        KetamaRing as KetamaRing,
    )
    from shardwise._core import (
        Maglev as Maglev,
    )
    from shardwise._core import (
        MementoHash as MementoHash,
    )
    from shardwise._core import (
        MultiProbe as MultiProbe,
    )
    from shardwise._core import (
        RangePartitioner as RangePartitioner,
    )
    from shardwise._core import (
        RedisClusterSlots as RedisClusterSlots,
    )
    from shardwise._core import (
        Rendezvous as Rendezvous,
    )
    from shardwise._core import (
        SkeletonRendezvous as SkeletonRendezvous,
    )

#: Class name -> class, in the registry's order.
CLASSES: dict[str, type[Placement]] = {cls.__name__: cls for cls in PLACEMENTS}
globals().update(CLASSES)

__all__ = [
    "LoadDistribution",
    "Movement",
    "Placement",
    "from_state",
    "load_distribution",
    "movement",
    *CLASSES,
]


def from_state(state: dict[str, Any]) -> Any:
    """Rebuild a placement object from ``to_state()`` output, whatever its class (pickling uses this)."""
    if not isinstance(state, dict) or "class" not in state:
        raise TypeError("state must be a dict made by to_state()")
    try:
        cls = CLASSES[state["class"]]
    except (KeyError, TypeError):
        raise ConfigurationError(f"unknown placement class {state['class']!r} in state") from None
    return cls.from_state(state)  # type: ignore[attr-defined]
