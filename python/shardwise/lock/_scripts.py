"""The Lua scripts of the lock. Each one runs atomically on the server.

Every script touches only keys of one lock, which share a hash tag, so they also run on RedisCluster.
Replies are plain integers (or a pair of integers) whatever the client's ``decode_responses``.
"""

from __future__ import annotations

# KEYS[1] lock key, KEYS[2] fencing counter; ARGV[1] token, ARGV[2] ttl in ms.
# -> {1, fencing token} on success, {0, PTTL of the key in ms} when someone holds it.
ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('INCR', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
"""

# KEYS[1] lock key; ARGV[1] token, ARGV[2] release channel. -> 1 released, 0 not ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0
"""

# KEYS[1] lock key; ARGV[1] token, ARGV[2] new ttl in ms. -> 1 extended, 0 not ours.
EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] lock key; ARGV[1] token. -> PTTL in ms when ours, -3 when not.
PTTL_IF_OWNED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PTTL', KEYS[1])
end
return -3
"""

# KEYS[1] lock key, KEYS[2] fencing counter; ARGV[1] token, ARGV[2] value.
# Raise the counter to at least ARGV[2] while we hold the lock (Redlock write-back). -> 1 / 0.
RAISE_FENCE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if current < tonumber(ARGV[2]) then
    redis.call('SET', KEYS[2], ARGV[2])
  end
  return 1
end
return 0
"""

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
