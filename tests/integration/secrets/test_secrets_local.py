"""The nornflow-local block saved on the Prefect test server: references resolve through the
entry point, the stack health probe checks it, and a resolved value leaks nowhere."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pyrage
import pytest
import yaml

from nornflow.blocks.local import LocalAgeSecrets
from nornflow.engine.run import result_of
from nornflow.flows import backup_configs, show_commands
from nornflow.secrets import Resolver
from nornflow.secrets.local_cli import _encrypt, _write_atomic
from tests.support.prefect_api import artifacts, flow_run_id, logs

PASSWORD = "Kp4-local-leak-canary-3307"
USERNAME = "local-canary-user"
ECHO = "show tech-support secrets"


@pytest.fixture
def local_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """secrets/lab.age under a repository, its key outside it, the block saved as ``it-local``."""
    from nornflow.secrets import local

    identity = pyrage.x25519.Identity.generate()
    key = tmp_path / "home" / "age.key"
    key.parent.mkdir()
    key.write_text(f"{identity}\n")
    key.chmod(stat.S_IRUSR | stat.S_IWUSR)
    monkeypatch.delenv("NORNFLOW_AGE_KEY", raising=False)
    monkeypatch.setenv("NORNFLOW_AGE_KEY_FILE", str(key))
    directory = tmp_path / "repo" / "secrets"
    directory.mkdir(parents=True)
    document = {"lab": {"username": USERNAME, "password": PASSWORD}}
    _write_atomic(directory / "lab.age", _encrypt(local, document, identity, []))
    LocalAgeSecrets(directory=str(directory), recipients=[str(identity.to_public())]).save(
        "it-local", overwrite=True)
    return directory


def test_saved_block_resolves_and_passes_its_health_check(local_block: Path) -> None:
    from prefect.client.orchestration import get_client

    from nornflow.monitor.probes import secret_blocks

    assert Resolver().resolve("secret:nornflow-local/it-local:lab:lab#password") == PASSWORD
    with get_client(sync_client=True) as client:
        checks = {c.part: c for c in secret_blocks(client) if "nornflow-local" in c.part}
    check = checks["secret-block.nornflow-local.it-local"]
    assert check.status == "ok" and "1 age file(s) decrypt" in check.detail


def test_local_secrets_are_redacted_everywhere(tmp_path: Path, local_block: Path) -> None:
    from nornflow.lab import Lab

    echo = {ECHO: {"output": f"enable secret {PASSWORD}\nuser {USERNAME}", "help": "echo",
                   "prompt": ["{base_prompt}#"]}}
    with Lab(size=2, directory=tmp_path / "lab", username=USERNAME, password=PASSWORD,
             extra_commands=echo) as lab:
        path = lab.inventory_dir / "defaults.yaml"
        defaults = yaml.safe_load(path.read_text())
        defaults["username"] = "secret:nornflow-local/it-local:lab:lab#username"
        defaults["password"] = "secret:nornflow-local/it-local:lab:lab#password"
        defaults["connection_options"]["scrapli"]["extras"]["auth_secondary"] = defaults["password"]
        path.write_text(yaml.safe_dump(defaults))
        backups = tmp_path / "backups"
        backup = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(backups), return_state=True)
        show = show_commands(inventory=str(lab.inventory_dir), commands=[ECHO], return_state=True)
    assert backup.is_completed() and show.is_completed(), (backup.message, show.message)
    assert all("enable secret ***" in r.data[ECHO]["output"] for r in result_of(show).records)
    texts = [repr(LocalAgeSecrets.load("it-local")), repr(Resolver())]
    for state in (backup, show):
        run = flow_run_id(state)
        texts += [result_of(state).model_dump_json(), state.message or "", "\n".join(logs(run))]
        for artifact in artifacts(run).values():
            texts += [json.dumps(artifact.data), artifact.description or ""]
    files = [p for p in (*backups.rglob("*"), *local_block.parent.rglob("*")) if p.is_file()]
    assert any(p.suffix == ".age" for p in files) and any(p.suffix != ".age" for p in files)
    texts += [p.read_text(errors="replace") for p in files if p.suffix != ".age"]
    texts.append(path.read_text())  # the inventory holds references only
    texts.append(subprocess.run(["git", "-C", str(backups), "log", "-p", "--all"], capture_output=True,
                                text=True, check=True).stdout)
    for text in texts:
        assert PASSWORD not in text and USERNAME not in text
