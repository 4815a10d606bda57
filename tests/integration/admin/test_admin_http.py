"""The admin page over HTTP against the real gateway: every action as the CLI does it, and every way around
its checks refused (not an owner, no session, a token, no or a wrong CSRF token, another origin)."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.admin.conftest import PASSWORD, AdminSite

pytestmark = pytest.mark.integration
NOT_OWNERS = ("vera", "rune", "april", "dev", "svc-worker", "prom")
FORMS = ("/admin/users/add", "/admin/users/grant", "/admin/users/disable", "/admin/users/enable",
         "/admin/users/passwd", "/admin/tokens/create", "/admin/tokens/revoke")


def post(site: AdminSite, client: httpx.Client, path: str, data: dict[str, object], *,
         origin: str | None = "same", csrf: str | None = "session") -> httpx.Response:
    headers = {"origin": site.url} if origin == "same" else ({"origin": origin} if origin else {})
    body = dict(data)
    if csrf == "session":
        body["csrf"] = site.csrf(client)
    elif csrf is not None:
        body["csrf"] = csrf
    return client.post(path, data=body, headers=headers)


@pytest.fixture(scope="module")
def otto_twice(site: AdminSite) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two browser sessions of the owner otto (each with its own CSRF token)."""
    with site.session("otto") as first, site.session("otto") as second:
        yield first, second


def last(site: AdminSite, action: str) -> dict[str, object]:
    found = site.audit(action=action)
    assert found, f"no {action} record"
    return found[-1]


def test_an_owner_sees_users_tokens_groups_and_the_audit(site: AdminSite) -> None:
    with site.session("otto") as otto:
        page = otto.get("/admin")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "form-action 'self'" in page.headers["content-security-policy"]
    text = page.text
    for user in ("otto", "vera", "prom"):
        assert f"<b>{user}</b>" in text
    assert "dana" not in text.split("id=audit")[0]  # a datacenter user: not otto's to manage
    groups = text.split("id=groups")[1].split("</section>")[0]
    assert "netops" in groups and "core: developer, viewer" in groups and "dc-admins" not in groups  # not otto's
    assert "local users (passwords)" in groups and "login.ok" in text
    assert len(re.findall(r"name=csrf value='([^']+)'", text)) >= 5


@pytest.mark.parametrize("user", NOT_OWNERS)
def test_anyone_but_an_owner_gets_the_refusal_page_and_cannot_post(site: AdminSite, user: str) -> None:
    before = site.running.gateway.audit.head()[0]
    with site.session(user) as client:
        page = client.get("/admin")
        assert page.status_code == 403 and "Owners only" in page.text and "<form" not in page.text
        for path in FORMS:  # with their own session's valid CSRF token and the right origin
            done = post(site, client, path, {"name": "mallory", "password": PASSWORD, "workspace": "core",
                                             "role": "owner", "user": user, "id": "x"})
            assert done.status_code == 403, (path, done.status_code)
    assert site.running.gateway.store.get_user("mallory") is None
    assert site.running.gateway.store.get_user(user).roles["core"] != frozenset({"owner"})
    refused = [r for r in site.audit(user=user, action="denied")
               if str(r["path"]).startswith("/admin") and int(str(r["seq"])) > before]
    assert len(refused) == 1 + len(FORMS)


def test_without_a_session_or_with_a_token_the_page_is_closed(site: AdminSite) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as anonymous:
        assert anonymous.get("/admin").headers["location"] == "/login?next=/admin"
        assert anonymous.post("/admin/users/add", data={"name": "mallory"}, headers={"origin": site.url}
                              ).status_code == 401
        owner_token = "Basic " + base64.b64encode(site.tokens["otto"].encode()).decode()
        assert anonymous.get("/admin", headers={"authorization": owner_token}).status_code == 403
        assert anonymous.post("/admin/users/add", headers={"authorization": owner_token, "origin": site.url},
                              data={"name": "mallory", "password": PASSWORD, "workspace": "core",
                                    "role": "owner"}).status_code == 403
    assert site.running.gateway.store.get_user("mallory") is None


@pytest.mark.parametrize(("origin", "csrf"), [
    ("same", None), ("same", ""), ("same", "wrong-token"), ("same", "other-session"),
    ("https://evil.example", "session"), ("https://ops.example.com", "session"), (None, "session"),
])
def test_a_form_without_the_right_csrf_token_or_from_elsewhere_is_refused(
        site: AdminSite, otto_twice: tuple[httpx.Client, httpx.Client], origin: str | None, csrf: str | None) -> None:
    otto, other = otto_twice
    token = site.csrf(other) if csrf == "other-session" else csrf
    done = post(site, otto, "/admin/users/add", {"name": "mallory", "password": PASSWORD,
                                                 "workspace": "core", "role": "owner"}, origin=origin, csrf=token)
    assert done.status_code == 403 and "Refused" in done.text
    assert site.running.gateway.store.get_user("mallory") is None
    reason = str(last(site, "denied")["detail"])
    assert ("CSRF" in reason) if origin == "same" else ("origin" in reason.lower() or "Origin" in reason)


