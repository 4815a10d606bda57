"""A resolved secret never leaves the process: not in logs, artifacts, results or files.

The devices echo the secret back (it is in their running configuration and in a show
command's output), so every path that carries device output is exercised.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from prefect.blocks.system import Secret

from nornflow.engine.run import result_of
from nornflow.flows import backup_configs, show_commands
from tests.support.prefect_api import artifacts, flow_run_id, logs

PASSWORD = "Zq9-leak-canary-7781"
USERNAME = "netops-canary-user"
ECHO = "show tech-support secrets"


def _reference_inventory(lab) -> None:  # type: ignore[no-untyped-def]
    Secret(value={"username": USERNAME, "password": PASSWORD}).save("leak-canary", overwrite=True)
    path = lab.inventory_dir / "defaults.yaml"
    defaults = yaml.safe_load(path.read_text())
    defaults["username"] = "secret:secret/leak-canary#username"
    defaults["password"] = "secret:secret/leak-canary#password"
    defaults["connection_options"]["scrapli"]["extras"]["auth_secondary"] = "secret:secret/leak-canary#password"
    path.write_text(yaml.safe_dump(defaults))


def _scan(text: str, where: str) -> None:
    for value in (PASSWORD, USERNAME):
        assert value not in text, f"{value!r} leaked into {where}"


def test_secrets_echoed_by_devices_are_redacted_everywhere(tmp_path: Path) -> None:
    from nornflow.lab import Lab

    echo = {ECHO: {"output": f"enable secret {PASSWORD}\nuser {USERNAME}", "help": "echo",
                   "prompt": ["{base_prompt}#"]}}
    with Lab(size=3, directory=tmp_path / "lab", username=USERNAME, password=PASSWORD,
             extra_commands=echo) as lab:
        for name in lab.devices:
            lab.set_running_config(name, lab.running_config(name) + f"username {USERNAME} secret 0 {PASSWORD}\n")
        _reference_inventory(lab)
        _scan((lab.inventory_dir / "defaults.yaml").read_text(), "the inventory")
        backups = tmp_path / "backups"
        backup = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(backups), return_state=True)
        show = show_commands(inventory=str(lab.inventory_dir), commands=[ECHO, "show running-config"],
                             return_state=True)

    assert backup.is_completed() and show.is_completed(), (backup.message, show.message)
    shown = result_of(show)
    # The device really echoed the secret; it reached us masked.
    assert all("enable secret ***" in r.data[ECHO]["output"] for r in shown.records)
    for state in (backup, show):
        run = flow_run_id(state)
        _scan(result_of(state).model_dump_json(), f"the result of {state.name}")
        _scan(state.message or "", "the state message")
        found = artifacts(run)
        assert found, "the flows publish artifacts"
        for key, artifact in found.items():
            _scan(json.dumps(artifact.data) if not isinstance(artifact.data, str) else artifact.data, key)
            _scan(artifact.description or "", f"{key} description")
        messages = logs(run)
        assert any("] ok in" in m for m in messages)
        _scan("\n".join(messages), f"the logs of {state.name}")
    files = sorted(p for p in backups.rglob("*") if p.is_file() and ".git" not in p.parts)
    configs = [p for p in files if p.suffix == ".cfg"]
    assert len(configs) == 3 and [p.name for p in files if p not in configs] == [
        f"nornflow-run-{flow_run_id(backup)}.json"]  # the backup run's record, committed beside the configs
    for path in files:
        text = path.read_text()
        assert "secret 0 ***" in text or path not in configs
        _scan(text, str(path))
    history = subprocess.run(["git", "-C", str(backups), "log", "-p", "--all"], capture_output=True, text=True,
                             check=True).stdout
    _scan(history, "the backup repository's history")


def test_rotated_secret_is_reread_once_when_the_device_rejects_it(tmp_path: Path, moto_server) -> None:  # type: ignore[no-untyped-def]
    """The device's password and the AWS secret rotate between two runs that share a resolver:
    the cached value is refused, the engine re-reads the secret and the host succeeds."""
    from prefect import flow

    from nornflow.engine.run import run_task
    from nornflow.lab import Lab
    from nornflow.secrets import Resolver
    from nornflow.tasks import get_running_config

    client = moto_server.client()
    client.create_secret(Name="lab/rotating", SecretString=json.dumps({"password": "first-pass-1"}))
    moto_server.block().save("it-rotating", overwrite=True)
    resolver = Resolver(ttl=3600)

    @flow
    def backup_twice(inventory: str) -> list[str]:
        first = run_task(get_running_config, nornir=inventory, resolver=resolver, name="before")
        lab.set_password("fra-spine-01", "second-pass-2")
        client.put_secret_value(SecretId="lab/rotating", SecretString=json.dumps({"password": "second-pass-2"}))
        second = run_task(get_running_config, nornir=inventory, resolver=resolver, name="after")
        return [*first.failed_hosts, "|", *second.failed_hosts]

    with Lab(size=1, directory=tmp_path, password="first-pass-1") as lab:
        path = lab.inventory_dir / "defaults.yaml"
        defaults = yaml.safe_load(path.read_text())
        ref = "secret:nornflow-aws-secrets-manager/it-rotating:lab/rotating#password"
        defaults["password"] = ref
        defaults["connection_options"]["scrapli"]["extras"]["auth_secondary"] = ref
        path.write_text(yaml.safe_dump(defaults))
        assert backup_twice(str(lab.inventory_dir)) == ["|"]


@pytest.mark.parametrize("ref", ["secret:secret/no-such-block#password", "secret:bogus"])
def test_unresolvable_reference_fails_only_that_host(tmp_path: Path, ref: str) -> None:
    from nornflow.lab import Lab

    with Lab(size=3, directory=tmp_path / "lab") as lab:
        path = lab.inventory_dir / "hosts.yaml"
        hosts = yaml.safe_load(path.read_text())
        hosts["ams-spine-01"]["password"] = ref
        path.write_text(yaml.safe_dump(hosts))
        state = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(tmp_path / "b"), return_state=True)
    result = result_of(state)
    assert result.failed_hosts == ["ams-spine-01"]
    assert ref.split("#")[0] in (result["ams-spine-01"].error or "")
    assert len(result.ok_hosts) == 2
