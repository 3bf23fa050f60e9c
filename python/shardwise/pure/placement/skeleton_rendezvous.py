"""Pure-Python twin of ``shardwise.SkeletonRendezvous`` (rust/shardwise-core/src/placement/skeleton.rs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.pure.placement._base import NodesArg, PurePlacement, check_integral_weight, int_param
from shardwise.pure.placement._hashes import GOLDEN_GAMMA, MASK64, key_hash, splitmix64
from shardwise.pure.validate import quoted

DEFAULT_FANOUT = 2
MAX_FANOUT = 16
MAX_SLOTS = 1 << 26
MAX_DESCENTS = 1024
SALT = 0x736B656C65746F6E
VISIT_MIX = 0xD1B54A32D192ED03
WHY_INTEGRAL = "(SkeletonRendezvous gives a node of weight w exactly w slots)"
TOO_MANY = f"SkeletonRendezvous holds at most {MAX_SLOTS} slots (the weights sum to more)"


def node_key(height: int, index: int) -> int:
    """The identity of the virtual node at ``height`` (slots are height 0), position ``index``."""
    return ((((height << 40) | index) + 1) * GOLDEN_GAMMA) & MASK64


def draw(k: int, node: int, visit: int) -> int:
    """The draw of virtual node ``node`` for key hash ``k`` on the ``visit``-th descent through its parent."""
    return splitmix64(k ^ SALT ^ ((visit * VISIT_MIX) & MASK64) ^ node)


class Skeleton:
    """``fanout ** levels`` slots, each the index of its node or ``None``."""

    def __init__(self, fanout: int, slots: list[int | None]) -> None:
        self.fanout = fanout
        self.levels = levels_of(len(slots), fanout)
        self.slots = slots

    def descend(self, k: int, visit: Callable[[int, int], int]) -> int:
        """The slot of one descent of key hash ``k`` (``visit`` counts the visits of a node)."""
        f = self.fanout
        index = 0
        for height in range(self.levels, 0, -1):
            c = visit(height, index)
            first = index * f
            index = max(range(first, first + f), key=lambda j: (draw(k, node_key(height - 1, j), c), -j))
        return index

    def landings(self, k: int) -> Iterator[int]:
        """The occupied slots of key hash ``k`` in landing order (the first is the owner's);
        after ``MAX_DESCENTS`` descents, every slot once from the last landing on."""
        if all(s is None for s in self.slots):
            return
        visits: dict[tuple[int, int], int] = {}

        def take(height: int, index: int) -> int:
            c = visits.get((height, index), 0)
            visits[(height, index)] = c + 1
            return c

        last = 0
        for _ in range(MAX_DESCENTS):
            last = self.descend(k, take)
            if self.slots[last] is not None:
                yield last
        size = len(self.slots)
        for step in range(1, size + 1):
            if self.slots[(last + step) % size] is not None:
                yield (last + step) % size


def levels_of(capacity: int, fanout: int) -> int:
    """``levels`` with ``fanout ** levels == capacity``."""
    levels, size = 0, 1
    while size < capacity:
        size *= fanout
        levels += 1
    return levels


def grown(capacity: int, occupied: int, needed: int, fanout: int) -> int:
    """The capacity after growing (new roots) until ``needed`` slots are vacant."""
    while capacity - occupied < needed:
        capacity *= fanout
        if capacity > MAX_SLOTS:
            raise ConfigurationError(TOO_MANY)
    return capacity


class SkeletonRendezvous(PurePlacement):
    """Rendezvous hashing over a virtual hierarchy of slots (see ``shardwise.SkeletonRendezvous``)."""

    CLASS = "SkeletonRendezvous"

    def __init__(self, nodes: NodesArg = None, *, fanout: int | None = None) -> None:
        self._fanout = DEFAULT_FANOUT if fanout is None else int_param("fanout", fanout, 2, MAX_FANOUT)
        self._skeleton = Skeleton(self._fanout, [None])
        self._layout: list[str | None] = [None]  # node name per slot
        self._pending: dict[str, Any] | None = None
        super().__init__(nodes)
        self._rebuild()

    @property
    def fanout(self) -> int:
        return self._fanout

    @property
    def capacity(self) -> int:
        return len(self._layout)

    def _check_node(self, name: str, weight: float) -> None:
        check_integral_weight(name, weight, WHY_INTEGRAL)

    def _params(self) -> dict[str, Any]:
        end = max((j + 1 for j, s in enumerate(self._layout) if s is not None), default=0)
        return {"fanout": self._fanout, "capacity": len(self._layout), "slots": self._layout[:end]}

    def _set_params(self, params: dict[str, Any]) -> None:
        fanout = params.get("fanout")
        SkeletonRendezvous.__init__(self, None, fanout=fanout)
        if ("capacity" in params) != ("slots" in params):
            raise ConfigurationError("invalid SkeletonRendezvous state: 'capacity' and 'slots' go together")
        if "capacity" in params:
            self._pending = params

    def _rebuild(self) -> None:
        if self._pending is not None:
            params, self._pending = self._pending, None
            self._restore(params)
        else:
            self._reconcile()
        index = {name: i for i, name in enumerate(self._names)}
        self._skeleton = Skeleton(self._fanout, [None if s is None else index[s] for s in self._layout])

    def _reconcile(self) -> None:
        """Bring the layout in line with the nodes after one change: slots of nodes gone or
        lighter are vacated (highest first), nodes short of slots take the lowest vacant ones
        (growing the tree when it is full)."""
        counts = [int(w) for w in self._weights]
        if sum(counts) > MAX_SLOTS:
            raise ConfigurationError(TOO_MANY)
        want = dict(zip(self._names, counts, strict=True))
        layout = list(self._layout)
        held: dict[str, int] = {}
        for name in layout:
            if name is not None:
                held[name] = held.get(name, 0) + 1
        for j in range(len(layout) - 1, -1, -1):
            name = layout[j]
            if name is not None and held[name] > want.get(name, 0):
                layout[j] = None
                held[name] -= 1
        for name in self._names:
            missing = want[name] - held.get(name, 0)
            if missing <= 0:
                continue
            occupied = sum(1 for s in layout if s is not None)
            layout.extend([None] * (grown(len(layout), occupied, missing, self._fanout) - len(layout)))
            for j, s in enumerate(layout):
                if missing == 0:
                    break
                if s is None:
                    layout[j] = name
                    missing -= 1
        self._layout = layout

    def _restore(self, params: dict[str, Any]) -> None:
        def bad(why: str) -> ConfigurationError:
            return ConfigurationError(f"invalid SkeletonRendezvous state: {why}")

        capacity = int_param("capacity", params["capacity"], 1, MAX_SLOTS)
        slots = params["slots"]
        if not isinstance(slots, list) or not all(s is None or isinstance(s, str) for s in slots):
            raise bad("'slots' must be a list of node names or None")
        size = 1
        while size < capacity and size <= MAX_SLOTS:
            size *= self._fanout
        if size != capacity or len(slots) > capacity:
            raise bad(
                f"capacity {capacity} is not a power of the fanout {self._fanout} of at most {MAX_SLOTS} "
                f"slots holding the {len(slots)} of the layout"
            )
        for s in slots:
            if s is not None and s not in self._index:
                raise bad(f"slot of unknown node {quoted(s)}")
        for name, w in zip(self._names, self._weights, strict=True):
            got = slots.count(name)
            if got != int(w):
                raise bad(f"node {quoted(name)} has weight {int(w)} but {got} slots")
        self._layout = list(slots) + [None] * (capacity - len(slots))

    def _locate(self, key: Any) -> int:
        return self._locate_n(key, 1)[0]

    def _locate_n(self, key: Any, n: int) -> list[int]:
        out: list[int] = []
        if n == 0:
            return out
        for slot in self._skeleton.landings(key_hash(key)):
            owner = self._skeleton.slots[slot]
            assert owner is not None
            if owner not in out:
                out.append(owner)
                if len(out) == n:
                    break
        return out
