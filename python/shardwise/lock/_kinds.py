"""The constructors of the lock classes: one master (``RedisLock``, ``AsyncRedisLock``) or several
(``Redlock``, ``AsyncRedlock``). The client types are checked per flavour (``_clients``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from shardwise.lock._base import LockBase
from shardwise.lock._clients import label

# A lock's client: the blocking locks take the first two kinds, the asyncio ones the last two.
AnyClient: TypeAlias = "redis.Redis | RedisCluster | redis.asyncio.Redis | AsyncRedisCluster"


class SingleMaster(LockBase):
    """The constructor of the one-master locks (``client``'s type is checked per flavour)."""

    _twin = ""

    def __init__(
        self,
        client: AnyClient,
        name: str,
        ttl: float | None = None,
        sleep: float | None = None,
        blocking: bool = True,
        blocking_timeout: float | None = None,
        thread_local: bool = True,
        raise_on_release_error: bool = True,
        *,
        timeout: float | None = None,
        auto_renew: bool | None = None,
        on_lost: Callable[[Any], object] | None = None,
        renew_interval: float | None = None,
        call_timeout: float | None = None,
        prefix: str = "shardwise:lock:",
    ) -> None:
        if not isinstance(client, self._clients):
            raise TypeError(
                f"client must be a {' or '.join(t.__name__ for t in self._clients)} for {self._kind} "
                f"(use {self._twin} for the other kind), got {type(client).__name__}"
            )
        self._setup(
            name,
            [label(client)],
            prefix,
            ttl=ttl,
            timeout=timeout,
            sleep=sleep,
            blocking=blocking,
            blocking_timeout=blocking_timeout,
            thread_local=thread_local,
            raise_on_release_error=raise_on_release_error,
            auto_renew=auto_renew,
            on_lost=on_lost,
            renew_interval=renew_interval,
            call_timeout=call_timeout,
            call_timeout_name="call_timeout",
        )
        self.client = client
        self._connect([client])

    @property
    def call_timeout(self) -> float:
        """The bound of one Redis call (seconds)."""
        return self._settings.call_timeout

    def __repr__(self) -> str:
        return self._describe(f"key={self.keys.lock!r}")


class MultiMaster(LockBase):
    """The constructor of the Redlock classes."""

    _twin = ""
    _redlock = True

    def __init__(
        self,
        clients: Sequence[AnyClient],
        name: str,
        ttl: float | None = None,
        sleep: float | None = None,
        blocking: bool = True,
        blocking_timeout: float | None = None,
        thread_local: bool = True,
        raise_on_release_error: bool = True,
        *,
        timeout: float | None = None,
        auto_renew: bool | None = None,
        on_lost: Callable[[Any], object] | None = None,
        renew_interval: float | None = None,
        node_timeout: float | None = None,
        retry_delay: float | None = None,
        drift_factor: float = 0.01,
        prefix: str = "shardwise:lock:",
    ) -> None:
        masters = _check_clients(clients, self._clients, self._kind, self._twin)
        if retry_delay is not None and sleep is not None and retry_delay != sleep:
            raise ValueError(f"sleep and retry_delay (its former name) differ: {sleep} and {retry_delay}")
        self._setup(
            name,
            [label(c) for c in masters],
            prefix,
            ttl=ttl,
            timeout=timeout,
            sleep=retry_delay if sleep is None else sleep,
            blocking=blocking,
            blocking_timeout=blocking_timeout,
            thread_local=thread_local,
            raise_on_release_error=raise_on_release_error,
            auto_renew=auto_renew,
            on_lost=on_lost,
            renew_interval=renew_interval,
            call_timeout=node_timeout,
            call_timeout_name="node_timeout",
            drift_factor=drift_factor,
        )
        self.clients = masters
        self._connect(masters)

    @property
    def quorum(self) -> int:
        """How many masters make a majority: ``N // 2 + 1``."""
        return self._spec.quorum

    @property
    def node_timeout(self) -> float:
        """The bound of one call to one master (seconds)."""
        return self._settings.call_timeout

    @property
    def drift_factor(self) -> float:
        return self._settings.drift_factor

    def __repr__(self) -> str:
        return self._describe(f"masters={len(self.clients)}, quorum={self.quorum}")


def _check_clients(clients: object, types: tuple[type, ...], kind: str, other: str) -> list[Any]:
    """Redlock's masters: a non-empty list of distinct clients of the right kind."""
    if isinstance(clients, (str, bytes)) or not isinstance(clients, Sequence):
        raise TypeError(
            f"clients must be a list of Redis clients, one per master, got {type(clients).__name__}"
        )
    if not clients:
        raise ValueError(f"clients must not be empty: {kind} needs at least one master")
    for i, client in enumerate(clients):
        if not isinstance(client, types):
            raise TypeError(
                f"clients[{i}] must be a {' or '.join(t.__name__ for t in types)} "
                f"(use {other} for the other kind), got {type(client).__name__}"
            )
    if len({id(c) for c in clients}) != len(clients):
        raise ValueError("clients must be distinct: the same client object appears twice")
    return list(clients)
