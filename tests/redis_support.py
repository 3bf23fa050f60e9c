"""Real redis-server processes for the tests: started on free loopback ports, always stopped.

The manager is the product's own (:mod:`shardwise.testing.servers`, also used by
``shardwise lockcheck``); this module keeps the names the tests import."""

from __future__ import annotations

from shardwise.testing.servers import RedisServer, free_port, redis_server_binary

__all__ = ["RedisServer", "free_port", "redis_server_binary"]
