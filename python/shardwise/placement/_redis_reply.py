"""Parsing Redis ``CLUSTER SLOTS`` / ``CLUSTER SHARDS`` replies into slot ranges.

Shared by :class:`shardwise.RedisClusterSlots` and its pure twin. Replies are accepted as
redis-py returns them (RESP2 or RESP3: lists, dicts, bytes or str) or as plain lists. Each master
is named ``"host:port"``; a node that does not know its own address reports an empty host, which
is replaced by ``default_host`` (the address you queried).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shardwise.errors import ConfigurationError

SlotRanges = list[tuple[int, int, str]]


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ConfigurationError(f"{what} must be an int, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{what} must be an int, got {value!r}") from None


def _name(host: Any, port: Any, default_host: str | None) -> str:
    h = _text(host) if host is not None else ""
    if h in ("", "?"):
        if default_host is None:
            raise ConfigurationError(
                f"the reply gives no host for the node on port {_text(port)} (a node that does not "
                "know its own address); pass default_host= the address you queried"
            )
        h = default_host
    return f"{h}:{_int(port, 'port')}"


def _as_dict(entry: Any, what: str) -> dict[str, Any]:
    """A RESP3 map or a RESP2 flat ``[key, value, ...]`` list as a dict with str keys."""
    if isinstance(entry, Mapping):
        return {_text(k): v for k, v in entry.items()}
    if isinstance(entry, Sequence) and not isinstance(entry, (str, bytes)) and len(entry) % 2 == 0:
        return {_text(entry[i]): entry[i + 1] for i in range(0, len(entry), 2)}
    raise ConfigurationError(f"{what} must be a map or a flat key/value list, got {entry!r}")


def _sorted(ranges: SlotRanges) -> SlotRanges:
    return sorted(ranges, key=lambda r: r[0])


def parse_cluster_slots(reply: Any, default_host: str | None = None) -> SlotRanges:
    """``CLUSTER SLOTS`` → ``[(start, end, "host:port"), ...]`` (masters only), by start slot."""
    out: SlotRanges = []
    if isinstance(reply, Mapping):  # redis-py cluster form: {(start, end): {"primary": (host, port)}}
        for key, value in reply.items():
            start, end = key
            primary = _as_dict(value, "CLUSTER SLOTS entry").get("primary")
            if primary is None:
                raise ConfigurationError(f"CLUSTER SLOTS entry for {key!r} has no primary")
            name = _name(primary[0], primary[1], default_host)
            out.append((_int(start, "start slot"), _int(end, "end slot"), name))
        return _sorted(out)
    if not isinstance(reply, Sequence) or isinstance(reply, (str, bytes)):
        raise ConfigurationError(f"CLUSTER SLOTS reply must be a list, got {type(reply).__name__}")
    for i, entry in enumerate(reply):
        if not isinstance(entry, Sequence) or isinstance(entry, (str, bytes)) or len(entry) < 3:
            raise ConfigurationError(f"CLUSTER SLOTS entry {i} must be [start, end, [host, port, ...], ...]")
        master = entry[2]
        if not isinstance(master, Sequence) or isinstance(master, (str, bytes)) or len(master) < 2:
            raise ConfigurationError(f"CLUSTER SLOTS entry {i} has no [host, port] master")
        name = _name(master[0], master[1], default_host)
        out.append((_int(entry[0], "start slot"), _int(entry[1], "end slot"), name))
    return _sorted(out)


def parse_cluster_shards(reply: Any, default_host: str | None = None) -> SlotRanges:
    """``CLUSTER SHARDS`` → ``[(start, end, "host:port"), ...]`` for each shard's master."""
    if not isinstance(reply, Sequence) or isinstance(reply, (str, bytes)):
        raise ConfigurationError(f"CLUSTER SHARDS reply must be a list, got {type(reply).__name__}")
    out: SlotRanges = []
    for i, raw in enumerate(reply):
        shard = _as_dict(raw, f"CLUSTER SHARDS entry {i}")
        slots = list(shard.get("slots") or [])
        if not slots:
            continue
        if len(slots) % 2:
            raise ConfigurationError(f"CLUSTER SHARDS entry {i} has an odd slots list {slots!r}")
        masters = [
            node
            for node in (_as_dict(n, f"CLUSTER SHARDS entry {i} node") for n in shard.get("nodes") or [])
            if _text(node.get("role", "")) in ("master", "primary")
        ]
        if len(masters) != 1:
            raise ConfigurationError(f"CLUSTER SHARDS entry {i} has {len(masters)} masters, expected 1")
        node = masters[0]
        host = next((node[k] for k in ("endpoint", "ip", "hostname") if _text(node.get(k) or "")), "")
        port = node.get("port", node.get("tls-port"))
        name = _name(host, port, default_host)
        for j in range(0, len(slots), 2):
            out.append((_int(slots[j], "start slot"), _int(slots[j + 1], "end slot"), name))
    return _sorted(out)


def parse_slot_map(slots: Any) -> SlotRanges:
    """A user's slot map: a mapping ``node -> [(start, end), ...]`` or ``(start, end, node)`` triples."""
    out: SlotRanges = []
    if isinstance(slots, Mapping):
        for node, ranges in slots.items():
            if not isinstance(node, str):
                raise TypeError(f"node names must be str, not {type(node).__name__}")
            ranges = list(ranges)
            if not ranges:
                raise ConfigurationError(f"node {node!r} owns no slots")
            for r in ranges:
                start, end = r
                out.append((_int(start, "start slot"), _int(end, "end slot"), node))
        return out
    if isinstance(slots, (str, bytes)):
        raise TypeError(
            "slots must be a mapping node -> [(start, end), ...] or (start, end, node) triples"
        )
    try:
        items = list(slots)
    except TypeError:
        raise TypeError(
            f"slots must be a mapping node -> [(start, end), ...] or (start, end, node) triples, "
            f"not {type(slots).__name__}"
        ) from None
    for item in items:
        try:
            start, end, node = item
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"slot ranges must be (start, end, node) triples, got {item!r}"
            ) from None
        if not isinstance(node, str):
            raise TypeError(f"node names must be str, not {type(node).__name__}")
        out.append((_int(start, "start slot"), _int(end, "end slot"), node))
    return out
