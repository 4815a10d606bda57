"""Shared plumbing for the HTTP stand-ins: a threaded server on a free loopback port, counters."""

from __future__ import annotations

import collections
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandIn:
    """Base class: owns the server thread and a per-path request counter."""

    handler: type[BaseHTTPRequestHandler]
    scheme = "http"

    def __init__(self) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        self.delay = 0.0  # seconds to sleep before answering (a slow backend)
        self.fail_next = 0  # answer 503 to this many requests (a flapping backend)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def count(self, key: str) -> None:
        with self._lock:
            self.requests[key] += 1

    def take_failure(self) -> bool:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False

    def wrap_socket(self, server: ThreadingHTTPServer) -> None:
        """Hook for TLS (the Azure stand-in)."""

    def start(self) -> StandIn:
        handler = type("Handler", (self.handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.wrap_socket(self._server)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


class JsonHandler(BaseHTTPRequestHandler):
    standin: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gave up (time-outs)
            self.wfile.write(data)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""
