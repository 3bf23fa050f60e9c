"""Pure-Python twin of ``shardwise.RedisClusterSlots`` (rust/shardwise-core/src/placement/redis_slots.rs)."""

from __future__ import annotations

from typing import Any

from shardwise.errors import ConfigurationError
from shardwise.placement._redis_reply import (
    SlotRanges,
    parse_cluster_shards,
    parse_cluster_slots,
    parse_slot_map,
)
from shardwise.pure.keys import encode_key
from shardwise.pure.placement._base import FixedLayout, distinct_walk

SLOTS = 16384


def crc16_xmodem(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def redis_slot_of(data: bytes) -> int:
    """Redis Cluster slot of encoded key bytes (hash tags honoured)."""
    open_at = data.find(b"{")
    if open_at >= 0:
        close_at = data.find(b"}", open_at + 1)
        if close_at > open_at + 1:
            data = data[open_at + 1 : close_at]
    return crc16_xmodem(data) % SLOTS


def build_slot_owners(ranges: SlotRanges, names: list[str]) -> list[int]:
    """Validate inclusive ranges (every slot exactly once, every node some slot)."""
    index = {n: i for i, n in enumerate(names)}
    owners = [-1] * SLOTS
    for start, end, node in ranges:
        if not 0 <= start <= end < SLOTS:
            raise ConfigurationError(
                f"slot range {start}-{end} is invalid: need 0 <= start <= end <= {SLOTS - 1}"
            )
        for slot in range(start, end + 1):
            if owners[slot] != -1:
                raise ConfigurationError(f"slot {slot} is assigned by two ranges (ranges overlap)")
            owners[slot] = index[node]
    if -1 in owners:
        first = owners.index(-1)
        last = first
        while last + 1 < SLOTS and owners[last + 1] == -1:
            last += 1
        raise ConfigurationError(
            f"slots {first}-{last} are not assigned to any node (every slot 0-16383 must be)"
        )
    owned = set(owners)
    for i, n in enumerate(names):
        if i not in owned:
            raise ConfigurationError(f"node {n!r} owns no slots")
    return owners


class RedisClusterSlots(FixedLayout):
    """Key → Redis Cluster slot → node (see ``shardwise.RedisClusterSlots``)."""

    CLASS = "RedisClusterSlots"
    INSTEAD = (
        "slots belong to the nodes the cluster says; build a new RedisClusterSlots from the new slot "
        "map (or from CLUSTER SHARDS / CLUSTER SLOTS again)"
    )

    def __init__(self, slots: Any) -> None:
        super().__init__(None)
        self._configure(parse_slot_map(slots))

    @classmethod
    def from_cluster_slots(cls, reply: Any, default_host: str | None = None) -> RedisClusterSlots:
        """From a ``CLUSTER SLOTS`` reply (masters named ``host:port``)."""
        return cls(parse_cluster_slots(reply, default_host))

    @classmethod
    def from_cluster_shards(cls, reply: Any, default_host: str | None = None) -> RedisClusterSlots:
        """From a ``CLUSTER SHARDS`` reply (each shard's master named ``host:port``)."""
        return cls(parse_cluster_shards(reply, default_host))

    def _configure(self, ranges: SlotRanges) -> None:
        self._names, self._weights, self._index = [], [], {}
        for _, _, node in ranges:
            if node not in self._index:
                self._check_new(node, 1.0)
                self._append(node, 1.0)
        self._owners = build_slot_owners(ranges, self._names)

    @property
    def slot_ranges(self) -> list[tuple[int, int, str]]:
        """Inclusive ``(start, end, node)`` runs in slot order."""
        out: list[tuple[int, int, str]] = []
        start = 0
        for slot in range(1, SLOTS + 1):
            if slot == SLOTS or self._owners[slot] != self._owners[start]:
                out.append((start, slot - 1, self._names[self._owners[start]]))
                start = slot
        return out

    def node_for_slot(self, slot: int) -> str:
        """The node serving ``slot``."""
        if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < SLOTS:
            raise ConfigurationError(f"slot must be an int in [0, {SLOTS - 1}], got {slot!r}")
        return self._names[self._owners[slot]]

    def _params(self) -> dict[str, Any]:
        return {"slots": [list(r) for r in self.slot_ranges]}

    def _set_params(self, params: dict[str, Any]) -> None:
        self._pending = params

    def _rebuild(self) -> None:
        names = list(self._names)
        self._configure(parse_slot_map([tuple(r) for r in self._pending["slots"]]))
        if sorted(names) != sorted(self._names):
            raise ConfigurationError("invalid RedisClusterSlots state: nodes do not match the slot map")
        self._configure_order(names)

    def _configure_order(self, names: list[str]) -> None:
        ranges = [(s, e, n) for s, e, n in self.slot_ranges]
        self._names, self._weights, self._index = [], [], {}
        for n in names:
            self._append(n, 1.0)
        self._owners = build_slot_owners(ranges, self._names)

    def _locate(self, key: Any) -> int:
        return self._owners[redis_slot_of(encode_key(key))]

    def _locate_n(self, key: Any, n: int) -> list[int]:
        return distinct_walk(self._owners, redis_slot_of(encode_key(key)), n)
