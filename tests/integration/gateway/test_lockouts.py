"""Lockouts that hold and cannot be used against others (issue 18), through a real gateway.

A gateway of its own, in front of the session's two Prefect servers, trusting loopback as a
reverse proxy so each test speaks from its own client addresses (X-Forwarded-For) and no
lockout here reaches another test. Limits: 5 failed logins per address (10 per user name, 60 s
cooldown), 3 failed token or session checks per address.

- No success resets failures: not the attacker's own login between guesses, not the victim's,
  not a valid token from the same address.
- A valid token or session is served from an address that is locked for others' failures (a
  worker behind the same NAT as someone guessing), on HTTP and on websockets; only a failed
  authentication is counted and, while the address is locked, answered 429.
- ``/healthz`` tells an anonymous caller nothing about workspaces.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from nornflow.gateway.auth.caller import SESSION_COOKIE
from nornflow.gateway.proxy.upstream import free_port
from nornflow.gateway.serve import Running, running
from nornflow.gateway.settings import load_settings

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-battery"  # the conftest's test users
ATTACKER = "lk-mallory"  # a real account of the attacker's own
VICTIM = "lk-victim"


@pytest.fixture(scope="module")
def guarded(team: Any) -> Iterator[Running]:
    settings = load_settings(
        None, host="127.0.0.1", port=free_port(), data_dir=team.data_dir,
        workspaces=[{"name": "core"}, {"name": "datacenter"}], trusted_proxies=["127.0.0.0/8"],
        login_max_failures=5, login_window_seconds=300, login_lockout_seconds=300,
        auth_max_failures=3, auth_window_seconds=60, auth_lockout_seconds=120,
        api_rate_per_second=500, api_burst=2000)
    with running(settings, team.running.supervisor) as gw:
        store = gw.gateway.store
        for name in (ATTACKER, VICTIM):
            if store.get_user(name) is None:
                store.add_user(name, PASSWORD, {"core": ["viewer"]})
        yield gw


def _login(http: httpx.Client, user: str, password: str, ip: str) -> httpx.Response:
    return http.post("/login", data={"username": user, "password": password, "next": "/"},
                     headers={"x-forwarded-for": ip})


def _basic(auth_string: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(auth_string.encode()).decode()}


def _records(team: Any, before: int, ip: str) -> list[dict[str, Any]]:
    return [r for r in team.audit()[before:] if r.get("ip") == ip]


def test_an_attackers_own_login_between_guesses_does_not_reset_the_address(team: Any, guarded: Running) -> None:
    """Issue 18, item 5, as reported: 12 wrong passwords for 3 users from one address, each 4 followed by a
    successful login of the attacker's own account. The 5th failure locks the address for 5 minutes; from
    then on every attempt is 429, the attacker's right password included (checked before any hashing)."""
    ip, before = "203.0.113.7", len(team.audit())
    statuses, replies = [], []
    with httpx.Client(base_url=guarded.url, timeout=30) as http:
        for victim in ("vera", "rune", "april"):
            for n in range(4):
                replies.append(_login(http, victim, f"guess-{n}", ip))
            http.cookies.clear()
            replies.append(_login(http, ATTACKER, PASSWORD, ip))
        statuses = [r.status_code for r in replies]
        elsewhere = _login(http, ATTACKER, PASSWORD, "203.0.113.8")
    assert statuses == [401] * 4 + [303] + [401] + [429] * 9, statuses
    assert all(0 < int(r.headers["retry-after"]) <= 300 for r in replies[6:])
    assert "Too many failed logins from your address" in replies[-1].text
    assert elsewhere.status_code == 303  # the lockout is the address's, not the account's
    records = _records(team, before, ip)
    assert [r["action"] for r in records if r["action"].startswith("login.")] == ["login.failed"] * 4 + [
        "login.ok", "login.failed"]
    limited = [r for r in records if r["action"] == "ratelimited"]
    assert len(limited) == 9 and {r["detail"]["reason"] for r in limited} == {"login lockout (address)"}


def test_a_user_names_failures_are_reset_by_no_success(team: Any, guarded: Running) -> None:
    """10 failures for one user name, one from each of 10 addresses, give the name a short cooldown; the
    user's own login after the 9th and another user's login do not wipe the count, and during the
    cooldown the right password is refused too."""
    with httpx.Client(base_url=guarded.url, timeout=30) as http:
        guesses = [_login(http, VICTIM, "wrong-password", f"198.51.100.{n}").status_code for n in range(1, 10)]
        own = _login(http, VICTIM, PASSWORD, "192.0.2.1").status_code
        http.cookies.clear()
        other = _login(http, "vera", PASSWORD, "192.0.2.2").status_code
        http.cookies.clear()
        tenth = _login(http, VICTIM, "wrong-password", "198.51.100.10").status_code
        locked = _login(http, VICTIM, PASSWORD, "192.0.2.3")
    assert guesses == [401] * 9 and (own, other, tenth) == (303, 303, 401)
    assert locked.status_code == 429 and "this user name" in locked.text
    assert 0 < int(locked.headers["retry-after"]) <= 60  # a cooldown, so the name cannot be held out for long


