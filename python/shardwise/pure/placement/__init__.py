"""Pure-Python twins of the placement algorithms: same classes, API and results as
:mod:`shardwise.placement`, readable and slow."""

from __future__ import annotations

from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.pure.placement._base import PurePlacement
from shardwise.pure.placement.jump import JumpHash, jump, jump_many
from shardwise.pure.placement.ketama import KetamaRing
from shardwise.pure.placement.maglev import Maglev
from shardwise.pure.placement.rendezvous import Rendezvous
from shardwise.pure.placement.ring import HashRing

__all__ = [
    "HashRing",
    "JumpHash",
    "KetamaRing",
    "Maglev",
    "PurePlacement",
    "Rendezvous",
    "from_state",
    "jump",
    "jump_many",
]

_CLASSES: dict[str, type[PurePlacement]] = {
    cls.CLASS: cls for cls in (HashRing, KetamaRing, JumpHash, Rendezvous, Maglev)
}


def from_state(state: dict[str, Any]) -> Any:
    """Rebuild a pure placement object from ``to_state()`` output (any class)."""
    if not isinstance(state, dict) or "class" not in state:
        raise TypeError("state must be a dict made by to_state()")
    try:
        cls = _CLASSES[state["class"]]
    except (KeyError, TypeError):
        raise ConfigurationError(f"unknown placement class {state['class']!r} in state") from None
    return cls.from_state(state)

# MementoHash, multi-probe, bounded loads, ranges and Redis Cluster slots.
from shardwise.pure.placement._bounded import BoundedLoadRing  # noqa: E402
from shardwise.pure.placement._memento import MementoHash  # noqa: E402
from shardwise.pure.placement._multiprobe import MultiProbe  # noqa: E402
from shardwise.pure.placement._range import RangePartitioner  # noqa: E402
from shardwise.pure.placement._redis_slots import RedisClusterSlots  # noqa: E402

__all__ += ["BoundedLoadRing", "MementoHash", "MultiProbe", "RangePartitioner", "RedisClusterSlots"]
_CLASSES.update(
    {
        cls.CLASS: cls
        for cls in (BoundedLoadRing, MementoHash, MultiProbe, RangePartitioner, RedisClusterSlots)
    }
)
