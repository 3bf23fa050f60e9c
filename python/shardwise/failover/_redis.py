"""Redis actions for failover groups: promote a replica, point the others at it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from shardwise.failover._group import Promotion
from shardwise.failover._redisclient import bounded_client

__all__ = ["PromotionError", "RedisPromoter"]

log = logging.getLogger("shardwise.failover")


class PromotionError(RuntimeError):
    """A promotion could not be carried out safely (the group then tries another member)."""


class RedisPromoter:
    """Promotion hook for Redis primary/replica sets.

    ``nodes`` maps member names to ``redis.Redis`` clients (or ``redis://`` URLs). On a promotion
    it sends ``REPLICAOF NO ONE`` to the new primary (failure aborts the promotion) and
    ``REPLICAOF host port`` to every other member it can reach; a member that comes back later
    is pointed at the primary by :meth:`rejoin`. A planned switch-over (the old primary is up:
    fail-back, manual) first pauses writes on the old primary (``CLIENT PAUSE WRITE``) and waits
    until the new one has every byte of it, so that no acknowledged write is lost.

    For the group's choices it offers :meth:`offsets` (replication offsets: the most up-to-date
    replica is promoted) and :meth:`ready` (a returning old primary has caught up). Commands use
    their own connections bounded by ``timeout`` seconds. ``announce`` overrides the (host, port)
    replicas are told to follow.
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
            except (TypeError, ValueError) as error:
                raise type(error)(f"node {name!r}: {error}") from None
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

    def _command(self, node: str, *args: object) -> Any:
        return self._clients[node].execute_command(*args)  # type: ignore[no-untyped-call]

    def _info(self, node: str) -> dict[str, Any]:
        info: dict[str, Any] = self._clients[node].info("replication")
        info.update(self._clients[node].info("persistence"))
        return info

    def __call__(self, promotion: Promotion) -> None:
        """Promote ``promotion.new_primary``; raises if it refuses (the group tries the next)."""
        new = promotion.new_primary
        if promotion.planned:
            self._switch_over(promotion)
        else:
            self._command(new, "REPLICAOF", "NO", "ONE")
            self._record(new, "REPLICAOF NO ONE", "ok")
        for other in promotion.others:
            self.rejoin(other, new, promotion.token)

    def _switch_over(self, promotion: Promotion) -> None:
        """Pause writes on the old primary, wait for the new one to catch up, promote it, and point
        the old primary at it before its clients may write again."""
        old, new = promotion.old_primary, promotion.new_primary
        pause_ms = max(100, round(self.timeout * 2000))
        self._command(old, "CLIENT", "PAUSE", pause_ms, "WRITE")
        self._record(old, f"CLIENT PAUSE {pause_ms} WRITE", "ok")
        try:
            target = int(self._clients[old].info("replication")["master_repl_offset"])
            deadline = time.monotonic() + self.timeout
            while True:
                caught_up, why = self._caught_up(new, old, target)
                if caught_up:
                    break
                if time.monotonic() >= deadline:
                    raise PromotionError(f"{new} did not catch up within {self.timeout:g} s: {why}")
                time.sleep(0.01)
            self._command(new, "REPLICAOF", "NO", "ONE")
            self._record(new, "REPLICAOF NO ONE", "ok")
            self.rejoin(old, new, promotion.token)
        finally:
            try:
                self._command(old, "CLIENT", "UNPAUSE")
            except redis.RedisError as error:  # the pause ends by itself
                log.info("CLIENT UNPAUSE on %s failed: %s", old, error)

    def _caught_up(self, node: str, primary: str, target: int) -> tuple[bool, str]:
        info = self._info(node)
        host, port = self.addresses[primary]
        if info.get("role") != "slave" or int(info.get("master_port", -1)) != port:
            return False, f"{node} is not a replica of {primary} ({host}:{port})"
        if info.get("master_link_status") != "up":
            return False, f"{node}'s link to {primary} is {info.get('master_link_status')}"
        if int(info.get("master_sync_in_progress", 0)) or int(info.get("loading", 0)):
            return False, f"{node} is still syncing or loading"
        offset = int(info.get("slave_repl_offset", -1))
        if offset < target:
            return False, f"{node} is at offset {offset}, {primary} at {target}"
        return True, f"{node} is at offset {offset} of {primary} ({target})"

    def ready(self, node: str, primary: str) -> tuple[bool, str]:
        """Whether ``node`` holds everything ``primary`` has: a replica of it with its link up,
        not syncing or loading, at (or past) the primary's replication offset."""
        try:
            target = int(self._clients[primary].info("replication")["master_repl_offset"])
            return self._caught_up(node, primary, target)
        except redis.RedisError as error:
            return False, f"{type(error).__name__}: {error}"

    def offsets(self, nodes: Iterable[str]) -> dict[str, int | None]:
        """Replication offset of each node: how much of the primary's history it holds. None when
        unreachable, or while it loads or fully resyncs (it has no complete copy then)."""
        found: dict[str, int | None] = {}
        for node in nodes:
            try:
                info = self._info(node)
            except (redis.RedisError, KeyError) as error:
                log.info("offset of %s unknown: %s", node, error)
                found[node] = None
                continue
            if int(info.get("loading", 0)) or int(info.get("master_sync_in_progress", 0)):
                found[node] = None
            elif info.get("role") == "slave":
                found[node] = int(info.get("slave_repl_offset", 0))
            else:
                found[node] = int(info.get("master_repl_offset", 0))
        return found

    def rejoin(self, node: str, primary: str, token: int | None = None) -> bool:
        """Point ``node`` at ``primary``; False (logged) when ``node`` is unreachable."""
        if node not in self._clients or node == primary:
            return False
        host, port = self.addresses[primary]
        try:
            self._command(node, "REPLICAOF", host, port)
        except redis.RedisError as error:
            self._record(node, f"REPLICAOF {host} {port}", f"failed: {error}")
            log.info("rejoin %s -> %s failed: %s", node, primary, error)
            return False
        self._record(node, f"REPLICAOF {host} {port}", "ok")
        return True

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
