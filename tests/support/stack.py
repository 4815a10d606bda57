"""A Prefect server, workers and the CLI as subprocesses with explicit environments.

Nothing here touches this process's Prefect settings: every child gets a fresh env built
from scratch (no inherited PREFECT_*), its own PREFECT_HOME, and the test server's URL,
so the session test harness and these servers never see each other. Used by tests/e2e,
tests/integration/shards and the browser tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_SHOW_PROMOTIONAL_CONTENT="false",
               PREFECT_CLI_PROMPT="false", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren...), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Server:
    """``prefect server start`` on a free port with its own PREFECT_HOME.

    The database is SQLite in PREFECT_HOME unless ``database_url`` names another one
    (``postgresql+asyncpg://...``, see tests/servers/postgres.py). ``settings`` adds server settings.
    """

    def __init__(self, home: Path, database_url: str | None = None, **settings: str) -> None:
        self.home = home
        self.database_url = database_url
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / "server.log"

    def env(self) -> dict[str, str]:
        env = clean_env(
            PREFECT_HOME=str(self.home),
            PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="3",
            PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="3",
            PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL="1",
            PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED="false",
            **self.settings,
        )
        if self.database_url:
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = self.database_url
        return env

    def start(self, timeout: float = 150) -> Server:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

        def healthy() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"prefect server exited: {self.log.read_text()[-3000:]}")
            try:
                return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the Prefect server's /api/health", healthy, timeout)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    # -- REST helpers (plain HTTP: no client settings involved) --------------------------
    def api(self, method: str, path: str, body: Any = None) -> Any:
        for _ in range(10):  # SQLite under load answers 503 (database locked); Prefect's client retries too
            response = httpx.request(method, f"{self.url}{path}", json=body, timeout=30)
            if response.status_code != 503:
                break
            time.sleep(1)
        response.raise_for_status()
        return response.json() if response.content else None

    def deployment(self, flow: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api("GET", f"/deployments/name/{flow}/{name}")
        return result

    def runs(self, deployment_id: str) -> list[dict[str, Any]]:
        body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "sort": "EXPECTED_START_TIME_ASC"}
        result: list[dict[str, Any]] = self.api("POST", "/flow_runs/filter", body)
        return result

    def run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api("GET", f"/flow_runs/{run_id}")
        return result

    def states(self, run_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("GET", f"/flow_run_states/?flow_run_id={run_id}")
        return result

    def logs(self, run_id: str) -> list[str]:
        body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200}
        return [entry["message"] for entry in self.api("POST", "/logs/filter", body)]

    def create_run(self, deployment_id: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.api(
            "POST", f"/deployments/{deployment_id}/create_flow_run", {"parameters": parameters or {}}
        )
        return result

    def post_event(self, event: str, resource_id: str, payload: dict[str, Any]) -> None:
        """What an external syslog relay or webhook sender does: POST /api/events."""
        self.api("POST", "/events", [{
            "id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat(),
            "event": event, "resource": {"prefect.resource.id": resource_id}, "payload": payload,
        }])


class Worker:
    """One ``prefect worker start`` process (its own process group) and its log file."""

    def __init__(self, proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
        self.proc = proc
        self.name = name
        self.log = log

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM to the group (a process worker ignores one SIGINT in 3.9.1; SIGTERM takes ~2 s), then SIGKILL."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def kill(self) -> list[int]:
        """SIGKILL the worker and every process it started (a flow run may sit in a session of its own)."""
        victims = [self.proc.pid, *descendants(self.proc.pid)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)
        return victims


class Cli:
    """Prefect CLI, the workers and nornflow commands against one server, run from the repo root."""

    def __init__(self, server: Server, home: Path, **settings: str) -> None:
        self.server = server
        self.home = home
        self.settings = settings
        self.worker: subprocess.Popen[bytes] | None = None
        self.workers: list[Worker] = []

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(**{"PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.server.url,
                            "NORNFLOW_HOME": str(ROOT), "PREFECT_WORKER_QUERY_SECONDS": "2",
                            "PREFECT_WORKER_PREFETCH_SECONDS": "5", **self.settings, **extra})

    def run(self, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 180) -> str:
        proc = subprocess.run([str(a) for a in args], cwd=ROOT, env=env or self.env(), capture_output=True,
                              text=True, timeout=timeout)
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{output[-4000:]}")
        return output

    def start_worker(self, pool: str, name: str = "e2e-worker", *, queues: Iterable[str] = (),
                     limit: int | None = None, **extra: str) -> Worker:
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.home / f"{name}.log"
        args = [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--name", name]
        for queue in queues:
            args += ["--work-queue", queue]
        if limit is not None:
            args += ["--limit", str(limit)]
        with log.open("ab") as out:
            proc = subprocess.Popen(args, cwd=ROOT, env=self.env(**extra), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        worker = Worker(proc, name, log)
        self.workers.append(worker)
        self.worker = proc
        return worker

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def stop_worker(self) -> None:
        for worker in self.workers:
            worker.stop()
