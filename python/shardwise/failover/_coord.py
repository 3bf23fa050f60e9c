"""Several monitor processes, one actor: leader election with the shardwise Redis lock, fenced
actions, and node states shared through Redis (a hash plus a pub/sub channel)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from shardwise.errors import FencingTokenError
from shardwise.failover._events import NodeEvent, NodeState

__all__ = ["ActionFence", "Coordinator"]

log = logging.getLogger("shardwise.failover")

# KEYS: fence, group hash. ARGV: token, expected old primary, new primary.
# Rejects a token older than the highest seen; refuses when the primary already moved on.
_CLAIM = """
local highest = tonumber(redis.call('GET', KEYS[1]) or '-1')
local token = tonumber(ARGV[1])
if token < highest then return {'stale', tostring(highest)} end
local current = redis.call('HGET', KEYS[2], 'primary')
if current and current ~= ARGV[2] then return {'moved', current} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'primary', ARGV[3], 'token', ARGV[1])
local epoch = redis.call('HINCRBY', KEYS[2], 'epoch', 1)
return {'ok', tostring(epoch)}
"""

# KEYS: fence. ARGV: token. Admits a token not older than the highest seen, and records it.
_ADMIT = """
local highest = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) < highest then return highest end
redis.call('SET', KEYS[1], ARGV[1])
return -1
"""


class ActionFence:
    """The highest fencing token that has acted, kept in Redis; older tokens are refused."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.client = client
        self.key = key
        self._admit = client.register_script(_ADMIT)

    def admit(self, token: int) -> None:
        """Record ``token`` as acting; raise :class:`FencingTokenError` if a newer one acted."""
        highest = int(self._admit(keys=[self.key], args=[int(token)]))
        if highest >= 0:
            raise FencingTokenError(f"fencing token {token} is stale: token {highest} has already acted")

    @property
    def highest(self) -> int | None:
        raw = self.client.get(self.key)
        return None if raw is None else int(raw)


def _default_lock_factory(client: redis.Redis, name: str, ttl: float, on_lost: Callable[[], None]) -> Any:
    from shardwise import lock as lock_module

    redis_lock = getattr(lock_module, "RedisLock", None)
    if redis_lock is None:
        raise RuntimeError("shardwise.lock.RedisLock is not available in this build")
    return redis_lock(client, name, ttl, auto_renew=True, on_lost=lambda _lock: on_lost())


