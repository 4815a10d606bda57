"""A real Prometheus (Debian's ``prometheus``) on a loopback port, scraping what a test points it at.

Started once per session with an empty scrape configuration; :meth:`PrometheusServer.scrape` writes a
job into a generated ``prometheus.yml`` (bearer token from a 0600 file, ``scrape_interval`` 1 s) and
reloads it (``--web.enable-lifecycle``, ``POST /-/reload``). :meth:`query` asks the HTTP API
(``/api/v1/query``) and raises on an error answer, so an expression Prometheus cannot parse fails the
test that sent it. Starts in about a second; needs no network.

Use it from a conftest: ``from tests.servers.prometheus import prometheus  # noqa: F401``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.stack import free_port

BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"
INTERVAL = "1s"


class PrometheusError(RuntimeError):
    """Prometheus did not start, refused a configuration, or answered a query with an error."""


class PrometheusServer:
    """One Prometheus process with its own configuration and TSDB directory."""

    def __init__(self) -> None:
        if not Path(BINARY).exists():
            raise PrometheusError(f"{BINARY} is missing: apt-get install prometheus (`make test` installs it)")
        self._tmp = tempfile.TemporaryDirectory(prefix="nornflow-prom-")
        self.dir = Path(self._tmp.name)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.dir / "prometheus.yml"
        self.jobs: dict[str, dict[str, Any]] = {}
        self.process: subprocess.Popen[bytes] | None = None

    def _write(self) -> None:
        config = {"global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
                  "scrape_configs": list(self.jobs.values())}
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self) -> PrometheusServer:
        self._write()
        log = (self.dir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [BINARY, f"--config.file={self.config}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle",
             "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited ({self.process.returncode}): "
                                      f"{(self.dir / 'prometheus.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise PrometheusError(f"prometheus on {self.url} was not ready within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self._tmp.cleanup()

    def scrape(self, job: str, target: str, *, token: str | None = None, path: str = "/metrics",
               scheme: str = "http") -> None:
        """Scrape ``target`` (host:port) every second as ``job``, with ``token`` as a bearer credential."""
        entry: dict[str, Any] = {"job_name": job, "scrape_interval": INTERVAL, "metrics_path": path,
                                 "scheme": scheme, "static_configs": [{"targets": [target]}]}
        if token is not None:
            secret = self.dir / f"{job}.token"
            secret.write_text(token)
            secret.chmod(0o600)
            entry["authorization"] = {"type": "Bearer", "credentials_file": str(secret)}
        self.jobs[job] = entry
        self._write()
        reply = httpx.post(f"{self.url}/-/reload", timeout=10)
        if reply.status_code != 200:
            raise PrometheusError(f"prometheus refused the configuration: {reply.text}")

    def api(self, path: str, **params: str) -> Any:
        reply = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = reply.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result (a vector's samples, a scalar as one sample); PrometheusError on an error."""
        data = self.api("query", query=expr)
        if data["resultType"] == "vector":
            return list(data["result"])
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def wait_for(self, expr: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Query until ``expr`` returns samples; the last (empty) answer raises after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.query(expr)
            if found or time.monotonic() > deadline:
                if not found:
                    targets = self.api("targets")
                    seen = [(t["labels"], t["health"], t["lastError"]) for t in targets["activeTargets"]]
                    raise PrometheusError(f"no samples for {expr} within {timeout:.0f} s; targets: {seen}")
                return found
            time.sleep(0.25)


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusServer]:
    """A running Prometheus for this session; tests add scrape jobs with ``prometheus.scrape(...)``."""
    server = PrometheusServer().start()
    try:
        yield server
    finally:
        server.stop()
