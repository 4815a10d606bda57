"""Single sign-on through the real gateway, with the real provider and the real directory: the OpenID
login's two routes (and every way to misuse them), the directory behind the login form, roles from groups
taken away at the recheck, local logins on and off, and logout at the provider.

The workspaces point at a closed port (as the admin page's tests do): logins, roles and refusals are
decided by the gateway before any Prefect server is asked; the browser test (test_sso_browser.py) goes
on to the Prefect UI.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.blocks.system import Secret

from nornflow.gateway.proxy.upstream import Supervisor, Upstream, free_port
from nornflow.gateway.serve import Running, running
from nornflow.gateway.settings import load_settings
from tests.integration.sso.conftest import CLIENT_ID, CLIENT_SECRET, PASSWORDS, GatewayPorts, sign_in_at_provider
from tests.servers.ldap import GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, USERS, LdapServer
from tests.servers.oidc.server import OidcProvider

pytestmark = pytest.mark.integration
LOCAL_PASSWORD = "break-glass-password"  # the local owner's, test only
GROUP_ROLES = {"netops-admins": {"core": ["owner"]}, "netops": {"core": ["runner", "viewer"]}}


@dataclass
class SsoSite:
    url: str
    data_dir: Path
    running: Running
    provider: OidcProvider
    ldap: LdapServer

    def audit(self, **filters: str) -> list[dict[str, Any]]:
        return self.running.gateway.audit.tail(limit=100_000, **filters)

    def recheck_due(self) -> None:
        """Make every single-sign-on session due for its recheck (as after recheck_minutes)."""
        with sqlite3.connect(self.data_dir / "gateway.db") as db:
            db.execute("UPDATE sso_sessions SET recheck_at = 0")

    def oidc_login(self, username: str, next_url: str = "/") -> httpx.Client:
        browser = httpx.Client(base_url=self.url, timeout=30)
        callback = self.to_callback(browser, username, next_url)
        reply = browser.get(str(callback))
        assert reply.status_code == 200, reply.text
        assert "nornflow_session" in browser.cookies
        return browser

    def to_callback(self, browser: httpx.Client, username: str, next_url: str = "/") -> httpx.URL:
        start = browser.get("/sso/oidc/start", params={"next": next_url})
        assert start.status_code == 303, start.text
        with httpx.Client(timeout=30, cookies=browser.cookies) as at_provider:  # the provider's own cookies
            return sign_in_at_provider(at_provider, start.headers["location"], username, PASSWORDS[username],
                                       self.url + "/sso/oidc/callback")


def _site(tmp_path_factory: pytest.TempPathFactory, port: int, provider: OidcProvider, ldap: LdapServer,
          **sso: Any) -> Iterator[SsoSite]:
    data_dir = tmp_path_factory.mktemp("sso-gateway")
    Secret(value=CLIENT_SECRET).save("nornflow-sso-client", overwrite=True)
    Secret(value=SERVICE_PASSWORD).save("nornflow-sso-ldap", overwrite=True)
    settings = load_settings(None, host="127.0.0.1", port=port, data_dir=data_dir,
                             workspaces=[{"name": "core"}, {"name": "datacenter"}], sso={
                                 "group_roles": GROUP_ROLES,
                                 "oidc": {"issuer": provider.issuer, "client_id": CLIENT_ID,
                                          "client_secret": "secret:secret/nornflow-sso-client",
                                          "display_name": "Example SSO"},
                                 "ldap": {"url": ldap.ldaps_url, "bind_dn": SERVICE_DN,
                                          "bind_password": "secret:secret/nornflow-sso-ldap",
                                          "user_base": PEOPLE, "group_base": GROUPS, "ca_file": str(ldap.ca_file)},
                                 **sso})
    supervisor = Supervisor(settings)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: every decision here is the gateway's
    supervisor.upstreams = {ws.name: Upstream(ws.name, closed, "unused:unused") for ws in settings.workspaces}
    with running(settings, supervisor) as gw:
        gw.gateway.store.add_user("otto", LOCAL_PASSWORD, {"core": ["owner"]})
        yield SsoSite(gw.url, data_dir, gw, provider, ldap)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, gateway_ports: GatewayPorts, oidc_provider: OidcProvider,
         ldap_server: LdapServer) -> Iterator[SsoSite]:
    yield from _site(tmp_path_factory, gateway_ports.api, oidc_provider, ldap_server)


# -- the OpenID login -------------------------------------------------------------------------------------
def test_the_login_page_offers_single_sign_on_and_the_form(site: SsoSite) -> None:
    page = httpx.get(site.url + "/login?next=/w/core/").text
    assert 'href="/sso/oidc/start?next=/w/core/"' in page and "Log in with Example SSO" in page
    assert "name=password" in page


def test_an_openid_login_opens_the_workspaces_its_groups_grant(site: SsoSite) -> None:
    browser = site.oidc_login("olivia", next_url="/")
    page = browser.get("/")
    assert page.status_code == 200 and "olivia" in page.text
    assert "owner" in page.text and "runner" in page.text and "datacenter" not in page.text
    user = site.running.gateway.store.get_user("olivia")
    assert user is not None and user.roles == {"core": {"owner", "runner", "viewer"}}
    assert site.audit(user="olivia", action="login.ok")[-1]["detail"]["via"] == "oidc"
    # The callback's answer moves on from the gateway's own page: a redirect would carry on the provider's
    # cross-site navigation, and the browser would hold back the SameSite=Strict session cookie.
    start = browser.get("/sso/oidc/start", params={"next": "/w/core/"})
    assert start.status_code == 303
    binding = start.headers["set-cookie"].lower()
    assert "samesite=lax" in binding and "path=/sso/oidc/" in binding and "httponly" in binding


def test_the_callback_answer_refreshes_to_the_target_and_sets_a_strict_cookie(site: SsoSite) -> None:
    browser = httpx.Client(base_url=site.url, timeout=30)
    callback = site.to_callback(browser, "pavel", "/w/core/runs")
    reply = browser.get(str(callback))
    assert reply.status_code == 200
    assert 'http-equiv=refresh content="0;url=/w/core/runs"' in reply.text
    cookie = next(v for k, v in reply.headers.multi_items() if k == "set-cookie" and "nornflow_session=" in v)
    assert "samesite=strict" in cookie.lower() and "httponly" in cookie.lower()


def test_a_forged_state_is_refused(site: SsoSite) -> None:
    browser = httpx.Client(base_url=site.url, timeout=30)
    callback = site.to_callback(browser, "pavel")
    forged = callback.copy_set_param("state", "attacker-chosen-state")
    reply = browser.get(str(forged))
    assert reply.status_code == 400 and "state is unknown or was used already" in reply.text
    assert "nornflow_session" not in browser.cookies
    assert browser.get(str(callback.copy_remove_param("state"))).status_code == 400
    assert site.audit(action="login.failed")[-1]["detail"]["via"] == "oidc"


def test_a_replayed_callback_is_refused(site: SsoSite) -> None:
    browser = httpx.Client(base_url=site.url, timeout=30)
    callback = site.to_callback(browser, "pavel")
    assert browser.get(str(callback)).status_code == 200
    again = httpx.Client(base_url=site.url, timeout=30, cookies={"nornflow_sso_binding":
                                                                 browser.cookies.get("nornflow_sso_binding") or "x"})
    reply = again.get(str(callback))
    assert reply.status_code == 400 and "used already" in reply.text
    assert "nornflow_session" not in again.cookies


def test_a_callback_in_another_browser_is_refused(site: SsoSite) -> None:
    """Login CSRF: a victim handed the attacker's callback URL does not end up logged in as the attacker."""
    attacker = httpx.Client(base_url=site.url, timeout=30)
    callback = site.to_callback(attacker, "pavel")
    victim = httpx.Client(base_url=site.url, timeout=30)
    reply = victim.get(str(callback))
    assert reply.status_code == 400 and "another browser" in reply.text
    assert "nornflow_session" not in victim.cookies
    assert attacker.get(str(callback)).status_code == 400  # the state was spent by the refused try


