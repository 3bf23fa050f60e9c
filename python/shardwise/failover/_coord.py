"""Several monitor processes, one actor: leader election with the shardwise Redis lock, fenced
actions, and node states shared through Redis (a hash plus a pub/sub channel)."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from shardwise.errors import FencingTokenError, LockError
from shardwise.failover._events import NodeEvent, NodeState

__all__ = ["ActionFence", "Coordinator"]

log = logging.getLogger("shardwise.failover")

# A promotion is claimed before it is carried out, then confirmed (or abandoned if it failed).
# Group hash fields: primary, token, epoch (what is confirmed); claim_token, claim_new (pending).

# KEYS: fence, group hash. ARGV: token, expected old primary, new primary.
# Rejects a token older than the highest seen; refuses when the primary already moved on.
_CLAIM = """
local highest = tonumber(redis.call('GET', KEYS[1]) or '-1')
local token = tonumber(ARGV[1])
if token < highest then return {'stale', tostring(highest)} end
local current = redis.call('HGET', KEYS[2], 'primary')
if current and current ~= ARGV[2] then return {'moved', current} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'claim_token', ARGV[1], 'claim_new', ARGV[3])
return {'ok', ''}
"""

# KEYS: fence, group hash. ARGV: token, old primary, new primary, group, channel, identity.
# Records the claimed promotion as done and publishes it; refuses if the claim is not ours any more.
_CONFIRM = """
local highest = tonumber(redis.call('GET', KEYS[1]) or '-1')
local token = tonumber(ARGV[1])
if token < highest then return {'stale', tostring(highest)} end
local claim = redis.call('HMGET', KEYS[2], 'claim_token', 'claim_new')
if claim[1] ~= ARGV[1] or claim[2] ~= ARGV[3] then return {'lost', tostring(claim[1])} end
redis.call('HDEL', KEYS[2], 'claim_token', 'claim_new')
redis.call('HSET', KEYS[2], 'primary', ARGV[3], 'token', ARGV[1])
local epoch = redis.call('HINCRBY', KEYS[2], 'epoch', 1)
redis.call('PUBLISH', ARGV[5], cjson.encode({type = 'promotion', group = ARGV[4], primary = ARGV[3],
  old = ARGV[2], token = token, epoch = epoch, by = ARGV[6]}))
return {'ok', tostring(epoch)}
"""

# KEYS: group hash. ARGV: token, new primary. Withdraws our pending claim (the promotion failed).
_ABANDON = """
local claim = redis.call('HMGET', KEYS[1], 'claim_token', 'claim_new')
if claim[1] == ARGV[1] and claim[2] == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'claim_token', 'claim_new')
  return 1
