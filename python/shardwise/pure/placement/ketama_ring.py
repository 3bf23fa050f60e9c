"""Pure-Python twin of ``shardwise.KetamaRing`` (libketama and uhashring flavors)."""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left, bisect_right
from typing import Any

import numpy as np

from shardwise.errors import ConfigurationError
from shardwise.pure.arrow_keys import UndecodableText
from shardwise.pure.keys import encode_key, key_int
from shardwise.pure.placement._base import NodesArg, PurePlacement, check_integral_weight, int_param
from shardwise.pure.placement._hashes import ketama as ketama_hash
from shardwise.pure.placement._points import MAX_POINTS, MAX_VNODES
from shardwise.pure.validate import text_param

FLAVORS = ("libketama", "uhashring")
UHASHRING_DEFAULT_VNODES = 40
LIBKETAMA_MAX_NAME = 21


def libketama_digests(memory: int, total: int, servers: int) -> int:
    """libketama: ``floorf(pct * 40.0 * (float)n)`` with ``pct`` a float32 quotient."""
    pct = np.float32(memory) / np.float32(total)
    product = float(pct) * 40.0 * float(np.float32(servers))
    return math.floor(float(np.float32(product)))


def uhashring_digests(vnodes: int, nodes: int, weight: int, total: int) -> int:
    return (vnodes * nodes * weight) // total


class KetamaRing(PurePlacement):
    """Ketama continuum as libketama or uhashring builds it (see ``shardwise.KetamaRing``)."""

    CLASS = "KetamaRing"

    def __init__(
        self, nodes: NodesArg = None, *, flavor: str | None = None, vnodes: int | None = None
    ) -> None:
        flavor = "libketama" if flavor is None else text_param("flavor", flavor)
        if flavor not in FLAVORS:
            raise ConfigurationError(f'unknown ketama flavor {flavor!r}; choose "libketama" or "uhashring"')
        self._flavor = flavor
        self._vnodes = (
            UHASHRING_DEFAULT_VNODES if vnodes is None else int_param("vnodes", vnodes, 1, MAX_VNODES)
        )
        if flavor == "libketama" and self._vnodes != 40:
            raise ConfigurationError(
                f"libketama always uses 40 digests (160 points) per server; vnodes={self._vnodes} "
                'is only for flavor="uhashring"'
            )
        self._points: list[int] = []
        self._owners: list[int] = []
        super().__init__(nodes)
        self._rebuild()

    @property
    def flavor(self) -> str:
        return self._flavor

    @property
    def vnodes(self) -> int:
        return self._vnodes

    def _params(self) -> dict[str, Any]:
        return {"flavor": self._flavor, "vnodes": self._vnodes}

    def _check_node(self, name: str, weight: float) -> None:
        why = (
            "(libketama weights are integer memory sizes)"
            if self._flavor == "libketama"
            else "(uhashring computes point counts in integers)"
        )
        check_integral_weight(name, weight, why)
        size = len(name.encode())
        if self._flavor == "libketama" and size > LIBKETAMA_MAX_NAME:
            raise ConfigurationError(
                f"libketama server names are at most {LIBKETAMA_MAX_NAME} bytes; {name!r} has {size}"
            )

    def _digest_counts(self) -> list[int]:
        weights = [int(w) for w in self._weights]
        total, n = sum(weights), len(weights)
        if self._flavor == "libketama":
            return [libketama_digests(w, total, n) for w in weights]
        return [uhashring_digests(self._vnodes, n, w, total) for w in weights]

    def _rebuild(self) -> None:
        counts = self._digest_counts()
        if sum(counts) * 4 > MAX_POINTS:
            raise ConfigurationError(
                f"the continuum would hold {sum(counts) * 4} points, more than the limit of {MAX_POINTS}"
            )
        sign = 1 if self._flavor == "libketama" else -1  # equal points: earlier / later node first
        pairs: list[tuple[int, int]] = []
        for i, (name, count) in enumerate(zip(self._names, counts, strict=True)):
            for k in range(count):
                digest = hashlib.md5(f"{name}-{k}".encode()).digest()
                for h in range(4):
                    pairs.append((int.from_bytes(digest[4 * h : 4 * h + 4], "little"), sign * i))
        pairs.sort()
        self._points = [p for p, _ in pairs]
        self._owners = [sign * o for _, o in pairs]

    def key_hash(self, key: Any) -> int:
        """The key's position on the continuum under this flavor's key rules."""
        bits = key_int(key)
        if bits is not None:
            return ketama_hash(str(bits).encode())
        text = isinstance(key, UndecodableText)
        if self._flavor == "uhashring" and isinstance(key, (bytes, bytearray, memoryview)) and not text:
            return ketama_hash(repr(encode_key(key)).encode())
        return ketama_hash(encode_key(key))

    def _position(self, key: Any) -> int:
        h = self.key_hash(key)
        pos = bisect_left(self._points, h) if self._flavor == "libketama" else bisect_right(self._points, h)
        return 0 if pos == len(self._points) else pos

    def _locate(self, key: Any) -> int:
        return self._owners[self._position(key)]

    def _locate_n(self, key: Any, n: int) -> list[int]:
        start = self._position(key) if self._points else 0
        out: list[int] = []
        for owner in [*self._owners[start:], *self._owners[:start], *range(len(self._names))]:
            if len(out) == n:
                break
            if owner not in out:
                out.append(owner)
        return out

    def points(self) -> list[tuple[int, str]]:
        """The continuum as ``(point, node name)`` in ring order."""
        return [(p, self._names[o]) for p, o in zip(self._points, self._owners, strict=True)]
