"""How the gateway reads a request the way Prefect will (nornflow.gateway.proxy.request) and the parameter rules
decided on that reading (nornflow.gateway.policy.parameters): pure functions, checked against Prefect's own code."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

from nornflow.gateway.policy.parameters import (
    GOVERNED,
    governed_tags,
    runner_refusal,
    runner_settable,
    truthy,
)
from nornflow.gateway.policy.routes import match_route
from nornflow.gateway.proxy.http import BadRequest
from nornflow.gateway.proxy.request import KIND, REMOVED, has_kind, hydrated, inert, is_json_type, parse_body

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["a", "value", KIND, "template", "variable_name", "x"]), inner, max_size=3),
    max_leaves=12)
KINDS = st.sampled_from(["none", "json", "jinja", "workspace_variable", "other"])


@given(value=JSON)
def test_an_inert_value_hydrates_to_itself_whatever_it_holds(value: Any) -> None:
    """What the gateway forwards after deciding: Prefect's hydrate() turns it into exactly what was decided on."""
    wrapped = {"p": inert(value)}
    assert hydrate(wrapped, HydrationContext(render_jinja=True, render_workspace_variables=True)) == {"p": value}


def test_the_removal_marker_drops_the_key_as_prefect_does() -> None:
    assert hydrate({"a": 1, "b": dict(REMOVED)}) == {"a": 1}
    assert inert(1) == 1 and inert({"x": [1]}) == {"x": [1]}  # plain values go on plain
    assert has_kind([{"y": {KIND: "none"}}]) and not has_kind([{"y": {"kind": "none"}}])


async def _no_variables(path: str, body: Any = None, /) -> tuple[int, Any]:
    return 404, None


@given(value=JSON, kind=KINDS)
def test_hydrated_is_prefects_hydrate(value: Any, kind: str) -> None:
    """Whatever Prefect's hydrate() makes of a value (with no workspace variables), the gateway decides on that,
    or refuses what Prefect would refuse (a hydration error)."""
    payload = {"p": {KIND: kind, "value": value, "template": "x", "variable_name": "v"}, "q": value}
    try:
        expected: Any = hydrate(payload, HydrationContext(render_jinja=True, render_workspace_variables=True,
                                                          raise_on_error=True))
    except Exception:
        with pytest.raises(BadRequest):
            asyncio.run(hydrated(payload, _no_variables, "parameters"))
        return
    assert asyncio.run(hydrated(payload, _no_variables, "parameters")) == expected


@pytest.mark.parametrize(("content_type", "json_body"), [
    ("application/json", True), ("application/json; charset=utf-8", True), ("APPLICATION/JSON", True),
    ("application/vnd.api+json", True), ("text/plain", False), ("text/json", False),
    ("application/x-www-form-urlencoded", False), ("multipart/form-data; boundary=x", False),
])
def test_json_is_what_fastapi_reads_as_json(content_type: str, json_body: bool) -> None:
    assert is_json_type(content_type) is json_body


def test_bodies_are_read_as_prefect_reads_them() -> None:
    assert parse_body('{"a": "\\u0061"}'.encode("utf-16"), "application/json").value == {"a": "a"}
    assert parse_body(b"", "text/plain").present is False
    with pytest.raises(BadRequest) as dup:
        parse_body(b'{"a": 1, "\\u0061": 2}', "application/json")  # the same key, spelled twice
    assert dup.value.status == 400 and "duplicate" in dup.value.message
    for content_type in ("", "text/plain"):
        with pytest.raises(BadRequest) as refused:
            parse_body(b'{"a": 1}', content_type)
        assert refused.value.status == 415
    body = parse_body(b'{"b":\n 1, "a": "\\u00e9"}', "application/json; charset=utf-8")
    assert json.loads(body.canonical()) == {"b": 1, "a": "é"} and body.canonical().isascii()


@pytest.mark.parametrize("path", [
    "/deployments/0b7c6a9e00004000800000000000000a/create_flow_run",
    "/deployments/0B7C6A9E-0000-4000-8000-00000000000A/create_flow_run/",
    "/deployments/0b7c6a9e0000-4000-8000-00000000000a/create_flow_run",
])
def test_every_spelling_of_an_id_is_matched_and_forwarded_canonical(path: str) -> None:
    found = match_route("POST", path)
    assert found is not None and found.display == "POST /deployments/{id}/create_flow_run"
    assert found.path == "/deployments/0b7c6a9e-0000-4000-8000-00000000000a/create_flow_run"
    assert match_route("post", path) is None  # Starlette compares the method as sent
    assert match_route("POST", path.rstrip("/") + "\n") is None


def test_runner_settable_parameters_come_from_tags_and_never_include_governed_ones() -> None:
    tags = ["nornflow", "runner-sets:hosts", "runner-sets:auto_approve", "runner-sets: dry_run ", 7]
    assert runner_settable(tags) == frozenset({"hosts", "dry_run"})
    assert governed_tags(tags) == ["runner-sets:auto_approve"]
    assert {"auto_approve", "override_reason", "change_calendar", "resume_of"} <= GOVERNED


def test_a_runner_changes_only_what_is_declared() -> None:
    baseline = {"hosts": None, "x": 1, "auto_approve": False}
    allowed = frozenset({"hosts"})
    assert runner_refusal(["hosts", "x"], {"hosts": {"names": ["a"]}, "x": 1}, baseline, allowed) is None
    refusal = runner_refusal(["x"], {"x": 1.0}, baseline, allowed)  # 1.0 is not 1 to a flow's int parameter
    assert refusal and "not x" in refusal and "runner-sets:<parameter>" in refusal
    removed = runner_refusal(["x"], {}, baseline, allowed)  # dropping a default is a change too
    assert removed and "not x" in removed
    governed = runner_refusal(["auto_approve"], {"auto_approve": True}, baseline, frozenset({"auto_approve"}))
    assert governed and "auto_approve" in governed and "never" in governed


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), ("yes", True), ("on", True), (1, True), ("true", True), ({"a": 1}, True), ("maybe", True),
    (False, False), ("no", False), (0, False), (None, False), ("false", False),
])
def test_auto_approve_is_read_as_the_flows_bool_parameter(value: Any, expected: bool) -> None:
    assert truthy(value) is expected
