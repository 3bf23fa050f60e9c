"""Worker functions for the multi-process lock tests (importable by spawned children)."""

from __future__ import annotations

import time
from typing import Any


def contend(
    port: int, name: str, counter_key: str, rounds: int, barrier: Any, results: Any, worker: int
) -> None:
    """Take the lock ``rounds`` times; inside, read-modify-write a counter and record the hold."""
    import redis
    from shardwise import RedisLock

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    lock = RedisLock(client, name, ttl=10.0)
    holds = []
    try:
        barrier.wait(timeout=60)
        for _ in range(rounds):
            if not lock.acquire(timeout=45):
                raise RuntimeError("lock not acquired within 45 s")
            start = time.time_ns()
            value = int(client.get(counter_key) or 0)
            time.sleep(0.0005)  # widen the race window a lost update would need
            client.set(counter_key, value + 1)
            end = time.time_ns()
            holds.append((start, end, lock.fencing_token, worker))
            lock.release()
        results.put(("ok", holds))
    except BaseException as exc:
        results.put(("error", f"worker {worker}: {exc!r}"))
    finally:
        client.close()
