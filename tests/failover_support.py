"""Helpers shared by the failover tests: polling, and real Redis primary/replica sets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from redis_support import RedisServer
from shardwise import Coordinator, FailoverGroup, Monitor, Promotion, RedisCheck, RedisPromoter

FAST_SYNC = ["--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"]


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout`` s; a Redis error counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return True
        except redis.RedisError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def replication(server: RedisServer) -> dict[str, object]:
    return server.client(socket_timeout=1).info("replication")


def follows(server: RedisServer, primary: RedisServer) -> bool:
    info = replication(server)
    return (
        info.get("role") == "slave"
        and int(info.get("master_port", 0)) == primary.port  # type: ignore[call-overload]
        and info.get("master_link_status") == "up"
    )


def start_set(redis_factory: Callable[..., RedisServer], names: tuple[str, ...] = ("r1", "r2", "r3")
              ) -> dict[str, RedisServer]:
    """Servers named ``names``; the first is the primary, the others replicate it (link up)."""
    servers = {name: redis_factory(extra_args=FAST_SYNC) for name in names}
    primary = servers[names[0]]
    for name in names[1:]:
        servers[name].client().execute_command("REPLICAOF", "127.0.0.1", primary.port)
    assert wait_for(lambda: all(follows(servers[n], primary) for n in names[1:]), 10)
    return servers


def fill(server: RedisServer, keys: range, prefix: str = "k") -> None:
    """Write one small value per key, pipelined."""
    pipe = server.client().pipeline(transaction=False)
    for i in keys:
        pipe.set(f"{prefix}{i}", i)
    pipe.execute()


def monitored_group(
    servers: dict[str, RedisServer],
    *,
    promote: Callable[[Promotion], None] | None = None,
    coordinator: Coordinator | None = None,
    **group_kw: Any,
) -> tuple[Monitor, FailoverGroup[redis.Redis], RedisPromoter]:
    """A monitor of ``servers`` (Redis checks) driving a group "g": r1 / [r2, r3], whose hook is a
    :class:`RedisPromoter` (or ``promote``); with ``coordinator``, attached to it too."""
    monitor = Monitor(interval=0.1, timeout=0.3, rise=2, fall=2)
    for name, server in servers.items():
        monitor.add_node(name, RedisCheck(server.client()))
    clients = {name: server.client(socket_timeout=2) for name, server in servers.items()}
    promoter = RedisPromoter(clients, timeout=1.0)
    group: FailoverGroup[redis.Redis] = FailoverGroup(
        "r1", ["r2", "r3"], promote=promote or promoter, resources=clients, coordinator=coordinator,
        **{"name": "g", **group_kw},
    )
    monitor.attach(group)
    if coordinator is not None:
        monitor.attach(coordinator)
    return monitor, group, promoter