def test_a_valid_token_is_served_from_an_address_locked_by_someone_elses_guesses(team: Any,
                                                                                 guarded: Running) -> None:
    """A worker behind the same NAT as a token guesser keeps working; the guesser stays locked out."""
    ip, before = "203.0.113.50", len(team.audit())
    nat = {"x-forwarded-for": ip}
    with httpx.Client(base_url=guarded.url, timeout=30) as http:
        guesses = [http.post("/w/core/api/flows/filter", json={}, headers={**nat, **_basic(f"vera:nft_guess{n}")})
                   for n in range(5)]
        worker = http.post("/w/core/api/flows/filter", json={}, headers={**nat, **team.basic("svc-worker")})
        viewer = http.post("/w/core/api/flows/filter", json={}, headers={**nat, **team.basic("vera")})
        session = _login(http, "vera", PASSWORD, "192.0.2.20").cookies[SESSION_COOKIE]
        http.cookies.clear()
        browser = http.post("/w/core/api/flows/filter", json={},
                            headers={**nat, "origin": guarded.url, "cookie": f"{SESSION_COOKIE}={session}"})
        again = http.post("/w/core/api/flows/filter", json={}, headers={**nat, **_basic("vera:nft_guess9")})
        anonymous = http.post("/w/core/api/flows/filter", json={}, headers=nat)
        ended = http.post("/w/core/api/flows/filter", json={},
                          headers={**nat, "origin": guarded.url, "cookie": f"{SESSION_COOKIE}=not-a-session"})
        other_address = http.post("/w/core/api/flows/filter", json={},
                                  headers={"x-forwarded-for": "203.0.113.51", **_basic("vera:nft_guess10")})
    assert [g.status_code for g in guesses] == [401, 401, 401, 429, 429]
    assert "too many failed authentications" in guesses[-1].json()["detail"]
    assert int(guesses[-1].headers["retry-after"]) > 0
    # The change: authenticate first; a valid credential proceeds whatever the address's failure count.
    assert (worker.status_code, viewer.status_code, browser.status_code) == (200, 200, 200), (
        worker.text, viewer.text, browser.text)
    assert isinstance(worker.json(), list)
    # ...and its success reset nothing: a failed one from that address is still refused.
    assert (again.status_code, anonymous.status_code, ended.status_code) == (429, 429, 429)
    assert other_address.status_code == 401
    records = _records(team, before, ip)
    assert sum(r["action"] == "denied" and r["status"] == 401 for r in records) == 3
    assert 1 <= sum(r["action"] == "ratelimited" for r in records) <= 3  # one per address and 10 s
    assert "nft_guess" not in json.dumps(records)


async def _websocket(url: str, headers: dict[str, str], token: str) -> int | str:
    """The HTTP status of a refused handshake, the close code, or the first answer's type."""
    try:
        async with connect(url, subprotocols=["prefect"], additional_headers=headers) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "auth", "token": token}))
            return str(json.loads(await asyncio.wait_for(ws.recv(), timeout=30)).get("type"))
    except InvalidStatus as exc:
        return exc.response.status_code
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else -1


def test_a_valid_token_opens_a_websocket_from_an_address_locked_by_someone_elses_guesses(
        team: Any, guarded: Running) -> None:
    """Both ways Prefect's clients authenticate a websocket: the events client (a worker, a flow run
    emitting events) sends the token as a Basic header on the upgrade and in the first frame; the events
    subscriber (a runner's cancellation observer, `prefect events stream`) only in the first frame."""
    ip = "203.0.113.60"
    nat = {"x-forwarded-for": ip}
    with httpx.Client(base_url=guarded.url, timeout=30) as http:
        guesses = [http.post("/w/core/api/flows/filter", json={}, headers={**nat, **_basic(f"svc-worker:nft_{n}")})
                   .status_code for n in range(4)]
    assert guesses == [401, 401, 401, 429]
    base = guarded.url.replace("http", "ws", 1) + "/w/core/api"
    token = team.tokens["svc-worker"]

    async def scenario() -> list[int | str]:
        return [
            await _websocket(base + "/events/in", {**nat, **team.basic("svc-worker")}, token),
            await _websocket(base + "/events/out", nat, token),
            await _websocket(base + "/events/out", nat, "svc-worker:nft_forged"),
        ]

    in_with_header, out_frame_only, forged = asyncio.run(scenario())
    assert in_with_header == "auth_success"
    assert out_frame_only == "auth_success"
    assert forged in (429, 1013, 1008)  # refused: before the handshake (429) or by a close


def test_healthz_tells_an_anonymous_caller_nothing_about_workspaces(team: Any) -> None:
    reply = httpx.get(f"{team.url}/healthz", timeout=30)
    assert reply.status_code == 200 and reply.json().get("status") == "ok"
    assert "workspaces" not in reply.json()
    for workspace in team.running.gateway.upstreams:
        assert workspace not in reply.text, reply.text
