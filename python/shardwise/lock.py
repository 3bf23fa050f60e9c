"""Lock: a correct Redis distributed lock."""

from __future__ import annotations

__all__: list[str] = []
