"""Lock: a correct Redis distributed lock.

- :class:`RedisLock` — one master, with redis-py's ``Lock`` API: atomic acquire (``SET PX`` +
  fencing counter in one Lua script), owner token, compare-and-delete release, pub/sub hand-off to
  waiters, watchdog with a lost signal, every Redis call bounded in time;
- :class:`Redlock` — the Redlock algorithm over several independent masters;
- :class:`AsyncRedisLock`, :class:`AsyncRedlock` — the same on ``redis.asyncio``;
- :class:`FencedResource`, :class:`InMemoryFencedResource` — resources that refuse stale tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shardwise._lazy import lazy_exports

# Imported on first use: these modules load redis-py (and asyncio).
_EXPORTS = {
    "AsyncRedisLock": "._async",
    "AsyncRedlock": "._async",
    "FencedResource": "._fencing",
    "InMemoryFencedResource": "._fencing",
    "RedisLock": "._sync",
    "Redlock": "._sync",
}
__all__ = [
    "AsyncRedisLock",
    "AsyncRedlock",
    "FencedResource",
    "InMemoryFencedResource",
    "RedisLock",
    "Redlock",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from shardwise.lock._async import AsyncRedisLock as AsyncRedisLock
    from shardwise.lock._async import AsyncRedlock as AsyncRedlock
    from shardwise.lock._fencing import FencedResource as FencedResource
    from shardwise.lock._fencing import InMemoryFencedResource as InMemoryFencedResource
    from shardwise.lock._sync import RedisLock as RedisLock
    from shardwise.lock._sync import Redlock as Redlock
