"""Helpers shared by the failover tests: polling, and real Redis primary/replica sets."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from redis_support import RedisServer

FAST_SYNC = ["--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"]


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Poll ``predicate`` until true or ``timeout`` s; a Redis error counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except redis.RedisError:
            pass
        time.sleep(step)
    return False


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