def test_a_provider_error_or_another_issuer_is_refused(site: SsoSite) -> None:
    browser = httpx.Client(base_url=site.url, timeout=30)
    callback = site.to_callback(browser, "pavel")
    denied = callback.copy_remove_param("code").copy_set_param("error", "access_denied")
    reply = browser.get(str(denied))
    assert reply.status_code == 400 and "did not sign you in (access_denied)" in reply.text
    callback = site.to_callback(browser, "pavel")
    reply = browser.get(str(callback.copy_set_param("iss", "https://evil.example.com")))
    assert reply.status_code == 400 and "mix-up" in reply.text
    callback = site.to_callback(browser, "pavel")  # the provider promises iss (RFC 9207): its absence is refused
    reply = browser.get(str(callback.copy_remove_param("iss")))
    assert reply.status_code == 400 and "mix-up" in reply.text


def test_next_never_leaves_the_gateway(site: SsoSite) -> None:
    browser = httpx.Client(base_url=site.url, timeout=30)
    callback = site.to_callback(browser, "pavel", next_url="https://evil.example.com/")
    reply = browser.get(str(callback))
    assert "evil.example.com" not in reply.text and 'content="0;url=/w/core/"' in reply.text


def test_the_provider_cannot_claim_a_local_user(site: SsoSite) -> None:
    browser = httpx.Client(base_url=site.url, timeout=30)
    reply = browser.get(str(site.to_callback(browser, "otto")))
    assert reply.status_code == 400 and "local user" in reply.text
    assert "nornflow_session" not in browser.cookies
    otto = site.running.gateway.store.get_user("otto")
    assert otto is not None and otto.roles == {"core": {"owner"}}


