"""Selection: which backend serves the next request."""

from __future__ import annotations

__all__: list[str] = []
