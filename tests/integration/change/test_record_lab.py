"""The reproducibility record of real runs (deploy_config, show_commands, check_compliance, run-plan), and
`nornflow replay` against it."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from prefect.blocks.system import Secret

from nornflow.change.record import source
from nornflow.change.replay import compare, load_record
from nornflow.flows import check_compliance, deploy_config, show_commands
from tests.integration.config.conftest import TEMPLATES
from tests.support.prefect_api import artifacts, flow_run_id

pytestmark = pytest.mark.integration

PASSWORD = "Rk7-record-canary-4410"


def _with_secret_references(inventory) -> None:
    Secret(value={"password": PASSWORD}).save("record-canary", overwrite=True)
    defaults_file = inventory / "defaults.yaml"
    defaults = yaml.safe_load(defaults_file.read_text())
    defaults["password"] = "secret:secret/record-canary#password"
    defaults["connection_options"]["scrapli"]["extras"]["auth_secondary"] = "secret:secret/record-canary#password"
    defaults_file.write_text(yaml.safe_dump(defaults))


def _differences(out: str) -> list[str]:
    """Replay's difference lines, without those about uncommitted edits of this checkout (a test cannot commit)."""
    return [line.strip() for line in out.splitlines() if line.startswith("  ") and "checkout:" not in line]


def test_record_of_a_real_run_and_replay_reports_a_changed_template(tmp_path, capsys):
    from nornflow.cli import commands as cli
    from nornflow.lab import Lab

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    with Lab(size=2, directory=tmp_path / "lab", password=PASSWORD) as lab:
        _with_secret_references(lab.inventory_dir)
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
    assert record.flow_source.endswith("nornflow/flows/deploy_config.py") and record.flow_version
    assert record.checkout is not None and record.checkout.git_commit and record.deployment_id is None

    committed = tmp_path / "bk" / f"nornflow-run-{run_id}.json"
    assert committed.is_file()
    log = subprocess.run(["git", "-C", str(tmp_path / "bk"), "log", "--format=%s", "--", committed.name],
                         capture_output=True, text=True, check=True).stdout
    assert "run record" in log
    for text, where in ((committed.read_text(), "the committed record"), (found["deploy-config-record"].data,
                                                                         "the record artifact")):
        assert PASSWORD not in text, f"the secret leaked into {where}"

    capsys.readouterr()
    code = cli.main(["replay", run_id])
    out = capsys.readouterr().out
    assert _differences(out) == [] and code == (0 if "matches" in out else 1), out

    spine = templates / "cisco_iosxe" / "spine.j2"
    spine.write_text(spine.read_text() + "! an edit after the run\n")
    (templates / "common" / "extra.j2").write_text("! new\n")
    assert cli.main(["replay", run_id]) == 1
    out = capsys.readouterr().out
    assert _differences(out) == ["templates: cisco_iosxe/spine.j2 changed", "templates: common/extra.j2 was added"]
    assert "templates: cisco_iosxe/spine.j2 changed" in out and "templates: common/extra.j2 was added" in out
    assert cli.main(["replay", str(committed)]) == 1  # the committed JSON file works as well


def test_read_only_flows_and_plans_record_what_they_ran_from_and_no_secret(tmp_path):
    from prefect import flow

    from nornflow.lab import Lab
    from nornflow.plan import Plan
    from nornflow.plan.flow import run_plan

    with Lab(size=2, directory=tmp_path / "lab", password=PASSWORD) as lab:
        _with_secret_references(lab.inventory_dir)
        inventory = str(lab.inventory_dir)
        shown = show_commands(inventory=inventory, commands=["show version"], return_state=True)
        checked = check_compliance(inventory=inventory, templates=TEMPLATES, return_state=True)

        @flow
        def leaks() -> None:  # a parameter that holds the secret's value (resolved, so registered, by then)
            show_commands(inventory=inventory, commands=["show version", f"show clock {PASSWORD}"])

        leaked = leaks(return_state=True)
        plan = Plan.from_dict({"name": "record me", "inventory": inventory,
                               "steps": {"show": {"flow": "show_commands", "params": {"commands": ["show clock"]}}}})
        planned = run_plan(plan=plan.model_dump(mode="json"), return_state=True)
    assert shown.is_completed() and checked.is_completed() and planned.is_completed(), planned.message

    expected_refs = ["secret:secret/record-canary#password"]
    for state, key, flow_name in ((shown, "show-commands-record", "show_commands"),
                                  (checked, "check-compliance-record", "check_compliance"),
                                  (planned, "plan-record-me-record", "run-plan")):
        record = load_record(str(flow_run_id(state)))
        assert (record.flow, record.secret_references) == (flow_name, expected_refs)
        assert record.inventory.hash == source(lab.inventory_dir).hash and record.versions["prefect"]
        assert record.flow_version and record.checkout is not None
        assert PASSWORD not in artifacts(flow_run_id(state))[key].data
    assert load_record(str(flow_run_id(checked))).templates.hash == source(TEMPLATES).hash
    plan_record = load_record(str(flow_run_id(planned)))
    from nornflow.change.record import plan_hash_of

    assert plan_record.plan_hash == plan_hash_of(Plan.from_dict(plan.model_dump(mode="json")))
    assert [d for d in compare(plan_record) if not d.startswith("checkout:")] == []

    with_secret = _child_records(flow_run_id(leaked))
    assert len(with_secret) == 1 and PASSWORD not in with_secret[0] and "show clock ***" in with_secret[0]


def _child_records(parent) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])))
    return [a.data for child in children for k, a in artifacts(child.id).items() if k == "show-commands-record"]


def test_backup_record_goes_into_the_same_commit_as_the_configs(tmp_path):
    """What backup_configs does with it: the record file joins the configs' commit; no secret value in it."""
    from prefect import flow

    from nornflow.change.record import RunRecord, backup_record, publish_record
    from nornflow.config.backups import BackupStore
    from nornflow.secrets.redaction import register

    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yaml").write_text("r1: {hostname: 127.0.0.1, password: 'secret:secret/record-canary#"
                                          "password'}\n")

    @flow(name="backup_configs")
    def backup_like(inventory: str, backup_dir: str, note: str) -> tuple[str | None, str]:
        register(PASSWORD)  # as resolving the inventory does
        store = BackupStore(backup_dir)
        changes = [store.save("r1", "hostname r1\n")]
        record, written = backup_record("backup_configs", inventory, store.directory)
        commit = store.commit("backup_configs run: 1 changed", [*changes, written])
        publish_record(record, "backup-configs")
        return commit, str(record.flow_run_id)

    state = backup_like(str(inventory), str(tmp_path / "bk"), f"with {PASSWORD}", return_state=True)
    commit, run_id = state.result()
    files = subprocess.run(["git", "-C", str(tmp_path / "bk"), "show", "--name-only", "--format=", commit],
                           capture_output=True, text=True, check=True).stdout.split()
    assert files == ["nornflow-run-" + run_id + ".json", "r1.cfg"]
    text = (tmp_path / "bk" / files[0]).read_text()
    record = RunRecord.model_validate_json(text)
    assert record.parameters["note"] == "with ***" and PASSWORD not in text
    assert record.secret_references == ["secret:secret/record-canary#password"] and record.inventory.files
    assert PASSWORD not in artifacts(flow_run_id(state))["backup-configs-record"].data
    assert load_record(run_id).flow_run_id == run_id
