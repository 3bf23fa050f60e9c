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

from typing import TYPE_CHECKING

from shardwise._lazy import lazy_exports

# Imported on first use: checks, monitors and coordination load redis-py (and asyncio).
_EXPORTS = {
    "AKKA_CLUSTER": "._phi",
    "ActionFence": "._coord",
    "AsyncMonitor": "._async_monitor",
    "CallableCheck": "._checks",
    "Check": "._checks",
    "CheckResult": "._checks",
    "Coordinator": "._coord",
    "EventStream": "._events",
    "FailoverGroup": "._group",
    "HealthTracker": "._state",
    "HttpCheck": "._checks",
    "Monitor": "._monitor",
    "NodeEvent": "._events",
    "NodeState": "._events",
    "PHI_DEFAULTS": "._phi",
    "PhiAccrualDetector": "._phi",
    "PhiCheck": "._checks",
    "Promotion": "._group",
    "PromotionError": "._redis",
    "RedisCheck": "._checks",
    "RedisPromoter": "._redis",
    "TcpCheck": "._checks",
}
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
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from shardwise.failover._async_monitor import AsyncMonitor as AsyncMonitor
    from shardwise.failover._checks import CallableCheck as CallableCheck
    from shardwise.failover._checks import Check as Check
    from shardwise.failover._checks import CheckResult as CheckResult
    from shardwise.failover._checks import HttpCheck as HttpCheck
    from shardwise.failover._checks import PhiCheck as PhiCheck
    from shardwise.failover._checks import RedisCheck as RedisCheck
    from shardwise.failover._checks import TcpCheck as TcpCheck
    from shardwise.failover._coord import ActionFence as ActionFence
    from shardwise.failover._coord import Coordinator as Coordinator
    from shardwise.failover._events import EventStream as EventStream
    from shardwise.failover._events import NodeEvent as NodeEvent
    from shardwise.failover._events import NodeState as NodeState
    from shardwise.failover._group import FailoverGroup as FailoverGroup
    from shardwise.failover._group import Promotion as Promotion
    from shardwise.failover._monitor import Monitor as Monitor
    from shardwise.failover._phi import AKKA_CLUSTER as AKKA_CLUSTER
    from shardwise.failover._phi import PHI_DEFAULTS as PHI_DEFAULTS
    from shardwise.failover._phi import PhiAccrualDetector as PhiAccrualDetector
    from shardwise.failover._redis import PromotionError as PromotionError
    from shardwise.failover._redis import RedisPromoter as RedisPromoter
    from shardwise.failover._state import HealthTracker as HealthTracker
