import threading

import pytest

from nornflow.gateway.ratelimit import LoginGuard, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def test_burst_is_allowed_then_retry_after_is_the_wait_for_one_token():
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=2, burst=5, clock=clock)
    assert [limiter.hit("alice") for _ in range(5)] == [0.0] * 5
    wait = limiter.hit("alice")
    assert wait == pytest.approx(0.5)
    clock.advance(0.25)
    assert limiter.hit("alice") == pytest.approx(0.25)
    clock.advance(0.25)
    assert limiter.hit("alice") == 0.0


def test_keys_have_separate_buckets_and_refill_caps_at_burst():
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=1, burst=2, clock=clock)
    assert limiter.hit("a") == 0.0 and limiter.hit("a") == 0.0
    assert limiter.hit("a") > 0
    assert limiter.hit("b") == 0.0
    clock.advance(3600)  # an hour idle refills only up to burst
    assert [limiter.hit("a") for _ in range(3)][-1] > 0


def test_cost_larger_than_burst_is_refused():
    limiter = RateLimiter(rate_per_second=1, burst=2)
    with pytest.raises(ValueError, match="burst"):
        limiter.hit("a", cost=3)
    with pytest.raises(ValueError):
        RateLimiter(rate_per_second=0, burst=1)


def test_memory_is_bounded_by_max_keys_and_idle_keys_are_evicted():
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=10, burst=10, clock=clock, max_keys=100)
    for i in range(1000):
        limiter.hit(f"ip-{i}")
    assert len(limiter) <= 100
    clock.advance(1.0)  # burst / rate: every bucket is full again, so it is forgotten
    limiter.hit("fresh")
    assert len(limiter) == 1


def test_a_shared_key_allows_exactly_burst_hits_across_threads():
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


def test_login_guard_locks_after_max_failures_and_unlocks_after_lockout():
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


def test_login_guard_counts_only_failures_inside_the_window_and_success_resets():
    clock = FakeClock()
    guard = LoginGuard(max_failures=3, window_seconds=60, lockout_seconds=30, clock=clock)
    for _ in range(5):
        assert guard.failure("bob") == 0.0
        clock.advance(31)  # never three within 60 s
    clock.advance(60)
    guard.failure("bob")
    guard.failure("bob")
    guard.success("bob")
    assert guard.failure("bob") == 0.0
    assert guard.check("bob") == 0.0


def test_login_guard_memory_is_bounded():
    clock = FakeClock()
    guard = LoginGuard(max_failures=3, window_seconds=60, lockout_seconds=30, clock=clock, max_keys=50)
    for i in range(500):
        guard.failure(f"user-{i}")
    assert len(guard) <= 50
    clock.advance(61)
    guard.failure("late")
    assert len(guard) == 1


def test_throttle_lets_one_record_through_per_window_and_counts_the_rest():
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


def test_client_ip_trusts_x_forwarded_for_only_from_a_trusted_proxy():
    from nornflow.gateway.http import client_ip, trusted_networks

    proxies = trusted_networks(["10.0.0.0/8", "192.0.2.7"])
    forwarded = {"x-forwarded-for": "198.51.100.1, 203.0.113.9, 10.1.1.1"}
    assert client_ip("203.0.113.50", forwarded, ()) == "203.0.113.50"  # no proxies trusted: the header is ignored
    assert client_ip("203.0.113.50", forwarded, proxies) == "203.0.113.50"  # the peer is not a proxy
    assert client_ip("10.2.3.4", forwarded, proxies) == "203.0.113.9"  # right-most untrusted hop
    assert client_ip("192.0.2.7", {}, proxies) == "192.0.2.7"
    assert client_ip("10.2.3.4", {"x-forwarded-for": "not-an-ip"}, proxies) == "10.2.3.4"
    with pytest.raises(ValueError, match="trusted_proxies: 'nonsense'"):
        trusted_networks(["nonsense"])


def test_login_guard_per_user_lockout_is_a_short_cooldown():
    clock = FakeClock()
    users = LoginGuard(max_failures=10, window_seconds=300, lockout_seconds=60, clock=clock)
    for _ in range(10):  # ten addresses, one guess each, at one user
        users.failure("user:vera")
    assert 0 < users.check("user:vera") <= 60
    clock.advance(61)
    assert users.check("user:vera") == 0.0  # the real user gets back in after the cooldown


def test_redirects_to_the_internal_server_are_made_relative():
    from nornflow.gateway.http import internal_location

    base = "http://127.0.0.1:4321"
    assert internal_location("http://127.0.0.1:4321/w/core/api/flows/?x=1", base) == "/w/core/api/flows/?x=1"
    assert internal_location("/w/core/api/flows/", base) == "/w/core/api/flows/"
    assert internal_location("https://docs.prefect.io/", base) == "https://docs.prefect.io/"