def test_a_same_origin_referer_stands_in_for_a_missing_origin(site: AdminSite) -> None:
    with site.session("otto") as otto:
        done = otto.post("/admin/users/add", headers={"referer": f"{site.url}/admin"},
                         data={"name": "rita", "password": PASSWORD, "workspace": "core", "role": "viewer",
                               "csrf": site.csrf(otto)})
    assert done.status_code == 303 and site.running.gateway.store.get_user("rita") is not None


def test_every_action_lands_and_is_audited_as_the_cli_audits_it(site: AdminSite) -> None:
    store = site.running.gateway.store
    with site.session("otto") as otto:
        done = post(site, otto, "/admin/users/add", {"name": "nina", "password": PASSWORD, "workspace": "core",
                                                     "role": "viewer"})
        assert done.status_code == 303 and done.headers["location"].startswith("/admin?done=user.add")
        assert "Done: user.add (nina)." in otto.get(done.headers["location"]).text
        record = last(site, "user.add")
        assert (record["user"], record["workspace"], record["outcome"], record["method"], record["path"]) == (
            "otto", "core", "ok", "POST", "/admin/users/add")
        assert record["detail"] == {"target_user": "nina", "roles": ["viewer"], "via": "admin"}
        assert PASSWORD not in str(site.audit())

        assert post(site, otto, "/admin/users/grant", {"name": "nina", "workspace": "core",
                                                       "role": ["runner", "approver"]}).status_code == 303
        assert store.get_user("nina").roles["core"] == frozenset({"viewer", "runner", "approver"})
        assert last(site, "user.grant")["detail"] == {"target_user": "nina", "roles": ["approver", "runner"],
                                                      "via": "admin"}

        nina = site.login("nina")
        assert post(site, otto, "/admin/users/passwd", {"name": "nina", "password": PASSWORD + "-2"}
                    ).status_code == 303
        assert store.get_session(nina.cookies["nornflow_session"]) is None  # a new password logs out
        assert nina.get("/w/core/", headers={"accept": "text/html"}).headers["location"].endswith("expired=1")
        site.login("nina", PASSWORD + "-2").close()

        created = post(site, otto, "/admin/tokens/create", {"user": "nina", "workspace": "core", "role": "runner",
                                                            "ttl": "2d", "description": "from the page"})
        assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
        secret = re.search(r'PREFECT_API_AUTH_STRING="nina:(nft_[0-9a-f_]+)"', created.text)
        assert secret is not None
        info = store.verify_token(secret.group(1))
        assert info is not None and info.roles == frozenset({"runner"}) and info.description == "from the page"
        record = last(site, "token.create")
        assert record["detail"] == {"target_user": "nina", "token_id": info.id, "roles": ["runner"],
                                    "expires_at": str(info.expires_at), "kid": info.kid, "via": "admin"}
        listed = otto.get("/admin").text
        assert info.id in listed and secret.group(1) not in listed  # shown once, never again
        assert secret.group(1) not in str(site.audit())

        assert post(site, otto, "/admin/tokens/revoke", {"id": info.id}).status_code == 303
        assert store.verify_token(secret.group(1)) is None
        assert last(site, "token.revoke")["detail"] == {"token_id": info.id, "target_user": "nina", "via": "admin"}

        assert post(site, otto, "/admin/users/disable", {"name": "nina"}).status_code == 303
        assert store.get_user("nina").disabled
        assert post(site, otto, "/admin/users/enable", {"name": "nina"}).status_code == 303
        assert not store.get_user("nina").disabled
        assert [r["action"] for r in site.audit(target="nina", user="otto")][-2:] == ["user.disable", "user.enable"]


def test_an_owner_acts_only_in_the_workspaces_they_own(site: AdminSite) -> None:
    with site.session("otto") as otto:
        done = post(site, otto, "/admin/users/grant", {"name": "otto", "workspace": "datacenter", "role": "owner"})
        assert done.status_code == 403 and "datacenter" in done.text
        assert post(site, otto, "/admin/users/disable", {"name": "dana"}).status_code == 403
        token = site.running.gateway.store.list_tokens(user="dana")[0]
        assert post(site, otto, "/admin/tokens/revoke", {"id": token.id}).status_code == 403
        assert token.id not in otto.get("/admin").text
        refused = otto.get("/admin", params={"workspace": "datacenter"})
        assert refused.status_code == 400 and "datacenter" in refused.text
    assert "datacenter" not in site.running.gateway.store.get_user("otto").roles
    assert not site.running.gateway.store.get_user("dana").disabled
    assert site.running.gateway.store.verify_token(site.tokens["dana"].split(":", 1)[1]) is not None


def test_bad_input_is_named_and_changes_nothing(site: AdminSite) -> None:
    with site.session("otto") as otto:
        weak = post(site, otto, "/admin/users/add", {"name": "weak", "password": "short", "workspace": "core",
                                                     "role": "viewer"})
        assert weak.status_code == 400 and "Nothing was changed" in weak.text and "12" in weak.text
        beyond = post(site, otto, "/admin/tokens/create", {"user": "vera", "workspace": "core", "role": "owner"})
        assert beyond.status_code == 400 and "may not exceed" in beyond.text
        ttl = post(site, otto, "/admin/tokens/create", {"user": "vera", "workspace": "core", "role": "viewer",
                                                        "ttl": "soon"})
        assert ttl.status_code == 400 and "lifetime" in ttl.text
        since = otto.get("/admin", params={"since": "yesterday"})
        assert since.status_code == 400 and "--since" in since.text
    assert site.running.gateway.store.get_user("weak") is None


