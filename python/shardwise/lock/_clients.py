"""The clients a lock does its I/O with: the user's connection settings, every call bounded.

redis-py 8 retries a failed command 10 times with backoff, and a client may be built without a
socket timeout, so a call through the user's client can block for a minute or forever on a hung
server. The lock therefore talks to Redis through a *bounded* client derived from the user's
pool: the same connection class and settings (host, TLS, credentials, Sentinel discovery, db...)
but ``socket_timeout = socket_connect_timeout = `` the lock's call bound and no retries. One is
cached per (user pool, bound) and shared by every lock on it; it keeps the user pool's
``max_connections`` (and waits at most the bound for a free one in a ``BlockingConnectionPool``).

A cluster lock talks to the primary that owns its hash slot (all its keys share one slot), through
a bounded client for that node, and follows ``MOVED`` replies.

Waiters subscribe to the release channel only while the bounded pool can spare the connection:
at most half of its connections carry subscriptions (none with ``max_connections=1``); the others
poll.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.backoff
import redis.retry
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from shardwise.lock._protocol import Failed

T = TypeVar("T")

# Keys of a pool's connection_kwargs that belong to that pool (a new pool makes its own).
_POOL_OWN = (
    "maint_notifications_pool_handler",
    "orig_host_address",
    "orig_socket_timeout",
    "orig_socket_connect_timeout",
    "himport_registry",
    "retry_on_timeout",
)
# Error replies that mean "not now" rather than "never": retried like a lost connection.
_TRANSIENT_REPLIES = ("BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY")


def bounded_kwargs(kwargs: dict[str, Any], bound: float, retry: object) -> dict[str, Any]:
    """``kwargs`` of a connection with both socket timeouts set to ``bound`` and no retries."""
    out = {k: v for k, v in kwargs.items() if k not in _POOL_OWN}
    out.update(socket_timeout=bound, socket_connect_timeout=bound, retry=retry, retry_on_error=[])
    return out


# What a call through a bounded client may raise besides a reply (no answer, a broken or refused
# connection, a cluster without the slot): each counts as a master that did not answer.
CALL_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException, OSError, asyncio.TimeoutError)


def failure(exc: BaseException) -> Failed:
    """How a failed call counts: a connection problem (transient) or an error reply."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OSError, asyncio.TimeoutError)):
        return Failed(exc, transient=True)
    if isinstance(exc, redis.exceptions.RedisClusterException):
        return Failed(exc, transient=True)
    return Failed(exc, transient=str(exc).startswith(_TRANSIENT_REPLIES))


def label(client: object) -> str:
    """Where a user's client points, for messages: ``host:port``, a socket path, a Sentinel service."""
    if isinstance(client, (RedisCluster, AsyncRedisCluster)):
        nodes = client.get_nodes() or list(getattr(client.nodes_manager, "startup_nodes", {}).values())
        return f"cluster {nodes[0].name}" if nodes else "cluster"
    pool = getattr(client, "connection_pool", None)
    service = getattr(pool, "service_name", None)
    if service is not None:
        return f"Sentinel master {service!r}"
    kwargs = getattr(pool, "connection_kwargs", {})
    return str(kwargs["path"]) if kwargs.get("path") else f"{kwargs.get('host')}:{kwargs.get('port')}"


class Slots:
    """How many release subscriptions a bounded pool may carry at once: half its connections."""

    def __init__(self, connections: int) -> None:
        self._free = max(0, connections // 2)
        self._mutex = threading.Lock()

    def take(self) -> bool:
        with self._mutex:
            if self._free <= 0:
                return False
            self._free -= 1
            return True

    def give(self) -> None:
        with self._mutex:
            self._free += 1


@dataclass
class Bounded:
    """A bounded client: its pool (the lock's calls take connections from it, see ``_wire``), the
    pool's encoder, and the subscription slots."""

    client: Any
    slots: Slots
    pool: Any = field(init=False)
    encode: Callable[[Any], bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.pool = self.client.connection_pool
        self.encode = self.pool.get_encoder().encode


_cache: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], tuple[Any, Bounded]]] = (
    weakref.WeakKeyDictionary()
)
_cache_mutex = threading.Lock()


def _cached(owner: Any, key: tuple[Any, ...], make: Callable[[], Bounded], loop: object = None) -> Bounded:
    """The bounded client for (``owner``, ``key``), made once; async ones are per event loop."""
    with _cache_mutex:
        per_owner = _cache.get(owner)
        if per_owner is None:
            per_owner = _cache[owner] = {}
        entry = per_owner.get(key)
        if entry is not None and (loop is None or entry[0]() is loop):
            return entry[1]
        made = make()
        per_owner[key] = (None if loop is None else weakref.ref(loop), made)
        return made


