"""The shared base of the pure placement twins: node bookkeeping, validation, errors, state."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from shardwise.errors import ConfigurationError, NoNodesError, UnknownNodeError
from shardwise.pure.keys import as_key_list, encode_key
from shardwise.pure.validate import check_out as check_bulk_out
from shardwise.pure.validate import int_param, node_name, quoted, type_name
from shardwise.pure.validate import weight as weight_value

STATE_VERSION = 1
MAX_NODES = 1 << 24

NodesArg = Iterable[str] | Mapping[str, float] | None


__all__ = ["FixedLayout", "NodesArg", "PurePlacement", "check_out", "distinct_walk", "int_param", "placed"]


def check_out(out: object, count: int, keys: object) -> npt.NDArray[np.int32]:
    """The ``out=`` argument of ``place``: a writable, C-contiguous, 1-D int32 array with one
    slot per key, sharing no memory with ``keys``."""
    checked: npt.NDArray[np.int32] = check_bulk_out(out, (count,), np.int32, keys)
    return checked


def distinct_walk(owners: Sequence[int], start: int, n: int) -> list[int]:
    """The first ``n`` distinct owners walking ``owners`` from ``start``, wrapping around."""
    out: list[int] = []
    size = len(owners)
    for step in range(size):
        if len(out) == n:
            break
        owner = owners[(start + step) % size]
        if owner not in out:
            out.append(owner)
    return out


def placed(owners: list[int], out: npt.NDArray[np.int32] | None) -> npt.NDArray[np.int32]:
    """``owners`` as a new int32 array, or written into ``out`` (already checked)."""
    if out is None:
        return np.array(owners, dtype=np.int32)
    out[:] = owners
    return out


def check_weight_value(name: str, value: float) -> None:
    """A weight's range: finite and > 0."""
    if not (math.isfinite(value) and value > 0):
        raise ConfigurationError(f"weight of node {quoted(name)} must be a finite number > 0, got {value!r}")


def check_integral_weight(name: str, weight: float, why: str) -> int:
    if weight != math.floor(weight) or weight > 2.0**53:
        raise ConfigurationError(
            f"weight of node {quoted(name)} must be a whole number in [1, 2**53] {why}, got {weight!r}"
        )
    return int(weight)


def parse_nodes(nodes: NodesArg) -> list[tuple[str, float]]:
    """``(name, weight)`` pairs, every name and weight type-checked (ranges are checked as the
    nodes are added, in order)."""
    if nodes is None:
        return []
    if isinstance(nodes, (str, bytes)):
        raise TypeError(
            "nodes must be an iterable of names or a mapping name -> weight, not a single string "
            "(wrap it in a list)"
        )
    pairs: list[tuple[str, Any]]
    if isinstance(nodes, Mapping) or (hasattr(nodes, "items") and hasattr(nodes, "keys")):
        pairs = list(nodes.items())
    else:
        try:
            pairs = [(name, 1.0) for name in nodes]
        except TypeError:
            raise TypeError(
                f"nodes must be an iterable of names or a mapping name -> weight, not {type_name(nodes)}"
            ) from None
    out: list[tuple[str, float]] = []
    for name, weight in pairs:
        out.append((node_name(name), weight_value(name, weight)))
    return out


