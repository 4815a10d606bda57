"""Outcomes serialize, and a rerun redoes only failed hosts and failed or skipped steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nornflow.engine.records import HostRecord
from nornflow.exceptions import PlanError
from nornflow.plan import Plan, PlanOutcome, StepOutcome, rerun_plan

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def rec(host: str, status: str) -> HostRecord:
    return HostRecord(host=host, status=status, data={"big": "x" * 10}, duration=0.0)


def outcome() -> PlanOutcome:
    plan = Plan.from_dict({"name": "change", "steps": {
        "backup": {"task": "m:f"},
        "spines": {"task": "m:f", "hosts": {"roles": "spine"}, "depends_on": "backup", "failure_budget": 1},
        "leaves": {"task": "m:f", "hosts": {"roles": "leaf"}, "depends_on": "spines", "mode": "waves"},
        "check": {"task": "m:f", "depends_on": "leaves"},
        "incident": {"flow": "record_incident", "depends_on": {"leaves": "failure"}},
    }})
    steps = {
        "backup": StepOutcome(name="backup", state="completed", records=[rec("s1", "ok"), rec("l1", "ok")],
                              started=T0, finished=T0 + timedelta(seconds=2)),
        "spines": StepOutcome(name="spines", state="completed",
                              records=[rec("s1", "ok"), rec("s2", "failed")]),
        "leaves": StepOutcome(name="leaves", state="failed", reason="1 of 3 hosts failed",
                              records=[rec("l1", "failed"), rec("l2", "skipped"), rec("l3", "skipped")]),
        "check": StepOutcome(name="check", state="skipped", reason="condition not met"),
        "incident": StepOutcome(name="incident", state="completed"),
    }
    return PlanOutcome(plan=plan, steps=steps, started=T0, finished=T0 + timedelta(seconds=9))


def test_state_and_duration():
    result = outcome()
    assert result.state == "failed"
    assert result.duration == 9.0
    assert result.steps["backup"].duration == 2.0
    assert result.steps["leaves"].skipped_hosts == ["l2", "l3"]


def test_json_and_artifact_markdown_round_trip(tmp_path):
    result = outcome()
    assert PlanOutcome.from_json(result.to_json()) == result
    from_artifact = PlanOutcome.from_json("# table\n\n" + result.to_markdown())
    assert from_artifact.steps["leaves"].failed_hosts == ["l1"]
    assert from_artifact.steps["backup"].records[0].data is None  # host data stays out of the artifact
    path = tmp_path / "o.json"
    path.write_text(result.to_json())
    assert PlanOutcome.load(path) == result
    with pytest.raises(PlanError, match="not a plan outcome"):
        PlanOutcome.from_json("{}")
    with pytest.raises(PlanError, match="cannot be read"):
        PlanOutcome.load(tmp_path / "missing.json")


def test_rerun_redoes_only_what_did_not_succeed():
    plan, carried = rerun_plan(outcome())
    assert sorted(carried) == ["backup", "incident"]
    assert all(o.carried for o in carried.values())
    # spines completed within budget but has a failed host: only that host again
    assert plan.step("spines").hosts.names == ["s2"]
    # leaves had no ok host: the whole selection again, not a name list
    assert plan.step("leaves").hosts.roles == ["leaf"] and not plan.step("leaves").hosts.names
    assert plan.step("check").hosts is None
    assert plan.step("spines").depends_on == outcome().plan.step("spines").depends_on


def test_rerun_narrows_to_failed_and_skipped_hosts_after_partial_waves():
    result = outcome()
    result.steps["leaves"].records[0] = rec("l1", "ok")
    result.steps["leaves"].records[1] = rec("l2", "failed")
    plan, _ = rerun_plan(result)
    assert plan.step("leaves").hosts.names == ["l2", "l3"]


def big_outcome(hosts: int) -> PlanOutcome:
    """``outcome()`` with a leaves step of ``hosts`` failed hosts, each with long output and errors."""
    result = outcome()
    result.steps["leaves"].records = [
        HostRecord(host=f"leaf{i:04d}", status="failed", error="E" * 1000, data={"out": "o" * 5000})
        for i in range(hosts)]
    result.steps["backup"].records = [HostRecord(host=f"leaf{i:04d}", status="ok", changed=True,
                                                 data={"config": "c" * 5000}) for i in range(hosts)]
    return result


@pytest.mark.parametrize("hosts", [30, 600])
def test_plan_summary_is_bounded_whatever_the_fleet(hosts):
    import json

    from nornflow.plan.outcome import plan_summary

    summary = plan_summary(big_outcome(hosts), hosts=5)
    text = json.dumps(summary)
    assert len(text) < 3000                                      # the same size at 30 and at 600 hosts
    assert "ooooo" not in text and "ccccc" not in text           # no host data
    leaves = summary["steps"]["leaves"]
    assert (leaves["failed"], len(leaves["failed_hosts"]), leaves["failed_more"]) == (hosts, 5, hosts - 5)
    assert len(leaves["failed_hosts"][0]["error"]) == 200        # errors cut short
    assert summary["steps"]["backup"] == {"state": "completed", "reason": None, "ok": hosts, "failed": 0,
                                          "skipped": 0, "changed": hosts, "flow_run_id": None}


def test_the_artifact_lists_a_capped_number_of_hosts_and_a_rerun_needs_the_full_record():
    result = big_outcome(600)
    result.outcome_ref = "result:nornflow-plan-outcomes/change/run.json"
    markdown = result.to_markdown(limit=50)
    assert len(markdown) < 40_000 and "ooooo" not in markdown
    listed = PlanOutcome.from_json(markdown)
    assert listed.truncated and listed.outcome_ref == result.outcome_ref
    assert len(listed.steps["leaves"].records) == 50 and listed.steps["leaves"].records_left == 550
    assert listed.steps["leaves"].state == "failed"
    with pytest.raises(PlanError, match=r"--rerun result:nornflow-plan-outcomes/change/run\.json"):
        rerun_plan(listed)
    small = PlanOutcome.from_json(outcome().to_markdown(limit=50))
    assert not small.truncated                                   # a small run's artifact still reruns alone
    rerun_plan(small)


def test_capped_lists_failed_hosts_first():
    result = outcome()
    capped = result.capped(limit=1)
    assert [r.host for r in capped.steps["spines"].records] == ["s2"]
    assert capped.steps["spines"].records_left == 1 and not capped.steps["check"].records_left
