"""A loopback TCP proxy that injects network faults between clients and one server.

``FaultyProxy(target_port).start()`` listens on a free ``127.0.0.1`` port and forwards every
connection to ``127.0.0.1:target_port``, on its own asyncio loop in a daemon thread. From any
thread:

- :meth:`set_latency` delays every chunk by that many seconds in each direction (order kept);
- :meth:`drop` resets every open connection at once (commands in flight may or may not have run);
- :meth:`blackhole` stops delivering anything in both directions; :meth:`heal` delivers what was
  held back, late, as TCP would after a partition heals (a command sent before the client gave up
  can still run on the server afterwards), and removes the latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["FaultyProxy"]

_LOOPBACK = "127.0.0.1"
_CHUNK = 65536
_T = TypeVar("_T")


class _Link:
    """One proxied connection: client <-> upstream."""

    def __init__(self, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.client_reader, self.client_writer = client
        self.upstream_writer: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.closed_halves = 0

    def abort(self) -> None:
        for task in self.tasks:
            task.cancel()
        for writer in (self.client_writer, self.upstream_writer):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.transport.abort()


class FaultyProxy:
    """TCP proxy ``127.0.0.1:port`` -> ``127.0.0.1:target_port`` with latency, drops and blackholes."""

    def __init__(self, target_port: int, *, listen_port: int = 0) -> None:
        if not isinstance(target_port, int) or not 0 < target_port < 65536:
            raise ValueError(f"target_port must be a TCP port number, got {target_port!r}")
        self.target_port = target_port
        self.port = listen_port
        self._latency = 0.0
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._gate: asyncio.Event | None = None  # set while traffic flows

    def __repr__(self) -> str:
        return f"FaultyProxy({_LOOPBACK}:{self.port} -> {_LOOPBACK}:{self.target_port})"

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FaultyProxy:
        if self._thread is not None:
            raise RuntimeError(f"{self!r} is already running")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"shardwise-proxy:{self.target_port}")
        self._thread.daemon = True
        self._thread.start()
        self._call(self._listen(), 10.0)
        return self

    async def _listen(self) -> None:
        self._gate = asyncio.Event()
        self._gate.set()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((_LOOPBACK, self.port))
        self._server = await asyncio.start_server(self._accept, sock=sock)
        self.port = int(sock.getsockname()[1])

    def close(self) -> None:
        """Stop listening, reset every connection and stop the loop thread (bounded wait)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown(), 5.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5.0)
        if not thread.is_alive():
            loop.close()
        self._loop = None
        self._thread = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        self._links.clear()

    def __enter__(self) -> FaultyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- faults ------------------------------------------------------------------------------

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk read from now on by ``seconds`` (each direction)."""
        if not seconds >= 0:
            raise ValueError(f"latency must be >= 0 seconds, got {seconds!r}")
        self._latency = float(seconds)

    def drop(self) -> None:
        """Reset every open connection now (new connections are accepted as usual)."""
        self._call(self._drop(), 5.0)

    async def _drop(self) -> None:
        for link in list(self._links):
            link.abort()
        self._links.clear()

    def blackhole(self) -> None:
        """Hold back all traffic in both directions until :meth:`heal`."""
        self._call(self._set_gate(False), 5.0)

    def heal(self) -> None:
        """End a blackhole (held traffic is delivered, late) and remove the latency."""
        self._latency = 0.0
        self._call(self._set_gate(True), 5.0)

    async def _set_gate(self, flowing: bool) -> None:
        assert self._gate is not None
        if flowing:
            self._gate.set()
        else:
            self._gate.clear()

    @property
    def latency(self) -> float:
        return self._latency

    @property
    def blackholed(self) -> bool:
        return self._gate is not None and not self._gate.is_set()

    @property
    def connections(self) -> int:
        return len(self._links)

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
        if self._loop is None:
            coro.close()
            raise RuntimeError(f"{self!r} is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- forwarding --------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link((reader, writer))
        self._links.add(link)
        try:
            assert self._gate is not None
            await self._gate.wait()  # a blackholed network does not connect either
            up_reader, up_writer = await asyncio.open_connection(_LOOPBACK, self.target_port)
        except (OSError, asyncio.CancelledError):
            link.abort()
            self._links.discard(link)
            return
        link.upstream_writer = up_writer
        link.tasks = [
            asyncio.ensure_future(self._pump(reader, up_writer, link)),
            asyncio.ensure_future(self._pump(up_reader, writer, link)),
        ]

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link) -> None:
        """Read chunks as they come and deliver each ``latency`` later, in order, while the gate is open."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        deliver = asyncio.ensure_future(self._deliver(queue, sink, link))
        try:
            while True:
                data = await source.read(_CHUNK)
                queue.put_nowait((time.monotonic() + self._latency, data))
                if not data:
                    break
            await deliver
        except (OSError, asyncio.IncompleteReadError):
            link.abort()
            self._links.discard(link)
        finally:
            if not deliver.done():
                deliver.cancel()

    async def _deliver(
        self, queue: asyncio.Queue[tuple[float, bytes]], sink: asyncio.StreamWriter, link: _Link
    ) -> None:
        assert self._gate is not None
        try:
            while True:
                due, data = await queue.get()
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._gate.wait()
                if not data:  # the other side closed: pass the close on (half-close)
                    if sink.can_write_eof():
                        sink.write_eof()
                    link.closed_halves += 1
                    if link.closed_halves == 2:
                        link.abort()
                        self._links.discard(link)
                    return
                if sink.is_closing():  # the other side is gone: nothing more to deliver
                    link.abort()
                    self._links.discard(link)
                    return
                sink.write(data)
                await sink.drain()
        except OSError:
            link.abort()
            self._links.discard(link)