def test_the_audit_is_filtered_by_user(site: AdminSite) -> None:
    with site.session("otto") as otto:
        post(site, otto, "/admin/users/add", {"name": "filt", "password": PASSWORD, "workspace": "core",
                                              "role": "viewer"})
        page = otto.get("/admin", params={"user": "vera"}).text
        table = page.split("id=audit")[1]
        rows = re.findall(r"<tr><td>[^<]+</td><td>#\d+</td><td>([^<]+)</td>", table)
        assert rows and set(rows) == {"vera"}
        about = otto.get("/admin", params={"target": "filt"}).text.split("id=audit")[1]
        assert "user.add" in about and "login.ok" not in about


def test_the_cli_keeps_working_beside_the_page(site: AdminSite, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_")}
    env["NORNFLOW_DATA_DIR"] = str(site.data_dir)
    added = subprocess.run([sys.executable, "-m", "nornflow.cli", "users", "add", "cli-made", "--workspace", "core",
                            "--role", "viewer", "--password-stdin"], input=PASSWORD + "\n", env=env,
                           capture_output=True, text=True, timeout=120, check=False, start_new_session=True)
    assert added.returncode == 0, added.stderr
    with site.session("otto") as otto:
        assert "<b>cli-made</b>" in otto.get("/admin").text
        post(site, otto, "/admin/users/add", {"name": "page-made", "password": PASSWORD, "workspace": "core",
                                              "role": "viewer"})
    from nornflow.cli.commands import main

    monkeypatch.setenv("NORNFLOW_DATA_DIR", str(site.data_dir))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["users", "list"]) == 0
    listed = capsys.readouterr().out
    assert "page-made" in listed and "cli-made" in listed
    # The page shows an owner what `--as OWNER` shows them: the same users and roles, the same tokens.
    monkeypatch.setenv("NORNFLOW_AS_PASSWORD", PASSWORD)
    assert main(["users", "list", "--as", "otto"]) == 0
    cli_users = {line.split()[0]: line.split(None, 2)[2].replace(" ", "")
                 for line in capsys.readouterr().out.splitlines()}
    assert main(["token", "list", "--as", "otto"]) == 0
    cli_tokens = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    with site.session("otto") as otto:
        page = otto.get("/admin").text
    users = page.split("id=users")[1].split("</table>")[0]
    page_users = {name: tag.replace(" ", "")
                  for name, tag in re.findall(r"<tr><td><b>([^<]+)</b></td>.*?<span class=tag>([^<]+)</span>", users)}
    assert page_users == cli_users and "dana" not in page_users
    tokens = page.split("id=tokens")[1].split("</table>")[0]
    assert set(re.findall(r"<tr><td><code>([0-9a-f]{16})</code>", tokens)) == cli_tokens
    cli_record = site.audit(action="user.add", target="cli-made")[-1]
    page_record = site.audit(action="user.add", target="page-made")[-1]
    # One record shape for the same action, whoever did it and from where.
    assert set(cli_record["detail"]) == set(page_record["detail"]) == {"target_user", "roles", "via"}
    assert (cli_record["detail"]["via"], page_record["detail"]["via"]) == ("cli", "admin")


def test_the_admin_routes_take_their_one_method_and_nothing_else_answers(site: AdminSite) -> None:
    with site.session("otto") as otto:
        assert otto.get("/admin/users/add").status_code == 405  # a form route is not a page
        assert post(site, otto, "/admin", {}).status_code == 405
        assert otto.get("/admin/users").status_code == 404
        assert otto.request("PUT", "/admin/tokens/revoke", headers={"origin": site.url}).status_code == 405
    with site.session("vera") as vera:  # a non-owner learns nothing about which admin routes exist
        assert vera.get("/admin/users/add").status_code == 403


def test_a_metrics_or_owner_token_cannot_reach_the_page(site: AdminSite) -> None:
    for user in ("prom", "otto"):
        bearer = {"authorization": "Bearer " + site.tokens[user].split(":", 1)[1], "origin": site.url}
        with httpx.Client(base_url=site.url, timeout=30) as client:
            assert client.get("/admin", headers=bearer).status_code == 403
            assert client.post("/admin/tokens/create", headers=bearer,
                               data={"user": user, "workspace": "core", "role": "owner"}).status_code == 403


def test_a_metrics_only_person_gets_no_workspace_ui(site: AdminSite) -> None:
    with site.session("prom") as prom:
        page = prom.get("/w/core/", headers={"accept": "text/html"})
    assert page.status_code == 403 and "does not show it" in page.text and "metrics" in page.text
    assert site.audit(user="prom", action="denied")[-1]["detail"] == {"reason": "no role that reads the workspace"}
