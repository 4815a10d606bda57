"""Webhooks under test: a real gateway in front of two real Prefect servers (``core`` with its hooks and a
process worker, ``edge`` with a hook of the same name and another secret), a real Nautobot that sends
the webhook, and a 3-device lab the flows it starts run against. Everything starts once per session,
in parallel where it can (Nautobot and the Prefect servers take 15-30 s each, on a quiet machine).

Keep every test that uses the stack in test_hooks.py: ``make test`` runs ``--dist loadfile``, so a
second file could land on the other xdist worker and start a second stack."""

from __future__ import annotations

import base64
import contextlib
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prefect.blocks.system import Secret

from nornflow.gateway.serve import Running, running
from nornflow.gateway.settings import load_settings
from tests.servers.nautobot.server import NautobotServer
from tests.support.stack import BIN, ROOT, clean_env, free_port, wait_for

HERE = Path(__file__).resolve().parent
TEMPLATES = ROOT / "examples" / "templates"
POOL = "hooks-pool"
NAUTOBOT_TEMPLATE = """
{"event": {{ ("nautobot." ~ body.model ~ "." ~ body.event) | tojson }},
 "resource": {"prefect.resource.id": {{ ("nornflow.device." ~ body.data.name) | tojson }},
              "prefect.resource.name": {{ body.data.name | tojson }}},
 "payload": {"host": {{ body.data.name | tojson }}, "user": {{ body.username | tojson }},
             "request_id": {{ body.request_id | tojson }}}}
"""
# A push becomes one event naming the templates it touched, relative to the templates folder of the repository.
GITHUB_TEMPLATE = """
{%- set ns = namespace(templates=[]) -%}
{%- for commit in body.commits -%}
  {%- for path in commit.added + commit.modified + commit.removed -%}
    {%- if path.startswith("templates/") and path[10:] not in ns.templates -%}
      {%- set ns.templates = ns.templates + [path[10:]] -%}
    {%- endif -%}
  {%- endfor -%}
{%- endfor -%}
{"event": {{ ("github." ~ headers["x-github-event"]) | tojson }},
 "resource": {"prefect.resource.id": {{ ("github.repo." ~ body.repository.full_name) | tojson }}},
 "payload": {"ref": {{ body.ref | tojson }}, "after": {{ body.after | tojson }},
             "pusher": {{ body.pusher.name | tojson }}, "templates": {{ ns.templates | tojson }}}}
"""
SMALL_TEMPLATE = '{"event": "test.small", "resource": {"prefect.resource.id": "t"}, "payload": {{ body | tojson }}}'
GITLAB_TEMPLATE = ('{"event": {{ ("gitlab." ~ body.object_kind) | tojson }}, '
                   '"resource": {"prefect.resource.id": {{ ("gitlab.project." ~ body.project.path_with_namespace) '
                   '| tojson }}}, '
                   '"payload": {"ref": {{ body.ref | tojson }}}}')
DIFF_TEMPLATE = ('{"event": "test.diff", "resource": {"prefect.resource.id": {{ ("test.diff." ~ body.n) | tojson }}}, '
                 '"payload": {"workspace": {{ hook.workspace | tojson }}}}')
USERS = {"dev": ["developer"], "svc-worker": ["worker"], "vera": ["viewer"]}


class SenderNautobot(NautobotServer):
    """The suite's Nautobot, with the settings that let it send webhooks here (see nautobot_sender_config.py)."""

    def _env(self, pg: Any) -> dict[str, str]:
        return {**super()._env(pg), "NAUTOBOT_CONFIG": str(HERE / "nautobot_sender_config.py")}


@dataclass
class Stack:
    url: str
    base: Path
    running: Running
    nautobot: NautobotServer
    lab: Any
    secrets: dict[str, str]
    templates: Path
    backups: Path
    tokens: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def hook_url(self, name: str, workspace: str = "core") -> str:
        return f"{self.url}/w/{workspace}/hooks/{name}"

    def client(self, user: str) -> httpx.Client:
        auth = "Basic " + base64.b64encode(self.tokens[user].encode()).decode()
        return httpx.Client(base_url=f"{self.url}/w/core/api", headers={"authorization": auth}, timeout=30)

    def audit(self) -> list[dict[str, Any]]:
        return list(self.running.gateway.audit.tail(limit=100_000))

    def runs_of(self, flow: str, deployment: str) -> list[dict[str, Any]]:
        with self.client("vera") as http:
            found = http.get(f"/deployments/name/{flow}/{deployment}").json()
            body = {"flow_runs": {"deployment_id": {"any_": [found["id"]]}}, "sort": "EXPECTED_START_TIME_ASC"}
            runs: list[dict[str, Any]] = http.post("/flow_runs/filter", json=body).json()
        return runs

    def finished(self, run_id: str, timeout: float = 120) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            with self.client("vera") as http:
                run: dict[str, Any] = http.get(f"/flow_runs/{run_id}").json()
            return run if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None
        result: dict[str, Any] = wait_for(f"flow run {run_id} to finish", done, timeout, every=0.5)
        return result


def _client_env(stack_url: str, token: str, home: Path, **extra: str) -> dict[str, str]:
    return clean_env(PREFECT_API_URL=f"{stack_url}/w/core/api", PREFECT_API_AUTH_STRING=token,
                     PREFECT_HOME=str(home), **extra)


