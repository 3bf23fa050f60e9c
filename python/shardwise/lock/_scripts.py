"""The Lua scripts of the lock. Each one runs atomically on the server.

Every script touches only keys of one lock, which share a hash tag, so they also run on RedisCluster.
Replies are integers (or lists of integers) whatever the client's ``decode_responses``.

An acquire call has a random id; its "void" key ``<lock>:void:<id>`` is set when the call gives up
with an attempt whose answer never came. That attempt may still run on the server later (a frozen
server runs what it had received when it resumes): ACQUIRE refuses to run for a void call, and
ABANDON deletes the key if the attempt already ran, so the order of the two does not matter.
"""

from __future__ import annotations

from typing import Any

from shardwise.lock._common import LockKeys
from shardwise.lock._protocol import Op

# The fencing counter: INCR per acquisition. A counter that is missing (a new lock, or one lost
# with a server restarted empty or evicted) starts from the server's clock in microseconds, so the
# tokens after such a loss are larger than every token before it, as long as the counter gained
# less than one per microsecond on average since it started, and the server's clock never stepped
# back. The clock is built as an integer string: Lua's tostring would print 1.7e+15.
FENCE_LUA = """
local function clock_us()
  local now = redis.call('TIME')
  return now[1] .. string.format('%06d', tonumber(now[2]))
end
local function next_fence(counter)
  local fence = redis.call('INCR', counter)
  if fence == 1 then
    redis.call('SET', counter, clock_us())
    fence = redis.call('INCR', counter)
  end
  return fence
end
"""

# KEYS[1] lock, KEYS[2] fencing counter, KEYS[3] void key of this acquire call;
# ARGV[1] token, ARGV[2] ttl in ms, ARGV[3] '1' when an earlier attempt of this call may be reclaimed.
# -> {1, fencing token, pttl} held by us; {0, pttl of the holder's key}; {0, -4} the call was voided.
# The common case (free, not void) makes three calls: one EXISTS for both keys, SET, INCR.
ACQUIRE = (
    FENCE_LUA
    + """
if redis.call('EXISTS', KEYS[1], KEYS[3]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, next_fence(KEYS[2]), tonumber(ARGV[2])}
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {0, -4}
end
if ARGV[3] == '1' and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  local fence = redis.call('GET', KEYS[2])
  return {1, fence and tonumber(fence) or next_fence(KEYS[2]), tonumber(ARGV[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
"""
)

# KEYS[1] lock; ARGV[1] token, ARGV[2] release channel. -> 1 released, 0 not ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0
"""

# KEYS[1] lock, KEYS[2] void key of the acquire call; ARGV[1] token, ARGV[2] release channel,
# ARGV[3] lifetime of the void key in ms. -> 1 released, 0 not ours (the call is void either way).
ABANDON = """
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0
"""

# KEYS[1] lock; ARGV[1] token, ARGV[2] ms, ARGV[3] '1' to set the remaining time to ARGV[2],
# '0' to add ARGV[2] to it. -> the new remaining time in ms, or -1 when the lock is not ours.
EXTEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local ms = tonumber(ARGV[2])
if ARGV[3] == '0' then
  local left = redis.call('PTTL', KEYS[1])
  if left > 0 then
    ms = ms + left
  end
end
if ms < 1 then
  ms = 1
end
redis.call('PEXPIRE', KEYS[1], ms)
return ms
"""

# KEYS[1] lock; ARGV[1] token. -> PTTL in ms when ours (-1: no expiry), -3 when not.
PTTL_IF_OWNED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PTTL', KEYS[1])
end
return -3
"""

# KEYS[1] lock. -> 1 if anyone holds it, else 0.
EXISTS = """
return redis.call('EXISTS', KEYS[1])
"""

# KEYS[1] lock key, KEYS[2] fencing counter; ARGV[1] token, ARGV[2] value.
# Raise the counter to at least ARGV[2] while we hold the lock (Redlock write-back); a missing
# counter starts from the clock first, as in ACQUIRE. -> 1 / 0.
RAISE_FENCE = (
    FENCE_LUA
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local current = redis.call('GET', KEYS[2])
if not current then
  current = clock_us()
  redis.call('SET', KEYS[2], current)
end
if tonumber(current) < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1
"""
)

# KEYS[1] the resource's highest token seen, KEYS[2] the value key; ARGV[1] token, ARGV[2] value.
# -> {1, token} written, {0, highest token seen} rejected as stale.
FENCED_WRITE = """
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if token < highest then
  return {0, highest}
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return {1, token}
"""

ALL = (ACQUIRE, RELEASE, ABANDON, EXTEND, PTTL_IF_OWNED, EXISTS, RAISE_FENCE)


def invocation(op: Op, keys: LockKeys, args: tuple[Any, ...]) -> tuple[str, list[str], list[Any]]:
    """The script, KEYS and ARGV of one :class:`~shardwise.lock._protocol.Op` on one master."""
    if op is Op.ACQUIRE:
        token, call_id, ttl_ms, reclaim = args
        return ACQUIRE, [keys.lock, keys.fence, keys.void(call_id)], [token, ttl_ms, "1" if reclaim else "0"]
    if op is Op.RELEASE:
        return RELEASE, [keys.lock], [args[0], keys.channel]
    if op is Op.ABANDON:  # a clean-up for another lock object passes that lock's keys
        token, call_id, void_ms, *other = args
        keys = other[0] if other else keys
        return ABANDON, [keys.lock, keys.void(call_id)], [token, keys.channel, void_ms]
    if op is Op.EXTEND:
        token, ms, replace = args
        return EXTEND, [keys.lock], [token, ms, "1" if replace else "0"]
    if op is Op.FENCE:
        return RAISE_FENCE, [keys.lock, keys.fence], list(args)
    if op is Op.PTTL:
        return PTTL_IF_OWNED, [keys.lock], list(args)
    return EXISTS, [keys.lock], []
