"""Short algorithm names -> placement classes, discovered at run time.

Only the classes that exist in the installed ``shardwise.placement`` are offered, so the command line
works with whatever algorithms this build has. ``module:Class`` names any other class with the
shardwise placement interface (constructor from names or name -> weight, ``nodes``, ``place``,
``get_node``, ``add_node``, ``remove_node``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from shardwise.cli._common import NodeSpec, UsageError


class Placement(Protocol):
    """The part of the placement interface the command line uses."""

    @property
    def nodes(self) -> tuple[str, ...]: ...

    def get_node(self, key: Any) -> str: ...

    def place(self, keys: Any) -> npt.NDArray[np.int32]: ...

    def add_node(self, name: str, weight: float = ...) -> None: ...

    def remove_node(self, name: str) -> None: ...


@dataclass(frozen=True)
class Algorithm:
    """One entry of the registry: short name, class name and a one-line description."""

    name: str
    class_name: str
    description: str
    kwargs: tuple[tuple[str, object], ...] = ()


# Short names in the order tables and plots show them.
KNOWN: tuple[Algorithm, ...] = (
    Algorithm("ring", "HashRing", "consistent hash ring with virtual nodes (xxh3)"),
    Algorithm("ketama", "KetamaRing", "libketama-compatible continuum (MD5)"),
    Algorithm("jump", "JumpHash", "jump consistent hash (Lamping & Veach)"),
    Algorithm("rendezvous", "Rendezvous", "highest random weight"),
    Algorithm("maglev", "Maglev", "Maglev lookup table"),
    Algorithm("memento", "MementoHash", "jump-like speed with arbitrary removal"),
    Algorithm("multiprobe", "MultiProbe", "multi-probe consistent hashing"),
    Algorithm("bounded", "BoundedLoadRing", "consistent hashing with bounded loads"),
)

VNODE_PARAMETERS = ("vnodes", "replicas", "points_per_weight", "points")


def _module(pure: bool) -> Any:
    name = "shardwise.pure.placement" if pure else "shardwise.placement"
    return importlib.import_module(name)


def available(pure: bool = False) -> list[Algorithm]:
    """The known algorithms whose class exists in this installation."""
    module = _module(pure)
    return [algo for algo in KNOWN if isinstance(getattr(module, algo.class_name, None), type)]


def names_help() -> str:
    found = {a.name for a in available()}
    parts = [a.name if a.name in found else f"{a.name} (not in this build)" for a in KNOWN]
    return ", ".join(parts)


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
    module = _module(pure)
    for algo in KNOWN:
        if name.lower() in (algo.name, algo.class_name.lower()):
            cls = getattr(module, algo.class_name, None)
            if not isinstance(cls, type):
                kind = "pure-Python twin" if pure else "class"
                raise UsageError(f"algorithm {name!r}: the {kind} {algo.class_name} is not in this build")
            return cls
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
    """The keyword a class takes for virtual nodes per unit weight, if any."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return None
    for candidate in VNODE_PARAMETERS:
        if candidate in params:
            return candidate
    return None


def build(cls: type, nodes: NodeSpec, vnodes: int | None = None) -> Placement:
    """An instance of ``cls`` over ``nodes``; ``vnodes`` goes to classes that take one."""
    kwargs: dict[str, object] = {}
    if vnodes is not None:
        param = vnode_parameter(cls)
        if param is not None:
            kwargs[param] = vnodes
    try:
        placement: Placement = cls(nodes.as_argument(), **kwargs)
    except (ValueError, TypeError, LookupError) as exc:
        message = str(exc)
        raise UsageError(message if cls.__name__ in message else f"{cls.__name__}: {message}") from None
    return placement


def parse_algorithms(text: str | None) -> list[str]:
    """``--algorithms a,b`` -> list; None -> every available one."""
    if text is None or text.strip() in ("", "all"):
        names = [a.name for a in available()]
        if not names:
            raise UsageError("this shardwise build has no placement algorithms yet")
        return names
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError("--algorithms: no algorithm named")
    for name in names:
        resolve_class(name)
    return names


def node_names(placement: Placement) -> Sequence[str]:
    return tuple(placement.nodes)
