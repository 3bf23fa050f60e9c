"""Pure-Python twins of the placement algorithms: same classes, API and results as
:mod:`shardwise.placement`, readable and slow.

The twins follow the registry of the compiled module (``shardwise._core.PLACEMENTS``): the twin
of class ``HashRing`` is the class of that name in the module ``hash_ring`` beside this file
(the class name in snake case).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from shardwise._core import PLACEMENTS
from shardwise.errors import ConfigurationError
from shardwise.pure.placement._base import PurePlacement
from shardwise.pure.placement.jump_hash import jump, jump_many


def module_name(class_name: str) -> str:
    """The twin module of a placement class: ``HashRing`` -> ``hash_ring``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def _twin(class_name: str) -> type[PurePlacement]:
    module = importlib.import_module(f"{__name__}.{module_name(class_name)}")
    twin: type[PurePlacement] = getattr(module, class_name)
    return twin


#: Class name -> twin, in the registry's order.
CLASSES: dict[str, type[PurePlacement]] = {cls.__name__: _twin(cls.__name__) for cls in PLACEMENTS}
globals().update(CLASSES)

__all__ = ["PurePlacement", "from_state", "jump", "jump_many", *CLASSES]


def from_state(state: dict[str, Any]) -> Any:
    """Rebuild a pure placement object from ``to_state()`` output (any class)."""
    if not isinstance(state, dict) or "class" not in state:
        raise TypeError("state must be a dict made by to_state()")
    try:
        cls = CLASSES[state["class"]]
    except (KeyError, TypeError):
        raise ConfigurationError(f"unknown placement class {state['class']!r} in state") from None
    return cls.from_state(state)
