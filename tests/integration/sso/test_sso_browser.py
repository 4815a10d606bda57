"""Single sign-on in a real browser: Debian's chromium, headless, from the gateway's login page through the
real OpenID provider's login form to the Prefect UI of the workspace the person's group grants, and out
again through the provider's logout. Screenshots of each step: test-output/screenshots/sso-<step>.png.

The gateway here fronts a real Prefect server (started once for this module), so the last step is the
Prefect UI itself answering with the person's session.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from prefect.blocks.system import Secret

from nornflow.gateway.proxy.upstream import Supervisor
from nornflow.gateway.serve import Running, running
from nornflow.gateway.settings import load_settings
from tests.integration.sso.conftest import CLIENT_ID, CLIENT_SECRET, PASSWORDS, GatewayPorts
from tests.servers.oidc.server import OidcProvider
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, NEEDS_CHROMIUM, SHOTS

pytestmark = [
    pytest.mark.integration,
    NEEDS_CHROMIUM,
]
UI_TIMEOUT_MS = 60_000  # a page, a click on this busy 2-core machine (generous)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, gateway_ports: GatewayPorts,
            oidc_provider: OidcProvider) -> Iterator[Running]:
    Secret(value=CLIENT_SECRET).save("nornflow-sso-browser", overwrite=True)
    settings = load_settings(None, host="127.0.0.1", port=gateway_ports.browser,
                             data_dir=tmp_path_factory.mktemp("sso-browser"), workspaces=[{"name": "core"}],
                             sso={"local_login": False,
                                  "group_roles": {"netops-admins": {"core": ["owner"]}, "netops": {"core": ["viewer"]}},
                                  "oidc": {"issuer": oidc_provider.issuer, "client_id": CLIENT_ID,
                                           "client_secret": "secret:secret/nornflow-sso-browser",
                                           "display_name": "Example SSO"}})
    supervisor = Supervisor(settings)
    supervisor.start()
    try:
        with running(settings, supervisor) as gw:
            yield gw
    finally:
        with contextlib.suppress(Exception):
            supervisor.stop()


@pytest.fixture(scope="module")
def page(gateway: Running) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for stale in SHOTS.glob("sso-*.png"):
        stale.unlink()
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=gateway.url, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(UI_TIMEOUT_MS)
        yield context.new_page()
        browser.close()
    finally:
        playwright.stop()


def shot(page: Any, step: str) -> None:
    page.screenshot(path=str(SHOTS / f"sso-{step}.png"), full_page=True, animations="disabled")


def test_from_the_login_page_through_the_provider_to_the_prefect_ui_and_out(page: Any, gateway: Running,
                                                                          oidc_provider: OidcProvider) -> None:
    from playwright.sync_api import expect

    api: list[tuple[int, str]] = []
    page.on("response", lambda r: api.append((r.status, r.url)) if "/w/core/api/" in r.url else None)
    page.goto("/w/core/runs")
    expect(page).to_have_url(f"{gateway.url}/login?next=/w/core/runs")
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)  # local logins are off: no password form
    shot(page, "1-gateway-login")
    page.get_by_role("link", name="Log in with Example SSO").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(oidc_provider.issuer)}/interaction/"))
    page.get_by_label("User name").fill("olivia")
    page.get_by_label("Password").fill(PASSWORDS["olivia"])
    shot(page, "2-provider-login")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{gateway.url}/w/core/runs")  # back where she wanted to go, in Prefect's UI
    with page.expect_response(lambda r: "/w/core/api/" in r.url and r.status == 200):
        page.reload()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Work Pools").first).to_be_visible()  # Prefect's own navigation
    shot(page, "3-prefect-ui")
    assert [status for status, _ in api if status >= 400] == [], api
    session = next(c for c in page.context.cookies() if c["name"] == "nornflow_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    user = gateway.gateway.store.get_user("olivia")
    assert user is not None and user.roles == {"core": {"owner", "viewer"}}

    page.goto("/logout")  # the gateway's session ends, then the provider's (RP-initiated logout)
    expect(page).to_have_url(re.compile(rf"^{re.escape(oidc_provider.issuer)}/session/end"))
    shot(page, "4-provider-logout")
    page.get_by_role("button", name=re.compile("Yes, sign me out", re.I)).click()
    expect(page).to_have_url(f"{gateway.url}/login?bye=1")
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    shot(page, "5-logged-out")
    page.goto("/w/core/runs")
    expect(page).to_have_url(re.compile(r"/login\?next=/w/core/runs"))  # no session left at the gateway
    page.get_by_role("link", name="Log in with Example SSO").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(oidc_provider.issuer)}/interaction/"))  # nor at the provider
    expect(page.get_by_label("Password")).to_be_visible()
