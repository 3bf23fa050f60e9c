"""The exceptions shardwise raises.

Every class derives from :class:`ShardwiseError` and, where one fits, from the builtin a caller
would already catch (``ValueError``, ``LookupError``, ``TimeoutError``...), so ``except ValueError``
keeps working while ``except ShardwiseError`` catches everything of ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shardwise._lazy import lazy_exports

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
# The lock errors also derive from redis-py's exceptions, so they are defined with the lock
# (shardwise.lock._errors) and imported from there on first use: ``import shardwise`` stays free of
# redis-py. ``from shardwise.errors import LockError`` works as before.

_LOCK_ERRORS = {
    "LockBackendError": "shardwise.lock._errors",
    "LockError": "shardwise.lock._errors",
    "LockLostError": "shardwise.lock._errors",
    "LockNotAcquiredError": "shardwise.lock._errors",
    "LockNotOwnedError": "shardwise.lock._errors",
    "QuorumNotReachedError": "shardwise.lock._errors",
}
__getattr__, __dir__ = lazy_exports(__name__, _LOCK_ERRORS)

if TYPE_CHECKING:
    from shardwise.lock._errors import LockBackendError as LockBackendError
    from shardwise.lock._errors import LockError as LockError
    from shardwise.lock._errors import LockLostError as LockLostError
    from shardwise.lock._errors import LockNotAcquiredError as LockNotAcquiredError
    from shardwise.lock._errors import LockNotOwnedError as LockNotOwnedError
    from shardwise.lock._errors import QuorumNotReachedError as QuorumNotReachedError


class FencingTokenError(ShardwiseError):
    """A write carried a fencing token older than one already seen: its holder lost the lock."""
