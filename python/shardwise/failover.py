"""Failover: health checks, failure detection and promotion."""

from __future__ import annotations

__all__: list[str] = []
