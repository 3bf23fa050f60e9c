"""Fault injection and history checking for Redis locks (``shardwise lockcheck``), and the
redis-server manager our own tests use.

- :func:`run_check` / :class:`RunConfig` — one Jepsen-style run: servers, proxies, clients, faults;
- :func:`check` / :class:`History` — the checker on its own, for histories recorded elsewhere;
- :class:`RedisServer` — a redis-server process on a loopback port (pause, kill, wipe, restart);
- :class:`FaultyProxy` — a loopback TCP proxy with latency, dropped connections and blackholes;
- :class:`LockKind` — how to plug another lock into the check (``--lock module:attribute``).
"""

from __future__ import annotations

from shardwise.testing.checker import CheckResult, Finding, check
from shardwise.testing.faults import ALL_FAULTS, DEFAULT_FAULTS
from shardwise.testing.history import Entry, Event, History, KeySample, Notice, Op
from shardwise.testing.locks import BUILTIN_LOCKS, LockKind, LockSetup, LockUnderTest
from shardwise.testing.proxy import FaultyProxy
from shardwise.testing.run import RunConfig, RunResult, run_check
from shardwise.testing.servers import RedisServer, RedisServerError, RedisServerNotFoundError

__all__ = [
    "ALL_FAULTS",
    "BUILTIN_LOCKS",
    "DEFAULT_FAULTS",
    "CheckResult",
    "Entry",
    "Event",
    "FaultyProxy",
    "Finding",
    "History",
    "KeySample",
    "LockKind",
    "LockSetup",
    "LockUnderTest",
    "Notice",
    "Op",
    "RedisServer",
    "RedisServerError",
    "RedisServerNotFoundError",
    "RunConfig",
    "RunResult",
    "check",
    "run_check",
]