def _reset_after_fork() -> None:
    global _cache_mutex
    _cache_mutex = threading.Lock()  # another thread may have held it when the process forked


os.register_at_fork(after_in_child=_reset_after_fork)


# --- sync ------------------------------------------------------------------------------------


def _sync_pool(pool: Any, kwargs: dict[str, Any], bound: float) -> Bounded:
    kwargs = bounded_kwargs(kwargs, bound, redis.retry.Retry(redis.backoff.NoBackoff(), 0))
    size = getattr(pool, "max_connections", None) or 2**31
    derived: Any
    if isinstance(pool, redis.BlockingConnectionPool):
        wait = bound if pool.timeout is None else min(pool.timeout, bound)
        blocking: Any = redis.BlockingConnectionPool
        derived = blocking(
            max_connections=size, timeout=wait, connection_class=pool.connection_class, **kwargs
        )
    else:
        derived = redis.ConnectionPool(connection_class=pool.connection_class, max_connections=size, **kwargs)
    return Bounded(redis.Redis(connection_pool=derived), Slots(size))


def sync_bounded(
    client: redis.Redis | RedisCluster, key: str, bound: float, moved: tuple[str, int] | None = None
) -> Bounded:
    """The bounded client of a lock whose keys hash like ``key`` (``moved``: after a MOVED reply)."""
    if not isinstance(client, RedisCluster):
        pool = client.connection_pool
        return _cached(pool, ("sync", bound), lambda: _sync_pool(pool, pool.connection_kwargs, bound))
    cluster: Any = client
    node = cluster.get_node_from_key(key)
    node_pool = cluster.get_redis_connection(node).connection_pool
    host, port = moved or (node.host, node.port)
    kwargs = dict(node_pool.connection_kwargs, host=host, port=port)
    return _cached(client, ("sync", bound, host, port), lambda: _sync_pool(node_pool, kwargs, bound))


# --- asyncio ---------------------------------------------------------------------------------


def _async_pool(pool: Any, kwargs: dict[str, Any], bound: float) -> Bounded:
    """Like :func:`_sync_pool`; ``pool`` is the user's pool or a cluster node (same attributes).

    Its connections have no ``socket_timeout`` (connecting keeps the bound): every use of the pool
    bounds itself as a whole (``_wire.acall``, the release subscription), which costs less than
    redis.asyncio's per-command ``asyncio.wait_for`` task."""
    kwargs = bounded_kwargs(kwargs, bound, redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0))
    kwargs["socket_timeout"] = None
    size = getattr(pool, "max_connections", None) or 2**31
    derived: Any
    if isinstance(pool, redis.asyncio.BlockingConnectionPool):
        wait = bound if pool.timeout is None else min(pool.timeout, bound)
        blocking: Any = redis.asyncio.BlockingConnectionPool
        derived = blocking(
            max_connections=size, timeout=wait, connection_class=pool.connection_class, **kwargs
        )
    else:
        plain: Any = redis.asyncio.ConnectionPool
        derived = plain(connection_class=pool.connection_class, max_connections=size, **kwargs)
    return Bounded(redis.asyncio.Redis(connection_pool=derived), Slots(size))


async def async_bounded(
    client: redis.asyncio.Redis | AsyncRedisCluster,
    key: str,
    bound: float,
    moved: tuple[str, int] | None = None,
) -> Bounded:
    """The bounded client for the running event loop (see :func:`sync_bounded`)."""
    loop = asyncio.get_running_loop()
    if not isinstance(client, AsyncRedisCluster):
        pool = client.connection_pool
        return _cached(pool, ("async", bound), lambda: _async_pool(pool, pool.connection_kwargs, bound), loop)
    cluster: Any = client
    await bounded_await(cluster.initialize(), bound)  # a no-op once the slots are known
    node = cluster.get_node_from_key(key)
    host, port = moved or (node.host, node.port)
    kwargs = dict(node.connection_kwargs, host=host, port=port)
    return _cached(client, ("async", bound, host, port), lambda: _async_pool(node, kwargs, bound), loop)


async def bounded_await(awaitable: Awaitable[T], seconds: float) -> T:
    """Await with a time limit, without ``asyncio.wait_for`` (which on Python < 3.12 can swallow
    a cancellation that arrives as the awaited call finishes): the caller's cancellation always
    propagates, and the call is cancelled when it runs out of time."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():
            task.cancel()
    if not done:
        raise TimeoutError(f"no answer within {seconds:g} s")
    return task.result()
