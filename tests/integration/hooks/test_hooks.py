"""Webhooks through the real gateway: a real Nautobot and a GitHub-signed push start flow runs through
automations on a real Prefect server and worker; everything a hook must refuse is refused and audited."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.hooks.conftest import Stack
from tests.support.stack import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]
HOST = "fra-spine-01"


def _github(secret: str, body: bytes, event: str = "push", delivery: str | None = None) -> dict[str, str]:
    """The headers GitHub sends with a delivery (its documented names and signature)."""
    return {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/9f0d6b3",
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "512345678",
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "Alice Netops", "GIT_AUTHOR_EMAIL": "alice@example.com",
           "GIT_COMMITTER_NAME": "Alice Netops", "GIT_COMMITTER_EMAIL": "alice@example.com", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _push_payload(repo: Path, before: str, full_name: str = "acme/netops-configs") -> dict[str, Any]:
    """A push event in GitHub's format (octokit/webhooks' push payload examples), built from real commits."""
    commits = []
    for sha in _git(repo, "rev-list", "--reverse", f"{before}..HEAD").splitlines():
        changes: dict[str, list[str]] = {"added": [], "removed": [], "modified": []}
        for line in _git(repo, "show", "--name-status", "--format=", sha).splitlines():
            status, path = line.split("\t", 1)
            changes[{"A": "added", "D": "removed"}.get(status[0], "modified")].append(path)
        author = {"name": "Alice Netops", "email": "alice@example.com", "username": "alice"}
        commits.append({"id": sha, "tree_id": _git(repo, "rev-parse", f"{sha}^{{tree}}"), "distinct": True,
                        "message": _git(repo, "log", "-1", "--format=%B", sha),
                        "timestamp": _git(repo, "log", "-1", "--format=%aI", sha),
                        "url": f"https://github.com/{full_name}/commit/{sha}", "author": author,
                        "committer": author, **changes})
    after = _git(repo, "rev-parse", "HEAD")
    return {"ref": "refs/heads/main", "before": before, "after": after, "created": False, "deleted": False,
            "forced": False, "base_ref": None, "compare": f"https://github.com/{full_name}/compare/{before[:12]}...{after[:12]}",
            "commits": commits, "head_commit": commits[-1],
            "repository": {"id": 186853002, "name": full_name.split("/")[1], "full_name": full_name,
                           "private": True, "default_branch": "main"},
            "pusher": {"name": "alice", "email": "alice@example.com"},
            "sender": {"login": "alice", "id": 21031067, "type": "User"}}


def _audited(stack: Stack, since: int, hook: str) -> list[dict[str, Any]]:
    return [r for r in stack.audit()[since:] if r.get("detail", {}).get("hook") == hook]


def _nautobot_device(stack: Stack) -> str:
    nb = stack.nautobot
    active = nb.api("GET", "extras/statuses/", name="Active")["results"][0]["id"]
    site_type = nb.api("POST", "dcim/location-types/", {"name": "Site", "content_types": ["dcim.device"]})["id"]
    site = nb.api("POST", "dcim/locations/", {"name": "fra", "location_type": site_type, "status": active})["id"]
    role = nb.api("POST", "extras/roles/", {"name": "spine", "content_types": ["dcim.device"]})["id"]
    maker = nb.api("POST", "dcim/manufacturers/", {"name": "Cisco"})["id"]
    model = nb.api("POST", "dcim/device-types/", {"model": "IOS XE lab", "manufacturer": maker})["id"]
    device: str = nb.api("POST", "dcim/devices/", {"name": HOST, "location": site, "role": role, "status": active,
                                                    "device_type": model})["id"]
    return device


def test_a_nautobot_device_change_backs_that_device_up(stack: Stack) -> None:
    device = _nautobot_device(stack)
    before = len(stack.audit())
    stack.nautobot.api("POST", "extras/webhooks/", {
        "name": "nornflow-gateway", "content_types": ["dcim.device"], "type_update": True,
        "payload_url": stack.hook_url("nautobot"), "http_method": "POST", "http_content_type": "application/json",
        "secret": stack.secrets["nautobot"], "enabled": True})
    started = time.monotonic()
    # An operator edits the device; Nautobot's process_webhook signs and sends the change to the gateway.
    stack.nautobot.api("PATCH", f"dcim/devices/{device}/", {"serial": "FOC2417X0AB"})
    received = wait_for("the gateway to accept Nautobot's delivery", lambda: [
        r for r in _audited(stack, before, "nautobot") if r["action"] == "hook.received"], 30, every=0.2)
    assert received[0]["status"] == 202 and received[0]["workspace"] == "core"
    assert received[0]["detail"]["event"] == "nautobot.device.updated"
    assert received[0]["detail"]["resource"] == f"nornflow.device.{HOST}"
    runs = wait_for("the automation to start the backup",
                    lambda: stack.runs_of("backup_configs", "on-nautobot"), 60, every=0.5)
    assert len(runs) == 1 and runs[0]["parameters"]["hosts"] == {"names": [HOST]}
    run = stack.finished(runs[0]["id"])
    print(f"\nNautobot change -> backup run completed in {time.monotonic() - started:.1f} s")
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert sorted(p.name for p in stack.backups.glob("*.cfg")) == [f"{HOST}.cfg"]  # that device, and only it
    assert f"hostname {HOST}" in (stack.backups / f"{HOST}.cfg").read_text().lower() or \
        HOST in (stack.backups / f"{HOST}.cfg").read_text()


def test_a_git_push_of_a_template_checks_the_devices_it_renders(stack: Stack) -> None:
    repo = stack.base / "repo"
    (repo / "templates").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    for path in stack.templates.rglob("*.j2"):
        target = repo / "templates" / path.relative_to(stack.templates)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "templates")
    base = _git(repo, "rev-parse", "HEAD")
    spine = repo / "templates" / "cisco_iosxe" / "spine.j2"
    spine.write_text(spine.read_text().replace(" description spine to core 1", " description spine to core 1 (netops)"))
    _git(repo, "commit", "-q", "-am", "IOS spines: owner line")
    (stack.templates / "cisco_iosxe" / "spine.j2").write_text(spine.read_text())  # the worker's checkout pulled it
    body = json.dumps(_push_payload(repo, base)).encode()
    headers = _github(stack.secrets["github"], body)
    started = time.monotonic()
    with httpx.Client(timeout=30) as http:
        reply = http.post(stack.hook_url("github"), content=body, headers=headers)
        assert reply.status_code == 202, reply.text
        assert reply.json()["event"] == "github.push"
        runs = wait_for("the automation to start check_compliance",
                        lambda: stack.runs_of("check_compliance", "on-push"), 60, every=0.5)
        assert runs[0]["parameters"]["changed_templates"] == ["cisco_iosxe/spine.j2"]
        run = stack.finished(runs[0]["id"])
        print(f"\ngit push -> check_compliance completed in {time.monotonic() - started:.1f} s")
        assert run["state"]["type"] == "COMPLETED", run["state"]
        ios = sorted(d.name for d in stack.lab.devices.values() if d.platform == "cisco_ios")
        with stack.client("vera") as api:
            logs = [e["message"] for e in api.post("/logs/filter", json={
                "logs": {"flow_run_id": {"any_": [run["id"]]}}}).json()]
        assert any(f"devices rendering from them: {', '.join(ios)}" in m for m in logs), logs
        checked = run["state"]["message"].split(" failed")[0]  # "<c> compliant, <d> drifted, <f>"
        counts = [int(part.split()[0]) for part in checked.split(", ")]
        assert sum(counts) == len(ios) and counts[2] == 0, run["state"]["message"]
        # GitHub redelivers the same delivery (same id, body and signature): refused, no second run
        again = http.post(stack.hook_url("github"), content=body, headers=headers)
        assert again.status_code == 409 and "replayed delivery" in again.json()["detail"]
    time.sleep(2)
    assert len(stack.runs_of("check_compliance", "on-push")) == 1


def test_what_a_hook_refuses_is_refused_with_a_reason_and_audited(stack: Stack) -> None:
    before = len(stack.audit())
    secret = stack.secrets["small"]
    url = stack.hook_url("small")
    with httpx.Client(timeout=30) as http:
        def post(body: bytes, *, token: str | None = secret, **headers: str) -> httpx.Response:
            sent = {"content-type": "application/json", **headers}
            if token is not None:
                sent["authorization"] = f"Bearer {token}"
            return http.post(url, content=body, headers=sent)

        answers = {
            "unsigned": post(b'{"n": 1}', token=None),
            "bad signature": post(b'{"n": 1}', token=secret[:-1] + "x"),
            "oversize": post(json.dumps({"n": "x" * 600}).encode()),
            "not json": post(b"n=1", **{"content-type": "application/x-www-form-urlencoded"}),
            "accepted": post(b'{"n": 2}'),
            "replay": post(b'{"n": 2}'),
        }
        answers["unknown hook"] = http.post(stack.hook_url("nope"), content=b"{}",
                                            headers={"authorization": f"Bearer {secret}"})
        accepted = [post(json.dumps({"n": i}).encode()) for i in range(3, 7)]
        stale_body = json.dumps({"event": "updated", "model": "device", "data": {"name": HOST},
                                 "timestamp": str(datetime.now(UTC) - timedelta(hours=1)), "username": "x",
                                 "request_id": str(uuid.uuid4())}).encode()
        answers["stale"] = http.post(stack.hook_url("nautobot"), content=stale_body, headers={
            "content-type": "application/json",
            "x-hook-signature": hmac.new(stack.secrets["nautobot"].encode(), stale_body, hashlib.sha512).hexdigest()})
        broken = json.dumps({"ref": "refs/heads/main", "commits": []}).encode()
        answers["template fails"] = http.post(stack.hook_url("github"), content=broken,
                                              headers=_github(stack.secrets["github"], broken))
    expected = {"unsigned": (401, "unsigned request"), "bad signature": (403, "bad signature"),
                "oversize": (413, "max_body_bytes"), "not json": (415, "application/json"), "accepted": (202, ""),
                "replay": (409, "replayed delivery"), "unknown hook": (404, "no webhook 'nope'"),
                "stale": (409, "stale delivery"), "template fails": (422, "has no attribute 'repository'")}
    for case, (status, words) in expected.items():
        assert answers[case].status_code == status, (case, answers[case].text)
        assert words in answers[case].text, (case, answers[case].text)
    # burst 5, counted from the signature on ("not json", "accepted", "replay"): two more, then 429 with Retry-After
    assert [r.status_code for r in accepted] == [202, 202, 429, 429], [r.text for r in accepted]
    assert 0 < int(accepted[2].headers["retry-after"]) <= 30 and "over its rate" in accepted[2].json()["detail"]
    limited = [r for r in _audited(stack, before, "small") if r["status"] == 429]
    assert limited and limited[0]["action"] == "ratelimited" and "over its rate" in limited[0]["detail"]["reason"]
    audit = {(r["detail"]["hook"], r["status"]) for r in stack.audit()[before:] if "hook" in r.get("detail", {})}
    for case, (status, _) in expected.items():
        hook = {"unknown hook": "nope", "stale": "nautobot", "template fails": "github"}.get(case, "small")
        assert (hook, status) in audit, (case, sorted(audit))
    text = json.dumps(stack.audit()[before:])
    assert secret not in text and stack.secrets["nautobot"] not in text  # no credential in the audit log


def _raw_post(url: str, path: str, body: bytes, headers: dict[str, str] | list[tuple[str, str]]) -> tuple[int, str]:
    """POST with the path and headers exactly as written (http.client leaves "../" alone, httpx would resolve
    it; a header listed twice is sent twice)."""
    parts = httpx.URL(url)
    connection = http.client.HTTPConnection(parts.host, parts.port, timeout=30)
    try:
        connection.putrequest("POST", path, skip_accept_encoding=True)
        for name, value in (headers.items() if isinstance(headers, dict) else headers):
            connection.putheader(name, value)
        connection.putheader("content-length", str(len(body)))
        connection.endheaders(body)
        reply = connection.getresponse()
        return reply.status, reply.read().decode()
    finally:
        connection.close()


def _events(stack: Stack, workspace: str, name: str) -> list[dict[str, Any]]:
    upstream = stack.running.gateway.upstreams[workspace]
    reply = httpx.post(f"{upstream.api_url}/events/filter", headers={"authorization": upstream.authorization},
                       json={"filter": {"event": {"name": [name]}}, "limit": 50}, timeout=30)
    events: list[dict[str, Any]] = reply.json()["events"]
    return events


def test_a_hook_emits_only_into_its_own_workspace_and_only_with_its_own_secret(stack: Stack) -> None:
    ref = f"refs/heads/edge-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"ref": ref, "after": "0" * 40, "commits": [],
                       "repository": {"full_name": "acme/edge-configs"}, "pusher": {"name": "bob"}}).encode()
    with httpx.Client(timeout=30) as http:
        # core's secret does not open edge's hook of the same name, nor does a user's token
        crossed = http.post(stack.hook_url("github", "edge"), content=body,
                            headers=_github(stack.secrets["github"], body))
        token = http.post(stack.hook_url("github", "edge"), content=body, headers={
            "content-type": "application/json", "authorization": f"Basic {stack.tokens['dev']}"})
        own = http.post(stack.hook_url("github", "edge"), content=body,
                        headers=_github(stack.secrets["edge-github"], body, event="push"))
        # a hook path cannot be walked into the workspace's API
        walks = ("/w/core/hooks/github/../../api/events", "/w/core/hooks/github%2F..%2F..%2Fapi%2Fevents",
                 "/w/core/hooks/%2e%2e/api/events", "/w/core/hooks/../api/events")
        walked = [_raw_post(stack.url, path, body, _github(stack.secrets["github"], body)) for path in walks]
        method = http.get(stack.hook_url("github"))
    assert crossed.status_code == 403 and token.status_code == 401
    assert own.status_code == 202, own.text
    assert [status for status, _ in walked] == [400, 400, 400, 400], walked
    assert method.status_code == 405
    event_id = own.json()["id"]
    found = wait_for("the event in edge", lambda: [e for e in _events(stack, "edge", "github.push")
                                                   if e["id"] == event_id], 20, every=0.5)
    assert found[0]["resource"]["prefect.resource.id"] == "github.repo.acme/edge-configs"
    assert {"prefect.resource.id": "nornflow.hook.edge.github", "prefect.resource.role": "webhook",
            "prefect.resource.name": "github"} in found[0]["related"]
    assert not [e for e in _events(stack, "core", "github.push") if e["payload"].get("ref") == ref]


# Spellings of a delivery to the "diff" hook (a bearer hook in both workspaces, each with its own secret):
# the canonical path (a trailing slash and a query are the same route) reaches that workspace's hook; any
# other spelling reaches none, and only the right workspace's secret, sent once, opens it.
# Sent as written. "%64iff" is "diff": an encoded letter is the same URI (RFC 3986), decided on decoded.
_CANONICAL = ("/w/{ws}/hooks/diff", "/w/{ws}/hooks/diff/", "/w/{ws}/hooks/diff?via=x", "/w/{ws}/hooks/%64iff")
_OTHER = ("/w/{ws}/hooks/Diff", "/w/{ws}/hooks/diff%20", "/w/{ws}//hooks/diff", "/w/{WS}/hooks/diff",
          "/w/{ws}/hooks/diff/x", "/w/{ws}/api/../hooks/diff", "/w/{ws}/hooks/diff%2F", "/w/{ws}/hooks/d%49ff")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workspace=st.sampled_from(["core", "edge"]), path=st.sampled_from(_CANONICAL + _OTHER),
       credential=st.sampled_from(["core", "edge", "none", "user token", "truncated"]),
       scheme=st.sampled_from(["Bearer", "bearer", "BEARER"]),
       header=st.sampled_from(["Authorization", "AUTHORIZATION"]), twice=st.booleans())
def test_every_spelling_reaches_its_own_workspaces_hook_or_none(stack: Stack, workspace: str, path: str,
                                                                credential: str, scheme: str, header: str,
                                                                twice: bool) -> None:
    marker = uuid.uuid4().hex
    headers = [("content-type", "application/json")]
    if credential == "user token":
        headers.append((header, f"Basic {stack.tokens['dev']}"))
    elif credential != "none":
        secret = stack.secrets[f"{'core' if credential == 'truncated' else credential}-diff"]
        headers.append((header, f"{scheme} {secret[:-2] if credential == 'truncated' else secret}"))
        if twice:
            headers.append(("authorization", f"Bearer {stack.secrets['edge-diff']}"))
    raw = path.format(ws=workspace, WS=workspace.upper())
    status, text = _raw_post(stack.url, raw, json.dumps({"n": marker}).encode(), headers)
    opens = credential == workspace and not twice  # the canonical decision; a credential sent twice is ambiguous
    if path in _CANONICAL:
        assert (status == 202) == opens, (raw, credential, twice, text)
    else:  # any other spelling reaches no hook at all
        assert status in (400, 401, 403, 404, 405, 303, 307), (raw, credential, twice, text)
    if status == 202:
        found = wait_for("the event", lambda: [e for e in _events(stack, workspace, "test.diff")
                                               if e["resource"]["prefect.resource.id"] == f"test.diff.{marker}"], 20,
                         every=0.3)
        assert found[0]["payload"] == {"workspace": workspace}
        other = "edge" if workspace == "core" else "core"
        assert not [e for e in _events(stack, other, "test.diff")
                    if e["resource"]["prefect.resource.id"] == f"test.diff.{marker}"]


def test_a_rotated_secret_works_at_once_and_the_old_one_stops(stack: Stack) -> None:
    from prefect.blocks.system import Secret

    old, new = stack.secrets["nautobot"], f"rotated-{uuid.uuid4().hex}"
    Secret(value=new).save("hook-nautobot", overwrite=True)  # the gateway still holds the old one in its cache

    def send(secret: str) -> httpx.Response:
        body = json.dumps({"event": "updated", "model": "interface", "data": {"name": f"if-{uuid.uuid4().hex[:6]}"},
                           "timestamp": str(datetime.now(UTC)), "username": "nb", "request_id": str(uuid.uuid4())})
        signature = hmac.new(secret.encode(), body.encode(), hashlib.sha512).hexdigest()
        return httpx.post(stack.hook_url("nautobot"), content=body, timeout=30,
                          headers={"content-type": "application/json", "x-hook-signature": signature})

    fresh = send(new)
    assert fresh.status_code == 202, fresh.text  # the mismatch made the hook read its secret again
    assert send(old).status_code == 403
    stack.secrets["nautobot"] = new


def test_a_gitlab_delivery_is_known_by_its_token_and_its_delivery_id(stack: Stack) -> None:
    delivery = str(uuid.uuid4())

    def send(ref: str, token: str, event_uuid: str) -> httpx.Response:
        body = json.dumps({"object_kind": "push", "ref": ref, "project": {"path_with_namespace": "netops/configs"}})
        return httpx.post(stack.hook_url("gitlab"), content=body, timeout=30, headers={
            "content-type": "application/json", "x-gitlab-event": "Push Hook", "x-gitlab-token": token,
            "x-gitlab-event-uuid": event_uuid})

    first = send("refs/heads/main", stack.secrets["gitlab"], delivery)
    assert first.status_code == 202 and first.json()["event"] == "gitlab.push", first.text
    assert send("refs/heads/main", stack.secrets["gitlab"][::-1], str(uuid.uuid4())).status_code == 403
    # the same delivery id with another body (the token is not a signature of the body): a replay
    again = send("refs/heads/other", stack.secrets["gitlab"], delivery)
    assert again.status_code == 409 and "delivery id" in again.json()["detail"]


def test_failed_signatures_lock_the_address_out_but_a_valid_one_still_goes_through(stack: Stack) -> None:
    from nornflow.gateway.ratelimit import LoginGuard

    front = stack.running.gateway.front
    saved, front.auth_guard = front.auth_guard, LoginGuard(3, 60, 60)  # the suite's own guard allows 100,000
    try:
        with httpx.Client(timeout=30) as http:
            def post(token: str, hook: str = "diff") -> httpx.Response:
                body = json.dumps({"n": uuid.uuid4().hex}).encode()
                return http.post(stack.hook_url(hook), content=body,
                                 headers={"content-type": "application/json", "authorization": f"Bearer {token}"})

            guesses = [post("guess").status_code for _ in range(3)]
            locked, unknown = post("guess"), post(stack.secrets["core-diff"], hook="nope")
            valid = post(stack.secrets["core-diff"])
    finally:
        front.auth_guard = saved
    assert guesses == [403, 403, 403]
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0, locked.text
    assert unknown.status_code == 429 and "too many failed authentications" in unknown.json()["detail"]
    assert valid.status_code == 202, valid.text
