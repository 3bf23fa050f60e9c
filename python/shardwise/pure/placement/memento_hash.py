"""Pure-Python twin of ``shardwise.MementoHash`` (rust/shardwise-core/src/placement/memento.rs)."""

from __future__ import annotations

from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.pure.keys import encode_key, key_int
from shardwise.pure.placement._base import NodesArg, PurePlacement
from shardwise.pure.placement._hashes import GOLDEN_GAMMA, MASK64, jump_bucket, murmur_fmix64, scale, xxh3_64
from shardwise.pure.placement._sequential import unit_weight
from shardwise.pure.validate import node_name, u32_list, u32_value


def _rehash(key_hash: int, bucket: int) -> int:
    return murmur_fmix64(key_hash ^ (((bucket + 1) * GOLDEN_GAMMA) & MASK64))


class Memento:
    """Buckets ``0..size`` minus removed ones; ``removed`` lists ``(bucket, replacer)`` oldest first."""

    __slots__ = ("removed", "size", "table")

    def __init__(self, buckets: int) -> None:
        self.size = buckets
        self.removed: list[tuple[int, int]] = []
        self.table: dict[int, int] = {}

    def copy(self) -> Memento:
        other = Memento(self.size)
        other.removed = list(self.removed)
        other.table = dict(self.table)
        return other

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Memento) and (self.size, self.removed) == (other.size, other.removed)

    __hash__ = None  # type: ignore[assignment]

    def working(self) -> int:
        return self.size - len(self.removed)

    def is_working(self, bucket: int) -> bool:
        return 0 <= bucket < self.size and bucket not in self.table

    def bucket(self, key_hash: int) -> int | None:
        if self.working() == 0:
            return None
        table = self.table
        b = jump_bucket(key_hash, self.size)
        replacer = table.get(b)
        while replacer is not None:
            u = scale(_rehash(key_hash, b), replacer)
            nxt = table.get(u)
            while nxt is not None and nxt >= replacer:
                u = nxt
                nxt = table.get(u)
            b = u
            replacer = table.get(b)
        return b

    def remove(self, bucket: int) -> bool:
        if not self.is_working(bucket):
            return False
        if not self.removed and bucket + 1 == self.size:
            self.size -= 1
            return True
        replacer = self.working() - 1
        self.table[bucket] = replacer
        self.removed.append((bucket, replacer))
        return True

    def add(self) -> int:
        if self.removed:
            bucket, _ = self.removed.pop()
            del self.table[bucket]
            return bucket
        self.size += 1
        return self.size - 1


def memento_key(key: object) -> int:
    """Int keys as they are (like JumpHash), other keys through XXH3-64."""
    bits = key_int(key)
    return bits if bits is not None else xxh3_64(encode_key(key), 0)


class MementoHash(PurePlacement):
    """Jump hash with arbitrary node removal and restore (see ``shardwise.MementoHash``)."""

    CLASS = "MementoHash"

    def __init__(self, nodes: NodesArg = None) -> None:
        self._pending: dict[str, Any] | None = None
        self._engine = Memento(0)
        self._slot_of: list[int] = []
        self._node_at: list[int] = []
        super().__init__(nodes)
        n = len(self._names)
        self._engine = Memento(n)
        self._slot_of = list(range(n))
        self._node_at = list(range(n))

    def _check_node(self, name: str, weight: float) -> None:
        unit_weight(self.CLASS, name, weight)

    def _params(self) -> dict[str, Any]:
        return {
            "slots": list(self._slot_of),
            "size": self._engine.size,
            "removed": [b for b, _ in self._engine.removed],
        }

    def _set_params(self, params: dict[str, Any]) -> None:
        MementoHash.__init__(self, None)
        self._pending = params

    def _rebuild(self) -> None:
        """Only a state being restored needs work; node changes are applied incrementally."""
        if self._pending is not None:
            params, self._pending = self._pending, None
            self._restore(params)

    def _restore(self, params: dict[str, Any]) -> None:
        def bad(why: str) -> ConfigurationError:
            return ConfigurationError(f"invalid MementoHash state: {why}")

        try:
            slots = u32_list(params["slots"])
            size = u32_value(params["size"])
            removed = u32_list(params["removed"])
        except (KeyError, ValueError):
            raise bad("params need int lists 'slots', 'removed' and an int 'size'") from None
        if len(slots) != len(self._names):
            raise bad("one bucket per node is needed")
        if len(slots) + len(removed) != size:
            raise bad("buckets held plus buckets removed must equal the bucket range")
        free = -1
        node_at = [free] * size
        for i, b in enumerate(slots):
            if not 0 <= b < size or node_at[b] != free:
                raise bad("node buckets must be distinct and inside the range")
            node_at[b] = i
        engine = Memento(size)
        for b in removed:
            if not 0 <= b < size or node_at[b] != free or not engine.remove(b):
                raise bad("removed buckets must be distinct, free and inside the range")
        if engine.size != size or len(engine.removed) != len(removed):
            raise bad("the removal history does not replay")
        self._engine, self._slot_of, self._node_at = engine, slots, node_at

    def _locate(self, key: Any) -> int:
        b = self._engine.bucket(memento_key(key))
        assert b is not None
        return self._node_at[b]

    def _locate_n(self, key: Any, n: int) -> list[int]:
        h = memento_key(key)
        engine = self._engine.copy()
        out: list[int] = []
        while len(out) < n:
            b = engine.bucket(h)
            assert b is not None
            out.append(self._node_at[b])
            engine.remove(b)
        return out

    def add_node(self, name: str, weight: float = 1.0) -> None:
        """Add a node; it takes the most recently freed bucket (so the last node removed, added
        back, gets exactly its keys back)."""
        super().add_node(name, weight)
        b = self._engine.add()
        if b >= len(self._node_at):
            self._node_at.extend([-1] * (b + 1 - len(self._node_at)))
        self._node_at[b] = len(self._names) - 1
        self._slot_of.append(b)

    def remove_node(self, name: str) -> None:
        """Remove any node: only its keys move, spread evenly over the others."""
        i = self._require(node_name(name))
        self._remove_at(i)
        b = self._slot_of.pop(i)
        self._engine.remove(b)
        self._node_at[b] = -1
        del self._node_at[self._engine.size :]
        self._node_at = [x - 1 if x > i else x for x in self._node_at]