def test_leaving_a_group_takes_the_role_at_the_recheck(site: SsoSite) -> None:
    browser = site.oidc_login("sam")
    assert "runner" in browser.get("/").text
    site.provider.set_user("sam", groups=[])
    try:
        assert "runner" in browser.get("/").text  # not due yet: the session keeps what it had
        site.recheck_due()
        page = browser.get("/")
        assert page.status_code == 200 and "no role in any workspace" in page.text
        api = browser.post("/w/core/api/flows/filter", json={}, headers={"origin": site.url})
        assert api.status_code == 403 and "no role in workspace" in api.json()["detail"]
        change = site.audit(user="sam", action="sso.roles")[-1]["detail"]
        assert change["before"] == {"core": ["runner", "viewer"]} and change["after"] == {}
        # Gone from the provider: the refresh is refused and the session ends.
        site.provider.set_user("sam", removed=True)
        site.recheck_due()
        ended = browser.get("/w/core/api/flows/filter", headers={"accept": "application/json"})
        assert ended.status_code == 401
        assert "recheck refused" in site.audit(user="sam", action="logout")[-1]["detail"]["reason"]
    finally:
        site.provider.users = [u for u in site.provider.users if u["username"] != "sam"] + [
            {"sub": "8f1c-sam", "username": "sam", "password": PASSWORDS["sam"], "email": "sam@example.com",
             "groups": ["netops"]}]
        site.provider.set_user("sam")


def test_logout_goes_on_to_the_providers_end_session(site: SsoSite) -> None:
    browser = site.oidc_login("pavel")
    reply = browser.get("/logout")
    assert reply.status_code == 303
    target = httpx.URL(reply.headers["location"])
    assert str(target).startswith(site.provider.issuer + "/session/end?")
    assert target.params["post_logout_redirect_uri"] == site.url + "/login?bye=1"
    assert target.params["id_token_hint"].count(".") == 2
    assert browser.get("/", follow_redirects=False).headers["location"] == "/login"  # the local session is gone


# -- the directory behind the login form ------------------------------------------------------------------
def test_a_directory_login_through_the_form(site: SsoSite) -> None:
    browser = httpx.Client(base_url=site.url, timeout=30)
    reply = browser.post("/login", data={"username": "lena", "password": USERS["lena"][0], "next": "/"})
    assert reply.status_code == 303 and reply.headers["location"] == "/w/core/"
    user = site.running.gateway.store.get_user("lena")
    assert user is not None and user.roles == {"core": {"owner", "runner", "viewer"}}
    assert site.audit(user="lena", action="login.ok")[-1]["detail"] == {"via": "ldap"}
    site.ldap.remove_from_group("lena", "netops-admins")
    try:
        site.recheck_due()
        assert "owner" not in browser.get("/").text
        user = site.running.gateway.store.get_user("lena")
        assert user is not None and user.roles == {"core": {"runner", "viewer"}}
    finally:
        site.ldap.add_to_group("lena", "netops-admins")


