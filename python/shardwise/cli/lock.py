"""``shardwise lock``: not available in this build yet."""

from __future__ import annotations

from typing import Any


def add_parser(subparsers: Any) -> None:
    """Registers nothing until the capability lands."""
