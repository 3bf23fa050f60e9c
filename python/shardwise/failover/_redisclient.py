"""Redis clients for checks and actions: own connections, bounded timeouts, no hidden retries."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def bounded_client(source: redis.Redis | str, timeout: float) -> redis.Redis:
    """A client to the same server as ``source`` (client or URL) whose every command is bounded
    by ``timeout`` seconds and fails at once instead of retrying with backoff."""
    no_retry = Retry(NoBackoff(), 0)
    if isinstance(source, str):
        return redis.Redis.from_url(
            source, socket_timeout=timeout, socket_connect_timeout=timeout, retry=no_retry
        )
    if not isinstance(source, redis.Redis):
        raise TypeError(f"expected a redis.Redis or a redis:// URL, got {type(source).__name__}")
    kwargs: dict[str, Any] = dict(source.connection_pool.connection_kwargs)
    kwargs.update(socket_timeout=timeout, socket_connect_timeout=timeout, retry=no_retry)
    pool = redis.ConnectionPool(connection_class=source.connection_pool.connection_class, **kwargs)
    return redis.Redis(connection_pool=pool)
