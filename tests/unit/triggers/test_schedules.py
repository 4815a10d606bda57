"""A deployment file's cron read the way Prefect reads it; doctor refuses the ambiguous and explains the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nornflow.cli.commands import main
from nornflow.triggers.schedules import check_quartz, read_cron, same_fires, to_seconds

ROOT = Path(__file__).resolve().parents[3]


def test_a_cron_that_differs_by_field_order_is_refused_with_both_readings():
    verdict = read_cron("*/15 * * * * *", "Europe/Berlin")
    assert not verdict.ok
    assert "is ambiguous" in verdict.problem and "every 15 s" in verdict.problem
    assert 'cron: "* * * * * */15"' in verdict.fix and 'quartz: {"quartz-1": "*/15 * * * * *"}' in verdict.fix


def test_a_cron_only_croniter_reads_is_what_prefect_runs():
    verdict = read_cron("0 2 * * * 30")  # Quartz order would put 30 in day-of-week: not a Quartz expression
    assert verdict.ok and "seconds last" in verdict.meaning
    assert verdict.spec == {"cron": "0 2 * * * 30"}


def test_a_cron_both_orders_read_alike_is_accepted():
    assert read_cron("* * * * * *").ok


def test_a_quartz_only_cron_gets_its_translation():
    verdict = read_cron("30 0 2 ? * MON-FRI", "Europe/Berlin")
    assert not verdict.ok and "prefect deploy reads cron in croniter's order" in verdict.problem
    assert 'cron: "0 2 * * 1-5 30"' in verdict.fix and 'timezone: "Europe/Berlin"' in verdict.fix


def test_five_fields_are_unchanged():
    assert read_cron("0 2 * * *", "Europe/Berlin").ok
    assert "does not parse" in read_cron("61 * * * *").problem


def test_quartz_against_the_schedule_with_its_slug():
    ok = check_quartz("*/15 * * * * *", {"cron": "* * * * * 0,15,30,45", "slug": "s"}, "s")
    assert ok.ok and "every 15 s" in ok.meaning
    wrong = check_quartz("*/15 * * * * *", {"cron": "*/15 * * * *", "slug": "s"}, "s")
    assert "does not fire when quartz" in wrong.problem and 'cron: "* * * * * */15"' in wrong.fix
    alone = check_quartz("0 0 12 LW * ?", None, "lw")
    assert "names no schedule" in alone.problem and "rrule: |" in alone.fix and "BYMONTHDAY=-3;BYDAY=FR" in alone.fix


def test_prefect_deploy_reads_the_file_doctor_asks_for():
    """prefect deploy refuses a schedule with an unknown key (and skips the file), but ignores a deployment's."""
    from prefect.cli.deploy._models import PrefectYamlModel
    from pydantic import ValidationError

    entry = {"name": "a", "entrypoint": "f.py:f", "quartz": {"every-15s": "*/15 * * * * *"},
             "schedules": [{"cron": "* * * * * */15", "slug": "every-15s", "timezone": "Europe/Berlin"}]}
    deployment = PrefectYamlModel.model_validate({"deployments": [entry]}).deployments[0]
    assert deployment.model_dump(exclude_unset=True, mode="json")["schedules"] == entry["schedules"]
    inside = {**entry, "schedules": [{"cron": "0 2 * * *", "quartz": "x"}]}
    with pytest.raises(ValidationError, match="quartz"):
        PrefectYamlModel.model_validate({"deployments": [inside]})


def test_same_fires_and_second_precision():
    assert same_fires({"cron": "* * * * * */15"}, {"cron": "* * * * * 0,15,30,45"})
    assert not same_fires({"cron": "0 2 * * *"}, {"cron": "0 2 * * *", "timezone": "Europe/Berlin"})
    assert to_seconds({"cron": "* * * * * */15"}) and to_seconds({"interval": 30})
    assert not to_seconds({"cron": "0 2 * * *"})
    assert not to_seconds({"interval": 300, "anchor_date": "2026-01-01T00:00:07+00:00"})  # :07, but every 5 min


