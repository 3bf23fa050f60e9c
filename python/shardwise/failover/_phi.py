"""The φ accrual failure detector (Rust core) and named presets of its settings.

Defaults: ``threshold=8.0``, ``max_sample_size=1000``, ``min_std_deviation=0.1`` s,
``acceptable_heartbeat_pause=0.0`` s, ``first_heartbeat_estimate=1.0`` s. Akka's cluster
defaults (``AKKA_CLUSTER``) add a 3 s acceptable pause: far fewer false suspicions under GC
pauses, detection seconds later.
"""

from __future__ import annotations

from typing import Any

from shardwise._core import PhiAccrualDetector

__all__ = ["AKKA_CLUSTER", "PHI_DEFAULTS", "PhiAccrualDetector"]

PHI_DEFAULTS: dict[str, Any] = {
    "threshold": 8.0,
    "max_sample_size": 1000,
    "min_std_deviation": 0.1,
    "acceptable_heartbeat_pause": 0.0,
    "first_heartbeat_estimate": 1.0,
}

AKKA_CLUSTER: dict[str, Any] = {
    "threshold": 8.0,
    "max_sample_size": 1000,
    "min_std_deviation": 0.1,
    "acceptable_heartbeat_pause": 3.0,
    "first_heartbeat_estimate": 1.0,
}
