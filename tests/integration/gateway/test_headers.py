"""Security headers on what the gateway serves: the Prefect UI, API answers, its own login page.

HSTS only under TLS: test_tls.py checks it there; here (plain HTTP) it must be absent.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


def _directives(csp: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in csp.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def _common(reply: httpx.Response) -> dict[str, str]:
    headers = reply.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")
    assert "strict-transport-security" not in headers  # plain HTTP: HSTS would be ignored or lock people out
    csp = _directives(headers["content-security-policy"])
    assert csp["frame-ancestors"] == "'none'"
    return csp


def test_the_ui_page_has_a_csp_under_which_prefects_ui_runs(team: Any) -> None:
    browser = team.login("vera")
    page = browser.get("/w/core/", follow_redirects=True)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"], page.text[:300]
    csp = _common(page)
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'"  # no inline or foreign script
    assert "'unsafe-eval'" not in page.headers["content-security-policy"]
    assert csp["connect-src"] == "'self'" and csp["object-src"] == "'none'" and csp["base-uri"] == "'self'"
    # what the UI page loads is all same-origin, so the policy above lets it run (test_browser.py drives it)
    assert "/w/core/" in page.text


def test_api_answers_carry_the_headers_too(team: Any) -> None:
    with team.client("vera") as http:
        for reply in (http.post("/w/core/api/flows/filter", json={}),  # forwarded from Prefect
                      http.get("/w/core/api/flows/not-a-uuid"),  # Prefect's own error
                      http.post("/w/core/api/variables/", json={"name": "x", "value": "1"})):  # the gateway's 403
            csp = _common(reply)
            assert csp["default-src"] == "'none'", reply.headers["content-security-policy"]
    with httpx.Client(base_url=team.url, timeout=30) as anonymous:
        refused = anonymous.post("/w/core/api/flows/filter", json={})
        assert refused.status_code == 401
        _common(refused)


def test_the_login_page_carries_them(team: Any) -> None:
    with httpx.Client(base_url=team.url, timeout=30) as http:
        page = http.get("/login")
        assert page.status_code == 200 and "<form method=post action=/login>" in page.text
        csp = _common(page)
        assert csp["form-action"] == "'self'" and csp["script-src"] == "'self'"
        assert page.headers["cache-control"] == "no-store"
        failed = http.post("/login", data={"username": "nobody", "password": "wrong-password"})
        assert failed.status_code == 401
        _common(failed)
