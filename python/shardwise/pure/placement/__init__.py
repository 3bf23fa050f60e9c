"""Pure-Python twins of the placement algorithms."""

from __future__ import annotations

__all__: list[str] = []
