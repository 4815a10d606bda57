import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher

from nornflow.gateway.app import Gateway
from nornflow.gateway.audit.log import AuditLog
from nornflow.gateway.ratelimit import LoginGuard, RateLimiter
from nornflow.gateway.settings import load_settings
from nornflow.gateway.store import GatewayStore


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def test_burst_is_allowed_then_retry_after_is_the_wait_for_one_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=2, burst=5, clock=clock)
    assert [limiter.hit("alice") for _ in range(5)] == [0.0] * 5
    wait = limiter.hit("alice")
    assert wait == pytest.approx(0.5)
    clock.advance(0.25)
    assert limiter.hit("alice") == pytest.approx(0.25)
    clock.advance(0.25)
    assert limiter.hit("alice") == 0.0


def test_keys_have_separate_buckets_and_refill_caps_at_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=1, burst=2, clock=clock)
    assert limiter.hit("a") == 0.0 and limiter.hit("a") == 0.0
    assert limiter.hit("a") > 0
    assert limiter.hit("b") == 0.0
    clock.advance(3600)  # an hour idle refills only up to burst
    assert [limiter.hit("a") for _ in range(3)][-1] > 0


def test_cost_larger_than_burst_is_refused() -> None:
    limiter = RateLimiter(rate_per_second=1, burst=2)
    with pytest.raises(ValueError, match="burst"):
        limiter.hit("a", cost=3)
    with pytest.raises(ValueError):
        RateLimiter(rate_per_second=0, burst=1)


def test_memory_is_bounded_by_max_keys_and_idle_keys_are_evicted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=10, burst=10, clock=clock, max_keys=100)
    for i in range(1000):
        limiter.hit(f"ip-{i}")
    assert len(limiter) <= 100
    clock.advance(1.0)  # burst / rate: every bucket is full again, so it is forgotten
    limiter.hit("fresh")
    assert len(limiter) == 1


def test_a_shared_key_allows_exactly_burst_hits_across_threads() -> None:
    clock = FakeClock()  # time stands still: no refill
    limiter = RateLimiter(rate_per_second=1, burst=50, clock=clock)
    allowed = []

    def worker() -> None:
        for _ in range(25):
            if limiter.hit("shared") == 0.0:
                allowed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 50


def test_login_guard_locks_after_max_failures_and_unlocks_after_lockout() -> None:
    clock = FakeClock()
    guard = LoginGuard(max_failures=3, window_seconds=60, lockout_seconds=30, clock=clock)
    assert guard.check("1.2.3.4") == 0.0
    assert guard.failure("1.2.3.4") == 0.0
    assert guard.failure("1.2.3.4") == 0.0
    assert guard.failure("1.2.3.4") == 30.0
    assert guard.check("1.2.3.4") == pytest.approx(30.0)
    assert guard.check("5.6.7.8") == 0.0
    clock.advance(10)
    assert guard.failure("1.2.3.4") == 0.0  # failing while locked does not extend the lockout
    assert guard.check("1.2.3.4") == pytest.approx(20.0)
    clock.advance(20)
    assert guard.check("1.2.3.4") == 0.0
    assert guard.failure("1.2.3.4") == 0.0  # the count started again after the lockout


def test_login_guard_forgets_a_failure_only_when_it_leaves_the_window() -> None:
    clock = FakeClock()
    guard = LoginGuard(max_failures=3, window_seconds=60, lockout_seconds=30, clock=clock)
    for _ in range(5):
        assert guard.failure("bob") == 0.0
        clock.advance(31)  # never three within 60 s
    clock.advance(60)
    assert guard.failure("bob") == 0.0
    clock.advance(59)
    assert guard.failure("bob") == 0.0
    assert guard.failure("bob") == 30.0  # the first of the three is 59 s old: still counted
    assert not hasattr(guard, "success"), "no success may forget failures (issue 18, item 5)"
    guard.reset("bob")  # only an owner's reset lifts a lockout early
    assert guard.check("bob") == 0.0


def test_login_guard_memory_is_bounded() -> None:
    clock = FakeClock()
    guard = LoginGuard(max_failures=3, window_seconds=60, lockout_seconds=30, clock=clock, max_keys=50)
    for i in range(500):
        guard.failure(f"user-{i}")
    assert len(guard) <= 50
    clock.advance(61)
    guard.failure("late")
    assert len(guard) == 1


def test_throttle_lets_one_record_through_per_window_and_counts_the_rest() -> None:
    from nornflow.gateway.ratelimit import Throttle

    clock = FakeClock()
    throttle = Throttle(10, clock=clock, max_keys=50)
    assert throttle.allow("ip-1") == 0
    assert [throttle.allow("ip-1") for _ in range(5)] == [None] * 5
    assert throttle.allow("ip-2") == 0  # another key is not muted
    clock.advance(10)
    assert throttle.allow("ip-1") == 5  # the record kept says how many were left out
    for i in range(500):
        throttle.allow(f"flood-{i}")
    assert len(throttle) <= 50


def test_client_ip_trusts_x_forwarded_for_only_from_a_trusted_proxy() -> None:
    from nornflow.gateway.proxy.http import client_ip, trusted_networks

    proxies = trusted_networks(["10.0.0.0/8", "192.0.2.7"])
    forwarded = {"x-forwarded-for": "198.51.100.1, 203.0.113.9, 10.1.1.1"}
    assert client_ip("203.0.113.50", forwarded, ()) == "203.0.113.50"  # no proxies trusted: the header is ignored
    assert client_ip("203.0.113.50", forwarded, proxies) == "203.0.113.50"  # the peer is not a proxy
    assert client_ip("10.2.3.4", forwarded, proxies) == "203.0.113.9"  # right-most untrusted hop
    assert client_ip("192.0.2.7", {}, proxies) == "192.0.2.7"
    assert client_ip("10.2.3.4", {"x-forwarded-for": "not-an-ip"}, proxies) == "10.2.3.4"
    with pytest.raises(ValueError, match="trusted_proxies: 'nonsense'"):
        trusted_networks(["nonsense"])


