"""The lock's scripts on the wire: each call is one ``EVALSHA`` on a connection of the bounded pool.

redis-py's command stack (``Script.__call__`` -> ``execute_command``: argument packing, retry
wrapper, metrics, response callbacks) costs about 25 µs of Python per call, twice what the round
trip itself costs on loopback. The lock does not need any of it: its scripts reply with integers,
its pool has no retries, and its calls are few and fixed. So a call here takes a connection from
the bounded pool (``get_connection``: fork and thread safe, reconnects a stale connection, waits
at most the bound in a ``BlockingConnectionPool``), sends bytes packed once per lock and op
(:class:`Packer`), reads the reply and gives the connection back. The connection's own socket
timeouts bound each step, and any error on the way closes it (redis-py's connections disconnect
on every exception, so no late reply is ever read by the next call). ``NOSCRIPT`` (a restarted
or flushed server) loads the script and sends the call again on the same connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import Callable
from typing import Any

from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shardwise.lock import _scripts
from shardwise.lock._clients import bounded_await
from shardwise.lock._common import LockKeys
from shardwise.lock._protocol import Op

_timeout = getattr(asyncio, "timeout", None) if sys.version_info >= (3, 11, 3) else None
SHA = {source: hashlib.sha1(source.encode()).hexdigest() for source in _scripts.ALL}

# How many of each op's KEYS + ARGV (as ``_scripts.invocation`` orders them) are the lock's own
# fixed keys, packed once into the op's head; the rest is packed per call.
_FIXED = {Op.ACQUIRE: 2, Op.FENCE: 2}


def bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


class Packer:
    """The RESP bytes of the EVALSHA calls of one lock (its keys, its client's encoding)."""

    def __init__(self, keys: LockKeys, encode: Callable[[Any], bytes]) -> None:
        self._keys = keys
        self._encode = encode
        self._heads: dict[Op, tuple[bytes, int]] = {}
        for op in Op:
            sample = _sample_args(op)
            source, key_names, argv = _scripts.invocation(op, keys, sample)
            fixed = _FIXED.get(op, 1 if key_names else 0)
            items = [b"EVALSHA", SHA[source].encode(), b"%d" % len(key_names)]
            items += [encode(k) for k in key_names[:fixed]]
            head = b"*%d\r\n" % (len(key_names) + len(argv) + 3) + b"".join(map(bulk, items))
            self._heads[op] = head, fixed

    def pack(self, op: Op, args: tuple[Any, ...]) -> tuple[str, bytes]:
        """The script's source (to load it on NOSCRIPT) and the call's bytes."""
        source, key_names, argv = _scripts.invocation(op, self._keys, args)
        head, fixed = self._heads[op]
        if op is Op.ABANDON and len(args) > 3:  # another lock's keys (the janitor): pack it all
            head, fixed = Packer(args[3], self._encode)._heads[op]
        encode = self._encode
        tail = [bulk(v if type(v) is bytes else encode(v)) for v in (*key_names[fixed:], *argv)]
        return source, head + b"".join(tail)


def _sample_args(op: Op) -> tuple[Any, ...]:
    """Arguments of the right shape for ``invocation`` (only the KEYS and ARGV counts matter)."""
    return {
        Op.ACQUIRE: ("t", "c", 1, True),
        Op.FENCE: ("t", 1),
        Op.RELEASE: ("t",),
        Op.ABANDON: ("t", "c", 1),
        Op.EXTEND: ("t", 1, True),
        Op.PTTL: ("t",),
        Op.EXISTS: (),
    }[op]


def call(pool: Any, source: str, packed: bytes) -> Any:
    """Send ``packed`` on a connection of ``pool`` and read the reply (blocking client)."""
    conn = pool.get_connection()
    try:
        conn.send_packed_command([packed])
        try:
            return conn.read_response()
        except NoScriptError:
            conn.send_packed_command([_load(source)])
            conn.read_response()
            conn.send_packed_command([packed])
            return conn.read_response()
    finally:
        pool.release(conn)


async def acall(pool: Any, source: str, packed: bytes, bound: float) -> Any:
    """Send ``packed`` on a connection of ``pool`` and read the reply (asyncio client), all within
    ``bound`` seconds. The asyncio pool's connections have no socket timeout (see
    ``_clients.async_bounded``): under one, redis.asyncio sends every command in a task of its own
    (``asyncio.wait_for``). One time limit around the whole call instead: ``asyncio.timeout``, or
    before Python 3.11.3 (whose ``asyncio.timeout`` redis-py does not trust either) a task awaited
    with a time limit. The connection is closed when the limit interrupts it mid-call."""
    if _timeout is None:
        return await bounded_await(_acall(pool, source, packed), bound)
    conn = None
    try:
        async with _timeout(bound):
            conn = await pool.get_connection()
            return await _exchange(conn, source, packed)
    except TimeoutError:
        raise RedisTimeoutError(f"no answer within {bound:g} s") from None
    finally:
        if conn is not None:
            await pool.release(conn)


async def _acall(pool: Any, source: str, packed: bytes) -> Any:
    conn = await pool.get_connection()
    try:
        return await _exchange(conn, source, packed)
    finally:
        await pool.release(conn)


async def _exchange(conn: Any, source: str, packed: bytes) -> Any:
    await conn.send_packed_command([packed])
    try:
        return await conn.read_response()
    except NoScriptError:
        await conn.send_packed_command([_load(source)])
        await conn.read_response()
        await conn.send_packed_command([packed])
        return await conn.read_response()


def _load(source: str) -> bytes:
    parts = [b"SCRIPT", b"LOAD", source.encode()]
    return b"*3\r\n" + b"".join(map(bulk, parts))
