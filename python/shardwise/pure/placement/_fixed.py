"""Shared twin of the fixed-capacity placements (``AnchorHash``, ``DxHash``;
rust/shardwise-core/src/placement/slots.rs): each node holds one bucket of ``capacity``, a removed
node's bucket goes on a free stack, an added node takes the top of it."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.pure.placement._base import NodesArg, PurePlacement
from shardwise.pure.validate import int_param, node_name, u32_list

FREE = -1
MAX_CAPACITY = 1 << 24


def default_capacity(nodes: int) -> int:
    """Twice the initial node count, at least 16."""
    return min(max(16, 2 * nodes), MAX_CAPACITY)


class Slots:
    """Which bucket each node holds (``slot_of``), which node each bucket holds (``node_at``),
    and the free-bucket stack (``free``, bottom first)."""

    def __init__(self, cls: str, nodes: int, capacity: int) -> None:
        check_capacity(cls, nodes, capacity)
        self.slot_of = list(range(nodes))
        self.node_at = list(range(nodes)) + [FREE] * (capacity - nodes)
        self.free = list(range(capacity - 1, nodes - 1, -1))

    @classmethod
    def from_parts(cls, name: str, capacity: int, slots: list[int], free: list[int]) -> Slots:
        def bad(why: str) -> ConfigurationError:
            return ConfigurationError(f"invalid {name} state: {why}")

        check_capacity(name, len(slots), capacity)
        if len(slots) + len(free) != capacity:
            raise bad("buckets held plus buckets removed must equal the capacity")
        node_at = [FREE] * capacity
        for i, b in enumerate(slots):
            if not 0 <= b < capacity or node_at[b] != FREE:
                raise bad("node buckets must be distinct and below the capacity")
            node_at[b] = i
        seen: set[int] = set()
        for b in free:
            if not 0 <= b < capacity or node_at[b] != FREE or b in seen:
                raise bad("removed buckets must be distinct, free and below the capacity")
            seen.add(b)
        out = cls.__new__(cls)
        out.slot_of, out.node_at, out.free = list(slots), node_at, list(free)
        return out

    @property
    def capacity(self) -> int:
        return len(self.node_at)

    def take(self, index: int) -> int:
        b = self.free.pop()
        self.node_at[b] = index
        self.slot_of.append(b)
        return b

    def release(self, index: int) -> int:
        b = self.slot_of.pop(index)
        self.node_at[b] = FREE
        self.node_at = [x - 1 if x != FREE and x > index else x for x in self.node_at]
        self.free.append(b)
        return b


def check_capacity(cls: str, nodes: int, capacity: int) -> None:
    if not 1 <= capacity <= MAX_CAPACITY:
        raise ConfigurationError(f"capacity must be an int in [1, {MAX_CAPACITY}], got {capacity}")
    if nodes > capacity:
        raise ConfigurationError(f"{cls} capacity {capacity} is smaller than its {nodes} nodes")


def full(cls: str, capacity: int) -> ConfigurationError:
    return ConfigurationError(
        f"{cls} is full: its capacity of {capacity} nodes is reached; "
        "build a new one with a larger capacity= (or remove a node first)"
    )


def saved_slots(cls: str, params: dict[str, Any]) -> tuple[list[int], list[int]] | None:
    """The ``slots`` and ``removed`` of a saved state, if present."""
    if "slots" not in params and "removed" not in params:
        return None
    if "slots" not in params or "removed" not in params:
        raise ConfigurationError(f"invalid {cls} state: 'slots' and 'removed' go together")
    try:
        return u32_list(params["slots"]), u32_list(params["removed"])
    except ValueError:
        raise ConfigurationError(
            f"invalid {cls} state: params need int lists 'slots' and 'removed'"
        ) from None


class FixedCapacity(PurePlacement):
    """Base of the fixed-capacity twins: construction and restore validate in the Rust order
    (capacity, then the algorithm's own checks); node changes are incremental."""

    def __init__(self, nodes: NodesArg = None, **params: Any) -> None:
        self._pending: dict[str, Any] | None = {k: v for k, v in params.items() if v is not None}
        self._slots = Slots(self.CLASS, 0, 1)
        super().__init__(nodes)
        self._rebuild()

    def _set_params(self, params: dict[str, Any]) -> None:
        type(self).__init__(self, None)
        self._pending = params

    def _check_node(self, name: str, weight: float) -> None:
        if self._pending is None:  # construction checks weights once the capacity is known
            self._check_weight(name, weight)

    @abstractmethod
    def _check_weight(self, name: str, weight: float) -> None: ...

    @abstractmethod
    def _build(self, params: dict[str, Any]) -> None:
        """Validate the algorithm's own parameters and build from ``self._slots``."""

    @abstractmethod
    def _taken(self, bucket: int, weight: float) -> None:
        """Bucket ``bucket`` now works (a node was added to it)."""

    @abstractmethod
    def _released(self, bucket: int) -> None:
        """Bucket ``bucket`` no longer works (its node was removed)."""

    def _params(self) -> dict[str, Any]:
        slots = self._slots
        return {"capacity": slots.capacity, "slots": list(slots.slot_of), "removed": list(slots.free)}

    def _rebuild(self) -> None:
        if self._pending is None:
            return
        params, self._pending = self._pending, None
        capacity = params.get("capacity")
        capacity = default_capacity(len(self._names)) if capacity is None else int_param(
            "capacity", capacity, 1, MAX_CAPACITY
        )
        self._build_from(params, capacity)

    def _build_from(self, params: dict[str, Any], capacity: int) -> None:
        saved = saved_slots(self.CLASS, params)
        if saved is None:
            self._slots = Slots(self.CLASS, len(self._names), capacity)
        else:
            self._slots = Slots.from_parts(self.CLASS, capacity, *saved)
        self._build(params)

    @property
    def capacity(self) -> int:
        return self._slots.capacity

    def _add(self, name: str, w: float) -> None:
        self._check_new(name, w)
        if not self._slots.free:
            raise full(self.CLASS, self._slots.capacity)
        self._append(name, w)
        self._taken(self._slots.take(len(self._names) - 1), w)

    def remove_node(self, name: str) -> None:
        i = self._require(node_name(name))
        self._remove_at(i)
        self._released(self._slots.release(i))
