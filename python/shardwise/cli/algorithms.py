"""Short algorithm names -> placement classes, from the registry (``shardwise._core.PLACEMENTS``).

Every registered class built from a node list (``cls(nodes, ...)``) is offered, named by its class
name in lower case (``memento`` and the other short names below are kept as well). ``module:Class``
names any other class with the shardwise placement interface (constructor from names or
name -> weight, ``nodes``, ``place``, ``get_node``, ``add_node``, ``remove_node``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass

from shardwise.cli._common import NodeSpec, UsageError
from shardwise.placement import CLASSES
from shardwise.placement._protocol import Placement

__all__ = ["KNOWN", "Algorithm", "Placement", "available", "build", "parse_algorithms", "resolve_class"]

# The short names the command line had before classes were named from the registry.
SHORT_NAMES = {
    "HashRing": "ring",
    "KetamaRing": "ketama",
    "JumpHash": "jump",
    "MementoHash": "memento",
    "BoundedLoadRing": "bounded",
}


@dataclass(frozen=True)
class Algorithm:
    """One registry entry as the command line shows it: short name, class name, description."""

    name: str
    class_name: str
    description: str


def _takes_nodes(cls: type) -> bool:
    """Whether ``cls`` is built from a node list (its first parameter is ``nodes``)."""
    try:
        params = list(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] == "nodes"


def _entry(cls: type) -> Algorithm:
    doc = (cls.__doc__ or "").strip().splitlines()
    return Algorithm(
        SHORT_NAMES.get(cls.__name__, cls.__name__.lower()), cls.__name__, doc[0] if doc else ""
    )


#: The algorithms the command line offers, in the registry's order.
KNOWN: tuple[Algorithm, ...] = tuple(_entry(cls) for cls in CLASSES.values() if _takes_nodes(cls))


def _classes(pure: bool) -> dict[str, type]:
    if not pure:
        return dict(CLASSES)
    twins = importlib.import_module("shardwise.pure.placement")
    return dict(twins.CLASSES)


def available(pure: bool = False) -> list[Algorithm]:
    """The algorithms the command line offers (every one has a pure twin)."""
    return list(KNOWN)


def names_help() -> str:
    return ", ".join(a.name for a in KNOWN)


def resolve_class(name: str, pure: bool = False) -> type:
    """The class for a short name (``ring``), a class name (``HashRing``) or ``module:Class``."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UsageError(f"--algo {name}: cannot import module {module_name!r} ({exc})") from None
        cls = getattr(module, attr, None)
        if not isinstance(cls, type):
            raise UsageError(f"--algo {name}: module {module_name!r} has no class {attr!r}")
        return cls
    for algo in KNOWN:
        if name.lower() in (algo.name, algo.class_name.lower()):
            return _classes(pure)[algo.class_name]
    raise UsageError(
        f"unknown algorithm {name!r}; choose from {', '.join(a.name for a in KNOWN)} or module:Class"
    )


def label(name: str) -> str:
    """The short name shown in tables for a user's algorithm argument."""
    for algo in KNOWN:
        if name.lower() in (algo.name, algo.class_name.lower()):
            return algo.name
    return name.rpartition(":")[2]


def vnode_parameter(cls: type) -> str | None:
    """``"vnodes"`` when the class takes virtual nodes per unit weight, else None."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return None
    return "vnodes" if "vnodes" in params else None


def build(cls: type, nodes: NodeSpec, vnodes: int | None = None) -> Placement:
    """An instance of ``cls`` over ``nodes``; ``vnodes`` goes to classes that take one."""
    kwargs: dict[str, object] = {}
    if vnodes is not None and vnode_parameter(cls) is not None:
        kwargs["vnodes"] = vnodes
    try:
        placement: Placement = cls(nodes.as_argument(), **kwargs)
    except (ValueError, TypeError, LookupError) as exc:
        message = str(exc)
        raise UsageError(message if cls.__name__ in message else f"{cls.__name__}: {message}") from None
    return placement


def parse_algorithms(text: str | None) -> list[str]:
    """``--algorithms a,b`` -> list; None -> every algorithm."""
    if text is None or text.strip() in ("", "all"):
        return [a.name for a in KNOWN]
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError("--algorithms: no algorithm named")
    for name in names:
        resolve_class(name)
    return names


def node_names(placement: Placement) -> Sequence[str]:
    return tuple(placement.nodes)
