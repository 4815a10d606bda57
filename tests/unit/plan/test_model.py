"""The plan model: YAML and Python build the same plan; bad input names the field."""

from __future__ import annotations

import pytest

from nornflow.exceptions import PlanError
from nornflow.plan import Dependency, HostSelection, Plan, Step

YAML = """
name: demo
inventory: inv
resources: {jump1: 3}
steps:
  backup: {flow: backup_configs}
  spines:
    task: nornir_scrapli.tasks:send_configs
    params: {configs: ["banner motd ^x^"]}
    hosts: {roles: spine, sites: "fra,ams"}
    depends_on: [backup]
    failure_budget: 10%
    resources: jump1
  incident:
    flow: record_incident
    depends_on: {spines: failure, backup: always}
"""


def test_yaml_and_python_build_the_same_plan(tmp_path):
    (tmp_path / "inv").mkdir()
    path = tmp_path / "plan.yaml"
    path.write_text(YAML)
    loaded = Plan.from_yaml(path)
    built = Plan(
        name="demo", inventory=str(tmp_path / "inv"), resources={"jump1": 3},
        steps=[
            Step(name="backup", flow="backup_configs"),
            Step(name="spines", task="nornir_scrapli.tasks:send_configs",
                 params={"configs": ["banner motd ^x^"]},
                 hosts=HostSelection(roles=["spine"], sites=["fra", "ams"]),
                 depends_on=[Dependency(step="backup")], failure_budget="10%", resources=["jump1"]),
            Step(name="incident", flow="record_incident",
                 depends_on=[Dependency(step="spines", condition="failure"),
                             Dependency(step="backup", condition="always")]),
        ],
    )
    assert loaded == built
    assert loaded.inventory == str(tmp_path / "inv")  # resolved against the plan's folder
    assert Plan.from_dict(yaml_roundtrip(built)) == built


def yaml_roundtrip(plan: Plan) -> dict:
    import yaml

    return yaml.safe_load(plan.to_yaml())


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"name": "a"}, "exactly one of flow"),
        ({"name": "a", "flow": "x", "task": "m:f"}, "exactly one of flow"),
        ({"name": "a", "task": "no_colon"}, "package.module:function"),
        ({"name": "a", "flow": "x", "failure_budget": "lots"}, "failure_budget"),
        ({"name": "a", "flow": "x", "failure_budget": "150%"}, "failure_budget"),
        ({"name": "a", "flow": "x", "mode": "random"}, "mode"),
        ({"name": "a", "flow": "x", "canary": 0}, "canary"),
        ({"name": "a", "flow": "x", "hosts": {"colour": ["red"]}}, "colour"),
        ({"name": "a", "flow": "x", "depends_on": [{"step": "b", "condition": "maybe"}]}, "condition"),
        ({"name": "a", "flow": "x", "depends_on": ["b", "b"]}, "depends on a step twice"),
        ({"name": "a", "flow": "x", "retry": 3}, "retry"),
    ],
)
def test_bad_steps_name_the_problem(step, expected):
    with pytest.raises(PlanError, match=expected):
        Plan.from_dict({"steps": [step]})


def test_duplicate_names_and_bad_resources_are_rejected():
    with pytest.raises(PlanError, match=r"repeated: \['a'\]"):
        Plan.from_dict({"steps": [{"name": "a", "flow": "x"}, {"name": "a", "flow": "y"}]})
    with pytest.raises(PlanError, match="at least 1 slot"):
        Plan.from_dict({"resources": {"jump": 0}, "steps": []})


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("steps:\n  a: {flow: x\n")
    with pytest.raises(PlanError, match=r"plan.yaml:\d+: malformed YAML"):
        Plan.from_yaml(path)
    path.write_text("- just a list\n")
    with pytest.raises(PlanError, match="must hold a mapping"):
        Plan.from_yaml(path)


def test_budget_counts_and_shares():
    assert Step(name="a", flow="x").allowed_failures(10) == 0
    assert Step(name="a", flow="x", failure_budget=2).allowed_failures(10) == 2
    assert Step(name="a", flow="x", failure_budget="25%").allowed_failures(10) == 2
    assert Step(name="a", flow="x", failure_budget="100%").allowed_failures(7) == 7


def test_selection_as_engine_filter():
    sel = HostSelection(names="a, b", platforms=["eos"])
    assert sel.as_filter() == {"names": ["a", "b"], "platforms": ["eos"]}
    assert sel.describe() == "names=a,b & platforms=eos"
    assert HostSelection().describe() == "all hosts"
