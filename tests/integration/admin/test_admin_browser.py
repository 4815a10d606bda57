"""The admin page in a real browser (Debian's chromium, headless, driven by Playwright) against the real
gateway: an owner adds a person, grants a role, creates a token (its secret shown once), revokes it and
filters the audit by user; a viewer gets the refusal page. Screenshots of each step are kept in
``test-output/screenshots/admin-<step>.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.admin.conftest import PASSWORD, AdminSite
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, NEEDS_CHROMIUM, SHOTS

pytestmark = [
    pytest.mark.integration,
    NEEDS_CHROMIUM,
]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_as(browser: Any, site: AdminSite, user: str, console: list[str]) -> Any:
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.goto("/admin")  # not logged in: the login page, which comes back here
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    return page


def shot(page: Any, step: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"admin-{step}.png"), full_page=True, animations="disabled")


def test_an_owner_manages_people_and_tokens_in_the_browser(browser: Any, site: AdminSite) -> None:
    from playwright.sync_api import expect

    console: list[str] = []
    page = open_as(browser, site, "otto", console)
    expect(page).to_have_url(re.compile(r"/admin$"))
    expect(page.get_by_role("heading", name="Gateway admin")).to_be_visible()
    expect(page.locator("#groups tbody tr")).to_have_text(["sso.group_rolesnetopscore: developer, viewer"])
    shot(page, "1-overview")

    add = page.locator("form[action='/admin/users/add']")
    add.get_by_label("new user").fill("browser-bob")
    add.get_by_label("password (12+)").fill(PASSWORD)
    add.locator("#add-viewer").check()
    add.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_have_text("Done: user.add (browser-bob).")
    expect(page.locator("#users")).to_contain_text("browser-bob")
    shot(page, "2-user-added")

    grant = page.locator("form[action='/admin/users/grant']")
    grant.get_by_label("user").fill("browser-bob")
    grant.locator("#grant-runner").check()
    grant.get_by_role("button", name="Grant roles").click()
    expect(page.locator("#users tr", has_text="browser-bob")).to_contain_text("core: runner, viewer")

    create = page.locator("form[action='/admin/tokens/create']")
    create.get_by_label("user").fill("browser-bob")
    create.locator("#token-runner").check()
    create.get_by_label("lifetime").fill("7d")
    create.get_by_label("description").fill("made in the browser")
    create.get_by_role("button", name="Create token").click()
    secret = page.locator("#secret")
    expect(secret).to_contain_text('PREFECT_API_AUTH_STRING="browser-bob:nft_')
    shot(page, "3-token-created")
    value = re.search(r"browser-bob:(nft_[0-9a-f_]+)", secret.inner_text())
    assert value is not None and site.running.gateway.store.verify_token(value.group(1)) is not None

    page.get_by_role("link", name="Back to the admin page").click()
    row = page.locator("#tokens tr", has_text="made in the browser")
    expect(row).to_contain_text("active")
    assert value.group(1) not in page.content()
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_have_text("Done: token.revoke (browser-bob).")
    expect(page.locator("#tokens tr", has_text="made in the browser")).to_contain_text("revoked")
    assert site.running.gateway.store.verify_token(value.group(1)) is None
    shot(page, "4-token-revoked")

    audit = page.locator("#audit form")
    audit.get_by_label("about user").fill("browser-bob")
    audit.get_by_role("button", name="Filter").click()
    rows = page.locator("#audit tbody tr")
    expect(rows).to_have_count(4)  # user.add, user.grant, token.create, token.revoke
    for action in ("user.add", "user.grant", "token.create", "token.revoke"):
        expect(page.locator("#audit tbody")).to_contain_text(action)
    shot(page, "5-audit-by-user")
    assert [m for m in console if "content security policy" in m.lower()] == []
    page.context.close()


def test_a_viewer_gets_the_refusal_page_in_the_browser(browser: Any, site: AdminSite) -> None:
    from playwright.sync_api import expect

    page = open_as(browser, site, "vera", [])
    expect(page.get_by_role("heading", name="Owners only")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("you hold the owner role in no workspace")
    assert page.locator("form").count() == 0
    shot(page, "6-viewer-refused")
    page.context.close()
