"""Redis clients for checks and actions: own connections, bounded timeouts, no hidden retries."""

from __future__ import annotations

import urllib.parse
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.retry import Retry

from shardwise.errors import ConfigurationError

__all__ = ["bounded_client", "describe", "redact", "validate_url"]


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***`` (works on URLs that do not parse)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, location = rest.rpartition("@")  # the last '@': a password may hold '/' or '@'
    if not sep or not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user if '/' not in user else ''}:***@{location}"


def validate_url(url: str) -> str:
    """Check a ``redis://``, ``rediss://`` or ``unix://`` URL now, not at the first command;
    raises :class:`ConfigurationError` naming what is wrong (password redacted)."""
    if not isinstance(url, str):
        raise TypeError(f"a Redis URL must be a str, got {type(url).__name__}")
    try:
        parse_url(url)  # type: ignore[no-untyped-call]
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("redis", "rediss"):
            if not parts.hostname:
                raise ValueError("no host")
            db = parts.path.strip("/")
            if db and not db.isdigit():
                raise ValueError(f"the path must be a database number, got {parts.path!r}")
    except ValueError as error:
        raise ConfigurationError(f"invalid Redis URL {redact(url)!r}: {error}") from None
    return url


def describe(source: redis.Redis | str) -> str:
    """Where ``source`` (client or URL) connects, without its password."""
    if isinstance(source, str):
        return redact(source)
    kwargs = source.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def bounded_client(source: redis.Redis | str, timeout: float) -> redis.Redis:
    """A client to the same server as ``source`` (client or URL) whose every command is bounded
    by ``timeout`` seconds and fails at once instead of retrying with backoff."""
    no_retry = Retry(NoBackoff(), 0)
    if isinstance(source, str):
        return redis.Redis.from_url(
            validate_url(source), socket_timeout=timeout, socket_connect_timeout=timeout, retry=no_retry
        )
    if not isinstance(source, redis.Redis):
        raise TypeError(f"expected a redis.Redis or a redis:// URL, got {type(source).__name__}")
    kwargs: dict[str, Any] = dict(source.connection_pool.connection_kwargs)
    kwargs.update(socket_timeout=timeout, socket_connect_timeout=timeout, retry=no_retry)
    pool = redis.ConnectionPool(connection_class=source.connection_pool.connection_class, **kwargs)
    return redis.Redis(connection_pool=pool)
