"""The lock's exceptions (exported as :mod:`shardwise.errors`).

They also derive from redis-py's lock exceptions, so code written for redis-py's Lock
(``except redis.exceptions.LockError``, ``except LockNotOwnedError``) keeps catching them.
"""

from __future__ import annotations

import redis.exceptions

from shardwise.errors import ShardwiseError

__all__ = [
    "LockBackendError",
    "LockError",
    "LockLostError",
    "LockNotAcquiredError",
    "LockNotOwnedError",
    "QuorumNotReachedError",
]


class LockError(ShardwiseError, redis.exceptions.LockError):
    """Base class of the lock errors (also a ``redis.exceptions.LockError``, hence a ``ValueError``).

    ``lock_name`` is the name of the lock concerned, when known.
    """

    def __init__(self, message: str | None = None, lock_name: str | None = None) -> None:
        super().__init__(message, lock_name)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args and self.args[0] is not None else ""

    def __repr__(self) -> str:  # redis-py's RedisError shows no message
        return f"{type(self).__name__}({str(self)!r})"


class LockNotAcquiredError(LockError, TimeoutError):
    """The lock could not be acquired (within the wait allowed, or at once when not blocking)."""


class QuorumNotReachedError(LockNotAcquiredError):
    """Redlock could not get an answer from a majority of the masters in time."""


class LockNotOwnedError(LockError, redis.exceptions.LockNotOwnedError):
    """The lock was released or extended by an object (or thread) that does not hold it."""


class LockLostError(LockNotOwnedError):
    """A held lock was lost: it expired, was deleted, or was taken over while we believed we held it.

    A subclass of :class:`LockNotOwnedError`: a lost lock is one we no longer own.
    """


class LockBackendError(LockError, ConnectionError, redis.exceptions.ConnectionError):
    """Redis could not be reached, or failed, during a lock operation (the cause is chained).

    Also a builtin ``ConnectionError`` and a ``redis.exceptions.ConnectionError``.
    """