class PurePlacement(ABC):
    """Common API of every pure placement twin; subclasses add the algorithm.

    Subclasses set ``CLASS`` and implement ``_params``, ``_rebuild`` (derive lookup structures
    from ``_names``/``_weights``), ``_locate`` and ``_locate_n`` (on raw keys), and may override
    ``_check_node`` (extra validation of a node about to be added or re-weighted) and
    ``_check_remove``.
    """

    CLASS: ClassVar[str]
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, nodes: NodesArg = None) -> None:
        self._names: list[str] = []
        self._weights: list[float] = []
        self._index: dict[str, int] = {}
        for name, weight in parse_nodes(nodes):
            self._check_new(name, weight)
            self._append(name, weight)

    # --- to implement ---------------------------------------------------------------------

    @abstractmethod
    def _params(self) -> dict[str, Any]: ...

    @abstractmethod
    def _rebuild(self) -> None: ...

    @abstractmethod
    def _locate(self, key: Any) -> int: ...

    @abstractmethod
    def _locate_n(self, key: Any, n: int) -> list[int]: ...

    def _check_node(self, name: str, weight: float) -> None:  # noqa: B027 - optional hook
        """Extra checks on a node about to be added or re-weighted."""

    def _check_remove(self, name: str) -> None:  # noqa: B027 - optional hook
        """Extra checks before a node is removed."""

    # --- bookkeeping ----------------------------------------------------------------------

    def _check_new(self, name: str, weight: float) -> None:
        if not name:
            raise ConfigurationError("node names must be non-empty")
        if name in self._index:
            raise ConfigurationError(f"duplicate node name {quoted(name)}")
        if len(self._names) >= MAX_NODES:
            raise ConfigurationError(f"too many nodes (the limit is {MAX_NODES})")
        check_weight_value(name, weight)
        self._check_node(name, weight)

    def _append(self, name: str, weight: float) -> None:
        self._index[name] = len(self._names)
        self._names.append(name)
        self._weights.append(weight)

    def _require(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise UnknownNodeError(f"{self.CLASS} has no node {quoted(name)}") from None

    def _no_nodes(self) -> NoNodesError:
        return NoNodesError(f"{self.CLASS} has no nodes; add one with add_node()")

    # --- public API -----------------------------------------------------------------------

    def get_node(self, key: Any) -> str:
        """The node that owns ``key``."""
        encode_key(key)
        if not self._names:
            raise self._no_nodes()
        return self._names[self._locate(key)]

    def get_nodes(self, key: Any, n: int) -> list[str]:
        """``n`` distinct nodes for ``key``, in preference order."""
        n = int_param("n", n, 0, 2**32 - 1)
        encode_key(key)
        if not self._names:
            raise self._no_nodes()
        if n > len(self._names):
            raise ConfigurationError(f"asked for {n} distinct nodes but only {len(self._names)} exist")
        return [self._names[i] for i in self._locate_n(key, n)]

    def place(self, keys: Any, *, out: npt.NDArray[np.int32] | None = None) -> npt.NDArray[np.int32]:
        """The owner index of every key (into ``out`` when given)."""
        items = as_key_list(keys)
        if out is not None:
            check_out(out, len(items), keys)
        return placed(self._place_items(items), out)

    def _place_items(self, items: list[Any]) -> list[int]:
        """The owner of every (checked) key; the default locates them one by one."""
        if not self._names:
            raise self._no_nodes()
        return [self._locate(k) for k in items]

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self._names)

    @property
    def weights(self) -> dict[str, float]:
        return dict(zip(self._names, self._weights, strict=True))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._index

    def add_node(self, name: str, weight: float = 1.0) -> None:
        name = node_name(name)
        w = weight_value(name, weight)
        self._add(name, w)

    def _add(self, name: str, w: float) -> None:
        self._check_new(name, w)
        self._append(name, w)
        try:
            self._rebuild()
        except Exception:
            self._remove_at(len(self._names) - 1)
            self._rebuild()
            raise

    def _remove_at(self, i: int) -> None:
        del self._index[self._names[i]]
        del self._names[i]
        del self._weights[i]
        self._index = {n: j for j, n in enumerate(self._names)}

    def remove_node(self, name: str) -> None:
        i = self._require(node_name(name))
        self._check_remove(name)
        self._remove_at(i)
        self._rebuild()

    def set_weight(self, name: str, weight: float) -> None:
        name = node_name(name)
        w = weight_value(name, weight)
        self._set_weight(name, w)

    def _set_weight(self, name: str, w: float) -> None:
        i = self._require(name)
        check_weight_value(name, w)
        self._check_node(name, w)
        old, self._weights[i] = self._weights[i], w
        try:
            self._rebuild()
        except Exception:
            self._weights[i] = old
            self._rebuild()
            raise

    def copy(self) -> Any:
        return self.from_state(self.to_state())

    __copy__ = copy

    def __deepcopy__(self, memo: object) -> Any:
        return self.copy()

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "class": self.CLASS,
            "nodes": list(self._names),
            "weights": list(self._weights),
            "params": self._params(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Any:
        if not isinstance(state, dict):
            raise TypeError("state must be a dict made by to_state()")
        for key in ("version", "class", "nodes", "weights", "params"):
            if key not in state:
                raise ConfigurationError(f"state has no {key!r} entry")
        if state["version"] != STATE_VERSION:
            raise ConfigurationError(
                f"unsupported state version {state['version']} (this build reads {STATE_VERSION})"
            )
        if state["class"] != cls.CLASS:
            raise ConfigurationError(f"state is for {state['class']}, not {cls.CLASS}")
        if len(state["nodes"]) != len(state["weights"]):
            raise ConfigurationError("state has different numbers of nodes and weights")
        nodes: list[tuple[str, float]] = list(zip(state["nodes"], state["weights"], strict=True))
        obj = cls.__new__(cls)
        PurePlacement.__init__(obj, None)
        obj._set_params(dict(state["params"]))
        for name, weight in nodes:
            w = weight_value(node_name(name), weight)
            obj._check_new(name, w)
            obj._append(name, w)
        obj._rebuild()
        return obj

    def _set_params(self, params: dict[str, Any]) -> None:
        """Apply constructor parameters (from a state); the default takes them as keywords."""
        type(self).__init__(self, None, **params)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        from shardwise.pure.placement import from_state

        return from_state, (self.to_state(),)

    def __repr__(self) -> str:
        shown = [repr(n) for n in self._names[:5]]
        if len(self._names) > 5:
            shown.append(f"... {len(self._names) - 5} more")
        parts = [f"nodes=[{', '.join(shown)}]"] + [f"{k}={v!r}" for k, v in self._params().items()]
        return f"{self.CLASS}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, PurePlacement)
        return self.to_state() == other.to_state()


class FixedLayout(PurePlacement):
    """A placement whose nodes follow from its layout (ranges, slots): it cannot change them."""

    INSTEAD: ClassVar[str]

    def _fixed(self, what: str) -> ConfigurationError:
        return ConfigurationError(f"{self.CLASS} cannot {what}: {self.INSTEAD}")

    def _add(self, name: str, w: float) -> None:
        raise self._fixed("add a node")

    def _check_remove(self, name: str) -> None:
        raise self._fixed("remove a node")

    def _set_weight(self, name: str, w: float) -> None:
        self._require(name)
        raise self._fixed("weight nodes")
