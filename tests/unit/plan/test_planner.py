"""Planner rules without I/O: orderings, conditions, cycles, selections, waves."""

from __future__ import annotations

import pytest

from nornflow.exceptions import HostSelectionError, PlanError
from nornflow.plan import FlowRegistry, Plan, PlanCycleError, UnknownFlowError, UnknownStepError, validate
from nornflow.plan.planner import check_selections, condition_met, skip_reason, waves


def make(steps: dict, **extra) -> Plan:
    tasks = {k: {"task": "m:f", **v} for k, v in steps.items()}
    return Plan.from_dict({"name": "t", "steps": tasks, **extra})


def test_generations_follow_dependencies_and_keep_plan_order():
    plan = make({
        "backup": {}, "inventory_check": {},
        "spines": {"depends_on": ["backup"]},
        "leaves": {"depends_on": ["spines"]},
        "firewall": {"depends_on": ["backup", "inventory_check"]},
        "compliance": {"depends_on": ["leaves", "firewall"]},
    })
    planned = validate(plan)
    assert planned.generations == [
        ["backup", "inventory_check"], ["spines", "firewall"], ["leaves"], ["compliance"],
    ]
    assert planned.generation_of("compliance") == 3
    assert planned.graph.edges["backup", "spines"]["condition"] == "success"


def test_diamond_and_independent_branches():
    planned = validate(make({"a": {}, "b": {"depends_on": "a"}, "c": {"depends_on": "a"},
                             "d": {"depends_on": ["b", "c"]}, "x": {}}))
    assert planned.generations == [["a", "x"], ["b", "c"], ["d"]]


def test_unknown_step_names_every_bad_edge():
    with pytest.raises(UnknownStepError, match=r"b -> nope; c -> ghost") as err:
        validate(make({"a": {}, "b": {"depends_on": "nope"}, "c": {"depends_on": "ghost"}}))
    assert isinstance(err.value, PlanError) and isinstance(err.value, LookupError)


@pytest.mark.parametrize(
    ("steps", "cycle"),
    [
        ({"a": {"depends_on": "a"}}, ["a"]),
        ({"a": {"depends_on": "b"}, "b": {"depends_on": "a"}}, ["a", "b"]),
        ({"x": {}, "a": {"depends_on": ["c", "x"]}, "b": {"depends_on": "a"}, "c": {"depends_on": "b"}},
         ["a", "b", "c"]),
    ],
)
def test_cycles_name_their_steps(steps, cycle):
    with pytest.raises(PlanCycleError) as err:
        validate(make(steps))
    assert sorted(err.value.cycle) == cycle
    for name in cycle:
        assert name in str(err.value)
    assert "x ->" not in str(err.value)


def test_unknown_flow_lists_the_known_ones():
    plan = Plan.from_dict({"steps": {"a": {"flow": "push_everything"}}})
    with pytest.raises(UnknownFlowError, match=r"step 'a'.*push_everything.*not registered.*backup_configs"):
        validate(plan)


def test_registry_is_per_instance_and_plan_flows_extend_it(tmp_path):
    flow_file = tmp_path / "my_flow.py"
    flow_file.write_text("def my_flow(inventory=None):\n    return 'ran'\n")
    plan = Plan.from_dict({"flows": {"mine": f"{flow_file}:my_flow"}, "steps": {"a": {"flow": "mine"}}})
    validate(plan)
    registry = FlowRegistry(plan.flows)
    assert registry.load("mine")() == "ran"
    assert "mine" not in FlowRegistry()
    missing = Plan.from_dict({"flows": {"gone": f"{tmp_path}/gone.py:f"}, "steps": {"a": {"flow": "gone"}}})
    with pytest.raises(UnknownFlowError, match="does not exist"):
        validate(missing)
    validate(missing, check_flows=False)


