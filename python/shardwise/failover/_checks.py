"""Active health checks: TCP connect, HTTP(S) status, Redis PING, any callable, a φ detector.

Every check has ``run(timeout)`` (blocking) and ``run_async(timeout)`` returning a
:class:`CheckResult`; neither raises for an unhealthy node: the error becomes the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import inspect
import io
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Container, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from shardwise._core import PhiAccrualDetector
from shardwise.errors import ConfigurationError
from shardwise.failover._redisclient import bounded_client, describe, redact, validate_url
from shardwise.failover._threads import in_daemon_thread

__all__ = [
    "CallableCheck",
    "Check",
    "CheckResult",
    "HttpCheck",
    "PhiCheck",
    "RedisCheck",
    "TcpCheck",
]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: ``healthy``, a short ``reason`` and the ``latency`` in seconds."""

    healthy: bool
    reason: str
    latency: float


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Check:
    """Base class: subclasses implement :meth:`probe` (raise, or return False, when unhealthy)."""

    def probe(self, timeout: float) -> bool | tuple[bool, str] | str | None:
        """One probe; True/None/a string mean healthy, False or an exception unhealthy."""
        raise NotImplementedError

    async def probe_async(self, timeout: float) -> bool | tuple[bool, str] | str | None:
        """Async probe; by default the blocking probe in a thread of its own (never a shared
        pool, which a probe that hangs would fill)."""
        return await in_daemon_thread(lambda: self.probe(timeout), f"shardwise-probe:{self!r}")

    @property
    def runs_in_thread(self) -> bool:
        """True when the async form runs the blocking :meth:`probe` in a thread (an async monitor
        then runs :meth:`run` in a thread of the node's own)."""
        return type(self).probe_async is Check.probe_async

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    @staticmethod
    def _result(outcome: object, started: float) -> CheckResult:
        latency = time.monotonic() - started
        if isinstance(outcome, tuple):
            healthy, reason = bool(outcome[0]), str(outcome[1])
        elif outcome is None or outcome is True:
            healthy, reason = True, "ok"
        elif outcome is False:
            healthy, reason = False, "check returned False"
        elif isinstance(outcome, str):
            healthy, reason = True, outcome
        else:
            healthy, reason = bool(outcome), repr(outcome)
        return CheckResult(healthy, reason, latency)

    def run(self, timeout: float) -> CheckResult:
        """Run the check once, bounded by ``timeout`` seconds where the check can enforce it."""
        started = time.monotonic()
        try:
            return self._result(self.probe(timeout), started)
        except Exception as error:
            return CheckResult(False, _describe(error), time.monotonic() - started)

    async def run_async(self, timeout: float) -> CheckResult:
        """Run the check once from asyncio, cancelled after ``timeout`` seconds."""
        started = time.monotonic()
        try:
            outcome = await asyncio.wait_for(self.probe_async(timeout), timeout)
            return self._result(outcome, started)
        except asyncio.TimeoutError:
            return CheckResult(False, f"timed out after {timeout:g} s", time.monotonic() - started)
        except Exception as error:
            return CheckResult(False, _describe(error), time.monotonic() - started)


class TcpCheck(Check):
    """Healthy when a TCP connection to ``host:port`` opens within the timeout."""

    def __init__(self, host: str, port: int) -> None:
        if not 0 < int(port) < 65536:
            raise ConfigurationError(f"port must be in 1..65535, got {port!r}")
        self.host = host
        self.port = int(port)

    def probe(self, timeout: float) -> str:
        with socket.create_connection((self.host, self.port), timeout=timeout):
            return "connected"

    async def probe_async(self, timeout: float) -> str:
        _, writer = await asyncio.open_connection(self.host, self.port)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return "connected"

    def __repr__(self) -> str:
        return f"TcpCheck({self.host!r}, {self.port})"


class HttpCheck(Check):
    """Healthy when ``method url`` answers with a status in ``expected`` (default 200-399).

    Redirects are not followed (as HAProxy). ``ssl_context`` applies to https URLs.
    """

    def __init__(
        self,
        url: str,
        *,
        expected: Container[int] = range(200, 400),
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"url must be an http(s):// URL with a host, got {redact(url)!r}")
        try:
            parts.port  # noqa: B018 - parsed lazily by urllib: check it now
        except ValueError as error:
            raise ConfigurationError(f"url {redact(url)!r}: {error}") from None
        self.url = url
        self.expected = expected
        self.method = method
        self.headers = dict(headers or {})
        self.ssl_context = ssl_context
        self._parts = parts

    def probe(self, timeout: float) -> tuple[bool, str]:
        """One request; the whole exchange (connect, send, status, headers, body) ends within
        ``timeout`` seconds, however slowly the server trickles its bytes."""
        deadline = time.monotonic() + timeout
        parts = self._parts
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=timeout, context=self.ssl_context
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        connection.response_class = functools.partial(_DeadlineResponse, deadline=deadline)  # type: ignore[assignment]
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            connection.connect()
            assert connection.sock is not None
            connection.sock.settimeout(_remaining(deadline))
            connection.request(self.method, path, headers=self.headers)
            response = connection.getresponse()
            response.read(65536)
            status = response.status
        finally:
            connection.close()
        return status in self.expected, f"HTTP {status}"

    def __repr__(self) -> str:
        return f"HttpCheck({redact(self.url)!r})"


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


