"""shardwise: distributed-systems building blocks with a Rust core.

- :mod:`shardwise.hashing` — fast, stable hash functions, one key or numpy bulk;
- :mod:`shardwise.placement` — which node owns a key (consistent hashing and friends);
- :mod:`shardwise.selection` — which backend serves the next request (load balancers);
- :mod:`shardwise.lock` — a correct Redis lock and Redlock;
- :mod:`shardwise.failover` — health checks, failure detection, promotion.

Pure-Python twins of the Rust algorithms live in :mod:`shardwise.pure`.
"""

from __future__ import annotations

import os as _os
from typing import TYPE_CHECKING, Any

from shardwise import errors, failover, hashing, lock, placement, selection
from shardwise._core import __version__
from shardwise.errors import (
    ConfigurationError as ConfigurationError,
)
from shardwise.errors import (
    FencingTokenError as FencingTokenError,
)
from shardwise.errors import (
    NoAvailableBackendError as NoAvailableBackendError,
)
from shardwise.errors import (
    NoNodesError as NoNodesError,
)
from shardwise.errors import (
    ShardwiseError as ShardwiseError,
)
from shardwise.errors import (
    UnknownNodeError as UnknownNodeError,
)
from shardwise.hashing import get_num_threads, set_num_threads
from shardwise.placement import *  # noqa: F403
from shardwise.selection import *  # noqa: F403

if TYPE_CHECKING:
    from shardwise.errors import *  # noqa: F403
    from shardwise.failover import *  # noqa: F403
    from shardwise.lock import *  # noqa: F403

# The lock and failover names (and the lock errors) load redis-py: they are imported on first use.
_LAZY = (lock, failover, errors)


def __getattr__(name: str) -> Any:
    for module in _LAZY:
        if name in module.__all__:
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'shardwise' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _threads_from_env() -> None:
    raw = _os.environ.get("SHARDWISE_NUM_THREADS", "").strip()
    if not raw:
        return
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"SHARDWISE_NUM_THREADS must be a whole number >= 0, got {raw!r}") from None
    try:
        set_num_threads(count)
    except ValueError as exc:  # out of range: the binding's message says the range
        raise ValueError(f"SHARDWISE_NUM_THREADS={raw!r}: {exc}") from None


_threads_from_env()

__all__ = [
    "__version__",
    "errors",
    "failover",
    "get_num_threads",
    "hashing",
    "lock",
    "placement",
    "selection",
    "set_num_threads",
    *errors.__all__,
    *placement.__all__,
    *selection.__all__,
    *lock.__all__,
    *failover.__all__,
]
