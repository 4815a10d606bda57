"""Change windows on the stateful lab under a real Prefect server, with a fixed clock."""

from __future__ import annotations

from uuid import UUID

import pytest
import yaml

from nornflow.change.report import OUTSIDE, OVERRIDE
from nornflow.config.ledger import Ledger
from nornflow.flows import deploy_config
from nornflow.plan import Plan
from tests.integration.change.conftest import FRIDAY_NOON, TUESDAY_NIGHT, WEDNESDAY_0350
from tests.integration.config.conftest import TEMPLATES
from tests.support.events import record_device_run_events
from tests.support.prefect_api import artifacts, flow_run_id, logs

#: Every device changes Tue-Thu 22:00-04:00 Berlin; a window closing within 15 minutes counts as closed.
EVERYWHERE = {"timezone": "Europe/Berlin", "margin_minutes": 15,
              "windows": [{"name": "night", "days": "tue-thu", "start": "22:00", "end": "04:00"}]}

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from nornflow.lab import Lab

    with Lab(size=3, directory=tmp_path_factory.mktemp("windowlab")) as lab:
        yield lab


@pytest.fixture
def pristine(lab):
    """Every test starts from the lab's initial configs."""
    before = {name: lab.running_config(name) for name in lab.devices}
    yield before
    for name, config in before.items():
        lab.set_running_config(name, config)


