"""Change windows on the stateful lab under a real Prefect server, with a fixed clock."""

from __future__ import annotations

import pytest

from nornflow.change.report import OUTSIDE, OVERRIDE
from nornflow.flows import deploy_config
from nornflow.plan import Plan
from tests.integration.change.conftest import FRIDAY_NOON, TUESDAY_NIGHT, WEDNESDAY_0350
from tests.integration.config.conftest import TEMPLATES
from tests.support.prefect_api import artifacts, flow_run_id

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

    set_clock(TUESDAY_NIGHT)  # the next window: resume what is left
    again = plan_flow(plan, str(lab.inventory_dir), prior=outcome)
    assert again.steps["first"].carried and again.steps["second"].state == "completed"
    assert again.steps["report"].state == "completed"
