"""The counter the clients increment under the lock, on a Redis server no fault touches.

Each increment is a read-modify-write: read the value, then write value + 1. Fenced locks use a
fenced read and a fenced write (Lua, atomic): each is refused when its token is smaller than the
largest token the counter has seen, and each raises that largest token — a read counts too. So once
B (token 6) has read, A (token 5) can neither read nor write; A's read before B's followed by B's
read and write leaves A's write refused. Equal tokens are allowed (one holder reads, then writes).

Every accepted read and write is appended to a log in the counter's own order
(``R|client|op|token|value|`` and ``W|client|op|token|read|wrote``): the checker settles unknown
outcomes and finds stale writes from it exactly. Unfenced locks use the same scripts with token 0,
which check nothing.
"""

from __future__ import annotations

import redis

from shardwise.testing.history import Entry, parse_entry

__all__ = ["Counter"]

VALUE_KEY = "lockcheck:counter"
HIGHEST_KEY = "lockcheck:counter:highest-token"
LOG_KEY = "lockcheck:counter:log"

# KEYS: highest, value, log. ARGV: token, client, op. -> {1, value} | {0, highest}
_READ = """
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if token < highest then return {0, highest} end
if token > highest then redis.call('SET', KEYS[1], ARGV[1]) end
local value = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('RPUSH', KEYS[3], 'R|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[1] .. '|' .. value .. '|')
return {1, value}
"""

# KEYS: highest, value, log. ARGV: token, client, op, read, new. -> {1, new} | {0, highest}
_WRITE = """
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if token < highest then return {0, highest} end
if token > highest then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('SET', KEYS[2], ARGV[5])
local entry = 'W|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[1] .. '|' .. ARGV[4] .. '|' .. ARGV[5]
redis.call('RPUSH', KEYS[3], entry)
return {1, tonumber(ARGV[5])}
"""


class Counter:
    """Client side of the counter for one client process."""

    def __init__(self, client: redis.Redis, client_id: int) -> None:
        self.client = client
        self.client_id = client_id
        self._read = client.register_script(_READ)
        self._write = client.register_script(_WRITE)

    def reset(self) -> None:
        self.client.delete(VALUE_KEY, HIGHEST_KEY, LOG_KEY)
        self.client.set(VALUE_KEY, 0)

    def read(self, token: int, op: int) -> tuple[bool, int]:
        """(accepted, value) or (False, largest token seen)."""
        ok, value = self._read(keys=[HIGHEST_KEY, VALUE_KEY, LOG_KEY], args=[token, self.client_id, op])
        return int(ok) == 1, int(value)

    def write(self, token: int, op: int, read: int, new: int) -> tuple[bool, int]:
        """(accepted, new) or (False, largest token seen)."""
        ok, value = self._write(
            keys=[HIGHEST_KEY, VALUE_KEY, LOG_KEY], args=[token, self.client_id, op, read, new]
        )
        return int(ok) == 1, int(value)

    def value(self) -> int:
        return int(self.client.get(VALUE_KEY) or 0)

    def log(self) -> list[Entry]:
        return [parse_entry(raw) for raw in self.client.lrange(LOG_KEY, 0, -1)]