end
return 0
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
    down at once. The election keeps trying while Redis is unreachable (at start or later), so
    leadership is regained once it is back. Each leadership carries the lock's fencing token;
    :meth:`claim_promotion` and :meth:`fence` reject actions with an older token than one that
    already acted. A promotion is claimed, carried out, then confirmed (:meth:`confirm_promotion`,
    which publishes it: every process's groups follow) or abandoned if it failed.
    Publishing: the leader writes node states to the hash ``<prefix>:states`` and the channel
    ``<prefix>:events``; every process keeps :meth:`shared_states` up to date from them (malformed
    messages are logged and skipped).
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
        self.client = client
        self.name = name
        self.prefix = f"shardwise:failover:{name}"
        self._lock_factory = lock_factory or _default_lock_factory
        # Built now: the lock checks ttl with its own rule (the election reuses this lock).
        self._election = self._lock_factory(client, f"{self.prefix}:leader", ttl, self._on_lost)
        self.ttl = float(ttl)
        if retry_interval is not None and not (0 < float(retry_interval) < math.inf):
            raise ValueError(f"retry_interval must be a finite number of seconds > 0, got {retry_interval!r}")
        self.retry_interval = float(retry_interval) if retry_interval is not None else min(1.0, self.ttl / 4)
        self.identity = identity or f"{id(self):x}"
        self.fence = ActionFence(client, f"{self.prefix}:fence")
        self._claim = client.register_script(_CLAIM)
        self._confirm = client.register_script(_CONFIRM)
        self._abandon = client.register_script(_ABANDON)
        self._token: int | None = None
        self._leader = False
        self._state_lock = threading.RLock()
        self._listeners: list[Callable[[bool], None]] = []
        self._state_listeners: list[Callable[[NodeEvent], None]] = []
        self._watchers: dict[str, list[Callable[[str, int], None]]] = {}
        self._shared: dict[str, NodeState] = {}
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def channel(self) -> str:
        return f"{self.prefix}:events"

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
        lock = self._election  # acquired and released on this thread only
        while not self._stop.is_set():
            try:
                acquired = bool(lock.acquire(blocking=False))
            except (redis.RedisError, LockError, OSError) as error:  # Redis down: try again
                log.info("%s: election attempt failed: %s", self.identity, error)
                acquired = False
            except Exception:
                log.exception("%s: election attempt failed", self.identity)
                acquired = False
            if not acquired:
                self._stop.wait(self.retry_interval)
                continue
            with self._state_lock:
                self._token = int(lock.fencing_token)
                self._lost.clear()
                self._leader = True
            try:  # from now on, actions of older leaderships are refused
                self.fence.admit(self._token)
            except (FencingTokenError, redis.RedisError) as error:
                log.warning("%s: fencing new leadership failed: %s", self.identity, error)
            log.info("%s: elected leader with token %s", self.identity, self._token)
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

    def _group_key(self, group: str) -> str:
        return f"{self.prefix}:group:{group}"

    def claim_promotion(self, token: int, group: str, old: str, new: str) -> bool:
        """Atomically claim the promotion of ``new`` in place of ``old`` for ``token``.

        Raises :class:`FencingTokenError` if a newer token has acted; returns False if the shared
        primary is no longer ``old`` (another leader already promoted). A claim is pending until
        :meth:`confirm_promotion` (done) or :meth:`abandon_promotion` (failed).
        """
        status, value = self._claim(keys=[f"{self.prefix}:fence", self._group_key(group)],
                                    args=[int(token), old, new])
        status, value = _text(status), _text(value)
        if status == "stale":
            raise FencingTokenError(f"fencing token {token} is stale: token {value} has already acted")
        return status == "ok"

    def confirm_promotion(self, token: int, group: str, old: str, new: str) -> int:
        """Record the claimed promotion as done and publish it to every process; returns the
        group's new epoch. Raises :class:`FencingTokenError` if the claim is no longer ours."""
        status, value = self._confirm(
            keys=[f"{self.prefix}:fence", self._group_key(group)],
            args=[int(token), old, new, group, self.channel, self.identity],
        )
        status, value = _text(status), _text(value)
        if status != "ok":
            raise FencingTokenError(f"promotion of {new!r} by token {token} was overtaken ({status} {value})")
        return int(value)

    def abandon_promotion(self, token: int, group: str, new: str) -> None:
        """Withdraw the pending claim of ``token`` on ``new`` (its promotion failed)."""
        self._abandon(keys=[self._group_key(group)], args=[int(token), new])

    def shared_primary(self, group: str) -> str | None:
        """The primary of ``group`` as last confirmed in Redis."""
        return self.shared_epoch(group)[0]

    def shared_epoch(self, group: str) -> tuple[str | None, int]:
        """``(primary, epoch)`` of ``group`` as last confirmed (``(None, 0)`` before any)."""
        primary, epoch = self.client.hmget(self._group_key(group), ["primary", "epoch"])
        return (None if primary is None else _text(primary)), (0 if epoch is None else int(epoch))

    def watch_primary(self, group: str, fn: Callable[[str, int], None]) -> None:
        """Call ``fn(primary, epoch)`` whenever a leader confirms a promotion in ``group`` (and on
        each (re)subscription, with the recorded primary: nothing missed during an outage)."""
        self._watchers.setdefault(group, []).append(fn)

    def _notify_primary(self, group: str, primary: str, epoch: int) -> None:
        for fn in list(self._watchers.get(group, ())):
            try:
                fn(primary, epoch)
            except Exception:
                log.exception("primary watcher %r failed", fn)

    # --- shared node states ----------------------------------------------------------------

    def handle_node_event(self, event: NodeEvent) -> None:
        """Monitor hook (``monitor.attach(coordinator)``): the leader publishes its events."""
        if not self._leader:
            return
        body = json.dumps(
            {"type": "node", "node": event.node, "old": event.old.value, "new": event.new.value,
             "reason": event.reason, "at": time.time(), "token": self._token, "by": self.identity}
        )
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(f"{self.prefix}:states", event.node, body)
            pipe.publish(self.channel, body)
            pipe.execute()
        except redis.RedisError as error:
            log.warning("%s: publishing %s failed: %s", self.identity, event.node, error)

    def shared_states(self) -> dict[str, NodeState]:
        """Node states as published by the leaders (read from Redis; malformed entries skipped)."""
        return {node: event.new for node, event in self._shared_events().items()}

    def _shared_events(self) -> dict[str, NodeEvent]:
        events: dict[str, NodeEvent] = {}
        for key, raw in self.client.hgetall(f"{self.prefix}:states").items():
            try:
                events[_text(key)] = _node_event(raw)
            except (ValueError, KeyError, TypeError) as error:
                log.warning("%s: skipping malformed state of %r: %s", self.identity, key, error)
        return events

    def add_state_listener(self, fn: Callable[[NodeEvent], None]) -> None:
        """Call ``fn(event)`` for every state change published by the leader (any process)."""
        self._state_listeners.append(fn)

    def _catch_up(self) -> None:
        """After (re)subscribing: deliver what was missed (states that changed, promotions)."""
        try:
            for event in self._shared_events().values():
                if self._shared.get(event.node) is not event.new:
                    self._deliver_state(event)
            for group in list(self._watchers):
                primary, epoch = self.shared_epoch(group)
                if primary is not None:
                    self._notify_primary(group, primary, epoch)
        except redis.RedisError as error:
            log.info("%s: catching up failed: %s", self.identity, error)

    def _on_message(self, data: Any) -> None:
        payload = json.loads(data)
        if not isinstance(payload, dict):
            raise TypeError(f"expected a JSON object, got {type(payload).__name__}")
        kind = payload.get("type", "node")
        if kind == "promotion":
            self._notify_primary(str(payload["group"]), str(payload["primary"]), int(payload["epoch"]))
            return
        if kind != "node":
            raise ValueError(f"unknown message type {kind!r}")
        self._deliver_state(_node_event(payload))

    def _deliver_state(self, event: NodeEvent) -> None:
        self._shared[event.node] = event.new
        for fn in list(self._state_listeners):
            try:
                fn(event)
            except Exception:
                log.exception("state listener %r failed", fn)

    def _subscribe_loop(self) -> None:
        pubsub = self.client.pubsub()  # type: ignore[no-untyped-call]
        subscribed = False
        try:
            while not self._stop.is_set():
                try:
                    if not subscribed:  # once subscribed, redis-py resubscribes on reconnect
                        pubsub.subscribe(self.channel)
                        subscribed = True
                    message = pubsub.get_message(timeout=0.2)
                except (redis.RedisError, OSError) as error:
                    log.info("%s: subscription error: %s", self.identity, error)
                    self._stop.wait(self.retry_interval)
                    continue
                if message is None:
                    continue
                if message.get("type") == "subscribe":
                    self._catch_up()
                elif message.get("type") == "message":
                    try:
                        self._on_message(message["data"])
                    except (ValueError, KeyError, TypeError) as error:
                        log.warning("%s: ignoring malformed message %.200r: %s", self.identity,
                                    message.get("data"), error)
        finally:
            pubsub.close()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Coordinator:
        self._stop.clear()
        for target, label in ((self._elect_loop, "elect"), (self._subscribe_loop, "follow")):
            thread = threading.Thread(target=target, name=f"shardwise-coord-{label}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop electing and following (stepping down if leader); waits at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def __enter__(self) -> Coordinator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _node_event(raw: Any) -> NodeEvent:
    data = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return NodeEvent(str(data["node"]), NodeState(data["old"]), NodeState(data["new"]),
                     float(data["at"]), str(data["reason"]))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
