"""A throwaway Nautobot 2.x (its own venv, PostgreSQL from tests/servers/postgres.py) on a free port.

Nautobot never goes into the project's .venv: its Django pins would fight Prefect's. The first
use installs it with uv into ``.tools/nautobot`` from the pinned, hashed requirements.txt
beside this file (about 20 s from an empty uv cache); later uses find the stamp and skip it.

No Redis and no Celery: see nautobot_config.py for why a per-process cache and an in-memory
broker are enough for the REST and GraphQL APIs the tests use. The schema is created from the
models (``migrate --run-syncdb``, 8-12 s with the defaults and the API user) instead of replaying
Nautobot's 400+ migrations (232 s wall, 139 s CPU on 2 busy cores);
``NORNFLOW_NAUTOBOT_SCHEMA=migrate`` replays them. The server process starts while the schema
is made (it spends its first seconds importing), so it answers a second or two after.

>>> with NautobotServer() as nb:                      # doctest: +SKIP
...     nb.api("POST", "dcim/manufacturers/", {"name": "Cisco"})
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.servers.postgres import PostgresServer, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
REQUIREMENTS = HERE / "requirements.txt"
CONFIG = HERE / "nautobot_config.py"
VENV = Path(os.environ.get("NORNFLOW_NAUTOBOT_VENV", REPO / ".tools" / "nautobot"))
USERNAME = "nornflow-tests"


def _uv() -> str:
    for candidate in (REPO / ".tools" / "bin" / "uv", Path(sys.executable).parent / "uv"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("uv")
    if found is None:
        raise RuntimeError("uv is needed to install the test Nautobot: put it on PATH or in .tools/bin")
    return found


def ensure_installed(venv: Path = VENV) -> tuple[Path, float]:
    """``nautobot-server`` of a venv matching requirements.txt, installing it when missing.

    Returns the path and the seconds spent installing (0 when it was already there). A file
    lock makes parallel test sessions (xdist workers) install once.
    """
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = venv / ".nornflow-requirements-sha256"
    server = venv / "bin" / "nautobot-server"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / f".{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if server.exists() and stamp.exists() and stamp.read_text().strip() == digest:
            return server, 0.0
        started = time.monotonic()
        shutil.rmtree(venv, ignore_errors=True)
        # The interpreter running the tests is 3.11, the version requirements.txt is compiled for.
        subprocess.run([_uv(), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        subprocess.run([_uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                        "--require-hashes", "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(digest)
        return server, time.monotonic() - started


class NautobotServer:
    """One Nautobot: ``start()`` installs (once), creates the schema, an API token, and serves."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(20)
        self.timings: dict[str, float] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="nornflow-nautobot-")
        self.root = Path(self._tmp.name)
        self.pg: PostgresServer | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None

    def _env(self, pg: PostgresServer) -> dict[str, str]:
        mode = os.environ.get("NORNFLOW_NAUTOBOT_SCHEMA", "syncdb")
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("NAUTOBOT_", "PREFECT_", "DJANGO_"))},
            "NAUTOBOT_ROOT": str(self.root), "NAUTOBOT_CONFIG": str(CONFIG),
            "NAUTOBOT_DB_NAME": "nautobot", "NAUTOBOT_DB_USER": "nornflow",
            "NAUTOBOT_DB_PASSWORD": "nornflow-test", "NAUTOBOT_DB_PORT": str(pg.port),
            "NAUTOBOT_SECRET_KEY": secrets.token_urlsafe(50),
            "NORNFLOW_NAUTOBOT_SYNCDB": "0" if mode == "migrate" else "1",
        }

    def start(self) -> NautobotServer:
        started = time.monotonic()
        server, self.timings["install"] = ensure_installed()
        mark = time.monotonic()
        self.pg = PostgresServer().start()
        self.pg.create_database("nautobot", driver="postgresql")
        self.timings["postgres"] = time.monotonic() - mark
        env = self._env(self.pg)
        token_file = self.root / "token"
        token_file.write_text(self.token, encoding="utf-8")
        mode = "migrate" if env["NORNFLOW_NAUTOBOT_SYNCDB"] == "0" else "syncdb"
        mark = time.monotonic()
        bootstrap = subprocess.Popen([str(server.parent / "python"), str(HERE / "bootstrap.py"), str(CONFIG), mode,
                                      USERNAME, str(token_file)], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        # The server spends its first seconds importing Nautobot: let it, while the schema is made.
        log = (self.root / "server.log").open("wb")
        self._proc = subprocess.Popen(
            [str(server), "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{self.port}"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        out, err = bootstrap.communicate()
        token_file.unlink()
        if bootstrap.returncode != 0:
            self.stop()
            raise RuntimeError(f"Nautobot bootstrap failed:\n{out[-2000:]}\n{err[-4000:]}")
        self.timings["schema"] = time.monotonic() - mark
        mark = time.monotonic()
        self._client = httpx.Client(base_url=f"{self.url}/api/", timeout=60,
                                    headers={"Authorization": f"Token {self.token}", "Accept": "application/json"})
        self._wait_ready()
        self.timings["serve"] = time.monotonic() - mark
        self.timings["total"] = time.monotonic() - started
        return self

    def _wait_ready(self, timeout: float = 120) -> None:
        assert self._proc is not None and self._client is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                if self._client.get("status/", timeout=5).status_code == 200:
                    return
            time.sleep(0.2)
        tail = (self.root / "server.log").read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"Nautobot did not answer on {self.url} within {timeout:.0f} s:\n{tail}")

    def api(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """One REST call (``path`` relative to /api/); raises on an error status, showing Nautobot's answer."""
        assert self._client is not None, "start() the server first"
        response = self._client.request(method, path, json=body, params=params or None)
        if response.status_code >= 400:
            raise RuntimeError(f"Nautobot {method} {path}: HTTP {response.status_code} {response.text[:1000]}")
        return response.json() if response.content else None

    def log_text(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self.pg is not None:
            self.pg.stop()
            self.pg = None
        self._tmp.cleanup()

    def __enter__(self) -> NautobotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
