"""The e2e stack: the shared subprocess helpers (tests/support/stack.py) and a webhook receiver.

Nothing here touches this process's Prefect settings: every child gets a fresh env built
from scratch (no inherited PREFECT_*), its own PREFECT_HOME, and the test server's URL,
so the session test harness and these servers never see each other.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.stack import BIN, ROOT, Cli, Server, Worker, clean_env, free_port, wait_for

__all__ = ["BIN", "ROOT", "Cli", "Receiver", "Server", "Worker", "clean_env", "free_port", "wait_for"]


class Receiver:
    """A local HTTP endpoint that records every JSON body posted to it (the webhook's target)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    received.append(json.loads(self.rfile.read(length) or b"{}"))
                except ValueError:
                    received.append({"raw": True})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