def _latest(run_id: UUID, key: str) -> str:
    """The newest version of an artifact of a run (a run may publish a key twice)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]), key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC, limit=1)
    return str(found[0].data)


def _deploy(lab, tmp_path, calendar, **options):
    return deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, backup_dir=str(tmp_path / "bk"),
                         auto_approve=True, change_calendar=calendar, return_state=True, **options)


def test_outside_the_window_the_device_is_not_touched_and_told_the_next_window(
        lab, pristine, tmp_path, calendar_file, set_clock, change_events):
    set_clock(FRIDAY_NOON)
    state = _deploy(lab, tmp_path, calendar_file)
    result = state.result(raise_on_failure=False)
    fra = result["fra-spine-01"]
    assert fra.status == "skipped" and fra.data["outcome"] == "outside-window"
    assert fra.error == ("fra-spine-01: outside its change window (outside its change windows); not touched; "
                         "next window Tue 2026-03-10 22:00 CET (21:00 UTC) to Wed 2026-03-11 04:00 CET (03:00 UTC)")
    assert fra.data["next_window"].startswith("2026-03-10T21:00:00")
    assert lab.running_config("fra-spine-01") == pristine["fra-spine-01"]  # nothing sent
    assert result["ams-spine-01"].data["outcome"] == "applied"  # no window for ams: open by default
    assert "1 outside-window" in state.message
    window = artifacts(flow_run_id(state))["deploy-config-window"].data
    assert "| fra-spine-01 | outside |" in window and "Tue 2026-03-10 22:00 CET" in window
    assert [e["payload"]["host"] for e in change_events if e["event"] == OUTSIDE] == ["fra-spine-01"]


def test_inside_the_window_the_push_is_done(lab, pristine, tmp_path, calendar_file, set_clock):
    set_clock(TUESDAY_NIGHT)
    state = _deploy(lab, tmp_path, calendar_file, hosts={"sites": ["fra"]})
    assert state.is_completed(), state.message
    assert state.result()["fra-spine-01"].data["outcome"] == "applied"
    assert "ntp server 10.1.0.1" in lab.running_config("fra-spine-01")


def test_all_outside_cancels_the_run_and_a_closing_window_counts_as_closed(
        lab, pristine, tmp_path, calendar_file, set_clock):
    set_clock(WEDNESDAY_0350)  # inside fra-night, but it closes in 10 min (margin 15)
    state = _deploy(lab, tmp_path, calendar_file, hosts={"sites": ["fra"]})
    assert state.is_cancelled() and "nothing was pushed" in state.message
    assert "closes at Wed 2026-03-04 04:00 CET" in state.message and "margin of 15 min" in state.message
    assert lab.running_config("fra-spine-01") == pristine["fra-spine-01"]


def test_emergency_override_is_pushed_and_recorded_with_its_reason(
        lab, pristine, tmp_path, calendar_file, set_clock, change_events):
    set_clock(FRIDAY_NOON)
    state = _deploy(lab, tmp_path, calendar_file, hosts={"sites": ["fra"]},
                    override_reason="INC-4711 core link flapping", override_by="alice")
    assert state.is_completed(), state.message
    assert "ntp server 10.1.0.1" in lab.running_config("fra-spine-01")
    window = artifacts(flow_run_id(state))["deploy-config-window"].data
    assert "**Emergency override** by alice: INC-4711 core link flapping" in window
    assert "| fra-spine-01 | override |" in window
    overrides = [e for e in change_events if e["event"] == OVERRIDE]
    assert [(e["payload"]["host"], e["payload"]["reason"], e["payload"]["by"]) for e in overrides] == [
        ("fra-spine-01", "INC-4711 core link flapping", "alice")]


def test_blank_override_reason_is_refused_before_any_session(lab, tmp_path, calendar_file):
    state = _deploy(lab, tmp_path, calendar_file, override_reason=" ")
    assert state.is_failed() and "needs a reason" in state.message


def test_plan_stops_before_the_generation_past_the_window_end_and_resumes(lab, calendar_file, set_clock):
    from prefect import flow

    from nornflow.plan.execute import execute_plan

    @flow
    def plan_flow(plan: Plan, inventory: str, prior=None):
        return execute_plan(plan, inventory=inventory, prior=prior)

    plan = Plan.from_dict({"name": "windowed", "change_calendar": calendar_file, "steps": {
        "first": {"task": "tests.integration.plan.lab_tasks:hold", "params": {"seconds": 0.1},
                  "hosts": {"sites": "fra"}, "change": True},
        "second": {"task": "tests.integration.plan.lab_tasks:hold", "params": {"seconds": 0.1},
                   "hosts": {"sites": "fra"}, "change": True, "depends_on": "first"},
        "report": {"task": "tests.integration.plan.lab_tasks:hold", "params": {"seconds": 0.1},
                   "hosts": {"sites": "ams"}, "depends_on": {"first": "always"}},
    }})
    read = set_clock(TUESDAY_NIGHT, WEDNESDAY_0350)  # generation 1 inside; generation 2 too close to the end
    outcome = plan_flow(plan, str(lab.inventory_dir))
    assert len(read) == 2
    assert outcome.steps["first"].state == "completed"
    second = outcome.steps["second"]
    assert second.state == "skipped" and second.skipped_hosts == ["fra-spine-01"]
    assert second.reason.startswith("plan stopped before generation 2/2: change window: fra-spine-01: outside")
    assert "margin of 15 min" in second.reason and "--rerun" in second.reason
    assert outcome.steps["report"].state == "skipped"  # not a change step, but the plan stopped there

    window = artifacts(UUID(outcome.flow_run_id))["plan-windowed-window"].data
    assert "| fra-spine-01 | outside |" in window and "margin of 15 min" in window

    set_clock(TUESDAY_NIGHT)  # the next window: resume what is left
    again = plan_flow(plan, str(lab.inventory_dir), prior=outcome)
    assert again.steps["first"].carried and again.steps["second"].state == "completed"
    assert again.steps["report"].state == "completed"


def test_plan_override_reason_runs_a_closed_generation_and_is_recorded(lab, calendar_file, set_clock,
                                                                         change_events):
    from prefect import flow

    from nornflow.plan.execute import execute_plan

    @flow
    def plan_flow(plan: Plan, inventory: str):
        return execute_plan(plan, inventory=inventory)

    plan = Plan.from_dict({"name": "urgent", "change_calendar": calendar_file, "override_reason": "INC-77 fix now",
                           "override_by": "carol", "steps": {
                               "fix": {"task": "tests.integration.plan.lab_tasks:hold", "params": {"seconds": 0.1},
                                       "hosts": {"sites": "fra"}, "change": True}}})
    set_clock(FRIDAY_NOON)
    outcome = plan_flow(plan, str(lab.inventory_dir))
    assert outcome.steps["fix"].state == "completed"
    window = artifacts(UUID(outcome.flow_run_id))["plan-urgent-window"].data
    assert "**Emergency override** by carol: INC-77 fix now" in window and "| fra-spine-01 | override |" in window
    assert [(e["payload"]["host"], e["payload"]["reason"]) for e in change_events if e["event"] == OVERRIDE] == [
        ("fra-spine-01", "INC-77 fix now")]


def test_window_closing_between_devices_then_resume_outside_and_inside_it(
        lab, pristine, tmp_path, set_clock, change_events, monkeypatch, capsys):
    """Per device before its first line; then `nornflow resume` under the same window rules."""
    from nornflow.cli import commands as cli

    calendar = tmp_path / "everywhere.yaml"
    calendar.write_text(yaml.safe_dump(EVERYWHERE), encoding="utf-8")
    device_events = record_device_run_events(monkeypatch)
    # The run's check reads 23:00 CET; the first device's too; then 03:50 CET (closing within the margin).
    read = set_clock(TUESDAY_NIGHT, TUESDAY_NIGHT, WEDNESDAY_0350)
    state = _deploy(lab, tmp_path, str(calendar), max_sessions=1)
    assert len(read) == 1 + len(lab.devices), read  # the run's check, then one per device before its first line
    result = state.result(raise_on_failure=False)
    outcomes = {r.host: r.data["outcome"] for r in result.records}
    pushed = [h for h, o in outcomes.items() if o == "applied"]
    waiting = sorted(h for h, o in outcomes.items() if o == "outside-window")
    assert len(pushed) == 1 and len(waiting) == len(lab.devices) - 1, outcomes
    for host in waiting:
        record = result[host]
        assert record.status == "skipped" and "margin of 15 min" in record.error
        assert record.error.endswith("not touched; next window Wed 2026-03-04 22:00 CET (21:00 UTC) to "
                                     "Thu 2026-03-05 04:00 CET (03:00 UTC)")
        assert lab.running_config(host) == pristine[host]  # not a line sent
    assert lab.running_config(pushed[0]) != pristine[pushed[0]]
    run_id = str(flow_run_id(state))
    assert f"{len(waiting)} device(s) wait for their change window" in state.message
    assert f"nornflow resume {run_id}" in state.message
    ledger = Ledger.find(tmp_path / "bk", run_id)
    assert ledger is not None and ledger.run.get("paused") and sorted(ledger.waiting()) == waiting
    window = _latest(flow_run_id(state), "deploy-config-window")  # the run's check, then the per-device one
    assert "checked again per device just before its first line" in window
    assert sorted(e["payload"]["host"] for e in change_events if e["event"] == OUTSIDE) == waiting
    skipped = [e["resource"]["prefect.resource.id"] for e in device_events
               if e["event"] == "nornflow.device.run.skipped"]
    assert sorted(skipped) == [f"nornflow.device.{h}" for h in waiting]

    # A crash caught the pushed device mid-push (as the ledger would say), and the resume runs on Friday noon.
    ledger.mark(pushed[0], "pushing", lines=1)
    set_clock(FRIDAY_NOON)
    capsys.readouterr()
    cli.main(["resume", run_id])
    out = capsys.readouterr().out
    assert f"{len(waiting)} device(s) wait for their change window (next window of {waiting[0]}: " \
           "Tue 2026-03-10 22:00 CET (21:00 UTC))" in out, out
    states = ledger.states()
    assert states[pushed[0]] == "verified" and all(states[h] == "outside-window" for h in waiting), states
    assert all(lab.running_config(h) == pristine[h] for h in waiting)  # still nothing sent
    resumed = UUID(ledger.run["resumed_by"][-1])
    assert any("caught mid-push" in line and "whatever its change window says" in line for line in logs(resumed))
    record = artifacts(resumed)["deploy-config-record"].data  # the resume's own record keeps its window decision
    assert '"refused": [' in record and all(h in record for h in waiting)

    set_clock(TUESDAY_NIGHT)  # the next window: the same command finishes the run
    assert cli.main(["resume", run_id]) == 0
    assert set(ledger.states().values()) == {"verified"} and ledger.run.get("ended")
    assert all(lab.running_config(h) != pristine[h] for h in waiting)


def test_every_early_end_publishes_device_events_and_a_record(lab, pristine, tmp_path, monkeypatch):

    from nornflow.change.replay import load_record

    device_events = record_device_run_events(monkeypatch)
    dry = deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, backup_dir=str(tmp_path / "bk"),
                        dry_run=True, return_state=True)
    record = load_record(str(flow_run_id(dry)))
    assert record.plan_hash and record.plan_hash in dry.message and record.window is None
    assert len([e for e in device_events if e["event"].startswith("nornflow.device.run.")]) == len(lab.devices)
    device_events.clear()
    timed_out = deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, backup_dir=str(tmp_path / "bk"),
                              approval_timeout=1, approval_poll_interval=1, return_state=True)
    # Prefect replaces the run's own end (Cancelled) with "never resumed" once the pause has expired
    assert not timed_out.is_completed()
    summary = artifacts(flow_run_id(timed_out))["deploy-config-summary"].data
    record = load_record(str(flow_run_id(timed_out)))
    assert record.plan_hash and f"plan {record.plan_hash} timed-out" in summary
    run_events = [e for e in device_events if e["event"].startswith("nornflow.device.run.")]
    assert sorted(e["event"] for e in run_events) == ["nornflow.device.run.skipped"] * len(lab.devices)
    assert not (tmp_path / "bk").exists() or not list((tmp_path / "bk").glob("nornflow-run-*.json"))