def _deployments(inventory: Path, templates: Path, backups: Path) -> dict[str, Any]:
    """Two deployments whose triggers are the automations the hooks' events start."""
    common = {"work_pool": {"name": POOL}, "tags": ["nornflow"]}
    return {
        "name": "hooks-test", "prefect-version": "3.9.1",
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}],
        "deployments": [
            {"name": "on-nautobot", "entrypoint": "flows/backup_configs.py:backup_configs", **common,
             "parameters": {"inventory": str(inventory), "backup_dir": str(backups)},
             "triggers": [{"type": "event", "enabled": True, "match": {"prefect.resource.id": "nornflow.device.*"},
                           "expect": ["nautobot.device.updated"], "for_each": ["prefect.resource.id"],
                           "parameters": {"hosts": {"names": ["{{ event.payload.host }}"]}}}]},
            {"name": "on-push", "entrypoint": "flows/check_compliance.py:check_compliance", **common,
             "parameters": {"inventory": str(inventory), "templates": str(templates)},
             "triggers": [{"type": "event", "enabled": True, "match": {"prefect.resource.id": "github.repo.*"},
                           "expect": ["github.push"],
                           "parameters": {"changed_templates": "{{ event.payload.templates }}"}}]},
        ],
    }


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from nornflow.gateway.proxy.upstream import Supervisor
    from nornflow.lab import Lab

    started = time.monotonic()
    base = tmp_path_factory.mktemp("hooks")
    values = {name: secrets.token_urlsafe(24)
              for name in ("nautobot", "github", "gitlab", "edge-github", "small", "core-diff", "edge-diff")}
    for name, value in values.items():
        Secret(value=value).save(f"hook-{name}", overwrite=True)
    hooks_core = [
        {"name": "nautobot", "style": "nautobot", "secret": "secret:secret/hook-nautobot",
         "template": NAUTOBOT_TEMPLATE},
        {"name": "github", "style": "github", "secret": "secret:secret/hook-github", "template": GITHUB_TEMPLATE},
        {"name": "gitlab", "style": "gitlab", "secret": "secret:secret/hook-gitlab", "template": GITLAB_TEMPLATE},
        {"name": "small", "style": "bearer", "secret": "secret:secret/hook-small", "template": SMALL_TEMPLATE,
         "max_body_bytes": 512, "rate_per_minute": 2, "burst": 5},
    ]
    hooks_edge = [{"name": "github", "style": "github", "secret": "secret:secret/hook-edge-github",
                   "template": GITHUB_TEMPLATE}]
    for workspace, hooks in (("core", hooks_core), ("edge", hooks_edge)):  # the same hook name, two secrets
        hooks.append({"name": "diff", "style": "bearer", "secret": f"secret:secret/hook-{workspace}-diff",
                      "template": DIFF_TEMPLATE, "rate_per_minute": 60_000, "burst": 1000})
    settings = load_settings(
        None, host="127.0.0.1", port=free_port(), data_dir=base / "gateway",
        workspaces=[{"name": "core", "hooks": hooks_core}, {"name": "edge", "hooks": hooks_edge}],
        api_rate_per_second=500, api_burst=2000,
        auth_max_failures=100_000,  # the refusals below come from one address; the lockout is the gateway's own
    )
    nautobot = SenderNautobot()
    failures: list[BaseException] = []

    def start_nautobot() -> None:
        try:
            nautobot.start()
        except BaseException as exc:
            failures.append(exc)

    sender = threading.Thread(target=start_nautobot, name="nautobot-start")
    sender.start()
    supervisor = Supervisor(settings)
    templates = base / "templates"
    shutil.copytree(TEMPLATES, templates)
    backups = base / "backups"
    lab = Lab(size=3, directory=base / "lab")
    worker: subprocess.Popen[bytes] | None = None
    try:
        lab.start()
        supervisor.start()
        servers = time.monotonic() - started
        with running(settings, supervisor) as gw:
            stack = Stack(gw.url, base, gw, nautobot, lab, values, templates, backups)
            stack.timings["prefect servers"] = servers
            store = gw.gateway.store
            for user, roles in USERS.items():
                store.add_user(user, "correct-horse-battery", {"core": roles})
                _, token = store.create_token(user, "core", roles, timedelta(days=1), description="hooks tests")
                stack.tokens[user] = f"{user}:{token}"
            dev = _client_env(gw.url, stack.tokens["dev"], base / "home-dev")
            deploy_file = base / "prefect.yaml"
            deploy_file.write_text(yaml.safe_dump(_deployments(lab.inventory_dir, templates, backups),
                                                  sort_keys=False))
            _run([str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process"], dev)
            _run([str(BIN / "prefect"), "deploy", "--all", "--prefect-file", str(deploy_file)], dev)
            log = (base / "worker.log").open("ab")
            worker = subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"], cwd=ROOT,
                env=_client_env(gw.url, stack.tokens["svc-worker"], base / "home-worker",
                                PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="5"),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()
            sender.join()
            if failures:
                raise failures[0]
            stack.timings["nautobot"] = nautobot.timings.get("total", 0.0)
            stack.timings["ready"] = time.monotonic() - started
            print(f"\nhooks stack: {', '.join(f'{k} {v:.1f} s' for k, v in stack.timings.items())}")
            yield stack
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        sender.join()
        with contextlib.suppress(Exception):
            supervisor.stop()
        nautobot.stop()
        lab.stop()
