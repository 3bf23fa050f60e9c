"""Placement: which node owns a key."""

from __future__ import annotations

__all__: list[str] = []
