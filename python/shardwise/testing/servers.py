"""redis-server processes on loopback ports, for tests and fault injection.

:class:`RedisServer` starts one ``redis-server`` on a free ``127.0.0.1`` port in its own temporary
directory and can pause (SIGSTOP), resume, kill -9, wipe and restart it on the same port. ``stop()``
and ``close()`` never wait forever, and every server is stopped at interpreter exit even when the
caller forgot; with ``die_with_parent=True`` (Linux, needs ``setpriv``) the kernel also kills it
if this process dies without cleaning up (kill -9). Spawn such servers from a thread that outlives
them (the main thread): the kernel signal follows the spawning thread.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

__all__ = ["RedisServer", "RedisServerError", "RedisServerNotFoundError", "free_port", "redis_server_binary"]

_LOOPBACK = "127.0.0.1"


class RedisServerError(RuntimeError):
    """A redis-server process could not be started or controlled."""


class RedisServerNotFoundError(RedisServerError, FileNotFoundError):
    """No ``redis-server`` binary on PATH."""


def redis_server_binary() -> str:
    """The path of ``redis-server``; raises :class:`RedisServerNotFoundError` when it is not on PATH."""
    found = shutil.which("redis-server")
    if found is None:
        raise RedisServerNotFoundError(
            "redis-server is not on PATH: install Redis (e.g. apt-get install redis-server) "
            "or put its bin directory on PATH"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((_LOOPBACK, 0))
        return int(s.getsockname()[1])


_live: weakref.WeakSet[RedisServer] = weakref.WeakSet()
_live_mutex = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _live_mutex:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop(timeout=2.0)


class RedisServer:
    """One redis-server process on 127.0.0.1.

    - ``cluster=True`` starts it with cluster mode enabled;
    - ``durable=True`` turns on the append-only file with ``fsync`` on every write, so a
      :meth:`kill` followed by :meth:`restart` keeps every acknowledged write (``wipe`` forgets them);
    - ``extra_args`` are appended to the command line (``["--maxmemory", "10mb"]``);
    - ``die_with_parent=True`` asks the kernel to kill the server when the spawning thread dies.
    """

    def __init__(
        self,
        *,
        cluster: bool = False,
        durable: bool = False,
        extra_args: Sequence[str] = (),
        die_with_parent: bool = False,
    ) -> None:
        self.cluster = cluster
        self.durable = durable
        self.extra_args = [str(a) for a in extra_args]
        self.die_with_parent = die_with_parent
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="shardwise-redis-")

    def __repr__(self) -> str:
        state = "stopped" if self.process is None else f"pid {self.process.pid}"
        return f"RedisServer(port={self.port}, {state})"

    @property
    def url(self) -> str:
        return f"redis://{_LOOPBACK}:{self.port}/0"

    @property
    def dir(self) -> Path:
        """The server's working directory (logs, AOF, cluster config)."""
        return Path(self._dir.name)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client connected to this server (``kwargs`` go to ``redis.Redis``)."""
        return redis.Redis(host=_LOOPBACK, port=self.port, **kwargs)

    def _command(self) -> list[str]:
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", _LOOPBACK,
            "--save", "",
            "--dir", str(self.dir),
            "--enable-debug-command", "yes",
        ]  # fmt: skip
        if self.durable:
            args += ["--appendonly", "yes", "--appendfsync", "always", "--appenddirname", "aof"]
        else:
            args += ["--appendonly", "no"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf"]
        args += self.extra_args
        setpriv = shutil.which("setpriv") if self.die_with_parent else None
        if setpriv is not None:
            args = [setpriv, "--pdeathsig", "KILL", "--", *args]
        return args

    @property
    def log_path(self) -> Path:
        return self.dir / f"redis-{self.port}.log"

    def start(self, port: int | None = None, attempts: int = 5, timeout: float = 10.0) -> RedisServer:
        """Start on ``port`` (default: a free one, retried ``attempts`` times if taken meanwhile)."""
        if self.running():
            raise RedisServerError(f"{self!r} is already running")
        last_error = ""
        for _ in range(attempts if port is None else 1):
            self.port = port or free_port()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    self._command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            with _live_mutex:
                _live.add(self)
            if self._wait_ready(timeout):
                return self
            last_error = self.log_path.read_text(errors="replace")[-2000:]
            self.stop()
        raise RedisServerError(f"redis-server did not start on port {self.port}: {last_error.strip()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            probe = redis.Redis(
                host=_LOOPBACK, port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            try:
                if probe.ping():
                    return True
            except redis.RedisError:
                time.sleep(0.02)
            finally:
                probe.close()
        return False

    def _signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)

    def pause(self) -> None:
        """SIGSTOP the server: it stops answering, connections stay open."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self._reap(10.0)

    def _reap(self, timeout: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); works on a paused server too."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self._reap(timeout)
        self.process = None
        with _live_mutex:
            _live.discard(self)

    def wipe(self) -> None:
        """Forget the data on disk (AOF, dumps) of a stopped server: the next start is empty."""
        if self.running():
            raise RedisServerError(f"stop or kill {self!r} before wiping its data")
        for path in self.dir.iterdir():
            if path.name == "aof" and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.suffix in (".rdb", ".aof"):
                path.unlink(missing_ok=True)

    def restart(self) -> RedisServer:
        """Start again on the same port (after kill or stop); a durable server keeps its data."""
        self.stop()
        return self.start(port=self.port)

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
