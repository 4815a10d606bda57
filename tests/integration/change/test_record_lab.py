"""The reproducibility record of a real deploy_config run, and `nornflow replay` against it."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from prefect.blocks.system import Secret

from nornflow.change.record import source
from nornflow.change.replay import load_record
from nornflow.flows import deploy_config
from tests.integration.config.conftest import TEMPLATES
from tests.support.prefect_api import artifacts, flow_run_id

pytestmark = pytest.mark.integration

PASSWORD = "Rk7-record-canary-4410"


def test_record_of_a_real_run_and_replay_reports_a_changed_template(tmp_path, capsys):
    from nornflow import cli
    from nornflow.lab import Lab

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    with Lab(size=2, directory=tmp_path / "lab", password=PASSWORD) as lab:
        Secret(value={"password": PASSWORD}).save("record-canary", overwrite=True)
        defaults_file = lab.inventory_dir / "defaults.yaml"
        defaults = yaml.safe_load(defaults_file.read_text())
        defaults["password"] = "secret:secret/record-canary#password"
        defaults["connection_options"]["scrapli"]["extras"]["auth_secondary"] = "secret:secret/record-canary#password"
        defaults_file.write_text(yaml.safe_dump(defaults))
        state = deploy_config(inventory=str(lab.inventory_dir), templates=str(templates),
                              backup_dir=str(tmp_path / "bk"), auto_approve=True, return_state=True)
        assert state.is_completed(), state.message

    run_id = str(flow_run_id(state))
    found = artifacts(flow_run_id(state))
    record = load_record(run_id)
    assert record.flow == "deploy_config" and record.flow_run_id == run_id
    assert record.plan_hash and f"Plan {record.plan_hash}" in found["deploy-config-plan"].data
    assert record.inventory.hash == source(lab.inventory_dir).hash and "defaults.yaml" in record.inventory.files
    assert record.templates.hash == source(templates).hash and "cisco_iosxe/spine.j2" in record.templates.files
    import nornir
    import prefect

    assert record.versions["prefect"] == prefect.__version__ and "nornir" in record.versions
    assert record.versions["nornflow-netops"] and nornir
    assert record.parameters["templates"] == str(templates) and record.parameters["auto_approve"] is True
    assert record.secret_references == ["secret:secret/record-canary#password"]
    assert record.approver == "auto_approve=True"
    assert record.window["summary"] == "no change calendar configured: every device may change"

    committed = tmp_path / "bk" / f"nornflow-run-{run_id}.json"
    assert committed.is_file()
    log = subprocess.run(["git", "-C", str(tmp_path / "bk"), "log", "--format=%s", "--", committed.name],
                         capture_output=True, text=True, check=True).stdout
    assert "run record" in log
    for text, where in ((committed.read_text(), "the committed record"), (found["deploy-config-record"].data,
                                                                         "the record artifact")):
        assert PASSWORD not in text, f"the secret leaked into {where}"

    capsys.readouterr()
    assert cli.main(["replay", run_id]) == 0
    assert "matches: inventory, templates and versions are as they were" in capsys.readouterr().out

    spine = templates / "cisco_iosxe" / "spine.j2"
    spine.write_text(spine.read_text() + "! an edit after the run\n")
    (templates / "common" / "extra.j2").write_text("! new\n")
    assert cli.main(["replay", run_id]) == 1
    out = capsys.readouterr().out
    assert "differs (2):" in out
    assert "templates: cisco_iosxe/spine.j2 changed" in out and "templates: common/extra.j2 was added" in out
    assert cli.main(["replay", str(committed)]) == 1  # the committed JSON file works as well
