"""Doppler through its HTTP stand-in: reads, refusals, a slow and a flapping backend, request counts."""

from __future__ import annotations

import time

import pytest

from nornflow.blocks import DopplerSecrets
from nornflow.exceptions import SecretAccessDenied, SecretBackendUnavailable, SecretNotFound
from nornflow.secrets import Resolver, resolve_inventory
from tests.servers.doppler import DopplerStandIn
from tests.unit.secrets.fakes import inventory

TOKEN = "dp.st.prd.nornflow-test-token"


@pytest.fixture(scope="module")
def dp(doppler: DopplerStandIn) -> DopplerStandIn:
    doppler.add_token(TOKEN, "netops", "prd")
    for name in ("CORE_PASSWORD", "EDGE_PASSWORD", "ENABLE_SECRET"):
        doppler.put("netops", "prd", name, f"doppler-{name.lower()}")
    doppler.put("netops", "dev", "CORE_PASSWORD", "dev-only")
    DopplerSecrets(token=TOKEN, api_url=doppler.url).save("it-doppler", overwrite=True)
    DopplerSecrets(token=TOKEN, api_url=doppler.url, config="dev").save("it-doppler-dev", overwrite=True)
    DopplerSecrets(token="dp.st.revoked", api_url=doppler.url).save("it-doppler-revoked", overwrite=True)
    return doppler


def direct(block: DopplerSecrets, **kw: object) -> Resolver:
    return Resolver(backends={"dop": type("B", (), {"load": staticmethod(lambda n: block)})()}, **kw)  # type: ignore[arg-type]


def test_read_and_refusals(dp: DopplerStandIn) -> None:
    r = Resolver()
    assert r.resolve("secret:nornflow-doppler/it-doppler:CORE_PASSWORD") == "doppler-core_password"
    with pytest.raises(SecretNotFound, match="no secret 'NOPE'"):
        r.resolve("secret:nornflow-doppler/it-doppler:NOPE")
    with pytest.raises(SecretAccessDenied, match="HTTP 403"):
        r.resolve("secret:nornflow-doppler/it-doppler-dev:CORE_PASSWORD")
    with pytest.raises(SecretAccessDenied, match="HTTP 401"):
        r.resolve("secret:nornflow-doppler/it-doppler-revoked:CORE_PASSWORD")


def test_slow_backend_times_out_after_bounded_retries(dp: DopplerStandIn, standin_reset: None) -> None:
    dp.delay = 1.0
    r = direct(DopplerSecrets(token=TOKEN, api_url=dp.url, timeout=0.3), attempts=2, backoff=0.1)
    dp.put("netops", "prd", "SLOW_SECRET", "slow-value")
    ref = "secret:dop/x:SLOW_SECRET"  # its own name, so late answers do not skew other counts
    started = time.monotonic()
    with pytest.raises(SecretBackendUnavailable) as info:
        r.resolve(ref)
    elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed
    text = str(info.value)
    assert ref in text and "ReadTimeout" in text and "gave up after 2 attempts" in text


def test_flapping_backend_recovers(dp: DopplerStandIn, standin_reset: None) -> None:
    dp.fail_next = 1
    r = direct(DopplerSecrets(token=TOKEN, api_url=dp.url), backoff=0.05)
    assert r.resolve("secret:dop/x:ENABLE_SECRET") == "doppler-enable_secret"


def test_thousand_hosts_three_references_three_requests_at_the_server(dp: DopplerStandIn) -> None:
    names = ["CORE_PASSWORD", "EDGE_PASSWORD", "ENABLE_SECRET"]
    refs = [f"secret:nornflow-doppler/it-doppler:{n}" for n in names]
    inv = inventory({f"h{i:04d}": {"password": refs[i % 3]} for i in range(1000)})
    before = sum(dp.requests[f"netops/prd/{n}"] for n in names)
    resolver = Resolver()
    assert resolve_inventory(inv, resolver) == {}
    requests = sum(dp.requests[f"netops/prd/{n}"] for n in names) - before
    print(f"\n1000 hosts, 3 references: {requests} requests at the Doppler stand-in; {resolver!r}")
    assert requests == 3
