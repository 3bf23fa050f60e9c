"""Lock: a correct Redis distributed lock.

- :class:`RedisLock` — one master, with redis-py's ``Lock`` API: atomic acquire (``SET PX`` +
  fencing counter in one Lua script), owner token, compare-and-delete release, pub/sub hand-off to
  waiters, watchdog with a lost signal, every Redis call bounded in time;
- :class:`Redlock` — the Redlock algorithm over several independent masters;
- :class:`AsyncRedisLock`, :class:`AsyncRedlock` — the same on ``redis.asyncio``;
- :class:`FencedResource`, :class:`InMemoryFencedResource` — resources that refuse stale tokens.
"""

from __future__ import annotations

from shardwise.lock._async import AsyncRedisLock, AsyncRedlock
from shardwise.lock._fencing import FencedResource, InMemoryFencedResource
from shardwise.lock._sync import RedisLock, Redlock

__all__ = [
    "AsyncRedisLock",
    "AsyncRedlock",
    "FencedResource",
    "InMemoryFencedResource",
    "RedisLock",
    "Redlock",
]
