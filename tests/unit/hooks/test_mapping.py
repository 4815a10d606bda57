"""Templates to events: sandboxed, strict, and checked with Prefect's own Event model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from nornflow.gateway.hooks.config import HookSettings
from nornflow.gateway.hooks.mapping import HookMappingError, event_id, parse_json, render, to_event
from nornflow.gateway.hooks.replay import SeenStore

PUSH_TEMPLATE = """
{% set files = (body.commits | map(attribute="added") | sum(start=[]))
   + (body.commits | map(attribute="modified") | sum(start=[]))
   + (body.commits | map(attribute="removed") | sum(start=[])) %}
{"event": "github.push",
 "resource": {"prefect.resource.id": "github.repo.{{ body.repository.full_name }}"},
 "payload": {"ref": {{ body.ref | tojson }}, "files": {{ files | unique | list | tojson }}}}
"""
PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "netops/configs"},
        "commits": [{"added": ["a.j2"], "modified": ["templates/ios/spine.j2"], "removed": []},
                    {"added": [], "modified": ["templates/ios/spine.j2"], "removed": ["old.j2"]}]}


def _event(template: str, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    context = {"body": body, "headers": headers or {}, "method": "POST",
               "hook": {"name": "gh", "style": "github", "workspace": "core"}}
    return to_event(render(template, "gh", context), workspace="core", hook="gh", digest="d" * 64,
                    received=datetime(2026, 12, 5, tzinfo=UTC))


def test_a_push_becomes_one_event_with_the_changed_files() -> None:
    event = _event(PUSH_TEMPLATE, PUSH)
    assert event["event"] == "github.push"
    assert event["resource"] == {"prefect.resource.id": "github.repo.netops/configs"}
    assert event["payload"] == {"ref": "refs/heads/main", "files": ["a.j2", "templates/ios/spine.j2", "old.j2"]}
    assert event["id"] == event_id("core", "gh", "d" * 64)
    assert event["related"] == [{"prefect.resource.id": "nornflow.hook.core.gh", "prefect.resource.role": "webhook",
                                 "prefect.resource.name": "gh"}]
    assert event["occurred"].startswith("2026-12-05T00:00:00")


def test_a_value_with_quotes_cannot_break_out_of_its_string() -> None:
    template = '{"event": "x.y", "resource": {"prefect.resource.id": {{ ("r." ~ body.name) | tojson }}}}'
    event = _event(template, {"name": 'a", "prefect.resource.role": "evil'})
    assert event["resource"] == {"prefect.resource.id": 'r.a", "prefect.resource.role": "evil'}


@pytest.mark.parametrize(("template", "body", "needle"), [
    ('{"event": "x", "resource": {"prefect.resource.id": "{{ body.missing }}"}}', {}, "has no attribute 'missing'"),
    ('{"event": "x", "resource": {}}', {}, "prefect.resource.id"),
    ('{"event": "x", "resource": {"prefect.resource.id": "r"}, "id": "1"}', {}, "set id"),
    ('{"event": "prefect.flow-run.Completed", "resource": {"prefect.resource.id": "r"}}', {}, "reserved"),
    ('{"event": "nornflow.audit.login", "resource": {"prefect.resource.id": "r"}}', {}, "reserved"),
    ('{"event": "x", "resource": {"prefect.resource.id": "r"}, "related": [{"prefect.resource.id": "q"}]}', {},
     "prefect.resource.role"),
    ('{"event": "x", "event": "y", "resource": {"prefect.resource.id": "r"}}', {}, "twice"),
    ('["not", "an", "object"]', {}, "not a JSON object"),
    ("{{ body.__class__.__mro__ }}", {}, "template"),
    ("{{ body.update({'a': 1}) }}", {}, "sandbox"),
    ('{"event": "x", "resource": {"prefect.resource.id": "{{ body.name }}"}}', {"name": 'a"b'}, "did not render JSON"),
])
def test_what_prefect_or_the_gateway_would_refuse_is_refused_with_the_reason(template: str, body: Any,
                                                                               needle: str) -> None:
    with pytest.raises(HookMappingError) as caught:
        _event(template, body)
    assert needle in str(caught.value)
    assert "hook 'gh'" in str(caught.value)


def test_an_event_over_prefects_size_limit_is_refused() -> None:
    template = '{"event": "x", "resource": {"prefect.resource.id": "r"}, "payload": {"blob": {{ body | tojson }}}}'
    with pytest.raises(HookMappingError, match="over Prefect's limit"):
        _event(template, "x" * 2_000_000)


def test_body_json_refuses_duplicate_keys_and_non_json() -> None:
    assert parse_json(b'{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    with pytest.raises(HookMappingError, match="twice"):
        parse_json(b'{"a": 1, "a": 2}')
    with pytest.raises(HookMappingError, match="application/json"):
        parse_json(b"payload=%7B%7D")


def _hook(**overrides: Any) -> HookSettings:
    fields = {"name": "gh", "style": "github", "secret": "secret:secret/gh-hook",
              "template": '{"event": "x", "resource": {"prefect.resource.id": "r"}}', **overrides}
    return HookSettings.model_validate(fields)


def test_settings_refuse_an_inline_secret_a_broken_template_and_a_bad_name() -> None:
    assert _hook().delivery == "x-github-delivery"
    assert _hook(style="nautobot").delivery is None
    assert _hook(style="bearer", delivery_header="X-Request-Id").delivery == "x-request-id"
    with pytest.raises(ValidationError) as inline:
        _hook(secret="hunter2-the-actual-secret")
    message = inline.value.errors()[0]["msg"]  # load_settings shows the message, never the input of a secret
    assert "secret reference" in message and "hunter2" not in message
    with pytest.raises(ValidationError, match="does not parse at line 2"):
        _hook(template='{"event": "x",\n "resource": {{ body. }}}')
    with pytest.raises(ValidationError, match="hook name"):
        _hook(name="Bad Name")
    with pytest.raises(ValidationError, match="style"):
        _hook(style="bitbucket")
    assert json.loads(_hook().model_dump_json())["secret"] == "**********"


def test_the_seen_store_refuses_a_key_within_its_window_and_forgets_a_release(tmp_path: Path) -> None:
    now = [1000.0]
    store = SeenStore(tmp_path / "seen.db", clock=lambda: now[0])
    assert store.claim(["core/gh/body:1", "core/gh/id:a"], 60) is None
    assert store.claim(["core/gh/body:2", "core/gh/id:a"], 60) == "core/gh/id:a"  # a new body, the same delivery id
    assert store.claim(["core/gh/body:2"], 60) is None  # nothing of the refused claim was kept
    store.release(["core/gh/body:2"])
    assert store.claim(["core/gh/body:2"], 60) is None  # released: the sender's retry goes through
    again = SeenStore(tmp_path / "seen.db", clock=lambda: now[0])  # a restarted gateway remembers
    assert again.claim(["core/gh/body:1"], 60) == "core/gh/body:1"
    now[0] += 61
    assert again.claim(["core/gh/body:1"], 60) is None  # out of the window
    store.close()
    again.close()
