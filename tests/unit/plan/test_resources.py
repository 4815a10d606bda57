"""Resource limits: templates expand per host, flows without session_limits are refused with a way out."""

from __future__ import annotations

from typing import Any

import pytest
from nornir.core.inventory import Host

from nornflow.exceptions import PlanError
from nornflow.plan import Step
from nornflow.plan.execute import _check_limitable, step_limits
from nornflow.plan.steps import flow_kwargs, resource_names


def host(name: str, **data: Any) -> Host:
    return Host(name=name, platform="cisco_iosxe", data=data)


class FakeNornir:
    def __init__(self, *hosts: Host) -> None:
        self.inventory = type("Inv", (), {"hosts": {h.name: h for h in hosts}})()


def test_templates_expand_per_host_and_plain_names_stay():
    h = host("fra-spine-01", site="fra", role="spine", jump="j1")
    assert resource_names(["jump1", "site:{site}", "via:{data[jump]}", "dev:{host}"], h) == [
        "dev:fra-spine-01", "jump1", "site:fra", "via:j1"]


@pytest.mark.parametrize(("template", "message"), [
    ("site:{site}", "host bare has no site"),
    ("x:{nonsense}", "unknown field {nonsense}"),
    ("via:{data[jump]}", "lacks 'jump'"),
    ("bad:{site", "literal brace"),
])
def test_bad_templates_name_the_problem(template, message):
    with pytest.raises(PlanError, match=message):
        resource_names([template], host("bare"))


def test_step_limits_collect_names_with_their_templates():
    nr = FakeNornir(host("a", site="fra"), host("b", site="ams"), host("c", site="fra"))
    step = Step(name="s", task="m:f", resources=["site:{site}", "jump1"])
    limits = step_limits([step, Step(name="free", task="m:f")], {"s": ["a", "b", "c"]}, nr)
    assert limits == {"s": {("site:fra", "site:{site}"), ("site:ams", "site:{site}"), ("jump1", "jump1")}}


def test_a_template_on_a_step_without_hosts_is_refused():
    step = Step(name="s", flow="f", resources=["site:{site}"])
    with pytest.raises(PlanError, match="selects no hosts"):
        step_limits([step], {}, None)


def test_flow_without_session_limits_is_refused_with_what_to_do():
    def plain(inventory: str, hosts: dict | None = None) -> None: ...

    step = Step(name="push", flow="deploy_config", resources=["site:{site}"])
    with pytest.raises(PlanError) as err:
        _check_limitable(step, plain)
    text = str(err.value)
    assert "takes no `session_limits` parameter" in text
    assert "max_sessions" in text and "task step" in text and "run_task(..., session_limits=" in text


def test_flow_with_session_limits_gets_the_step_resources():
    def limited(inventory: str, hosts: dict | None = None, session_limits: list[str] | None = None) -> None: ...

    step = Step(name="push", flow="f", resources=["site:{site}"])
    _check_limitable(step, limited)  # accepted
    kwargs = flow_kwargs(limited, step, inventory="inv", hosts={"names": ["a"]},
                         context={"session_limits": step.resources, "resources": step.resources})
    assert kwargs == {"inventory": "inv", "hosts": {"names": ["a"]}, "session_limits": ["site:{site}"]}
