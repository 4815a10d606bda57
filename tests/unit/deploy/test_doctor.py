"""nornflow doctor's static checks and the repository's deployment files, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nornflow.cli import main
from nornflow.deploy.automations import AutomationSpecError, build_automation, expand, load_spec
from nornflow.deploy.deployfile import check_file
from nornflow.deploy.doctor import check_automations

ROOT = Path(__file__).resolve().parents[3]
ISSUE_4 = ("flows/deploy_config.py", "flows/check_compliance.py")


def write(tmp_path: Path, deployments: list[dict], **top) -> Path:
    file = tmp_path / "prefect.yaml"
    file.write_text(yaml.safe_dump({"name": "t", **top, "deployments": deployments}), encoding="utf-8")
    return file


def backup(**extra) -> dict:
    return {
        "name": "lab",
        "entrypoint": "flows/backup_configs.py:backup_configs",
        "work_pool": {"name": "pool"},
        "parameters": {"inventory": "inv"},
        **extra,
    }


def problems(file: Path) -> list[str]:
    return [str(f) for f in check_file(file, ROOT).errors]


@pytest.mark.parametrize("name", ["prefect.yaml", "deployments/prod.yaml"])
def test_repository_files_pass_except_flows_not_written_yet(name):
    errors = check_file(ROOT / name, ROOT).errors
    unexpected = [
        str(e) for e in errors if not any(p in e.problem for p in ISSUE_4 if not (ROOT / p).exists())
    ]
    assert unexpected == []


def test_default_file_has_every_kind_of_schedule_a_drift_trigger_and_a_collision_strategy():
    data = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    schedules = [s for d in data["deployments"] for s in d.get("schedules", [])]
    assert {"cron": "0 2 * * *", "timezone": "Europe/Berlin"}.items() <= schedules[0].items()
    assert any("interval" in s for s in schedules)
    assert any("BYDAY=MO,TU,WE,TH,FR" in s.get("rrule", "") for s in schedules)
    strategies = {
        d["concurrency_limit"]["collision_strategy"] for d in data["deployments"] if "concurrency_limit" in d
    }
    assert strategies == {"ENQUEUE", "CANCEL_NEW"}
    backup_entry = data["deployments"][0]
    trigger = backup_entry["triggers"][0]
    assert trigger["expect"] == ["nornflow.compliance.drift"]
    assert trigger["parameters"]["hosts"]["names"] == ["{{ event.payload.host }}"]
    assert data["pull"][0]["prefect.deployments.steps.set_working_directory"]


def test_missing_entrypoint_file_is_named(tmp_path):
    file = write(tmp_path, [backup(entrypoint="flows/nope.py:backup_configs")])
    assert any("flows/nope.py does not exist" in p for p in problems(file))


def test_entrypoint_that_is_not_a_flow_is_named(tmp_path):
    (tmp_path / "plain.py").write_text("def job():\n    return 1\n")
    file = write(tmp_path, [backup(entrypoint="plain.py:job")])
    errors = [str(f) for f in check_file(file, tmp_path).errors]
    assert any("'plain.py:job'" in p and "is not a flow" in p for p in errors)


def test_malformed_entrypoint_and_missing_pool(tmp_path):
    file = write(tmp_path, [{"name": "x", "entrypoint": "flows/backup_configs.py"}])
    text = "\n".join(problems(file))
    assert "is not `path/to/file.py:flow_function`" in text
    assert "no work_pool.name" in text


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"cron": "0 0 2 * * *", "timezone": "Europe/Berlin"}, "is ambiguous"),
        ({"cron": "61 * * * *"}, "does not parse"),
        ({"cron": "0 2 * * *", "timezone": "Mars/Olympus"}, "does not parse"),
        ({"rrule": "FREQ=WEEKLYY;BYDAY=MO"}, "rrule schedule 'FREQ=WEEKLYY;BYDAY=MO' does not parse"),
        ({"interval": -5}, "must be a positive number"),
        ({"cron": "0 2 * * *", "interval": 60}, "exactly one of cron, interval, rrule"),
    ],
)
def test_malformed_schedule_fails_naming_it(tmp_path, schedule, expected):
    file = write(tmp_path, [backup(schedules=[schedule])])
    errors = problems(file)
    assert any(expected in e and "schedules[0]" in e for e in errors), errors


def test_good_schedules_pass(tmp_path):
    file = write(
        tmp_path,
        [
            backup(
                schedules=[
                    {"cron": "@daily"},
                    {"interval": 30, "anchor_date": "2024-01-01T00:00:00+01:00", "timezone": "Europe/Berlin"},
                    {"rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=7", "timezone": "Europe/Berlin"},
                ]
            )
        ],
    )
    assert problems(file) == []


def test_bad_concurrency_trigger_and_parameters(tmp_path):
    file = write(
        tmp_path,
        [
            backup(
                concurrency_limit={"limit": 1, "collision_strategy": "CANCEL_OLD"},
                parameters={"inventory": "inv", "colour": "red"},
                triggers=[
                    {"expect": ["x"], "posture": "Sideways"},
                    {"expect": ["x"], "parameters": {"hostz": "{{ event.payload.host }}"}},
                ],
            )
        ],
    )
    text = "\n".join(problems(file))
    assert "collision_strategy one of ENQUEUE, CANCEL_NEW" in text
    assert "['colour'] are not parameters of flow backup_configs" in text
    assert "triggers[0]: trigger is invalid at" in text
    assert "trigger parameters ['hostz'] are not parameters" in text


def test_duplicate_deployment_and_bad_yaml(tmp_path):
    file = write(tmp_path, [backup(), backup()])
    assert any("duplicates deployments[0]" in p for p in problems(file))
    bad = tmp_path / "bad.yaml"
    bad.write_text("deployments: [\n")
    assert "is not valid YAML" in str(check_file(bad, ROOT).errors[0])


def test_block_references_are_collected_from_templates_and_inventory(tmp_path, monkeypatch):
    inventory = tmp_path / "inv"
    inventory.mkdir()
    (inventory / "hosts.yaml").write_text("r1: {hostname: 127.0.0.1}\n")
    (inventory / "defaults.yaml").write_text("password: secret:nornflow-vault/prod:net/core#password\n")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    file = write(
        tmp_path,
        [
            backup(
                parameters={
                    "inventory": str(inventory),
                    "backup_dir": "{{ prefect.blocks.secret.backup-dir }}",
                },
                description="{{ $NOT_SET_ANYWHERE }}",
            )
        ],
    )
    report = check_file(file, ROOT)
    assert set(report.blocks) == {("secret", "backup-dir"), ("nornflow-vault", "prod")}
    assert any("NOT_SET_ANYWHERE is not set" in str(e) for e in report.errors)


def test_automations_spec_validates_and_names_missing_blocks(tmp_path, monkeypatch):
    report = check_file(ROOT / "prefect.yaml", ROOT)
    check_automations(ROOT / "deployments/automations.yaml", report)
    assert not [e for e in report.errors if "automation" in e.where]
    spec = load_spec(ROOT / "deployments/automations.yaml")
    entry = spec["automations"][0]
    with pytest.raises(AutomationSpecError, match="block 'custom-webhook/nornflow-notify' does not exist"):
        build_automation(entry, {})
    with pytest.raises(AutomationSpecError, match="NORNFLOW_NOTIFY_URL is not set"):
        expand(spec["notification_blocks"][0]["fields"], "notification_blocks[0]", env={})
    assert expand("${A}/x", "w", env={"A": "http://h"}) == "http://h/x"


def test_cli_doctor_offline_exit_codes(tmp_path, capsys):
    good = write(tmp_path, [backup(schedules=[{"cron": "0 2 * * *", "timezone": "Europe/Berlin"}])])
    assert main(["doctor", "--offline", "--file", str(good), "--root", str(ROOT)]) == 0
    bad = write(tmp_path, [backup(schedules=[{"cron": "*/5 * * * * *"}])])
    assert main(["doctor", "--offline", "--file", str(bad), "--root", str(ROOT)]) == 1
    out = capsys.readouterr().out
    assert "ERROR prefect.yaml: backup_configs/lab.schedules[0].cron" in out
    assert '"*/5 * * * * *"}' in out and 'cron: "* * * * * */5"' in out  # the unambiguous spelling


def test_scheduled_deployment_missing_a_required_parameter_fails(tmp_path):
    entry = backup(schedules=[{"interval": 60}])
    entry["parameters"] = {}
    errors = problems(write(tmp_path, [entry]))
    assert any("required parameters ['inventory'] have no value: every scheduled run would fail" in e
               for e in errors), errors


def test_runner_settable_tags_name_parameters_of_the_flow_and_never_a_governed_one(tmp_path):
    file = write(tmp_path, [backup(tags=["nornflow", "runner-sets:hosts", "runner-sets:nosuch"]),
                            backup(name="change", entrypoint="flows/deploy_config.py:deploy_config",
                                   parameters={"inventory": "inv", "templates": "t"},
                                   tags=["runner-sets:auto_approve", "runner-sets:hosts"])])
    errors = problems(file)
    assert any("'runner-sets:nosuch'" in e and "not a parameter" in e for e in errors), errors
    assert any("'runner-sets:auto_approve'" in e and "never runner-settable" in e for e in errors), errors
    assert not any("runner-sets:hosts" in e for e in errors), errors
