"""Redis actions for failover groups: promote a replica, point the others at it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import redis

from shardwise.failover._group import Promotion
from shardwise.failover._redisclient import bounded_client

__all__ = ["RedisPromoter"]

log = logging.getLogger("shardwise.failover")


class RedisPromoter:
    """Promotion hook for Redis primary/replica sets.

    ``nodes`` maps member names to ``redis.Redis`` clients (or ``redis://`` URLs). On a promotion
    it sends ``REPLICAOF NO ONE`` to the new primary (failure aborts the promotion) and
    ``REPLICAOF host port`` to every other member it can reach; a member that comes back later
    is pointed at the primary by :meth:`rejoin`. Commands use their own connections bounded by
    ``timeout`` seconds. ``announce`` overrides the (host, port) replicas are told to follow.
    """

    def __init__(
        self,
        nodes: Mapping[str, redis.Redis | str],
        *,
        timeout: float = 2.0,
        announce: Mapping[str, tuple[str, int]] | None = None,
    ) -> None:
        self.timeout = float(timeout)
        self._clients: dict[str, redis.Redis] = {}
        self.addresses: dict[str, tuple[str, int]] = {}
        for name, node in nodes.items():
            try:
                client = bounded_client(node, self.timeout)
            except TypeError as error:
                raise TypeError(f"node {name!r}: {error}") from None
            self._clients[name] = client
            kw = client.connection_pool.connection_kwargs
            self.addresses[name] = (str(kw.get("host", "127.0.0.1")), int(kw.get("port", 6379)))
        if announce:
            self.addresses.update(announce)
        self.log: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def _record(self, node: str, command: str, outcome: str) -> None:
        with self._lock:
            self.log.append((node, command, outcome))

    def __call__(self, promotion: Promotion) -> None:
        """Promote ``promotion.new_primary``; raises if it refuses (the group tries the next)."""
        new = promotion.new_primary
        self._clients[new].execute_command("REPLICAOF", "NO", "ONE")  # type: ignore[no-untyped-call]
        self._record(new, "REPLICAOF NO ONE", "ok")
        for other in promotion.others:
            self.rejoin(other, new, promotion.token)

    def rejoin(self, node: str, primary: str, token: int | None = None) -> bool:
        """Point ``node`` at ``primary``; False (logged) when ``node`` is unreachable."""
        if node not in self._clients or node == primary:
            return False
        host, port = self.addresses[primary]
        try:
            self._clients[node].execute_command("REPLICAOF", host, port)  # type: ignore[no-untyped-call]
        except redis.RedisError as error:
            self._record(node, f"REPLICAOF {host} {port}", f"failed: {error}")
            log.info("rejoin %s -> %s failed: %s", node, primary, error)
            return False
        self._record(node, f"REPLICAOF {host} {port}", "ok")
        return True

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
