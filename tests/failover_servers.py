"""Tiny TCP and HTTP servers on 127.0.0.1 that failover tests start, slow down and kill."""

from __future__ import annotations

import http.server
import random
import socket
import threading
import time
from typing import Any, TypeVar

_Server = TypeVar("_Server", bound="TcpServer")


class TcpServer:
    """Accepts and closes connections until killed; can be restarted on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self: _Server) -> _Server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.settimeout(0.05)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()
        return self

    def _serve(self, sock: socket.socket) -> None:
        while self._sock is sock:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        conn.close()

    def kill(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        if self._thread is not None:
            self._thread.join(2)


class HttpServer:
    """Answers every GET with ``status`` after a delay drawn from ``delay`` (min, max) seconds."""

    def __init__(self, status: int = 200, delay: tuple[float, float] = (0.0, 0.0)) -> None:
        self.status = status
        self.delay = delay
        self.port = 0
        self.requests = 0
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HttpServer:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                low, high = owner.delay
                if high > 0:
                    time.sleep(random.uniform(low, high))
                body = b"ok"
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def kill(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(2)


class TrickleHttpServer(TcpServer):
    """Answers every request with ``200 ok``, one byte at a time spread over ``duration`` seconds:
    each read gets a byte quickly, the whole reply comes late."""

    REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

    def __init__(self, duration: float) -> None:
        super().__init__()
        self.gap = duration / len(self.REPLY)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def _handle(self, conn: socket.socket) -> None:
        threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                for byte in self.REPLY:
                    conn.sendall(bytes([byte]))
                    time.sleep(self.gap)
            except OSError:  # the client gave up
                return
