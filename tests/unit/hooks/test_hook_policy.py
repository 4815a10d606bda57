"""The route policy's word on hooks: one Prefect request, POST /events, read as Prefect's router reads it."""

from __future__ import annotations

import pytest

from nornflow.gateway.policy.decide import HOOK_REQUEST, decide_hook

EVENT = {"event": "github.push", "resource": {"prefect.resource.id": "github.repo.acme/x"}}


@pytest.mark.parametrize("path", ["/events", "/events/"])
def test_a_hook_posts_its_event(path: str) -> None:
    assert HOOK_REQUEST == "POST /events"
    assert decide_hook("POST", path, [EVENT]) is None


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/flow_runs/"), ("POST", "/deployments/00000000-0000-0000-0000-000000000000/create_flow_run"),
    ("GET", "/events/filter"), ("POST", "/events/filter"), ("post", "/events"), ("POST", "/Events"),
    ("POST", "/events\n"), ("PUT", "/events"), ("POST", "/automations/"),
])
def test_a_hook_makes_no_other_request(method: str, path: str) -> None:
    assert "a hook may only post its event" in (decide_hook(method, path, [EVENT]) or "")


def test_a_hook_never_writes_the_gateways_audit_events() -> None:
    forged = {**EVENT, "event": "nornflow.audit.login"}
    assert decide_hook("POST", "/events", [EVENT, forged]) == "nornflow.audit.* events are written by the gateway only"
