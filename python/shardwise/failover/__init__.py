"""Failover: health checks, φ accrual failure detection, node state machines, monitors that
drive placements and balancers, primary/backup groups and leader-coordinated promotion.

- :class:`PhiAccrualDetector` (Rust): heartbeats in, suspicion level φ out, for many nodes;
- checks: :class:`TcpCheck`, :class:`HttpCheck`, :class:`RedisCheck`, :class:`CallableCheck`,
  :class:`PhiCheck`;
- :class:`Monitor` (threads) / :class:`AsyncMonitor` (asyncio): per-node rise/fall state machine
  ``up → suspect → down → recovering → up``, :class:`NodeEvent` to listeners, attached objects
  and event streams;
- :class:`FailoverGroup` + :class:`RedisPromoter`: promote the most up-to-date backup when the
  primary goes down; fail back once the old primary has caught up;
- :class:`Coordinator` (leader election, shared states) and :class:`ActionFence`: several monitor
  processes, one actor, stale actions rejected by fencing token.
"""

from __future__ import annotations

from shardwise.failover._async_monitor import AsyncMonitor
from shardwise.failover._checks import (
    CallableCheck,
    Check,
    CheckResult,
    HttpCheck,
    PhiCheck,
    RedisCheck,
    TcpCheck,
)
from shardwise.failover._coord import ActionFence, Coordinator
from shardwise.failover._events import EventStream, NodeEvent, NodeState
from shardwise.failover._group import FailoverGroup, Promotion
from shardwise.failover._monitor import Monitor
from shardwise.failover._phi import AKKA_CLUSTER, PHI_DEFAULTS, PhiAccrualDetector
from shardwise.failover._redis import PromotionError, RedisPromoter
from shardwise.failover._state import HealthTracker

__all__ = [
    "AKKA_CLUSTER",
    "PHI_DEFAULTS",
    "ActionFence",
    "AsyncMonitor",
    "CallableCheck",
    "Check",
    "CheckResult",
    "Coordinator",
    "EventStream",
    "FailoverGroup",
    "HealthTracker",
    "HttpCheck",
    "Monitor",
    "NodeEvent",
    "NodeState",
    "PhiAccrualDetector",
    "PhiCheck",
    "Promotion",
    "PromotionError",
    "RedisCheck",
    "RedisPromoter",
    "TcpCheck",
]