def test_login_guard_per_user_lockout_is_a_short_cooldown() -> None:
    clock = FakeClock()
    users = LoginGuard(max_failures=10, window_seconds=300, lockout_seconds=60, clock=clock)
    for _ in range(10):  # ten addresses, one guess each, at one user
        users.failure("user:vera")
    assert 0 < users.check("user:vera") <= 60
    clock.advance(61)
    assert users.check("user:vera") == 0.0  # the real user gets back in after the cooldown


def test_redirects_to_the_internal_server_are_made_relative() -> None:
    from nornflow.gateway.proxy.http import internal_location

    base = "http://127.0.0.1:4321"
    assert internal_location("http://127.0.0.1:4321/w/core/api/flows/?x=1", base) == "/w/core/api/flows/?x=1"
    assert internal_location("/w/core/api/flows/", base) == "/w/core/api/flows/"
    assert internal_location("https://docs.prefect.io/", base) == "https://docs.prefect.io/"


# -- the login form, through the gateway's own ASGI app (no Prefect server is needed to log in) ----------

PASSWORD = "correct-horse-battery"


class CountingHasher(PasswordHasher):
    """argon2 as the store uses it (cheaper parameters), counting the password checks it makes."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def login_gateway(tmp_path: Path) -> Iterator[tuple[Gateway, CountingHasher]]:
    settings = load_settings(None, data_dir=tmp_path, workspaces=[{"name": "core"}], trusted_proxies=["127.0.0.0/8"],
                             login_max_failures=5, login_window_seconds=300, login_lockout_seconds=300)
    hasher = CountingHasher()
    store = GatewayStore(settings.store_path, hasher=hasher)
    for name in ("mallory", "vera", "rune", "april", "lkvictim", "bystander"):
        store.add_user(name, PASSWORD, {"core": ["viewer"]})
    hasher.verified = 0
    gateway = Gateway(settings, store, AuditLog(settings.audit_path), {})
    yield gateway, hasher
    store.close()


def _logins(gateway: Gateway, attempts: list[tuple[str, str, str]]) -> list[httpx.Response]:
    """POST /login for each (user, password, client address), in order, as a browser behind a trusted proxy."""
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
            return [await http.post("/login", data={"username": user, "password": password, "next": "/"},
                                    headers={"x-forwarded-for": ip}) for user, password, ip in attempts]
    return asyncio.run(run())


def test_an_attackers_own_login_between_guesses_does_not_reset_the_address(
        login_gateway: tuple[Gateway, CountingHasher]) -> None:
    """Issue 18, item 5: 12 wrong passwords for 3 users from one address, each 4 followed by a successful
    login of the attacker's own account. The 5th failure locks the address; every later attempt, the
    attacker's right password included, is 429 without a password being hashed."""
    gateway, hasher = login_gateway
    attempts = []
    for victim in ("vera", "rune", "april"):
        attempts += [(victim, f"guess-{n}", "203.0.113.7") for n in range(4)]
        attempts.append(("mallory", PASSWORD, "203.0.113.7"))
    replies = _logins(gateway, attempts)
    statuses = [r.status_code for r in replies]
    assert statuses == [401] * 4 + [303] + [401] + [429] * 9, statuses
    assert hasher.verified == 6  # the locked attempts cost no argon2
    assert all(0 < int(r.headers["retry-after"]) <= 300 for r in replies[6:])
    assert "your address" in replies[-1].text
    records = gateway.audit.tail(limit=100)
    assert sum(r["action"] == "login.failed" for r in records) == 5
    assert sum(r["action"] == "login.ok" for r in records) == 1
    assert [r["detail"]["reason"] for r in records if r["action"] == "ratelimited"] == ["login lockout (address)"] * 9
    other = _logins(gateway, [("mallory", PASSWORD, "203.0.113.8")])  # another address is not held up
    assert other[0].status_code == 303


def test_a_user_names_failures_are_not_reset_by_anyones_success(login_gateway: tuple[Gateway, CountingHasher]) -> None:
    """Per user name: 10 failures (twice the per-address allowance) from anywhere lock the name for a short
    cooldown; the user's own login in between and another user's login do not wipe the count."""
    gateway, hasher = login_gateway
    guesses = [("lkvictim", "wrong-password", f"198.51.100.{n}") for n in range(1, 10)]  # 9 addresses, 1 each
    replies = _logins(gateway, [*guesses, ("lkvictim", PASSWORD, "192.0.2.1"), ("bystander", PASSWORD, "192.0.2.2"),
                                ("lkvictim", "wrong-password", "198.51.100.10"),  # the 10th failure locks the name
                                ("lkvictim", PASSWORD, "192.0.2.3"), ("bystander", PASSWORD, "192.0.2.4")])
    statuses = [r.status_code for r in replies]
    assert statuses == [401] * 9 + [303, 303, 401, 429, 303], statuses
    assert "this user name" in replies[12].text and 0 < int(replies[12].headers["retry-after"]) <= 60
    assert hasher.verified == 13  # the locked name's attempt was refused before hashing
    locked = [r for r in gateway.audit.tail(limit=100) if r["action"] == "ratelimited"]
    assert [(r["user"], r["detail"]["reason"]) for r in locked] == [("lkvictim", "login lockout (user)")]
