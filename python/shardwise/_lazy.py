"""Names a package exports from submodules that are imported on first use.

``import shardwise`` must stay cheap: the lock and failover modules pull in redis-py (and with it
asyncio), which only their users should pay for. A package lists ``name -> submodule`` and gets a
module ``__getattr__``/``__dir__``; type checkers read the same names from a ``TYPE_CHECKING`` block
(a test keeps the two equal).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps each name to the module that
    defines it (absolute, or relative to ``package`` when it starts with a dot)."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where, package), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
