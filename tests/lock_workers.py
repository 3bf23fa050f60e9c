"""Worker functions for the multi-process lock tests (importable by spawned children)."""

from __future__ import annotations

import contextlib
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
            if not lock.acquire(blocking_timeout=45):
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


class SlowProxy:
    """A TCP proxy to a local redis-server that delays every reply by ``delay`` seconds: a slow
    network in front of a real server. ``close()`` stops it and drops its connections."""

    def __init__(self, target_port: int, delay: float) -> None:
        import socket
        import threading

        self.delay = delay
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = [self._listener]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                client.close()
                continue
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, 0.0), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.delay), daemon=True).start()

    @staticmethod
    def _pump(source: Any, sink: Any, delay: float) -> None:
        try:
            while data := source.recv(65536):
                time.sleep(delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self._closed = True
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()