class _DeadlineReader(io.RawIOBase):
    """Reads from a socket's raw file that all end by one deadline (a socket timeout bounds each
    read only)."""

    def __init__(self, sock: socket.socket, raw: Any, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = raw  # the socket's own file: it keeps the descriptor open until closed
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_remaining(self._deadline))
        return int(self._raw.readinto(buffer))

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp = io.BufferedReader(_DeadlineReader(sock, self.fp.detach(), deadline))


class RedisCheck(Check):
    """Healthy when the server answers ``PING``.

    ``client`` is a ``redis.Redis`` (its connection settings are reused with the check's
    timeout, on connections of its own) or a ``redis://`` URL.
    """

    def __init__(self, client: redis.Redis | str) -> None:
        if not isinstance(client, (str, redis.Redis)):
            raise TypeError(f"client must be a redis.Redis or a redis:// URL, got {type(client).__name__}")
        self._source = validate_url(client) if isinstance(client, str) else client
        self._clients: dict[float, redis.Redis] = {}
        self._lock = threading.Lock()

    def _client(self, timeout: float) -> redis.Redis:
        with self._lock:
            found = self._clients.get(timeout)
            if found is None:
                found = self._clients[timeout] = bounded_client(self._source, timeout)
            return found

    def probe(self, timeout: float) -> tuple[bool, str]:
        client = self._client(timeout)
        try:
            ok = bool(client.ping())
        except redis.RedisError:
            client.connection_pool.disconnect()
            raise
        return ok, "PONG" if ok else "no PONG"

    def __repr__(self) -> str:
        return f"RedisCheck({describe(self._source)!r})"

    def close(self) -> None:
        """Close the check's own connections."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


class CallableCheck(Check):
    """Any callable, sync or async, taking no argument (or the timeout, with ``pass_timeout=True``).

    It returns True/False, ``(healthy, reason)``, or raises (unhealthy). A sync monitor runs an
    async callable with :func:`asyncio.run`; a blocking callable that overruns the timeout is
    reported unhealthy by the monitor (it cannot be interrupted).
    """

    def __init__(self, fn: Callable[..., Any], *, pass_timeout: bool = False) -> None:
        if not callable(fn):
            raise TypeError("fn must be callable")
        self.fn = fn
        self.pass_timeout = pass_timeout
        self.is_async = inspect.iscoroutinefunction(fn)

    def _call(self, timeout: float) -> Any:
        return self.fn(timeout) if self.pass_timeout else self.fn()

    def probe(self, timeout: float) -> Any:
        outcome = self._call(timeout)
        if inspect.isawaitable(outcome):
            awaitable: Awaitable[Any] = outcome

            async def bounded() -> Any:
                return await asyncio.wait_for(awaitable, timeout)

            return asyncio.run(bounded())
        return outcome

    async def probe_async(self, timeout: float) -> Any:
        if self.is_async:
            return await self._call(timeout)
        return await super().probe_async(timeout)

    @property
    def runs_in_thread(self) -> bool:
        return not self.is_async

    def __repr__(self) -> str:
        return f"CallableCheck({self.fn!r})"


class PhiCheck(Check):
    """Healthy while ``detector`` finds ``node`` available (φ below its threshold).

    Feed heartbeats to the detector (``detector.heartbeat(node)``) from wherever they arrive.
    """

    def __init__(self, detector: PhiAccrualDetector, node: str) -> None:
        self.detector = detector
        self.node = node

    def probe(self, timeout: float) -> tuple[bool, str]:
        phi = self.detector.phi(self.node)
        return phi < self.detector.threshold, f"phi={phi:.2f}"

    async def probe_async(self, timeout: float) -> tuple[bool, str]:
        return self.probe(timeout)

    def __repr__(self) -> str:
        return f"PhiCheck({self.detector!r}, {self.node!r})"