def _write(tmp_path: Path, schedules: list[dict[str, object]], command: str | None = None,
           quartz: dict[str, str] | None = None) -> Path:
    pool: dict[str, object] = {"name": "nornflow-lab"}
    if command:
        pool["job_variables"] = {"command": command}
    entry = {"name": "lab", "entrypoint": "flows/backup_configs.py:backup_configs", "work_pool": pool,
             "parameters": {"inventory": ".nornflow/lab/inventory", "backup_dir": "backups"}, "schedules": schedules,
             **({"quartz": quartz} if quartz else {})}
    file = tmp_path / "prefect.yaml"
    file.write_text(yaml.safe_dump({"deployments": [entry]}))
    return file


def test_doctor_explains_each_schedule_with_its_next_fire_times(tmp_path, capsys):
    last_weekday = "".join(f"RRULE:FREQ=MONTHLY;{days};BYHOUR=12;BYMINUTE=0;BYSECOND=0\n" for days in
                           ("BYMONTHDAY=-1;BYDAY=MO,TU,WE,TH,FR", "BYMONTHDAY=-2;BYDAY=FR", "BYMONTHDAY=-3;BYDAY=FR"))
    file = _write(tmp_path, [{"slug": "every-15s", "cron": "* * * * * */15", "timezone": "Europe/Berlin"},
                             {"slug": "lw", "rrule": last_weekday}],
                  command="python -m nornflow.triggers.ontime",
                  quartz={"every-15s": "*/15 * * * * *", "lw": "0 0 12 LW * ?"})
    assert main(["doctor", "--offline", "--file", str(file), "--root", str(ROOT)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("schedule ") and "schedules[0]" in x)
    assert "every 15 s" in line and line.endswith("(Europe/Berlin)")
    times = line.split("next: ")[1].split(" (")[0].split(", ")
    assert len(times) == 3 and {t[-2:] for t in times} <= {"00", "15", "30", "45"}
    assert "the last weekday (Mon-Fri) of the month" in out and "12:00:00" in out
    assert "fire on a second" not in out  # the on-time start is set


def test_doctor_wants_the_on_time_start_for_a_schedule_on_a_second(tmp_path, capsys):
    file = _write(tmp_path, [{"cron": "* * * * * */15", "slug": "s"}], quartz={"s": "*/15 * * * * *"})
    assert main(["doctor", "--offline", "--file", str(file), "--root", str(ROOT)]) == 0  # a warning
    out = capsys.readouterr().out
    assert "WARNING" in out and "schedules[0] fire on a second" in out
    assert "job_variables: {command: python -m nornflow.triggers.ontime}" in out


@pytest.mark.parametrize(("schedule", "quartz", "says"), [
    ({"cron": "*/15 * * * * *"}, None, "schedules[0].cron: cron '*/15 * * * * *' is ambiguous"),
    ({"cron": "0 2 * * 1-5", "slug": "s"}, {"s": "0 0 2 ? * 1-5"}, "uses numbers"),
    ({"cron": "0 2 * * *", "slug": "s"}, {"t": "*/15 * * * * *"}, "quartz.t: quartz 't' ('*/15 * * * * *') names no"),
    ({"cron": "*/15 * * * *", "slug": "s"}, {"s": "*/15 * * * * *"}, "does not fire when quartz"),
    ({"cron": "0 2 * * *", "quartz": "0 0 2 * * ?"}, None, "unknown schedule keys ['quartz']: prefect deploy refuses"),
    ({"cron": "0 2 * * *"}, {"s": 5}, "must map schedule slugs to Quartz expressions"),
])
def test_doctor_refuses(tmp_path, capsys, schedule, quartz, says):
    file = _write(tmp_path, [schedule], quartz=quartz)
    assert main(["doctor", "--offline", "--file", str(file), "--root", str(ROOT)]) == 1
    out = capsys.readouterr().out
    assert "ERROR" in out and says in out
