"""Resources that refuse writes carrying a stale fencing token.

A lock alone cannot stop a holder that was paused (GC, swap, SIGSTOP) past its TTL from writing after
someone else took over. Fencing closes that gap: every acquisition gets a larger token, the holder
sends it with each write, and the resource refuses any token smaller than the largest it has seen.
"""

from __future__ import annotations

import threading

import redis
from redis.cluster import RedisCluster

from shardwise.errors import FencingTokenError
from shardwise.lock import _scripts
from shardwise.lock._common import tagged_base, validate_name


def _validate_token(token: object) -> int:
    if isinstance(token, bool) or not isinstance(token, int):
        raise TypeError(
            f"fencing token must be an int (the lock's fencing_token), got {type(token).__name__}"
            + (" — is the lock held?" if token is None else "")
        )
    if token <= 0:
        raise ValueError(f"fencing token must be > 0, got {token}")
    return token


class FencedResource:
    """A value stored in Redis whose writes are checked against fencing tokens atomically (Lua).

    ``write(token, value)`` stores ``value`` only if ``token`` is at least the largest token seen so
    far, and raises :class:`~shardwise.errors.FencingTokenError` otherwise.
    """

    def __init__(self, client: redis.Redis | RedisCluster, name: str, *, prefix: str = "shardwise:fenced:"):
        if not isinstance(client, (redis.Redis, RedisCluster)):
            raise TypeError(
                f"client must be a synchronous redis.Redis or RedisCluster, got {type(client).__name__}"
            )
        self.name = validate_name(name)
        base = tagged_base(self.name, prefix)
        self.token_key = f"{base}:token"
        self.value_key = f"{base}:value"
        self.client = client
        self._write = client.register_script(_scripts.FENCED_WRITE)

    def write(self, token: int, value: str | bytes | int | float) -> None:
        """Store ``value`` if ``token`` is not stale; raise ``FencingTokenError`` if it is."""
        token = _validate_token(token)
        ok, highest = self._write(keys=[self.token_key, self.value_key], args=[token, value])
        if int(ok) != 1:
            raise FencingTokenError(
                f"write to {self.name!r} refused: fencing token {token} is older than {int(highest)}, "
                "so its holder lost the lock"
            )

    def read(self) -> bytes | None:
        """The last accepted value (as stored by Redis), or None."""
        value = self.client.get(self.value_key)
        return value if value is None or isinstance(value, bytes) else str(value).encode()

    def highest_token(self) -> int:
        """The largest fencing token accepted so far (0 if none)."""
        raw = self.client.get(self.token_key)
        return 0 if raw is None else int(raw)

    def __repr__(self) -> str:
        return f"FencedResource(name={self.name!r}, key={self.value_key!r})"


class InMemoryFencedResource:
    """The same rule in process memory, for documentation and tests: refuse tokens below the largest seen."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._highest = 0
        self.value: object = None

    def write(self, token: int, value: object) -> None:
        """Store ``value`` if ``token`` is not stale; raise ``FencingTokenError`` if it is."""
        token = _validate_token(token)
        with self._mutex:
            if token < self._highest:
                raise FencingTokenError(f"fencing token {token} is older than {self._highest}: write refused")
            self._highest = token
            self.value = value

    def highest_token(self) -> int:
        with self._mutex:
            return self._highest

    def __repr__(self) -> str:
        return f"InMemoryFencedResource(highest_token={self._highest})"
