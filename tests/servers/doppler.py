"""A stand-in for Doppler's documented secrets endpoint: GET /v3/configs/config/secret.

Service tokens map to one project/config; the answer has the documented shape
``{"name": ..., "value": {"raw": ..., "computed": ...}, "success": true}``. Counts
requests per (project, config, name) so tests can check reads at the server.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

from tests.servers._http import JsonHandler, StandIn


class _Handler(JsonHandler):
    standin: DopplerStandIn

    def do_GET(self) -> None:
        s = self.standin
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if s.delay:
            time.sleep(s.delay)
        if url.path != "/v3/configs/config/secret":
            self.send_json(404, {"messages": ["Not found"], "success": False})
            return
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        scope = s.tokens.get(token)
        if scope is None:
            self.send_json(401, {"messages": ["Invalid Auth token"], "success": False})
            return
        project = query.get("project", scope[0])
        config = query.get("config", scope[1])
        name = query.get("name", "")
        s.count(f"{project}/{config}/{name}")
        if s.take_failure():
            self.send_json(503, {"messages": ["Service Unavailable"], "success": False})
            return
        if (project, config) != scope:
            self.send_json(403, {"messages": ["You do not have access to this config"], "success": False})
            return
        value = s.secrets.get((project, config), {}).get(name)
        if value is None:
            self.send_json(404, {"messages": ["Could not find requested secret"], "success": False})
            return
        self.send_json(200, {"name": name, "value": {"raw": value, "computed": value}, "success": True})


class DopplerStandIn(StandIn):
    handler = _Handler

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, tuple[str, str]] = {}
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}

    def add_token(self, token: str, project: str, config: str) -> None:
        self.tokens[token] = (project, config)

    def put(self, project: str, config: str, name: str, value: str) -> None:
        self.secrets.setdefault((project, config), {})[name] = value