class Coordinator:
    """Elect one leader among processes sharing ``name`` on the Redis server of ``client``
    (give the client a ``socket_timeout``).

    The leader holds ``shardwise.lock.RedisLock`` (auto-renewed); losing it (``on_lost``) steps
    down at once. Each leadership carries the lock's fencing token; :meth:`claim_promotion`
    and :meth:`fence` reject actions with an older token than one that already acted.
    Publishing: the leader writes node states to the hash ``<prefix>:states`` and the channel
    ``<prefix>:events``; every process keeps :meth:`shared_states` up to date from them.
    """

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        *,
        ttl: float = 10.0,
        retry_interval: float | None = None,
        lock_factory: Callable[..., Any] | None = None,
        identity: str | None = None,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"ttl must be > 0 seconds, got {ttl!r}")
        self.client = client
        self.name = name
        self.ttl = float(ttl)
        self.retry_interval = float(retry_interval) if retry_interval is not None else min(1.0, ttl / 4)
        self.prefix = f"shardwise:failover:{name}"
        self.identity = identity or f"{id(self):x}"
        self.fence = ActionFence(client, f"{self.prefix}:fence")
        self._claim = client.register_script(_CLAIM)
        self._lock_factory = lock_factory or _default_lock_factory
        self._lock: Any = None
        self._token: int | None = None
        self._leader = False
        self._state_lock = threading.RLock()
        self._listeners: list[Callable[[bool], None]] = []
        self._state_listeners: list[Callable[[NodeEvent], None]] = []
        self._shared: dict[str, NodeState] = {}
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pubsub: Any = None

    # --- leadership ------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def token(self) -> int | None:
        """Fencing token of the current leadership (None when not leader)."""
        return self._token if self._leader else None

    def add_election_listener(self, fn: Callable[[bool], None]) -> None:
        """Call ``fn(True)`` when this process becomes leader, ``fn(False)`` when it steps down."""
        self._listeners.append(fn)

    def _notify(self, leader: bool) -> None:
        for fn in list(self._listeners):
            try:
                fn(leader)
            except Exception:
                log.exception("election listener %r failed", fn)

    def _on_lost(self) -> None:
        with self._state_lock:
            was = self._leader
            self._leader = False
            self._lost.set()
        if was:
            log.warning("%s: lost leadership (token %s)", self.identity, self._token)
            self._notify(False)

    def _elect_loop(self) -> None:
        while not self._stop.is_set():
            lock = self._lock_factory(self.client, f"{self.prefix}:leader", self.ttl, self._on_lost)
            try:
                acquired = bool(lock.acquire(blocking=False))
            except redis.RedisError as error:
                log.info("%s: election attempt failed: %s", self.identity, error)
                acquired = False
            if not acquired:
                self._stop.wait(self.retry_interval)
                continue
            with self._state_lock:
                self._lock = lock
                self._token = int(lock.fencing_token)
                self._lost.clear()
                self._leader = True
            try:  # from now on, actions of older leaderships are refused
                self.fence.admit(self._token)
            except (FencingTokenError, redis.RedisError) as error:
                log.warning("%s: fencing new leadership failed: %s", self.identity, error)
            log.warning("%s: elected leader with token %s", self.identity, self._token)
            self._notify(True)
            while not self._stop.is_set() and not self._lost.is_set():
                self._stop.wait(self.retry_interval)
                try:
                    lock.check()
                except Exception:
                    self._on_lost()
            if self._stop.is_set():
                self._step_down(lock)

    def _step_down(self, lock: Any) -> None:
        was = self._leader
        self._leader = False
        try:
            lock.release()
        except Exception as error:
            log.info("%s: release on stop: %s", self.identity, error)
        if was:
            self._notify(False)

    def wait_leader(self, timeout: float) -> bool:
        """Block until this process is leader (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._leader:
                return True
            time.sleep(0.01)
        return self._leader

    # --- fenced actions --------------------------------------------------------------------

    def claim_promotion(self, token: int, group: str, old: str, new: str) -> bool:
        """Atomically record that ``token`` promotes ``new`` in place of ``old``.

        Raises :class:`FencingTokenError` if a newer token has acted; returns False if the shared
        primary is no longer ``old`` (another leader already promoted).
        """
        status, value = self._claim(keys=[f"{self.prefix}:fence", f"{self.prefix}:group:{group}"],
                                    args=[int(token), old, new])
        status, value = _text(status), _text(value)
        if status == "stale":
            raise FencingTokenError(f"fencing token {token} is stale: token {value} has already acted")
        return status == "ok"

    def shared_primary(self, group: str) -> str | None:
        """The primary of ``group`` as last recorded in Redis."""
        raw = self.client.hget(f"{self.prefix}:group:{group}", "primary")
        return None if raw is None else _text(raw)

    # --- shared node states ----------------------------------------------------------------

    def handle_node_event(self, event: NodeEvent) -> None:
        """Monitor hook (``monitor.attach(coordinator)``): the leader publishes its events."""
        if not self._leader:
            return
        body = json.dumps(
            {"node": event.node, "old": event.old.value, "new": event.new.value, "reason": event.reason,
             "at": time.time(), "token": self._token, "by": self.identity}
        )
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(f"{self.prefix}:states", event.node, body)
            pipe.publish(f"{self.prefix}:events", body)
            pipe.execute()
        except redis.RedisError as error:
            log.warning("%s: publishing %s failed: %s", self.identity, event.node, error)

    def shared_states(self) -> dict[str, NodeState]:
        """Node states as published by the leaders (read from Redis)."""
        raw = self.client.hgetall(f"{self.prefix}:states")
        return {_text(k): NodeState(json.loads(v)["new"]) for k, v in raw.items()}

    def add_state_listener(self, fn: Callable[[NodeEvent], None]) -> None:
        """Call ``fn(event)`` for every state change published by the leader (any process)."""
        self._state_listeners.append(fn)

    def _subscribe_loop(self) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self._pubsub = pubsub
        try:
            pubsub.subscribe(f"{self.prefix}:events")
            while not self._stop.is_set():
                try:
                    message = pubsub.get_message(timeout=0.2)
                except redis.RedisError as error:
                    log.info("%s: subscription error: %s", self.identity, error)
                    self._stop.wait(self.retry_interval)
                    continue
                if message is None or message.get("type") != "message":
                    continue
                data = json.loads(message["data"])
                event = NodeEvent(data["node"], NodeState(data["old"]), NodeState(data["new"]),
                                  float(data["at"]), str(data["reason"]))
                self._shared[event.node] = event.new
                for fn in list(self._state_listeners):
                    try:
                        fn(event)
                    except Exception:
                        log.exception("state listener %r failed", fn)
        finally:
            pubsub.close()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Coordinator:
        self._stop.clear()
        try:
            self._shared = self.shared_states()
        except redis.RedisError:
            self._shared = {}
        for target, label in ((self._elect_loop, "elect"), (self._subscribe_loop, "follow")):
            thread = threading.Thread(target=target, name=f"shardwise-coord-{label}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def __enter__(self) -> Coordinator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