@pytest.mark.parametrize(("name", "password"), [
    ("mark", "not-marks-password"), ("*)(uid=*", USERS["mark"][0]), ("*", USERS["mark"][0]), ("mark", " "),
])
def test_the_form_refuses_a_wrong_directory_password_or_an_injection(site: SsoSite, name: str, password: str) -> None:
    reply = httpx.post(site.url + "/login", data={"username": name, "password": password})
    assert reply.status_code == 401 and "Wrong user name or password." in reply.text
    assert "nornflow_session" not in reply.cookies


def test_the_local_break_glass_owner_still_logs_in(site: SsoSite) -> None:
    reply = httpx.post(site.url + "/login", data={"username": "otto", "password": LOCAL_PASSWORD})
    assert reply.status_code == 303 and "nornflow_session" in reply.cookies


# -- the routes the gateway's policy must know -----------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/sso/", 404), ("GET", "/sso/oidc/", 404), ("GET", "/sso/oidc/callbackx", 404),
    ("POST", "/sso/oidc/callback", 404), ("POST", "/sso/oidc/start", 404), ("GET", "/sso/saml/acs", 404),
    ("GET", "/sso%2Foidc/callback", 400), ("GET", "/sso/oidc/%2e%2e/start", 400), ("GET", "/sso/oidc//callback", 400),
    ("GET", "/sso/oidc/callback", 400),  # no state at all
])
def test_nothing_else_under_sso_answers(site: SsoSite, method: str, path: str, status: int) -> None:
    reply = httpx.request(method, site.url + path, timeout=30)
    assert reply.status_code == status, reply.text
    assert "nornflow_session" not in reply.cookies


def test_the_callback_opens_nothing_for_a_token_or_a_session(site: SsoSite) -> None:
    """A valid session or token sent to the callback changes nothing: the route is public but state-bound."""
    browser = site.oidc_login("pavel")
    reply = browser.get("/sso/oidc/callback", params={"code": "x", "state": "y"})
    assert reply.status_code == 400
    token = site.running.gateway.store.create_token("otto", "core", ["owner"])[1]
    reply = httpx.get(site.url + "/sso/oidc/callback", params={"code": "x", "state": "y"},
                      auth=("otto", token))
    assert reply.status_code == 400 and "nornflow_session" not in reply.cookies


def test_starting_logins_is_limited_per_address(site: SsoSite) -> None:
    statuses = [httpx.get(site.url + "/sso/oidc/start").status_code for _ in range(25)]
    assert statuses.count(303) <= 20 and statuses[-1] == 429
    site.running.gateway.sso.starts = type(site.running.gateway.sso.starts)(0.5, 20)  # type: ignore[union-attr]


# -- local logins turned off ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sso_only(tmp_path_factory: pytest.TempPathFactory, gateway_ports: GatewayPorts, oidc_provider: OidcProvider,
             ldap_server: LdapServer) -> Iterator[SsoSite]:
    yield from _site(tmp_path_factory, gateway_ports.browser, oidc_provider, ldap_server, local_login=False)


def test_local_logins_turned_off(sso_only: SsoSite) -> None:
    before = httpx.Client(base_url=sso_only.url, timeout=30)
    store = sso_only.running.gateway.store
    session_id = store.create_session("otto", idle=timedelta(minutes=5), absolute=timedelta(hours=1))  # from before
    before.cookies.set("nornflow_session", session_id)
    reply = httpx.post(sso_only.url + "/login", data={"username": "otto", "password": LOCAL_PASSWORD})
    assert reply.status_code == 401 and "Local logins are turned off" in reply.text
    assert sso_only.audit(user="otto", action="login.failed")[-1]["detail"]["reason"].startswith("local logins")
    assert before.get("/", follow_redirects=False).headers["location"] == "/login"  # its old session ended too
    # Directory and provider logins still work.
    assert httpx.post(sso_only.url + "/login", data={"username": "mark", "password": USERS["mark"][0]}) \
        .status_code == 303
    assert "pavel" in sso_only.oidc_login("pavel").get("/").text
