"""Key naming and small helpers shared by the sync and async locks."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

logger = logging.getLogger("shardwise.lock")

DEFAULT_PREFIX = "shardwise:lock:"


@dataclass(frozen=True)
class LockKeys:
    """The Redis names of one lock: all share one hash tag, so one cluster slot."""

    lock: str
    fence: str
    channel: str

    def void(self, call_id: str) -> str:
        """The void key of one acquire call (see :mod:`shardwise.lock._scripts`)."""
        return f"{self.lock}:void:{call_id}"


def lock_keys(name: str, prefix: str = DEFAULT_PREFIX) -> LockKeys:
    """Keys for lock ``name``: ``<prefix>{<name>}`` plus ``:fence`` and ``:released``."""
    base = tagged_base(name, prefix)
    return LockKeys(lock=base, fence=f"{base}:fence", channel=f"{base}:released")


def tagged_base(name: str, prefix: str) -> str:
    """``<prefix>{<tag>}``: the tag is the name, or its SHA-1 when the name contains ``}`` (which
    would cut the tag short). Keys that extend this base all share one cluster hash slot."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    if "{" in prefix or "}" in prefix:
        raise ValueError(f"prefix must not contain '{{' or '}}' (the name is the hash tag), got {prefix!r}")
    tag = name if "}" not in name else hashlib.sha1(name.encode()).hexdigest()
    return f"{prefix}{{{tag}}}"


def validate_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"lock name must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError("lock name must not be empty")
    return name


def to_ms(seconds: float) -> int:
    """Milliseconds for Redis (PX, PEXPIRE): at least 1."""
    return max(1, round(seconds * 1000))


def new_token(size: int = 16) -> str:
    """``size`` fresh random bytes as hex (by default 128 bits): owner tokens, acquire-call ids."""
    return secrets.token_hex(size)
