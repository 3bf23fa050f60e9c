"""The exceptions shardwise raises.

Every class derives from :class:`ShardwiseError` and, where one fits, from the builtin a caller
would already catch (``ValueError``, ``LookupError``, ``TimeoutError``...), so ``except ValueError``
keeps working while ``except ShardwiseError`` catches everything of ours.
"""

from __future__ import annotations

import redis.exceptions

__all__ = [
    "ConfigurationError",
    "FencingTokenError",
    "LockBackendError",
    "LockError",
    "LockLostError",
    "LockNotAcquiredError",
    "LockNotOwnedError",
    "NoAvailableBackendError",
    "NoNodesError",
    "QuorumNotReachedError",
    "ShardwiseError",
    "UnknownNodeError",
]


class ShardwiseError(Exception):
    """Base class of every shardwise error."""


class ConfigurationError(ShardwiseError, ValueError):
    """A parameter or configuration value is invalid (bad weight, table size, duplicate name...)."""


# --- placement -------------------------------------------------------------------------------


class NoNodesError(ShardwiseError, LookupError):
    """A lookup was made on a placement (or balancer) that has no nodes."""


class UnknownNodeError(ShardwiseError, KeyError):
    """A node name was given that the placement or balancer does not hold."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


# --- selection -------------------------------------------------------------------------------


class NoAvailableBackendError(ShardwiseError, LookupError):
    """No backend can be picked: none is up (and no backup or panic mode applies)."""


# --- lock ------------------------------------------------------------------------------------
#
# The lock errors also derive from redis-py's lock exceptions, so code written for redis-py's Lock
# (``except redis.exceptions.LockError``, ``except LockNotOwnedError``) keeps catching them.


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


class FencingTokenError(ShardwiseError):
    """A write carried a fencing token older than one already seen: its holder lost the lock."""