@pytest.mark.parametrize(
    ("condition", "state", "met"),
    [
        ("success", "completed", True), ("success", "failed", False), ("success", "skipped", False),
        ("failure", "failed", True), ("failure", "completed", False), ("failure", "skipped", False),
        ("always", "completed", True), ("always", "failed", True), ("always", "skipped", True),
        ("always", "pending", False), ("success", "pending", False),
    ],
)
def test_conditions(condition, state, met):
    assert condition_met(condition, state) is met


def test_failed_step_stops_its_dependents_not_unrelated_branches():
    plan = make({
        "core": {}, "edge": {},
        "firewall": {"depends_on": "core"},
        "after_firewall": {"depends_on": "firewall"},
        "rollback": {"depends_on": {"core": "failure"}},
        "report": {"depends_on": {"firewall": "always"}},
        "edge_check": {"depends_on": "edge"},
    })
    planned = validate(plan)
    states = {"core": "failed", "edge": "completed"}
    decided = {}
    for names in planned.generations:
        for name in names:
            if name in states:
                continue
            reason = skip_reason(planned.steps[name], states)
            decided[name] = reason
            states[name] = "skipped" if reason else "completed"
    assert decided["firewall"] == "condition not met: core failed (needs success)"
    assert decided["after_firewall"] == "condition not met: firewall skipped (needs success)"
    assert decided["rollback"] is None
    assert decided["report"] is None          # always runs, even after a skipped step
    assert decided["edge_check"] is None      # the unrelated branch goes on


def test_all_dependencies_must_be_met():
    step = make({"a": {}, "b": {}, "c": {"depends_on": {"a": "success", "b": "failure"}}}).step("c")
    assert skip_reason(step, {"a": "completed", "b": "failed"}) is None
    assert skip_reason(step, {"a": "completed", "b": "completed"}) == (
        "condition not met: b completed (needs failure)"
    )


def test_trigger_any_runs_when_one_condition_is_met():
    step = make({"a": {}, "b": {}, "incident": {"depends_on": {"a": "failure", "b": "failure"},
                                                "trigger": "any"}}).step("incident")
    assert skip_reason(step, {"a": "completed", "b": "failed"}) is None
    assert skip_reason(step, {"a": "failed", "b": "skipped"}) is None
    assert skip_reason(step, {"a": "completed", "b": "skipped"}) == (
        "no condition met: a completed (needs failure), b skipped (needs failure)"
    )


def test_selections_are_checked_together():
    plan = make({"all": {}, "spines": {"hosts": {"roles": "spine"}}, "nyc": {"hosts": {"sites": "nyc"}},
                 "ghost": {"hosts": {"names": "r9"}}})
    inventory = {"r1": "spine", "r2": "leaf"}

    def select(sel):
        if sel is None:
            return list(inventory)
        if sel.names and not set(sel.names) <= set(inventory):
            raise HostSelectionError(f"unknown hosts {sel.names}")
        hosts = [h for h, role in inventory.items() if not sel.roles or role in sel.roles]
        return [] if sel.sites else hosts

    with pytest.raises(PlanError) as err:
        check_selections(plan, select)
    text = str(err.value)
    assert "nyc: sites=nyc matches none" in text and "ghost: unknown hosts" in text
    assert "spines" not in text
    assert check_selections(plan, select, only=["all", "spines"]) == {"all": ["r1", "r2"], "spines": ["r1"]}


def test_waves_split_canary_first():
    hosts = [f"h{i}" for i in range(8)]
    assert waves(hosts, mode="parallel", canary=1, wave_size=3) == [hosts]
    assert waves(hosts, mode="sequential", canary=1, wave_size=3) == [[h] for h in hosts]
    assert waves(hosts, mode="waves", canary=2, wave_size=3) == [hosts[:2], hosts[2:5], hosts[5:8]]
    assert waves(hosts[:1], mode="waves", canary=2, wave_size=3) == [hosts[:1]]
    assert waves([], mode="waves", canary=1, wave_size=3) == []
