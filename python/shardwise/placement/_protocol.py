"""The interface every placement class implements (Rust classes and pure twins alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@runtime_checkable
class Placement(Protocol):
    """Structural type of a placement object (``HashRing``, ``Maglev``, pure twins...)."""

    @property
    def nodes(self) -> tuple[str, ...]: ...

    @property
    def weights(self) -> dict[str, float]: ...

    def get_node(self, key: Any) -> str: ...

    def get_nodes(self, key: Any, n: int) -> list[str]: ...

    def place(self, keys: Any, *, out: npt.NDArray[np.int32] | None = None) -> npt.NDArray[np.int32]: ...

    def __len__(self) -> int: ...

    def __contains__(self, name: object) -> bool: ...

    def add_node(self, name: str, weight: float = 1.0) -> None: ...

    def remove_node(self, name: str) -> None: ...

    def set_weight(self, name: str, weight: float) -> None: ...

    def to_state(self) -> dict[str, Any]: ...
